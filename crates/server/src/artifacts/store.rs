//! Queries for releases, assignments and the download audit, always within one tenant.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};

use crate::db::entity::artifact_assignment::{self as assignment, TENANT_DEFAULT};
use crate::db::entity::{artifact_download_audit as audit, artifact_release as release};
use crate::db::{StoreResult, TenantId};

/// (module, platform, channel), normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub module: String,
    pub platform: String,
    pub channel: String,
}

pub struct NewRelease<'a> {
    pub scope: &'a Scope,
    pub version: &'a str,
    pub object_key: &'a str,
    pub sha256: &'a str,
    pub size_bytes: i64,
    pub status: &'a str,
    pub actor: &'a str,
    pub now: i64,
}

pub async fn insert_release(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    new: NewRelease<'_>,
) -> StoreResult<release::Model> {
    Ok(release::ActiveModel {
        tenant_id: Set(tenant.as_str().into()),
        module: Set(new.scope.module.clone()),
        platform: Set(new.scope.platform.clone()),
        channel: Set(new.scope.channel.clone()),
        version: Set(new.version.into()),
        object_key: Set(new.object_key.into()),
        sha256: Set(new.sha256.into()),
        size_bytes: Set(new.size_bytes),
        status: Set(new.status.into()),
        created_at: Set(new.now),
        updated_at: Set(new.now),
        created_by: Set(Some(new.actor.into())),
        updated_by: Set(Some(new.actor.into())),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn get_release(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: i64,
) -> StoreResult<Option<release::Model>> {
    Ok(release::Entity::find_by_id(id)
        .filter(release::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?)
}

/// Whether the tenant has a release of this scope and version.
pub async fn release_exists(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    scope: &Scope,
    version: &str,
) -> StoreResult<bool> {
    Ok(release::Entity::find()
        .filter(release::Column::TenantId.eq(tenant.as_str()))
        .filter(release::Column::Module.eq(&scope.module))
        .filter(release::Column::Platform.eq(&scope.platform))
        .filter(release::Column::Channel.eq(&scope.channel))
        .filter(release::Column::Version.eq(version))
        .count(db)
        .await?
        > 0)
}

#[derive(Debug, Default)]
pub struct ReleaseFilter {
    pub module: Option<String>,
    pub platform: Option<String>,
    pub channel: Option<String>,
    pub status: Option<String>,
}

/// A page of releases, newest first, with the total.
pub async fn list_releases(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &ReleaseFilter,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<release::Model>, u64)> {
    let mut query = release::Entity::find().filter(release::Column::TenantId.eq(tenant.as_str()));
    if let Some(v) = &filter.module {
        query = query.filter(release::Column::Module.eq(v));
    }
    if let Some(v) = &filter.platform {
        query = query.filter(release::Column::Platform.eq(v));
    }
    if let Some(v) = &filter.channel {
        query = query.filter(release::Column::Channel.eq(v));
    }
    if let Some(v) = &filter.status {
        query = query.filter(release::Column::Status.eq(v));
    }
    let paginator = query
        .order_by_desc(release::Column::CreatedAt)
        .order_by_desc(release::Column::Id)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

/// Set a release's status; `false` when there is no such release.
pub async fn set_release_status(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: i64,
    status: &str,
    actor: &str,
    now: i64,
) -> StoreResult<bool> {
    let res = release::Entity::update_many()
        .col_expr(release::Column::Status, Expr::value(status))
        .col_expr(release::Column::UpdatedAt, Expr::value(now))
        .col_expr(release::Column::UpdatedBy, Expr::value(actor))
        .filter(release::Column::Id.eq(id))
        .filter(release::Column::TenantId.eq(tenant.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// How many assignments name the release.
pub async fn count_assignments_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    release_id: i64,
) -> StoreResult<u64> {
    Ok(assignment::Entity::find()
        .filter(assignment::Column::TenantId.eq(tenant.as_str()))
        .filter(assignment::Column::ReleaseId.eq(release_id))
        .count(db)
        .await?)
}

pub async fn delete_release(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: i64,
) -> StoreResult<bool> {
    let res = release::Entity::delete_many()
        .filter(release::Column::Id.eq(id))
        .filter(release::Column::TenantId.eq(tenant.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Point the assignment of (`user_id`, scope) at `release_id`: one statement (an upsert on
/// the scope's unique index), so concurrent assigns of one scope leave exactly one row,
/// the last writer's.
pub async fn upsert_assignment(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user_id: &str,
    scope: &Scope,
    release_id: i64,
    actor: &str,
    now: i64,
) -> StoreResult<assignment::Model> {
    let row = assignment::ActiveModel {
        tenant_id: Set(tenant.as_str().into()),
        user_id: Set(user_id.into()),
        module: Set(scope.module.clone()),
        platform: Set(scope.platform.clone()),
        channel: Set(scope.channel.clone()),
        release_id: Set(release_id),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(Some(actor.into())),
        updated_by: Set(Some(actor.into())),
        ..Default::default()
    };
    assignment::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                assignment::Column::TenantId,
                assignment::Column::UserId,
                assignment::Column::Module,
                assignment::Column::Platform,
                assignment::Column::Channel,
            ])
            .update_columns([
                assignment::Column::ReleaseId,
                assignment::Column::UpdatedAt,
                assignment::Column::UpdatedBy,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(get_assignment(db, tenant, user_id, scope)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound("the assignment just written".into()))?)
}

/// The assignment of `user_id` (`''` for the tenant default) for the scope.
pub async fn get_assignment(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user_id: &str,
    scope: &Scope,
) -> StoreResult<Option<assignment::Model>> {
    Ok(assignment::Entity::find()
        .filter(assignment::Column::TenantId.eq(tenant.as_str()))
        .filter(assignment::Column::UserId.eq(user_id))
        .filter(assignment::Column::Module.eq(&scope.module))
        .filter(assignment::Column::Platform.eq(&scope.platform))
        .filter(assignment::Column::Channel.eq(&scope.channel))
        .one(db)
        .await?)
}

/// Every assignment of `platform` that applies to the user: their own and the tenant
/// defaults, by module and channel.
pub async fn assignments_of_user(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user_id: &str,
    platform: &str,
) -> StoreResult<Vec<assignment::Model>> {
    Ok(assignment::Entity::find()
        .filter(assignment::Column::TenantId.eq(tenant.as_str()))
        .filter(assignment::Column::UserId.is_in([user_id, TENANT_DEFAULT]))
        .filter(assignment::Column::Platform.eq(platform))
        .order_by_asc(assignment::Column::Module)
        .order_by_asc(assignment::Column::Channel)
        .all(db)
        .await?)
}

/// The user's own assignment and the tenant default for the scope.
pub async fn assignments_for(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user_id: &str,
    scope: &Scope,
) -> StoreResult<(Option<assignment::Model>, Option<assignment::Model>)> {
    let own = if user_id.is_empty() {
        None
    } else {
        get_assignment(db, tenant, user_id, scope).await?
    };
    let default = get_assignment(db, tenant, TENANT_DEFAULT, scope).await?;
    Ok((own, default))
}

/// A page of assignments (defaults first, then by user), optionally of one module.
pub async fn list_assignments(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    module: Option<&str>,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<assignment::Model>, u64)> {
    let mut query =
        assignment::Entity::find().filter(assignment::Column::TenantId.eq(tenant.as_str()));
    if let Some(module) = module {
        query = query.filter(assignment::Column::Module.eq(module));
    }
    let paginator = query
        .order_by_asc(assignment::Column::Module)
        .order_by_asc(assignment::Column::Platform)
        .order_by_asc(assignment::Column::Channel)
        .order_by_asc(assignment::Column::UserId)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

/// Append a download-audit row (its `id` is assigned by the database).
pub async fn insert_audit(db: &impl ConnectionTrait, row: audit::Model) -> StoreResult<()> {
    audit::ActiveModel {
        id: NotSet,
        tenant_id: Set(row.tenant_id),
        lease_id: Set(row.lease_id),
        lease_jti: Set(row.lease_jti),
        user_id: Set(row.user_id),
        vm_uuid: Set(row.vm_uuid),
        module: Set(row.module),
        platform: Set(row.platform),
        channel: Set(row.channel),
        release_id: Set(row.release_id),
        event_type: Set(row.event_type),
        result: Set(row.result),
        reason: Set(row.reason),
        request_ip: Set(row.request_ip),
        url_expires_at: Set(row.url_expires_at),
        metadata: Set(row.metadata),
        created_at: Set(row.created_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// [`insert_audit`] on a direct SQLite connection, in the writer's group commit.
pub fn insert_audit_direct(conn: &rusqlite::Connection, row: &audit::Model) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO artifact_download_audit (tenant_id, lease_id, lease_jti, user_id, vm_uuid, \
           module, platform, channel, release_id, event_type, result, reason, request_ip, \
           url_expires_at, metadata, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(rusqlite::params![
        row.tenant_id,
        row.lease_id,
        row.lease_jti,
        row.user_id,
        row.vm_uuid,
        row.module,
        row.platform,
        row.channel,
        row.release_id,
        row.event_type,
        row.result,
        row.reason,
        row.request_ip,
        row.url_expires_at,
        row.metadata,
        row.created_at,
    ])?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub vm_uuid: Option<String>,
    pub module: Option<String>,
    pub result: Option<String>,
    pub user_id: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// A page of the download audit, newest first, with the total.
pub async fn list_audit(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &AuditFilter,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<audit::Model>, u64)> {
    let mut query = audit::Entity::find().filter(audit::Column::TenantId.eq(tenant.as_str()));
    if let Some(v) = &filter.vm_uuid {
        query = query.filter(audit::Column::VmUuid.eq(v));
    }
    if let Some(v) = &filter.module {
        query = query.filter(audit::Column::Module.eq(v));
    }
    if let Some(v) = &filter.result {
        query = query.filter(audit::Column::Result.eq(v));
    }
    if let Some(v) = &filter.user_id {
        query = query.filter(audit::Column::UserId.eq(v));
    }
    if let Some(v) = filter.from {
        query = query.filter(audit::Column::CreatedAt.gte(v));
    }
    if let Some(v) = filter.to {
        query = query.filter(audit::Column::CreatedAt.lt(v));
    }
    let paginator = query
        .order_by_desc(audit::Column::CreatedAt)
        .order_by_desc(audit::Column::Id)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}
