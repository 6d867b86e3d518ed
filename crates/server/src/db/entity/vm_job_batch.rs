use sea_orm::entity::prelude::*;

/// A batch of create jobs: its owner, agent, size, concurrency and the request as sent.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vm_job_batches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub owner_user_id: String,
    pub agent_id: String,
    pub count: i64,
    pub concurrency: i64,
    /// The create request (JSON text).
    pub request: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
