//! First run: while no user exists, each start prints a one-time setup link. Opening it in the
//! web UI lets the visitor create the first admin; the link expires and works once.

use botmox_proto::ErrorCode;
use botmox_proto::auth::Role;
use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::db::StoreError;
use crate::db::entity::{setup_token, user};
use crate::http::{ApiError, ApiResult};
use crate::keys::{hash_secret, random_secret};
use crate::state::AppState;
use crate::users::{service as users, store as user_store};

/// When no user exists: a fresh setup link (older links stop working).
pub async fn issue_link_if_needed(state: &AppState) -> anyhow::Result<Option<String>> {
    if user_store::count_users(state.db.read()).await? > 0 {
        return Ok(None);
    }
    let token = random_secret("");
    let now = Utc::now();
    let row = setup_token::ActiveModel {
        token_hash: Set(hash_secret(&token)),
        created_at: Set(now),
        expires_at: Set(now + Duration::seconds(state.config.setup_link_ttl as i64)),
        used_at: Set(None),
    };
    state
        .db
        .write(async |txn| {
            setup_token::Entity::delete_many().exec(txn).await?;
            row.insert(txn).await?;
            Ok::<_, StoreError>(())
        })
        .await?;
    let mut link = state.config.public_url.join("setup")?;
    link.query_pairs_mut().append_pair("token", &token);
    Ok(Some(link.to_string()))
}

fn invalid() -> ApiError {
    ApiError::new(
        ErrorCode::SetupTokenInvalid,
        "This setup link is invalid, used or expired",
    )
}

/// Whether a setup token can still be used.
pub async fn is_valid(state: &AppState, token: &str) -> ApiResult<bool> {
    let row = setup_token::Entity::find_by_id(hash_secret(token))
        .one(state.db.read())
        .await
        .map_err(StoreError::from)?;
    Ok(row.is_some_and(|r| r.used_at.is_none() && r.expires_at > Utc::now()))
}

/// Create the first admin with a valid token, spending it.
pub async fn complete(
    state: &AppState,
    token: &str,
    tenant: &str,
    email: &str,
    password: &str,
) -> ApiResult<user::Model> {
    let tenant = users::check_tenant_name(tenant)?;
    users::check_email(email.trim())?;
    users::check_password(password)?;
    let now = Utc::now();
    let spend = setup_token::Entity::update_many()
        .col_expr(setup_token::Column::UsedAt, Expr::value(now))
        .filter(setup_token::Column::TokenHash.eq(hash_secret(token)))
        .filter(setup_token::Column::UsedAt.is_null())
        .filter(setup_token::Column::ExpiresAt.gt(now));
    let spent = state
        .db
        .write(async |txn| {
            let spent = spend.exec(txn).await?.rows_affected == 1;
            Ok::<_, StoreError>(spent && user_store::count_users(txn).await? == 0)
        })
        .await?;
    if !spent {
        return Err(invalid());
    }
    users::create_user(&state.db, &tenant, email, password, Role::Admin).await
}
