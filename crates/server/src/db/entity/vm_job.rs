use botmox_proto::provisioning::IpConfig;
use botmox_proto::vm_jobs::{JobError, JobKind, JobState, JobStep, JobView};
use sea_orm::entity::prelude::*;

use super::stored::Stored;

/// One VM's job: what to build (or delete), where it is, the command its step waits for,
/// why it failed, and which replica runs it until when (`runner_id`, `lease_until`).
/// Integers are i64 on both engines; times are epoch ms.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vm_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub batch_id: Option<String>,
    /// Position in its batch, from 0.
    pub seq: i64,
    pub kind: Stored<JobKind>,
    pub owner_user_id: String,
    /// The owner's role when the job was created: what the job acts as.
    pub owner_role: String,
    pub agent_id: String,
    pub target: Option<String>,
    pub node: Option<String>,
    pub template_vmid: Option<i64>,
    pub storage: Option<String>,
    pub iso_storage: Option<String>,
    pub vmid: Option<i64>,
    /// `<target>/<vmid>` while the job is live: unique per agent.
    pub vmid_lock: Option<String>,
    /// VM names are `<prefix><vmid>`.
    pub name_prefix: Option<String>,
    pub vm_name: Option<String>,
    pub vm_uuid: Option<String>,
    pub cores: Option<i64>,
    pub memory_mb: Option<i64>,
    pub disk_gib: Option<i64>,
    pub bridge: Option<String>,
    pub project_id: Option<String>,
    pub profile_id: Option<String>,
    pub playbook_id: Option<String>,
    /// [`IpConfig`] as JSON text.
    pub ip: Option<String>,
    pub boot_keys: i64,
    pub keys_sent: i64,
    /// The boot disk (`sata0`, `scsi0`, ...) and its size, read from the clone.
    pub disk_key: Option<String>,
    pub disk_size_gib: Option<i64>,
    /// The clone's `smbios1` with the job's UUID in it, set by the configure step.
    pub smbios1: Option<String>,
    pub iso_path: Option<String>,
    pub cdrom_slot: Option<String>,
    pub token_id: Option<String>,
    /// The VM's last progress report (JSON text).
    pub progress: Option<String>,
    pub state: Stored<JobState>,
    pub step: Stored<JobStep>,
    pub step_command_id: Option<String>,
    pub cancel_requested: bool,
    pub error_step: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub runner_id: Option<String>,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

fn small(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

impl Model {
    pub fn ip_config(&self) -> Option<IpConfig> {
        self.ip
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
    }

    pub fn view(&self) -> JobView {
        let error = match (&self.error_step, &self.error_code) {
            (Some(step), Some(code)) => Some(JobError {
                step: step.parse().unwrap_or(self.step.0),
                code: code.clone(),
                message: self.error_message.clone().unwrap_or_default(),
            }),
            _ => None,
        };
        JobView {
            id: self.id.clone(),
            batch_id: self.batch_id.clone(),
            kind: self.kind.0,
            state: self.state.0,
            step: self.step.0,
            step_command_id: self.step_command_id.clone(),
            owner_user_id: self.owner_user_id.clone(),
            agent_id: self.agent_id.clone(),
            target: self.target.clone(),
            node: self.node.clone(),
            template_vmid: small(self.template_vmid),
            storage: self.storage.clone(),
            vmid: small(self.vmid),
            vm_name: self.vm_name.clone(),
            vm_uuid: self.vm_uuid.clone(),
            cores: small(self.cores),
            memory_mb: small(self.memory_mb),
            disk_gib: small(self.disk_gib),
            bridge: self.bridge.clone(),
            profile_id: self.profile_id.clone(),
            playbook_id: self.playbook_id.clone(),
            ip: self.ip_config(),
            iso_path: self.iso_path.clone(),
            cdrom_slot: self.cdrom_slot.clone(),
            token_id: self.token_id.clone(),
            progress: self
                .progress
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            cancel_requested: self.cancel_requested,
            error,
            created_at: self.created_at,
            updated_at: self.updated_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        }
    }
}
