use sea_orm::entity::prelude::*;

/// A release: one file of a (module, platform, channel, version) in the blob store. Times
/// are epoch milliseconds; `status` is a [`botmox_proto::artifacts::ReleaseStatus`] word.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "artifact_releases")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub module: String,
    pub platform: String,
    pub channel: String,
    pub version: String,
    pub object_key: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
