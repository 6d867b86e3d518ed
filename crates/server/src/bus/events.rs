//! Events of the command bus: each command state change and each agent presence change is a
//! row in `command_events`, written in the same transaction as the change (its id is the
//! SSE event id), then announced once that transaction has committed: to this process's
//! waiting polls and open streams, and with PostgreSQL to the other replicas.
//!
//! Replicas are told by `NOTIFY` in batches of event ids, sent after commit by one
//! background task: PostgreSQL serialises the commits of transactions that notify, so a
//! `NOTIFY` inside every command's transaction would cap the whole bus at one commit (one
//! disk flush) at a time.

use std::sync::Arc;

use botmox_proto::command::{AgentEventType, CommandStatus};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use tokio::sync::{broadcast, mpsc};

use super::wakers::{Named, Wakers};
use crate::clock::now_ms;
use crate::db::entity::command_event::{self, Column, Entity};
use crate::db::entity::{agent, agent_command};
use crate::db::{Db, StoreResult};

const HUB_CAPACITY: usize = 1024;
/// Event ids per `NOTIFY` (its payload is limited to 8000 bytes).
const NOTIFY_BATCH: usize = 300;
/// How long the first event of a `NOTIFY` waits for more. Each `NOTIFY` commits a
/// transaction of its own that PostgreSQL serialises and hands to every listening
/// connection, this replica's own included; sent as soon as the previous one was done, under
/// the bus's load most carried one or two events (22,068 for about 30,000 events in one
/// `bench/agents.sh` run), and cost more than the claims. It delays what other replicas
/// see by as much.
const NOTIFY_LINGER: std::time::Duration = std::time::Duration::from_millis(5);
const CHANNEL: &str = "botmox_commands";

/// Where committed events go: waiting polls (woken), open streams (an in-process
/// broadcast) and, with PostgreSQL, the other replicas.
pub struct Hub {
    local: broadcast::Sender<Arc<command_event::Model>>,
    /// This replica, so it skips its own notifications.
    replica: String,
    notifier: Option<mpsc::UnboundedSender<i64>>,
    wakers: Arc<Wakers>,
}

impl Hub {
    pub fn new(db: &Db, wakers: Arc<Wakers>) -> Arc<Self> {
        let replica = uuid::Uuid::new_v4().simple().to_string();
        let notifier = (db.engine() == crate::db::Engine::Postgres).then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(notify_replicas(db.clone(), replica.clone(), rx));
            tx
        });
        let hub = Arc::new(Self {
            local: broadcast::channel(HUB_CAPACITY).0,
            replica,
            notifier,
            wakers,
        });
        listen(db, &hub);
        hub
    }

    /// Follow every event this process learns of, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<command_event::Model>> {
        self.local.subscribe()
    }

    /// Hand a committed event (this replica's or another's) to this process: wake the polls
    /// it concerns (a command to claim, or their agent's revocation), then the open streams.
    /// `row` is the queued command as this replica wrote it, when it did; `wake` is false
    /// for the queued event of a command handed straight to a waiting poll.
    fn publish(
        &self,
        event: command_event::Model,
        row: Option<Arc<agent_command::Model>>,
        wake: bool,
    ) {
        if wake && event.event_type == CommandStatus::Queued.event_type() {
            let named = match row {
                Some(row) if row.id == event.command_id => Named::Row(row),
                _ => Named::Id(event.command_id.clone()),
            };
            self.wakers.wake_one(&event.agent_id, named);
        } else if event.event_type == AgentEventType::Revoked.as_str() {
            self.wakers.wake_all(&event.agent_id);
        }
        // No open stream is not an error.
        let _ = self.local.send(Arc::new(event));
    }
}

/// Send the ids of this replica's committed events to the other replicas, as many per
/// `NOTIFY` as come within [`NOTIFY_LINGER`] of the first: `<replica>:<id>,<id>,...`.
async fn notify_replicas(db: Db, replica: String, mut ids: mpsc::UnboundedReceiver<i64>) {
    let mut batch = Vec::with_capacity(NOTIFY_BATCH);
    while ids.recv_many(&mut batch, NOTIFY_BATCH).await > 0 {
        if batch.len() < NOTIFY_BATCH {
            tokio::time::sleep(NOTIFY_LINGER).await;
            while batch.len() < NOTIFY_BATCH
                && let Ok(id) = ids.try_recv()
            {
                batch.push(id);
            }
        }
        let list: Vec<String> = batch.drain(..).map(|id| id.to_string()).collect();
        let payload = format!("{replica}:{}", list.join(","));
        if let Err(e) = db.notify(CHANNEL, &payload).await {
            tracing::warn!(error = %e, "could not notify the other replicas");
        }
    }
}

/// With PostgreSQL: publish the events other replicas announce. (A stream sees an event
/// once: it skips ids it already sent, whatever order they come in.)
fn listen(db: &Db, hub: &Arc<Hub>) {
    let weak = Arc::downgrade(hub);
    let reader = db.clone();
    db.listen(CHANNEL, move |payload| {
        let hub = weak.upgrade();
        let db = reader.clone();
        async move {
            let Some(hub) = hub else {
                return false;
            };
            let Some((replica, list)) = payload.as_deref().and_then(|p| p.split_once(':')) else {
                return true;
            };
            if replica == hub.replica {
                return true;
            }
            let ids: Vec<i64> = list.split(',').filter_map(|id| id.parse().ok()).collect();
            let found = Entity::find()
                .filter(Column::Id.is_in(ids))
                .order_by_asc(Column::Id)
                .all(db.read())
                .await;
            match found {
                Ok(events) => events.into_iter().for_each(|e| hub.publish(e, None, true)),
                Err(e) => tracing::warn!(error = %e, "could not read announced events"),
            }
            true
        }
    });
}

/// An event written in the caller's transaction, to be announced once that transaction has
/// committed, so no poll or stream ever sees a change that did not happen.
#[must_use = "announce the event after the transaction commits"]
pub struct Recorded(command_event::Model);

impl Recorded {
    pub fn announce(self, hub: &Hub) {
        self.announce_with(hub, None, true);
    }

    /// [`Recorded::announce`] of the event of `command`, just queued: the poll it wakes
    /// claims the row as written, without reading it first.
    pub fn announce_queued(self, hub: &Hub, command: agent_command::Model) {
        self.announce_with(hub, Some(Arc::new(command)), true);
    }

    /// [`Recorded::announce`] of the queued event of a command handed straight to a waiting
    /// poll ([`super::store::CommandStore::hand_over`]): to the streams, waking no poll (it is
    /// claimed already). Another replica's polls may still be woken by it, and find nothing.
    pub fn announce_handed(self, hub: &Hub) {
        self.announce_with(hub, None, false);
    }

    fn announce_with(self, hub: &Hub, row: Option<Arc<agent_command::Model>>, wake: bool) {
        if let Some(notifier) = &hub.notifier {
            let _ = notifier.send(self.0.id);
        }
        hub.publish(self.0, row, wake);
    }
}

/// The event saying `command` entered its current status.
fn command_event(command: &agent_command::Model) -> command_event::Model {
    command_event::Model {
        id: 0,
        tenant_id: command.tenant_id.clone(),
        agent_id: command.agent_id.clone(),
        command_id: command.id.clone(),
        created_by: command.created_by.clone(),
        event_type: command.status.0.event_type(),
        data: serde_json::to_string(&command.view()).unwrap_or_default(),
        created_at: now_ms(),
    }
}

/// Record, in `db`'s transaction, that `command` entered its current status.
pub async fn record_command(
    db: &impl ConnectionTrait,
    command: &agent_command::Model,
) -> StoreResult<Recorded> {
    record(db, command_event(command)).await
}

/// With PostgreSQL: apply `change` (one `INSERT` or `UPDATE` of `command`, `$1..$n` its
/// `values`) and record the event saying the command entered its current status, in one
/// statement that commits by itself (the change as a data-modifying `WITH`): one round trip
/// where a transaction takes four. `None` when the change touched no row; then no event is
/// written either.
pub async fn change_with_event(
    db: &Db,
    change: &str,
    values: Vec<sea_orm::Value>,
    command: &agent_command::Model,
) -> StoreResult<Option<Recorded>> {
    let events = change_with_events(db, change, values, &[command]).await?;
    Ok(events.and_then(|e| e.into_iter().next()))
}

/// [`change_with_event`] recording an event for each of `steps` (the command as it stood
/// after each), in that order: each event's insert reads the one before it, so their ids
/// follow the steps.
pub async fn change_with_events(
    db: &Db,
    change: &str,
    mut values: Vec<sea_orm::Value>,
    steps: &[&agent_command::Model],
) -> StoreResult<Option<Vec<Recorded>>> {
    let mut events: Vec<command_event::Model> = steps.iter().map(|c| command_event(c)).collect();
    let mut ctes = vec![format!("change AS ({change} RETURNING 1)")];
    let mut previous = "change".to_owned();
    for (i, event) in events.iter().enumerate() {
        let first = values.len() + 1;
        let placeholders = (first..first + 7)
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let name = format!("e{i}");
        ctes.push(format!(
            "{name} AS (INSERT INTO command_events (tenant_id, agent_id, command_id, \
               created_by, event_type, data, created_at) \
             SELECT {placeholders} FROM {previous} RETURNING id)"
        ));
        previous = name;
        values.extend([
            event.tenant_id.clone().into(),
            event.agent_id.clone().into(),
            event.command_id.clone().into(),
            event.created_by.clone().into(),
            event.event_type.clone().into(),
            event.data.clone().into(),
            event.created_at.into(),
        ]);
    }
    let ids = (0..events.len())
        .map(|i| format!("e{i}.id AS id{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let from = (0..events.len())
        .map(|i| format!("e{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("WITH {} SELECT {ids} FROM {from}", ctes.join(", "));
    let statement =
        sea_orm::Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, values);
    let Some(row) = db.write_one(statement).await?.into_iter().next() else {
        return Ok(None);
    };
    for (i, event) in events.iter_mut().enumerate() {
        event.id = row.try_get("", &format!("id{i}"))?;
    }
    Ok(Some(events.into_iter().map(Recorded).collect()))
}

/// [`record_command`] on a direct SQLite connection, in the writer's transaction.
pub fn record_command_direct(
    conn: &rusqlite::Connection,
    command: &agent_command::Model,
) -> StoreResult<Recorded> {
    let mut event = command_event(command);
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

/// Record an agent's presence change (`agent.online`, `agent.offline`, `agent.revoked`),
/// seen by the agent's owner, admins and the agent itself.
pub async fn record_agent(
    db: &impl ConnectionTrait,
    agent: &agent::Model,
    event_type: AgentEventType,
) -> StoreResult<Recorded> {
    let now = now_ms();
    record(
        db,
        command_event::Model {
            id: 0,
            tenant_id: agent.tenant_id.clone(),
            agent_id: agent.id.clone(),
            command_id: String::new(),
            created_by: agent.owner_user_id.clone(),
            event_type: event_type.as_str().to_owned(),
            data: serde_json::to_string(&agent.view(now)).unwrap_or_default(),
            created_at: now,
        },
    )
    .await
}

/// Record a provisioning event (`provisioning.progress`: a VM's report, `data` its JSON),
/// seen by the VM's owner and admins; it names no agent nor command.
pub async fn record_provisioning(
    db: &impl ConnectionTrait,
    tenant: &str,
    owner: &str,
    data: &str,
) -> StoreResult<Recorded> {
    record(
        db,
        command_event::Model {
            id: 0,
            tenant_id: tenant.to_owned(),
            agent_id: String::new(),
            command_id: String::new(),
            created_by: Some(owner.to_owned()),
            event_type: botmox_proto::provisioning::PROGRESS_EVENT_TYPE.to_owned(),
            data: data.to_owned(),
            created_at: now_ms(),
        },
    )
    .await
}

/// Record a VM pipeline job's change (`vm-job.<state>`, with the job view as `data`), seen
/// by the job's owner and admins; `command_id` is the job's id.
pub async fn record_job(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    agent_id: &str,
    job_id: &str,
    owner: &str,
    event_type: String,
    data: String,
) -> StoreResult<Recorded> {
    record(
        db,
        command_event::Model {
            id: 0,
            tenant_id: tenant_id.to_owned(),
            agent_id: agent_id.to_owned(),
            command_id: job_id.to_owned(),
            created_by: Some(owner.to_owned()),
            event_type,
            data,
            created_at: now_ms(),
        },
    )
    .await
}

async fn record(
    db: &impl ConnectionTrait,
    mut event: command_event::Model,
) -> StoreResult<Recorded> {
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
