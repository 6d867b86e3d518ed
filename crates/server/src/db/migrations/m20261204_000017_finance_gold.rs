//! Gold in the finance aggregates: a finance operation's `gold_amount` becomes a projected
//! column of `records`, and the per-day totals (`finance_daily`) sum the gold and the amount
//! of the operations that carry gold, so the summary can say how much gold was sold and at
//! what average price per 1000 g without reading every operation. Existing operations get
//! their column from their documents, and the totals are rebuilt from the operations.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000017_finance_gold"
    }
}

fn double_column(name: &str, nullable: bool) -> ColumnDef {
    let mut column = ColumnDef::new(Alias::new(name));
    column.double();
    if nullable {
        column.null();
    } else {
        column.not_null().default(0.0);
    }
    column
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for (table, column, nullable) in [
            ("records", "gold_amount", true),
            ("finance_daily", "gold", false),
            ("finance_daily", "gold_value", false),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .add_column(double_column(column, nullable))
                    .to_owned(),
            )
            .await?;
        }
        let db = m.get_connection();
        // Only numbers count as gold (the API never stored anything else there).
        let backfill = match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                "UPDATE records SET gold_amount = \
                 CAST(CAST(data AS jsonb) ->> 'gold_amount' AS DOUBLE PRECISION) \
                 WHERE kind = 'finance_operations' \
                 AND jsonb_typeof(CAST(data AS jsonb) -> 'gold_amount') = 'number'"
            }
            _ => {
                "UPDATE records SET gold_amount = json_extract(data, '$.gold_amount') \
                 WHERE kind = 'finance_operations' \
                 AND json_type(data, '$.gold_amount') IN ('integer', 'real')"
            }
        };
        db.execute_unprepared(backfill).await?;
        db.execute_unprepared("DELETE FROM finance_daily").await?;
        db.execute_unprepared(
            "INSERT INTO finance_daily \
             (tenant_id, day, currency, project_id, category, type, amount, operations, \
              gold, gold_value) \
             SELECT tenant_id, \
             (date_ms - ((date_ms % 86400000) + 86400000) % 86400000) / 86400000, \
             currency, COALESCE(project_id, ''), COALESCE(category, ''), type, \
             SUM(amount), COUNT(*), SUM(COALESCE(gold_amount, 0.0)), \
             SUM(CASE WHEN gold_amount IS NULL THEN 0.0 ELSE amount END) FROM records \
             WHERE kind = 'finance_operations' AND date_ms IS NOT NULL \
             AND currency IS NOT NULL AND type IS NOT NULL AND amount IS NOT NULL \
             AND ABS(amount) <= 1000000000000 \
             AND (gold_amount IS NULL OR ABS(gold_amount) <= 1000000000000) \
             GROUP BY tenant_id, \
             (date_ms - ((date_ms % 86400000) + 86400000) % 86400000) / 86400000, \
             currency, COALESCE(project_id, ''), COALESCE(category, ''), type",
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{Database, Statement};

    use super::*;
    use crate::db::migrations::Migrator;

    #[tokio::test]
    async fn operations_stored_before_bring_their_gold_into_the_totals() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, Some(16)).await.unwrap();
        // Two sales of one day: one with gold, one whose `gold_amount` is not a number.
        db.execute_unprepared(
            "INSERT INTO records (tenant_id, kind, id, data, version, created_at, updated_at, \
               type, category, currency, amount, date_ms, search) VALUES \
             ('t', 'finance_operations', 'a', '{\"amount\":30,\"gold_amount\":1500}', 1, 0, 0, \
               'income', 'sale', 'USD', 30, 86400000, ''), \
             ('t', 'finance_operations', 'b', '{\"amount\":10,\"gold_amount\":\"lots\"}', 1, 0, 0, \
               'income', 'sale', 'USD', 10, 86400000, '')",
        )
        .await
        .unwrap();
        Migrator::up(&db, None).await.unwrap();
        let row = db
            .query_one(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT day, amount, operations, gold, gold_value FROM finance_daily",
            ))
            .await
            .unwrap()
            .unwrap();
        let figures: (i64, f64, i64, f64, f64) = (
            row.try_get("", "day").unwrap(),
            row.try_get("", "amount").unwrap(),
            row.try_get("", "operations").unwrap(),
            row.try_get("", "gold").unwrap(),
            row.try_get("", "gold_value").unwrap(),
        );
        assert_eq!(figures, (1, 40.0, 2, 1500.0, 30.0));
        let golds = db
            .query_all(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT gold_amount FROM records ORDER BY id",
            ))
            .await
            .unwrap();
        let golds: Vec<Option<f64>> = golds
            .iter()
            .map(|r| r.try_get("", "gold_amount").unwrap())
            .collect();
        assert_eq!(golds, [Some(1500.0), None]);
    }
}
