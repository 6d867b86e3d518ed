use botmox_proto::licensing::{LicenseStatus, LicenseType, LicenseView};
use sea_orm::entity::prelude::*;

use super::stored::Stored;

/// A licence of the tenant: personal (`user_id`) or tenant-wide, with an optional seat
/// limit (`max_leases`). Times are epoch ms.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_licenses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub user_id: Option<String>,
    pub license_type: Stored<LicenseType>,
    pub status: Stored<LicenseStatus>,
    pub expires_at: Option<i64>,
    pub max_leases: Option<i32>,
    /// JSON object (notes; it never overrides the columns, unlike the reference's).
    pub metadata: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// Whether it grants leases at `now`: active, and unexpired unless its type never expires.
    pub fn effective(&self, now: i64) -> bool {
        self.status == LicenseStatus::Active
            && (self.license_type.0.never_expires() || self.expires_at.is_some_and(|e| e > now))
    }

    /// The latest a lease it backs may run to: its expiry, or never.
    pub fn lease_cap(&self) -> Option<i64> {
        (!self.license_type.0.never_expires())
            .then_some(self.expires_at)
            .flatten()
    }

    pub fn view(self, active_leases: u64, now: i64) -> LicenseView {
        LicenseView {
            effective: self.effective(now),
            metadata: serde_json::from_str(&self.metadata).unwrap_or_default(),
            id: self.id,
            tenant_id: self.tenant_id,
            license_type: self.license_type.0,
            status: self.status.0,
            expires_at: self.expires_at,
            max_leases: self.max_leases.and_then(|m| u32::try_from(m).ok()),
            user_id: self.user_id,
            active_leases,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}
