//! `GET /vm-ops/events` as a Server-Sent Events stream: replay of what a reconnecting client
//! missed (`Last-Event-ID` header or `last_event_id` query) from the database, then live
//! events from the bus's hub; a stream that falls behind catches up from the database, so
//! nothing is skipped.
//!
//! A stream holds access open, so it is checked again whenever access changes (a token
//! revoked, a user disabled or demoted, a session ended — here or, announced, on another
//! replica) and ends when its holder no longer stands as it did; an agent's stream ends with
//! the agent's revocation.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use botmox_proto::command::{AgentEventType, EVENT_AGENT_STATUS, EVENT_VM_COMMAND};
use botmox_proto::provisioning::{EVENT_VM_PROVISIONING, PROGRESS_EVENT_TYPE};
use botmox_proto::vm_jobs::{EVENT_VM_JOB, JOB_EVENT_PREFIX};
use futures::Stream;
use tokio::sync::broadcast;

use super::store::{self, EventFilter};
use crate::auth::service::{authenticate_bearer, authenticate_ui_session};
use crate::clock::iso;
use crate::db::entity::agent;
use crate::db::entity::command_event;
use crate::db::{StoreResult, TenantId};
use crate::http::ApiError;
use crate::principal::Auth;
use crate::state::AppState;

const REPLAY_BATCH: u64 = 500;
const KEEP_ALIVE: Duration = Duration::from_secs(25);
/// How many sent ids a stream remembers. Events can arrive a little out of id order (on
/// PostgreSQL transactions commit in another order than they took their ids, and other
/// replicas' events come a moment later), so a stream sends every event it has not sent yet,
/// not only ids above the last one.
const SENT_WINDOW: usize = 4096;

/// Which events a stream shows.
#[derive(Clone)]
pub struct Filter {
    pub tenant: TenantId,
    /// Only this dispatcher's commands (humans other than admins).
    pub created_by: Option<String>,
    pub agent_id: Option<String>,
    pub command_id: Option<String>,
}

impl Filter {
    pub fn for_caller(auth: &Auth, agent_id: Option<String>, command_id: Option<String>) -> Self {
        Self {
            tenant: auth.tenant().clone(),
            created_by: auth.own_only().map(str::to_owned),
            agent_id,
            command_id,
        }
    }

    /// An agent sees the events of its own commands and its own presence.
    pub fn for_agent(agent: &agent::Model, command_id: Option<String>) -> Self {
        Self {
            tenant: TenantId::trusted(agent.tenant_id.clone()),
            created_by: None,
            agent_id: Some(agent.id.clone()),
            command_id,
        }
    }

    /// The same rule as [`store::events_after`], for events that arrive live.
    fn shows(&self, e: &command_event::Model) -> bool {
        e.tenant_id == self.tenant.as_str()
            && self
                .created_by
                .as_ref()
                .is_none_or(|c| e.created_by.as_ref() == Some(c))
            && self.agent_id.as_ref().is_none_or(|a| &e.agent_id == a)
            && self.command_id.as_ref().is_none_or(|c| &e.command_id == c)
    }

    fn query(&self) -> EventFilter<'_> {
        EventFilter {
            tenant: &self.tenant,
            created_by: self.created_by.as_deref(),
            agent_id: self.agent_id.as_deref(),
            command_id: self.command_id.as_deref(),
        }
    }
}

/// Who holds a stream open, with what it proved when the stream opened.
pub enum Holder {
    /// A bearer token (an API session's access token or an API token).
    Bearer { token: String, auth: Auth },
    /// A web UI session cookie.
    UiSession { cookie: String, auth: Auth },
    /// An agent (its token): the stream ends with the agent's revocation.
    Agent { id: String },
}

impl Holder {
    /// Whether the holder still stands as it did when the stream opened: the same caller, in
    /// the same tenant, with the same role (a demotion changes what the stream may show).
    async fn still_holds(&self, state: &AppState) -> bool {
        let same = |now: &Auth, then: &Auth| {
            now.tenant() == then.tenant()
                && now.caller() == then.caller()
                && now.role() == then.role()
        };
        match self {
            Self::Bearer { token, auth } => {
                matches!(authenticate_bearer(state, token).await, Ok(now) if same(&now, auth))
            }
            Self::UiSession { cookie, auth } => matches!(
                authenticate_ui_session(state, cookie).await,
                Ok(Some(now)) if same(&now, auth)
            ),
            Self::Agent { .. } => true,
        }
    }

    /// The event that ends the stream once it is sent: the agent's own revocation.
    fn ends_with(&self, e: &command_event::Model) -> bool {
        matches!(self, Self::Agent { id }
            if e.event_type == AgentEventType::Revoked.as_str() && &e.agent_id == id)
    }
}

/// `event: vm-command` with `command`, `event: agent-status` with `agent`, `event:
/// vm-provisioning` with `progress`, or `event: vm-job` with `job`.
fn frame(e: &command_event::Model) -> Event {
    let (name, key) = if e.event_type == PROGRESS_EVENT_TYPE {
        (EVENT_VM_PROVISIONING, "progress")
    } else if e.command_id.is_empty() {
        (EVENT_AGENT_STATUS, "agent")
    } else if e.event_type.starts_with(JOB_EVENT_PREFIX) {
        (EVENT_VM_JOB, "job")
    } else {
        (EVENT_VM_COMMAND, "command")
    };
    let data = format!(
        "{{\"event_id\":{},\"event_type\":\"{}\",\"tenant_id\":{},\"{key}\":{},\"server_time\":{}}}",
        e.id,
        e.event_type,
        serde_json::to_string(&e.tenant_id).unwrap_or_default(),
        e.data,
        serde_json::to_string(&iso(e.created_at)).unwrap_or_default(),
    );
    Event::default().id(e.id.to_string()).event(name).data(data)
}

struct Cursor {
    state: AppState,
    filter: Filter,
    holder: Holder,
    /// Access changes, after which the holder is checked again.
    changes: tokio::sync::watch::Receiver<u64>,
    /// The holder no longer stands: end once what is pending is sent (or at once).
    ending: bool,
    rx: broadcast::Receiver<Arc<command_event::Model>>,
    pending: VecDeque<command_event::Model>,
    /// Ids at or below this are not sent (before the stream began, or out of the window).
    floor: i64,
    /// Ids above `floor` already sent.
    sent: BTreeSet<i64>,
    /// Where the next database read continues.
    replay_from: i64,
    caught_up: bool,
}

impl Cursor {
    fn unsent(&self, id: i64) -> bool {
        id > self.floor && !self.sent.contains(&id)
    }

    fn mark_sent(&mut self, id: i64) {
        self.sent.insert(id);
        while self.sent.len() > SENT_WINDOW {
            if let Some(oldest) = self.sent.pop_first() {
                self.floor = oldest;
            }
        }
    }
}

/// Where a stream resumes: after the `Last-Event-ID` header (sent by a reconnecting
/// `EventSource`), else after the `last_event_id` query; `None`: from now on.
pub fn resume_after(headers: &HeaderMap, query: Option<i64>) -> Result<Option<i64>, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()))
        .map(|v| v.ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event id")))
        .transpose()?;
    Ok(header.or(query).map(|id| id.max(0)))
}

/// The SSE stream: a `connected` comment, the replay of what came after `after` (when
/// given), then live events.
pub async fn stream(
    state: AppState,
    filter: Filter,
    holder: Holder,
    after: Option<i64>,
) -> StoreResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Subscribe before reading the replay, so nothing falls between the two; likewise
    // watch access changes from before the holder was proven.
    let changes = state.auth_cache.access_changes();
    let rx = state.bus.hub.subscribe();
    let last = match after {
        Some(id) => id,
        None => store::latest_event(&state.db).await?,
    };
    let cursor = Cursor {
        state,
        filter,
        holder,
        changes,
        ending: false,
        rx,
        pending: VecDeque::new(),
        floor: last,
        sent: BTreeSet::new(),
        replay_from: last,
        caught_up: false,
    };
    let hello = futures::stream::once(async { Ok(Event::default().comment("connected")) });
    let events = futures::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.pending.pop_front() {
                if !c.unsent(e.id) {
                    continue;
                }
                c.mark_sent(e.id);
                if c.holder.ends_with(&e) {
                    c.ending = true;
                    c.pending.clear();
                }
                return Some((Ok(frame(&e)), c));
            }
            if c.ending {
                return None;
            }
            if !c.caught_up {
                let read = store::events_after(
                    &c.state.db,
                    &c.filter.query(),
                    c.replay_from,
                    REPLAY_BATCH,
                )
                .await;
                match read {
                    Ok(rows) => {
                        c.caught_up = (rows.len() as u64) < REPLAY_BATCH;
                        c.replay_from = rows.last().map_or(c.replay_from, |r| r.id);
                        c.pending.extend(rows);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event replay failed");
                        return None;
                    }
                }
            }
            let received = tokio::select! {
                received = c.rx.recv() => received,
                changed = c.changes.changed() => {
                    if changed.is_err() || !c.holder.still_holds(&c.state).await {
                        return None;
                    }
                    continue;
                }
            };
            match received {
                Ok(e) if c.unsent(e.id) && c.filter.shows(&e) => c.pending.push_back((*e).clone()),
                Ok(_) => {}
                // Fell behind the broadcast: read the whole window again (sent ids are skipped).
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    c.caught_up = false;
                    c.replay_from = c.floor;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(futures::StreamExt::chain(hello, events))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
