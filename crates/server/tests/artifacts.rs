//! Artifacts over the API on SQLite and PostgreSQL, with the local blob store: streamed
//! uploads hashed by the server, duplicates as 409, registration checked against the store,
//! listing and status, deletion refused while assigned, assignments replaced atomically
//! (also under a race), the effective assignment, signed download links (tampered,
//! re-pointed, foreign and expired links refused), tenant isolation, the admin gate and the
//! download audit's filters.

use botmox_proto::auth::Role;
use botmox_server::artifacts::{download, store};
use botmox_server::db::TenantId;
use botmox_server::db::entity::artifact_download_audit as audit;
use botmox_server::keys::ServerKey;
use botmox_testkit::{TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `n` bytes that differ from one call to the next.
fn file(n: usize) -> Vec<u8> {
    let seed = rand::random::<u8>();
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `POST /artifacts/releases/upload?<query>` with `bytes` as the raw body.
async fn upload(
    server: &TestServer,
    token: &str,
    query: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    botmox_testkit::upload(&server.http, &server.url, token, query, bytes).await
}

/// Upload and return the release.
async fn release(server: &TestServer, token: &str, query: &str, bytes: Vec<u8>) -> Value {
    botmox_testkit::upload_release(&server.http, &server.url, token, query, bytes).await
}

/// Every file under the local blob store's `artifacts/` folder.
fn stored_files(server: &TestServer) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &server.state().config.blob_dir().join("artifacts"),
        &mut out,
    );
    out
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

both_backends! {
    async fn uploads_are_hashed_by_the_server_and_duplicates_conflict(backend) {
        let server = TestServer::start_with(backend, |s| s.artifact_upload_limit = Some(3_000_000)).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &admin.access_token;
        let bytes = file(2_500_000);
        let r = release(&server, t, "module=Runner&platform=Windows&version=1.0.0", bytes.clone()).await;
        assert_eq!(r["sha256"], sha(&bytes));
        assert_eq!(r["size_bytes"], bytes.len());
        assert_eq!((r["module"].clone(), r["platform"].clone(), r["channel"].clone(), r["status"].clone()),
            (json!("Runner"), json!("windows"), json!("stable"), json!("active")), "normalised, defaults applied");
        assert!(r["id"].as_i64().unwrap() > 0);
        let key = r["object_key"].as_str().unwrap();
        assert!(key.starts_with("artifacts/acme/Runner/windows/stable/1.0.0/"), "{key}");
        let on_disk = std::fs::read(server.state().config.blob_dir().join(key)).unwrap();
        assert_eq!(on_disk, bytes, "the stored file is the uploaded one");

        let (status, body) = upload(&server, t, "module=Runner&platform=windows&version=1.0.0&channel=STABLE", file(10)).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "ALREADY_EXISTS"), "{body}");
        let (status, body) = upload(&server, t, "module=Runner&platform=windows&version=2.0.0", Vec::new()).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "empty: {body}");
        let (status, body) = upload(&server, t, "module=Runner&platform=windows&version=3.0.0", file(3_000_001)).await;
        assert_eq!((status, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"), "{body}");
        // A body without a Content-Length (chunked) is cut off at the limit as it streams.
        let chunks = futures::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(file(1_000_000))));
        let res = server.http.post(format!("{}/api/v1/artifacts/releases/upload?module=Runner&platform=windows&version=4", server.url))
            .bearer_auth(t).body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        for bad in ["platform=windows&version=1", "module=%20&platform=windows&version=1", "module=m&platform=w&version=1&status=gone"] {
            let (status, body) = upload(&server, t, bad, file(10)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        assert_eq!(stored_files(&server).len(), 1, "refused uploads leave nothing behind");
        let (_, list) = server.get("/api/v1/artifacts/releases", t).await;
        assert_eq!(list["meta"]["total"], 1);
    }

    async fn releases_are_listed_changed_and_deleted_only_when_unassigned(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &admin.access_token;
        let r1 = release(&server, t, "module=runner&platform=windows&version=1", file(100)).await;
        let r2 = release(&server, t, "module=runner&platform=windows&version=2", file(100)).await;
        release(&server, t, "module=runner&platform=linux&version=1&channel=beta&status=draft", file(100)).await;
        release(&server, t, "module=helper&platform=windows&version=1", file(100)).await;
        let total = |q: &'static str| {
            let server = &server;
            async move { server.get(&format!("/api/v1/artifacts/releases?{q}"), t).await.1["meta"]["total"].clone() }
        };
        assert_eq!(total("").await, 4);
        assert_eq!(total("module=runner").await, 3);
        assert_eq!(total("module=runner&platform=Windows").await, 2);
        assert_eq!(total("channel=beta").await, 1);
        assert_eq!(total("status=draft").await, 1);
        let (_, page) = server.get("/api/v1/artifacts/releases?limit=2&page=2", t).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 2);
        assert_eq!(server.get("/api/v1/artifacts/releases?status=nope", t).await.0, StatusCode::BAD_REQUEST);

        let (id1, id2) = (r1["id"].as_i64().unwrap(), r2["id"].as_i64().unwrap());
        let (status, patched) = server.patch(&format!("/api/v1/artifacts/releases/{id2}"), t, json!({"status": "disabled"})).await;
        assert_eq!((status, patched["data"]["status"].clone()), (StatusCode::OK, json!("disabled")), "{patched}");
        assert_eq!(total("status=disabled").await, 1);
        let (status, body) = server.patch(&format!("/api/v1/artifacts/releases/{id2}"), t, json!({"status": "gone"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = server.patch("/api/v1/artifacts/releases/999999", t, json!({"status": "active"})).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "ARTIFACT_RELEASE_NOT_FOUND"));

        let assign = |release: i64| server.post("/api/v1/artifacts/assign", t,
            json!({"module": "runner", "platform": "windows", "release_id": release}));
        assert_eq!(assign(id1).await.0, StatusCode::CREATED);
        let (status, body) = server.delete(&format!("/api/v1/artifacts/releases/{id1}"), t).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "IN_USE"), "{body}");
        assert_eq!(body["error"]["details"]["references"]["assignments"], 1);
        assert_eq!(stored_files(&server).len(), 4, "nothing removed");
        server.patch(&format!("/api/v1/artifacts/releases/{id2}"), t, json!({"status": "active"})).await;
        assert_eq!(assign(id2).await.0, StatusCode::CREATED, "the default now points at release 2");
        let (status, body) = server.delete(&format!("/api/v1/artifacts/releases/{id1}"), t).await;
        assert_eq!((status, body["data"]["id"].clone()), (StatusCode::OK, json!(id1)), "{body}");
        assert_eq!(stored_files(&server).len(), 3, "its file went with it");
        assert!(!server.state().config.blob_dir().join(r1["object_key"].as_str().unwrap()).exists());
        assert_eq!(server.delete(&format!("/api/v1/artifacts/releases/{id1}"), t).await.0, StatusCode::NOT_FOUND);
        assert_eq!(total("").await, 3);
    }

    async fn registering_an_object_checks_that_it_is_there(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &admin.access_token;
        let bytes = file(1234);
        let key = "artifacts/acme/external/runner-1.4.2.zip";
        server.state().blob.store().put(&key.into(), bytes.clone().into()).await.unwrap();
        let body = |key: &str, size: usize| json!({"module": "runner", "platform": "windows", "version": "1.4.2",
            "object_key": key, "sha256": sha(&bytes).to_uppercase(), "size_bytes": size});
        let cases = [
            (body(key, 1000), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            (body("artifacts/acme/external/missing.zip", 1234), StatusCode::NOT_FOUND, "ARTIFACT_OBJECT_NOT_FOUND"),
            (body("artifacts/acme/../beta/x.zip", 1234), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            (body("artifacts/acme//x.zip", 1234), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            (body("artifacts/beta/x.zip", 1234), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            (json!({"module": "runner", "platform": "windows", "version": "1", "object_key": key, "sha256": "abc", "size_bytes": 1234}),
                StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        ];
        for (request, status, expected) in cases {
            let (got, answer) = server.post("/api/v1/artifacts/releases", t, request.clone()).await;
            assert_eq!((got, code(&answer)), (status, expected), "{request}: {answer}");
        }
        let mut wrong_hash = body(key, 1234);
        wrong_hash["sha256"] = json!("0".repeat(64));
        wrong_hash["verify_sha256"] = json!(true);
        let (status, answer) = server.post("/api/v1/artifacts/releases", t, wrong_hash.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["error"]["details"]["fieldErrors"]["sha256"][0].as_str().unwrap().contains(&sha(&bytes)), "{answer}");
        wrong_hash["verify_sha256"] = json!(false);
        wrong_hash["version"] = json!("unchecked");
        wrong_hash["object_key"] = json!("artifacts/acme/external/../x");
        assert_eq!(server.post("/api/v1/artifacts/releases", t, wrong_hash).await.0, StatusCode::BAD_REQUEST);
        let mut checked = body(&format!("/{key}"), 1234);
        checked["verify_sha256"] = json!(true);
        let (status, r) = server.post("/api/v1/artifacts/releases", t, checked).await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!((r["data"]["object_key"].clone(), r["data"]["sha256"].clone()), (json!(key), json!(sha(&bytes))),
            "leading / dropped, hash lower-cased");
        let (status, again) = server.post("/api/v1/artifacts/releases", t,
            json!({"module": "runner", "platform": "windows", "version": "9", "object_key": key, "sha256": sha(&bytes), "size_bytes": 1234})).await;
        assert_eq!((status, code(&again)), (StatusCode::CONFLICT, "ALREADY_EXISTS"), "one object, one release");
    }

    async fn assignments_follow_the_rules_and_are_replaced_atomically(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &admin.access_token;
        let r1 = release(&server, t, "module=runner&platform=windows&version=1", file(10)).await["id"].as_i64().unwrap();
        let r2 = release(&server, t, "module=runner&platform=windows&version=2", file(10)).await["id"].as_i64().unwrap();
        let beta = release(&server, t, "module=runner&platform=windows&version=3&channel=beta", file(10)).await["id"].as_i64().unwrap();
        let draft = release(&server, t, "module=runner&platform=windows&version=4&status=draft", file(10)).await["id"].as_i64().unwrap();
        let body = |user: Option<&str>, release: i64| json!({"user_id": user, "module": "runner", "platform": "WINDOWS", "release_id": release});
        for (request, status, expected) in [
            (body(None, beta), StatusCode::CONFLICT, "ARTIFACT_SCOPE_MISMATCH"),
            (body(None, draft), StatusCode::CONFLICT, "ARTIFACT_RELEASE_NOT_ACTIVE"),
            (body(None, 999_999), StatusCode::NOT_FOUND, "ARTIFACT_RELEASE_NOT_FOUND"),
            (body(None, 0), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        ] {
            let (got, answer) = server.post("/api/v1/artifacts/assign", t, request.clone()).await;
            assert_eq!((got, code(&answer)), (status, expected), "{request}: {answer}");
        }
        let (status, default) = server.post("/api/v1/artifacts/assign", t, body(None, r1)).await;
        assert_eq!(status, StatusCode::CREATED, "{default}");
        assert_eq!((default["data"]["is_default"].clone(), default["data"]["user_id"].clone(), default["data"]["platform"].clone()),
            (json!(true), json!(null), json!("windows")));
        let effective = |user: &'static str| {
            let server = &server;
            async move {
                let (status, e) = server.get(&format!("/api/v1/artifacts/assign/{user}/runner?platform=windows"), t).await;
                assert_eq!(status, StatusCode::OK, "{e}");
                e["data"].clone()
            }
        };
        let e = effective("u-1").await;
        assert_eq!((e["user_assignment"].clone(), e["effective_assignment"]["release_id"].clone()), (json!(null), json!(r1)));
        let (status, own) = server.post("/api/v1/artifacts/assign", t, body(Some("u-1"), r2)).await;
        assert_eq!((status, own["data"]["user_id"].clone(), own["data"]["is_default"].clone()), (StatusCode::CREATED, json!("u-1"), json!(false)));
        let e = effective("u-1").await;
        assert_eq!((e["effective_assignment"]["release_id"].clone(), e["default_assignment"]["release_id"].clone()), (json!(r2), json!(r1)),
            "the user's own wins over the default: {e}");
        assert_eq!(effective("u-2").await["effective_assignment"]["release_id"], r1, "others get the default");
        let (_, none) = server.get("/api/v1/artifacts/assign/u-1/runner?channel=beta", t).await;
        assert_eq!(none["data"], json!({"user_assignment": null, "default_assignment": null, "effective_assignment": null}));

        // Many assigns of one scope at once: every one answers 201, one row is left.
        let racers = (0..16).map(|i| server.post("/api/v1/artifacts/assign", t, body(Some("u-3"), if i % 2 == 0 { r1 } else { r2 })));
        for (status, answer) in futures::future::join_all(racers).await {
            assert_eq!(status, StatusCode::CREATED, "{answer}");
        }
        let (_, rows) = server.get("/api/v1/artifacts/assignments?module=runner", t).await;
        let rows = rows["data"].as_array().unwrap().clone();
        assert_eq!(rows.iter().filter(|r| r["user_id"] == "u-3").count(), 1, "{rows:?}");
        assert_eq!(rows.len(), 3, "the default, u-1 and u-3: {rows:?}");
        let replaced = server.post("/api/v1/artifacts/assign", t, body(None, r2)).await.1;
        assert_eq!((replaced["data"]["id"].clone(), replaced["data"]["release_id"].clone()), (default["data"]["id"].clone(), json!(r2)),
            "the default was replaced in place");
    }

    async fn local_download_links_are_signed_bound_and_expire(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &admin.access_token;
        let bytes = file(300_000);
        let r = release(&server, t, "module=runner&platform=windows&version=1", bytes.clone()).await;
        let other = release(&server, t, "module=runner&platform=windows&version=2", file(5)).await;
        let (key, other_key) = (r["object_key"].as_str().unwrap(), other["object_key"].as_str().unwrap());
        let acme = TenantId::trusted("acme");
        let now = chrono::Utc::now().timestamp_millis();
        let (url, expires) = download::url_for(server.state(), &acme, key, now).await.unwrap();
        assert_eq!(expires, now + 300_000, "the configured TTL");
        assert!(url.starts_with(&format!("{}/api/v1/artifacts/download?", server.url)), "{url}");
        let res = server.http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-length"], bytes.len().to_string().as_str());
        assert_eq!(res.headers()["content-type"], "application/octet-stream");
        assert_eq!(sha(&res.bytes().await.unwrap()), sha(&bytes), "no token needed: the link is the credential");

        let get = |url: String| {
            let server = &server;
            async move {
                let res = server.http.get(&url).send().await.unwrap();
                let status = res.status();
                (status, res.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let sig_at = url.find("sig=").unwrap() + 4;
        let flipped = if &url[sig_at..sig_at + 1] == "A" { "B" } else { "A" };
        let tampered = format!("{}{flipped}{}", &url[..sig_at], &url[sig_at + 1..]);
        let encoded = |k: &str| url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>();
        let repointed = url.replace(&encoded(key), &encoded(other_key));
        assert_ne!(repointed, url);
        let foreign = download::sign_link(&ServerKey::from_secret("some-other-deployment-secret-0000"),
            &server.state().config.public_url, &acme, key, expires);
        let later = url.replace(&format!("exp={expires}"), &format!("exp={}", expires + 1_000_000));
        for bad in [tampered, repointed, foreign, later] {
            let (status, body) = get(bad.clone()).await;
            assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "DOWNLOAD_LINK_INVALID"), "{bad}: {body}");
        }
        let expired = download::sign_link(&server.state().key, &server.state().config.public_url, &acme, key, now - 1);
        let (status, body) = get(expired).await;
        assert_eq!((status, code(&body)), (StatusCode::GONE, "DOWNLOAD_LINK_EXPIRED"));
        let (status, _) = get(format!("{}/api/v1/artifacts/download?tenant=acme&key=x", server.url)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "parameters missing");

        // A link outlives nothing: the file deleted, the link finds nothing.
        let (url, _) = download::url_for(server.state(), &acme, other_key, now).await.unwrap();
        server.delete(&format!("/api/v1/artifacts/releases/{}", other["id"]), t).await;
        let (status, body) = get(url).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "ARTIFACT_OBJECT_NOT_FOUND"));
    }

    async fn other_tenants_and_non_admins_reach_nothing(backend) {
        let server = TestServer::start(backend).await;
        let a = server.user_session("alpha", "admin@alpha.example", Role::Admin).await;
        let b = server.user_session("beta", "admin@beta.example", Role::Admin).await;
        let user = server.user_session("alpha", "user@alpha.example", Role::User).await;
        let t = &a.access_token;
        let r = release(&server, t, "module=runner&platform=windows&version=1", file(10)).await;
        let id = r["id"].as_i64().unwrap();
        server.post("/api/v1/artifacts/assign", t, json!({"user_id": "u-1", "module": "runner", "platform": "windows", "release_id": id})).await;
        let bt = &b.access_token;
        for (method, path, body) in [
            (Method::PATCH, format!("/api/v1/artifacts/releases/{id}"), Some(json!({"status": "archived"}))),
            (Method::DELETE, format!("/api/v1/artifacts/releases/{id}"), None),
            (Method::POST, "/api/v1/artifacts/assign".to_owned(), Some(json!({"module": "runner", "platform": "windows", "release_id": id}))),
        ] {
            let (status, answer) = server.call(method.clone(), &path, Some(bt), body).await;
            assert_eq!((status, code(&answer)), (StatusCode::NOT_FOUND, "ARTIFACT_RELEASE_NOT_FOUND"), "{method} {path}: {answer}");
        }
        for path in ["/api/v1/artifacts/releases", "/api/v1/artifacts/assignments", "/api/v1/artifacts/download-audit"] {
            let (_, list) = server.get(path, bt).await;
            assert_eq!(list["meta"]["total"], 0, "{path}: {list}");
        }
        let (_, e) = server.get("/api/v1/artifacts/assign/u-1/runner", bt).await;
        assert_eq!(e["data"]["effective_assignment"], json!(null), "B sees none of A's assignments");
        let (_, still) = server.get("/api/v1/artifacts/releases", t).await;
        assert_eq!(still["data"][0]["status"], "active", "nothing changed for A");
        // B can use the same names: releases are per tenant.
        release(&server, bt, "module=runner&platform=windows&version=1", file(10)).await;

        let u = &user.access_token;
        for (method, path, body) in [
            (Method::GET, "/api/v1/artifacts/releases".to_owned(), None),
            (Method::POST, "/api/v1/artifacts/releases".to_owned(), Some(json!({"module": "m", "platform": "w", "version": "1",
                "object_key": "artifacts/alpha/x", "sha256": "0".repeat(64), "size_bytes": 1}))),
            (Method::PATCH, format!("/api/v1/artifacts/releases/{id}"), Some(json!({"status": "archived"}))),
            (Method::DELETE, format!("/api/v1/artifacts/releases/{id}"), None),
            (Method::POST, "/api/v1/artifacts/assign".to_owned(), Some(json!({"module": "runner", "platform": "windows", "release_id": id}))),
            (Method::GET, "/api/v1/artifacts/assign/u-1/runner".to_owned(), None),
            (Method::GET, "/api/v1/artifacts/assignments".to_owned(), None),
            (Method::GET, "/api/v1/artifacts/download-audit".to_owned(), None),
        ] {
            let (status, answer) = server.call(method.clone(), &path, Some(u), body).await;
            assert_eq!((status, code(&answer)), (StatusCode::FORBIDDEN, "FORBIDDEN"), "{method} {path}: {answer}");
        }
        let (status, _) = upload(&server, u, "module=m&platform=w&version=9", file(10)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(stored_files(&server).len(), 2, "A's and B's, nothing from the refused user");
        let (status, _) = upload(&server, "not-a-token", "module=m&platform=w&version=9", file(10)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    async fn the_download_audit_filters_by_vm_module_result_and_time(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &admin.access_token;
        let rows = [
            ("vm-aaaaaaaa", "runner", "allowed", 1_000),
            ("vm-aaaaaaaa", "runner", "denied", 2_000),
            ("vm-bbbbbbbb", "helper", "denied", 3_000),
            ("vm-bbbbbbbb", "runner", "error", 4_000),
        ];
        for (tenant, (vm, module, result, at)) in rows.iter().map(|r| ("acme", *r)).chain([("other", rows[0])]) {
            let row = audit::Model {
                id: 0, tenant_id: tenant.into(), lease_id: None, lease_jti: None, user_id: Some("u-1".into()),
                vm_uuid: vm.into(), module: module.into(), platform: "windows".into(), channel: "stable".into(),
                release_id: None, event_type: if result == "allowed" { "resolve_success" } else { "resolve_denied" }.into(),
                result: result.into(), reason: (result != "allowed").then(|| "lease_expired".into()),
                request_ip: Some("127.0.0.1".into()), url_expires_at: None,
                metadata: json!({"error_code": "LEASE_EXPIRED"}).to_string(), created_at: at,
            };
            server.state().db.write(async |txn| store::insert_audit(txn, row).await).await.unwrap();
        }
        let ats = |q: &'static str| {
            let server = &server;
            async move {
                let (status, page) = server.get(&format!("/api/v1/artifacts/download-audit?{q}"), t).await;
                assert_eq!(status, StatusCode::OK, "{q}: {page}");
                page["data"].as_array().unwrap().iter().map(|r| r["created_at"].as_str().unwrap()[17..23].to_owned()).collect::<Vec<_>>()
            }
        };
        assert_eq!(ats("").await, ["04.000", "03.000", "02.000", "01.000"], "newest first, this tenant's only");
        assert_eq!(ats("vm_uuid=VM-AAAAAAAA").await, ["02.000", "01.000"]);
        assert_eq!(ats("module=runner&result=denied").await, ["02.000"]);
        assert_eq!(ats("result=error").await, ["04.000"]);
        assert_eq!(ats("from=2000&to=4000").await, ["03.000", "02.000"]);
        assert_eq!(ats("limit=1&page=2").await, ["03.000"]);
        assert_eq!(ats("user_id=u-1&result=error").await, ["04.000"]);
        assert!(ats("user_id=u-2").await.is_empty());
        let (_, one) = server.get("/api/v1/artifacts/download-audit?result=allowed", t).await;
        assert_eq!(one["data"][0]["metadata"]["error_code"], "LEASE_EXPIRED");
        assert_eq!(one["data"][0]["result"], "allowed");
        for bad in ["result=maybe", "from=x", "limit=0"] {
            assert_eq!(server.get(&format!("/api/v1/artifacts/download-audit?{bad}"), t).await.0, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}

both_backends! {
    async fn on_s3_uploads_go_in_parts_and_downloads_are_presigned(backend) {
        let s3 = botmox_testkit::s3::S3Server::start();
        let server = TestServer::start_with(backend, |s| s3.configure(s)).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &admin.access_token;
        let (_, health) = server.call(Method::GET, "/api/v1/health", None, None).await;
        assert_eq!((health["data"]["blob_store"].clone(), health["data"]["blob_store_ready"].clone()), (json!("s3"), json!(true)), "{health}");

        // Larger than two parts, so the multipart upload sends three.
        let bytes = file(2 * botmox_server::blob::PART_SIZE + 1_234_567);
        let r = release(&server, t, "module=runner&platform=windows&version=1.0", bytes.clone()).await;
        assert_eq!((r["sha256"].clone(), r["size_bytes"].clone()), (json!(sha(&bytes)), json!(bytes.len())));
        let key = r["object_key"].as_str().unwrap();
        let in_bucket = std::fs::read(s3.bucket_dir().join(key)).unwrap_or_else(|e| panic!("{key} in the bucket: {e}; {}", s3.log_text()));
        assert_eq!(sha(&in_bucket), sha(&bytes));

        let now = chrono::Utc::now().timestamp_millis();
        let (url, expires) = download::url_for(server.state(), &TenantId::trusted("acme"), key, now).await.unwrap();
        assert!(url.starts_with(&s3.endpoint) && url.contains("X-Amz-Signature="), "a presigned S3 URL: {url}");
        assert_eq!(expires, now + 300_000);
        let res = server.http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", s3.log_text());
        assert_eq!(sha(&res.bytes().await.unwrap()), sha(&bytes), "the presigned GET serves the file");
        let forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
        assert_ne!(server.http.get(&forged).send().await.unwrap().status(), StatusCode::OK);

        // Registration checks the object in the bucket; deletion removes it.
        let (status, registered) = server.post("/api/v1/artifacts/releases", t, json!({"module": "runner", "platform": "windows",
            "version": "1.0-copy", "object_key": key, "sha256": sha(&bytes), "size_bytes": bytes.len()})).await;
        assert_eq!((status, code(&registered)), (StatusCode::CONFLICT, "ALREADY_EXISTS"), "one object, one release");
        let (status, body) = server.delete(&format!("/api/v1/artifacts/releases/{}", r["id"]), t).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!s3.bucket_dir().join(key).exists(), "the object is gone from the bucket");
    }
}

both_backends! {
    async fn download_links_name_the_public_s3_endpoint_when_one_is_set(backend) {
        // The server reaches the store at 127.0.0.1; clients are told another name of it.
        let s3 = botmox_testkit::s3::S3Server::start();
        let public = s3.endpoint.replace("127.0.0.1", "localhost");
        let server = TestServer::start_with(backend, |s| {
            s3.configure(s);
            s.s3_public_endpoint = Some(public.clone());
        })
        .await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let bytes = file(4096);
        let r = release(&server, &admin.access_token, "module=runner&platform=windows&version=1.0", bytes.clone()).await;
        let key = r["object_key"].as_str().unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        let (url, _) = download::url_for(server.state(), &TenantId::trusted("acme"), key, now).await.unwrap();
        assert!(url.starts_with(&format!("{public}/")), "signed for the public endpoint: {url}");
        let res = server.http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", s3.log_text());
        assert_eq!(sha(&res.bytes().await.unwrap()), sha(&bytes), "the store accepts the signature for its public name");
    }
}

/// A VM of `user`'s, a perpetual licence, an entitlement to `module`, and a lease: its token
/// and id.
async fn lease_for(
    server: &TestServer,
    admin: &botmox_testkit::Session,
    user: &botmox_testkit::Session,
    vm: &str,
    module: &str,
) -> (String, String) {
    let (status, body) = server
        .post(
            "/api/v1/vm/register",
            &user.access_token,
            json!({"vm_uuid": vm}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server
        .create(
            "/api/v1/license/tenant-licenses",
            &admin.access_token,
            json!({"type": "perpetual"}),
        )
        .await;
    let (status, body) = server
        .post(
            "/api/v1/license/entitlements",
            &admin.access_token,
            json!({"user_id": user.user_id, "modules": [module]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, lease) = server.post("/api/v1/license/lease", &user.access_token,
        json!({"vm_uuid": vm, "agent_id": "agent-1", "runner_id": "runner-1", "module": module})).await;
    assert_eq!(status, StatusCode::CREATED, "{lease}");
    (
        lease["data"]["token"].as_str().unwrap().to_owned(),
        lease["data"]["lease_id"].as_str().unwrap().to_owned(),
    )
}

both_backends! {
    async fn resolve_download_checks_every_step_in_order_and_audits_each_attempt(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let stranger = server.user_session("beta", "admin@beta.example", Role::Admin).await;
        let t = &admin.access_token;
        let vm = "4c4c4544-0042-3510-8052-b4c04f565931";
        let (token, lease_id) = lease_for(&server, &admin, &alice, vm, "runner").await;
        let v1 = file(70_000);
        let r1 = release(&server, t, "module=runner&platform=windows&version=1", v1.clone()).await;
        let r2 = release(&server, t, "module=runner&platform=windows&version=2", file(80_000)).await;
        let (id1, id2) = (r1["id"].as_i64().unwrap(), r2["id"].as_i64().unwrap());

        let resolve = |who: &'static str, body: Value| {
            let server = &server;
            let token = match who { "alice" => alice.access_token.clone(), "admin" => admin.access_token.clone(), _ => stranger.access_token.clone() };
            async move { server.post("/api/v1/artifacts/resolve-download", &token, body).await }
        };
        let body = |token: &str, vm: &str, module: &str| json!({"lease_token": token, "vm_uuid": vm, "module": module, "platform": "Windows"});
        let expect = |(status, answer): (StatusCode, Value), want: StatusCode, want_code: &str| {
            assert_eq!((status, code(&answer).to_owned()), (want, want_code.to_owned()), "{answer}");
        };

        // 5: nothing assigned yet.
        expect(resolve("alice", body(&token, vm, "runner")).await, StatusCode::NOT_FOUND, "ARTIFACT_ASSIGNMENT_NOT_FOUND");
        // The tenant default, then alice's own: the user's wins.
        server.post("/api/v1/artifacts/assign", t, json!({"module": "runner", "platform": "windows", "release_id": id1})).await;
        let (status, got) = resolve("alice", body(&token, &vm.to_uppercase(), "runner")).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        let got = got["data"].clone();
        assert_eq!((got["release_id"].clone(), got["version"].clone(), got["sha256"].clone(), got["size_bytes"].clone()),
            (json!(id1), json!("1"), json!(sha(&v1)), json!(v1.len())));
        let ttl = got["url_expires_at"].as_i64().unwrap() - chrono::Utc::now().timestamp_millis();
        assert!((290_000..=300_000).contains(&ttl), "{ttl}");
        let res = server.http.get(got["download_url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(sha(&res.bytes().await.unwrap()), sha(&v1), "the link serves the assigned release");
        server.post("/api/v1/artifacts/assign", t, json!({"user_id": alice.user_id, "module": "runner", "platform": "windows", "release_id": id2})).await;
        let (status, got) = resolve("admin", body(&token, vm, "runner")).await;
        assert_eq!((status, got["data"]["release_id"].clone()), (StatusCode::OK, json!(id2)),
            "the lease's user decides, whoever in the tenant holds the token: {got}");

        // 4: the lease binds the VM and the module; the token must be genuine and this tenant's.
        expect(resolve("alice", body(&token, "another-vm-0001", "runner")).await, StatusCode::FORBIDDEN, "VM_UUID_MISMATCH");
        expect(resolve("alice", body(&token, vm, "runner-x")).await, StatusCode::FORBIDDEN, "MODULE_MISMATCH");
        let flipped = format!("{}{}", &token[..token.len() - 2], if token.ends_with("AA") { "BB" } else { "AA" });
        expect(resolve("alice", body(&flipped, vm, "runner")).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        expect(resolve("stranger", body(&token, vm, "runner")).await, StatusCode::NOT_FOUND, "LEASE_NOT_FOUND");
        // 7: the release must be active; 8: its file present.
        server.patch(&format!("/api/v1/artifacts/releases/{id2}"), t, json!({"status": "disabled"})).await;
        expect(resolve("alice", body(&token, vm, "runner")).await, StatusCode::CONFLICT, "ARTIFACT_RELEASE_NOT_ACTIVE");
        server.patch(&format!("/api/v1/artifacts/releases/{id2}"), t, json!({"status": "active"})).await;
        std::fs::remove_file(server.state().config.blob_dir().join(r2["object_key"].as_str().unwrap())).unwrap();
        expect(resolve("alice", body(&token, vm, "runner")).await, StatusCode::NOT_FOUND, "ARTIFACT_OBJECT_NOT_FOUND");
        // A body the server cannot take is refused and audited too.
        expect(resolve("alice", json!({"lease_token": token, "vm_uuid": "bad/uuid", "module": "runner", "platform": "windows"})).await,
            StatusCode::BAD_REQUEST, "BAD_REQUEST");
        // The lease's own state: expired, then revoked.
        server.execute(&format!("UPDATE execution_leases SET expires_at = 1 WHERE id = '{lease_id}'")).await.unwrap();
        expect(resolve("alice", body(&token, vm, "runner")).await, StatusCode::CONFLICT, "LEASE_EXPIRED");
        server.execute(&format!("UPDATE execution_leases SET expires_at = max_expires_at WHERE id = '{lease_id}'")).await.unwrap();
        server.post("/api/v1/license/revoke", t, json!({"lease_id": lease_id})).await;
        expect(resolve("alice", body(&token, vm, "runner")).await, StatusCode::CONFLICT, "LEASE_INACTIVE");

        // One audit row per attempt, newest first, with its reason and what was known.
        let (_, audit) = server.get("/api/v1/artifacts/download-audit?limit=200", t).await;
        let rows = audit["data"].as_array().unwrap();
        let reasons: Vec<&str> = rows.iter().map(|r| r["reason"].as_str().unwrap_or("-")).collect();
        assert_eq!(reasons, ["lease_inactive", "lease_expired", "bad_request", "artifact_object_not_found",
            "artifact_release_not_active", "unauthorized", "module_mismatch", "vm_uuid_mismatch", "-", "-",
            "artifact_assignment_not_found"], "{audit}");
        let by = |reason: &str| rows.iter().find(|r| r["reason"].as_str().unwrap_or("-") == reason).unwrap().clone();
        let ok = &rows[8];
        assert_eq!((ok["event_type"].clone(), ok["result"].clone(), ok["release_id"].clone(), ok["metadata"].clone()),
            (json!("resolve_success"), json!("allowed"), json!(id2), json!({"source": "user"})));
        assert_eq!((ok["user_id"].clone(), ok["lease_id"].clone(), ok["vm_uuid"].clone()), (json!(alice.user_id), json!(lease_id), json!(vm)),
            "the lease's user, though the admin asked");
        assert!(ok["url_expires_at"].as_i64().is_some() && ok["request_ip"] == "127.0.0.1", "{ok}");
        assert_eq!(rows[9]["metadata"], json!({"source": "tenant-default"}));
        let denied = by("artifact_release_not_active");
        assert_eq!((denied["event_type"].clone(), denied["result"].clone(), denied["release_id"].clone(), denied["metadata"].clone()),
            (json!("resolve_denied"), json!("denied"), json!(id2), json!({"error_code": "ARTIFACT_RELEASE_NOT_ACTIVE"})));
        assert_eq!((by("unauthorized")["lease_id"].clone(), by("unauthorized")["user_id"].clone()), (json!(null), json!(alice.user_id)),
            "no lease known: the caller");
        assert_eq!(by("bad_request")["vm_uuid"], "");
        let (_, theirs) = server.get("/api/v1/artifacts/download-audit?result=denied", &stranger.access_token).await;
        assert_eq!(theirs["meta"]["total"], 1, "B's own refused attempt, in B's audit: {theirs}");
        let (_, filtered) = server.get(&format!("/api/v1/artifacts/download-audit?vm_uuid={vm}&result=allowed"), t).await;
        assert_eq!(filtered["meta"]["total"], 2);

        // No link goes out unaudited: when the row cannot be written, the answer is 502.
        let (fresh, _) = lease_for(&server, &admin, &alice, "second-vm-0001", "runner").await;
        std::fs::write(server.state().config.blob_dir().join(r2["object_key"].as_str().unwrap()), b"back").unwrap();
        assert_eq!(resolve("alice", body(&fresh, "second-vm-0001", "runner")).await.0, StatusCode::OK);
        server.execute("DROP TABLE artifact_download_audit").await.unwrap();
        let (status, failed) = resolve("alice", body(&fresh, "second-vm-0001", "runner")).await;
        assert_eq!((status, code(&failed)), (StatusCode::BAD_GATEWAY, "ARTIFACT_AUDIT_WRITE_FAILED"), "{failed}");
        assert_eq!(failed["error"]["details"]["outcome"], "OK");
        assert!(failed.get("data").is_none());
    }
}

both_backends! {
    async fn botmox_artifact_push_streams_a_file_with_an_api_token(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let (status, token) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": "ci", "role": "admin"})).await;
        assert_eq!(status, StatusCode::CREATED, "{token}");
        let token = token["data"]["token"].as_str().unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runner-2.1.0.zip");
        let bytes = file(1_500_000);
        std::fs::write(&path, &bytes).unwrap();
        let push = |version: &str| {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_botmox"))
                .args(["artifact", "push"]).arg(&path)
                .args(["--module", "runner", "--platform", "windows", "--version", version, "--channel", "beta"])
                .env("BOTMOX_SERVER", &server.url)
                .env("BOTMOX_TOKEN", &token)
                .output()
        };
        let out = push("2.1.0").await.expect("run botmox");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains(&sha(&bytes)) && stdout.contains("1500000 bytes"), "{stdout}");
        assert!(stderr.contains("100% 1.4/1.4 MiB"), "the progress bar: {stderr}");
        let (_, list) = server.get("/api/v1/artifacts/releases?channel=beta", &admin.access_token).await;
        assert_eq!(list["meta"]["total"], 1);
        let r = &list["data"][0];
        assert_eq!((r["sha256"].clone(), r["size_bytes"].clone(), r["version"].clone(), r["created_by"].as_str().unwrap().starts_with("token:")),
            (json!(sha(&bytes)), json!(bytes.len()), json!("2.1.0"), true), "{r}");

        let again = push("2.1.0").await.expect("run botmox");
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("ALREADY_EXISTS"), "{}", String::from_utf8_lossy(&again.stderr));
    }
}
