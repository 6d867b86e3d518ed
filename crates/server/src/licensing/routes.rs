//! `/api/v1/license/*` (spec api.md §11): tenant licences and entitlements for admins (the
//! reference had no API for either), and leases: issue, heartbeat, revoke, list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use botmox_proto::licensing::{
    CreateLicenseRequest, EntitlementKey, EntitlementView, IssuedLease, LeaseHeartbeat,
    LeaseHeartbeatRequest, LeaseListQuery, LeaseRequest, LeaseRevoked, LeaseView, LicenseView,
    RevokeLeaseRequest, SetEntitlementRequest, UpdateLicenseRequest,
};
use botmox_proto::{Envelope, ErrorEnvelope, PageMeta};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service;
use crate::audit::AuditSlot;
use crate::http::paging::Paging;
use crate::http::{ApiPath, ApiQuery, ApiResult, Valid, ValidQuery, answer};
use crate::principal::{Admin, Auth};
use crate::provisioning::bearer::VmBearer;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_licenses, create_license))
        .routes(routes!(update_license, delete_license))
        .routes(routes!(
            list_entitlements,
            set_entitlement,
            delete_entitlement
        ))
        .routes(routes!(lease))
        .routes(routes!(heartbeat))
        .routes(routes!(revoke))
        .routes(routes!(list_leases))
}

/// The tenant's licences with their seats in use.
#[utoipa::path(get, path = "/api/v1/license/tenant-licenses", tag = "licensing", security(("bearer" = ["admin"])),
    params(Paging),
    responses((status = 200, body = Envelope<Vec<LicenseView>>), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub async fn list_licenses(
    State(s): State<AppState>,
    admin: Admin,
    ApiQuery(paging): ApiQuery<Paging>,
) -> ApiResult<Json<Envelope<Vec<LicenseView>>>> {
    let (page, limit) = paging.resolve()?;
    let (rows, total) = service::list_licenses(&s.db, &admin, page, limit).await?;
    Ok(Json(Envelope::page(rows, PageMeta { total, page, limit })))
}

/// Add a licence: tenant-wide, or personal with `user_id`; `max_leases` seats.
#[utoipa::path(post, path = "/api/v1/license/tenant-licenses", tag = "licensing", security(("bearer" = ["admin"])),
    request_body = CreateLicenseRequest,
    responses((status = 201, body = Envelope<LicenseView>), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub async fn create_license(
    State(s): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    Valid(body): Valid<CreateLicenseRequest>,
) -> ApiResult<Response> {
    let view = service::create_license(&s.db, &admin, body).await?;
    audit.describe("license.create", format!("license:{}", view.id));
    Ok(answer(StatusCode::CREATED, view))
}

/// Change a licence; one that stops granting revokes the leases it backs.
#[utoipa::path(patch, path = "/api/v1/license/tenant-licenses/{id}", tag = "licensing", security(("bearer" = ["admin"])),
    params(("id" = String, Path)), request_body = UpdateLicenseRequest,
    responses((status = 200, body = Envelope<LicenseView>), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn update_license(
    State(s): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
    Valid(body): Valid<UpdateLicenseRequest>,
) -> ApiResult<Response> {
    audit.describe("license.update", format!("license:{id}"));
    Ok(answer(
        StatusCode::OK,
        service::update_license(&s.db, &admin, &id, body).await?,
    ))
}

/// Delete a licence; the leases it backs are revoked.
#[utoipa::path(delete, path = "/api/v1/license/tenant-licenses/{id}", tag = "licensing", security(("bearer" = ["admin"])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<bool>, description = "`true`"), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn delete_license(
    State(s): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    audit.describe("license.delete", format!("license:{id}"));
    service::delete_license(&s.db, &admin, &id).await?;
    Ok(answer(StatusCode::OK, true))
}

/// The tenant's entitlements (`user_id` null: the default for users without their own).
#[utoipa::path(get, path = "/api/v1/license/entitlements", tag = "licensing", security(("bearer" = ["admin"])),
    responses((status = 200, body = Envelope<Vec<EntitlementView>>), (status = 403, body = ErrorEnvelope)))]
pub async fn list_entitlements(State(s): State<AppState>, admin: Admin) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::list_entitlements(&s.db, &admin).await?,
    ))
}

/// Set the modules of a user (or, without `user_id`, the tenant default), replacing them.
#[utoipa::path(post, path = "/api/v1/license/entitlements", tag = "licensing", security(("bearer" = ["admin"])),
    request_body = SetEntitlementRequest,
    responses((status = 201, body = Envelope<EntitlementView>), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub async fn set_entitlement(
    State(s): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    Valid(body): Valid<SetEntitlementRequest>,
) -> ApiResult<Response> {
    let view = service::set_entitlement(&s.db, &admin, body).await?;
    let whose = view.user_id.as_deref().unwrap_or("tenant-default");
    audit.describe("entitlement.set", format!("entitlement:{whose}"));
    Ok(answer(StatusCode::CREATED, view))
}

/// Remove a user's entitlement (or, without `user_id`, the tenant default).
#[utoipa::path(delete, path = "/api/v1/license/entitlements", tag = "licensing", security(("bearer" = ["admin"])),
    params(EntitlementKey),
    responses((status = 200, body = Envelope<bool>, description = "`true`"), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn delete_entitlement(
    State(s): State<AppState>,
    admin: Admin,
    ValidQuery(key): ValidQuery<EntitlementKey>,
) -> ApiResult<Response> {
    service::delete_entitlement(&s.db, &admin, key).await?;
    Ok(answer(StatusCode::OK, true))
}

/// Issue a lease for a module on a registered VM: VM, licence, entitlement and a free seat
/// are checked in that order. The token is shown only here. A VM's provisioning token is
/// also accepted as bearer, for its own VM only.
#[utoipa::path(post, path = "/api/v1/license/lease", tag = "licensing", security(("bearer" = [])),
    request_body = LeaseRequest,
    responses((status = 201, body = Envelope<IssuedLease>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "FORBIDDEN, VM_INACTIVE, VM_OWNER_MISMATCH, LICENSE_INACTIVE, ENTITLEMENT_REQUIRED or MODULE_NOT_ALLOWED"),
        (status = 404, body = ErrorEnvelope, description = "VM_NOT_REGISTERED"),
        (status = 409, body = ErrorEnvelope, description = "LEASE_LIMIT_REACHED")))]
pub async fn lease(
    State(s): State<AppState>,
    caller: VmBearer,
    audit: AuditSlot,
    Valid(body): Valid<LeaseRequest>,
) -> ApiResult<Response> {
    caller.check_vm(&body.vm_uuid)?;
    let issued = service::issue(&s, &caller.auth, body).await?;
    audit.describe_always(
        "lease.issue",
        format!(
            "lease:{} vm:{} module:{}",
            issued.lease_id, issued.vm_uuid, issued.module
        ),
    );
    Ok(answer(StatusCode::CREATED, issued))
}

/// Keep a lease alive: its expiry moves to now + TTL (up to its hard cap and its licence's
/// expiry).
#[utoipa::path(post, path = "/api/v1/license/heartbeat", tag = "licensing", security(("bearer" = [])),
    request_body = LeaseHeartbeatRequest,
    responses((status = 200, body = Envelope<LeaseHeartbeat>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "LEASE_OWNER_MISMATCH or LICENSE_INACTIVE"),
        (status = 404, body = ErrorEnvelope, description = "LEASE_NOT_FOUND"),
        (status = 409, body = ErrorEnvelope, description = "LEASE_INACTIVE or LEASE_EXPIRED")))]
pub async fn heartbeat(
    State(s): State<AppState>,
    auth: Auth,
    Valid(body): Valid<LeaseHeartbeatRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::heartbeat(&s, &auth, body).await?,
    ))
}

/// Revoke a lease (its owner or an admin); its seat is free at once.
#[utoipa::path(post, path = "/api/v1/license/revoke", tag = "licensing", security(("bearer" = [])),
    request_body = RevokeLeaseRequest,
    responses((status = 200, body = Envelope<LeaseRevoked>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "LEASE_OWNER_MISMATCH"),
        (status = 404, body = ErrorEnvelope, description = "LEASE_NOT_FOUND"),
        (status = 409, body = ErrorEnvelope, description = "LEASE_INACTIVE: it had expired")))]
pub async fn revoke(
    State(s): State<AppState>,
    auth: Auth,
    audit: AuditSlot,
    Valid(body): Valid<RevokeLeaseRequest>,
) -> ApiResult<Response> {
    audit.describe_always("lease.revoke", format!("lease:{}", body.lease_id.trim()));
    Ok(answer(
        StatusCode::OK,
        service::revoke(&s, &auth, body).await?,
    ))
}

/// Leases, newest first: an admin's the tenant's, anyone else's their own.
#[utoipa::path(get, path = "/api/v1/license/leases", tag = "licensing", security(("bearer" = [])),
    params(LeaseListQuery, Paging),
    responses((status = 200, body = Envelope<Vec<LeaseView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn list_leases(
    State(s): State<AppState>,
    auth: Auth,
    ValidQuery(query): ValidQuery<LeaseListQuery>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> ApiResult<Json<Envelope<Vec<LeaseView>>>> {
    let (page, limit) = paging.resolve()?;
    let (rows, total) = service::list_leases(&s.db, &auth, query, page, limit).await?;
    Ok(Json(Envelope::page(rows, PageMeta { total, page, limit })))
}
