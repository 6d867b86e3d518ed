//! Dispatch, claim, report, cancel and read commands.

use std::time::Duration;

use tokio::sync::Notify;

use botmox_proto::ErrorCode;
use botmox_proto::auth::Role;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::store::{self, Claim};
use crate::agents;
use crate::app::AppState;
use crate::auth::Auth;
use crate::clock::{iso, now_ms};
use crate::db::entity::agent;
use crate::db::entity::agent_command::{self, Column, Entity};
use crate::http::{ApiError, ApiResult};
use crate::schema::{Field, Rule, opt, req, validate};
use crate::sealed::is_secret_key;

/// A stored result may be at most this large (serialised JSON).
const MAX_RESULT_BYTES: usize = 64 * 1024;
const LIST_LIMIT: u64 = 100;

const DISPATCH: &[Field] = &[
    req("agent_id", Rule::Label(200)),
    req("command_type", Rule::Label(200)),
    opt("payload", Rule::Object),
    opt("expires_in_seconds", Rule::Int(10, 3600)),
    opt("queue_if_offline", Rule::Bool),
];
const REPORT: &[Field] = &[
    req("claim_id", Rule::NonEmpty),
    req("status", Rule::OneOf(&["running", "succeeded", "failed"])),
    opt("result", Rule::Any),
    opt("error_message", Rule::Str(Some(2000))),
];

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandView {
    pub id: String,
    pub tenant_id: String,
    pub agent_id: String,
    pub command_type: String,
    pub payload: Value,
    /// `queued`, `dispatched`, `running`, `succeeded`, `failed`, `cancelled` or `expired`.
    pub status: String,
    pub result: Value,
    pub error_message: Option<String>,
    pub created_by: Option<String>,
    /// Present once claimed; the agent quotes it when it reports.
    pub claim_id: Option<String>,
    pub attempts: i32,
    pub queued_at: String,
    pub claimed_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub expires_at: String,
}

pub fn view(c: &agent_command::Model) -> CommandView {
    let parse = |s: Option<&String>| {
        s.and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null)
    };
    CommandView {
        id: c.id.clone(),
        tenant_id: c.tenant_id.clone(),
        agent_id: c.agent_id.clone(),
        command_type: c.command_type.clone(),
        payload: parse(Some(&c.payload)),
        status: c.status.clone(),
        result: parse(c.result.as_ref()),
        error_message: c.error_message.clone(),
        created_by: c.created_by.clone(),
        claim_id: c.claim_id.clone(),
        attempts: c.attempts,
        queued_at: iso(c.queued_at),
        claimed_at: c.claimed_at.map(iso),
        started_at: c.started_at.map(iso),
        completed_at: c.completed_at.map(iso),
        expires_at: iso(c.expires_at),
    }
}

/// Payloads never carry credentials: the agent uses its own or the vault's.
fn refuse_secrets(v: &Value, path: &str) -> ApiResult<()> {
    if let Value::Object(map) = v {
        for (k, child) in map {
            let here = format!("{path}/{k}");
            if is_secret_key(k) {
                return Err(ApiError::field(
                    "payload",
                    format!(
                        "{here} looks like a credential; commands carry no secrets (the agent uses its own or the vault's)"
                    ),
                ));
            }
            refuse_secrets(child, &here)?;
        }
    }
    Ok(())
}

/// Read-only command types: a dispatch equal to a recent one returns that one (spec §14.1).
const READ_ONLY: &[&str] = &[
    "proxmox.status",
    "proxmox.ssh-status",
    "proxmox.ssh-test",
    "proxmox.list-vms",
    "proxmox.list-targets",
    "proxmox.cluster-resources",
    "proxmox.get-config",
    "proxmox.vm-status",
];
/// How recent a twin must be: queued (or completed, once succeeded) within this time.
const TWIN_WINDOW_MS: i64 = 10_000;
/// How many of the newest commands of the same type are looked at.
const TWIN_SCAN: u64 = 25;

/// A recent command equal to this read-only dispatch (same agent, type and payload; for
/// non-admins also the same dispatcher) still in flight or just succeeded: asking twice
/// within seconds is answered by the one command.
async fn recent_twin(
    state: &AppState,
    auth: &Auth,
    agent_id: &str,
    command_type: &str,
    payload: &Value,
    now: i64,
) -> ApiResult<Option<agent_command::Model>> {
    if !READ_ONLY.contains(&command_type) {
        return Ok(None);
    }
    let mut q = Entity::find()
        .filter(Column::TenantId.eq(&auth.tenant_id))
        .filter(Column::AgentId.eq(agent_id))
        .filter(Column::CommandType.eq(command_type))
        .filter(Column::Status.is_in(["queued", "dispatched", "running", "succeeded"]));
    if auth.role != Role::Admin {
        q = q.filter(Column::CreatedBy.eq(auth.uid()));
    }
    let recent = q
        .order_by_desc(Column::QueuedAt)
        .limit(TWIN_SCAN)
        .all(&state.db)
        .await?;
    Ok(recent.into_iter().find(|c| {
        let fresh_at = if c.status == "succeeded" {
            c.completed_at
        } else {
            Some(c.queued_at)
        };
        // JSON objects compare as maps: key order does not matter.
        fresh_at.is_some_and(|t| now - t <= TWIN_WINDOW_MS)
            && serde_json::from_str::<Value>(&c.payload).is_ok_and(|p| &p == payload)
    }))
}

/// Queue a command for an agent the caller owns (admins: any of the tenant's). An offline
/// agent answers 409 `AGENT_OFFLINE` unless `queue_if_offline` is set. A read-only command
/// equal to a recent one answers with that one instead of queuing another.
pub async fn dispatch(
    state: &AppState,
    auth: &Auth,
    body: Value,
) -> ApiResult<agent_command::Model> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request("Request body must be a JSON object"));
    };
    let body = validate(DISPATCH, &body, false)?;
    let agent_id = body["agent_id"].as_str().unwrap_or_default();
    let agent = agents::service::get(state, auth, agent_id).await?;
    if agent.status != "active" {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("Agent is {}", agent.status),
        ));
    }
    let now = now_ms();
    let queue = body
        .get("queue_if_offline")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !agents::service::is_online(&agent, now) && !queue {
        return Err(ApiError::new(
            ErrorCode::AgentOffline,
            "The agent is offline; pass queue_if_offline to queue the command",
        ));
    }
    let payload = body.get("payload").cloned().unwrap_or_else(|| json!({}));
    refuse_secrets(&payload, "")?;
    let command_type = body["command_type"].as_str().unwrap_or_default();
    if let Some(twin) = recent_twin(state, auth, &agent.id, command_type, &payload, now).await? {
        return Ok(twin);
    }
    let ttl = body
        .get("expires_in_seconds")
        .and_then(Value::as_i64)
        .unwrap_or(300);
    let command = agent_command::Model {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: auth.tenant_id.clone(),
        agent_id: agent.id.clone(),
        command_type: command_type.to_owned(),
        payload: payload.to_string(),
        status: "queued".into(),
        result: None,
        error_message: None,
        created_by: Some(auth.uid()),
        claim_id: None,
        attempts: 0,
        queued_at: now,
        claimed_at: None,
        started_at: None,
        completed_at: None,
        expires_at: now + ttl * 1000,
        updated_at: now,
    };
    let event = store::queue(state, command.clone()).await?;
    event.announce(state);
    Ok(command)
}

/// The agent's next command, waiting up to `timeout` for one to be dispatched; `None` when
/// none came. Returns 401 at once when the agent is revoked meanwhile.
pub async fn next(
    state: &AppState,
    agent: &agent::Model,
    timeout: Duration,
) -> ApiResult<Option<agent_command::Model>> {
    let wake = state.wakers.for_agent(&agent.id);
    let found = wait_for_command(state, agent, timeout, &wake).await;
    state.wakers.release(&agent.id, wake);
    found
}

async fn wait_for_command(
    state: &AppState,
    agent: &agent::Model,
    timeout: Duration,
    wake: &Notify,
) -> ApiResult<Option<agent_command::Model>> {
    let deadline = tokio::time::Instant::now() + timeout;
    // The agent was just read with its token; after a wake-up it is checked again, since a
    // revocation wakes the poll too.
    let mut woken_up = false;
    loop {
        // Listen before looking, so a dispatch between the look and the wait is not missed.
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match store::claim(state, agent, woken_up).await? {
            Claim::Command(claimed) => {
                let (command, event) = *claimed;
                event.announce(state);
                return Ok(Some(command));
            }
            Claim::Revoked => {
                return Err(ApiError::unauthorized("A valid agent token is required"));
            }
            Claim::Nothing => {}
        }
        woken_up = true;
        if tokio::time::timeout_at(deadline, woken).await.is_err() {
            return Ok(None);
        }
    }
}

/// What an agent reports on a command it claimed: `running`, then `succeeded` or `failed`.
pub struct Report {
    claim_id: String,
    status: String,
    result: Option<String>,
    error_message: Option<String>,
}

impl Report {
    /// Check the report against `command` as stored (the claim must be the current one and
    /// the transition allowed) and bring the command to the reported state.
    pub(super) fn apply(self, command: &mut agent_command::Model, now: i64) -> ApiResult<()> {
        if command.claim_id.as_deref() != Some(self.claim_id.as_str()) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "This claim is not the command's current claim",
            ));
        }
        let to = self.status;
        let allowed = matches!(
            (command.status.as_str(), to.as_str()),
            ("dispatched", "running" | "succeeded" | "failed")
                | ("running", "succeeded" | "failed")
        );
        if !allowed {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("A {} command cannot become {to}", command.status),
            ));
        }
        if to == "running" {
            command.started_at = Some(now);
        } else {
            command.completed_at = Some(now);
        }
        command.status = to;
        if self.result.is_some() {
            command.result = self.result;
        }
        if self.error_message.is_some() {
            command.error_message = self.error_message;
        }
        command.updated_at = now;
        Ok(())
    }
}

/// The agent reports on a command it claimed.
pub async fn report(
    state: &AppState,
    agent: &agent::Model,
    id: &str,
    body: Value,
) -> ApiResult<agent_command::Model> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request("Request body must be a JSON object"));
    };
    let body = validate(REPORT, &body, false)?;
    let result = body.get("result").map(Value::to_string);
    if result.as_ref().is_some_and(|r| r.len() > MAX_RESULT_BYTES) {
        return Err(ApiError::field(
            "result",
            format!("must be at most {MAX_RESULT_BYTES} bytes of JSON"),
        ));
    }
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let report = Report {
        claim_id: text("claim_id").unwrap_or_default(),
        status: text("status").unwrap_or_default(),
        result,
        error_message: text("error_message"),
    };
    let (command, event) = store::report(state, &agent.id, id, report).await?;
    event.announce(state);
    Ok(command)
}

/// A human's view of a command: the dispatcher's own, or any of the tenant's for admins.
pub async fn get(state: &AppState, auth: &Auth, id: &str) -> ApiResult<agent_command::Model> {
    Entity::find_by_id(id.to_owned())
        .filter(Column::TenantId.eq(&auth.tenant_id))
        .one(&state.db)
        .await?
        .filter(|c| {
            auth.role == Role::Admin || c.created_by.as_deref() == Some(auth.uid().as_str())
        })
        .ok_or_else(|| ApiError::not_found("Command"))
}

/// Cancel a command still queued (its dispatcher or an admin).
pub async fn cancel(state: &AppState, auth: &Auth, id: &str) -> ApiResult<agent_command::Model> {
    let command = get(state, auth, id).await?;
    let status = command.status.clone();
    let Some((command, event)) = store::cancel(state, command).await? else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("A {status} command cannot be cancelled"),
        ));
    };
    event.announce(state);
    Ok(command)
}

/// Newest first, at most 100: the caller's own commands (admins: the tenant's).
pub async fn list(
    state: &AppState,
    auth: &Auth,
    filters: &Map<String, Value>,
) -> ApiResult<Vec<agent_command::Model>> {
    let mut q = Entity::find().filter(Column::TenantId.eq(&auth.tenant_id));
    if auth.role != Role::Admin {
        q = q.filter(Column::CreatedBy.eq(auth.uid()));
    }
    for (key, column) in [
        ("agent_id", Column::AgentId),
        ("status", Column::Status),
        ("command_type", Column::CommandType),
    ] {
        if let Some(v) = filters
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        {
            q = q.filter(column.eq(v));
        }
    }
    Ok(q.order_by_desc(Column::QueuedAt)
        .limit(LIST_LIMIT)
        .all(&state.db)
        .await?)
}
