//! The secrets vault: secrets (metadata), their envelopes (one per recipient, ciphertext
//! only), bindings of secrets to scopes, users' vault public keys, and the agents' vault
//! public keys (a column of `agents`). No table holds a private key or a plaintext.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000013_vault"
    }
}

#[derive(DeriveIden)]
enum VaultSecrets {
    Table,
    TenantId,
    Id,
    Label,
    Field,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    RotatedAt,
}

#[derive(DeriveIden)]
enum VaultEnvelopes {
    Table,
    TenantId,
    SecretId,
    Recipient,
    KeyId,
    Enc,
    Ciphertext,
}

#[derive(DeriveIden)]
enum VaultBindings {
    Table,
    Id,
    TenantId,
    ScopeType,
    ScopeId,
    SecretId,
    FieldName,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum VaultUserKeys {
    Table,
    TenantId,
    UserId,
    KeyId,
    PublicKey,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    VaultPublicKey,
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string().not_null().to_owned()
}

fn time(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Ids are chosen by clients (they are sealed into the ciphertexts), so they are keyed
        // per tenant: one tenant's id never collides with, or reveals, another's.
        m.create_table(
            Table::create()
                .table(VaultSecrets::Table)
                .col(text(VaultSecrets::TenantId))
                .col(text(VaultSecrets::Id))
                .col(text(VaultSecrets::Label))
                .col(text(VaultSecrets::Field))
                .col(ColumnDef::new(VaultSecrets::CreatedBy).string().null())
                .col(time(VaultSecrets::CreatedAt))
                .col(time(VaultSecrets::UpdatedAt))
                .col(ColumnDef::new(VaultSecrets::RotatedAt).big_integer().null())
                .primary_key(
                    Index::create()
                        .col(VaultSecrets::TenantId)
                        .col(VaultSecrets::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(VaultEnvelopes::Table)
                .col(text(VaultEnvelopes::TenantId))
                .col(text(VaultEnvelopes::SecretId))
                .col(text(VaultEnvelopes::Recipient))
                .col(text(VaultEnvelopes::KeyId))
                .col(ColumnDef::new(VaultEnvelopes::Enc).text().not_null())
                .col(ColumnDef::new(VaultEnvelopes::Ciphertext).text().not_null())
                .primary_key(
                    Index::create()
                        .col(VaultEnvelopes::TenantId)
                        .col(VaultEnvelopes::SecretId)
                        .col(VaultEnvelopes::Recipient),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(
                            VaultEnvelopes::Table,
                            (VaultEnvelopes::TenantId, VaultEnvelopes::SecretId),
                        )
                        .to(
                            VaultSecrets::Table,
                            (VaultSecrets::TenantId, VaultSecrets::Id),
                        )
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(VaultBindings::Table)
                .col(text(VaultBindings::Id).primary_key())
                .col(text(VaultBindings::TenantId))
                .col(text(VaultBindings::ScopeType))
                .col(text(VaultBindings::ScopeId))
                .col(text(VaultBindings::SecretId))
                .col(text(VaultBindings::FieldName))
                .col(ColumnDef::new(VaultBindings::CreatedBy).string().null())
                .col(time(VaultBindings::CreatedAt))
                .col(time(VaultBindings::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(
                            VaultBindings::Table,
                            (VaultBindings::TenantId, VaultBindings::SecretId),
                        )
                        .to(
                            VaultSecrets::Table,
                            (VaultSecrets::TenantId, VaultSecrets::Id),
                        )
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // One secret per scope and field: binding again replaces it.
        m.create_index(
            Index::create()
                .name("vault_bindings_scope_field")
                .table(VaultBindings::Table)
                .col(VaultBindings::TenantId)
                .col(VaultBindings::ScopeType)
                .col(VaultBindings::ScopeId)
                .col(VaultBindings::FieldName)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(VaultUserKeys::Table)
                .col(text(VaultUserKeys::TenantId))
                .col(text(VaultUserKeys::UserId))
                .col(text(VaultUserKeys::KeyId))
                .col(text(VaultUserKeys::PublicKey))
                .col(time(VaultUserKeys::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(VaultUserKeys::TenantId)
                        .col(VaultUserKeys::UserId),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Agents::Table)
                .add_column(ColumnDef::new(Agents::VaultPublicKey).string().null())
                .to_owned(),
        )
        .await
    }
}
