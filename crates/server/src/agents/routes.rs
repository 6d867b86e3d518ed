//! `/api/v1/agents/*` (spec api.md §13): pairings and agent management for humans;
//! registration (public, rate-limited), heartbeat and token rotation for agents.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use botmox_proto::agent::{
    AgentView, CreatePairingRequest, HeartbeatAnswer, HeartbeatRequest, PairingCreated,
    QuickPairRequest, RegisterRequest, RegisteredAgent, RevokeRequest, RotatedToken,
};
use botmox_proto::{Envelope, ErrorEnvelope, PageMeta};

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::principal::{AgentAuth, FleetAgent};
use super::service;
use super::store::Narrow;
use crate::clock::now_ms;
use crate::http::layers::RequestId;
use crate::http::paging::Paging;
use crate::http::{ApiPath, ApiQuery, ApiResult, ClientAddr, Valid, answer};
use crate::principal::Auth;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_pairing))
        .routes(routes!(register))
        .routes(routes!(quick_pair))
        .routes(routes!(heartbeat))
        .routes(routes!(rotate))
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(revoke))
}

/// Create a one-time pairing code (default 15 minutes) with its one-paste bundle, URI and link.
#[utoipa::path(post, path = "/api/v1/agents/pairings", tag = "agents", security(("bearer" = [])),
    request_body = CreatePairingRequest,
    responses((status = 201, body = Envelope<PairingCreated>, description = "The pairing; the code is shown only here"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "pairing for someone else without being an admin")))]
pub async fn create_pairing(
    State(s): State<AppState>,
    auth: Auth,
    Valid(body): Valid<CreatePairingRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::CREATED,
        service::create_pairing(&s, &auth, body).await?,
    ))
}

/// Exchange a pairing code for an agent token (public; limited like sign-in).
#[utoipa::path(post, path = "/api/v1/agents/register", tag = "agents", request_body = RegisterRequest,
    responses((status = 201, body = Envelope<RegisteredAgent>, description = "The agent with `agent_token`"),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope, description = "PAIRING_NOT_FOUND"),
        (status = 410, body = ErrorEnvelope, description = "PAIRING_EXPIRED"), (status = 429, body = ErrorEnvelope)))]
pub async fn register(
    State(s): State<AppState>,
    Valid(body): Valid<RegisterRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::CREATED,
        service::register(&s, body).await?,
    ))
}

/// Pair with an account's e-mail and password: only when the server runs with
/// `agent_quick_pair` (off by default: 404 otherwise); throttled like sign-in.
#[utoipa::path(post, path = "/api/v1/agents/quick-pair", tag = "agents", request_body = QuickPairRequest,
    responses((status = 201, body = Envelope<RegisteredAgent>, description = "The agent with `agent_token`"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope, description = "INVALID_CREDENTIALS"),
        (status = 404, body = ErrorEnvelope, description = "quick-pair disabled"), (status = 429, body = ErrorEnvelope)))]
pub async fn quick_pair(
    State(s): State<AppState>,
    addr: ClientAddr,
    id: Option<axum::Extension<RequestId>>,
    Valid(body): Valid<QuickPairRequest>,
) -> ApiResult<Response> {
    let request_id = id.map(|e| e.0.0);
    Ok(answer(
        StatusCode::CREATED,
        service::quick_pair(&s, body, addr, request_id).await?,
    ))
}

/// The agent's heartbeat (agent token): version, platform, capabilities, host facts.
#[utoipa::path(post, path = "/api/v1/agents/heartbeat", tag = "agents", security(("bearer" = [])),
    request_body = HeartbeatRequest,
    responses((status = 200, body = Envelope<HeartbeatAnswer>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "AGENT_REVOKED: stop, pair again")))]
pub async fn heartbeat(
    State(s): State<AppState>,
    FleetAgent(agent): FleetAgent,
    Valid(body): Valid<HeartbeatRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::heartbeat(&s, agent, body).await?,
    ))
}

/// A new agent token (agent token); the old one stops working.
#[utoipa::path(post, path = "/api/v1/agents/token/rotate", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = Envelope<RotatedToken>), (status = 401, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "AGENT_REVOKED")))]
pub async fn rotate(State(s): State<AppState>, AgentAuth(agent): AgentAuth) -> ApiResult<Response> {
    Ok(answer(StatusCode::OK, service::rotate(&s, agent).await?))
}

/// `GET /agents`'s query: a name search and paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentListParams {
    /// Only agents whose name holds this text, in any case (at most 200 characters:
    /// `service::FIND_CHARS`).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// 1-based page number, 1 to 1000000 [default: 1].
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page, 1 to 200 [default: 50].
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// The caller's agents (admins: the tenant's), newest first, with `online`. Without `q`,
/// `page` and `limit`, every one of them (as the reference answers); with any of them, that
/// page of those whose name holds `q`, and `meta` (a fleet of thousands is better read, and
/// searched, a page at a time).
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", params(AgentListParams), security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<AgentView>>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<AgentListParams>,
) -> ApiResult<Response> {
    let AgentListParams { q, page, limit } = params;
    if q.is_none() && page.is_none() && limit.is_none() {
        return Ok(answer(StatusCode::OK, service::list(&s, &auth).await?));
    }
    let find = q.unwrap_or_default();
    let (page, limit) = Paging { page, limit }.resolve()?;
    let narrow = Narrow {
        find: find.trim(),
        active_only: false,
    };
    let (agents, total) = service::list_page(&s, &auth, narrow, page, limit).await?;
    let meta = PageMeta { total, page, limit };
    Ok((StatusCode::OK, Json(Envelope::page(agents, meta))).into_response())
}

/// One agent (its owner or an admin).
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<AgentView>), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn get(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::get(&s, &auth, &id).await?.view(now_ms()),
    ))
}

/// Revoke an agent (its owner or an admin): its token fails on its next request.
#[utoipa::path(post, path = "/api/v1/agents/{id}/revoke", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RevokeRequest,
    responses((status = 200, body = Envelope<AgentView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn revoke(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    Valid(body): Valid<RevokeRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::revoke(&s, &auth, &id, body).await?.view(now_ms()),
    ))
}
