//! Cluster, node, VM, task and guest-agent endpoints (spec sections 5-8): synchronous checks
//! answer with PVE's HTTP errors, everything the spec lists as a task failure ends the task.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::params::{
    DNS, NODE, Params, RawParams, STORAGE_ID, STR, Schema, Ty, UINT, checked, validate,
};
use crate::reply::ApiError;
use crate::state::{Outcome, PSTART, RunState, Shared, State, Vm, effect};
use crate::vmconfig::{self, CloneSpec};

/// What every handler gets.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Arc<Shared>,
    pub(crate) caller: &'a Caller,
    pub(crate) raw: &'a RawParams,
}

fn config_missing(node: &str, vmid: u32) -> String {
    format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")
}

/// The VM whose config lives on `node`, or PVE's 500 for a missing config file.
fn existing_vm<'s>(state: &'s State, node: &str, vmid: u32) -> Result<&'s Vm, ApiError> {
    state
        .vm_on(node, vmid)
        .ok_or_else(|| ApiError::fail(config_missing(node, vmid)))
}

fn unable_to_find(node: &str, vmid: u32) -> String {
    format!("unable to find configuration file for VM {vmid} on node '{node}'")
}

fn locked(lock: &str) -> String {
    format!("VM is locked ({lock})")
}

/// Parameters that only `root@pam` may pass.
fn root_only(params: &Params, caller: &Caller, names: &[&str]) -> Result<(), ApiError> {
    match names.iter().find(|n| params.has(n)) {
        Some(name) if !caller.is_root() => {
            Err(ApiError::param(name, "Only root may use this option."))
        }
        _ => Ok(()),
    }
}

fn parse_vmid(text: &str) -> u32 {
    text.parse().unwrap_or_default()
}

pub(crate) fn version(raw: &RawParams) -> Result<Value, ApiError> {
    checked(raw, &[], &[], &[])?;
    Ok(json!({"version": "9.0.3", "release": "9.0", "repoid": "025a6a9e1a0ab9e3"}))
}

pub(crate) fn nodes(ctx: &Ctx<'_>, fingerprint: &str) -> Result<Value, ApiError> {
    checked(ctx.raw, &[], &[], &[])?;
    let state = ctx.shared.lock();
    let items: Vec<Value> = state
        .nodes
        .iter()
        .map(|n| {
            let mut item = node_item(&n.name);
            item["ssl_fingerprint"] = json!(fingerprint);
            item
        })
        .collect();
    Ok(json!(items))
}

fn node_item(name: &str) -> Value {
    json!({
        "node": name, "status": "online", "id": format!("node/{name}"), "type": "node",
        "cpu": 0.0231, "maxcpu": 16, "mem": 12_884_901_888u64, "maxmem": 68_719_476_736u64,
        "disk": 10_737_418_240u64, "maxdisk": 107_374_182_400u64, "uptime": 864_000, "level": ""
    })
}

pub(crate) fn next_id(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let params = checked(ctx.raw, &[], &[("vmid", Ty::Vmid)], &[])?;
    let state = ctx.shared.lock();
    if let Some(vmid) = params.int("vmid") {
        if state.vms.contains_key(&(vmid as u32)) {
            return Err(ApiError::param("vmid", format!("VM {vmid} already exists")));
        }
        return Ok(json!(vmid.to_string()));
    }
    Ok(json!(state.next_free_id().to_string()))
}

pub(crate) fn cluster_resources(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let params = checked(
        ctx.raw,
        &[],
        &[("type", Ty::Enum(&["vm", "storage", "node", "sdn"]))],
        &[],
    )?;
    let kind = params.str("type");
    let want = |k: &str| kind.is_none_or(|t| t == k);
    let state = ctx.shared.lock();
    let now = state.now();
    let mut items = Vec::new();
    if want("vm") {
        let mut guests: Vec<(&u32, &Vm)> = state.vms.iter().collect();
        guests.sort_by_key(|(id, _)| id.to_string());
        for (vmid, vm) in guests {
            let mut item = vm_item(*vmid, vm, now);
            item.insert("id".into(), json!(format!("qemu/{vmid}")));
            item.insert("type".into(), json!("qemu"));
            item.insert("node".into(), json!(vm.node));
            item.insert("template".into(), json!(u8::from(vm.is_template())));
            item.insert("maxcpu".into(), item["cpus"].clone());
            item.remove("cpus");
            for key in ["diskread", "diskwrite"] {
                item.insert(key.into(), json!(0));
            }
            items.push(Value::Object(item));
        }
    }
    if want("node") {
        items.extend(state.nodes.iter().map(|n| {
            let mut item = node_item(&n.name);
            item["cgroup-mode"] = json!(2);
            item["host-arch"] = json!("x86_64");
            item
        }));
    }
    if want("storage") {
        for node in &state.nodes {
            for (name, storage) in &node.storages {
                items.push(json!({
                    "id": format!("storage/{}/{name}", node.name), "storage": name,
                    "node": node.name, "type": "storage", "plugintype": storage.plugin,
                    "status": "available", "shared": 0, "content": storage.content.join(","),
                    "disk": 0, "maxdisk": storage.total
                }));
            }
        }
    }
    Ok(json!(items))
}

/// `memory` of a config in bytes (default 512 MiB).
fn max_mem(config: &BTreeMap<String, String>) -> u64 {
    let mib = config
        .get("memory")
        .and_then(|m| m.trim_start_matches("current=").parse::<u64>().ok())
        .unwrap_or(512);
    mib << 20
}

fn cpus(config: &BTreeMap<String, String>) -> u64 {
    let get = |k: &str, d: u64| config.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    config
        .get("vcpus")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| get("sockets", 1) * get("cores", 1))
        .min(16)
}

/// Size of the boot disk (the first disk in the boot order, else the first disk).
fn boot_disk_size(config: &BTreeMap<String, String>) -> u64 {
    let is_disk = |k: &str| {
        config
            .get(k)
            .is_some_and(|v| vmconfig::is_drive_key(k) && !vmconfig::is_cdrom(v))
    };
    let from_order = config
        .get("boot")
        .and_then(|b| b.strip_prefix("order="))
        .and_then(|order| order.split(';').find(|d| is_disk(d)).map(str::to_owned));
    let key = from_order.or_else(|| config.keys().find(|k| is_disk(k)).cloned());
    key.and_then(|k| config.get(&k).and_then(|v| vmconfig::drive_size(v)))
        .unwrap_or(0)
}

/// The `GET /nodes/{node}/qemu` item of a VM.
fn vm_item(vmid: u32, vm: &Vm, now: u64) -> Map<String, Value> {
    let config = &vm.config;
    let running = vm.is_running();
    let maxmem = max_mem(config);
    let name = config
        .get("name")
        .cloned()
        .unwrap_or_else(|| format!("VM {vmid}"));
    let mut item = Map::new();
    item.insert("vmid".into(), json!(vmid));
    item.insert("name".into(), json!(name));
    item.insert(
        "status".into(),
        json!(if running { "running" } else { "stopped" }),
    );
    item.insert("cpus".into(), json!(cpus(config)));
    item.insert("maxmem".into(), json!(maxmem));
    item.insert("maxdisk".into(), json!(boot_disk_size(config)));
    item.insert("disk".into(), json!(0));
    item.insert("mem".into(), json!(if running { maxmem / 2 } else { 0 }));
    item.insert(
        "memhost".into(),
        json!(if running { maxmem / 2 } else { 0 }),
    );
    item.insert("cpu".into(), if running { json!(0.0312) } else { json!(0) });
    item.insert(
        "uptime".into(),
        json!(if running {
            now.saturating_sub(vm.started)
        } else {
            0
        }),
    );
    item.insert("netin".into(), json!(if running { 1_048_576 } else { 0 }));
    item.insert("netout".into(), json!(if running { 262_144 } else { 0 }));
    if running {
        item.insert("pid".into(), json!(vm.pid));
    }
    if vm.is_template() {
        item.insert("template".into(), json!(1));
    }
    if let Some(lock) = vm.lock() {
        item.insert("lock".into(), json!(lock));
    }
    if let Some(tags) = config.get("tags") {
        item.insert("tags".into(), json!(tags));
    }
    item
}

pub(crate) fn list_vms(ctx: &Ctx<'_>, node: &str) -> Result<Value, ApiError> {
    checked(
        ctx.raw,
        &[("node", node)],
        &[("node", NODE), ("full", Ty::Bool)],
        &[],
    )?;
    let state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let now = state.now();
    let mut items: Vec<Value> = state
        .vms
        .iter()
        .filter(|(_, vm)| vm.node == node)
        .map(|(id, vm)| Value::Object(vm_item(*id, vm, now)))
        .collect();
    // The real order is arbitrary; do not let clients rely on one.
    use rand::seq::SliceRandom;
    items.shuffle(&mut rand::thread_rng());
    Ok(json!(items))
}

const NODE_VMID: &[(&str, Ty)] = &[("node", NODE), ("vmid", Ty::Vmid)];

pub(crate) fn vm_status(ctx: &Ctx<'_>, node: &str, vmid: &str) -> Result<Value, ApiError> {
    checked(ctx.raw, &[("node", node), ("vmid", vmid)], NODE_VMID, &[])?;
    let vmid = parse_vmid(vmid);
    let state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let vm = existing_vm(&state, &node, vmid)?;
    let mut item = vm_item(vmid, vm, state.now());
    let qmp = match vm.run {
        RunState::Stopped => "stopped",
        RunState::Running => "running",
        RunState::Paused => "paused",
    };
    item.insert("qmpstatus".into(), json!(qmp));
    item.insert("ha".into(), json!({"managed": 0}));
    if vmconfig::agent_enabled(&vm.config) {
        item.insert("agent".into(), json!(1));
    }
    if vm.is_running() {
        item.insert("running-machine".into(), json!("pc-q35-9.0+pve0"));
        item.insert("running-qemu".into(), json!("9.0.2"));
        item.insert("diskread".into(), json!(0));
        item.insert("diskwrite".into(), json!(0));
    }
    Ok(Value::Object(item))
}

pub(crate) fn get_config(ctx: &Ctx<'_>, node: &str, vmid: &str) -> Result<Value, ApiError> {
    const LIST: &[(&str, Ty)] = &[
        ("node", NODE),
        ("vmid", Ty::Vmid),
        ("current", Ty::Bool),
        ("snapshot", STR),
    ];
    let params = checked(ctx.raw, &[("node", node), ("vmid", vmid)], LIST, &[])?;
    if params.has("snapshot") && params.has("current") {
        return Err(ApiError::param(
            "current",
            "option conflicts with option 'snapshot'",
        ));
    }
    let vmid = parse_vmid(vmid);
    let state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let vm = existing_vm(&state, &node, vmid)?;
    if let Some(snapshot) = params.str("snapshot") {
        return Err(ApiError::fail(format!(
            "snapshot '{snapshot}' does not exist"
        )));
    }
    let config = if params.flag("current") {
        vm.config.clone()
    } else {
        vm.merged()
    };
    let mut out = Map::new();
    for (k, v) in &config {
        out.insert(k.clone(), vmconfig::render_value(k, v));
    }
    out.insert("digest".into(), json!(vm.digest()));
    Ok(Value::Object(out))
}

/// A validated config change, ready to apply.
struct ConfigChange {
    set: Vec<(String, String)>,
    delete: Vec<String>,
    revert: Vec<String>,
    force: bool,
}

const WRITE_EXTRA: &[&str] = &[
    "node",
    "vmid",
    "delete",
    "revert",
    "force",
    "digest",
    "skiplock",
    "background_delay",
];

fn key_list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split([',', ';', ' '])
        .filter(|k| !k.is_empty())
        .map(|k| {
            if k == "cdrom" {
                "ide2".to_owned()
            } else {
                k.to_owned()
            }
        })
        .collect()
}

/// `PUT` (synchronous, `null`) and `POST` (a `qmconfig` task) of `.../config`.
pub(crate) async fn write_config(
    ctx: &Ctx<'_>,
    node: &str,
    vmid_text: &str,
    asynchronous: bool,
) -> Result<Value, ApiError> {
    let lookup = |k: &str| match k {
        "node" => Some(NODE),
        "vmid" => Some(Ty::Vmid),
        "delete" | "revert" => Some(STR),
        "force" | "skiplock" => Some(Ty::Bool),
        "digest" => Some(Ty::Str { max_len: 40 }),
        "background_delay" if asynchronous => Some(Ty::Int { min: 1, max: 30 }),
        k => vmconfig::key_type(k),
    };
    let params = validate(
        ctx.raw,
        &[("node", node), ("vmid", vmid_text)],
        &Schema {
            lookup: &lookup,
            required: &[],
        },
    )?;
    root_only(&params, ctx.caller, &["skiplock"])?;
    let vmid = parse_vmid(vmid_text);
    let mut change = ConfigChange {
        set: params
            .iter()
            .filter(|(k, _)| !WRITE_EXTRA.contains(&k.as_str()))
            .filter_map(|(k, _)| params.text(k).map(|v| (k.clone(), v)))
            .collect(),
        delete: key_list(params.str("delete")),
        revert: key_list(params.str("revert")),
        force: params.flag("force"),
    };
    let mut errors = BTreeMap::new();
    for (param, keys) in [("delete", &change.delete), ("revert", &change.revert)] {
        for key in keys {
            if vmconfig::key_type(key).is_none() {
                errors.insert(param.to_owned(), format!("unknown option '{key}'"));
            } else if change.set.iter().any(|(k, _)| k == key) {
                errors.insert(
                    param.to_owned(),
                    format!("cannot set and delete the same option '{key}'"),
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::params(errors));
    }

    let upid = {
        let mut state = ctx.shared.lock();
        let node = state.resolve_node(node)?;
        let serial = state.next_serial();
        let node_storages: Vec<String> = state
            .node(&node)
            .map(|n| n.storages.keys().cloned().collect())
            .unwrap_or_default();
        let vm = existing_vm(&state, &node, vmid)?;
        if change.set.is_empty() && change.delete.is_empty() && change.revert.is_empty() {
            return Err(ApiError::fail("no options specified"));
        }
        for key in change.set.iter().map(|(k, _)| k).chain(&change.delete) {
            if vmconfig::ROOT_ONLY.contains(&key.as_str()) && !ctx.caller.is_root() {
                return Err(ApiError::fail(format!("only root can set '{key}' config")));
            }
        }
        if let Some(lock) = vm.lock()
            && !params.flag("skiplock")
        {
            return Err(ApiError::fail(locked(lock)));
        }
        if let Some(digest) = params.str("digest")
            && digest != vm.digest()
        {
            return Err(ApiError::fail(
                "checksum mismatch (file change by other user?)",
            ));
        }
        // Each value becomes one `key: value` line of the config file; only the description
        // is written as comment lines (qemu-server refuses the write).
        if let Some((key, _)) = change
            .set
            .iter()
            .find(|(k, v)| k != "description" && v.contains(['\n', '\r']))
        {
            return Err(ApiError::fail(format!(
                "unable to parse value of '{key}' - property contains a line feed"
            )));
        }
        let merged = vm.merged();
        let mut disk_no = (0..)
            .find(|n| {
                let name = format!("vm-{vmid}-disk-{n}");
                !merged.values().any(|v| v.contains(&name))
            })
            .unwrap_or(0);
        for (key, value) in &mut change.set {
            if vmconfig::is_net_key(key) {
                *value = vmconfig::normalize_net(value).ok_or_else(|| {
                    ApiError::param(key, "invalid format - unable to parse network options\n")
                })?;
            } else if vmconfig::is_drive_key(key) {
                let volume = vmconfig::drive_volume(value).to_owned();
                let iso = volume.to_ascii_lowercase().ends_with(".iso") || volume.contains(":iso/");
                if iso && !vmconfig::is_cdrom(value) {
                    return Err(ApiError::param(
                        key,
                        "explicit 'media=cdrom' is required for iso images",
                    ));
                }
                if let Some(storage) = vmconfig::volume_storage(&volume) {
                    if !node_storages.iter().any(|s| s == storage) {
                        return Err(ApiError::fail(format!(
                            "storage '{storage}' does not exist"
                        )));
                    }
                    let size = &volume[storage.len() + 1..];
                    if let Ok(gib) = size.parse::<u64>() {
                        // `<storage>:<GiB>` allocates a new disk.
                        let rest = &value[volume.len()..];
                        *value = format!("{storage}:vm-{vmid}-disk-{disk_no},size={gib}G{rest}");
                        disk_no += 1;
                    }
                }
            }
        }
        let memory_after = change
            .set
            .iter()
            .find(|(k, _)| k == "memory")
            .map(|(_, v)| v.clone())
            .or_else(|| merged.get("memory").cloned());
        if let Some((_, balloon)) = change.set.iter().find(|(k, _)| k == "balloon") {
            let memory = memory_after
                .and_then(|m| m.trim_start_matches("current=").parse::<u64>().ok())
                .unwrap_or(512);
            if balloon.parse::<u64>().unwrap_or(0) > memory {
                return Err(ApiError::fail(
                    "balloon value too large (must be smaller than assigned memory)",
                ));
            }
        }
        if !asynchronous {
            let vm = state.vm_on_mut(&node, vmid).expect("checked above");
            apply_change(vm, &change, serial);
            return Ok(Value::Null);
        }
        let task_node = node.clone();
        let outcome = effect(move |state| {
            let serial = state.next_serial();
            let vm = state
                .vm_on_mut(&node, vmid)
                .ok_or_else(|| config_missing(&node, vmid))?;
            apply_change(vm, &change, serial);
            Ok(())
        });
        state.start_task(
            ctx.shared,
            &task_node,
            "qmconfig",
            &vmid.to_string(),
            ctx.caller,
            outcome,
        )
    };
    match params.int("background_delay") {
        Some(delay) => {
            let status = wait_for_task(ctx.shared, &upid, Duration::from_secs(delay as u64)).await;
            match status.as_deref() {
                Some("OK") => Ok(Value::Null),
                Some(error) => Err(ApiError::fail(format!(
                    "failed to update VM {vmid}: {error}"
                ))),
                None => Ok(json!(upid)),
            }
        }
        None => Ok(json!(upid)),
    }
}

fn apply_change(vm: &mut Vm, change: &ConfigChange, serial: u64) {
    let running = vm.is_running();
    for key in &change.revert {
        vm.pending.remove(key);
        vm.pending_delete.remove(key);
    }
    for (key, value) in &change.set {
        vm.pending_delete.remove(key);
        if !running || vmconfig::applies_live(key, Some(value)) {
            vm.config.insert(key.clone(), value.clone());
            vm.pending.remove(key);
        } else {
            vm.pending.insert(key.clone(), value.clone());
        }
    }
    for key in &change.delete {
        if running && !vmconfig::applies_live(key, None) {
            vm.pending_delete.insert(key.clone());
            continue;
        }
        vm.pending.remove(key);
        let Some(old) = vm.config.remove(key) else {
            continue;
        };
        // A detached disk is kept as `unused<n>` unless `force` destroys it.
        let volume = vmconfig::drive_volume(&old);
        if !change.force
            && vmconfig::is_drive_key(key)
            && !vmconfig::is_cdrom(&old)
            && volume.contains(':')
        {
            let slot = (0..)
                .map(|n| format!("unused{n}"))
                .find(|k| !vm.config.contains_key(k))
                .unwrap_or_else(|| "unused0".to_owned());
            vm.config.insert(slot, volume.to_owned());
        }
    }
    vm.serial = serial;
}

/// The exit status of a task once it ends, or `None` if it still runs after `max`.
pub(crate) async fn wait_for_task(shared: &Shared, upid: &str, max: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + max;
    loop {
        let status = shared
            .lock()
            .tasks
            .get(upid)
            .and_then(|t| t.exitstatus.clone());
        if status.is_some() || tokio::time::Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A CD-ROM drive whose ISO is not on its storage (a start then fails).
fn missing_iso(state: &State, node: &str, vm: &Vm) -> Option<String> {
    vm.merged().into_iter().find_map(|(key, value)| {
        if !vmconfig::is_drive_key(&key) || !vmconfig::is_cdrom(&value) {
            return None;
        }
        let volume = vmconfig::drive_volume(&value);
        let (storage, path) = volume.split_once(':')?;
        let file = path.strip_prefix("iso/")?;
        let present = state
            .storage(node, storage)
            .is_ok_and(|s| s.isos.contains_key(file));
        (!present).then(|| volume.to_owned())
    })
}

/// `timeout` of the power actions, in seconds.
const TIMEOUT: (&str, Ty) = (
    "timeout",
    Ty::Int {
        min: 0,
        max: 86_400,
    },
);
const START: &[(&str, Ty)] = &[
    ("node", NODE),
    ("vmid", Ty::Vmid),
    TIMEOUT,
    ("machine", STR),
    ("force-cpu", STR),
    ("skiplock", Ty::Bool),
    ("migratedfrom", NODE),
    ("migration_type", Ty::Enum(&["secure", "insecure"])),
    ("migration_network", STR),
    ("stateuri", STR),
    ("targetstorage", STR),
];
const STOP: &[(&str, Ty)] = &[
    ("node", NODE),
    ("vmid", Ty::Vmid),
    TIMEOUT,
    ("keepActive", Ty::Bool),
    ("overrule-shutdown", Ty::Bool),
    ("skiplock", Ty::Bool),
    ("migratedfrom", NODE),
];
const SHUTDOWN: &[(&str, Ty)] = &[
    ("node", NODE),
    ("vmid", Ty::Vmid),
    TIMEOUT,
    ("forceStop", Ty::Bool),
    ("keepActive", Ty::Bool),
    ("skiplock", Ty::Bool),
];
const REBOOT: &[(&str, Ty)] = &[("node", NODE), ("vmid", Ty::Vmid), TIMEOUT];
const RESET: &[(&str, Ty)] = &[("node", NODE), ("vmid", Ty::Vmid), ("skiplock", Ty::Bool)];
const SUSPEND: &[(&str, Ty)] = &[
    ("node", NODE),
    ("vmid", Ty::Vmid),
    ("todisk", Ty::Bool),
    ("statestorage", STORAGE_ID),
    ("skiplock", Ty::Bool),
];
const RESUME: &[(&str, Ty)] = &[
    ("node", NODE),
    ("vmid", Ty::Vmid),
    ("nocheck", Ty::Bool),
    ("skiplock", Ty::Bool),
];

/// The power actions PVE has, with their parameter lists.
pub(crate) fn power_params(action: &str) -> Option<&'static [(&'static str, Ty)]> {
    Some(match action {
        "start" => START,
        "stop" => STOP,
        "shutdown" => SHUTDOWN,
        "reboot" => REBOOT,
        "reset" => RESET,
        "suspend" => SUSPEND,
        "resume" => RESUME,
        _ => return None,
    })
}

/// `POST .../status/{action}`.
pub(crate) fn power(
    ctx: &Ctx<'_>,
    node: &str,
    vmid_text: &str,
    action: &str,
) -> Result<Value, ApiError> {
    let list = power_params(action).ok_or_else(|| ApiError::fail("unknown action"))?;
    let params = checked(ctx.raw, &[("node", node), ("vmid", vmid_text)], list, &[])?;
    root_only(&params, ctx.caller, &["skiplock", "keepActive", "nocheck"])?;
    let vmid = parse_vmid(vmid_text);
    let skiplock = params.flag("skiplock");
    let mut state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let vm = state.vm_on(&node, vmid);
    let lock = vm
        .and_then(Vm::lock)
        .filter(|_| !skiplock)
        .map(str::to_owned);
    let running = vm.is_some_and(Vm::is_running);
    let paused = vm.is_some_and(|vm| vm.run == RunState::Paused);
    let not_running = || ApiError::fail(format!("VM {vmid} not running"));
    let missing_sync = || ApiError::fail(unable_to_find(&node, vmid));
    let fresh_pid: u32 = 1000 + u32::from(rand::random::<u16>());
    let target = node.clone();
    let (task_type, outcome) = match action {
        "start" => {
            let pre = match vm {
                None => Some(config_missing(&node, vmid)),
                Some(_) if lock.as_deref().is_some_and(|l| l != "suspended") => {
                    lock.as_deref().map(locked)
                }
                Some(vm) if vm.is_template() => {
                    Some("you can't start a vm if it's a template".into())
                }
                Some(_) if running => Some(format!("VM {vmid} already running")),
                Some(vm) => {
                    missing_iso(&state, &node, vm).map(|v| format!("volume '{v}' does not exist"))
                }
            };
            let outcome = match pre {
                Some(text) => Outcome::Fail(text),
                None => effect(move |state| {
                    let (now, serial) = (state.now(), state.next_serial());
                    let vm = state
                        .vm_on_mut(&target, vmid)
                        .ok_or_else(|| config_missing(&target, vmid))?;
                    if vm.is_running() {
                        return Err(format!("VM {vmid} already running"));
                    }
                    vm.apply_pending();
                    if vm.lock() == Some("suspended") {
                        vm.config.remove("lock");
                    }
                    vm.run = RunState::Running;
                    vm.started = now;
                    vm.pid = fresh_pid;
                    vm.serial = serial;
                    Ok(())
                }),
            };
            ("qmstart", outcome)
        }
        "stop" | "shutdown" => {
            if action == "shutdown" && paused && !params.flag("forceStop") {
                return Err(ApiError::fail("VM is paused - cannot shutdown"));
            }
            let pre = match vm {
                None => Some(unable_to_find(&node, vmid)),
                Some(_) if running => lock.as_deref().map(locked),
                Some(_) => None,
            };
            let outcome = match pre {
                Some(text) => Outcome::Fail(text),
                None => effect(move |state| {
                    let vm = state
                        .vm_on_mut(&target, vmid)
                        .ok_or_else(|| unable_to_find(&target, vmid))?;
                    vm.run = RunState::Stopped;
                    vm.pid = 0;
                    Ok(())
                }),
            };
            (
                if action == "stop" {
                    "qmstop"
                } else {
                    "qmshutdown"
                },
                outcome,
            )
        }
        "reboot" | "reset" => {
            if vm.is_none() {
                return Err(missing_sync());
            }
            if action == "reboot" && paused {
                return Err(ApiError::fail("VM is paused - cannot shutdown"));
            }
            if !running {
                return Err(not_running());
            }
            let reboot = action == "reboot";
            let outcome = match lock.as_deref() {
                Some(l) => Outcome::Fail(locked(l)),
                None => effect(move |state| {
                    let (now, serial) = (state.now(), state.next_serial());
                    let vm = state
                        .vm_on_mut(&target, vmid)
                        .ok_or_else(|| unable_to_find(&target, vmid))?;
                    if reboot {
                        vm.apply_pending();
                        vm.pid = fresh_pid;
                        vm.serial = serial;
                    }
                    vm.run = RunState::Running;
                    vm.started = now;
                    Ok(())
                }),
            };
            (if reboot { "qmreboot" } else { "qmreset" }, outcome)
        }
        "suspend" => {
            if vm.is_none() {
                return Err(missing_sync());
            }
            if !running {
                return Err(not_running());
            }
            let todisk = params.flag("todisk");
            let outcome = match lock.as_deref() {
                Some(l) => Outcome::Fail(locked(l)),
                None => effect(move |state| {
                    let serial = state.next_serial();
                    let vm = state
                        .vm_on_mut(&target, vmid)
                        .ok_or_else(|| unable_to_find(&target, vmid))?;
                    if todisk {
                        vm.run = RunState::Stopped;
                        vm.pid = 0;
                        vm.config.insert("lock".into(), "suspended".into());
                        vm.serial = serial;
                    } else {
                        vm.run = RunState::Paused;
                    }
                    Ok(())
                }),
            };
            (if todisk { "qmsuspend" } else { "qmpause" }, outcome)
        }
        _ => {
            // resume
            let Some(vm) = vm else {
                return Err(missing_sync());
            };
            let from_disk = vm.lock() == Some("suspended");
            if !running && !from_disk {
                return Err(not_running());
            }
            let outcome = match lock.as_deref().filter(|l| *l != "suspended") {
                Some(l) => Outcome::Fail(locked(l)),
                None => effect(move |state| {
                    let (now, serial) = (state.now(), state.next_serial());
                    let vm = state
                        .vm_on_mut(&target, vmid)
                        .ok_or_else(|| unable_to_find(&target, vmid))?;
                    if vm.lock() == Some("suspended") {
                        vm.config.remove("lock");
                        vm.started = now;
                        vm.pid = fresh_pid;
                        vm.serial = serial;
                    }
                    vm.run = RunState::Running;
                    Ok(())
                }),
            };
            ("qmresume", outcome)
        }
    };
    let upid = state.start_task(
        ctx.shared,
        &node,
        task_type,
        &vmid.to_string(),
        ctx.caller,
        outcome,
    );
    Ok(json!(upid))
}

const CLONE: &[(&str, Ty)] = &[
    ("node", NODE),
    ("vmid", Ty::Vmid),
    ("newid", Ty::Vmid),
    ("name", DNS),
    ("description", Ty::Str { max_len: 8192 }),
    ("full", Ty::Bool),
    ("storage", STORAGE_ID),
    ("format", Ty::Enum(&["raw", "qcow2", "vmdk"])),
    ("target", NODE),
    ("pool", STR),
    ("snapname", STR),
    ("bwlimit", UINT),
];

/// `POST .../clone`: the synchronous checks in PVE's order, then a `qmclone` task; the new VM
/// exists at once as a placeholder locked `clone`.
pub(crate) fn clone_vm(ctx: &Ctx<'_>, node: &str, vmid_text: &str) -> Result<Value, ApiError> {
    let params = checked(
        ctx.raw,
        &[("node", node), ("vmid", vmid_text)],
        CLONE,
        &["newid"],
    )?;
    let vmid = parse_vmid(vmid_text);
    let newid = params.int("newid").unwrap_or_default() as u32;
    let mut state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let source = state
        .vm_on(&node, vmid)
        .ok_or_else(|| ApiError::fail(unable_to_find(&node, vmid)))?;
    if let Some(pool) = params.str("pool") {
        return Err(ApiError::status(
            403,
            format!("Permission check failed (pool '{pool}' does not exist)"),
        ));
    }
    let target = params.str("target");
    if let Some(target) = target
        && state.node(target).is_none()
    {
        return Err(ApiError::fail(format!("no such cluster node '{target}'")));
    }
    let storage = params.str("storage");
    if let Some(storage) = storage {
        if !state.storage(&node, storage)?.supports("images") {
            return Err(ApiError::param(
                "storage",
                format!("storage '{storage}' does not support vm images"),
            ));
        }
        if target.is_some() {
            return Err(ApiError::fail(format!(
                "can't clone to non-shared storage '{storage}'"
            )));
        }
    }
    if let Some(lock) = source.lock() {
        return Err(ApiError::fail(locked(lock)));
    }
    if let Some(snapname) = params.str("snapname") {
        return Err(ApiError::fail(format!(
            "snapshot '{snapname}' does not exist"
        )));
    }
    let full = params.opt_flag("full").unwrap_or(!source.is_template());
    if !full {
        for name in ["storage", "format"] {
            if params.has(name) {
                return Err(ApiError::fail(format!(
                    "parameter '{name}' not allowed for linked clones"
                )));
            }
        }
    }
    let disks: Vec<(String, String)> = source
        .config
        .iter()
        .filter(|(k, v)| vmconfig::is_drive_key(k) && !vmconfig::is_cdrom(v))
        .map(|(k, v)| (k.clone(), vmconfig::drive_volume(v).to_owned()))
        .collect();
    if let Some(target) = target
        && !disks.is_empty()
    {
        return Err(ApiError::fail(format!(
            "can't clone VM to node '{target}' (VM uses local storage)"
        )));
    }
    if state.vms.contains_key(&newid) {
        return Err(ApiError::fail(format!(
            "unable to create VM {newid}: config file already exists"
        )));
    }
    if !full
        && !source.is_template()
        && let Some((drive, volume)) = disks.first()
    {
        return Err(ApiError::fail(format!(
            "Linked clone feature is not supported for '{volume}' ({drive})"
        )));
    }
    let name = params.str("name").map(str::to_owned).unwrap_or_else(|| {
        let source_name = source
            .config
            .get("name")
            .cloned()
            .unwrap_or_else(|| vmid.to_string());
        format!("Copy-of-VM-{source_name}")
    });
    let description = params.str("description").map(str::to_owned);
    let storage = storage.map(str::to_owned);
    let mut placeholder = BTreeMap::new();
    placeholder.insert("lock".to_owned(), "clone".to_owned());
    placeholder.insert(
        "description".to_owned(),
        "qmclone temporary file".to_owned(),
    );
    let serial = state.next_serial();
    state.vms.insert(newid, Vm::new(&node, placeholder, serial));
    let task_node = node.clone();
    let outcome = Outcome::Run(Box::new(
        move |state: &mut State, injected: Option<String>| {
            let drop_placeholder = |state: &mut State| {
                if state
                    .vms
                    .get(&newid)
                    .is_some_and(|vm| vm.lock() == Some("clone"))
                {
                    state.vms.remove(&newid);
                }
            };
            if let Some(text) = injected {
                drop_placeholder(state);
                return Err(text);
            }
            let Some(source) = state.vm_on(&node, vmid) else {
                drop_placeholder(state);
                return Err(format!("clone failed: {}", unable_to_find(&node, vmid)));
            };
            let spec = CloneSpec {
                newid,
                name,
                description: description.as_deref(),
                full,
                storage: storage.as_deref(),
                now: state.now(),
            };
            let config = vmconfig::clone_config(&source.config, &spec);
            let serial = state.next_serial();
            match state.vms.get_mut(&newid) {
                Some(vm) if vm.lock() == Some("clone") => {
                    vm.config = config;
                    vm.serial = serial;
                    Ok(())
                }
                _ => Err(format!(
                    "clone failed: VM {newid} vanished during the clone"
                )),
            }
        },
    ));
    let upid = state.start_task(
        ctx.shared,
        &task_node,
        "qmclone",
        &vmid.to_string(),
        ctx.caller,
        outcome,
    );
    Ok(json!(upid))
}

fn is_resize_size(s: &str) -> bool {
    let s = s.strip_prefix('+').unwrap_or(s);
    let s = s.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `PUT .../resize`: every check happens in the task.
pub(crate) fn resize(ctx: &Ctx<'_>, node: &str, vmid_text: &str) -> Result<Value, ApiError> {
    const LIST: &[(&str, Ty)] = &[
        ("node", NODE),
        ("vmid", Ty::Vmid),
        (
            "disk",
            Ty::Format(vmconfig::is_drive_key, "value is not a disk name"),
        ),
        (
            "size",
            Ty::Format(is_resize_size, "value does not match the regex pattern"),
        ),
        ("digest", Ty::Str { max_len: 40 }),
        ("skiplock", Ty::Bool),
    ];
    let params = checked(
        ctx.raw,
        &[("node", node), ("vmid", vmid_text)],
        LIST,
        &["disk", "size"],
    )?;
    root_only(&params, ctx.caller, &["skiplock"])?;
    let vmid = parse_vmid(vmid_text);
    let disk = params.str("disk").unwrap_or_default().to_owned();
    let size = params.str("size").unwrap_or_default().to_owned();
    let mut state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let pre: Result<u64, String> = (|| {
        let vm = state
            .vm_on(&node, vmid)
            .ok_or_else(|| config_missing(&node, vmid))?;
        if let Some(digest) = params.str("digest")
            && digest != vm.digest()
        {
            return Err("checksum mismatch (file change by other user?)".to_owned());
        }
        if let Some(lock) = vm.lock().filter(|_| !params.flag("skiplock")) {
            return Err(locked(lock));
        }
        let drive = vm
            .config
            .get(&disk)
            .ok_or_else(|| format!("disk '{disk}' does not exist"))?;
        if vmconfig::is_cdrom(drive) {
            return Err("you can't resize a cdrom".to_owned());
        }
        let current = vmconfig::drive_size(drive).unwrap_or(0);
        let new = match size.strip_prefix('+') {
            Some(grow) => current.saturating_add(vmconfig::parse_size(grow).unwrap_or(0)),
            None => vmconfig::parse_size(&size).unwrap_or(0),
        };
        if new < current {
            return Err("shrinking disks is not supported".to_owned());
        }
        Ok(new)
    })();
    let target = node.clone();
    let outcome = match pre {
        Err(text) => Outcome::Fail(text),
        Ok(bytes) => effect(move |state| {
            let serial = state.next_serial();
            let vm = state
                .vm_on_mut(&target, vmid)
                .ok_or_else(|| config_missing(&target, vmid))?;
            let drive = vm
                .config
                .get(&disk)
                .ok_or_else(|| format!("disk '{disk}' does not exist"))?;
            let resized = vmconfig::with_size(drive, bytes);
            vm.config.insert(disk, resized);
            vm.serial = serial;
            Ok(())
        }),
    };
    let upid = state.start_task(
        ctx.shared,
        &node,
        "resize",
        &vmid.to_string(),
        ctx.caller,
        outcome,
    );
    Ok(json!(upid))
}

fn is_key_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// `PUT .../sendkey`.
pub(crate) fn send_key(ctx: &Ctx<'_>, node: &str, vmid_text: &str) -> Result<Value, ApiError> {
    const LIST: &[(&str, Ty)] = &[
        ("node", NODE),
        ("vmid", Ty::Vmid),
        (
            "key",
            Ty::Format(is_key_name, "value does not match the regex pattern"),
        ),
        ("skiplock", Ty::Bool),
    ];
    let params = checked(
        ctx.raw,
        &[("node", node), ("vmid", vmid_text)],
        LIST,
        &["key"],
    )?;
    root_only(&params, ctx.caller, &["skiplock"])?;
    let vmid = parse_vmid(vmid_text);
    let state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let vm = existing_vm(&state, &node, vmid)?;
    if !vm.is_running() {
        return Err(ApiError::fail(format!("VM {vmid} not running")));
    }
    Ok(Value::Null)
}

/// `DELETE /nodes/{node}/qemu/{vmid}`.
pub(crate) fn delete_vm(ctx: &Ctx<'_>, node: &str, vmid_text: &str) -> Result<Value, ApiError> {
    const LIST: &[(&str, Ty)] = &[
        ("node", NODE),
        ("vmid", Ty::Vmid),
        ("purge", Ty::Bool),
        ("destroy-unreferenced-disks", Ty::Bool),
        ("skiplock", Ty::Bool),
    ];
    let params = checked(ctx.raw, &[("node", node), ("vmid", vmid_text)], LIST, &[])?;
    root_only(&params, ctx.caller, &["skiplock"])?;
    let vmid = parse_vmid(vmid_text);
    let mut state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let vm = existing_vm(&state, &node, vmid)?;
    if vm.config.get("protection").map(String::as_str) == Some("1") {
        return Err(ApiError::fail(format!(
            "can't remove VM {vmid} - protection mode enabled"
        )));
    }
    if vm.is_running() {
        return Err(ApiError::fail(format!(
            "VM {vmid} is running - destroy failed"
        )));
    }
    let base_in_use = vm.is_template().then(|| {
        vm.config.iter().find_map(|(key, value)| {
            if !vmconfig::is_drive_key(key) || vmconfig::is_cdrom(value) {
                return None;
            }
            let volume = vmconfig::drive_volume(value);
            let (_, volname) = volume.split_once(':')?;
            let prefix = format!("{volname}/");
            state
                .vms
                .values()
                .any(|other| other.config.values().any(|v| v.contains(&prefix)))
                .then(|| volume.to_owned())
        })
    });
    let outcome = match (
        vm.lock().filter(|_| !params.flag("skiplock")),
        base_in_use.flatten(),
    ) {
        (Some(lock), _) => Outcome::Fail(locked(lock)),
        (None, Some(volume)) => Outcome::Fail(format!(
            "base volume '{volume}' is still in use by linked cloned"
        )),
        (None, None) => {
            let target = node.clone();
            effect(move |state| {
                state
                    .vm_on(&target, vmid)
                    .ok_or_else(|| config_missing(&target, vmid))?;
                state.vms.remove(&vmid);
                Ok(())
            })
        }
    };
    let upid = state.start_task(
        ctx.shared,
        &node,
        "qmdestroy",
        &vmid.to_string(),
        ctx.caller,
        outcome,
    );
    Ok(json!(upid))
}

/// The UPID shape of spec 5.1.
fn is_upid(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let hex = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
    };
    parts.len() == 9
        && parts[0] == "UPID"
        && !parts[1].is_empty()
        && hex(parts[2], 8, 8)
        && hex(parts[3], 8, 9)
        && hex(parts[4], 8, 8)
        && !parts[5].is_empty()
        && !parts[7].is_empty()
        && parts[8].is_empty()
}

const TASK_STATUS: &[(&str, Ty)] = &[("node", NODE), ("upid", Ty::Str { max_len: 512 })];
const TASK_LOG: &[(&str, Ty)] = &[
    ("node", NODE),
    ("upid", Ty::Str { max_len: 512 }),
    ("start", UINT),
    ("limit", UINT),
];

fn find_task<'s>(
    state: &'s State,
    node: &str,
    upid: &str,
) -> Result<&'s crate::state::Task, ApiError> {
    if !is_upid(upid) {
        return Err(ApiError::param("upid", "unable to parse worker upid"));
    }
    let node = state.resolve_node(node)?;
    state
        .tasks
        .get(upid)
        .filter(|t| t.node == node)
        .ok_or_else(|| ApiError::param("upid", "no such task"))
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
pub(crate) fn task_status(ctx: &Ctx<'_>, node: &str, upid: &str) -> Result<Value, ApiError> {
    checked(ctx.raw, &[("node", node), ("upid", upid)], TASK_STATUS, &[])?;
    let state = ctx.shared.lock();
    let task = find_task(&state, node, upid)?;
    let mut out = json!({
        "upid": task.upid, "node": task.node, "pid": task.pid,
        "pstart": PSTART, "starttime": task.starttime, "type": task.task_type,
        "id": task.id, "user": task.user,
        "status": if task.exitstatus.is_some() { "stopped" } else { "running" },
    });
    if let Some(tokenid) = &task.tokenid {
        out["tokenid"] = json!(tokenid);
    }
    if let Some(exit) = &task.exitstatus {
        out["exitstatus"] = json!(exit);
    }
    Ok(out)
}

/// `GET /nodes/{node}/tasks/{upid}/log`: `(lines, total)`.
pub(crate) fn task_log(ctx: &Ctx<'_>, node: &str, upid: &str) -> Result<(Value, usize), ApiError> {
    let params = checked(ctx.raw, &[("node", node), ("upid", upid)], TASK_LOG, &[])?;
    let state = ctx.shared.lock();
    let task = find_task(&state, node, upid)?;
    let start = params.int("start").unwrap_or(0) as usize;
    let limit = params.int("limit").unwrap_or(50) as usize;
    let lines: Vec<Value> = task
        .log
        .iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, t)| json!({"n": i + 1, "t": t}))
        .collect();
    Ok((json!(lines), task.log.len()))
}

/// `.../agent/{ping,network-get-interfaces}` with the precondition errors of spec 7.14.
pub(crate) fn agent(
    ctx: &Ctx<'_>,
    node: &str,
    vmid_text: &str,
    command: &str,
) -> Result<Value, ApiError> {
    checked(
        ctx.raw,
        &[("node", node), ("vmid", vmid_text)],
        NODE_VMID,
        &[],
    )?;
    let vmid = parse_vmid(vmid_text);
    let state = ctx.shared.lock();
    let node = state.resolve_node(node)?;
    let vm = existing_vm(&state, &node, vmid)?;
    if !vm.config.contains_key("agent") {
        return Err(ApiError::fail("No QEMU guest agent configured"));
    }
    if !vm.is_running() {
        return Err(ApiError::fail(format!("VM {vmid} is not running")));
    }
    if !vmconfig::agent_enabled(&vm.config) || !vm.agent_up || vm.run == RunState::Paused {
        return Err(ApiError::fail("QEMU guest agent is not running"));
    }
    if command == "ping" {
        return Ok(json!({"result": {}}));
    }
    let stats = json!({"rx-bytes": 1_048_576, "rx-packets": 900, "rx-errs": 0, "rx-dropped": 0,
        "tx-bytes": 262_144, "tx-packets": 400, "tx-errs": 0, "tx-dropped": 0});
    let mut interfaces = vec![json!({
        "name": "Loopback Pseudo-Interface 1",
        "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [
            {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128},
            {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8}
        ],
        "statistics": stats
    })];
    let nics = vm
        .config
        .iter()
        .filter(|(k, _)| vmconfig::is_net_key(k))
        .filter_map(|(_, v)| vmconfig::net_mac(v));
    for (i, mac) in nics.enumerate() {
        let name = if i == 0 {
            "Ethernet".to_owned()
        } else {
            format!("Ethernet {}", i + 1)
        };
        let host = 20 + vmid % 200;
        interfaces.push(json!({
            "name": name,
            "hardware-address": mac.to_ascii_lowercase(),
            "ip-addresses": [
                {"ip-address-type": "ipv6", "ip-address": format!("fe80::be24:11ff:fe00:{:x}", vmid), "prefix": 64},
                {"ip-address-type": "ipv4", "ip-address": format!("192.168.{}.{host}", 100 + i), "prefix": 24}
            ],
            "statistics": stats
        }));
    }
    Ok(json!({"result": interfaces}))
}
