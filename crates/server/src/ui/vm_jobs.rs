//! The VM generator page: a form that queues a batch of VMs (agent, node, template, profile,
//! playbook, count, resources, IP settings, concurrency) and the live board of the jobs, each
//! with its step, the progress its VM reports, its error and a cancel button. The board
//! re-renders on the event stream's job and command events.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use botmox_proto::Validate;
use botmox_proto::vm_jobs::{
    BatchIp, CreateBatchRequest, CreateDeleteJobRequest, JobListQuery, JobView,
};
use serde::{Deserialize, Serialize};

use super::agent_picker::AgentPicker;
use super::error_page::PageResult;
use super::layout::{Layout, page_url, render};
use super::refusal::Refusal;
use super::session::{CsrfForm, EmptyForm, UiUser};
use crate::http::ApiError;
use crate::principal::Auth;
use crate::provisioning;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};
use crate::vm_jobs::service;

/// Jobs the board shows.
const BOARD_LIMIT: u64 = 200;

struct Row {
    id: String,
    name: String,
    vmid: String,
    state: String,
    step: String,
    progress: String,
    error: String,
    cancellable: bool,
}

#[derive(Template)]
#[template(path = "vm_jobs.html")]
struct VmJobsPage {
    layout: Layout,
    live_url: String,
    rows: Vec<Row>,
    /// The batch the board shows, if one.
    batch_id: Option<String>,
    agents: AgentPicker,
    /// The caller's profiles and playbooks (id, name), for the pickers.
    profiles: Vec<(String, String)>,
    playbooks: Vec<(String, String)>,
    form: BatchForm,
    notice: Option<String>,
    error: Option<String>,
    refusal: Refusal,
}

/// The generator form, as text fields (empty: the default).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct BatchForm {
    #[serde(default)]
    agent_id: String,
    #[serde(default)]
    node: String,
    #[serde(default)]
    template_vmid: String,
    #[serde(default)]
    storage: String,
    #[serde(default)]
    count: String,
    #[serde(default)]
    name_prefix: String,
    #[serde(default)]
    cores: String,
    #[serde(default)]
    memory_mb: String,
    #[serde(default)]
    disk_gib: String,
    #[serde(default)]
    bridge: String,
    #[serde(default)]
    profile_id: String,
    #[serde(default)]
    playbook_id: String,
    #[serde(default)]
    first_address: String,
    #[serde(default)]
    netmask: String,
    #[serde(default)]
    gateway: String,
    #[serde(default)]
    concurrency: String,
    #[serde(default)]
    queue_if_offline: Option<String>,
}

fn text(v: &str) -> Option<String> {
    Some(v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn number(field: &str, v: &str) -> Result<Option<u32>, ApiError> {
    text(v)
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::field(field, "must be a whole number"))
        })
        .transpose()
}

impl BatchForm {
    /// The form as a new page shows it.
    fn initial() -> Self {
        Self {
            template_vmid: "100".into(),
            count: "1".into(),
            netmask: "255.255.255.0".into(),
            concurrency: "4".into(),
            ..Self::default()
        }
    }

    fn request(&self) -> Result<CreateBatchRequest, ApiError> {
        let request = CreateBatchRequest {
            agent_id: self.agent_id.trim().to_owned(),
            target: None,
            node: text(&self.node),
            template_vmid: number("template_vmid", &self.template_vmid)?
                .ok_or_else(|| ApiError::field("template_vmid", "is required"))?,
            storage: text(&self.storage),
            iso_storage: None,
            count: number("count", &self.count)?.unwrap_or(1),
            name_prefix: text(&self.name_prefix),
            cores: number("cores", &self.cores)?,
            memory_mb: number("memory_mb", &self.memory_mb)?,
            disk_gib: number("disk_gib", &self.disk_gib)?,
            bridge: text(&self.bridge),
            project_id: None,
            profile_id: text(&self.profile_id),
            playbook_id: text(&self.playbook_id),
            ip: BatchIp {
                first_address: self.first_address.trim().to_owned(),
                netmask: text(&self.netmask).unwrap_or_else(|| "255.255.255.0".into()),
                gateway: self.gateway.trim().to_owned(),
                dns: vec!["8.8.8.8".into()],
            },
            concurrency: number("concurrency", &self.concurrency)?,
            boot_keys: None,
            queue_if_offline: Some(self.queue_if_offline.is_some()),
        };
        request.validate()?;
        Ok(request)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    batch_id: Option<String>,
    /// What the "Find agent" field holds ([`AgentPicker`]).
    agent_q: Option<String>,
    notice: Option<String>,
}

/// What the VM reported last, in words.
fn progress(job: &JobView) -> String {
    job.progress.as_ref().map_or_else(String::new, |p| {
        let step = p["step"].as_str().unwrap_or_default();
        let status = p["status"].as_str().unwrap_or_default();
        format!("{step}: {status}")
    })
}

fn row(job: JobView) -> Row {
    Row {
        name: job.vm_name.clone().unwrap_or_default(),
        vmid: job.vmid.map(|v| v.to_string()).unwrap_or_default(),
        state: job.state.as_str().to_owned(),
        step: job.step.as_str().to_owned(),
        progress: progress(&job),
        error: job
            .error
            .as_ref()
            .map(|e| format!("{} at {}: {}", e.code, e.step, e.message))
            .unwrap_or_default(),
        cancellable: !job.state.is_terminal() && !job.cancel_requested,
        id: job.id,
    }
}

pub async fn page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(f): PageQuery<Filters>,
) -> PageResult {
    let notice = match f.notice.as_deref() {
        Some("queued") => Some("Batch queued; its jobs show below as they run.".to_owned()),
        Some("cancelled") => Some("Cancel asked; the job stops at its next step.".to_owned()),
        Some("deleting") => {
            Some("Delete queued; the VM is stopped, destroyed and deactivated.".to_owned())
        }
        _ => None,
    };
    render_page(
        &state,
        &auth,
        &headers,
        &f,
        (
            StatusCode::OK,
            BatchForm::initial(),
            notice,
            Refusal::none(),
        ),
    )
    .await
}

async fn render_page(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    f: &Filters,
    (status, form, notice, refusal): (StatusCode, BatchForm, Option<String>, Refusal),
) -> PageResult {
    let query = JobListQuery {
        batch_id: f.batch_id.clone().filter(|b| !b.is_empty()),
        state: None,
    };
    let (jobs, _) = service::list(state, auth, &query, 1, BOARD_LIMIT).await?;
    let chosen = [
        form.agent_id.as_str(),
        refusal.value("delete-form", "agent_id"),
    ];
    let agents = AgentPicker::load(state, auth, f.agent_q.as_deref(), false, &chosen).await?;
    let profiles = provisioning::service::list_profiles(&state.db, auth).await?;
    let playbooks = provisioning::service::list_playbooks(&state.db, auth).await?;
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        "/vm-jobs",
        "vm-jobs",
        &[("Operations", None), ("VM generator", None)],
    )
    .await;
    let live_url = page_url(
        "/vm-jobs",
        &[("batch_id", query.batch_id.as_deref().unwrap_or_default())],
    );
    let body = VmJobsPage {
        layout,
        live_url,
        rows: jobs.into_iter().map(row).collect(),
        batch_id: query.batch_id.clone(),
        agents,
        profiles: profiles.into_iter().map(|p| (p.id, p.name)).collect(),
        playbooks: playbooks.into_iter().map(|p| (p.id, p.name)).collect(),
        form,
        notice,
        error: refusal.banner(),
        refusal,
    };
    Ok(csrf.attach((status, render(&body)).into_response()))
}

/// `POST /vm-jobs/batches`: queue the batch the form describes; a refusal shows the page
/// again with the form as it was and the reason.
pub async fn create(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<BatchForm>,
) -> PageResult {
    let created = match form.request() {
        Ok(request) => service::create_batch(&state, &auth, request).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(batch) => Ok(
            Redirect::to(&format!("/vm-jobs?notice=queued&batch_id={}", batch.id)).into_response(),
        ),
        Err(e) => {
            let refusal = Refusal::new("batch-form", &form, &e)
                .renaming("ip.first_address", "first_address")
                .renaming("ip.address", "first_address")
                .renaming("ip.netmask", "netmask")
                .renaming("ip.gateway", "gateway")
                .unshown("queue_if_offline");
            let shown = (e.status(), form, None, refusal);
            render_page(&state, &auth, &headers, &Filters::default(), shown).await
        }
    }
}

pub async fn cancel(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> PageResult {
    service::cancel(&state, &auth, &id).await?;
    Ok(Redirect::to("/vm-jobs?notice=cancelled").into_response())
}

/// The delete form: an agent and a VM id.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct DeleteForm {
    #[serde(default)]
    agent_id: String,
    #[serde(default)]
    vmid: String,
}

/// `POST /vm-jobs/delete`: a job that stops and deletes the VM and deactivates it in the
/// registry; a refusal shows the page with the reason.
pub async fn delete(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> PageResult {
    let queued = async {
        let request = CreateDeleteJobRequest {
            agent_id: form.agent_id.trim().to_owned(),
            target: None,
            node: None,
            vmid: number("vmid", &form.vmid)?
                .ok_or_else(|| ApiError::field("vmid", "is required"))?,
            queue_if_offline: None,
        };
        request.validate()?;
        service::create_delete(&state, &auth, request).await
    };
    match queued.await {
        Ok(_) => Ok(Redirect::to("/vm-jobs?notice=deleting").into_response()),
        Err(e) => {
            let refusal = Refusal::new("delete-form", &form, &e);
            let shown = (e.status(), BatchForm::initial(), None, refusal);
            render_page(&state, &auth, &headers, &Filters::default(), shown).await
        }
    }
}
