//! The agent behind a request: an `Authorization: Bearer bma_...` token, hashed and looked
//! up in the database on every request (no cache), so a revoked or rotated token fails on
//! the very next request: a rotated one with 401, a revoked agent's with 409
//! `AGENT_REVOKED` (its token hash is kept for that answer; it never authenticates again).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use botmox_proto::agent::{AGENT_TOKEN_PREFIX, AgentStatus};

use crate::auth::extract::bearer;
use crate::clock::now_ms;
use crate::db::entity::agent;
use crate::http::ApiError;
use crate::keys::hash_secret;
use crate::state::AppState;

pub struct AgentAuth(pub agent::Model);

/// 409 `AGENT_REVOKED`: what a revoked agent's token answers on every agent route.
pub fn revoked() -> ApiError {
    ApiError::new(
        botmox_proto::ErrorCode::AgentRevoked,
        "This agent was revoked; pair it again to use it",
    )
}

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || ApiError::unauthorized("A valid agent token is required");
        let token = bearer(parts)
            .filter(|t| t.starts_with(AGENT_TOKEN_PREFIX))
            .ok_or_else(unauthorized)?;
        let agent = state
            .bus
            .store
            .agent_by_token(&hash_secret(token))
            .await?
            .filter(|a| a.token_expires_at.is_some_and(|e| e > now_ms()))
            .ok_or_else(unauthorized)?;
        match agent.status.0 {
            AgentStatus::Active => Ok(Self(agent)),
            // The agent must stop, not retry: the answer the reference's agents stop on.
            AgentStatus::Revoked => Err(revoked()),
            AgentStatus::Pending => Err(unauthorized()),
        }
    }
}
