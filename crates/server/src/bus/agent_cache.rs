//! Agents as last read, by the hash of their token: the fleet's frequent requests
//! (heartbeats, polls, reports) find their agent here instead of reading it each time.
//! An entry says who holds a token, never that the agent still stands: the statements those
//! requests run check that themselves (see [`super::store`]), and an entry they find stale
//! is forgotten.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::db::entity::agent;

/// Past this many agents the cache starts over (bounded memory under token churn).
const CACHE_CAPACITY: usize = 200_000;

/// Active agents as last read, by token hash.
#[derive(Default)]
pub struct AgentCache {
    agents: Mutex<HashMap<String, agent::Model>>,
}

impl AgentCache {
    pub fn get(&self, token_hash: &str) -> Option<agent::Model> {
        self.agents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token_hash)
            .cloned()
    }

    /// Keep `agent` (as it stands now, after a read or a write) under its token.
    pub fn put(&self, agent: &agent::Model) {
        let Some(hash) = agent.token_hash.clone() else {
            return;
        };
        let mut agents = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        if agents.len() >= CACHE_CAPACITY && !agents.contains_key(&hash) {
            agents.clear();
        }
        agents.insert(hash, agent.clone());
    }

    pub fn forget(&self, token_hash: &str) {
        self.agents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token_hash);
    }
}

#[cfg(test)]
mod tests {
    use botmox_proto::agent::{AgentStatus, Presence};

    use super::*;

    fn agent(hash: &str) -> agent::Model {
        agent::Model {
            id: hash.into(),
            tenant_id: "t".into(),
            owner_user_id: None,
            name: "a".into(),
            status: AgentStatus::Active.into(),
            version: None,
            platform: None,
            capabilities: "[]".into(),
            public_key: None,
            pairing_code_hash: None,
            pairing_expires_at: None,
            paired_at: None,
            paired_by: None,
            last_seen_at: None,
            revoked_at: None,
            revoked_by: None,
            revoke_reason: None,
            metadata: "{}".into(),
            token_hash: Some(hash.into()),
            token_expires_at: None,
            presence: Presence::Offline.into(),
            created_at: 0,
            updated_at: 0,
            vault_public_key: None,
        }
    }

    #[test]
    fn the_cache_keeps_agents_by_token_until_forgotten_and_stays_bounded() {
        let cache = AgentCache::default();
        cache.put(&agent("h1"));
        assert_eq!(cache.get("h1").map(|a| a.id), Some("h1".into()));
        cache.forget("h1");
        assert!(cache.get("h1").is_none());
        for i in 0..CACHE_CAPACITY + 1 {
            cache.put(&agent(&i.to_string()));
        }
        let held = cache.agents.lock().unwrap().len();
        assert!(held <= CACHE_CAPACITY, "{held} agents held");
    }
}
