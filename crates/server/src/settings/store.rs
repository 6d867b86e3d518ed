//! The settings row of a tenant, read and written with a version check; the tenant's
//! storage policy.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::Expr,
};

use sea_orm::sea_query::OnConflict;

use crate::db::entity::settings::{self, Column, Entity};
use crate::db::entity::storage_policy;
use crate::db::{StoreResult, TenantId, is_unique_violation};

pub async fn load(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> StoreResult<Option<settings::Model>> {
    Ok(Entity::find_by_id(tenant.as_str()).one(db).await?)
}

/// The tenant's row, share-locked until the transaction ends (on PostgreSQL; SQLite's
/// writer turn already keeps other writers out): a check made against it holds until the
/// caller commits, as a settings write must wait for it.
pub async fn load_locked(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> StoreResult<Option<settings::Model>> {
    Ok(Entity::find_by_id(tenant.as_str())
        .lock_shared()
        .one(db)
        .await?)
}

/// Store `data` if the tree is still at `version` (0: no row yet). `false` when another
/// writer got there first; the caller reloads and tries again.
pub async fn save(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    data: String,
    version: i64,
    now_ms: i64,
) -> StoreResult<bool> {
    if version == 0 {
        let row = settings::ActiveModel {
            tenant_id: Set(tenant.as_str().to_owned()),
            data: Set(data),
            version: Set(1),
            updated_at: Set(now_ms),
        };
        return match Entity::insert(row).exec_without_returning(db).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        };
    }
    let res = Entity::update_many()
        .col_expr(Column::Data, Expr::value(data))
        .col_expr(Column::Version, Expr::value(version + 1))
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Version.eq(version))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The tenant's storage policy, if ever set.
pub async fn policy(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> StoreResult<Option<storage_policy::Model>> {
    Ok(storage_policy::Entity::find_by_id(tenant.as_str())
        .one(db)
        .await?)
}

/// Replace the tenant's storage policy (insert or overwrite).
pub async fn put_policy(db: &impl ConnectionTrait, m: &storage_policy::Model) -> StoreResult<()> {
    use storage_policy::Column as P;
    let row = storage_policy::ActiveModel {
        tenant_id: Set(m.tenant_id.clone()),
        operational: Set(m.operational.clone()),
        sync_enabled: Set(m.sync_enabled),
        updated_at_ms: Set(m.updated_at_ms),
        updated_by: Set(m.updated_by.clone()),
    };
    storage_policy::Entity::insert(row)
        .on_conflict(
            OnConflict::column(P::TenantId)
                .update_columns([P::Operational, P::SyncEnabled, P::UpdatedAtMs, P::UpdatedBy])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
