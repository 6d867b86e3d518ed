//! The archive page (spec ui.md): the tenant's banned bots, newest change first, each with
//! the ban's date, reason and mechanism (in words) and an unban button (the bot page's
//! lifecycle action).

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::common::seg;
use crate::http::ApiQuery;
use crate::records::documents::service;
use crate::records::documents::store::{ListQuery, SortKey};
use crate::records::kinds::Kind;
use crate::state::AppState;
use crate::ui::error_page::PageError;
use crate::ui::layout::{Layout, render};
use crate::ui::session::UiUser;

const PAGE_SIZE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ArchiveQuery {
    page: Option<u64>,
}

/// One banned bot as the archive shows it.
struct BannedRow {
    href: String,
    unban: String,
    name: String,
    date: String,
    reason: String,
    mechanism: String,
}

#[derive(Template)]
#[template(path = "archive.html")]
struct ArchivePage {
    layout: Layout,
    rows: Vec<BannedRow>,
    total: u64,
    page: u64,
    pages: u64,
}

fn banned_row(id: &str, doc: &Value) -> BannedRow {
    let ban = &doc["lifecycle"]["ban_details"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let name = text(&doc["name"]);
    BannedRow {
        href: format!("/bot/{}", seg(id)),
        unban: format!("/bot/{}/lifecycle/unban", seg(id)),
        name: if name.is_empty() { id.to_owned() } else { name },
        date: text(&ban["ban_date"]),
        reason: text(&ban["ban_reason"]),
        mechanism: text(&ban["ban_mechanism"]).replace('_', " "),
    }
}

/// `GET /archive`.
pub async fn page(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ArchiveQuery>,
) -> Response {
    let mut query = ListQuery {
        status: Some("banned".into()),
        sort: SortKey::Updated,
        descending: true,
        page: q.page.unwrap_or(1).max(1),
        limit: PAGE_SIZE,
        ..ListQuery::default()
    };
    let listed = async {
        let (mut models, total) = service::list(&state, &auth, Kind::Bot, &query).await?;
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        // A page past the last shows the last.
        if query.page > pages {
            query.page = pages;
            models = service::list(&state, &auth, Kind::Bot, &query).await?.0;
        }
        Ok::<_, crate::http::ApiError>((models, total, pages))
    };
    let (models, total, pages) = match listed.await {
        Ok(v) => v,
        Err(e) => return PageError::from(e).into_response(),
    };
    let rows = models
        .iter()
        .map(|m| {
            let doc: Value = serde_json::from_str(&m.data).unwrap_or_default();
            banned_row(&m.id, &doc)
        })
        .collect();
    let (layout, csrf) = Layout::new(
        &state,
        &auth,
        &headers,
        "/archive",
        "archive",
        &[("Bots", Some("/bots")), ("Archive", None)],
    )
    .await;
    let view = ArchivePage {
        layout,
        rows,
        total,
        page: query.page,
        pages,
    };
    csrf.attach(render(&view).into_response())
}
