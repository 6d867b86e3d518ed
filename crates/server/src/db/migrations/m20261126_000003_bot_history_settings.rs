//! Bot history (lifecycle log and archive, kept when a bot is deleted), the per-tenant
//! settings tree and storage policy, and the owner of each record (who may reveal its
//! sealed credentials besides an admin).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000003_bot_history_settings"
    }
}

#[derive(DeriveIden)]
enum BotEvents {
    Table,
    TenantId,
    Id,
    BotId,
    Type,
    Message,
    Details,
    TimestampMs,
}

#[derive(DeriveIden)]
enum BotArchive {
    Table,
    TenantId,
    Id,
    BotId,
    Reason,
    ArchivedAtMs,
    BanDetails,
    Snapshot,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    TenantId,
    Data,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StoragePolicies {
    Table,
    TenantId,
    Operational,
    SyncEnabled,
    UpdatedAtMs,
    UpdatedBy,
}

#[derive(DeriveIden)]
enum Records {
    Table,
    OwnerId,
    TenantId,
    Kind,
    Currency,
    DateMs,
    Type,
    Amount,
    ProjectId,
    Category,
    BotId,
}

fn text(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).string().not_null().to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BotEvents::Table)
                .col(text(BotEvents::TenantId))
                .col(text(BotEvents::Id))
                .col(text(BotEvents::BotId))
                .col(text(BotEvents::Type))
                .col(text(BotEvents::Message))
                .col(ColumnDef::new(BotEvents::Details).text().null())
                .col(
                    ColumnDef::new(BotEvents::TimestampMs)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(Index::create().col(BotEvents::TenantId).col(BotEvents::Id))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("bot_events_bot_time")
                .table(BotEvents::Table)
                .col(BotEvents::TenantId)
                .col(BotEvents::BotId)
                .col(BotEvents::TimestampMs)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BotArchive::Table)
                .col(text(BotArchive::TenantId))
                .col(text(BotArchive::Id))
                .col(text(BotArchive::BotId))
                .col(text(BotArchive::Reason))
                .col(
                    ColumnDef::new(BotArchive::ArchivedAtMs)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(BotArchive::BanDetails).text().null())
                .col(ColumnDef::new(BotArchive::Snapshot).text().null())
                .primary_key(
                    Index::create()
                        .col(BotArchive::TenantId)
                        .col(BotArchive::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("bot_archive_bot")
                .table(BotArchive::Table)
                .col(BotArchive::TenantId)
                .col(BotArchive::BotId)
                .col(BotArchive::ArchivedAtMs)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Settings::Table)
                .col(text(Settings::TenantId).primary_key())
                .col(ColumnDef::new(Settings::Data).text().not_null())
                .col(ColumnDef::new(Settings::Version).big_integer().not_null())
                .col(ColumnDef::new(Settings::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(StoragePolicies::Table)
                .col(text(StoragePolicies::TenantId).primary_key())
                .col(text(StoragePolicies::Operational))
                .col(
                    ColumnDef::new(StoragePolicies::SyncEnabled)
                        .boolean()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(StoragePolicies::UpdatedAtMs)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(StoragePolicies::UpdatedBy).string().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Records::Table)
                .add_column(ColumnDef::new(Records::OwnerId).string().null())
                .to_owned(),
        )
        .await?;
        // Covers the finance aggregates: they read only these columns, never the documents.
        m.create_index(
            Index::create()
                .name("records_finance")
                .table(Records::Table)
                .col(Records::TenantId)
                .col(Records::Kind)
                .col(Records::Currency)
                .col(Records::DateMs)
                .col(Records::Type)
                .col(Records::Amount)
                .col(Records::ProjectId)
                .col(Records::Category)
                .col(Records::BotId)
                .to_owned(),
        )
        .await
    }
}
