//! Per-agent wake-ups: a waiting poll sleeps on its agent's, and a dispatch to the agent or
//! the agent's revocation wakes it (no polling loop).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One wake-up per agent with polls waiting; an entry lives while a poll holds it.
#[derive(Default)]
pub struct Wakers(Mutex<HashMap<String, Arc<Notify>>>);

impl Wakers {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wake-up a poll of this agent waits on; give it back with [`Wakers::release`].
    pub fn for_agent(&self, agent_id: &str) -> Arc<Notify> {
        self.map().entry(agent_id.to_owned()).or_default().clone()
    }

    /// A poll is done with `wake`: the entry goes when no other poll holds it.
    pub fn release(&self, agent_id: &str, wake: Arc<Notify>) {
        let mut map = self.map();
        drop(wake);
        if map.get(agent_id).is_some_and(|n| Arc::strong_count(n) == 1) {
            map.remove(agent_id);
        }
    }

    /// Wake every poll of this agent waiting right now.
    pub fn wake(&self, agent_id: &str) {
        if let Some(n) = self.map().get(agent_id) {
            n.notify_waiters();
        }
    }
}
