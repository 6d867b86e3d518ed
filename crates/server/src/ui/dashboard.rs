//! The Overview page (spec ui.md §3.1): the dashboard's figures from
//! `records::overview`, the same ones `GET /api/v1/overview` serves.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;

use super::charts::BarChart;
use super::error_page::PageResult;
use super::layout::{Layout, render};
use super::session::UiUser;
use crate::records::overview::service::{self as overview, Overview, ResourceCounts};
use crate::state::AppState;

struct ResourceCard {
    title: &'static str,
    path: &'static str,
    counts: ResourceCounts,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    tenant: String,
    o: Overview,
    resources: Vec<ResourceCard>,
    bots_chart: String,
}

impl OverviewPage {
    /// `1 day` / `N days`.
    fn days(&self, n: &i64) -> String {
        crate::clock::count(*n, "day")
    }

    fn money(&self, v: &f64) -> String {
        format!("{v:.2}")
    }
}

pub async fn overview(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
) -> PageResult {
    let (layout, csrf) = Layout::new(
        &state,
        &auth,
        &headers,
        "/",
        "overview",
        &[("Overview", None)],
    )
    .await;
    let mut o = overview::overview(&state, &auth).await?;
    let bars = o
        .bots_by_status
        .iter()
        .map(|s| (s.status.clone(), s.count as f64))
        .collect();
    let bots_chart = BarChart::counts("bots-by-status", "Bots by status", "bots", bars)
        .render()
        .unwrap_or_default();
    let card = |title, path, counts: &mut ResourceCounts| ResourceCard {
        title,
        path,
        counts: std::mem::take(counts),
    };
    let resources = vec![
        card("Licenses", "licenses", &mut o.licenses),
        card("Proxies", "proxies", &mut o.proxies),
        card("Subscriptions", "subscriptions", &mut o.subscriptions),
    ];
    Ok(csrf.attach(render(&OverviewPage {
        layout,
        tenant: auth.tenant().to_string(),
        o,
        resources,
        bots_chart,
    })))
}
