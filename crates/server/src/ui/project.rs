//! The Project page (spec ui.md §3.2): the project's facts from settings, its bots counted
//! by status (each count opening the table filtered to it) and the accounts table: the
//! project's bots with account, character and the state of their licence, proxy and
//! subscription, searchable, filterable by status, sortable and paged in the URL.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error_page::PageError;
use super::layout::{Layout, render};
use super::records::common::{Ctx, notice_text, seg};
use super::records::specs::PROJECT_ACCOUNTS;
use super::records::table::{ListView, TableQuery, list_view};
use super::session::UiUser;
use crate::clock;
use crate::http::ApiError;
use crate::records::documents::counts;
use crate::records::kinds::{BOT_STATUSES, Kind};
use crate::settings;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};

const FACTS: [(&str, &str); 6] = [
    ("game", "Game"),
    ("expansion", "Expansion"),
    ("max_level", "Max level"),
    ("server_region", "Region"),
    ("currency", "Currency"),
    ("gold_price_usd", "Gold price (USD)"),
];

/// A stat card: how many of the project's bots, and the table filtered to them.
struct StatCard {
    label: String,
    /// The status it counts; empty for the total.
    status: &'static str,
    count: i64,
    href: String,
    /// The table shows this filter now.
    current: bool,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    layout: Layout,
    id: String,
    name: String,
    facts: Vec<(&'static str, String)>,
    /// "N accounts".
    total_text: String,
    /// How many rows the table's filters leave, when they leave out some.
    matching: Option<u64>,
    cards: Vec<StatCard>,
    notice: Option<String>,
    list: ListView,
}

pub async fn project_page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    PageQuery(tq): PageQuery<TableQuery>,
) -> Response {
    let path = format!("/project/{}", seg(&id));
    let loaded = async {
        let tree = settings::service::tree(&state.db, auth.tenant()).await?;
        let project = tree
            .get("projects")
            .and_then(|p| p.get(&id))
            .filter(|p| p.is_object())
            .cloned()
            .ok_or_else(|| ApiError::not_found("Project"))?;
        let counts = counts::bots(state.db.read(), auth.tenant(), Some(&id)).await?;
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
    let (layout, csrf) = Layout::new(
        &state,
        &auth,
        &headers,
        &path,
        "project",
        &[("Projects", None), (&name, None)],
    )
    .await;
    let table = async {
        let mut ctx = Ctx::load(&state, &auth, None).await?;
        list_view(
            &PROJECT_ACCOUNTS,
            &path,
            Some(&id),
            &state,
            &auth,
            &tq,
            &layout.projects,
            &mut ctx,
        )
        .await
    };
    let list = match table.await {
        Ok(list) => list,
        Err(e) => return PageError::from(e).into_response(),
    };
    let count_of = |status: &str| {
        counts
            .iter()
            .filter(|(_, s, _)| s == status)
            .map(|(_, _, n)| n)
            .sum::<i64>()
    };
    let total = counts.iter().map(|(_, _, n)| n).sum();
    let filtered = tq.status_filter().unwrap_or_default();
    let mut cards = vec![StatCard {
        label: "Total".into(),
        status: "",
        count: total,
        href: path.clone(),
        current: filtered.is_empty(),
    }];
    cards.extend(BOT_STATUSES.iter().map(|s| StatCard {
        label: s.replace('_', " "),
        status: s,
        count: count_of(s),
        href: format!("{path}?status={s}"),
        current: *s == filtered,
    }));
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
        total_text: clock::count(total, "account"),
        matching: (i64::try_from(list.total).ok() != Some(total)).then_some(list.total),
        cards,
        notice: tq.notice().and_then(|n| notice_text(Kind::Bot, n)),
        list,
        name,
        id,
    };
    csrf.attach(render(&page)).into_response()
}
