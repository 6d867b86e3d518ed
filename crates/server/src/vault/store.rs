//! Queries of the vault, always within one tenant.

use botmox_proto::agent::AgentStatus;
use botmox_proto::vault::BindingScope;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::db::entity::{agent, user};
use crate::db::entity::{vault_binding as binding, vault_envelope as envelope};
use crate::db::entity::{vault_secret as secret, vault_user_key as user_key};
use crate::db::{StoreResult, TenantId};

// Secrets.

pub async fn insert_secret(db: &impl ConnectionTrait, row: secret::Model) -> StoreResult<()> {
    secret::ActiveModel::from(row).insert(db).await?;
    Ok(())
}

pub async fn get_secret(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<Option<secret::Model>> {
    Ok(
        secret::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
            .one(db)
            .await?,
    )
}

/// The tenant's secrets, newest first.
pub async fn list_secrets(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> StoreResult<Vec<secret::Model>> {
    Ok(secret::Entity::find()
        .filter(secret::Column::TenantId.eq(tenant.as_str()))
        .order_by_desc(secret::Column::CreatedAt)
        .order_by_asc(secret::Column::Id)
        .all(db)
        .await?)
}

/// Write the label and times of `row`.
pub async fn save_secret(db: &impl ConnectionTrait, row: secret::Model) -> StoreResult<()> {
    let mut active = secret::ActiveModel::from(row);
    for column in [
        secret::Column::Label,
        secret::Column::UpdatedAt,
        secret::Column::RotatedAt,
    ] {
        active.reset(column);
    }
    active.update(db).await?;
    Ok(())
}

/// Delete a secret with its envelopes and bindings; `false` if there was none.
pub async fn delete_secret(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<bool> {
    // Explicit rather than left to the cascade, so it holds whatever the engine's
    // foreign-key setting.
    delete_envelopes(db, tenant, id).await?;
    binding::Entity::delete_many()
        .filter(binding::Column::TenantId.eq(tenant.as_str()))
        .filter(binding::Column::SecretId.eq(id))
        .exec(db)
        .await?;
    let res = secret::Entity::delete_many()
        .filter(secret::Column::TenantId.eq(tenant.as_str()))
        .filter(secret::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

// Envelopes.

pub async fn insert_envelopes(
    db: &impl ConnectionTrait,
    rows: Vec<envelope::Model>,
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    envelope::Entity::insert_many(rows.into_iter().map(envelope::ActiveModel::from))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn delete_envelopes(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    secret_id: &str,
) -> StoreResult<()> {
    envelope::Entity::delete_many()
        .filter(envelope::Column::TenantId.eq(tenant.as_str()))
        .filter(envelope::Column::SecretId.eq(secret_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The envelopes of the tenant's secrets (all, or one secret's), by secret and recipient.
pub async fn envelopes(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    secret_id: Option<&str>,
) -> StoreResult<Vec<envelope::Model>> {
    let mut q = envelope::Entity::find().filter(envelope::Column::TenantId.eq(tenant.as_str()));
    if let Some(id) = secret_id {
        q = q.filter(envelope::Column::SecretId.eq(id));
    }
    Ok(q.order_by_asc(envelope::Column::SecretId)
        .order_by_asc(envelope::Column::Recipient)
        .all(db)
        .await?)
}

/// One recipient's envelope of a secret.
pub async fn envelope_for(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    secret_id: &str,
    recipient: &str,
) -> StoreResult<Option<envelope::Model>> {
    Ok(envelope::Entity::find_by_id((
        tenant.as_str().to_owned(),
        secret_id.to_owned(),
        recipient.to_owned(),
    ))
    .one(db)
    .await?)
}

// Bindings.

/// Bind, replacing the secret an existing binding of the same scope and field names.
pub async fn upsert_binding(
    db: &impl ConnectionTrait,
    row: binding::Model,
) -> StoreResult<binding::Model> {
    binding::Entity::insert(binding::ActiveModel::from(row.clone()))
        .on_conflict(
            OnConflict::columns([
                binding::Column::TenantId,
                binding::Column::ScopeType,
                binding::Column::ScopeId,
                binding::Column::FieldName,
            ])
            .update_columns([
                binding::Column::SecretId,
                binding::Column::CreatedBy,
                binding::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let tenant = TenantId::trusted(row.tenant_id.clone());
    let stored = binding::Entity::find()
        .filter(binding::Column::TenantId.eq(tenant.as_str()))
        .filter(binding::Column::ScopeType.eq(row.scope_type.as_str()))
        .filter(binding::Column::ScopeId.eq(&row.scope_id))
        .filter(binding::Column::FieldName.eq(&row.field_name))
        .one(db)
        .await?;
    Ok(stored.unwrap_or(row))
}

/// The tenant's bindings, newest first, optionally of one scope type and/or id.
pub async fn list_bindings(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    scope_type: Option<BindingScope>,
    scope_id: Option<&str>,
) -> StoreResult<Vec<binding::Model>> {
    let mut q = binding::Entity::find().filter(binding::Column::TenantId.eq(tenant.as_str()));
    if let Some(scope) = scope_type {
        q = q.filter(binding::Column::ScopeType.eq(scope.as_str()));
    }
    if let Some(id) = scope_id {
        q = q.filter(binding::Column::ScopeId.eq(id));
    }
    Ok(q.order_by_desc(binding::Column::UpdatedAt)
        .order_by_asc(binding::Column::Id)
        .all(db)
        .await?)
}

/// The bindings an agent may receive: its own (`agent` scope with its id) and the
/// tenant-wide ones (`tenant`, `vm_settings`).
pub async fn bindings_for_agent(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    agent_id: &str,
) -> StoreResult<Vec<binding::Model>> {
    let own = binding::Column::ScopeType
        .eq(BindingScope::Agent.as_str())
        .and(binding::Column::ScopeId.eq(agent_id));
    let shared = binding::Column::ScopeType.is_in([
        BindingScope::Tenant.as_str(),
        BindingScope::VmSettings.as_str(),
    ]);
    Ok(binding::Entity::find()
        .filter(binding::Column::TenantId.eq(tenant.as_str()))
        .filter(own.or(shared))
        .order_by_asc(binding::Column::FieldName)
        .order_by_asc(binding::Column::Id)
        .all(db)
        .await?)
}

pub async fn delete_binding(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> StoreResult<bool> {
    let res = binding::Entity::delete_many()
        .filter(binding::Column::TenantId.eq(tenant.as_str()))
        .filter(binding::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

// Recipients' keys.

pub async fn put_user_key(db: &impl ConnectionTrait, row: user_key::Model) -> StoreResult<()> {
    user_key::Entity::insert(user_key::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([user_key::Column::TenantId, user_key::Column::UserId])
                .update_columns([
                    user_key::Column::KeyId,
                    user_key::Column::PublicKey,
                    user_key::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn user_key(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user_id: &str,
) -> StoreResult<Option<user_key::Model>> {
    Ok(
        user_key::Entity::find_by_id((tenant.as_str().to_owned(), user_id.to_owned()))
            .one(db)
            .await?,
    )
}

/// The tenant's enabled users with a vault key, with their e-mail.
pub async fn user_keys(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> StoreResult<Vec<(user_key::Model, String)>> {
    let keys = user_key::Entity::find()
        .filter(user_key::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(user_key::Column::UserId)
        .all(db)
        .await?;
    let users = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.as_str()))
        .filter(user::Column::Disabled.eq(false))
        .all(db)
        .await?;
    Ok(keys
        .into_iter()
        .filter_map(|k| {
            let email = users.iter().find(|u| u.id == k.user_id)?.email.clone();
            Some((k, email))
        })
        .collect())
}

/// The tenant's active agents that registered a vault key.
pub async fn agent_keys(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> StoreResult<Vec<agent::Model>> {
    Ok(agent::Entity::find()
        .filter(agent::Column::TenantId.eq(tenant.as_str()))
        .filter(agent::Column::Status.eq(AgentStatus::Active.as_str()))
        .filter(agent::Column::VaultPublicKey.is_not_null())
        .order_by_asc(agent::Column::Name)
        .order_by_asc(agent::Column::Id)
        .all(db)
        .await?)
}
