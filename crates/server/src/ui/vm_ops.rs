//! The VM operations page: the command log (who dispatched what to which agent, status,
//! duration, result or error), filtered by agent, status and type, with cancel for queued
//! commands. The log updates live: the page's script re-renders it on each event of `/events`.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use botmox_proto::command::{CommandStatus, ListCommandsQuery};
use serde::Deserialize;

use super::error_page::PageResult;
use super::layout::{Layout, render};
use super::session::EmptyForm;
use super::session::{CsrfForm, UiUser};
use crate::agents;
use crate::http::{ApiPath, ApiQuery};
use crate::state::AppState;
use crate::vm_ops::{service, stream};

const STATUSES: [&str; 7] = [
    "queued",
    "dispatched",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "expired",
];

struct Row {
    id: String,
    agent: String,
    command_type: String,
    status: String,
    created_by: String,
    queued_at: String,
    duration: String,
    outcome: String,
    cancellable: bool,
}

#[derive(Template)]
#[template(path = "vm_ops.html")]
struct VmOpsPage {
    layout: Layout,
    /// This page with its filters: what the live section re-renders from.
    live_url: String,
    rows: Vec<Row>,
    agents: Vec<(String, String)>,
    statuses: [&'static str; 7],
    agent_id: String,
    status: String,
    command_type: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    agent_id: Option<String>,
    status: Option<String>,
    command_type: Option<String>,
    notice: Option<String>,
}

fn seconds(from: Option<i64>, to: Option<i64>) -> String {
    match (from, to) {
        (Some(a), Some(b)) => format!("{:.1} s", (b - a) as f64 / 1000.0),
        _ => String::new(),
    }
}

pub async fn page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    ApiQuery(f): ApiQuery<Filters>,
) -> PageResult {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let blank = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let query = ListCommandsQuery {
        agent_id: blank(&f.agent_id),
        status: blank(&f.status).and_then(|s| s.parse().ok()),
        command_type: blank(&f.command_type),
    };
    let commands = service::list(&state, &auth, &query).await?;
    let agents = agents::service::list(&state, &auth).await?;
    let agents: Vec<(String, String)> = agents.into_iter().map(|a| (a.id, a.name)).collect();
    let name_of = |id: &str| {
        agents
            .iter()
            .find(|(a, _)| a == id)
            .map_or(id.to_owned(), |(_, n)| n.clone())
    };
    let rows = commands
        .iter()
        .map(|c| {
            let v = c.view();
            Row {
                agent: name_of(&c.agent_id),
                command_type: c.command_type.clone(),
                status: c.status.as_str().to_owned(),
                created_by: c.created_by.clone().unwrap_or_default(),
                queued_at: crate::clock::iso(c.queued_at),
                duration: seconds(c.started_at.or(c.claimed_at), c.completed_at),
                outcome: c.error_message.clone().unwrap_or_else(|| {
                    if v.result.is_null() {
                        String::new()
                    } else {
                        v.result.to_string()
                    }
                }),
                cancellable: c.status == CommandStatus::Queued,
                id: c.id.clone(),
            }
        })
        .collect();
    let (layout, csrf) = Layout::new(
        &state,
        &auth,
        &headers,
        "/vm-ops",
        "vm-ops",
        &[("Operations", None), ("VM operations", None)],
    )
    .await;
    let mut live_url = url::form_urlencoded::Serializer::new(String::from("/vm-ops?"));
    for (k, v) in [
        ("agent_id", &f.agent_id),
        ("status", &f.status),
        ("command_type", &f.command_type),
    ] {
        if let Some(v) = v {
            live_url.append_pair(k, v);
        }
    }
    let body = VmOpsPage {
        live_url: live_url.finish(),
        layout,
        rows,
        agents,
        statuses: STATUSES,
        agent_id: text(&f.agent_id),
        status: text(&f.status),
        command_type: text(&f.command_type),
        notice: (f.notice.as_deref() == Some("cancelled")).then(|| "Command cancelled.".to_owned()),
        error: None,
    };
    Ok(csrf.attach((StatusCode::OK, render(&body)).into_response()))
}

/// `GET /events`: the command bus event stream for a signed-in browser (the API's
/// `/vm-ops/events` takes bearer tokens); live sections of the pages re-render on its events.
pub async fn events(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
) -> PageResult {
    let after = stream::resume_after(&headers, None)?;
    let filter = stream::Filter::for_caller(&auth, None, None);
    let cookie =
        super::session::read_cookie(&headers, super::session::SESSION_COOKIE).unwrap_or_default();
    let holder = stream::Holder::UiSession { cookie, auth };
    Ok(stream::stream(state, filter, holder, after)
        .await?
        .into_response())
}

pub async fn cancel(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    ApiPath(id): ApiPath<String>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> PageResult {
    service::cancel(&state, &auth, &id).await?;
    Ok(Redirect::to("/vm-ops?notice=cancelled").into_response())
}
