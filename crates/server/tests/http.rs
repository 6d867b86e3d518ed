//! Cross-cutting HTTP behaviour: the error envelope for every class of error, request ids,
//! CORS, security headers, rate limits, health, metrics, the OpenAPI document and graceful
//! shutdown.

use botmox_proto::auth::Role;
use botmox_testkit::{TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["success"], false, "{body}");
    assert!(body["error"].is_object(), "error must be an object: {body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

both_backends! {
    async fn every_error_class_uses_the_envelope(backend) {
        let server = TestServer::start_with(backend, |s| s.body_limit = Some(1024)).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let url = |p: &str| format!("{}{p}", server.url);

        // Malformed JSON -> 400.
        let res = server.http.post(url("/api/v1/auth/login")).header("content-type", "application/json").body("{\"email\":").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_error(&res.json().await.unwrap(), "BAD_REQUEST");
        // Wrong field types -> 400.
        let (status, body) = server.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": 5}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_error(&body, "BAD_REQUEST");
        // Not JSON at all -> 415.
        let res = server.http.post(url("/api/v1/auth/login")).body("email=x").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_error(&res.json().await.unwrap(), "UNSUPPORTED_MEDIA_TYPE");
        // Over the body limit -> 413.
        let big = json!({"email": "x".repeat(4096), "password": "y"});
        let (status, body) = server.call(Method::POST, "/api/v1/auth/login", None, Some(big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_error(&body, "PAYLOAD_TOO_LARGE");
        // Unknown route -> 404, with or without a token.
        let (status, body) = server.get("/api/v1/no-such-thing", &admin.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error(&body, "NOT_FOUND");
        let (status, body) = server.call(Method::GET, "/api/nope", None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error(&body, "NOT_FOUND");
        // Wrong method -> 405.
        let (status, body) = server.call(Method::DELETE, "/api/v1/auth/whoami", Some(&admin.access_token), None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_error(&body, "METHOD_NOT_ALLOWED");
        // Bad query -> 400.
        let (status, body) = server.get("/api/v1/users?limit=9999", &admin.access_token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_error(&body, "BAD_REQUEST");
        assert!(body["error"]["details"]["fieldErrors"]["limit"].is_array());
        let (status, _) = server.get("/api/v1/users?page=abc", &admin.access_token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Internal error -> 500 with no database text.
        server.execute("DROP TABLE audit_log").await.unwrap();
        let (status, body) = server.get("/api/v1/audit", &admin.access_token).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_error(&body, "INTERNAL_ERROR");
        let text = body.to_string().to_lowercase();
        assert!(!text.contains("audit_log") && !text.contains("table") && !text.contains("sql"), "{body}");
    }

    async fn request_ids_are_accepted_echoed_or_generated(backend) {
        let server = TestServer::start(backend).await;
        let url = format!("{}/api/v1/health/live", server.url);
        let res = server.http.get(&url).header("x-request-id", "abc-123").send().await.unwrap();
        assert_eq!(res.headers()["x-request-id"], "abc-123");
        let res = server.http.get(&url).send().await.unwrap();
        let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(generated.len(), 36, "a UUID: {generated}");
        let res = server.http.get(&url).header("x-request-id", "bad id\twith spaces").send().await.unwrap();
        assert_ne!(res.headers()["x-request-id"], "bad id\twith spaces");
    }

    async fn cors_is_granted_only_to_configured_origins(backend) {
        let server = TestServer::start_with(backend, |s| s.cors_origins = Some(vec!["https://ops.example.com".into()])).await;
        let url = format!("{}/api/v1/auth/whoami", server.url);
        let preflight = |origin: &'static str| {
            server.http.request(Method::OPTIONS, &url)
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization")
                .send()
        };
        let ok = preflight("https://ops.example.com").await.unwrap();
        assert_eq!(ok.headers()["access-control-allow-origin"], "https://ops.example.com");
        assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
        let refused = preflight("https://evil.example.net").await.unwrap();
        assert!(refused.headers().get("access-control-allow-origin").is_none());

        let default = TestServer::start(backend).await;
        let res = default.http.get(format!("{}/api/v1/health/live", default.url)).header("origin", "http://localhost:5173").send().await.unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none(), "no origin is allowed by default");
    }

    async fn security_headers_are_set(backend) {
        let server = TestServer::start(backend).await;
        for path in ["/api/v1/health/live", "/login"] {
            let res = server.http.get(format!("{}{path}", server.url)).send().await.unwrap();
            let h = res.headers();
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(!csp.contains("unsafe-inline"));
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["referrer-policy"], "same-origin");
        }
    }

    async fn rate_limits_answer_429_per_address_and_per_principal(backend) {
        let server = TestServer::start_with(backend, |s| {
            s.rate_limit_per_address = Some(1000);
            s.rate_limit_per_principal = Some(5);
            s.rate_limit_public = Some(4);
        }).await;
        let s = server.user_session("acme", "a@example.com", Role::User).await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(server.get("/api/v1/auth/whoami", &s.access_token).await.0);
        }
        assert_eq!(statuses[..5], [StatusCode::OK; 5]);
        assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
        let res = server.http.get(format!("{}/api/v1/auth/whoami", server.url)).bearer_auth(&s.access_token).send().await.unwrap();
        assert!(res.headers().contains_key("retry-after"));
        assert_error(&res.json().await.unwrap(), "RATE_LIMITED");

        // Public endpoints have their own, tighter budget per address (login used 1 already).
        let mut last = StatusCode::OK;
        for _ in 0..4 {
            last = server.call(Method::GET, "/api/v1/health/live", None, None).await.0;
        }
        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
        // Agent registration shares that budget: pairing codes cannot be guessed at speed.
        let (status, _) = server.call(Method::POST, "/api/v1/agents/register", None,
            Some(json!({"pairing_code": "guess"}))).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }

    async fn health_reports_readiness_of_database_and_blob_store(backend) {
        let server = TestServer::start(backend).await;
        let (status, live) = server.call(Method::GET, "/api/v1/health/live", None, None).await;
        assert_eq!((status, live["data"]["status"].clone()), (StatusCode::OK, json!("live")));
        let (status, ready) = server.call(Method::GET, "/api/v1/health/ready", None, None).await;
        assert_eq!(status, StatusCode::OK, "{ready}");
        assert_eq!(ready["data"]["ready"], true);
        assert_eq!(ready["data"]["checks"]["database"]["ready"], true);
        let (_, summary) = server.call(Method::GET, "/api/v1/health", None, None).await;
        let engine = if backend == botmox_testkit::Backend::Sqlite { "sqlite" } else { "postgres" };
        assert_eq!(summary["data"]["database"], engine);

        // Break the blob store: its folder becomes a file.
        let blobs = server.state().config.blob_dir();
        std::fs::remove_dir_all(&blobs).unwrap();
        std::fs::write(&blobs, b"not a folder").unwrap();
        let (status, body) = server.call(Method::GET, "/api/v1/health/ready", None, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_error(&body, "SERVICE_UNAVAILABLE");
        assert_eq!(body["error"]["details"]["checks"]["blob_store"]["ready"], false);
        assert_eq!(body["error"]["details"]["checks"]["database"]["ready"], true);

        // Break the database: the pool is closed.
        std::fs::remove_file(&blobs).unwrap();
        server.state().db.close().await.unwrap();
        let (status, body) = server.call(Method::GET, "/api/v1/health/ready", None, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["details"]["checks"]["database"]["ready"], false);
    }

    async fn metrics_count_requests_per_route(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "a@example.com", Role::User).await;
        server.get("/api/v1/auth/whoami", &s.access_token).await;
        server.get("/api/v1/users/some-id", &s.access_token).await;
        let text = server.http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("http_requests_total{method=\"GET\",route=\"/api/v1/auth/whoami\",status=\"200\"}"), "{text}");
        assert!(text.contains("route=\"/api/v1/users/{id}\""), "routes are labelled by pattern, not raw path");
        assert!(text.contains("http_request_duration_seconds_bucket"));
        assert!(text.contains("db_pool_connections"));
    }

    async fn graceful_shutdown_finishes_in_flight_requests(backend) {
        let server = TestServer::start(backend).await;
        let url = format!("{}/api/v1/auth/login", server.url);
        // A request whose body arrives slowly is still in flight when shutdown starts.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
        let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
        let client = server.http.clone();
        let request = tokio::spawn(async move {
            client.post(url).header("content-type", "application/json").body(body).send().await.map(|r| r.status())
        });
        tx.send(Ok(b"{\"email\":\"x@example.com\",".to_vec())).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let shutdown = tokio::spawn(server.stop());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!shutdown.is_finished(), "shutdown must wait for the in-flight request");
        tx.send(Ok(b"\"password\":\"wrong-password\"}".to_vec())).await.unwrap();
        drop(tx);
        let status = request.await.unwrap().expect("in-flight request answered");
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        shutdown.await.unwrap();
    }

    async fn ui_redirect_targets_stay_on_this_site(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let (cookies, token) = server.ui_session(&s.email, &s.password).await;
        let post = |path: &str, back: &str| {
            server.http.post(format!("{}{path}", server.url)).header("cookie", &cookies)
                .form(&[("_csrf", token.as_str()), ("theme", "dark"), ("back", back)]).send()
        };
        let location = |res: &reqwest::Response| res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        for hostile in ["//evil.example/", "/\\evil.example/", "/\t/evil.example/", "/\n/evil.example/",
            "/x\r\nSet-Cookie: stolen=1", "https://evil.example/", "/\\/evil.example", " /x"] {
            let res = post("/ui/theme", hostile).await.unwrap();
            assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, Some("/".into())), "{hostile:?}");
            assert!(res.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().contains("stolen")));
        }
        let res = post("/ui/theme", "/notes?q=a%20b").await.unwrap();
        assert_eq!(location(&res).as_deref(), Some("/notes?q=a%20b"));

        // After a delete, `back` leads within the section or not at all.
        for back in ["/notes\r\nSet-Cookie: stolen=1", "/notes\\\\evil.example", "/notes/\t/x"] {
            let id = server.create("/api/v1/workspace/notes", &s.access_token, json!({"title": "n"})).await;
            let res = post(&format!("/notes/{id}/delete"), back).await.unwrap();
            assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, Some("/notes?notice=deleted".into())), "{back:?}");
        }
        let id = server.create("/api/v1/workspace/notes", &s.access_token, json!({"title": "n"})).await;
        let res = post(&format!("/notes/{id}/delete"), "/notes?page=2").await.unwrap();
        assert_eq!(location(&res).as_deref(), Some("/notes?page=2&notice=deleted"));
    }

    async fn integer_query_parameters_out_of_range_are_400_never_500(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &admin.access_token;
        let bot = server.create("/api/v1/bots", t, json!({"name": "b"})).await;
        let (_, pairing) = server.post("/api/v1/agents/pairings", t, json!({})).await;
        let (_, agent) = server.call(Method::POST, "/api/v1/agents/register", None,
            Some(json!({"pairing_code": pairing["data"]["pairing_code"]}))).await;
        let agent_token = agent["data"]["agent_token"].as_str().unwrap().to_owned();

        let max = i64::MAX;
        let min = i64::MIN;
        let lists = ["/api/v1/bots", "/api/v1/users", "/api/v1/tokens", "/api/v1/audit", "/api/v1/workspace/notes",
            "/api/v1/resources/proxies", "/api/v1/finance/operations"];
        let log = format!("/api/v1/bots/{bot}/lifecycle/log");
        let mut cases: Vec<(String, &str)> = Vec::new();
        for list in lists.iter().copied().chain([log.as_str()]) {
            cases.push((format!("{list}?page={max}"), "page"));
            cases.push((format!("{list}?page=1000001"), "page"));
            cases.push((format!("{list}?page=0"), "page"));
            cases.push((format!("{list}?limit=201"), "limit"));
            cases.push((format!("{list}?limit={max}"), "limit"));
        }
        for list in ["/api/v1/bots", "/api/v1/workspace/notes", "/api/v1/resources/proxies", "/api/v1/finance/operations"] {
            cases.push((format!("{list}?from={max}"), "from"));
            cases.push((format!("{list}?from={min}"), "from"));
            cases.push((format!("{list}?to={max}"), "to"));
            cases.push((format!("{list}?from=0&to={min}"), "to"));
        }
        for summary in ["/api/v1/finance/summary", "/api/v1/finance/daily-stats"] {
            cases.push((format!("{summary}?from=0&to={max}"), "to"));
            cases.push((format!("{summary}?to={min}"), "to"));
            cases.push((format!("{summary}?from={max}"), "from"));
            cases.push((format!("{summary}?from={min}&to=86400000"), "from"));
            cases.push((format!("{summary}?from=-1&to=86400000"), "from"));
        }
        for (path, field) in &cases {
            let (status, body) = server.get(path, t).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert_error(&body, "BAD_REQUEST");
            assert!(body["error"]["details"]["fieldErrors"][field].is_array(), "{path}: {body}");
        }
        for timeout in [0, 999, 60_001, u64::MAX] {
            let path = format!("/api/v1/vm-ops/commands/next?timeout_ms={timeout}");
            let (status, body) = server.get(&path, &agent_token).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(body["error"]["details"]["fieldErrors"]["timeout_ms"].is_array(), "{path}: {body}");
        }
        // Beyond what the integer holds: still a 400 in the envelope, naming the parameter.
        for (path, field) in [("/api/v1/bots?page=99999999999999999999999", "page"),
            ("/api/v1/bots?from=99999999999999999999999", "from"),
            ("/api/v1/finance/summary?to=-99999999999999999999999", "to"),
            ("/api/v1/vm-ops/events?last_event_id=99999999999999999999999", "last_event_id")] {
            let (status, body) = server.get(path, t).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert_error(&body, "BAD_REQUEST");
            assert!(body["error"]["details"]["fieldErrors"][field].is_array(), "{path}: {body}");
        }
        // The largest values in range answer (an empty last page, an empty window).
        for path in ["/api/v1/bots?page=1000000&limit=200", "/api/v1/audit?page=1000000",
            "/api/v1/workspace/notes?from=-8000000000000000&to=8000000000000000",
            &format!("{log}?page=1000000")] {
            let (status, body) = server.get(path, t).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
        }
        let (status, body) = server.get("/api/v1/finance/summary?from=7999999990000000000&to=8000000000000000", t).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = server.get("/api/v1/finance/summary?from=7999999000000000&to=8000000000000000&period=month", t).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // A range inside one month is one bucket.
        let (status, body) = server.get("/api/v1/finance/summary?from=1767571200000&to=1768348800000&period=month", t).await;
        assert_eq!((status, body["data"]["series"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{body}");
    }
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Every `$ref` in `value`, at any depth.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::String(target)) = fields.get("$ref") {
                out.push(target.clone());
            }
            fields.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_router_serves_every_documented_operation_and_nothing_else() {
    let server = TestServer::start(botmox_testkit::Backend::Sqlite).await;
    let (status, doc) = server
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let operations = botmox_server::api::operations();
    assert!(operations.len() >= 70, "{} operations", operations.len());
    let served: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            p.as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .count()
        })
        .sum();
    assert_eq!(
        served,
        operations.len(),
        "the served document is the route list"
    );
    // Every reference in it leads somewhere: a client generator stops at the first that
    // does not.
    let mut refs = Vec::new();
    references(&doc, &mut refs);
    assert!(refs.len() > 100, "{} references", refs.len());
    let dangling: Vec<&String> = refs
        .iter()
        .filter(|r| r.strip_prefix('#').and_then(|p| doc.pointer(p)).is_none())
        .collect();
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
    // Each documented operation reaches a handler: the router's own fallbacks answer
    // "Unknown endpoint" (404) and 405, a handler anything else.
    for (method, path) in &operations {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let (status, body) = server.call(method.clone(), &concrete, None, None).await;
        let fallback = status == StatusCode::METHOD_NOT_ALLOWED
            || body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Unknown endpoint"));
        assert!(
            !fallback,
            "{method} {path} is documented but not routed: {status} {body}"
        );
    }
    // And an undocumented path is not routed.
    let (status, body) = server
        .call(Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

both_backends! {
    async fn text_with_a_nul_character_is_refused_the_same_on_both_engines(backend) {
        let server = TestServer::start(backend).await;
        let session = server.user_session("acme", "nul@example.com", Role::Admin).await;
        let t = &session.access_token;
        for path in ["/api/v1/bots?q=%00", "/api/v1/vm-ops/commands?status=%00", "/api/v1/finance/summary?currency=%00",
            "/api/v1/bots/%00", "/api/v1/agents/a%00b", "/api/v1/users/%00"] {
            let (status, body) = server.get(path, t).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("NUL"), "{path}: {body}");
        }
        let cases = [
            ("/api/v1/bots", json!({"name": "a\u{0}b"})),
            ("/api/v1/tokens", json!({"name": "a\u{0}", "role": "user"})),
            ("/api/v1/users", json!({"email": "x\u{0}@example.com", "password": "long-enough-pw", "role": "user"})),
            ("/api/v1/auth/login", json!({"email": "nul@example.com\u{0}", "password": "x"})),
        ];
        for (path, body) in cases {
            let (status, answer) = server.call(Method::POST, path, Some(t), Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        }
        // Nothing was written, and a text that only spells \u0000 is fine.
        let (_, bots) = server.get("/api/v1/bots", t).await;
        assert_eq!(bots["meta"]["total"], 0);
        let (status, created) = server.post("/api/v1/bots", t, json!({"name": "back\\u0000slash"})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["data"]["name"], "back\\u0000slash");
    }
}

/// The same-site links of a page (`href="/..."`), without fragments.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.starts_with('/') && !href.starts_with("//"))
        .map(|href| {
            href.replace("&amp;", "&")
                .split('#')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// An HTTPS deployment's cookies: every cookie the server sets is HttpOnly, SameSite=Strict,
/// Secure and scoped to the site; on every page of the web UI (signed in) and on answers
/// of every kind the security headers are present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_carries_the_security_headers_and_every_cookie_its_flags() {
    let server = TestServer::start_with(botmox_testkit::Backend::Sqlite, |s| {
        s.public_url = Some("https://botmox.example".parse().unwrap());
    })
    .await;
    let admin = server
        .user_session("acme", "admin@example.com", Role::Admin)
        .await;
    let t = &admin.access_token;
    server
        .put(
            "/api/v1/settings/projects",
            t,
            json!({"tbc": {"name": "TBC"}}),
        )
        .await;
    let bot = server
        .create("/api/v1/bots", t, json!({"name": "b", "project_id": "tbc"}))
        .await;
    server
        .create(
            "/api/v1/resources/licenses",
            t,
            json!({"key": "K-1", "bot_ids": [bot]}),
        )
        .await;
    server
        .create("/api/v1/workspace/notes", t, json!({"title": "n"}))
        .await;
    server
        .create(
            "/api/v1/workspace/kanban",
            t,
            json!({"title": "k", "status": "todo"}),
        )
        .await;
    server
        .create(
            "/api/v1/workspace/calendar",
            t,
            json!({"title": "e", "date": "2026-01-02"}),
        )
        .await;

    let (signed_in, _, _) = server.ui_login(&admin.email, &admin.password).await;
    let login_page = server
        .http
        .get(format!("{}/login", server.url))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = [&signed_in, &login_page]
        .iter()
        .flat_map(|r| {
            r.headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
        })
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("botmox_session=")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("botmox_csrf=")),
        "{cookies:?}"
    );
    for cookie in &cookies {
        for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(
                cookie.split("; ").any(|part| part == flag),
                "{cookie} lacks {flag}"
            );
        }
    }

    // Every page reachable by links from the Overview, signed in (one visit per path).
    let (cookie, _) = server.ui_session(&admin.email, &admin.password).await;
    let mut queue = std::collections::VecDeque::from([
        "/".to_owned(),
        format!("/bot/{bot}"),
        "/no-such-page".into(),
        "/api/v1/no-such-route".into(),
        "/api/v1/bots".into(),
    ]);
    let mut seen = std::collections::HashSet::new();
    let mut lacking = Vec::new();
    while let Some(page) = queue.pop_front() {
        let path = page.split('?').next().unwrap_or_default().to_owned();
        if !seen.insert(path.clone()) || path == "/events" || seen.len() > 400 {
            continue;
        }
        let res = server
            .http
            .get(format!("{}{page}", server.url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let h = res.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let complete = csp.contains("default-src 'none'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline")
            && h.get("x-content-type-options")
                .is_some_and(|v| v == "nosniff")
            && h.get("x-frame-options").is_some_and(|v| v == "DENY");
        if !complete {
            lacking.push(format!("{page} ({})", res.status()));
        }
        let html = res.text().await.unwrap_or_default();
        queue.extend(links(&html));
    }
    assert!(seen.len() >= 33, "the crawl reached the pages: {seen:?}");
    assert!(
        lacking.is_empty(),
        "without the security headers: {lacking:?}"
    );
}
