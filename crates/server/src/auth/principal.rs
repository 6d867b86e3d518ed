//! The authenticated caller of a request, and the extractor that produces it from a bearer
//! token. Role and account state are read from the database on every request, so disabling
//! a user, revoking a token or changing a role takes effect on the very next request.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use botmox_proto::auth::{Principal, PrincipalType, Role};

use crate::app::AppState;
use crate::audit::AuditSlot;
use crate::http::ApiError;

#[derive(Debug, Clone)]
pub struct Auth {
    pub tenant_id: String,
    pub kind: PrincipalType,
    /// `local`, `external` or `api_token`.
    pub source: &'static str,
    /// The user behind the request (absent for API tokens).
    pub user_id: Option<String>,
    pub token_id: Option<String>,
    pub session_id: Option<String>,
    pub email: Option<String>,
    pub role: Role,
}

impl Auth {
    /// Stable id of the caller, as shown in `whoami` and the audit log.
    pub fn uid(&self) -> String {
        match (&self.user_id, &self.token_id) {
            (Some(user), _) => user.clone(),
            (None, Some(token)) => format!("token:{token}"),
            (None, None) => "unknown".into(),
        }
    }

    pub fn principal(&self) -> Principal {
        Principal {
            source: self.source.into(),
            kind: self.kind,
            uid: self.uid(),
            email: self.email.clone(),
            tenant_id: self.tenant_id.clone(),
            roles: vec![self.role],
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Role 'admin' is required for this endpoint",
            ))
        }
    }
}

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
        state.limits.per_principal.check(&auth.uid())?;
        if let Some(slot) = parts.extensions.get::<AuditSlot>() {
            slot.set_principal(&auth);
        }
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}

/// An authenticated admin of its tenant.
pub struct Admin(pub Auth);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        auth.require_admin()?;
        Ok(Admin(auth))
    }
}
