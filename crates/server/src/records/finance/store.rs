//! Reads of the finance per-day totals for the aggregates.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::db::entity::finance_daily::{Column, Entity};
use crate::db::{Db, StoreResult, TenantId};

/// One group of the per-day totals: (bucket index, type, category, project, amount,
/// operations, gold, amount of the operations with gold).
pub type Sum = (i64, String, String, String, f64, i64, f64, f64);

/// The tenant's totals in `currency` over the days `[first, end)` (of one project, when
/// given), summed per bucket (`bucket` is an SQL expression numbering each day's bucket),
/// type, category and project.
pub async fn sums(
    db: &Db,
    tenant: &TenantId,
    currency: &str,
    (first, end): (i64, i64),
    project: Option<&str>,
    bucket: &str,
) -> StoreResult<Vec<Sum>> {
    let mut select = Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Currency.eq(currency))
        .filter(Column::Day.gte(first))
        .filter(Column::Day.lt(end));
    if let Some(p) = project {
        select = select.filter(Column::ProjectId.eq(p));
    }
    Ok(select
        .select_only()
        .column_as(Expr::cust(bucket), "bucket")
        .column(Column::Type)
        .column(Column::Category)
        .column(Column::ProjectId)
        .column_as(Expr::cust("SUM(amount)"), "amount")
        .column_as(Expr::cust("CAST(SUM(operations) AS BIGINT)"), "operations")
        .column_as(Expr::cust("SUM(gold)"), "gold")
        .column_as(Expr::cust("SUM(gold_value)"), "gold_value")
        .group_by(Expr::cust("1"))
        .group_by(Column::Type)
        .group_by(Column::Category)
        .group_by(Column::ProjectId)
        .into_tuple()
        .all(db.read())
        .await?)
}
