//! Pairing, registration, heartbeats, token rotation, listing and revocation of agents.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use botmox_proto::ErrorCode;
use serde_json::{Map, Value, json};

use super::principal::TOKEN_PREFIX;
use super::store;
use crate::auth;
use crate::bus::events;
use crate::clock::{iso, now_ms};
use crate::db::entity::agent::{self, AgentView, Column, ONLINE_WINDOW_MS};
use crate::db::{StoreError, TenantId};
use crate::http::{ApiError, ApiResult, ClientAddr};
use crate::keys::{hash_secret, random_bytes, random_secret};
use crate::principal::Auth;
use crate::schema::{Field, Rule, opt, req, validate};
use crate::settings;
use crate::state::AppState;

const DEFAULT_NAME: &str = "Unnamed Agent";
const MINUTE_MS: i64 = 60_000;
/// Agent tokens live 30 days; an agent rotates its token before then.
pub const TOKEN_TTL_MS: i64 = 30 * 24 * 60 * MINUTE_MS;

const PAIRING: &[Field] = &[
    opt("name", Rule::Str(Some(200))),
    opt("expires_in_minutes", Rule::Int(5, 1440)),
    opt("owner_user_id", Rule::Str(Some(200))),
];
const CAPABILITIES: Rule = Rule::ListOf(&Rule::Str(Some(200)), 50);
const REGISTER: &[Field] = &[
    req("pairing_code", Rule::NonEmpty),
    opt("machine_name", Rule::Str(Some(200))),
    opt("version", Rule::Str(Some(100))),
    opt("platform", Rule::Str(Some(100))),
    opt("capabilities", CAPABILITIES),
    opt("public_key", Rule::Str(Some(8192))),
];
const QUICK_PAIR: &[Field] = &[
    req("login", Rule::Label(320)),
    req("password", Rule::Label(512)),
    opt("name", Rule::Str(Some(200))),
    opt("machine_name", Rule::Str(Some(200))),
    opt("version", Rule::Str(Some(100))),
    opt("platform", Rule::Str(Some(100))),
    opt("capabilities", CAPABILITIES),
    opt("public_key", Rule::Str(Some(8192))),
];
const HEARTBEAT: &[Field] = &[
    opt("agent_id", Rule::Str(Some(200))),
    opt("version", Rule::Str(Some(100))),
    opt("platform", Rule::Str(Some(100))),
    opt("capabilities", CAPABILITIES),
    opt("host", Rule::Object),
];
const REVOKE: &[Field] = &[opt("reason", Rule::Str(Some(500)))];

fn object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(ApiError::bad_request("Request body must be a JSON object")),
    }
}

fn text(body: &Map<String, Value>, key: &str) -> Option<String> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A pending agent of `owner` with a fresh one-time pairing code (returned in clear once).
async fn pending(
    state: &AppState,
    tenant: &TenantId,
    owner: &str,
    name: String,
    minutes: i64,
) -> ApiResult<(agent::Model, String)> {
    let code = hex::encode(random_bytes::<16>());
    let now = now_ms();
    let agent = agent::Model {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.as_str().to_owned(),
        owner_user_id: Some(owner.to_owned()),
        name,
        status: "pending".into(),
        version: None,
        platform: None,
        capabilities: "[]".into(),
        public_key: None,
        pairing_code_hash: Some(hash_secret(&code)),
        pairing_expires_at: Some(now + minutes * MINUTE_MS),
        paired_at: None,
        paired_by: None,
        last_seen_at: None,
        revoked_at: None,
        revoked_by: None,
        revoke_reason: None,
        metadata: "{}".into(),
        token_hash: None,
        token_expires_at: None,
        presence: "offline".into(),
        created_at: now,
        updated_at: now,
    };
    state
        .db
        .write(async |txn| store::insert(txn, &agent).await)
        .await?;
    Ok((agent, code))
}

/// A pending agent's pairing: the code (shown once) and the one-paste forms of it.
pub async fn create_pairing(state: &AppState, auth: &Auth, body: Value) -> ApiResult<Value> {
    let body = validate(PAIRING, &object(body)?, false)?;
    let owner = text(&body, "owner_user_id").unwrap_or_else(|| auth.caller().to_owned());
    if owner != auth.caller() {
        auth.admin()?;
    }
    let minutes = body
        .get("expires_in_minutes")
        .and_then(Value::as_i64)
        .unwrap_or(15);
    let name = text(&body, "name").unwrap_or_else(|| DEFAULT_NAME.into());
    let (agent, code) = pending(state, auth.tenant(), &owner, name, minutes).await?;
    let tree = settings::service::tree(&state.db, auth.tenant()).await?;
    let proxmox: Map<String, Value> = ["url", "username", "node"]
        .iter()
        .filter_map(|k| {
            let v = tree
                .pointer(&format!("/vmgenerator/proxmox/{k}"))?
                .as_str()?;
            (!v.is_empty()).then(|| ((*k).to_owned(), json!(v)))
        })
        .collect();
    let server_url = state
        .config
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let mut bundle = json!({"v": 1, "pairing_code": code, "server_url": server_url});
    if !proxmox.is_empty() {
        bundle["proxmox"] = Value::Object(proxmox.clone());
    }
    let bundle = URL_SAFE_NO_PAD.encode(bundle.to_string());
    Ok(json!({
        "id": agent.id, "tenant_id": agent.tenant_id, "owner_user_id": agent.owner_user_id,
        "name": agent.name, "status": agent.status, "pairing_code": code,
        "pairing_expires_at": agent.pairing_expires_at.map(iso), "created_at": iso(agent.created_at),
        "proxmox_defaults": if proxmox.is_empty() { Value::Null } else { Value::Object(proxmox) },
        "server_url": server_url,
        "pairing_bundle": bundle,
        "pairing_uri": format!("botmox://pair?bundle={bundle}"),
        "pairing_url": format!("{server_url}/agent/pair?bundle={bundle}"),
    }))
}

fn issued(agent: &agent::Model, token: &str) -> Value {
    let mut v = serde_json::to_value(agent.view(now_ms())).unwrap_or_default();
    v["agent_token"] = json!(token);
    v["agent_token_expires_at"] = json!(agent.token_expires_at.map(iso));
    v
}

/// Exchange a pairing code (once, before it expires) for an agent token.
pub async fn register(state: &AppState, body: Value) -> ApiResult<Value> {
    let body = validate(REGISTER, &object(body)?, false)?;
    redeem(state, &body, None).await
}

/// Pair with an account's e-mail and password instead of a code (only when the server is
/// configured for it): the sign-in's checks and throttling, then a pairing owned by that
/// account, redeemed at once.
pub async fn quick_pair(
    state: &AppState,
    body: Value,
    addr: ClientAddr,
    request_id: Option<String>,
) -> ApiResult<Value> {
    if !state.config.agent_quick_pair {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "Quick-pair is disabled on this server; pair with a pairing code",
        ));
    }
    let mut body = validate(QUICK_PAIR, &object(body)?, false)?;
    let login = text(&body, "login").unwrap_or_default();
    let password = body
        .remove("password")
        .and_then(|p| p.as_str().map(str::to_owned))
        .unwrap_or_default();
    let user = auth::service::check_credentials(state, &login, &password, addr, request_id).await?;
    let name = text(&body, "name")
        .or_else(|| text(&body, "machine_name"))
        .unwrap_or_else(|| DEFAULT_NAME.into());
    let tenant = TenantId::trusted(user.tenant_id.clone());
    let (_, code) = pending(state, &tenant, &user.id, name, 15).await?;
    body.insert("pairing_code".into(), json!(code));
    redeem(state, &body, Some(user.id)).await
}

/// Exchange a validated registration (`pairing_code`, agent facts) for an agent token.
async fn redeem(
    state: &AppState,
    body: &Map<String, Value>,
    paired_by: Option<String>,
) -> ApiResult<Value> {
    let code = text(body, "pairing_code").unwrap_or_default();
    let code_hash = hash_secret(&code);
    let not_found = || {
        ApiError::new(
            ErrorCode::PairingNotFound,
            "Pairing code not found or already used",
        )
    };
    let mut agent = store::by_pairing_code(state.db.read(), &code_hash)
        .await?
        .ok_or_else(not_found)?;
    let now = now_ms();
    if agent.pairing_expires_at.is_none_or(|e| e < now) {
        return Err(ApiError::new(
            ErrorCode::PairingExpired,
            "Pairing code expired; create a new pairing",
        ));
    }
    let machine = text(body, "machine_name");
    if agent.name == DEFAULT_NAME
        && let Some(m) = &machine
    {
        agent.name = m.clone();
    }
    let token = random_secret(TOKEN_PREFIX);
    agent.status = "active".into();
    agent.version = text(body, "version");
    agent.platform = text(body, "platform");
    agent.capabilities = body
        .get("capabilities")
        .cloned()
        .unwrap_or_else(|| json!([]))
        .to_string();
    agent.public_key = text(body, "public_key");
    agent.metadata = json!({ "machine_name": machine }).to_string();
    agent.pairing_code_hash = None;
    agent.pairing_expires_at = None;
    agent.paired_at = Some(now);
    agent.paired_by = paired_by;
    agent.last_seen_at = Some(now);
    agent.token_hash = Some(hash_secret(&token));
    agent.token_expires_at = Some(now + TOKEN_TTL_MS);
    agent.updated_at = now;
    // Only one registration can win the code.
    let won = state
        .db
        .write(async |txn| {
            let secret = Some((Column::PairingCodeHash, code_hash.as_str()));
            store::replace_if(txn, &agent, "pending", secret).await
        })
        .await?;
    if !won {
        return Err(not_found());
    }
    announce_online(state, &mut agent).await?;
    Ok(issued(&agent, &token))
}

/// The agent reports that it is alive, with what it runs on.
pub async fn heartbeat(state: &AppState, mut agent: agent::Model, body: Value) -> ApiResult<Value> {
    let body = validate(HEARTBEAT, &object(body)?, false)?;
    if text(&body, "agent_id").is_some_and(|id| id != agent.id) {
        return Err(ApiError::forbidden("An agent may only report for itself"));
    }
    let now = now_ms();
    let before = agent.clone();
    for (key, field) in [
        ("version", &mut agent.version),
        ("platform", &mut agent.platform),
    ] {
        if let Some(v) = text(&body, key) {
            *field = Some(v);
        }
    }
    if let Some(c) = body.get("capabilities") {
        agent.capabilities = c.to_string();
    }
    if let Some(host) = body.get("host") {
        let mut metadata: Map<String, Value> =
            serde_json::from_str(&agent.metadata).unwrap_or_default();
        metadata.insert("host".into(), host.clone());
        agent.metadata = Value::Object(metadata).to_string();
    }
    // Usually only the time changes: then only the time is written.
    let facts_changed = agent != before;
    agent.last_seen_at = Some(now);
    agent.updated_at = now;
    let token = agent.token_hash.clone().unwrap_or_default();
    let written = if facts_changed {
        state
            .db
            .write(async |txn| {
                let secret = Some((Column::TokenHash, token.as_str()));
                store::replace_if(txn, &agent, "active", secret).await
            })
            .await?
    } else {
        state.bus.store.touch(&agent.id, &token, now).await?
    };
    if !written {
        return Err(ApiError::unauthorized("A valid agent token is required"));
    }
    announce_online(state, &mut agent).await?;
    Ok(json!({"id": agent.id, "status": agent.status, "online": true, "last_seen_at": iso(now)}))
}

/// Announce `agent.online` if the agent was announced offline (once, whoever gets there first).
async fn announce_online(state: &AppState, agent: &mut agent::Model) -> ApiResult<()> {
    if agent.presence != "online" {
        change_presence(state, agent, "offline", "online", None, "agent.online").await?;
    }
    Ok(())
}

/// Move the agent's announced presence from `from` to `to` and record `event_type`, in one
/// transaction; `false` when another request or replica got there first.
async fn change_presence(
    state: &AppState,
    agent: &mut agent::Model,
    from: &str,
    to: &str,
    seen_before: Option<i64>,
    event_type: &str,
) -> Result<bool, StoreError> {
    let mut changed = agent.clone();
    changed.presence = to.into();
    let event = state
        .db
        .write(async |txn| {
            if !store::set_presence(txn, &agent.id, from, to, seen_before).await? {
                return Ok(None);
            }
            events::record_agent(txn, &changed, event_type)
                .await
                .map(Some)
        })
        .await?;
    let Some(event) = event else {
        return Ok(false);
    };
    *agent = changed;
    event.announce(&state.bus.hub);
    Ok(true)
}

/// Announce `agent.offline` for every agent announced online but silent for the online
/// window (run by the sweeper on every replica; each change is announced once).
pub async fn announce_offline(state: &AppState, now: i64) -> Result<(), StoreError> {
    let cutoff = now - ONLINE_WINDOW_MS;
    for mut agent in store::gone_quiet(state.db.read(), cutoff).await? {
        change_presence(
            state,
            &mut agent,
            "online",
            "offline",
            Some(cutoff),
            "agent.offline",
        )
        .await?;
    }
    Ok(())
}

/// A new token for the agent; the one it used stops working.
pub async fn rotate(state: &AppState, mut agent: agent::Model) -> ApiResult<Value> {
    let old = agent.token_hash.clone().unwrap_or_default();
    let token = random_secret(TOKEN_PREFIX);
    let now = now_ms();
    agent.token_hash = Some(hash_secret(&token));
    agent.token_expires_at = Some(now + TOKEN_TTL_MS);
    agent.updated_at = now;
    let replaced = state
        .db
        .write(async |txn| {
            let secret = Some((Column::TokenHash, old.as_str()));
            store::replace_if(txn, &agent, "active", secret).await
        })
        .await?;
    if !replaced {
        return Err(ApiError::unauthorized("A valid agent token is required"));
    }
    Ok(json!({"agent_token": token, "agent_token_expires_at": agent.token_expires_at.map(iso)}))
}

/// Owners see their agents, admins all of the tenant's.
pub async fn list(state: &AppState, auth: &Auth) -> ApiResult<Vec<AgentView>> {
    let rows = store::list(state.db.read(), auth.tenant(), auth.own_only()).await?;
    let now = now_ms();
    Ok(rows.iter().map(|a| a.view(now)).collect())
}

/// One agent, for its owner or an admin (404 for anyone else).
pub async fn get(state: &AppState, auth: &Auth, id: &str) -> ApiResult<agent::Model> {
    state
        .bus
        .store
        .agent(auth.tenant(), id)
        .await?
        .filter(|a| auth.may_act_on(a.owner_user_id.as_deref()))
        .ok_or_else(|| ApiError::not_found("Agent"))
}

/// Revoke (admins, or the agent's owner): its token and any pairing code stop working now.
pub async fn revoke(
    state: &AppState,
    auth: &Auth,
    id: &str,
    body: Value,
) -> ApiResult<agent::Model> {
    let body = validate(REVOKE, &object(body)?, false)?;
    let mut agent = get(state, auth, id).await?;
    if agent.status == "revoked" {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "Agent is already revoked",
        ));
    }
    let was = agent.status.clone();
    let now = now_ms();
    agent.status = "revoked".into();
    agent.revoked_at = Some(now);
    agent.revoked_by = Some(auth.caller().to_owned());
    agent.revoke_reason = text(&body, "reason");
    agent.pairing_code_hash = None;
    agent.updated_at = now;
    agent.presence = "offline".into();
    let event = state
        .db
        .write(async |txn| {
            if !store::replace_if(txn, &agent, &was, None).await? {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "The agent changed meanwhile; try again",
                ));
            }
            store::set_presence(txn, &agent.id, "online", "offline", None).await?;
            Ok(events::record_agent(txn, &agent, "agent.revoked").await?)
        })
        .await?;
    // Announcing it also wakes a poll the agent has waiting, which returns at once.
    event.announce(&state.bus.hub);
    Ok(agent)
}
