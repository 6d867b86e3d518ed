use sea_orm::entity::prelude::*;

/// Which release a user gets for a (module, platform, channel); `user_id` is `''` for the
/// tenant default. Times are epoch milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "artifact_assignments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub user_id: String,
    pub module: String,
    pub platform: String,
    pub channel: String,
    pub release_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The `user_id` of the tenant default.
pub const TENANT_DEFAULT: &str = "";
