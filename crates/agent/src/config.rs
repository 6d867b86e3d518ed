//! The agent's one config file (TOML): who it is to the server (id, token, key pair), which
//! Proxmox VE targets it drives and how it reaches their nodes over SSH. It holds secrets, so
//! it is written owner-only (0600 on Unix) and replaced atomically, never half-written.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use botmox_proxmox::{ApiToken, CertFingerprint, ClientConfig, Credentials, TlsTrust};
use chrono::{DateTime, Utc};
use rand::RngCore;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};

/// Commands run at once unless the config or `run --concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Most commands at once: each may hold an HTTP request and an SSH session.
pub const MAX_CONCURRENCY: usize = 64;
/// How long a Proxmox task may run before the command fails (a full clone of a big disk
/// takes minutes; the server fails a command running longer than 30 minutes).
pub const DEFAULT_TASK_TIMEOUT_SECS: u64 = 900;
/// After SIGTERM, running commands get this long to finish (a service manager's stop timeout
/// should be longer).
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 60;
/// Where a Proxmox node keeps its VM config files.
pub const DEFAULT_VM_CONFIG_DIR: &str = "/etc/pve/qemu-server";
/// Node name when neither the bundle nor the operator gives one (the reference's default).
pub const DEFAULT_NODE: &str = "h1";
/// The target a pairing creates.
pub const DEFAULT_TARGET_ID: &str = "default";
/// `BOTMOX_AGENT_CONFIG` names the config file when `--config` does not.
pub const CONFIG_ENV: &str = "BOTMOX_AGENT_CONFIG";

/// Everything the agent keeps between runs.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Base URL of the Bot-Mox server, without a trailing slash.
    pub server_url: String,
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// The agent token (`bma_...`), rotated before it expires.
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<DateTime<Utc>>,
    /// OpenSSH form of the agent's ed25519 public key, sent at registration.
    pub public_key: String,
    /// OpenSSH PEM of the matching private key.
    pub private_key: String,
    /// The agent's tenant, from pairing: part of what every vault secret is sealed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The agent's vault key pair (HPKE P-256, base64), made at pairing: the server seals
    /// nothing the agent cannot open, and holds only the public half. Absent in configs
    /// paired before the vault; pair again to get one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_private_key: Option<String>,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_task_timeout")]
    pub task_timeout_secs: u64,
    /// After SIGTERM: how long running commands may take to finish.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
    /// Target used when a command names none (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_target: Option<String>,
    #[serde(default, rename = "proxmox", skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<ProxmoxTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSettings>,
}

/// Names and places only: the secrets stay out of logs and panics.
impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let targets: Vec<&str> = self.targets.iter().map(|t| t.id.as_str()).collect();
        f.debug_struct("AgentConfig")
            .field("server_url", &self.server_url)
            .field("agent_id", &self.agent_id)
            .field("agent_name", &self.agent_name)
            .field("token", &"<hidden>")
            .field("token_expires_at", &self.token_expires_at)
            .field("concurrency", &self.concurrency)
            .field("targets", &targets)
            .field("ssh", &self.ssh.is_some())
            .finish_non_exhaustive()
    }
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

fn default_task_timeout() -> u64 {
    DEFAULT_TASK_TIMEOUT_SECS
}

fn default_shutdown_grace() -> u64 {
    DEFAULT_SHUTDOWN_GRACE_SECS
}

/// One Proxmox VE API endpoint with its credentials.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxTarget {
    pub id: String,
    /// `https://host:8006`; `http://` only when written out (a test fake).
    pub url: String,
    pub node: String,
    /// API token `USER@REALM!ID=SECRET` (preferred over a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The password from the vault instead: a secret id, or the field of a secret bound to
    /// this agent (`proxmox.password`). Fetched and opened at start, kept in memory only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// SHA-256 fingerprint of a self-signed certificate to trust (`AA:BB:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl ProxmoxTarget {
    /// The Proxmox client settings: token or ticket login, and the pinned certificate.
    pub fn client_config(&self) -> Result<ClientConfig, botmox_proxmox::Error> {
        let credentials = match (&self.token, &self.username, &self.password) {
            (Some(token), _, _) => Credentials::ApiToken(token.parse::<ApiToken>()?),
            (None, Some(user), Some(password)) => Credentials::password(user, password),
            (None, _, None) if self.password_secret.is_some() => {
                return Err(botmox_proxmox::Error::Config(format!(
                    "the password of Proxmox target '{}' comes from the vault and was not fetched",
                    self.id
                )));
            }
            _ => {
                return Err(botmox_proxmox::Error::Config(format!(
                    "Proxmox target '{}' has neither an API token nor a user and password",
                    self.id
                )));
            }
        };
        let mut config = ClientConfig::new(&self.url, credentials)?;
        if let Some(fp) = &self.fingerprint {
            config = config.with_tls(TlsTrust::Fingerprint(fp.parse::<CertFingerprint>()?));
        }
        Ok(config)
    }

    /// [`ProxmoxTarget::client_config`]'s checks as they will stand once a vault password
    /// is filled in (pairing checks the settings before the agent ever fetched it).
    pub fn check_settings(&self) -> Result<(), botmox_proxmox::Error> {
        let mut filled = self.clone();
        if filled.password.is_none() && filled.password_secret.is_some() {
            filled.password = Some(String::new());
        }
        filled.client_config().map(drop)
    }

    /// The Proxmox user: the token's owner or the login user (`root@pam`).
    pub fn user(&self) -> Option<&str> {
        match &self.token {
            Some(token) => token.split('!').next(),
            None => self.username.as_deref(),
        }
    }

    /// Host of the URL (`pve.lan` of `https://pve.lan:8006`).
    pub fn host(&self) -> Option<String> {
        url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
    }

    /// `<host[:port]> · <node> · <user>`, as the reference labels targets.
    pub fn label(&self) -> String {
        let place = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                })
            })
            .unwrap_or_else(|| self.url.clone());
        format!("{place} · {} · {}", self.node, self.user().unwrap_or("?"))
    }
}

/// How the agent reaches the Proxmox node's shell (config files, `qm`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// Default: the host of the active Proxmox target's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    /// Default `root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Private key file (OpenSSH or PEM, not passphrase-protected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The password from the vault instead (as `password_secret` of a Proxmox target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// The host key pinned by `botmox-agent ssh trust` (OpenSSH public key line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// Directory of the VM config files (`/etc/pve/qemu-server`).
    #[serde(default = "default_vm_config_dir")]
    pub config_dir: String,
    /// Where storage `<s>` keeps its ISOs is `<iso_root>/<s>`, for the SSH fallback of a
    /// config-ISO upload. Default: Proxmox's layout (`local`: `/var/lib/vz/template/iso`,
    /// others: `/mnt/pve/<s>/template/iso`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso_root: Option<String>,
}

fn default_ssh_port() -> u16 {
    22
}

fn default_vm_config_dir() -> String {
    DEFAULT_VM_CONFIG_DIR.to_owned()
}

impl Default for SshSettings {
    fn default() -> Self {
        Self {
            host: None,
            port: default_ssh_port(),
            user: None,
            key_file: None,
            password: None,
            password_secret: None,
            host_key: None,
            config_dir: default_vm_config_dir(),
            iso_root: None,
        }
    }
}

impl SshSettings {
    /// The pinned host key, if any.
    pub fn pinned_key(&self) -> anyhow::Result<Option<PublicKey>> {
        self.host_key
            .as_deref()
            .map(|line| PublicKey::from_openssh(line).context("ssh.host_key is not an OpenSSH key"))
            .transpose()
    }
}

/// `SHA256:...` of a public key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// A directory path that can go into a remote command line without quoting trouble.
pub fn is_safe_dir(dir: &str) -> bool {
    dir.starts_with('/')
        && dir.len() <= 255
        && !dir.split('/').any(|part| part == "..")
        && dir
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'))
}

impl AgentConfig {
    /// A config with the default settings and no Proxmox target or SSH yet; `key_pair` as
    /// [`generate_key_pair`] makes it.
    pub fn new(
        server_url: impl Into<String>,
        agent_id: impl Into<String>,
        token: impl Into<String>,
        (public_key, private_key): (String, String),
    ) -> Self {
        Self {
            server_url: server_url.into(),
            agent_id: agent_id.into(),
            agent_name: None,
            token: token.into(),
            token_expires_at: None,
            public_key,
            private_key,
            tenant_id: None,
            vault_public_key: None,
            vault_private_key: None,
            concurrency: DEFAULT_CONCURRENCY,
            task_timeout_secs: DEFAULT_TASK_TIMEOUT_SECS,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
            active_target: None,
            targets: Vec::new(),
            ssh: None,
        }
    }

    /// Read and check a config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the agent config {}", path.display()))?;
        let config: Self = toml::from_str(&text)
            .with_context(|| format!("the agent config {} is not valid", path.display()))?;
        config
            .check()
            .with_context(|| format!("the agent config {} is not valid", path.display()))?;
        Ok(config)
    }

    /// Values serde cannot check.
    pub fn check(&self) -> anyhow::Result<()> {
        if !url::Url::parse(&self.server_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            bail!("server_url must be an http(s) URL");
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            bail!("concurrency must be 1..={MAX_CONCURRENCY}");
        }
        if self.task_timeout_secs == 0 {
            bail!("task_timeout_secs must be positive");
        }
        for (i, target) in self.targets.iter().enumerate() {
            if self.targets[..i].iter().any(|t| t.id == target.id) {
                bail!("two Proxmox targets have the id '{}'", target.id);
            }
        }
        if let Some(active) = &self.active_target
            && !self.targets.iter().any(|t| &t.id == active)
        {
            bail!("active_target '{active}' is not among the [[proxmox]] targets");
        }
        if let Some(ssh) = &self.ssh {
            if !is_safe_dir(&ssh.config_dir) {
                bail!("ssh.config_dir must be an absolute path of letters, digits and /._-");
            }
            if let Some(root) = &ssh.iso_root
                && !is_safe_dir(root)
            {
                bail!("ssh.iso_root must be an absolute path of letters, digits and /._-");
            }
            ssh.pinned_key()?;
        }
        PrivateKey::from_openssh(&self.private_key).context("private_key is not valid")?;
        match (&self.vault_private_key, &self.vault_public_key) {
            (Some(private), Some(public)) => {
                let derived = botmox_client::vault::public_key_of(private)
                    .context("vault_private_key is not valid")?;
                if derived != *public {
                    bail!("vault_public_key does not belong to vault_private_key");
                }
            }
            (None, None) => {}
            _ => bail!("vault_public_key and vault_private_key go together"),
        }
        let references = self
            .targets
            .iter()
            .filter_map(|t| t.password_secret.as_ref());
        let ssh_reference = self.ssh.as_ref().and_then(|s| s.password_secret.as_ref());
        if references.chain(ssh_reference).next().is_some() && self.vault_private_key.is_none() {
            bail!("password_secret needs the vault key of a pairing; pair the agent again");
        }
        Ok(())
    }

    /// Write the file owner-only, replacing the old one in one step.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = toml::to_string_pretty(self).context("cannot encode the agent config")?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        // A temp file is created 0600 on Unix; set it anyway, the mode is the point.
        let mut file = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(text.as_bytes())?;
        file.as_file().sync_all()?;
        file.persist(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// The target a command names, else the active one, else the first.
    pub fn target(&self, id: Option<&str>) -> Option<&ProxmoxTarget> {
        match id.or(self.active_target.as_deref()) {
            Some(id) => self.targets.iter().find(|t| t.id == id),
            None => self.targets.first(),
        }
    }

    /// The vault key's id (`p256:...`), as the server lists it among the recipients.
    pub fn vault_key_id(&self) -> Option<String> {
        let raw = botmox_proto::vault::decode_public_key(self.vault_public_key.as_deref()?).ok()?;
        Some(botmox_proto::vault::key_id(&raw))
    }

    /// The agent's public key fingerprint (`SHA256:...`).
    pub fn key_fingerprint(&self) -> Option<String> {
        PublicKey::from_openssh(&self.public_key)
            .ok()
            .map(|k| fingerprint(&k))
    }
}

/// The config file when neither `--config` nor `BOTMOX_AGENT_CONFIG` names one:
/// `<platform config dir>/botmox-agent/config.toml` (`~/.config` on Linux, `%APPDATA%` on
/// Windows), else `botmox-agent.toml` here.
pub fn default_path() -> PathBuf {
    dirs::config_dir()
        .map(|d| d.join("botmox-agent").join("config.toml"))
        .unwrap_or_else(|| PathBuf::from("botmox-agent.toml"))
}

/// A fresh ed25519 key pair: (OpenSSH public key line, OpenSSH private key PEM).
pub fn generate_key_pair(comment: &str) -> anyhow::Result<(String, String)> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    key.set_comment(comment);
    let private = key
        .to_openssh(LineEnding::LF)
        .context("cannot encode the private key")?
        .to_string();
    let public = key
        .public_key()
        .to_openssh()
        .context("cannot encode the public key")?;
    Ok((public, private))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AgentConfig {
        let mut config = AgentConfig::new(
            "http://127.0.0.1:8080",
            "a1",
            "bma_secret",
            generate_key_pair("test").unwrap(),
        );
        config.agent_name = Some("host-1".into());
        config.token_expires_at = Some(Utc::now());
        config.targets = vec![ProxmoxTarget {
            id: DEFAULT_TARGET_ID.into(),
            url: "https://pve.lan:8006".into(),
            node: "pve".into(),
            token: Some("root@pam!ci=secret".into()),
            username: None,
            password: None,
            password_secret: None,
            fingerprint: None,
        }];
        config.ssh = Some(SshSettings::default());
        config
    }

    #[test]
    fn round_trips_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("config.toml");
        let config = sample();
        config.save(&path).unwrap();
        let back = AgentConfig::load(&path).unwrap();
        assert!(
            !format!("{back:?}").contains("bma_secret"),
            "Debug hides the token"
        );
        assert_eq!(back.agent_id, "a1");
        assert_eq!(back.token, "bma_secret");
        assert_eq!(back.private_key, config.private_key);
        assert_eq!(back.targets[0].user(), Some("root@pam"));
        assert_eq!(back.targets[0].label(), "pve.lan:8006 · pve · root@pam");
        assert_eq!(back.ssh.unwrap().config_dir, DEFAULT_VM_CONFIG_DIR);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // saving again replaces the file in place
        let mut changed = AgentConfig::load(&path).unwrap();
        changed.token = "bma_rotated".into();
        changed.save(&path).unwrap();
        assert_eq!(AgentConfig::load(&path).unwrap().token, "bma_rotated");
    }

    #[test]
    fn bad_files_are_refused_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut config = sample();
        config.concurrency = 0;
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let e = format!("{:#}", AgentConfig::load(&path).err().unwrap());
        assert!(e.contains("concurrency"), "{e}");

        let mut config = sample();
        config.ssh.as_mut().unwrap().config_dir = "/etc/pve; rm -rf /".into();
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let e = format!("{:#}", AgentConfig::load(&path).err().unwrap());
        assert!(e.contains("config_dir"), "{e}");

        std::fs::write(&path, "server_url = 1").unwrap();
        assert!(AgentConfig::load(&path).is_err());
        std::fs::write(
            &path,
            toml::to_string(&sample()).unwrap() + "\nsurprise = 1\n",
        )
        .unwrap();
        let e = format!("{:#}", AgentConfig::load(&path).err().unwrap());
        assert!(e.contains("surprise"), "{e}");
    }

    #[test]
    fn targets_resolve_by_id_active_or_first() {
        let mut config = sample();
        let mut second = config.targets[0].clone();
        second.id = "b".into();
        config.targets.push(second);
        assert_eq!(config.target(None).unwrap().id, DEFAULT_TARGET_ID);
        assert_eq!(config.target(Some("b")).unwrap().id, "b");
        assert!(config.target(Some("zzz")).is_none());
        config.active_target = Some("b".into());
        assert_eq!(config.target(None).unwrap().id, "b");
    }

    #[test]
    fn key_pairs_are_fresh_ed25519() {
        let (public_a, private_a) = generate_key_pair("x").unwrap();
        let (public_b, _) = generate_key_pair("x").unwrap();
        assert!(public_a.starts_with("ssh-ed25519 "));
        assert_ne!(public_a, public_b);
        let key = PrivateKey::from_openssh(&private_a).unwrap();
        assert_eq!(key.public_key().to_openssh().unwrap(), public_a);
    }

    #[test]
    fn vault_keys_and_references_are_checked() {
        let mut config = sample();
        config.targets[0].password_secret = Some("proxmox.password".into());
        let e = format!("{:#}", config.check().unwrap_err());
        assert!(e.contains("vault key"), "{e}");
        let (private, public) = botmox_client::vault::generate_key_pair();
        config.vault_private_key = Some(private.clone());
        config.vault_public_key = Some(botmox_client::vault::generate_key_pair().1);
        let e = format!("{:#}", config.check().unwrap_err());
        assert!(e.contains("does not belong"), "{e}");
        config.vault_public_key = Some(public.clone());
        config.check().unwrap();
        let raw = botmox_proto::vault::decode_public_key(&public).unwrap();
        assert_eq!(
            config.vault_key_id(),
            Some(botmox_proto::vault::key_id(&raw))
        );
        assert!(
            !format!("{config:?}").contains(&private),
            "Debug hides the vault key"
        );

        // Only a vault password: the settings are usable once it is fetched, not before.
        let mut target = config.targets[0].clone();
        target.token = None;
        target.username = Some("ops@pve".into());
        target.check_settings().unwrap();
        let e = target.client_config().err().unwrap().to_string();
        assert!(e.contains("from the vault"), "{e}");
        target.password = Some("opened".into());
        assert!(target.client_config().is_ok());
    }

    #[test]
    fn credentials_and_safe_dirs() {
        let mut target = sample().targets.remove(0);
        assert!(target.client_config().is_ok());
        target.token = None;
        assert!(target.client_config().is_err());
        target.username = Some("root@pam".into());
        target.password = Some("pw".into());
        assert!(target.client_config().is_ok());
        target.fingerprint = Some("nope".into());
        assert!(target.client_config().is_err());
        assert!(is_safe_dir("/etc/pve/qemu-server") && is_safe_dir("/tmp/x-1/y_2"));
        assert!(!is_safe_dir("etc/pve") && !is_safe_dir("/a/../b") && !is_safe_dir("/a b"));
    }
}
