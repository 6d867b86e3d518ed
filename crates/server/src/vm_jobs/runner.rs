//! The background runner of each replica: every tick it claims live jobs nobody holds
//! (a lease in the row, renewed while the job runs, so two replicas never run one job and a
//! dead replica's jobs are taken over once its lease lapses) and drives each through its
//! steps ([`super::steps`]).
//!
//! Before a step sends its command, the command's id is recorded in the job; after a
//! restart the step finds its command on the bus and waits for it instead of sending it
//! again. A step's result and the move to the next step are one conditional write
//! ([`super::drive`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use botmox_proto::vm_jobs::{JobState, JobStep};

use super::drive::{Drive, Halt, Slot, StepResult};
use super::store;
use crate::clock::now_ms;
use crate::db::StoreError;
use crate::state::AppState;

/// How long a claim holds a job without renewal.
pub const LEASE_MS: i64 = 15_000;
/// How often a running job's lease is renewed.
const RENEW: Duration = Duration::from_millis(5_000);
/// How often each replica looks for jobs to claim.
const TICK: Duration = Duration::from_millis(500);

/// This replica's runner: its id and how many jobs it runs in their Proxmox phase.
pub struct Runner {
    id: String,
    cap: usize,
    active: Arc<AtomicUsize>,
}

/// Start claiming jobs, at most `cap` at once in their Proxmox phase (0: this replica
/// runs no jobs).
pub fn spawn(state: &AppState, cap: usize) {
    if cap == 0 {
        return;
    }
    let runner = Arc::new(Runner {
        id: uuid::Uuid::new_v4().to_string(),
        cap,
        active: Arc::new(AtomicUsize::new(0)),
    });
    state.every(TICK, "vm job claim", move |state| {
        let runner = runner.clone();
        async move { runner.tick(state).await }
    });
}

impl Runner {
    async fn tick(&self, state: AppState) -> Result<(), StoreError> {
        let now = now_ms();
        let free = self.cap.saturating_sub(self.active.load(Ordering::SeqCst));
        let claimed = store::claim(&state.db, &self.id, now, now + LEASE_MS, free).await?;
        for (job, event) in claimed {
            event.announce(&state.bus.hub);
            let slot = (job.state != JobState::WaitingForWindows).then(|| {
                self.active.fetch_add(1, Ordering::SeqCst);
                Slot(self.active.clone())
            });
            let drive = Drive::new(state.clone(), self.id.clone(), job, slot);
            tokio::spawn(run(drive));
        }
        Ok(())
    }
}

/// Drive a claimed job until it ends or this runner lets it go.
async fn run(mut drive: Drive) {
    let renewal = tokio::spawn(renew(
        drive.state.clone(),
        drive.job.id.clone(),
        drive.runner.clone(),
        drive.lost.clone(),
    ));
    let outcome = steps(&mut drive).await;
    let ended = match outcome {
        Ok(()) => Ok(()),
        Err(Halt::Fail { code, message }) => {
            drive.end(JobState::Failed, Some((code, message))).await
        }
        Err(Halt::Cancelled) => drive.end(JobState::Cancelled, None).await,
        Err(Halt::Stop(why)) => {
            tracing::warn!(job = %drive.job.id, why, "vm job stopped; it resumes when claimed again");
            Ok(())
        }
    };
    if let Err(e) = ended {
        tracing::warn!(job = %drive.job.id, error = ?e, "could not record the end of a vm job");
    }
    renewal.abort();
}

/// Run the job's steps from where it is.
async fn steps(drive: &mut Drive) -> StepResult {
    loop {
        drive.check().await?;
        let step = drive.job.step.0;
        if step == JobStep::Done {
            return Ok(());
        }
        if step == JobStep::WaitWindows {
            // Installing Windows is the guest's work: it takes no slot of the runner.
            drive.slot = None;
        }
        super::steps::run(drive, step).await?;
    }
}

/// Keep the job's lease while it runs; flag it lost when another runner holds it.
async fn renew(state: AppState, id: String, runner: String, lost: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(RENEW).await;
        match store::renew(&state.db, &id, &runner, now_ms() + LEASE_MS).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(job = %id, error = %e, "could not renew a vm job's lease"),
        }
    }
}
