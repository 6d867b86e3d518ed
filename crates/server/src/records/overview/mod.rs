//! `GET /api/v1/overview`: the dashboard's figures, read across every kind of record, the
//! finance totals and the settings.

pub mod service;
pub mod store;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use botmox_proto::Envelope;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiResult;
use crate::principal::Auth;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_overview))
}

/// The Overview dashboard's figures: bots per project and status, resources by state, money
/// of the last 30 days (USD), notes, and what expires within `alerts.warning_days`.
#[utoipa::path(get, path = "/api/v1/overview", tag = "finance", security(("bearer" = [])),
    responses((status = 200, description = "Envelope with the figures", body = Envelope<service::Overview>)))]
pub async fn get_overview(State(s): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(Json(Envelope::ok(service::overview(&s, &auth).await?)).into_response())
}
