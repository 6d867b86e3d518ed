//! SSH to the Proxmox node (pure Rust, `russh`): one connection per command, the host key
//! checked against the pinned one before any credential is offered, key or password
//! authentication, and failures sorted into the codes the UI acts on.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::ssh_key::PublicKey;
use russh::keys::{PrivateKeyWithHashAlg, load_secret_key};
use russh::{ChannelMsg, Disconnect};

use crate::config::fingerprint;
use crate::error::{ExecError, code};

/// Most bytes kept of a command's stdout or stderr.
const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// How to log in.
#[derive(Clone)]
pub enum SshAuth {
    /// A private key file (OpenSSH or PEM, no passphrase).
    Key(PathBuf),
    Password(String),
}

impl SshAuth {
    /// `key` or `password`, as the probe results name the mode.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Key(_) => "key",
            Self::Password(_) => "password",
        }
    }
}

/// A host to run commands on, with its pinned key.
#[derive(Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub auth: SshAuth,
    /// Connections are refused unless the host shows this key; `None` refuses every host
    /// (trust it first with `botmox-agent ssh trust`).
    pub pinned: Option<PublicKey>,
}

/// What a remote command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// `None` when the server sent no exit status (killed by a signal).
    pub exit_code: Option<u32>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Checks the host key and remembers the one offered (for `ssh trust` and the errors).
struct Verifier {
    pinned: Option<PublicKey>,
    offered: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKey) -> Result<bool, Self::Error> {
        if let Ok(mut offered) = self.offered.lock() {
            *offered = Some(key.clone());
        }
        Ok(self
            .pinned
            .as_ref()
            .is_some_and(|pinned| pinned.key_data() == key.key_data()))
    }
}

fn unreachable(message: impl Into<String>) -> ExecError {
    ExecError::new(code::SSH_UNREACHABLE, message)
}

fn exec_error(target: &SshTarget, e: russh::Error) -> ExecError {
    match e {
        russh::Error::IO(_)
        | russh::Error::Disconnect
        | russh::Error::HUP
        | russh::Error::ConnectionTimeout
        | russh::Error::KeepaliveTimeout
        | russh::Error::InactivityTimeout => unreachable(format!(
            "the SSH connection to {}:{} broke: {e}",
            target.host, target.port
        )),
        other => ExecError::new(code::SSH_EXEC_ERROR, other.to_string()),
    }
}

/// Open a connection and check the host key; the offered key comes back either way.
async fn connect(
    target: &SshTarget,
) -> (Result<Handle<Verifier>, russh::Error>, Option<PublicKey>) {
    let config = Arc::new(client::Config {
        inactivity_timeout: Some(Duration::from_secs(120)),
        ..Default::default()
    });
    let offered = Arc::new(Mutex::new(None));
    let verifier = Verifier {
        pinned: target.pinned.clone(),
        offered: offered.clone(),
    };
    let result = client::connect(config, (target.host.as_str(), target.port), verifier).await;
    let offered = offered.lock().ok().and_then(|k| k.clone());
    (result, offered)
}

/// A connection whose host showed the pinned key.
async fn open(target: &SshTarget) -> Result<Handle<Verifier>, ExecError> {
    let place = format!("{}:{}", target.host, target.port);
    match connect(target).await {
        (Ok(session), _) => Ok(session),
        (Err(russh::Error::UnknownKey), offered) => {
            let offered = offered.map_or_else(|| "an unknown key".to_owned(), |k| fingerprint(&k));
            Err(match &target.pinned {
                None => ExecError::new(
                    code::SSH_REQUIRED,
                    format!(
                        "the host key of {place} ({offered}) is not trusted yet; check it and run \
                         `botmox-agent ssh trust`"
                    ),
                ),
                Some(pinned) => ExecError::new(
                    code::SSH_HOST_KEY_CHANGED,
                    format!(
                        "the host key of {place} changed: pinned {}, offered {offered}; refusing to \
                         connect (if the node was reinstalled, check the key and run `botmox-agent \
                         ssh trust` again)",
                        fingerprint(pinned)
                    ),
                ),
            })
        }
        (Err(russh::Error::IO(e)), _) => {
            Err(unreachable(format!("cannot connect to {place}: {e}")))
        }
        (Err(e), _) => Err(unreachable(format!(
            "the SSH handshake with {place} failed: {e}"
        ))),
    }
}

async fn authenticate(session: &mut Handle<Verifier>, target: &SshTarget) -> Result<(), ExecError> {
    let who = format!("{}@{}:{}", target.user, target.host, target.port);
    let result = match &target.auth {
        SshAuth::Key(path) => {
            let key = load_secret_key(path, None).map_err(|e| {
                ExecError::new(
                    code::SSH_REQUIRED,
                    format!("cannot use the SSH key {}: {e}", path.display()),
                )
            })?;
            let hash = if key.algorithm().is_rsa() {
                session
                    .best_supported_rsa_hash()
                    .await
                    .map_err(|e| exec_error(target, e))?
                    .flatten()
            } else {
                None
            };
            session
                .authenticate_publickey(
                    target.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
        }
        SshAuth::Password(password) => {
            session
                .authenticate_password(target.user.clone(), password.clone())
                .await
        }
    };
    match result {
        Ok(r) if r.success() => Ok(()),
        Ok(_) => Err(ExecError::new(
            code::SSH_AUTH_FAILED,
            format!(
                "{who} refused the {} (permission denied)",
                target.auth.mode()
            ),
        )),
        Err(e) => Err(match exec_error(target, e) {
            e if e.code == code::SSH_UNREACHABLE => e,
            e => ExecError::new(code::SSH_AUTH_FAILED, format!("{who}: {}", e.message)),
        }),
    }
}

fn push_capped(buffer: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_OUTPUT_BYTES.saturating_sub(buffer.len());
    buffer.extend_from_slice(&data[..data.len().min(room)]);
}

async fn exec_inner(
    target: &SshTarget,
    command: &str,
    stdin: Option<&[u8]>,
) -> Result<Output, ExecError> {
    let mut session = open(target).await?;
    authenticate(&mut session, target).await?;
    let mut channel = session
        .channel_open_session()
        .await
        .map_err(|e| exec_error(target, e))?;
    channel
        .exec(true, command)
        .await
        .map_err(|e| exec_error(target, e))?;
    if let Some(input) = stdin {
        channel
            .data(input)
            .await
            .map_err(|e| exec_error(target, e))?;
    }
    channel.eof().await.map_err(|e| exec_error(target, e))?;
    let (mut stdout, mut stderr, mut exit_code) = (Vec::new(), Vec::new(), None);
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => push_capped(&mut stdout, &data),
            ChannelMsg::ExtendedData { data, ext: 1 } => push_capped(&mut stderr, &data),
            ChannelMsg::ExitStatus { exit_status } => exit_code = Some(exit_status),
            _ => {}
        }
    }
    // Best effort: the command is done whatever the goodbye does.
    let _ = session
        .disconnect(Disconnect::ByApplication, "", "en")
        .await;
    Ok(Output {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit_code,
    })
}

/// Run one command line (built from fixed, quoted words), feeding `stdin` if given, within
/// `timeout` for everything (connect, handshake, login, run).
pub async fn exec(
    target: &SshTarget,
    command: &str,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, ExecError> {
    tokio::time::timeout(timeout, exec_inner(target, command, stdin))
        .await
        .unwrap_or_else(|_| {
            Err(unreachable(format!(
                "no answer from {}:{} within {} s",
                target.host,
                target.port,
                timeout.as_secs_f32()
            )))
        })
}

/// The key the host offers, without trusting it (for `ssh trust`).
pub async fn host_key(host: &str, port: u16, timeout: Duration) -> Result<PublicKey, ExecError> {
    let target = SshTarget {
        host: host.to_owned(),
        port,
        user: String::new(),
        auth: SshAuth::Password(String::new()),
        pinned: None,
    };
    let attempt = async {
        match connect(&target).await {
            (_, Some(key)) => Ok(key),
            (Err(russh::Error::IO(e)), None) => {
                Err(unreachable(format!("cannot connect to {host}:{port}: {e}")))
            }
            (Err(e), None) => Err(unreachable(format!(
                "the SSH handshake with {host}:{port} failed: {e}"
            ))),
            (Ok(_), None) => Err(unreachable(format!("{host}:{port} showed no host key"))),
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(unreachable(format!(
                "no answer from {host}:{port} within {} s",
                timeout.as_secs_f32()
            )))
        })
}
