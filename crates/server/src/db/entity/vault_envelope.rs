use botmox_proto::vault::SealedEnvelope;
use sea_orm::entity::prelude::*;

/// A secret's value sealed to one recipient (`agent:<id>` or `user:<id>`): HPKE `enc` and
/// ciphertext, base64. Only that recipient is ever given it.
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vault_envelopes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub secret_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub recipient: String,
    pub key_id: String,
    #[sea_orm(column_type = "Text")]
    pub enc: String,
    #[sea_orm(column_type = "Text")]
    pub ciphertext: String,
}

/// Names the recipient and key only: ciphertexts stay out of logs.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("vault_envelope")
            .field("secret_id", &self.secret_id)
            .field("recipient", &self.recipient)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn sealed(self) -> SealedEnvelope {
        SealedEnvelope {
            recipient: self.recipient,
            key_id: self.key_id,
            enc: self.enc,
            ciphertext: self.ciphertext,
        }
    }
}
