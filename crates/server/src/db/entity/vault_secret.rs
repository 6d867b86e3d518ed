use sea_orm::entity::prelude::*;

/// A vault secret's metadata; its value is only in its envelopes (ciphertext).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vault_secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// Chosen by the client: it is sealed into the ciphertexts.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub label: String,
    /// Sealed into the ciphertexts too; never changes.
    pub field: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub rotated_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
