//! What a Proxmox VE host answers, as the agent's client reads it: every reply type is
//! decoded or refused without a panic, and a task id (UPID) that parses prints back to
//! itself.
#![no_main]

use botmox_proxmox::{
    ClusterResource, GuestInterface, NodeInfo, StorageVolume, TaskStatus, Upid, VersionInfo,
    VmConfig, VmStatus, VmSummary,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<VersionInfo>(data);
    let _ = serde_json::from_slice::<Vec<NodeInfo>>(data);
    let _ = serde_json::from_slice::<Vec<VmSummary>>(data);
    let _ = serde_json::from_slice::<VmStatus>(data);
    let _ = serde_json::from_slice::<Vec<ClusterResource>>(data);
    let _ = serde_json::from_slice::<VmConfig>(data);
    let _ = serde_json::from_slice::<TaskStatus>(data);
    let _ = serde_json::from_slice::<Vec<StorageVolume>>(data);
    let _ = serde_json::from_slice::<Vec<GuestInterface>>(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(upid) = text.parse::<Upid>()
    {
        assert_eq!(upid.to_string().parse::<Upid>().as_ref(), Ok(&upid));
    }
});
