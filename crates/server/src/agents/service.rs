//! Pairing, registration, heartbeats, token rotation, listing and revocation of agents.

use botmox_proto::ErrorCode;
use botmox_proto::agent::{
    AGENT_TOKEN_PREFIX, AgentFacts, AgentStatus, AgentView, CreatePairingRequest,
    DEFAULT_AGENT_NAME, HeartbeatAnswer, HeartbeatRequest, PairingBundle, PairingCreated, Presence,
    ProxmoxHints, QuickPairRequest, RegisterRequest, RegisteredAgent, RevokeRequest, RotatedToken,
    TOKEN_TTL_MS,
};
use botmox_proto::command::AgentEventType;
use botmox_proto::time::from_epoch_ms;
use serde_json::{Map, Value, json};

use super::store::{self, Narrow};
use crate::auth;
use crate::bus::events;
use crate::clock::now_ms;
use crate::db::entity::agent::{self, Column, ONLINE_WINDOW_MS};
use crate::db::{StoreError, TenantId};
use crate::http::{ApiError, ApiResult, ClientAddr};
use crate::keys::{hash_secret, random_bytes, random_secret};
use crate::principal::Auth;
use crate::settings;
use crate::state::AppState;

const MINUTE_MS: i64 = 60_000;

/// Trimmed, and `None` when empty.
fn text(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A pending agent of `owner` with a fresh one-time pairing code (returned in clear once).
async fn pending(
    state: &AppState,
    tenant: &TenantId,
    owner: &str,
    name: String,
    minutes: u32,
) -> ApiResult<(agent::Model, String)> {
    let code = hex::encode(random_bytes::<16>());
    let now = now_ms();
    let agent = agent::Model {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.as_str().to_owned(),
        owner_user_id: Some(owner.to_owned()),
        name,
        status: AgentStatus::Pending.into(),
        version: None,
        platform: None,
        capabilities: "[]".into(),
        public_key: None,
        pairing_code_hash: Some(hash_secret(&code)),
        pairing_expires_at: Some(now + i64::from(minutes) * MINUTE_MS),
        paired_at: None,
        paired_by: None,
        last_seen_at: None,
        revoked_at: None,
        revoked_by: None,
        revoke_reason: None,
        metadata: "{}".into(),
        token_hash: None,
        token_expires_at: None,
        presence: Presence::Offline.into(),
        created_at: now,
        updated_at: now,
        vault_public_key: None,
    };
    state
        .db
        .write(async |txn| store::insert(txn, &agent).await)
        .await?;
    Ok((agent, code))
}

/// The tenant's Proxmox hints from its settings (`vmgenerator.proxmox`), never a password.
async fn proxmox_hints(state: &AppState, tenant: &TenantId) -> ApiResult<ProxmoxHints> {
    let tree = settings::service::tree(&state.db, tenant).await?;
    let hint = |key: &str| {
        text(
            tree.pointer(&format!("/vmgenerator/proxmox/{key}"))
                .and_then(Value::as_str),
        )
    };
    Ok(ProxmoxHints {
        url: hint("url"),
        username: hint("username"),
        node: hint("node"),
    })
}

/// A pending agent's pairing: the code (shown once) and the one-paste forms of it.
pub async fn create_pairing(
    state: &AppState,
    auth: &Auth,
    req: CreatePairingRequest,
) -> ApiResult<PairingCreated> {
    let owner = text(req.owner_user_id.as_deref()).unwrap_or_else(|| auth.caller().to_owned());
    if owner != auth.caller() {
        auth.admin()?;
    }
    let name = text(req.name.as_deref()).unwrap_or_else(|| DEFAULT_AGENT_NAME.into());
    let (agent, code) = pending(state, auth.tenant(), &owner, name, req.lifetime_minutes()).await?;
    let hints = proxmox_hints(state, auth.tenant()).await?;
    let server_url = state
        .config
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let hints = (!hints.is_empty()).then_some(hints);
    let bundle = PairingBundle::new(code.clone(), Some(server_url.clone()), hints.clone());
    Ok(PairingCreated {
        id: agent.id,
        tenant_id: agent.tenant_id,
        owner_user_id: agent.owner_user_id,
        name: agent.name,
        status: agent.status.0,
        pairing_code: code,
        pairing_expires_at: agent.pairing_expires_at.and_then(from_epoch_ms),
        created_at: from_epoch_ms(agent.created_at).unwrap_or_default(),
        proxmox_defaults: hints,
        pairing_bundle: bundle.encode(),
        pairing_uri: bundle.uri(),
        pairing_url: bundle.link(),
        server_url: Some(server_url),
    })
}

fn issued(agent: &agent::Model, token: String) -> RegisteredAgent {
    RegisteredAgent {
        agent: agent.view(now_ms()),
        agent_token: token,
        agent_token_expires_at: agent.token_expires_at.and_then(from_epoch_ms),
    }
}

/// Exchange a pairing code (once, before it expires) for an agent token.
pub async fn register(state: &AppState, req: RegisterRequest) -> ApiResult<RegisteredAgent> {
    redeem(state, &req.pairing_code, &req.facts, None).await
}

/// Pair with an account's e-mail and password instead of a code (only when the server is
/// configured for it): the sign-in's checks and throttling, then a pairing owned by that
/// account, redeemed at once.
pub async fn quick_pair(
    state: &AppState,
    req: QuickPairRequest,
    addr: ClientAddr,
    request_id: Option<String>,
) -> ApiResult<RegisteredAgent> {
    if !state.config.agent_quick_pair {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "Quick-pair is disabled on this server; pair with a pairing code",
        ));
    }
    let user = auth::service::check_credentials(state, &req.login, &req.password, addr, request_id)
        .await?;
    let name = text(req.name.as_deref())
        .or_else(|| text(req.facts.machine_name.as_deref()))
        .unwrap_or_else(|| DEFAULT_AGENT_NAME.into());
    let tenant = TenantId::trusted(user.tenant_id.clone());
    let (_, code) = pending(state, &tenant, &user.id, name, 15).await?;
    redeem(state, &code, &req.facts, Some(user.id)).await
}

/// Exchange a pairing code and the agent's facts for an agent token.
async fn redeem(
    state: &AppState,
    code: &str,
    facts: &AgentFacts,
    paired_by: Option<String>,
) -> ApiResult<RegisteredAgent> {
    let code_hash = hash_secret(code.trim());
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
    let machine = text(facts.machine_name.as_deref());
    if agent.name == DEFAULT_AGENT_NAME
        && let Some(m) = &machine
    {
        agent.name = m.clone();
    }
    let token = random_secret(AGENT_TOKEN_PREFIX);
    agent.status = AgentStatus::Active.into();
    agent.version = text(facts.version.as_deref());
    agent.platform = text(facts.platform.as_deref());
    agent.capabilities = json!(facts.capabilities.clone().unwrap_or_default()).to_string();
    agent.public_key = text(facts.public_key.as_deref());
    agent.vault_public_key = text(facts.vault_public_key.as_deref());
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
            store::replace_if(txn, &agent, AgentStatus::Pending, secret).await
        })
        .await?;
    if !won {
        return Err(not_found());
    }
    announce_online(state, &mut agent).await?;
    Ok(issued(&agent, token))
}

/// The agent reports that it is alive, with what it runs on. `agent` may be an older read
/// (see `principal::FleetAgent`): whether it still stands is checked where it is written.
pub async fn heartbeat(
    state: &AppState,
    agent: agent::Model,
    req: HeartbeatRequest,
) -> ApiResult<HeartbeatAnswer> {
    if req.agent_id.as_deref().is_some_and(|id| id != agent.id) {
        return Err(ApiError::forbidden("An agent may only report for itself"));
    }
    let now = now_ms();
    let mut seen = agent.clone();
    record_facts(&mut seen, &req);
    let token = agent.token_hash.clone().unwrap_or_default();
    // Usually only the time changes: then only the time is written.
    let stands = if seen == agent {
        match state.bus.store.touch(&agent.id, &token, now).await? {
            Some(presence) => {
                seen.presence = presence.into();
                true
            }
            None => false,
        }
    } else {
        // New facts are written on the agent as stored now, if it still stands.
        let tenant = TenantId::trusted(agent.tenant_id.clone());
        match state.bus.store.agent(&tenant, &agent.id).await? {
            Some(mut current) if agent.unchanged_in(Some(&current)) => {
                record_facts(&mut current, &req);
                current.last_seen_at = Some(now);
                current.updated_at = now;
                seen = current;
                state
                    .db
                    .write(async |txn| {
                        let secret = Some((Column::TokenHash, token.as_str()));
                        store::replace_if(txn, &seen, AgentStatus::Active, secret).await
                    })
                    .await?
            }
            _ => false,
        }
    };
    if !stands {
        return Err(super::principal::no_longer_standing(state, &agent).await);
    }
    seen.last_seen_at = Some(now);
    seen.updated_at = now;
    announce_online(state, &mut seen).await?;
    state.bus.agents.put(&seen);
    Ok(HeartbeatAnswer {
        id: seen.id,
        status: seen.status.0,
        online: true,
        last_seen_at: from_epoch_ms(now).unwrap_or_default(),
    })
}

/// What a heartbeat tells of the agent's host, written into `agent`.
fn record_facts(agent: &mut agent::Model, req: &HeartbeatRequest) {
    if let Some(v) = text(req.version.as_deref()) {
        agent.version = Some(v);
    }
    if let Some(v) = text(req.platform.as_deref()) {
        agent.platform = Some(v);
    }
    if let Some(c) = &req.capabilities {
        agent.capabilities = json!(c).to_string();
    }
    if let Some(host) = &req.host {
        let mut metadata: Map<String, Value> =
            serde_json::from_str(&agent.metadata).unwrap_or_default();
        metadata.insert("host".into(), json!(host));
        agent.metadata = Value::Object(metadata).to_string();
    }
}

/// Announce `agent.online` if the agent was announced offline (once, whoever gets there first).
async fn announce_online(state: &AppState, agent: &mut agent::Model) -> ApiResult<()> {
    if agent.presence != Presence::Online {
        change_presence(
            state,
            agent,
            (Presence::Offline, Presence::Online),
            None,
            AgentEventType::Online,
        )
        .await?;
    }
    Ok(())
}

/// Move the agent's announced presence `from` → `to` and record `event_type`, in one
/// transaction; `false` when another request or replica got there first.
async fn change_presence(
    state: &AppState,
    agent: &mut agent::Model,
    (from, to): (Presence, Presence),
    seen_before: Option<i64>,
    event_type: AgentEventType,
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
            (Presence::Online, Presence::Offline),
            Some(cutoff),
            AgentEventType::Offline,
        )
        .await?;
    }
    Ok(())
}

/// A new token for the agent; the one it used stops working.
pub async fn rotate(state: &AppState, mut agent: agent::Model) -> ApiResult<RotatedToken> {
    let old = agent.token_hash.clone().unwrap_or_default();
    let token = random_secret(AGENT_TOKEN_PREFIX);
    let now = now_ms();
    agent.token_hash = Some(hash_secret(&token));
    agent.token_expires_at = Some(now + TOKEN_TTL_MS);
    agent.updated_at = now;
    let replaced = state
        .db
        .write(async |txn| {
            let secret = Some((Column::TokenHash, old.as_str()));
            store::replace_if(txn, &agent, AgentStatus::Active, secret).await
        })
        .await?;
    if !replaced {
        return Err(ApiError::unauthorized("A valid agent token is required"));
    }
    state.bus.agents.forget(&old);
    Ok(RotatedToken {
        agent_token: token,
        agent_token_expires_at: agent.token_expires_at.and_then(from_epoch_ms),
    })
}

/// Owners see their agents, admins all of the tenant's.
pub async fn list(state: &AppState, auth: &Auth) -> ApiResult<Vec<AgentView>> {
    let rows = store::list(state.db.read(), auth.tenant(), auth.own_only()).await?;
    let now = now_ms();
    Ok(rows.iter().map(|a| a.view(now)).collect())
}

/// Longest name search, in characters (an agent's name is shorter), for the API's `q` and
/// the pages' "Find agent" alike.
pub const FIND_CHARS: usize = 200;

/// Page `page` of [`list`] narrowed, `limit` agents, and how many of those the caller sees
/// match in all; 400 for a search longer than [`FIND_CHARS`].
pub async fn list_page(
    state: &AppState,
    auth: &Auth,
    narrow: Narrow<'_>,
    page: u64,
    limit: u64,
) -> ApiResult<(Vec<AgentView>, u64)> {
    if narrow.find.chars().count() > FIND_CHARS {
        return Err(ApiError::field(
            "q",
            format!("must be at most {FIND_CHARS} characters"),
        ));
    }
    let owner = auth.own_only();
    let (rows, total) =
        store::list_page(state.db.read(), auth.tenant(), owner, narrow, page, limit).await?;
    let now = now_ms();
    Ok((rows.iter().map(|a| a.view(now)).collect(), total))
}

/// The agents a page offers to choose from when the fleet may be large: the first `limit`
/// of [`list_page`] narrowed, then any of `keep` (agents already chosen, whatever their
/// name) not among them; and how many match in all.
pub async fn choices(
    state: &AppState,
    auth: &Auth,
    narrow: Narrow<'_>,
    keep: &[&str],
    limit: u64,
) -> ApiResult<(Vec<AgentView>, u64)> {
    let (mut agents, total) = list_page(state, auth, narrow, 1, limit).await?;
    let missing: Vec<&str> = keep
        .iter()
        .copied()
        .filter(|id| !id.is_empty() && !agents.iter().any(|a| a.id == *id))
        .collect();
    let kept = Narrow { find: "", ..narrow };
    agents.extend(among(state, auth, kept, &missing).await?);
    Ok((agents, total))
}

/// The agents among `ids` that the caller sees, narrowed (the others are left out).
pub async fn among(
    state: &AppState,
    auth: &Auth,
    narrow: Narrow<'_>,
    ids: &[&str],
) -> ApiResult<Vec<AgentView>> {
    let (tenant, owner) = (auth.tenant(), auth.own_only());
    let rows = store::among(state.db.read(), tenant, owner, narrow, ids).await?;
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
    req: RevokeRequest,
) -> ApiResult<agent::Model> {
    let mut agent = get(state, auth, id).await?;
    if agent.status == AgentStatus::Revoked {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "Agent is already revoked",
        ));
    }
    let was = agent.status.0;
    let now = now_ms();
    agent.status = AgentStatus::Revoked.into();
    agent.revoked_at = Some(now);
    agent.revoked_by = Some(auth.caller().to_owned());
    agent.revoke_reason = text(req.reason.as_deref());
    agent.pairing_code_hash = None;
    agent.updated_at = now;
    agent.presence = Presence::Offline.into();
    let event = state
        .db
        .write(async |txn| {
            if !store::replace_if(txn, &agent, was, None).await? {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "The agent changed meanwhile; try again",
                ));
            }
            store::set_presence(txn, &agent.id, Presence::Online, Presence::Offline, None).await?;
            Ok(events::record_agent(txn, &agent, AgentEventType::Revoked).await?)
        })
        .await?;
    // Announcing it also wakes a poll the agent has waiting, which returns at once.
    event.announce(&state.bus.hub);
    if let Some(hash) = &agent.token_hash {
        state.bus.agents.forget(hash);
    }
    Ok(agent)
}
