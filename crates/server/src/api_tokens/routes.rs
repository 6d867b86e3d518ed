//! `/api/v1/tokens`: admins create, list and revoke their tenant's API tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use botmox_proto::auth::{ApiTokenView, CreateApiTokenRequest, CreatedApiToken};
use botmox_proto::{Envelope, PageMeta};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service;
use crate::audit::AuditSlot;
use crate::http::paging::Paging;
use crate::http::{ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::principal::Admin;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// The tenant's API tokens (without secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(Paging), security(("bearer" = ["admin"])),
    responses((status = 200, body = Envelope<Vec<ApiTokenView>>), (status = 403)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    ApiQuery(paging): ApiQuery<Paging>,
) -> ApiResult<Json<Envelope<Vec<ApiTokenView>>>> {
    let (page, limit) = paging.resolve()?;
    let (rows, total) = service::list(&state.db, &admin, page, limit).await?;
    Ok(Json(Envelope::page(
        rows.into_iter().map(service::view).collect(),
        PageMeta { total, page, limit },
    )))
}

/// Create a token; the answer holds the secret as `token`, shown this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateApiTokenRequest, security(("bearer" = ["admin"])),
    responses((status = 201, body = Envelope<CreatedApiToken>), (status = 400), (status = 403)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiJson(body): ApiJson<CreateApiTokenRequest>,
) -> ApiResult<(StatusCode, Json<Envelope<CreatedApiToken>>)> {
    audit.describe("token.create", format!("name:{}", body.name.trim()));
    let created = service::create(&state.db, &admin, body).await?;
    audit.describe("token.create", format!("token:{}", created.view.id));
    Ok((StatusCode::CREATED, Json(Envelope::ok(created))))
}

/// Revoke a token; it stops working on the next request.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)), security(("bearer" = ["admin"])),
    responses((status = 200, body = Envelope<ApiTokenView>), (status = 404), (status = 409, description = "already revoked")))]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Envelope<ApiTokenView>>> {
    audit.describe("token.revoke", format!("token:{id}"));
    Ok(Json(Envelope::ok(
        service::revoke(&state, &admin, &id).await?,
    )))
}
