//! The state every request handler may need, opened once at start: configuration, the
//! database handle, keys, rate limits, the blob store, the principal cache and the command
//! bus. It sits below the domains; the router that uses it is composed above them.

use std::sync::Arc;

use crate::blob::BlobStore;
use crate::bus::Bus;
use crate::config::Config;
use crate::db::Db;
use crate::http::rate_limit::RateLimits;
use crate::keys::ServerKey;
use crate::keys::jwt::{AccessTokens, ExternalJwt};
use crate::principal::cache::{self, PrincipalCache};
use crate::sealed::Sealer;

/// Cloning is one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
pub struct Shared {
    pub db: Db,
    pub config: Arc<Config>,
    pub key: Arc<ServerKey>,
    pub access: Arc<AccessTokens>,
    pub external_jwt: Option<Arc<ExternalJwt>>,
    pub limits: Arc<RateLimits>,
    pub blob: BlobStore,
    pub auth_cache: Arc<PrincipalCache>,
    pub sealer: Arc<Sealer>,
    pub bus: Bus,
}

impl AppState {
    /// Open the database (running pending migrations), the key, the blob store and the bus.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let db = Db::open(&config.database_url, config.db_max_connections).await?;
        let key = match &config.secret_key {
            Some(secret) => ServerKey::from_secret(secret),
            None => ServerKey::load_or_create(&config.data_dir)?,
        };
        let external_jwt = config
            .external_jwt
            .as_ref()
            .map(ExternalJwt::new)
            .transpose()?
            .map(Arc::new);
        let blob = BlobStore::open(&config.blob_store)?;
        let auth_cache = Arc::new(PrincipalCache::default());
        cache::listen_for_changes(&db, auth_cache.clone());
        db.spawn_checkpointer();
        let bus = Bus::open(&db)?;
        Ok(Self(Arc::new(Shared {
            auth_cache,
            sealer: Arc::new(Sealer::new(&key)),
            bus,
            access: Arc::new(AccessTokens::new(&key)),
            key: Arc::new(key),
            limits: RateLimits::new(&config),
            external_jwt,
            blob,
            db,
            config: Arc::new(config),
        })))
    }

    /// Run `job` every `period` in the background for as long as the state lives; a failed
    /// run is logged (as `what`) and the next one comes at its time. Jobs must be safe to run
    /// on several replicas at once.
    pub fn every<F, Fut>(&self, period: std::time::Duration, what: &'static str, job: F)
    where
        F: Fn(AppState) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), crate::db::StoreError>> + Send,
    {
        let weak = self.downgrade();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let Some(state) = AppState::upgrade(&weak) else {
                    return;
                };
                if let Err(e) = job(state).await {
                    tracing::warn!(error = %e, "{what} failed");
                }
            }
        });
    }

    /// A handle for background tasks that must not keep the state alive.
    pub fn downgrade(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.0)
    }

    pub fn upgrade(weak: &std::sync::Weak<Shared>) -> Option<Self> {
        weak.upgrade().map(Self)
    }

    /// Close the bus's direct connections, then the database.
    pub async fn close(&self) -> anyhow::Result<()> {
        self.bus.close().await;
        self.db.close().await?;
        Ok(())
    }
}
