use sea_orm::entity::prelude::*;

/// One entry of a bot's lifecycle log (status change, ban, unban).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bot_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub bot_id: String,
    #[sea_orm(column_name = "type")]
    pub r#type: String,
    pub message: String,
    /// JSON text.
    pub details: Option<String>,
    pub timestamp_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
