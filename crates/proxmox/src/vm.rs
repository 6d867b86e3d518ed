//! The endpoints: cluster and node queries, VM lifecycle and config, tasks and waits, storage
//! and the guest agent. Paths and parameters follow `spec/proxmox-api.md` sections 4-7.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use tokio::time::{Instant, sleep};

use crate::client::{Body, ProxmoxClient, decode};
use crate::de;
use crate::error::{Error, Result};
use crate::types::{
    CloneOptions, ClusterResource, ConfigUpdate, DeleteOptions, GuestInterface, IsoSource,
    IsoUpload, NodeInfo, PowerAction, ResourceType, StorageVolume, TaskStatus, VersionInfo,
    VmConfig, VmStatus, VmSummary, WaitOptions,
};
use crate::upid::Upid;

/// How often [`ProxmoxClient::clone_with_next_id`] asks for a new id after losing the race.
const CLONE_ID_ATTEMPTS: u32 = 20;

impl ProxmoxClient {
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T> {
        self.call(Method::GET, segments, query, Body::Empty).await
    }

    /// `GET /version`: a cheap connectivity and authentication check.
    pub async fn version(&self) -> Result<VersionInfo> {
        self.get(&["version"], &[]).await
    }

    /// `GET /nodes`.
    pub async fn list_nodes(&self) -> Result<Vec<NodeInfo>> {
        self.get(&["nodes"], &[]).await
    }

    /// `GET /cluster/resources[?type=]`.
    pub async fn cluster_resources(
        &self,
        kind: Option<ResourceType>,
    ) -> Result<Vec<ClusterResource>> {
        let query: Vec<(&str, String)> = kind
            .map(|k| ("type", k.as_str().to_owned()))
            .into_iter()
            .collect();
        self.get(&["cluster", "resources"], &query).await
    }

    /// `GET /cluster/nextid`: the lowest free id. Nothing is reserved, see
    /// [`ProxmoxClient::clone_with_next_id`].
    pub async fn next_id(&self) -> Result<u32> {
        #[derive(Deserialize)]
        struct Id(#[serde(deserialize_with = "de::u32_lenient")] u32);
        let Id(id) = self.get(&["cluster", "nextid"], &[]).await?;
        Ok(id)
    }

    /// `GET /nodes/{node}/qemu` (arbitrary order; a VM being cloned shows `lock: clone`).
    pub async fn list_vms(&self, node: &str) -> Result<Vec<VmSummary>> {
        self.get(&["nodes", node, "qemu"], &[]).await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/status/current`.
    pub async fn vm_status(&self, node: &str, vmid: u32) -> Result<VmStatus> {
        let vmid = vmid.to_string();
        self.get(&["nodes", node, "qemu", &vmid, "status", "current"], &[])
            .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/config` (pending changes merged in, as PVE does by default).
    pub async fn vm_config(&self, node: &str, vmid: u32) -> Result<VmConfig> {
        let vmid = vmid.to_string();
        self.get(&["nodes", node, "qemu", &vmid, "config"], &[])
            .await
    }

    /// `PUT .../config`: synchronous; on a running VM most changes stay pending until restart.
    pub async fn update_config(&self, node: &str, vmid: u32, update: &ConfigUpdate) -> Result<()> {
        let vmid = vmid.to_string();
        let _: Option<serde_json::Value> = self
            .call(
                Method::PUT,
                &["nodes", node, "qemu", &vmid, "config"],
                &[],
                Body::Form(update.to_form()),
            )
            .await?;
        Ok(())
    }

    /// `POST .../config`: the asynchronous variant (recommended when storage is allocated);
    /// returns the `qmconfig` task, or `None` when the server finished it already.
    pub async fn update_config_async(
        &self,
        node: &str,
        vmid: u32,
        update: &ConfigUpdate,
    ) -> Result<Option<Upid>> {
        let vmid = vmid.to_string();
        self.call(
            Method::POST,
            &["nodes", node, "qemu", &vmid, "config"],
            &[],
            Body::Form(update.to_form()),
        )
        .await
    }

    /// Insert an ISO: `<slot>=<volid>,media=cdrom` (works live).
    pub async fn attach_cdrom(&self, node: &str, vmid: u32, slot: &str, volid: &str) -> Result<()> {
        let update = ConfigUpdate::new().set(slot, format!("{volid},media=cdrom"));
        self.update_config(node, vmid, &update).await
    }

    /// Eject: `<slot>=none,media=cdrom` (the drive stays, empty).
    pub async fn detach_cdrom(&self, node: &str, vmid: u32, slot: &str) -> Result<()> {
        let update = ConfigUpdate::new().set(slot, "none,media=cdrom");
        self.update_config(node, vmid, &update).await
    }

    /// `POST .../clone`: returns the `qmclone` task. The new VM exists (locked `clone`) at once;
    /// wait for the task, not for its presence. A taken `newid` is [`Error::AlreadyExists`].
    pub async fn clone_vm(
        &self,
        node: &str,
        vmid: u32,
        newid: u32,
        options: &CloneOptions,
    ) -> Result<Upid> {
        let vmid = vmid.to_string();
        self.call(
            Method::POST,
            &["nodes", node, "qemu", &vmid, "clone"],
            &[],
            Body::Form(options.to_form(newid)),
        )
        .await
    }

    /// Clone into the next free id. `/cluster/nextid` reserves nothing, so concurrent callers
    /// can be handed the same id; the loser's clone fails with "config file already exists"
    /// and it simply asks again.
    pub async fn clone_with_next_id(
        &self,
        node: &str,
        vmid: u32,
        options: &CloneOptions,
    ) -> Result<(u32, Upid)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let newid = self.next_id().await?;
            match self.clone_vm(node, vmid, newid, options).await {
                Ok(upid) => return Ok((newid, upid)),
                Err(Error::AlreadyExists { message }) if attempt < CLONE_ID_ATTEMPTS => {
                    tracing::debug!(newid, "lost the next-id race ({message}); retrying");
                    sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `POST .../status/{action}`: returns the task; "already running" and lock conflicts
    /// arrive as the task's failure, see [`ProxmoxClient::wait_task`].
    pub async fn power(&self, node: &str, vmid: u32, action: PowerAction) -> Result<Upid> {
        let vmid = vmid.to_string();
        self.call(
            Method::POST,
            &["nodes", node, "qemu", &vmid, "status", action.as_str()],
            &[],
            Body::Empty,
        )
        .await
    }

    /// `PUT .../resize` with `size` like `+10G` (grow by) or `64G` (absolute); every check
    /// happens in the task.
    pub async fn resize_disk(&self, node: &str, vmid: u32, disk: &str, size: &str) -> Result<Upid> {
        let vmid = vmid.to_string();
        let form = vec![
            ("disk".to_owned(), disk.to_owned()),
            ("size".to_owned(), size.to_owned()),
        ];
        self.call(
            Method::PUT,
            &["nodes", node, "qemu", &vmid, "resize"],
            &[],
            Body::Form(form),
        )
        .await
    }

    /// `PUT .../sendkey` (`ret`, `ctrl-alt-delete`, `shift-a`, ...); the VM must be running.
    pub async fn send_key(&self, node: &str, vmid: u32, key: &str) -> Result<()> {
        let vmid = vmid.to_string();
        let _: Option<serde_json::Value> = self
            .call(
                Method::PUT,
                &["nodes", node, "qemu", &vmid, "sendkey"],
                &[],
                Body::Form(vec![("key".to_owned(), key.to_owned())]),
            )
            .await?;
        Ok(())
    }

    /// `DELETE /nodes/{node}/qemu/{vmid}`: returns the `qmdestroy` task; the VM stays listed
    /// until it ends. A running VM is refused ([`Error::InvalidState`]).
    pub async fn delete_vm(&self, node: &str, vmid: u32, options: DeleteOptions) -> Result<Upid> {
        let vmid = vmid.to_string();
        let mut query = Vec::new();
        if options.purge {
            query.push(("purge", "1".to_owned()));
        }
        if options.destroy_unreferenced_disks {
            query.push(("destroy-unreferenced-disks", "1".to_owned()));
        }
        self.call(
            Method::DELETE,
            &["nodes", node, "qemu", &vmid],
            &query,
            Body::Empty,
        )
        .await
    }

    /// `GET /nodes/{node}/tasks/{upid}/status`, asked on the node in the UPID.
    pub async fn task_status(&self, upid: &Upid) -> Result<TaskStatus> {
        self.get(
            &["nodes", upid.node(), "tasks", upid.as_str(), "status"],
            &[],
        )
        .await
    }

    /// Poll the task until it stops. `OK` and `WARNINGS: n` return the final status; any other
    /// exit status is [`Error::TaskFailed`] carrying PVE's text; the deadline is
    /// [`Error::Timeout`].
    pub async fn wait_task(&self, upid: &Upid, options: WaitOptions) -> Result<TaskStatus> {
        let deadline = Instant::now() + options.timeout;
        loop {
            let status = self.task_status(upid).await?;
            if !status.is_running() {
                if status.succeeded() {
                    return Ok(status);
                }
                return Err(Error::TaskFailed {
                    upid: upid.to_string(),
                    exitstatus: status
                        .exitstatus
                        .unwrap_or_else(|| "unexpected status".to_owned()),
                });
            }
            pause_until(deadline, options.interval, || {
                format!("task {upid} still running after {:?}", options.timeout)
            })
            .await?;
        }
    }

    /// Poll `status/current` until `status` is `desired` (`running`, `stopped`; compared
    /// case-insensitively). Note a paused VM reports `running`.
    pub async fn wait_vm_status(
        &self,
        node: &str,
        vmid: u32,
        desired: &str,
        options: WaitOptions,
    ) -> Result<VmStatus> {
        let deadline = Instant::now() + options.timeout;
        loop {
            let status = self.vm_status(node, vmid).await?;
            if status.vm.status.eq_ignore_ascii_case(desired) {
                return Ok(status);
            }
            let last = status.vm.status;
            pause_until(deadline, options.interval, || {
                format!(
                    "VM {vmid} did not reach status '{desired}' within {:?} (last: '{last}')",
                    options.timeout
                )
            })
            .await?;
        }
    }

    /// Poll the node's VM list until `vmid` is present (`exists`) or gone.
    pub async fn wait_vm_presence(
        &self,
        node: &str,
        vmid: u32,
        exists: bool,
        options: WaitOptions,
    ) -> Result<()> {
        let deadline = Instant::now() + options.timeout;
        loop {
            let present = self.list_vms(node).await?.iter().any(|vm| vm.vmid == vmid);
            if present == exists {
                return Ok(());
            }
            pause_until(deadline, options.interval, || {
                let what = if exists { "appear" } else { "disappear" };
                format!("VM {vmid} did not {what} within {:?}", options.timeout)
            })
            .await?;
        }
    }

    /// `GET .../agent/network-get-interfaces` (the VM must run and its guest agent answer).
    pub async fn guest_network_interfaces(
        &self,
        node: &str,
        vmid: u32,
    ) -> Result<Vec<GuestInterface>> {
        #[derive(Deserialize)]
        struct Reply {
            result: Vec<GuestInterface>,
        }
        let vmid = vmid.to_string();
        let reply: Reply = self
            .get(
                &[
                    "nodes",
                    node,
                    "qemu",
                    &vmid,
                    "agent",
                    "network-get-interfaces",
                ],
                &[],
            )
            .await?;
        Ok(reply.result)
    }

    /// `GET /nodes/{node}/storage/{storage}/content[?content=]`.
    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: Option<&str>,
    ) -> Result<Vec<StorageVolume>> {
        let query: Vec<(&str, String)> = content
            .map(|c| ("content", c.to_owned()))
            .into_iter()
            .collect();
        self.get(&["nodes", node, "storage", storage, "content"], &query)
            .await
    }

    /// `DELETE /nodes/{node}/storage/{storage}/content/{volume}`: returns the `imgdel` task.
    pub async fn delete_volume(&self, node: &str, storage: &str, volume: &str) -> Result<Upid> {
        self.call(
            Method::DELETE,
            &["nodes", node, "storage", storage, "content", volume],
            &[],
            Body::Empty,
        )
        .await
    }

    /// `POST /nodes/{node}/storage/{storage}/upload` (multipart, `content=iso`): returns the
    /// `imgcopy` task; the file is listed as `<storage>:iso/<name>` once it ends `OK`. The body
    /// has a known length (PVE refuses chunked uploads) and a file is streamed from disk.
    pub async fn upload_iso(&self, node: &str, storage: &str, upload: &IsoUpload) -> Result<Upid> {
        let name = &upload.file_name;
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| (b == b' ' || b.is_ascii_graphic()) && !matches!(b, b'"' | b'/' | b'\\'));
        if !name_ok {
            return Err(local_param_error(
                "filename",
                format!("unusable ISO file name '{name}'"),
            ));
        }
        let length = match &upload.source {
            IsoSource::Bytes(bytes) => bytes.len() as u64,
            IsoSource::File(path) => std::fs::metadata(path)
                .map_err(|e| {
                    local_param_error("filename", format!("cannot read {}: {e}", path.display()))
                })?
                .len(),
        };
        let url = self.url(&["nodes", node, "storage", storage, "upload"], &[]);
        // A slow link must not hit the normal request timeout: allow ~1 MiB/s on top of it.
        let timeout = self.request_timeout() + Duration::from_secs(length / (1 << 20));
        let response = self
            .send(&Method::POST, || {
                let part = match &upload.source {
                    IsoSource::Bytes(bytes) => Part::bytes(bytes.clone()),
                    IsoSource::File(path) => {
                        let file = std::fs::File::open(path).map_err(|e| {
                            local_param_error(
                                "filename",
                                format!("cannot read {}: {e}", path.display()),
                            )
                        })?;
                        let body = reqwest::Body::from(tokio::fs::File::from_std(file));
                        Part::stream_with_length(body, length)
                    }
                }
                .file_name(name.clone());
                let mut form = Form::new().text("content", "iso");
                if let Some(sum) = &upload.sha256 {
                    form = form
                        .text("checksum-algorithm", "sha256")
                        .text("checksum", sum.clone());
                }
                Ok(self
                    .http()
                    .post(url.clone())
                    .timeout(timeout)
                    .multipart(form.part("filename", part)))
            })
            .await?;
        decode(response).await
    }
}

fn local_param_error(param: &str, text: String) -> Error {
    let mut errors = BTreeMap::new();
    errors.insert(param.to_owned(), text.clone());
    Error::BadParams {
        message: text,
        errors,
    }
}

/// Sleep one interval, or fail with `what()` once the deadline has passed.
async fn pause_until(
    deadline: Instant,
    interval: Duration,
    what: impl FnOnce() -> String,
) -> Result<()> {
    let now = Instant::now();
    if now >= deadline {
        return Err(Error::Timeout(what()));
    }
    sleep(interval.min(deadline - now)).await;
    Ok(())
}
