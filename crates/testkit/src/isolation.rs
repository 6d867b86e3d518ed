//! Tenant isolation: for every API route that takes an id, a caller from tenant B must get
//! 404 for tenant A's ids (never data, never a change). Each domain adds its routes here, and
//! [`assert_every_id_route_is_covered`] fails when a route with an id is left out.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::TestServer;

/// One route with an `{id}`, how to call it, and the id of tenant A's object to try.
#[derive(Clone)]
pub struct Probe {
    pub method: Method,
    /// Route as registered, e.g. `/api/v1/users/{id}`.
    pub route: &'static str,
    pub body: Option<Value>,
    /// Tenant A's id put in place of `{id}`.
    pub id: String,
    /// Value for a `{kind}` segment, when the route has one.
    pub kind: Option<&'static str>,
}

impl Probe {
    pub fn new(method: Method, route: &'static str, id: impl Into<String>) -> Self {
        Self {
            method,
            route,
            body: None,
            id: id.into(),
            kind: None,
        }
    }

    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn with_kind(mut self, kind: &'static str) -> Self {
        self.kind = Some(kind);
        self
    }

    fn path(&self) -> String {
        let path = self.route.replace("{id}", &self.id);
        match self.kind {
            Some(kind) => path.replace("{kind}", kind),
            None => path,
        }
    }
}

/// Tenant B's principal calls each probe: every answer must be a 404 envelope.
pub async fn assert_not_found_for_other_tenant(
    server: &TestServer,
    intruder_token: &str,
    probes: &[Probe],
) {
    for probe in probes {
        let path = probe.path();
        let (status, body) = server
            .call(
                probe.method.clone(),
                &path,
                Some(intruder_token),
                probe.body.clone(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{} {path} answered {status} to another tenant: {body}",
            probe.method
        );
        assert_eq!(body["success"], false, "{} {path}: {body}", probe.method);
        assert!(
            body["error"]["code"]
                .as_str()
                .is_some_and(|c| c.ends_with("NOT_FOUND")),
            "{} {path}: {body}",
            probe.method
        );
    }
}

/// Every API route with an `{id}` must appear among `probes`.
pub fn assert_every_id_route_is_covered(probes: &[Probe]) {
    let missing: Vec<String> = botmox_server::api::operations()
        .iter()
        .filter(|(_, path)| path.contains("{id}"))
        .filter(|(method, path)| {
            !probes
                .iter()
                .any(|p| p.method == *method && p.route == path)
        })
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes with ids not covered by the tenant-isolation test: {missing:?}"
    );
}
