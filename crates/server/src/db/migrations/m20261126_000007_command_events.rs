//! Command events with durable ids: one row per command state change, numbered by the
//! database, so event ids only grow, across restarts and replicas, and an SSE client that
//! reconnects anywhere replays from its last id.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000007_command_events"
    }
}

#[derive(DeriveIden)]
enum CommandEvents {
    Table,
    Id,
    TenantId,
    AgentId,
    CommandId,
    CreatedBy,
    EventType,
    Data,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let text = |c: CommandEvents| ColumnDef::new(c).string().not_null().to_owned();
        m.create_table(
            Table::create()
                .table(CommandEvents::Table)
                .col(
                    ColumnDef::new(CommandEvents::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(text(CommandEvents::TenantId))
                .col(text(CommandEvents::AgentId))
                .col(text(CommandEvents::CommandId))
                .col(ColumnDef::new(CommandEvents::CreatedBy).string().null())
                .col(text(CommandEvents::EventType))
                .col(ColumnDef::new(CommandEvents::Data).text().not_null())
                .col(
                    ColumnDef::new(CommandEvents::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("command_events_tenant")
                .table(CommandEvents::Table)
                .col(CommandEvents::TenantId)
                .col(CommandEvents::Id)
                .to_owned(),
        )
        .await
    }
}
