//! `/api/v1/settings` and `/api/v1/settings/{path...}` (spec api.md §9), including
//! `storage_policy` and the audited reveal of one credential.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use botmox_proto::Envelope;
use serde_json::{Value, json};

use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{policy, service};
use crate::audit::AuditSlot;
use crate::http::{ApiError, ApiJson, ApiPath, ApiResult, answer};
use crate::openapi::{SettingsPath, SettingsTree, SettingsValue, ValueAnswer};
use crate::principal::Auth;
use crate::state::AppState;

/// The operations on a path below the root, documented as `{path}`: axum routes them
/// with a catch-all (`{*path}`), which OpenAPI has no form for.
#[derive(OpenApi)]
#[openapi(paths(get_path, put_path, patch_path, reveal))]
struct PathOperations;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(PathOperations::openapi())
        .routes(routes!(get_root, put_root, patch_root))
        .route(
            "/api/v1/settings/{*path}",
            get(get_path).put(put_path).patch(patch_path).post(reveal),
        )
}

const POLICY_PATH: &str = "storage_policy";
const REVEAL: &str = "reveal";

fn ok(value: Value) -> Response {
    answer(StatusCode::OK, value)
}

/// Read the whole settings tree (credentials masked).
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, description = "Envelope with the tree (`{}` when empty)", body = ValueAnswer)))]
pub async fn get_root(State(s): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(ok(service::read(&s, &auth, &[]).await?))
}

/// Read the value at a path (`null` when missing); `storage_policy` reads the policy.
#[utoipa::path(get, path = "/api/v1/settings/{path}", tag = "settings", security(("bearer" = [])),
    params(("path" = SettingsPath, Path, description = "Slash-separated path, e.g. alerts or projects/wow")),
    responses((status = 200, description = "Envelope with the value", body = ValueAnswer), (status = 400)))]
pub async fn get_path(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<Response> {
    let path = service::parse_path(&path)?;
    if path == [POLICY_PATH] {
        return Ok(ok(policy::get(&s, &auth).await?));
    }
    Ok(ok(service::read(&s, &auth, &path).await?))
}

/// Write at the root (an object merged into the tree); returns the whole tree.
#[utoipa::path(put, path = "/api/v1/settings", tag = "settings", security(("bearer" = [])), request_body = SettingsTree,
    responses((status = 200, description = "Envelope with the whole tree", body = ValueAnswer), (status = 400), (status = 409)))]
pub async fn put_root(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    Ok(ok(service::write(&s, &auth, &[], body).await?))
}

/// Same as PUT at the root.
#[utoipa::path(patch, path = "/api/v1/settings", tag = "settings", security(("bearer" = [])), request_body = SettingsTree,
    responses((status = 200, description = "Envelope with the whole tree", body = ValueAnswer), (status = 400), (status = 409)))]
pub async fn patch_root(
    state: State<AppState>,
    auth: Auth,
    body: ApiJson<Value>,
) -> ApiResult<Response> {
    put_root(state, auth, body).await
}

/// Write at a path: objects merge shallowly into objects, anything else replaces, `null`
/// removes. Checked against the rules of that path; removing a project that records use is
/// refused with 409. Returns the whole tree. `storage_policy` replaces the storage policy.
#[utoipa::path(put, path = "/api/v1/settings/{path}", tag = "settings", security(("bearer" = [])),
    params(("path" = SettingsPath, Path)), request_body = SettingsValue,
    responses((status = 200, description = "Envelope with the whole tree (or the policy)", body = ValueAnswer), (status = 400), (status = 409)))]
pub async fn put_path(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let path = service::parse_path(&path)?;
    if path == [POLICY_PATH] {
        return Ok(ok(policy::put(&s, &auth, body).await?));
    }
    Ok(ok(service::write(&s, &auth, &path, body).await?))
}

/// Same as PUT at a path.
#[utoipa::path(patch, path = "/api/v1/settings/{path}", tag = "settings", security(("bearer" = [])),
    params(("path" = SettingsPath, Path)), request_body = SettingsValue,
    responses((status = 200, description = "Envelope with the whole tree (or the policy)", body = ValueAnswer), (status = 400), (status = 409)))]
pub async fn patch_path(
    state: State<AppState>,
    auth: Auth,
    path: ApiPath<String>,
    body: ApiJson<Value>,
) -> ApiResult<Response> {
    put_path(state, auth, path, body).await
}

/// `POST /api/v1/settings/<credential path>/reveal`: the plaintext of one sealed setting,
/// for admins, audited. Any other POST is 404.
#[utoipa::path(post, path = "/api/v1/settings/{path}", tag = "settings", security(("bearer" = ["admin"])),
    params(("path" = SettingsPath, Path, description = "Credential path followed by /reveal, e.g. api_keys/ipqs/api_key/reveal")),
    responses((status = 200, description = "`{path, value}`; Cache-Control: no-store"), (status = 403), (status = 404)))]
pub async fn reveal(
    State(s): State<AppState>,
    auth: Auth,
    slot: AuditSlot,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<Response> {
    let mut path = service::parse_path(&path)?;
    if path.last().map(String::as_str) != Some(REVEAL) || path.len() < 2 {
        return Err(ApiError::not_found("Settings endpoint"));
    }
    path.pop();
    let joined = path.join("/");
    slot.describe_always("secret.reveal", format!("settings:{joined}"));
    let value = service::reveal(&s, &auth.admin()?, &path).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(Envelope::ok(json!({ "path": joined, "value": value }))),
    )
        .into_response())
}
