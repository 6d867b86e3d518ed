//! The Agents page (spec ui.md §4.3): create a pairing and show the one-paste string and
//! the agent's command line, the agent list with online state, version, last seen and what
//! its doctor last found of Proxmox and SSH, and revoke. The list re-renders on each event.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use botmox_proto::agent::{AgentView, CreatePairingRequest, DoctorFacts, RevokeRequest};
use botmox_proto::validate::Validate;
use serde::{Deserialize, Serialize};

use super::error_page::PageError;
use super::layout::{Layout, page_url, render};
use super::refusal::Refusal;
use super::session::EmptyForm;
use super::session::{CsrfForm, UiUser};
use crate::agents::service;
use crate::agents::store::Narrow;
use crate::http::ApiError;
use crate::http::paging::MAX_PAGE;
use crate::principal::Auth;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};

/// A pairing just created: shown once.
struct NewPairing {
    uri: String,
    /// The same bundle as a link on this server's public URL (any of the three pastes).
    link: Option<String>,
    command: String,
    expires_at: String,
}

/// An agent with what its last heartbeat said of Proxmox and SSH.
struct AgentRow {
    view: AgentView,
    doctor: Option<DoctorFacts>,
}

/// Agents a page of the list shows.
const AGENTS_PER_PAGE: u64 = 50;

/// Which part of the list a page shows: a page of the agents whose name holds `find`.
#[derive(Default)]
struct ListAt {
    /// 1-based; past the last, the last.
    page: u64,
    find: String,
}

impl ListAt {
    /// This page's address.
    fn here(&self) -> String {
        self.href(self.page)
    }

    /// This page's address for page `page` of the same list.
    fn href(&self, page: u64) -> String {
        page_url("/agents", &[("page", &page.to_string()), ("q", &self.find)])
    }
}

#[derive(Template)]
#[template(path = "agents.html")]
struct AgentsPage {
    layout: Layout,
    /// This page of the list, newest first.
    agents: Vec<AgentRow>,
    /// Agents matching in all, the part shown, and the pages there are.
    total: u64,
    at: ListAt,
    pages: u64,
    pairing: Option<NewPairing>,
    notice: Option<String>,
    error: Option<String>,
    refusal: Refusal,
}

/// The part `at` of the caller's agents (the last page when there are fewer), how many
/// match in all, and the part shown.
async fn listed(
    state: &AppState,
    auth: &Auth,
    mut at: ListAt,
) -> Result<(Vec<AgentRow>, u64, ListAt), ApiError> {
    // Bounded before it becomes an offset: a page past the last shows the last.
    at.page = at.page.clamp(1, MAX_PAGE);
    let narrow = Narrow {
        find: &at.find,
        active_only: false,
    };
    let (mut views, total) =
        service::list_page(state, auth, narrow, at.page, AGENTS_PER_PAGE).await?;
    let pages = total.div_ceil(AGENTS_PER_PAGE).max(1);
    if at.page > pages {
        views = service::list_page(state, auth, narrow, pages, AGENTS_PER_PAGE)
            .await?
            .0;
        at.page = pages;
    }
    let rows = views
        .into_iter()
        .map(|view| AgentRow {
            doctor: DoctorFacts::of_host(&view.metadata["host"]),
            view,
        })
        .collect();
    Ok((rows, total, at))
}

#[allow(clippy::too_many_arguments)] // the page's parts, each from its own handler
async fn page(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    status: StatusCode,
    at: ListAt,
    pairing: Option<NewPairing>,
    notice: Option<String>,
    refusal: Refusal,
) -> Response {
    let (agents, total, at) = match listed(state, auth, at).await {
        Ok(listed) => listed,
        Err(e) => return PageError::from(e).into_response(),
    };
    let (layout, csrf) = Layout::new(
        state,
        auth,
        headers,
        "/agents",
        "agents",
        &[("Operations", None), ("Agents", None)],
    )
    .await;
    let body = AgentsPage {
        layout,
        agents,
        total,
        at,
        pages: total.div_ceil(AGENTS_PER_PAGE).max(1),
        pairing,
        notice,
        error: refusal.banner(),
        refusal,
    };
    csrf.attach((status, render(&body)).into_response())
}

/// The page again, with the error the service answered.
async fn refused(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    status: StatusCode,
    refusal: Refusal,
) -> Response {
    let first = ListAt::default();
    page(state, auth, headers, status, first, None, None, refusal).await
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
    /// The page of the list (1-based).
    page: Option<u64>,
    /// Only agents whose name holds this.
    q: Option<String>,
}

pub async fn agents_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PageQuery(q): PageQuery<NoticeQuery>,
) -> Response {
    let notice = (q.notice.as_deref() == Some("revoked")).then(|| "Agent revoked.".to_owned());
    page(
        &state,
        &auth,
        &headers,
        StatusCode::OK,
        ListAt {
            page: q.page.unwrap_or(1),
            find: q.q.unwrap_or_default().trim().to_owned(),
        },
        None,
        notice,
        Refusal::none(),
    )
    .await
}

#[derive(Deserialize, Serialize)]
pub struct PairingForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_in_minutes: String,
}

pub async fn create_pairing(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<PairingForm>,
) -> Response {
    let created = async {
        let expires_in_minutes = match form.expires_in_minutes.trim() {
            "" => None,
            n => Some(n.parse().map_err(|_| {
                ApiError::field("expires_in_minutes", "must be a whole number of minutes")
            })?),
        };
        let request = CreatePairingRequest {
            name: Some(form.name.trim().to_owned()).filter(|n| !n.is_empty()),
            expires_in_minutes,
            owner_user_id: None,
        };
        request.validate()?;
        service::create_pairing(&state, &auth, request).await
    }
    .await;
    match created {
        Ok(p) => {
            let pairing = NewPairing {
                command: format!("botmox-agent pair '{}'", p.pairing_uri),
                expires_at: p
                    .pairing_expires_at
                    .map(|t| crate::ui::time::at(&t).to_string())
                    .unwrap_or_default(),
                uri: p.pairing_uri,
                link: p.pairing_url,
            };
            let mut response = page(
                &state,
                &auth,
                &headers,
                StatusCode::CREATED,
                ListAt::default(),
                Some(pairing),
                None,
                Refusal::none(),
            )
            .await;
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(e) => {
            let refusal = Refusal::new("pairing-create", &form, &e);
            refused(&state, &auth, &headers, e.status(), refusal).await
        }
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    match service::revoke(&state, &auth, &id, RevokeRequest::default()).await {
        Ok(_) => Redirect::to("/agents?notice=revoked").into_response(),
        Err(e) => {
            let refusal = Refusal::message(&e);
            refused(&state, &auth, &headers, e.status(), refusal).await
        }
    }
}
