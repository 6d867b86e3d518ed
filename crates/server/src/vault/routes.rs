//! `/api/v1/secrets/*` (spec api.md §15): the reference's routes (create, meta, rotate,
//! bindings) plus what makes the vault usable: the list, the caller's own ciphertext,
//! deletion, unbinding, users' vault keys, the recipients' public keys, and the secrets bound
//! to an agent.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use botmox_proto::agent::AGENT_TOKEN_PREFIX;
use botmox_proto::vault::{
    BindingQuery, BindingView, BoundSecret, CreateBindingRequest, CreateSecretRequest,
    RecipientKey, RotateSecretRequest, SecretCiphertext, SecretMeta, VaultKeyRequest,
};
use botmox_proto::{Envelope, ErrorEnvelope};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self, Reader};
use crate::agents::principal::AgentAuth;
use crate::audit::AuditSlot;
use crate::auth::extract::bearer;
use crate::db::entity::agent;
use crate::http::{ApiError, ApiPath, ApiResult, Valid, ValidQuery, answer};
use crate::principal::{Admin, Auth};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(meta))
        .routes(routes!(ciphertext))
        .routes(routes!(rotate))
        .routes(routes!(delete))
        .routes(routes!(list_bindings, create_binding))
        .routes(routes!(delete_binding))
        .routes(routes!(vault_key, put_vault_key))
        .routes(routes!(recipients))
        .routes(routes!(bound))
}

/// An agent (agent token) or a human (session or API token): the callers a ciphertext can
/// be for.
pub enum Caller {
    /// Boxed: an agent row is large beside a shared `Auth`.
    Agent(Box<agent::Model>),
    Human(Auth),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_some_and(|t| t.starts_with(AGENT_TOKEN_PREFIX)) {
            let AgentAuth(agent) = AgentAuth::from_request_parts(parts, state).await?;
            Ok(Self::Agent(Box::new(agent)))
        } else {
            Ok(Self::Human(Auth::from_request_parts(parts, state).await?))
        }
    }
}

/// The tenant's secrets, newest first: metadata only.
#[utoipa::path(get, path = "/api/v1/secrets", tag = "vault", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<SecretMeta>>), (status = 401, body = ErrorEnvelope)))]
pub async fn list(State(s): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(answer(StatusCode::OK, service::list(&s.db, &auth).await?))
}

/// Store a secret sealed by the client: one HPKE envelope per recipient, each to the
/// recipient's current key, bound to tenant, id and field. Admins only.
#[utoipa::path(post, path = "/api/v1/secrets", tag = "vault", security(("bearer" = ["admin"])),
    request_body = CreateSecretRequest,
    responses((status = 201, body = Envelope<SecretMeta>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "SECRET_EXISTS or VAULT_KEY_MISMATCH")))]
pub async fn create(
    State(s): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    Valid(body): Valid<CreateSecretRequest>,
) -> ApiResult<Response> {
    audit.describe("secret.create", format!("secret:{}", body.id));
    Ok(answer(
        StatusCode::CREATED,
        service::create(&s.db, &admin, body).await?,
    ))
}

/// A secret's metadata: label, field, recipients and their key ids, times.
#[utoipa::path(get, path = "/api/v1/secrets/{id}/meta", tag = "vault", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<SecretMeta>), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "SECRET_NOT_FOUND")))]
pub async fn meta(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::get_meta(&s.db, &auth, &id).await?,
    ))
}

/// The caller's own envelope of a secret (an agent's, or the one sealed to the user's vault
/// key); 404 for anyone else.
#[utoipa::path(get, path = "/api/v1/secrets/{id}/ciphertext", tag = "vault", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<SecretCiphertext>), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "SECRET_NOT_FOUND: no such secret, or none sealed to the caller"),
        (status = 409, body = ErrorEnvelope, description = "AGENT_REVOKED")))]
pub async fn ciphertext(
    State(s): State<AppState>,
    caller: Caller,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let reader = match &caller {
        Caller::Agent(agent) => Reader::Agent(agent),
        Caller::Human(auth) => Reader::Human(auth),
    };
    let sealed = service::ciphertext(&s.db, reader, &id).await?;
    if let Caller::Human(_) = caller {
        audit.describe_always("secret.read", format!("secret:{id}"));
    }
    Ok(answer(StatusCode::OK, sealed))
}

/// Replace every envelope of a secret (a new value or new recipients), sealed afresh by the
/// client; its id and field stay. Admins only.
#[utoipa::path(post, path = "/api/v1/secrets/{id}/rotate", tag = "vault", security(("bearer" = ["admin"])),
    params(("id" = String, Path)), request_body = RotateSecretRequest,
    responses((status = 200, body = Envelope<SecretMeta>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "SECRET_NOT_FOUND"),
        (status = 409, body = ErrorEnvelope, description = "VAULT_KEY_MISMATCH")))]
pub async fn rotate(
    State(s): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
    Valid(body): Valid<RotateSecretRequest>,
) -> ApiResult<Response> {
    audit.describe("secret.rotate", format!("secret:{id}"));
    Ok(answer(
        StatusCode::OK,
        service::rotate(&s.db, &admin, &id, body).await?,
    ))
}

/// Delete a secret with its envelopes and bindings. Admins only.
#[utoipa::path(delete, path = "/api/v1/secrets/{id}", tag = "vault", security(("bearer" = ["admin"])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<bool>, description = "`true`"), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope, description = "SECRET_NOT_FOUND")))]
pub async fn delete(
    State(s): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    audit.describe("secret.delete", format!("secret:{id}"));
    service::delete(&s.db, &admin, &id).await?;
    Ok(answer(StatusCode::OK, true))
}

/// The tenant's bindings, newest first, optionally of one scope.
#[utoipa::path(get, path = "/api/v1/secrets/bindings", tag = "vault", security(("bearer" = [])),
    params(BindingQuery),
    responses((status = 200, body = Envelope<Vec<BindingView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn list_bindings(
    State(s): State<AppState>,
    auth: Auth,
    ValidQuery(query): ValidQuery<BindingQuery>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::list_bindings(&s.db, &auth, query).await?,
    ))
}

/// Bind a secret of the tenant to a scope (`bot`, `vm`, `vm_settings`, `agent`, `tenant`)
/// under its field; binding the same scope and field again replaces the secret. Admins only.
#[utoipa::path(post, path = "/api/v1/secrets/bindings", tag = "vault", security(("bearer" = ["admin"])),
    request_body = CreateBindingRequest,
    responses((status = 201, body = Envelope<BindingView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub async fn create_binding(
    State(s): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    Valid(body): Valid<CreateBindingRequest>,
) -> ApiResult<Response> {
    let view = service::create_binding(&s.db, &admin, body).await?;
    audit.describe(
        "secret.bind",
        format!(
            "binding:{} secret:{} {}:{}",
            view.id, view.secret_ref, view.scope_type, view.scope_id
        ),
    );
    Ok(answer(StatusCode::CREATED, view))
}

/// Remove a binding (the secret stays). Admins only.
#[utoipa::path(delete, path = "/api/v1/secrets/bindings/{id}", tag = "vault", security(("bearer" = ["admin"])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<bool>, description = "`true`"), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn delete_binding(
    State(s): State<AppState>,
    admin: Admin,
    audit: AuditSlot,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    audit.describe("secret.unbind", format!("binding:{id}"));
    service::delete_binding(&s.db, &admin, &id).await?;
    Ok(answer(StatusCode::OK, true))
}

/// The caller's vault public key.
#[utoipa::path(get, path = "/api/v1/secrets/vault-key", tag = "vault", security(("bearer" = [])),
    responses((status = 200, body = Envelope<RecipientKey>), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope, description = "none registered")))]
pub async fn vault_key(State(s): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::vault_key(&s.db, &auth).await?,
    ))
}

/// Register or replace the caller's vault public key (P-256; the private key never leaves
/// the user). Secrets sealed to an earlier key must be rotated to reach the new one.
#[utoipa::path(put, path = "/api/v1/secrets/vault-key", tag = "vault", security(("bearer" = [])),
    request_body = VaultKeyRequest,
    responses((status = 200, body = Envelope<RecipientKey>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub async fn put_vault_key(
    State(s): State<AppState>,
    auth: Auth,
    audit: AuditSlot,
    Valid(body): Valid<VaultKeyRequest>,
) -> ApiResult<Response> {
    let key = service::put_vault_key(&s.db, &auth, body).await?;
    audit.describe_always("vault_key.put", format!("{} {}", key.recipient, key.key_id));
    Ok(answer(StatusCode::OK, key))
}

/// The public keys of the tenant's recipients (active agents, users with a vault key), for
/// a client to seal a secret to.
#[utoipa::path(get, path = "/api/v1/secrets/recipients", tag = "vault", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<RecipientKey>>), (status = 401, body = ErrorEnvelope)))]
pub async fn recipients(State(s): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::recipients(&s.db, auth.tenant()).await?,
    ))
}

/// Agent token: the secrets bound to this agent (scope `agent` with its id, and the
/// tenant-wide `tenant` and `vm_settings` bindings) that are sealed to it, with its envelopes.
#[utoipa::path(get, path = "/api/v1/secrets/agent/bound", tag = "vault", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<BoundSecret>>), (status = 401, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "AGENT_REVOKED")))]
pub async fn bound(State(s): State<AppState>, AgentAuth(agent): AgentAuth) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::bound_to_agent(&s.db, &agent).await?,
    ))
}
