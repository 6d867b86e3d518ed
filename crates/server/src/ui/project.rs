//! The Project page (spec ui.md §3.2): the project's facts from settings, its bots counted
//! by status, and its bots' table (the Bots table filtered to the project).

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error_page::PageError;
use super::layout::{Layout, render};
use super::session::UiUser;
use crate::http::ApiError;
use crate::records::documents::store;
use crate::records::kinds::{BOT_STATUSES, Kind};
use crate::settings;
use crate::state::AppState;
use crate::ui::extract::PagePath;

const FACTS: [(&str, &str); 6] = [
    ("game", "Game"),
    ("expansion", "Expansion"),
    ("max_level", "Max level"),
    ("server_region", "Region"),
    ("currency", "Currency"),
    ("gold_price_usd", "Gold price (USD)"),
];

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    layout: Layout,
    id: String,
    facts: Vec<(&'static str, String)>,
    total: i64,
    counts: Vec<(&'static str, i64)>,
}

pub async fn project_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
) -> Response {
    let loaded = async {
        let tree = settings::service::tree(&state.db, auth.tenant()).await?;
        let project = tree
            .get("projects")
            .and_then(|p| p.get(&id))
            .filter(|p| p.is_object())
            .cloned()
            .ok_or_else(|| ApiError::not_found("Project"))?;
        let counts =
            store::count_by_status(state.db.read(), auth.tenant(), Kind::Bot, Some(&id)).await?;
        Ok::<_, ApiError>((project, counts))
    };
    let (project, counts) = match loaded.await {
        Ok(v) => v,
        Err(e) => return PageError::from(e).into_response(),
    };
    let name = project
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(&id)
        .to_owned();
    let path = format!("/project/{id}");
    let (layout, csrf) = Layout::new(
        &state,
        &auth,
        &headers,
        &path,
        "project",
        &[("Projects", None), (&name, None)],
    )
    .await;
    let count_of = |status: &str| {
        counts
            .iter()
            .filter(|(s, _)| s.as_deref().unwrap_or("offline") == status)
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let page = ProjectPage {
        layout,
        facts: FACTS
            .iter()
            .filter_map(|(key, label)| match project.get(*key) {
                Some(Value::String(s)) if !s.is_empty() => Some((*label, s.clone())),
                Some(v @ Value::Number(_)) => Some((*label, v.to_string())),
                _ => None,
            })
            .collect(),
        total: counts.iter().map(|(_, n)| n).sum(),
        counts: BOT_STATUSES.iter().map(|s| (*s, count_of(s))).collect(),
        id,
    };
    csrf.attach(render(&page)).into_response()
}
