//! The audit log: an append-only table of security-relevant actions (logins, token and user
//! changes, every mutating call by an admin or infra principal), readable by admins.

pub mod routes;
pub mod store;

pub use store::AuditEvent;

use std::sync::{Arc, Mutex};

use crate::db::Db;
use crate::http::layers::RequestId;
use crate::http::{ApiError, ClientAddr};
use crate::principal::Auth;
use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

/// Append an event. A failure to write is logged, and does not hide the real outcome.
pub async fn record(db: &Db, event: AuditEvent) {
    if let Err(e) = store::insert(db, &event).await {
        tracing::error!(error = %e, action = %event.action, "audit write failed");
    }
}

#[derive(Default)]
struct SlotFacts {
    principal: Option<Auth>,
    action: Option<String>,
    target: Option<String>,
    /// Record even when the caller is not privileged.
    always: bool,
}

/// Per-request facts the audit middleware reads after the handler ran: who the caller turned
/// out to be, and optionally a named action and target set by the handler.
#[derive(Clone, Default)]
pub struct AuditSlot(Arc<Mutex<SlotFacts>>);

impl AuditSlot {
    pub fn set_principal(&self, auth: &Auth) {
        if let Ok(mut facts) = self.0.lock() {
            facts.principal = Some(auth.clone());
        }
    }

    /// Name what the handler did, e.g. `user.create` on `user:<id>`.
    pub fn describe(&self, action: &str, target: impl Into<String>) {
        if let Ok(mut facts) = self.0.lock() {
            facts.action = Some(action.to_owned());
            facts.target = Some(target.into());
        }
    }

    /// Name what the handler did and have it recorded whoever the caller is (reading a
    /// credential is audited for every role).
    pub fn describe_always(&self, action: &str, target: impl Into<String>) {
        self.describe(action, target);
        if let Ok(mut facts) = self.0.lock() {
            facts.always = true;
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuditSlot {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<AuditSlot>()
            .cloned()
            .unwrap_or_default())
    }
}

fn result_of(status: u16) -> &'static str {
    match status {
        200..=399 => "ok",
        401 | 403 => "denied",
        _ => "error",
    }
}

/// Middleware: after a mutating request by an admin or infra principal, or any request a
/// handler marked with [`AuditSlot::describe_always`] (a read of a credential, such as a
/// vault ciphertext, is a `GET`), append a row.
pub async fn track_privileged(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let mutating = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let slot = AuditSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let addr = req
        .extensions()
        .get::<ClientAddr>()
        .map(ToString::to_string);
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let response = next.run(req).await;
    let facts = match slot.0.lock() {
        Ok(mut facts) => std::mem::take(&mut *facts),
        Err(_) => return response,
    };
    let Some(principal) = facts
        .principal
        .filter(|p| facts.always || (mutating && p.role().is_privileged()))
    else {
        return response;
    };
    record(
        &state.db,
        AuditEvent {
            tenant_id: Some(principal.tenant().to_string()),
            actor_type: if principal.token_id.is_some() {
                "api_token"
            } else {
                "user"
            },
            actor_id: Some(principal.caller().to_owned()),
            actor_email: principal.email.clone(),
            action: facts.action.unwrap_or_else(|| format!("{method} {route}")),
            target: facts.target,
            result: result_of(response.status().as_u16()),
            client_addr: addr,
            request_id,
        },
    )
    .await;
    response
}
