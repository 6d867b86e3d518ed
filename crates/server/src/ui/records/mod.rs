//! Pages for the operator's records: the tables of licences, proxies, subscriptions, notes
//! and bots, a bot's page with its resources, the calendar and the kanban board. Everything
//! goes through `records::service`, so the UI obeys exactly the API's rules and errors.

pub mod bots;
pub mod form;
pub mod lifecycle;
pub mod rows;
pub mod specs;
pub mod table;
pub mod workspace;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use botmox_proto::ErrorCode;

use self::form::Posted;
use self::table::{TableQuery, TableSpec};
use super::pages::error_page;
use super::session::{CsrfForm, UiUser};
use crate::http::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::principal::Auth;
use crate::records::documents::service;
use crate::records::documents::store::{ListQuery, SortKey};
use crate::records::kinds::Kind;
use crate::state::AppState;

/// The most records a page loads at once where it does not page (selects, board, month).
pub const LOAD_LIMIT: u64 = 200;

/// Days before `expires_at` from which licences and subscriptions count as expiring:
/// settings `alerts.warning_days`.
pub async fn warning_days(state: &AppState, auth: &Auth) -> ApiResult<i64> {
    let tree = crate::settings::service::tree(&state.db, auth.tenant()).await?;
    Ok(crate::settings::service::warning_days(&tree))
}

/// What rendering rows needs besides the records: the time, the warning window, the bots.
pub struct Ctx {
    pub now_ms: i64,
    pub warning_days: i64,
    /// (id, label) of the tenant's bots, by name; empty unless asked for.
    pub bots: Vec<(String, String)>,
}

impl Ctx {
    pub async fn load(state: &AppState, auth: &Auth, with_bots: bool) -> ApiResult<Self> {
        let bots = if with_bots {
            let query = ListQuery {
                sort: SortKey::Name,
                ..all()
            };
            let (models, _) = service::list(state, auth, Kind::Bot, &query).await?;
            models
                .iter()
                .map(|m| {
                    let doc = service::view(m);
                    let name = doc.get("name").and_then(|n| n.as_str()).unwrap_or(&m.id);
                    (m.id.clone(), name.to_owned())
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            now_ms: chrono::Utc::now().timestamp_millis(),
            warning_days: warning_days(state, auth).await?,
            bots,
        })
    }

    /// The bot's name when known, else its id.
    pub fn bot_label(&self, id: &str) -> String {
        self.bots
            .iter()
            .find(|(b, _)| b == id)
            .map_or(id, |(_, name)| name.as_str())
            .to_owned()
    }
}

/// The first [`LOAD_LIMIT`] records, oldest first, unfiltered.
pub fn all() -> ListQuery {
    ListQuery {
        limit: LOAD_LIMIT,
        ..ListQuery::default()
    }
}

/// An id as one URL path segment.
pub fn seg(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `url` with `notice=key` added to its query.
pub fn with_notice(url: &str, key: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}notice={key}")
}

/// The sentence for a `notice` key after a redirect, e.g. "License created.".
pub fn notice_text(kind: Kind, key: &str) -> Option<String> {
    let verb = match key {
        "created" | "updated" | "deleted" | "attached" | "detached" | "moved" | "banned"
        | "unbanned" => key,
        _ => return None,
    };
    Some(format!("{} {verb}.", kind.label()))
}

/// An error page for a failure outside a form.
pub fn failure(e: ApiError) -> Response {
    let title = if e.code == ErrorCode::NotFound {
        "Not found"
    } else {
        "Request failed"
    };
    error_page(e.status(), title, &e.message)
}

/// Delete a record, then return to `back` (when it is a page under `base`) or `base`.
/// References to it are cleared (`detach`): the confirmation dialog says so.
async fn delete_record(
    kind: Kind,
    base: &'static str,
    state: &AppState,
    auth: &Auth,
    id: &str,
    posted: &Posted,
) -> Response {
    match service::delete(state, auth, kind, id, true).await {
        Ok(()) => {
            let back = posted
                .get("back")
                .and_then(|b| super::pages::same_site_path(b))
                .filter(|b| b.starts_with(base) && !b.contains("notice="))
                .unwrap_or(base);
            Redirect::to(&with_notice(back, "deleted")).into_response()
        }
        Err(e) => failure(e),
    }
}

fn table_routes(router: Router<AppState>, spec: &'static TableSpec) -> Router<AppState> {
    let router = router
        .route(
            spec.path,
            get(
                move |State(s): State<AppState>,
                      UiUser(a): UiUser,
                      h: HeaderMap,
                      ApiQuery(q): ApiQuery<TableQuery>| {
                    table::list(spec, s, a, h, q)
                },
            )
            .post(
                move |State(s): State<AppState>,
                      UiUser(a): UiUser,
                      h: HeaderMap,
                      CsrfForm(f): CsrfForm<Posted>| {
                    table::create(spec, s, a, h, f)
                },
            ),
        )
        .route(
            &format!("{}/{{id}}/delete", spec.path),
            post(
                move |State(s): State<AppState>,
                      UiUser(a): UiUser,
                      ApiPath(id): ApiPath<String>,
                      CsrfForm(f): CsrfForm<Posted>| async move {
                    delete_record(spec.kind, spec.path, &s, &a, &id, &f).await
                },
            ),
        );
    if spec.item_path != spec.path {
        return router;
    }
    router.route(
        &format!("{}/{{id}}", spec.path),
        get(
            move |State(s): State<AppState>,
                  UiUser(a): UiUser,
                  h: HeaderMap,
                  ApiPath(id): ApiPath<String>| table::edit(spec, s, a, h, id),
        )
        .post(
            move |State(s): State<AppState>,
                  UiUser(a): UiUser,
                  h: HeaderMap,
                  ApiPath(id): ApiPath<String>,
                  CsrfForm(f): CsrfForm<Posted>| table::update(spec, s, a, h, id, f),
        ),
    )
}

/// The record pages' routes.
pub fn router() -> Router<AppState> {
    let router = specs::TABLES
        .iter()
        .fold(Router::new(), |r, spec| table_routes(r, spec));
    let delete_in = |kind: Kind, base: &'static str| {
        post(
            move |State(s): State<AppState>,
                  UiUser(a): UiUser,
                  ApiPath(id): ApiPath<String>,
                  CsrfForm(f): CsrfForm<Posted>| async move {
                delete_record(kind, base, &s, &a, &id, &f).await
            },
        )
    };
    router
        .route("/bot/{id}", get(bots::page).post(bots::update))
        .route("/bot/{id}/{tab}/attach", post(bots::attach))
        .route("/bot/{id}/lifecycle/{action}", post(lifecycle::act))
        .route("/bot/{id}/{tab}/{record}/detach", post(bots::detach))
        .route(
            "/workspace/calendar",
            get(workspace::calendar).post(workspace::create_event),
        )
        .route(
            "/workspace/calendar/{id}/delete",
            delete_in(Kind::CalendarEvent, "/workspace/calendar"),
        )
        .route(
            "/workspace/kanban",
            get(workspace::kanban).post(workspace::create_task),
        )
        .route("/workspace/kanban/{id}/move", post(workspace::move_task))
        .route(
            "/workspace/kanban/{id}/delete",
            delete_in(Kind::KanbanTask, "/workspace/kanban"),
        )
}
