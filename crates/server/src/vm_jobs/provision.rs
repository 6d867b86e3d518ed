//! The pipeline's two meetings with provisioning (`crate::provisioning`): the VM's payload,
//! which issues its provisioning token, and the progress the VM reports while Windows
//! installs.

use std::collections::BTreeMap;

use botmox_proto::provisioning::{PlaybookChoice, ProgressStatus};
use serde_json::{Value, json};

use super::drive::{Drive, Halt, StepResult};
use crate::provisioning::service::{self as provisioning, PayloadRequest, ProfileChoice};

/// The config ISO's files and the token inside them.
pub struct Payload {
    pub files: BTreeMap<String, Vec<u8>>,
    pub token_id: String,
}

/// The VM's payload, for the job's owner: its profile (or the owner's default) and playbook.
pub async fn payload(drive: &Drive) -> StepResult<Payload> {
    let job = &drive.job;
    let ip = job
        .ip_config()
        .ok_or_else(|| Halt::Stop("the job has no IP settings".into()))?;
    let request = PayloadRequest {
        vm_uuid: job.vm_uuid.clone().unwrap_or_default(),
        ip,
        profile: match &job.profile_id {
            Some(id) => ProfileChoice::Saved(id.clone()),
            None => ProfileChoice::Default,
        },
        playbook: job.playbook_id.as_deref().map(|p| {
            if p == "none" {
                PlaybookChoice::None
            } else {
                PlaybookChoice::Id(p.to_owned())
            }
        }),
        sequence: u32::try_from(job.seq + 1).ok(),
    };
    let issued =
        provisioning::issue_payload(&drive.state, &drive.tenant(), &job.owner_user_id, request)
            .await?;
    Ok(Payload {
        files: issued.files,
        token_id: issued.token_id,
    })
}

/// What the VM reported so far.
pub struct Seen {
    /// The last report: `{step, status, details, at}`.
    pub report: Option<Value>,
    /// It reported the `completed` step completed.
    pub completed: bool,
}

/// The VM's reports, as its owner sees them.
pub async fn progress(drive: &Drive) -> StepResult<Seen> {
    let uuid = drive.job.vm_uuid.clone().unwrap_or_default();
    let reports = provisioning::progress(&drive.state.db, &drive.auth, &uuid).await?;
    let completed = reports
        .iter()
        .any(|r| r.step == "completed" && r.status == ProgressStatus::Completed);
    if let Some(failed) = reports.iter().find(|r| r.status == ProgressStatus::Failed) {
        return Err(Halt::Fail {
            code: "VM_SETUP_FAILED".into(),
            message: format!(
                "the VM reported step {} failed: {}",
                failed.step, failed.details
            ),
        });
    }
    let report = reports.last().map(
        |r| json!({"step": r.step, "status": r.status, "details": r.details, "at": r.created_at}),
    );
    Ok(Seen { report, completed })
}
