//! Agents (spec api.md §13): pairing, registration, heartbeats, token rotation, listing and
//! revocation, as they go over the wire.

mod pairing;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::time::{millis, millis_opt};
use crate::validate::{FieldErrors, Validate, lenient_opt};

pub use pairing::{BUNDLE_VERSION, PairingBundle, PairingError, parse_pairing_string};

/// Every agent token starts so; the server tells agent tokens from other bearers by it.
pub const AGENT_TOKEN_PREFIX: &str = "bma_";
/// Agent tokens live 30 days; an agent rotates its token before then.
pub const TOKEN_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// An active agent counts as online when it was seen this recently.
pub const ONLINE_WINDOW_MS: i64 = 120_000;
/// How often an agent heartbeats (well inside the online window).
pub const HEARTBEAT_INTERVAL_MS: u64 = 30_000;
/// The name of an agent nobody named; registration replaces it by the machine name.
pub const DEFAULT_AGENT_NAME: &str = "Unnamed Agent";
/// Lifetime of a pairing code when the request names none.
pub const DEFAULT_PAIRING_MINUTES: u32 = 15;
/// Largest `host` facts object of a heartbeat (serialised JSON), kept in the agent's metadata.
pub const MAX_HOST_FACTS_BYTES: usize = 16 * 1024;

const NAME_CHARS: usize = 200;
const CAPABILITIES: usize = 50;
const PUBLIC_KEY_CHARS: usize = 8192;

/// Where an agent is in its life. `offline` is never stored: see [`Presence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Created with a pairing code, not registered yet.
    Pending,
    /// Registered; its token works.
    Active,
    /// Revoked; its token and pairing code no longer work.
    Revoked,
}

wire_words!(
    AgentStatus,
    "agent status",
    [Pending = "pending", Active = "active", Revoked = "revoked"]
);

/// Whether an agent is reachable: active and seen within [`ONLINE_WINDOW_MS`]. Derived, never
/// stored as a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Online,
    Offline,
}

wire_words!(
    Presence,
    "presence",
    [Online = "online", Offline = "offline"]
);

/// Proxmox connection hints for the agent's form: never a password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProxmoxHints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://192.168.1.100:8006")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "root@pam")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "h1")]
    pub node: Option<String>,
}

impl ProxmoxHints {
    pub fn is_empty(&self) -> bool {
        self.url.is_none() && self.username.is_none() && self.node.is_none()
    }
}

/// `POST /agents/pairings`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatePairingRequest {
    /// Default `Unnamed Agent` (then the machine name on registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, example = "rack 2")]
    pub name: Option<String>,
    /// Lifetime of the code, 5..1440 minutes (default 15); a numeric string is accepted.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 5, maximum = 1440, example = 15)]
    pub expires_in_minutes: Option<u32>,
    /// Pair for another member (admins only); default the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub owner_user_id: Option<String>,
}

impl CreatePairingRequest {
    /// The code's lifetime, the default filled in.
    pub fn lifetime_minutes(&self) -> u32 {
        self.expires_in_minutes.unwrap_or(DEFAULT_PAIRING_MINUTES)
    }
}

impl Validate for CreatePairingRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("name", self.name.as_deref(), NAME_CHARS);
        e.in_range("expires_in_minutes", self.expires_in_minutes, 5, 1440);
        e.max_chars("owner_user_id", self.owner_user_id.as_deref(), NAME_CHARS);
        e.into_result()
    }
}

/// Answer of `POST /agents/pairings` (201): the code, shown only here, and its one-paste forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PairingCreated {
    pub id: String,
    pub tenant_id: String,
    pub owner_user_id: Option<String>,
    pub name: String,
    pub status: AgentStatus,
    /// 32 lowercase hex characters.
    #[schema(example = "0123456789abcdef0123456789abcdef")]
    pub pairing_code: String,
    #[serde(serialize_with = "millis_opt")]
    pub pairing_expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "millis")]
    pub created_at: DateTime<Utc>,
    /// The tenant's Proxmox hints, `null` when it has none.
    pub proxmox_defaults: Option<ProxmoxHints>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// base64url (no padding) of the [`PairingBundle`] JSON.
    pub pairing_bundle: String,
    /// `botmox://pair?bundle=<pairing_bundle>`
    pub pairing_uri: String,
    /// `<server_url>/agent/pair?bundle=<pairing_bundle>`, when the server URL is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_url: Option<String>,
}

/// `POST /agents/register` (public): redeem a pairing code once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(
        max_length = 200,
        pattern = "\\S",
        example = "0123456789abcdef0123456789abcdef"
    )]
    pub pairing_code: String,
    #[serde(flatten)]
    pub facts: AgentFacts,
}

impl Validate for RegisterRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("pairing_code", &self.pairing_code, NAME_CHARS);
        self.facts.check(&mut e);
        e.into_result()
    }
}

/// What an agent says about itself when it pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentFacts {
    /// Becomes the agent's name when it has none yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, example = "vm-host-1")]
    pub machine_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100, example = "0.1.0")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100, example = "windows")]
    pub platform: Option<String>,
    /// At most 50, each at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 50, example = json!(["proxmox"]))]
    pub capabilities: Option<Vec<String>>,
    /// The agent's public key, for secrets sealed to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 8192, example = "age1examplekey")]
    pub public_key: Option<String>,
    /// The agent's vault key (base64 of an uncompressed P-256 point): secrets are sealed to
    /// it with HPKE, and only the agent can open them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_public_key: Option<String>,
}

impl AgentFacts {
    fn check(&self, e: &mut FieldErrors) {
        e.max_chars("machine_name", self.machine_name.as_deref(), NAME_CHARS);
        e.max_chars("version", self.version.as_deref(), 100);
        e.max_chars("platform", self.platform.as_deref(), 100);
        e.text_list(
            "capabilities",
            self.capabilities.as_deref(),
            CAPABILITIES,
            NAME_CHARS,
        );
        e.max_chars("public_key", self.public_key.as_deref(), PUBLIC_KEY_CHARS);
        if let Some(key) = &self.vault_public_key
            && let Err(problem) = crate::vault::decode_public_key(key)
        {
            e.add("vault_public_key", problem);
        }
    }
}

/// `POST /agents/quick-pair` (public, off unless configured): pair with an account's
/// e-mail and password instead of a code.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuickPairRequest {
    #[schema(max_length = 320, pattern = "\\S", example = "owner@example.com")]
    pub login: String,
    #[schema(max_length = 512, pattern = "\\S", format = Password)]
    pub password: String,
    /// The agent's name (default the machine name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub facts: AgentFacts,
}

/// Leaves the password out, so a logged request never shows it.
impl std::fmt::Debug for QuickPairRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickPairRequest")
            .field("login", &self.login)
            .field("password", &"<hidden>")
            .field("name", &self.name)
            .field("facts", &self.facts)
            .finish()
    }
}

impl Validate for QuickPairRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("login", &self.login, 320);
        e.required_text("password", &self.password, 512);
        e.max_chars("name", self.name.as_deref(), NAME_CHARS);
        self.facts.check(&mut e);
        e.into_result()
    }
}

/// `POST /agents/heartbeat` (agent token): alive, with what the agent runs on. Every field
/// is optional; given ones replace the stored ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatRequest {
    /// The agent's own id, if sent, must be the token's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 50)]
    pub capabilities: Option<Vec<String>>,
    /// Facts about the host, stored as the agent's `metadata.host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostFacts>,
}

impl Validate for HeartbeatRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("agent_id", self.agent_id.as_deref(), NAME_CHARS);
        e.max_chars("version", self.version.as_deref(), 100);
        e.max_chars("platform", self.platform.as_deref(), 100);
        e.text_list(
            "capabilities",
            self.capabilities.as_deref(),
            CAPABILITIES,
            NAME_CHARS,
        );
        e.json_within("host", self.host.as_ref(), MAX_HOST_FACTS_BYTES);
        e.into_result()
    }
}

/// Facts about an agent's host: the ones every agent knows typed, any others kept as sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Operating system, e.g. `windows` or `linux`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// CPU architecture, e.g. `x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<u64>,
    /// Anything else the agent reports.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Answer of a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatAnswer {
    pub id: String,
    pub status: AgentStatus,
    /// Always `true`: the heartbeat itself made it so.
    pub online: bool,
    #[serde(serialize_with = "millis")]
    pub last_seen_at: DateTime<Utc>,
}

/// An agent as its owner and admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    pub id: String,
    pub tenant_id: String,
    pub owner_user_id: Option<String>,
    pub name: String,
    pub status: AgentStatus,
    /// Active and seen within the last 120 seconds.
    pub online: bool,
    pub version: Option<String>,
    pub platform: Option<String>,
    pub capabilities: Vec<String>,
    pub public_key: Option<String>,
    /// `machine_name` from registration, `host` from the latest heartbeat that sent it.
    #[schema(value_type = Object)]
    pub metadata: Value,
    #[serde(serialize_with = "millis_opt")]
    pub last_seen_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "millis_opt")]
    pub paired_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "millis_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
    #[serde(serialize_with = "millis")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "millis")]
    pub updated_at: DateTime<Utc>,
}

impl AgentView {
    pub fn presence(&self) -> Presence {
        if self.online {
            Presence::Online
        } else {
            Presence::Offline
        }
    }
}

/// Answer of register and quick-pair (201): the agent and its token, shown only here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegisteredAgent {
    #[serde(flatten)]
    pub agent: AgentView,
    /// `bma_...`; sent as `Authorization: Bearer` on the agent's routes.
    pub agent_token: String,
    #[serde(serialize_with = "millis_opt")]
    pub agent_token_expires_at: Option<DateTime<Utc>>,
}

/// Answer of `POST /agents/token/rotate`: the new token; the old one stopped working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RotatedToken {
    pub agent_token: String,
    #[serde(serialize_with = "millis_opt")]
    pub agent_token_expires_at: Option<DateTime<Utc>>,
}

/// `POST /agents/{id}/revoke`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevokeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500, example = "decommissioned")]
    pub reason: Option<String>,
}

impl Validate for RevokeRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("reason", self.reason.as_deref(), 500);
        e.into_result()
    }
}

/// One service as the agent's doctor found it: could it be reached, and did it accept the
/// agent's credentials. The heartbeat carries the node's in `host.doctor` ([`DoctorFacts`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceCheck {
    /// Set up in the agent's config at all.
    pub configured: bool,
    pub reachable: bool,
    pub authenticated: bool,
    /// What was checked, or why it failed, in words.
    pub detail: String,
}

impl ServiceCheck {
    pub fn ok(&self) -> bool {
        self.configured && self.reachable && self.authenticated
    }

    /// The verdict in plain words.
    pub fn words(&self) -> &'static str {
        match (self.configured, self.reachable, self.authenticated) {
            (false, _, _) => "not configured",
            (true, false, _) => "NOT reachable",
            (true, true, false) => "reachable, but NOT authenticated",
            (true, true, true) => "reachable and authenticated",
        }
    }

    /// `<name>: <verdict> (<detail>)`.
    pub fn line(&self, name: &str) -> String {
        format!("{name}: {} ({})", self.words(), self.detail)
    }
}

/// The node's services at one moment, as the heartbeat carries them in `host.doctor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DoctorFacts {
    pub checked_at: DateTime<Utc>,
    pub proxmox: ServiceCheck,
    pub ssh: ServiceCheck,
}

impl DoctorFacts {
    /// The facts a heartbeat's `host` carries, if it carries readable ones.
    pub fn of_host(host: &Value) -> Option<Self> {
        serde_json::from_value(host.get("doctor")?.clone()).ok()
    }

    /// One line per service, in plain words.
    pub fn lines(&self) -> Vec<String> {
        vec![self.proxmox.line("Proxmox"), self.ssh.line("SSH")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::from_json;
    use serde_json::json;

    #[test]
    fn todays_register_body_round_trips() {
        let body = json!({"pairing_code": "0123456789abcdef0123456789abcdef", "machine_name": "vm-host-1",
            "version": "1.2.0", "platform": "windows", "capabilities": ["proxmox"], "public_key": "age1examplekey"});
        let req: RegisterRequest = from_json(body.clone()).unwrap();
        assert_eq!(req.facts.machine_name.as_deref(), Some("vm-host-1"));
        assert_eq!(serde_json::to_value(&req).unwrap(), body);
        let bare: RegisterRequest = from_json(json!({"pairing_code": "abc"})).unwrap();
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            json!({"pairing_code": "abc"})
        );
    }

    #[test]
    fn request_bounds_are_checked() {
        for bad in [
            json!({"expires_in_minutes": 2}),
            json!({"expires_in_minutes": 5000}),
            json!({"name": 5}),
            json!({"name": "x".repeat(201)}),
        ] {
            assert!(
                from_json::<CreatePairingRequest>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        let ok: CreatePairingRequest = from_json(json!({"expires_in_minutes": "30"})).unwrap();
        assert_eq!(ok.lifetime_minutes(), 30);
        assert_eq!(CreatePairingRequest::default().lifetime_minutes(), 15);

        let caps: Vec<String> = (0..51).map(|i| i.to_string()).collect();
        let e = from_json::<RegisterRequest>(json!({"pairing_code": " ", "capabilities": caps}))
            .unwrap_err();
        assert_eq!(
            e.get("pairing_code").unwrap(),
            ["must be a non-empty string"]
        );
        assert_eq!(
            e.get("capabilities").unwrap(),
            ["must have at most 50 items"]
        );
        let e = from_json::<RevokeRequest>(json!({"reason": "r".repeat(501)})).unwrap_err();
        assert!(e.get("reason").is_some());
        let e = from_json::<QuickPairRequest>(json!({"login": "a@b", "password": ""})).unwrap_err();
        assert!(e.get("password").is_some());
    }

    #[test]
    fn quick_pair_never_shows_its_password() {
        let req: QuickPairRequest = from_json(json!({"login": "owner@example.com", "password": "hunter2",
            "machine_name": "host-7", "version": "0.1.0", "platform": "win32", "capabilities": ["proxmox"]}))
        .unwrap();
        assert_eq!(req.facts.platform.as_deref(), Some("win32"));
        assert!(!format!("{req:?}").contains("hunter2"));
    }

    #[test]
    fn heartbeat_host_facts_keep_unknown_keys_and_are_bounded() {
        let req: HeartbeatRequest =
            from_json(json!({"version": "1.3.0", "host": {"cpus": 8, "gpu": "none"}})).unwrap();
        let host = req.host.as_ref().unwrap();
        assert_eq!(
            (host.cpus, host.other["gpu"].clone()),
            (Some(8), json!("none"))
        );
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"version": "1.3.0", "host": {"cpus": 8, "gpu": "none"}})
        );
        assert!(from_json::<HeartbeatRequest>(json!({})).is_ok());
        let big = json!({"host": {"blob": "x".repeat(MAX_HOST_FACTS_BYTES)}});
        assert!(
            from_json::<HeartbeatRequest>(big)
                .unwrap_err()
                .get("host")
                .is_some()
        );
    }

    #[test]
    fn the_agent_view_keeps_todays_wire_form() {
        let wire = json!({
            "id": "a1", "tenant_id": "acme", "owner_user_id": "u1", "name": "vm-host-1",
            "status": "active", "online": true, "version": "1.2.0", "platform": "windows",
            "capabilities": ["proxmox"], "public_key": null, "metadata": {"machine_name": "vm-host-1"},
            "last_seen_at": "2025-01-02T03:04:05.000Z", "paired_at": "2025-01-02T03:04:05.000Z",
            "revoked_at": null, "revoke_reason": null,
            "created_at": "2025-01-02T03:00:00.123Z", "updated_at": "2025-01-02T03:04:05.000Z",
            "agent_token": "bma_secret", "agent_token_expires_at": "2025-02-01T03:04:05.000Z"
        });
        let registered: RegisteredAgent = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(registered.agent.status, AgentStatus::Active);
        assert_eq!(registered.agent.presence(), Presence::Online);
        assert_eq!(serde_json::to_value(&registered).unwrap(), wire);
        assert!(registered.agent_token.starts_with(AGENT_TOKEN_PREFIX));
        assert_eq!(TOKEN_TTL_MS, 2_592_000_000);
    }
    #[test]
    fn status_and_presence_words_match_serde() {
        for status in AgentStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
            assert_eq!(status.to_string().parse::<AgentStatus>(), Ok(status));
        }
        for presence in Presence::ALL {
            assert_eq!(
                serde_json::to_value(presence).unwrap(),
                json!(presence.as_str())
            );
            assert_eq!(presence.as_str().parse::<Presence>(), Ok(presence));
        }
        assert_eq!(
            "paused".parse::<AgentStatus>(),
            Err("unknown agent status 'paused' (expected pending, active or revoked)".to_owned())
        );
        assert_eq!(
            "away".parse::<Presence>(),
            Err("unknown presence 'away' (expected online or offline)".to_owned())
        );
    }

    #[test]
    fn nul_and_wrong_shapes_are_refused_by_field() {
        let nul = "a\u{0}b";
        let e = from_json::<RegisterRequest>(json!({"pairing_code": nul, "machine_name": nul,
            "version": nul, "platform": nul, "capabilities": ["proxmox", nul], "public_key": nul}))
        .unwrap_err();
        let fields: Vec<&str> = e.field_errors.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "capabilities",
                "machine_name",
                "pairing_code",
                "platform",
                "public_key",
                "version"
            ]
        );
        let e = from_json::<HeartbeatRequest>(json!({"host": {"hostname": nul}})).unwrap_err();
        assert!(e.get("host").is_some(), "{e}");
        let e = from_json::<HeartbeatRequest>(json!({"host": ["h1"]})).unwrap_err();
        assert!(e.get("host").is_some(), "{e}");
        let e =
            from_json::<HeartbeatRequest>(json!({"host": {"cpus": 5_000_000_000u64}})).unwrap_err();
        assert!(e.get("host.cpus").is_some(), "{e}");
        let e =
            from_json::<QuickPairRequest>(json!({"login": "a@b", "password": nul})).unwrap_err();
        assert!(e.get("password").is_some(), "{e}");
        let e = from_json::<CreatePairingRequest>(
            json!({"owner_user_id": nul, "expires_in_minutes": 1e30}),
        )
        .unwrap_err();
        assert!(e.get("expires_in_minutes").is_some(), "{e}");
        let e = from_json::<RevokeRequest>(json!({"reason": nul})).unwrap_err();
        assert!(e.get("reason").is_some(), "{e}");
    }
}
