//! The VM command bus (spec api.md §14): humans dispatch commands to their agents; an agent
//! long-polls for its next command, which it claims atomically (each claim has its own
//! `claim_id`, so two polls never get the same command), then reports progress and result
//! with that claim id. A waiting poll sleeps on a per-agent wake-up, not a polling loop,
//! and is woken by a dispatch to its agent or by the agent's revocation.

pub mod events;
pub mod routes;
pub mod service;
pub mod sweeper;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One wake-up per agent, for its waiting polls.
#[derive(Default)]
pub struct Wakers(Mutex<HashMap<String, Arc<Notify>>>);

impl Wakers {
    pub fn for_agent(&self, agent_id: &str) -> Arc<Notify> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(agent_id.to_owned()).or_default().clone()
    }

    /// Wake every poll of this agent waiting right now.
    pub fn wake(&self, agent_id: &str) {
        self.for_agent(agent_id).notify_waiters();
    }
}
