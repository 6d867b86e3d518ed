//! Liveness and readiness (spec api.md §4), and the Prometheus metrics. Readiness probes the
//! database and the blob store with a timeout and answers 503 when either fails.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use botmox_proto::{Envelope, ErrorCode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::{ApiError, metrics};
use crate::state::AppState;

/// The routes of this module, with their OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(summary))
}

pub const SERVICE: &str = "botmox";
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    pub service: &'static str,
    pub status: &'static str,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    pub required: bool,
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub database: Check,
    pub blob_store: Check,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    pub status: &'static str,
    pub ready: bool,
    pub checks: Checks,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HealthSummary)]
pub struct Summary {
    pub service: &'static str,
    pub version: &'static str,
    pub timestamp: DateTime<Utc>,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// `local` or `s3`.
    pub blob_store: &'static str,
    pub database_ready: bool,
    pub blob_store_ready: bool,
}

async fn check_database(state: &AppState) -> Check {
    let probe = state.db.ping();
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => Check {
            required: true,
            ready: true,
            reason: None,
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database probe failed");
            Check {
                required: true,
                ready: false,
                reason: Some("database query failed".into()),
            }
        }
        Err(_) => Check {
            required: true,
            ready: false,
            reason: Some("database probe timed out".into()),
        },
    }
}

async fn check_blobs(state: &AppState) -> Check {
    match tokio::time::timeout(PROBE_TIMEOUT, state.blob.probe()).await {
        Ok(Ok(())) => Check {
            required: true,
            ready: true,
            reason: None,
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "blob store probe failed");
            Check {
                required: true,
                ready: false,
                reason: Some("blob store write failed".into()),
            }
        }
        Err(_) => Check {
            required: true,
            ready: false,
            reason: Some("blob store probe timed out".into()),
        },
    }
}

/// The process is up.
#[utoipa::path(get, path = "/api/v1/health/live", tag = "health", responses((status = 200, body = Envelope<Live>)))]
pub async fn live() -> Json<Envelope<Live>> {
    Json(Envelope::ok(Live {
        service: SERVICE,
        status: "live",
        timestamp: Utc::now(),
    }))
}

/// The server can serve: database and blob store answer. 503 `SERVICE_UNAVAILABLE` otherwise,
/// with the checks in `error.details`.
#[utoipa::path(get, path = "/api/v1/health/ready", tag = "health",
    responses((status = 200, body = Envelope<Ready>), (status = 503, description = "not ready")))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let (database, blob_store) = tokio::join!(check_database(&state), check_blobs(&state));
    let ready = database.ready && blob_store.ready;
    let body = Ready {
        status: if ready { "ready" } else { "not-ready" },
        ready,
        checks: Checks {
            database,
            blob_store,
        },
        timestamp: Utc::now(),
    };
    if ready {
        Json(Envelope::ok(body)).into_response()
    } else {
        ApiError::new(ErrorCode::ServiceUnavailable, "Not ready")
            .with_details(serde_json::to_value(&body).unwrap_or_default())
            .into_response()
    }
}

/// Overview of the service and its backends; always 200.
#[utoipa::path(get, path = "/api/v1/health", tag = "health", responses((status = 200, body = Envelope<Summary>)))]
pub async fn summary(State(state): State<AppState>) -> Json<Envelope<Summary>> {
    let (database, blob_store) = tokio::join!(check_database(&state), check_blobs(&state));
    Json(Envelope::ok(Summary {
        service: SERVICE,
        version: env!("CARGO_PKG_VERSION"),
        timestamp: Utc::now(),
        database: state.db.engine().as_str(),
        blob_store: state.blob.kind(),
        database_ready: database.ready,
        blob_store_ready: blob_store.ready,
    }))
}

/// `GET /metrics` in Prometheus text format, with the database pool's figures.
pub async fn render_metrics(State(state): State<AppState>) -> String {
    let (size, idle) = state.db.pool_stats();
    ::metrics::gauge!("db_pool_connections").set(f64::from(size));
    ::metrics::gauge!("db_pool_idle_connections").set(f64::from(idle));
    ::metrics::gauge!("db_pool_max_connections").set(f64::from(state.config.db_max_connections));
    metrics::handle().render()
}
