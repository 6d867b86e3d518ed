//! Indexes for the command bus sweeper: it looks for commands still queued, claimed or
//! running (a few among the many finished ones) and for agents announced online that went
//! silent, every few seconds on every replica; without these it read both tables whole.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000009_bus_indexes"
    }
}

#[derive(DeriveIden)]
enum AgentCommands {
    Table,
    Status,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Presence,
    LastSeenAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("agent_commands_status")
                .table(AgentCommands::Table)
                .col(AgentCommands::Status)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("agents_presence_seen")
                .table(Agents::Table)
                .col(Agents::Presence)
                .col(Agents::LastSeenAt)
                .to_owned(),
        )
        .await
    }
}
