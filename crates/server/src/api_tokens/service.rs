//! Rules for API tokens: a name, a role no higher than the creator's, an optional expiry in
//! the future; the secret is returned once.

use botmox_proto::ErrorCode;
use botmox_proto::auth::{ApiTokenView, CreateApiTokenRequest, CreatedApiToken, Role};
use chrono::Utc;

use super::store::{self, NewToken};
use crate::auth::service::API_TOKEN_PREFIX;
use crate::db::Db;
use crate::db::entity::api_token;
use crate::http::{ApiError, ApiResult};
use crate::keys::{hash_secret, random_secret};
use crate::principal::Admin;
use crate::state::AppState;

pub fn view(t: api_token::Model) -> ApiTokenView {
    ApiTokenView {
        role: t.role.parse().unwrap_or(Role::User),
        id: t.id,
        name: t.name,
        prefix: t.prefix,
        created_by: t.created_by,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
        last_used_at: t.last_used_at,
    }
}

/// A page of the tenant's tokens, newest first.
pub async fn list(
    db: &Db,
    admin: &Admin,
    page: u64,
    limit: u64,
) -> ApiResult<(Vec<api_token::Model>, u64)> {
    Ok(store::list(db.read(), admin.tenant(), page, limit).await?)
}

pub async fn create(
    db: &Db,
    admin: &Admin,
    req: CreateApiTokenRequest,
) -> ApiResult<CreatedApiToken> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", "must be 1 to 100 characters"));
    }
    if !admin.role().can_grant(req.role) {
        return Err(ApiError::forbidden(format!(
            "A {} cannot create a token with role {}",
            admin.role(),
            req.role
        )));
    }
    if req.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    let secret = random_secret(API_TOKEN_PREFIX);
    let new = NewToken {
        tenant_id: admin.tenant(),
        name,
        role: req.role.as_str(),
        token_hash: hash_secret(&secret),
        prefix: secret.chars().take(API_TOKEN_PREFIX.len() + 6).collect(),
        created_by: Some(admin.caller().to_owned()),
        expires_at: req.expires_at,
    };
    let row = db.write(async |txn| store::insert(txn, new).await).await?;
    Ok(CreatedApiToken {
        view: view(row),
        token: secret,
    })
}

pub async fn revoke(state: &AppState, admin: &Admin, id: &str) -> ApiResult<ApiTokenView> {
    let db = &state.db;
    let tenant = admin.tenant();
    let mut row = store::get(db.read(), tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Token"))?;
    let now = Utc::now();
    let revoked = db
        .write(async |txn| store::revoke(txn, tenant, id, now).await)
        .await?;
    if !revoked {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "Token is already revoked",
        ));
    }
    state.auth_cache.changed(db).await;
    row.revoked_at = Some(now);
    Ok(view(row))
}
