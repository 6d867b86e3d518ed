//! Request options and decoded replies. Reply types keep every field they do not name in
//! `extra`, so the agent can pass PVE's answer on without losing anything.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::de;

/// `GET /version`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    #[serde(default)]
    pub release: String,
    #[serde(default)]
    pub repoid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One item of `GET /nodes`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node: String,
    /// `online`, `offline` or `unknown`.
    #[serde(default)]
    pub status: String,
    #[serde(
        default,
        deserialize_with = "de::opt_f64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<f64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxcpu: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub mem: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxmem: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub uptime: Option<u64>,
    /// `AA:BB:...`, SHA-256 of the node certificate (usable for [`crate::TlsTrust::Fingerprint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_fingerprint: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One item of `GET /nodes/{node}/qemu` (order is arbitrary).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VmSummary {
    #[serde(deserialize_with = "de::u32_lenient")]
    pub vmid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `running` or `stopped` (a paused VM is `running`).
    #[serde(default)]
    pub status: String,
    /// Absent for ordinary VMs, `1` for templates.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub template: bool,
    /// Config lock, e.g. `clone` while the VM is being cloned into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpus: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxmem: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub maxdisk: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub mem: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_f64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<f64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub uptime: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub pid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /nodes/{node}/qemu/{vmid}/status/current`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VmStatus {
    #[serde(flatten)]
    pub vm: VmSummary,
    /// QEMU's own state (`running`, `paused`, ...); `stopped` for stopped VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qmpstatus: Option<String>,
    /// The config enables the guest agent.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub agent: bool,
}

/// `type` filter of `GET /cluster/resources`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Vm,
    Storage,
    Node,
    Sdn,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vm => "vm",
            Self::Storage => "storage",
            Self::Node => "node",
            Self::Sdn => "sdn",
        }
    }
}

/// One item of `GET /cluster/resources`: a guest, node, storage, pool or SDN zone.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterResource {
    /// `qemu/101`, `node/pve`, `storage/pve/local`, ...
    pub id: String,
    /// `qemu`, `lxc`, `node`, `storage`, `pool`, `sdn`, ...
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(
        default,
        deserialize_with = "de::opt_u32_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub vmid: Option<u32>,
    /// May be `unknown` (and `name`/`template` missing) for a guest created moments ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "de::opt_bool_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub template: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(
        default,
        deserialize_with = "de::opt_bool_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A VM configuration (`GET .../config`). PVE types values loosely (`cores` a number,
/// `memory` a string, booleans 0/1); every value is kept here as the text PVE would write in
/// the config file (`4`, `8192`, `1`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmConfig {
    entries: BTreeMap<String, String>,
    digest: Option<String>,
}

impl VmConfig {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// Digest of the config file, to pass to a write for optimistic locking.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.entries
    }

    pub fn name(&self) -> Option<&str> {
        self.get("name")
    }

    pub fn lock(&self) -> Option<&str> {
        self.get("lock")
    }

    pub fn is_template(&self) -> bool {
        self.get("template") == Some("1")
    }

    /// `memory` in MiB; accepts `8192` and `current=8192`.
    pub fn memory_mib(&self) -> Option<u64> {
        let raw = self.get("memory")?;
        let value = raw.split(',').find_map(|part| match part.split_once('=') {
            Some(("current", v)) => Some(v),
            Some(_) => None,
            None => Some(part),
        })?;
        value.trim().parse().ok()
    }

    pub fn cores(&self) -> Option<u64> {
        self.get("cores")?.parse().ok()
    }

    /// The volume of a drive (`local:iso/x.iso`, `none`, `local-lvm:vm-101-disk-0`).
    pub fn drive_volume(&self, slot: &str) -> Option<&str> {
        self.get(slot)?.split(',').next()
    }

    /// The MAC of `net<n>` (`virtio=BC:24:11:..,bridge=vmbr0` -> `BC:24:11:..`).
    pub fn net_mac(&self, index: u8) -> Option<&str> {
        let first = self.get(&format!("net{index}"))?.split(',').next()?;
        first.split_once('=').map(|(_, mac)| mac)
    }
}

impl<'de> Deserialize<'de> for VmConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: BTreeMap<String, de::Scalar> = BTreeMap::deserialize(d)?;
        let mut config = VmConfig::default();
        for (key, value) in raw {
            let Some(text) = value.into_text() else {
                continue;
            };
            if key == "digest" {
                config.digest = Some(text);
            } else {
                config.entries.insert(key, text);
            }
        }
        Ok(config)
    }
}

impl Serialize for VmConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.entries.len() + 1))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        if let Some(digest) = &self.digest {
            map.serialize_entry("digest", digest)?;
        }
        map.end()
    }
}

/// Parameters of a config write (`PUT`/`POST .../config`). Values are sent form-encoded, so
/// booleans must be `0`/`1` ([`ConfigUpdate::flag`] does that).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigUpdate {
    set: BTreeMap<String, String>,
    delete: Vec<String>,
    digest: Option<String>,
}

impl ConfigUpdate {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set.insert(key.into(), value.into());
        self
    }

    pub fn flag(self, key: impl Into<String>, on: bool) -> Self {
        self.set(key, if on { "1" } else { "0" })
    }

    /// Remove a key (a drive moves to `unused<n>`).
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.delete.push(key.into());
        self
    }

    /// Refuse the write if the config changed since it was read with this digest.
    pub fn digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }

    /// The form, after checking that each [`ConfigUpdate::delete`] names one key (PVE splits
    /// the list at `,`, `;` and spaces, so `delete("ide2,scsi0")` would remove two).
    pub(crate) fn checked_form(&self) -> crate::Result<Vec<(String, String)>> {
        let several =
            |k: &String| k.is_empty() || k.contains([',', ';']) || k.contains(char::is_whitespace);
        match self.delete.iter().find(|k| several(k)) {
            Some(key) => Err(crate::Error::local_param(
                "delete",
                format!("not a single config key: {key:?}"),
            )),
            None => Ok(self.to_form()),
        }
    }

    pub(crate) fn to_form(&self) -> Vec<(String, String)> {
        let mut form: Vec<(String, String)> = self
            .set
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !self.delete.is_empty() {
            form.push(("delete".into(), self.delete.join(",")));
        }
        if let Some(digest) = &self.digest {
            form.push(("digest".into(), digest.clone()));
        }
        form
    }
}

/// Options of `POST .../clone` besides the new id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloneOptions {
    /// DNS name; PVE defaults to `Copy-of-VM-<source>`.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Full copy; PVE defaults to full for VMs and linked for templates.
    pub full: Option<bool>,
    /// Target storage (full clones only).
    pub storage: Option<String>,
    /// `raw`, `qcow2` or `vmdk` (full clones only).
    pub format: Option<String>,
    /// Other node to put the copy on (needs shared storage).
    pub target: Option<String>,
    pub pool: Option<String>,
}

impl CloneOptions {
    pub(crate) fn to_form(&self, newid: u32) -> Vec<(String, String)> {
        let mut form = vec![("newid".to_owned(), newid.to_string())];
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                form.push((k.to_owned(), v.clone()));
            }
        };
        put("name", &self.name);
        put("description", &self.description);
        put("storage", &self.storage);
        put("format", &self.format);
        put("target", &self.target);
        put("pool", &self.pool);
        if let Some(full) = self.full {
            form.push(("full".into(), if full { "1" } else { "0" }.into()));
        }
        form
    }
}

/// Options of `DELETE /nodes/{node}/qemu/{vmid}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Also drop the id from backup/replication jobs and HA.
    pub purge: bool,
    /// Also destroy disks named after the VM that its config does not reference.
    pub destroy_unreferenced_disks: bool,
}

/// `POST .../status/{action}`; each returns a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    Start,
    Stop,
    Shutdown,
    Reboot,
    Reset,
    Suspend,
    Resume,
}

impl PowerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Shutdown => "shutdown",
            Self::Reboot => "reboot",
            Self::Reset => "reset",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
        }
    }
}

impl std::str::FromStr for PowerAction {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "start" => Self::Start,
            "stop" => Self::Stop,
            "shutdown" => Self::Shutdown,
            "reboot" => Self::Reboot,
            "reset" => Self::Reset,
            "suspend" => Self::Suspend,
            "resume" => Self::Resume,
            other => {
                return Err(crate::Error::BadParams {
                    message: format!("unknown power action '{other}'"),
                    errors: BTreeMap::new(),
                });
            }
        })
    }
}

/// `running` while the worker lives, then `stopped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Running,
    Stopped,
}

impl<'de> Deserialize<'de> for TaskState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.eq_ignore_ascii_case("stopped") {
            Ok(Self::Stopped)
        } else if s.eq_ignore_ascii_case("running") {
            Ok(Self::Running)
        } else {
            Err(serde::de::Error::custom(format!(
                "unknown task status '{s}'"
            )))
        }
    }
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskStatus {
    pub upid: String,
    #[serde(default)]
    pub node: String,
    pub status: TaskState,
    /// Only once stopped: `OK`, `WARNINGS: <n>`, or the error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exitstatus: Option<String>,
    #[serde(rename = "type", default)]
    pub task_type: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub id: String,
    #[serde(default)]
    pub user: String,
    /// Only for tasks started with an API token; `user` is then the token's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenid: Option<String>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub pid: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub starttime: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TaskStatus {
    pub fn is_running(&self) -> bool {
        self.status == TaskState::Running
    }

    /// Stopped with `OK` or `WARNINGS: <n>`.
    pub fn succeeded(&self) -> bool {
        self.status == TaskState::Stopped
            && self
                .exitstatus
                .as_deref()
                .is_some_and(|s| s == "OK" || s.starts_with("WARNINGS: "))
    }
}

/// Deadline and poll interval of the `wait_*` helpers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitOptions {
    pub timeout: Duration,
    pub interval: Duration,
}

impl WaitOptions {
    pub fn new(timeout: Duration, interval: Duration) -> Self {
        Self { timeout, interval }
    }
}

impl Default for WaitOptions {
    /// 5 minutes, polling every second.
    fn default() -> Self {
        Self::new(Duration::from_secs(300), Duration::from_secs(1))
    }
}

/// One item of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StorageVolume {
    /// `local:iso/x.iso`, `local-lvm:vm-101-disk-0`.
    pub volid: String,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub size: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctime: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de::opt_u32_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub vmid: Option<u32>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What to upload to a storage's ISO directory.
#[derive(Clone, Debug)]
pub struct IsoUpload {
    /// Target file name (`.iso` or `.img`, ASCII; PVE replaces other characters with `_`).
    pub file_name: String,
    pub source: IsoSource,
    /// Lower-case hex SHA-256 of the file; PVE verifies it before keeping the file.
    pub sha256: Option<String>,
}

/// The bytes of an upload. A file is streamed, not read into memory.
#[derive(Clone, Debug)]
pub enum IsoSource {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// One interface reported by the QEMU guest agent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GuestInterface {
    pub name: String,
    #[serde(
        rename = "hardware-address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub hardware_address: Option<String>,
    /// Absent or empty while DHCP is pending.
    #[serde(rename = "ip-addresses", default)]
    pub ip_addresses: Vec<GuestIpAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GuestIpAddress {
    /// `ipv4` or `ipv6`.
    #[serde(rename = "ip-address-type")]
    pub ip_address_type: String,
    #[serde(rename = "ip-address")]
    pub ip_address: String,
    #[serde(
        default,
        deserialize_with = "de::opt_u64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub prefix: Option<u64>,
}

/// The VM's IPv4 address on the NIC with this MAC: the first address that is not link-local
/// (`169.254.*`) or loopback. The MAC is compared case-insensitively.
pub fn find_guest_ipv4(interfaces: &[GuestInterface], mac: &str) -> Option<Ipv4Addr> {
    interfaces
        .iter()
        .filter(|i| {
            i.hardware_address
                .as_deref()
                .is_some_and(|hw| hw.eq_ignore_ascii_case(mac))
        })
        .flat_map(|i| &i.ip_addresses)
        .filter(|a| a.ip_address_type == "ipv4")
        .filter_map(|a| a.ip_address.parse::<Ipv4Addr>().ok())
        .find(|ip| !ip.is_link_local() && !ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_keeps_loose_values_as_text() {
        let config: VmConfig = serde_json::from_value(json!({
            "agent": "1", "cores": 4, "memory": "8192", "numa": 0, "cpulimit": "1.5",
            "template": 1, "digest": "5f0c1e0000000000000000000000000000000000",
            "ide2": "local:iso/x.iso,media=cdrom",
            "net0": "virtio=BC:24:11:5E:7A:01,bridge=vmbr0,firewall=1",
            "balloon": null
        }))
        .unwrap();
        assert_eq!(config.get("cores"), Some("4"));
        assert_eq!(config.cores(), Some(4));
        assert_eq!(config.memory_mib(), Some(8192));
        assert_eq!(config.get("numa"), Some("0"));
        assert_eq!(config.get("cpulimit"), Some("1.5"));
        assert!(config.is_template());
        assert_eq!(config.get("balloon"), None);
        assert_eq!(config.get("digest"), None, "digest is not a config key");
        assert_eq!(
            config.digest(),
            Some("5f0c1e0000000000000000000000000000000000")
        );
        assert_eq!(config.drive_volume("ide2"), Some("local:iso/x.iso"));
        assert_eq!(config.net_mac(0), Some("BC:24:11:5E:7A:01"));
        assert_eq!(config.net_mac(1), None);

        // older servers send memory as a number; newer may say current=
        let old: VmConfig = serde_json::from_value(json!({"memory": 2048})).unwrap();
        assert_eq!(old.memory_mib(), Some(2048));
        let cur: VmConfig = serde_json::from_value(json!({"memory": "current=4096"})).unwrap();
        assert_eq!(cur.memory_mib(), Some(4096));

        let back = serde_json::to_value(&config).unwrap();
        assert_eq!(back["cores"], "4");
        assert_eq!(back["digest"], "5f0c1e0000000000000000000000000000000000");
    }

    #[test]
    fn vm_list_item_quirks() {
        let items: Vec<VmSummary> = serde_json::from_value(json!([
            {"vmid": 100, "name": "tpl", "status": "stopped", "template": 1, "cpus": 4,
             "maxmem": 8589934592u64, "cpu": 0, "mem": 0, "uptime": 0, "diskread": 0},
            {"vmid": "101", "name": "w11", "status": "running", "cpu": 0.0312, "pid": 4242,
             "lock": "clone", "maxmem": "2147483648"}
        ]))
        .unwrap();
        assert!(items[0].template);
        assert!(!items[1].template, "template is absent for ordinary VMs");
        assert_eq!(items[1].vmid, 101);
        assert_eq!(items[1].lock.as_deref(), Some("clone"));
        assert_eq!(items[1].maxmem, Some(2_147_483_648));
        assert_eq!(items[1].cpu, Some(0.0312));
        assert_eq!(items[0].extra.get("diskread"), Some(&json!(0)));
        let out = serde_json::to_value(&items[0]).unwrap();
        assert_eq!(out["diskread"], 0, "unknown fields are passed on");
    }

    #[test]
    fn status_current_flags() {
        let st: VmStatus = serde_json::from_value(json!({
            "vmid": 101, "name": "w11-01", "status": "stopped", "qmpstatus": "stopped",
            "cpus": 4, "maxmem": 8589934592u64, "ha": {"managed": 0}, "agent": 1
        }))
        .unwrap();
        assert_eq!(st.vm.vmid, 101);
        assert!(st.agent);
        assert_eq!(st.qmpstatus.as_deref(), Some("stopped"));
        assert_eq!(st.vm.extra["ha"], json!({"managed": 0}));
        let no_agent: VmStatus =
            serde_json::from_value(json!({"vmid": 5, "status": "running"})).unwrap();
        assert!(!no_agent.agent);
    }

    #[test]
    fn cluster_resources_mixed() {
        let items: Vec<ClusterResource> = serde_json::from_value(json!([
            {"id": "qemu/100", "type": "qemu", "vmid": 100, "node": "pve", "status": "stopped",
             "name": "tpl", "template": 1},
            {"id": "qemu/102", "type": "qemu", "vmid": 102, "node": "pve", "status": "unknown"},
            {"id": "storage/pve/local", "type": "storage", "storage": "local", "node": "pve",
             "shared": 0, "content": "iso,backup", "plugintype": "dir"},
            {"id": "node/pve", "type": "node", "node": "pve", "status": "online"}
        ]))
        .unwrap();
        assert_eq!(items[0].template, Some(true));
        assert_eq!(items[1].template, None);
        assert_eq!(items[1].name, None);
        assert_eq!(items[2].shared, Some(false));
        assert_eq!(items[2].extra["plugintype"], "dir");
        assert_eq!(items[3].vmid, None);
    }

    #[test]
    fn task_status_shapes() {
        let running: TaskStatus = serde_json::from_value(json!({
            "upid": "UPID:pve:00000001:01B4C5D6:66F0A1B2:qmstart:100:root@pam:",
            "node": "pve", "status": "running", "type": "qmstart", "id": "100",
            "user": "root@pam", "pid": 1, "pstart": 28624342, "starttime": 1727046066
        }))
        .unwrap();
        assert!(running.is_running());
        assert!(!running.succeeded());
        let done: TaskStatus = serde_json::from_value(json!({
            "upid": "x", "status": "stopped", "exitstatus": "WARNINGS: 2", "id": 100
        }))
        .unwrap();
        assert!(done.succeeded());
        assert_eq!(done.id, "100");
        let failed: TaskStatus = serde_json::from_value(json!({
            "upid": "x", "status": "STOPPED", "exitstatus": "VM 100 already running", "id": ""
        }))
        .unwrap();
        assert!(!failed.is_running());
        assert!(!failed.succeeded());
    }

    #[test]
    fn guest_ip_lookup() {
        let ifaces: Vec<GuestInterface> = serde_json::from_value(json!([
            {"name": "Loopback Pseudo-Interface 1", "hardware-address": "00:00:00:00:00:00",
             "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8}]},
            {"name": "Ethernet", "hardware-address": "bc:24:11:5e:7a:01",
             "ip-addresses": [
                {"ip-address-type": "ipv6", "ip-address": "fe80::1", "prefix": 64},
                {"ip-address-type": "ipv4", "ip-address": "169.254.3.4", "prefix": 16},
                {"ip-address-type": "ipv4", "ip-address": "192.168.10.21", "prefix": "24"}]},
            {"name": "Ethernet 2"}
        ]))
        .unwrap();
        assert_eq!(
            find_guest_ipv4(&ifaces, "BC:24:11:5E:7A:01"),
            Some(Ipv4Addr::new(192, 168, 10, 21))
        );
        assert_eq!(find_guest_ipv4(&ifaces, "BC:24:11:00:00:00"), None);
        assert!(ifaces[2].ip_addresses.is_empty());
    }

    #[test]
    fn request_forms() {
        let update = ConfigUpdate::new()
            .set("cores", "4")
            .flag("onboot", true)
            .delete("ide3")
            .delete("unused0")
            .digest("abc");
        assert_eq!(
            update.to_form(),
            vec![
                ("cores".to_owned(), "4".to_owned()),
                ("onboot".to_owned(), "1".to_owned()),
                ("delete".to_owned(), "ide3,unused0".to_owned()),
                ("digest".to_owned(), "abc".to_owned()),
            ]
        );
        let clone = CloneOptions {
            name: Some("w11-01".into()),
            full: Some(false),
            ..CloneOptions::default()
        };
        assert_eq!(
            clone.to_form(101),
            vec![
                ("newid".to_owned(), "101".to_owned()),
                ("name".to_owned(), "w11-01".to_owned()),
                ("full".to_owned(), "0".to_owned()),
            ]
        );
        for bad in ["ide2,scsi0", "ide2;scsi0", "ide2 scsi0", ""] {
            let err = ConfigUpdate::new().delete(bad).checked_form().unwrap_err();
            assert_eq!(err.code(), "PVE_BAD_PARAMS", "{bad:?}");
        }
        assert_eq!(update.checked_form().unwrap(), update.to_form());
        assert_eq!("reset".parse::<PowerAction>().unwrap(), PowerAction::Reset);
        assert!("explode".parse::<PowerAction>().is_err());
    }
}
