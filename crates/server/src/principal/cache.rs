//! A short-lived, in-process cache of resolved principals, so an authenticated request does
//! not have to read the session and user rows every time.
//!
//! Every change that can withdraw or alter access (logout, session revocation, a user's role,
//! password or disabled flag, an API token's revocation) clears the cache before it answers,
//! so on one server the change applies to the very next request. With PostgreSQL the change
//! is also announced with `NOTIFY botmox_auth`, and every replica clears its cache when the
//! notification arrives; entries never outlive [`ENTRY_TTL`] in any case.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::Auth;
use crate::db::Db;

/// Upper bound on how long a cached principal is trusted without reading the database.
pub const ENTRY_TTL: Duration = Duration::from_secs(5);
/// Past this many entries the cache starts over (bounded memory under token churn).
const MAX_ENTRIES: usize = 100_000;
pub const CHANNEL: &str = "botmox_auth";

pub struct PrincipalCache {
    entries: RwLock<HashMap<String, (Auth, Instant)>>,
    /// The generation, bumped by every clear: a lookup that read the database before a
    /// clear must not store its (possibly outdated) result after it, and open event streams
    /// watch it to check their caller again.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for PrincipalCache {
    fn default() -> Self {
        Self {
            entries: RwLock::default(),
            changes: tokio::sync::watch::channel(0).0,
        }
    }
}

impl PrincipalCache {
    /// Wakes whenever access changed here or (announced) on another replica: something
    /// that holds access open (an event stream) checks its caller again then.
    pub fn access_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn get(&self, key: &str) -> Option<Auth> {
        let entries = self.entries.read().ok()?;
        let (auth, until) = entries.get(key)?;
        (Instant::now() < *until).then(|| auth.clone())
    }

    /// Take this before reading the database; pass it to [`PrincipalCache::put`].
    pub fn generation(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Remember `auth` for `key` until `ENTRY_TTL` from now, or `expires_in` if sooner,
    /// unless the cache was cleared since `generation` was taken.
    pub fn put(&self, key: String, auth: Auth, expires_in: Option<Duration>, generation: u64) {
        let ttl = expires_in.map_or(ENTRY_TTL, |e| e.min(ENTRY_TTL));
        if let Ok(mut entries) = self.entries.write() {
            if *self.changes.borrow() != generation {
                return;
            }
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (auth, Instant::now() + ttl));
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
            self.changes.send_modify(|generation| *generation += 1);
        }
    }

    /// Access changed: forget everything here and tell the other replicas.
    pub async fn changed(&self, db: &Db) {
        self.clear();
        if let Err(e) = db.notify(CHANNEL, "").await {
            tracing::error!(error = %e, "could not announce an access change to other replicas");
        }
    }
}

/// With PostgreSQL: clear `cache` whenever another replica announces an access change (and
/// after every reconnection, which may have missed announcements).
pub fn listen_for_changes(db: &Db, cache: std::sync::Arc<PrincipalCache>) {
    let weak = std::sync::Arc::downgrade(&cache);
    db.listen(CHANNEL, move |_| {
        let cache = weak.upgrade();
        async move { cache.map(|c| c.clear()).is_some() }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::{Identity, Scope, TenantId};
    use botmox_proto::auth::{PrincipalType, Role};

    fn auth() -> Auth {
        Auth::new(Identity {
            scope: Scope::new(TenantId::trusted("t"), "u", Role::User),
            kind: PrincipalType::User,
            source: "local",
            user_id: Some("u".into()),
            token_id: None,
            session_id: Some("s".into()),
            email: None,
        })
    }

    #[test]
    fn entries_expire_and_clear() {
        let cache = PrincipalCache::default();
        cache.put("a".into(), auth(), None, cache.generation());
        assert!(cache.get("a").is_some());
        cache.put("b".into(), auth(), Some(Duration::ZERO), cache.generation());
        assert!(
            cache.get("b").is_none(),
            "an entry never outlives its credential"
        );
        cache.clear();
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn a_lookup_that_raced_a_change_is_not_stored() {
        let cache = PrincipalCache::default();
        let before = cache.generation();
        cache.clear(); // an access change lands while the lookup reads the database
        cache.put("a".into(), auth(), None, before);
        assert!(cache.get("a").is_none());
    }
}
