//! Assembly of the server: shared state, the router with its middleware stack, and the
//! listener with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::cache::PrincipalCache;
use crate::auth::jwt::{AccessTokens, ExternalJwt};
use crate::auth::keys::ServerKey;
use crate::blob::BlobStore;
use crate::config::Config;
use crate::http::rate_limit::RateLimits;
use crate::http::route_table::RouteTable;
use crate::http::{client_addr, layers, metrics, rate_limit};
use crate::sealed::Sealer;
use crate::{
    agents, api_tokens, audit, auth, db, health, openapi, records, settings, setup, ui, users,
    vm_ops,
};

/// Everything a request handler may need. Cloning is one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// A handle for background tasks that must not keep the state alive.
    pub fn downgrade(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.0)
    }

    pub fn upgrade(weak: &std::sync::Weak<Shared>) -> Option<Self> {
        weak.upgrade().map(Self)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
pub struct Shared {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub key: Arc<ServerKey>,
    pub access: Arc<AccessTokens>,
    pub external_jwt: Option<Arc<ExternalJwt>>,
    pub limits: Arc<RateLimits>,
    pub blob: BlobStore,
    pub auth_cache: Arc<PrincipalCache>,
    pub sealer: Arc<Sealer>,
    pub writes: db::WriteGate,
    /// With SQLite, direct connections for the command bus (see [`db::sqlite_direct`]).
    pub sqlite: Option<db::sqlite_direct::SqliteDirect>,
    pub wakers: vm_ops::Wakers,
    pub events: vm_ops::events::Bus,
}

impl AppState {
    /// Open the database (running pending migrations), the key and the blob store.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let db = db::connect(&config.database_url, config.db_max_connections).await?;
        db::migrate(&db).await?;
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
        let blob = crate::blob::open_local(&config.blob_dir())?;
        let auth_cache = Arc::new(PrincipalCache::default());
        crate::auth::cache::listen_for_changes(&db, auth_cache.clone());
        db::spawn_checkpointer(&db);
        let writes = db::WriteGate::for_database(&db);
        let sqlite = db::sqlite_direct::SqliteDirect::for_url(&config.database_url, &writes)?;
        let state = Self(Arc::new(Shared {
            auth_cache,
            sealer: Arc::new(Sealer::new(&key)),
            writes,
            sqlite,
            wakers: vm_ops::Wakers::default(),
            events: vm_ops::events::Bus::new(&db),
            access: Arc::new(AccessTokens::new(&key)),
            key: Arc::new(key),
            limits: RateLimits::new(&config),
            external_jwt,
            blob,
            db,
            config: Arc::new(config),
        }));
        vm_ops::events::listen(&state);
        vm_ops::sweeper::spawn(&state);
        Ok(state)
    }
}

/// Every `/api/v1` route. Each one must also be in [`openapi::ApiDoc`].
pub fn api_routes() -> RouteTable<AppState> {
    RouteTable::default()
        .get("/api/v1/health/live", health::live)
        .get("/api/v1/health/ready", health::ready)
        .get("/api/v1/health", health::summary)
        .post("/api/v1/auth/login", auth::routes::login)
        .post("/api/v1/auth/refresh", auth::routes::refresh)
        .post("/api/v1/auth/logout", auth::routes::logout)
        .get("/api/v1/auth/verify", auth::routes::verify)
        .get("/api/v1/auth/whoami", auth::routes::whoami)
        .get("/api/v1/users", users::routes::list)
        .post("/api/v1/users", users::routes::create)
        .get("/api/v1/users/{id}", users::routes::get)
        .patch("/api/v1/users/{id}", users::routes::patch)
        .get("/api/v1/tokens", api_tokens::routes::list)
        .post("/api/v1/tokens", api_tokens::routes::create)
        .delete("/api/v1/tokens/{id}", api_tokens::routes::revoke)
        .get("/api/v1/audit", audit::routes::list)
        .get("/api/v1/openapi.json", openapi::document)
        .get("/api/v1/resources/{kind}", records::routes::list_resources)
        .post("/api/v1/resources/{kind}", records::routes::create_resource)
        .get(
            "/api/v1/resources/{kind}/{id}",
            records::routes::get_resource,
        )
        .patch(
            "/api/v1/resources/{kind}/{id}",
            records::routes::patch_resource,
        )
        .delete(
            "/api/v1/resources/{kind}/{id}",
            records::routes::delete_resource,
        )
        .get("/api/v1/workspace/{kind}", records::routes::list_workspace)
        .post(
            "/api/v1/workspace/{kind}",
            records::routes::create_workspace,
        )
        .get(
            "/api/v1/workspace/{kind}/{id}",
            records::routes::get_workspace,
        )
        .patch(
            "/api/v1/workspace/{kind}/{id}",
            records::routes::patch_workspace,
        )
        .delete(
            "/api/v1/workspace/{kind}/{id}",
            records::routes::delete_workspace,
        )
        .get("/api/v1/bots", records::routes::list_bots)
        .post("/api/v1/bots", records::routes::create_bot)
        .get("/api/v1/bots/{id}", records::routes::get_bot)
        .patch("/api/v1/bots/{id}", records::routes::patch_bot)
        .delete("/api/v1/bots/{id}", records::routes::delete_bot)
        .get(
            "/api/v1/finance/operations",
            records::routes::list_operations,
        )
        .post(
            "/api/v1/finance/operations",
            records::routes::create_operation,
        )
        .get(
            "/api/v1/finance/operations/{id}",
            records::routes::get_operation,
        )
        .patch(
            "/api/v1/finance/operations/{id}",
            records::routes::patch_operation,
        )
        .delete(
            "/api/v1/finance/operations/{id}",
            records::routes::delete_operation,
        )
        .get("/api/v1/finance/summary", records::finance_routes::summary)
        .get("/api/v1/overview", records::finance_routes::get_overview)
        .get(
            "/api/v1/finance/daily-stats",
            records::finance_routes::daily_stats,
        )
        .post(
            "/api/v1/resources/{kind}/{id}/reveal",
            records::lifecycle_routes::reveal_resource,
        )
        .post(
            "/api/v1/bots/{id}/reveal",
            records::lifecycle_routes::reveal_bot,
        )
        .get(
            "/api/v1/bots/{id}/lifecycle",
            records::lifecycle_routes::get_lifecycle,
        )
        .get(
            "/api/v1/bots/{id}/lifecycle/transitions",
            records::lifecycle_routes::get_transitions,
        )
        .get(
            "/api/v1/bots/{id}/lifecycle/is-banned",
            records::lifecycle_routes::get_is_banned,
        )
        .get(
            "/api/v1/bots/{id}/lifecycle/log",
            records::lifecycle_routes::get_log,
        )
        .post(
            "/api/v1/bots/{id}/lifecycle/transition",
            records::lifecycle_routes::transition,
        )
        .post(
            "/api/v1/bots/{id}/lifecycle/ban",
            records::lifecycle_routes::ban,
        )
        .post(
            "/api/v1/bots/{id}/lifecycle/unban",
            records::lifecycle_routes::unban,
        )
        .get(
            "/api/v1/bots/{id}/archive",
            records::lifecycle_routes::get_archive,
        )
        .post("/api/v1/agents/pairings", agents::routes::create_pairing)
        .post("/api/v1/agents/register", agents::routes::register)
        .post("/api/v1/agents/quick-pair", agents::routes::quick_pair)
        .post("/api/v1/agents/heartbeat", agents::routes::heartbeat)
        .post("/api/v1/agents/token/rotate", agents::routes::rotate)
        .get("/api/v1/agents", agents::routes::list)
        .get("/api/v1/agents/{id}", agents::routes::get)
        .post("/api/v1/agents/{id}/revoke", agents::routes::revoke)
        .post("/api/v1/vm-ops/commands", vm_ops::routes::dispatch)
        .get("/api/v1/vm-ops/commands", vm_ops::routes::list)
        .post(
            "/api/v1/vm-ops/proxmox/{action}",
            vm_ops::routes::dispatch_proxmox,
        )
        .get("/api/v1/vm-ops/commands/next", vm_ops::routes::next)
        .get("/api/v1/vm-ops/events", vm_ops::routes::events)
        .get("/api/v1/vm-ops/commands/{id}", vm_ops::routes::get)
        .patch("/api/v1/vm-ops/commands/{id}", vm_ops::routes::report)
        .post(
            "/api/v1/vm-ops/commands/{id}/cancel",
            vm_ops::routes::cancel,
        )
        .get("/api/v1/settings", settings::routes::get_root)
        .put("/api/v1/settings", settings::routes::put_root)
        .patch("/api/v1/settings", settings::routes::patch_root)
        .get("/api/v1/settings/{*path}", settings::routes::get_path)
        .put("/api/v1/settings/{*path}", settings::routes::put_path)
        .patch("/api/v1/settings/{*path}", settings::routes::patch_path)
        .post("/api/v1/settings/{*path}", settings::routes::reveal)
}

/// The whole HTTP surface: API, OpenAPI document, metrics and the web UI.
pub fn router(state: AppState) -> Router {
    // Install the metrics recorder before the first request is counted.
    metrics::handle();
    let api = api_routes().into_router();
    Router::new()
        .merge(api)
        .route("/metrics", get(metrics::render))
        .merge(ui::router())
        .fallback(layers::not_found)
        .method_not_allowed_fallback(layers::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(from_fn_with_state(state.clone(), audit::track_privileged))
        .layer(from_fn(metrics::track))
        .layer(from_fn_with_state(
            state.limits.clone(),
            rate_limit::by_address,
        ))
        .layer(from_fn_with_state(
            Arc::new(state.config.trusted_proxies.clone()),
            client_addr::attach,
        ))
        .layer(layers::cors(&state.config.cors_origins))
        .layer(CatchPanicLayer::custom(layers::panic_response))
        .layer(from_fn(layers::security_headers))
        .layer(from_fn(layers::request_id))
        .with_state(state)
}

/// A server that is accepting connections.
pub struct Running {
    pub addr: SocketAddr,
    /// The first-run setup link, when no user exists yet.
    pub setup_link: Option<String>,
    pub state: AppState,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish, then close the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await??;
        if let Some(direct) = &self.state.sqlite {
            direct.close().await;
        }
        self.state.db.clone().close().await?;
        Ok(())
    }
}

/// Bind (the configured address, or `listener` when given) and serve in the background.
pub async fn start(config: Config, listener: Option<TcpListener>) -> anyhow::Result<Running> {
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind(config.listen).await?,
    };
    let state = AppState::open(config).await?;
    let setup_link = setup::issue_link_if_needed(&state).await?;
    let addr = listener.local_addr()?;
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Ok(Running {
        addr,
        setup_link,
        state,
        shutdown: tx,
        task,
    })
}

/// `botmox serve`: run until SIGTERM or SIGINT, then shut down gracefully.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // Listen for the signals before the port opens, so an early SIGTERM is still graceful.
    let stop = StopSignals::install()?;
    let running = start(config, None).await?;
    tracing::info!(addr = %running.addr, public_url = %running.state.config.public_url, "listening");
    if let Some(link) = &running.setup_link {
        tracing::warn!(
            "No user exists yet. Create the first admin within {}s at: {link}",
            running.state.config.setup_link_ttl
        );
    }
    stop.wait().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM and SIGINT, registered up front.
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
