//! The finance per-day totals (`finance_daily`), kept in step with every finance
//! operation's write in that write's transaction, so the aggregates read a few thousand
//! rows instead of every operation.
//!
//! A write recomputes the rows it touches from their operations instead of adding and
//! subtracting its amount: a running sum in floating point keeps the rounding of every
//! amount that ever passed through it (two operations of a trillion, deleted, left 7.2
//! reading 7.199951), while a recomputed row is always the sum of what is there. Amounts
//! outside what the API takes (stored before amounts were bounded) never count, so no
//! sum can overflow; [`rebuild`] and the repairing migration leave out the same ones.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Statement,
};

use crate::clock::DAY_MS;
use crate::db::entity::finance_daily::{self, Column, Entity};
use crate::db::entity::record;
use crate::db::{StoreResult, TenantId};
use crate::records::kinds::Kind;
use crate::schema::MAX_AMOUNT;

/// The per-day row an operation counts in: tenant, currency, UTC day, project (`""` for
/// none), category, type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DayKey {
    tenant_id: String,
    currency: String,
    day: i64,
    project_id: String,
    category: String,
    r#type: String,
}

impl DayKey {
    /// The row `m` counts in; `None` when it is no finance operation with a date, currency
    /// and type.
    pub fn of(m: &record::Model) -> Option<Self> {
        if m.kind != Kind::FinanceOperation.as_str() {
            return None;
        }
        Some(Self {
            tenant_id: m.tenant_id.clone(),
            currency: m.currency.clone()?,
            day: m.date_ms?.div_euclid(DAY_MS),
            project_id: m.project_id.clone().unwrap_or_default(),
            category: m.category.clone().unwrap_or_default(),
            r#type: m.r#type.clone()?,
        })
    }

    fn row(&self) -> Condition {
        Condition::all()
            .add(Column::TenantId.eq(&self.tenant_id))
            .add(Column::Currency.eq(&self.currency))
            .add(Column::Day.eq(self.day))
            .add(Column::ProjectId.eq(&self.project_id))
            .add(Column::Category.eq(&self.category))
            .add(Column::Type.eq(&self.r#type))
    }

    /// The operations that sum into the row.
    fn operations(&self) -> Condition {
        use record::Column as R;
        let text = |column: R, value: &str| {
            if value.is_empty() {
                Condition::any().add(column.is_null()).add(column.eq(""))
            } else {
                Condition::all().add(column.eq(value))
            }
        };
        Condition::all()
            .add(R::TenantId.eq(&self.tenant_id))
            .add(R::Kind.eq(Kind::FinanceOperation.as_str()))
            .add(R::Currency.eq(&self.currency))
            .add(R::DateMs.gte(self.day * DAY_MS))
            .add(R::DateMs.lt((self.day + 1) * DAY_MS))
            .add(R::Type.eq(&self.r#type))
            .add(text(R::ProjectId, &self.project_id))
            .add(text(R::Category, &self.category))
            .add(R::Amount.between(-MAX_AMOUNT, MAX_AMOUNT))
            .add(
                Condition::any()
                    .add(R::GoldAmount.is_null())
                    .add(R::GoldAmount.between(-MAX_AMOUNT, MAX_AMOUNT)),
            )
    }
}

/// The gold of a group of operations, and the amount of those that carry gold.
const GOLD: &str = "SUM(COALESCE(gold_amount, 0.0))";
const GOLD_VALUE: &str = "SUM(CASE WHEN gold_amount IS NULL THEN 0.0 ELSE amount END)";
/// Amount, operations, gold and gold value of a group (SQL sums of no rows are null).
type Sums = (Option<f64>, i64, Option<f64>, Option<f64>);

/// Recompute the rows of `keys` from their operations, after the write that changed them
/// and in its transaction. Rows are locked in key order, so writers of the same days queue
/// (with PostgreSQL; SQLite writes one at a time anyway) and never deadlock; a row whose
/// operations are all gone stays with zero operations, which the aggregates skip.
pub async fn refresh(db: &impl ConnectionTrait, mut keys: Vec<DayKey>) -> StoreResult<()> {
    keys.sort();
    keys.dedup();
    for key in keys {
        let row = finance_daily::ActiveModel {
            tenant_id: Set(key.tenant_id.clone()),
            currency: Set(key.currency.clone()),
            day: Set(key.day),
            project_id: Set(key.project_id.clone()),
            category: Set(key.category.clone()),
            r#type: Set(key.r#type.clone()),
            amount: Set(0.0),
            operations: Set(0),
            gold: Set(0.0),
            gold_value: Set(0.0),
        };
        Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    Column::TenantId,
                    Column::Currency,
                    Column::Day,
                    Column::ProjectId,
                    Column::Category,
                    Column::Type,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        // The lock comes before the sum: the sum then sees every operation committed by
        // the writers that held it before.
        Entity::find()
            .filter(key.row())
            .lock_exclusive()
            .one(db)
            .await?;
        let (amount, operations, gold, gold_value): Sums = record::Entity::find()
            .select_only()
            .column_as(Expr::cust("SUM(amount)"), "amount")
            .column_as(Expr::cust("COUNT(*)"), "operations")
            .column_as(Expr::cust(GOLD), "gold")
            .column_as(Expr::cust(GOLD_VALUE), "gold_value")
            .filter(key.operations())
            .into_tuple()
            .one(db)
            .await?
            .unwrap_or_default();
        Entity::update_many()
            .col_expr(Column::Amount, Expr::value(amount.unwrap_or_default()))
            .col_expr(Column::Operations, Expr::value(operations))
            .col_expr(Column::Gold, Expr::value(gold.unwrap_or_default()))
            .col_expr(
                Column::GoldValue,
                Expr::value(gold_value.unwrap_or_default()),
            )
            .filter(key.row())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Recompute a tenant's daily totals from its operations (after a bulk import); migration
/// `m20261202_000010_finance_totals` did the same once for every tenant.
pub async fn rebuild(db: &impl ConnectionTrait, tenant: &TenantId) -> StoreResult<()> {
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .exec(db)
        .await?;
    let backend = db.get_database_backend();
    // The day as `apply` computes it (rounded down, also before 1970).
    let day = "(date_ms - ((date_ms % 86400000) + 86400000) % 86400000) / 86400000";
    let sql = format!(
        "INSERT INTO finance_daily \
        (tenant_id, day, currency, project_id, category, type, amount, operations, gold, \
         gold_value) \
        SELECT tenant_id, {day}, currency, COALESCE(project_id, ''), \
        COALESCE(category, ''), type, SUM(amount), COUNT(*), {GOLD}, {GOLD_VALUE} \
        FROM records \
        WHERE tenant_id = $1 AND kind = 'finance_operations' AND date_ms IS NOT NULL \
        AND currency IS NOT NULL AND type IS NOT NULL AND amount IS NOT NULL \
        AND ABS(amount) <= {MAX_AMOUNT:.0} \
        AND (gold_amount IS NULL OR ABS(gold_amount) <= {MAX_AMOUNT:.0}) \
        GROUP BY tenant_id, {day}, currency, COALESCE(project_id, ''), \
        COALESCE(category, ''), type"
    );
    db.execute(Statement::from_sql_and_values(
        backend,
        sql,
        [tenant.as_str().into()],
    ))
    .await?;
    Ok(())
}
