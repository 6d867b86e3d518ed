//! `/api/v1/bots`: the bot records (list, read, create, patch, delete), their lifecycle
//! (`/bots/{id}/lifecycle/*`), log and archive, health, and the audited reveal of a bot's
//! credential.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use botmox_proto::records::identity::{
    AccountProposal, AccountRequest, Names, NamesQuery, Person, PersonRequest,
};
use botmox_proto::records::schedule::{Schedule, ScheduleParams};
use botmox_proto::{Envelope, PageMeta};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::health;
use super::identity;
use super::schedule;
use super::service::{self as lifecycle, TransitionRequest};
use crate::audit::AuditSlot;
use crate::http::paging::Paging;
use crate::http::{ApiJson, ApiPath, ApiQuery, ApiResult, Valid, ValidQuery, answer};
use crate::openapi::{
    Ban, BotCreate, BotPatch, Deleted, RecordAnswer, RecordPage, Transition, ValueAnswer, ValuePage,
};
use crate::principal::Auth;
use crate::records::documents::routes::{
    DeleteParams, ListParams, RevealRequest, create_in, delete_in, get_in, list_in, patch_in,
    reveal_in, with_etag,
};
use crate::records::documents::service;
use crate::records::kinds::Kind;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_bots, create_bot))
        .routes(routes!(get_bot, patch_bot, delete_bot))
        .routes(routes!(reveal_bot))
        .routes(routes!(get_lifecycle))
        .routes(routes!(get_transitions))
        .routes(routes!(get_is_banned))
        .routes(routes!(get_log))
        .routes(routes!(transition))
        .routes(routes!(ban))
        .routes(routes!(unban))
        .routes(routes!(get_archive))
        .routes(routes!(get_health))
        .routes(routes!(generate_person))
        .routes(routes!(generate_account))
        .routes(routes!(generate_schedule))
        .routes(routes!(character_names))
}

/// List bots.
#[utoipa::path(get, path = "/api/v1/bots", tag = "records", security(("bearer" = [])), params(ListParams),
    responses((status = 200, description = "Envelope with the page of bots and `meta`", body = RecordPage), (status = 400)))]
pub async fn list_bots(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Response> {
    list_in(&s, &auth, Kind::Bot, p).await
}

/// Create a bot.
#[utoipa::path(post, path = "/api/v1/bots", tag = "records", security(("bearer" = [])), request_body = BotCreate,
    responses((status = 201, description = "Envelope with the bot; ETag header", body = RecordAnswer), (status = 400), (status = 409)))]
pub async fn create_bot(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    create_in(&s, &auth, Kind::Bot, body).await
}

/// Read one bot.
#[utoipa::path(get, path = "/api/v1/bots/{id}", tag = "records", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "Envelope with the bot; ETag header", body = RecordAnswer), (status = 404)))]
pub async fn get_bot(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    get_in(&s, &auth, Kind::Bot, &id).await
}

/// Change a bot; honours `If-Match`. A banned bot leaves `banned` only through unban.
#[utoipa::path(patch, path = "/api/v1/bots/{id}", tag = "records", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = BotPatch,
    responses((status = 200, description = "Envelope with the merged bot; ETag header", body = RecordAnswer), (status = 400), (status = 404), (status = 409), (status = 412)))]
pub async fn patch_bot(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    patch_in(&s, &auth, Kind::Bot, &id, &headers, body).await
}

/// Delete a bot.
#[utoipa::path(delete, path = "/api/v1/bots/{id}", tag = "records", security(("bearer" = [])), params(("id" = String, Path), DeleteParams),
    responses((status = 200, description = "`{id, deleted: true}`", body = Deleted), (status = 404), (status = 409, description = "`IN_USE`: other records refer to it")))]
pub async fn delete_bot(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<DeleteParams>,
) -> ApiResult<Response> {
    delete_in(&s, &auth, Kind::Bot, &id, p).await
}

fn ok(value: Value) -> Response {
    answer(StatusCode::OK, value)
}

/// The bot's `lifecycle` object, or `null`.
#[utoipa::path(get, path = "/api/v1/bots/{id}/lifecycle", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ValueAnswer), (status = 404)))]
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
    params(("id" = String, Path)), responses((status = 200, body = ValueAnswer), (status = 404)))]
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
    params(("id" = String, Path)), responses((status = 200, body = ValueAnswer), (status = 404)))]
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
    params(("id" = String, Path)), request_body = Transition,
    responses((status = 200, description = "Envelope with the bot", body = RecordAnswer), (status = 400), (status = 404), (status = 409)))]
pub async fn transition(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TransitionRequest>,
) -> ApiResult<Response> {
    let bot = lifecycle::transition(&s, &auth, &id, &body.status).await?;
    Ok(with_etag(StatusCode::OK, &bot, None))
}

/// Ban: `{ban_date: "DD.MM.YYYY", ban_reason, ban_mechanism}`. Logged and archived; a
/// banned bot answers 409.
#[utoipa::path(post, path = "/api/v1/bots/{id}/lifecycle/ban", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Ban,
    responses((status = 200, description = "Envelope with the bot", body = RecordAnswer), (status = 400), (status = 404), (status = 409)))]
pub async fn ban(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let bot = lifecycle::ban(&s, &auth, &id, body).await?;
    Ok(with_etag(StatusCode::OK, &bot, None))
}

/// Unban: back to the status before the ban. Logged.
#[utoipa::path(post, path = "/api/v1/bots/{id}/lifecycle/unban", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "Envelope with the bot", body = RecordAnswer), (status = 400, description = "Bot is not banned"), (status = 404)))]
pub async fn unban(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let bot = lifecycle::unban(&s, &auth, &id).await?;
    Ok(with_etag(StatusCode::OK, &bot, None))
}

/// The bot's lifecycle log, newest first (kept after the bot is deleted).
#[utoipa::path(get, path = "/api/v1/bots/{id}/lifecycle/log", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path), Paging), responses((status = 200, body = ValuePage), (status = 404)))]
pub async fn get_log(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> ApiResult<Response> {
    let (page, limit) = paging.resolve()?;
    let (entries, total) = lifecycle::log(&s, &auth, &id, page, limit).await?;
    Ok(Json(Envelope::page(entries, PageMeta { total, page, limit })).into_response())
}

/// The bot's archive: one snapshot per ban, newest first (kept after the bot is deleted).
#[utoipa::path(get, path = "/api/v1/bots/{id}/archive", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ValueAnswer), (status = 404)))]
pub async fn get_archive(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(ok(Value::Array(lifecycle::archive(&s, &auth, &id).await?)))
}

/// The bot's health: alerts about its licences, proxy and subscriptions by their effective
/// status, and whether it was seen in the last five minutes; critical alerts first.
#[utoipa::path(get, path = "/api/v1/bots/{id}/health", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Envelope<health::Health>), (status = 404)))]
pub async fn get_health(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        health::health(&s, &auth, &id).await?,
    ))
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

/// A made-up person living in `country`, for the bot's `person` object; not saved. 409
/// `GENERATION_LOCKED` while the bot's `generation_locks.person_data` is set.
#[utoipa::path(post, path = "/api/v1/bots/{id}/generate/person", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PersonRequest,
    responses((status = 200, body = Envelope<Person>), (status = 400), (status = 404), (status = 409)))]
pub async fn generate_person(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    Valid(body): Valid<PersonRequest>,
) -> ApiResult<Response> {
    let bot = service::view(&service::get(&s, &auth, Kind::Bot, &id).await?);
    identity::refuse_if_locked(&bot, "person_data", "person")?;
    let today = chrono::Utc::now().date_naive();
    let person = identity::person(&body.country, today, &mut rand::thread_rng());
    Ok(answer(StatusCode::OK, person))
}

/// An e-mail made from the bot's person at `domain`, and a password of the asked kind; not
/// saved. Each value whose `generation_locks` flag (`account_email`, `account_password`) is
/// set comes back `null`; 409 `GENERATION_LOCKED` when both are; 400 when the bot has no
/// person to make the e-mail from.
#[utoipa::path(post, path = "/api/v1/bots/{id}/generate/account", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AccountRequest,
    responses((status = 200, body = Envelope<AccountProposal>), (status = 400), (status = 404), (status = 409)))]
pub async fn generate_account(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    Valid(body): Valid<AccountRequest>,
) -> ApiResult<Response> {
    let bot = service::view(&service::get(&s, &auth, Kind::Bot, &id).await?);
    let proposal = identity::account(&bot, &body.password, &body.domain, &mut rand::thread_rng())?;
    Ok(answer(StatusCode::OK, proposal))
}

/// A week of sessions from the generator's parameters, for the bot's `schedule` (in the time
/// zone of the schedule it has, else UTC); not saved. 409 `GENERATION_LOCKED` while the
/// bot's `generation_locks.schedule` is set.
#[utoipa::path(post, path = "/api/v1/bots/{id}/generate/schedule", tag = "bots", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ScheduleParams,
    responses((status = 200, body = Envelope<Schedule>), (status = 400), (status = 404), (status = 409)))]
pub async fn generate_schedule(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    Valid(params): Valid<ScheduleParams>,
) -> ApiResult<Response> {
    let bot = service::view(&service::get(&s, &auth, Kind::Bot, &id).await?);
    identity::refuse_if_locked(&bot, "schedule", "schedule")?;
    let week = schedule::generate(&params, schedule::timezone(&bot), &mut rand::thread_rng());
    Ok(answer(StatusCode::OK, week))
}

/// Character names, made here (letters only, 4 to 12 of them).
#[utoipa::path(get, path = "/api/v1/wow-names", tag = "bots", security(("bearer" = [])),
    params(NamesQuery), responses((status = 200, body = Envelope<Names>), (status = 400)))]
pub async fn character_names(
    _auth: Auth,
    ValidQuery(q): ValidQuery<NamesQuery>,
) -> ApiResult<Response> {
    let names = identity::character_names(q.count(), &mut rand::thread_rng());
    Ok(answer(StatusCode::OK, Names { names }))
}
