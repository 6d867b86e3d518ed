//! `/api/v1/auth/*`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use botmox_proto::Envelope;
use botmox_proto::auth::{LoginRequest, Principal, RefreshRequest, TokenPair, VerifyResult};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service;
use crate::http::layers::RequestId;
use crate::http::{ApiJson, ApiResult, ClientAddr};
use crate::principal::Auth;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(verify))
        .routes(routes!(whoami))
}

fn request_id(id: Option<axum::Extension<RequestId>>) -> Option<String> {
    id.map(|e| e.0.0)
}

/// Sign in with e-mail and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Envelope<TokenPair>), (status = 401, description = "INVALID_CREDENTIALS"),
        (status = 403, description = "ACCOUNT_DISABLED"), (status = 429, description = "RATE_LIMITED")))]
pub async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    id: Option<axum::Extension<RequestId>>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<Envelope<TokenPair>>> {
    let pair = service::login(&state, &body.email, &body.password, addr, request_id(id)).await?;
    Ok(Json(Envelope::ok(pair)))
}

/// Exchange a refresh token for a new pair. Each refresh token works once.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Envelope<TokenPair>), (status = 401, description = "invalid, spent or revoked")))]
pub async fn refresh(
    State(state): State<AppState>,
    addr: ClientAddr,
    id: Option<axum::Extension<RequestId>>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<Envelope<TokenPair>>> {
    let pair = service::refresh(&state, &body.refresh_token, addr, request_id(id)).await?;
    Ok(Json(Envelope::ok(pair)))
}

/// End the session of the presented access token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Envelope<VerifyResult>), (status = 401),
        (status = 400, description = "`BAD_REQUEST`: an API token or external JWT, which has no session to end")))]
pub async fn logout(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<(StatusCode, Json<Envelope<VerifyResult>>)> {
    service::logout(&state, &auth).await?;
    Ok((
        StatusCode::OK,
        Json(Envelope::ok(VerifyResult { valid: false })),
    ))
}

/// Check that the presented token is valid.
#[utoipa::path(get, path = "/api/v1/auth/verify", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Envelope<VerifyResult>), (status = 401)))]
pub async fn verify(_auth: Auth) -> Json<Envelope<VerifyResult>> {
    Json(Envelope::ok(VerifyResult { valid: true }))
}

/// The authenticated principal.
#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Principal>), (status = 401)))]
pub async fn whoami(auth: Auth) -> Json<Envelope<Principal>> {
    Json(Envelope::ok(auth.principal()))
}
