use botmox_proto::provisioning::PlaybookView;
use sea_orm::entity::prelude::*;

use crate::clock::iso;

/// A playbook of one user (spec provisioning §8.1): its YAML as written. Times are epoch ms.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "playbooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: String,
    pub is_default: bool,
    pub content: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn view(self) -> PlaybookView {
        PlaybookView {
            id: self.id,
            tenant_id: self.tenant_id,
            user_id: self.user_id,
            name: self.name,
            is_default: self.is_default,
            content: self.content,
            created_at: iso(self.created_at),
            updated_at: iso(self.updated_at),
        }
    }
}
