//! Finance totals per tenant, UTC day, currency, project, category and type, kept by the
//! records service in the same transaction as each operation's write, so aggregates over a
//! year read a few thousand rows instead of every operation. Filled here from the
//! operations already stored. Also indexes for the common bot list: filtered by project
//! and status, sorted by name.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000004_finance_daily"
    }
}

#[derive(DeriveIden)]
enum FinanceDaily {
    Table,
    TenantId,
    Day,
    Currency,
    ProjectId,
    Category,
    Type,
    Amount,
    Operations,
}

#[derive(DeriveIden)]
enum Records {
    Table,
    TenantId,
    Kind,
    ProjectId,
    Status,
    Name,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let text = |c: FinanceDaily| ColumnDef::new(c).string().not_null().to_owned();
        m.create_table(
            Table::create()
                .table(FinanceDaily::Table)
                .col(text(FinanceDaily::TenantId))
                .col(ColumnDef::new(FinanceDaily::Day).big_integer().not_null())
                .col(text(FinanceDaily::Currency))
                .col(text(FinanceDaily::ProjectId))
                .col(text(FinanceDaily::Category))
                .col(text(FinanceDaily::Type))
                .col(ColumnDef::new(FinanceDaily::Amount).double().not_null())
                .col(
                    ColumnDef::new(FinanceDaily::Operations)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(FinanceDaily::TenantId)
                        .col(FinanceDaily::Currency)
                        .col(FinanceDaily::Day)
                        .col(FinanceDaily::ProjectId)
                        .col(FinanceDaily::Category)
                        .col(FinanceDaily::Type),
                )
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO finance_daily \
                 (tenant_id, day, currency, project_id, category, type, amount, operations) \
                 SELECT tenant_id, date_ms / 86400000, currency, COALESCE(project_id, ''), \
                 COALESCE(category, ''), type, SUM(amount), COUNT(*) FROM records \
                 WHERE kind = 'finance_operations' AND date_ms IS NOT NULL \
                 AND currency IS NOT NULL AND type IS NOT NULL AND amount IS NOT NULL \
                 GROUP BY tenant_id, date_ms / 86400000, currency, COALESCE(project_id, ''), \
                 COALESCE(category, ''), type",
            )
            .await?;
        for (name, cols) in [
            (
                "records_project_status_name",
                vec![Records::ProjectId, Records::Status, Records::Name],
            ),
            ("records_status_name", vec![Records::Status, Records::Name]),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(Records::Table)
                .col(Records::TenantId)
                .col(Records::Kind);
            for c in cols {
                index.col(c);
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}
