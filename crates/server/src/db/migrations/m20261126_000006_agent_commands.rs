//! The command bus: commands for agents, claimed atomically (a claim id per claim), with
//! checked status transitions.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000006_agent_commands"
    }
}

#[derive(DeriveIden)]
enum AgentCommands {
    Table,
    Id,
    TenantId,
    AgentId,
    CommandType,
    Payload,
    Status,
    Result,
    ErrorMessage,
    CreatedBy,
    ClaimId,
    Attempts,
    QueuedAt,
    ClaimedAt,
    StartedAt,
    CompletedAt,
    ExpiresAt,
    UpdatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let text = |c: AgentCommands| ColumnDef::new(c).string().null().to_owned();
        let time = |c: AgentCommands| ColumnDef::new(c).big_integer().null().to_owned();
        let required = |c: AgentCommands| ColumnDef::new(c).string().not_null().to_owned();
        m.create_table(
            Table::create()
                .table(AgentCommands::Table)
                .col(required(AgentCommands::Id).primary_key())
                .col(required(AgentCommands::TenantId))
                .col(required(AgentCommands::AgentId))
                .col(required(AgentCommands::CommandType))
                .col(ColumnDef::new(AgentCommands::Payload).text().not_null())
                .col(required(AgentCommands::Status))
                .col(ColumnDef::new(AgentCommands::Result).text().null())
                .col(ColumnDef::new(AgentCommands::ErrorMessage).text().null())
                .col(text(AgentCommands::CreatedBy))
                .col(text(AgentCommands::ClaimId))
                .col(ColumnDef::new(AgentCommands::Attempts).integer().not_null())
                .col(
                    ColumnDef::new(AgentCommands::QueuedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(time(AgentCommands::ClaimedAt))
                .col(time(AgentCommands::StartedAt))
                .col(time(AgentCommands::CompletedAt))
                .col(
                    ColumnDef::new(AgentCommands::ExpiresAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgentCommands::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("agent_commands_queue")
                .table(AgentCommands::Table)
                .col(AgentCommands::AgentId)
                .col(AgentCommands::Status)
                .col(AgentCommands::QueuedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("agent_commands_tenant")
                .table(AgentCommands::Table)
                .col(AgentCommands::TenantId)
                .col(AgentCommands::QueuedAt)
                .to_owned(),
        )
        .await
    }
}
