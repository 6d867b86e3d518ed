//! Tenant isolation across the whole API: every route that takes an id answers 404 to
//! another tenant, changes nothing, and lists never show another tenant's rows.

use botmox_proto::auth::Role;
use botmox_testkit::isolation::{
    Probe, assert_every_id_route_is_covered, assert_not_found_for_other_tenant,
};
use botmox_testkit::{TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Create a record as tenant A; returns its id.
async fn create(server: &TestServer, token: &str, path: &str, body: Value) -> String {
    let (status, created) = server.post(path, token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
    created["data"]["id"].as_str().unwrap().to_owned()
}

both_backends! {
    async fn another_tenants_ids_give_404(backend) {
        let server = TestServer::start(backend).await;
        let a = server.user_session("alpha", "admin@alpha.example", Role::Admin).await;
        let b = server.user_session("beta", "admin@beta.example", Role::Admin).await;
        let t = &a.access_token;
        let member = create(&server, t, "/api/v1/users", json!({"email": "m@alpha.example", "password": "long-enough-pw", "role": "user"})).await;
        let (_, token) = server.post("/api/v1/tokens", t, json!({"name": "a", "role": "user"})).await;
        let token_id = token["data"]["id"].as_str().unwrap().to_owned();
        let license = create(&server, t, "/api/v1/resources/licenses", json!({"key": "K-1"})).await;
        let proxy = create(&server, t, "/api/v1/resources/proxies", json!({"ip": "10.0.0.1", "port": 8080})).await;
        let subscription = create(&server, t, "/api/v1/resources/subscriptions", json!({"type": "wow"})).await;
        let note = create(&server, t, "/api/v1/workspace/notes", json!({"title": "n"})).await;
        let event = create(&server, t, "/api/v1/workspace/calendar", json!({"title": "e", "date": "2026-01-02"})).await;
        let task = create(&server, t, "/api/v1/workspace/kanban", json!({"title": "k", "status": "todo"})).await;
        let bot = create(&server, t, "/api/v1/bots", json!({"name": "bot-a"})).await;
        let op = create(&server, t, "/api/v1/finance/operations",
            json!({"type": "income", "category": "sale", "amount": 10, "currency": "USD", "date": 1_700_000_000_000i64})).await;

        let mut probes = vec![
            Probe::new(Method::GET, "/api/v1/users/{id}", &member),
            Probe::new(Method::PATCH, "/api/v1/users/{id}", &member).with_body(json!({"role": "admin", "disabled": true})),
            Probe::new(Method::DELETE, "/api/v1/tokens/{id}", &token_id),
        ];
        let records: [(&'static str, Option<&'static str>, &String); 8] = [
            ("/api/v1/resources/{kind}/{id}", Some("licenses"), &license),
            ("/api/v1/resources/{kind}/{id}", Some("proxies"), &proxy),
            ("/api/v1/resources/{kind}/{id}", Some("subscriptions"), &subscription),
            ("/api/v1/workspace/{kind}/{id}", Some("notes"), &note),
            ("/api/v1/workspace/{kind}/{id}", Some("calendar"), &event),
            ("/api/v1/workspace/{kind}/{id}", Some("kanban"), &task),
            ("/api/v1/bots/{id}", None, &bot),
            ("/api/v1/finance/operations/{id}", None, &op),
        ];
        for (route, kind, id) in records {
            for method in [Method::GET, Method::PATCH, Method::DELETE] {
                let mut probe = Probe::new(method.clone(), route, id.as_str());
                if method == Method::PATCH {
                    probe = probe.with_body(json!({"description": "taken over"}));
                }
                if let Some(kind) = kind {
                    probe = probe.with_kind(kind);
                }
                probes.push(probe);
            }
        }
        assert_every_id_route_is_covered(&probes);
        assert_not_found_for_other_tenant(&server, &b.access_token, &probes).await;

        // Nothing changed for tenant A.
        let (_, still) = server.get(&format!("/api/v1/users/{member}"), t).await;
        assert_eq!((still["data"]["role"].clone(), still["data"]["disabled"].clone()), (json!("user"), json!(false)));
        assert_eq!(server.get("/api/v1/auth/whoami", token["data"]["token"].as_str().unwrap()).await.0, StatusCode::OK);
        let (status, bot_doc) = server.get(&format!("/api/v1/bots/{bot}"), t).await;
        assert_eq!(status, StatusCode::OK);
        assert!(bot_doc["data"].get("description").is_none());
        // B's lists hold none of A's rows; A may reuse no id of B's and vice versa.
        for path in ["/api/v1/users", "/api/v1/tokens", "/api/v1/resources/licenses", "/api/v1/resources/proxies",
            "/api/v1/workspace/notes", "/api/v1/bots", "/api/v1/finance/operations"] {
            let (_, list) = server.get(path, &b.access_token).await;
            let own = if path == "/api/v1/users" { 1 } else { 0 };
            assert_eq!(list["meta"]["total"], own, "{path}: {list}");
        }
        let (status, _) = server.post("/api/v1/bots", &b.access_token, json!({"id": bot, "name": "same id, other tenant"})).await;
        assert_eq!(status, StatusCode::CREATED, "ids are per tenant");
        let (_, audit) = server.get("/api/v1/audit?limit=200", &b.access_token).await;
        assert!(audit["data"].as_array().unwrap().iter().all(|r| r["tenant_id"] == "beta"), "{audit}");
    }
}
