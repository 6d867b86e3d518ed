use botmox_proto::vm_jobs::{JobStep, JobStepView};
use sea_orm::entity::prelude::*;

use super::stored::Stored;

/// One line of a job's step history: a step started, succeeded, failed, was skipped or
/// cancelled, with the command it ran.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vm_job_steps")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub job_id: String,
    pub step: Stored<JobStep>,
    pub status: String,
    pub command_id: Option<String>,
    pub detail: Option<String>,
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn view(self) -> JobStepView {
        JobStepView {
            step: self.step.0,
            status: self.status,
            command_id: self.command_id,
            detail: self.detail,
            at: self.at,
        }
    }
}
