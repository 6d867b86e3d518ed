//! The sweeper: nothing stays claimed or running forever. Every few seconds it expires queued
//! commands past their expiry, gives commands whose claim lapsed (claimed, never started)
//! back to the queue (failing them after [`MAX_ATTEMPTS`] claims), and fails commands
//! running longer than [`RUNNING_LIMIT_MS`]. Every change is a conditional update with its
//! event, so sweepers on several replicas never double-apply. It also announces agents that
//! went silent as offline.

use std::time::Duration;

use super::store;
use crate::agents;
use crate::bus::Settle;
use crate::db::StoreError;
use crate::state::AppState;

/// A claim must turn into `running` within this time.
pub const CLAIM_LEASE_MS: i64 = 60_000;
/// A command is claimed at most this often.
pub const MAX_ATTEMPTS: i32 = 3;
/// A running command must report its result within this time.
pub const RUNNING_LIMIT_MS: i64 = 30 * 60_000;
const PERIOD: Duration = Duration::from_secs(5);

pub fn spawn(state: &AppState) {
    state.every(PERIOD, "command sweep", async |state| {
        sweep(&state, chrono::Utc::now().timestamp_millis()).await
    });
    state.every(PERIOD, "agent presence sweep", async |state| {
        agents::service::announce_offline(&state, chrono::Utc::now().timestamp_millis()).await
    });
}

/// One pass over the commands that need settling at `now`. Each change is conditional on
/// the command being as it was read, so sweepers on several replicas never double-apply.
pub async fn sweep(state: &AppState, now: i64) -> Result<(), StoreError> {
    for c in store::stale(&state.db, now, CLAIM_LEASE_MS, RUNNING_LIMIT_MS).await? {
        let how = match c.status.as_str() {
            "queued" => Settle::Expire,
            "dispatched" if c.attempts >= MAX_ATTEMPTS => Settle::Fail(format!(
                "The agent claimed the command {} times without starting it",
                c.attempts
            )),
            "dispatched" => Settle::Requeue,
            _ => Settle::Fail("No result within the running time limit".into()),
        };
        if let Some(event) = state.bus.store.settle(c, how, now).await? {
            event.announce(&state.bus.hub);
        }
    }
    Ok(())
}
