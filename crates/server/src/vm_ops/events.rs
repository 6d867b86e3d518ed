//! Command bus events: each command state change and each agent presence change is a row in
//! `command_events` (its id is the SSE event id) and is broadcast in process to open streams. `GET /vm-ops/events` replays what a
//! reconnecting client missed (`Last-Event-ID` header or `last_event_id` query) from the
//! database, then follows the broadcast; a stream that falls behind catches up from the
//! database too, so nothing is skipped.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use botmox_proto::auth::Role;
use futures::Stream;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use tokio::sync::{broadcast, mpsc};

use super::service::view;
use crate::agents;
use crate::app::AppState;
use crate::auth::Auth;
use crate::clock::{iso, now_ms};
use crate::db::entity::command_event::{self, Column, Entity};
use crate::db::entity::{agent, agent_command};
use crate::http::ApiError;

/// Where committed events go: this process's open streams (an in-process broadcast) and,
/// with PostgreSQL, the other replicas. Those are told by `NOTIFY` in batches of event ids,
/// sent after commit by one background task: PostgreSQL serialises the commits of
/// transactions that notify, so a `NOTIFY` inside every command's transaction would cap the
/// whole bus at one commit (one disk flush) at a time.
pub struct Bus {
    local: broadcast::Sender<Arc<command_event::Model>>,
    /// This replica, so it skips its own notifications.
    replica: String,
    notifier: Option<mpsc::UnboundedSender<i64>>,
}
const BUS_CAPACITY: usize = 1024;
const REPLAY_BATCH: u64 = 500;
const KEEP_ALIVE: Duration = Duration::from_secs(25);
/// Event ids per `NOTIFY` (its payload is limited to 8000 bytes).
const NOTIFY_BATCH: usize = 300;

impl Bus {
    pub fn new(db: &DatabaseConnection) -> Self {
        let replica = uuid::Uuid::new_v4().simple().to_string();
        let notifier = (db.get_database_backend() == DatabaseBackend::Postgres).then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(notify_replicas(db.clone(), replica.clone(), rx));
            tx
        });
        Self {
            local: broadcast::channel(BUS_CAPACITY).0,
            replica,
            notifier,
        }
    }

    fn deliver(&self, event: Arc<command_event::Model>) {
        // No open stream is not an error.
        let _ = self.local.send(event);
    }
}

/// Send the ids of this replica's committed events to the other replicas, as many per
/// `NOTIFY` as have queued up meanwhile: `<replica>:<id>,<id>,...`.
async fn notify_replicas(
    db: DatabaseConnection,
    replica: String,
    mut ids: mpsc::UnboundedReceiver<i64>,
) {
    let mut batch = Vec::with_capacity(NOTIFY_BATCH);
    while ids.recv_many(&mut batch, NOTIFY_BATCH).await > 0 {
        let list: Vec<String> = batch.drain(..).map(|id| id.to_string()).collect();
        let payload = format!("{replica}:{}", list.join(","));
        let notify = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        );
        if let Err(e) = db.execute(notify).await {
            tracing::warn!(error = %e, "could not notify the other replicas");
        }
    }
}

/// An event written in the caller's transaction, to be announced to this process's streams
/// once that transaction has committed (PostgreSQL delivers its NOTIFY at commit, too), so
/// no stream ever shows a change that did not happen.
#[must_use = "announce the event after the transaction commits"]
pub struct Recorded(command_event::Model);

impl Recorded {
    pub fn announce(self, state: &AppState) {
        if let Some(notifier) = &state.events.notifier {
            let _ = notifier.send(self.0.id);
        }
        publish(state, self.0);
    }
}

/// Hand a committed event (this replica's or another's) to this process: wake the polls it
/// concerns (a command to claim, or their agent's revocation), then the open streams.
fn publish(state: &AppState, event: command_event::Model) {
    if matches!(
        event.event_type.as_str(),
        "command.queued" | "agent.revoked"
    ) {
        state.wakers.wake(&event.agent_id);
    }
    state.events.deliver(Arc::new(event));
}

/// Record, in `db`'s transaction, that `command` entered its current status.
pub async fn record_command(
    db: &impl ConnectionTrait,
    command: &agent_command::Model,
) -> Result<Recorded, DbErr> {
    record(db, command_event(command)).await
}

/// [`record_command`] on a direct SQLite connection, in the writer's transaction.
pub fn record_command_direct(
    conn: &rusqlite::Connection,
    command: &agent_command::Model,
) -> rusqlite::Result<Recorded> {
    let mut event = command_event(command);
    event.created_at = now_ms();
    conn.prepare_cached(
        "INSERT INTO command_events (tenant_id, agent_id, command_id, created_by, event_type, \
           data, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(rusqlite::params![
        event.tenant_id,
        event.agent_id,
        event.command_id,
        event.created_by,
        event.event_type,
        event.data,
        event.created_at,
    ])?;
    event.id = conn.last_insert_rowid();
    Ok(Recorded(event))
}

/// The event saying `command` entered its current status.
fn command_event(command: &agent_command::Model) -> command_event::Model {
    command_event::Model {
        id: 0,
        tenant_id: command.tenant_id.clone(),
        agent_id: command.agent_id.clone(),
        command_id: command.id.clone(),
        created_by: command.created_by.clone(),
        event_type: format!("command.{}", command.status),
        data: serde_json::to_string(&view(command)).unwrap_or_default(),
        created_at: 0,
    }
}

/// Record an agent's presence change (`agent.online`, `agent.offline`, `agent.revoked`),
/// seen by the agent's owner, admins and the agent itself.
pub async fn record_agent(
    db: &impl ConnectionTrait,
    agent: &agent::Model,
    event_type: &str,
) -> Result<Recorded, DbErr> {
    record(
        db,
        command_event::Model {
            id: 0,
            tenant_id: agent.tenant_id.clone(),
            agent_id: agent.id.clone(),
            command_id: String::new(),
            created_by: agent.owner_user_id.clone(),
            event_type: event_type.to_owned(),
            data: serde_json::to_string(&agents::service::view(agent)).unwrap_or_default(),
            created_at: 0,
        },
    )
    .await
}

async fn record(
    db: &impl ConnectionTrait,
    mut event: command_event::Model,
) -> Result<Recorded, DbErr> {
    event.created_at = now_ms();
    let inserted = Entity::insert(command_event::ActiveModel {
        id: NotSet,
        tenant_id: Set(event.tenant_id.clone()),
        agent_id: Set(event.agent_id.clone()),
        command_id: Set(event.command_id.clone()),
        created_by: Set(event.created_by.clone()),
        event_type: Set(event.event_type.clone()),
        data: Set(event.data.clone()),
        created_at: Set(event.created_at),
    })
    .exec(db)
    .await?;
    event.id = inserted.last_insert_id;
    Ok(Recorded(event))
}

const CHANNEL: &str = "botmox_commands";

/// With PostgreSQL: deliver the events other replicas announce to this replica's streams,
/// and wake this replica's polls for the agents concerned. (A stream sees an event once:
/// it skips ids it already sent, whatever order they come in.)
pub fn listen(state: &AppState) {
    let weak = state.downgrade();
    crate::db::listen(&state.db, CHANNEL, move |payload| {
        let state = AppState::upgrade(&weak);
        async move {
            let Some(state) = state else {
                return false;
            };
            let Some((replica, list)) = payload.as_deref().and_then(|p| p.split_once(':')) else {
                return true;
            };
            if replica == state.events.replica {
                return true;
            }
            let ids: Vec<i64> = list.split(',').filter_map(|id| id.parse().ok()).collect();
            let found = Entity::find()
                .filter(Column::Id.is_in(ids))
                .order_by_asc(Column::Id)
                .all(&state.db)
                .await;
            match found {
                Ok(events) => {
                    for event in events {
                        publish(&state, event);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read announced events"),
            }
            true
        }
    });
}

/// Which events a stream shows.
#[derive(Clone)]
pub struct Filter {
    pub tenant_id: String,
    /// Only this dispatcher's commands (humans other than admins).
    pub created_by: Option<String>,
    pub agent_id: Option<String>,
    pub command_id: Option<String>,
}

impl Filter {
    pub fn for_caller(auth: &Auth, agent_id: Option<String>, command_id: Option<String>) -> Self {
        Self {
            tenant_id: auth.tenant_id.clone(),
            created_by: (auth.role != Role::Admin).then(|| auth.uid()),
            agent_id,
            command_id,
        }
    }

    /// An agent sees the events of its own commands and its own presence.
    pub fn for_agent(agent: &agent::Model, command_id: Option<String>) -> Self {
        Self {
            tenant_id: agent.tenant_id.clone(),
            created_by: None,
            agent_id: Some(agent.id.clone()),
            command_id,
        }
    }

    fn shows(&self, e: &command_event::Model) -> bool {
        e.tenant_id == self.tenant_id
            && self
                .created_by
                .as_ref()
                .is_none_or(|c| e.created_by.as_ref() == Some(c))
            && self.agent_id.as_ref().is_none_or(|a| &e.agent_id == a)
            && self.command_id.as_ref().is_none_or(|c| &e.command_id == c)
    }

    async fn after(&self, state: &AppState, last: i64) -> Result<Vec<command_event::Model>, DbErr> {
        let mut q = Entity::find()
            .filter(Column::TenantId.eq(&self.tenant_id))
            .filter(Column::Id.gt(last));
        if let Some(c) = &self.created_by {
            q = q.filter(Column::CreatedBy.eq(c));
        }
        if let Some(a) = &self.agent_id {
            q = q.filter(Column::AgentId.eq(a));
        }
        if let Some(c) = &self.command_id {
            q = q.filter(Column::CommandId.eq(c));
        }
        q.order_by_asc(Column::Id)
            .limit(REPLAY_BATCH)
            .all(&state.db)
            .await
    }
}

/// `event: vm-command` with `command`, or `event: agent-status` with `agent`.
fn frame(e: &command_event::Model) -> Event {
    let (name, key) = if e.command_id.is_empty() {
        ("agent-status", "agent")
    } else {
        ("vm-command", "command")
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

/// How many sent ids a stream remembers. Events can arrive a little out of id order (on
/// PostgreSQL transactions commit in another order than they took their ids, and other
/// replicas' events come a moment later), so a stream sends every event it has not sent yet,
/// not only ids above the last one.
const SENT_WINDOW: usize = 4096;

struct Cursor {
    state: AppState,
    filter: Filter,
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

/// The newest event id (0 when there is none): a new stream's starting point.
async fn latest(state: &AppState) -> Result<i64, DbErr> {
    let newest = Entity::find()
        .order_by_desc(Column::Id)
        .limit(1)
        .one(&state.db)
        .await?;
    Ok(newest.map_or(0, |e| e.id))
}

/// The SSE stream: a `connected` comment, the replay of what came after `after` (when
/// given), then live events.
pub async fn stream(
    state: AppState,
    filter: Filter,
    after: Option<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, DbErr> {
    // Subscribe before reading the replay, so nothing falls between the two.
    let rx = state.events.local.subscribe();
    let last = match after {
        Some(id) => id,
        None => latest(&state).await?,
    };
    let cursor = Cursor {
        state,
        filter,
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
                return Some((Ok(frame(&e)), c));
            }
            if !c.caught_up {
                match c.filter.after(&c.state, c.replay_from).await {
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
            match c.rx.recv().await {
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
