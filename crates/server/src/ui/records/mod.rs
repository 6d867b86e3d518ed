//! Pages for the operator's records: the tables of licences, proxies, subscriptions, notes
//! and bots, a bot's page with its resources, the calendar and the kanban board. Everything
//! goes through `records::service`, so the UI obeys exactly the API's rules and errors.

pub mod archive;
pub mod bots;
pub mod common;
pub mod configure;
pub mod form;
pub mod lifecycle;
pub mod proxy_paste;
pub mod rows;
pub mod spec;
pub mod specs;
pub mod table;
pub mod workspace;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use self::common::with_notice;
use self::form::Posted;
use self::spec::TableSpec;
use self::table::TableQuery;
use super::error_page::PageError;
use super::session::{CsrfForm, UiUser};
use crate::principal::Auth;
use crate::records::documents::service;
use crate::records::kinds::Kind;
use crate::state::AppState;
use crate::ui::extract::{PagePath, PageQuery};

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
                // Back to the listing the row was deleted from: its table, or for a bot
                // the Project page's accounts table.
                .filter(|b| {
                    (b.starts_with(base) || (kind == Kind::Bot && b.starts_with("/project/")))
                        && !b.contains("notice=")
                })
                .unwrap_or(base);
            Redirect::to(&with_notice(back, "deleted")).into_response()
        }
        Err(e) => PageError::from(e).into_response(),
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
                      PageQuery(q): PageQuery<TableQuery>| {
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
                      PagePath(id): PagePath<String>,
                      CsrfForm(f): CsrfForm<Posted>| async move {
                    delete_record(spec.kind, spec.path, &s, &a, &id, &f).await
                },
            ),
        );
    if spec.item_path != spec.path {
        return router;
    }
    edit_routes(router, spec)
}

/// A record's edit page at `{path}/{id}`, and its form's target.
fn edit_routes(router: Router<AppState>, spec: &'static TableSpec) -> Router<AppState> {
    router.route(
        &format!("{}/{{id}}", spec.path),
        get(
            move |State(s): State<AppState>,
                  UiUser(a): UiUser,
                  h: HeaderMap,
                  PagePath(id): PagePath<String>| table::edit(spec, s, a, h, id),
        )
        .post(
            move |State(s): State<AppState>,
                  UiUser(a): UiUser,
                  h: HeaderMap,
                  PagePath(id): PagePath<String>,
                  CsrfForm(f): CsrfForm<Posted>| table::update(spec, s, a, h, id, f),
        ),
    )
}

/// The record pages' routes.
pub fn router() -> Router<AppState> {
    let router = specs::TABLES
        .iter()
        .fold(Router::new(), |r, spec| table_routes(r, spec));
    // Calendar events and kanban tasks are shown on their own pages but edited like rows.
    let router = [&workspace::CALENDAR_EVENTS, &workspace::KANBAN_TASKS]
        .into_iter()
        .fold(router, edit_routes);
    let delete_in = |kind: Kind, base: &'static str| {
        post(
            move |State(s): State<AppState>,
                  UiUser(a): UiUser,
                  PagePath(id): PagePath<String>,
                  CsrfForm(f): CsrfForm<Posted>| async move {
                delete_record(kind, base, &s, &a, &id, &f).await
            },
        )
    };
    router
        .route("/archive", get(archive::page))
        .route("/bot/{id}", get(bots::page).post(bots::update))
        .route("/bot/{id}/{tab}/attach", post(bots::attach))
        .route("/bot/{id}/proxy/paste", post(bots::paste_proxy))
        .route("/bot/{id}/configure/{section}", post(bots::configure_post))
        .route("/bot/{id}/lifecycle/{action}", post(bots::act))
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
