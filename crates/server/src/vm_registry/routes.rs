//! `/api/v1/vm/*` (spec api.md §10): register, resolve, list, update and deactivate VMs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use botmox_proto::licensing::{
    RegisterVmRequest, UpdateVmRequest, VmListQuery, VmPath, VmStatus, VmView,
};
use botmox_proto::{Envelope, ErrorEnvelope, PageMeta};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service;
use crate::audit::AuditSlot;
use crate::http::paging::Paging;
use crate::http::{ApiPath, ApiQuery, ApiResult, Valid, ValidQuery, answer};
use crate::principal::Auth;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(list))
        .routes(routes!(resolve))
        .routes(routes!(update))
        .routes(routes!(deactivate))
}

/// Register a VM for the caller (or, for an admin, for a member), or update one of theirs.
/// A VM registered to someone else is refused unless an admin sends `reassign: true`
/// (audited as `vm.reassign`); the VM's leases are revoked when it changes hands.
#[utoipa::path(post, path = "/api/v1/vm/register", tag = "licensing", security(("bearer" = [])),
    request_body = RegisterVmRequest,
    responses((status = 201, body = Envelope<VmView>, description = "Registered (or updated)"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "FORBIDDEN (naming another user without being an admin) or VM_OWNER_MISMATCH"),
        (status = 409, body = ErrorEnvelope, description = "another user's VM without `reassign: true`")))]
pub async fn register(
    State(s): State<AppState>,
    auth: Auth,
    audit: AuditSlot,
    Valid(body): Valid<RegisterVmRequest>,
) -> ApiResult<Response> {
    let done = service::register(&s.db, &auth, body).await?;
    if let Some(from) = &done.moved_from {
        audit.describe_always(
            "vm.reassign",
            format!(
                "vm:{} from user:{from} to user:{}",
                done.vm.vm_uuid, done.vm.user_id
            ),
        );
    }
    Ok(answer(StatusCode::CREATED, done.vm))
}

/// The VMs of the registry: an admin's the tenant's, anyone else's their own.
#[utoipa::path(get, path = "/api/v1/vm", tag = "licensing", security(("bearer" = [])),
    params(VmListQuery, Paging),
    responses((status = 200, body = Envelope<Vec<VmView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    ValidQuery(query): ValidQuery<VmListQuery>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> ApiResult<Json<Envelope<Vec<VmView>>>> {
    let (page, limit) = paging.resolve()?;
    let (rows, total) = service::list(&s.db, &auth, &query, page, limit).await?;
    Ok(Json(Envelope::page(rows, PageMeta { total, page, limit })))
}

/// One VM (its owner or an admin; 404 for anyone else).
#[utoipa::path(get, path = "/api/v1/vm/{uuid}/resolve", tag = "licensing", security(("bearer" = [])),
    params(VmPath),
    responses((status = 200, body = Envelope<VmView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn resolve(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(VmPath { uuid }): ApiPath<VmPath>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::resolve(&s.db, &auth, &uuid).await?,
    ))
}

/// Change a VM's name, project, status or metadata; leaving `active` revokes its leases.
#[utoipa::path(patch, path = "/api/v1/vm/{uuid}", tag = "licensing", security(("bearer" = [])),
    params(VmPath), request_body = UpdateVmRequest,
    responses((status = 200, body = Envelope<VmView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn update(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(VmPath { uuid }): ApiPath<VmPath>,
    Valid(body): Valid<UpdateVmRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::update(&s.db, &auth, &uuid, body).await?,
    ))
}

/// Deactivate a VM (status `revoked`): it gets no leases and its active ones are revoked.
#[utoipa::path(post, path = "/api/v1/vm/{uuid}/deactivate", tag = "licensing", security(("bearer" = [])),
    params(VmPath),
    responses((status = 200, body = Envelope<VmView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn deactivate(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(VmPath { uuid }): ApiPath<VmPath>,
) -> ApiResult<Response> {
    let body = UpdateVmRequest {
        status: Some(VmStatus::Revoked),
        ..Default::default()
    };
    Ok(answer(
        StatusCode::OK,
        service::update(&s.db, &auth, &uuid, body).await?,
    ))
}
