use botmox_proto::command::{CommandStatus, CommandView, withhold_secrets};
use botmox_proto::time::from_epoch_ms;
use sea_orm::entity::prelude::*;

use super::stored::Stored;

/// A command for an agent: `queued` → `dispatched` (claimed, with `claim_id`) → `running` →
/// `succeeded` | `failed`, or `queued` → `cancelled` | `expired`. Times in epoch ms.
/// (`Deserialize` reads it from a direct SQLite row, see `bus::direct`.)
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "agent_commands")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub agent_id: String,
    pub command_type: String,
    /// JSON object.
    pub payload: String,
    pub status: Stored<CommandStatus>,
    /// JSON.
    pub result: Option<String>,
    pub error_message: Option<String>,
    pub created_by: Option<String>,
    pub claim_id: Option<String>,
    pub attempts: i32,
    pub queued_at: i64,
    pub claimed_at: Option<i64>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub expires_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The command as people see it (the API, the pages, the event stream): secrets only the
    /// agent may read are withheld (see [`withhold_secrets`]).
    pub fn view(&self) -> CommandView {
        let mut view = self.agent_view();
        withhold_secrets(&view.command_type, &mut view.payload);
        view
    }

    /// The command as its agent receives it, whole.
    pub fn agent_view(&self) -> CommandView {
        let parse = |s: Option<&String>| {
            s.and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        CommandView {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            agent_id: self.agent_id.clone(),
            command_type: self.command_type.clone(),
            payload: parse(Some(&self.payload)),
            status: self.status.0,
            result: parse(self.result.as_ref()),
            error_message: self.error_message.clone(),
            created_by: self.created_by.clone(),
            claim_id: self.claim_id.clone(),
            attempts: self.attempts,
            queued_at: from_epoch_ms(self.queued_at).unwrap_or_default(),
            claimed_at: self.claimed_at.and_then(from_epoch_ms),
            started_at: self.started_at.and_then(from_epoch_ms),
            completed_at: self.completed_at.and_then(from_epoch_ms),
            expires_at: from_epoch_ms(self.expires_at).unwrap_or_default(),
        }
    }
}
