use botmox_proto::licensing::{VmStatus, VmView};
use sea_orm::entity::prelude::*;

use super::stored::Stored;

/// A VM of the registry, keyed by (tenant, lower-cased SMBIOS UUID). Times are epoch ms.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vm_registry")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub vm_uuid: String,
    /// The owner.
    pub user_id: String,
    pub vm_name: String,
    pub project_id: String,
    pub status: Stored<VmStatus>,
    /// JSON object.
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn view(self) -> VmView {
        VmView {
            metadata: serde_json::from_str(&self.metadata).unwrap_or_default(),
            tenant_id: self.tenant_id,
            vm_uuid: self.vm_uuid,
            user_id: self.user_id,
            vm_name: self.vm_name,
            project_id: self.project_id,
            status: self.status.0,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}
