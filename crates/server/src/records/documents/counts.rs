//! Bots counted per tenant, project and status (`bot_counts`), kept in step with every
//! bot's write in that write's transaction, so the pages that show how many bots are where
//! (the Overview, the resource tree, the Project page, the finance summary) read a few rows
//! instead of counting 100,000 bots on every view.
//!
//! A write that moves a bot changes two counts by one, in key order: two writers moving
//! bots between the same two places lock the rows in the same order, so neither waits on the
//! other forever. Counts are integers, so adding and subtracting keeps them exact.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement,
};

use crate::db::entity::bot_count::{self, Column, Entity};
use crate::db::entity::record;
use crate::db::{StoreResult, TenantId};
use crate::records::kinds::Kind;

/// Where a bot counts: tenant, project (`""` for none), status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    tenant_id: String,
    project_id: String,
    status: String,
}

impl Place {
    fn of(m: &record::Model) -> Option<Self> {
        (m.kind == Kind::Bot.as_str()).then(|| Self {
            tenant_id: m.tenant_id.clone(),
            project_id: m.project_id.clone().unwrap_or_default(),
            status: m.status.clone().unwrap_or_else(|| "offline".into()),
        })
    }
}

/// Keep the counts in step with a record's write (same transaction): `before` is the
/// record as it was (`None`: created), `after` as it is (`None`: deleted). Only bots count,
/// and only a bot that changed project or status (or came or went) changes a count.
pub async fn track(
    db: &impl ConnectionTrait,
    before: Option<&record::Model>,
    after: Option<&record::Model>,
) -> StoreResult<()> {
    let (was, is) = (before.and_then(Place::of), after.and_then(Place::of));
    if was == is {
        return Ok(());
    }
    let mut changes: Vec<(Place, i64)> = was
        .map(|p| (p, -1))
        .into_iter()
        .chain(is.map(|p| (p, 1)))
        .collect();
    changes.sort();
    for (place, delta) in changes {
        Entity::insert(bot_count::ActiveModel {
            tenant_id: Set(place.tenant_id),
            project_id: Set(place.project_id),
            status: Set(place.status),
            bots: Set(delta),
        })
        .on_conflict(
            OnConflict::columns([Column::TenantId, Column::ProjectId, Column::Status])
                .value(Column::Bots, Expr::col((Entity, Column::Bots)).add(delta))
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// The tenant's bots per (project, status), of one project when `project` is given:
/// places with bots only, the project `None` for bots of none.
pub async fn bots(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    project: Option<&str>,
) -> StoreResult<Vec<(Option<String>, String, i64)>> {
    let mut select = Entity::find()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::Bots.gt(0));
    if let Some(p) = project {
        select = select.filter(Column::ProjectId.eq(p));
    }
    Ok(select
        .all(db)
        .await?
        .into_iter()
        .map(|c| {
            let project = (!c.project_id.is_empty()).then_some(c.project_id);
            (project, c.status, c.bots)
        })
        .collect())
}

/// Count the tenant's bots again from the records (after a bulk load that wrote records
/// without their counts).
pub async fn rebuild(db: &impl ConnectionTrait, tenant: &TenantId) -> StoreResult<()> {
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant.as_str()))
        .exec(db)
        .await?;
    // `$1` binds by position on both engines.
    let sql = "INSERT INTO bot_counts (tenant_id, project_id, status, bots) \
        SELECT tenant_id, COALESCE(project_id, ''), COALESCE(status, 'offline'), COUNT(*) \
        FROM records WHERE tenant_id = $1 AND kind = 'bots' \
        GROUP BY tenant_id, COALESCE(project_id, ''), COALESCE(status, 'offline')";
    db.execute(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [tenant.as_str().into()],
    ))
    .await?;
    Ok(())
}
