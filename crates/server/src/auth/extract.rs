//! The extractors that prove who is calling: [`Auth`] from a bearer token (every request
//! re-checks the account or token, through a short cache that every access change clears)
//! and [`Admin`] for the routes of tenant administration.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::audit::AuditSlot;
use crate::http::ApiError;
use crate::principal::{Admin, Auth};
use crate::state::AppState;

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(auth) = parts.extensions.get::<Auth>() {
            return Ok(auth.clone());
        }
        let token =
            bearer(parts).ok_or_else(|| ApiError::unauthorized("Bearer token is required"))?;
        let auth = super::service::authenticate_bearer(state, token).await?;
        state.limits.per_principal.check(auth.caller_key())?;
        if let Some(slot) = parts.extensions.get::<AuditSlot>() {
            slot.set_principal(&auth);
        }
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Auth::from_request_parts(parts, state).await?.admin()
    }
}
