//! The server-side VM pipeline (`/api/v1/vm-jobs`): a batch of VMs to create from a
//! template, each a persisted job that walks its steps (clone, resize, configure, register,
//! config ISO, attach, start, boot keys, wait for Windows, detach), and delete jobs. The
//! bodies, views and the words of states and steps.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::provisioning::{IpConfig, PlaybookChoice};
use crate::validate::{FieldErrors, Validate};

/// SSE event name of a job's change on `/vm-ops/events` (its `data.job` is a [`JobView`]).
pub const EVENT_VM_JOB: &str = "vm-job";
/// Prefix of a job event's `event_type` (`vm-job.running`, `vm-job.completed`, ...).
pub const JOB_EVENT_PREFIX: &str = "vm-job.";

/// Most VMs in one batch.
pub const MAX_BATCH: u32 = 100;
/// Most jobs of one batch in their Proxmox phase at once.
pub const MAX_CONCURRENCY: u32 = 32;
/// Jobs of a batch in their Proxmox phase at once, unless the batch says.
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// Key presses sent after start (one a second) to pass "Press any key to boot from CD".
pub const DEFAULT_BOOT_KEYS: u32 = 5;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a slot (the batch's concurrency, the server's cap).
    Queued,
    /// Running its Proxmox steps.
    Running,
    /// The VM is installing Windows and reports its own progress.
    WaitingForWindows,
    Completed,
    Failed,
    Cancelled,
}

wire_words!(
    JobState,
    "job state",
    [
        Queued = "queued",
        Running = "running",
        WaitingForWindows = "waiting_for_windows",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    ]
);

impl JobState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Create,
    Delete,
}

wire_words!(JobKind, "job kind", [Create = "create", Delete = "delete"]);

/// A job's steps. A create job: reserve -> clone -> inspect -> resize -> configure ->
/// register -> iso -> attach -> start -> boot_keys -> wait_windows -> detach -> done. A
/// delete job: lookup -> stop -> destroy -> deactivate -> done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStep {
    /// Pick a VM id free on the node and among the other jobs.
    Reserve,
    /// Full clone of the template.
    Clone,
    /// Read the clone's config (disk, CD-ROM drives, SMBIOS).
    Inspect,
    Resize,
    /// Cores, memory, network and the SMBIOS UUID.
    Configure,
    /// The VM registry, with the UUID set on the clone.
    Register,
    /// Payload (and its provisioning token), then the config ISO on the node.
    Iso,
    Attach,
    Start,
    BootKeys,
    WaitWindows,
    /// Eject and delete the config ISO.
    Detach,
    /// Read the VM's config and status (delete jobs).
    Lookup,
    Stop,
    Destroy,
    /// Deactivate the VM in the registry.
    Deactivate,
    Done,
}

wire_words!(
    JobStep,
    "job step",
    [
        Reserve = "reserve",
        Clone = "clone",
        Inspect = "inspect",
        Resize = "resize",
        Configure = "configure",
        Register = "register",
        Iso = "iso",
        Attach = "attach",
        Start = "start",
        BootKeys = "boot_keys",
        WaitWindows = "wait_windows",
        Detach = "detach",
        Lookup = "lookup",
        Stop = "stop",
        Destroy = "destroy",
        Deactivate = "deactivate",
        Done = "done",
    ]
);

/// The IP settings of a batch: VM n (from 0) gets `address + n`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchIp {
    /// The first VM's address.
    #[schema(example = "192.168.10.50")]
    pub first_address: String,
    #[serde(default = "default_netmask")]
    #[schema(example = "255.255.255.0")]
    pub netmask: String,
    #[schema(example = "192.168.10.1")]
    pub gateway: String,
    /// Default `["8.8.8.8"]`.
    #[serde(default = "default_dns")]
    #[schema(min_items = 1, max_items = 4)]
    pub dns: Vec<String>,
}

fn default_netmask() -> String {
    "255.255.255.0".into()
}

fn default_dns() -> Vec<String> {
    vec!["8.8.8.8".into()]
}

impl BatchIp {
    /// The IP settings of VM `n` of the batch (`None` past the IPv4 space).
    pub fn nth(&self, n: u32) -> Option<IpConfig> {
        let first: Ipv4Addr = self.first_address.trim().parse().ok()?;
        let address = u32::from(first).checked_add(n)?;
        Some(IpConfig {
            address: Ipv4Addr::from(address).to_string(),
            netmask: self.netmask.clone(),
            gateway: self.gateway.clone(),
            dns: self.dns.clone(),
        })
    }
}

/// `POST /vm-jobs`: create `count` VMs from a template, each a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBatchRequest {
    /// The agent that runs the Proxmox commands (yours; admins: any of the tenant's).
    #[schema(max_length = 200, pattern = "\\S")]
    pub agent_id: String,
    /// Which of the agent's Proxmox targets (default: its active one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub target: Option<String>,
    /// Proxmox node (default: the target's node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$", example = "pve")]
    pub node: Option<String>,
    #[schema(minimum = 1, maximum = 999999999, example = 100)]
    pub template_vmid: u32,
    /// Storage of the clones' disks (default: the template's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64, example = "local-lvm")]
    pub storage: Option<String>,
    /// Where the config ISOs go (default `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64, example = "local")]
    pub iso_storage: Option<String>,
    /// 1 to 100.
    #[schema(minimum = 1, maximum = 100, example = 5)]
    pub count: u32,
    /// VM names are `<prefix><vmid>` (default `vm-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 40, example = "wow-")]
    pub name_prefix: Option<String>,
    /// Default: the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 128)]
    pub cores: Option<u32>,
    /// MiB; default: the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 512, maximum = 1048576)]
    pub memory_mb: Option<u32>,
    /// GiB of the boot disk; grown to this size, never shrunk (default: the template's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 65536)]
    pub disk_gib: Option<u32>,
    /// Bridge of `net0` (default: the template's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 16, example = "vmbr1")]
    pub bridge: Option<String>,
    /// Project of the registry entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100, example = "wow_tbc")]
    pub project_id: Option<String>,
    /// Unattend profile (default: the owner's default profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub profile_id: Option<String>,
    /// Absent: the owner's default playbook; `"none"`: no playbook; else an id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, example = "none")]
    pub playbook_id: Option<String>,
    pub ip: BatchIp,
    /// Jobs of this batch in their Proxmox phase at once, 1 to 32 (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 32)]
    pub concurrency: Option<u32>,
    /// Key presses after start, one a second, 0 to 30 (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 30)]
    pub boot_keys: Option<u32>,
    /// Accept the batch while the agent is offline (its commands wait for it); otherwise
    /// 409 `AGENT_OFFLINE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_if_offline: Option<bool>,
}

fn is_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with(['-', '.'])
}

impl CreateBatchRequest {
    pub fn concurrency(&self) -> u32 {
        self.concurrency.unwrap_or(DEFAULT_CONCURRENCY)
    }

    pub fn boot_keys(&self) -> u32 {
        self.boot_keys.unwrap_or(DEFAULT_BOOT_KEYS)
    }

    pub fn playbook(&self) -> Option<PlaybookChoice> {
        self.playbook_id.as_deref().map(|p| {
            if p.trim().eq_ignore_ascii_case("none") {
                PlaybookChoice::None
            } else {
                PlaybookChoice::Id(p.trim().to_owned())
            }
        })
    }
}

impl Validate for CreateBatchRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("agent_id", &self.agent_id, 200);
        let name = |e: &mut FieldErrors, field: &str, v: Option<&str>, max: usize| {
            if let Some(v) = v {
                e.check(
                    field,
                    is_name(v, max),
                    format!("must be 1 to {max} letters, digits, '-', '_' or '.'"),
                );
            }
        };
        name(&mut e, "node", self.node.as_deref(), 63);
        name(&mut e, "storage", self.storage.as_deref(), 64);
        name(&mut e, "iso_storage", self.iso_storage.as_deref(), 64);
        name(&mut e, "bridge", self.bridge.as_deref(), 16);
        e.max_chars("target", self.target.as_deref(), 200);
        e.max_chars("project_id", self.project_id.as_deref(), 100);
        e.max_chars("profile_id", self.profile_id.as_deref(), 200);
        e.max_chars("playbook_id", self.playbook_id.as_deref(), 200);
        e.in_range("template_vmid", Some(self.template_vmid), 1, 999_999_999);
        e.in_range("count", Some(self.count), 1, MAX_BATCH);
        e.in_range("cores", self.cores, 1, 128);
        e.in_range("memory_mb", self.memory_mb, 512, 1_048_576);
        e.in_range("disk_gib", self.disk_gib, 1, 65_536);
        e.in_range("concurrency", self.concurrency, 1, MAX_CONCURRENCY);
        e.in_range("boot_keys", self.boot_keys, 0, 30);
        if let Some(prefix) = &self.name_prefix {
            // A DNS label with the VM id after it.
            e.check(
                "name_prefix",
                prefix.len() <= 40
                    && prefix
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !prefix.starts_with('-'),
                "must be up to 40 letters, digits or '-', not starting with '-'",
            );
        }
        match self.ip.nth(0) {
            None => e.add("ip.first_address", "must be an IPv4 address"),
            Some(first) => {
                if let Err(problems) = first.validate() {
                    e.merge_under("ip", problems);
                }
                // Every address of the batch in the first one's subnet.
                if let (Some(last), Ok(prefix)) = (
                    self.ip.nth(self.count.saturating_sub(1)),
                    crate::provisioning::netmask_prefix(&self.ip.netmask),
                ) {
                    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                    let net = |a: &str| a.parse::<Ipv4Addr>().map(|a| u32::from(a) & mask).ok();
                    e.check(
                        "ip.first_address",
                        net(&first.address) == net(&last.address),
                        "the batch's addresses must all be in its subnet",
                    );
                } else if self.count > 1 {
                    e.add("ip.first_address", "the batch's addresses run out of IPv4");
                }
            }
        }
        e.into_result()
    }
}

/// `POST /vm-jobs/delete`: stop and delete a VM on Proxmox and deactivate it in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeleteJobRequest {
    #[schema(max_length = 200, pattern = "\\S")]
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$", example = "pve")]
    pub node: Option<String>,
    #[schema(minimum = 1, maximum = 999999999, example = 101)]
    pub vmid: u32,
    /// Accept the job while the agent is offline; otherwise 409 `AGENT_OFFLINE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_if_offline: Option<bool>,
}

impl Validate for CreateDeleteJobRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("agent_id", &self.agent_id, 200);
        if let Some(node) = &self.node {
            e.check(
                "node",
                is_name(node, 63),
                "must be 1 to 63 letters, digits, '-', '_' or '.'",
            );
        }
        e.max_chars("target", self.target.as_deref(), 200);
        e.in_range("vmid", Some(self.vmid), 1, 999_999_999);
        e.into_result()
    }
}

/// `GET /vm-jobs`: filters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobListQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 64)]
    pub batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
}

impl Validate for JobListQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("batch_id", self.batch_id.as_deref(), 64);
        e.into_result()
    }
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobError {
    pub step: JobStep,
    /// The agent's code (`PVE_TASK_FAILED`, `ISO_CREATE_FAILED`, ...) or the server's.
    pub code: String,
    pub message: String,
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub batch_id: Option<String>,
    pub kind: JobKind,
    pub state: JobState,
    pub step: JobStep,
    /// The command the current step waits for.
    pub step_command_id: Option<String>,
    pub owner_user_id: String,
    pub agent_id: String,
    pub target: Option<String>,
    pub node: Option<String>,
    pub template_vmid: Option<u32>,
    pub storage: Option<String>,
    pub vmid: Option<u32>,
    pub vm_name: Option<String>,
    pub vm_uuid: Option<String>,
    pub cores: Option<u32>,
    pub memory_mb: Option<u32>,
    pub disk_gib: Option<u32>,
    pub bridge: Option<String>,
    pub profile_id: Option<String>,
    pub playbook_id: Option<String>,
    pub ip: Option<IpConfig>,
    pub iso_path: Option<String>,
    pub cdrom_slot: Option<String>,
    pub token_id: Option<String>,
    /// The VM's last progress report (step, status, message), while it installs.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
    pub cancel_requested: bool,
    pub error: Option<JobError>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// One entry of a job's step history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobStepView {
    pub step: JobStep,
    /// `started`, `succeeded`, `failed`, `skipped` or `cancelled`.
    pub status: String,
    pub command_id: Option<String>,
    pub detail: Option<String>,
    pub at: i64,
}

/// A job with its step history (`GET /vm-jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobView,
    pub steps: Vec<JobStepView>,
}

/// A batch as created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchView {
    pub id: String,
    pub agent_id: String,
    pub count: u32,
    pub concurrency: u32,
    pub jobs: Vec<JobView>,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> CreateBatchRequest {
        serde_json::from_value(serde_json::json!({
            "agent_id": "a", "template_vmid": 100, "count": 3,
            "ip": {"first_address": "192.168.10.50", "gateway": "192.168.10.1"}
        }))
        .unwrap()
    }

    #[test]
    fn a_batch_numbers_its_addresses_within_the_subnet() {
        let b = batch();
        assert!(b.validate().is_ok());
        assert_eq!(b.ip.nth(2).unwrap().address, "192.168.10.52");
        let mut wide = b.clone();
        wide.count = 100;
        wide.ip.first_address = "192.168.10.200".into();
        let e = wide.validate().unwrap_err();
        assert!(e.get("ip.first_address").is_some(), "{e:?}");
        let mut bad = b;
        bad.concurrency = Some(0);
        bad.name_prefix = Some("a b".into());
        bad.storage = Some("../x".into());
        let e = bad.validate().unwrap_err();
        for field in ["concurrency", "name_prefix", "storage"] {
            assert!(e.get(field).is_some(), "{field}: {e:?}");
        }
    }

    #[test]
    fn words_round_trip() {
        for s in JobStep::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in JobState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
