//! Which agent runs an infra call, and the call itself: dispatch, wait, and the agent's
//! outcome as the answer or as an error with a stable code.

use std::time::Duration;

use botmox_proto::ErrorCode;
use botmox_proto::agent::AgentStatus;
use botmox_proto::command::{Command, CommandStatus, DispatchRequest};
use serde_json::{Value, json};

use crate::agents;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::settings;
use crate::state::AppState;
use crate::vm_ops;

/// How long a call waits for the agent when the query does not say.
pub const DEFAULT_WAIT_MS: u64 = 60_000;
/// Shortest and longest wait a call may ask for.
pub const MIN_WAIT_MS: u64 = 1_000;
pub const MAX_WAIT_MS: u64 = 600_000;
/// Where the tenant's settings name the agent infra calls go to when none is asked for.
const DEFAULT_AGENT_SETTING: &str = "/vmgenerator/agentId";

/// The `infra` or `admin` role, as the reference asked of these routes.
fn require_infra(auth: &Auth) -> ApiResult<()> {
    if auth.role().is_privileged() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "The infrastructure routes need the infra or admin role",
        ))
    }
}

/// The tenant's default agent for infrastructure work (settings `vmgenerator.agentId`).
pub async fn default_agent(state: &AppState, auth: &Auth) -> ApiResult<Option<String>> {
    let tree = settings::service::tree(&state.db, auth.tenant()).await?;
    Ok(tree
        .pointer(DEFAULT_AGENT_SETTING)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned))
}

/// The agent a call goes to: the one asked for, else the tenant's default in settings
/// (`vmgenerator.agentId`), else the caller's only active agent.
async fn agent_for(state: &AppState, auth: &Auth, asked: Option<&str>) -> ApiResult<String> {
    if let Some(id) = asked.map(str::trim).filter(|id| !id.is_empty()) {
        return Ok(id.to_owned());
    }
    if let Some(id) = default_agent(state, auth).await? {
        return Ok(id);
    }
    let active: Vec<String> = agents::service::list(state, auth)
        .await?
        .into_iter()
        .filter(|a| a.status == AgentStatus::Active)
        .map(|a| a.id)
        .collect();
    match active.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(ApiError::field(
            "agent_id",
            "no active agent: pair one first (Agents page or POST /api/v1/agents/pairings)",
        )),
        _ => Err(ApiError::field(
            "agent_id",
            "several agents: pass agent_id, or set settings vmgenerator.agentId",
        )),
    }
}

/// Run `command` on the chosen agent and answer its result. A failure answers 502
/// `COMMAND_FAILED` with the agent's code and message in the details (the agent reports
/// `CODE: message`).
pub async fn run(
    state: &AppState,
    auth: &Auth,
    agent_id: Option<&str>,
    wait_ms: Option<u64>,
    command: Command,
) -> ApiResult<Value> {
    require_infra(auth)?;
    let agent_id = agent_for(state, auth, agent_id).await?;
    let wait = Duration::from_millis(wait_ms.unwrap_or(DEFAULT_WAIT_MS));
    let request = DispatchRequest {
        agent_id,
        command,
        // Unclaimed past the wait, the command expires rather than run for nobody (within
        // the dispatch's bounds of 10 s to an hour).
        expires_in_seconds: Some(wait.as_secs().clamp(10, 3600) as u32),
        queue_if_offline: None,
    };
    let done = vm_ops::service::dispatch_and_wait(state, auth, request, wait).await?;
    match done.status.0 {
        CommandStatus::Succeeded => Ok(done
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Null)),
        status => {
            let message = done
                .error_message
                .unwrap_or_else(|| format!("the command ended {status}"));
            let (code, text) = split_code(&message);
            Err(ApiError::new(
                ErrorCode::CommandFailed,
                format!("The agent could not do it: {message}"),
            )
            .with_details(json!({
                "command_id": done.id,
                "status": status,
                "code": code,
                "message": text,
            })))
        }
    }
}

/// `CODE: message` apart, when the message opens with an upper-case code.
fn split_code(message: &str) -> (Option<&str>, &str) {
    match message.split_once(": ") {
        Some((code, rest))
            if !code.is_empty()
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
        {
            (Some(code), rest)
        }
        _ => (None, message),
    }
}

/// A catalogue command from its type and payload; a payload the contract refuses is a 400
/// naming its fields, as any dispatch's.
pub fn command(command_type: &str, payload: Value) -> ApiResult<Command> {
    Command::from_parts(command_type, payload)
        .map_err(|e| botmox_proto::validate::FieldErrors::from(e).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_codes_are_split_from_their_messages() {
        assert_eq!(
            split_code("PVE_NOT_FOUND: VM 7 does not exist"),
            (Some("PVE_NOT_FOUND"), "VM 7 does not exist")
        );
        assert_eq!(split_code("plain words: here"), (None, "plain words: here"));
        assert_eq!(split_code("no code"), (None, "no code"));
    }
}
