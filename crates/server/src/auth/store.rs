//! Queries for sessions, refresh tokens and credential lookups.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::db::StoreResult;
use crate::db::entity::{api_token, refresh_token, session, user};

pub async fn user_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> StoreResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?)
}

pub async fn user_by_id<C: ConnectionTrait>(db: &C, id: &str) -> StoreResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

pub struct NewSession<'a> {
    pub user: &'a user::Model,
    pub kind: &'static str,
    pub ttl_secs: u64,
    pub client_addr: Option<String>,
    pub ui_token_hash: Option<String>,
}

pub async fn create_session<C: ConnectionTrait>(
    db: &C,
    new: NewSession<'_>,
) -> StoreResult<session::Model> {
    let now = Utc::now();
    Ok(session::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        user_id: Set(new.user.id.clone()),
        tenant_id: Set(new.user.tenant_id.clone()),
        kind: Set(new.kind.into()),
        ui_token_hash: Set(new.ui_token_hash),
        client_addr: Set(new.client_addr),
        created_at: Set(now),
        expires_at: Set(now + Duration::seconds(new.ttl_secs as i64)),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(db)
    .await?)
}

/// A session in any state, with its user.
pub async fn session_with_user<C: ConnectionTrait>(
    db: &C,
    session_id: &str,
) -> StoreResult<Option<(session::Model, user::Model)>> {
    let found = session::Entity::find_by_id(session_id)
        .find_also_related(user::Entity)
        .one(db)
        .await?;
    Ok(found.and_then(|(s, u)| u.map(|u| (s, u))))
}

/// A session that is neither revoked nor expired, with its user.
pub async fn live_session_with_user<C: ConnectionTrait>(
    db: &C,
    session_id: &str,
) -> StoreResult<Option<(session::Model, user::Model)>> {
    let found = session_with_user(db, session_id).await?;
    Ok(found.filter(|(s, _)| is_live(s, Utc::now())))
}

pub async fn live_ui_session_with_user<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> StoreResult<Option<(session::Model, user::Model)>> {
    let found = session::Entity::find()
        .filter(session::Column::UiTokenHash.eq(token_hash))
        .find_also_related(user::Entity)
        .one(db)
        .await?;
    Ok(found
        .and_then(|(s, u)| u.map(|u| (s, u)))
        .filter(|(s, _)| is_live(s, Utc::now())))
}

fn is_live(session: &session::Model, now: DateTime<Utc>) -> bool {
    session.revoked_at.is_none() && session.expires_at > now
}

pub async fn insert_refresh<C: ConnectionTrait>(
    db: &C,
    session_id: &str,
    token_hash: &str,
) -> StoreResult<()> {
    refresh_token::ActiveModel {
        token_hash: Set(token_hash.into()),
        session_id: Set(session_id.into()),
        created_at: Set(Utc::now()),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// What presenting a refresh token meant.
pub enum RefreshUse {
    /// First use: it is now spent; here is its session.
    Fresh(String),
    /// Already spent before: a replay, so the family must be revoked.
    Reused(String),
    Unknown,
}

/// Spend a refresh token atomically: of two concurrent uses only one can be `Fresh`.
pub async fn use_refresh<C: ConnectionTrait>(db: &C, token_hash: &str) -> StoreResult<RefreshUse> {
    let updated = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    let Some(row) = refresh_token::Entity::find_by_id(token_hash)
        .one(db)
        .await?
    else {
        return Ok(RefreshUse::Unknown);
    };
    Ok(if updated.rows_affected == 1 {
        RefreshUse::Fresh(row.session_id)
    } else {
        RefreshUse::Reused(row.session_id)
    })
}

pub async fn revoke_session<C: ConnectionTrait>(
    db: &C,
    session_id: &str,
    reason: &str,
) -> StoreResult<bool> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(session::Column::RevokedReason, Expr::value(reason))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

pub async fn revoke_user_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    reason: &str,
) -> StoreResult<u64> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(session::Column::RevokedReason, Expr::value(reason))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

pub async fn api_token_by_hash<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> StoreResult<Option<api_token::Model>> {
    Ok(api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?)
}

/// Record that token `id` was used at `at`.
pub async fn touch_api_token<C: ConnectionTrait>(
    db: &C,
    id: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, Expr::value(at))
        .filter(api_token::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
