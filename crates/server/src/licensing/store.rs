//! Queries of licences, entitlements and leases, always within one tenant (except the
//! sweeper's, which acts on every tenant's lapsed leases alike).

use botmox_proto::licensing::{LeaseStatus, LicenseStatus};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::db::entity::tenant_license as license;
use crate::db::entity::{execution_lease as lease, tenant_entitlement as entitlement};
use crate::db::{StoreResult, TenantId};

// Licences.

pub async fn insert_license(
    db: &impl ConnectionTrait,
    row: license::Model,
) -> StoreResult<license::Model> {
    Ok(license::ActiveModel::from(row).insert(db).await?)
}

/// The licence, locked until the transaction ends when `lock` (its seats are being counted
/// or it is being changed).
pub async fn get_license(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    lock: bool,
) -> StoreResult<Option<license::Model>> {
    let find =
        license::Entity::find_by_id(id).filter(license::Column::TenantId.eq(tenant.as_str()));
    let find = if lock { find.lock_exclusive() } else { find };
    Ok(find.one(db).await?)
}

pub async fn list_licenses(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<license::Model>, u64)> {
    let paginator = license::Entity::find()
        .filter(license::Column::TenantId.eq(tenant.as_str()))
        .order_by_desc(license::Column::CreatedAt)
        .order_by_asc(license::Column::Id)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

/// The active licences that can back a lease of `user`: their personal ones first, then the
/// tenant-wide ones, each oldest first.
pub async fn licenses_for(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user: &str,
) -> StoreResult<Vec<license::Model>> {
    let mut rows = license::Entity::find()
        .filter(license::Column::TenantId.eq(tenant.as_str()))
        .filter(license::Column::Status.eq(LicenseStatus::Active.as_str()))
        .filter(
            license::Column::UserId
                .is_null()
                .or(license::Column::UserId.eq(user)),
        )
        .order_by_asc(license::Column::CreatedAt)
        .order_by_asc(license::Column::Id)
        .all(db)
        .await?;
    rows.sort_by_key(|l| l.user_id.is_none());
    Ok(rows)
}

/// Write every column of `row` but its key and tenant.
pub async fn save_license(
    db: &impl ConnectionTrait,
    row: license::Model,
) -> StoreResult<license::Model> {
    let mut active = license::ActiveModel::from(row);
    for column in [
        license::Column::UserId,
        license::Column::LicenseType,
        license::Column::Status,
        license::Column::ExpiresAt,
        license::Column::MaxLeases,
        license::Column::Metadata,
        license::Column::UpdatedAt,
    ] {
        active.reset(column);
    }
    Ok(active.update(db).await?)
}

pub async fn delete_license(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<bool> {
    let res = license::Entity::delete_many()
        .filter(license::Column::Id.eq(id))
        .filter(license::Column::TenantId.eq(tenant.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

// Entitlements.

/// Set (replace) the modules of `user` ('' for the tenant default).
pub async fn put_entitlement(
    db: &impl ConnectionTrait,
    row: entitlement::Model,
) -> StoreResult<()> {
    entitlement::Entity::insert(entitlement::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([entitlement::Column::TenantId, entitlement::Column::UserId])
                .update_columns([
                    entitlement::Column::Modules,
                    entitlement::Column::UpdatedBy,
                    entitlement::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn get_entitlement(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user: &str,
) -> StoreResult<Option<entitlement::Model>> {
    Ok(
        entitlement::Entity::find_by_id((tenant.as_str().to_owned(), user.to_owned()))
            .one(db)
            .await?,
    )
}

/// The tenant's entitlements, the default first.
pub async fn list_entitlements(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> StoreResult<Vec<entitlement::Model>> {
    Ok(entitlement::Entity::find()
        .filter(entitlement::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(entitlement::Column::UserId)
        .all(db)
        .await?)
}

pub async fn delete_entitlement(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user: &str,
) -> StoreResult<bool> {
    let res = entitlement::Entity::delete_many()
        .filter(entitlement::Column::TenantId.eq(tenant.as_str()))
        .filter(entitlement::Column::UserId.eq(user))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

// Leases.

pub async fn insert_lease(db: &impl ConnectionTrait, row: lease::Model) -> StoreResult<()> {
    lease::Entity::insert(lease::ActiveModel::from(row))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn get_lease(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<Option<lease::Model>> {
    Ok(lease::Entity::find_by_id(id)
        .filter(lease::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?)
}

/// Seats of a licence in use at `now`: its active, unexpired leases.
pub async fn seats_in_use(
    db: &impl ConnectionTrait,
    license_id: &str,
    now: i64,
) -> StoreResult<u64> {
    Ok(lease::Entity::find()
        .filter(lease::Column::LicenseId.eq(license_id))
        .filter(lease::Column::Status.eq(LeaseStatus::Active.as_str()))
        .filter(lease::Column::ExpiresAt.gt(now))
        .count(db)
        .await?)
}

/// Seats in use at `now` of each of `license_ids` (absent: none), in one grouped query.
pub async fn seats_in_use_of(
    db: &impl ConnectionTrait,
    license_ids: &[String],
    now: i64,
) -> StoreResult<std::collections::HashMap<String, u64>> {
    if license_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(String, i64)> = lease::Entity::find()
        .select_only()
        .column(lease::Column::LicenseId)
        .column_as(lease::Column::Id.count(), "seats")
        .filter(lease::Column::LicenseId.is_in(license_ids.iter().map(String::as_str)))
        .filter(lease::Column::Status.eq(LeaseStatus::Active.as_str()))
        .filter(lease::Column::ExpiresAt.gt(now))
        .group_by(lease::Column::LicenseId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0)))
        .collect())
}

/// What a lease list is narrowed to.
#[derive(Default)]
pub struct LeaseFilter<'a> {
    pub owner: Option<&'a str>,
    pub status: Option<LeaseStatus>,
    pub vm_uuid: Option<&'a str>,
    pub module: Option<&'a str>,
    pub license_id: Option<&'a str>,
}

/// Leases newest first; `status` is read as of `now` (a lapsed active lease is expired).
pub async fn list_leases(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: LeaseFilter<'_>,
    now: i64,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<lease::Model>, u64)> {
    let mut find = lease::Entity::find().filter(lease::Column::TenantId.eq(tenant.as_str()));
    if let Some(owner) = filter.owner {
        find = find.filter(lease::Column::UserId.eq(owner));
    }
    if let Some(vm) = filter.vm_uuid {
        find = find.filter(lease::Column::VmUuid.eq(vm));
    }
    if let Some(module) = filter.module {
        find = find.filter(lease::Column::Module.eq(module));
    }
    if let Some(id) = filter.license_id {
        find = find.filter(lease::Column::LicenseId.eq(id));
    }
    let active = LeaseStatus::Active.as_str();
    find = match filter.status {
        None => find,
        Some(LeaseStatus::Active) => find
            .filter(lease::Column::Status.eq(active))
            .filter(lease::Column::ExpiresAt.gt(now)),
        Some(LeaseStatus::Expired) => find.filter(
            lease::Column::Status
                .eq(LeaseStatus::Expired.as_str())
                .or(lease::Column::Status
                    .eq(active)
                    .and(lease::Column::ExpiresAt.lte(now))),
        ),
        Some(LeaseStatus::Revoked) => {
            find.filter(lease::Column::Status.eq(LeaseStatus::Revoked.as_str()))
        }
    };
    let paginator = find
        .order_by_desc(lease::Column::CreatedAt)
        .order_by_asc(lease::Column::Id)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

/// A heartbeat in one statement: an active, unexpired lease (of `owner`, when given) gets
/// the expiry `until`, or its hard cap when that comes first. Its new expiry, or `None` when
/// no lease matched.
pub async fn extend_lease(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    owner: Option<&str>,
    until: i64,
    now: i64,
) -> StoreResult<Option<i64>> {
    let capped = Expr::case(
        Expr::col(lease::Column::MaxExpiresAt).lt(until),
        Expr::col(lease::Column::MaxExpiresAt),
    )
    .finally(until);
    let mut update = lease::Entity::update_many()
        .col_expr(lease::Column::ExpiresAt, capped.into())
        .col_expr(lease::Column::LastHeartbeatAt, Expr::value(now))
        .col_expr(lease::Column::UpdatedAt, Expr::value(now))
        .filter(lease::Column::Id.eq(id))
        .filter(lease::Column::TenantId.eq(tenant.as_str()))
        .filter(lease::Column::Status.eq(LeaseStatus::Active.as_str()))
        .filter(lease::Column::ExpiresAt.gt(now));
    if let Some(owner) = owner {
        update = update.filter(lease::Column::UserId.eq(owner));
    }
    Ok(update
        .exec_with_returning(db)
        .await?
        .pop()
        .map(|l| l.expires_at))
}

/// [`extend_lease`] as SQLite's direct writer runs it (committed together with the other
/// writes queued meanwhile: heartbeats arrive by the thousand).
pub fn extend_lease_direct(
    conn: &rusqlite::Connection,
    tenant: &TenantId,
    id: &str,
    owner: Option<&str>,
    until: i64,
    now: i64,
) -> StoreResult<Option<i64>> {
    const SQL: &str = "UPDATE execution_leases \
        SET expires_at = CASE WHEN max_expires_at < ?1 THEN max_expires_at ELSE ?1 END, \
        last_heartbeat_at = ?2, updated_at = ?2 \
        WHERE id = ?3 AND tenant_id = ?4 AND status = 'active' AND expires_at > ?2 \
        AND (?5 IS NULL OR user_id = ?5) RETURNING expires_at";
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(SQL)?
        .query_row(
            rusqlite::params![until, now, id, tenant.as_str(), owner],
            |row| row.get(0),
        )
        .optional()?)
}

/// Hold a licence's active leases to its new expiry `cap` (their hard cap and current
/// expiry), so no lease outlives its licence and a heartbeat needs no licence lookup.
pub async fn cap_license_leases(
    db: &impl ConnectionTrait,
    license_id: &str,
    cap: i64,
) -> StoreResult<()> {
    let active = || {
        lease::Entity::update_many()
            .filter(lease::Column::LicenseId.eq(license_id))
            .filter(lease::Column::Status.eq(LeaseStatus::Active.as_str()))
    };
    active()
        .col_expr(lease::Column::MaxExpiresAt, Expr::value(cap))
        .filter(lease::Column::MaxExpiresAt.gt(cap))
        .exec(db)
        .await?;
    active()
        .col_expr(lease::Column::ExpiresAt, Expr::value(cap))
        .filter(lease::Column::ExpiresAt.gt(cap))
        .exec(db)
        .await?;
    Ok(())
}

/// Who revoked leases and why.
pub struct Revocation<'a> {
    pub at: i64,
    pub by: &'a str,
    pub reason: Option<&'a str>,
}

fn revoke_many(how: &Revocation<'_>) -> sea_orm::UpdateMany<lease::Entity> {
    lease::Entity::update_many()
        .col_expr(
            lease::Column::Status,
            Expr::value(LeaseStatus::Revoked.as_str()),
        )
        .col_expr(lease::Column::RevokedAt, Expr::value(how.at))
        .col_expr(lease::Column::RevokedBy, Expr::value(how.by))
        .col_expr(
            lease::Column::RevokeReason,
            Expr::value(how.reason.map(str::to_owned)),
        )
        .col_expr(lease::Column::UpdatedAt, Expr::value(how.at))
        .filter(lease::Column::Status.eq(LeaseStatus::Active.as_str()))
}

/// Revoke one lease unless it is already revoked or expired; `false` when it was.
pub async fn revoke_lease(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    how: &Revocation<'_>,
) -> StoreResult<bool> {
    let res = revoke_many(how)
        .filter(lease::Column::Id.eq(id))
        .filter(lease::Column::TenantId.eq(tenant.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Revoke the active leases on a VM (it was deactivated or moved to another owner).
pub async fn revoke_vm_leases(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    vm_uuid: &str,
    how: &Revocation<'_>,
) -> StoreResult<u64> {
    let res = revoke_many(how)
        .filter(lease::Column::TenantId.eq(tenant.as_str()))
        .filter(lease::Column::VmUuid.eq(vm_uuid))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Revoke the active leases a licence backs (it was revoked, expired or deleted), or with
/// `keep` only those of other users (it became that user's personal licence).
pub async fn revoke_license_leases(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    license_id: &str,
    keep: Option<&str>,
    how: &Revocation<'_>,
) -> StoreResult<u64> {
    let mut revoke = revoke_many(how)
        .filter(lease::Column::TenantId.eq(tenant.as_str()))
        .filter(lease::Column::LicenseId.eq(license_id));
    if let Some(user) = keep {
        revoke = revoke.filter(lease::Column::UserId.ne(user));
    }
    Ok(revoke.exec(db).await?.rows_affected)
}

/// Mark active leases past their expiry as expired (their seats were free from the moment
/// they lapsed; this makes the state visible). Idempotent, so sweepers on several replicas
/// may overlap.
pub async fn expire_lapsed(db: &impl ConnectionTrait, now: i64) -> StoreResult<u64> {
    let res = lease::Entity::update_many()
        .col_expr(
            lease::Column::Status,
            Expr::value(LeaseStatus::Expired.as_str()),
        )
        .col_expr(lease::Column::UpdatedAt, Expr::value(now))
        .filter(lease::Column::Status.eq(LeaseStatus::Active.as_str()))
        .filter(lease::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
