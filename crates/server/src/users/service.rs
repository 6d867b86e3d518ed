//! Rules for tenants and users.

use botmox_proto::ErrorCode;
use botmox_proto::auth::{CreateUserRequest, PatchUserRequest, Role, UserView};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};

use super::store::{self, NewUser};
use crate::auth::{password, service::normalize_email, store as auth_store};
use crate::db::entity::user;
use crate::db::{Db, TenantId};
use crate::http::{ApiError, ApiResult};
use crate::principal::Admin;
use crate::state::AppState;

pub const DEFAULT_TENANT: &str = "default";

pub fn view(u: user::Model) -> UserView {
    UserView {
        role: u.role.parse().unwrap_or(Role::User),
        id: u.id,
        tenant_id: u.tenant_id,
        email: u.email,
        disabled: u.disabled,
        created_at: u.created_at,
        updated_at: u.updated_at,
    }
}

/// Tenant names are short slugs, used as the tenant id.
pub fn check_tenant_name(name: &str) -> ApiResult<TenantId> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(TenantId::trusted(name))
    } else {
        Err(ApiError::field(
            "tenant",
            "must be 1-63 characters of a-z, 0-9, '-' or '_'",
        ))
    }
}

pub fn check_email(email: &str) -> ApiResult<()> {
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::field("email", "must be an e-mail address"))
    }
}

pub fn check_password(pw: &str) -> ApiResult<()> {
    password::check_policy(pw).map_err(|problem| ApiError::field("password", problem))
}

/// Create a user in a tenant (created when missing). Shared by the API, the UI, the CLI and
/// first-run setup. A duplicate e-mail is 409 `ALREADY_EXISTS`.
pub async fn create_user(
    db: &Db,
    tenant: &TenantId,
    email: &str,
    pw: &str,
    role: Role,
) -> ApiResult<user::Model> {
    let email = normalize_email(email);
    check_tenant_name(tenant.as_str())?;
    check_email(&email)?;
    check_password(pw)?;
    let pw_owned = pw.to_owned();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw_owned))
        .await
        .map_err(ApiError::internal)?;
    db.write(async |txn| {
        store::ensure_tenant(txn, tenant).await?;
        let new = NewUser {
            tenant_id: tenant,
            email: &email,
            password_hash: hash,
            role: role.as_str(),
        };
        match store::insert_user(txn, new).await {
            Ok(user) => Ok(user),
            Err(e) if e.is_unique_violation() => Err(ApiError::new(
                ErrorCode::AlreadyExists,
                format!("A user with e-mail {email} already exists"),
            )),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// An admin adds a member to their own tenant.
pub async fn create(db: &Db, admin: &Admin, req: &CreateUserRequest) -> ApiResult<user::Model> {
    create_user(db, admin.tenant(), &req.email, &req.password, req.role).await
}

/// A page of the admin's tenant's members, by e-mail.
pub async fn list(
    db: &Db,
    admin: &Admin,
    page: u64,
    limit: u64,
) -> ApiResult<(Vec<user::Model>, u64)> {
    Ok(store::list_users(db.read(), admin.tenant(), page, limit).await?)
}

/// One member of the admin's tenant.
pub async fn get(db: &Db, admin: &Admin, id: &str) -> ApiResult<user::Model> {
    store::get_user(db.read(), admin.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))
}

/// Apply a change to a member of the admin's tenant. The tenant always keeps at least one
/// enabled admin, also when admins change each other at the same moment. Disabling a user
/// or changing the password ends all of the user's sessions.
pub async fn patch_user(
    state: &AppState,
    admin: &Admin,
    id: &str,
    patch: PatchUserRequest,
) -> ApiResult<user::Model> {
    if let Some(pw) = &patch.password {
        check_password(pw)?;
    }
    let hash = match patch.password.clone() {
        Some(pw) => Some(
            tokio::task::spawn_blocking(move || password::hash(&pw))
                .await
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let tenant = admin.tenant();
    let updated = state
        .db
        .write(async |txn| {
            store::lock_tenant(txn, tenant).await?;
            let Some(current) = store::get_user(txn, tenant, id).await? else {
                return Err(ApiError::not_found("User"));
            };
            let was_admin = current.role == "admin" && !current.disabled;
            let stays_admin = patch
                .role
                .map_or(current.role == "admin", |r| r == Role::Admin)
                && !patch.disabled.unwrap_or(current.disabled);
            if was_admin && !stays_admin && store::count_active_admins(txn, tenant).await? <= 1 {
                return Err(ApiError::new(
                    ErrorCode::LastAdmin,
                    "The tenant must keep at least one enabled admin",
                ));
            }
            let end_sessions = patch.disabled == Some(true) || hash.is_some();
            let mut model = current.clone().into_active_model();
            if let Some(role) = patch.role {
                model.role = Set(role.as_str().into());
            }
            if let Some(disabled) = patch.disabled {
                model.disabled = Set(disabled);
            }
            if let Some(hash) = hash {
                model.password_hash = Set(Some(hash));
            }
            let updated = if model.is_changed() {
                model.updated_at = Set(Utc::now());
                store::update_user(txn, model).await?
            } else {
                current
            };
            if end_sessions {
                auth_store::revoke_user_sessions(txn, id, "account changed").await?;
            }
            Ok(updated)
        })
        .await?;
    state.auth_cache.changed(&state.db).await;
    Ok(updated)
}
