use sea_orm::entity::prelude::*;

/// Where a tenant's data may live (spec api.md §9.2); `secrets` is always `local-only`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "storage_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub operational: String,
    pub sync_enabled: bool,
    pub updated_at_ms: i64,
    pub updated_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
