//! The VM registry page: the VMs that can hold leases (the caller's, or the tenant's for
//! admins) with search and a status filter, a form to register one, and pause, reactivate
//! and deactivate buttons (leaving `active` revokes the VM's leases).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use botmox_proto::licensing::{RegisterVmRequest, UpdateVmRequest, VmListQuery, VmStatus, VmView};
use botmox_proto::validate::Validate;
use serde::{Deserialize, Serialize};

use super::error_page::PageResult;
use super::layout::{Layout, render};
use super::refusal::Refusal;
use super::session::{CsrfForm, UiUser};
use crate::http::ApiError;
use crate::principal::Auth;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};
use crate::vm_registry::service;

const TABLE_LIMIT: u64 = 200;

#[derive(Template)]
#[template(path = "vm_registry.html")]
struct RegistryPage {
    layout: Layout,
    vms: Vec<VmView>,
    total: u64,
    q: String,
    status: String,
    statuses: [VmStatus; 3],
    notice: Option<String>,
    error: Option<String>,
    refusal: Refusal,
}

impl RegistryPage {
    fn when(ms: &i64) -> String {
        crate::ui::time::at_ms(*ms)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
pub struct VmsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    notice: Option<String>,
}

async fn respond(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    query: VmsQuery,
    status: StatusCode,
    refusal: Refusal,
) -> PageResult {
    let filter = VmListQuery {
        status: query.status.parse().ok(),
        user_id: None,
        q: Some(query.q.clone()).filter(|q| !q.trim().is_empty()),
    };
    filter.validate().map_err(ApiError::from)?;
    let (vms, total) = service::list(&state.db, auth, &filter, 1, TABLE_LIMIT).await?;
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        "/vm-registry",
        "vm-registry",
        &[("Operations", None), ("VM registry", None)],
    )
    .await;
    let notice = match query.notice.as_deref() {
        Some("registered") => Some("VM registered.".to_owned()),
        Some("updated") => Some("VM updated.".to_owned()),
        _ => None,
    };
    let page = RegistryPage {
        layout,
        vms,
        total,
        q: query.q,
        status: query.status,
        statuses: VmStatus::ALL,
        notice,
        error: refusal.banner(),
        refusal,
    };
    Ok(csrf.attach((status, render(&page)).into_response()))
}

pub async fn page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(query): PageQuery<VmsQuery>,
) -> PageResult {
    respond(
        &state,
        &auth,
        &headers,
        query,
        StatusCode::OK,
        Refusal::none(),
    )
    .await
}

/// On to the notice, or the page again with the reason (`refusal` says how to show it).
async fn after(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    done: Result<(), ApiError>,
    (notice, refusal): (&str, impl FnOnce(&ApiError) -> Refusal),
) -> PageResult {
    match done {
        Ok(()) => Ok(Redirect::to(&format!("/vm-registry?notice={notice}")).into_response()),
        Err(e) => {
            let status = e.status();
            let refusal = refusal(&e);
            respond(state, auth, headers, VmsQuery::default(), status, refusal).await
        }
    }
}

#[derive(Deserialize, Serialize)]
pub struct RegisterForm {
    vm_uuid: String,
    #[serde(default)]
    vm_name: String,
    #[serde(default)]
    project_id: String,
}

pub async fn register(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<RegisterForm>,
) -> PageResult {
    let request = RegisterVmRequest {
        vm_uuid: form.vm_uuid.clone(),
        vm_name: Some(form.vm_name.clone()),
        project_id: Some(form.project_id.clone()),
        ..Default::default()
    };
    let done = match request.validate() {
        Ok(()) => service::register(&state.db, &auth, request)
            .await
            .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    let refusal = |e: &ApiError| Refusal::new("vm-register", &form, e);
    after(&state, &auth, &headers, done, ("registered", refusal)).await
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: VmStatus,
}

pub async fn set_status(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(uuid): PagePath<String>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> PageResult {
    let request = UpdateVmRequest {
        status: Some(form.status),
        ..Default::default()
    };
    let done = service::update(&state.db, &auth, &uuid, request)
        .await
        .map(|_| ());
    after(&state, &auth, &headers, done, ("updated", Refusal::message)).await
}
