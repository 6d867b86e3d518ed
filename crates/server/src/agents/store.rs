//! Queries for agents, always within one tenant except the lookups by secret hash.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder,
};

use crate::db::entity::agent::{self, Column, Entity};

pub async fn insert(db: &impl ConnectionTrait, m: agent::Model) -> Result<agent::Model, DbErr> {
    Entity::insert(m.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(m)
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    id: &str,
) -> Result<Option<agent::Model>, DbErr> {
    Entity::find_by_id(id.to_owned())
        .filter(Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

pub async fn by_pairing_code(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<agent::Model>, DbErr> {
    Entity::find()
        .filter(Column::PairingCodeHash.eq(hash))
        .filter(Column::Status.eq("pending"))
        .one(db)
        .await
}

pub async fn by_token(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<agent::Model>, DbErr> {
    Entity::find()
        .filter(Column::TokenHash.eq(hash))
        .one(db)
        .await
}

/// The tenant's agents, newest first; only `owner`'s when given.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    owner: Option<&str>,
) -> Result<Vec<agent::Model>, DbErr> {
    let mut q = Entity::find().filter(Column::TenantId.eq(tenant_id));
    if let Some(o) = owner {
        q = q.filter(Column::OwnerUserId.eq(o));
    }
    q.order_by_desc(Column::CreatedAt).all(db).await
}

/// Write `m` if the row still has `expect_status` and `expect_hash` in the column that
/// identifies the secret being used (pairing code or token): a code works once, a rotated
/// or revoked token never again. `false` when another request got there first.
pub async fn replace_if(
    db: &impl ConnectionTrait,
    m: &agent::Model,
    expect_status: &str,
    secret: Option<(Column, &str)>,
) -> Result<bool, DbErr> {
    let mut q = Entity::update_many()
        .set(m.clone().into_active_model().reset_all())
        .filter(Column::Id.eq(&m.id))
        .filter(Column::Status.eq(expect_status));
    if let Some((column, hash)) = secret {
        q = q.filter(Expr::col(column).eq(hash));
    }
    Ok(q.exec(db).await?.rows_affected == 1)
}
