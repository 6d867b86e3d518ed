//! Rules for API tokens: a name, a role no higher than the creator's, an optional expiry in
//! the future; the secret is returned once.

use botmox_proto::ErrorCode;
use botmox_proto::auth::{ApiTokenView, CreateApiTokenRequest, CreatedApiToken, Role};
use chrono::Utc;
use sea_orm::DatabaseConnection;

use super::store::{self, NewToken};
use crate::app::AppState;
use crate::auth::Auth;
use crate::auth::keys::{hash_secret, random_secret};
use crate::auth::service::API_TOKEN_PREFIX;
use crate::db::entity::api_token;
use crate::http::{ApiError, ApiResult};

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

pub async fn create(
    db: &DatabaseConnection,
    auth: &Auth,
    req: CreateApiTokenRequest,
) -> ApiResult<CreatedApiToken> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", "must be 1 to 100 characters"));
    }
    if !auth.role.can_grant(req.role) {
        return Err(ApiError::forbidden(format!(
            "A {} cannot create a token with role {}",
            auth.role, req.role
        )));
    }
    if req.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    let secret = random_secret(API_TOKEN_PREFIX);
    let row = store::insert(
        db,
        NewToken {
            tenant_id: &auth.tenant_id,
            name,
            role: req.role.as_str(),
            token_hash: hash_secret(&secret),
            prefix: secret.chars().take(API_TOKEN_PREFIX.len() + 6).collect(),
            created_by: Some(auth.uid()),
            expires_at: req.expires_at,
        },
    )
    .await?;
    Ok(CreatedApiToken {
        view: view(row),
        token: secret,
    })
}

pub async fn revoke(state: &AppState, tenant_id: &str, id: &str) -> ApiResult<ApiTokenView> {
    let db = &state.db;
    let mut row = store::get(db, tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Token"))?;
    let now = Utc::now();
    if !store::revoke(db, tenant_id, id, now).await? {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "Token is already revoked",
        ));
    }
    state.auth_cache.changed(db).await;
    row.revoked_at = Some(now);
    Ok(view(row))
}
