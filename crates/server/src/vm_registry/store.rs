//! Queries of the VM registry, always within one tenant.

use botmox_proto::licensing::VmStatus;
use sea_orm::sea_query::{Condition, Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::db::entity::vm_registry::{ActiveModel, Column, Entity, Model};
use crate::db::like::like_literal;
use crate::db::{StoreResult, TenantId};

pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    vm_uuid: &str,
) -> StoreResult<Option<Model>> {
    Ok(
        Entity::find_by_id((tenant.as_str().to_owned(), vm_uuid.to_owned()))
            .one(db)
            .await?,
    )
}

/// The row, locked until the transaction ends: `exclusive` for a change of the VM, shared
/// for a lease that must not be issued while the VM is being deactivated or moved.
pub async fn get_locked(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    vm_uuid: &str,
    exclusive: bool,
) -> StoreResult<Option<Model>> {
    let find = Entity::find_by_id((tenant.as_str().to_owned(), vm_uuid.to_owned()));
    let find = if exclusive {
        find.lock_exclusive()
    } else {
        find.lock_shared()
    };
    Ok(find.one(db).await?)
}

pub async fn insert(db: &impl ConnectionTrait, row: Model) -> StoreResult<Model> {
    Ok(ActiveModel::from(row).insert(db).await?)
}

/// Write every column of `row` (its key names the row).
pub async fn save(db: &impl ConnectionTrait, row: Model) -> StoreResult<Model> {
    let mut active = ActiveModel::from(row);
    for column in [
        Column::UserId,
        Column::VmName,
        Column::ProjectId,
        Column::Status,
        Column::Metadata,
        Column::UpdatedAt,
    ] {
        active.reset(column);
    }
    Ok(active.update(db).await?)
}

/// What a registry list is narrowed to.
pub struct VmFilter<'a> {
    /// Only this owner's VMs.
    pub owner: Option<&'a str>,
    pub status: Option<VmStatus>,
    /// Part of the UUID, name or project.
    pub text: Option<&'a str>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: VmFilter<'_>,
    page: u64,
    limit: u64,
) -> StoreResult<(Vec<Model>, u64)> {
    let mut find = Entity::find().filter(Column::TenantId.eq(tenant.as_str()));
    if let Some(owner) = filter.owner {
        find = find.filter(Column::UserId.eq(owner));
    }
    if let Some(status) = filter.status {
        find = find.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(text) = filter.text.map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = || like_literal("%", &text.to_lowercase(), "%");
        find = find.filter(
            Condition::any()
                .add(Expr::col(Column::VmUuid).like(pattern()))
                .add(Expr::expr(Func::lower(Expr::col(Column::VmName))).like(pattern()))
                .add(Expr::expr(Func::lower(Expr::col(Column::ProjectId))).like(pattern())),
        );
    }
    let paginator = find
        .order_by_desc(Column::UpdatedAt)
        .order_by_asc(Column::VmUuid)
        .paginate(db, limit);
    let total = paginator.num_items().await?;
    Ok((paginator.fetch_page(page.saturating_sub(1)).await?, total))
}
