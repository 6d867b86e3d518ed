use botmox_proto::licensing::{LeaseStatus, LeaseView};
use sea_orm::entity::prelude::*;

use super::stored::Stored;

/// A lease of one module on one VM, backed by one licence's seat while it is active and
/// unexpired. Its token is stored as a SHA-256 hash with the id of the key that signed it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "execution_leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub token_hash: String,
    pub kid: String,
    pub status: Stored<LeaseStatus>,
    pub user_id: String,
    pub vm_uuid: String,
    pub module: String,
    pub version: Option<String>,
    pub agent_id: String,
    pub runner_id: String,
    pub license_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    /// The latest heartbeats can move `expires_at` to (the token's `exp`).
    pub max_expires_at: i64,
    pub last_heartbeat_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The status as of `now`: an active lease past its expiry is expired, whether or not
    /// the sweeper has marked it yet.
    pub fn status_at(&self, now: i64) -> LeaseStatus {
        match self.status.0 {
            LeaseStatus::Active if self.expires_at <= now => LeaseStatus::Expired,
            status => status,
        }
    }

    pub fn view(self, now: i64) -> LeaseView {
        LeaseView {
            status: self.status_at(now),
            id: self.id,
            tenant_id: self.tenant_id,
            user_id: self.user_id,
            vm_uuid: self.vm_uuid,
            module: self.module,
            version: self.version,
            agent_id: self.agent_id,
            runner_id: self.runner_id,
            license_id: self.license_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_heartbeat_at: self.last_heartbeat_at,
            revoked_at: self.revoked_at,
            revoked_by: self.revoked_by,
            revoke_reason: self.revoke_reason,
        }
    }
}
