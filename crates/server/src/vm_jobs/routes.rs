//! `/api/v1/vm-jobs`: create a batch of VMs, create a delete job, list, read (with the step
//! history) and cancel jobs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use botmox_proto::vm_jobs::{
    BatchView, CreateBatchRequest, CreateDeleteJobRequest, JobDetail, JobListQuery, JobView,
};
use botmox_proto::{Envelope, ErrorEnvelope, PageMeta};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service;
use crate::http::paging::Paging;
use crate::http::{ApiPath, ApiQuery, ApiResult, Valid, ValidQuery, answer};
use crate::principal::Auth;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_batch, list))
        .routes(routes!(create_delete))
        .routes(routes!(get))
        .routes(routes!(cancel))
}

/// Queue a batch: `count` VMs cloned from a template, each a job that runs clone, resize,
/// configure, register, config ISO, attach, start and boot keys, waits for the VM to report
/// its setup completed, then ejects and deletes the ISO. At most `concurrency` jobs of the
/// batch run their Proxmox steps at once. 409 `AGENT_OFFLINE` unless `queue_if_offline`.
#[utoipa::path(post, path = "/api/v1/vm-jobs", tag = "vm-jobs", security(("bearer" = [])),
    request_body = CreateBatchRequest,
    responses((status = 201, body = Envelope<BatchView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope, description = "no such agent (of the caller's)"),
        (status = 409, body = ErrorEnvelope, description = "AGENT_OFFLINE, or the agent is not active")))]
pub async fn create_batch(
    State(s): State<AppState>,
    auth: Auth,
    Valid(body): Valid<CreateBatchRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::CREATED,
        service::create_batch(&s, &auth, body).await?,
    ))
}

/// Queue a job that stops and deletes a VM on Proxmox (purging its disks) and deactivates
/// it in the registry.
#[utoipa::path(post, path = "/api/v1/vm-jobs/delete", tag = "vm-jobs", security(("bearer" = [])),
    request_body = CreateDeleteJobRequest,
    responses((status = 201, body = Envelope<JobView>), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "AGENT_OFFLINE, or the agent is not active")))]
pub async fn create_delete(
    State(s): State<AppState>,
    auth: Auth,
    Valid(body): Valid<CreateDeleteJobRequest>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::CREATED,
        service::create_delete(&s, &auth, body).await?,
    ))
}

/// The caller's jobs (admins: the tenant's), newest first; by batch and state.
#[utoipa::path(get, path = "/api/v1/vm-jobs", tag = "vm-jobs", security(("bearer" = [])),
    params(JobListQuery, Paging),
    responses((status = 200, body = Envelope<Vec<JobView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    ValidQuery(query): ValidQuery<JobListQuery>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> ApiResult<Json<Envelope<Vec<JobView>>>> {
    let (page, limit) = paging.resolve()?;
    let (rows, total) = service::list(&s, &auth, &query, page, limit).await?;
    Ok(Json(Envelope::page(rows, PageMeta { total, page, limit })))
}

/// One job with its step history (its owner or an admin).
#[utoipa::path(get, path = "/api/v1/vm-jobs/{id}", tag = "vm-jobs", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<JobDetail>), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn get(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(StatusCode::OK, service::get(&s, &auth, &id).await?))
}

/// Cancel a job: a queued one at once, a running one at its next step (its command is
/// cancelled while still queued on the bus, else left to finish). 409 once finished.
#[utoipa::path(post, path = "/api/v1/vm-jobs/{id}/cancel", tag = "vm-jobs", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<JobView>), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn cancel(
    State(s): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(answer(
        StatusCode::OK,
        service::cancel(&s, &auth, &id).await?,
    ))
}
