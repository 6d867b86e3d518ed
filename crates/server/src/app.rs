//! Assembly of the server: the router with its middleware stack around the API and the web
//! UI, and the listener with graceful shutdown.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Config;
use crate::http::{client_addr, layers, metrics, rate_limit};
use crate::state::AppState;
use crate::{api, audit, health, licensing, setup, ui, vm_jobs, vm_ops};

/// The whole HTTP surface: API, OpenAPI document, metrics and the web UI, inside the
/// middleware (outermost first): the edge (request id, access log, security headers,
/// metrics), panic catching, CORS (only with configured origins), the gate (client address,
/// per-address rate limit, audit of privileged mutations), the body limit.
pub fn router(state: AppState) -> Router {
    // Install the metrics recorder before the first request is counted.
    metrics::handle();
    let cors =
        (!state.config.cors_origins.is_empty()).then(|| layers::cors(&state.config.cors_origins));
    Router::new()
        .merge(api::router())
        .route("/metrics", get(health::render_metrics))
        .merge(ui::router())
        .fallback(ui::error_page::not_found)
        .method_not_allowed_fallback(layers::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(from_fn_with_state(state.clone(), gate))
        .layer(tower::util::option_layer(cors))
        .layer(CatchPanicLayer::custom(layers::panic_response))
        .layer(from_fn_with_state(state.config.access_log, layers::edge))
        .with_state(state)
}

/// The client address, the per-address rate limit and the audit of privileged mutations,
/// in one layer.
async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let addr = client_addr::attach(&mut req, &state.config.trusted_proxies);
    let checked = rate_limit::check_address(&state.limits, req.method(), req.uri().path(), addr);
    if let Err(e) = checked {
        return e.into_response();
    }
    audit::track_privileged(State(state), req, next).await
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
        self.state.close().await
    }
}

/// Bind (the configured address, or `listener` when given) and serve in the background.
pub async fn start(config: Config, listener: Option<TcpListener>) -> anyhow::Result<Running> {
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind(config.listen).await?,
    };
    let state = AppState::open(config).await?;
    vm_ops::sweeper::spawn(&state);
    vm_jobs::runner::spawn(&state, state.config.vm_job_workers);
    state.every(
        std::time::Duration::from_secs(30),
        "lease sweep",
        async |state| licensing::service::sweep(&state.db).await,
    );
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
