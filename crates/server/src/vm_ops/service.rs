//! Dispatch, claim, report, cancel and read commands.

use std::time::Duration;

use tokio::sync::Notify;

use botmox_proto::ErrorCode;
use botmox_proto::auth::Role;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::events;
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
    let _gate = state.writes.enter().await;
    let txn = state.db.begin().await?;
    Entity::insert(agent_command::ActiveModel::from(command.clone()))
        .exec_without_returning(&txn)
        .await?;
    let event = events::record_command(&txn, &command).await?;
    txn.commit().await?;
    event.announce(state);
    state.wakers.wake(&agent.id);
    Ok(command)
}

/// Claim the oldest unexpired queued command of `agent` in one statement. PostgreSQL: the
/// row is picked and locked with `FOR UPDATE SKIP LOCKED` in a CTE, so racing polls get
/// different rows and never wait on each other. SQLite runs one writer at a time, so its
/// update of the row a subquery picks is atomic as it stands. Either way no command is
/// claimed twice, and a poll finds a command whenever one is free.
async fn claim(state: &AppState, agent: &agent::Model) -> ApiResult<Option<agent_command::Model>> {
    let now = now_ms();
    let claim_id = uuid::Uuid::new_v4().to_string();
    let backend = state.db.get_database_backend();
    // Expired commands are not claimed: the sweeper settles them and says why.
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "WITH next AS (SELECT id FROM agent_commands \
               WHERE agent_id = $1 AND status = 'queued' AND expires_at > $2 \
               ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             UPDATE agent_commands c SET status = 'dispatched', claim_id = $3, claimed_at = $2, \
               attempts = c.attempts + 1, updated_at = $2 \
             FROM next WHERE c.id = next.id RETURNING c.*"
        }
        _ => {
            "UPDATE agent_commands SET status = 'dispatched', claim_id = ?3, claimed_at = ?2, \
               attempts = attempts + 1, updated_at = ?2 \
             WHERE id = (SELECT id FROM agent_commands \
               WHERE agent_id = ?1 AND status = 'queued' AND expires_at > ?2 \
               ORDER BY queued_at, id LIMIT 1) RETURNING *"
        }
    };
    let statement = Statement::from_sql_and_values(
        backend,
        sql,
        [agent.id.clone().into(), now.into(), claim_id.into()],
    );
    // Most polls find nothing: a plain read says so without queuing for the writer.
    let queued = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::AgentId.eq(&agent.id))
        .filter(Column::Status.eq("queued"))
        .filter(Column::ExpiresAt.gt(now))
        .limit(1)
        .into_tuple::<String>()
        .one(&state.db)
        .await?;
    if queued.is_none() {
        return Ok(None);
    }
    let _gate = state.writes.enter().await;
    let txn = state.db.begin().await?;
    let claimed = Entity::find().from_raw_sql(statement).one(&txn).await?;
    let event = match &claimed {
        Some(command) => Some(events::record_command(&txn, command).await?),
        None => None,
    };
    txn.commit().await?;
    if let Some(event) = event {
        event.announce(state);
    }
    Ok(claimed)
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
    // The agent was just read with its token; after a wake-up it is read again, since a
    // revocation wakes the poll too.
    let mut woken_up = false;
    loop {
        // Listen before looking, so a dispatch between the look and the wait is not missed.
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if woken_up {
            let still = agents::store::get(&state.db, &agent.tenant_id, &agent.id).await?;
            if still.is_none_or(|a| a.status != "active" || a.token_hash != agent.token_hash) {
                return Err(ApiError::unauthorized("A valid agent token is required"));
            }
        }
        woken_up = true;
        if let Some(command) = claim(state, agent).await? {
            return Ok(Some(command));
        }
        if tokio::time::timeout_at(deadline, woken).await.is_err() {
            return Ok(None);
        }
    }
}

/// The agent reports on a command it claimed: `running`, then `succeeded` or `failed`.
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
    let mut command = Entity::find_by_id(id.to_owned())
        .filter(Column::AgentId.eq(&agent.id))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("Command"))?;
    let claim = body["claim_id"].as_str().unwrap_or_default();
    if command.claim_id.as_deref() != Some(claim) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "This claim is not the command's current claim",
        ));
    }
    let to = body["status"].as_str().unwrap_or_default().to_owned();
    let allowed = matches!(
        (command.status.as_str(), to.as_str()),
        ("dispatched", "running" | "succeeded" | "failed") | ("running", "succeeded" | "failed")
    );
    if !allowed {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("A {} command cannot become {to}", command.status),
        ));
    }
    let result = body.get("result").map(Value::to_string);
    if result.as_ref().is_some_and(|r| r.len() > MAX_RESULT_BYTES) {
        return Err(ApiError::field(
            "result",
            format!("must be at most {MAX_RESULT_BYTES} bytes of JSON"),
        ));
    }
    let now = now_ms();
    let from = std::mem::replace(&mut command.status, to.clone());
    if to == "running" {
        command.started_at = Some(now);
    } else {
        command.completed_at = Some(now);
    }
    if result.is_some() {
        command.result = result;
    }
    if let Some(m) = body.get("error_message").and_then(Value::as_str) {
        command.error_message = Some(m.to_owned());
    }
    command.updated_at = now;
    let _gate = state.writes.enter().await;
    let txn = state.db.begin().await?;
    let updated = Entity::update_many()
        .set(agent_command::ActiveModel {
            status: Set(command.status.clone()),
            started_at: Set(command.started_at),
            completed_at: Set(command.completed_at),
            result: Set(command.result.clone()),
            error_message: Set(command.error_message.clone()),
            updated_at: Set(now),
            ..Default::default()
        })
        .filter(Column::Id.eq(&command.id))
        .filter(Column::Status.eq(from))
        .filter(Column::ClaimId.eq(claim))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "The command changed meanwhile",
        ));
    }
    let event = events::record_command(&txn, &command).await?;
    txn.commit().await?;
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
    let mut command = get(state, auth, id).await?;
    let now = now_ms();
    let _gate = state.writes.enter().await;
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
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("A {} command cannot be cancelled", command.status),
        ));
    }
    command.status = "cancelled".into();
    command.completed_at = Some(now);
    command.updated_at = now;
    let event = events::record_command(&txn, &command).await?;
    txn.commit().await?;
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
