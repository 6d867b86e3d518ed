//! The web UI: server-rendered pages (askama templates compiled into the binary), a small
//! stylesheet and script served from memory, a cookie session and CSRF-checked forms.

pub mod admin;
pub mod agents;
pub mod assets;
pub mod charts;
pub mod dashboard;
pub mod finance;
pub mod pages;
pub mod project;
pub mod records;
pub mod session;
pub mod settings;
pub mod vm_ops;

use askama::Template;
use axum::Router;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::principal::Auth;
use crate::state::AppState;
use session::CsrfToken;

pub fn router() -> Router<AppState> {
    let sections = pages::SECTIONS
        .iter()
        .fold(Router::new(), |r, s| r.route(s.path, get(pages::section)));
    sections
        .route("/login", get(pages::login_page).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/setup", get(pages::setup_page).post(pages::setup_submit))
        .route("/ui/theme", post(pages::set_theme))
        .route("/", get(dashboard::overview))
        .route("/project/{id}", get(project::project_page))
        .route("/vm-ops", get(vm_ops::page))
        .route("/events", get(vm_ops::events))
        .route("/vm-ops/commands/{id}/cancel", post(vm_ops::cancel))
        .route("/agents", get(agents::agents_page))
        .route("/agents/pairings", post(agents::create_pairing))
        .route("/agents/{id}/revoke", post(agents::revoke))
        .route("/finance", get(finance::finance_page))
        .route("/finance/operations", post(finance::create_operation))
        .route(
            "/finance/operations/{id}/delete",
            post(finance::delete_operation),
        )
        .route("/settings", get(settings::settings_page))
        .route("/settings/cards/{id}", post(settings::save_card))
        .route("/settings/projects", post(settings::save_project))
        .route(
            "/settings/projects/{id}/remove",
            post(settings::remove_project),
        )
        .route("/settings/reveal", post(settings::reveal))
        .route(
            "/admin/users",
            get(admin::users_page).post(admin::create_user),
        )
        .route("/admin/users/{id}", post(admin::update_user))
        .route("/admin/tokens", post(admin::create_token))
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/admin/audit", get(admin::audit_page))
        .route("/assets/{file}", get(assets::serve))
        .merge(records::router())
}

/// Render a template, or a plain 500 when rendering fails.
pub fn render<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => crate::http::ApiError::internal(format!("template: {e}")).into_response(),
    }
}

pub struct Crumb {
    pub label: String,
    pub href: Option<String>,
}

/// What every page of the application layout needs.
pub struct Layout {
    pub title: String,
    pub crumbs: Vec<Crumb>,
    pub active: &'static str,
    pub email: String,
    pub role: String,
    pub is_admin: bool,
    pub csrf: String,
    pub theme: String,
    pub path: String,
    /// The tenant's projects (id, name) for the navigation.
    pub projects: Vec<(String, String)>,
}

impl Layout {
    pub async fn new(
        state: &AppState,
        auth: &Auth,
        headers: &HeaderMap,
        path: &str,
        active: &'static str,
        trail: &[(&str, Option<&str>)],
    ) -> (Self, CsrfToken) {
        let csrf = CsrfToken::for_request(state, headers);
        let crumbs: Vec<Crumb> = trail
            .iter()
            .map(|(l, h)| Crumb {
                label: (*l).to_owned(),
                href: h.map(str::to_owned),
            })
            .collect();
        let layout = Self {
            title: trail
                .last()
                .map(|(l, _)| (*l).to_owned())
                .unwrap_or_default(),
            crumbs,
            active,
            email: auth.email.clone().unwrap_or_default(),
            role: auth.role().to_string(),
            is_admin: auth.is_admin(),
            csrf: csrf.token.clone(),
            theme: session::theme(headers),
            path: path.to_owned(),
            projects: match crate::settings::service::tree(&state.db, auth.tenant()).await {
                Ok(tree) => crate::settings::service::projects(&tree),
                Err(e) => {
                    tracing::warn!(error = %e.message, "navigation without projects");
                    Vec::new()
                }
            },
        };
        (layout, csrf)
    }
}
