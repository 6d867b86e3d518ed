//! Queries for agents off the bus's hot path (pairing, registration, listing, presence,
//! revocation), always within one tenant except the lookups by secret hash. The lookups a
//! request makes on every call (by token, by id, heartbeat touches) are the command
//! store's (`crate::bus`).

use sea_orm::ActiveValue::NotSet;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Select,
};

use botmox_proto::agent::{AgentStatus, Presence};

use crate::db::entity::agent::{self, Column, Entity};
use crate::db::like::like_literal;
use crate::db::{StoreResult, TenantId};

pub async fn insert(db: &impl ConnectionTrait, m: &agent::Model) -> StoreResult<()> {
    Entity::insert(m.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn by_pairing_code(
    db: &impl ConnectionTrait,
    hash: &str,
) -> StoreResult<Option<agent::Model>> {
    Ok(Entity::find()
        .filter(Column::PairingCodeHash.eq(hash))
        .filter(Column::Status.eq(AgentStatus::Pending.as_str()))
        .one(db)
        .await?)
}

/// Which of the caller's agents a list holds: those whose name holds `find` (in any case;
/// all when it is empty), only the active ones when `active_only`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Narrow<'a> {
    pub find: &'a str,
    pub active_only: bool,
}

/// The query of [`list`] and [`list_page`], narrowed. The id orders agents created in the
/// same millisecond, so pages never overlap.
fn listed(tenant: &TenantId, owner: Option<&str>, narrow: Narrow<'_>) -> Select<Entity> {
    let mut q = Entity::find().filter(Column::TenantId.eq(tenant.as_str()));
    if let Some(o) = owner {
        q = q.filter(Column::OwnerUserId.eq(o));
    }
    if !narrow.find.is_empty() {
        q = q.filter(
            Expr::expr(Func::lower(Expr::col(Column::Name))).like(like_literal(
                "%",
                &narrow.find.to_lowercase(),
                "%",
            )),
        );
    }
    if narrow.active_only {
        q = q.filter(Column::Status.eq(AgentStatus::Active.as_str()));
    }
    q.order_by_desc(Column::CreatedAt).order_by_desc(Column::Id)
}

/// The tenant's agents, newest first; only `owner`'s when given.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    owner: Option<&str>,
) -> StoreResult<Vec<agent::Model>> {
    Ok(listed(tenant, owner, Narrow::default()).all(db).await?)
}

/// Page `page` (1-based) of [`list`] narrowed, `limit` rows, and how many match in all.
pub async fn list_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    owner: Option<&str>,
    narrow: Narrow<'_>,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<agent::Model>, u64)> {
    let paginator = listed(tenant, owner, narrow).paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}

/// The agents of [`list`] narrowed, among `ids`.
pub async fn among(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    owner: Option<&str>,
    narrow: Narrow<'_>,
    ids: &[&str],
) -> StoreResult<Vec<agent::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(listed(tenant, owner, narrow)
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// Write `m` (all but its presence) if the row still has `expect_status` and `expect_hash` in the column that
/// identifies the secret being used (pairing code or token): a code works once, a rotated
/// or revoked token never again. `false` when another request got there first.
pub async fn replace_if(
    db: &impl ConnectionTrait,
    m: &agent::Model,
    expect_status: AgentStatus,
    secret: Option<(Column, &str)>,
) -> StoreResult<bool> {
    let mut row = m.clone().into_active_model().reset_all();
    // Presence changes only through `set_presence`, which announces them.
    row.presence = NotSet;
    let mut q = Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(&m.id))
        .filter(Column::Status.eq(expect_status.as_str()));
    if let Some((column, hash)) = secret {
        q = q.filter(Expr::col(column).eq(hash));
    }
    Ok(q.exec(db).await?.rows_affected == 1)
}

/// Move an active agent's announced presence from `from` to `to`; with `seen_before`, only if
/// it was last seen before then. `true` for the one caller that made the change (it
/// announces it).
pub async fn set_presence(
    db: &impl ConnectionTrait,
    id: &str,
    from: Presence,
    to: Presence,
    seen_before: Option<i64>,
) -> StoreResult<bool> {
    let mut q = Entity::update_many()
        .col_expr(Column::Presence, Expr::value(to.as_str()))
        .filter(Column::Id.eq(id))
        .filter(Column::Presence.eq(from.as_str()));
    if let Some(t) = seen_before {
        q = q.filter(Column::LastSeenAt.lt(t));
    }
    Ok(q.exec(db).await?.rows_affected == 1)
}

/// Active agents announced online but not seen since `cutoff`.
pub async fn gone_quiet(db: &impl ConnectionTrait, cutoff: i64) -> StoreResult<Vec<agent::Model>> {
    Ok(Entity::find()
        .filter(Column::Presence.eq(Presence::Online.as_str()))
        .filter(Column::LastSeenAt.lt(cutoff))
        .all(db)
        .await?)
}
