//! Queries for API tokens, always within one tenant.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::db::entity::api_token;
use crate::db::{StoreResult, TenantId};

pub struct NewToken<'a> {
    pub tenant_id: &'a TenantId,
    pub name: &'a str,
    pub role: &'a str,
    pub token_hash: String,
    pub prefix: String,
    pub created_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewToken<'_>) -> StoreResult<api_token::Model> {
    Ok(api_token::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        tenant_id: Set(new.tenant_id.as_str().into()),
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
    .await?)
}

pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<api_token::Model>, u64)> {
    let paginator = api_token::Entity::find()
        .filter(api_token::Column::TenantId.eq(tenant.as_str()))
        .order_by_desc(api_token::Column::CreatedAt)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<Option<api_token::Model>> {
    Ok(api_token::Entity::find_by_id(id)
        .filter(api_token::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?)
}

/// Revoke; `false` when it was already revoked.
pub async fn revoke(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let res = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(at))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::TenantId.eq(tenant.as_str()))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
