//! The command bus's plumbing, below the agents and VM-operations domains: its storage
//! ([`CommandStore`], with a SeaORM and a direct-SQLite implementation), its events
//! ([`events::Hub`]: written with each change, announced after commit to this process and
//! the other replicas), the per-agent wake-ups that waiting polls sleep on, and the agents
//! as last read by token ([`AgentCache`]).
//!
//! The rules (who may dispatch, what a payload may hold) live in `vm_ops` and `agents`;
//! this module only keeps the bus's invariants: a claim is atomic, a report must quote the
//! current claim and follow the allowed transitions, every change comes with its event.

pub mod agent_cache;
pub mod direct;
pub mod events;
pub mod seaorm;
pub mod store;
pub mod wakers;

use std::sync::Arc;

pub use agent_cache::AgentCache;
pub use store::{Claim, CommandStore, QueueFor, Report, Reported, Settle, Woken};
pub use wakers::Wakers;

use crate::db::Db;

/// The bus as the server holds it.
pub struct Bus {
    pub store: Arc<dyn CommandStore>,
    /// Agents as last read by token hash, for the fleet's frequent requests.
    pub agents: AgentCache,
    pub hub: Arc<events::Hub>,
    pub wakers: Arc<Wakers>,
    /// The direct store, when in use, to close before the database.
    direct: Option<Arc<direct::DirectStore>>,
}

impl Bus {
    /// The bus on `db`: with SQLite the direct store, with PostgreSQL the SeaORM one.
    pub fn open(db: &Db) -> anyhow::Result<Self> {
        let wakers = Arc::new(Wakers::default());
        let hub = events::Hub::new(db, wakers.clone());
        let direct = db
            .direct()
            .map(|d| Arc::new(direct::DirectStore::new(d.clone())));
        let store: Arc<dyn CommandStore> = match &direct {
            Some(d) => d.clone(),
            None => Arc::new(seaorm::SeaOrmStore::new(db.point_lookups())),
        };
        Ok(Self {
            store,
            agents: AgentCache::default(),
            hub,
            wakers,
            direct,
        })
    }

    /// Finish the direct store's queued writes and close its connections.
    pub async fn close(&self) {
        if let Some(direct) = &self.direct {
            direct.close().await;
        }
    }
}
