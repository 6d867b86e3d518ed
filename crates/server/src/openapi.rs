//! The OpenAPI document served at `/api/v1/openapi.json`, generated from the handlers'
//! annotations. A test checks that it lists every route of the router.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{agents, api_tokens, audit, auth, health, records, settings, users, vm_ops};

#[derive(OpenApi)]
#[openapi(
    info(title = "Bot-Mox API", description = "Control plane for fleets of Windows VMs on Proxmox VE."),
    paths(
        health::live, health::ready, health::summary,
        auth::routes::login, auth::routes::refresh, auth::routes::logout, auth::routes::verify, auth::routes::whoami,
        users::routes::list, users::routes::create, users::routes::get, users::routes::patch,
        api_tokens::routes::list, api_tokens::routes::create, api_tokens::routes::revoke,
        audit::routes::list,
        document,
        records::routes::list_resources, records::routes::create_resource, records::routes::get_resource,
        records::routes::patch_resource, records::routes::delete_resource,
        records::routes::list_workspace, records::routes::create_workspace, records::routes::get_workspace,
        records::routes::patch_workspace, records::routes::delete_workspace,
        records::routes::list_bots, records::routes::create_bot, records::routes::get_bot,
        records::routes::patch_bot, records::routes::delete_bot,
        records::routes::list_operations, records::routes::create_operation, records::routes::get_operation,
        records::routes::patch_operation, records::routes::delete_operation,
        records::finance_routes::summary, records::finance_routes::daily_stats, records::finance_routes::get_overview,
        records::lifecycle_routes::get_lifecycle, records::lifecycle_routes::get_transitions,
        records::lifecycle_routes::get_is_banned, records::lifecycle_routes::transition,
        records::lifecycle_routes::ban, records::lifecycle_routes::unban,
        records::lifecycle_routes::get_log, records::lifecycle_routes::get_archive,
        records::lifecycle_routes::reveal_bot, records::lifecycle_routes::reveal_resource,
        settings::routes::get_root, settings::routes::put_root, settings::routes::patch_root,
        settings::routes::get_path, settings::routes::put_path, settings::routes::patch_path,
        settings::routes::reveal,
        agents::routes::create_pairing, agents::routes::register, agents::routes::quick_pair, agents::routes::heartbeat,
        agents::routes::rotate, agents::routes::list, agents::routes::get, agents::routes::revoke,
        vm_ops::routes::dispatch, vm_ops::routes::dispatch_proxmox, vm_ops::routes::next,
        vm_ops::routes::report, vm_ops::routes::get, vm_ops::routes::cancel, vm_ops::routes::list,
        vm_ops::routes::events,
    ),
    components(schemas(botmox_proto::ErrorEnvelope, agents::service::AgentView, vm_ops::service::CommandView)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Sign-in, sessions and the current principal"),
        (name = "users", description = "Members of the tenant (admins)"),
        (name = "tokens", description = "API tokens (admins)"),
        (name = "audit", description = "Audit log (admins)"),
        (name = "records", description = "Bots, resources, workspace and finance records of the tenant"),
        (name = "bots", description = "Bot lifecycle (transition, ban, unban), its log and archive"),
        (name = "finance", description = "Finance aggregates computed from the operations"),
        (name = "settings", description = "The tenant's settings tree and storage policy"),
        (name = "agents", description = "Agent pairing, registration, heartbeats and revocation"),
        (name = "vm-ops", description = "Commands for agents: dispatch, claim, report, cancel"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or bmx_ API token")
                    .build(),
            ),
        );
    }
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
