//! `botmox-agent pair STRING`: redeem a pairing code for an agent token, with a freshly made
//! key pair, and write the config: the server, the token, and the Proxmox target filled from
//! the bundle's hints and the flags. Pairing again (e.g. after a revocation) keeps the
//! Proxmox and SSH settings already in the file unless flags replace them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use botmox_client::{Client, ClientError};
use botmox_proto::ErrorCode;
use botmox_proto::agent::{AgentFacts, RegisterRequest, parse_pairing_string};

use crate::config::{
    AgentConfig, DEFAULT_NODE, DEFAULT_TARGET_ID, ProxmoxTarget, generate_key_pair,
};
use crate::runtime::hostname;

/// What the operator gave besides the pairing string.
#[derive(Debug, Clone, Default)]
pub struct PairOptions {
    /// Server URL when the string names none (a bare code).
    pub server_url: Option<String>,
    pub proxmox_url: Option<String>,
    pub proxmox_token: Option<String>,
    pub proxmox_user: Option<String>,
    pub proxmox_password: Option<String>,
    /// The password from the vault: a secret id or a bound field.
    pub proxmox_password_secret: Option<String>,
    pub proxmox_fingerprint: Option<String>,
    pub node: Option<String>,
    pub ssh_host: Option<String>,
    pub ssh_port: Option<u16>,
    pub ssh_user: Option<String>,
    pub ssh_key: Option<PathBuf>,
    pub ssh_password: Option<String>,
    pub ssh_password_secret: Option<String>,
    pub ssh_config_dir: Option<String>,
}

impl PairOptions {
    fn touches_ssh(&self) -> bool {
        self.ssh_host.is_some()
            || self.ssh_port.is_some()
            || self.ssh_user.is_some()
            || self.ssh_key.is_some()
            || self.ssh_password.is_some()
            || self.ssh_password_secret.is_some()
            || self.ssh_config_dir.is_some()
    }
}

fn explain(e: ClientError, server: &str) -> anyhow::Error {
    if e.is(ErrorCode::PairingNotFound) {
        anyhow::anyhow!(
            "the server does not know this pairing code (already used, revoked or mistyped); create a new pairing"
        )
    } else if e.is(ErrorCode::PairingExpired) {
        anyhow::anyhow!("this pairing code has expired; create a new pairing")
    } else {
        anyhow::Error::new(e).context(format!("registering with {server} failed"))
    }
}

/// Pair and write the config to `path`; the new config comes back.
pub async fn pair(path: &Path, paste: &str, options: PairOptions) -> anyhow::Result<AgentConfig> {
    let bundle = parse_pairing_string(paste).context("cannot read the pairing string")?;
    let Some(server_url) = options
        .server_url
        .clone()
        .or(bundle.server_url.clone())
        .map(|u| u.trim_end_matches('/').to_owned())
    else {
        bail!("the pairing string names no server; add --server-url URL");
    };
    // Settings of an earlier pairing survive a new one.
    let previous = AgentConfig::load(path).ok();
    let machine = hostname();
    let comment = format!("botmox-agent@{}", machine.as_deref().unwrap_or("host"));
    let (public_key, private_key) = generate_key_pair(&comment)?;
    let (vault_private_key, vault_public_key) = botmox_client::vault::generate_key_pair();
    let request = RegisterRequest {
        pairing_code: bundle.pairing_code.clone(),
        facts: AgentFacts {
            machine_name: machine,
            version: Some(crate::VERSION.to_owned()),
            platform: Some(std::env::consts::OS.to_owned()),
            capabilities: Some(crate::capabilities()),
            public_key: Some(public_key.clone()),
            vault_public_key: Some(vault_public_key.clone()),
        },
    };
    let client = Client::new(&server_url).with_context(|| format!("server URL {server_url}"))?;
    let registered = client
        .register(&request)
        .await
        .map_err(|e| explain(e, &server_url))?;

    let hints = bundle.proxmox.unwrap_or_default();
    let mut targets = previous
        .as_ref()
        .map(|p| p.targets.clone())
        .unwrap_or_default();
    let url = options.proxmox_url.clone().or(hints.url);
    if let Some(url) = url {
        let old = targets.iter().position(|t| t.id == DEFAULT_TARGET_ID);
        let old = old.map(|i| targets.remove(i));
        let keep = |f: fn(&ProxmoxTarget) -> Option<String>| old.as_ref().and_then(f);
        let target = ProxmoxTarget {
            id: DEFAULT_TARGET_ID.to_owned(),
            url,
            node: options
                .node
                .clone()
                .or(hints.node)
                .or_else(|| old.as_ref().map(|t| t.node.clone()))
                .unwrap_or_else(|| DEFAULT_NODE.to_owned()),
            token: options
                .proxmox_token
                .clone()
                .or_else(|| keep(|t| t.token.clone())),
            username: options
                .proxmox_user
                .clone()
                .or(hints.username)
                .or_else(|| keep(|t| t.username.clone())),
            // A password given now replaces a vault reference, and the other way round.
            password: match (&options.proxmox_password, &options.proxmox_password_secret) {
                (Some(password), _) => Some(password.clone()),
                (None, Some(_)) => None,
                (None, None) => keep(|t| t.password.clone()),
            },
            password_secret: match (&options.proxmox_password, &options.proxmox_password_secret) {
                (_, Some(reference)) => Some(reference.clone()),
                (Some(_), None) => None,
                (None, None) => keep(|t| t.password_secret.clone()),
            },
            fingerprint: options
                .proxmox_fingerprint
                .clone()
                .or_else(|| keep(|t| t.fingerprint.clone())),
        };
        target
            .check_settings()
            .map_err(|e| anyhow::anyhow!("the Proxmox settings are not usable: {e}"))?;
        targets.insert(0, target);
    }

    let mut ssh = previous.as_ref().and_then(|p| p.ssh.clone());
    if options.touches_ssh() {
        let mut settings = ssh.unwrap_or_default();
        if let Some(host) = options.ssh_host {
            if settings.host.as_deref() != Some(host.as_str()) {
                // Another host: its key must be trusted afresh.
                settings.host_key = None;
            }
            settings.host = Some(host);
        }
        if let Some(port) = options.ssh_port {
            settings.port = port;
        }
        settings.user = options.ssh_user.or(settings.user);
        if let Some(key) = options.ssh_key {
            settings.key_file = Some(key);
            settings.password = None;
        }
        if let Some(password) = options.ssh_password {
            settings.password = Some(password);
            settings.password_secret = None;
        }
        if let Some(reference) = options.ssh_password_secret {
            settings.password_secret = Some(reference);
            settings.password = None;
        }
        if let Some(dir) = options.ssh_config_dir {
            settings.config_dir = dir;
        }
        ssh = Some(settings);
    }

    let mut config = AgentConfig::new(
        server_url,
        registered.agent.id,
        registered.agent_token,
        (public_key, private_key),
    );
    config.agent_name = Some(registered.agent.name);
    config.tenant_id = Some(registered.agent.tenant_id);
    config.vault_public_key = Some(vault_public_key);
    config.vault_private_key = Some(vault_private_key);
    config.token_expires_at = registered.agent_token_expires_at;
    if let Some(previous) = previous {
        config.concurrency = previous.concurrency;
        config.task_timeout_secs = previous.task_timeout_secs;
        config.shutdown_grace_secs = previous.shutdown_grace_secs;
        config.active_target = previous
            .active_target
            .filter(|id| targets.iter().any(|t| &t.id == id));
    }
    config.targets = targets;
    config.ssh = ssh;
    config.check()?;
    config.save(path)?;
    Ok(config)
}
