//! VM configuration rules: which keys exist and their types (spec 7.9), how each is typed in
//! JSON (spec 3.4), drive and NIC values, which changes apply live, and the config of a clone.

use std::collections::BTreeMap;

use rand::Rng;
use serde_json::{Value, json};

use crate::params::{DNS, STR, Ty, UINT};

const OSTYPES: &[&str] = &[
    "other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24",
    "l26", "solaris",
];
const SCSIHW: &[&str] = &[
    "lsi",
    "lsi53c810",
    "virtio-scsi-pci",
    "virtio-scsi-single",
    "megasas",
    "pvscsi",
];
const LOCKS: &[&str] = &[
    "backup",
    "clone",
    "create",
    "migrate",
    "rollback",
    "snapshot",
    "snapshot-delete",
    "suspending",
    "suspended",
];
const NIC_MODELS: &[&str] = &[
    "virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", "i82551", "i82557b", "i82559er", "ne2k_pci",
    "pcnet",
];

const INT_KEYS: &[&str] = &[
    "cores",
    "sockets",
    "vcpus",
    "balloon",
    "cpuunits",
    "shares",
    "migrate_speed",
];
const BOOL_KEYS: &[&str] = &[
    "onboot",
    "numa",
    "acpi",
    "kvm",
    "template",
    "protection",
    "tablet",
    "localtime",
    "freeze",
    "reboot",
];
const PLAIN_KEYS: &[&str] = &[
    "cpu",
    "machine",
    "boot",
    "agent",
    "vmgenid",
    "args",
    "tags",
    "hotplug",
    "vga",
    "startup",
    "hookscript",
    "meta",
    "efidisk0",
    "tpmstate0",
    "migrate_downtime",
];
/// Keys only `root@pam` may write.
pub(crate) const ROOT_ONLY: &[&str] = &["args", "lock"];

/// `(prefix, highest index)` of numbered keys.
const DRIVES: &[(&str, u32)] = &[("ide", 3), ("sata", 5), ("scsi", 30), ("virtio", 15)];

fn numbered(key: &str, prefix: &str, max: u32) -> bool {
    key.strip_prefix(prefix)
        .filter(|n| !n.is_empty() && (n.len() == 1 || !n.starts_with('0')))
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n <= max)
}

/// Is `key` a disk/CD drive slot (`ide2`, `scsi0`, ...)?
pub(crate) fn is_drive_key(key: &str) -> bool {
    DRIVES.iter().any(|(p, max)| numbered(key, p, *max)) || key == "efidisk0" || key == "tpmstate0"
}

pub(crate) fn is_net_key(key: &str) -> bool {
    numbered(key, "net", 31)
}

/// Schema type of a config key, `None` for keys PVE does not know.
pub(crate) fn key_type(key: &str) -> Option<Ty> {
    Some(match key {
        "name" => DNS,
        "description" => Ty::Str { max_len: 8192 },
        "memory" => Ty::Format(is_memory, "value does not match the regex pattern"),
        "ostype" => Ty::Enum(OSTYPES),
        "bios" => Ty::Enum(&["seabios", "ovmf"]),
        "scsihw" => Ty::Enum(SCSIHW),
        "lock" => Ty::Enum(LOCKS),
        "smbios1" => Ty::Str { max_len: 512 },
        "cpulimit" => Ty::Format(is_number, "value does not look like a number"),
        "cores" | "sockets" | "vcpus" => Ty::Int { min: 1, max: 4096 },
        "balloon" => UINT,
        "cpuunits" => Ty::Int {
            min: 1,
            max: 262_144,
        },
        "shares" => Ty::Int {
            min: 0,
            max: 50_000,
        },
        "migrate_speed" => UINT,
        k if BOOL_KEYS.contains(&k) => Ty::Bool,
        k if PLAIN_KEYS.contains(&k) => STR,
        k if is_drive_key(k) || is_net_key(k) => STR,
        k if numbered(k, "unused", 255) || numbered(k, "serial", 3) => STR,
        _ => return None,
    })
}

fn is_memory(v: &str) -> bool {
    let n = v.strip_prefix("current=").unwrap_or(v);
    n.parse::<u64>().is_ok_and(|mib| mib >= 16)
}

fn is_number(v: &str) -> bool {
    v.parse::<f64>().is_ok_and(f64::is_finite)
}

/// A config value typed as the real server does: integer and boolean keys are JSON numbers,
/// everything else (including `memory`, `agent`, `cpulimit`) a string.
pub(crate) fn render_value(key: &str, value: &str) -> Value {
    if (INT_KEYS.contains(&key) || BOOL_KEYS.contains(&key))
        && let Ok(n) = value.parse::<i64>()
    {
        return json!(n);
    }
    json!(value)
}

/// Hot-pluggable keys: applied at once on a running VM; everything else stays pending.
pub(crate) fn applies_live(key: &str, value: Option<&str>) -> bool {
    const LIVE: &[&str] = &[
        "name",
        "description",
        "onboot",
        "tags",
        "protection",
        "startup",
        "hookscript",
        "shares",
        "balloon",
        "cpulimit",
        "cpuunits",
    ];
    if LIVE.contains(&key) || is_net_key(key) {
        return true;
    }
    if numbered(key, "scsi", 30) || numbered(key, "virtio", 15) {
        return true;
    }
    // CD-ROM media changes on ide/sata take effect live.
    if numbered(key, "ide", 3) || numbered(key, "sata", 5) {
        return value.is_some_and(is_cdrom);
    }
    false
}

/// `key=value` options of a drive or NIC string after its first element.
fn options(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value
        .split(',')
        .skip(1)
        .filter_map(|part| part.split_once('='))
}

pub(crate) fn drive_volume(value: &str) -> &str {
    value.split(',').next().unwrap_or_default()
}

pub(crate) fn is_cdrom(value: &str) -> bool {
    options(value).any(|(k, v)| k == "media" && v == "cdrom")
}

pub(crate) fn drive_size(value: &str) -> Option<u64> {
    options(value)
        .find(|(k, _)| *k == "size")
        .and_then(|(_, v)| parse_size(v))
}

/// `64G`, `1536M`, `512` (bytes) -> bytes.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return None,
    };
    if number.contains('.') {
        let value: f64 = number.parse().ok()?;
        return (value.is_finite() && value >= 0.0)
            .then(|| (value * (1u64 << shift) as f64) as u64);
    }
    number.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// Bytes in the largest exact unit (`64G`, `1536M`), as PVE writes `size=`.
pub(crate) fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, 'T'), (30, 'G'), (20, 'M'), (10, 'K')] {
        if bytes > 0 && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Replace or add the `size=` option of a drive string.
pub(crate) fn with_size(value: &str, bytes: u64) -> String {
    let mut parts: Vec<String> = vec![drive_volume(value).to_owned()];
    let mut replaced = false;
    for part in value.split(',').skip(1) {
        if part.starts_with("size=") {
            parts.push(format!("size={}", format_size(bytes)));
            replaced = true;
        } else {
            parts.push(part.to_owned());
        }
    }
    if !replaced {
        parts.push(format!("size={}", format_size(bytes)));
    }
    parts.join(",")
}

pub(crate) fn random_mac() -> String {
    let bytes: [u8; 3] = rand::thread_rng().r#gen();
    format!(
        "BC:24:11:{:02X}:{:02X}:{:02X}",
        bytes[0], bytes[1], bytes[2]
    )
}

/// Normalize a NIC: `model=MAC` first (a MAC is generated if missing), then the other
/// options sorted. `None` if the model is unknown.
pub(crate) fn normalize_net(value: &str) -> Option<String> {
    let first = drive_volume(value);
    let (model, mac) = match first.split_once('=') {
        Some((model, mac)) => (model, mac.to_ascii_uppercase()),
        None => (first, random_mac()),
    };
    if !NIC_MODELS.contains(&model) {
        return None;
    }
    let mut rest: Vec<&str> = value.split(',').skip(1).collect();
    rest.sort_unstable();
    let mut out = format!("{model}={mac}");
    for part in rest {
        out.push(',');
        out.push_str(part);
    }
    Some(out)
}

/// `model=MAC` -> MAC.
pub(crate) fn net_mac(value: &str) -> Option<&str> {
    drive_volume(value).split_once('=').map(|(_, mac)| mac)
}

/// The guest agent is enabled by the config (`1` or `enabled=1,...`).
pub(crate) fn agent_enabled(config: &BTreeMap<String, String>) -> bool {
    config
        .get("agent")
        .is_some_and(|v| v.split(',').any(|part| part == "1" || part == "enabled=1"))
}

/// Storage id of a drive's volume (`local-lvm:vm-101-disk-0` -> `local-lvm`).
pub(crate) fn volume_storage(volume: &str) -> Option<&str> {
    volume.split_once(':').map(|(s, _)| s)
}

/// What goes into a clone's config.
pub(crate) struct CloneSpec<'a> {
    pub(crate) newid: u32,
    pub(crate) name: String,
    pub(crate) description: Option<&'a str>,
    pub(crate) full: bool,
    pub(crate) storage: Option<&'a str>,
    pub(crate) now: u64,
}

/// The clone's config: every key of the source except snapshot data, unused disks, the
/// template flag and the lock; new name, MACs, SMBIOS uuid and vmgenid; disks copied (new
/// volumes) or linked to the template's base volumes.
pub(crate) fn clone_config(
    source: &BTreeMap<String, String>,
    spec: &CloneSpec<'_>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut disk_no = 0;
    for (key, value) in source {
        if matches!(
            key.as_str(),
            "parent" | "snaptime" | "vmstate" | "template" | "lock"
        ) || numbered(key, "unused", 255)
        {
            continue;
        }
        let value = if is_net_key(key) {
            match net_mac(value) {
                Some(mac) => value.replacen(mac, &random_mac(), 1),
                None => value.clone(),
            }
        } else if is_drive_key(key) && !is_cdrom(value) && drive_volume(value).contains(':') {
            let volume = drive_volume(value);
            let (storage, volname) = volume.split_once(':').unwrap_or(("local-lvm", volume));
            let rest = &value[volume.len()..];
            let new_volume = if spec.full {
                let storage = spec.storage.unwrap_or(storage);
                format!("{storage}:vm-{}-disk-{disk_no}", spec.newid)
            } else {
                format!("{storage}:{volname}/vm-{}-disk-{disk_no}", spec.newid)
            };
            disk_no += 1;
            format!("{new_volume}{rest}")
        } else {
            value.clone()
        };
        out.insert(key.clone(), value);
    }
    out.insert("name".into(), spec.name.clone());
    if let Some(description) = spec.description {
        out.insert("description".into(), description.to_owned());
    }
    let uuid = uuid::Uuid::new_v4().to_string();
    let smbios = match source.get("smbios1") {
        Some(old) => {
            let mut parts: Vec<String> = old
                .split(',')
                .filter(|p| !p.starts_with("uuid="))
                .map(str::to_owned)
                .collect();
            parts.insert(0, format!("uuid={uuid}"));
            parts.join(",")
        }
        None => format!("uuid={uuid}"),
    };
    out.insert("smbios1".into(), smbios);
    if out.contains_key("vmgenid") {
        out.insert("vmgenid".into(), uuid::Uuid::new_v4().to_string());
    }
    out.insert(
        "meta".into(),
        format!("creation-qemu=9.0.2,ctime={}", spec.now),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64G"), Some(64 << 30));
        assert_eq!(parse_size("1536M"), Some(1536 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("1.5G"), Some(1536 << 20));
        assert_eq!(parse_size("5X"), None);
        assert_eq!(format_size(64 << 30), "64G");
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(1 << 40), "1T");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(
            with_size("local-lvm:vm-101-disk-0,size=64G,ssd=1", 80 << 30),
            "local-lvm:vm-101-disk-0,size=80G,ssd=1"
        );
    }

    #[test]
    fn nics() {
        let n = normalize_net("virtio,firewall=1,bridge=vmbr0").unwrap();
        assert!(n.starts_with("virtio=BC:24:11:"), "{n}");
        assert!(n.ends_with(",bridge=vmbr0,firewall=1"), "{n}");
        assert_eq!(
            normalize_net("e1000=bc:24:11:00:00:01,bridge=vmbr1").unwrap(),
            "e1000=BC:24:11:00:00:01,bridge=vmbr1"
        );
        assert_eq!(normalize_net("bogus,bridge=vmbr0"), None);
    }

    #[test]
    fn key_rules() {
        assert!(key_type("net31").is_some());
        assert!(key_type("net32").is_none());
        assert!(key_type("scsi30").is_some());
        assert!(key_type("sata6").is_none());
        assert!(key_type("ide01").is_none());
        assert!(key_type("bogus").is_none());
        assert_eq!(render_value("cores", "4"), json!(4));
        assert_eq!(render_value("numa", "0"), json!(0));
        assert_eq!(render_value("memory", "8192"), json!("8192"));
        assert_eq!(render_value("agent", "1"), json!("1"));
        assert!(applies_live("ide2", Some("none,media=cdrom")));
        assert!(!applies_live("ide0", Some("local-lvm:vm-1-disk-0")));
        assert!(!applies_live("cores", Some("2")));
    }

    #[test]
    fn clone_of_a_template() {
        let mut source = BTreeMap::new();
        for (k, v) in [
            ("name", "tpl"),
            ("template", "1"),
            ("sata0", "local-lvm:base-100-disk-0,size=64G"),
            ("ide2", "none,media=cdrom"),
            ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
            (
                "smbios1",
                "uuid=00000000-0000-0000-0000-000000000000,manufacturer=QkM=",
            ),
            ("unused0", "local-lvm:vm-100-disk-9"),
        ] {
            source.insert(k.to_owned(), v.to_owned());
        }
        let spec = CloneSpec {
            newid: 101,
            name: "w11-01".into(),
            description: None,
            full: false,
            storage: None,
            now: 1,
        };
        let c = clone_config(&source, &spec);
        assert_eq!(
            c["sata0"],
            "local-lvm:base-100-disk-0/vm-101-disk-0,size=64G"
        );
        assert_eq!(c["ide2"], "none,media=cdrom");
        assert_ne!(c["net0"], source["net0"]);
        assert!(c["net0"].ends_with(",bridge=vmbr0"));
        assert!(c["smbios1"].ends_with(",manufacturer=QkM="));
        assert!(!c["smbios1"].contains("00000000-0000"));
        assert!(!c.contains_key("template"));
        assert!(!c.contains_key("unused0"));
        assert_eq!(c["name"], "w11-01");
        let full = clone_config(
            &source,
            &CloneSpec {
                full: true,
                storage: Some("fast"),
                ..spec
            },
        );
        assert_eq!(full["sata0"], "fast:vm-101-disk-0,size=64G");
    }
}
