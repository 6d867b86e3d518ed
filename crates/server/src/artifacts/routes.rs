//! `/api/v1/artifacts`: releases (upload, register, list, status, delete), assignments and
//! the download audit for admins; the signed download link for anyone holding one.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botmox_proto::artifacts::{
    AssignRequest, AssignmentQuery, AssignmentView, DownloadAuditQuery, DownloadAuditView,
    EffectiveAssignment, ListAssignmentsQuery, ListReleasesQuery, PatchReleaseRequest,
    RegisterReleaseRequest, ReleaseView, ResolveDownloadRequest, ResolvedDownload, UploadQuery,
};
use botmox_proto::{Envelope, ErrorCode, PageMeta};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::download::{self, LinkQuery};
use super::{resolve, service};
use crate::audit::AuditSlot;
use crate::clock::now_ms;
use crate::http::{ApiError, ApiPath, ApiQuery, ApiResult, ClientAddr, Valid, ValidQuery};
use crate::principal::Admin;
use crate::provisioning::bearer::VmBearer;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(axum::middleware::map_response(close_after_refusal))
        .routes(routes!(list, register))
        .routes(routes!(patch, delete))
        .routes(routes!(assign))
        .routes(routes!(effective))
        .routes(routes!(assignments))
        .routes(routes!(download_audit))
        .routes(routes!(download))
        .routes(routes!(resolve_download))
}

/// An upload refused before its body was read whole leaves the rest of it on the wire: the
/// connection cannot carry another request, so the answer says it closes.
async fn close_after_refusal(mut response: Response) -> Response {
    if !response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The bytes of a file, sent or answered as `application/octet-stream`.
pub struct FileBytes;

impl utoipa::PartialSchema for FileBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for FileBytes {}

/// A release id from the path: one that is not a number names no release (404).
fn release_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::new(ErrorCode::ArtifactReleaseNotFound, "Release not found"))
}

/// Upload a file as a new release: the raw request body is the file (streamed to the blob
/// store, never held whole in memory); the server computes its SHA-256 and size. The
/// global body limit does not apply; `artifact_upload_limit` does.
#[utoipa::path(post, path = "/api/v1/artifacts/releases/upload", tag = "artifacts", params(UploadQuery),
    request_body(content = FileBytes, content_type = "application/octet-stream", description = "The file"),
    security(("bearer" = ["admin"])),
    responses((status = 201, body = Envelope<ReleaseView>), (status = 409, description = "`ALREADY_EXISTS`: this version exists"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: larger than `artifact_upload_limit`"),
        (status = 502, description = "`BLOB_STORE_FAILED`")))]
pub async fn upload(
    State(state): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ValidQuery(query): ValidQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Envelope<ReleaseView>>)> {
    audit.describe(
        "artifact.release.upload",
        format!("release:{}@{}", query.module.trim(), query.version.trim()),
    );
    let declared = crate::http::upload::declared_length(&headers);
    let release = service::upload(&state, &admin, query, declared, body.into_data_stream()).await?;
    audit.describe("artifact.release.upload", format!("release:{}", release.id));
    Ok((StatusCode::CREATED, Json(Envelope::ok(release))))
}

/// Register an object already in the blob store as a release. It must exist under
/// `artifacts/<tenant>/` with the given size.
#[utoipa::path(post, path = "/api/v1/artifacts/releases", tag = "artifacts", request_body = RegisterReleaseRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = Envelope<ReleaseView>), (status = 404, description = "`ARTIFACT_OBJECT_NOT_FOUND`"),
        (status = 409, description = "`ALREADY_EXISTS`: this version or object is a release already"),
        (status = 502, description = "`BLOB_STORE_FAILED`")))]
pub async fn register(
    State(state): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    Valid(body): Valid<RegisterReleaseRequest>,
) -> ApiResult<(StatusCode, Json<Envelope<ReleaseView>>)> {
    audit.describe(
        "artifact.release.register",
        format!("object:{}", body.object_key),
    );
    let release = service::register(&state, &admin, body).await?;
    audit.describe(
        "artifact.release.register",
        format!("release:{}", release.id),
    );
    Ok((StatusCode::CREATED, Json(Envelope::ok(release))))
}

/// The tenant's releases, newest first.
#[utoipa::path(get, path = "/api/v1/artifacts/releases", tag = "artifacts", params(ListReleasesQuery),
    security(("bearer" = ["admin"])), responses((status = 200, body = Envelope<Vec<ReleaseView>>)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    ValidQuery(q): ValidQuery<ListReleasesQuery>,
) -> ApiResult<Json<Envelope<Vec<ReleaseView>>>> {
    let (rows, total, page, limit) = service::list(&state, &admin, q).await?;
    Ok(Json(Envelope::page(rows, PageMeta { total, page, limit })))
}

/// Change a release's status (only `active` releases are assigned and downloaded).
#[utoipa::path(patch, path = "/api/v1/artifacts/releases/{id}", tag = "artifacts", params(("id" = String, Path)),
    request_body = PatchReleaseRequest, security(("bearer" = ["admin"])),
    responses((status = 200, body = Envelope<ReleaseView>), (status = 404, description = "`ARTIFACT_RELEASE_NOT_FOUND`")))]
pub async fn patch(
    State(state): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
    Valid(body): Valid<PatchReleaseRequest>,
) -> ApiResult<Json<Envelope<ReleaseView>>> {
    audit.describe("artifact.release.status", format!("release:{id}"));
    let id = release_id(&id)?;
    Ok(Json(Envelope::ok(
        service::set_status(&state, &admin, id, body.status).await?,
    )))
}

/// Delete a release and its file; refused while it is assigned.
#[utoipa::path(delete, path = "/api/v1/artifacts/releases/{id}", tag = "artifacts", params(("id" = String, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = Envelope<ReleaseView>), (status = 404, description = "`ARTIFACT_RELEASE_NOT_FOUND`"),
        (status = 409, description = "`IN_USE`: assignments name it")))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Envelope<ReleaseView>>> {
    audit.describe("artifact.release.delete", format!("release:{id}"));
    let id = release_id(&id)?;
    Ok(Json(Envelope::ok(
        service::delete(&state, &admin, id).await?,
    )))
}

/// Assign an active release to a user, or (no `user_id`) as the tenant default; the
/// previous assignment of the same scope is replaced in one step.
#[utoipa::path(post, path = "/api/v1/artifacts/assign", tag = "artifacts", request_body = AssignRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = Envelope<AssignmentView>), (status = 404, description = "`ARTIFACT_RELEASE_NOT_FOUND`"),
        (status = 409, description = "`ARTIFACT_SCOPE_MISMATCH` or `ARTIFACT_RELEASE_NOT_ACTIVE`")))]
pub async fn assign(
    State(state): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    Valid(body): Valid<AssignRequest>,
) -> ApiResult<(StatusCode, Json<Envelope<AssignmentView>>)> {
    let target = match body.user_id.as_deref().map(str::trim) {
        Some(user) if !user.is_empty() => format!("user:{user}"),
        _ => "tenant-default".to_owned(),
    };
    audit.describe(
        "artifact.assign",
        format!(
            "{target}/{}/release:{}",
            body.module.trim(),
            body.release_id
        ),
    );
    let row = service::assign(&state, &admin, body).await?;
    Ok((StatusCode::CREATED, Json(Envelope::ok(row))))
}

/// A user's assignment of a module, the tenant default, and the effective one (the user's,
/// else the default).
#[utoipa::path(get, path = "/api/v1/artifacts/assign/{userId}/{module}", tag = "artifacts",
    params(("userId" = String, Path), ("module" = String, Path), AssignmentQuery), security(("bearer" = ["admin"])),
    responses((status = 200, body = Envelope<EffectiveAssignment>)))]
pub async fn effective(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((user_id, module)): ApiPath<(String, String)>,
    ValidQuery(q): ValidQuery<AssignmentQuery>,
) -> ApiResult<Json<Envelope<EffectiveAssignment>>> {
    Ok(Json(Envelope::ok(
        service::effective(&state, &admin, &user_id, &module, q).await?,
    )))
}

/// The tenant's assignments, by module, platform, channel and user (defaults first).
#[utoipa::path(get, path = "/api/v1/artifacts/assignments", tag = "artifacts", params(ListAssignmentsQuery),
    security(("bearer" = ["admin"])), responses((status = 200, body = Envelope<Vec<AssignmentView>>)))]
pub async fn assignments(
    State(state): State<AppState>,
    admin: Admin,
    ValidQuery(q): ValidQuery<ListAssignmentsQuery>,
) -> ApiResult<Json<Envelope<Vec<AssignmentView>>>> {
    let (rows, total, page, limit) = service::list_assignments(&state, &admin, q).await?;
    Ok(Json(Envelope::page(rows, PageMeta { total, page, limit })))
}

/// Every resolve-download attempt of the tenant, newest first, by VM, module, result and time.
#[utoipa::path(get, path = "/api/v1/artifacts/download-audit", tag = "artifacts", params(DownloadAuditQuery),
    security(("bearer" = ["admin"])), responses((status = 200, body = Envelope<Vec<DownloadAuditView>>)))]
pub async fn download_audit(
    State(state): State<AppState>,
    admin: Admin,
    ValidQuery(q): ValidQuery<DownloadAuditQuery>,
) -> ApiResult<Json<Envelope<Vec<DownloadAuditView>>>> {
    let (rows, total, page, limit) = service::download_audit(&state, &admin, q).await?;
    Ok(Json(Envelope::page(rows, PageMeta { total, page, limit })))
}

/// A file behind a link this server signed (the local blob store's download URLs): no
/// token, the link is the credential; streamed with its `Content-Length`.
#[utoipa::path(get, path = "/api/v1/artifacts/download", tag = "artifacts", params(LinkQuery),
    responses((status = 200, content_type = "application/octet-stream", body = FileBytes),
        (status = 403, description = "`DOWNLOAD_LINK_INVALID`: the link was altered or not made here"),
        (status = 404, description = "`ARTIFACT_OBJECT_NOT_FOUND`"),
        (status = 410, description = "`DOWNLOAD_LINK_EXPIRED`"),
        (status = 502, description = "`BLOB_STORE_FAILED`")))]
pub async fn download(
    State(state): State<AppState>,
    ApiQuery(link): ApiQuery<LinkQuery>,
) -> ApiResult<Response> {
    let (_tenant, path) = download::check_link(&state.key, &link, now_ms())?;
    let (size, stream) = match state.blob.get(&path).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(ApiError::new(
                ErrorCode::ArtifactObjectNotFound,
                "The file no longer exists",
            ));
        }
        Err(e) => return Err(service::blob_failed(e)),
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    Ok(response)
}

/// A lease token buys a short-lived download URL of the release assigned to the lease's
/// user (theirs, else the tenant default): the lease must be live and issued for this VM and
/// module, the release active and its file present. Every attempt is in the download audit.
/// A VM's provisioning token is also accepted as bearer, for its own VM only.
#[utoipa::path(post, path = "/api/v1/artifacts/resolve-download", tag = "artifacts", request_body = ResolveDownloadRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Envelope<ResolvedDownload>),
        (status = 401, description = "`UNAUTHORIZED`: no token, or a lease token that is not genuine"),
        (status = 403, description = "`VM_UUID_MISMATCH`, `MODULE_MISMATCH`, `LICENSE_INACTIVE`"),
        (status = 404, description = "`LEASE_NOT_FOUND`, `ARTIFACT_ASSIGNMENT_NOT_FOUND`, `ARTIFACT_RELEASE_NOT_FOUND`, `ARTIFACT_OBJECT_NOT_FOUND`"),
        (status = 409, description = "`LEASE_INACTIVE`, `LEASE_EXPIRED`, `ARTIFACT_RELEASE_NOT_ACTIVE`"),
        (status = 502, description = "`ARTIFACT_AUDIT_WRITE_FAILED` (the outcome it replaced in `details.outcome`), `BLOB_STORE_FAILED`")))]
pub async fn resolve_download(
    State(state): State<AppState>,
    caller: VmBearer,
    audit: AuditSlot,
    addr: ClientAddr,
    body: Result<Valid<ResolveDownloadRequest>, ApiError>,
) -> ApiResult<Json<Envelope<ResolvedDownload>>> {
    let auth = &caller.auth;
    let req = match body {
        Ok(Valid(req)) => req,
        Err(e) => return Err(resolve::refuse_unreadable(&state, auth, addr, e).await),
    };
    caller.check_vm(&req.vm_uuid)?;
    audit.describe(
        "artifact.resolve",
        format!("vm:{}/{}", req.vm_uuid.trim(), req.module.trim()),
    );
    Ok(Json(Envelope::ok(
        resolve::resolve(&state, auth, addr, req).await?,
    )))
}
