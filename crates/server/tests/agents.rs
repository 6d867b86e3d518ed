//! Agents over the API: pairing (one-paste bundle), registration that works once and
//! expires, agent tokens checked on every request and accepted only on agent routes,
//! heartbeats and `online`, rotation, revocation taking effect on the next request, and
//! who sees which agent; on SQLite and PostgreSQL.

use base64::Engine;
use botmox_proto::auth::Role;
use botmox_testkit::{TestServer, both_backends};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

async fn pair(server: &TestServer, token: &str, body: Value) -> Value {
    let (status, pairing) = server.post("/api/v1/agents/pairings", token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{pairing}");
    pairing["data"].clone()
}

async fn register(server: &TestServer, code: &str) -> (StatusCode, Value) {
    server
        .call(Method::POST, "/api/v1/agents/register", None,
            Some(json!({"pairing_code": code, "machine_name": "vm-host-1", "version": "1.2.0",
                "platform": "windows", "capabilities": ["proxmox"], "public_key": "age1examplekey"})))
        .await
}

both_backends! {
    async fn an_agent_pairs_once_heartbeats_rotates_and_is_revoked(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let p = pair(&server, t, json!({"expires_in_minutes": 30})).await;
        let code = p["pairing_code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 32, "128 random bits as hex");
        let bundle: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p["pairing_bundle"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!((bundle["v"].clone(), bundle["pairing_code"].clone()), (json!(1), json!(code)));
        assert!(p["pairing_uri"].as_str().unwrap().starts_with("botmox://pair?bundle="));
        assert!(p["pairing_url"].as_str().unwrap().contains("/agent/pair?bundle="));
        let stored = server.state().db.read().query_one(sea_orm::Statement::from_string(
            server.state().db.read().get_database_backend(), "SELECT pairing_code_hash FROM agents")).await.unwrap().unwrap();
        let hash: String = stored.try_get("", "pairing_code_hash").unwrap();
        assert_ne!(hash, code, "only the hash is stored");

        let (status, agent) = register(&server, &code).await;
        assert_eq!(status, StatusCode::CREATED, "{agent}");
        let agent = agent["data"].clone();
        assert_eq!((agent["status"].clone(), agent["name"].clone()), (json!("active"), json!("vm-host-1")));
        assert_eq!(agent["public_key"], "age1examplekey");
        let token = agent["agent_token"].as_str().unwrap().to_owned();
        let (status, again) = register(&server, &code).await;
        assert_eq!((status, again["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("PAIRING_NOT_FOUND")), "a code works once");

        // The agent token works on agent routes only.
        let (status, beat) = server.post("/api/v1/agents/heartbeat", &token,
            json!({"version": "1.3.0", "host": {"cpus": 8}})).await;
        assert_eq!(status, StatusCode::OK, "{beat}");
        for path in ["/api/v1/bots", "/api/v1/agents", "/api/v1/auth/whoami"] {
            assert_eq!(server.get(path, &token).await.0, StatusCode::UNAUTHORIZED, "{path}");
        }
        let (status, _) = server.post("/api/v1/agents/heartbeat", &token, json!({"agent_id": "someone-else"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = server.post("/api/v1/agents/heartbeat", t, json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a human token is not an agent token");

        let id = agent["id"].as_str().unwrap();
        let (_, listed) = server.get("/api/v1/agents", t).await;
        let first = &listed["data"][0];
        assert_eq!((first["id"].clone(), first["online"].clone(), first["version"].clone()), (json!(id), json!(true), json!("1.3.0")));
        assert_eq!(first["metadata"]["host"], json!({"cpus": 8}));

        // Rotation: the old token stops, the new one works.
        let (status, rotated) = server.post("/api/v1/agents/token/rotate", &token, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let new_token = rotated["data"]["agent_token"].as_str().unwrap().to_owned();
        assert_eq!(server.post("/api/v1/agents/heartbeat", &token, json!({})).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(server.post("/api/v1/agents/heartbeat", &new_token, json!({})).await.0, StatusCode::OK);

        // Another user of the tenant neither sees nor revokes it; the owner can.
        let other = server.user_session("acme", "other@example.com", Role::User).await;
        assert_eq!(server.get(&format!("/api/v1/agents/{id}"), &other.access_token).await.0, StatusCode::NOT_FOUND);
        assert_eq!(server.get("/api/v1/agents", &other.access_token).await.1["data"], json!([]));
        assert_eq!(server.post(&format!("/api/v1/agents/{id}/revoke"), &other.access_token, json!({})).await.0, StatusCode::NOT_FOUND);
        let (status, revoked) = server.post(&format!("/api/v1/agents/{id}/revoke"), t, json!({"reason": "decommissioned"})).await;
        assert_eq!(status, StatusCode::OK, "{revoked}");
        assert_eq!((revoked["data"]["status"].clone(), revoked["data"]["online"].clone()), (json!("revoked"), json!(false)));
        let (status, body) = server.post("/api/v1/agents/heartbeat", &new_token, json!({})).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::CONFLICT, json!("AGENT_REVOKED")), "revocation applies on the next request, and says so: {body}");
        let (status, body) = server.get("/api/v1/vm-ops/commands/next?timeout_ms=1000", &new_token).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::CONFLICT, json!("AGENT_REVOKED")), "{body}");
        assert_eq!(server.post(&format!("/api/v1/agents/{id}/revoke"), t, json!({})).await.0, StatusCode::CONFLICT);
    }

    async fn a_change_made_elsewhere_is_refused_on_the_next_fleet_request(backend) {
        // The fleet's routes (heartbeat, poll, report) serve the agent from a cache; a
        // revocation or rotation written by another replica (here: straight into the
        // database, past this server's cache) must still end access on the next request.
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let (agent, token) = server.paired_agent(&owner).await;
        let set = |sql: String| {
            let server = &server;
            async move { assert_eq!(server.execute(&sql).await.unwrap(), 1, "{sql}") }
        };
        let beat = || server.post("/api/v1/agents/heartbeat", &token, json!({}));
        let poll = || server.get("/api/v1/vm-ops/commands/next?timeout_ms=1000", &token);
        let claimed = async || {
            let (status, c) = server.post("/api/v1/vm-ops/commands", t,
                json!({"agent_id": agent, "command_type": "proxmox.start", "payload": {"vmid": 100}})).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{c}");
            let (status, c) = poll().await;
            assert_eq!(status, StatusCode::OK, "{c}");
            (c["data"]["id"].as_str().unwrap().to_owned(), c["data"]["claim_id"].as_str().unwrap().to_owned())
        };
        let report = |(id, claim): (String, String)| {
            let server = &server;
            let token = &token;
            async move {
                server.patch(&format!("/api/v1/vm-ops/commands/{id}"), token,
                    json!({"claim_id": claim, "status": "succeeded", "result": {}})).await
            }
        };
        let code = |answer: (StatusCode, Value)| (answer.0, answer.1["error"]["code"].clone());
        let revoked = (StatusCode::CONFLICT, json!("AGENT_REVOKED"));
        let unauthorized = (StatusCode::UNAUTHORIZED, json!("UNAUTHORIZED"));
        let stored = server.state().db.read().query_one(sea_orm::Statement::from_string(
            server.state().db.read().get_database_backend(),
            format!("SELECT token_hash FROM agents WHERE id = '{agent}'"))).await.unwrap().unwrap();
        let hash: String = stored.try_get("", "token_hash").unwrap();
        let revoke = format!("UPDATE agents SET status = 'revoked' WHERE id = '{agent}'");
        let restore = format!("UPDATE agents SET status = 'active', token_hash = '{hash}' WHERE id = '{agent}'");

        let rotate = format!("UPDATE agents SET token_hash = 'elsewhere' WHERE id = '{agent}'");

        // Each route, its agent cached by a request just before, then revoked elsewhere (409)
        // or its token replaced elsewhere, as a rotation on another replica does (401).
        for (change, answer) in [(&revoke, &revoked), (&rotate, &unauthorized)] {
            assert_eq!(beat().await.0, StatusCode::OK);
            set(change.clone()).await;
            assert_eq!(&code(beat().await), answer, "heartbeat after {change}");
            set(restore.clone()).await;
            assert_eq!(beat().await.0, StatusCode::OK);
            set(change.clone()).await;
            assert_eq!(&code(poll().await), answer, "poll after {change}");
            set(restore.clone()).await;
            let command = claimed().await;
            set(change.clone()).await;
            assert_eq!(&code(report(command.clone()).await), answer, "report after {change}");
            set(restore.clone()).await;
            assert_eq!(report(command).await.0, StatusCode::OK, "the command was left as it was");
        }
    }

    async fn pairings_expire_and_are_checked(backend) {
        let server = TestServer::start(backend).await;
        let user = server.user_session("acme", "u@example.com", Role::User).await;
        let admin = server.user_session("acme", "a@example.com", Role::Admin).await;
        for bad in [json!({"expires_in_minutes": 2}), json!({"expires_in_minutes": 5000}), json!({"name": 5})] {
            assert_eq!(server.post("/api/v1/agents/pairings", &user.access_token, bad).await.0, StatusCode::BAD_REQUEST);
        }
        let (status, _) = server.post("/api/v1/agents/pairings", &user.access_token, json!({"owner_user_id": admin.user_id})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "only admins pair for someone else");
        let p = pair(&server, &admin.access_token, json!({"owner_user_id": user.user_id, "name": "rack 2"})).await;
        assert_eq!(p["owner_user_id"], json!(user.user_id));
        server.execute("UPDATE agents SET pairing_expires_at = 1").await.unwrap();
        let (status, body) = register(&server, p["pairing_code"].as_str().unwrap()).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::GONE, json!("PAIRING_EXPIRED")));
        let (status, _) = register(&server, "0123456789abcdef0123456789abcdef").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, listed) = server.get("/api/v1/agents", &user.access_token).await;
        assert_eq!((listed["data"][0]["status"].clone(), listed["data"][0]["name"].clone()), (json!("pending"), json!("rack 2")));
    }

    async fn a_fleet_is_listed_whole_or_a_page_at_a_time(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let colleague = server.user_session("acme", "colleague@example.com", Role::User).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let stranger = server.user_session("other", "admin@other.example", Role::Admin).await;
        let t = &owner.access_token;
        for i in 0..45 {
            pair(&server, t, json!({"name": format!("agent-{i:02}")})).await;
        }
        pair(&server, &colleague.access_token, json!({"name": "not-the-owner's"})).await;
        let ids = |body: &Value| -> Vec<String> {
            body["data"].as_array().expect("a list").iter()
                .map(|a| a["id"].as_str().expect("an id").to_owned()).collect()
        };
        // Without paging: every agent, as the reference answers, and no `meta`.
        let (status, whole) = server.get("/api/v1/agents", t).await;
        assert_eq!(status, StatusCode::OK);
        let every = ids(&whole);
        assert_eq!((every.len(), whole.get("meta").cloned()), (45, None));
        // Pages in turn are the whole list in its order.
        let mut paged = Vec::new();
        for page in 1..=3 {
            let (status, body) = server.get(&format!("/api/v1/agents?limit=20&page={page}"), t).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["meta"], json!({"total": 45, "page": page, "limit": 20}));
            paged.extend(ids(&body));
        }
        assert_eq!(paged, every);
        let (_, first) = server.get("/api/v1/agents?page=1", t).await;
        assert_eq!((ids(&first).len(), first["meta"]["limit"].clone()), (45, json!(50)), "limit 50 unless asked");
        let (_, past) = server.get("/api/v1/agents?page=7", t).await;
        assert_eq!((past["data"].clone(), past["meta"]["total"].clone()), (json!([]), json!(45)));
        for bad in ["limit=0", "limit=201", "page=0", "page=abc", "page=9223372036854775807"] {
            let (status, body) = server.get(&format!("/api/v1/agents?{bad}"), t).await;
            assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("BAD_REQUEST")), "{bad}");
        }
        // Who sees what is as unpaged: owners their own, admins the tenant's, no one another's.
        let total = |token: &str| {
            let server = &server;
            let token = token.to_owned();
            async move { server.get("/api/v1/agents?limit=1", &token).await.1["meta"]["total"].clone() }
        };
        assert_eq!(total(&colleague.access_token).await, json!(1));
        assert_eq!(total(&admin.access_token).await, json!(46));
        assert_eq!(total(&stranger.access_token).await, json!(0));
    }

    async fn a_fleet_is_searched_by_name(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let colleague = server.user_session("acme", "colleague@example.com", Role::User).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let stranger = server.user_session("other", "admin@other.example", Role::Admin).await;
        for name in ["Rack-A1", "rack-b2", "spare", "50%_off"] {
            pair(&server, &owner.access_token, json!({"name": name})).await;
        }
        pair(&server, &colleague.access_token, json!({"name": "RACK-c3"})).await;
        pair(&server, &stranger.access_token, json!({"name": "rack-z9"})).await;
        let found = |token: &str, query: &str| {
            let (server, token, query) = (&server, token.to_owned(), query.to_owned());
            async move {
                let (status, body) = server.get(&format!("/api/v1/agents?{query}"), &token).await;
                assert_eq!(status, StatusCode::OK, "{query}: {body}");
                let mut names: Vec<String> = body["data"].as_array().expect("a list").iter()
                    .map(|a| a["name"].as_str().expect("a name").to_owned()).collect();
                names.sort();
                (names, body["meta"]["total"].clone())
            }
        };
        let t = &owner.access_token;
        // In any case, within what the caller sees: owners their own, admins the tenant's.
        assert_eq!(found(t, "q=rACK").await, (vec!["Rack-A1".into(), "rack-b2".into()], json!(2)));
        assert_eq!(found(&admin.access_token, "q=rack").await,
            (vec!["RACK-c3".into(), "Rack-A1".into(), "rack-b2".into()], json!(3)));
        assert_eq!(found(&stranger.access_token, "q=rack-a").await, (vec![], json!(0)));
        // Wildcards are text: `%` and `_` match only themselves.
        assert_eq!(found(t, "q=%25_").await, (vec!["50%_off".into()], json!(1)));
        assert_eq!(found(t, "q=_").await, (vec!["50%_off".into()], json!(1)));
        // Paged like the list, and an empty search is the whole list.
        assert_eq!(found(t, "q=rack&limit=1&page=2").await.1, json!(2));
        assert_eq!(found(t, "q=").await.1, json!(4));
        let (status, body) = server.get(&format!("/api/v1/agents?q={}", "a".repeat(201)), t).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("BAD_REQUEST")));
    }

    async fn quick_pair_is_off_by_default_and_throttled_like_sign_in_when_on(backend) {
        let quick = |login: &str, password: &str| json!({"login": login, "password": password,
            "machine_name": "host-7", "version": "0.1.0", "platform": "win32", "capabilities": ["proxmox"]});
        let off = TestServer::start(backend).await;
        let user = off.user_session("acme", "owner@example.com", Role::User).await;
        let (status, err) = off.call(Method::POST, "/api/v1/agents/quick-pair", None, Some(quick(&user.email, &user.password))).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("NOT_FOUND")), "off unless configured");
        off.stop().await;

        let server = TestServer::start_with(backend, |s| {
            s.agent_quick_pair = Some(true);
            s.login_attempts_per_account = Some(3);
        }).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let (status, agent) = server.call(Method::POST, "/api/v1/agents/quick-pair", None, Some(quick(&owner.email, &owner.password))).await;
        assert_eq!(status, StatusCode::CREATED, "{agent}");
        let a = &agent["data"];
        assert_eq!((a["name"].clone(), a["owner_user_id"].clone(), a["status"].clone(), a["online"].clone()),
            (json!("host-7"), json!(owner.user_id), json!("active"), json!(true)));
        let token = a["agent_token"].as_str().unwrap();
        assert_eq!(server.post("/api/v1/agents/heartbeat", token, json!({})).await.0, StatusCode::OK);
        let (_, seen) = server.get(&format!("/api/v1/agents/{}", a["id"].as_str().unwrap()), &owner.access_token).await;
        assert_eq!(seen["data"]["platform"], "win32");

        let (status, err) = server.call(Method::POST, "/api/v1/agents/quick-pair", None, Some(quick(&owner.email, "wrong-password"))).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("INVALID_CREDENTIALS")));
        server.call(Method::POST, "/api/v1/agents/quick-pair", None, Some(quick(&owner.email, "wrong-password"))).await;
        // Three attempts on this account this minute (one right, two wrong): sign-in is refused too.
        let (status, _) = server.call(Method::POST, "/api/v1/auth/login", None,
            Some(json!({"email": owner.email, "password": owner.password}))).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "quick-pair and sign-in share the throttle");
        let (status, _) = server.call(Method::POST, "/api/v1/agents/quick-pair", None, Some(quick(&owner.email, &owner.password))).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
}
