use botmox_proto::provisioning::{ProgressStatus, ProgressView};
use sea_orm::entity::prelude::*;

use super::stored::Stored;
use crate::clock::iso;

/// One progress report of a VM being provisioned (spec provisioning §7.1). `details_hash`
/// (SHA-256 of `details`) makes an identical repeat of a report the same row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vm_setup_progress")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub vm_uuid: String,
    pub token_id: String,
    pub step: String,
    pub status: Stored<ProgressStatus>,
    /// JSON object.
    pub details: String,
    pub details_hash: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn view(self) -> ProgressView {
        ProgressView {
            details: serde_json::from_str(&self.details).unwrap_or_default(),
            id: self.id,
            tenant_id: self.tenant_id,
            vm_uuid: self.vm_uuid,
            token_id: self.token_id,
            step: self.step,
            status: self.status.0,
            created_at: iso(self.created_at),
        }
    }
}
