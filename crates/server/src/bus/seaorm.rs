//! The command store through SeaORM and the [`Db`] handle, on either engine. It is the
//! store PostgreSQL runs (which takes concurrent writers as they come); on SQLite it works
//! too, and the contract tests run it there. With PostgreSQL every change but a claim is
//! one statement with its event, committing by itself; a claim is one transaction of two
//! statements (its event's data is the claimed row, known only once claimed).

use async_trait::async_trait;
use botmox_proto::agent::Presence;
use botmox_proto::command::CommandStatus;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, Statement, Value,
};

use super::events::{self, Recorded};
use super::store::{
    self, CANCEL, CLAIM_POSTGRES, CLAIM_SQLITE, Claim, CommandStore, LOOK, QUEUE, REPORT,
    REPORTED_COMMAND, Report, Reported, SETTLE, Settle, TOUCH,
};
use crate::db::TenantId;
use crate::db::entity::agent;
use crate::db::entity::agent_command::{Entity, Model};
use crate::db::entity::stored::Stored;
use crate::db::{Db, Engine, StoreError, StoreResult};

pub struct SeaOrmStore {
    db: Db,
}

impl SeaOrmStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Apply `sql` (a change of `store`: `QUEUE`, `REPORT`, `CANCEL` or `SETTLE`, with
    /// `values`) and record the event saying `command` entered its status, atomically;
    /// `None` when the change touched no row (another writer got there first). PostgreSQL
    /// does both in one statement ([`events::change_with_event`]), SQLite in a transaction.
    async fn change(
        &self,
        sql: &str,
        values: Vec<Value>,
        command: &Model,
    ) -> StoreResult<Option<Recorded>> {
        match self.db.engine() {
            Engine::Postgres => {
                events::change_with_event(&self.db, &store::postgres(sql), values, command).await
            }
            Engine::Sqlite => {
                let statement =
                    Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values);
                self.db
                    .write(async |txn| {
                        if txn.execute(statement).await?.rows_affected() != 1 {
                            return Ok(None);
                        }
                        events::record_command(txn, command).await.map(Some)
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
        // One statement, no transaction around it: heartbeats are the fleet's most frequent
        // write.
        let rows = self.db.write_one(self.statement(TOUCH, values)).await?;
        rows.first()
            .map(|row| Ok(row.try_get::<Stored<Presence>>("", "presence")?.0))
            .transpose()
    }

    async fn queue(&self, command: Model) -> StoreResult<Recorded> {
        let values = vec![
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
        ];
        self.change(QUEUE, values, &command)
            .await?
            .ok_or(StoreError::Db(DbErr::RecordNotInserted))
    }

    async fn claim(
        &self,
        agent: &agent::Model,
        woken: bool,
        now: i64,
        claim_id: String,
    ) -> StoreResult<Claim> {
        if !woken {
            match self.look(agent, now).await? {
                None => return Ok(Claim::Revoked),
                Some(false) => return Ok(Claim::Nothing),
                Some(true) => {}
            }
        }
        // PostgreSQL's claim statement checks the agent itself, and picks the oldest row
        // nobody holds (`FOR UPDATE SKIP LOCKED`: racing polls of one agent each get another);
        // on SQLite the agent is read again in the claim's transaction (one writer at a time:
        // nothing slips between).
        let postgres = self.db.engine() == Engine::Postgres;
        let statement = if postgres {
            Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                CLAIM_POSTGRES,
                [
                    agent.id.clone().into(),
                    now.into(),
                    claim_id.into(),
                    agent.token_hash.clone().into(),
                ],
            )
        } else {
            Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                CLAIM_SQLITE,
                [agent.id.clone().into(), now.into(), claim_id.into()],
            )
        };
        let claim = self
            .db
            .write(async |txn| {
                if !postgres {
                    let current = agent::Entity::find_by_id(agent.id.clone()).one(txn).await?;
                    if !agent.unchanged_in(current.as_ref()) {
                        return Ok(Claim::Revoked);
                    }
                }
                let Some(command) = Entity::find().from_raw_sql(statement).one(txn).await? else {
                    return Ok(Claim::Nothing);
                };
                let event = events::record_command(txn, &command).await?;
                Ok::<_, StoreError>(Claim::Command(Box::new((command, event))))
            })
            .await?;
        if postgres && matches!(claim, Claim::Nothing) {
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

    async fn report(
        &self,
        agent: &agent::Model,
        id: &str,
        report: Report,
        now: i64,
    ) -> StoreResult<Reported> {
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
        let withheld = store::withhold_ended_secrets(&mut command);
        let values = vec![
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
        ];
        Ok(match self.change(REPORT, values, &command).await? {
            Some(event) => Reported::Done(Box::new((command, event))),
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
