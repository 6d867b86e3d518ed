//! `/api/v1/theme-assets`: the tenant's theme background images, uploaded as the raw body
//! of one request, listed, read and removed.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use botmox_proto::Envelope;
use botmox_proto::theme::ThemeAsset;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::assets;
use crate::audit::AuditSlot;
use crate::http::upload::declared_length;
use crate::http::{ApiPath, ApiResult, answer};
use crate::openapi::ValueAnswer;
use crate::principal::Auth;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_assets, upload_asset))
        .routes(routes!(get_asset, delete_asset))
}

/// Upload a background image: the raw body, a PNG, JPEG or WebP of at most 5 MiB (its
/// kind is read from its header). A tenant keeps at most 50.
#[utoipa::path(post, path = "/api/v1/theme-assets", tag = "theme", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Envelope<ThemeAsset>), (status = 400), (status = 409),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: more than 5 MiB"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: not a PNG, JPEG or WebP image")))]
pub async fn upload_asset(
    State(s): State<AppState>,
    auth: Auth,
    audit: AuditSlot,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Envelope<ThemeAsset>>)> {
    audit.describe("theme.asset.upload", "theme-assets");
    let asset = assets::upload(
        &s,
        &auth,
        declared_length(&headers),
        body.into_data_stream(),
    )
    .await?;
    audit.describe("theme.asset.upload", format!("theme-asset:{}", asset.id));
    Ok((StatusCode::CREATED, Json(Envelope::ok(asset))))
}

/// The tenant's background images, newest first.
#[utoipa::path(get, path = "/api/v1/theme-assets", tag = "theme", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<ThemeAsset>>)))]
pub async fn list_assets(State(s): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(answer(StatusCode::OK, assets::list(&s, &auth).await?))
}

/// The image's bytes, with its content type.
#[utoipa::path(get, path = "/api/v1/theme-assets/{id}", tag = "theme", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The image", content_type = "image/*"), (status = 404)))]
pub async fn get_asset(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    assets::content(&s, &auth, &id).await
}

/// Remove the image and its object (and the background, when it is the one in use).
#[utoipa::path(delete, path = "/api/v1/theme-assets/{id}", tag = "theme", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ValueAnswer), (status = 404)))]
pub async fn delete_asset(
    State(s): State<AppState>,
    auth: Auth,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    audit.describe("theme.asset.delete", format!("theme-asset:{id}"));
    assets::delete(&s, &auth, &id).await?;
    Ok(answer(StatusCode::OK, json!({"id": id, "deleted": true})))
}
