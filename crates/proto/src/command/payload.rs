//! The payload of each command of the catalogue (spec agent-and-vm-ops.md §5.3), keyed
//! exactly as the reference spells them. Every payload also takes the `node` and `target`
//! the reference UI adds. Nothing here carries a credential: the agent uses its own.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::validate::{FieldErrors, Validate, lenient_opt, lenient_u64};

/// What every payload offers the command code: where it runs, and which keys it takes.
pub trait Payload: Serialize + DeserializeOwned + Validate + ToSchema {
    /// The Proxmox node named in the payload (the agent defaults to its target's node).
    fn node(&self) -> Option<&str>;
    /// The agent's Proxmox target named in the payload (the agent defaults to its active one).
    fn target(&self) -> Option<&str>;
    /// Why `key` may not appear in this payload, or `None` when it may.
    fn key_problem(key: &str) -> Option<String> {
        let known = super::known_keys::<Self>();
        (!known.contains(&key)).then(|| format!("unknown key (allowed: {})", known.join(", ")))
    }
}

/// Declares a payload struct with the shared `node` and `target` keys and its [`Payload`] impl.
macro_rules! payload {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            $($body)*
            /// Proxmox node (default: the target's node).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$", example = "h1")]
            pub node: Option<String>,
            /// Which of the agent's Proxmox targets (default: its active one).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schema(pattern = r"^[A-Za-z0-9|._:@-]{1,200}$")]
            pub target: Option<String>,
        }

        impl Payload for $name {
            fn node(&self) -> Option<&str> {
                self.node.as_deref()
            }
            fn target(&self) -> Option<&str> {
                self.target.as_deref()
            }
        }

        impl Validate for $name {
            fn validate(&self) -> Result<(), FieldErrors> {
                validate_payload(self)
            }
        }
    };
}

/// A payload's own limits, beyond its types and the `node`/`target` rules every payload
/// shares; none unless it says.
trait Limits {
    fn check(&self, _e: &mut FieldErrors) {}
}

/// The shared `node`/`target` rules, then `p`'s own limits.
fn validate_payload<P: Payload + Limits>(p: &P) -> Result<(), FieldErrors> {
    let mut e = FieldErrors::new();
    NODE.check(&mut e, "node", p.node());
    TARGET.check(&mut e, "target", p.target());
    p.check(&mut e);
    e.into_result()
}

/// A Proxmox VM id: 1 to 999999999 (the highest Proxmox gives), sent by the reference UI as
/// a number or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct VmId(u32);

impl VmId {
    pub const MAX: u32 = 999_999_999;

    /// `None` for 0 and past [`Self::MAX`].
    pub fn new(id: u32) -> Option<Self> {
        (1..=Self::MAX).contains(&id).then_some(Self(id))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for VmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for VmId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = lenient_u64(d)?;
        u32::try_from(n)
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| serde::de::Error::custom("must be a VM id, 1 to 999999999"))
    }
}

impl PartialSchema for VmId {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .description(Some(
                "A VM id, 1 to 999999999, or the same as a numeric string",
            ))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(Self::MAX)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^0*[1-9][0-9]{0,8}$")),
            )
            .examples([Value::from(101)])
            .into()
    }
}

impl ToSchema for VmId {}

/// Disk image format of a clone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    Raw,
    Qcow2,
    Vmdk,
}

/// A VM's run state as Proxmox reports it in `status/current.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VmState {
    Running,
    Stopped,
}

/// Kind of resource of `GET /cluster/resources?type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    Vm,
    Storage,
    Node,
    Sdn,
}

// ---------------------------------------------------------------------------------------
// Names and values the agent puts into Proxmox paths, parameters and files: checked here, so
// a payload cannot steer the agent outside what the command means.

/// A kind of text a payload value must be, and how to say it.
struct Form {
    ok: fn(&str) -> bool,
    what: &'static str,
}

impl Form {
    /// Record a problem for `field` when `value` is given and not of this form.
    fn check(&self, e: &mut FieldErrors, field: &str, value: Option<&str>) {
        if value.is_some_and(|v| !(self.ok)(v)) {
            e.add(field, format!("must be {}", self.what));
        }
    }
}

/// `s` has 1..=`max` characters, the first passing `first`, the others `rest`.
fn chars_ok(s: &str, max: usize, first: fn(char) -> bool, rest: fn(char) -> bool) -> bool {
    let mut chars = s.chars();
    s.chars().count() <= max && chars.next().is_some_and(first) && chars.all(rest)
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `<prefix><n>` with `n` at most the prefix's highest number.
fn is_drive(s: &str, kinds: &[(&str, u8)]) -> bool {
    kinds.iter().any(|(prefix, max)| {
        s.strip_prefix(prefix).is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 3
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<u16>().is_ok_and(|n| n <= u16::from(*max))
        })
    })
}

const DISKS: &[(&str, u8)] = &[
    ("ide", 3),
    ("sata", 5),
    ("scsi", 30),
    ("virtio", 15),
    ("efidisk", 0),
    ("tpmstate", 0),
];
const CDROM_SLOTS: &[(&str, u8)] = &[("ide", 3), ("sata", 5), ("scsi", 30)];

/// `[+]<digits>[.<digits>][K|M|G|T]`, as Proxmox's resize takes it.
fn is_disk_size(s: &str) -> bool {
    let s = s.strip_prefix('+').unwrap_or(s);
    let s = s.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(s);
    let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
    let digits = |p: &str| !p.is_empty() && p.len() <= 12 && p.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

fn is_storage_id(s: &str) -> bool {
    chars_ok(s, 64, alnum, |c| alnum(c) || matches!(c, '.' | '_' | '-'))
}

fn is_file_name(s: &str) -> bool {
    let rest = |c: char| alnum(c) || matches!(c, '.' | '_' | '-');
    chars_ok(s, 200, |c| alnum(c) || c == '_', rest)
}

fn is_iso_name(s: &str) -> bool {
    is_file_name(s) && s.to_ascii_lowercase().ends_with(".iso")
}

const NODE: Form = Form {
    ok: |s| chars_ok(s, 63, alnum, |c| alnum(c) || matches!(c, '-' | '.')),
    what: "a Proxmox node name (letters, digits, '-' and '.'; at most 63)",
};
const TARGET: Form = Form {
    ok: |s| {
        let rest = |c: char| alnum(c) || matches!(c, '|' | '.' | '_' | ':' | '@' | '-');
        chars_ok(s, 200, rest, rest)
    },
    what: "a target id (letters, digits and |._:@-; at most 200)",
};
const STORAGE: Form = Form {
    ok: is_storage_id,
    what: "a storage id (letters, digits, '.', '_' and '-')",
};
const VM_NAME: Form = Form {
    ok: |s| chars_ok(s, 128, alnum, |c| alnum(c) || matches!(c, '.' | '-')),
    what: "a DNS name (letters, digits, '-' and '.')",
};
const FILE_NAME: Form = Form {
    ok: is_file_name,
    what: "a file name (letters, digits, '.', '_' and '-'; not starting with '.')",
};
const ISO_NAME: Form = Form {
    ok: is_iso_name,
    what: "a file name ending in .iso (letters, digits, '.', '_' and '-')",
};
const ISO_VOLUME: Form = Form {
    ok: |s| {
        s.split_once(':').is_some_and(|(storage, path)| {
            is_storage_id(storage) && path.strip_prefix("iso/").is_some_and(is_iso_name)
        })
    },
    what: "<storage>:iso/<file>.iso",
};
const DISK: Form = Form {
    ok: |s| is_drive(s, DISKS),
    what: "a disk such as scsi0, sata0, virtio0 or ide0",
};
const CDROM_SLOT: Form = Form {
    ok: |s| is_drive(s, CDROM_SLOTS),
    what: "a CD-ROM slot such as ide2, sata1 or scsi3",
};
const DISK_SIZE: Form = Form {
    ok: is_disk_size,
    what: "a size such as +64G or 128G",
};
const UPID: Form = Form {
    ok: |s| s.starts_with("UPID:") && s.len() <= 512 && s.bytes().all(|b| b.is_ascii_graphic()),
    what: "a Proxmox task id: UPID: and printable ASCII, at most 512 characters",
};
const QEMU_KEY: Form = Form {
    ok: |s| {
        let key = |c: char| alnum(c) || matches!(c, '_' | '+' | '-');
        chars_ok(s, 64, key, key)
    },
    what: "a QEMU key name such as a, ret or ctrl-alt-delete",
};
const SSH_HOST: Form = Form {
    ok: |s| {
        chars_ok(
            s,
            253,
            |c| alnum(c) || c == '[',
            |c| alnum(c) || matches!(c, '.' | '-' | ':' | '[' | ']'),
        )
    },
    what: "a host name or IP address",
};
const UNIX_USER: Form = Form {
    ok: |s| {
        chars_ok(
            s,
            64,
            |c| alnum(c) || c == '_',
            |c| alnum(c) || matches!(c, '.' | '_' | '-'),
        )
    },
    what: "a user name (letters, digits, '.', '_' and '-')",
};
const WEB_URL: Form = Form {
    // The URL parser drops tabs and line breaks and escapes other controls, so they are
    // refused before it sees them: the agent passes the text on as given.
    ok: |s| {
        s.len() <= 2048
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    },
    what: "an http or https URL of at most 2048 characters",
};
/// Free text that reaches a Proxmox config: lines, but no other control characters.
const PLAIN_TEXT: Form = Form {
    ok: |s| {
        !s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    },
    what: "text without control characters other than tabs and line breaks",
};

/// The `timeoutMs` of the SSH and ISO commands.
fn check_ssh_timeout(e: &mut FieldErrors, timeout: Option<u64>) {
    e.in_range("timeoutMs", timeout, MIN_TIMEOUT_MS, MAX_SSH_TIMEOUT_MS);
}

/// Milliseconds as a [`Duration`], the default filled in.
fn millis(value: Option<u64>, default: u64) -> Duration {
    Duration::from_millis(value.unwrap_or(default))
}

/// Limits of the polling commands' `timeoutMs`/`intervalMs` and of SSH commands' timeout.
const MIN_TIMEOUT_MS: u64 = 1_000;
const MAX_WAIT_MS: u64 = 1_800_000;
const MAX_PRESENCE_WAIT_MS: u64 = 600_000;
const MAX_SSH_TIMEOUT_MS: u64 = 180_000;
const MIN_INTERVAL_MS: u64 = 250;
const MAX_INTERVAL_MS: u64 = 15_000;
const DEFAULT_INTERVAL_MS: u64 = 1_000;

// ---------------------------------------------------------------------------------------

payload! {
    /// A node's VMs, the Proxmox version, the agent's targets: only where.
    pub struct OnNode {}
}

payload! {
    /// One VM.
    pub struct OnVm {
        pub vmid: VmId,
    }
}

payload! {
    /// `proxmox.clone`: a new VM from a template.
    pub struct CloneVm {
        /// The VM to clone (the reference also calls it `vmid`).
        #[serde(alias = "vmid")]
        pub template_vm_id: VmId,
        /// Id of the new VM (default: Proxmox picks the next free one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub newid: Option<VmId>,
        /// Name of the new VM: a DNS name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$", example = "WoW1")]
        pub name: Option<String>,
        /// Target storage of a full clone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", example = "local-lvm")]
        pub storage: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub format: Option<DiskFormat>,
        /// A full copy instead of a linked clone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub full: Option<bool>,
    }
}

impl Limits for CloneVm {
    fn check(&self, e: &mut FieldErrors) {
        VM_NAME.check(e, "name", self.name.as_deref());
        STORAGE.check(e, "storage", self.storage.as_deref());
    }
}

payload! {
    /// `proxmox.delete`
    pub struct DeleteVm {
        pub vmid: VmId,
        /// Also remove the VM from backup, replication and HA jobs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub purge: Option<bool>,
        /// Also destroy disks named for this VM that its config does not reference.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub destroy_unreferenced_disks: Option<bool>,
    }
}

/// `proxmox.update-config`: set VM config keys. The reference sends them flat and/or inside
/// `config`; both are read (a flat key wins) and `config` is the one canonical place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", from = "UpdateConfigWire")]
pub struct UpdateConfig {
    pub vmid: VmId,
    /// Proxmox config keys and their values (strings, numbers or booleans), e.g.
    /// `{"cores": 2, "memory": 4096, "net0": "e1000=00:1B:21:00:00:01,bridge=vmbr1"}`.
    #[schema(value_type = Object)]
    pub config: BTreeMap<String, Value>,
    /// Proxmox node (default: the target's node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$", example = "h1")]
    pub node: Option<String>,
    /// Which of the agent's Proxmox targets (default: its active one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[A-Za-z0-9|._:@-]{1,200}$")]
    pub target: Option<String>,
}

#[derive(Deserialize)]
struct UpdateConfigWire {
    vmid: VmId,
    #[serde(default)]
    config: BTreeMap<String, Value>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(flatten)]
    flat: BTreeMap<String, Value>,
}

impl From<UpdateConfigWire> for UpdateConfig {
    fn from(w: UpdateConfigWire) -> Self {
        let mut config = w.config;
        config.extend(w.flat);
        Self {
            vmid: w.vmid,
            config,
            node: w.node,
            target: w.target,
        }
    }
}

/// Config keys `update-config` sets (spec proxmox-api.md §7.9). Root-only and read-only keys
/// (`lock`, `template`, `meta`, `skiplock`) and secrets (`cipassword`) are not among them.
#[rustfmt::skip]
const CONFIG_KEYS: &[&str] = &[
    "acpi", "agent", "args", "balloon", "bios", "boot", "cores", "cpu", "cpulimit", "cpuunits",
    "delete", "description", "digest", "efidisk0", "hookscript", "hotplug", "kvm", "localtime",
    "machine", "memory", "name", "numa", "onboot", "ostype", "protection", "revert", "scsihw",
    "shares", "smbios1", "sockets", "startup", "tablet", "tags", "tpmstate0", "vcpus", "vga",
    "vmgenid",
];
/// Numbered config keys and their highest number.
const CONFIG_DEVICES: &[(&str, u8)] = &[
    ("ide", 3),
    ("sata", 5),
    ("scsi", 30),
    ("virtio", 15),
    ("net", 31),
    ("serial", 3),
    ("unused", 255),
];
const MAX_CONFIG_VALUE_CHARS: usize = 8192;

fn is_config_key(key: &str) -> bool {
    CONFIG_KEYS.contains(&key) || is_drive(key, CONFIG_DEVICES)
}

impl Payload for UpdateConfig {
    fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }
    fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }
    fn key_problem(key: &str) -> Option<String> {
        let own = matches!(key, "vmid" | "config" | "node" | "target");
        (!own && !is_config_key(key)).then(|| {
            "unknown key: not vmid, node, target, config, or a VM config key this command sets"
                .to_owned()
        })
    }
}

impl Validate for UpdateConfig {
    fn validate(&self) -> Result<(), FieldErrors> {
        validate_payload(self)
    }
}

impl Limits for UpdateConfig {
    fn check(&self, e: &mut FieldErrors) {
        e.check(
            "config",
            !self.config.is_empty(),
            "must set at least one key",
        );
        for (key, value) in &self.config {
            let field = format!("config.{key}");
            if !is_config_key(key) {
                e.add(field, "is not a VM config key this command sets");
                continue;
            }
            match value {
                Value::String(s) => {
                    e.max_chars(&field, Some(s), MAX_CONFIG_VALUE_CHARS);
                    PLAIN_TEXT.check(e, &field, Some(s));
                }
                Value::Number(_) | Value::Bool(_) => {}
                _ => e.add(field, "must be a string, a number or a boolean"),
            }
        }
    }
}

payload! {
    /// `proxmox.resize-disk`
    pub struct ResizeDisk {
        pub vmid: VmId,
        /// The drive, e.g. `scsi0` or `sata0`.
        #[schema(pattern = r"^(ide0{0,2}[0-3]|sata0{0,2}[0-5]|scsi(0{0,2}[0-9]|0?[12][0-9]|0?30)|virtio(0{0,2}[0-9]|0?1[0-5])|efidisk0{1,3}|tpmstate0{1,3})$", example = "sata0")]
        pub disk: String,
        /// `+<n><unit>` grows by n; without `+` it is the new size. Units K, M, G, T.
        #[schema(pattern = r"^\+?[0-9]{1,12}(\.[0-9]{1,12})?[KMGT]?$", example = "+64G")]
        pub size: String,
    }
}

impl Limits for ResizeDisk {
    fn check(&self, e: &mut FieldErrors) {
        DISK.check(e, "disk", Some(&self.disk));
        DISK_SIZE.check(e, "size", Some(&self.size));
    }
}

payload! {
    /// `proxmox.task-status`: one Proxmox task.
    pub struct TaskRef {
        /// The task's UPID (the reference also calls it `task` or `taskId`).
        #[serde(alias = "task", alias = "taskId")]
        #[schema(
            example = "UPID:h1:000A1B2C:0001F2E3:67000000:qmclone:100:root@pam:",
            pattern = "^UPID:[!-~]{0,507}$"
        )]
        pub upid: String,
    }
}

impl Limits for TaskRef {
    fn check(&self, e: &mut FieldErrors) {
        UPID.check(e, "upid", Some(&self.upid));
    }
}

payload! {
    /// `proxmox.wait-task`: poll a task until it stops (the caller checks `exitstatus`).
    pub struct WaitTask {
        #[serde(alias = "task", alias = "taskId")]
        #[schema(pattern = "^UPID:[!-~]{0,507}$")]
        pub upid: String,
        /// 1000..1800000 ms (default 300000); also `timeout_ms`.
        #[serde(alias = "timeout_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1000, maximum = 1800000)]
        pub timeout_ms: Option<u64>,
        /// 250..15000 ms (default 1000); also `interval_ms`.
        #[serde(alias = "interval_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 250, maximum = 15000)]
        pub interval_ms: Option<u64>,
    }
}

impl WaitTask {
    pub fn timeout(&self) -> Duration {
        millis(self.timeout_ms, 300_000)
    }
    pub fn interval(&self) -> Duration {
        millis(self.interval_ms, DEFAULT_INTERVAL_MS)
    }
}

fn check_polling(e: &mut FieldErrors, timeout: Option<u64>, max: u64, interval: Option<u64>) {
    e.in_range("timeoutMs", timeout, MIN_TIMEOUT_MS, max);
    e.in_range("intervalMs", interval, MIN_INTERVAL_MS, MAX_INTERVAL_MS);
}

impl Limits for WaitTask {
    fn check(&self, e: &mut FieldErrors) {
        UPID.check(e, "upid", Some(&self.upid));
        check_polling(e, self.timeout_ms, MAX_WAIT_MS, self.interval_ms);
    }
}

payload! {
    /// `proxmox.wait-vm-status`: poll until the VM is in the desired state.
    pub struct WaitVmStatus {
        pub vmid: VmId,
        /// Default `running`; also `status`.
        #[serde(alias = "status", default, skip_serializing_if = "Option::is_none")]
        pub desired_status: Option<VmState>,
        /// 1000..1800000 ms (default 120000); also `timeout_ms`.
        #[serde(alias = "timeout_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1000, maximum = 1800000)]
        pub timeout_ms: Option<u64>,
        /// 250..15000 ms (default 1000); also `interval_ms`.
        #[serde(alias = "interval_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 250, maximum = 15000)]
        pub interval_ms: Option<u64>,
    }
}

impl WaitVmStatus {
    pub fn desired(&self) -> VmState {
        self.desired_status.unwrap_or(VmState::Running)
    }
    pub fn timeout(&self) -> Duration {
        millis(self.timeout_ms, 120_000)
    }
    pub fn interval(&self) -> Duration {
        millis(self.interval_ms, DEFAULT_INTERVAL_MS)
    }
}

impl Limits for WaitVmStatus {
    fn check(&self, e: &mut FieldErrors) {
        check_polling(e, self.timeout_ms, MAX_WAIT_MS, self.interval_ms);
    }
}

payload! {
    /// `proxmox.wait-vm-presence`: poll the node's VM list until the VM is there (or gone).
    pub struct WaitVmPresence {
        pub vmid: VmId,
        /// Wait for the VM to exist (default) or to be gone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub exists: Option<bool>,
        /// 1000..600000 ms (default 45000); also `timeout_ms`.
        #[serde(alias = "timeout_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1000, maximum = 600000)]
        pub timeout_ms: Option<u64>,
        /// 250..15000 ms (default 1000); also `interval_ms`.
        #[serde(alias = "interval_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 250, maximum = 15000)]
        pub interval_ms: Option<u64>,
    }
}

impl WaitVmPresence {
    pub fn should_exist(&self) -> bool {
        self.exists.unwrap_or(true)
    }
    pub fn timeout(&self) -> Duration {
        millis(self.timeout_ms, 45_000)
    }
    pub fn interval(&self) -> Duration {
        millis(self.interval_ms, DEFAULT_INTERVAL_MS)
    }
}

impl Limits for WaitVmPresence {
    fn check(&self, e: &mut FieldErrors) {
        check_polling(e, self.timeout_ms, MAX_PRESENCE_WAIT_MS, self.interval_ms);
    }
}

payload! {
    /// `proxmox.sendkey`: one key press (QEMU key name, combinations with `-`).
    pub struct SendKey {
        pub vmid: VmId,
        #[schema(pattern = r"^[A-Za-z0-9_+-]{1,64}$", example = "ctrl-alt-delete")]
        pub key: String,
    }
}

impl Limits for SendKey {
    fn check(&self, e: &mut FieldErrors) {
        QEMU_KEY.check(e, "key", Some(&self.key));
    }
}

payload! {
    /// `proxmox.cluster-resources`
    pub struct ClusterResources {
        /// Only resources of this kind; also `resourceType`.
        #[serde(rename = "type", alias = "resourceType", default, skip_serializing_if = "Option::is_none")]
        pub resource_type: Option<ResourceType>,
    }
}

payload! {
    /// `proxmox.login`
    pub struct ProxmoxLogin {
        /// Log in afresh instead of reusing the cached ticket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub force: Option<bool>,
    }
}

payload! {
    /// `proxmox.ssh-status`, `ssh-test`, `ssh-bootstrap`: probe the SSH connection. The host,
    /// port and user may be overridden; the credentials are always the agent's own, so an
    /// agent must not offer its target's password to an overridden host.
    pub struct SshProbe {
        /// Default: the host of the target's Proxmox URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(max_length = 253, example = "192.168.1.100")]
        pub ssh_host: Option<String>,
        /// Default 22; also `port`.
        #[serde(alias = "port", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1, maximum = 65535)]
        pub ssh_port: Option<u16>,
        /// Default: the Proxmox user without its `@realm`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(max_length = 64, example = "root")]
        pub ssh_username: Option<String>,
        /// 1000..180000 ms (default 10000); also `timeout_ms`.
        #[serde(alias = "timeout_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1000, maximum = 180000)]
        pub timeout_ms: Option<u64>,
    }
}

impl SshProbe {
    pub fn timeout(&self) -> Duration {
        millis(self.timeout_ms, 10_000)
    }
}

impl Limits for SshProbe {
    fn check(&self, e: &mut FieldErrors) {
        SSH_HOST.check(e, "sshHost", self.ssh_host.as_deref());
        e.in_range("sshPort", self.ssh_port, 1, u16::MAX);
        UNIX_USER.check(e, "sshUsername", self.ssh_username.as_deref());
        check_ssh_timeout(e, self.timeout_ms);
    }
}

payload! {
    /// `proxmox.ssh-read-config`: the VM's config file, read over SSH.
    pub struct SshReadConfig {
        /// Also `id`.
        #[serde(alias = "id")]
        pub vmid: VmId,
        /// 1000..180000 ms (default 15000); also `timeout_ms`.
        #[serde(alias = "timeout_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1000, maximum = 180000)]
        pub timeout_ms: Option<u64>,
    }
}

impl SshReadConfig {
    pub fn timeout(&self) -> Duration {
        millis(self.timeout_ms, 15_000)
    }
}

impl Limits for SshReadConfig {
    fn check(&self, e: &mut FieldErrors) {
        check_ssh_timeout(e, self.timeout_ms);
    }
}

/// Largest config file `ssh-write-config` writes.
pub const MAX_CONFIG_FILE_CHARS: usize = 64 * 1024;

payload! {
    /// `proxmox.ssh-write-config`: replace the VM's config file over SSH.
    pub struct SshWriteConfig {
        /// Also `id`.
        #[serde(alias = "id")]
        pub vmid: VmId,
        /// The whole file (a final newline is added if missing): not blank, and no control
        /// characters but tabs and line breaks.
        #[schema(
            max_length = 65536,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )]
        pub content: String,
        /// 1000..180000 ms (default 20000); also `timeout_ms`.
        #[serde(alias = "timeout_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1000, maximum = 180000)]
        pub timeout_ms: Option<u64>,
    }
}

impl SshWriteConfig {
    pub fn timeout(&self) -> Duration {
        millis(self.timeout_ms, 20_000)
    }
}

impl Limits for SshWriteConfig {
    fn check(&self, e: &mut FieldErrors) {
        e.required_text("content", &self.content, MAX_CONFIG_FILE_CHARS);
        PLAIN_TEXT.check(e, "content", Some(&self.content));
        check_ssh_timeout(e, self.timeout_ms);
    }
}

payload! {
    /// `proxmox.ssh-exec`: one command line, run only if it matches the agent's allowlist of
    /// typed commands (e.g. `qm status 101`). There is no way to ask for anything else.
    pub struct SshExec {
        /// One line, at most 1024 characters.
        #[schema(max_length = 1024, example = "qm status 101")]
        pub command: String,
        /// 1000..180000 ms (default 30000); also `timeout` or `timeout_ms`.
        #[serde(alias = "timeout", alias = "timeout_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1000, maximum = 180000)]
        pub timeout_ms: Option<u64>,
    }
}

impl SshExec {
    pub fn timeout(&self) -> Duration {
        millis(self.timeout_ms, 30_000)
    }
}

impl Limits for SshExec {
    fn check(&self, e: &mut FieldErrors) {
        e.required_text("command", &self.command, 1024);
        let one_line = !self.command.chars().any(char::is_control);
        e.check(
            "command",
            one_line,
            "must be one line without control characters",
        );
        if one_line
            && !self.command.trim().is_empty()
            && let Err(why) = super::allowlist::parse(&self.command)
        {
            e.add("command", why);
        }
        check_ssh_timeout(e, self.timeout_ms);
    }
}

/// Most files of a provisioning ISO.
pub const MAX_ISO_FILES: usize = 32;
/// Most base64 text of all of a provisioning ISO's files together.
pub const MAX_ISO_FILES_CHARS: usize = 96 * 1024;

/// Padding optional, as browsers' encoders differ.
const FILE_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

payload! {
    /// `proxmox.create-provision-iso`: an ISO (Joliet + Rock Ridge, label `PROVISION`) with
    /// these files at its root, stored on the node.
    pub struct CreateProvisionIso {
        pub vmid: VmId,
        /// File name -> content as base64. At most 32 files, 96 KiB of base64 in all.
        #[schema(example = json!({"provision.json": "e30="}))]
        pub files: BTreeMap<String, String>,
        /// Default `vm-<vmid>-provision.iso`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,195}\.[Ii][Ss][Oo]$", example = "provision-101.iso")]
        pub iso_name: Option<String>,
        /// Default `local`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", example = "local")]
        pub iso_storage: Option<String>,
        /// 1000..180000 ms (default 30000); also `timeout_ms`.
        #[serde(alias = "timeout_ms", default, deserialize_with = "lenient_opt", skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1000, maximum = 180000)]
        pub timeout_ms: Option<u64>,
    }
}

impl CreateProvisionIso {
    pub fn iso_file_name(&self) -> String {
        self.iso_name
            .clone()
            .unwrap_or_else(|| format!("vm-{}-provision.iso", self.vmid))
    }
    pub fn storage(&self) -> &str {
        self.iso_storage.as_deref().unwrap_or("local")
    }
    pub fn timeout(&self) -> Duration {
        millis(self.timeout_ms, 30_000)
    }
}

impl Limits for CreateProvisionIso {
    fn check(&self, e: &mut FieldErrors) {
        let count = self.files.len();
        e.check("files", count > 0, "must hold at least one file");
        e.check(
            "files",
            count <= MAX_ISO_FILES,
            format!("must hold at most {MAX_ISO_FILES} files"),
        );
        let total: usize = self.files.values().map(String::len).sum();
        let fits = total <= MAX_ISO_FILES_CHARS;
        e.check(
            "files",
            fits,
            format!("must be at most {MAX_ISO_FILES_CHARS} characters of base64 in all"),
        );
        for (name, content) in &self.files {
            let field = format!("files.{name}");
            FILE_NAME.check(e, &field, Some(name));
            e.check(
                &field,
                FILE_BASE64.decode(content).is_ok(),
                "must be base64",
            );
        }
        ISO_NAME.check(e, "isoName", self.iso_name.as_deref());
        STORAGE.check(e, "isoStorage", self.iso_storage.as_deref());
        check_ssh_timeout(e, self.timeout_ms);
    }
}

payload! {
    /// `proxmox.attach-cdrom`: insert an ISO into a CD-ROM drive.
    pub struct AttachCdrom {
        pub vmid: VmId,
        /// `<storage>:iso/<file>.iso`
        #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:iso/[A-Za-z0-9_][A-Za-z0-9._-]{0,195}\.[Ii][Ss][Oo]$", example = "local:iso/provision-101.iso")]
        pub iso_path: String,
        /// The drive to use, refused if it holds another medium or a disk. Default: the drive
        /// already holding `isoPath`, else the first free one (`ide2` first), so a template's
        /// installer drive is never ejected.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^(ide0{0,2}[0-3]|sata0{0,2}[0-5]|scsi(0{0,2}[0-9]|0?[12][0-9]|0?30))$", example = "ide2")]
        pub cdrom_slot: Option<String>,
    }
}

impl Limits for AttachCdrom {
    fn check(&self, e: &mut FieldErrors) {
        ISO_VOLUME.check(e, "isoPath", Some(&self.iso_path));
        CDROM_SLOT.check(e, "cdromSlot", self.cdrom_slot.as_deref());
    }
}

payload! {
    /// `proxmox.detach-cdrom`: eject the drive's medium, optionally deleting its ISO.
    pub struct DetachCdrom {
        pub vmid: VmId,
        /// Default: the drive holding `isoPath` when given, else `ide2`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^(ide0{0,2}[0-3]|sata0{0,2}[0-5]|scsi(0{0,2}[0-9]|0?[12][0-9]|0?30))$", example = "ide2")]
        pub cdrom_slot: Option<String>,
        /// The ISO to eject, wherever `attach-cdrom` put it (`<storage>:iso/<file>.iso`);
        /// with `deleteIso`, the volume deleted even when no drive holds it any more.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:iso/[A-Za-z0-9_][A-Za-z0-9._-]{0,195}\.[Ii][Ss][Oo]$", example = "local:iso/provision-101.iso")]
        pub iso_path: Option<String>,
        /// Also delete the ejected ISO file (best effort).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub delete_iso: Option<bool>,
    }
}

impl Limits for DetachCdrom {
    fn check(&self, e: &mut FieldErrors) {
        CDROM_SLOT.check(e, "cdromSlot", self.cdrom_slot.as_deref());
        ISO_VOLUME.check(e, "isoPath", self.iso_path.as_deref());
    }
}

payload! {
    /// `proxmox.upload-iso`: the node downloads an ISO from a URL into a storage
    /// (Proxmox `download-url`, content `iso`).
    pub struct UploadIso {
        #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", example = "local")]
        pub storage: String,
        #[schema(pattern = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,195}\.[Ii][Ss][Oo]$", example = "virtio-win.iso")]
        pub filename: String,
        /// An http or https URL.
        #[schema(max_length = 2048, example = "https://example.com/images/virtio-win.iso")]
        pub url: String,
    }
}

impl Limits for UploadIso {
    fn check(&self, e: &mut FieldErrors) {
        STORAGE.check(e, "storage", Some(&self.storage));
        ISO_NAME.check(e, "filename", Some(&self.filename));
        WEB_URL.check(e, "url", Some(&self.url));
    }
}

impl Limits for OnNode {}
impl Limits for OnVm {}
impl Limits for DeleteVm {}
impl Limits for ClusterResources {}
impl Limits for ProxmoxLogin {}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an SSH config file write takes: not blank, and plain text.
    const CONFIG_FILE: Form = Form {
        ok: |s| !s.trim().is_empty() && (PLAIN_TEXT.ok)(s),
        what: "",
    };

    /// The document's pattern of `field` in `schema`, compiled.
    fn pattern(schema: RefOr<utoipa::openapi::schema::Schema>, field: &str) -> regex::Regex {
        let schema = serde_json::to_value(schema).unwrap();
        let pattern = schema["properties"][field]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{field} has no pattern: {schema}"));
        regex::Regex::new(pattern).unwrap()
    }

    #[test]
    fn the_documented_patterns_take_exactly_what_the_checks_take() {
        use utoipa::PartialSchema;
        let cases = [
            (pattern(CloneVm::schema(), "node"), &NODE),
            (pattern(UpdateConfig::schema(), "node"), &NODE),
            (pattern(CloneVm::schema(), "target"), &TARGET),
            (pattern(UpdateConfig::schema(), "target"), &TARGET),
            (pattern(CloneVm::schema(), "name"), &VM_NAME),
            (pattern(CloneVm::schema(), "storage"), &STORAGE),
            (pattern(UploadIso::schema(), "storage"), &STORAGE),
            (pattern(UploadIso::schema(), "filename"), &ISO_NAME),
            (pattern(AttachCdrom::schema(), "isoPath"), &ISO_VOLUME),
            (pattern(DetachCdrom::schema(), "isoPath"), &ISO_VOLUME),
            (pattern(SendKey::schema(), "key"), &QEMU_KEY),
            (pattern(TaskRef::schema(), "upid"), &UPID),
            (pattern(WaitTask::schema(), "upid"), &UPID),
            (pattern(ResizeDisk::schema(), "disk"), &DISK),
            (pattern(ResizeDisk::schema(), "size"), &DISK_SIZE),
            (pattern(AttachCdrom::schema(), "cdromSlot"), &CDROM_SLOT),
            (pattern(DetachCdrom::schema(), "cdromSlot"), &CDROM_SLOT),
            (pattern(SshWriteConfig::schema(), "content"), &CONFIG_FILE),
        ];
        let mut samples: Vec<String> = [
            "",
            "a",
            "A9",
            "-a",
            ".a",
            "_a",
            "a-",
            "a.b",
            "a_b",
            "a|b",
            "a:b",
            "a@b",
            "a+b",
            "a b",
            "é",
            "aé",
            "a/b",
            "x.iso",
            "X.ISO",
            "_x.iso",
            ".iso",
            "a.iso.",
            "x.img",
            "local:iso/x.iso",
            "local:iso/.iso",
            "lo cal:iso/x.iso",
            "local:images/x.iso",
            ":iso/x.iso",
            "local:iso/x.iso:",
            "UPID:",
            "UPID:h1:0:qm:",
            "UPID:h1 x",
            "UPID:é",
            "upid:x",
            "ctrl-alt-delete",
            "ide",
            "ide0",
            "ide3",
            "ide4",
            "ide003",
            "ide0003",
            "ide+1",
            "ide-1",
            "sata5",
            "sata6",
            "scsi9",
            "scsi09",
            "scsi009",
            "scsi19",
            "scsi019",
            "scsi30",
            "scsi030",
            "scsi31",
            "scsi0030",
            "virtio15",
            "virtio015",
            "virtio16",
            "efidisk0",
            "efidisk000",
            "efidisk1",
            "tpmstate0",
            "tpmstate",
            "IDE2",
            "+64G",
            "64G",
            "1.5T",
            "1.",
            ".5",
            "+",
            "64GB",
            "-1G",
            "1024",
            "G",
            "a\tb\n",
            " ",
            "\t\n",
            "x\u{7}",
            "\u{85}x",
            "x\u{a0}",
            "\u{a0}",
        ]
        .map(str::to_owned)
        .to_vec();
        for n in [
            62, 63, 64, 127, 128, 129, 195, 196, 199, 200, 201, 506, 507, 508,
        ] {
            let a = "a".repeat(n);
            samples.extend([
                a.clone(),
                format!("{a}.iso"),
                format!("UPID:{a}"),
                format!("local:iso/{a}.iso"),
                format!("{a}:iso/x.iso"),
            ]);
        }
        for (documented, check) in cases {
            for s in &samples {
                assert_eq!(
                    documented.is_match(s),
                    (check.ok)(s),
                    "{} on {s:?}",
                    documented.as_str()
                );
            }
        }
    }

    #[test]
    fn names_that_reach_paths_and_files_are_checked() {
        let ok = |form: &Form, s: &str| (form.ok)(s);
        assert!(ok(&NODE, "h1") && ok(&NODE, "pve-01.lan"));
        assert!(!ok(&NODE, "h1/../x") && !ok(&NODE, "") && !ok(&NODE, "-h"));
        assert!(ok(&STORAGE, "local-lvm") && !ok(&STORAGE, "local lvm"));
        assert!(ok(&ISO_NAME, "provision-101.iso") && !ok(&ISO_NAME, "../x.iso"));
        assert!(!ok(&ISO_NAME, "x.img") && !ok(&FILE_NAME, ".hidden"));
        assert!(ok(&ISO_VOLUME, "local:iso/provision-101.iso"));
        assert!(!ok(&ISO_VOLUME, "local:images/x.iso") && !ok(&ISO_VOLUME, "x.iso"));
        assert!(ok(&DISK, "sata0") && ok(&DISK, "scsi30") && ok(&DISK, "efidisk0"));
        assert!(!ok(&DISK, "scsi31") && !ok(&DISK, "efidisk1") && !ok(&DISK, "sata"));
        assert!(is_drive("unused12", CONFIG_DEVICES) && is_drive("net31", CONFIG_DEVICES));
        for size in ["+64G", "128G", "1.5T", "1024"] {
            assert!(ok(&DISK_SIZE, size), "{size}");
        }
        for size in ["+G", "64GB", "-1G", ""] {
            assert!(!ok(&DISK_SIZE, size), "{size}");
        }
        assert!(ok(&QEMU_KEY, "ctrl-alt-delete") && !ok(&QEMU_KEY, "a b"));
        assert!(ok(
            &UPID,
            "UPID:h1:000A1B2C:0001F2E3:67000000:qmclone:100:root@pam:"
        ));
        assert!(!ok(&UPID, "UPID:h1 x") && !ok(&UPID, "h1:task"));
        assert!(ok(&SSH_HOST, "192.168.1.100") && ok(&SSH_HOST, "[fe80::1]"));
        assert!(!ok(&SSH_HOST, "a;b") && !ok(&UNIX_USER, "root@pam"));
        assert!(ok(&TARGET, "pve.lan:8006|root@pam|h1") && !ok(&TARGET, "a b"));
        assert!(ok(&WEB_URL, "https://example.com/x.iso") && !ok(&WEB_URL, "file:///etc/passwd"));
    }
}
