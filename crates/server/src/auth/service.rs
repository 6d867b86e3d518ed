//! Sign-in rules: login with throttling, refresh-token rotation with reuse detection, logout,
//! and turning a presented credential into an [`Auth`].

use botmox_proto::ErrorCode;
use botmox_proto::auth::{PrincipalType, Role, TokenPair};
use chrono::Utc;

use super::password;
use super::store::{self, NewSession, RefreshUse};
use crate::audit::{self, AuditEvent};
use crate::db::TenantId;
use crate::db::entity::{api_token, user};
use crate::http::{ApiError, ApiResult, ClientAddr};
use crate::keys::{hash_secret, random_secret};
use crate::principal::{Auth, Identity, Scope};
use crate::state::AppState;

/// Prefix of API token secrets, so they are recognisable (and findable by secret scanners).
pub const API_TOKEN_PREFIX: &str = "bmx_";
const REFRESH_PREFIX: &str = "bmr_";

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "Invalid email or password")
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Check a password for an account, throttled per (account, address), per address and per
/// account (see [`crate::http::rate_limit::RateLimits::login_attempt`]: no one address can
/// lock an account out for everyone), auditing the attempt. Unknown e-mail and wrong
/// password are indistinguishable to the caller.
pub async fn check_credentials(
    state: &AppState,
    email: &str,
    password_given: &str,
    addr: ClientAddr,
    request_id: Option<String>,
) -> ApiResult<user::Model> {
    let email = normalize_email(email);
    state.limits.login_attempt(&email, addr.0)?;
    let found = store::user_by_email(state.db.read(), &email).await?;
    let event = |result: &'static str, user: Option<&user::Model>| AuditEvent {
        tenant_id: user.map(|u| u.tenant_id.clone()),
        actor_type: "user",
        actor_id: user.map(|u| u.id.clone()),
        actor_email: Some(email.clone()),
        action: "auth.login".into(),
        target: None,
        result,
        client_addr: Some(addr.to_string()),
        request_id: request_id.clone(),
    };
    let password_owned = password_given.to_owned();
    let user = match found {
        Some(user) => {
            let phc = user.password_hash.clone();
            let ok = tokio::task::spawn_blocking(move || {
                phc.is_some_and(|h| password::verify(&password_owned, &h))
            })
            .await
            .map_err(ApiError::internal)?;
            if !ok {
                audit::record(&state.db, event("denied", Some(&user))).await;
                return Err(invalid_credentials());
            }
            user
        }
        None => {
            tokio::task::spawn_blocking(move || password::verify_dummy(&password_owned))
                .await
                .map_err(ApiError::internal)?;
            audit::record(&state.db, event("denied", None)).await;
            return Err(invalid_credentials());
        }
    };
    if user.disabled {
        audit::record(&state.db, event("denied", Some(&user))).await;
        return Err(ApiError::new(
            ErrorCode::AccountDisabled,
            "This account is disabled",
        ));
    }
    audit::record(&state.db, event("ok", Some(&user))).await;
    Ok(user)
}

/// `POST /auth/login`: a new API session with an access token and a refresh token.
pub async fn login(
    state: &AppState,
    email: &str,
    password_given: &str,
    addr: ClientAddr,
    request_id: Option<String>,
) -> ApiResult<TokenPair> {
    let user = check_credentials(state, email, password_given, addr, request_id).await?;
    let refresh = random_secret(REFRESH_PREFIX);
    let session = state
        .db
        .write(async |txn| {
            let session = store::create_session(
                txn,
                NewSession {
                    user: &user,
                    kind: "api",
                    ttl_secs: state.config.refresh_token_ttl,
                    client_addr: Some(addr.to_string()),
                    ui_token_hash: None,
                },
            )
            .await?;
            store::insert_refresh(txn, &session.id, &hash_secret(&refresh)).await?;
            Ok::<_, ApiError>(session)
        })
        .await?;
    Ok(token_pair(state, &user, &session.id, refresh))
}

fn token_pair(
    state: &AppState,
    user: &user::Model,
    session_id: &str,
    refresh: String,
) -> TokenPair {
    TokenPair {
        access_token: state.access.issue(
            &user.id,
            session_id,
            &user.tenant_id,
            state.config.access_token_ttl,
        ),
        token_type: "Bearer".into(),
        expires_in: state.config.access_token_ttl,
        refresh_token: refresh,
    }
}

/// `POST /auth/refresh`: spend the refresh token and hand out the next pair. A token that was
/// already spent revokes its whole session (someone replayed a stolen token).
pub async fn refresh(
    state: &AppState,
    refresh_token: &str,
    addr: ClientAddr,
    request_id: Option<String>,
) -> ApiResult<TokenPair> {
    let unauthorized = || ApiError::unauthorized("Refresh token is invalid or expired");
    let hash = hash_secret(refresh_token.trim());
    let next = random_secret(REFRESH_PREFIX);
    let spent = state
        .db
        .write(async |txn| {
            Ok::<_, ApiError>(match store::use_refresh(txn, &hash).await? {
                RefreshUse::Fresh(session_id) => {
                    // Refused here rolls the spend back: the token stays as it was.
                    let Some((session, user)) =
                        store::live_session_with_user(txn, &session_id).await?
                    else {
                        return Err(unauthorized());
                    };
                    if user.disabled || session.kind != "api" {
                        return Err(unauthorized());
                    }
                    store::insert_refresh(txn, &session.id, &hash_secret(&next)).await?;
                    Spent::Fresh(Box::new(user), session.id)
                }
                RefreshUse::Unknown => Spent::Unknown,
                RefreshUse::Reused(session_id) => {
                    let revoked =
                        store::revoke_session(txn, &session_id, "refresh token reuse").await?;
                    let owner = store::session_with_user(txn, &session_id).await?;
                    Spent::Reused(session_id, revoked.then_some(owner).flatten().map(Box::new))
                }
            })
        })
        .await?;
    match spent {
        Spent::Fresh(user, session_id) => Ok(token_pair(state, &user, &session_id, next)),
        Spent::Unknown => Err(unauthorized()),
        Spent::Reused(session_id, owner) => {
            state.auth_cache.changed(&state.db).await;
            if let Some(owner) = owner {
                let (session, user) = *owner;
                audit::record(
                    &state.db,
                    AuditEvent {
                        tenant_id: Some(session.tenant_id),
                        actor_type: "user",
                        actor_id: Some(user.id),
                        actor_email: Some(user.email),
                        action: "auth.refresh_reuse".into(),
                        target: Some(format!("session:{session_id}")),
                        result: "denied",
                        client_addr: Some(addr.to_string()),
                        request_id,
                    },
                )
                .await;
            }
            Err(unauthorized())
        }
    }
}

/// What spending a refresh token came to.
enum Spent {
    /// The next pair can be issued for this user and session.
    Fresh(Box<user::Model>, String),
    Unknown,
    /// A replay: the session (and, when this spend revoked it, its owner for the audit).
    Reused(
        String,
        Option<Box<(crate::db::entity::session::Model, user::Model)>>,
    ),
}

/// Revoke the caller's session (API: the session of the access token).
pub async fn logout(state: &AppState, auth: &Auth) -> ApiResult<()> {
    let Some(session_id) = &auth.session_id else {
        return Err(ApiError::bad_request(
            "Only a signed-in session can log out; revoke API tokens instead",
        ));
    };
    state
        .db
        .write(async |txn| store::revoke_session(txn, session_id, "logout").await)
        .await?;
    state.auth_cache.changed(&state.db).await;
    Ok(())
}

fn user_auth(
    user: user::Model,
    source: &'static str,
    session_id: Option<String>,
) -> ApiResult<Auth> {
    if user.disabled {
        return Err(ApiError::unauthorized("Account is disabled"));
    }
    let role: Role = user.role.parse().map_err(ApiError::internal)?;
    Ok(Auth::new(Identity {
        scope: Scope::new(TenantId::trusted(user.tenant_id), user.id.as_str(), role),
        kind: PrincipalType::User,
        source,
        user_id: Some(user.id),
        token_id: None,
        session_id,
        email: Some(user.email),
    }))
}

/// Resolve a bearer token: an API token (`bmx_...`), one of our access tokens, or (when
/// configured) an external JWT mapped to a local user by e-mail.
///
/// A token presented again within a few seconds is answered from the principal cache, keyed
/// by the token's hash (the cache holds no secret), without verifying or reading anything
/// again (every access change clears the cache, and an entry never outlives its token or
/// session).
pub async fn authenticate_bearer(state: &AppState, token: &str) -> ApiResult<Auth> {
    let key = hash_secret(token);
    if let Some(auth) = state.auth_cache.get(&key) {
        return Ok(auth);
    }
    let failed = || ApiError::unauthorized("Token verification failed");
    let until = |t: chrono::DateTime<Utc>| (t - Utc::now()).to_std().ok();
    if token.starts_with(API_TOKEN_PREFIX) {
        let generation = state.auth_cache.generation();
        // An API token is stored as the same hash.
        let Some(row) = store::api_token_by_hash(state.db.read(), &key).await? else {
            return Err(failed());
        };
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(failed());
        }
        let role = token_role(state, &row).await?.ok_or_else(failed)?;
        // Its use is recorded to the minute: most lookups take no turn to write.
        let now = Utc::now();
        if row
            .last_used_at
            .is_none_or(|t| now - t >= chrono::Duration::seconds(60))
        {
            state
                .db
                .write(async |txn| store::touch_api_token(txn, &row.id, now).await)
                .await?;
        }
        let expires_in = row.expires_at.map(|e| until(e).unwrap_or_default());
        let auth = Auth::new(Identity {
            scope: Scope::new(
                TenantId::trusted(row.tenant_id),
                format!("token:{}", row.id),
                role,
            ),
            kind: PrincipalType::ApiToken,
            source: "api_token",
            user_id: row.created_by,
            token_id: Some(row.id),
            session_id: None,
            email: None,
        });
        state
            .auth_cache
            .put(key, auth.clone(), expires_in, generation);
        return Ok(auth);
    }
    if let Some(claims) = state.access.verify(token) {
        let generation = state.auth_cache.generation();
        let Some((session, user)) =
            store::live_session_with_user(state.db.read(), &claims.sid).await?
        else {
            return Err(failed());
        };
        if session.user_id != claims.sub {
            return Err(failed());
        }
        let token_expiry = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
        let expires_in = until(session.expires_at.min(token_expiry)).unwrap_or_default();
        let auth = user_auth(user, "local", Some(session.id))?;
        state
            .auth_cache
            .put(key, auth.clone(), Some(expires_in), generation);
        return Ok(auth);
    }
    if let Some(external) = &state.external_jwt
        && let Some(email) = external.verify(token)
    {
        let Some(user) = store::user_by_email(state.db.read(), &email).await? else {
            return Err(ApiError::unauthorized("No local account for this identity"));
        };
        return user_auth(user, "external", None);
    }
    Err(failed())
}

/// Resolve the web UI's session cookie.
pub async fn authenticate_ui_session(
    state: &AppState,
    cookie_value: &str,
) -> ApiResult<Option<Auth>> {
    let Some((session, user)) =
        store::live_ui_session_with_user(state.db.read(), &hash_secret(cookie_value)).await?
    else {
        return Ok(None);
    };
    match user_auth(user, "local", Some(session.id)) {
        Ok(auth) => Ok(Some(auth)),
        Err(_) => Ok(None),
    }
}

/// Start a web UI session for a user; returns the cookie value.
pub async fn start_ui_session(
    state: &AppState,
    user: &user::Model,
    addr: ClientAddr,
) -> ApiResult<String> {
    let cookie = random_secret("");
    let new = NewSession {
        user,
        kind: "ui",
        ttl_secs: state.config.ui_session_ttl,
        client_addr: Some(addr.to_string()),
        ui_token_hash: Some(hash_secret(&cookie)),
    };
    state
        .db
        .write(async |txn| store::create_session(txn, new).await)
        .await?;
    Ok(cookie)
}

/// What an API token may do now: at most what its creator may (the lower of the two
/// roles), and nothing once the creator is disabled or gone. `None`: the token fails.
async fn token_role(state: &AppState, token: &api_token::Model) -> ApiResult<Option<Role>> {
    let own: Role = token.role.parse().map_err(ApiError::internal)?;
    let Some(creator) = &token.created_by else {
        return Ok(Some(own));
    };
    let Some(user) = store::user_by_id(state.db.read(), creator).await? else {
        return Ok(None);
    };
    if user.disabled || user.tenant_id != token.tenant_id {
        return Ok(None);
    }
    let theirs: Role = user.role.parse().map_err(ApiError::internal)?;
    Ok(Some(lower(own, theirs)))
}

/// The lesser of two roles: `user` below `infra` below `admin`.
fn lower(a: Role, b: Role) -> Role {
    let rank = |r: Role| match r {
        Role::User => 0,
        Role::Infra => 1,
        Role::Admin => 2,
    };
    if rank(a) <= rank(b) { a } else { b }
}
