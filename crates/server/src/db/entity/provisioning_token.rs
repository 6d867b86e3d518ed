use botmox_proto::provisioning::{ProvisionTokenStatus, ProvisionTokenView};
use sea_orm::entity::prelude::*;

use super::stored::Stored;
use crate::clock::iso;

/// A provisioning token bound to one VM (spec provisioning §6), stored as the SHA-256 of the
/// token. Times are epoch ms.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "provisioning_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    /// The user the token acts for: the VM's owner when it was issued.
    pub user_id: String,
    pub vm_uuid: String,
    pub token_hash: String,
    pub status: Stored<ProvisionTokenStatus>,
    pub playbook_id: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The status as of `now`: an active token past its expiry is expired.
    pub fn status_at(&self, now: i64) -> ProvisionTokenStatus {
        match self.status.0 {
            ProvisionTokenStatus::Active if self.expires_at <= now => ProvisionTokenStatus::Expired,
            status => status,
        }
    }

    pub fn view(self, now: i64) -> ProvisionTokenView {
        ProvisionTokenView {
            status: self.status_at(now),
            id: self.id,
            tenant_id: self.tenant_id,
            user_id: self.user_id,
            vm_uuid: self.vm_uuid,
            playbook_id: self.playbook_id,
            issued_at: iso(self.issued_at),
            expires_at: iso(self.expires_at),
            used_at: self.used_at.map(iso),
            revoked_at: self.revoked_at.map(iso),
            revoke_reason: self.revoke_reason,
        }
    }
}
