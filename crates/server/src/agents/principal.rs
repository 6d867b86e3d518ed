//! The agent behind a request: an `Authorization: Bearer bma_...` token, hashed and looked
//! up in the database on every request (no cache), so a revoked or rotated token fails on
//! the very next request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::extract::bearer;
use crate::db::entity::agent;
use crate::http::ApiError;
use crate::keys::hash_secret;
use crate::state::AppState;

/// Prefix of agent tokens.
pub const TOKEN_PREFIX: &str = "bma_";

pub struct AgentAuth(pub agent::Model);

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || ApiError::unauthorized("A valid agent token is required");
        let token = bearer(parts)
            .filter(|t| t.starts_with(TOKEN_PREFIX))
            .ok_or_else(unauthorized)?;
        let agent = state
            .bus
            .store
            .agent_by_token(&hash_secret(token))
            .await?
            .filter(|a| a.status == "active")
            .filter(|a| {
                a.token_expires_at
                    .is_some_and(|e| e > chrono::Utc::now().timestamp_millis())
            })
            .ok_or_else(unauthorized)?;
        Ok(Self(agent))
    }
}
