//! The settings row of a tenant, read and written with a version check.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::Expr,
};

use crate::db::entity::settings::{self, Column, Entity};
use crate::db::is_unique_violation;

pub async fn load(
    db: &impl ConnectionTrait,
    tenant: &str,
) -> Result<Option<settings::Model>, DbErr> {
    Entity::find_by_id(tenant.to_owned()).one(db).await
}

/// Store `data` if the tree is still at `version` (0: no row yet). `false` when another
/// writer got there first; the caller reloads and tries again.
pub async fn save(
    db: &impl ConnectionTrait,
    tenant: &str,
    data: String,
    version: i64,
    now_ms: i64,
) -> Result<bool, DbErr> {
    if version == 0 {
        let row = settings::ActiveModel {
            tenant_id: Set(tenant.to_owned()),
            data: Set(data),
            version: Set(1),
            updated_at: Set(now_ms),
        };
        return match Entity::insert(row).exec_without_returning(db).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        };
    }
    let res = Entity::update_many()
        .col_expr(Column::Data, Expr::value(data))
        .col_expr(Column::Version, Expr::value(version + 1))
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::TenantId.eq(tenant))
        .filter(Column::Version.eq(version))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
