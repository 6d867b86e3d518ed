//! Every `/api/v1` route, composed from each domain's route list, and the OpenAPI document
//! built from the same lists (served at `/api/v1/openapi.json`): a route cannot be served
//! undocumented, nor documented without being served. Once the routes are in, the error
//! answers operations share are added ([`openapi::responses`]) and operation ids made
//! unique, so every answer the server gives is described (tests/openapi.rs, `.ci/fuzz-api`).

use std::sync::OnceLock;

use axum::Router;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::responses::SharedErrors;
use crate::state::AppState;
use crate::{
    agents, api_tokens, artifacts, audit, auth, health, infra, licensing, openapi as doc,
    provisioning, records, settings, theme, users, vault, vm_jobs, vm_ops, vm_registry,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Bot-Mox API", description = "Control plane for fleets of Windows VMs on Proxmox VE."),
    components(schemas(botmox_proto::ErrorEnvelope, doc::ResourceKind, doc::WorkspaceKind, doc::SettingsPath, doc::ProxmoxAction)),
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
        (name = "vm-jobs", description = "The VM pipeline: batches of VMs created from a template (and VM deletions) as persisted jobs run by the server"),
        (name = "licensing", description = "The VM registry, tenant licences, entitlements and execution leases"),
        (name = "artifacts", description = "Releases, assignments, lease-gated downloads and their audit"),
        (name = "theme", description = "The tenant's theme background images"),
        (name = "vault", description = "Secrets sealed by clients to their recipients (the server sees ciphertext and metadata only), bindings, vault keys"),
        (name = "provisioning", description = "Unattend profiles, playbooks, provisioning tokens, config-ISO payloads and the VMs' progress"),
        (name = "infra", description = "The reference's direct Proxmox and SSH routes, run through an agent (infra or admin)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
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

/// Every API route with its description.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .merge(auth::routes::routes())
        .merge(users::routes::routes())
        .merge(api_tokens::routes::routes())
        .merge(audit::routes::routes())
        .routes(routes!(document))
        .merge(records::routes())
        .merge(settings::routes::routes())
        .merge(agents::routes::routes())
        .merge(vm_ops::routes::routes())
        .merge(vm_jobs::routes::routes())
        .merge(infra::routes::routes())
        .merge(vm_registry::routes::routes())
        .merge(licensing::routes::routes())
        .merge(provisioning::routes::routes())
        .merge(artifacts::routes::routes())
        .merge(vault::routes::routes())
        .merge(theme::routes::routes())
}

/// The `/api/v1` router.
pub fn router() -> Router<AppState> {
    api().split_for_parts().0
}

/// The OpenAPI document of [`router`], built once.
pub fn openapi() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = api().split_for_parts().1;
        SharedErrors.modify(&mut doc);
        unique_operation_ids(&mut doc);
        doc
    })
}

/// Operation ids are handler names, which repeat across domains (`list`, `get`): each one
/// that does gets its tag in front (`users_list`), so every id names one operation.
fn unique_operation_ids(doc: &mut Document) {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let each = |doc: &mut Document, f: &mut dyn FnMut(&mut utoipa::openapi::path::Operation)| {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                f(operation);
            }
        }
    };
    each(doc, &mut |op| {
        if let Some(id) = &op.operation_id {
            *seen.entry(id.clone()).or_default() += 1;
        }
    });
    each(doc, &mut |op| {
        let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
        if let (Some(id), Some(tag)) = (&mut op.operation_id, tag)
            && seen.get(id.as_str()).is_some_and(|n| *n > 1)
        {
            *id = format!("{}_{id}", tag.replace('-', "_"));
        }
    });
}

/// Every documented operation as (method, path), in axum's `{param}` syntax: what the
/// router serves.
pub fn operations() -> Vec<(axum::http::Method, String)> {
    use axum::http::Method;
    let mut out = Vec::new();
    for (path, item) in &openapi().paths.paths {
        let methods = [
            (Method::GET, &item.get),
            (Method::PUT, &item.put),
            (Method::POST, &item.post),
            (Method::DELETE, &item.delete),
            (Method::PATCH, &item.patch),
        ];
        for (method, operation) in methods {
            if operation.is_some() {
                out.push((method, path.clone()));
            }
        }
    }
    out
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn document() -> axum::Json<&'static Document> {
    axum::Json(openapi())
}
