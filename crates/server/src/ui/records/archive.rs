//! The archive page (spec ui.md): the tenant's banned bots, newest change first, each with
//! the ban's date, reason and mechanism (in words) and an unban button (the bot page's
//! lifecycle action).

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::common::{list_page, seg};
use crate::records::documents::routes::ListParams;
use crate::records::kinds::Kind;
use crate::state::AppState;
use crate::ui::error_page::PageError;
use crate::ui::extract::PageQuery;
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
    PageQuery(q): PageQuery<ArchiveQuery>,
) -> Response {
    let params = ListParams {
        status: Some("banned".into()),
        sort: Some("updated_at".into()),
        order: Some("desc".into()),
        page: q.page,
        limit: Some(PAGE_SIZE),
        ..ListParams::default()
    };
    let listed = async {
        let mut query = params.resolve()?;
        let (models, total, pages) = list_page(&state, &auth, Kind::Bot, &mut query).await?;
        Ok::<_, crate::http::ApiError>((models, total, pages, query.page))
    };
    let (models, total, pages, page) = match listed.await {
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
        page,
        pages,
    };
    csrf.attach(render(&view).into_response())
}
