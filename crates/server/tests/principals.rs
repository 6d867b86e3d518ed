//! Every route of the OpenAPI document refuses the wrong kind of principal: an agent token
//! opens only the agent's own routes (and the two it shares with people), a person's token
//! none of the agent's, a VM's provisioning token only its lease and download routes; and
//! credentials that travel in URLs, headers or bodies never reach the server's log.

use botmox_proto::auth::Role;
use botmox_testkit::fixtures::unattend_profile;
use botmox_testkit::{ServerProcess, TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_botmox");

/// The agent's own routes: an agent token opens them, a person's does not.
const AGENT_ONLY: &[(&str, &str)] = &[
    ("POST", "/api/v1/agents/heartbeat"),
    ("POST", "/api/v1/agents/token/rotate"),
    ("GET", "/api/v1/secrets/agent/bound"),
    ("GET", "/api/v1/vm-ops/commands/next"),
    ("PATCH", "/api/v1/vm-ops/commands/{id}"),
];

/// Routes people and agents share (each sees only its own there).
const SHARED: &[(&str, &str)] = &[
    ("GET", "/api/v1/vm-ops/events"),
    ("GET", "/api/v1/secrets/{id}/ciphertext"),
];

/// The routes a provisioning token opens (for its own VM).
const VM_BEARER: &[(&str, &str)] = &[
    ("POST", "/api/v1/license/lease"),
    ("POST", "/api/v1/artifacts/resolve-download"),
];

/// Routes that end the credential they are called with: probed last.
fn ends_credential(path: &str) -> bool {
    path.ends_with("/logout") || path.ends_with("/token/rotate")
}

/// Every secured operation of the served document (`security` names a scheme), in an order
/// that probes the ones ending a credential last.
fn secured_operations() -> Vec<(Method, String)> {
    let document: Value = serde_json::to_value(botmox_server::api::openapi()).unwrap();
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
            });
            if secured {
                out.push((method.to_uppercase().parse().unwrap(), path.clone()));
            }
        }
    }
    out.sort_by_key(|(_, path)| ends_credential(path));
    out
}

/// The path with every parameter filled with a value of its usual shape.
fn concrete(path: &str) -> String {
    path.replace("{kind}", "licenses")
        .replace("{path}", "projects")
        .replace("{action}", "start")
        .replace("{vmid}", "100")
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "0b7d9a30-1d2e-4c5f-9a6b-7c8d9e0f1a2b"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn listed(list: &[(&str, &str)], method: &Method, path: &str) -> bool {
    list.iter()
        .any(|(m, p)| *m == method.as_str() && *p == path)
}

async fn status(server: &TestServer, method: &Method, path: &str, token: &str) -> StatusCode {
    // A long-poll answers at once when nothing is queued.
    let query = if path.ends_with("/commands/next") {
        "?timeout_ms=100"
    } else {
        ""
    };
    server
        .http
        .request(
            method.clone(),
            format!("{}{}{query}", server.url, concrete(path)),
        )
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
}

both_backends! {
    async fn every_route_refuses_the_wrong_kind_of_principal(backend) {
        let server = TestServer::start_with(backend, |s| {
            s.public_url = Some("http://botmox.example:8080".parse().unwrap());
        })
        .await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let (_, agent_token) = server.paired_agent(&admin).await;
        let (status_code, _) = server.post("/api/v1/vm/register", &admin.access_token, json!({"vm_uuid": "principal-vm-0001"})).await;
        assert_eq!(status_code, StatusCode::CREATED);
        let (status_code, payload) = server.post("/api/v1/provisioning/generate-iso-payload", &admin.access_token,
            json!({"vm_uuid": "principal-vm-0001", "ip": {"address": "10.0.0.5", "gateway": "10.0.0.1"}, "profile_config": unattend_profile(None)})).await;
        assert_eq!(status_code, StatusCode::OK, "{payload}");
        let vm_token = payload["data"]["token"].as_str().unwrap().to_owned();

        let operations = secured_operations();
        assert!(operations.len() > 100, "the document lists the API: {}", operations.len());
        for list in [AGENT_ONLY, SHARED, VM_BEARER] {
            for (method, path) in list {
                assert!(operations.iter().any(|(m, p)| m.as_str() == *method && p == path), "{method} {path} is not in the document");
            }
        }
        let mut wrong = Vec::new();
        for (method, path) in &operations {
            let by_agent = status(&server, method, path, &agent_token).await;
            let agent_may = listed(AGENT_ONLY, method, path) || listed(SHARED, method, path);
            if !agent_may && by_agent != StatusCode::UNAUTHORIZED {
                wrong.push(format!("agent token: {method} {path} answered {by_agent}"));
            }
            if agent_may && by_agent == StatusCode::UNAUTHORIZED {
                wrong.push(format!("agent token refused on its own route {method} {path}"));
            }
            let by_vm = status(&server, method, path, &vm_token).await;
            if !listed(VM_BEARER, method, path) && by_vm != StatusCode::UNAUTHORIZED {
                wrong.push(format!("provisioning token: {method} {path} answered {by_vm}"));
            }
        }
        // A person's token, on the agent's own routes.
        for (method, path) in AGENT_ONLY {
            let method: Method = method.parse().unwrap();
            let by_person = status(&server, &method, path, &admin.access_token).await;
            if by_person != StatusCode::UNAUTHORIZED {
                wrong.push(format!("person's token: {method} {path} answered {by_person}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_urls_headers_and_bodies_never_reach_the_log() {
    let keeper = TestServer::start(botmox_testkit::Backend::Sqlite).await;
    let admin = keeper
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await;
    let port = botmox_testkit::free_port();
    // With the access log on (one line per request) and every level of the server's own.
    let server = ServerProcess::start_with_env(
        BIN,
        &keeper,
        port,
        &[
            ("BOTMOX_ACCESS_LOG", "true"),
            (
                "RUST_LOG",
                "debug,sqlx=warn,sea_orm=warn,hyper=info,h2=info",
            ),
        ],
    )
    .await;
    let http = &keeper.http;
    let url = &server.url;

    // A password in a sign-in body, right and wrong.
    for password in [admin.password.as_str(), "wrong-password-in-the-body"] {
        http.post(format!("{url}/api/v1/auth/login"))
            .json(&json!({"email": admin.email, "password": password}))
            .send()
            .await
            .unwrap();
    }
    // A bearer token in the header; a token-like secret in a query string, on a known
    // route, an unknown one and a signed download link.
    let query_secret = "bmx_query_secret_0123456789abcdef";
    http.get(format!(
        "{url}/api/v1/auth/whoami?access_token={query_secret}"
    ))
    .bearer_auth(&admin.access_token)
    .send()
    .await
    .unwrap();
    http.get(format!("{url}/api/v1/no-such-route?token={query_secret}"))
        .send()
        .await
        .unwrap();
    http.get(format!(
        "{url}/api/v1/artifacts/download?tenant=acme&key=k&expires=1&sig={query_secret}"
    ))
    .send()
    .await
    .unwrap();
    http.get(format!("{url}/login?next=/&token={query_secret}"))
        .send()
        .await
        .unwrap();
    // An agent token and a refresh token.
    let (_, agent_token) = keeper.paired_agent(&admin).await;
    http.post(format!("{url}/api/v1/agents/heartbeat"))
        .bearer_auth(&agent_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    http.post(format!("{url}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": admin.refresh_token}))
        .send()
        .await
        .unwrap();

    let log = server.stop_and_read_log();
    for path in [
        "/api/v1/auth/whoami",
        "/api/v1/artifacts/download",
        "/api/v1/no-such-route",
        "/login",
    ] {
        assert!(
            log.contains(path),
            "the request to {path} is logged (without its query): {log}"
        );
    }
    for secret in [
        admin.password.as_str(),
        "wrong-password-in-the-body",
        query_secret,
        &admin.access_token,
        &agent_token,
        &admin.refresh_token,
    ] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
}
