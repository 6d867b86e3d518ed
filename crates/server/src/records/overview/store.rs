//! The dashboard's grouped queries over the records' projection columns, within one
//! tenant.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::db::entity::record::{self, Column, Entity};
use crate::db::{Db, StoreResult, TenantId};
use crate::records::kinds::Kind;

const EXPIRING_SHOWN: u64 = 50;
const RECENT_NOTES: u64 = 5;
/// Statuses under which a resource no longer counts as expiring.
const SETTLED: &str = "COALESCE(status, '') NOT IN ('banned', 'expired', 'revoked', 'cancelled')";

fn of_kind(tenant: &TenantId, kind: Kind) -> sea_orm::Select<Entity> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Kind.eq(kind.as_str()))
}

/// Resources of `kind`: (total, active, expiring before `soon`, expired, unassigned).
pub async fn resource_counts(
    db: &Db,
    tenant: &TenantId,
    kind: Kind,
    now: i64,
    soon: i64,
) -> StoreResult<(i64, i64, i64, i64, i64)> {
    let count_if = |cond: String| {
        Expr::cust(format!(
            "COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)"
        ))
    };
    let expired = format!("(status = 'expired' OR expires_at_ms < {now})");
    let row: Option<(i64, i64, i64, i64, i64)> = of_kind(tenant, kind)
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "total")
        .column_as(
            count_if(format!("status = 'active' AND NOT {expired}")),
            "active",
        )
        .column_as(
            count_if(format!(
                "expires_at_ms >= {now} AND expires_at_ms < {soon} AND {SETTLED}"
            )),
            "expiring",
        )
        .column_as(count_if(expired), "expired")
        .column_as(count_if("bot_id IS NULL".into()), "unassigned")
        .into_tuple()
        .one(db.read())
        .await?;
    Ok(row.unwrap_or_default())
}

/// Licences, proxies and subscriptions expiring in `[now, soon)`, soonest first.
pub async fn expiring(
    db: &Db,
    tenant: &TenantId,
    now: i64,
    soon: i64,
) -> StoreResult<Vec<record::Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Kind.is_in([
            Kind::License.as_str(),
            Kind::Proxy.as_str(),
            Kind::Subscription.as_str(),
        ]))
        .filter(Column::ExpiresAtMs.gte(now))
        .filter(Column::ExpiresAtMs.lt(soon))
        .filter(Expr::cust(SETTLED))
        .order_by_asc(Column::ExpiresAtMs)
        .limit(EXPIRING_SHOWN)
        .all(db.read())
        .await?)
}

/// Bots counted per (project, status).
pub async fn bots_per_project(
    db: &Db,
    tenant: &TenantId,
) -> StoreResult<Vec<(Option<String>, Option<String>, i64)>> {
    Ok(of_kind(tenant, Kind::Bot)
        .select_only()
        .column(Column::ProjectId)
        .column(Column::Status)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(Column::ProjectId)
        .group_by(Column::Status)
        .into_tuple()
        .all(db.read())
        .await?)
}

/// Titles of the most recently changed notes.
pub async fn recent_note_titles(db: &Db, tenant: &TenantId) -> StoreResult<Vec<Option<String>>> {
    Ok(of_kind(tenant, Kind::Note)
        .select_only()
        .column(Column::Name)
        .order_by_desc(Column::UpdatedAt)
        .limit(RECENT_NOTES)
        .into_tuple()
        .all(db.read())
        .await?)
}
