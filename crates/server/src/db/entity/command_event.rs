use sea_orm::entity::prelude::*;

/// An event of the command bus: a command state change (`command.queued`,
/// `command.dispatched`, ...) with the command as it was then, or an agent's presence change
/// (`agent.online`, `agent.offline`, `agent.revoked`, with an empty `command_id`) with the
/// agent as it was then (JSON text). `created_by` is whom a non-admin must be to see it: the
/// command's dispatcher, or the agent's owner.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "command_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub agent_id: String,
    pub command_id: String,
    pub created_by: Option<String>,
    pub event_type: String,
    pub data: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
