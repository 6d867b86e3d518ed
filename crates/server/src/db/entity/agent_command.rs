use sea_orm::entity::prelude::*;

/// A command for an agent: `queued` → `dispatched` (claimed, with `claim_id`) → `running` →
/// `succeeded` | `failed`, or `queued` → `cancelled` | `expired`. Times in epoch ms.
/// (`Deserialize` reads it from a direct SQLite row, see `vm_ops::store`.)
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
