use sea_orm::entity::prelude::*;

/// A snapshot of a bot taken when it was banned; kept after the bot is deleted.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bot_archive")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub bot_id: String,
    pub reason: String,
    pub archived_at_ms: i64,
    /// JSON text.
    pub ban_details: Option<String>,
    /// JSON text.
    pub snapshot: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
