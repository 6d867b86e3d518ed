use botmox_proto::vault::{BindingScope, BindingView};
use sea_orm::entity::prelude::*;

use super::stored::Stored;

/// A secret attached to a scope under its field name; one per (tenant, scope, field).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vault_bindings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub scope_type: Stored<BindingScope>,
    pub scope_id: String,
    pub secret_id: String,
    pub field_name: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn view(self) -> BindingView {
        BindingView {
            id: self.id,
            tenant_id: self.tenant_id,
            scope_type: self.scope_type.0,
            scope_id: self.scope_id,
            secret_ref: self.secret_id,
            field_name: self.field_name,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}
