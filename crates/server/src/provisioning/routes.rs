//! `/api/v1/unattend-profiles`, `/api/v1/playbooks` and `/api/v1/provisioning/*` (spec
//! api.md §17-18).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use botmox_proto::provisioning::{
    CreatePlaybookRequest, CreateProfileRequest, GenerateIsoPayloadRequest,
    GenerateIsoPayloadResponse, PlaybookValidation, PlaybookView, PreviewProfileRequest,
    ProfilePreview, ProfileView, ProgressPath, ProgressView, ProvisionTokenQuery,
    ProvisionTokenView, ReportProgressRequest, TokenValidated, UpdatePlaybookRequest,
    UpdateProfileRequest, ValidatePlaybookRequest, ValidateTokenRequest,
};
use botmox_proto::{Envelope, ErrorEnvelope};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self, IssuedPayload, PayloadRequest, ProfileChoice};
use crate::artifacts::routes::FileBytes;
use crate::audit::AuditSlot;
use crate::http::{ApiError, ApiPath, ApiResult, Valid, ValidQuery, answer};
use crate::principal::Auth;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_profiles, create_profile))
        .routes(routes!(preview_profile))
        .routes(routes!(get_profile, update_profile, delete_profile))
        .routes(routes!(list_playbooks, create_playbook))
        .routes(routes!(validate_playbook))
        .routes(routes!(get_playbook, update_playbook, delete_playbook))
        .routes(routes!(generate_iso_payload))
        .routes(routes!(generate_iso))
        .routes(routes!(validate_token))
        .routes(routes!(report_progress))
        .routes(routes!(progress))
        .routes(routes!(list_tokens))
        .routes(routes!(revoke_token))
}

/// `{deleted: true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: bool,
}

fn deleted() -> Response {
    answer(StatusCode::OK, Deleted { deleted: true })
}

/// The caller's profiles, oldest first (the password never shown).
#[utoipa::path(get, path = "/api/v1/unattend-profiles", tag = "provisioning", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<ProfileView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn list_profiles(State(s): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::list_profiles(&s.db, &auth).await?,
    ))
}

/// Save a profile; `is_default: true` makes it the caller's only default.
#[utoipa::path(post, path = "/api/v1/unattend-profiles", tag = "provisioning", security(("bearer" = [])),
    request_body = CreateProfileRequest,
    responses((status = 201, body = Envelope<ProfileView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "DUPLICATE_NAME")))]
pub async fn create_profile(
    State(s): State<AppState>,
    auth: Auth,
    Valid(body): Valid<CreateProfileRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::CREATED,
        service::create_profile(&s.db, &auth, body).await?,
    ))
}

/// What a profile makes for one VM (`autounattend.xml`, `setup.ps1`), without saving it or
/// issuing a token. The password shown is the one in the body.
#[utoipa::path(post, path = "/api/v1/unattend-profiles/preview", tag = "provisioning", security(("bearer" = [])),
    request_body = PreviewProfileRequest,
    responses((status = 200, body = Envelope<ProfilePreview>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn preview_profile(
    _auth: Auth,
    Valid(body): Valid<PreviewProfileRequest>,
) -> ApiResult<Response> {
    Ok(answer(StatusCode::OK, service::preview_profile(&body)?))
}

/// One of the caller's profiles.
#[utoipa::path(get, path = "/api/v1/unattend-profiles/{id}", tag = "provisioning", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<ProfileView>), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "PROFILE_NOT_FOUND")))]
pub async fn get_profile(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::get_profile(&s.db, &auth, &id).await?,
    ))
}

/// Change a profile; a config without `user.password` keeps the stored password.
#[utoipa::path(put, path = "/api/v1/unattend-profiles/{id}", tag = "provisioning", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateProfileRequest,
    responses((status = 200, body = Envelope<ProfileView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "PROFILE_NOT_FOUND"),
        (status = 409, body = ErrorEnvelope, description = "DUPLICATE_NAME")))]
pub async fn update_profile(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    Valid(body): Valid<UpdateProfileRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::update_profile(&s.db, &auth, &id, body).await?,
    ))
}

/// Delete a profile.
#[utoipa::path(delete, path = "/api/v1/unattend-profiles/{id}", tag = "provisioning", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "PROFILE_NOT_FOUND")))]
pub async fn delete_profile(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    service::delete_profile(&s.db, &auth, &id).await?;
    Ok(deleted())
}

/// The caller's playbooks, oldest first.
#[utoipa::path(get, path = "/api/v1/playbooks", tag = "provisioning", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<PlaybookView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn list_playbooks(State(s): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::list_playbooks(&s.db, &auth).await?,
    ))
}

/// Save a playbook (its content checked first).
#[utoipa::path(post, path = "/api/v1/playbooks", tag = "provisioning", security(("bearer" = [])),
    request_body = CreatePlaybookRequest,
    responses((status = 201, body = Envelope<PlaybookView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "DUPLICATE_NAME"),
        (status = 422, body = ErrorEnvelope, description = "INVALID_PLAYBOOK, details {errors, warnings}")))]
pub async fn create_playbook(
    State(s): State<AppState>,
    auth: Auth,
    Valid(body): Valid<CreatePlaybookRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::CREATED,
        service::create_playbook(&s.db, &auth, body).await?,
    ))
}

/// Check a playbook without saving it (always 200; `valid` says).
#[utoipa::path(post, path = "/api/v1/playbooks/validate", tag = "provisioning", security(("bearer" = [])),
    request_body = ValidatePlaybookRequest,
    responses((status = 200, body = Envelope<PlaybookValidation>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn validate_playbook(
    _auth: Auth,
    Valid(body): Valid<ValidatePlaybookRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::validate_playbook(&body.content),
    ))
}

/// One of the caller's playbooks.
#[utoipa::path(get, path = "/api/v1/playbooks/{id}", tag = "provisioning", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<PlaybookView>), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "PLAYBOOK_NOT_FOUND")))]
pub async fn get_playbook(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::get_playbook(&s.db, &auth, &id).await?,
    ))
}

/// Change a playbook; new content is checked again.
#[utoipa::path(put, path = "/api/v1/playbooks/{id}", tag = "provisioning", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdatePlaybookRequest,
    responses((status = 200, body = Envelope<PlaybookView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "PLAYBOOK_NOT_FOUND"),
        (status = 409, body = ErrorEnvelope, description = "DUPLICATE_NAME"),
        (status = 422, body = ErrorEnvelope, description = "INVALID_PLAYBOOK")))]
pub async fn update_playbook(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    Valid(body): Valid<UpdatePlaybookRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::update_playbook(&s.db, &auth, &id, body).await?,
    ))
}

/// Delete a playbook (404 for an unknown id, unlike the reference).
#[utoipa::path(delete, path = "/api/v1/playbooks/{id}", tag = "provisioning", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "PLAYBOOK_NOT_FOUND")))]
pub async fn delete_playbook(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    service::delete_playbook(&s.db, &auth, &id).await?;
    Ok(deleted())
}

/// The payload of a generate request, issued for the caller.
pub(crate) async fn issue_for(
    s: &AppState,
    auth: &Auth,
    body: GenerateIsoPayloadRequest,
) -> ApiResult<IssuedPayload> {
    let user = service::owner_of(auth)?;
    let profile = match (body.profile_config, body.profile_id) {
        (Some(config), _) => ProfileChoice::Inline(Box::new(config)),
        (None, Some(id)) => ProfileChoice::Saved(id),
        (None, None) => ProfileChoice::Default,
    };
    let req = PayloadRequest {
        vm_uuid: body.vm_uuid,
        ip: body.ip,
        profile,
        playbook: body.playbook_id,
        sequence: body.sequence,
    };
    service::issue_payload(s, auth.tenant(), user, req).await
}

/// Issue a provisioning token for one of the caller's VMs and answer its config-ISO files
/// (base64). The VM's earlier token stops working. Profile: `profile_config`, else
/// `profile_id`, else the caller's default. Playbook: an id, `"none"`, or (absent) the
/// caller's default.
#[utoipa::path(post, path = "/api/v1/provisioning/generate-iso-payload", tag = "provisioning", security(("bearer" = [])),
    request_body = GenerateIsoPayloadRequest,
    responses((status = 200, body = Envelope<GenerateIsoPayloadResponse>),
        (status = 400, body = ErrorEnvelope, description = "BAD_REQUEST (also: no profile and no default profile) or PUBLIC_URL_REQUIRED"),
        (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "VM_OWNER_MISMATCH or VM_INACTIVE"),
        (status = 404, body = ErrorEnvelope, description = "VM_NOT_REGISTERED, PROFILE_NOT_FOUND or PLAYBOOK_NOT_FOUND")))]
pub async fn generate_iso_payload(
    State(s): State<AppState>,
    auth: Auth,
    audit: AuditSlot,
    Valid(body): Valid<GenerateIsoPayloadRequest>,
) -> ApiResult<Response> {
    let issued = issue_for(&s, &auth, body).await?;
    audit.describe_always(
        "provisioning.token.issue",
        format!("vm:{} token:{}", issued.vm_uuid, issued.token_id),
    );
    let response = GenerateIsoPayloadResponse {
        files: issued
            .files
            .iter()
            .map(|(name, bytes)| (name.clone(), STANDARD.encode(bytes)))
            .collect(),
        token: issued.token,
        token_id: issued.token_id,
        expires_at: crate::clock::iso(issued.expires_at),
        computer_name: issued.computer_name,
        username: issued.username,
        vm_uuid: issued.vm_uuid,
        playbook_id: issued.playbook_id,
    };
    Ok(answer(StatusCode::OK, response))
}

/// Headers of `generate-iso`'s answer: the id and expiry of the token inside the image.
pub const TOKEN_ID_HEADER: &str = "x-provision-token-id";
pub const TOKEN_EXPIRES_HEADER: &str = "x-provision-token-expires-at";

/// As `generate-iso-payload`, but the answer is the config ISO itself (ISO 9660 + Joliet,
/// label `PROVISION`), for operators who attach it by hand or use another hypervisor. The
/// token's id and expiry are in the `X-Provision-Token-Id` and `X-Provision-Token-Expires-At`
/// headers.
#[utoipa::path(post, path = "/api/v1/provisioning/generate-iso", tag = "provisioning", security(("bearer" = [])),
    request_body = GenerateIsoPayloadRequest,
    responses((status = 200, body = FileBytes, content_type = "application/x-iso9660-image", description = "The image",
            headers(("x-provision-token-id" = String, description = "The token's id"),
                ("x-provision-token-expires-at" = String, description = "The token's expiry (RFC 3339)"))),
        (status = 400, body = ErrorEnvelope, description = "BAD_REQUEST (also: no profile and no default profile) or PUBLIC_URL_REQUIRED"),
        (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "VM_OWNER_MISMATCH or VM_INACTIVE"),
        (status = 404, body = ErrorEnvelope, description = "VM_NOT_REGISTERED, PROFILE_NOT_FOUND or PLAYBOOK_NOT_FOUND")))]
pub async fn generate_iso(
    State(s): State<AppState>,
    auth: Auth,
    audit: AuditSlot,
    Valid(body): Valid<GenerateIsoPayloadRequest>,
) -> ApiResult<Response> {
    let issued = issue_for(&s, &auth, body).await?;
    audit.describe_always(
        "provisioning.token.issue",
        format!("vm:{} token:{}", issued.vm_uuid, issued.token_id),
    );
    let image = botmox_unattend::iso::build(&issued.files).map_err(ApiError::internal)?;
    let filename = format!("provision-{}.iso", issued.vm_uuid);
    let header = |value: &str| HeaderValue::from_str(value).map_err(ApiError::internal);
    let mut response = image.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-iso9660-image"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        header(&format!("attachment; filename=\"{filename}\""))?,
    );
    headers.insert(TOKEN_ID_HEADER, header(&issued.token_id)?);
    headers.insert(
        TOKEN_EXPIRES_HEADER,
        header(&crate::clock::iso(issued.expires_at))?,
    );
    Ok(response)
}

/// For the VM: check its provisioning token (public; the token is the credential). 401
/// `TOKEN_INVALID` says why a token fails.
#[utoipa::path(post, path = "/api/v1/provisioning/validate-token", tag = "provisioning",
    request_body = ValidateTokenRequest,
    responses((status = 200, body = Envelope<TokenValidated>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope, description = "TOKEN_INVALID with the reason"),
        (status = 429, body = ErrorEnvelope)))]
pub async fn validate_token(
    State(s): State<AppState>,
    Valid(body): Valid<ValidateTokenRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::validate_token(&s, &body.token, &body.vm_uuid).await?,
    ))
}

/// For the VM: report a step (public; the token is the credential). An exact repeat answers
/// the stored report; `completed`/`completed` marks the token used.
#[utoipa::path(post, path = "/api/v1/provisioning/report-progress", tag = "provisioning",
    request_body = ReportProgressRequest,
    responses((status = 200, body = Envelope<ProgressView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope, description = "TOKEN_INVALID with the reason"),
        (status = 429, body = ErrorEnvelope)))]
pub async fn report_progress(
    State(s): State<AppState>,
    Valid(body): Valid<ReportProgressRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::report_progress(&s, body).await?,
    ))
}

/// A VM's progress reports, oldest first (its owner or an admin; 404 for anyone else).
#[utoipa::path(get, path = "/api/v1/provisioning/progress/{vmUuid}", tag = "provisioning", security(("bearer" = [])),
    params(ProgressPath),
    responses((status = 200, body = Envelope<Vec<ProgressView>>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn progress(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(vm_uuid): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::progress(&s.db, &auth, &vm_uuid).await?,
    ))
}

/// A VM's provisioning tokens, newest first, without the tokens themselves (its owner or an
/// admin).
#[utoipa::path(get, path = "/api/v1/provisioning/tokens", tag = "provisioning", security(("bearer" = [])),
    params(ProvisionTokenQuery),
    responses((status = 200, body = Envelope<Vec<ProvisionTokenView>>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn list_tokens(
    State(s): State<AppState>,
    auth: Auth,
    ValidQuery(query): ValidQuery<ProvisionTokenQuery>,
) -> ApiResult<Json<Envelope<Vec<ProvisionTokenView>>>> {
    Ok(Json(Envelope::ok(
        service::list_tokens(&s.db, &auth, &query.vm_uuid).await?,
    )))
}

/// Revoke a provisioning token: the VM can no longer report nor fetch its software with it.
#[utoipa::path(post, path = "/api/v1/provisioning/tokens/{id}/revoke", tag = "provisioning", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<ProvisionTokenView>), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    auth: Auth,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    audit.describe_always("provisioning.token.revoke", format!("token:{id}"));
    Ok(answer(
        StatusCode::OK,
        service::revoke_token(&s.db, &auth, &id).await?,
    ))
}
