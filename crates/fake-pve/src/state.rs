//! The in-memory cluster: nodes with storages, VMs with config, pending changes, run state and
//! lock, tasks, the fake clock and the failure-injection knobs (spec section 9).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::auth::Caller;
use crate::reply::ApiError;

/// Process start time in clock ticks, the same for every task (one fake worker "boot").
pub(crate) const PSTART: u32 = 0x01B4_C5D6;

/// Everything the request handlers and task workers share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// `true` while tasks are held (they do not finish until released).
    pub(crate) hold: watch::Sender<bool>,
    /// Key of the ticket and CSRF token signatures.
    pub(crate) secret: [u8; 32],
    /// `user@realm` -> password.
    pub(crate) users: BTreeMap<String, String>,
    /// `user@realm!tokenid` -> secret.
    pub(crate) tokens: BTreeMap<String, String>,
    pub(crate) durations: Durations,
}

/// How long tasks run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Durations {
    /// Fixed duration of every task, or `None` for the per-type defaults of spec section 9.
    pub(crate) every: Option<Duration>,
    /// Per task type, over `every`.
    pub(crate) by_type: BTreeMap<String, Duration>,
}

impl Shared {
    pub(crate) fn new(
        state: State,
        users: BTreeMap<String, String>,
        tokens: BTreeMap<String, String>,
        durations: Durations,
    ) -> Self {
        Self {
            state: Mutex::new(state),
            hold: watch::channel(false).0,
            secret: rand::random(),
            users,
            tokens,
            durations,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn duration_for(&self, task_type: &str) -> Duration {
        if let Some(d) = self.durations.by_type.get(task_type) {
            return *d;
        }
        if let Some(d) = self.durations.every {
            return d;
        }
        Duration::from_millis(match task_type {
            "qmstart" | "qmshutdown" | "qmreboot" | "qmdestroy" => 1000,
            "qmstop" => 500,
            "qmclone" => 2000,
            _ => 200,
        })
    }
}

/// Per-login-kind counters (for tests of ticket renewal).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginCounts {
    /// Logins with the password.
    pub password: u64,
    /// Renewals with a still-valid ticket as password.
    pub ticket: u64,
    /// Refused logins.
    pub failed: u64,
}

pub(crate) struct State {
    pub(crate) nodes: Vec<Node>,
    pub(crate) vms: BTreeMap<u32, Vm>,
    pub(crate) tasks: HashMap<String, Task>,
    next_pid: u32,
    pub(crate) clock_offset: Duration,
    /// Task type -> exit texts to use for its next tasks.
    pub(crate) injected: HashMap<String, VecDeque<String>>,
    pub(crate) logins: LoginCounts,
    serial: u64,
}

pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) storages: BTreeMap<String, Storage>,
}

pub(crate) struct Storage {
    /// `dir` or `lvmthin`.
    pub(crate) plugin: &'static str,
    pub(crate) content: &'static [&'static str],
    pub(crate) total: u64,
    /// ISO file name -> file.
    pub(crate) isos: BTreeMap<String, IsoFile>,
}

impl Storage {
    pub(crate) fn supports(&self, content: &str) -> bool {
        self.content.contains(&content)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct IsoFile {
    pub(crate) size: u64,
    pub(crate) ctime: u64,
    /// Hex SHA-256 of the uploaded bytes, so tests can check what arrived.
    pub(crate) sha256: String,
    /// The bytes themselves when the file is small (a config ISO), so a test can read the
    /// image as the VM would; see [`KEPT_UPLOAD_BYTES`].
    pub(crate) bytes: Option<std::sync::Arc<Vec<u8>>>,
}

/// Uploads up to this size are kept in memory whole.
pub(crate) const KEPT_UPLOAD_BYTES: u64 = 4 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Stopped,
    Running,
    /// QEMU paused (`status` stays `running`, `qmpstatus` is `paused`).
    Paused,
}

pub(crate) struct Vm {
    pub(crate) node: String,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) pending: BTreeMap<String, String>,
    pub(crate) pending_delete: BTreeSet<String>,
    pub(crate) run: RunState,
    pub(crate) pid: u32,
    pub(crate) started: u64,
    /// The simulated guest agent answers (when the VM runs and the config enables it).
    pub(crate) agent_up: bool,
    /// Bumped on every write; feeds the digest.
    pub(crate) serial: u64,
}

impl Vm {
    pub(crate) fn new(node: &str, config: BTreeMap<String, String>, serial: u64) -> Self {
        Self {
            node: node.to_owned(),
            config,
            pending: BTreeMap::new(),
            pending_delete: BTreeSet::new(),
            run: RunState::Stopped,
            pid: 0,
            started: 0,
            agent_up: true,
            serial,
        }
    }

    pub(crate) fn lock(&self) -> Option<&str> {
        self.config.get("lock").map(String::as_str)
    }

    pub(crate) fn is_template(&self) -> bool {
        self.config.get("template").map(String::as_str) == Some("1")
    }

    pub(crate) fn is_running(&self) -> bool {
        self.run != RunState::Stopped
    }

    /// Config with pending values merged in and pending deletions removed.
    pub(crate) fn merged(&self) -> BTreeMap<String, String> {
        let mut merged = self.config.clone();
        for (k, v) in &self.pending {
            merged.insert(k.clone(), v.clone());
        }
        for k in &self.pending_delete {
            merged.remove(k);
        }
        merged
    }

    /// Apply pending changes (what a start or reboot does).
    pub(crate) fn apply_pending(&mut self) {
        self.config = self.merged();
        self.pending.clear();
        self.pending_delete.clear();
    }

    /// 40 hex digits that change with every write.
    pub(crate) fn digest(&self) -> String {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(self.serial.to_be_bytes());
        for (k, v) in &self.config {
            hasher.update(format!("{k}: {v}\n"));
        }
        hasher.update("[PENDING]\n");
        for (k, v) in &self.pending {
            hasher.update(format!("{k}: {v}\n"));
        }
        let mut hex = hex::encode(hasher.finalize());
        hex.truncate(40);
        hex
    }
}

/// A task; `exitstatus` is `None` while it runs.
pub(crate) struct Task {
    pub(crate) upid: String,
    pub(crate) node: String,
    pub(crate) task_type: String,
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) tokenid: Option<String>,
    pub(crate) pid: u32,
    pub(crate) starttime: u64,
    pub(crate) exitstatus: Option<String>,
    pub(crate) log: Vec<String>,
}

/// What a task does when it ends (after its duration, and after any hold is released). It
/// gets the text injected for its type, if any, and returns the error text on failure.
pub(crate) type Effect = Box<dyn FnOnce(&mut State, Option<String>) -> Result<(), String> + Send>;

/// How a task ends.
pub(crate) enum Outcome {
    /// A precondition failed when the task began: it ends with this text, changing nothing.
    Fail(String),
    Run(Effect),
}

/// An outcome whose effect is skipped when a failure was injected.
pub(crate) fn effect(f: impl FnOnce(&mut State) -> Result<(), String> + Send + 'static) -> Outcome {
    Outcome::Run(Box::new(move |state, injected| match injected {
        Some(text) => Err(text),
        None => f(state),
    }))
}

impl State {
    pub(crate) fn new(nodes: Vec<Node>) -> Self {
        Self {
            nodes,
            vms: BTreeMap::new(),
            tasks: HashMap::new(),
            next_pid: 0x0004_0000,
            clock_offset: Duration::ZERO,
            injected: HashMap::new(),
            logins: LoginCounts::default(),
            serial: 0,
        }
    }

    /// Unix seconds on the fake clock.
    pub(crate) fn now(&self) -> u64 {
        (SystemTime::now() + self.clock_offset)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    }

    pub(crate) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// The node a path names (`localhost` is the first node); unknown names fail as a DNS
    /// lookup does on a real cluster.
    pub(crate) fn resolve_node(&self, name: &str) -> Result<String, ApiError> {
        if name == "localhost" {
            return Ok(self.nodes[0].name.clone());
        }
        if self.nodes.iter().any(|n| n.name == name) {
            return Ok(name.to_owned());
        }
        Err(ApiError::fail(format!(
            "hostname lookup '{name}' failed - failed to get address info for: {name}: Name or service not known"
        )))
    }

    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub(crate) fn node_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    /// The VM if its config lives on `node`.
    pub(crate) fn vm_on(&self, node: &str, vmid: u32) -> Option<&Vm> {
        self.vms.get(&vmid).filter(|vm| vm.node == node)
    }

    pub(crate) fn vm_on_mut(&mut self, node: &str, vmid: u32) -> Option<&mut Vm> {
        self.vms.get_mut(&vmid).filter(|vm| vm.node == node)
    }

    /// The lowest id >= 100 not used anywhere in the cluster.
    pub(crate) fn next_free_id(&self) -> u32 {
        (100..).find(|id| !self.vms.contains_key(id)).unwrap_or(100)
    }

    pub(crate) fn storage(&self, node: &str, storage: &str) -> Result<&Storage, ApiError> {
        self.node(node)
            .and_then(|n| n.storages.get(storage))
            .ok_or_else(|| ApiError::fail(format!("storage '{storage}' does not exist")))
    }

    /// Start a task: it is known (`running`) at once and ends after its duration with the
    /// outcome's exit status. Returns the UPID.
    pub(crate) fn start_task(
        &mut self,
        shared: &Arc<Shared>,
        node: &str,
        task_type: &str,
        id: &str,
        caller: &Caller,
        outcome: Outcome,
    ) -> String {
        let pid = self.next_pid;
        self.next_pid += 1;
        let starttime = self.now();
        let upid = format!(
            "UPID:{node}:{pid:08X}:{PSTART:08X}:{starttime:08X}:{task_type}:{id}:{}:",
            caller.userid
        );
        let injected = match outcome {
            Outcome::Run(_) => self
                .injected
                .get_mut(task_type)
                .and_then(VecDeque::pop_front),
            Outcome::Fail(_) => None,
        };
        self.tasks.insert(
            upid.clone(),
            Task {
                upid: upid.clone(),
                node: node.to_owned(),
                task_type: task_type.to_owned(),
                id: id.to_owned(),
                user: caller.owner.clone(),
                tokenid: caller.tokenid.clone(),
                pid,
                starttime,
                exitstatus: None,
                log: Vec::new(),
            },
        );
        let shared = shared.clone();
        let duration = shared.duration_for(task_type);
        let task_upid = upid.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            let mut held = shared.hold.subscribe();
            // The sender lives in `shared`, so this only returns once the hold is off.
            let _ = held.wait_for(|held| !*held).await;
            let mut state = shared.lock();
            let result = match outcome {
                Outcome::Fail(text) => Err(text),
                Outcome::Run(effect) => effect(&mut state, injected),
            };
            if let Some(task) = state.tasks.get_mut(&task_upid) {
                match result {
                    Ok(()) => {
                        task.log.push("TASK OK".into());
                        task.exitstatus = Some("OK".into());
                    }
                    Err(text) => {
                        let text = text.trim_end().replace('\n', " ");
                        task.log.push(format!("TASK ERROR: {text}"));
                        task.exitstatus = Some(text);
                    }
                }
            }
        });
        upid
    }
}

/// The default storages of a node: `local` (directory: ISOs, backups) and `local-lvm`
/// (LVM-thin: VM disks).
pub(crate) fn default_storages() -> BTreeMap<String, Storage> {
    let mut storages = BTreeMap::new();
    storages.insert(
        "local".to_owned(),
        Storage {
            plugin: "dir",
            content: &["iso", "backup"],
            total: 100 << 30,
            isos: BTreeMap::new(),
        },
    );
    storages.insert(
        "local-lvm".to_owned(),
        Storage {
            plugin: "lvmthin",
            content: &["images", "rootdir"],
            total: 1 << 40,
            isos: BTreeMap::new(),
        },
    );
    storages
}
