//! Rules of the VM pipeline's API: a batch is created for an agent the caller may use (its
//! owner, or an admin), active and online unless queuing was asked, with every job and its
//! VM UUID written in one transaction; jobs are seen and cancelled by their owner or an
//! admin (anyone else gets 404, as if they did not exist).

use botmox_proto::ErrorCode;
use botmox_proto::agent::AgentStatus;
use botmox_proto::vm_jobs::{
    BatchView, CreateBatchRequest, CreateDeleteJobRequest, JobDetail, JobKind, JobListQuery,
    JobState, JobStep, JobView,
};

use super::store::{self, Cancel, JobFilter};
use crate::agents;
use crate::clock::now_ms;
use crate::db::entity::vm_job::Model;
use crate::db::entity::{agent, vm_job_batch};
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::state::AppState;
use crate::vm_registry;

/// The agent the jobs will use: one the caller may use, active, and online unless
/// `queue_if_offline` (its commands then wait for it).
async fn usable_agent(
    state: &AppState,
    auth: &Auth,
    agent_id: &str,
    queue_if_offline: bool,
) -> ApiResult<agent::Model> {
    let agent = agents::service::get(state, auth, agent_id).await?;
    if agent.status != AgentStatus::Active {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("Agent is {}", agent.status.as_str()),
        ));
    }
    if !agent.is_online(now_ms()) && !queue_if_offline {
        return Err(ApiError::new(
            ErrorCode::AgentOffline,
            "The agent is offline; pass queue_if_offline to queue the jobs until it is back",
        ));
    }
    Ok(agent)
}

/// A new job with nothing done yet.
fn blank(auth: &Auth, owner: &str, agent: &agent::Model, kind: JobKind, now: i64) -> Model {
    Model {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: auth.tenant().as_str().to_owned(),
        batch_id: None,
        seq: 0,
        kind: kind.into(),
        owner_user_id: owner.to_owned(),
        owner_role: auth.role().as_str().to_owned(),
        agent_id: agent.id.clone(),
        target: None,
        node: None,
        template_vmid: None,
        storage: None,
        iso_storage: None,
        vmid: None,
        vmid_lock: None,
        name_prefix: None,
        vm_name: None,
        vm_uuid: None,
        cores: None,
        memory_mb: None,
        disk_gib: None,
        bridge: None,
        project_id: None,
        profile_id: None,
        playbook_id: None,
        ip: None,
        boot_keys: 0,
        keys_sent: 0,
        disk_key: None,
        disk_size_gib: None,
        smbios1: None,
        iso_path: None,
        cdrom_slot: None,
        token_id: None,
        progress: None,
        state: JobState::Queued.into(),
        step: match kind {
            JobKind::Create => JobStep::Reserve,
            JobKind::Delete => JobStep::Lookup,
        }
        .into(),
        step_command_id: None,
        cancel_requested: false,
        error_step: None,
        error_code: None,
        error_message: None,
        runner_id: None,
        lease_until: None,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    }
}

/// Queue a batch: one create job per VM, each with the VM UUID it will set on its clone and
/// register (the one source of truth for the VM's identity).
pub async fn create_batch(
    state: &AppState,
    auth: &Auth,
    req: CreateBatchRequest,
) -> ApiResult<BatchView> {
    let owner = vm_registry::service::acting_user(&state.db, auth, None).await?;
    let agent = usable_agent(
        state,
        auth,
        &req.agent_id,
        req.queue_if_offline.unwrap_or(false),
    )
    .await?;
    let now = now_ms();
    let batch = vm_job_batch::Model {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: auth.tenant().as_str().to_owned(),
        owner_user_id: owner.clone(),
        agent_id: agent.id.clone(),
        count: req.count.into(),
        concurrency: req.concurrency().into(),
        request: serde_json::to_string(&req).map_err(ApiError::internal)?,
        created_at: now,
    };
    let playbook = req.playbook().map(|p| match p {
        botmox_proto::provisioning::PlaybookChoice::None => "none".to_owned(),
        botmox_proto::provisioning::PlaybookChoice::Id(id) => id,
    });
    let mut jobs = Vec::new();
    for n in 0..req.count {
        let ip = req
            .ip
            .nth(n)
            .ok_or_else(|| ApiError::field("ip.first_address", "runs out of IPv4"))?;
        let mut job = blank(auth, &owner, &agent, JobKind::Create, now);
        job.batch_id = Some(batch.id.clone());
        job.seq = n.into();
        job.target = req.target.clone();
        job.node = req.node.clone();
        job.template_vmid = Some(req.template_vmid.into());
        job.storage = req.storage.clone();
        job.iso_storage = req.iso_storage.clone();
        job.vm_uuid = Some(uuid::Uuid::new_v4().to_string());
        job.cores = req.cores.map(Into::into);
        job.memory_mb = req.memory_mb.map(Into::into);
        job.disk_gib = req.disk_gib.map(Into::into);
        job.bridge = req.bridge.clone();
        job.project_id = req.project_id.clone();
        job.profile_id = req.profile_id.clone();
        job.playbook_id = playbook.clone();
        job.ip = Some(serde_json::to_string(&ip).map_err(ApiError::internal)?);
        job.boot_keys = req.boot_keys().into();
        job.name_prefix = req.name_prefix.clone();
        jobs.push(job);
    }
    let (jobs, events) = state
        .db
        .write(async |txn| {
            store::insert_batch(txn, batch.clone()).await?;
            let mut events = Vec::new();
            let mut saved = Vec::new();
            for job in jobs {
                let job = store::insert(txn, job).await?;
                events.push(store::record_change(txn, &job).await?);
                saved.push(job);
            }
            Ok::<_, ApiError>((saved, events))
        })
        .await?;
    for event in events {
        event.announce(&state.bus.hub);
    }
    Ok(BatchView {
        id: batch.id,
        agent_id: batch.agent_id,
        count: req.count,
        concurrency: req.concurrency(),
        jobs: jobs.iter().map(Model::view).collect(),
        created_at: now,
    })
}

/// Queue a job that stops and deletes a VM on Proxmox and deactivates it in the registry.
pub async fn create_delete(
    state: &AppState,
    auth: &Auth,
    req: CreateDeleteJobRequest,
) -> ApiResult<JobView> {
    let owner = vm_registry::service::acting_user(&state.db, auth, None).await?;
    let agent = usable_agent(
        state,
        auth,
        &req.agent_id,
        req.queue_if_offline.unwrap_or(false),
    )
    .await?;
    let now = now_ms();
    let mut job = blank(auth, &owner, &agent, JobKind::Delete, now);
    job.target = req.target;
    job.node = req.node;
    job.vmid = Some(req.vmid.into());
    let (job, event) = state
        .db
        .write(async |txn| {
            let job = store::insert(txn, job).await?;
            let event = store::record_change(txn, &job).await?;
            Ok::<_, ApiError>((job, event))
        })
        .await?;
    event.announce(&state.bus.hub);
    Ok(job.view())
}

/// The job, if the caller may see it (its owner, or an admin).
async fn visible(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Model> {
    store::get(state.db.read(), auth.tenant(), id)
        .await?
        .filter(|j| auth.may_act_on(Some(&j.owner_user_id)))
        .ok_or_else(|| ApiError::not_found("Job"))
}

/// One job with its step history.
pub async fn get(state: &AppState, auth: &Auth, id: &str) -> ApiResult<JobDetail> {
    let job = visible(state, auth, id).await?;
    let steps = store::steps(state.db.read(), auth.tenant(), &job.id).await?;
    Ok(JobDetail {
        job: job.view(),
        steps: steps.into_iter().map(|s| s.view()).collect(),
    })
}

/// The caller's jobs (admins: the tenant's), newest batch first.
pub async fn list(
    state: &AppState,
    auth: &Auth,
    query: &JobListQuery,
    page: u64,
    limit: u64,
) -> ApiResult<(Vec<JobView>, u64)> {
    let filter = JobFilter {
        owner: auth.own_only(),
        batch_id: query.batch_id.as_deref().filter(|b| !b.is_empty()),
        state: query.state,
    };
    let (rows, total) = store::list(state.db.read(), auth.tenant(), filter, page, limit).await?;
    Ok((rows.iter().map(Model::view).collect(), total))
}

/// Cancel a job: a queued one at once; a running one stops at its next step (its running
/// command is cancelled if still queued on the bus, else left to finish), saying so. A
/// finished job answers 409.
pub async fn cancel(state: &AppState, auth: &Auth, id: &str) -> ApiResult<JobView> {
    visible(state, auth, id).await?;
    for _ in 0..5 {
        match store::request_cancel(&state.db, auth.tenant(), id, now_ms()).await? {
            Cancel::NotFound => return Err(ApiError::not_found("Job")),
            Cancel::Finished(job) => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("A {} job cannot be cancelled", job.state.as_str()),
                ));
            }
            Cancel::Flagged(job) => return Ok(job.view()),
            Cancel::Cancelled(job, event) => {
                event.announce(&state.bus.hub);
                return Ok(job.view());
            }
            Cancel::Raced => tokio::task::yield_now().await,
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        "The job kept changing; try again",
    ))
}
