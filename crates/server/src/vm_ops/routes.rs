//! `/api/v1/vm-ops/*`: dispatch, the agent's long-poll and reports, cancel and reads.

use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service;
use super::stream::{self, Filter};
use crate::agents;
use crate::agents::principal::{AgentAuth, TOKEN_PREFIX};
use crate::auth::extract::bearer;
use crate::db::entity::agent;
use crate::db::entity::agent_command::CommandView;
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, answer};
use crate::principal::Auth;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dispatch, list))
        .routes(routes!(dispatch_proxmox))
        .routes(routes!(next))
        .routes(routes!(events))
        .routes(routes!(get, report))
        .routes(routes!(cancel))
}

/// Queue a command for an agent (`{agent_id, command_type, payload?, expires_in_seconds? 10..3600,
/// queue_if_offline?}`); 409 `AGENT_OFFLINE` when the agent is offline and queuing was not asked.
#[utoipa::path(post, path = "/api/v1/vm-ops/commands", tag = "vm-ops", security(("bearer" = [])),
    request_body = Object, responses((status = 202, body = CommandView), (status = 400), (status = 404), (status = 409)))]
pub async fn dispatch(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::ACCEPTED,
        service::dispatch(&s, &auth, body).await?.view(),
    ))
}

/// Queue `proxmox.<action>` with `{agent_id, params?, queue_if_offline?}` (the reference's route).
#[utoipa::path(post, path = "/api/v1/vm-ops/proxmox/{action}", tag = "vm-ops", security(("bearer" = [])),
    params(("action" = String, Path)), request_body = Object,
    responses((status = 202, body = CommandView), (status = 400), (status = 404), (status = 409)))]
pub async fn dispatch_proxmox(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(action): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let Value::Object(mut body) = body else {
        return Err(ApiError::bad_request("Request body must be a JSON object"));
    };
    let params = body.remove("params").unwrap_or_else(|| json!({}));
    body.insert("payload".into(), params);
    body.insert("command_type".into(), json!(format!("proxmox.{action}")));
    Ok(answer(
        StatusCode::ACCEPTED,
        service::dispatch(&s, &auth, Value::Object(body))
            .await?
            .view(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextParams {
    /// How long to wait for a command, 1000..60000 ms (default 25000).
    pub timeout_ms: Option<u64>,
}

/// The agent's next command, claimed for it (with `claim_id`), or `null` after the wait.
#[utoipa::path(get, path = "/api/v1/vm-ops/commands/next", tag = "vm-ops", security(("bearer" = [])),
    params(NextParams), responses((status = 200, description = "A claimed command or null"), (status = 401)))]
pub async fn next(
    State(s): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiQuery(p): ApiQuery<NextParams>,
) -> ApiResult<Response> {
    let timeout = p.timeout_ms.unwrap_or(25_000);
    if !(1000..=60_000).contains(&timeout) {
        return Err(ApiError::field(
            "timeout_ms",
            "must be between 1000 and 60000",
        ));
    }
    let command = service::next(&s, &agent, Duration::from_millis(timeout)).await?;
    Ok(answer(StatusCode::OK, command.as_ref().map(|c| c.view())))
}

/// The claiming agent reports: `{claim_id, status: running|succeeded|failed, result?, error_message?}`.
#[utoipa::path(patch, path = "/api/v1/vm-ops/commands/{id}", tag = "vm-ops", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = CommandView), (status = 401), (status = 404), (status = 409)))]
pub async fn report(
    State(s): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::report(&s, &agent, &id, body).await?.view(),
    ))
}

/// One command (its dispatcher or an admin).
#[utoipa::path(get, path = "/api/v1/vm-ops/commands/{id}", tag = "vm-ops", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = CommandView), (status = 404)))]
pub async fn get(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::get(&s, &auth, &id).await?.view(),
    ))
}

/// Cancel a queued command (its dispatcher or an admin); 409 once claimed.
#[utoipa::path(post, path = "/api/v1/vm-ops/commands/{id}/cancel", tag = "vm-ops", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = CommandView), (status = 404), (status = 409)))]
pub async fn cancel(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::cancel(&s, &auth, &id).await?.view(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub agent_id: Option<String>,
    pub status: Option<String>,
    pub command_type: Option<String>,
}

/// The caller's commands (admins: the tenant's), newest first, at most 100.
#[utoipa::path(get, path = "/api/v1/vm-ops/commands", tag = "vm-ops", security(("bearer" = [])),
    params(ListParams), responses((status = 200, body = [CommandView])))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Response> {
    let filters: Map<String, Value> = [
        ("agent_id", p.agent_id),
        ("status", p.status),
        ("command_type", p.command_type),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), json!(v))))
    .collect();
    let commands = service::list(&s, &auth, &filters).await?;
    Ok(answer(
        StatusCode::OK,
        commands.iter().map(|c| c.view()).collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    pub agent_id: Option<String>,
    pub command_id: Option<String>,
    /// Replay events after this id (the `Last-Event-ID` header takes precedence).
    pub last_event_id: Option<i64>,
}

/// Who watches the event stream: a human (session, API token) or an agent (agent token).
pub enum Watcher {
    Human(Auth),
    Agent(Box<agent::Model>),
}

impl FromRequestParts<AppState> for Watcher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_some_and(|t| t.starts_with(TOKEN_PREFIX)) {
            let AgentAuth(agent) = AgentAuth::from_request_parts(parts, state).await?;
            Ok(Self::Agent(Box::new(agent)))
        } else {
            Ok(Self::Human(Auth::from_request_parts(parts, state).await?))
        }
    }
}

/// Server-Sent Events of the command bus: `event: vm-command` for command changes and
/// `event: agent-status` for agents going online, offline or revoked; `id:` is the durable
/// event id. Humans see their own commands and agents (admins: the tenant's); an agent sees
/// its own. Replays after `Last-Event-ID` (or `last_event_id`).
#[utoipa::path(get, path = "/api/v1/vm-ops/events", tag = "vm-ops", security(("bearer" = [])),
    params(EventParams), responses((status = 200, description = "text/event-stream"), (status = 400), (status = 403), (status = 404)))]
pub async fn events(
    State(s): State<AppState>,
    watcher: Watcher,
    headers: axum::http::HeaderMap,
    ApiQuery(p): ApiQuery<EventParams>,
) -> ApiResult<Response> {
    let last = stream::resume_after(&headers, p.last_event_id)?;
    let filter = match watcher {
        Watcher::Agent(agent) => {
            if p.agent_id.as_ref().is_some_and(|a| a != &agent.id) {
                return Err(ApiError::forbidden(
                    "An agent may only watch its own events",
                ));
            }
            Filter::for_agent(&agent, p.command_id)
        }
        Watcher::Human(auth) => {
            if let Some(a) = &p.agent_id {
                // Only an agent the caller may see (404 otherwise, like its other routes).
                agents::service::get(&s, &auth, a).await?;
            }
            Filter::for_caller(&auth, p.agent_id, p.command_id)
        }
    };
    Ok(stream::stream(s, filter, last).await?.into_response())
}
