//! The operator's records over the API: create/read/patch/delete for every kind, validation,
//! lists filtered, sorted and paged in the database, optimistic concurrency, sealed
//! credentials and the bot-status guard, on SQLite and PostgreSQL.

use botmox_proto::auth::Role;
use botmox_testkit::{Session, TestServer, both_backends};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

async fn setup(backend: botmox_testkit::Backend) -> (TestServer, Session) {
    let server = TestServer::start(backend).await;
    let s = server
        .user_session("acme", "op@example.com", Role::User)
        .await;
    (server, s)
}

async fn patch_if(
    server: &TestServer,
    path: &str,
    token: &str,
    etag: &str,
    body: Value,
) -> reqwest::Response {
    server
        .http
        .patch(format!("{}{path}", server.url))
        .bearer_auth(token)
        .header("if-match", etag)
        .json(&body)
        .send()
        .await
        .unwrap()
}

both_backends! {
    async fn every_kind_supports_create_read_patch_delete(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        let cases = [
            ("/api/v1/resources/licenses", json!({"key": "LIC-1", "type": "sub", "status": "active", "bot_names": ["b1"]}), json!({"status": "expired"})),
            ("/api/v1/resources/proxies", json!({"ip": "203.0.113.5", "port": 3128, "type": "http"}), json!({"status": "banned"})),
            ("/api/v1/resources/subscriptions", json!({"type": "wow", "status": "active", "expires_at": 1_800_000_000_000i64}), json!({"auto_renew": true})),
            ("/api/v1/workspace/notes", json!({"title": "Plan", "content": "# text", "tags": ["a"]}), json!({"is_pinned": true})),
            ("/api/v1/workspace/calendar", json!({"title": "Raid", "date": "2026-12-01"}), json!({"description": "bring snacks"})),
            ("/api/v1/workspace/kanban", json!({"title": "Fix", "status": "todo", "order": 1}), json!({"status": "done"})),
            ("/api/v1/bots", json!({"name": "Thrall", "status": "prepare", "character": {"level": 10, "faction": "horde"}}), json!({"status": "leveling"})),
            ("/api/v1/finance/operations", json!({"type": "expense", "category": "proxy", "amount": "12.5", "currency": "USD", "date": 1_700_000_000_000i64}), json!({"description": "monthly"})),
        ];
        for (path, body, change) in cases {
            let mut body = body;
            body["id"] = json!("my-id");
            body["created_at"] = json!(1);
            body["custom_field"] = json!({"kept": true});
            let (status, created) = server.post(path, t, body.clone()).await;
            assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
            let doc = &created["data"];
            assert_eq!(doc["id"], "my-id");
            assert!(doc["created_at"].as_i64().unwrap() > 1_700_000_000_000, "server sets created_at: {doc}");
            assert_eq!(doc["custom_field"], json!({"kept": true}), "unknown fields are kept");

            let (status, again) = server.post(path, t, body).await;
            assert_eq!((status, again["error"]["code"].clone()), (StatusCode::CONFLICT, json!("ALREADY_EXISTS")), "{path}");

            let one = format!("{path}/my-id");
            let (status, read) = server.get(&one, t).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(read["data"], created["data"]);

            let (status, patched) = server.patch(&one, t, change.clone()).await;
            assert_eq!(status, StatusCode::OK, "{path}: {patched}");
            for (k, v) in change.as_object().unwrap() {
                assert_eq!(&patched["data"][k], v, "{path}");
            }
            assert!(patched["data"]["updated_at"].as_i64() >= created["data"]["updated_at"].as_i64());

            let (status, deleted) = server.delete(&one, t).await;
            assert_eq!((status, deleted["data"].clone()), (StatusCode::OK, json!({"id": "my-id", "deleted": true})));
            assert_eq!(server.get(&one, t).await.0, StatusCode::NOT_FOUND);
            assert_eq!(server.delete(&one, t).await.0, StatusCode::NOT_FOUND);
        }
        // Amounts given as numeric strings are stored as numbers.
        let (_, op) = server.post("/api/v1/finance/operations", t,
            json!({"type": "income", "category": "sale", "amount": "99.5", "currency": "USD", "date": "1700000000000"})).await;
        assert_eq!(op["data"]["amount"], 99.5);
    }

    async fn bad_input_gets_field_errors_and_changes_nothing(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        let (status, body) = server.get("/api/v1/resources/widgets", t).await;
        assert_eq!((status, body["error"]["message"].clone()), (StatusCode::BAD_REQUEST, json!("Invalid resource kind")));
        let bad = [
            ("/api/v1/resources/proxies", json!({"ip": "1.2.3.4", "port": 70000}), "port"),
            ("/api/v1/resources/licenses", json!({"status": "lost"}), "status"),
            ("/api/v1/workspace/calendar", json!({"date": "01.02.2026"}), "date"),
            ("/api/v1/bots", json!({"status": "farming"}), "name"),
            ("/api/v1/bots", json!({"name": "x", "character": {"level": 500}}), "level"),
            ("/api/v1/bots", json!({"name": "x", "lifecycle": {}}), "lifecycle"),
            ("/api/v1/finance/operations", json!({"type": "gift", "category": "x", "amount": 1, "currency": "USD", "date": 1}), "type"),
            ("/api/v1/finance/operations", json!({"type": "income", "category": "x", "amount": "lots", "currency": "USD", "date": 1}), "amount"),
        ];
        for (path, body, field) in bad {
            let (status, answer) = server.post(path, t, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
            assert!(answer["error"]["message"].as_str().unwrap().contains(field), "{path}: {answer}");
        }
        for body in [json!([1, 2]), json!({}), json!("text")] {
            assert_eq!(server.post("/api/v1/bots", t, body).await.0, StatusCode::BAD_REQUEST);
        }
        let (_, list) = server.get("/api/v1/bots", t).await;
        assert_eq!(list["meta"]["total"], 0, "nothing was written");

        // A nested patch is validated like the rest of the document.
        server.post("/api/v1/bots", t, json!({"id": "b", "name": "x", "character": {"level": 5}})).await;
        let (status, _) = server.patch("/api/v1/bots/b", t, json!({"character/level": 500})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, ok) = server.patch("/api/v1/bots/b", t, json!({"character/level": 60, "character/name": "Jaina"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ok["data"]["character"], json!({"level": 60, "name": "Jaina"}));
        let (status, _) = server.patch("/api/v1/bots/b", t, json!({"name": null})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a required field cannot be removed");
        let (status, _) = server.get("/api/v1/bots?sort=colour", t).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = server.get("/api/v1/bots?order=sideways", t).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    async fn lists_filter_sort_and_page(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        let (st, _) = server.put("/api/v1/settings/projects", t, json!({"tbc": {"name": "TBC"}, "mid": {"name": "Midnight"}})).await;
        assert_eq!(st, StatusCode::OK);
        for (i, (name, status, project)) in [("Alpha", "farming", "tbc"), ("bravo", "leveling", "tbc"), ("Charlie", "farming", "mid"),
            ("delta 100%", "offline", "mid"), ("Echo", "farming", "tbc")].into_iter().enumerate() {
            let (st, _) = server.post("/api/v1/bots", t, json!({"id": format!("b{i}"), "name": name, "status": status, "project_id": project})).await;
            assert_eq!(st, StatusCode::CREATED);
        }
        let names = |v: &Value| v["data"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        let (_, farming) = server.get("/api/v1/bots?status=farming&sort=name&order=desc", t).await;
        assert_eq!(names(&farming), ["Echo", "Charlie", "Alpha"]);
        assert_eq!(farming["meta"], json!({"total": 3, "page": 1, "limit": 50}));
        let (_, page2) = server.get("/api/v1/bots?sort=name&limit=2&page=2", t).await;
        assert_eq!(page2["meta"]["total"], 5);
        assert_eq!(page2["data"].as_array().unwrap().len(), 2);
        let (_, tbc) = server.get("/api/v1/bots?project_id=tbc&status=farming", t).await;
        assert_eq!(tbc["meta"]["total"], 2);
        let (_, q) = server.get("/api/v1/bots?q=CHAR", t).await;
        assert_eq!(names(&q), ["Charlie"]);
        let (_, literal) = server.get("/api/v1/bots?q=100%25", t).await;
        assert_eq!(names(&literal), ["delta 100%"], "% in q is literal");
        let (_, none) = server.get("/api/v1/bots?q=_", t).await;
        assert_eq!(none["meta"]["total"], 0, "_ in q is literal");

        let day = 86_400_000i64;
        for (i, amount) in [10.0, 20.0, 30.0].into_iter().enumerate() {
            server.post("/api/v1/finance/operations", t, json!({"type": "income", "category": "sale", "amount": amount,
                "currency": "USD", "date": 1_700_000_000_000i64 + i as i64 * day})).await;
        }
        let (_, window) = server.call(Method::GET, &format!("/api/v1/finance/operations?from={}&to={}&sort=amount&order=desc",
            1_700_000_000_000i64 + day, 1_700_000_000_000i64 + 3 * day), Some(t), None).await;
        let amounts: Vec<f64> = window["data"].as_array().unwrap().iter().map(|o| o["amount"].as_f64().unwrap()).collect();
        assert_eq!(amounts, [30.0, 20.0]);
    }

    async fn concurrent_edits_cannot_silently_lose_data(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        let res = server.http.post(format!("{}/api/v1/resources/licenses", server.url)).bearer_auth(t)
            .json(&json!({"id": "l1", "key": "K"})).send().await.unwrap();
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        let first = patch_if(&server, "/api/v1/resources/licenses/l1", t, &etag, json!({"type": "monthly"})).await;
        assert_eq!(first.status(), StatusCode::OK);
        let newer = first.headers()["etag"].to_str().unwrap().to_owned();
        assert_ne!(newer, etag);
        let stale = patch_if(&server, "/api/v1/resources/licenses/l1", t, &etag, json!({"type": "yearly"})).await;
        assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
        let body: Value = stale.json().await.unwrap();
        assert_eq!(body["error"]["code"], "PRECONDITION_FAILED");
        let (_, now) = server.get("/api/v1/resources/licenses/l1", t).await;
        assert_eq!(now["data"]["type"], "monthly");

        // Two writers racing on the same version: exactly one wins.
        let (a, b) = tokio::join!(
            patch_if(&server, "/api/v1/resources/licenses/l1", t, &newer, json!({"status": "active"})),
            patch_if(&server, "/api/v1/resources/licenses/l1", t, &newer, json!({"status": "revoked"})),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 412]);

        // Without If-Match, racing patches of different keys all land: each re-applies itself
        // to the newer document instead of overwriting it.
        let patches = (0..8).map(|i| server.patch("/api/v1/resources/licenses/l1", t, json!({ format!("k{i}"): i })));
        let results = futures::future::join_all(patches).await;
        assert!(results.iter().all(|(st, _)| *st == StatusCode::OK), "{results:?}");
        let (_, now) = server.get("/api/v1/resources/licenses/l1", t).await;
        for i in 0..8 {
            assert_eq!(now["data"][format!("k{i}")], i, "{now}");
        }
    }

    async fn proxy_passwords_are_sealed_and_never_read_back(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        let (_, created) = server.post("/api/v1/resources/proxies", t, json!({"id": "p1", "ip": "198.51.100.2", "port": 1080, "login": "u", "password": "hunter2-secret"})).await;
        assert_eq!(created["data"]["password"], "********");
        let (_, read) = server.get("/api/v1/resources/proxies/p1", t).await;
        assert_eq!(read["data"]["password"], "********");
        let (_, found) = server.get("/api/v1/resources/proxies?q=hunter2", t).await;
        assert_eq!(found["meta"]["total"], 0, "secrets are not searchable");
        let raw = |server: &TestServer| {
            let db = server.state().db.clone();
            async move {
                let row = botmox_server::db::entity::record::Entity::find_by_id(("acme".to_owned(), "proxies".to_owned(), "p1".to_owned()))
                    .one(db.read()).await.unwrap().unwrap();
                row.data
            }
        };
        let stored = raw(&server).await;
        assert!(!stored.contains("hunter2"), "stored sealed: {stored}");
        // Sending the mask back keeps the secret; a new value replaces it.
        server.patch("/api/v1/resources/proxies/p1", t, json!({"password": "********", "port": 1081})).await;
        assert_eq!(raw(&server).await, stored.replace("1080", "1081"));
        server.patch("/api/v1/resources/proxies/p1", t, json!({"password": "new-secret"})).await;
        let replaced = raw(&server).await;
        assert!(!replaced.contains("new-secret") && replaced != stored);
        let sealed: Value = serde_json::from_str(&replaced).unwrap();
        let opened = server.state().sealer.open("acme/proxies/p1/password", sealed["password"].as_str().unwrap());
        assert_eq!(opened, Some(json!("new-secret")));
    }

    async fn credentials_in_lists_and_of_any_type_are_sealed_masked_and_revealed(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        let (status, created) = server.post("/api/v1/bots", t, json!({"id": "b1", "name": "x",
            "accounts": [{"login": "one", "password": "list-secret-1"}, {"login": "two", "password": "list-secret-2"}],
            "account": {"password": 987654321},
            "vault": {"entries": [[{"api_key": ["key-part-a", "key-part-b"]}]], "token": {"kind": "nested-secret"}},
            "spare": {"password": ""}})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let stored = || async {
            botmox_server::db::entity::record::Entity::find_by_id(("acme".to_owned(), "bots".to_owned(), "b1".to_owned()))
                .one(server.state().db.read()).await.unwrap().unwrap()
        };
        let row = stored().await;
        for plain in ["list-secret-1", "list-secret-2", "987654321", "key-part-a", "nested-secret"] {
            assert!(!row.data.contains(plain) && !row.search.contains(plain), "{plain} at rest: {}", row.data);
        }
        let (_, read) = server.get("/api/v1/bots/b1", t).await;
        let d = &read["data"];
        assert_eq!(d["accounts"], json!([{"login": "one", "password": "********"}, {"login": "two", "password": "********"}]));
        assert_eq!(d["account"]["password"], "********");
        assert_eq!(d["vault"], json!({"entries": [[{"api_key": "********"}]], "token": "********"}));
        assert_eq!(d["spare"]["password"], "", "no credential, nothing to mask");
        assert_eq!(created["data"]["accounts"], d["accounts"], "the create answer is masked too");
        let (_, listed) = server.get("/api/v1/bots", t).await;
        assert_eq!(listed["data"][0]["accounts"][1]["password"], "********");

        // Every credential opens at its path, as the value it was given as.
        for (field, value) in [("accounts/0/password", json!("list-secret-1")), ("accounts/1/password", json!("list-secret-2")),
            ("account/password", json!(987654321)), ("vault/entries/0/0/api_key", json!(["key-part-a", "key-part-b"])),
            ("vault/token", json!({"kind": "nested-secret"})),
            // Malformed paths mean the one spelling sealing bound: never a 500.
            ("/accounts//1/password/", json!("list-secret-2")), ("account//password", json!(987654321))] {
            let (status, revealed) = server.post("/api/v1/bots/b1/reveal", t, json!({"field": field})).await;
            assert_eq!((status, &revealed["data"]["value"]), (StatusCode::OK, &value), "{field}: {revealed}");
        }
        for field in ["accounts/2/password", "accounts/01/password", "accounts/-1/password", "accounts/x/password",
            "accounts/0/login", "spare/password", "", "/", "//"] {
            let (status, body) = server.post("/api/v1/bots/b1/reveal", t, json!({"field": field})).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{field}: {body}");
        }

        // The read, with its masks, written back changes no credential; a new value in a list replaces only that one.
        let mut back = d.clone();
        back["accounts"][1]["password"] = json!("list-secret-3");
        for key in ["id", "created_at", "updated_at", "lifecycle"] {
            back.as_object_mut().unwrap().remove(key);
        }
        let (status, body) = server.patch("/api/v1/bots/b1", t, back).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let after: Value = serde_json::from_str(&stored().await.data).unwrap();
        let before: Value = serde_json::from_str(&row.data).unwrap();
        assert_eq!(after["accounts"][0]["password"], before["accounts"][0]["password"]);
        assert_eq!(after["account"], before["account"]);
        assert_eq!(after["vault"], before["vault"]);
        assert!(!stored().await.data.contains("list-secret-3"));
        let (_, revealed) = server.post("/api/v1/bots/b1/reveal", t, json!({"field": "accounts/1/password"})).await;
        assert_eq!(revealed["data"]["value"], "list-secret-3");
    }

    async fn the_status_filter_finds_exactly_the_effective_statuses_shown(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        server.put("/api/v1/settings", t, json!({"alerts": {"warning_days": 5}})).await;
        let (day, hour) = (86_400_000i64, 3_600_000i64);
        let now = chrono::Utc::now().timestamp_millis();
        // Offsets an hour clear of every boundary, so the seconds the test takes move nothing.
        let offsets = [None, Some(-10 * day), Some(-hour), Some(hour), Some(5 * day - hour), Some(5 * day + hour), Some(100 * day)];
        let kinds = [
            ("/api/v1/resources/licenses", json!({"key": "K"}), vec![None, Some("active"), Some("expired"), Some("revoked")]),
            ("/api/v1/resources/proxies", json!({"ip": "10.0.0.1", "port": 80}), vec![None, Some("active"), Some("expired"), Some("banned")]),
            ("/api/v1/resources/subscriptions", json!({"type": "wow"}), vec![None, Some("active"), Some("cancelled"), Some("expiring_soon")]),
        ];
        for (path, base, statuses) in kinds {
            for status in &statuses {
                for offset in offsets {
                    let mut body = base.clone();
                    if let Some(st) = status { body["status"] = json!(st); }
                    if let Some(o) = offset { body["expires_at"] = json!(now + o); }
                    server.create(path, t, body).await;
                }
            }
            let (_, all) = server.get(&format!("{path}?limit=200"), t).await;
            let rows = all["data"].as_array().unwrap();
            assert_eq!(rows.len(), statuses.len() * offsets.len());
            let mut found = 0;
            for state in ["active", "expiring", "expired", "revoked", "banned", "cancelled"] {
                let mut want: Vec<&str> = rows.iter().filter(|r| r["effective_status"] == state)
                    .map(|r| r["id"].as_str().unwrap()).collect();
                let (_, filtered) = server.get(&format!("{path}?status={state}&limit=200"), t).await;
                let mut got: Vec<&str> = filtered["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
                want.sort();
                got.sort();
                assert_eq!(got, want, "{path} ?status={state}");
                found += got.len();
            }
            assert_eq!(found, rows.len(), "{path}: every record is in exactly one state");
            for r in rows {
                let expected = match r["expires_at"].as_i64() {
                    Some(e) if e > now => json!((e - now + day - 1) / day),
                    Some(e) => json!(-((now - e) / day)),
                    None => Value::Null,
                };
                assert_eq!(r["days_left"], expected, "{r}");
            }
        }
        // The computed fields are the server's: a client that sends them back stores nothing.
        let id = server.create("/api/v1/resources/licenses", t, json!({"key": "X", "effective_status": "revoked", "days_left": 3})).await;
        let (_, one) = server.get(&format!("/api/v1/resources/licenses/{id}"), t).await;
        assert_eq!((one["data"]["effective_status"].clone(), one["data"]["days_left"].clone()), (json!("active"), Value::Null), "{one}");
        let row = botmox_server::db::entity::record::Entity::find_by_id(("acme".to_owned(), "licenses".to_owned(), id))
            .one(server.state().db.read()).await.unwrap().unwrap();
        assert!(!row.data.contains("effective_status") && !row.data.contains("days_left"), "{}", row.data);
    }

    async fn ids_that_are_not_one_path_segment_are_refused(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        for id in [".", "..", " .. ", "a/b", "a\\b", "a\tb", "a\r\nb", "\u{7f}"] {
            for path in ["/api/v1/workspace/notes", "/api/v1/resources/proxies", "/api/v1/bots"] {
                let (status, body) = server.post(path, t, json!({"id": id, "name": "x", "title": "x"})).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{id:?} on {path}: {body}");
                assert!(body["error"]["details"]["fieldErrors"]["id"].is_array(), "{body}");
            }
        }
        let (_, list) = server.get("/api/v1/workspace/notes", t).await;
        assert_eq!(list["meta"]["total"], 0);
        for id in ["...", "a.b", "notes.txt", "ünï code"] {
            assert_eq!(server.create("/api/v1/workspace/notes", t, json!({"id": id})).await, id);
        }
    }

    async fn an_if_match_this_server_did_not_issue_fails_with_412(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        server.create("/api/v1/resources/licenses", t, json!({"id": "l1", "key": "K"})).await;
        for tag in ["nonsense", "\"abc\"", "W/\"\"", "W/\"-1\"", "\"1", "W/\"99999999999999999999\"", "\"x\", W/\"y\"", " "] {
            let res = patch_if(&server, "/api/v1/resources/licenses/l1", t, tag, json!({"type": "x"})).await;
            assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED, "{tag}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "PRECONDITION_FAILED", "{tag}");
        }
        // Not even text (an obs-text byte): the condition still fails, it is not ignored.
        let res = server.http.patch(format!("{}/api/v1/resources/licenses/l1", server.url)).bearer_auth(t)
            .header("if-match", reqwest::header::HeaderValue::from_bytes(b"\"\xff\"").unwrap())
            .json(&json!({"type": "x"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
        let (_, now) = server.get("/api/v1/resources/licenses/l1", t).await;
        assert!(now["data"].get("type").is_none(), "nothing changed: {now}");
        // A list matches when one of its tags is the current version's.
        for tag in ["\"abc\", W/\"1\"", "*"] {
            let res = patch_if(&server, "/api/v1/resources/licenses/l1", t, tag, json!({"type": tag})).await;
            assert_eq!(res.status(), StatusCode::OK, "{tag}");
        }
    }

    async fn bot_status_cannot_be_banned_or_unbanned_by_patch(backend) {
        let (server, s) = setup(backend).await;
        let t = &s.access_token;
        let (status, _) = server.post("/api/v1/bots", t, json!({"name": "x", "status": "banned"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "banning goes through the lifecycle endpoint");
        server.post("/api/v1/bots", t, json!({"id": "b1", "name": "x", "status": "farming"})).await;
        let (status, _) = server.patch("/api/v1/bots/b1", t, json!({"status": "banned"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = server.post("/api/v1/bots/b1/lifecycle/ban", t,
            json!({"ban_date": "01.02.2026", "ban_reason": "seen", "ban_mechanism": "other"})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = server.patch("/api/v1/bots/b1", t, json!({"status": "farming"})).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::CONFLICT, json!("CONFLICT")));
        let (status, _) = server.patch("/api/v1/bots/b1", t, json!({"lifecycle/current_stage": "farming"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "lifecycle is not writable, not even by path");
        let (status, renamed) = server.patch("/api/v1/bots/b1", t, json!({"name": "renamed"})).await;
        assert_eq!(status, StatusCode::OK, "other edits of a banned bot are fine: {renamed}");
        assert_eq!(renamed["data"]["lifecycle"]["current_stage"], "banned");
    }
}
