//! The finance per-day totals (`finance_daily`), kept in step with every finance
//! operation's write in that write's transaction, so the aggregates read a few thousand
//! rows instead of every operation.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement,
};

use crate::clock::DAY_MS;
use crate::db::entity::finance_daily::{self, Column, Entity};
use crate::db::entity::record;
use crate::db::{StoreResult, TenantId};

/// What one operation adds to (or, with `sign` -1, removes from) the daily totals.
pub async fn apply(db: &impl ConnectionTrait, m: &record::Model, sign: f64) -> StoreResult<()> {
    let (Some(date), Some(currency), Some(kind), Some(amount)) =
        (m.date_ms, m.currency.as_ref(), m.r#type.as_ref(), m.amount)
    else {
        return Ok(());
    };
    let row = finance_daily::ActiveModel {
        tenant_id: Set(m.tenant_id.clone()),
        currency: Set(currency.clone()),
        day: Set(date.div_euclid(DAY_MS)),
        project_id: Set(m.project_id.clone().unwrap_or_default()),
        category: Set(m.category.clone().unwrap_or_default()),
        r#type: Set(kind.clone()),
        amount: Set(sign * amount),
        operations: Set(sign as i64),
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
            .value(
                Column::Amount,
                Expr::col((Entity, Column::Amount)).add(Expr::cust("excluded.amount")),
            )
            .value(
                Column::Operations,
                Expr::col((Entity, Column::Operations)).add(Expr::cust("excluded.operations")),
            )
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Recompute a tenant's daily totals from its operations (after a bulk import).
pub async fn rebuild(db: &impl ConnectionTrait, tenant: &TenantId) -> StoreResult<()> {
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .exec(db)
        .await?;
    let backend = db.get_database_backend();
    let sql = "INSERT INTO finance_daily \
        (tenant_id, day, currency, project_id, category, type, amount, operations) \
        SELECT tenant_id, date_ms / 86400000, currency, COALESCE(project_id, ''), \
        COALESCE(category, ''), type, SUM(amount), COUNT(*) FROM records \
        WHERE tenant_id = $1 AND kind = 'finance_operations' AND date_ms IS NOT NULL \
        AND currency IS NOT NULL AND type IS NOT NULL AND amount IS NOT NULL \
        GROUP BY tenant_id, date_ms / 86400000, currency, COALESCE(project_id, ''), \
        COALESCE(category, ''), type";
    db.execute(Statement::from_sql_and_values(
        backend,
        sql,
        [tenant.as_str().into()],
    ))
    .await?;
    Ok(())
}
