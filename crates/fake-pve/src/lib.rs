//! An in-memory fake of the Proxmox VE HTTP API, for tests of code that drives PVE.
//!
//! It follows `spec/proxmox-api.md`: ticket login with CSRF tokens and API tokens, the
//! `{"data":...}` envelope, PVE's error shapes (reason phrase + JSON `message`, `errors` map on
//! 400, empty-bodied 401s, 501 for unknown paths), the loose JSON typing, UPID tasks that run
//! for a while and end `OK` or with PVE's texts, clone placeholders locked `clone`, pending
//! config changes, storage upload and the guest agent. Real PVE is the reference: where this
//! fake and the spec disagree, the fake is wrong.
//!
//! Start it in-process with [`FakePve::start`], or run the `botmox-fake-pve` binary. A fresh
//! fake has template VM 100 on its first node, storages `local` (ISOs) and `local-lvm` (disks).

mod api;
mod auth;
mod params;
mod reply;
mod server;
mod state;
mod storage;
mod tls;
mod vmconfig;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use state::{LoginCounts, RunState};

use state::{Node, Shared, State, Vm, default_storages};

/// How to start a fake.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Cluster node names; the first one holds template VM 100.
    pub nodes: Vec<String>,
    /// Accepted API tokens, `USER@REALM!TOKENID=SECRET`.
    pub tokens: Vec<String>,
    /// Users that can log in with a password: `(user@realm, password)`.
    pub users: Vec<(String, String)>,
    /// Duration of every task; `None` uses the per-type defaults of the spec (0.2 s to 2 s).
    pub task_duration: Option<Duration>,
    /// Durations of tasks of some types (`qmclone`, `qmstart`, ...), over `task_duration`:
    /// real-world proportions for benchmarks.
    pub task_durations: BTreeMap<String, Duration>,
    /// Serve HTTPS with a self-signed certificate instead of plain HTTP.
    pub tls: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nodes: vec!["pve".to_owned()],
            tokens: Vec::new(),
            users: Vec::new(),
            task_duration: None,
            task_durations: BTreeMap::new(),
            tls: false,
        }
    }
}

/// A running fake. Dropping it stops the server.
pub struct FakePve {
    url: String,
    fingerprint: Option<String>,
    cert_pem: Option<String>,
    state: FakeState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl FakePve {
    /// Bind, build the initial state and serve in the background (on the current runtime).
    pub async fn start(config: FakeConfig) -> io::Result<Self> {
        let invalid = |text: String| io::Error::new(io::ErrorKind::InvalidInput, text);
        if config.nodes.is_empty() {
            return Err(invalid("at least one node is needed".into()));
        }
        for node in &config.nodes {
            if !params::is_node_name(node) {
                return Err(invalid(format!("invalid node name '{node}'")));
            }
        }
        let mut tokens = BTreeMap::new();
        for token in &config.tokens {
            let (id, secret) = token
                .rsplit_once('=')
                .filter(|(id, s)| id.contains('@') && id.contains('!') && !s.is_empty())
                .ok_or_else(|| {
                    invalid(format!(
                        "invalid API token '{token}', expected USER@REALM!ID=SECRET"
                    ))
                })?;
            tokens.insert(id.to_owned(), secret.to_owned());
        }
        let mut users = BTreeMap::new();
        for (user, password) in &config.users {
            if !user.contains('@') {
                return Err(invalid(format!("user '{user}' needs a realm (user@realm)")));
            }
            users.insert(user.clone(), password.clone());
        }

        let nodes = config
            .nodes
            .iter()
            .map(|name| Node {
                name: name.clone(),
                storages: default_storages(),
            })
            .collect();
        let mut initial = State::new(nodes);
        let template = template_config(initial.now());
        let serial = initial.next_serial();
        initial
            .vms
            .insert(100, Vm::new(&config.nodes[0], template, serial));
        let durations = state::Durations {
            every: config.task_duration,
            by_type: config.task_durations.clone(),
        };
        let shared = Arc::new(Shared::new(initial, users, tokens, durations));

        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (acceptor, fingerprint, cert_pem) = if config.tls {
            let cert = tls::self_signed()?;
            (Some(cert.acceptor), Some(cert.fingerprint), Some(cert.pem))
        } else {
            (None, None, None)
        };
        let app = Arc::new(server::App {
            shared: shared.clone(),
            fingerprint: fingerprint
                .clone()
                .unwrap_or_else(|| tls::fingerprint(config.nodes[0].as_bytes())),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let server = tokio::spawn(server::serve(
            listener,
            server::router(app),
            acceptor,
            stop_rx,
        ));
        let scheme = if config.tls { "https" } else { "http" };
        Ok(Self {
            url: format!("{scheme}://{addr}"),
            fingerprint,
            cert_pem,
            state: FakeState { shared },
            stop: Some(stop_tx),
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:<port>` (or `https://`); the API is under `/api2/json`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `AA:BB:...` SHA-256 fingerprint of the TLS certificate, when serving TLS.
    pub fn cert_fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// The TLS certificate (PEM), when serving TLS; usable as a trust anchor.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// Inspect the state and inject failures.
    pub fn state(&self) -> &FakeState {
        &self.state
    }

    /// Stop accepting, close connections and wait for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for FakePve {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The config of the initial template VM 100: a Windows 11 template with one 64 GiB disk.
fn template_config(now: u64) -> BTreeMap<String, String> {
    let entries = [
        ("agent", "1".to_owned()),
        ("boot", "order=sata0;ide2;net0".to_owned()),
        ("cores", "4".to_owned()),
        ("cpu", "host".to_owned()),
        ("ide2", "none,media=cdrom".to_owned()),
        ("machine", "pc-q35-9.0".to_owned()),
        ("memory", "8192".to_owned()),
        ("meta", format!("creation-qemu=9.0.2,ctime={now}")),
        ("name", "win11-template".to_owned()),
        (
            "net0",
            format!("virtio={},bridge=vmbr0,firewall=1", vmconfig::random_mac()),
        ),
        ("numa", "0".to_owned()),
        ("ostype", "win11".to_owned()),
        ("sata0", "local-lvm:base-100-disk-0,size=64G".to_owned()),
        ("scsihw", "virtio-scsi-single".to_owned()),
        ("smbios1", format!("uuid={}", uuid::Uuid::new_v4())),
        ("sockets", "1".to_owned()),
        ("template", "1".to_owned()),
        ("vmgenid", uuid::Uuid::new_v4().to_string()),
    ];
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// A snapshot of one VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmView {
    pub vmid: u32,
    pub node: String,
    pub run: RunState,
    pub lock: Option<String>,
    /// Applied config.
    pub config: BTreeMap<String, String>,
    /// Changes waiting for the next start.
    pub pending: BTreeMap<String, String>,
}

/// Handle on the fake's state: inspection and failure injection.
#[derive(Clone)]
pub struct FakeState {
    shared: Arc<Shared>,
}

impl FakeState {
    pub fn vm(&self, vmid: u32) -> Option<VmView> {
        let state = self.shared.lock();
        state.vms.get(&vmid).map(|vm| VmView {
            vmid,
            node: vm.node.clone(),
            run: vm.run,
            lock: vm.lock().map(str::to_owned),
            config: vm.config.clone(),
            pending: vm.pending.clone(),
        })
    }

    pub fn vm_ids(&self) -> Vec<u32> {
        self.shared.lock().vms.keys().copied().collect()
    }

    /// ISO file names on a storage.
    pub fn iso_files(&self, node: &str, storage: &str) -> Vec<String> {
        let state = self.shared.lock();
        state
            .node(node)
            .and_then(|n| n.storages.get(storage))
            .map(|s| s.isos.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Size and hex SHA-256 of an uploaded ISO file.
    pub fn iso_file(&self, node: &str, storage: &str, name: &str) -> Option<(u64, String)> {
        let state = self.shared.lock();
        let file = state.node(node)?.storages.get(storage)?.isos.get(name)?;
        Some((file.size, file.sha256.clone()))
    }

    /// The next task of `task_type` (`qmstart`, `qmclone`, ...) that would succeed ends with
    /// `exitstatus` instead, changing nothing (a failed clone removes its placeholder).
    pub fn fail_next_task(&self, task_type: &str, exitstatus: &str) {
        self.shared
            .lock()
            .injected
            .entry(task_type.to_owned())
            .or_default()
            .push_back(exitstatus.to_owned());
    }

    /// Make a VM's guest agent answer or not.
    pub fn set_guest_agent(&self, vmid: u32, up: bool) {
        if let Some(vm) = self.shared.lock().vms.get_mut(&vmid) {
            vm.agent_up = up;
        }
    }

    /// While held, no task finishes (they stay `running`); release to let them end. Makes
    /// states like "clone in progress" observable without relying on timing.
    pub fn hold_tasks(&self, held: bool) {
        self.shared.hold.send_replace(held);
    }

    /// Move the fake clock forward (tickets and CSRF tokens expire after 2 hours).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.lock().clock_offset += by;
    }

    pub fn login_counts(&self) -> LoginCounts {
        self.shared.lock().logins
    }
}
