//! References that cross domains' tables: the settings' projects are named by records, so
//! removing a project must know how many records still use it. The query sits here, below
//! both domains, so neither imports the other.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::entity::record::{self, Column};
use super::{StoreResult, TenantId};

/// How many records of each kind use project `project` (read in the transaction that
/// removes it, after its write, so a record committed meanwhile is counted).
pub async fn records_by_project(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    project: &str,
) -> StoreResult<Vec<(String, i64)>> {
    Ok(record::Entity::find()
        .select_only()
        .column(Column::Kind)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(Column::TenantId.eq(tenant.as_str()))
        .filter(Column::ProjectId.eq(project))
        .group_by(Column::Kind)
        .into_tuple()
        .all(db)
        .await?)
}
