//! Queries for tenants and users. Every user query takes the caller's tenant.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};

use crate::db::entity::{tenant, user};

pub async fn find_tenant<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find_by_id(id).one(db).await
}

pub async fn insert_tenant<C: ConnectionTrait>(db: &C, id: &str) -> Result<tenant::Model, DbErr> {
    tenant::ActiveModel {
        id: Set(id.into()),
        name: Set(id.into()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
}

pub async fn count_users<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    user::Entity::find().count(db).await
}

pub struct NewUser<'a> {
    pub tenant_id: &'a str,
    pub email: &'a str,
    pub password_hash: String,
    pub role: &'a str,
}

pub async fn insert_user<C: ConnectionTrait>(
    db: &C,
    new: NewUser<'_>,
) -> Result<user::Model, DbErr> {
    let now = Utc::now();
    user::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        tenant_id: Set(new.tenant_id.into()),
        email: Set(new.email.into()),
        password_hash: Set(Some(new.password_hash)),
        role: Set(new.role.into()),
        disabled: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

pub async fn list_users<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    page: u64,
    limit: u64,
) -> Result<(Vec<user::Model>, u64), DbErr> {
    let paginator = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .order_by_asc(user::Column::Email)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

pub async fn get_user<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id)
        .filter(user::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Enabled admins of a tenant.
pub async fn count_active_admins<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
) -> Result<u64, DbErr> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Role.eq("admin"))
        .filter(user::Column::Disabled.eq(false))
        .count(db)
        .await
}

pub async fn update_user<C: ConnectionTrait>(
    db: &C,
    model: user::ActiveModel,
) -> Result<user::Model, DbErr> {
    model.update(db).await
}
