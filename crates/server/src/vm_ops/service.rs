//! Who may dispatch what, and how: dispatch (owner or admin, offline agents refused unless
//! asked to queue, no credentials in payloads, read-only twins answered once), the agent's
//! long-poll, its reports, cancel and the reads.

use std::time::Duration;

use botmox_proto::ErrorCode;
use botmox_proto::agent::AgentStatus;
use botmox_proto::command::{
    CommandStatus, DispatchRequest, ListCommandsQuery, READ_ONLY_TYPES, ReportRequest,
};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot};

use super::store::{self, ListFilter};
use crate::agents;
use crate::agents::principal::no_longer_standing;
use crate::bus::wakers::{AgentWake, Named, Taker};
use crate::bus::{Claim, QueueFor, Report, Reported, Settle, Woken};
use crate::clock::now_ms;
use crate::db::entity::agent::{self, ONLINE_WINDOW_MS};
use crate::db::entity::agent_command::Model;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::sealed::is_secret_key;
use crate::state::AppState;

const LIST_LIMIT: u64 = 100;

/// Payloads never carry credentials, at any depth: the agent uses its own or the vault's.
fn refuse_secrets(v: &Value, path: &str) -> ApiResult<()> {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(map) => map.iter().map(|(k, c)| (k.clone(), c)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), c))
            .collect(),
        _ => return Ok(()),
    };
    for (key, child) in children {
        let here = format!("{path}/{key}");
        if is_secret_key(&key) {
            return Err(ApiError::field(
                "payload",
                format!(
                    "{here} looks like a credential; commands carry no secrets (the agent uses its own or the vault's)"
                ),
            ));
        }
        refuse_secrets(child, &here)?;
    }
    Ok(())
}

/// How recent a twin must be: queued (or completed, once succeeded) within this time.
const TWIN_WINDOW_MS: i64 = 10_000;
/// How many of the newest commands of the same type are looked at.
const TWIN_SCAN: u64 = 25;

/// A recent command equal to this read-only dispatch (same agent, type and payload; for
/// non-admins also the same dispatcher) still in flight or just succeeded: asking twice
/// within seconds is answered by the one command. Unlike the reference, not one queued
/// before a change of the agent's finished: a list asked for after a VM started shows it
/// running.
async fn recent_twin(
    state: &AppState,
    auth: &Auth,
    agent_id: &str,
    command_type: &str,
    payload: &Value,
    now: i64,
) -> ApiResult<Option<Model>> {
    let recent = store::recent_of_type(
        &state.db,
        auth.tenant(),
        agent_id,
        command_type,
        auth.own_only(),
        TWIN_SCAN,
    )
    .await?;
    if recent.is_empty() {
        return Ok(None);
    }
    // A read queued before a change finished (a VM started, say) may tell what was before.
    let changed_at =
        store::last_change_at(&state.db, auth.tenant(), agent_id, READ_ONLY_TYPES).await?;
    Ok(recent.into_iter().find(|c| {
        if changed_at.is_some_and(|changed| c.queued_at <= changed) {
            return false;
        }
        let fresh_at = if c.status == CommandStatus::Succeeded {
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
pub async fn dispatch(state: &AppState, auth: &Auth, req: DispatchRequest) -> ApiResult<Model> {
    dispatch_as(state, auth, req, uuid::Uuid::new_v4().to_string()).await
}

/// [`dispatch`] under an id the caller chose and recorded first (the VM pipeline), so a
/// caller that stops between recording and dispatching can tell whether it was sent. A
/// read-only twin still answers with the earlier command (and its id).
///
/// The insert itself checks that the agent may be sent the command (the tenant's, the
/// caller's unless an admin, active, online unless `queue_if_offline`), so a dispatch is one
/// statement; the agent is read only to say why one was refused, or first when a read-only
/// command may have a twin.
pub async fn dispatch_as(
    state: &AppState,
    auth: &Auth,
    req: DispatchRequest,
    id: String,
) -> ApiResult<Model> {
    let now = now_ms();
    let queue_if_offline = req.queue_if_offline.unwrap_or(false);
    let payload = req.command.payload();
    refuse_secrets(&payload, "")?;
    let command_type = req.command.command_type();
    if req.command.is_read_only() {
        dispatchable(state, auth, &req.agent_id, queue_if_offline, now).await?;
        if let Some(twin) =
            recent_twin(state, auth, &req.agent_id, command_type, &payload, now).await?
        {
            return Ok(twin);
        }
    }
    let command = Model {
        id,
        tenant_id: auth.tenant().to_string(),
        agent_id: req.agent_id.clone(),
        command_type: command_type.to_owned(),
        payload: payload.to_string(),
        status: CommandStatus::Queued.into(),
        result: None,
        error_message: None,
        created_by: Some(auth.caller().to_owned()),
        claim_id: None,
        attempts: 0,
        queued_at: now,
        claimed_at: None,
        started_at: None,
        completed_at: None,
        expires_at: now + i64::from(req.ttl_seconds()) * 1000,
        updated_at: now,
    };
    let to = QueueFor {
        owner: auth.own_only(),
        seen_after: (!queue_if_offline).then_some(now - ONLINE_WINDOW_MS),
        token_hash: None,
    };
    // A poll of the agent waiting on this replica takes the command at once, claimed in the
    // same write. If the agent no longer holds that poll's token, the command is queued as
    // usual (and the poll, its offer dropped, looks again). In a task of its own: once the
    // claimed command is written it reaches the poll, or the queue again, even if this
    // request's client goes away meanwhile.
    if let Some(taker) = state.bus.wakers.take_taker(&command.agent_id) {
        let owner = to.owner.map(str::to_owned);
        let handing = hand_over(state.clone(), command.clone(), owner, to.seen_after, taker);
        if tokio::spawn(handing).await.map_err(ApiError::internal)?? {
            return Ok(command);
        }
    }
    let event = match state.bus.store.queue(command.clone(), to).await? {
        Some(event) => event,
        None => {
            // Refused: the agent as it stands says why. If it passes now, it changed between
            // the insert and the read (came online, say): one more try.
            dispatchable(state, auth, &req.agent_id, queue_if_offline, now_ms()).await?;
            state
                .bus
                .store
                .queue(command.clone(), to)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::Conflict, "The agent changed meanwhile"))?
        }
    };
    event.announce_queued(&state.bus.hub, command.clone());
    Ok(command)
}

/// Hand `command` to the waiting poll that offered `taker`: inserted already claimed under
/// the poll's claim id, if its agent is one the command may go to (`owner`, `seen_after` as
/// in [`QueueFor`]) and still holds the poll's token; `false` when it is not (nothing
/// written). A poll that went away meanwhile leaves the command to the queue.
async fn hand_over(
    state: AppState,
    command: Model,
    owner: Option<String>,
    seen_after: Option<i64>,
    taker: Taker,
) -> ApiResult<bool> {
    let to = QueueFor {
        owner: owner.as_deref(),
        seen_after,
        token_hash: taker.token_hash.as_deref(),
    };
    let store = &state.bus.store;
    let now = command.queued_at;
    let Some(handed) = store.hand_over(command, to, now, &taker.claim_id).await? else {
        return Ok(false);
    };
    handed.queued.announce_handed(&state.bus.hub);
    handed.dispatched.announce(&state.bus.hub);
    if let Err(claimed) = taker.tx.send(handed.command) {
        // The poll went away meanwhile: back to the queue for the next one.
        if let Some(event) = store.settle(claimed, Settle::Requeue, now_ms()).await? {
            event.announce(&state.bus.hub);
        }
    }
    Ok(true)
}

/// The agent `id` if the caller may send it a command now: 404 when it is not one the caller
/// sees, 409 when it is not active, 409 `AGENT_OFFLINE` when it is offline and the caller
/// did not ask to queue anyway.
async fn dispatchable(
    state: &AppState,
    auth: &Auth,
    id: &str,
    queue_if_offline: bool,
    now: i64,
) -> ApiResult<agent::Model> {
    let agent = agents::service::get(state, auth, id).await?;
    if agent.status != AgentStatus::Active {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("Agent is {}", agent.status.as_str()),
        ));
    }
    if !agent.is_online(now) && !queue_if_offline {
        return Err(ApiError::new(
            ErrorCode::AgentOffline,
            "The agent is offline; pass queue_if_offline to queue the command",
        ));
    }
    Ok(agent)
}

/// The agent's next command, waiting up to `timeout` for one to be dispatched; `None` when
/// none came. Answers 409 `AGENT_REVOKED` at once when the agent is revoked meanwhile.
pub async fn next(
    state: &AppState,
    agent: &agent::Model,
    timeout: Duration,
) -> ApiResult<Option<Model>> {
    let wakers = &state.bus.wakers;
    let wake = wakers.for_agent(&agent.id);
    let found = wait_for_command(state, agent, timeout, &wake).await;
    wakers.release(&agent.id, wake);
    found
}

async fn wait_for_command(
    state: &AppState,
    agent: &agent::Model,
    timeout: Duration,
    wake: &AgentWake,
) -> ApiResult<Option<Model>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut woken_up = false;
    loop {
        // The command the last wake-up named, if no other poll took it.
        let named = woken_up.then(|| wake.take_named()).flatten();
        let woken_for = match &named {
            Some(Named::Row(row)) => Woken::Queued(row),
            Some(Named::Id(id)) => Woken::Yes(Some(id)),
            None if woken_up => Woken::Yes(None),
            None => Woken::No,
        };
        // Listen before looking, so a dispatch between the look and the wait is not missed.
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        // Every look checks the agent again: a revocation wakes the poll too.
        let claim_id = uuid::Uuid::new_v4().to_string();
        match state
            .bus
            .store
            .claim(agent, woken_for, now_ms(), claim_id)
            .await?
        {
            Claim::Command(claimed) => {
                let (command, event) = *claimed;
                event.announce(&state.bus.hub);
                return Ok(Some(command));
            }
            Claim::Revoked => return Err(no_longer_standing(state, agent).await),
            Claim::Nothing => {}
        }
        // Wait, offering to take a command a dispatch hands over.
        let (tx, mut handed) = oneshot::channel();
        let offer = uuid::Uuid::new_v4().to_string();
        wake.offer(Taker {
            claim_id: offer.clone(),
            token_hash: agent.token_hash.clone(),
            tx,
        });
        let waited = tokio::select! {
            command = &mut handed => Waited::Handed(command.ok().map(Box::new)),
            () = &mut woken => Waited::Woken,
            () = tokio::time::sleep_until(deadline) => Waited::TimedOut,
        };
        match waited {
            Waited::Handed(Some(command)) => return Ok(Some(*command)),
            // The dispatch could not hand it over (and queued it, or the agent went).
            Waited::Handed(None) => {}
            Waited::Woken | Waited::TimedOut => {
                // A dispatch that took the offer meanwhile sends a command or gives up.
                if !wake.withdraw(&offer)
                    && let Ok(command) = handed.await
                {
                    return Ok(Some(command));
                }
                if matches!(waited, Waited::TimedOut) {
                    return Ok(None);
                }
            }
        }
        woken_up = true;
    }
}

/// How a poll's wait ended.
enum Waited {
    /// A dispatch took its offer: the command it handed over, `None` when it could not.
    Handed(Option<Box<Model>>),
    Woken,
    TimedOut,
}

/// The agent reports on a command it claimed. `agent` may be an older read (see
/// `agents::principal::FleetAgent`): the store checks that it still stands.
pub async fn report(
    state: &AppState,
    agent: &agent::Model,
    id: &str,
    req: ReportRequest,
) -> ApiResult<Model> {
    // Its size was checked with the body (`ReportRequest::validate`).
    let result = req.result.as_ref().map(Value::to_string);
    let report = Report {
        claim_id: req.claim_id,
        status: req.status,
        result,
        error_message: req.error_message,
    };
    match state.bus.store.report(agent, id, report, now_ms()).await? {
        Reported::Done(done) => {
            let (command, event) = *done;
            event.announce(&state.bus.hub);
            Ok(command)
        }
        Reported::Revoked => Err(no_longer_standing(state, agent).await),
        Reported::NotFound => Err(ApiError::not_found("Command")),
        Reported::Refused(reason) => Err(ApiError::new(ErrorCode::Conflict, reason)),
    }
}

/// Queue `req` and wait up to `wait` for its outcome: the command once it succeeded, failed,
/// was cancelled or expired. Past `wait` (the agent is slow or went away) 504
/// `AGENT_TIMEOUT`, whose details name the command so the caller can follow it. The wait
/// follows the bus's events (this replica's and, with PostgreSQL, every other's), reading
/// the row again only when an event of the command arrives or events were missed.
pub async fn dispatch_and_wait(
    state: &AppState,
    auth: &Auth,
    req: DispatchRequest,
    wait: Duration,
) -> ApiResult<Model> {
    // Subscribed before the dispatch, so no event of the command can be missed.
    let mut events = state.bus.hub.subscribe();
    let command = dispatch(state, auth, req).await?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut current = command;
    loop {
        if current.status.0.is_terminal() {
            return Ok(current);
        }
        // Until an event of this command arrives (or some were missed), then read it again.
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => {
                    return Err(ApiError::new(
                        ErrorCode::AgentTimeout,
                        format!(
                            "The agent did not finish the command within {} s; it is {}",
                            wait.as_secs(),
                            current.status.as_str()
                        ),
                    )
                    .with_details(serde_json::json!({"command_id": current.id})));
                }
                Ok(Ok(event)) if event.command_id == current.id => break,
                Ok(Ok(_)) => {}
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => break,
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    return Err(ApiError::internal("the command bus closed"));
                }
            }
        }
        current = get(state, auth, &current.id).await?;
    }
}

/// A human's view of a command: the dispatcher's own, or any of the tenant's for admins.
pub async fn get(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Model> {
    store::get(&state.db, auth.tenant(), id)
        .await?
        .filter(|c| auth.may_act_on(c.created_by.as_deref()))
        .ok_or_else(|| ApiError::not_found("Command"))
}

/// Cancel a command still queued (its dispatcher or an admin).
pub async fn cancel(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Model> {
    let command = get(state, auth, id).await?;
    let status = command.status.as_str();
    let Some((command, event)) = state.bus.store.cancel(command, now_ms()).await? else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("A {status} command cannot be cancelled"),
        ));
    };
    event.announce(&state.bus.hub);
    Ok(command)
}

/// Newest first, at most 100: the caller's own commands (admins: the tenant's).
pub async fn list(
    state: &AppState,
    auth: &Auth,
    query: &ListCommandsQuery,
) -> ApiResult<Vec<Model>> {
    let text = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let filter = ListFilter {
        created_by: auth.own_only().map(str::to_owned),
        agent_id: text(&query.agent_id),
        status: query.status.map(|s| s.as_str().to_owned()),
        command_type: text(&query.command_type),
    };
    Ok(store::list(&state.db, auth.tenant(), &filter, LIST_LIMIT).await?)
}
