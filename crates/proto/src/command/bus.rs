//! Commands once dispatched: their states, the agent's claim and reports, the views and
//! list queries, and the Server-Sent Events of `GET /vm-ops/events`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{Command, CommandError};
use crate::agent::AgentView;
use crate::time::{millis, millis_opt};
use crate::validate::{FieldErrors, Validate};

/// Most characters of a failed command's `error_message`.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 2000;
/// Largest `result` of a report (serialised JSON).
pub const MAX_RESULT_BYTES: usize = 64 * 1024;
/// How long a poll for the next command waits when it does not say.
pub const DEFAULT_NEXT_WAIT_MS: u64 = 25_000;
/// Shortest and longest wait a poll may ask for.
pub const MIN_NEXT_WAIT_MS: u64 = 1_000;
pub const MAX_NEXT_WAIT_MS: u64 = 60_000;
/// SSE event name of a command's change.
pub const EVENT_VM_COMMAND: &str = "vm-command";
/// SSE event name of an agent's presence change.
pub const EVENT_AGENT_STATUS: &str = "agent-status";

/// Where a command is. `queued` -> `dispatched` (claimed) -> `running` -> `succeeded` or
/// `failed`; a queued command may also be `cancelled` or `expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    Queued,
    Dispatched,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Expired,
}

wire_words!(
    CommandStatus,
    "command status",
    [
        Queued = "queued",
        Dispatched = "dispatched",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        Expired = "expired",
    ]
);

impl CommandStatus {
    /// `command.<status>`: the type of the event of a command entering this status.
    pub fn event_type(self) -> String {
        format!("command.{self}")
    }

    /// No change follows: a waiter can stop waiting.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::Expired
        )
    }
}

/// What an agent may report about a command it claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    Running,
    Succeeded,
    Failed,
}

impl From<ReportStatus> for CommandStatus {
    fn from(s: ReportStatus) -> Self {
        match s {
            ReportStatus::Running => Self::Running,
            ReportStatus::Succeeded => Self::Succeeded,
            ReportStatus::Failed => Self::Failed,
        }
    }
}

/// `PATCH /vm-ops/commands/{id}` (agent token): progress or outcome of a claimed command,
/// quoting the claim it got with the command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportRequest {
    /// The `claim_id` the poll handed over with the command.
    #[schema(min_length = 1, pattern = "\\S")]
    pub claim_id: String,
    pub status: ReportStatus,
    /// The outcome (any JSON, at most 64 KiB serialised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub result: Option<Value>,
    /// Why it failed, at most 2000 characters; `CODE: message` for coded failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000, example = "SSH_UNREACHABLE: connection timed out")]
    pub error_message: Option<String>,
}

impl ReportRequest {
    pub fn running(claim_id: impl Into<String>) -> Self {
        Self {
            claim_id: claim_id.into(),
            status: ReportStatus::Running,
            result: None,
            error_message: None,
        }
    }

    pub fn succeeded(claim_id: impl Into<String>, result: Value) -> Self {
        Self {
            result: Some(result),
            status: ReportStatus::Succeeded,
            ..Self::running(claim_id)
        }
    }

    /// A failure; a message longer than the server takes is cut (marked with `…`) and NUL is
    /// replaced by U+FFFD, so the report is never refused for its message.
    pub fn failed(claim_id: impl Into<String>, message: &str) -> Self {
        let message = message.replace('\0', "\u{FFFD}");
        let message = if message.chars().count() > MAX_ERROR_MESSAGE_CHARS {
            let cut: String = message.chars().take(MAX_ERROR_MESSAGE_CHARS - 1).collect();
            format!("{cut}…")
        } else {
            message
        };
        Self {
            error_message: Some(message),
            status: ReportStatus::Failed,
            ..Self::running(claim_id)
        }
    }
}

impl Validate for ReportRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("claim_id", &self.claim_id, 200);
        e.max_chars(
            "error_message",
            self.error_message.as_deref(),
            MAX_ERROR_MESSAGE_CHARS,
        );
        e.json_within("result", self.result.as_ref(), MAX_RESULT_BYTES);
        e.into_result()
    }
}

/// A command as the API shows it (dispatch, claim, report, read, list and events).
/// `command_type` and `payload` stay as stored, since rows older than the catalogue may
/// exist; [`CommandView::command`] reads them as a [`Command`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CommandView {
    pub id: String,
    pub tenant_id: String,
    pub agent_id: String,
    #[schema(example = "proxmox.list-vms")]
    pub command_type: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Value,
    pub status: CommandStatus,
    /// What the agent reported (any JSON); `null` until then.
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    pub result: Value,
    pub error_message: Option<String>,
    pub created_by: Option<String>,
    /// Present once claimed; the agent quotes it when it reports.
    pub claim_id: Option<String>,
    /// How often it was claimed (a lapsed claim is given back to the queue).
    pub attempts: i32,
    #[serde(serialize_with = "millis")]
    pub queued_at: DateTime<Utc>,
    #[serde(serialize_with = "millis_opt")]
    pub claimed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "millis_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "millis_opt")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "millis")]
    pub expires_at: DateTime<Utc>,
}

impl CommandView {
    /// The stored type and payload as a typed command.
    pub fn command(&self) -> Result<Command, CommandError> {
        Command::from_parts(&self.command_type, self.payload.clone())
    }
}

/// `GET /vm-ops/commands` filters (exact matches). A human sees the commands they
/// dispatched (admins: the tenant's); newest first, at most 100.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListCommandsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 200)]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(inline)]
    pub status: Option<CommandStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 200)]
    pub command_type: Option<String>,
}

impl Validate for ListCommandsQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("agent_id", self.agent_id.as_deref(), 200);
        e.max_chars("command_type", self.command_type.as_deref(), 200);
        e.into_result()
    }
}

/// `GET /vm-ops/commands/next` (agent token): wait up to `timeout_ms` for a command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextQuery {
    /// 1000..60000 ms (default 25000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1000, maximum = 60000)]
    pub timeout_ms: Option<u64>,
}

impl NextQuery {
    /// How long the server waits, the default filled in.
    pub fn wait(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_NEXT_WAIT_MS))
    }
}

impl Validate for NextQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.in_range(
            "timeout_ms",
            self.timeout_ms,
            MIN_NEXT_WAIT_MS,
            MAX_NEXT_WAIT_MS,
        );
        e.into_result()
    }
}

/// `GET /vm-ops/events` filters. Replay starts after the `Last-Event-ID` header, else after
/// `last_event_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 0)]
    pub last_event_id: Option<i64>,
}

impl Validate for EventsQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("agent_id", self.agent_id.as_deref(), 200);
        e.max_chars("command_id", self.command_id.as_deref(), 200);
        e.in_range("last_event_id", self.last_event_id, 0, i64::MAX);
        e.into_result()
    }
}

/// `event: vm-command`: a command entered `event_type` (`command.<status>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CommandEvent {
    /// Durable and increasing; the SSE `id:`.
    pub event_id: i64,
    /// `command.<status>`, e.g. `command.queued`.
    #[serde(with = "command_event_type")]
    #[schema(value_type = String, example = "command.queued")]
    pub event_type: CommandStatus,
    pub tenant_id: String,
    pub command: CommandView,
    #[serde(serialize_with = "millis")]
    pub server_time: DateTime<Utc>,
}

/// `command.<status>` on the wire, the status here.
mod command_event_type {
    use super::*;

    pub fn serialize<S: Serializer>(status: &CommandStatus, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&status.event_type())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CommandStatus, D::Error> {
        let text = String::deserialize(d)?;
        text.strip_prefix("command.")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| serde::de::Error::custom(format!("unknown command event {text:?}")))
    }
}

/// What happened to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum AgentEventType {
    #[serde(rename = "agent.online")]
    Online,
    #[serde(rename = "agent.offline")]
    Offline,
    #[serde(rename = "agent.revoked")]
    Revoked,
}

wire_words!(
    AgentEventType,
    "agent event",
    [
        Online = "agent.online",
        Offline = "agent.offline",
        Revoked = "agent.revoked",
    ]
);

/// `event: agent-status`: an agent came online, went offline or was revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentEvent {
    pub event_id: i64,
    pub event_type: AgentEventType,
    pub tenant_id: String,
    pub agent: AgentView,
    #[serde(serialize_with = "millis")]
    pub server_time: DateTime<Utc>,
}

/// One event of the command bus stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum VmOpsEvent {
    Command(CommandEvent),
    Agent(AgentEvent),
}

impl VmOpsEvent {
    /// The event of an SSE frame: `event:` name and `data:` text. `Ok(None)` for an event
    /// name this version does not know (a newer server's), which a reader skips.
    pub fn from_sse(name: &str, data: &str) -> Result<Option<Self>, serde_json::Error> {
        Ok(match name {
            EVENT_VM_COMMAND => Some(Self::Command(serde_json::from_str(data)?)),
            EVENT_AGENT_STATUS => Some(Self::Agent(serde_json::from_str(data)?)),
            _ => None,
        })
    }

    /// The SSE `event:` name.
    pub fn sse_name(&self) -> &'static str {
        match self {
            Self::Command(_) => EVENT_VM_COMMAND,
            Self::Agent(_) => EVENT_AGENT_STATUS,
        }
    }

    /// The SSE `id:`, to resume after.
    pub fn event_id(&self) -> i64 {
        match self {
            Self::Command(e) => e.event_id,
            Self::Agent(e) => e.event_id,
        }
    }
}
