use sea_orm::entity::prelude::*;

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
    pub status: String,
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

/// A command as the API shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CommandView {
    pub id: String,
    pub tenant_id: String,
    pub agent_id: String,
    pub command_type: String,
    pub payload: serde_json::Value,
    /// `queued`, `dispatched`, `running`, `succeeded`, `failed`, `cancelled` or `expired`.
    pub status: String,
    pub result: serde_json::Value,
    pub error_message: Option<String>,
    pub created_by: Option<String>,
    /// Present once claimed; the agent quotes it when it reports.
    pub claim_id: Option<String>,
    pub attempts: i32,
    pub queued_at: String,
    pub claimed_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub expires_at: String,
}

impl Model {
    pub fn view(&self) -> CommandView {
        use crate::clock::iso;
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
            status: self.status.clone(),
            result: parse(self.result.as_ref()),
            error_message: self.error_message.clone(),
            created_by: self.created_by.clone(),
            claim_id: self.claim_id.clone(),
            attempts: self.attempts,
            queued_at: iso(self.queued_at),
            claimed_at: self.claimed_at.map(iso),
            started_at: self.started_at.map(iso),
            completed_at: self.completed_at.map(iso),
            expires_at: iso(self.expires_at),
        }
    }
}
