//! Command events: each state change is a row in `command_events` (its id is the SSE event
//! id) and is broadcast in process to open streams. `GET /vm-ops/events` replays what a
//! reconnecting client missed (`Last-Event-ID` header or `last_event_id` query) from the
//! database, then follows the broadcast; a stream that falls behind catches up from the
//! database too, so nothing is skipped.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use botmox_proto::auth::Role;
use futures::Stream;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::broadcast;

use super::service::view;
use crate::app::AppState;
use crate::auth::Auth;
use crate::db::entity::agent_command;
use crate::db::entity::command_event::{self, Column, Entity};

/// In-process fan-out of new events to open streams.
pub type Bus = broadcast::Sender<Arc<command_event::Model>>;
const BUS_CAPACITY: usize = 1024;
const REPLAY_BATCH: u64 = 500;
const KEEP_ALIVE: Duration = Duration::from_secs(25);

pub fn bus() -> Bus {
    broadcast::channel(BUS_CAPACITY).0
}

/// Record that `command` entered its current status, and tell the open streams.
pub async fn publish(
    state: &AppState,
    db: &impl ConnectionTrait,
    command: &agent_command::Model,
) -> Result<(), DbErr> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut event = command_event::Model {
        id: 0,
        tenant_id: command.tenant_id.clone(),
        agent_id: command.agent_id.clone(),
        command_id: command.id.clone(),
        created_by: command.created_by.clone(),
        event_type: format!("command.{}", command.status),
        data: serde_json::to_string(&view(command)).unwrap_or_default(),
        created_at: now,
    };
    let inserted = Entity::insert(command_event::ActiveModel {
        id: NotSet,
        tenant_id: Set(event.tenant_id.clone()),
        agent_id: Set(event.agent_id.clone()),
        command_id: Set(event.command_id.clone()),
        created_by: Set(event.created_by.clone()),
        event_type: Set(event.event_type.clone()),
        data: Set(event.data.clone()),
        created_at: Set(now),
    })
    .exec(db)
    .await?;
    event.id = inserted.last_insert_id;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Other replicas deliver it to their streams and wake their polls (`listen`).
        db.execute_unprepared(&format!("NOTIFY {CHANNEL}, '{}'", event.id))
            .await?;
    }
    // No open stream is not an error.
    let _ = state.events.send(Arc::new(event));
    Ok(())
}

const CHANNEL: &str = "botmox_commands";

/// With PostgreSQL: deliver the events other replicas announce to this replica's streams,
/// and wake this replica's polls for the agent concerned. (A stream sees an event once:
/// it skips ids it already sent.)
pub fn listen(state: &AppState) {
    let weak = state.downgrade();
    crate::db::listen(&state.db, CHANNEL, move |payload| {
        let state = AppState::upgrade(&weak);
        async move {
            let Some(state) = state else {
                return false;
            };
            let Some(id) = payload.and_then(|p| p.parse::<i64>().ok()) else {
                return true;
            };
            match Entity::find_by_id(id).one(&state.db).await {
                Ok(Some(event)) => {
                    state.wakers.wake(&event.agent_id);
                    let _ = state.events.send(Arc::new(event));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not read an announced event"),
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

fn frame(e: &command_event::Model) -> Event {
    let data = format!(
        "{{\"event_id\":{},\"event_type\":\"{}\",\"tenant_id\":{},\"command\":{},\"server_time\":{}}}",
        e.id,
        e.event_type,
        serde_json::to_string(&e.tenant_id).unwrap_or_default(),
        e.data,
        e.created_at
    );
    Event::default()
        .id(e.id.to_string())
        .event("vm-command")
        .data(data)
}

struct Cursor {
    state: AppState,
    filter: Filter,
    rx: broadcast::Receiver<Arc<command_event::Model>>,
    pending: VecDeque<command_event::Model>,
    last: i64,
    caught_up: bool,
}

/// The SSE stream: a `connected` comment, the replay after `last`, then live events.
pub fn stream(
    state: AppState,
    filter: Filter,
    last: i64,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribe before reading the replay, so nothing falls between the two.
    let rx = state.events.subscribe();
    let cursor = Cursor {
        state,
        filter,
        rx,
        pending: VecDeque::new(),
        last,
        caught_up: false,
    };
    let hello = futures::stream::once(async { Ok(Event::default().comment("connected")) });
    let events = futures::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.pending.pop_front() {
                c.last = e.id;
                return Some((Ok(frame(&e)), c));
            }
            if !c.caught_up {
                match c.filter.after(&c.state, c.last).await {
                    Ok(rows) => {
                        c.caught_up = (rows.len() as u64) < REPLAY_BATCH;
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
                Ok(e) if e.id > c.last && c.filter.shows(&e) => c.pending.push_back((*e).clone()),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => c.caught_up = false,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(futures::StreamExt::chain(hello, events))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
