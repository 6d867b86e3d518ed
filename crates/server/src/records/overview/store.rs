//! The dashboard's grouped queries over the records' projection columns, within one
//! tenant.

use sea_orm::sea_query::{Expr, Func, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::db::entity::record::{self, Column, Entity};
use crate::db::{Db, StoreResult, TenantId};
use crate::records::expiry::{self, Window};
use crate::records::kinds::Kind;

const EXPIRING_SHOWN: u64 = 50;
const RECENT_NOTES: u64 = 5;

fn of_kind(tenant: &TenantId, kind: Kind) -> sea_orm::Select<Entity> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Kind.eq(kind.as_str()))
}

/// Resources of `kind`: (total, active, expiring, expired, unassigned), the middle three
/// by effective status at `window`.
pub async fn resource_counts(
    db: &Db,
    tenant: &TenantId,
    kind: Kind,
    window: &Window,
) -> StoreResult<(i64, i64, i64, i64, i64)> {
    let unassigned = Expr::case(Column::BotId.is_null(), 1).finally(0);
    let row: Option<(i64, i64, i64, i64, i64)> = of_kind(tenant, kind)
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "total")
        .column_as(window.count(expiry::ACTIVE), "active")
        .column_as(window.count(expiry::EXPIRING), "expiring")
        .column_as(window.count(expiry::EXPIRED), "expired")
        .column_as(
            Expr::expr(SimpleExpr::from(Func::sum(unassigned))).if_null(0),
            "unassigned",
        )
        .into_tuple()
        .one(db.read())
        .await?;
    Ok(row.unwrap_or_default())
}

/// Licences, proxies and subscriptions whose effective status at `window` is `expiring`,
/// soonest first.
pub async fn expiring(
    db: &Db,
    tenant: &TenantId,
    window: &Window,
) -> StoreResult<Vec<record::Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Kind.is_in([
            Kind::License.as_str(),
            Kind::Proxy.as_str(),
            Kind::Subscription.as_str(),
        ]))
        .filter(window.condition(expiry::EXPIRING))
        .order_by_asc(Column::ExpiresAtMs)
        .limit(EXPIRING_SHOWN)
        .all(db.read())
        .await?)
}

/// The names of the tenant's bots among `ids`.
pub async fn bot_names(
    db: &Db,
    tenant: &TenantId,
    ids: Vec<String>,
) -> StoreResult<Vec<(String, Option<String>)>> {
    Ok(of_kind(tenant, Kind::Bot)
        .select_only()
        .column(Column::Id)
        .column(Column::Name)
        .filter(Column::Id.is_in(ids))
        .into_tuple()
        .all(db.read())
        .await?)
}

/// Up to `limit` bots of `project` in `status` (id, name, document), by name.
pub async fn bots_at(
    db: &Db,
    tenant: &TenantId,
    project: &str,
    status: &str,
    limit: u64,
) -> StoreResult<Vec<(String, Option<String>, String)>> {
    Ok(of_kind(tenant, Kind::Bot)
        .select_only()
        .column(Column::Id)
        .column(Column::Name)
        .column(Column::Data)
        .filter(Column::ProjectId.eq(project))
        .filter(Column::Status.eq(status))
        .order_by_asc(Column::Name)
        .order_by_asc(Column::Id)
        .limit(limit)
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
