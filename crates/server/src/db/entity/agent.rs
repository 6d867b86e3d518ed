use botmox_proto::agent::{AgentStatus, AgentView, Presence};
use botmox_proto::time::from_epoch_ms;
use sea_orm::entity::prelude::*;

use super::stored::Stored;

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
    pub status: Stored<AgentStatus>,
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
    pub presence: Stored<Presence>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The agent's vault (HPKE P-256) public key, base64, sent at registration: secrets
    /// are sealed to it. Not its SSH key (`public_key`).
    #[serde(default)]
    pub vault_public_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub use botmox_proto::agent::ONLINE_WINDOW_MS;

impl Model {
    /// Whether `current` (this agent's row read again) still stands as this one did when
    /// its token was checked: there, active, with the same token.
    pub fn unchanged_in(&self, current: Option<&Model>) -> bool {
        current.is_some_and(|a| a.status == AgentStatus::Active && a.token_hash == self.token_hash)
    }

    /// Active and seen within [`ONLINE_WINDOW_MS`] of `now`.
    pub fn is_online(&self, now: i64) -> bool {
        self.status == AgentStatus::Active
            && self
                .last_seen_at
                .is_some_and(|t| now - t < ONLINE_WINDOW_MS)
    }

    /// The agent as the API shows it at `now`.
    pub fn view(&self, now: i64) -> AgentView {
        AgentView {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            owner_user_id: self.owner_user_id.clone(),
            name: self.name.clone(),
            status: self.status.0,
            online: self.is_online(now),
            version: self.version.clone(),
            platform: self.platform.clone(),
            capabilities: serde_json::from_str(&self.capabilities).unwrap_or_default(),
            public_key: self.public_key.clone(),
            metadata: serde_json::from_str(&self.metadata)
                .unwrap_or_else(|_| serde_json::json!({})),
            last_seen_at: self.last_seen_at.and_then(from_epoch_ms),
            paired_at: self.paired_at.and_then(from_epoch_ms),
            revoked_at: self.revoked_at.and_then(from_epoch_ms),
            revoke_reason: self.revoke_reason.clone(),
            created_at: from_epoch_ms(self.created_at).unwrap_or_default(),
            updated_at: from_epoch_ms(self.updated_at).unwrap_or_default(),
        }
    }
}
