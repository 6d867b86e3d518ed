//! The Licences & leases page: an admin's licences with their seats in use (add, suspend,
//! reactivate, delete), the entitlements (per user or the tenant default), and the leases
//! with their state and a revoke button. Members see their own leases only.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use botmox_proto::licensing::{
    CreateLicenseRequest, EntitlementKey, EntitlementView, LeaseListQuery, LeaseStatus, LeaseView,
    LicenseStatus, LicenseType, LicenseView, Modules, RevokeLeaseRequest, SetEntitlementRequest,
    UpdateLicenseRequest,
};
use botmox_proto::validate::Validate;
use serde::{Deserialize, Serialize};

use super::error_page::PageResult;
use super::layout::{Layout, render};
use super::refusal::Refusal;
use super::session::{CsrfForm, EmptyForm, UiAdmin, UiUser};
use crate::http::ApiError;
use crate::licensing::service;
use crate::principal::Auth;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};
use crate::users;

const TABLE_LIMIT: u64 = 200;

/// A member, for the owner columns and the forms' user choices.
struct Member {
    id: String,
    email: String,
}

#[derive(Template)]
#[template(path = "licensing.html")]
struct LicensingPage {
    layout: Layout,
    licenses: Vec<LicenseView>,
    entitlements: Vec<EntitlementView>,
    leases: Vec<LeaseView>,
    lease_total: u64,
    members: Vec<Member>,
    emails: HashMap<String, String>,
    status_filter: String,
    types: [LicenseType; 4],
    notice: Option<String>,
    error: Option<String>,
    refusal: Refusal,
}

impl LicensingPage {
    fn who(&self, user_id: &str) -> String {
        self.emails
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| user_id.to_owned())
    }

    fn when(ms: &i64) -> String {
        crate::ui::time::at_ms(*ms)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
pub struct LicensingQuery {
    notice: Option<String>,
    /// Lease status to show: `active` (default), `expired`, `revoked` or `all`.
    status: Option<String>,
}

fn notice_text(key: &str) -> Option<String> {
    Some(
        match key {
            "license-added" => "Licence added.",
            "license-updated" => "Licence updated.",
            "license-deleted" => "Licence deleted; its leases were revoked.",
            "entitlement-saved" => "Entitlement saved.",
            "entitlement-removed" => "Entitlement removed.",
            "lease-revoked" => "Lease revoked; its seat is free.",
            _ => return None,
        }
        .into(),
    )
}

async fn respond(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    query: LicensingQuery,
    status: StatusCode,
    refusal: Refusal,
) -> PageResult {
    let status_filter = query.status.unwrap_or_else(|| "active".into());
    let lease_query = LeaseListQuery {
        status: status_filter.parse::<LeaseStatus>().ok(),
        ..Default::default()
    };
    let (leases, lease_total) =
        service::list_leases(&state.db, auth, lease_query, 1, TABLE_LIMIT).await?;
    let (licenses, entitlements, members) = match auth.admin() {
        Ok(admin) => {
            let (licenses, _) = service::list_licenses(&state.db, &admin, 1, TABLE_LIMIT).await?;
            let entitlements = service::list_entitlements(&state.db, &admin).await?;
            let (users, _) = users::service::list(&state.db, &admin, 1, TABLE_LIMIT).await?;
            let members: Vec<Member> = users
                .into_iter()
                .map(|u| Member {
                    id: u.id,
                    email: u.email,
                })
                .collect();
            (licenses, entitlements, members)
        }
        Err(_) => Default::default(),
    };
    let emails = members
        .iter()
        .map(|m| (m.id.clone(), m.email.clone()))
        .collect();
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        "/licensing",
        "licensing",
        &[("Operations", None), ("Licences & leases", None)],
    )
    .await;
    let page = LicensingPage {
        layout,
        licenses,
        entitlements,
        leases,
        lease_total,
        members,
        emails,
        status_filter,
        types: LicenseType::ALL,
        notice: query.notice.as_deref().and_then(notice_text),
        error: refusal.banner(),
        refusal,
    };
    Ok(csrf.attach((status, render(&page)).into_response()))
}

pub async fn page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(query): PageQuery<LicensingQuery>,
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

/// The page again with the reason a form was refused (`refusal` says how to show it), or
/// on to the notice.
async fn after(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    done: Result<(), ApiError>,
    (notice, refusal): (&str, impl FnOnce(&ApiError) -> Refusal),
) -> PageResult {
    match done {
        Ok(()) => Ok(Redirect::to(&format!("/licensing?notice={notice}")).into_response()),
        Err(e) => {
            let status = e.status();
            let refusal = refusal(&e);
            respond(
                state,
                auth,
                headers,
                LicensingQuery::default(),
                status,
                refusal,
            )
            .await
        }
    }
}

fn checked<T: Validate>(request: T) -> Result<T, ApiError> {
    request.validate()?;
    Ok(request)
}

/// A `YYYY-MM-DD` date as the last millisecond of that day (UTC): a licence runs through it.
fn end_of_day(date: &str) -> Result<Option<i64>, ApiError> {
    let date = date.trim();
    if date.is_empty() {
        return Ok(None);
    }
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|_| ApiError::field("expires_at", "must be a date (YYYY-MM-DD)"))?;
    let next = day
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| ApiError::field("expires_at", "is out of range"))?;
    Ok(Some(next.and_utc().timestamp_millis() - 1))
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

#[derive(Deserialize, Serialize)]
pub struct LicenseForm {
    #[serde(rename = "type")]
    license_type: LicenseType,
    #[serde(default)]
    expires_at: String,
    #[serde(default)]
    max_leases: String,
    #[serde(default)]
    user_id: String,
}

pub async fn create_license(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<LicenseForm>,
) -> PageResult {
    let done = async {
        let max_leases =
            match form.max_leases.trim() {
                "" => None,
                n => Some(n.parse::<u32>().map_err(|_| {
                    ApiError::field("max_leases", "must be a whole number of seats")
                })?),
            };
        let request = checked(CreateLicenseRequest {
            license_type: Some(form.license_type),
            status: None,
            expires_at: end_of_day(&form.expires_at)?,
            max_leases,
            user_id: optional(&form.user_id),
            metadata: None,
        })?;
        service::create_license(&state.db, &admin, request)
            .await
            .map(|_| ())
    }
    .await;
    let refusal = |e: &ApiError| Refusal::new("licence-create", &form, e);
    after(&state, &admin, &headers, done, ("license-added", refusal)).await
}

#[derive(Deserialize)]
pub struct LicenseStatusForm {
    status: LicenseStatus,
}

pub async fn set_license_status(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm<LicenseStatusForm>,
) -> PageResult {
    let request = UpdateLicenseRequest {
        status: Some(form.status),
        ..Default::default()
    };
    let done = service::update_license(&state.db, &admin, &id, request)
        .await
        .map(|_| ());
    after(
        &state,
        &admin,
        &headers,
        done,
        ("license-updated", Refusal::message),
    )
    .await
}

pub async fn delete_license(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> PageResult {
    let done = service::delete_license(&state.db, &admin, &id).await;
    after(
        &state,
        &admin,
        &headers,
        done,
        ("license-deleted", Refusal::message),
    )
    .await
}

#[derive(Deserialize, Serialize)]
pub struct EntitlementForm {
    #[serde(default)]
    user_id: String,
    /// Module names, separated by commas or spaces; `*` for every module.
    #[serde(default)]
    modules: String,
}

pub async fn set_entitlement(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<EntitlementForm>,
) -> PageResult {
    let mut modules: Vec<String> = form
        .modules
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect();
    modules.sort();
    modules.dedup();
    let done = async {
        // The field is required on the page: a list of only separators is not a choice.
        if modules.is_empty() {
            return Err(ApiError::field(
                "modules",
                "must name at least one module (* for all)",
            ));
        }
        let request = checked(SetEntitlementRequest {
            user_id: optional(&form.user_id),
            modules: Modules(modules),
        })?;
        service::set_entitlement(&state.db, &admin, request)
            .await
            .map(|_| ())
    }
    .await;
    let refusal = |e: &ApiError| Refusal::new("entitlement-set", &form, e);
    after(
        &state,
        &admin,
        &headers,
        done,
        ("entitlement-saved", refusal),
    )
    .await
}

pub async fn remove_entitlement(
    State(state): State<AppState>,
    UiAdmin(admin): UiAdmin,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<EntitlementForm>,
) -> PageResult {
    let key = EntitlementKey {
        user_id: optional(&form.user_id),
    };
    let done = service::delete_entitlement(&state.db, &admin, key).await;
    after(
        &state,
        &admin,
        &headers,
        done,
        ("entitlement-removed", Refusal::message),
    )
    .await
}

pub async fn revoke_lease(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> PageResult {
    let request = RevokeLeaseRequest {
        lease_id: id,
        reason: Some("revoked on the Licences & leases page".into()),
    };
    let done = service::revoke(&state, &auth, request).await.map(|_| ());
    after(
        &state,
        &auth,
        &headers,
        done,
        ("lease-revoked", Refusal::message),
    )
    .await
}
