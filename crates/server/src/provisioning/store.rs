//! Queries of provisioning, always within one tenant (and, for profiles and playbooks, one
//! owner): profiles, playbooks, tokens and progress reports.

use botmox_proto::provisioning::{ProgressStatus, ProvisionTokenStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::db::entity::provisioning_token::{self as token, Model as TokenRow};
use crate::db::entity::stored::Stored;
use crate::db::entity::vm_setup_progress::{self as progress, Model as ProgressRow};
use crate::db::{StoreResult, TenantId};

/// The same queries for profiles and playbooks, rows of one owner with a unique name and
/// at most one default; `$body` is the column that differs.
macro_rules! owned_rows {
    ($module:ident, $entity:ident, $body:ident) => {
        pub mod $module {
            use sea_orm::sea_query::Expr;
            use sea_orm::{
                ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
                QueryOrder,
            };

            use crate::db::entity::$entity::{ActiveModel, Column, Entity, Model};
            use crate::db::{StoreResult, TenantId};

            fn owned(tenant: &TenantId, user: &str) -> sea_orm::Select<Entity> {
                Entity::find()
                    .filter(Column::TenantId.eq(tenant.as_str()))
                    .filter(Column::UserId.eq(user))
            }

            /// The owner's rows, oldest first.
            pub async fn list(
                db: &impl ConnectionTrait,
                tenant: &TenantId,
                user: &str,
            ) -> StoreResult<Vec<Model>> {
                Ok(owned(tenant, user)
                    .order_by_asc(Column::CreatedAt)
                    .order_by_asc(Column::Id)
                    .all(db)
                    .await?)
            }

            pub async fn get(
                db: &impl ConnectionTrait,
                tenant: &TenantId,
                user: &str,
                id: &str,
            ) -> StoreResult<Option<Model>> {
                Ok(owned(tenant, user)
                    .filter(Column::Id.eq(id))
                    .one(db)
                    .await?)
            }

            pub async fn default_of(
                db: &impl ConnectionTrait,
                tenant: &TenantId,
                user: &str,
            ) -> StoreResult<Option<Model>> {
                Ok(owned(tenant, user)
                    .filter(Column::IsDefault.eq(true))
                    .one(db)
                    .await?)
            }

            /// Clear the owner's default, except on `keep`.
            pub async fn clear_default(
                db: &impl ConnectionTrait,
                tenant: &TenantId,
                user: &str,
                keep: &str,
            ) -> StoreResult<()> {
                Entity::update_many()
                    .col_expr(Column::IsDefault, Expr::value(false))
                    .filter(Column::TenantId.eq(tenant.as_str()))
                    .filter(Column::UserId.eq(user))
                    .filter(Column::IsDefault.eq(true))
                    .filter(Column::Id.ne(keep))
                    .exec(db)
                    .await?;
                Ok(())
            }

            pub async fn insert(db: &impl ConnectionTrait, row: Model) -> StoreResult<Model> {
                Ok(ActiveModel::from(row).insert(db).await?)
            }

            /// Write the changeable columns of `row` (its id names it).
            pub async fn save(db: &impl ConnectionTrait, row: Model) -> StoreResult<Model> {
                let mut active = ActiveModel::from(row);
                for column in [
                    Column::Name,
                    Column::IsDefault,
                    Column::$body,
                    Column::UpdatedAt,
                ] {
                    active.reset(column);
                }
                Ok(active.update(db).await?)
            }

            pub async fn delete(
                db: &impl ConnectionTrait,
                tenant: &TenantId,
                user: &str,
                id: &str,
            ) -> StoreResult<bool> {
                let done = Entity::delete_many()
                    .filter(Column::TenantId.eq(tenant.as_str()))
                    .filter(Column::UserId.eq(user))
                    .filter(Column::Id.eq(id))
                    .exec(db)
                    .await?;
                Ok(done.rows_affected > 0)
            }
        }
    };
}

/// Hold the owner's user row until the transaction ends, so the writes that move an owner's
/// default flag take turns (PostgreSQL; SQLite writes take turns anyway): each clears the
/// default the one before it set, and the partial unique index is never raced.
pub async fn lock_owner(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user: &str,
) -> StoreResult<()> {
    use crate::db::entity::user;
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.as_str()))
        .filter(user::Column::Id.eq(user))
        .lock_exclusive()
        .one(db)
        .await?;
    Ok(())
}

owned_rows!(profiles, unattend_profile, Config);
owned_rows!(playbooks, playbook, Content);

// Tokens.

pub async fn insert_token(db: &impl ConnectionTrait, row: TokenRow) -> StoreResult<TokenRow> {
    Ok(token::ActiveModel::from(row).insert(db).await?)
}

pub async fn get_token(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<Option<TokenRow>> {
    Ok(token::Entity::find()
        .filter(token::Column::TenantId.eq(tenant.as_str()))
        .filter(token::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// A VM's tokens, newest first.
pub async fn tokens_of_vm(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    vm_uuid: &str,
) -> StoreResult<Vec<TokenRow>> {
    Ok(token::Entity::find()
        .filter(token::Column::TenantId.eq(tenant.as_str()))
        .filter(token::Column::VmUuid.eq(vm_uuid))
        .order_by_desc(token::Column::IssuedAt)
        .order_by_asc(token::Column::Id)
        .all(db)
        .await?)
}

/// Revoke the active tokens of a VM (all of them, or only `id`); how many were.
pub async fn revoke_tokens(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    vm_uuid: &str,
    id: Option<&str>,
    at: i64,
    reason: &str,
) -> StoreResult<u64> {
    let mut update = token::Entity::update_many()
        .col_expr(
            token::Column::Status,
            Expr::value(ProvisionTokenStatus::Revoked.as_str()),
        )
        .col_expr(token::Column::RevokedAt, Expr::value(at))
        .col_expr(token::Column::RevokeReason, Expr::value(reason))
        .filter(token::Column::TenantId.eq(tenant.as_str()))
        .filter(token::Column::VmUuid.eq(vm_uuid))
        .filter(token::Column::Status.eq(ProvisionTokenStatus::Active.as_str()));
    if let Some(id) = id {
        update = update.filter(token::Column::Id.eq(id));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Mark the token used if it is still active and unexpired: `true` for the one caller that
/// did.
pub async fn mark_used(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    at: i64,
) -> StoreResult<bool> {
    let done = token::Entity::update_many()
        .col_expr(
            token::Column::Status,
            Expr::value(ProvisionTokenStatus::Used.as_str()),
        )
        .col_expr(token::Column::UsedAt, Expr::value(at))
        .filter(token::Column::TenantId.eq(tenant.as_str()))
        .filter(token::Column::Id.eq(id))
        .filter(token::Column::Status.eq(ProvisionTokenStatus::Active.as_str()))
        .filter(token::Column::ExpiresAt.gt(at))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

// Progress.

/// The stored report equal to this one, if any.
pub async fn find_report(
    db: &impl ConnectionTrait,
    token_id: &str,
    step: &str,
    status: ProgressStatus,
    details_hash: &str,
) -> StoreResult<Option<ProgressRow>> {
    Ok(progress::Entity::find()
        .filter(progress::Column::TokenId.eq(token_id))
        .filter(progress::Column::Step.eq(step))
        .filter(progress::Column::Status.eq(Stored(status)))
        .filter(progress::Column::DetailsHash.eq(details_hash))
        .one(db)
        .await?)
}

/// Insert a report (a unique violation when an identical one exists). Reports are read in
/// the order of `created_at` (ids are random), so a report never gets the time of an earlier
/// one of its VM: two within one millisecond (a fast VM) keep the order they came in.
pub async fn insert_report(
    db: &impl ConnectionTrait,
    mut row: ProgressRow,
) -> StoreResult<ProgressRow> {
    let last: Option<i64> = progress::Entity::find()
        .filter(progress::Column::TenantId.eq(row.tenant_id.as_str()))
        .filter(progress::Column::VmUuid.eq(row.vm_uuid.as_str()))
        .select_only()
        .column_as(Expr::col(progress::Column::CreatedAt).max(), "last")
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    if let Some(last) = last {
        row.created_at = row.created_at.max(last + 1);
    }
    Ok(progress::ActiveModel::from(row).insert(db).await?)
}

/// A VM's reports, oldest first.
pub async fn progress_of_vm(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    vm_uuid: &str,
) -> StoreResult<Vec<ProgressRow>> {
    Ok(progress::Entity::find()
        .filter(progress::Column::TenantId.eq(tenant.as_str()))
        .filter(progress::Column::VmUuid.eq(vm_uuid))
        .order_by_asc(progress::Column::CreatedAt)
        .order_by_asc(progress::Column::Id)
        .all(db)
        .await?)
}
