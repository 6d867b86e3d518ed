//! Queries for agents, always within one tenant except the lookups by secret hash.

use sea_orm::ActiveValue::NotSet;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder,
};

use crate::app::AppState;
use crate::db::entity::agent::{self, Column, Entity};
use crate::db::sqlite_direct::first_row;
use crate::http::ApiResult;

pub async fn insert(db: &impl ConnectionTrait, m: agent::Model) -> Result<agent::Model, DbErr> {
    Entity::insert(m.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(m)
}

/// One agent of the tenant. With SQLite this and [`by_token`] read directly: one or the
/// other is on every request of the command bus.
pub async fn get(state: &AppState, tenant_id: &str, id: &str) -> ApiResult<Option<agent::Model>> {
    if let Some(direct) = &state.sqlite {
        return direct.read(|conn| {
            first_row(
                conn,
                "SELECT * FROM agents WHERE id = ?1 AND tenant_id = ?2",
                [id, tenant_id],
            )
        });
    }
    Ok(Entity::find_by_id(id.to_owned())
        .filter(Column::TenantId.eq(tenant_id))
        .one(&state.db)
        .await?)
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

/// The agent holding the token with this hash, whatever its state.
pub async fn by_token(state: &AppState, hash: &str) -> ApiResult<Option<agent::Model>> {
    if let Some(direct) = &state.sqlite {
        return direct
            .read(|conn| first_row(conn, "SELECT * FROM agents WHERE token_hash = ?1", [hash]));
    }
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(hash))
        .one(&state.db)
        .await?)
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

/// Write `m` (all but its presence) if the row still has `expect_status` and `expect_hash` in the column that
/// identifies the secret being used (pairing code or token): a code works once, a rotated
/// or revoked token never again. `false` when another request got there first.
pub async fn replace_if(
    db: &impl ConnectionTrait,
    m: &agent::Model,
    expect_status: &str,
    secret: Option<(Column, &str)>,
) -> Result<bool, DbErr> {
    let mut row = m.clone().into_active_model().reset_all();
    // Presence changes only through `set_presence`, which announces them.
    row.presence = NotSet;
    let mut q = Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(&m.id))
        .filter(Column::Status.eq(expect_status));
    if let Some((column, hash)) = secret {
        q = q.filter(Expr::col(column).eq(hash));
    }
    Ok(q.exec(db).await?.rows_affected == 1)
}

/// Record that the active agent holding this token was seen at `now`; `false` when it is no
/// longer active or its token changed. (Every heartbeat does this: with SQLite it joins the
/// direct writer's group commits.)
pub async fn touch(state: &AppState, id: &str, token_hash: &str, now: i64) -> ApiResult<bool> {
    const TOUCH: &str = "UPDATE agents SET last_seen_at = ?3, updated_at = ?3 \
         WHERE id = ?1 AND status = 'active' AND token_hash = ?2";
    if let Some(direct) = &state.sqlite {
        let (id, token_hash) = (id.to_owned(), token_hash.to_owned());
        return direct
            .write(move |conn| {
                let touched = conn
                    .prepare_cached(TOUCH)?
                    .execute(rusqlite::params![id, token_hash, now])?;
                Ok(touched == 1)
            })
            .await;
    }
    let q = Entity::update_many()
        .col_expr(Column::LastSeenAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq("active"))
        .filter(Column::TokenHash.eq(token_hash));
    Ok(q.exec(&state.db).await?.rows_affected == 1)
}

/// Move an active agent's announced presence from `from` to `to`; with `seen_before`, only if
/// it was last seen before then. `true` for the one caller that made the change (it
/// announces it).
pub async fn set_presence(
    db: &impl ConnectionTrait,
    id: &str,
    from: &str,
    to: &str,
    seen_before: Option<i64>,
) -> Result<bool, DbErr> {
    let mut q = Entity::update_many()
        .col_expr(Column::Presence, Expr::value(to))
        .filter(Column::Id.eq(id))
        .filter(Column::Presence.eq(from));
    if let Some(t) = seen_before {
        q = q.filter(Column::LastSeenAt.lt(t));
    }
    Ok(q.exec(db).await?.rows_affected == 1)
}

/// Active agents announced online but not seen since `cutoff`.
pub async fn gone_quiet(
    db: &impl ConnectionTrait,
    cutoff: i64,
) -> Result<Vec<agent::Model>, DbErr> {
    Entity::find()
        .filter(Column::Presence.eq("online"))
        .filter(Column::LastSeenAt.lt(cutoff))
        .all(db)
        .await
}
