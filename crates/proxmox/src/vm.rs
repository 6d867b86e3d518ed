//! The endpoints: cluster and node queries, VM lifecycle and config, tasks and waits, storage
//! and the guest agent. Paths and parameters follow `spec/proxmox-api.md` sections 4-7.

use std::ops::ControlFlow;
use std::time::Duration;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde::de::DeserializeOwned;
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

/// `data` of a call whose answer does not matter (`null`, though the reference implementation
/// once expected a UPID from `PUT .../config`).
type Ignored = Option<serde_json::Value>;

impl ProxmoxClient {
    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T> {
        self.call(Method::GET, segments, query, Body::Empty).await
    }

    /// A call on `/nodes/{node}/qemu/{vmid}/{tail...}`.
    async fn qemu<T: DeserializeOwned>(
        &self,
        method: Method,
        node: &str,
        vmid: u32,
        tail: &[&str],
        query: &[(&str, String)],
        body: Body,
    ) -> Result<T> {
        let vmid = vmid.to_string();
        let mut segments = vec!["nodes", node, "qemu", vmid.as_str()];
        segments.extend_from_slice(tail);
        self.call(method, &segments, query, body).await
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
        let tail = ["status", "current"];
        self.qemu(Method::GET, node, vmid, &tail, &[], Body::Empty)
            .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/config` (pending changes merged in, as PVE does by default).
    pub async fn vm_config(&self, node: &str, vmid: u32) -> Result<VmConfig> {
        self.qemu(Method::GET, node, vmid, &["config"], &[], Body::Empty)
            .await
    }

    /// `PUT .../config`: synchronous; on a running VM most changes stay pending until restart.
    pub async fn update_config(&self, node: &str, vmid: u32, update: &ConfigUpdate) -> Result<()> {
        let form = Body::Form(update.checked_form()?);
        let _: Ignored = self
            .qemu(Method::PUT, node, vmid, &["config"], &[], form)
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
        let form = Body::Form(update.checked_form()?);
        self.qemu(Method::POST, node, vmid, &["config"], &[], form)
            .await
    }

    /// Insert an ISO: `<slot>=<volid>,media=cdrom` (works live). A comma in `volid` would add
    /// drive options of its own, so it is refused.
    pub async fn attach_cdrom(&self, node: &str, vmid: u32, slot: &str, volid: &str) -> Result<()> {
        if volid.is_empty() || volid.contains([',', '=']) {
            return Err(Error::local_param(
                slot,
                format!("not a volume id: {volid:?}"),
            ));
        }
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
        let form = Body::Form(options.to_form(newid));
        self.qemu(Method::POST, node, vmid, &["clone"], &[], form)
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
        let tail = ["status", action.as_str()];
        self.qemu(Method::POST, node, vmid, &tail, &[], Body::Empty)
            .await
    }

    /// `PUT .../resize` with `size` like `+10G` (grow by) or `64G` (absolute); every check
    /// happens in the task.
    pub async fn resize_disk(&self, node: &str, vmid: u32, disk: &str, size: &str) -> Result<Upid> {
        let form = Body::Form(vec![
            ("disk".to_owned(), disk.to_owned()),
            ("size".to_owned(), size.to_owned()),
        ]);
        self.qemu(Method::PUT, node, vmid, &["resize"], &[], form)
            .await
    }

    /// `PUT .../sendkey` (`ret`, `ctrl-alt-delete`, `shift-a`, ...); the VM must be running.
    pub async fn send_key(&self, node: &str, vmid: u32, key: &str) -> Result<()> {
        let form = Body::Form(vec![("key".to_owned(), key.to_owned())]);
        let _: Ignored = self
            .qemu(Method::PUT, node, vmid, &["sendkey"], &[], form)
            .await?;
        Ok(())
    }

    /// `DELETE /nodes/{node}/qemu/{vmid}`: returns the `qmdestroy` task; the VM stays listed
    /// until it ends. A running VM is refused ([`Error::InvalidState`]).
    pub async fn delete_vm(&self, node: &str, vmid: u32, options: DeleteOptions) -> Result<Upid> {
        let mut query = Vec::new();
        if options.purge {
            query.push(("purge", "1".to_owned()));
        }
        if options.destroy_unreferenced_disks {
            query.push(("destroy-unreferenced-disks", "1".to_owned()));
        }
        self.qemu(Method::DELETE, node, vmid, &[], &query, Body::Empty)
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
        let check = move || async move {
            let status = self.task_status(upid).await?;
            if status.is_running() {
                Ok(ControlFlow::Continue(()))
            } else if status.succeeded() {
                Ok(ControlFlow::Break(status))
            } else {
                Err(Error::TaskFailed {
                    upid: upid.to_string(),
                    exitstatus: status
                        .exitstatus
                        .unwrap_or_else(|| "unexpected status".to_owned()),
                })
            }
        };
        poll(options, check, |()| {
            format!("task {upid} still running after {:?}", options.timeout)
        })
        .await
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
        let check = move || async move {
            let status = self.vm_status(node, vmid).await?;
            Ok(if status.vm.status.eq_ignore_ascii_case(desired) {
                ControlFlow::Break(status)
            } else {
                ControlFlow::Continue(status.vm.status)
            })
        };
        poll(options, check, |last| {
            format!(
                "VM {vmid} did not reach status '{desired}' within {:?} (last: '{last}')",
                options.timeout
            )
        })
        .await
    }

    /// Poll the node's VM list until `vmid` is present (`exists`) or gone.
    pub async fn wait_vm_presence(
        &self,
        node: &str,
        vmid: u32,
        exists: bool,
        options: WaitOptions,
    ) -> Result<()> {
        let check = move || async move {
            let present = self.list_vms(node).await?.iter().any(|vm| vm.vmid == vmid);
            Ok(if present == exists {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        };
        poll(options, check, |()| {
            let what = if exists { "appear" } else { "disappear" };
            format!("VM {vmid} did not {what} within {:?}", options.timeout)
        })
        .await
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
        let tail = ["agent", "network-get-interfaces"];
        let reply: Reply = self
            .qemu(Method::GET, node, vmid, &tail, &[], Body::Empty)
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
            return Err(Error::local_param(
                "filename",
                format!("unusable ISO file name {name:?}"),
            ));
        }
        if let Some(sum) = &upload.sha256
            && !(sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Error::local_param(
                "checksum",
                format!("not a SHA-256 hex digest: {sum:?}"),
            ));
        }
        let length = match &upload.source {
            IsoSource::Bytes(bytes) => bytes.len() as u64,
            IsoSource::File(path) => std::fs::metadata(path)
                .map_err(|e| {
                    Error::local_param("filename", format!("cannot read {}: {e}", path.display()))
                })?
                .len(),
        };
        let url = self.url(&["nodes", node, "storage", storage, "upload"], &[])?;
        // A slow link must not hit the normal request timeout: allow ~1 MiB/s on top of it.
        let timeout = self.request_timeout() + Duration::from_secs(length / (1 << 20));
        let response = self
            .send(&Method::POST, || {
                let part = match &upload.source {
                    IsoSource::Bytes(bytes) => Part::bytes(bytes.clone()),
                    IsoSource::File(path) => {
                        let file = std::fs::File::open(path).map_err(|e| {
                            Error::local_param(
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

/// Run `check` every `options.interval` until it breaks with a value (or fails); past
/// `options.timeout` the wait fails with [`Error::Timeout`] built from the last `Continue`.
///
/// `check` is a closure returning a future rather than an async closure: the futures of
/// async closures are not known to be `Send` for every lifetime, and the agent runs these
/// waits on spawned tasks.
async fn poll<T, L, F, Fut>(
    options: WaitOptions,
    mut check: F,
    timed_out: impl FnOnce(L) -> String,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<ControlFlow<T, L>>>,
{
    let deadline = Instant::now() + options.timeout;
    loop {
        let last = match check().await? {
            ControlFlow::Break(done) => return Ok(done),
            ControlFlow::Continue(last) => last,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout(timed_out(last)));
        }
        sleep(options.interval.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClientConfig, Credentials};

    /// A client whose server does not exist: whatever reaches the network fails as transport.
    fn offline() -> ProxmoxClient {
        let credentials = Credentials::ApiToken("a@b!cd=x".parse().unwrap());
        ProxmoxClient::new(ClientConfig::new("http://127.0.0.1:1", credentials).unwrap()).unwrap()
    }

    /// Compiles only if the waits can run on a spawned task, as the agent runs them.
    #[test]
    fn waits_are_send_for_spawned_tasks() {
        fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
        let client = offline();
        let upid: Upid = "UPID:pve:00000001:01B4C5D6:66F0A1B2:qmstart:100:root@pam:"
            .parse()
            .unwrap();
        let options = WaitOptions::default();
        let c = client.clone();
        spawnable(async move { c.wait_task(&upid, options).await });
        let c = client.clone();
        spawnable(async move { c.wait_vm_status("pve", 100, "running", options).await });
        spawnable(async move { client.wait_vm_presence("pve", 100, true, options).await });
    }

    fn refused<T: std::fmt::Debug>(result: Result<T>) -> String {
        match result {
            Err(Error::BadParams { errors, .. }) => {
                errors.into_keys().collect::<Vec<_>>().join(",")
            }
            other => panic!("expected a local refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn injections_are_refused_before_sending() {
        let pve = offline();
        let net = ConfigUpdate::new().set(
            "net0",
            "virtio,bridge=vmbr0\nhookscript: local:snippets/x.sh",
        );
        assert_eq!(refused(pve.update_config("pve", 101, &net).await), "net0");
        assert_eq!(
            refused(pve.update_config_async("pve", 101, &net).await),
            "net0"
        );
        let two = ConfigUpdate::new().delete("ide2,scsi0");
        assert_eq!(refused(pve.update_config("pve", 101, &two).await), "delete");
        let cd = pve
            .attach_cdrom("pve", 101, "ide2", "local:iso/x.iso,media=disk")
            .await;
        assert_eq!(refused(cd), "ide2");
        let name = CloneOptions {
            name: Some("w11\nlock: backup".into()),
            ..CloneOptions::default()
        };
        assert_eq!(refused(pve.clone_vm("pve", 100, 101, &name).await), "name");
        assert_eq!(refused(pve.send_key("pve", 101, "ret\0").await), "key");
        let upload = IsoUpload {
            file_name: "x.iso".into(),
            source: IsoSource::Bytes(vec![1]),
            sha256: Some("abc\r\nContent-Type: text/plain".into()),
        };
        assert_eq!(
            refused(pve.upload_iso("pve", "local", &upload).await),
            "checksum"
        );
        assert!(matches!(
            pve.list_vms("..").await,
            Err(Error::BadParams { .. })
        ));
        assert!(matches!(
            pve.delete_volume("pve", "local", "..").await,
            Err(Error::BadParams { .. })
        ));
        // a multi-line description is fine (PVE stores it as comment lines): it gets as far
        // as the network
        let notes = ConfigUpdate::new().set("description", "two\nlines");
        assert!(matches!(
            pve.update_config("pve", 101, &notes).await,
            Err(Error::Transport(_))
        ));
    }
}
