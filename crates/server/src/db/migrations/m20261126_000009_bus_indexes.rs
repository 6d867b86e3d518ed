//! An index for the command bus sweeper: every few seconds, on every replica, it looks for
//! commands still queued, claimed or running, a few among the many finished ones; without
//! it the sweeper read the whole table. (Agents get no such index: every heartbeat writes
//! `last_seen_at`, and an index on it would make each of those writes update the index.)

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
        .await
    }
}
