//! SQLite's fast path for the command store: reads on direct connections on the calling
//! task, writes through the one writer thread that commits many changes together (see
//! [`crate::db::sqlite_direct`] for why). Where it differs from the SeaORM store: a claim
//! re-checks its agent inside the writer, so no revocation can slip between the check and
//! the claim; and a report reads its command inside the writer too, so it needs no
//! conditional update.

use std::sync::Arc;

use async_trait::async_trait;
use botmox_proto::agent::{AgentStatus, Presence};
use botmox_proto::command::CommandStatus;
use rusqlite::{Connection, OptionalExtension};

use super::events::{self, Recorded};
use super::store::{
    self, CANCEL, CLAIM_SQLITE, Claim, CommandStore, Handed, LOOK, QUEUE, QueueFor, REPORT, Report,
    Reported, SETTLE, Settle, TOUCH, Woken,
};
use crate::db::TenantId;
use crate::db::entity::agent;
use crate::db::entity::agent_command::Model;

use crate::db::sqlite_direct::{SqliteDirect, first_row};
use crate::db::{StoreError, StoreResult};

pub struct DirectStore {
    direct: Arc<SqliteDirect>,
}

impl DirectStore {
    /// The store on the database's direct connections ([`crate::db::Db::direct`]).
    pub fn new(direct: Arc<SqliteDirect>) -> Self {
        Self { direct }
    }

    /// Whether `agent` has a queued command not expired at `now`; `None` when it no longer
    /// stands as read.
    fn look(&self, agent: &agent::Model, now: i64) -> StoreResult<Option<bool>> {
        self.direct.read(|conn| {
            let found: Option<Option<String>> = conn
                .prepare_cached(LOOK)?
                .query_row(rusqlite::params![agent.id, now, agent.token_hash], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(found.map(|queued| queued.is_some()))
        })
    }

    /// Finish the queued writes and close the direct connections.
    pub async fn close(&self) {
        self.direct.close().await;
    }
}

fn still_active(conn: &Connection, id: &str, token_hash: Option<&str>) -> StoreResult<bool> {
    let stored: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT status, token_hash FROM agents WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(stored.is_some_and(|(status, hash)| {
        status == AgentStatus::Active.as_str() && hash.as_deref() == token_hash
    }))
}

#[async_trait]
impl CommandStore for DirectStore {
    async fn agent(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<agent::Model>> {
        self.direct.read(|conn| {
            first_row(
                conn,
                "SELECT * FROM agents WHERE id = ?1 AND tenant_id = ?2",
                [id, tenant.as_str()],
            )
        })
    }

    async fn agent_by_token(&self, token_hash: &str) -> StoreResult<Option<agent::Model>> {
        self.direct.read(|conn| {
            first_row(
                conn,
                "SELECT * FROM agents WHERE token_hash = ?1",
                [token_hash],
            )
        })
    }

    async fn touch(
        &self,
        agent_id: &str,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<Presence>> {
        let (id, token_hash) = (agent_id.to_owned(), token_hash.to_owned());
        self.direct
            .write(move |conn| {
                let presence: Option<String> = conn
                    .prepare_cached(TOUCH)?
                    .query_row(rusqlite::params![id, token_hash, now], |r| r.get(0))
                    .optional()?;
                presence
                    .map(|p| {
                        p.parse().map_err(|_| {
                            StoreError::Db(sea_orm::DbErr::Custom(format!("presence {p}")))
                        })
                    })
                    .transpose()
            })
            .await
    }

    async fn queue(&self, command: Model, to: QueueFor<'_>) -> StoreResult<Option<Recorded>> {
        let to = OwnedQueueFor::of(to);
        self.direct
            .write(move |conn| {
                if !insert(conn, &command, &to)? {
                    return Ok(None);
                }
                events::record_command_direct(conn, &command).map(Some)
            })
            .await
    }

    async fn hand_over(
        &self,
        command: Model,
        to: QueueFor<'_>,
        now: i64,
        claim_id: &str,
    ) -> StoreResult<Option<Handed>> {
        let to = OwnedQueueFor::of(to);
        let claimed = store::claimed(command.clone(), now, claim_id);
        self.direct
            .write(move |conn| {
                if !insert(conn, &claimed, &to)? {
                    return Ok(None);
                }
                let queued = events::record_command_direct(conn, &command)?;
                let dispatched = events::record_command_direct(conn, &claimed)?;
                Ok(Some(Handed {
                    command: claimed,
                    queued,
                    dispatched,
                }))
            })
            .await
    }

    async fn claim(
        &self,
        agent: &agent::Model,
        woken: Woken<'_>,
        now: i64,
        claim_id: String,
    ) -> StoreResult<Claim> {
        // One writer at a time: the oldest command is as good as the one a wake-up named.
        if matches!(woken, Woken::No) {
            match self.look(agent, now)? {
                None => return Ok(Claim::Revoked),
                Some(false) => return Ok(Claim::Nothing),
                Some(true) => {}
            }
        }
        let (id, token_hash) = (agent.id.clone(), agent.token_hash.clone());
        self.direct
            .write(move |conn| {
                // Checked again where no revocation can slip in between.
                if !still_active(conn, &id, token_hash.as_deref())? {
                    return Ok(Claim::Revoked);
                }
                let claimed = first_row(conn, CLAIM_SQLITE, rusqlite::params![id, now, claim_id]);
                let Some(command) = claimed? else {
                    return Ok(Claim::Nothing);
                };
                let event = events::record_command_direct(conn, &command)?;
                Ok(Claim::Command(Box::new((command, event))))
            })
            .await
    }

    async fn report(
        &self,
        agent: &agent::Model,
        id: &str,
        report: Report,
        now: i64,
    ) -> StoreResult<Reported> {
        let (agent_id, id) = (agent.id.clone(), id.to_owned());
        let token_hash = agent.token_hash.clone();
        self.direct
            .write(move |conn| {
                if !still_active(conn, &agent_id, token_hash.as_deref())? {
                    return Ok(Reported::Revoked);
                }
                let Some(mut command): Option<Model> = first_row(
                    conn,
                    "SELECT * FROM agent_commands WHERE id = ?1 AND agent_id = ?2",
                    [&id, &agent_id],
                )?
                else {
                    return Ok(Reported::NotFound);
                };
                let (from, claim) = (command.status, command.claim_id.clone());
                if let Err(reason) = report.apply(&mut command, now) {
                    return Ok(Reported::Refused(reason));
                }
                let withheld = store::withhold_ended_secrets(&mut command);
                // The writer is alone: the command read above is the one updated here.
                conn.prepare_cached(REPORT)?.execute(rusqlite::params![
                    command.id,
                    command.status,
                    command.started_at,
                    command.completed_at,
                    command.result,
                    command.error_message,
                    command.updated_at,
                    withheld,
                    from,
                    claim,
                ])?;
                let event = events::record_command_direct(conn, &command)?;
                Ok(Reported::Done(Box::new((command, event))))
            })
            .await
    }

    async fn cancel(&self, mut command: Model, now: i64) -> StoreResult<Option<(Model, Recorded)>> {
        command.status = CommandStatus::Cancelled.into();
        command.completed_at = Some(now);
        command.updated_at = now;
        let withheld = store::withhold_ended_secrets(&mut command);
        self.direct
            .write(move |conn| {
                let done = conn
                    .prepare_cached(CANCEL)?
                    .execute(rusqlite::params![command.id, now, withheld])?
                    == 1;
                if !done {
                    return Ok(None);
                }
                let event = events::record_command_direct(conn, &command)?;
                Ok(Some((command, event)))
            })
            .await
    }

    async fn settle(&self, command: Model, how: Settle, now: i64) -> StoreResult<Option<Recorded>> {
        let (was, stamp) = (command.status, command.updated_at);
        let mut next = store::settled(command, how, now);
        let withheld = store::withhold_ended_secrets(&mut next);
        self.direct
            .write(move |conn| {
                let done = conn.prepare_cached(SETTLE)?.execute(rusqlite::params![
                    next.id,
                    next.status,
                    next.claim_id,
                    next.claimed_at,
                    next.completed_at,
                    next.error_message,
                    next.updated_at,
                    was,
                    stamp,
                    withheld,
                ])? == 1;
                if !done {
                    return Ok::<_, StoreError>(None);
                }
                events::record_command_direct(conn, &next).map(Some)
            })
            .await
    }
}

/// [`QueueFor`] owned, to move into the writer.
struct OwnedQueueFor {
    owner: Option<String>,
    seen_after: Option<i64>,
    token_hash: Option<String>,
}

impl OwnedQueueFor {
    fn of(to: QueueFor<'_>) -> Self {
        Self {
            owner: to.owner.map(str::to_owned),
            seen_after: to.seen_after,
            token_hash: to.token_hash.map(str::to_owned),
        }
    }
}

/// Insert `command` as [`QUEUE`] does; `false` when its agent is not as `to` asks.
fn insert(conn: &Connection, command: &Model, to: &OwnedQueueFor) -> StoreResult<bool> {
    let inserted = conn.prepare_cached(QUEUE)?.execute(rusqlite::params![
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
        to.owner,
        to.seen_after,
        to.token_hash,
    ])?;
    Ok(inserted == 1)
}
