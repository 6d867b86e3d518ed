//! Runs one command of the catalogue: Proxmox actions through the typed PVE client (an
//! asynchronous action waits for its task and reports the task's real exit status), SSH
//! actions through [`crate::ssh`] with the allowlist, and the ISO built in memory and
//! uploaded through the API. Every result is JSON; every failure an [`ExecError`].

use std::collections::HashMap;
use std::time::Duration;

use botmox_proto::command::{
    AttachCdrom, CloneVm, Command, CreateProvisionIso, DetachCdrom, DiskFormat, ResourceType,
    SshExec, SshProbe, SshReadConfig, SshWriteConfig, UpdateConfig, UploadIso, VmState,
};
use botmox_proxmox::{
    CloneOptions, ConfigUpdate, DeleteOptions, IsoSource, IsoUpload, PowerAction, ProxmoxClient,
    Upid, WaitOptions,
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::cdrom;
use crate::config::{AgentConfig, DEFAULT_VM_CONFIG_DIR, ProxmoxTarget};
use crate::error::{ExecError, ExecResult, code};
use crate::iso;
use crate::scheduler::VmKey;
use crate::ssh::{self, SshAuth, SshTarget};
use botmox_proto::command::allowlist::{self, Allowed, command_line, config_file, quote};

/// How often a task's status is asked while waiting (PVE suggests 0.5 to 2 s).
const TASK_POLL: Duration = Duration::from_millis(500);
/// Most bytes of stdout or stderr, as JSON, in an `ssh-exec` result (a result is at most
/// 64 KiB of JSON).
const MAX_EXEC_OUTPUT_BYTES: usize = 24 * 1024;
/// Most bytes of stdout or stderr, as JSON, in a probe's result.
const MAX_PROBE_OUTPUT_BYTES: usize = 2000;
/// A download that sends nothing for this long (or the task timeout, if shorter) fails.
const DOWNLOAD_IDLE: Duration = Duration::from_secs(60);
/// SSH user when the config names none.
const DEFAULT_SSH_USER: &str = "root";

/// What runs commands: the agent's targets, a PVE client per target (sharing its ticket
/// across commands), and its SSH settings.
pub struct Executor {
    config: AgentConfig,
    clients: HashMap<String, Result<ProxmoxClient, String>>,
    task_timeout: Duration,
    http: reqwest::Client,
}

fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn not_configured(message: String) -> ExecError {
    ExecError::new(code::PROXMOX_NOT_CONFIGURED, message)
}

fn disk_format(format: DiskFormat) -> &'static str {
    match format {
        DiskFormat::Raw => "raw",
        DiskFormat::Qcow2 => "qcow2",
        DiskFormat::Vmdk => "vmdk",
    }
}

fn resource_type(kind: ResourceType) -> botmox_proxmox::ResourceType {
    match kind {
        ResourceType::Vm => botmox_proxmox::ResourceType::Vm,
        ResourceType::Storage => botmox_proxmox::ResourceType::Storage,
        ResourceType::Node => botmox_proxmox::ResourceType::Node,
        ResourceType::Sdn => botmox_proxmox::ResourceType::Sdn,
    }
}

fn state_name(state: VmState) -> &'static str {
    match state {
        VmState::Running => "running",
        VmState::Stopped => "stopped",
    }
}

/// A config value as PVE's form encoding takes it (booleans as 1/0).
fn form_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        other => other.to_string(),
    }
}

/// Bytes `c` takes in a JSON string (serde_json's escapes).
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if c < ' ' => 6,
        c => c.len_utf8(),
    }
}

/// `text` cut to at most `max` bytes as a JSON string, and whether it was cut: a result must
/// fit the server's 64 KiB whatever the output (box drawing, control bytes) is made of.
fn cut(mut text: String, max: usize) -> (String, bool) {
    let mut used = 0;
    let end = text.char_indices().find_map(|(i, c)| {
        used += json_len(c);
        (used > max).then_some(i)
    });
    match end {
        Some(end) => {
            text.truncate(end);
            (text, true)
        }
        None => (text, false),
    }
}

fn parse_upid(text: &str) -> ExecResult<Upid> {
    text.parse()
        .map_err(|e: botmox_proxmox::Error| ExecError::new(code::BAD_REQUEST, e.to_string()))
}

/// The SSH settings for one command, resolved as far as they go.
/// Where `store_iso` put an ISO, and how (`api` or `ssh`, which has no task).
struct StoredIso {
    volid: String,
    upid: Option<Upid>,
    via: &'static str,
}

struct SshPlan {
    host: Option<String>,
    port: u16,
    user: String,
    auth: Option<SshAuth>,
    pinned: Result<Option<russh::keys::ssh_key::PublicKey>, String>,
    config_dir: String,
    iso_root: Option<String>,
}

impl SshPlan {
    /// The directory of `storage`'s ISOs on the node.
    fn iso_dir(&self, storage: &str) -> String {
        match (&self.iso_root, storage) {
            (Some(root), _) => format!("{}/{storage}", root.trim_end_matches('/')),
            (None, "local") => "/var/lib/vz/template/iso".to_owned(),
            (None, _) => format!("/mnt/pve/{storage}/template/iso"),
        }
    }

    fn target(&self) -> ExecResult<SshTarget> {
        let required = |m: &str| ExecError::new(code::SSH_REQUIRED, m);
        let host = self.host.clone().ok_or_else(|| {
            required("SSH is not configured: no [ssh] host and no Proxmox URL to take it from")
        })?;
        let auth = self
            .auth
            .clone()
            .ok_or_else(|| required("SSH is not configured: no key_file or password in [ssh]"))?;
        let pinned = self
            .pinned
            .clone()
            .map_err(|e| ExecError::new(code::SSH_REQUIRED, e))?;
        Ok(SshTarget {
            host,
            port: self.port,
            user: self.user.clone(),
            auth,
            pinned,
        })
    }

    fn mode(&self) -> &'static str {
        self.auth.as_ref().map_or("none", SshAuth::mode)
    }
}

impl Executor {
    pub fn new(config: &AgentConfig) -> Self {
        let clients = config
            .targets
            .iter()
            .map(|t| {
                let client = t
                    .client_config()
                    .and_then(ProxmoxClient::new)
                    .map_err(|e| e.report());
                (t.id.clone(), client)
            })
            .collect();
        let task_timeout = Duration::from_secs(config.task_timeout_secs);
        // A stalled download fails instead of holding its slot for ever.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(DOWNLOAD_IDLE.min(task_timeout))
            .build()
            .unwrap_or_default();
        Self {
            config: config.clone(),
            clients,
            task_timeout,
            http,
        }
    }

    fn waiting(&self) -> WaitOptions {
        WaitOptions::new(self.task_timeout, TASK_POLL)
    }

    /// The target a command names (else the active or first one) and its client.
    fn proxmox(&self, id: Option<&str>) -> ExecResult<(&ProxmoxTarget, &ProxmoxClient)> {
        let target = self.config.target(id).ok_or_else(|| match id {
            Some(id) => {
                let known: Vec<&str> = self.config.targets.iter().map(|t| t.id.as_str()).collect();
                not_configured(format!(
                    "unknown Proxmox target '{id}' (known: {})",
                    known.join(", ")
                ))
            }
            None => not_configured("the agent has no Proxmox target in its config".into()),
        })?;
        match self.clients.get(&target.id) {
            Some(Ok(client)) => Ok((target, client)),
            Some(Err(e)) => Err(not_configured(format!(
                "Proxmox target '{}': {e}",
                target.id
            ))),
            None => Err(not_configured(format!(
                "Proxmox target '{}' has no client",
                target.id
            ))),
        }
    }

    /// Where a command runs: its target's client and the node (the payload's or the target's).
    fn place<'a>(
        &'a self,
        command: &'a Command,
    ) -> ExecResult<(&'a ProxmoxTarget, &'a ProxmoxClient, &'a str)> {
        let (target, client) = self.proxmox(command.target())?;
        Ok((target, client, command.node().unwrap_or(&target.node)))
    }

    /// The VM a command acts on, for the scheduler's one-at-a-time rule: its `vmid` (a
    /// clone's new id). Commands that act on no single VM have none.
    pub fn vm_key(&self, command: &Command) -> Option<VmKey> {
        use Command as C;
        let vmid = match command {
            C::Start(p)
            | C::Stop(p)
            | C::Shutdown(p)
            | C::Reset(p)
            | C::Suspend(p)
            | C::Resume(p)
            | C::VmStatus(p)
            | C::GetConfig(p)
            | C::GuestNetwork(p) => Some(p.vmid),
            C::Clone(p) => p.newid,
            C::Delete(p) => Some(p.vmid),
            C::UpdateConfig(p) => Some(p.vmid),
            C::ResizeDisk(p) => Some(p.vmid),
            C::WaitVmStatus(p) => Some(p.vmid),
            C::WaitVmPresence(p) => Some(p.vmid),
            C::SendKey(p) => Some(p.vmid),
            C::SshReadConfig(p) => Some(p.vmid),
            C::SshWriteConfig(p) => Some(p.vmid),
            C::CreateProvisionIso(p) => Some(p.vmid),
            C::AttachCdrom(p) => Some(p.vmid),
            C::DetachCdrom(p) => Some(p.vmid),
            C::ListVms(_)
            | C::TaskStatus(_)
            | C::WaitTask(_)
            | C::ClusterResources(_)
            | C::Status(_)
            | C::Login(_)
            | C::ListTargets(_)
            | C::SshStatus(_)
            | C::SshTest(_)
            | C::SshBootstrap(_)
            | C::SshExec(_)
            | C::UploadIso(_) => None,
        }?;
        let target = self.config.target(command.target()).map_or_else(
            || command.target().unwrap_or_default().to_owned(),
            |t| t.id.clone(),
        );
        Some(VmKey {
            target,
            vmid: vmid.get(),
        })
    }

    /// Run one command.
    pub async fn execute(&self, command: &Command) -> ExecResult<Value> {
        use Command as C;
        match command {
            C::Start(p) => self.power(command, p.vmid.get(), PowerAction::Start).await,
            C::Stop(p) => self.power(command, p.vmid.get(), PowerAction::Stop).await,
            C::Shutdown(p) => {
                self.power(command, p.vmid.get(), PowerAction::Shutdown)
                    .await
            }
            C::Reset(p) => self.power(command, p.vmid.get(), PowerAction::Reset).await,
            C::Suspend(p) => {
                self.power(command, p.vmid.get(), PowerAction::Suspend)
                    .await
            }
            C::Resume(p) => self.power(command, p.vmid.get(), PowerAction::Resume).await,
            C::Clone(p) => self.clone_vm(command, p).await,
            C::Delete(p) => {
                let (_, client, node) = self.place(command)?;
                let options = DeleteOptions {
                    purge: p.purge.unwrap_or(false),
                    destroy_unreferenced_disks: p.destroy_unreferenced_disks.unwrap_or(false),
                };
                let upid = client.delete_vm(node, p.vmid.get(), options).await?;
                let mut result = self.finish(client, upid).await?;
                result["vmid"] = json!(p.vmid);
                Ok(result)
            }
            C::ListVms(_) => {
                let (_, client, node) = self.place(command)?;
                Ok(to_json(&client.list_vms(node).await?))
            }
            C::VmStatus(p) => {
                let (_, client, node) = self.place(command)?;
                Ok(to_json(&client.vm_status(node, p.vmid.get()).await?))
            }
            C::GetConfig(p) => {
                let (_, client, node) = self.place(command)?;
                Ok(to_json(&client.vm_config(node, p.vmid.get()).await?))
            }
            C::UpdateConfig(p) => self.update_config(command, p).await,
            C::ResizeDisk(p) => {
                let (_, client, node) = self.place(command)?;
                let upid = client
                    .resize_disk(node, p.vmid.get(), &p.disk, &p.size)
                    .await?;
                let mut result = self.finish(client, upid).await?;
                result["vmid"] = json!(p.vmid);
                result["disk"] = json!(p.disk);
                result["size"] = json!(p.size);
                Ok(result)
            }
            C::TaskStatus(p) => {
                let (_, client) = self.proxmox(command.target())?;
                Ok(to_json(&client.task_status(&parse_upid(&p.upid)?).await?))
            }
            C::WaitTask(p) => {
                let (_, client) = self.proxmox(command.target())?;
                let upid = parse_upid(&p.upid)?;
                let waiting = WaitOptions::new(p.timeout(), p.interval());
                Ok(to_json(&client.wait_task(&upid, waiting).await?))
            }
            C::WaitVmStatus(p) => {
                let (_, client, node) = self.place(command)?;
                let waiting = WaitOptions::new(p.timeout(), p.interval());
                let status = client
                    .wait_vm_status(node, p.vmid.get(), state_name(p.desired()), waiting)
                    .await?;
                Ok(to_json(&status))
            }
            C::WaitVmPresence(p) => {
                let (_, client, node) = self.place(command)?;
                let waiting = WaitOptions::new(p.timeout(), p.interval());
                client
                    .wait_vm_presence(node, p.vmid.get(), p.should_exist(), waiting)
                    .await?;
                Ok(json!({"vmid": p.vmid, "exists": p.should_exist()}))
            }
            C::SendKey(p) => {
                let (_, client, node) = self.place(command)?;
                client.send_key(node, p.vmid.get(), &p.key).await?;
                Ok(json!({"vmid": p.vmid, "key": p.key, "sent": true}))
            }
            C::ClusterResources(p) => {
                let (_, client) = self.proxmox(command.target())?;
                let kind = p.resource_type.map(resource_type);
                Ok(to_json(&client.cluster_resources(kind).await?))
            }
            C::Status(_) => {
                let (target, client) = self.proxmox(command.target())?;
                let mut result = to_json(&client.version().await?);
                result["connected"] = json!(true);
                result["target"] = json!(target.id);
                Ok(result)
            }
            C::Login(p) => {
                let (target, client) = self.proxmox(command.target())?;
                client.login(p.force.unwrap_or(false)).await?;
                Ok(json!({"ok": true, "target": target.id}))
            }
            C::ListTargets(_) => Ok(self.list_targets()),
            C::SshStatus(p) | C::SshTest(p) => Ok(self.ssh_probe(p, false).await),
            C::SshBootstrap(p) => Ok(self.ssh_probe(p, true).await),
            C::SshReadConfig(p) => self.ssh_read_config(p).await,
            C::SshWriteConfig(p) => self.ssh_write_config(p).await,
            C::SshExec(p) => self.ssh_exec(p).await,
            C::CreateProvisionIso(p) => self.create_provision_iso(command, p).await,
            C::AttachCdrom(p) => self.attach_cdrom(command, p).await,
            C::DetachCdrom(p) => self.detach_cdrom(command, p).await,
            C::GuestNetwork(p) => {
                let (_, client, node) = self.place(command)?;
                let interfaces = client.guest_network_interfaces(node, p.vmid.get()).await?;
                Ok(json!({"vmid": p.vmid, "interfaces": to_json(&interfaces)}))
            }
            C::UploadIso(p) => self.upload_iso(command, p).await,
        }
    }

    /// Wait for a task and answer with its real exit status (a failed one is an error).
    async fn finish(&self, client: &ProxmoxClient, upid: Upid) -> ExecResult<Value> {
        let status = client.wait_task(&upid, self.waiting()).await?;
        Ok(json!({
            "upid": upid.as_str(),
            "node": upid.node(),
            "exitstatus": status.exitstatus,
        }))
    }

    async fn power(&self, command: &Command, vmid: u32, action: PowerAction) -> ExecResult<Value> {
        let (_, client, node) = self.place(command)?;
        let upid = client.power(node, vmid, action).await?;
        let mut result = self.finish(client, upid).await?;
        result["vmid"] = json!(vmid);
        result["action"] = json!(action.as_str());
        Ok(result)
    }

    async fn clone_vm(&self, command: &Command, p: &CloneVm) -> ExecResult<Value> {
        let (_, client, node) = self.place(command)?;
        let options = CloneOptions {
            name: p.name.clone(),
            full: p.full,
            storage: p.storage.clone(),
            format: p.format.map(|f| disk_format(f).to_owned()),
            ..CloneOptions::default()
        };
        let source = p.template_vm_id.get();
        let (newid, upid) = match p.newid {
            Some(id) => (
                id.get(),
                client.clone_vm(node, source, id.get(), &options).await?,
            ),
            // `/cluster/nextid` reserves nothing: the client retries when another clone won.
            None => client.clone_with_next_id(node, source, &options).await?,
        };
        let mut result = self.finish(client, upid).await?;
        result["vmid"] = json!(newid);
        result["newid"] = json!(newid);
        result["templateVmId"] = json!(source);
        if let Some(name) = &p.name {
            result["name"] = json!(name);
        }
        Ok(result)
    }

    async fn update_config(&self, command: &Command, p: &UpdateConfig) -> ExecResult<Value> {
        let (_, client, node) = self.place(command)?;
        let update = p
            .config
            .iter()
            .fold(ConfigUpdate::new(), |u, (k, v)| u.set(k, form_value(v)));
        // POST: PVE runs it as a task when it allocates storage, else answers at once.
        let upid = client
            .update_config_async(node, p.vmid.get(), &update)
            .await?;
        let keys: Vec<&String> = p.config.keys().collect();
        let mut result = match upid {
            Some(upid) => self.finish(client, upid).await?,
            None => json!({"upid": null}),
        };
        result["vmid"] = json!(p.vmid);
        result["updated"] = json!(keys);
        Ok(result)
    }

    fn list_targets(&self) -> Value {
        let active = self.config.target(None).map(|t| t.id.clone());
        let mut targets: Vec<&ProxmoxTarget> = self.config.targets.iter().collect();
        targets.sort_by_key(|t| (Some(&t.id) != active.as_ref(), t.label()));
        let ssh = self.config.ssh.is_some();
        Value::Array(
            targets
                .into_iter()
                .map(|t| {
                    json!({
                        "id": t.id,
                        "label": t.label(),
                        "url": t.url,
                        "username": t.user(),
                        "node": t.node,
                        "isActive": Some(&t.id) == active.as_ref(),
                        "sshConfigured": ssh,
                    })
                })
                .collect(),
        )
    }

    // ---- SSH ---------------------------------------------------------------------------

    fn ssh_plan(&self, target_id: Option<&str>, probe: Option<&SshProbe>) -> SshPlan {
        let proxmox = self.config.target(target_id);
        let settings = self.config.ssh.clone().unwrap_or_default();
        let configured = self.config.ssh.is_some();
        let host = probe
            .and_then(|p| p.ssh_host.clone())
            .or(settings.host.clone())
            .or_else(|| proxmox.and_then(ProxmoxTarget::host))
            .filter(|_| configured);
        let auth = match (&settings.key_file, &settings.password) {
            (Some(path), _) => Some(SshAuth::Key(path.clone())),
            (None, Some(password)) if !password.is_empty() => {
                Some(SshAuth::Password(password.clone()))
            }
            _ => None,
        };
        SshPlan {
            host,
            port: probe.and_then(|p| p.ssh_port).unwrap_or(settings.port),
            user: probe
                .and_then(|p| p.ssh_username.clone())
                .or(settings.user.clone())
                .unwrap_or_else(|| DEFAULT_SSH_USER.to_owned()),
            auth,
            pinned: settings.pinned_key().map_err(|e| format!("{e:#}")),
            iso_root: settings.iso_root.filter(|_| configured),
            config_dir: if configured {
                settings.config_dir
            } else {
                DEFAULT_VM_CONFIG_DIR.to_owned()
            },
        }
    }

    /// The SSH target of the agent's own settings (for the doctor and `ssh trust`).
    pub fn ssh_target(&self) -> ExecResult<SshTarget> {
        self.ssh_plan(None, None).target()
    }

    /// Host and port of the agent's own SSH settings (what `ssh trust` connects to).
    pub fn ssh_address(&self) -> ExecResult<(String, u16)> {
        let plan = self.ssh_plan(None, None);
        let host = plan.host.ok_or_else(|| {
            ExecError::new(
                code::SSH_REQUIRED,
                "SSH is not configured: no [ssh] section, or no host and no Proxmox URL",
            )
        })?;
        Ok((host, plan.port))
    }

    /// `ssh-status`, `ssh-test`, `ssh-bootstrap`: never fails; the outcome is in `code`.
    pub async fn ssh_probe(&self, p: &SshProbe, bootstrap: bool) -> Value {
        let plan = self.ssh_plan(p.target.as_deref(), Some(p));
        let mut result = json!({
            "configured": false,
            "host": plan.host,
            "port": plan.port,
            "username": plan.user,
            "mode": plan.mode(),
            "connected": false,
        });
        let outcome = match plan.target() {
            Ok(target) => ssh::exec(&target, "echo BOTMOX_SSH_OK", None, p.timeout()).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(out) => {
                let ok = out.success() && out.stdout.contains("BOTMOX_SSH_OK");
                result["configured"] = json!(true);
                result["connected"] = json!(true);
                result["code"] = json!(if ok { "OK" } else { code::SSH_EXEC_ERROR });
                result["stdout"] = json!(cut(out.stdout, MAX_PROBE_OUTPUT_BYTES).0);
                result["stderr"] = json!(cut(out.stderr, MAX_PROBE_OUTPUT_BYTES).0);
                if !ok {
                    result["message"] =
                        json!(format!("the probe command exited with {:?}", out.exit_code));
                }
            }
            Err(e) => {
                result["configured"] = json!(e.code != code::SSH_REQUIRED);
                result["code"] = json!(e.code);
                result["message"] = json!(e.message);
            }
        }
        if bootstrap {
            result["bootstrap"] = json!("validated");
        }
        result
    }

    async fn ssh_read_config(&self, p: &SshReadConfig) -> ExecResult<Value> {
        let plan = self.ssh_plan(p.target.as_deref(), None);
        let target = plan.target()?;
        let argv = Allowed::CatConfig { vmid: p.vmid.get() }.argv(&plan.config_dir);
        let out = ssh::exec(&target, &command_line(&argv), None, p.timeout()).await?;
        if !out.success() {
            return Err(ExecError::new(
                code::SSH_READ_FAILED,
                out.stderr.trim().to_owned(),
            ));
        }
        Ok(json!({"vmid": p.vmid, "config": out.stdout}))
    }

    async fn ssh_write_config(&self, p: &SshWriteConfig) -> ExecResult<Value> {
        let plan = self.ssh_plan(p.target.as_deref(), None);
        let target = plan.target()?;
        let mut content = p.content.clone();
        if !content.ends_with('\n') {
            content.push('\n');
        }
        // The file content travels on stdin; the command line is fixed words only.
        let line = format!(
            "cat > {}",
            quote(&config_file(&plan.config_dir, p.vmid.get()))
        );
        let out = ssh::exec(&target, &line, Some(content.as_bytes()), p.timeout()).await?;
        if !out.success() {
            return Err(ExecError::new(
                code::SSH_WRITE_FAILED,
                out.stderr.trim().to_owned(),
            ));
        }
        Ok(json!({"vmid": p.vmid, "written": true, "bytes": content.len()}))
    }

    async fn ssh_exec(&self, p: &SshExec) -> ExecResult<Value> {
        // The contract refuses any other command at decode; parsed again here for its words,
        // and refused before anything else, so a forbidden one never opens a connection.
        let allowed = allowlist::parse(&p.command)
            .map_err(|why| ExecError::new(code::SSH_COMMAND_FORBIDDEN, why))?;
        let plan = self.ssh_plan(p.target.as_deref(), None);
        let target = plan.target()?;
        let line = command_line(&allowed.argv(&plan.config_dir));
        let out = ssh::exec(&target, &line, None, p.timeout()).await?;
        let (stdout, cut_out) = cut(out.stdout, MAX_EXEC_OUTPUT_BYTES);
        let (stderr, cut_err) = cut(out.stderr, MAX_EXEC_OUTPUT_BYTES);
        Ok(json!({
            "stdout": stdout,
            "stderr": stderr,
            "exitCode": out.exit_code,
            "allowlisted": true,
            "command": line,
            "truncated": cut_out || cut_err,
        }))
    }

    // ---- ISOs and CD-ROMs ----------------------------------------------------------------

    /// Replace `<storage>:iso/<name>` with `source` through the storage upload API (upload,
    /// then wait for the copy task). An image in memory (a config ISO) whose upload fails is
    /// written into the storage's ISO directory over SSH instead, when SSH is configured: SSH
    /// only as a fallback, for a token without `Datastore.AllocateTemplate` or a failing copy.
    async fn store_iso(
        &self,
        command: &Command,
        client: &ProxmoxClient,
        node: &str,
        storage: &str,
        upload: IsoUpload,
        waiting: WaitOptions,
    ) -> ExecResult<StoredIso> {
        let volid = format!("{storage}:iso/{}", upload.file_name);
        let through_api = async {
            let existing = client.storage_content(node, storage, Some("iso")).await?;
            if existing.iter().any(|v| v.volid == volid) {
                let upid = client.delete_volume(node, storage, &volid).await?;
                client.wait_task(&upid, waiting).await?;
            }
            let upid = client.upload_iso(node, storage, &upload).await?;
            client.wait_task(&upid, waiting).await?;
            Ok::<_, ExecError>(upid)
        };
        let api_error = match through_api.await {
            Ok(upid) => {
                return Ok(StoredIso {
                    volid,
                    upid: Some(upid),
                    via: "api",
                });
            }
            Err(e) => e,
        };
        let IsoSource::Bytes(image) = &upload.source else {
            return Err(api_error);
        };
        let plan = self.ssh_plan(command.target(), None);
        let Ok(target) = plan.target() else {
            return Err(api_error);
        };
        let path = format!("{}/{}", plan.iso_dir(storage), upload.file_name);
        let part = format!("{path}.part");
        // The image travels on stdin, written beside its place and then moved there.
        let line = format!(
            "cat > {} && mv -f {} {}",
            quote(&part),
            quote(&part),
            quote(&path)
        );
        let failed = |why: String| {
            ExecError::new(
                code::SSH_WRITE_FAILED,
                format!(
                    "the storage upload failed ({}), and so did writing {path} over SSH: {why}",
                    api_error.message
                ),
            )
        };
        let out = ssh::exec(&target, &line, Some(image), waiting.timeout)
            .await
            .map_err(|e| failed(e.message))?;
        if !out.success() {
            return Err(failed(out.stderr.trim().to_owned()));
        }
        tracing::warn!(%volid, error = %api_error.message, "ISO upload API failed; written over SSH");
        Ok(StoredIso {
            volid,
            upid: None,
            via: "ssh",
        })
    }

    async fn create_provision_iso(
        &self,
        command: &Command,
        p: &CreateProvisionIso,
    ) -> ExecResult<Value> {
        let (_, client, node) = self.place(command)?;
        let image = iso::build(&p.files)?;
        let bytes = image.len();
        let sha256: String = Sha256::digest(&image)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = p.iso_file_name();
        let upload = IsoUpload {
            file_name: name.clone(),
            source: IsoSource::Bytes(image),
            sha256: Some(sha256.clone()),
        };
        let waiting = WaitOptions::new(p.timeout(), TASK_POLL);
        let stored = self
            .store_iso(command, client, node, p.storage(), upload, waiting)
            .await?;
        Ok(json!({
            "isoPath": stored.volid,
            "isoName": name,
            "created": true,
            "bytes": bytes,
            "sha256": sha256,
            "upid": stored.upid.as_ref().map(Upid::as_str),
            "via": stored.via,
        }))
    }

    async fn upload_iso(&self, command: &Command, p: &UploadIso) -> ExecResult<Value> {
        let (_, client, node) = self.place(command)?;
        let file = self.download(&p.url).await?;
        let bytes = file.as_file().metadata().map(|m| m.len()).unwrap_or(0);
        let upload = IsoUpload {
            file_name: p.filename.clone(),
            source: IsoSource::File(file.path().to_owned()),
            sha256: None,
        };
        let stored = self
            .store_iso(command, client, node, &p.storage, upload, self.waiting())
            .await?;
        Ok(
            json!({"volid": stored.volid, "uploaded": true, "bytes": bytes,
            "upid": stored.upid.as_ref().map(Upid::as_str)}),
        )
    }

    /// Fetch `url` into a temporary file (deleted when dropped).
    async fn download(&self, url: &str) -> ExecResult<tempfile::NamedTempFile> {
        let failed = |m: String| ExecError::new(code::DOWNLOAD_FAILED, m);
        let temp = tempfile::NamedTempFile::new()
            .map_err(|e| failed(format!("cannot create a temporary file: {e}")))?;
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(format!("GET {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(failed(format!("GET {url}: HTTP {}", response.status())));
        }
        let mut out = tokio::fs::File::from_std(
            temp.reopen()
                .map_err(|e| failed(format!("cannot write the download: {e}")))?,
        );
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| failed(format!("GET {url}: {e}")))?
        {
            out.write_all(&chunk)
                .await
                .map_err(|e| failed(format!("cannot write the download: {e}")))?;
        }
        out.flush()
            .await
            .map_err(|e| failed(format!("cannot write the download: {e}")))?;
        Ok(temp)
    }

    async fn attach_cdrom(&self, command: &Command, p: &AttachCdrom) -> ExecResult<Value> {
        let (_, client, node) = self.place(command)?;
        let vmid = p.vmid.get();
        let config = client.vm_config(node, vmid).await?;
        let slot = cdrom::for_attach(&config, p.cdrom_slot.as_deref(), &p.iso_path)?;
        client.attach_cdrom(node, vmid, &slot, &p.iso_path).await?;
        Ok(json!({
            "vmid": p.vmid,
            "slot": slot,
            "isoPath": p.iso_path,
            "attached": true,
            "upid": null,
        }))
    }

    async fn detach_cdrom(&self, command: &Command, p: &DetachCdrom) -> ExecResult<Value> {
        let (_, client, node) = self.place(command)?;
        let vmid = p.vmid.get();
        let config = client.vm_config(node, vmid).await?;
        let iso = p.iso_path.as_deref();
        let slot = cdrom::for_detach(&config, p.cdrom_slot.as_deref(), iso)?;
        // The ISO named, else the one in the drive; only an ISO volume is ever deleted.
        let medium = match (p.delete_iso == Some(true), iso, &slot) {
            (false, _, _) => None,
            (true, Some(iso), _) => Some(iso.to_owned()),
            (true, None, Some(slot)) => config.drive_volume(slot).map(str::to_owned),
            (true, None, None) => None,
        };
        if let Some(slot) = &slot {
            client.detach_cdrom(node, vmid, slot).await?;
        }
        let mut result = json!({
            "vmid": p.vmid,
            "slot": slot,
            "detached": slot.is_some(),
            "upid": null,
            "deletedIso": null,
        });
        // Best effort: the drive is empty either way.
        if let Some((storage, volid)) = medium
            .as_deref()
            .and_then(|v| v.split_once(':').map(|(s, path)| (s, v, path)))
            .filter(|(_, _, path)| path.starts_with("iso/"))
            .map(|(s, v, _)| (s, v))
        {
            let deleted = async {
                let existing = client.storage_content(node, storage, Some("iso")).await?;
                if !existing.iter().any(|v| v.volid == volid) {
                    return Ok(false);
                }
                let upid = client.delete_volume(node, storage, volid).await?;
                client.wait_task(&upid, self.waiting()).await.map(|_| true)
            };
            match deleted.await {
                Ok(true) => result["deletedIso"] = json!(volid),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(vmid, volid, error = %e.report(), "could not delete the ejected ISO");
                    result["deleteError"] = json!(e.report());
                }
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_TARGET_ID, SshSettings, generate_key_pair};

    fn config() -> AgentConfig {
        let mut config = AgentConfig::new(
            "http://127.0.0.1:1",
            "a",
            "bma_x",
            generate_key_pair("t").unwrap(),
        );
        config.task_timeout_secs = 60;
        config.targets = vec![ProxmoxTarget {
            id: DEFAULT_TARGET_ID.into(),
            url: "http://pve.lan:8006".into(),
            node: "pve".into(),
            token: Some("root@pam!ci=s".into()),
            username: None,
            password: None,
            password_secret: None,
            fingerprint: None,
        }];
        config
    }

    fn command(kind: &str, payload: Value) -> Command {
        Command::from_parts(kind, payload).unwrap()
    }

    #[test]
    fn vm_keys_name_the_vm_a_command_acts_on() {
        let exec = Executor::new(&config());
        let key = |kind, payload| exec.vm_key(&command(kind, payload)).map(|k| k.vmid);
        assert_eq!(key("proxmox.start", json!({"vmid": 101})), Some(101));
        assert_eq!(key("proxmox.stop", json!({"vmid": "101"})), Some(101));
        assert_eq!(
            key("proxmox.clone", json!({"templateVmId": 100, "newid": 150})),
            Some(150)
        );
        assert_eq!(key("proxmox.clone", json!({"templateVmId": 100})), None);
        assert_eq!(key("proxmox.list-vms", json!({})), None);
        assert_eq!(
            key(
                "proxmox.ssh-write-config",
                json!({"vmid": 5, "content": "x"})
            ),
            Some(5)
        );
        let k = exec
            .vm_key(&command("proxmox.start", json!({"vmid": 7})))
            .unwrap();
        assert_eq!(k.target, DEFAULT_TARGET_ID);
    }

    #[tokio::test]
    async fn missing_ssh_or_targets_are_coded_failures() {
        let exec = Executor::new(&config());
        let probe = exec
            .execute(&command("proxmox.ssh-status", json!({})))
            .await
            .unwrap();
        assert_eq!(probe["code"], "SSH_REQUIRED");
        assert_eq!(probe["configured"], false);
        assert_eq!(probe["connected"], false);
        let e = exec
            .execute(&command("proxmox.ssh-read-config", json!({"vmid": 1})))
            .await
            .unwrap_err();
        assert_eq!(e.code, code::SSH_REQUIRED);
        // The contract refuses a command outside the allowlist at decode; one built around
        // it is still refused here, before any connection.
        assert!(Command::from_parts("proxmox.ssh-exec", json!({"command": "rm -rf /"})).is_err());
        let unchecked: SshExec = serde_json::from_value(json!({"command": "rm -rf /"})).unwrap();
        let e = exec
            .execute(&Command::SshExec(unchecked))
            .await
            .unwrap_err();
        assert_eq!(e.code, code::SSH_COMMAND_FORBIDDEN);
        let e = exec
            .execute(&command("proxmox.list-vms", json!({"target": "nope"})))
            .await
            .unwrap_err();
        assert_eq!(e.code, code::PROXMOX_NOT_CONFIGURED);
        assert!(e.message.contains("known: default"), "{e}");

        let mut unpinned = config();
        unpinned.ssh = Some(SshSettings {
            password: Some("pw".into()),
            ..SshSettings::default()
        });
        let exec = Executor::new(&unpinned);
        let target = exec.ssh_target().unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.user.as_str()),
            ("pve.lan", 22, "root")
        );
        assert!(target.pinned.is_none());
    }

    #[test]
    fn list_targets_puts_the_active_one_first() {
        let mut c = config();
        let mut other = c.targets[0].clone();
        other.id = "b".into();
        other.url = "https://a.lan:8006".into();
        c.targets.push(other);
        c.active_target = Some(DEFAULT_TARGET_ID.into());
        let listed = Executor::new(&c).list_targets();
        assert_eq!(listed[0]["id"], DEFAULT_TARGET_ID);
        assert_eq!(listed[0]["isActive"], true);
        assert_eq!(listed[1]["id"], "b");
        assert_eq!(listed[1]["username"], "root@pam");
        assert_eq!(listed[1]["sshConfigured"], false);
    }

    #[tokio::test]
    async fn control_characters_never_reach_a_config_file() {
        // A command with NUL or escape characters in a config value does not decode: the
        // contract refuses it before the agent could run it.
        for (kind, payload) in [
            (
                "proxmox.update-config",
                json!({"vmid": 101, "config": {"tags": "a\u{0}b"}}),
            ),
            (
                "proxmox.update-config",
                json!({"vmid": 101, "config": {"description": "two\nlines\u{1b}[2J"}}),
            ),
            (
                "proxmox.ssh-write-config",
                json!({"vmid": 101, "content": "cores: 2\n\u{0}\n"}),
            ),
        ] {
            assert!(
                Command::from_parts(kind, payload.clone()).is_err(),
                "{payload}"
            );
        }
        // A line break is text the contract lets through, but in a one-line value it would
        // add a `key: value` line of its own: the Proxmox client refuses it before any
        // connection (pve.lan is not reachable here, so a transport error would mean the
        // value was on its way out).
        let exec = Executor::new(&config());
        let payload =
            json!({"vmid": 101, "config": {"args": "-x\nhookscript: local:snippets/x.pl"}});
        let e = exec
            .execute(&command("proxmox.update-config", payload))
            .await
            .unwrap_err();
        assert_eq!(e.code, "PVE_BAD_PARAMS", "{e}");
    }

    #[test]
    fn output_is_cut_to_fit_a_result() {
        assert_eq!(cut("short".into(), 10), ("short".into(), false));
        assert_eq!(cut("abcdef".into(), 3), ("abc".into(), true));
        // pvesh draws tables with 3-byte box characters; control bytes escape to 6 bytes.
        for unit in ["\u{2500}", "\u{1}", "\"", "\u{1F600}"] {
            let (text, cut_off) = cut(unit.repeat(40_000), MAX_EXEC_OUTPUT_BYTES);
            assert!(cut_off);
            let json = serde_json::to_string(&text).unwrap();
            assert!(
                json.len() <= MAX_EXEC_OUTPUT_BYTES + 2 && json.len() > MAX_EXEC_OUTPUT_BYTES - 8,
                "{unit:?}: {} bytes",
                json.len()
            );
        }
        let both = json!({"stdout": cut("\u{2500}".repeat(40_000), MAX_EXEC_OUTPUT_BYTES).0,
                          "stderr": cut("\u{1}".repeat(40_000), MAX_EXEC_OUTPUT_BYTES).0});
        let size = serde_json::to_vec(&both).unwrap().len();
        assert!(size < botmox_proto::command::MAX_RESULT_BYTES, "{size}");
    }

    #[tokio::test]
    async fn a_stalled_download_fails_within_the_task_timeout() {
        // Headers and a first byte, then nothing: the connection stays open.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nx";
            socket.write_all(head.as_bytes()).await.unwrap();
            std::future::pending::<()>().await;
        });
        let mut c = config();
        c.task_timeout_secs = 1;
        let exec = Executor::new(&c);
        let upload = command(
            "proxmox.upload-iso",
            json!({"storage": "local", "filename": "x.iso", "url": format!("http://{addr}/x.iso")}),
        );
        let e = tokio::time::timeout(Duration::from_secs(60), exec.execute(&upload))
            .await
            .expect("the download gives up")
            .unwrap_err();
        assert_eq!(e.code, code::DOWNLOAD_FAILED, "{e}");
        server.abort();
    }

    #[test]
    fn config_values_are_form_encoded() {
        assert_eq!(form_value(&json!(true)), "1");
        assert_eq!(form_value(&json!(false)), "0");
        assert_eq!(form_value(&json!(4096)), "4096");
        assert_eq!(form_value(&json!("host")), "host");
    }
}
