//! Writing the bus's command changes, each with its event row in the same transaction.
//!
//! With SQLite the changes go to the direct writer ([`crate::db::sqlite_direct`]), which
//! commits many of them together; with PostgreSQL each runs in a transaction of its own
//! through sea-orm (PostgreSQL takes concurrent writers as they come). Either way the
//! caller announces the returned event only after the commit.

use rusqlite::{Connection, OptionalExtension};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect,
    Statement, TransactionTrait,
};

use super::events::{self, Recorded};
use super::service::Report;
use crate::agents;
use crate::app::AppState;
use crate::clock::now_ms;
use crate::db::entity::agent;
use crate::db::entity::agent_command::{self, Column, Entity, Model};
use crate::db::sqlite_direct::first_row;
use crate::http::{ApiError, ApiResult};

/// Claim the oldest unexpired queued command of agent `$1` at time `$2` with claim id `$3`.
/// PostgreSQL picks and locks the row with `FOR UPDATE SKIP LOCKED`, so racing polls get
/// different rows and never wait on each other; SQLite runs one writer at a time, so its
/// update of the row a subquery picks is atomic as it stands. Expired commands are left to
/// the sweeper, which settles them and says why.
const CLAIM_POSTGRES: &str = "WITH next AS (SELECT id FROM agent_commands \
       WHERE agent_id = $1 AND status = 'queued' AND expires_at > $2 \
       ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     UPDATE agent_commands c SET status = 'dispatched', claim_id = $3, claimed_at = $2, \
       attempts = c.attempts + 1, updated_at = $2 \
     FROM next WHERE c.id = next.id RETURNING c.*";
const CLAIM_SQLITE: &str = "UPDATE agent_commands SET status = 'dispatched', claim_id = ?3, \
       claimed_at = ?2, attempts = attempts + 1, updated_at = ?2 \
     WHERE id = (SELECT id FROM agent_commands \
       WHERE agent_id = ?1 AND status = 'queued' AND expires_at > ?2 \
       ORDER BY queued_at, id LIMIT 1) RETURNING *";

/// What a poll's claim found.
pub enum Claim {
    Command(Box<(Model, Recorded)>),
    Nothing,
    /// The agent was revoked, or its token replaced, since the poll began.
    Revoked,
}

/// Insert a new queued command.
pub async fn queue(state: &AppState, command: Model) -> ApiResult<Recorded> {
    if let Some(direct) = &state.sqlite {
        return direct
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO agent_commands (id, tenant_id, agent_id, command_type, payload, \
                       status, result, error_message, created_by, claim_id, attempts, queued_at, \
                       claimed_at, started_at, completed_at, expires_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
                       ?16, ?17)",
                )?
                .execute(rusqlite::params![
                    command.id,
                    command.tenant_id,
                    command.agent_id,
                    command.command_type,
                    command.payload,
                    command.status,
                    command.result,
                    command.error_message,
                    command.created_by,
                    command.claim_id,
                    command.attempts,
                    command.queued_at,
                    command.claimed_at,
                    command.started_at,
                    command.completed_at,
                    command.expires_at,
                    command.updated_at,
                ])?;
                Ok(events::record_command_direct(conn, &command)?)
            })
            .await;
    }
    let txn = state.db.begin().await?;
    Entity::insert(agent_command::ActiveModel::from(command.clone()))
        .exec_without_returning(&txn)
        .await?;
    let event = events::record_command(&txn, &command).await?;
    txn.commit().await?;
    Ok(event)
}

/// Claim `agent`'s next command. With `recheck`, first make sure the agent still stands as
/// it was when its token was checked (a revocation wakes its polls too).
pub async fn claim(state: &AppState, agent: &agent::Model, recheck: bool) -> ApiResult<Claim> {
    if recheck {
        let still = agents::store::get(state, &agent.tenant_id, &agent.id).await?;
        if still.is_none_or(|a| a.status != "active" || a.token_hash != agent.token_hash) {
            return Ok(Claim::Revoked);
        }
    }
    let now = now_ms();
    // Most polls find nothing: a plain read says so without a write.
    if !anything_queued(state, &agent.id, now).await? {
        return Ok(Claim::Nothing);
    }
    let claim_id = uuid::Uuid::new_v4().to_string();
    if let Some(direct) = &state.sqlite {
        let (id, token_hash) = (agent.id.clone(), agent.token_hash.clone());
        return direct
            .write(move |conn| {
                // Checked again where no revocation can slip in between.
                if recheck && !still_active(conn, &id, token_hash.as_deref())? {
                    return Ok(Claim::Revoked);
                }
                let claimed = first_row(conn, CLAIM_SQLITE, rusqlite::params![id, now, claim_id]);
                let Some(command) = claimed? else {
                    return Ok(Claim::Nothing);
                };
                let event = events::record_command_direct(conn, &command)?;
                Ok(Claim::Command(Box::new((command, event))))
            })
            .await;
    }
    let statement = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        CLAIM_POSTGRES,
        [agent.id.clone().into(), now.into(), claim_id.into()],
    );
    let txn = state.db.begin().await?;
    let Some(command) = Entity::find().from_raw_sql(statement).one(&txn).await? else {
        return Ok(Claim::Nothing);
    };
    let event = events::record_command(&txn, &command).await?;
    txn.commit().await?;
    Ok(Claim::Command(Box::new((command, event))))
}

/// Whether the agent has a queued command that has not expired.
async fn anything_queued(state: &AppState, agent_id: &str, now: i64) -> ApiResult<bool> {
    if let Some(direct) = &state.sqlite {
        return direct.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT 1 FROM agent_commands \
                     WHERE agent_id = ?1 AND status = 'queued' AND expires_at > ?2 LIMIT 1",
                )?
                .exists(rusqlite::params![agent_id, now])?)
        });
    }
    let queued = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::AgentId.eq(agent_id))
        .filter(Column::Status.eq("queued"))
        .filter(Column::ExpiresAt.gt(now))
        .limit(1)
        .into_tuple::<String>()
        .one(&state.db)
        .await?;
    Ok(queued.is_some())
}

fn still_active(conn: &Connection, id: &str, token_hash: Option<&str>) -> ApiResult<bool> {
    let stored: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT status, token_hash FROM agents WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(stored.is_some_and(|(status, hash)| status == "active" && hash.as_deref() == token_hash))
}

/// Apply an agent's report to its command `id`: 404 when the agent has no such command,
/// otherwise what `report` decides against the command as stored, written only if the
/// command did not change meanwhile.
pub async fn report(
    state: &AppState,
    agent_id: &str,
    id: &str,
    report: Report,
) -> ApiResult<(Model, Recorded)> {
    let now = now_ms();
    if let Some(direct) = &state.sqlite {
        let (agent_id, id) = (agent_id.to_owned(), id.to_owned());
        return direct
            .write(move |conn| {
                let mut command: Model = first_row(
                    conn,
                    "SELECT * FROM agent_commands WHERE id = ?1 AND agent_id = ?2",
                    [&id, &agent_id],
                )?
                .ok_or_else(|| ApiError::not_found("Command"))?;
                report.apply(&mut command, now)?;
                // The writer is alone: the command read above is the one updated here.
                conn.prepare_cached(
                    "UPDATE agent_commands SET status = ?2, started_at = ?3, completed_at = ?4, \
                       result = ?5, error_message = ?6, updated_at = ?7 WHERE id = ?1",
                )?
                .execute(rusqlite::params![
                    command.id,
                    command.status,
                    command.started_at,
                    command.completed_at,
                    command.result,
                    command.error_message,
                    command.updated_at,
                ])?;
                let event = events::record_command_direct(conn, &command)?;
                Ok((command, event))
            })
            .await;
    }
    let mut command = Entity::find_by_id(id.to_owned())
        .filter(Column::AgentId.eq(agent_id))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("Command"))?;
    let (from, claim) = (command.status.clone(), command.claim_id.clone());
    report.apply(&mut command, now)?;
    let txn = state.db.begin().await?;
    let updated = Entity::update_many()
        .set(agent_command::ActiveModel {
            status: Set(command.status.clone()),
            started_at: Set(command.started_at),
            completed_at: Set(command.completed_at),
            result: Set(command.result.clone()),
            error_message: Set(command.error_message.clone()),
            updated_at: Set(command.updated_at),
            ..Default::default()
        })
        .filter(Column::Id.eq(&command.id))
        .filter(Column::Status.eq(from))
        .filter(Column::ClaimId.eq(claim))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ApiError::new(
            botmox_proto::ErrorCode::Conflict,
            "The command changed meanwhile",
        ));
    }
    let event = events::record_command(&txn, &command).await?;
    txn.commit().await?;
    Ok((command, event))
}

/// Cancel `command` if it is still queued; `None` when it is not.
pub async fn cancel(state: &AppState, mut command: Model) -> ApiResult<Option<(Model, Recorded)>> {
    let now = now_ms();
    command.status = "cancelled".into();
    command.completed_at = Some(now);
    command.updated_at = now;
    if let Some(direct) = &state.sqlite {
        return direct
            .write(move |conn| {
                let done = conn
                    .prepare_cached(
                        "UPDATE agent_commands SET status = 'cancelled', completed_at = ?2, \
                           updated_at = ?2 WHERE id = ?1 AND status = 'queued'",
                    )?
                    .execute(rusqlite::params![command.id, now])?
                    == 1;
                if !done {
                    return Ok(None);
                }
                let event = events::record_command_direct(conn, &command)?;
                Ok(Some((command, event)))
            })
            .await;
    }
    let txn = state.db.begin().await?;
    let done = Entity::update_many()
        .col_expr(Column::Status, Expr::value("cancelled"))
        .col_expr(Column::CompletedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(&command.id))
        .filter(Column::Status.eq("queued"))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if !done {
        return Ok(None);
    }
    let event = events::record_command(&txn, &command).await?;
    txn.commit().await?;
    Ok(Some((command, event)))
}
