//! `/api/v1/users`: admins manage the members of their own tenant.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use botmox_proto::auth::{CreateUserRequest, PatchUserRequest, UserView};
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
        .routes(routes!(get, patch))
}

/// Members of the caller's tenant.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(Paging), security(("bearer" = ["admin"])),
    responses((status = 200, body = Envelope<Vec<UserView>>), (status = 403)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    ApiQuery(paging): ApiQuery<Paging>,
) -> ApiResult<Json<Envelope<Vec<UserView>>>> {
    let (page, limit) = paging.resolve()?;
    let (rows, total) = service::list(&state.db, &admin, page, limit).await?;
    Ok(Json(Envelope::page(
        rows.into_iter().map(service::view).collect(),
        PageMeta { total, page, limit },
    )))
}

/// Add a member to the caller's tenant.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest, security(("bearer" = ["admin"])),
    responses((status = 201, body = Envelope<UserView>), (status = 400), (status = 409, description = "ALREADY_EXISTS")))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<Envelope<UserView>>)> {
    audit.describe(
        "user.create",
        format!("email:{}", body.email.trim().to_lowercase()),
    );
    let user = service::create(&state.db, &admin, &body).await?;
    audit.describe("user.create", format!("user:{}", user.id));
    Ok((StatusCode::CREATED, Json(Envelope::ok(service::view(user)))))
}

/// One member of the caller's tenant.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)), security(("bearer" = ["admin"])),
    responses((status = 200, body = Envelope<UserView>), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Envelope<UserView>>> {
    let user = service::get(&state.db, &admin, &id).await?;
    Ok(Json(Envelope::ok(service::view(user))))
}

/// Change a member's role, disable or enable it, or set its password.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)), request_body = PatchUserRequest,
    security(("bearer" = ["admin"])),
    responses((status = 200, body = Envelope<UserView>), (status = 404), (status = 409, description = "LAST_ADMIN")))]
pub async fn patch(
    State(state): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchUserRequest>,
) -> ApiResult<Json<Envelope<UserView>>> {
    audit.describe("user.update", format!("user:{id}"));
    let user = service::patch_user(&state, &admin, &id, body).await?;
    Ok(Json(Envelope::ok(service::view(user))))
}
