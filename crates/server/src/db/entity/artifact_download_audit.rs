use sea_orm::entity::prelude::*;

/// One resolve-download attempt (spec security §6.5). `metadata` is a JSON object; times are
/// epoch milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "artifact_download_audit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub lease_id: Option<String>,
    pub lease_jti: Option<String>,
    pub user_id: Option<String>,
    pub vm_uuid: String,
    pub module: String,
    pub platform: String,
    pub channel: String,
    pub release_id: Option<i64>,
    pub event_type: String,
    pub result: String,
    pub reason: Option<String>,
    pub request_ip: Option<String>,
    pub url_expires_at: Option<i64>,
    pub metadata: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
