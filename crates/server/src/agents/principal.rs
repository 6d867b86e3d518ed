//! The agent behind a request: an `Authorization: Bearer bma_...` token, hashed and looked
//! up by that hash. A revoked or rotated token fails on the very next request: a rotated
//! one with 401, a revoked agent's with 409 `AGENT_REVOKED` (its token hash is kept for
//! that answer; it never authenticates again).
//!
//! Two extractors. [`AgentAuth`] reads the agent on every request; the routes that hand out
//! more than the bus's own work (secrets, streams, rotation) use it. [`FleetAgent`] serves
//! the fleet's constant traffic (heartbeats, polls, reports) from the bus's agent cache
//! (`bus::agent_cache`): those routes' own statements check that the agent still stands
//! (see `bus::store`), so the cache saves a lookup per request without letting a
//! revocation through, on this replica or any other.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use botmox_proto::agent::{AGENT_TOKEN_PREFIX, AgentStatus};

use crate::auth::extract::bearer;
use crate::clock::now_ms;
use crate::db::entity::agent;
use crate::http::{ApiError, ApiResult};
use crate::keys::hash_secret;
use crate::state::AppState;

/// The agent behind the request's token, read now.
pub struct AgentAuth(pub agent::Model);

/// The agent behind the request's token as last read (see the module's notes): for routes
/// whose statements check the agent's standing themselves.
pub struct FleetAgent(pub agent::Model);

/// 409 `AGENT_REVOKED`: what a revoked agent's token answers on every agent route.
pub fn revoked() -> ApiError {
    ApiError::new(
        botmox_proto::ErrorCode::AgentRevoked,
        "This agent was revoked; pair it again to use it",
    )
}

fn unauthorized() -> ApiError {
    ApiError::unauthorized("A valid agent token is required")
}

/// The request's agent token's hash, or 401.
fn token_hash(parts: &Parts) -> ApiResult<String> {
    bearer(parts)
        .filter(|t| t.starts_with(AGENT_TOKEN_PREFIX))
        .map(hash_secret)
        .ok_or_else(unauthorized)
}

/// Read the agent holding `token_hash` and judge it: the agent when it is active with an
/// unexpired token, else the answer its token gets.
async fn read(state: &AppState, token_hash: &str) -> ApiResult<agent::Model> {
    let agent = state
        .bus
        .store
        .agent_by_token(token_hash)
        .await?
        .filter(|a| a.token_expires_at.is_some_and(|e| e > now_ms()))
        .ok_or_else(unauthorized)?;
    match agent.status.0 {
        AgentStatus::Active => Ok(agent),
        // The agent must stop, not retry: the answer the reference's agents stop on.
        AgentStatus::Revoked => Err(revoked()),
        AgentStatus::Pending => Err(unauthorized()),
    }
}

/// Why `agent`, as it was read, no longer stands (its statement found it revoked or its
/// token replaced): forget it, and answer as a fresh read of its token does.
pub async fn no_longer_standing(state: &AppState, agent: &agent::Model) -> ApiError {
    let hash = agent.token_hash.clone().unwrap_or_default();
    state.bus.agents.forget(&hash);
    match read(state, &hash).await {
        Ok(_) => ApiError::new(
            botmox_proto::ErrorCode::Conflict,
            "The agent changed meanwhile; try again",
        ),
        Err(e) => e,
    }
}

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(read(state, &token_hash(parts)?).await?))
    }
}

impl FromRequestParts<AppState> for FleetAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let hash = token_hash(parts)?;
        // The token's expiry changes only with the token itself: the cached one holds.
        if let Some(agent) = state
            .bus
            .agents
            .get(&hash)
            .filter(|a| a.token_expires_at.is_some_and(|e| e > now_ms()))
        {
            return Ok(Self(agent));
        }
        let agent = read(state, &hash).await?;
        state.bus.agents.put(&agent);
        Ok(Self(agent))
    }
}
