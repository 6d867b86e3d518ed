//! The web UI: server-rendered pages (askama templates compiled into the binary), a small
//! stylesheet and script served from memory, a cookie session and CSRF-checked forms.

pub mod admin;
pub mod agent_picker;
pub mod agents;
pub mod artifacts;
pub mod assets;
pub mod charts;
pub mod dashboard;
pub mod error_page;
pub mod extract;
pub mod finance;
pub mod layout;
pub mod licensing;
pub mod markdown;
pub mod pages;
pub mod playbooks;
pub mod profiles;
pub mod project;
pub mod records;
pub mod refusal;
pub mod render;
pub mod secrets;
pub mod session;
pub mod settings;
pub mod time;
pub mod tree;
pub mod vm_jobs;
pub mod vm_ops;
pub mod vm_registry;
pub mod vms;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(pages::login_page).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/setup", get(pages::setup_page).post(pages::setup_submit))
        .route("/ui/theme", post(pages::set_theme))
        .route("/ui/tree", get(tree::tree).post(tree::keep))
        .route("/", get(dashboard::overview))
        .route("/project/{id}", get(project::project_page))
        .route("/vms", get(vms::page))
        .route("/vms/{vmid}/{action}", post(vms::act))
        .route("/vm-ops", get(vm_ops::page))
        .route("/vm-ops/commands", post(vm_ops::dispatch))
        .route("/events", get(vm_ops::events))
        .route("/vm-ops/commands/{id}/cancel", post(vm_ops::cancel))
        .route("/vm-jobs", get(vm_jobs::page))
        .route("/vm-jobs/batches", post(vm_jobs::create))
        .route("/vm-jobs/delete", post(vm_jobs::delete))
        .route("/vm-jobs/{id}/cancel", post(vm_jobs::cancel))
        .route("/profiles", get(profiles::list_page).post(profiles::create))
        .route("/profiles/new", get(profiles::new_page))
        .route(
            "/profiles/{id}",
            get(profiles::edit_page).post(profiles::update),
        )
        .route("/profiles/{id}/delete", post(profiles::delete))
        .route("/playbooks", get(playbooks::page).post(playbooks::create))
        .route(
            "/playbooks/{id}",
            get(playbooks::edit_page).post(playbooks::update),
        )
        .route("/playbooks/{id}/delete", post(playbooks::delete))
        .route("/agents", get(agents::agents_page))
        .route("/agents/pairings", post(agents::create_pairing))
        .route("/agents/{id}/revoke", post(agents::revoke))
        .route("/licensing", get(licensing::page))
        .route("/licensing/licenses", post(licensing::create_license))
        .route(
            "/licensing/licenses/{id}/status",
            post(licensing::set_license_status),
        )
        .route(
            "/licensing/licenses/{id}/delete",
            post(licensing::delete_license),
        )
        .route("/licensing/entitlements", post(licensing::set_entitlement))
        .route(
            "/licensing/entitlements/remove",
            post(licensing::remove_entitlement),
        )
        .route(
            "/licensing/leases/{id}/revoke",
            post(licensing::revoke_lease),
        )
        .route(
            "/vm-registry",
            get(vm_registry::page).post(vm_registry::register),
        )
        .route("/vm-registry/{uuid}/status", post(vm_registry::set_status))
        .route("/secrets", get(secrets::secrets_page).post(secrets::create))
        .route("/secrets/{id}/rotate", post(secrets::rotate))
        .route("/secrets/{id}/delete", post(secrets::delete))
        .route("/secrets/bindings", post(secrets::bind))
        .route("/secrets/bindings/{id}/delete", post(secrets::unbind))
        .route("/finance", get(finance::finance_page))
        .route("/finance/chart", post(finance::chart::save))
        .route("/finance/operations", post(finance::create_operation))
        .route("/finance/operations/{id}", post(finance::update_operation))
        .route(
            "/finance/operations/{id}/delete",
            post(finance::delete_operation),
        )
        .route("/settings", get(settings::settings_page))
        .route("/settings/cards/{id}", post(settings::save_card))
        .route("/settings/projects", post(settings::save_project))
        .route(
            "/settings/projects/{id}/reference",
            post(settings::save_reference),
        )
        .route("/settings/theme", post(settings::save_theme))
        .route("/settings/theme/reset", post(settings::reset_theme))
        .route("/settings/theme/assets", post(settings::theme::upload))
        .route(
            "/settings/theme/assets/{id}/delete",
            post(settings::delete_theme_image),
        )
        .route("/theme.css", get(settings::theme::theme_css))
        .route("/theme-assets/{id}", get(settings::theme::image))
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
        .route("/artifacts", get(artifacts::artifacts_page))
        .route("/artifacts/upload", post(artifacts::upload))
        .route(
            "/artifacts/releases/{id}/status",
            post(artifacts::set_status),
        )
        .route("/artifacts/releases/{id}/delete", post(artifacts::delete))
        .route("/artifacts/assign", post(artifacts::assign))
        .route("/assets/{file}", get(assets::serve))
        .merge(records::router())
}
