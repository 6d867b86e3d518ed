//! Reads of the command bus for humans and the sweeper: one command, the command log, recent
//! twins of a read-only dispatch, stale commands, and the event log a stream replays. The
//! bus's writes and hot-path reads are the command store's (`crate::bus`).

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::db::entity::agent_command::{Column, Entity, Model};
use crate::db::entity::command_event;
use crate::db::{Db, StoreResult, TenantId};

/// One command of the tenant.
pub async fn get(db: &Db, tenant: &TenantId, id: &str) -> StoreResult<Option<Model>> {
    Ok(Entity::find_by_id(id.to_owned())
        .filter(Column::TenantId.eq(tenant.as_str()))
        .one(db.read())
        .await?)
}

/// What the command log is narrowed to.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Only this dispatcher's commands.
    pub created_by: Option<String>,
    pub agent_id: Option<String>,
    pub status: Option<String>,
    pub command_type: Option<String>,
}

/// The tenant's newest commands (at most `limit`) that pass `filter`.
pub async fn list(
    db: &Db,
    tenant: &TenantId,
    filter: &ListFilter,
    limit: u64,
) -> StoreResult<Vec<Model>> {
    let mut q = Entity::find().filter(Column::TenantId.eq(tenant.as_str()));
    for (column, value) in [
        (Column::CreatedBy, &filter.created_by),
        (Column::AgentId, &filter.agent_id),
        (Column::Status, &filter.status),
        (Column::CommandType, &filter.command_type),
    ] {
        if let Some(v) = value {
            q = q.filter(column.eq(v.as_str()));
        }
    }
    Ok(q.order_by_desc(Column::QueuedAt)
        .limit(limit)
        .all(db.read())
        .await?)
}

/// The newest commands of one type for one agent that are in flight or succeeded: where a
/// read-only dispatch looks for a twin.
pub async fn recent_of_type(
    db: &Db,
    tenant: &TenantId,
    agent_id: &str,
    command_type: &str,
    created_by: Option<&str>,
    limit: u64,
) -> StoreResult<Vec<Model>> {
    let mut q = Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::AgentId.eq(agent_id))
        .filter(Column::CommandType.eq(command_type))
        .filter(Column::Status.is_in(["queued", "dispatched", "running", "succeeded"]));
    if let Some(c) = created_by {
        q = q.filter(Column::CreatedBy.eq(c));
    }
    Ok(q.order_by_desc(Column::QueuedAt)
        .limit(limit)
        .all(db.read())
        .await?)
}

/// When the agent last finished a command of a type not in `read_only` (one that may change
/// what reads see); a read queued before then may answer with stale facts.
pub async fn last_change_at(
    db: &Db,
    tenant: &TenantId,
    agent_id: &str,
    read_only: &[&str],
) -> StoreResult<Option<i64>> {
    let latest: Option<Option<i64>> = Entity::find()
        .select_only()
        .column_as(Expr::col(Column::CompletedAt).max(), "latest")
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::AgentId.eq(agent_id))
        .filter(Column::CompletedAt.is_not_null())
        .filter(Column::CommandType.is_not_in(read_only.iter().copied()))
        .into_tuple()
        .one(db.read())
        .await?;
    Ok(latest.flatten())
}

/// Commands the sweeper must settle at `now`: queued past their expiry, claimed but not
/// started within `claim_lease_ms`, running longer than `running_limit_ms`.
pub async fn stale(
    db: &Db,
    now: i64,
    claim_lease_ms: i64,
    running_limit_ms: i64,
) -> StoreResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(
            Condition::any()
                .add(Column::Status.eq("queued").and(Column::ExpiresAt.lte(now)))
                .add(
                    Column::Status
                        .eq("dispatched")
                        .and(Column::ClaimedAt.lte(now - claim_lease_ms)),
                )
                .add(
                    Column::Status
                        .eq("running")
                        .and(Column::StartedAt.lte(now - running_limit_ms)),
                ),
        )
        .all(db.read())
        .await?)
}

/// Which events a stream replays: the tenant's, narrowed as a stream's filter says.
pub struct EventFilter<'a> {
    pub tenant: &'a TenantId,
    pub created_by: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub command_id: Option<&'a str>,
}

/// Up to `limit` events after id `last` that pass `filter`, oldest first.
pub async fn events_after(
    db: &Db,
    filter: &EventFilter<'_>,
    last: i64,
    limit: u64,
) -> StoreResult<Vec<command_event::Model>> {
    use command_event::Column as E;
    let mut q = command_event::Entity::find()
        .filter(E::TenantId.eq(filter.tenant.as_str()))
        .filter(E::Id.gt(last));
    if let Some(c) = filter.created_by {
        q = q.filter(E::CreatedBy.eq(c));
    }
    if let Some(a) = filter.agent_id {
        q = q.filter(E::AgentId.eq(a));
    }
    if let Some(c) = filter.command_id {
        q = q.filter(E::CommandId.eq(c));
    }
    Ok(q.order_by_asc(E::Id).limit(limit).all(db.read()).await?)
}

/// The newest event id (0 when there is none): a new stream's starting point.
pub async fn latest_event(db: &Db) -> StoreResult<i64> {
    use command_event::Column as E;
    let newest = command_event::Entity::find()
        .order_by_desc(E::Id)
        .limit(1)
        .one(db.read())
        .await?;
    Ok(newest.map_or(0, |e| e.id))
}
