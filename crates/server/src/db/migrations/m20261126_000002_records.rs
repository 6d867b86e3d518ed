//! The operator's records (licences, proxies, subscriptions, notes, calendar events, kanban
//! tasks, bots, finance operations): one table of JSON documents with typed projection
//! columns that the server fills from the validated document, so lists filter and sort in
//! the database with indexes.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000002_records"
    }
}

#[derive(DeriveIden)]
enum Records {
    Table,
    TenantId,
    Kind,
    Id,
    Data,
    Version,
    CreatedAt,
    UpdatedAt,
    Status,
    Type,
    ProjectId,
    BotId,
    Name,
    Category,
    Currency,
    Amount,
    DateMs,
    ExpiresAtMs,
    Search,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let text = |c: Records| ColumnDef::new(c).string().null().to_owned();
        m.create_table(
            Table::create()
                .table(Records::Table)
                .col(ColumnDef::new(Records::TenantId).string().not_null())
                .col(ColumnDef::new(Records::Kind).string().not_null())
                .col(ColumnDef::new(Records::Id).string().not_null())
                .col(ColumnDef::new(Records::Data).text().not_null())
                .col(ColumnDef::new(Records::Version).big_integer().not_null())
                .col(ColumnDef::new(Records::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Records::UpdatedAt).big_integer().not_null())
                .col(text(Records::Status))
                .col(text(Records::Type))
                .col(text(Records::ProjectId))
                .col(text(Records::BotId))
                .col(text(Records::Name))
                .col(text(Records::Category))
                .col(text(Records::Currency))
                .col(ColumnDef::new(Records::Amount).double().null())
                .col(ColumnDef::new(Records::DateMs).big_integer().null())
                .col(ColumnDef::new(Records::ExpiresAtMs).big_integer().null())
                .col(ColumnDef::new(Records::Search).text().not_null())
                .primary_key(
                    Index::create()
                        .col(Records::TenantId)
                        .col(Records::Kind)
                        .col(Records::Id),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("records_status", Records::Status),
            ("records_type", Records::Type),
            ("records_project", Records::ProjectId),
            ("records_bot", Records::BotId),
            ("records_name", Records::Name),
            ("records_date", Records::DateMs),
            ("records_expires", Records::ExpiresAtMs),
            ("records_created", Records::CreatedAt),
            ("records_updated", Records::UpdatedAt),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Records::Table)
                    .col(Records::TenantId)
                    .col(Records::Kind)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
