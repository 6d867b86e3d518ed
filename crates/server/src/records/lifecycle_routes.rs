//! `/api/v1/bots/{id}/lifecycle/*`, the bot's log and archive, and the audited reveal of a
//! record's credential.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use botmox_proto::{Envelope, PageMeta};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::kinds::Kind;
use super::lifecycle::{self, TransitionRequest};
use super::routes::{resource, with_etag};
use super::service;
use crate::app::AppState;
use crate::audit::AuditSlot;
use crate::auth::Auth;
use crate::http::paging::Paging;
use crate::http::{ApiJson, ApiPath, ApiQuery, ApiResult, answer};

fn ok(value: Value) -> Response {
    answer(StatusCode::OK, value)
}

/// The bot's `lifecycle` object, or `null`.
#[utoipa::path(get, path = "/api/v1/bots/{id}/lifecycle", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200), (status = 404)))]
pub async fn get_lifecycle(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let bot = service::get(&s, &auth, Kind::Bot, &id).await?;
    Ok(ok(lifecycle::lifecycle(&bot)))
}

/// The bot's stage transitions (empty when none).
#[utoipa::path(get, path = "/api/v1/bots/{id}/lifecycle/transitions", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200), (status = 404)))]
pub async fn get_transitions(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let bot = service::get(&s, &auth, Kind::Bot, &id).await?;
    let transitions = lifecycle::lifecycle(&bot)
        .get("stage_transitions")
        .cloned()
        .unwrap_or_else(|| json!([]));
    Ok(ok(transitions))
}

/// `{banned: bool}`.
#[utoipa::path(get, path = "/api/v1/bots/{id}/lifecycle/is-banned", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200), (status = 404)))]
pub async fn get_is_banned(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let bot = service::get(&s, &auth, Kind::Bot, &id).await?;
    Ok(ok(json!({ "banned": lifecycle::is_banned(&bot) })))
}

/// Move the bot to another status (not `banned`; a banned bot answers 409 and must be
/// unbanned). Logged.
#[utoipa::path(post, path = "/api/v1/bots/{id}/lifecycle/transition", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TransitionRequest,
    responses((status = 200, description = "Envelope with the bot"), (status = 400), (status = 404), (status = 409)))]
pub async fn transition(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TransitionRequest>,
) -> ApiResult<Response> {
    let bot = lifecycle::transition(&s, &auth, &id, &body.status).await?;
    Ok(with_etag(StatusCode::OK, &bot))
}

/// Ban: `{ban_date: "DD.MM.YYYY", ban_reason, ban_mechanism}`. Logged and archived; a
/// banned bot answers 409.
#[utoipa::path(post, path = "/api/v1/bots/{id}/lifecycle/ban", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Object,
    responses((status = 200, description = "Envelope with the bot"), (status = 400), (status = 404), (status = 409)))]
pub async fn ban(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let bot = lifecycle::ban(&s, &auth, &id, body).await?;
    Ok(with_etag(StatusCode::OK, &bot))
}

/// Unban: back to the status before the ban. Logged.
#[utoipa::path(post, path = "/api/v1/bots/{id}/lifecycle/unban", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "Envelope with the bot"), (status = 400, description = "Bot is not banned"), (status = 404)))]
pub async fn unban(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let bot = lifecycle::unban(&s, &auth, &id).await?;
    Ok(with_etag(StatusCode::OK, &bot))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LogParams {
    pub page: Option<u64>,
    pub limit: Option<u64>,
}

/// The bot's lifecycle log, newest first (kept after the bot is deleted).
#[utoipa::path(get, path = "/api/v1/bots/{id}/lifecycle/log", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path), LogParams), responses((status = 200), (status = 404)))]
pub async fn get_log(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<LogParams>,
) -> ApiResult<Response> {
    let (page, limit) = Paging {
        page: p.page,
        limit: p.limit,
    }
    .resolve()?;
    let (entries, total) = lifecycle::log(&s, &auth, &id, page, limit).await?;
    Ok(Json(Envelope::page(entries, PageMeta { total, page, limit })).into_response())
}

/// The bot's archive: one snapshot per ban, newest first (kept after the bot is deleted).
#[utoipa::path(get, path = "/api/v1/bots/{id}/archive", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200), (status = 404)))]
pub async fn get_archive(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(ok(Value::Array(lifecycle::archive(&s, &auth, &id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RevealRequest {
    /// Path of the credential in the record, e.g. `password` or `account/password`.
    pub field: String,
}

async fn reveal_in(
    state: &AppState,
    auth: &Auth,
    slot: &AuditSlot,
    kind: Kind,
    id: &str,
    field: &str,
) -> ApiResult<Response> {
    slot.describe_always("secret.reveal", format!("{}:{id}/{field}", kind.as_str()));
    let value = service::reveal(state, auth, kind, id, field).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(Envelope::ok(json!({ "field": field, "value": value }))),
    )
        .into_response())
}

/// The plaintext of one credential of a bot, for its owner or an admin; audited.
#[utoipa::path(post, path = "/api/v1/bots/{id}/reveal", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RevealRequest,
    responses((status = 200, description = "`{field, value}`; Cache-Control: no-store"), (status = 403), (status = 404)))]
pub async fn reveal_bot(
    State(s): State<AppState>,
    auth: Auth,
    slot: AuditSlot,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RevealRequest>,
) -> ApiResult<Response> {
    reveal_in(&s, &auth, &slot, Kind::Bot, &id, &body.field).await
}

/// The plaintext of one credential of a licence, proxy or subscription, for its owner or an
/// admin; audited.
#[utoipa::path(post, path = "/api/v1/resources/{kind}/{id}/reveal", tag = "records", security(("bearer" = [])),
    params(("kind" = String, Path), ("id" = String, Path)), request_body = RevealRequest,
    responses((status = 200, description = "`{field, value}`; Cache-Control: no-store"), (status = 403), (status = 404)))]
pub async fn reveal_resource(
    State(s): State<AppState>,
    auth: Auth,
    slot: AuditSlot,
    ApiPath((kind, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RevealRequest>,
) -> ApiResult<Response> {
    reveal_in(&s, &auth, &slot, resource(&kind)?, &id, &body.field).await
}
