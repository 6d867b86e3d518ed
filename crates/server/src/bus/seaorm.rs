//! The command store through SeaORM and the [`Db`] handle: one transaction per change, on
//! either engine. It is the store PostgreSQL runs (which takes concurrent writers as they
//! come); on SQLite it works too, and the contract tests run it there.

use async_trait::async_trait;
use botmox_proto::command::CommandStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect, Statement,
};

use super::events::{self, Recorded};
use super::store::{
    self, CLAIM_POSTGRES, CLAIM_SQLITE, Claim, CommandStore, Report, Reported, Settle,
};
use crate::db::TenantId;
use crate::db::entity::agent;
use crate::db::entity::agent_command::{self, Column, Entity, Model};
use crate::db::{Db, Engine, StoreError, StoreResult};

pub struct SeaOrmStore {
    db: Db,
}

impl SeaOrmStore {
    pub fn new(db: Db) -> Self {
        Self { db }
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

    async fn touch(&self, agent_id: &str, token_hash: &str, now: i64) -> StoreResult<bool> {
        let touch = agent::Entity::update_many()
            .col_expr(agent::Column::LastSeenAt, Expr::value(now))
            .col_expr(agent::Column::UpdatedAt, Expr::value(now))
            .filter(agent::Column::Id.eq(agent_id))
            .filter(agent::Column::Status.eq("active"))
            .filter(agent::Column::TokenHash.eq(token_hash));
        self.db
            .write(async |txn| Ok::<_, StoreError>(touch.exec(txn).await?.rows_affected == 1))
            .await
    }

    async fn queue(&self, command: Model) -> StoreResult<Recorded> {
        self.db
            .write(async |txn| {
                Entity::insert(agent_command::ActiveModel::from(command.clone()))
                    .exec_without_returning(txn)
                    .await?;
                events::record_command(txn, &command).await
            })
            .await
    }

    async fn anything_queued(&self, agent_id: &str, now: i64) -> StoreResult<bool> {
        let queued = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::AgentId.eq(agent_id))
            .filter(Column::Status.eq("queued"))
            .filter(Column::ExpiresAt.gt(now))
            .limit(1)
            .into_tuple::<String>()
            .one(self.db.read())
            .await?;
        Ok(queued.is_some())
    }

    async fn claim(
        &self,
        agent: &agent::Model,
        recheck: bool,
        now: i64,
        claim_id: String,
    ) -> StoreResult<Claim> {
        let (backend, sql) = match self.db.engine() {
            Engine::Postgres => (DatabaseBackend::Postgres, CLAIM_POSTGRES),
            Engine::Sqlite => (DatabaseBackend::Sqlite, CLAIM_SQLITE),
        };
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [agent.id.clone().into(), now.into(), claim_id.into()],
        );
        self.db
            .write(async |txn| {
                if recheck {
                    let current = agent::Entity::find_by_id(agent.id.clone()).one(txn).await?;
                    if !agent.unchanged_in(current.as_ref()) {
                        return Ok(Claim::Revoked);
                    }
                }
                let Some(command) = Entity::find().from_raw_sql(statement).one(txn).await? else {
                    return Ok(Claim::Nothing);
                };
                let event = events::record_command(txn, &command).await?;
                Ok(Claim::Command(Box::new((command, event))))
            })
            .await
    }

    async fn report(
        &self,
        agent_id: &str,
        id: &str,
        report: Report,
        now: i64,
    ) -> StoreResult<Reported> {
        let Some(mut command) = Entity::find_by_id(id.to_owned())
            .filter(Column::AgentId.eq(agent_id))
            .one(self.db.read())
            .await?
        else {
            return Ok(Reported::NotFound);
        };
        let (from, claim) = (command.status, command.claim_id.clone());
        if let Err(reason) = report.apply(&mut command, now) {
            return Ok(Reported::Refused(reason));
        }
        let withheld = store::withhold_ended_secrets(&mut command);
        let update = Entity::update_many()
            .set(agent_command::ActiveModel {
                status: Set(command.status),
                started_at: Set(command.started_at),
                completed_at: Set(command.completed_at),
                payload: withheld.map_or(NotSet, Set),
                result: Set(command.result.clone()),
                error_message: Set(command.error_message.clone()),
                updated_at: Set(command.updated_at),
                ..Default::default()
            })
            .filter(Column::Id.eq(&command.id))
            .filter(Column::Status.eq(from))
            .filter(Column::ClaimId.eq(claim));
        self.db
            .write(async |txn| {
                if update.exec(txn).await?.rows_affected != 1 {
                    return Ok(Reported::Refused("The command changed meanwhile".into()));
                }
                let event = events::record_command(txn, &command).await?;
                Ok(Reported::Done(Box::new((command, event))))
            })
            .await
    }

    async fn cancel(&self, mut command: Model, now: i64) -> StoreResult<Option<(Model, Recorded)>> {
        command.status = CommandStatus::Cancelled.into();
        command.completed_at = Some(now);
        command.updated_at = now;
        let withheld = store::withhold_ended_secrets(&mut command);
        let mut update = Entity::update_many()
            .col_expr(Column::Status, Expr::value("cancelled"))
            .col_expr(Column::CompletedAt, Expr::value(now))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(&command.id))
            .filter(Column::Status.eq("queued"));
        if let Some(payload) = withheld {
            update = update.col_expr(Column::Payload, Expr::value(payload));
        }
        self.db
            .write(async |txn| {
                if update.exec(txn).await?.rows_affected != 1 {
                    return Ok(None);
                }
                let event = events::record_command(txn, &command).await?;
                Ok(Some((command, event)))
            })
            .await
    }

    async fn settle(&self, command: Model, how: Settle, now: i64) -> StoreResult<Option<Recorded>> {
        let (was, stamp) = (command.status, command.updated_at);
        let mut next = store::settled(command, how, now);
        let withheld = store::withhold_ended_secrets(&mut next);
        let mut update = Entity::update_many()
            .col_expr(Column::Status, Expr::value(next.status))
            .col_expr(Column::ClaimId, Expr::value(next.claim_id.clone()))
            .col_expr(Column::ClaimedAt, Expr::value(next.claimed_at))
            .col_expr(Column::CompletedAt, Expr::value(next.completed_at))
            .col_expr(
                Column::ErrorMessage,
                Expr::value(next.error_message.clone()),
            )
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(&next.id))
            .filter(Column::Status.eq(was))
            .filter(Column::UpdatedAt.eq(stamp));
        if let Some(payload) = withheld {
            update = update.col_expr(Column::Payload, Expr::value(payload));
        }
        self.db
            .write(async |txn| {
                if update.exec(txn).await?.rows_affected != 1 {
                    return Ok(None);
                }
                events::record_command(txn, &next).await.map(Some)
            })
            .await
    }
}
