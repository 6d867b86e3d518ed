//! The Artifacts page (admins): the releases with an upload that shows its progress (the
//! file goes as the raw body of one request, streamed like the API's upload), status changes
//! and deletion; the assignments with a form to set one per user or the tenant default; and
//! the download audit with its filters. Every change goes through the artifacts service.

use askama::Template;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use botmox_proto::artifacts::{
    AssignRequest, AssignmentView, DownloadAuditQuery, DownloadAuditView, DownloadResult,
    ListAssignmentsQuery, ListReleasesQuery, ReleaseStatus, ReleaseView, UploadQuery,
};
use botmox_proto::validate::Validate;
use botmox_proto::{Envelope, ErrorEnvelope};
use serde::{Deserialize, Serialize};

use super::error_page::PageError;
use super::layout::{Layout, render};
use super::refusal::Refusal;
use super::session::{self, CsrfForm, EmptyForm, UiAdmin};
use crate::artifacts::service;
use crate::http::ApiError;
use crate::principal::Admin;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};

/// Rows shown per table.
const ROWS: u64 = 200;

#[derive(Template)]
#[template(path = "artifacts.html")]
struct ArtifactsPage {
    layout: Layout,
    releases: Vec<ReleaseView>,
    assignments: Vec<AssignmentView>,
    audit: Vec<DownloadAuditView>,
    audit_total: u64,
    statuses: [ReleaseStatus; 4],
    results: [DownloadResult; 3],
    filter: AuditFilterForm,
    notice: Option<String>,
    error: Option<String>,
    refusal: Refusal,
}

/// The audit filters as typed in the form (kept as text to show them back).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuditFilterForm {
    #[serde(default)]
    vm_uuid: String,
    #[serde(default)]
    module: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    notice: String,
}

impl AuditFilterForm {
    fn query(&self) -> Result<DownloadAuditQuery, ApiError> {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let result = match text(&self.result) {
            Some(r) => Some(
                r.parse::<DownloadResult>()
                    .map_err(|e| ApiError::field("result", e))?,
            ),
            None => None,
        };
        let query = DownloadAuditQuery {
            vm_uuid: text(&self.vm_uuid),
            module: text(&self.module),
            user_id: text(&self.user_id),
            result,
            limit: Some(ROWS),
            ..Default::default()
        };
        query.validate()?;
        Ok(query)
    }
}

async fn page(
    state: &AppState,
    admin: &Admin,
    headers: &HeaderMap,
    status: StatusCode,
    filter: AuditFilterForm,
    notice: Option<String>,
    refusal: Refusal,
) -> Response {
    let releases = ListReleasesQuery {
        limit: Some(ROWS),
        ..Default::default()
    };
    let assignments = ListAssignmentsQuery {
        limit: Some(ROWS),
        ..Default::default()
    };
    let loaded = async {
        let audit = filter.query()?;
        Ok::<_, ApiError>((
            service::list(state, admin, releases).await?.0,
            service::list_assignments(state, admin, assignments)
                .await?
                .0,
            service::download_audit(state, admin, audit).await?,
        ))
    };
    let (releases, assignments, (audit, audit_total, _, _)) = match loaded.await {
        Ok(all) => all,
        Err(e) => return PageError::from(e).into_response(),
    };
    let (layout, csrf) = Layout::new(
        state,
        admin,
        headers,
        "/artifacts",
        "artifacts",
        &[("Administration", None), ("Artifacts", None)],
    )
    .await;
    let body = ArtifactsPage {
        layout,
        releases,
        assignments,
        audit,
        audit_total,
        statuses: ReleaseStatus::ALL,
        results: DownloadResult::ALL,
        filter,
        notice,
        error: refusal.banner(),
        refusal,
    };
    csrf.attach((status, render(&body)).into_response())
}

/// The page again, with the error the service answered.
async fn refused(
    state: &AppState,
    admin: &Admin,
    headers: &HeaderMap,
    status: StatusCode,
    refusal: Refusal,
) -> Response {
    let filter = AuditFilterForm::default();
    page(state, admin, headers, status, filter, None, refusal).await
}

pub async fn artifacts_page(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PageQuery(filter): PageQuery<AuditFilterForm>,
) -> Response {
    let notice = match filter.notice.as_str() {
        "uploaded" => Some("Release uploaded.".to_owned()),
        "status" => Some("Status changed.".to_owned()),
        "deleted" => Some("Release deleted.".to_owned()),
        "assigned" => Some("Assignment saved.".to_owned()),
        _ => None,
    };
    page(
        &state,
        &admin,
        &headers,
        StatusCode::OK,
        filter,
        notice,
        Refusal::none(),
    )
    .await
}

/// The page's upload: the file is the raw body (sent by the page's script with its progress
/// shown), the CSRF token in `X-CSRF-Token`; answers like the API, in JSON.
pub async fn upload(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PageQuery(query): PageQuery<UploadQuery>,
    body: Body,
) -> Response {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !session::csrf_ok(&state, &headers, token) {
        tracing::warn!("upload refused: CSRF check failed");
        return refuse_json(ApiError::forbidden(
            "The upload could not be verified; reload the page",
        ));
    }
    if let Err(e) = query.validate() {
        return refuse_json(e.into());
    }
    let declared = crate::http::upload::declared_length(&headers);
    match service::upload(&state, &admin, query, declared, body.into_data_stream()).await {
        Ok(release) => (StatusCode::CREATED, Json(Envelope::ok(release))).into_response(),
        Err(e) => refuse_json(e),
    }
}

/// An upload refused: the API's error envelope, and the connection closed (the rest of the
/// body may still be on its way).
fn refuse_json(e: ApiError) -> Response {
    let body: ErrorEnvelope = e.envelope();
    let mut response = e.answer_with(Json(body));
    response.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

/// A release id from the path: not a number is no release.
fn release_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::new(
            botmox_proto::ErrorCode::ArtifactReleaseNotFound,
            "Release not found",
        )
    })
}

pub async fn set_status(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Response {
    let done = async {
        let status = form
            .status
            .parse::<ReleaseStatus>()
            .map_err(|e| ApiError::field("status", e))?;
        service::set_status(&state, &admin, release_id(&id)?, status).await
    };
    match done.await {
        Ok(_) => Redirect::to("/artifacts?notice=status").into_response(),
        Err(e) => refused(&state, &admin, &headers, e.status(), Refusal::message(&e)).await,
    }
}

pub async fn delete(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    let done = async { service::delete(&state, &admin, release_id(&id)?).await };
    match done.await {
        Ok(_) => Redirect::to("/artifacts?notice=deleted").into_response(),
        Err(e) => refused(&state, &admin, &headers, e.status(), Refusal::message(&e)).await,
    }
}

#[derive(Deserialize, Serialize)]
pub struct AssignForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    module: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    channel: String,
    /// Absent while no release is active (the choice is empty): refused beside the field.
    #[serde(default)]
    release_id: String,
}

pub async fn assign(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<AssignForm>,
) -> Response {
    let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let done = async {
        let request = AssignRequest {
            user_id: text(&form.user_id),
            module: form.module.clone(),
            platform: form.platform.clone(),
            channel: text(&form.channel),
            release_id: form
                .release_id
                .trim()
                .parse()
                .map_err(|_| ApiError::field("release_id", "must be a release id"))?,
        };
        request.validate()?;
        service::assign(&state, &admin, request).await
    };
    match done.await {
        Ok(_) => Redirect::to("/artifacts?notice=assigned").into_response(),
        Err(e) => {
            let refusal = Refusal::new("assign-form", &form, &e);
            refused(&state, &admin, &headers, e.status(), refusal).await
        }
    }
}
