//! What each step of a job does: the command it sends (built from the job as recorded),
//! how it reads the agent's result, and what it records before the next step. Every step can
//! run again after a restart: the ones with a command find it on the bus, the others are
//! idempotent (the registry write, the wait for Windows).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine;
use botmox_proto::command::{
    AttachCdrom, CloneVm, Command, CreateProvisionIso, DeleteVm, DetachCdrom, OnNode, OnVm,
    ResizeDisk, SendKey, UpdateConfig, VmId,
};
use botmox_proto::licensing::{RegisterVmRequest, UpdateVmRequest, VmStatus};
use botmox_proto::vm_jobs::JobStep;
use serde_json::{Value, json};

use super::drive::{Drive, Halt, Line, StepResult};
use super::provision;
use super::store;
use crate::vm_registry;

/// Lowest VM id a job picks (Proxmox reserves 0 to 99).
const FIRST_VMID: u32 = 101;
/// Highest VM id Proxmox accepts.
const LAST_VMID: u32 = 999_999_999;
/// Drives the config ISO may go into, in order of preference: never the template's
/// installer drive (`ide2` on a stock Windows template) nor any drive the clone has.
const CDROM_SLOTS: &[&str] = &["ide3", "ide1", "ide0", "sata5", "sata4", "sata3", "sata2"];
/// Boot disks, in the order Proxmox boots them by default.
const DISKS: &[&str] = &["scsi0", "virtio0", "sata0", "ide0"];
/// The key pressed to pass "Press any key to boot from CD or DVD".
const BOOT_KEY: &str = "ret";
/// Between two boot key presses.
const KEY_INTERVAL: Duration = Duration::from_secs(1);
/// How often the VM's progress is read while Windows installs.
const PROGRESS_POLL: Duration = Duration::from_secs(1);
/// Upload of a config ISO: its command's own timeout.
const ISO_TIMEOUT_MS: u64 = 120_000;

fn vmid(drive: &Drive) -> StepResult<VmId> {
    drive
        .job
        .vmid
        .and_then(|v| u32::try_from(v).ok())
        .and_then(VmId::new)
        .ok_or_else(|| Halt::Stop("the job has no VM id yet".into()))
}

fn on_vm(drive: &Drive) -> StepResult<OnVm> {
    Ok(OnVm {
        vmid: vmid(drive)?,
        node: drive.job.node.clone(),
        target: drive.job.target.clone(),
    })
}

fn internal(message: impl Into<String>) -> Halt {
    Halt::Fail {
        code: "INTERNAL_ERROR".into(),
        message: message.into(),
    }
}

/// Run `step` of the job once.
pub async fn run(drive: &mut Drive, step: JobStep) -> StepResult {
    match step {
        JobStep::Reserve => reserve(drive).await,
        JobStep::Clone => clone(drive).await,
        JobStep::Inspect => inspect(drive).await,
        JobStep::Resize => resize(drive).await,
        JobStep::Configure => configure(drive).await,
        JobStep::Register => register(drive).await,
        JobStep::Iso => iso(drive).await,
        JobStep::Attach => attach(drive).await,
        JobStep::Start => {
            drive.exec(Command::Start(on_vm(drive)?)).await?;
            drive
                .advance(JobStep::BootKeys, "succeeded", None, |_| {})
                .await
        }
        JobStep::BootKeys => boot_keys(drive).await,
        JobStep::WaitWindows => wait_windows(drive).await,
        JobStep::Detach => detach(drive).await,
        JobStep::Lookup => lookup(drive).await,
        JobStep::Stop => {
            drive.exec(Command::Stop(on_vm(drive)?)).await?;
            drive
                .advance(JobStep::Destroy, "succeeded", None, |_| {})
                .await
        }
        JobStep::Destroy => {
            let on = on_vm(drive)?;
            drive
                .exec(Command::Delete(DeleteVm {
                    vmid: on.vmid,
                    purge: Some(true),
                    destroy_unreferenced_disks: Some(true),
                    node: on.node,
                    target: on.target,
                }))
                .await?;
            drive
                .advance(JobStep::Deactivate, "succeeded", None, |_| {})
                .await
        }
        JobStep::Deactivate => deactivate(drive).await,
        JobStep::Done => Ok(()),
    }
}

/// The VM ids in a `list-vms` result.
fn listed_ids(result: &Value) -> BTreeSet<u32> {
    result
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|vm| match &vm["vmid"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
        .filter_map(|id| u32::try_from(id).ok())
        .collect()
}

/// Pick the lowest VM id that is neither on the node nor held by another live job. The
/// hold is a unique key: two jobs racing for one id, one wins and the other takes the next.
async fn reserve(drive: &mut Drive) -> StepResult {
    let listed = drive
        .exec(Command::ListVms(OnNode {
            node: drive.job.node.clone(),
            target: drive.job.target.clone(),
        }))
        .await?;
    let mut taken = listed_ids(&listed);
    let target_key = drive.job.target.clone().unwrap_or_default();
    let prefix = drive
        .job
        .name_prefix
        .clone()
        .unwrap_or_else(|| "vm-".into());
    loop {
        let held =
            store::held_vmids(drive.state.db.read(), &drive.job.agent_id, &target_key).await?;
        taken.extend(held);
        let Some(id) = (FIRST_VMID..=LAST_VMID).find(|id| !taken.contains(id)) else {
            return Err(Halt::Fail {
                code: "NO_FREE_VMID".into(),
                message: "no free VM id on the node".into(),
            });
        };
        let before = drive.job.clone();
        let result = drive
            .advance(
                JobStep::Clone,
                "succeeded",
                Some(format!("VM id {id}")),
                |job| {
                    job.vmid = Some(id.into());
                    job.vmid_lock = Some(format!("{target_key}/{id}"));
                    job.vm_name = Some(format!("{prefix}{id}"));
                },
            )
            .await;
        match result {
            Err(Halt::Stop(why)) if why.contains("UNIQUE") || why.contains("unique") => {
                // Another job took it first: try the next one.
                drive.job = before;
                taken.insert(id);
            }
            other => return other,
        }
    }
}

async fn clone(drive: &mut Drive) -> StepResult {
    let template = drive
        .job
        .template_vmid
        .and_then(|v| u32::try_from(v).ok())
        .and_then(VmId::new)
        .ok_or_else(|| internal("the job has no template"))?;
    let on = on_vm(drive)?;
    drive
        .exec(Command::Clone(CloneVm {
            template_vm_id: template,
            newid: Some(on.vmid),
            name: drive.job.vm_name.clone(),
            storage: drive.job.storage.clone(),
            format: None,
            full: Some(true),
            node: on.node,
            target: on.target,
        }))
        .await?;
    drive
        .advance(JobStep::Inspect, "succeeded", None, |_| {})
        .await
}

/// `size=64G` of a drive line, in GiB (rounded up).
fn size_gib(line: &str) -> Option<i64> {
    let size = line
        .split(',')
        .find_map(|part| part.trim().strip_prefix("size="))?;
    let (number, unit) = size.split_at(size.len().checked_sub(1)?);
    let value: f64 = number.parse().ok()?;
    let gib = match unit {
        "T" => value * 1024.0,
        "G" => value,
        "M" => value / 1024.0,
        "K" => value / (1024.0 * 1024.0),
        _ => size.parse::<f64>().ok()? / (1024.0 * 1024.0 * 1024.0),
    };
    Some(gib.ceil() as i64)
}

/// `smbios1` with `uuid` set to the job's (its other fields kept).
fn with_uuid(smbios1: Option<&str>, uuid: &str) -> String {
    let mut parts: Vec<String> = smbios1
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty() && !p.starts_with("uuid="))
        .map(str::to_owned)
        .collect();
    parts.insert(0, format!("uuid={uuid}"));
    parts.join(",")
}

/// Read the clone's config: its boot disk and size, a free drive for the config ISO, and
/// its `smbios1` (which gets the job's UUID).
async fn inspect(drive: &mut Drive) -> StepResult {
    let config = drive.exec(Command::GetConfig(on_vm(drive)?)).await?;
    let entry = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_owned);
    let disk = DISKS.iter().find_map(|k| {
        entry(k)
            .filter(|v| !v.contains("media=cdrom"))
            .map(|v| (*k, v))
    });
    let slot = CDROM_SLOTS
        .iter()
        .find(|s| config.get(**s).is_none())
        .ok_or_else(|| Halt::Fail {
            code: "NO_FREE_DRIVE".into(),
            message: "the VM has no free drive for the config ISO".into(),
        })?;
    let uuid = drive
        .job
        .vm_uuid
        .clone()
        .ok_or_else(|| internal("the job has no VM UUID"))?;
    let smbios1 = with_uuid(entry("smbios1").as_deref(), &uuid);
    let detail = format!(
        "disk {}, config ISO on {slot}",
        disk.as_ref().map_or("none", |(k, _)| k)
    );
    drive
        .advance(JobStep::Resize, "succeeded", Some(detail), |job| {
            job.disk_key = disk.as_ref().map(|(k, _)| (*k).to_owned());
            job.disk_size_gib = disk.as_ref().and_then(|(_, v)| size_gib(v));
            job.cdrom_slot = Some((*slot).to_owned());
            job.smbios1 = Some(smbios1);
        })
        .await
}

/// Grow the boot disk to the batch's size; never shrink it.
async fn resize(drive: &mut Drive) -> StepResult {
    let grow = match (
        &drive.job.disk_key,
        drive.job.disk_gib,
        drive.job.disk_size_gib,
    ) {
        (Some(disk), Some(want), Some(has)) if want > has => Some((disk.clone(), want - has)),
        _ => None,
    };
    let Some((disk, by)) = grow else {
        return drive
            .advance(JobStep::Configure, "skipped", None, |_| {})
            .await;
    };
    let on = on_vm(drive)?;
    drive
        .exec(Command::ResizeDisk(ResizeDisk {
            vmid: on.vmid,
            disk,
            size: format!("+{by}G"),
            node: on.node,
            target: on.target,
        }))
        .await?;
    drive
        .advance(
            JobStep::Configure,
            "succeeded",
            Some(format!("+{by}G")),
            |_| {},
        )
        .await
}

/// Cores, memory, the network bridge and the SMBIOS UUID in one config write.
async fn configure(drive: &mut Drive) -> StepResult {
    let job = &drive.job;
    let mut config = BTreeMap::new();
    if let Some(cores) = job.cores {
        config.insert("cores".to_owned(), json!(cores));
    }
    if let Some(memory) = job.memory_mb {
        config.insert("memory".to_owned(), json!(memory));
    }
    if let Some(bridge) = &job.bridge {
        config.insert("net0".to_owned(), json!(format!("virtio,bridge={bridge}")));
    }
    let smbios1 = job
        .smbios1
        .clone()
        .ok_or_else(|| internal("the job has no smbios1"))?;
    config.insert("smbios1".to_owned(), json!(smbios1));
    let on = on_vm(drive)?;
    drive
        .exec(Command::UpdateConfig(UpdateConfig {
            vmid: on.vmid,
            config,
            node: on.node,
            target: on.target,
        }))
        .await?;
    drive
        .advance(JobStep::Register, "succeeded", None, |_| {})
        .await
}

/// Register the VM under the UUID the configure step set on it, for the job's owner.
async fn register(drive: &mut Drive) -> StepResult {
    let job = &drive.job;
    let uuid = job
        .vm_uuid
        .clone()
        .ok_or_else(|| internal("the job has no VM UUID"))?;
    let mut metadata = serde_json::Map::new();
    metadata.insert("source".into(), json!("vm_jobs"));
    metadata.insert("job_id".into(), json!(job.id));
    metadata.insert("vmid".into(), json!(job.vmid));
    metadata.insert("node".into(), json!(job.node));
    metadata.insert("ip".into(), json!(job.ip_config().map(|ip| ip.address)));
    let request = RegisterVmRequest {
        vm_uuid: uuid,
        user_id: None,
        vm_name: job.vm_name.clone(),
        project_id: job.project_id.clone(),
        status: Some(VmStatus::Active),
        metadata: Some(metadata),
        reassign: None,
    };
    vm_registry::service::register(&drive.state.db, &drive.auth, request).await?;
    drive.advance(JobStep::Iso, "succeeded", None, |_| {}).await
}

/// The payload (which issues the VM's provisioning token), then the config ISO built and
/// stored on the node by the agent.
async fn iso(drive: &mut Drive) -> StepResult {
    let result = match drive.sent_before().await? {
        Some(id) => drive.outcome(&id).await?,
        None => {
            let payload = provision::payload(drive).await?;
            drive.job.token_id = Some(payload.token_id.clone());
            let files = payload
                .files
                .iter()
                .map(|(name, bytes)| {
                    (
                        name.clone(),
                        base64::engine::general_purpose::STANDARD.encode(bytes),
                    )
                })
                .collect();
            let on = on_vm(drive)?;
            drive
                .exec(Command::CreateProvisionIso(CreateProvisionIso {
                    vmid: on.vmid,
                    files,
                    iso_name: Some(format!("provision-{}.iso", on.vmid)),
                    iso_storage: drive.job.iso_storage.clone(),
                    timeout_ms: Some(ISO_TIMEOUT_MS),
                    node: on.node,
                    target: on.target,
                }))
                .await?
        }
    };
    let path = result["isoPath"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| internal("the agent's result names no ISO"))?;
    drive
        .advance(JobStep::Attach, "succeeded", Some(path.clone()), |job| {
            job.iso_path = Some(path)
        })
        .await
}

async fn attach(drive: &mut Drive) -> StepResult {
    let on = on_vm(drive)?;
    let iso_path = drive
        .job
        .iso_path
        .clone()
        .ok_or_else(|| internal("the job has no ISO"))?;
    drive
        .exec(Command::AttachCdrom(AttachCdrom {
            vmid: on.vmid,
            iso_path,
            cdrom_slot: drive.job.cdrom_slot.clone(),
            node: on.node,
            target: on.target,
        }))
        .await?;
    drive
        .advance(JobStep::Start, "succeeded", None, |_| {})
        .await
}

/// Press a key once a second, as many times as the batch says, to pass the installer's
/// "Press any key to boot from CD or DVD" prompt.
async fn boot_keys(drive: &mut Drive) -> StepResult {
    while drive.job.keys_sent < drive.job.boot_keys {
        drive.check().await?;
        let on = on_vm(drive)?;
        drive
            .exec(Command::SendKey(SendKey {
                vmid: on.vmid,
                key: BOOT_KEY.into(),
                node: on.node,
                target: on.target,
            }))
            .await?;
        let line = Line {
            step: JobStep::BootKeys,
            status: "succeeded",
            command: drive.job.step_command_id.take(),
            detail: Some(format!("key {}", drive.job.keys_sent + 1)),
        };
        drive.job.keys_sent += 1;
        drive.write(Some(line)).await?;
        if drive.job.keys_sent < drive.job.boot_keys {
            tokio::time::sleep(KEY_INTERVAL).await;
        }
    }
    let pressed = drive.job.keys_sent;
    drive
        .advance(
            JobStep::WaitWindows,
            "succeeded",
            Some(format!("{pressed} key presses")),
            |_| {},
        )
        .await
}

/// Follow the VM's own progress reports until it reports completion; each new report is
/// recorded on the job (and so shown live).
async fn wait_windows(drive: &mut Drive) -> StepResult {
    loop {
        drive.check().await?;
        let seen = provision::progress(drive).await?;
        let text = seen.report.as_ref().map(Value::to_string);
        if text.is_some() && text != drive.job.progress {
            drive.job.progress = text;
            drive.write(None).await?;
        }
        if seen.completed {
            return drive
                .advance(JobStep::Detach, "succeeded", None, |_| {})
                .await;
        }
        tokio::time::sleep(PROGRESS_POLL).await;
    }
}

/// Eject the config ISO and delete it from the storage.
async fn detach(drive: &mut Drive) -> StepResult {
    let on = on_vm(drive)?;
    let result = drive
        .exec(Command::DetachCdrom(DetachCdrom {
            vmid: on.vmid,
            cdrom_slot: drive.job.cdrom_slot.clone(),
            iso_path: drive.job.iso_path.clone(),
            delete_iso: Some(true),
            node: on.node,
            target: on.target,
        }))
        .await?;
    let detail = match result["deletedIso"].as_str() {
        Some(iso) => format!("deleted {iso}"),
        None => format!(
            "ISO not deleted: {}",
            result["deleteError"]
                .as_str()
                .unwrap_or("nothing to delete")
        ),
    };
    drive
        .advance(JobStep::Done, "succeeded", Some(detail), |_| {})
        .await
}

/// Delete jobs: the VM's UUID from its `smbios1`, to deactivate it in the registry.
async fn lookup(drive: &mut Drive) -> StepResult {
    let config = drive.exec(Command::GetConfig(on_vm(drive)?)).await?;
    let uuid = config["smbios1"].as_str().and_then(|s| {
        s.split(',')
            .find_map(|p| p.strip_prefix("uuid="))
            .map(str::to_lowercase)
    });
    let name = config["name"].as_str().map(str::to_owned);
    drive
        .advance(JobStep::Stop, "succeeded", uuid.clone(), |job| {
            job.vm_uuid = uuid;
            job.vm_name = name;
        })
        .await
}

/// Delete jobs: deactivate the VM in the registry, if the owner has it there.
async fn deactivate(drive: &mut Drive) -> StepResult {
    let detail = match drive.job.vm_uuid.clone() {
        Some(uuid) => {
            let request = UpdateVmRequest {
                vm_name: None,
                project_id: None,
                status: Some(VmStatus::Revoked),
                metadata: None,
            };
            match vm_registry::service::update(&drive.state.db, &drive.auth, &uuid, request).await {
                Ok(_) => format!("{uuid} deactivated"),
                Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => {
                    format!("{uuid} is not in the registry")
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => "the VM had no SMBIOS UUID".into(),
    };
    drive
        .advance(JobStep::Done, "succeeded", Some(detail), |_| {})
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_uuids_and_listed_ids_are_read() {
        assert_eq!(size_gib("local-lvm:vm-101-disk-0,size=64G"), Some(64));
        assert_eq!(size_gib("x,size=1536M,ssd=1"), Some(2));
        assert_eq!(size_gib("x,size=1T"), Some(1024));
        assert_eq!(size_gib("none,media=cdrom"), None);
        assert_eq!(
            with_uuid(Some("uuid=old,manufacturer=QkVNVQ=="), "new"),
            "uuid=new,manufacturer=QkVNVQ=="
        );
        assert_eq!(with_uuid(None, "u"), "uuid=u");
        let ids = listed_ids(&json!([{"vmid": 100}, {"vmid": "101"}, {"name": "x"}]));
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec![100, 101]);
    }
}
