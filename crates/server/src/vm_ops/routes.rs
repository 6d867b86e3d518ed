//! `/api/v1/vm-ops/*`: dispatch, the agent's long-poll and reports, cancel and reads.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use botmox_proto::agent::AGENT_TOKEN_PREFIX;
use botmox_proto::command::{
    CommandView, DispatchRequest, EventsQuery, ListCommandsQuery, NextQuery,
    ProxmoxDispatchRequest, ReportRequest,
};
use botmox_proto::{Envelope, ErrorEnvelope};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service;
use super::stream::{self, Filter, Holder};
use crate::agents;
use crate::agents::principal::{AgentAuth, FleetAgent};
use crate::auth::extract::bearer;
use crate::db::entity::agent;
use crate::http::{ApiError, ApiJson, ApiPath, ApiResult, Valid, ValidQuery, answer};
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

/// Queue a command of the catalogue for an agent; 409 `AGENT_OFFLINE` when the agent is
/// offline and queuing was not asked. A read-only command equal to one of the last seconds
/// answers with that one.
#[utoipa::path(post, path = "/api/v1/vm-ops/commands", tag = "vm-ops", security(("bearer" = [])),
    request_body = DispatchRequest,
    responses((status = 202, body = Envelope<CommandView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "AGENT_OFFLINE, or the agent is not active")))]
pub async fn dispatch(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let request = DispatchRequest::parse(body)?;
    Ok(answer(
        StatusCode::ACCEPTED,
        service::dispatch(&s, &auth, request).await?.view(),
    ))
}

/// Queue `proxmox.<action>` with `params` as its payload (the reference's route).
#[utoipa::path(post, path = "/api/v1/vm-ops/proxmox/{action}", tag = "vm-ops", security(("bearer" = [])),
    params(("action" = crate::openapi::ProxmoxAction, Path, description = "An action of the catalogue, e.g. start or list-vms")),
    request_body = ProxmoxDispatchRequest,
    responses((status = 202, body = Envelope<CommandView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn dispatch_proxmox(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(action): ApiPath<String>,
    Valid(body): Valid<ProxmoxDispatchRequest>,
) -> ApiResult<Response> {
    let request = body
        .into_dispatch(&action)
        .map_err(botmox_proto::validate::FieldErrors::from)?;
    Ok(answer(
        StatusCode::ACCEPTED,
        service::dispatch(&s, &auth, request).await?.view(),
    ))
}

/// The agent's next command, claimed for it (with `claim_id`), or `null` after the wait.
#[utoipa::path(get, path = "/api/v1/vm-ops/commands/next", tag = "vm-ops", security(("bearer" = [])),
    params(NextQuery),
    responses((status = 200, body = Envelope<Option<CommandView>>, description = "A claimed command, or null"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "AGENT_REVOKED: stop, pair again")))]
pub async fn next(
    State(s): State<AppState>,
    FleetAgent(agent): FleetAgent,
    ValidQuery(q): ValidQuery<NextQuery>,
) -> ApiResult<Response> {
    let command = service::next(&s, &agent, q.wait()).await?;
    Ok(answer(
        StatusCode::OK,
        command.as_ref().map(|c| c.agent_view()),
    ))
}

/// The claiming agent reports `running`, then `succeeded` (with `result`) or `failed` (with
/// `error_message`), quoting its claim id.
#[utoipa::path(patch, path = "/api/v1/vm-ops/commands/{id}", tag = "vm-ops", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReportRequest,
    responses((status = 200, body = Envelope<CommandView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "AGENT_REVOKED (stop, pair again), not the current claim, or a transition the command cannot make")))]
pub async fn report(
    State(s): State<AppState>,
    FleetAgent(agent): FleetAgent,
    ApiPath(id): ApiPath<String>,
    Valid(body): Valid<ReportRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::report(&s, &agent, &id, body).await?.view(),
    ))
}

/// One command (its dispatcher or an admin).
#[utoipa::path(get, path = "/api/v1/vm-ops/commands/{id}", tag = "vm-ops", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<CommandView>), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
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
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<CommandView>), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
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

/// The caller's commands (admins: the tenant's), newest first, at most 100.
#[utoipa::path(get, path = "/api/v1/vm-ops/commands", tag = "vm-ops", security(("bearer" = [])),
    params(ListCommandsQuery),
    responses((status = 200, body = Envelope<Vec<CommandView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    ValidQuery(q): ValidQuery<ListCommandsQuery>,
) -> ApiResult<Response> {
    let commands = service::list(&s, &auth, &q).await?;
    Ok(answer(
        StatusCode::OK,
        commands.iter().map(|c| c.view()).collect::<Vec<_>>(),
    ))
}

/// Who watches the event stream: a human (session, API token) or an agent (agent token),
/// with the token, so the stream can check it again when access changes.
pub enum Watcher {
    Human(Auth, String),
    Agent(Box<agent::Model>),
}

impl FromRequestParts<AppState> for Watcher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_some_and(|t| t.starts_with(AGENT_TOKEN_PREFIX)) {
            let AgentAuth(agent) = AgentAuth::from_request_parts(parts, state).await?;
            Ok(Self::Agent(Box::new(agent)))
        } else {
            let auth = Auth::from_request_parts(parts, state).await?;
            let token = bearer(parts).unwrap_or_default().to_owned();
            Ok(Self::Human(auth, token))
        }
    }
}

/// Server-Sent Events of the command bus: `event: vm-command` for command changes and
/// `event: agent-status` for agents going online, offline or revoked; `id:` is the durable
/// event id. Humans see their own commands and agents (admins: the tenant's); an agent sees
/// its own. Replays after `Last-Event-ID` (or `last_event_id`).
#[utoipa::path(get, path = "/api/v1/vm-ops/events", tag = "vm-ops", security(("bearer" = [])),
    params(EventsQuery),
    responses((status = 200, content_type = "text/event-stream", description = "`vm-command` and `agent-status` events"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn events(
    State(s): State<AppState>,
    watcher: Watcher,
    headers: axum::http::HeaderMap,
    ValidQuery(p): ValidQuery<EventsQuery>,
) -> ApiResult<Response> {
    let last = stream::resume_after(&headers, p.last_event_id)?;
    let (filter, holder) = match watcher {
        Watcher::Agent(agent) => {
            if p.agent_id.as_ref().is_some_and(|a| a != &agent.id) {
                return Err(ApiError::forbidden(
                    "An agent may only watch its own events",
                ));
            }
            let holder = Holder::Agent {
                id: agent.id.clone(),
            };
            (Filter::for_agent(&agent, p.command_id), holder)
        }
        Watcher::Human(auth, token) => {
            if let Some(a) = &p.agent_id {
                // Only an agent the caller may see (404 otherwise, like its other routes).
                agents::service::get(&s, &auth, a).await?;
            }
            let filter = Filter::for_caller(&auth, p.agent_id, p.command_id);
            (filter, Holder::Bearer { token, auth })
        }
    };
    Ok(stream::stream(s, filter, holder, last)
        .await?
        .into_response())
}
