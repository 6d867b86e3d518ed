//! The command store through SeaORM and the [`Db`] handle, on either engine. It is the
//! store PostgreSQL runs (which takes concurrent writers as they come); on SQLite it works
//! too, and the contract tests run it there. With PostgreSQL every change is one statement
//! with its event, committing by itself; a claim first reads the row it will claim (its
//! event's data is the claimed row), and only a claim that lost a race takes a transaction.
//! Rows this replica wrote are not read again: a poll woken for a command queued here claims
//! it as it was written, and a report finds its command as this replica's poll claimed it
//! (both conditioned on the row being unchanged; otherwise they read it as usual).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use botmox_proto::agent::Presence;
use botmox_proto::command::CommandStatus;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter,
    Statement, Value,
};

use super::events::{self, Recorded};
use super::store::{
    self, CANCEL, CLAIM_POSTGRES, CLAIM_SEEN, CLAIM_SQLITE, Claim, CommandStore, Handed, LOOK,
    NAMED_POSTGRES, NEXT_POSTGRES, QUEUE, QueueFor, REPORT, REPORT_SEEN, REPORTED_COMMAND, Report,
    Reported, SETTLE, Settle, TOUCH, Woken,
};
use crate::db::TenantId;
use crate::db::entity::agent;
use crate::db::entity::agent_command::{Entity, Model};
use crate::db::entity::stored::Stored;
use crate::db::{Db, Engine, StoreError, StoreResult};

/// Claimed commands kept for their reports, at most: past it the store starts over (a
/// report of a command no longer kept reads it, as correct, only one round trip slower).
const CLAIMED_CAPACITY: usize = 20_000;

pub struct SeaOrmStore {
    db: Db,
    /// Where heartbeat touches go ([`Db::presence`]).
    presence: Db,
    /// Commands this replica's polls claimed (or a report left running), as stored then,
    /// by id, until their agent reports them ended.
    claimed: Mutex<HashMap<String, Model>>,
}

impl SeaOrmStore {
    pub fn new(db: Db) -> Self {
        Self {
            presence: db.presence(),
            db,
            claimed: Mutex::default(),
        }
    }

    fn claimed(&self) -> std::sync::MutexGuard<'_, HashMap<String, Model>> {
        self.claimed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keep `command`, as it now stands, for the report to come.
    fn keep_claimed(&self, command: &Model) {
        let mut claimed = self.claimed();
        if claimed.len() >= CLAIMED_CAPACITY && !claimed.contains_key(&command.id) {
            claimed.clear();
        }
        claimed.insert(command.id.clone(), command.clone());
    }

    /// Apply `sql` (a change of `store`: `QUEUE`, `REPORT`, `CANCEL` or `SETTLE`, with
    /// `values`) and record the event saying `command` entered its status, atomically;
    /// `None` when the change touched no row (another writer got there first).
    async fn change(
        &self,
        sql: &str,
        values: Vec<Value>,
        command: &Model,
    ) -> StoreResult<Option<Recorded>> {
        let events = self.change_in_steps(sql, values, &[command]).await?;
        Ok(events.and_then(|e| e.into_iter().next()))
    }

    /// [`Self::change`] recording an event for each of `steps` (the command as it stood
    /// after each), in that order. PostgreSQL does it all in one statement
    /// ([`events::change_with_events`]), SQLite in a transaction.
    async fn change_in_steps(
        &self,
        sql: &str,
        values: Vec<Value>,
        steps: &[&Model],
    ) -> StoreResult<Option<Vec<Recorded>>> {
        match self.db.engine() {
            Engine::Postgres => {
                events::change_with_events(&self.db, &store::postgres(sql), values, steps).await
            }
            Engine::Sqlite => {
                let statement =
                    Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values);
                self.db
                    .write(async |txn| {
                        if txn.execute(statement).await?.rows_affected() != 1 {
                            return Ok(None);
                        }
                        let mut events = Vec::with_capacity(steps.len());
                        for step in steps {
                            events.push(events::record_command(txn, step).await?);
                        }
                        Ok(Some(events))
                    })
                    .await
            }
        }
    }

    /// `sql` of [`store`] (in SQLite's placeholders) for this engine, with `values`.
    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        match self.db.engine() {
            Engine::Postgres => Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                store::postgres(sql),
                values,
            ),
            Engine::Sqlite => Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values),
        }
    }

    /// Whether `agent` has a queued command not expired at `now`; `None` when it no longer
    /// stands as read.
    async fn look(&self, agent: &agent::Model, now: i64) -> StoreResult<Option<bool>> {
        let values = vec![
            agent.id.clone().into(),
            now.into(),
            agent.token_hash.clone().into(),
        ];
        let row = self
            .db
            .read()
            .query_one(self.statement(LOOK, values))
            .await?;
        row.map(|r| Ok(r.try_get::<Option<String>>("", "queued")?.is_some()))
            .transpose()
    }

    /// PostgreSQL's claim: read the row to claim (the command a wake-up named while it is
    /// queued, else the oldest), then claim that very row with its event in one statement
    /// that commits by itself: two round trips where a transaction takes five. Polls woken
    /// for different commands never meet; polls that race for the oldest (several just came)
    /// may: the one that finds it claimed falls back to [`Self::claim_locked`].
    async fn claim_postgres(
        &self,
        agent: &agent::Model,
        woken: Woken<'_>,
        now: i64,
        claim_id: String,
    ) -> StoreResult<Claim> {
        let command = match woken {
            Woken::Queued(row) if row.agent_id == agent.id => row.clone(),
            other => {
                let named = if let Woken::Yes(named) = other {
                    named
                } else {
                    None
                };
                match self.next_queued(agent, named, now).await? {
                    Ok(command) => command,
                    Err(instead) => return Ok(instead),
                }
            }
        };
        match self
            .claim_seen(agent, command, now, claim_id.clone())
            .await?
        {
            Some(claimed) => Ok(claimed),
            None => self.claim_locked(agent, now, claim_id).await,
        }
    }

    /// The row a poll of `agent` claims at `now`, read: the command `named` while it is
    /// still queued, else the oldest queued one; `Err` with what the poll gets instead when
    /// there is none ([`Claim::Nothing`]) or the agent no longer stands ([`Claim::Revoked`]).
    async fn next_queued(
        &self,
        agent: &agent::Model,
        mut named: Option<&str>,
        now: i64,
    ) -> StoreResult<Result<Model, Claim>> {
        loop {
            let mut values: Vec<Value> = vec![
                agent.id.clone().into(),
                now.into(),
                agent.token_hash.clone().into(),
            ];
            let sql = match named {
                Some(id) => {
                    values.push(id.into());
                    NAMED_POSTGRES
                }
                None => NEXT_POSTGRES,
            };
            let look = Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values);
            let Some(row) = self.db.read().query_one(look).await? else {
                return Ok(Err(Claim::Revoked));
            };
            if row.try_get::<Option<String>>("", "id")?.is_some() {
                return Ok(Ok(Model::from_query_result(&row, "")?));
            }
            if named.take().is_none() {
                return Ok(Err(Claim::Nothing));
            }
        }
    }

    /// Claim `command`, as read or queued: `None` when it is no longer as it was then (a
    /// racing poll claimed it, a sweep or cancel changed it) or the agent no longer stands.
    async fn claim_seen(
        &self,
        agent: &agent::Model,
        seen: Model,
        now: i64,
        claim_id: String,
    ) -> StoreResult<Option<Claim>> {
        let seen_at = seen.updated_at;
        let command = store::claimed(seen, now, &claim_id);
        let values = vec![
            command.id.clone().into(),
            now.into(),
            claim_id.clone().into(),
            agent.token_hash.clone().into(),
            seen_at.into(),
            agent.id.clone().into(),
        ];
        let claim = store::postgres(CLAIM_SEEN);
        let event = events::change_with_event(&self.db, &claim, values, &command).await?;
        Ok(event.map(|event| Claim::Command(Box::new((command, event)))))
    }

    /// PostgreSQL's claim of the oldest command the racing polls do not hold (`FOR UPDATE
    /// SKIP LOCKED`), with its event, in one transaction.
    async fn claim_locked(
        &self,
        agent: &agent::Model,
        now: i64,
        claim_id: String,
    ) -> StoreResult<Claim> {
        let statement = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            CLAIM_POSTGRES,
            [
                agent.id.clone().into(),
                now.into(),
                claim_id.into(),
                agent.token_hash.clone().into(),
            ],
        );
        let claim = self
            .db
            .write(async |txn| {
                let Some(command) = Entity::find().from_raw_sql(statement).one(txn).await? else {
                    return Ok(Claim::Nothing);
                };
                let event = events::record_command(txn, &command).await?;
                Ok::<_, StoreError>(Claim::Command(Box::new((command, event))))
            })
            .await?;
        if matches!(claim, Claim::Nothing) {
            // Nothing claimed: tell a revocation from an empty queue.
            let current = agent::Entity::find_by_id(agent.id.clone())
                .one(self.db.read())
                .await?;
            if !agent.unchanged_in(current.as_ref()) {
                return Ok(Claim::Revoked);
            }
        }
        Ok(claim)
    }

    /// SQLite's claim (the contract tests'; the server runs the direct store): a look unless
    /// a wake-up said there is a command, then the agent read again and the claim with its
    /// event in one transaction (one writer at a time: nothing slips between).
    async fn claim_sqlite(
        &self,
        agent: &agent::Model,
        woken: Woken<'_>,
        now: i64,
        claim_id: String,
    ) -> StoreResult<Claim> {
        if matches!(woken, Woken::No) {
            match self.look(agent, now).await? {
                None => return Ok(Claim::Revoked),
                Some(false) => return Ok(Claim::Nothing),
                Some(true) => {}
            }
        }
        let statement = Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            CLAIM_SQLITE,
            [agent.id.clone().into(), now.into(), claim_id.into()],
        );
        self.db
            .write(async |txn| {
                let current = agent::Entity::find_by_id(agent.id.clone()).one(txn).await?;
                if !agent.unchanged_in(current.as_ref()) {
                    return Ok(Claim::Revoked);
                }
                let Some(command) = Entity::find().from_raw_sql(statement).one(txn).await? else {
                    return Ok(Claim::Nothing);
                };
                let event = events::record_command(txn, &command).await?;
                Ok::<_, StoreError>(Claim::Command(Box::new((command, event))))
            })
            .await
    }

    /// A report on `kept`, the command as this replica last stored it, without reading it:
    /// `None` when the report does not fit it or the row changed since (or the agent no
    /// longer stands), so that the report reads the row and decides as usual.
    async fn report_kept(
        &self,
        agent: &agent::Model,
        kept: Model,
        report: Report,
        now: i64,
    ) -> StoreResult<Option<Reported>> {
        let mut command = kept;
        let (from, claim, stamp) = (command.status, command.claim_id.clone(), command.updated_at);
        if report.apply(&mut command, now).is_err() {
            return Ok(None);
        }
        let mut values = report_values(&mut command, from, claim);
        values.extend([
            stamp.into(),
            agent.id.clone().into(),
            agent.token_hash.clone().into(),
        ]);
        let event = self.change(REPORT_SEEN, values, &command).await?;
        Ok(event.map(|event| self.reported(command, event)))
    }

    /// A report applied: the command is kept for the next report unless it ended.
    fn reported(&self, command: Model, event: Recorded) -> Reported {
        if !command.status.0.is_terminal() {
            self.keep_claimed(&command);
        }
        Reported::Done(Box::new((command, event)))
    }

    async fn agent_where(&self, filter: sea_orm::Condition) -> StoreResult<Option<agent::Model>> {
        Ok(agent::Entity::find()
            .filter(filter)
            .one(self.db.read())
            .await?)
    }
}

#[async_trait]
impl CommandStore for SeaOrmStore {
    async fn agent(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<agent::Model>> {
        self.agent_where(
            sea_orm::Condition::all()
                .add(agent::Column::Id.eq(id))
                .add(agent::Column::TenantId.eq(tenant.as_str())),
        )
        .await
    }

    async fn agent_by_token(&self, token_hash: &str) -> StoreResult<Option<agent::Model>> {
        self.agent_where(sea_orm::Condition::all().add(agent::Column::TokenHash.eq(token_hash)))
            .await
    }

    async fn touch(
        &self,
        agent_id: &str,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<Presence>> {
        let values = vec![agent_id.into(), token_hash.into(), now.into()];
        // One statement, no transaction around it, whose commit does not wait for the disk
        // (`Db::presence`): heartbeats are the fleet's most frequent write.
        let rows = self
            .presence
            .write_one(self.statement(TOUCH, values))
            .await?;
        rows.first()
            .map(|row| Ok(row.try_get::<Stored<Presence>>("", "presence")?.0))
            .transpose()
    }

    async fn queue(&self, command: Model, to: QueueFor<'_>) -> StoreResult<Option<Recorded>> {
        self.change(QUEUE, queue_values(&command, to), &command)
            .await
    }

    async fn hand_over(
        &self,
        command: Model,
        to: QueueFor<'_>,
        now: i64,
        claim_id: &str,
    ) -> StoreResult<Option<Handed>> {
        let claimed = store::claimed(command.clone(), now, claim_id);
        let values = queue_values(&claimed, to);
        let events = self
            .change_in_steps(QUEUE, values, &[&command, &claimed])
            .await?;
        let Some(events) = events else {
            return Ok(None);
        };
        let [queued, dispatched] = <[Recorded; 2]>::try_from(events).map_err(|_| {
            StoreError::Db(sea_orm::DbErr::Custom(
                "a hand-over records two events".into(),
            ))
        })?;
        self.keep_claimed(&claimed);
        Ok(Some(Handed {
            command: claimed,
            queued,
            dispatched,
        }))
    }

    async fn claim(
        &self,
        agent: &agent::Model,
        woken: Woken<'_>,
        now: i64,
        claim_id: String,
    ) -> StoreResult<Claim> {
        let claim = match self.db.engine() {
            Engine::Postgres => self.claim_postgres(agent, woken, now, claim_id).await?,
            Engine::Sqlite => self.claim_sqlite(agent, woken, now, claim_id).await?,
        };
        if let Claim::Command(claimed) = &claim {
            self.keep_claimed(&claimed.0);
        }
        Ok(claim)
    }

    async fn report(
        &self,
        agent: &agent::Model,
        id: &str,
        report: Report,
        now: i64,
    ) -> StoreResult<Reported> {
        let kept = self.claimed().remove(id);
        if let Some(kept) = kept.filter(|c| c.agent_id == agent.id)
            && let Some(done) = self.report_kept(agent, kept, report.clone(), now).await?
        {
            return Ok(done);
        }
        let values = vec![
            agent.id.clone().into(),
            id.into(),
            agent.token_hash.clone().into(),
        ];
        let read = self.statement(REPORTED_COMMAND, values);
        let Some(row) = self.db.read().query_one(read).await? else {
            return Ok(Reported::Revoked);
        };
        if row.try_get::<Option<String>>("", "id")?.is_none() {
            return Ok(Reported::NotFound);
        }
        let mut command = Model::from_query_result(&row, "")?;
        let (from, claim) = (command.status, command.claim_id.clone());
        if let Err(reason) = report.apply(&mut command, now) {
            return Ok(Reported::Refused(reason));
        }
        let values = report_values(&mut command, from, claim);
        Ok(match self.change(REPORT, values, &command).await? {
            Some(event) => self.reported(command, event),
            None => Reported::Refused("The command changed meanwhile".into()),
        })
    }

    async fn cancel(&self, mut command: Model, now: i64) -> StoreResult<Option<(Model, Recorded)>> {
        command.status = CommandStatus::Cancelled.into();
        command.completed_at = Some(now);
        command.updated_at = now;
        let withheld = store::withhold_ended_secrets(&mut command);
        let values = vec![command.id.clone().into(), now.into(), withheld.into()];
        let event = self.change(CANCEL, values, &command).await?;
        Ok(event.map(|e| (command, e)))
    }

    async fn settle(&self, command: Model, how: Settle, now: i64) -> StoreResult<Option<Recorded>> {
        let (was, stamp) = (command.status, command.updated_at);
        let mut next = store::settled(command, how, now);
        let withheld = store::withhold_ended_secrets(&mut next);
        let values = vec![
            next.id.clone().into(),
            next.status.into(),
            next.claim_id.clone().into(),
            next.claimed_at.into(),
            next.completed_at.into(),
            next.error_message.clone().into(),
            next.updated_at.into(),
            was.into(),
            stamp.into(),
            withheld.into(),
        ];
        self.change(SETTLE, values, &next).await
    }
}

/// The values of [`QUEUE`] for `command`, queued as `to` says.
fn queue_values(command: &Model, to: QueueFor<'_>) -> Vec<Value> {
    vec![
        command.id.clone().into(),
        command.tenant_id.clone().into(),
        command.agent_id.clone().into(),
        command.command_type.clone().into(),
        command.payload.clone().into(),
        command.status.into(),
        command.result.clone().into(),
        command.error_message.clone().into(),
        command.created_by.clone().into(),
        command.claim_id.clone().into(),
        command.attempts.into(),
        command.queued_at.into(),
        command.claimed_at.into(),
        command.started_at.into(),
        command.completed_at.into(),
        command.expires_at.into(),
        command.updated_at.into(),
        to.owner.into(),
        to.seen_after.into(),
        to.token_hash.into(),
    ]
}

/// The values of [`REPORT`] for `command` as a report left it (its secrets withheld once it
/// ended), applied if it is still in status `from` under `claim`.
fn report_values(
    command: &mut Model,
    from: Stored<CommandStatus>,
    claim: Option<String>,
) -> Vec<Value> {
    let withheld = store::withhold_ended_secrets(command);
    vec![
        command.id.clone().into(),
        command.status.into(),
        command.started_at.into(),
        command.completed_at.into(),
        command.result.clone().into(),
        command.error_message.clone().into(),
        command.updated_at.into(),
        withheld.into(),
        from.into(),
        claim.into(),
    ]
}
