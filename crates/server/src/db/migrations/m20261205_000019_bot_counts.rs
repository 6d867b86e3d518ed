//! Bots counted per tenant, project and status (`bot_counts`), kept in step with every
//! bot's write in that write's transaction, so the Overview, the resource tree, the Project
//! page and the finance summary read a few rows instead of counting every bot. Existing
//! bots are counted once here.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000019_bot_counts"
    }
}

#[derive(DeriveIden)]
enum BotCounts {
    Table,
    TenantId,
    ProjectId,
    Status,
    Bots,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let text = |c: BotCounts| ColumnDef::new(c).string().not_null().to_owned();
        m.create_table(
            Table::create()
                .table(BotCounts::Table)
                .col(text(BotCounts::TenantId))
                // `""` for bots of no project.
                .col(text(BotCounts::ProjectId))
                .col(text(BotCounts::Status))
                .col(ColumnDef::new(BotCounts::Bots).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(BotCounts::TenantId)
                        .col(BotCounts::ProjectId)
                        .col(BotCounts::Status),
                )
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO bot_counts (tenant_id, project_id, status, bots) \
                 SELECT tenant_id, COALESCE(project_id, ''), COALESCE(status, 'offline'), \
                 COUNT(*) FROM records WHERE kind = 'bots' \
                 GROUP BY tenant_id, COALESCE(project_id, ''), COALESCE(status, 'offline')",
            )
            .await?;
        Ok(())
    }
}
