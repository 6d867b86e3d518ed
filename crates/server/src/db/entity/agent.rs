use sea_orm::entity::prelude::*;

/// An agent: `pending` until it registers with its pairing code, then `active` until
/// revoked. Times are epoch milliseconds; codes and tokens are stored as hashes.
/// (`Deserialize` reads it from a direct SQLite row, see `agents::store`.)
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "agents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub owner_user_id: Option<String>,
    pub name: String,
    pub status: String,
    pub version: Option<String>,
    pub platform: Option<String>,
    /// JSON array of strings.
    pub capabilities: String,
    pub public_key: Option<String>,
    pub pairing_code_hash: Option<String>,
    pub pairing_expires_at: Option<i64>,
    pub paired_at: Option<i64>,
    pub paired_by: Option<String>,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
    /// JSON object (machine name, host facts).
    pub metadata: String,
    pub token_hash: Option<String>,
    pub token_expires_at: Option<i64>,
    /// `online` or `offline`: the presence last announced as an event (online itself is
    /// computed from `last_seen_at`).
    pub presence: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
