//! Agents paired inside an operator's network: pairing codes and agent tokens are stored as
//! hashes only, so the database never holds a usable secret.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000005_agents"
    }
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
    TenantId,
    OwnerUserId,
    Name,
    Status,
    Version,
    Platform,
    Capabilities,
    PublicKey,
    PairingCodeHash,
    PairingExpiresAt,
    PairedAt,
    PairedBy,
    LastSeenAt,
    RevokedAt,
    RevokedBy,
    RevokeReason,
    Metadata,
    TokenHash,
    TokenExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let text = |c: Agents| ColumnDef::new(c).string().null().to_owned();
        let time = |c: Agents| ColumnDef::new(c).big_integer().null().to_owned();
        m.create_table(
            Table::create()
                .table(Agents::Table)
                .col(ColumnDef::new(Agents::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Agents::TenantId).string().not_null())
                .col(text(Agents::OwnerUserId))
                .col(ColumnDef::new(Agents::Name).string().not_null())
                .col(ColumnDef::new(Agents::Status).string().not_null())
                .col(text(Agents::Version))
                .col(text(Agents::Platform))
                .col(ColumnDef::new(Agents::Capabilities).text().not_null())
                .col(ColumnDef::new(Agents::PublicKey).text().null())
                .col(text(Agents::PairingCodeHash))
                .col(time(Agents::PairingExpiresAt))
                .col(time(Agents::PairedAt))
                .col(text(Agents::PairedBy))
                .col(time(Agents::LastSeenAt))
                .col(time(Agents::RevokedAt))
                .col(text(Agents::RevokedBy))
                .col(text(Agents::RevokeReason))
                .col(ColumnDef::new(Agents::Metadata).text().not_null())
                .col(text(Agents::TokenHash))
                .col(time(Agents::TokenExpiresAt))
                .col(ColumnDef::new(Agents::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Agents::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        for (name, col, unique) in [
            ("agents_pairing_code", Agents::PairingCodeHash, true),
            ("agents_token", Agents::TokenHash, true),
            ("agents_tenant_created", Agents::CreatedAt, false),
        ] {
            let mut index = Index::create();
            index.name(name).table(Agents::Table);
            if !unique {
                index.col(Agents::TenantId);
            }
            index.col(col);
            if unique {
                index.unique();
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}
