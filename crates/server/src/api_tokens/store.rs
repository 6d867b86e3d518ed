//! Queries for API tokens, always within one tenant.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};

use crate::db::entity::api_token;

pub struct NewToken<'a> {
    pub tenant_id: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub token_hash: String,
    pub prefix: String,
    pub created_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: &DatabaseConnection, new: NewToken<'_>) -> Result<api_token::Model, DbErr> {
    api_token::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        tenant_id: Set(new.tenant_id.into()),
        name: Set(new.name.into()),
        role: Set(new.role.into()),
        token_hash: Set(new.token_hash),
        prefix: Set(new.prefix),
        created_by: Set(new.created_by),
        created_at: Set(Utc::now()),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(db)
    .await
}

pub async fn list(
    db: &DatabaseConnection,
    tenant_id: &str,
    page: u64,
    limit: u64,
) -> Result<(Vec<api_token::Model>, u64), DbErr> {
    let paginator = api_token::Entity::find()
        .filter(api_token::Column::TenantId.eq(tenant_id))
        .order_by_desc(api_token::Column::CreatedAt)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

pub async fn get(
    db: &DatabaseConnection,
    tenant_id: &str,
    id: &str,
) -> Result<Option<api_token::Model>, DbErr> {
    api_token::Entity::find_by_id(id)
        .filter(api_token::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Revoke; `false` when it was already revoked.
pub async fn revoke(
    db: &DatabaseConnection,
    tenant_id: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(at))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::TenantId.eq(tenant_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Tokens of a tenant that are not revoked (expired ones included).
pub async fn count_active(db: &DatabaseConnection, tenant_id: &str) -> Result<u64, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::TenantId.eq(tenant_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .count(db)
        .await
}
