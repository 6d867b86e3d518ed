use botmox_proto::licensing::EntitlementView;
use sea_orm::entity::prelude::*;

/// The modules a user may lease; `user_id` '' is the tenant's default for users without
/// their own.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_entitlements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// JSON array of module names (`*`: every module).
    pub modules: String,
    pub updated_by: Option<String>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The `user_id` of the tenant's default entitlement.
pub const TENANT_DEFAULT: &str = "";

impl Model {
    pub fn modules(&self) -> Vec<String> {
        serde_json::from_str(&self.modules).unwrap_or_default()
    }

    pub fn view(self) -> EntitlementView {
        EntitlementView {
            modules: self.modules(),
            tenant_id: self.tenant_id,
            user_id: Some(self.user_id).filter(|u| u != TENANT_DEFAULT),
            updated_at: self.updated_at,
            updated_by: self.updated_by,
        }
    }
}
