//! `/api/v1/resources/{kind}` and `/api/v1/workspace/{kind}`: list, read, create, patch
//! and delete (spec api.md §6), the audited reveal of a resource's credential, and the
//! handler pieces that the bots' and finance operations' routes share.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botmox_proto::{Envelope, PageMeta};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service;
use super::store::{ListQuery, SortKey};
use crate::audit::AuditSlot;
use crate::db::entity::record;
use crate::http::paging::{Paging, time_param};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::openapi::{
    Deleted, RecordAnswer, RecordPage, ResourceCreate, ResourceKind, ResourcePatch,
    WorkspaceCreate, WorkspaceKind, WorkspacePatch,
};
use crate::principal::Auth;
use crate::records::expiry::Window;
use crate::records::kinds::Kind;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_resources, create_resource))
        .routes(routes!(get_resource, patch_resource, delete_resource))
        .routes(routes!(reveal_resource))
        .routes(routes!(list_workspace, create_workspace))
        .routes(routes!(get_workspace, patch_workspace, delete_workspace))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Case-insensitive text found in any value at any depth (credentials excepted).
    pub q: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub r#type: Option<String>,
    pub project_id: Option<String>,
    pub bot_id: Option<String>,
    pub category: Option<String>,
    pub currency: Option<String>,
    /// From this time (epoch ms, inclusive) on the kind's date (`date`, `due_date` or
    /// `expires_at`); at most 8e15 either side of 1970.
    #[param(minimum = -8_000_000_000_000_000_i64, maximum = 8_000_000_000_000_000_i64)]
    pub from: Option<i64>,
    /// Until this time (epoch ms, exclusive); at most 8e15 either side of 1970.
    #[param(minimum = -8_000_000_000_000_000_i64, maximum = 8_000_000_000_000_000_i64)]
    pub to: Option<i64>,
    /// `created_at` (default), `updated_at`, `name`, `status`, `type`, `date`, `expires_at`,
    /// `amount`, `category` or `project_id`.
    #[param(schema_with = crate::openapi::sort_param)]
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    #[param(schema_with = crate::openapi::order_param)]
    pub order: Option<String>,
    /// 1-based page number, 1 to 1000000 [default: 1].
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page, 1 to 200 [default: 50].
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

impl ListParams {
    pub fn resolve(self) -> ApiResult<ListQuery> {
        let (page, limit) = Paging {
            page: self.page,
            limit: self.limit,
        }
        .resolve()?;
        let sort = match self
            .sort
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => SortKey::Created,
            Some(s) => SortKey::parse(s)
                .ok_or_else(|| ApiError::field("sort", format!("cannot sort by '{s}'")))?,
        };
        let descending = match self.order.as_deref() {
            None | Some("asc") | Some("") => false,
            Some("desc") => true,
            Some(_) => return Err(ApiError::field("order", "must be asc or desc")),
        };
        let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(ListQuery {
            q: blank(self.q),
            status: blank(self.status),
            r#type: blank(self.r#type),
            project_id: blank(self.project_id),
            bot_id: blank(self.bot_id),
            category: blank(self.category),
            currency: blank(self.currency),
            from: time_param("from", self.from)?,
            to: time_param("to", self.to)?,
            sort,
            descending,
            page,
            limit,
            status_first: None,
            expiry: None,
        })
    }
}

/// The record as the API answers it, with its version as the ETag; `window` adds the
/// computed expiry fields of a kind that expires.
pub fn with_etag(status: StatusCode, m: &record::Model, window: Option<&Window>) -> Response {
    let mut response = (status, Json(Envelope::ok(service::view_at(m, window)))).into_response();
    if let Ok(tag) = HeaderValue::from_str(&service::etag(m)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

pub async fn list_in(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    params: ListParams,
) -> ApiResult<Response> {
    let window = service::expiry_window(state, auth, kind).await?;
    let query = ListQuery {
        expiry: window,
        ..params.resolve()?
    };
    let (rows, total) = service::list(state, auth, kind, &query).await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|m| service::view_at(m, window.as_ref()))
        .collect();
    Ok(Json(Envelope::page(
        data,
        PageMeta {
            total,
            page: query.page,
            limit: query.limit,
        },
    ))
    .into_response())
}

pub async fn get_in(state: &AppState, auth: &Auth, kind: Kind, id: &str) -> ApiResult<Response> {
    let record = service::get(state, auth, kind, id).await?;
    let window = service::expiry_window(state, auth, kind).await?;
    Ok(with_etag(StatusCode::OK, &record, window.as_ref()))
}

pub async fn create_in(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    body: Value,
) -> ApiResult<Response> {
    let record = service::create(state, auth, kind, body).await?;
    let window = service::expiry_window(state, auth, kind).await?;
    Ok(with_etag(StatusCode::CREATED, &record, window.as_ref()))
}

pub async fn patch_in(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    id: &str,
    headers: &HeaderMap,
    body: Value,
) -> ApiResult<Response> {
    // An If-Match that is not even text names no tag we issued: it must fail, not vanish.
    let if_match = headers
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or_default());
    let record = service::patch(state, auth, kind, id, body, if_match).await?;
    let window = service::expiry_window(state, auth, kind).await?;
    Ok(with_etag(StatusCode::OK, &record, window.as_ref()))
}

/// Query of a delete.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Clear the references of records that point at this one, then delete it (without it,
    /// a record in use answers 409 `IN_USE` listing them).
    #[serde(default)]
    pub detach: bool,
}

pub async fn delete_in(
    state: &AppState,
    auth: &Auth,
    kind: Kind,
    id: &str,
    params: DeleteParams,
) -> ApiResult<Response> {
    service::delete(state, auth, kind, id, params.detach).await?;
    Ok(Json(Envelope::ok(json!({"id": id, "deleted": true}))).into_response())
}

pub fn resource(kind: &str) -> ApiResult<Kind> {
    Kind::resource(kind).ok_or_else(|| ApiError::bad_request("Invalid resource kind"))
}

fn workspace(kind: &str) -> ApiResult<Kind> {
    Kind::workspace(kind).ok_or_else(|| ApiError::bad_request("Invalid workspace kind"))
}

/// List licences, proxies or subscriptions.
#[utoipa::path(get, path = "/api/v1/resources/{kind}", tag = "records", security(("bearer" = [])),
    params(("kind" = ResourceKind, Path, description = "licenses, proxies or subscriptions"), ListParams),
    responses((status = 200, description = "Envelope with the page of records and `meta`", body = RecordPage), (status = 400)))]
pub async fn list_resources(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Response> {
    list_in(&s, &auth, resource(&kind)?, p).await
}

/// Create a licence, proxy or subscription (an existing id is 409).
#[utoipa::path(post, path = "/api/v1/resources/{kind}", tag = "records", security(("bearer" = [])),
    params(("kind" = ResourceKind, Path)), request_body = ResourceCreate,
    responses((status = 201, description = "Envelope with the record; ETag header", body = RecordAnswer), (status = 400), (status = 409)))]
pub async fn create_resource(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(kind): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    create_in(&s, &auth, resource(&kind)?, body).await
}

/// Read one licence, proxy or subscription.
#[utoipa::path(get, path = "/api/v1/resources/{kind}/{id}", tag = "records", security(("bearer" = [])),
    params(("kind" = ResourceKind, Path), ("id" = String, Path)),
    responses((status = 200, description = "Envelope with the record; ETag header", body = RecordAnswer), (status = 404)))]
pub async fn get_resource(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((kind, id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    get_in(&s, &auth, resource(&kind)?, &id).await
}

/// Change a licence, proxy or subscription; honours `If-Match`.
#[utoipa::path(patch, path = "/api/v1/resources/{kind}/{id}", tag = "records", security(("bearer" = [])),
    params(("kind" = ResourceKind, Path), ("id" = String, Path)), request_body = ResourcePatch,
    responses((status = 200, description = "Envelope with the merged record; ETag header", body = RecordAnswer), (status = 400), (status = 404), (status = 412)))]
pub async fn patch_resource(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((kind, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    patch_in(&s, &auth, resource(&kind)?, &id, &headers, body).await
}

/// Delete a licence, proxy or subscription.
#[utoipa::path(delete, path = "/api/v1/resources/{kind}/{id}", tag = "records", security(("bearer" = [])),
    params(("kind" = ResourceKind, Path), ("id" = String, Path), DeleteParams),
    responses((status = 200, description = "`{id, deleted: true}`", body = Deleted), (status = 404), (status = 409, description = "`IN_USE`: attached to a bot")))]
pub async fn delete_resource(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((kind, id)): ApiPath<(String, String)>,
    ApiQuery(p): ApiQuery<DeleteParams>,
) -> ApiResult<Response> {
    delete_in(&s, &auth, resource(&kind)?, &id, p).await
}

/// List notes, calendar events or kanban tasks.
#[utoipa::path(get, path = "/api/v1/workspace/{kind}", tag = "records", security(("bearer" = [])),
    params(("kind" = WorkspaceKind, Path, description = "notes, calendar or kanban"), ListParams),
    responses((status = 200, description = "Envelope with the page of records and `meta`", body = RecordPage), (status = 400)))]
pub async fn list_workspace(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Response> {
    list_in(&s, &auth, workspace(&kind)?, p).await
}

/// Create a note, calendar event or kanban task.
#[utoipa::path(post, path = "/api/v1/workspace/{kind}", tag = "records", security(("bearer" = [])),
    params(("kind" = WorkspaceKind, Path)), request_body = WorkspaceCreate,
    responses((status = 201, description = "Envelope with the record; ETag header", body = RecordAnswer), (status = 400), (status = 409)))]
pub async fn create_workspace(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(kind): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    create_in(&s, &auth, workspace(&kind)?, body).await
}

/// Read one note, calendar event or kanban task.
#[utoipa::path(get, path = "/api/v1/workspace/{kind}/{id}", tag = "records", security(("bearer" = [])),
    params(("kind" = WorkspaceKind, Path), ("id" = String, Path)),
    responses((status = 200, description = "Envelope with the record; ETag header", body = RecordAnswer), (status = 404)))]
pub async fn get_workspace(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((kind, id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    get_in(&s, &auth, workspace(&kind)?, &id).await
}

/// Change a note, calendar event or kanban task; honours `If-Match`.
#[utoipa::path(patch, path = "/api/v1/workspace/{kind}/{id}", tag = "records", security(("bearer" = [])),
    params(("kind" = WorkspaceKind, Path), ("id" = String, Path)), request_body = WorkspacePatch,
    responses((status = 200, description = "Envelope with the merged record; ETag header", body = RecordAnswer), (status = 400), (status = 404), (status = 412)))]
pub async fn patch_workspace(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((kind, id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    patch_in(&s, &auth, workspace(&kind)?, &id, &headers, body).await
}

/// Delete a note, calendar event or kanban task.
#[utoipa::path(delete, path = "/api/v1/workspace/{kind}/{id}", tag = "records", security(("bearer" = [])),
    params(("kind" = WorkspaceKind, Path), ("id" = String, Path), DeleteParams),
    responses((status = 200, description = "`{id, deleted: true}`", body = Deleted), (status = 404), (status = 409, description = "`IN_USE`: attached to a bot")))]
pub async fn delete_workspace(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath((kind, id)): ApiPath<(String, String)>,
    ApiQuery(p): ApiQuery<DeleteParams>,
) -> ApiResult<Response> {
    delete_in(&s, &auth, workspace(&kind)?, &id, p).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RevealRequest {
    /// Path of the credential in the record, e.g. `password` or `account/password`.
    pub field: String,
}

/// Answer a reveal of `field` of record `id`: audited whatever the outcome, never cached.
pub async fn reveal_in(
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

/// The plaintext of one credential of a licence, proxy or subscription, for its owner or an
/// admin; audited.
#[utoipa::path(post, path = "/api/v1/resources/{kind}/{id}/reveal", tag = "records", security(("bearer" = [])),
    params(("kind" = ResourceKind, Path), ("id" = String, Path)), request_body = RevealRequest,
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
