//! Helpers of the agent's end-to-end tests: the other binaries of the workspace (`botmox`,
//! `botmox-fake-pve`) as child processes, the API through the typed client, and waits.

use std::fmt::Debug;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use botmox_agent::config::{AgentConfig, DEFAULT_TARGET_ID, ProxmoxTarget};
use botmox_client::Client;
use botmox_proto::agent::{AgentView, CreatePairingRequest};
use botmox_proto::command::{Command as AgentCommand, CommandView, DispatchRequest};
use botmox_proxmox::ProxmoxClient;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Generous: these tests must pass on a slow, busy machine.
pub const WAIT: Duration = Duration::from_secs(120);

pub const PVE_TOKEN: &str = "root@pam!e2e=0b1c2d3e-aaaa-bbbb-cccc-000000000001";

/// A binary of another workspace package, beside this package's own binary in the target
/// directory; built with cargo when it is not there yet (`cargo test --workspace` builds it).
pub fn workspace_bin(package: &str, name: &str) -> PathBuf {
    let agent = Path::new(env!("CARGO_BIN_EXE_botmox-agent"));
    let path = agent
        .with_file_name(name)
        .with_extension(std::env::consts::EXE_EXTENSION);
    if !path.exists() {
        let target_dir = agent
            .parent()
            .and_then(Path::parent)
            .expect("the agent binary lies in <target>/<profile>/");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", package, "--bin", name])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build -p {package} --bin {name} failed"
        );
    }
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// `botmox-fake-pve` as a child process on a free port, with one API token.
pub struct FakePveProcess {
    child: Child,
    pub url: String,
}

impl FakePveProcess {
    pub fn start(task_ms: u64) -> Self {
        let mut child = Command::new(workspace_bin("botmox-fake-pve", "botmox-fake-pve"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--node",
                "pve",
                "--token",
                PVE_TOKEN,
            ])
            .args(["--task-ms", &task_ms.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start botmox-fake-pve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the fake's first line");
        let url = line
            .trim()
            .strip_prefix("botmox-fake-pve listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .trim_end_matches('/')
            .to_owned();
        Self { child, url }
    }

    /// The typed Proxmox VE client, with the token, to look at the fake's state.
    pub fn client(&self) -> ProxmoxClient {
        let target = ProxmoxTarget {
            id: DEFAULT_TARGET_ID.into(),
            url: self.url.clone(),
            node: "pve".into(),
            token: Some(PVE_TOKEN.into()),
            username: None,
            password: None,
            password_secret: None,
            fingerprint: None,
        };
        target
            .client_config()
            .and_then(ProxmoxClient::new)
            .expect("a client of the fake")
    }
}

impl Drop for FakePveProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The end of a wait for something another process does: [`Deadline::tick`] pauses between
/// looks and fails the test once [`WAIT`] has passed.
pub struct Deadline {
    at: Instant,
    what: String,
}

impl Deadline {
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            at: Instant::now() + WAIT,
            what: what.into(),
        }
    }

    /// Pause before the next look; `last` is what the last look saw.
    pub async fn tick(&self, last: &dyn Debug) {
        assert!(
            Instant::now() < self.at,
            "waited {WAIT:?} for {}; last seen: {last:?}",
            self.what
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The API as an admin of the tenant uses it.
pub struct Api {
    pub client: Client,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            client: Client::new(base)
                .expect("the server's URL")
                .with_token(token),
        }
    }

    /// A pairing; its `pairing_uri`.
    pub async fn create_pairing(&self) -> String {
        let request = CreatePairingRequest {
            name: Some("e2e agent".into()),
            ..CreatePairingRequest::default()
        };
        self.client
            .create_pairing(&request)
            .await
            .expect("a pairing")
            .pairing_uri
    }

    pub async fn agent(&self, id: &str) -> AgentView {
        self.client.get_agent(id).await.expect("the agent")
    }

    /// Dispatch a command of the catalogue to the agent; its id.
    pub async fn dispatch(&self, agent: &str, kind: &str, payload: Value) -> String {
        let command = AgentCommand::from_parts(kind, payload).expect("a command of the catalogue");
        self.client
            .dispatch(&DispatchRequest::new(agent, command))
            .await
            .expect("dispatched")
            .id
    }

    /// Wait until the command is done (succeeded, failed, cancelled, expired); the record.
    pub async fn finished(&self, id: &str) -> CommandView {
        let deadline = Deadline::new(format!("command {id} to finish"));
        loop {
            let view = self.client.get_command(id).await;
            if let Ok(view) = &view
                && view.status.is_terminal()
            {
                return view.clone();
            }
            deadline.tick(&view).await;
        }
    }

    /// Dispatch a command and wait until it is done; the record.
    pub async fn run(&self, agent: &str, kind: &str, payload: Value) -> CommandView {
        let id = self.dispatch(agent, kind, payload).await;
        self.finished(&id).await
    }

    /// Wait until the agent heartbeated after `since` (pairing alone shows it online).
    pub async fn wait_heartbeat(&self, agent: &str, since: DateTime<Utc>) -> AgentView {
        let deadline = Deadline::new(format!("agent {agent} to heartbeat"));
        loop {
            let view = self.agent(agent).await;
            if view.online && view.last_seen_at.is_some_and(|at| at > since) {
                return view;
            }
            deadline.tick(&view).await;
        }
    }
}

/// Wait for a child to exit; its exit code.
pub async fn wait_exit(child: &mut Child) -> Option<i32> {
    let deadline = Deadline::new("the agent to exit");
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status.code();
        }
        deadline.tick(&child.id()).await;
    }
}

/// An agent paired through `api` with the fake PVE as its Proxmox, its config and log in a
/// folder of their own (removed with it).
pub struct PairedAgent {
    _dir: tempfile::TempDir,
    pub config: PathBuf,
    pub log: PathBuf,
    pub id: String,
}

impl PairedAgent {
    pub async fn new(api: &Api, fake: &FakePveProcess) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let config = dir.path().join("agent.toml");
        let log = dir.path().join("agent.log");
        let uri = api.create_pairing().await;
        let id = pair(&config, &uri, fake);
        Self {
            _dir: dir,
            config,
            log,
            id,
        }
    }
}

/// `botmox-agent --config <config> <args>`.
pub fn agent(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_botmox-agent"));
    command.arg("--config").arg(config).args(args);
    command
}

/// `botmox-agent pair <uri> --proxmox-url <fake> --proxmox-token <token> --node pve`; the
/// agent id from the config file.
pub fn pair(config: &Path, uri: &str, fake: &FakePveProcess) -> String {
    let out = agent(config, &["pair", uri])
        .args([
            "--proxmox-url",
            &fake.url,
            "--proxmox-token",
            PVE_TOKEN,
            "--node",
            "pve",
        ])
        .output()
        .expect("run botmox-agent pair");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pair failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Paired as agent"), "{stdout}");
    AgentConfig::load(config).expect("config written").agent_id
}

/// `botmox-agent run` with its log in `log`.
pub fn start_agent(config: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    agent(config, &["run", "--concurrency", "4"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start botmox-agent run")
}

/// What the agent logged so far.
pub fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
