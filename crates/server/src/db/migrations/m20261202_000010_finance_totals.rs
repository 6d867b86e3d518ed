//! Recompute every tenant's finance per-day totals from the operations. Before amounts
//! were bounded, operations of 1.7e308 could push a day's total to infinity, where it
//! stayed after they were deleted; this rebuilds `finance_daily` whole, leaving out (as the
//! server now does) any stored amount outside what the API takes (|amount| <= 1e12), and
//! counting days as the server does (rounded down, also before 1970).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000010_finance_totals"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DELETE FROM finance_daily").await?;
        db.execute_unprepared(
            "INSERT INTO finance_daily \
             (tenant_id, day, currency, project_id, category, type, amount, operations) \
             SELECT tenant_id, \
             (date_ms - ((date_ms % 86400000) + 86400000) % 86400000) / 86400000, \
             currency, COALESCE(project_id, ''), COALESCE(category, ''), type, \
             SUM(amount), COUNT(*) FROM records \
             WHERE kind = 'finance_operations' AND date_ms IS NOT NULL \
             AND currency IS NOT NULL AND type IS NOT NULL AND amount IS NOT NULL \
             AND ABS(amount) <= 1000000000000 \
             GROUP BY tenant_id, \
             (date_ms - ((date_ms % 86400000) + 86400000) % 86400000) / 86400000, \
             currency, COALESCE(project_id, ''), COALESCE(category, ''), type",
        )
        .await?;
        Ok(())
    }
}
