//! One job as a runner drives it ([`Drive`]): the job's owner as it acts, its writes (each
//! conditional on the runner still holding the job, with a history line and the job's
//! event), and its commands, sent under an id recorded first and awaited on the bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use botmox_proto::ErrorCode;
use botmox_proto::auth::{PrincipalType, Role};
use botmox_proto::command::{Command, CommandStatus, DispatchRequest};
use botmox_proto::vm_jobs::{JobState, JobStep};
use serde_json::Value;
use tokio::sync::broadcast;

use super::store;
use crate::clock::now_ms;
use crate::db::entity::vm_job::Model;
use crate::db::{StoreError, TenantId};
use crate::http::ApiError;
use crate::principal::{Auth, Identity, Scope};
use crate::state::AppState;
use crate::{provisioning, vm_ops};

/// How long a queued command may wait for the agent (the agent may be offline).
const COMMAND_TTL_SECONDS: u32 = 3600;
/// How often a wait reads again without an event (events of other replicas on SQLite).
const REREAD: Duration = Duration::from_secs(2);

/// A slot of the runner's cap, given back when dropped (the job finished or went on to
/// wait for Windows).
pub struct Slot(pub(super) Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a job stopped moving.
#[derive(Debug)]
pub enum Halt {
    /// The step failed: the agent's code (or the server's) and message.
    Fail { code: String, message: String },
    /// Its owner cancelled it.
    Cancelled,
    /// This runner no longer holds it (lease lost, or the store failed): another run, or
    /// this one's next claim, takes it from where it is recorded.
    Stop(String),
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        Self::Stop(e.to_string())
    }
}

impl From<ApiError> for Halt {
    fn from(e: ApiError) -> Self {
        if e.code == ErrorCode::InternalError {
            return Self::Stop(e.message);
        }
        Self::Fail {
            code: e.code.as_str().to_owned(),
            message: e.message,
        }
    }
}

pub type StepResult<T = ()> = Result<T, Halt>;

/// A line of a job's step history.
pub struct Line {
    pub step: JobStep,
    pub status: &'static str,
    pub command: Option<String>,
    pub detail: Option<String>,
}

/// `CODE: message` as the agent reports failures, else the whole text under `fallback`.
pub fn split_error(text: &str, fallback: &str) -> (String, String) {
    if let Some((code, message)) = text.split_once(": ")
        && !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return (code.to_owned(), message.to_owned());
    }
    (fallback.to_owned(), text.to_owned())
}

/// One job being driven by this replica.
pub struct Drive {
    pub state: AppState,
    pub(super) runner: String,
    pub job: Model,
    /// The job's owner as the job acts: dispatches, registry writes, the payload.
    pub auth: Auth,
    pub(super) lost: Arc<AtomicBool>,
    pub(super) slot: Option<Slot>,
}

impl Drive {
    pub(super) fn new(state: AppState, runner: String, job: Model, slot: Option<Slot>) -> Self {
        let role: Role =
            serde_json::from_value(Value::String(job.owner_role.clone())).unwrap_or(Role::User);
        let auth = Auth::new(Identity {
            scope: Scope::new(
                TenantId::trusted(job.tenant_id.clone()),
                job.owner_user_id.clone(),
                role,
            ),
            kind: PrincipalType::User,
            source: "vm-job",
            user_id: Some(job.owner_user_id.clone()),
            token_id: None,
            session_id: None,
            email: None,
        });
        Self {
            state,
            runner,
            job,
            auth,
            lost: Arc::new(AtomicBool::new(false)),
            slot,
        }
    }

    pub fn tenant(&self) -> TenantId {
        TenantId::trusted(self.job.tenant_id.clone())
    }

    /// Stop when the lease is gone or the job was cancelled.
    pub async fn check(&self) -> StepResult {
        if self.lost.load(Ordering::SeqCst) {
            return Err(Halt::Stop("the lease was lost".into()));
        }
        if store::cancel_requested(&self.state.db, &self.job.id).await? {
            return Err(Halt::Cancelled);
        }
        Ok(())
    }

    /// Write the job as it now is, provided this runner still holds the row (the write that
    /// ends the job gives it up), with a history line and the job's event.
    pub async fn write(&mut self, line: Option<Line>) -> StepResult {
        self.job.updated_at = now_ms();
        let job = self.job.clone();
        let runner = self.runner.clone();
        let event = self
            .state
            .db
            .write(async |txn| {
                if !store::save_held(txn, &job, Some(&runner)).await? {
                    return Ok(None);
                }
                // A cancelled job's VM must not finish provisioning with the token on its ISO.
                if job.state.0 == JobState::Cancelled
                    && let (Some(uuid), Some(token)) = (&job.vm_uuid, &job.token_id)
                {
                    let tenant = TenantId::trusted(job.tenant_id.clone());
                    provisioning::store::revoke_tokens(
                        txn,
                        &tenant,
                        uuid,
                        Some(token),
                        job.updated_at,
                        "the VM job was cancelled",
                    )
                    .await?;
                }
                if let Some(line) = line {
                    store::add_step(
                        txn,
                        &job,
                        line.step,
                        line.status,
                        line.command.as_deref(),
                        line.detail,
                        job.updated_at,
                    )
                    .await?;
                }
                Ok::<_, StoreError>(Some(store::record_change(txn, &job).await?))
            })
            .await?;
        match event {
            Some(event) => {
                event.announce(&self.state.bus.hub);
                Ok(())
            }
            None => {
                self.lost.store(true, Ordering::SeqCst);
                Err(Halt::Stop("the lease was lost".into()))
            }
        }
    }

    /// The step succeeded (or had nothing to do: `skipped`): apply `change`, move to `next`
    /// and record both at once.
    pub async fn advance(
        &mut self,
        next: JobStep,
        status: &'static str,
        detail: Option<String>,
        change: impl FnOnce(&mut Model),
    ) -> StepResult {
        let line = Line {
            step: self.job.step.0,
            status,
            command: self.job.step_command_id.take(),
            detail,
        };
        change(&mut self.job);
        self.job.step = next.into();
        match next {
            JobStep::WaitWindows => self.job.state = JobState::WaitingForWindows.into(),
            JobStep::Done => {
                self.job.state = JobState::Completed.into();
                self.job.finished_at = Some(now_ms());
                self.job.vmid_lock = None;
                self.job.runner_id = None;
                self.job.lease_until = None;
            }
            _ => self.job.state = JobState::Running.into(),
        }
        self.write(Some(line)).await
    }

    /// Finish the job as failed or cancelled, saying where and why.
    pub(super) async fn end(
        &mut self,
        state: JobState,
        error: Option<(String, String)>,
    ) -> StepResult {
        let step = self.job.step.0;
        let detail = match &error {
            Some((code, message)) => format!("{code}: {message}"),
            None => match self.job.vmid {
                Some(vmid) if step != JobStep::Reserve && step != JobStep::Clone => {
                    format!("cancelled at {step}; VM {vmid} is left as it is")
                }
                _ => format!("cancelled at {step}"),
            },
        };
        let line = Line {
            step,
            status: if state == JobState::Failed {
                "failed"
            } else {
                "cancelled"
            },
            command: self.job.step_command_id.take(),
            detail: Some(detail),
        };
        if let Some((code, message)) = error {
            self.job.error_step = Some(step.as_str().to_owned());
            self.job.error_code = Some(code);
            self.job.error_message = Some(message);
        }
        self.job.state = state.into();
        self.job.finished_at = Some(now_ms());
        self.job.vmid_lock = None;
        self.job.runner_id = None;
        self.job.lease_until = None;
        self.write(Some(line)).await
    }

    /// Run `command` for the current step: send it under an id recorded first (or find the
    /// one recorded before a restart) and wait for its outcome; the agent's result.
    pub async fn exec(&mut self, command: Command) -> StepResult<Value> {
        let id = match self.job.step_command_id.clone() {
            Some(id) if self.sent(&id).await? => id,
            Some(id) => self.dispatch(command, id).await?,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                self.job.step_command_id = Some(id.clone());
                let line = Line {
                    step: self.job.step.0,
                    status: "started",
                    command: Some(id.clone()),
                    detail: None,
                };
                self.write(Some(line)).await?;
                self.dispatch(command, id).await?
            }
        };
        self.outcome(&id).await
    }

    /// The current step's command, when it was sent before (a restart): its id.
    pub async fn sent_before(&self) -> StepResult<Option<String>> {
        match &self.job.step_command_id {
            Some(id) if self.sent(id).await? => Ok(Some(id.clone())),
            _ => Ok(None),
        }
    }

    async fn sent(&self, id: &str) -> StepResult<bool> {
        Ok(vm_ops::store::get(&self.state.db, &self.tenant(), id)
            .await?
            .is_some())
    }

    async fn dispatch(&mut self, command: Command, id: String) -> StepResult<String> {
        let request = DispatchRequest {
            agent_id: self.job.agent_id.clone(),
            command,
            expires_in_seconds: Some(COMMAND_TTL_SECONDS),
            queue_if_offline: Some(true),
        };
        let sent =
            vm_ops::service::dispatch_as(&self.state, &self.auth, request, id.clone()).await?;
        if sent.id != id {
            // A read-only twin answered: wait for that one.
            self.job.step_command_id = Some(sent.id.clone());
            self.write(None).await?;
        }
        Ok(sent.id)
    }

    /// Wait for command `id` to end; its result, or why it failed. A cancel of the job
    /// meanwhile cancels the command while it is still queued; a command already running is
    /// left to finish.
    pub async fn outcome(&mut self, id: &str) -> StepResult<Value> {
        let mut events = self.state.bus.hub.subscribe();
        let tenant = self.tenant();
        let mut cancel_sent = false;
        loop {
            let Some(command) = vm_ops::store::get(&self.state.db, &tenant, id).await? else {
                return Err(Halt::Stop(format!("command {id} is gone")));
            };
            match command.status.0 {
                CommandStatus::Succeeded => {
                    return Ok(command
                        .result
                        .as_deref()
                        .and_then(|r| serde_json::from_str(r).ok())
                        .unwrap_or(Value::Null));
                }
                CommandStatus::Failed => {
                    let text = command.error_message.unwrap_or_default();
                    let (code, message) = split_error(&text, "COMMAND_FAILED");
                    return Err(Halt::Fail { code, message });
                }
                CommandStatus::Cancelled if cancel_sent => return Err(Halt::Cancelled),
                CommandStatus::Cancelled => {
                    return Err(Halt::Fail {
                        code: "COMMAND_CANCELLED".into(),
                        message: "the command was cancelled on the bus".into(),
                    });
                }
                CommandStatus::Expired => {
                    return Err(Halt::Fail {
                        code: "COMMAND_EXPIRED".into(),
                        message: "the agent did not take the command in time".into(),
                    });
                }
                _ => {}
            }
            if self.lost.load(Ordering::SeqCst) {
                return Err(Halt::Stop("the lease was lost".into()));
            }
            if !cancel_sent && store::cancel_requested(&self.state.db, &self.job.id).await? {
                cancel_sent = true;
                if command.status == CommandStatus::Queued
                    && let Some((_, event)) = self.state.bus.store.cancel(command, now_ms()).await?
                {
                    event.announce(&self.state.bus.hub);
                }
            }
            wait_for(&mut events, id, REREAD).await;
        }
    }
}

/// Until an event of command `id` arrives (or some were missed), at most `limit`.
async fn wait_for(
    events: &mut broadcast::Receiver<Arc<crate::db::entity::command_event::Model>>,
    id: &str,
    limit: Duration,
) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) if event.command_id == id => return,
            Ok(Ok(_)) => {}
            Ok(Err(broadcast::error::RecvError::Lagged(_))) | Err(_) => return,
            Ok(Err(broadcast::error::RecvError::Closed)) => {
                tokio::time::sleep_until(deadline).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_errors_keep_their_code() {
        assert_eq!(
            split_error("PVE_TASK_FAILED: clone failed", "X"),
            ("PVE_TASK_FAILED".into(), "clone failed".into())
        );
        assert_eq!(
            split_error("Command expired: x", "X"),
            ("X".into(), "Command expired: x".into())
        );
    }
}
