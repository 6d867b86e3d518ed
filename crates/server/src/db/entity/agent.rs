use sea_orm::entity::prelude::*;

/// An agent: `pending` until it registers with its pairing code, then `active` until
/// revoked. Times are epoch milliseconds; codes and tokens are stored as hashes.
/// (`Deserialize` reads it from a direct SQLite row, see `bus::direct`.)
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

/// An agent counts as online when it was seen this recently (heartbeats come every 30 s).
pub const ONLINE_WINDOW_MS: i64 = 120_000;

/// An agent as the API shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub id: String,
    pub tenant_id: String,
    pub owner_user_id: Option<String>,
    pub name: String,
    /// `pending`, `active` or `revoked`.
    pub status: String,
    /// Active and seen within the last 120 seconds.
    pub online: bool,
    pub version: Option<String>,
    pub platform: Option<String>,
    pub capabilities: Vec<String>,
    pub public_key: Option<String>,
    pub metadata: serde_json::Value,
    pub last_seen_at: Option<String>,
    pub paired_at: Option<String>,
    pub revoked_at: Option<String>,
    pub revoke_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Model {
    /// Active and seen within [`ONLINE_WINDOW_MS`] of `now`.
    pub fn is_online(&self, now: i64) -> bool {
        self.status == "active"
            && self
                .last_seen_at
                .is_some_and(|t| now - t < ONLINE_WINDOW_MS)
    }

    pub fn view(&self, now: i64) -> AgentView {
        use crate::clock::iso;
        AgentView {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            owner_user_id: self.owner_user_id.clone(),
            name: self.name.clone(),
            status: self.status.clone(),
            online: self.is_online(now),
            version: self.version.clone(),
            platform: self.platform.clone(),
            capabilities: serde_json::from_str(&self.capabilities).unwrap_or_default(),
            public_key: self.public_key.clone(),
            metadata: serde_json::from_str(&self.metadata)
                .unwrap_or_else(|_| serde_json::json!({})),
            last_seen_at: self.last_seen_at.map(iso),
            paired_at: self.paired_at.map(iso),
            revoked_at: self.revoked_at.map(iso),
            revoke_reason: self.revoke_reason.clone(),
            created_at: iso(self.created_at),
            updated_at: iso(self.updated_at),
        }
    }
}
