//! The OpenAPI document served at `/api/v1/openapi.json`, generated from the handlers'
//! annotations. A test checks that it lists every route of the router.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{api_tokens, audit, auth, health, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "Bot-Mox API", description = "Control plane for fleets of Windows VMs on Proxmox VE."),
    paths(
        health::live, health::ready, health::summary,
        auth::routes::login, auth::routes::refresh, auth::routes::logout, auth::routes::verify, auth::routes::whoami,
        users::routes::list, users::routes::create, users::routes::get, users::routes::patch,
        api_tokens::routes::list, api_tokens::routes::create, api_tokens::routes::revoke,
        audit::routes::list,
    ),
    components(schemas(botmox_proto::ErrorEnvelope)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Sign-in, sessions and the current principal"),
        (name = "users", description = "Members of the tenant (admins)"),
        (name = "tokens", description = "API tokens (admins)"),
        (name = "audit", description = "Audit log (admins)"),
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

/// `GET /api/v1/openapi.json`
pub async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
