//! The sweeper: nothing stays claimed or running forever. Every few seconds it expires queued
//! commands past their expiry, gives commands whose claim lapsed (claimed, never started)
//! back to the queue (failing them after [`MAX_ATTEMPTS`] claims), and fails commands
//! running longer than [`RUNNING_LIMIT_MS`]. Every change is a conditional update with its
//! event, so sweepers on several replicas never double-apply. It also announces agents that
//! went silent as offline.

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, TransactionTrait};

use super::events;
use crate::agents;
use crate::app::AppState;
use crate::db::entity::agent_command::{self, Column, Entity};

/// A claim must turn into `running` within this time.
pub const CLAIM_LEASE_MS: i64 = 60_000;
/// A command is claimed at most this often.
pub const MAX_ATTEMPTS: i32 = 3;
/// A running command must report its result within this time.
pub const RUNNING_LIMIT_MS: i64 = 30 * 60_000;
const PERIOD: Duration = Duration::from_secs(5);

pub fn spawn(state: &AppState) {
    let weak = state.downgrade();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            let Some(state) = AppState::upgrade(&weak) else {
                return;
            };
            let now = chrono::Utc::now().timestamp_millis();
            if let Err(e) = sweep(&state, now).await {
                tracing::warn!(error = %e, "command sweep failed");
            }
            if let Err(e) = agents::service::announce_offline(&state, now).await {
                tracing::warn!(error = %e, "agent presence sweep failed");
            }
        }
    });
}

/// Move `c` from its status to `to` if nobody changed it meanwhile, with its event.
async fn settle(
    state: &AppState,
    mut c: agent_command::Model,
    to: &str,
    error: Option<&str>,
    now: i64,
) -> Result<(), DbErr> {
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(to))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(&c.id))
        .filter(Column::Status.eq(&c.status))
        .filter(Column::UpdatedAt.eq(c.updated_at));
    if to == "queued" {
        update = update
            .col_expr(Column::ClaimId, Expr::value(Option::<String>::None))
            .col_expr(Column::ClaimedAt, Expr::value(Option::<i64>::None));
        c.claim_id = None;
        c.claimed_at = None;
    } else {
        update = update.col_expr(Column::CompletedAt, Expr::value(now));
        c.completed_at = Some(now);
    }
    if let Some(message) = error {
        update = update.col_expr(Column::ErrorMessage, Expr::value(message));
        c.error_message = Some(message.to_owned());
    }
    let _gate = state.writes.enter().await;
    let txn = state.db.begin().await?;
    if update.exec(&txn).await?.rows_affected == 1 {
        c.status = to.to_owned();
        c.updated_at = now;
        let event = events::record_command(&txn, &c).await?;
        txn.commit().await?;
        event.announce(state);
    }
    Ok(())
}

/// One pass over the commands that need settling at `now`.
pub async fn sweep(state: &AppState, now: i64) -> Result<(), DbErr> {
    let stale = Entity::find()
        .filter(
            Condition::any()
                .add(Column::Status.eq("queued").and(Column::ExpiresAt.lte(now)))
                .add(
                    Column::Status
                        .eq("dispatched")
                        .and(Column::ClaimedAt.lte(now - CLAIM_LEASE_MS)),
                )
                .add(
                    Column::Status
                        .eq("running")
                        .and(Column::StartedAt.lte(now - RUNNING_LIMIT_MS)),
                ),
        )
        .all(&state.db)
        .await?;
    for c in stale {
        match c.status.as_str() {
            "queued" => {
                settle(
                    state,
                    c,
                    "expired",
                    Some("Command expired before agent pickup"),
                    now,
                )
                .await?
            }
            "dispatched" if c.attempts >= MAX_ATTEMPTS => {
                let message = format!(
                    "The agent claimed the command {} times without starting it",
                    c.attempts
                );
                settle(state, c, "failed", Some(&message), now).await?
            }
            "dispatched" => settle(state, c, "queued", None, now).await?,
            _ => {
                settle(
                    state,
                    c,
                    "failed",
                    Some("No result within the running time limit"),
                    now,
                )
                .await?
            }
        }
    }
    Ok(())
}
