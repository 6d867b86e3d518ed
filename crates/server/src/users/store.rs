//! Queries for tenants and users. Every user query takes the caller's tenant.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use sea_orm::sea_query::OnConflict;

use crate::db::entity::{tenant, user};
use crate::db::{StoreResult, TenantId};

/// Read the tenant's row and hold it until the transaction ends: changes to the tenant's
/// admins queue behind each other instead of both passing the last-admin check. (SQLite
/// has one writer at a time already; PostgreSQL takes `FOR UPDATE`.)
pub async fn lock_tenant<C: ConnectionTrait>(db: &C, id: &TenantId) -> StoreResult<()> {
    tenant::Entity::find_by_id(id.as_str())
        .lock_exclusive()
        .one(db)
        .await?;
    Ok(())
}

/// Create the tenant unless it exists: of two transactions creating it at once (PostgreSQL),
/// the second waits for the first and goes on, instead of failing on the duplicate.
pub async fn ensure_tenant<C: ConnectionTrait>(db: &C, id: &TenantId) -> StoreResult<()> {
    let row = tenant::ActiveModel {
        id: Set(id.as_str().into()),
        name: Set(id.as_str().into()),
        created_at: Set(Utc::now()),
    };
    tenant::Entity::insert(row)
        .on_conflict(
            OnConflict::column(tenant::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn count_users<C: ConnectionTrait>(db: &C) -> StoreResult<u64> {
    Ok(user::Entity::find().count(db).await?)
}

pub struct NewUser<'a> {
    pub tenant_id: &'a TenantId,
    pub email: &'a str,
    pub password_hash: String,
    pub role: &'a str,
}

pub async fn insert_user<C: ConnectionTrait>(db: &C, new: NewUser<'_>) -> StoreResult<user::Model> {
    let now = Utc::now();
    Ok(user::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        tenant_id: Set(new.tenant_id.as_str().into()),
        email: Set(new.email.into()),
        password_hash: Set(Some(new.password_hash)),
        role: Set(new.role.into()),
        disabled: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

pub async fn list_users<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<user::Model>, u64)> {
    let paginator = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(user::Column::Email)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

pub async fn get_user<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id)
        .filter(user::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?)
}

/// Enabled admins of a tenant.
pub async fn count_active_admins<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
) -> StoreResult<u64> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.as_str()))
        .filter(user::Column::Role.eq("admin"))
        .filter(user::Column::Disabled.eq(false))
        .count(db)
        .await?)
}

pub async fn update_user<C: ConnectionTrait>(
    db: &C,
    model: user::ActiveModel,
) -> StoreResult<user::Model> {
    Ok(model.update(db).await?)
}
