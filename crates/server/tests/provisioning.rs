//! Provisioning over the API, on SQLite and PostgreSQL: profiles and playbooks per owner
//! (validation, duplicate names, one default even under a burst of concurrent changes, a
//! write-only Windows password), provisioning tokens only for a VM the caller owns, the VM's
//! validate/report flow with idempotent repeats and a completion that uses the token once
//! under concurrent reports, progress for the owner only and on the event stream, and the
//! provisioning token as the bearer of exactly the two routes `START.ps1` calls.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use botmox_proto::auth::Role;
use botmox_testkit::fixtures::unattend_profile as config;
use botmox_testkit::{Backend, Session, TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VM: &str = "4c4c4544-0042-3510-8052-b4c04f565931";
const PUBLIC_URL: &str = "https://botmox.example.com/";

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// A server with a configured public URL and room for many public calls from one address.
async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |s| {
        s.public_url = Some(PUBLIC_URL.parse().unwrap());
        s.rate_limit_public = Some(100_000);
    })
    .await
}

const PLAYBOOK: &str = "name: Standard\nroles:\n  - role: base-system\n  - role: custom-thing\n";

async fn register(server: &TestServer, s: &Session, uuid: &str) {
    let (status, vm) = server
        .post(
            "/api/v1/vm/register",
            &s.access_token,
            json!({"vm_uuid": uuid}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{vm}");
}

fn generate_body(uuid: &str, extra: Value) -> Value {
    let mut body = json!({"vm_uuid": uuid, "ip": {"address": "10.0.0.5", "gateway": "10.0.0.1"}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn generate(
    server: &TestServer,
    s: &Session,
    uuid: &str,
    extra: Value,
) -> (StatusCode, Value) {
    server
        .post(
            "/api/v1/provisioning/generate-iso-payload",
            &s.access_token,
            generate_body(uuid, extra),
        )
        .await
}

/// A generate that must succeed: its `data`.
async fn issued(server: &TestServer, s: &Session, uuid: &str, extra: Value) -> Value {
    let (status, body) = generate(server, s, uuid, extra).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// A Windows release of `module` on `channel`, registered and assigned as the tenant's
/// default by an admin of the tenant.
async fn assign_release(server: &TestServer, tenant: &str, module: &str, channel: &str) {
    let admin = server
        .user_session(
            tenant,
            &format!("{module}-{channel}@{tenant}.example"),
            Role::Admin,
        )
        .await;
    let t = &admin.access_token;
    let key = format!("artifacts/{tenant}/external/{module}-{channel}.exe");
    let bytes = format!("{module} {channel}").into_bytes();
    server
        .state()
        .blob
        .store()
        .put(&key.as_str().into(), bytes.clone().into())
        .await
        .unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let (status, release) = server
        .post(
            "/api/v1/artifacts/releases",
            t,
            json!({"module": module, "platform": "windows", "channel": channel, "version": "1.0.0",
                "object_key": key, "sha256": sha, "size_bytes": bytes.len()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    let (status, assigned) = server
        .post(
            "/api/v1/artifacts/assign",
            t,
            json!({"module": module, "platform": "windows", "channel": channel,
                "release_id": release["data"]["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{assigned}");
}

fn file(payload: &Value, name: &str) -> Option<String> {
    let b64 = payload["files"][name].as_str()?;
    Some(String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap())
}

async fn public(server: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    server.call(Method::POST, path, None, Some(body)).await
}

async fn report(
    server: &TestServer,
    token: &str,
    step: &str,
    status: &str,
    details: Value,
) -> (StatusCode, Value) {
    public(
        server,
        "/api/v1/provisioning/report-progress",
        json!({"token": token, "vm_uuid": VM, "step": step, "status": status, "details": details}),
    )
    .await
}

async fn validate(server: &TestServer, token: &str) -> (StatusCode, Value) {
    public(
        server,
        "/api/v1/provisioning/validate-token",
        json!({"token": token, "vm_uuid": VM}),
    )
    .await
}

both_backends! {
    async fn profiles_are_validated_owned_unique_and_keep_their_password_secret(backend) {
        let server = start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let bob = server.user_session("acme", "bob@acme.example", Role::User).await;
        let t = &alice.access_token;

        let (status, created) = server.post("/api/v1/unattend-profiles", t,
            json!({"name": "Main", "is_default": true, "config": config(Some("s3cret-pw"))})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        assert_eq!(created["data"]["passwordSet"], true);
        assert_eq!(created["data"]["config"]["xmlTemplate"], "<unattend/>", "unknown keys are kept");
        assert!(created["data"]["config"]["user"].get("password").is_none());
        for path in ["/api/v1/unattend-profiles".to_owned(), format!("/api/v1/unattend-profiles/{id}")] {
            let (status, read) = server.get(&path, t).await;
            assert_eq!(status, StatusCode::OK);
            assert!(!read.to_string().contains("s3cret-pw"), "{read}");
        }
        assert!(!created.to_string().contains("s3cret-pw"));

        // A PUT without the password keeps it; with one it changes; neither shows it.
        let (status, updated) = server.put(&format!("/api/v1/unattend-profiles/{id}"), t,
            json!({"config": config(None)})).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert!(!updated.to_string().contains("s3cret-pw") && updated["data"]["passwordSet"] == true);
        register(&server, &alice, VM).await;
        let payload = issued(&server, &alice, VM, json!({"playbook_id": "none"})).await;
        let xml = file(&payload, "autounattend.xml").unwrap();
        assert!(xml.contains(&botmox_unattend::encode_password("s3cret-pw", "Password")), "kept password in the XML");
        let (_, updated) = server.put(&format!("/api/v1/unattend-profiles/{id}"), t,
            json!({"config": config(Some("other-pw"))})).await;
        assert!(!updated.to_string().contains("other-pw"));
        let payload = issued(&server, &alice, VM, json!({"playbook_id": "none"})).await;
        assert!(file(&payload, "autounattend.xml").unwrap().contains(&botmox_unattend::encode_password("other-pw", "Password")));
        let (_, cleared) = server.put(&format!("/api/v1/unattend-profiles/{id}"), t,
            json!({"config": config(Some(""))})).await;
        assert_eq!(cleared["data"]["passwordSet"], false);

        // Bad configs and names are 400 and change nothing.
        let mut bad = config(None);
        bad["computerName"] = json!({"mode": "custom", "customName": "12345"});
        let (status, refused) = server.post("/api/v1/unattend-profiles", t, json!({"name": "Bad", "config": bad})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert!(refused.to_string().contains("config.computerName.customName"), "{refused}");
        let (status, _) = server.post("/api/v1/unattend-profiles", t, json!({"name": " ", "config": config(None)})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = server.put(&format!("/api/v1/unattend-profiles/{id}"), t, json!({"config": {"user": {}}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Names are unique per owner: another user may reuse one.
        let (status, dup) = server.post("/api/v1/unattend-profiles", t, json!({"name": "Main", "config": config(None)})).await;
        assert_eq!((status, code(&dup)), (StatusCode::CONFLICT, "DUPLICATE_NAME"));
        let second = server.create("/api/v1/unattend-profiles", t, json!({"name": "Second", "config": config(None)})).await;
        let (status, dup) = server.put(&format!("/api/v1/unattend-profiles/{second}"), t, json!({"name": "Main"})).await;
        assert_eq!((status, code(&dup)), (StatusCode::CONFLICT, "DUPLICATE_NAME"));
        server.create("/api/v1/unattend-profiles", &bob.access_token, json!({"name": "Main", "config": config(None)})).await;

        // One default: making the second the default clears the first.
        let (status, _) = server.put(&format!("/api/v1/unattend-profiles/{second}"), t, json!({"is_default": true})).await;
        assert_eq!(status, StatusCode::OK);
        let (_, list) = server.get("/api/v1/unattend-profiles", t).await;
        let defaults: Vec<&str> = list["data"].as_array().unwrap().iter()
            .filter(|p| p["is_default"] == true).map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(defaults, [second.as_str()]);
        assert_eq!(list["data"][0]["id"], id.as_str(), "oldest first");

        // Another user's profile does not exist for bob.
        for (method, body) in [(Method::GET, None), (Method::PUT, Some(json!({"name": "x"}))), (Method::DELETE, None)] {
            let (status, refused) = server.call(method, &format!("/api/v1/unattend-profiles/{id}"), Some(&bob.access_token), body).await;
            assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "PROFILE_NOT_FOUND"));
        }
        let (status, gone) = server.delete(&format!("/api/v1/unattend-profiles/{id}"), t).await;
        assert_eq!((status, gone["data"]["deleted"].clone()), (StatusCode::OK, json!(true)));
        assert_eq!(server.delete(&format!("/api/v1/unattend-profiles/{id}"), t).await.0, StatusCode::NOT_FOUND);
    }

    async fn concurrent_defaults_leave_exactly_one(backend) {
        let server = start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let t = alice.access_token.clone();
        let creates = (0..8).map(|i| {
            let (server, t) = (&server, &t);
            async move {
                server.post("/api/v1/unattend-profiles", t,
                    json!({"name": format!("P{i}"), "is_default": true, "config": config(None)})).await
            }
        });
        for (status, body) in futures::future::join_all(creates).await {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (_, list) = server.get("/api/v1/unattend-profiles", &t).await;
        let ids: Vec<String> = list["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(list["data"].as_array().unwrap().iter().filter(|p| p["is_default"] == true).count(), 1);
        // And concurrent updates of the flag, on playbooks too.
        let sets = ids.iter().map(|id| {
            let (server, t) = (&server, &t);
            async move { server.put(&format!("/api/v1/unattend-profiles/{id}"), t, json!({"is_default": true})).await }
        });
        for (status, body) in futures::future::join_all(sets).await {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (_, list) = server.get("/api/v1/unattend-profiles", &t).await;
        assert_eq!(list["data"].as_array().unwrap().iter().filter(|p| p["is_default"] == true).count(), 1);
        let creates = (0..8).map(|i| {
            let (server, t) = (&server, &t);
            async move {
                server.post("/api/v1/playbooks", t, json!({"name": format!("B{i}"), "is_default": true, "content": PLAYBOOK})).await
            }
        });
        for (status, body) in futures::future::join_all(creates).await {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (_, list) = server.get("/api/v1/playbooks", &t).await;
        assert_eq!(list["data"].as_array().unwrap().iter().filter(|p| p["is_default"] == true).count(), 1);
    }

    async fn playbooks_are_checked_owned_and_unique(backend) {
        let server = start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let bob = server.user_session("acme", "bob@acme.example", Role::User).await;
        let t = &alice.access_token;

        let (status, check) = server.post("/api/v1/playbooks/validate", t, json!({"content": PLAYBOOK})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((check["data"]["valid"].clone(), check["data"]["warnings"].as_array().unwrap().len()), (json!(true), 1));
        let (status, check) = server.post("/api/v1/playbooks/validate", t, json!({"content": "roles: 3"})).await;
        assert_eq!((status, check["data"]["valid"].clone()), (StatusCode::OK, json!(false)));

        let (status, refused) = server.post("/api/v1/playbooks", t, json!({"name": "Bad", "content": "name: x\nroles: []\n"})).await;
        assert_eq!((status, code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PLAYBOOK"), "{refused}");
        assert!(refused["error"]["details"]["errors"].as_array().is_some_and(|e| !e.is_empty()));
        assert!(refused["error"]["details"]["warnings"].is_array());
        let (_, list) = server.get("/api/v1/playbooks", t).await;
        assert_eq!(list["data"], json!([]), "nothing written");

        let id = server.create("/api/v1/playbooks", t, json!({"name": "Std", "content": PLAYBOOK})).await;
        let (status, dup) = server.post("/api/v1/playbooks", t, json!({"name": "Std", "content": PLAYBOOK})).await;
        assert_eq!((status, code(&dup)), (StatusCode::CONFLICT, "DUPLICATE_NAME"));
        let (status, refused) = server.put(&format!("/api/v1/playbooks/{id}"), t, json!({"content": "- not a mapping"})).await;
        assert_eq!((status, code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PLAYBOOK"));
        let (status, changed) = server.put(&format!("/api/v1/playbooks/{id}"), t, json!({"name": "Renamed", "is_default": true})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((changed["data"]["name"].clone(), changed["data"]["is_default"].clone(), changed["data"]["content"].clone()),
            (json!("Renamed"), json!(true), json!(PLAYBOOK)));
        for (method, body) in [(Method::GET, None), (Method::PUT, Some(json!({"name": "x"}))), (Method::DELETE, None)] {
            let (status, refused) = server.call(method, &format!("/api/v1/playbooks/{id}"), Some(&bob.access_token), body).await;
            assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "PLAYBOOK_NOT_FOUND"));
        }
        let (status, gone) = server.delete(&format!("/api/v1/playbooks/{id}"), t).await;
        assert_eq!((status, gone["data"]["deleted"].clone()), (StatusCode::OK, json!(true)));
        assert_eq!(server.get(&format!("/api/v1/playbooks/{id}"), t).await.0, StatusCode::NOT_FOUND);
    }

    async fn payloads_pick_profiles_and_playbooks_as_asked_for_owned_vms_only(backend) {
        let server = start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let bob = server.user_session("acme", "bob@acme.example", Role::User).await;
        let eve = server.user_session("evil", "eve@evil.example", Role::Admin).await;
        register(&server, &alice, VM).await;

        // No profile and no default profile: a clear 400.
        let (status, refused) = generate(&server, &alice, VM, json!({})).await;
        assert_eq!((status, code(&refused)), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("default profile"));
        let profile = server.create("/api/v1/unattend-profiles", &alice.access_token,
            json!({"name": "Main", "is_default": true, "config": config(None)})).await;
        let playbook = server.create("/api/v1/playbooks", &alice.access_token,
            json!({"name": "Std", "is_default": true, "content": PLAYBOOK})).await;

        // A playbook needs its runner module among the VM's software.
        let (status, refused) = generate(&server, &alice, VM, json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("runner"), "{refused}");
        assign_release(&server, "acme", "runner", "stable").await;
        assign_release(&server, "acme", "farm-bot", "beta").await;
        assign_release(&server, "acme", "farm-bot", "stable").await;

        // Defaults apply when nothing is named.
        let payload = issued(&server, &alice, &VM.to_uppercase(), json!({})).await;
        let keys: Vec<&str> = payload.as_object().unwrap().keys().map(String::as_str).collect();
        for key in ["files", "token", "tokenId", "expiresAt", "computerName", "username", "vmUuid", "playbookId"] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
        assert_eq!((payload["vmUuid"].as_str(), payload["playbookId"].as_str()), (Some(VM), Some(playbook.as_str())));
        assert_eq!((payload["computerName"].as_str(), payload["username"].as_str()), (Some("WIN-PC"), Some("Operator")));
        assert_eq!(file(&payload, "playbook.yml").as_deref(), Some(PLAYBOOK));
        let provision: Value = serde_json::from_str(&file(&payload, "provision.json").unwrap()).unwrap();
        assert_eq!((provision["token"].clone(), provision["vm_uuid"].clone(), provision["api_endpoint"].clone()),
            (payload["token"].clone(), json!(VM), json!("https://botmox.example.com")));
        assert!(file(&payload, "START.ps1").is_some() && file(&payload, "setup.ps1").is_some());
        // What START.ps1 fetches: each assigned Windows module once (stable over beta), the
        // playbook's runner marked.
        assert_eq!(provision["software"], json!([
            {"module": "farm-bot", "platform": "windows", "channel": "stable", "file": "farm-bot.exe"},
            {"module": "runner", "platform": "windows", "channel": "stable", "file": "runner.exe", "runner": true},
        ]));
        let expires = chrono::DateTime::parse_from_rfc3339(payload["expiresAt"].as_str().unwrap()).unwrap();
        let days = (expires.timestamp() - chrono::Utc::now().timestamp()) as f64 / 86_400.0;
        assert!((29.9..30.1).contains(&days), "the configured 30-day TTL: {days}");

        // "none" means no playbook; a saved profile by id; an inline profile wins.
        let payload = issued(&server, &alice, VM, json!({"playbook_id": "none", "profile_id": profile})).await;
        assert_eq!((file(&payload, "playbook.yml"), payload["playbookId"].clone()), (None, Value::Null));
        let mut inline = config(None);
        inline["computerName"] = json!({"mode": "custom", "customName": "BOT-7"});
        let payload = issued(&server, &alice, VM, json!({"profile_config": inline, "profile_id": profile})).await;
        assert_eq!(payload["computerName"], "BOT-7");
        let (status, refused) = generate(&server, &alice, VM, json!({"profile_id": "nope"})).await;
        assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "PROFILE_NOT_FOUND"));
        let (status, refused) = generate(&server, &alice, VM, json!({"playbook_id": "nope"})).await;
        assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "PLAYBOOK_NOT_FOUND"));
        let (status, _) = generate(&server, &alice, VM, json!({"ip": {"address": "10.0.0.5", "gateway": "10.9.0.1"}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Only for the caller's own registered, active VM.
        let inline = json!({"profile_config": config(None)});
        let (status, refused) = generate(&server, &bob, VM, inline.clone()).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "VM_OWNER_MISMATCH"));
        let (status, refused) = generate(&server, &eve, VM, inline.clone()).await;
        assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "VM_NOT_REGISTERED"));
        let (status, refused) = generate(&server, &alice, "unregistered-vm-1", inline.clone()).await;
        assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "VM_NOT_REGISTERED"));
        let (_, tokens) = server.get(&format!("/api/v1/provisioning/tokens?vm_uuid={VM}"), &alice.access_token).await;
        assert_eq!(tokens["data"].as_array().unwrap().len(), 3, "refusals issued nothing");
        assert!(!tokens.to_string().contains(payload["token"].as_str().unwrap()), "no token strings in lists");
        let statuses: Vec<&str> = tokens["data"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["active", "revoked", "revoked"], "one active token per VM, newest first");
        assert_eq!(server.get(&format!("/api/v1/provisioning/tokens?vm_uuid={VM}"), &bob.access_token).await.0, StatusCode::NOT_FOUND);
        let (status, _) = server.post(&format!("/api/v1/vm/{VM}/deactivate"), &alice.access_token, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, refused) = generate(&server, &alice, VM, inline).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "VM_INACTIVE"));
    }

    async fn without_a_configured_public_url_generating_is_a_clear_400(backend) {
        let server = TestServer::start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        register(&server, &alice, VM).await;
        let (status, refused) = generate(&server, &alice, VM, json!({"profile_config": config(None)})).await;
        assert_eq!((status, code(&refused)), (StatusCode::BAD_REQUEST, "PUBLIC_URL_REQUIRED"), "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("public_url"));
        let (_, tokens) = server.get(&format!("/api/v1/provisioning/tokens?vm_uuid={VM}"), &alice.access_token).await;
        assert_eq!(tokens["data"], json!([]));
    }

    async fn a_vm_validates_and_reports_every_step_once(backend) {
        let server = start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let bob = server.user_session("acme", "bob@acme.example", Role::User).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        register(&server, &alice, VM).await;
        let first = issued(&server, &alice, VM, json!({"profile_config": config(None)})).await;
        let payload = issued(&server, &alice, VM, json!({"profile_config": config(None)})).await;
        let token = payload["token"].as_str().unwrap();

        // The earlier token was superseded; forged and mismatched ones say why.
        let (status, refused) = validate(&server, first["token"].as_str().unwrap()).await;
        assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "TOKEN_INVALID"));
        assert_eq!(refused["error"]["message"], "Token status is \"revoked\"");
        let (_, refused) = validate(&server, &format!("{token}x")).await;
        assert_eq!(refused["error"]["message"], "Invalid or expired token signature");
        let (_, refused) = public(&server, "/api/v1/provisioning/validate-token", json!({"token": token, "vm_uuid": "another-vm-01"})).await;
        assert_eq!(refused["error"]["message"], "Token VM UUID mismatch");

        let (status, ok) = validate(&server, token).await;
        assert_eq!(status, StatusCode::OK, "{ok}");
        assert_eq!((ok["data"]["valid"].clone(), ok["data"]["userId"].clone(), ok["data"]["tenantId"].clone()),
            (json!(true), json!(alice.user_id), json!("acme")));

        let steps = [
            ("windows_installed", "completed", json!({"computer_name": "WIN-PC"})),
            ("downloader_ready", "running", json!({"modules": ["runner"]})),
            ("app_downloaded", "completed", json!({"module": "runner"})),
            ("playbook_running", "running", json!({})),
        ];
        for (step, state, details) in &steps {
            let (status, row) = report(&server, token, step, state, details.clone()).await;
            assert_eq!(status, StatusCode::OK, "{row}");
            let (status, again) = report(&server, token, step, state, details.clone()).await;
            assert_eq!((status, again["data"]["id"].clone()), (StatusCode::OK, row["data"]["id"].clone()), "a repeat is the same row");
            assert_eq!(row["data"]["details"], *details);
        }
        let (status, bad) = report(&server, token, "x", "finished", json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let (status, done) = report(&server, token, "completed", "completed", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, again) = report(&server, token, "completed", "completed", json!({})).await;
        assert_eq!((status, again["data"]["id"].clone()), (StatusCode::OK, done["data"]["id"].clone()));

        // Used: no more validation nor new reports.
        let (status, refused) = validate(&server, token).await;
        assert_eq!((status, refused["error"]["message"].as_str()), (StatusCode::UNAUTHORIZED, Some("Token status is \"used\"")));
        let (status, _) = report(&server, token, "playbook_running", "failed", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Progress: five rows, oldest first, for the owner and admins only.
        let path = format!("/api/v1/provisioning/progress/{VM}");
        let (status, rows) = server.get(&path, &alice.access_token).await;
        assert_eq!(status, StatusCode::OK);
        let seen: Vec<&str> = rows["data"].as_array().unwrap().iter().map(|r| r["step"].as_str().unwrap()).collect();
        assert_eq!(seen, ["windows_installed", "downloader_ready", "app_downloaded", "playbook_running", "completed"]);
        assert_eq!(server.get(&path, &admin.access_token).await.1["data"].as_array().unwrap().len(), 5);
        let (status, refused) = server.get(&path, &bob.access_token).await;
        assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
        let (_, tokens) = server.get(&format!("/api/v1/provisioning/tokens?vm_uuid={VM}"), &alice.access_token).await;
        assert_eq!(tokens["data"][0]["status"], "used");
        assert!(tokens["data"][0]["used_at"].is_string());
    }

    async fn revoked_tokens_and_tokens_of_deactivated_or_moved_vms_are_refused(backend) {
        let server = start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let bob = server.user_session("acme", "bob@acme.example", Role::User).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        register(&server, &alice, VM).await;
        let body = json!({"profile_config": config(None)});

        let payload = issued(&server, &alice, VM, body.clone()).await;
        let id = payload["tokenId"].as_str().unwrap();
        let (status, _) = server.post(&format!("/api/v1/provisioning/tokens/{id}/revoke"), &bob.access_token, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "not bob's to revoke");
        let (status, revoked) = server.post(&format!("/api/v1/provisioning/tokens/{id}/revoke"), &alice.access_token, json!({})).await;
        assert_eq!((status, revoked["data"]["status"].as_str()), (StatusCode::OK, Some("revoked")));
        let (_, refused) = validate(&server, payload["token"].as_str().unwrap()).await;
        assert_eq!(refused["error"]["message"], "Token status is \"revoked\"");

        let payload = issued(&server, &alice, VM, body.clone()).await;
        let (status, _) = server.patch(&format!("/api/v1/vm/{VM}"), &alice.access_token, json!({"status": "paused"})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, refused) = validate(&server, payload["token"].as_str().unwrap()).await;
        assert_eq!((status, code(&refused)), (StatusCode::UNAUTHORIZED, "TOKEN_INVALID"), "{refused}");
        let (_, revoked) = server.get(&format!("/api/v1/provisioning/tokens?vm_uuid={VM}"), &alice.access_token).await;
        assert_eq!(revoked["data"][0]["revoke_reason"], "VM deactivated");

        let (status, _) = server.patch(&format!("/api/v1/vm/{VM}"), &alice.access_token, json!({"status": "active"})).await;
        assert_eq!(status, StatusCode::OK);
        let payload = issued(&server, &alice, VM, body).await;
        let (status, moved) = server.post("/api/v1/vm/register", &admin.access_token,
            json!({"vm_uuid": VM, "user_id": bob.user_id, "reassign": true})).await;
        assert_eq!(status, StatusCode::CREATED, "{moved}");
        let (status, _) = validate(&server, payload["token"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = report(&server, payload["token"].as_str().unwrap(), "windows_installed", "completed", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    async fn completion_uses_the_token_exactly_once_under_concurrent_reports(backend) {
        let server = start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        register(&server, &alice, VM).await;
        let payload = issued(&server, &alice, VM, json!({"profile_config": config(None)})).await;
        let token = payload["token"].as_str().unwrap();
        let reports = (0..8).map(|_| report(&server, token, "completed", "completed", json!({"ok": true})));
        let answers = futures::future::join_all(reports).await;
        let ids: std::collections::BTreeSet<String> = answers.iter().map(|(status, row)| {
            assert_eq!(*status, StatusCode::OK, "{row}");
            row["data"]["id"].as_str().unwrap().to_owned()
        }).collect();
        assert_eq!(ids.len(), 1, "every concurrent repeat answers the one stored report");
        let (_, rows) = server.get(&format!("/api/v1/provisioning/progress/{VM}"), &alice.access_token).await;
        assert_eq!(rows["data"].as_array().unwrap().len(), 1);
        let (_, tokens) = server.get(&format!("/api/v1/provisioning/tokens?vm_uuid={VM}"), &alice.access_token).await;
        assert_eq!(tokens["data"][0]["status"], "used");
    }

    async fn progress_is_an_event_on_the_owners_stream_only(backend) {
        let server = start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        let bob = server.user_session("acme", "bob@acme.example", Role::User).await;
        register(&server, &alice, VM).await;
        let payload = issued(&server, &alice, VM, json!({"profile_config": config(None)})).await;
        let token = payload["token"].as_str().unwrap().to_owned();
        let open = |t: String| {
            let server = &server;
            async move {
                server.http.get(format!("{}/api/v1/vm-ops/events", server.url)).bearer_auth(t).send().await.unwrap()
            }
        };
        let mut mine = open(alice.access_token.clone()).await;
        let mut theirs = open(bob.access_token.clone()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, _) = report(&server, &token, "windows_installed", "completed", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let mut seen = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.contains("windows_installed") {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, mine.chunk()).await {
                Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                _ => panic!("no progress event; got: {seen}"),
            }
        }
        assert!(seen.contains("event: vm-provisioning") && seen.contains("provisioning.progress") && seen.contains(VM), "{seen}");
        let mut quiet = String::new();
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_millis(800), theirs.chunk()).await {
            quiet.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(!quiet.contains("vm-provisioning"), "{quiet}");
    }

    async fn the_provisioning_token_is_a_bearer_for_its_vms_lease_and_download_only(backend) {
        let server = start(backend).await;
        let admin = server.user_session("acme", "admin@acme.example", Role::Admin).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        register(&server, &alice, VM).await;
        register(&server, &alice, "second-vm-0001").await;
        server.create("/api/v1/license/tenant-licenses", &admin.access_token, json!({"type": "perpetual"})).await;
        let (status, _) = server.post("/api/v1/license/entitlements", &admin.access_token, json!({"modules": ["runner"]})).await;
        assert_eq!(status, StatusCode::CREATED);
        let payload = issued(&server, &alice, VM, json!({"profile_config": config(None)})).await;
        let token = payload["token"].as_str().unwrap();

        // START.ps1's lease body, with the provisioning token as bearer.
        let lease_body = |vm: &str| json!({"vm_uuid": vm, "agent_id": "WIN-PC", "runner_id": "START.ps1", "module": "runner"});
        let (status, lease) = server.post("/api/v1/license/lease", token, lease_body(VM)).await;
        assert_eq!(status, StatusCode::CREATED, "{lease}");
        assert_eq!(lease["data"]["user_id"], alice.user_id.as_str());
        let (status, refused) = server.post("/api/v1/license/lease", token, lease_body("second-vm-0001")).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "VM_UUID_MISMATCH"));
        let mut overriding = lease_body(VM);
        overriding["user_id"] = json!(admin.user_id);
        let (status, refused) = server.post("/api/v1/license/lease", token, overriding).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "FORBIDDEN"), "never acts as an admin");

        let lease_token = lease["data"]["token"].as_str().unwrap();
        let resolve = |vm: &str| json!({"lease_token": lease_token, "vm_uuid": vm, "module": "runner", "platform": "windows", "channel": "stable"});
        let (status, refused) = server.post("/api/v1/artifacts/resolve-download", token, resolve(VM)).await;
        assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "ARTIFACT_ASSIGNMENT_NOT_FOUND"), "authenticated, nothing assigned: {refused}");
        let (status, refused) = server.post("/api/v1/artifacts/resolve-download", token, resolve("second-vm-0001")).await;
        assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "VM_UUID_MISMATCH"));

        // Anywhere else it is no credential.
        for (method, path, body) in [
            (Method::GET, "/api/v1/vm".to_owned(), None),
            (Method::GET, format!("/api/v1/provisioning/progress/{VM}"), None),
            (Method::POST, "/api/v1/license/heartbeat".to_owned(), Some(json!({"lease_id": lease["data"]["lease_id"]}))),
            (Method::POST, "/api/v1/provisioning/generate-iso-payload".to_owned(), Some(generate_body(VM, json!({})))),
        ] {
            let (status, _) = server.call(method, &path, Some(token), body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        }

        // Used, it is no credential at all.
        let (status, _) = report(&server, token, "completed", "completed", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = server.post("/api/v1/license/lease", token, lease_body(VM)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

/// Every file of an ISO image's Joliet tree (what Windows reads), extracted by xorriso.
fn iso_files(image: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let (path, out) = (dir.path().join("image.iso"), dir.path().join("out"));
    std::fs::write(&path, image).unwrap();
    let done = std::process::Command::new("xorriso")
        .args([
            "-read_fs",
            "norock",
            "-osirrox",
            "on",
            "-indev",
            path.to_str().unwrap(),
            "-extract",
            "/",
            out.to_str().unwrap(),
        ])
        .output()
        .expect("xorriso runs (scripts/test.sh installs it)");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().into_string().unwrap(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

both_backends! {
    async fn generate_iso_answers_an_image_of_the_payloads_files(backend) {
        let server = start(backend).await;
        let alice = server.user_session("acme", "alice@acme.example", Role::User).await;
        register(&server, &alice, VM).await;
        server.create("/api/v1/playbooks", &alice.access_token, json!({"name": "Std", "is_default": true, "content": PLAYBOOK})).await;
        assign_release(&server, "acme", "runner", "stable").await;
        // A profile without random choices, so two generations differ only by their token.
        let body = generate_body(VM, json!({"profile_config": config(Some("pw"))}));
        let payload = issued(&server, &alice, VM, json!({"profile_config": config(Some("pw"))})).await;
        let res = server.http.post(format!("{}/api/v1/provisioning/generate-iso", server.url))
            .bearer_auth(&alice.access_token).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let header = |name: &str| res.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "application/x-iso9660-image");
        assert_eq!(header("content-disposition"), format!("attachment; filename=\"provision-{VM}.iso\""));
        let token_id = header("x-provision-token-id");
        chrono::DateTime::parse_from_rfc3339(&header("x-provision-token-expires-at")).unwrap();
        let files = iso_files(&res.bytes().await.unwrap());

        let expected: Vec<&String> = payload["files"].as_object().unwrap().keys().collect();
        assert_eq!(files.keys().collect::<Vec<_>>(), expected);
        let provision: Value = serde_json::from_slice(&files["provision.json"]).unwrap();
        let token = provision["token"].as_str().unwrap();
        for (name, bytes) in &files {
            let want = file(&payload, name).unwrap().replace(payload["token"].as_str().unwrap(), token);
            assert_eq!(String::from_utf8(bytes.clone()).unwrap(), want, "{name}");
        }
        // The image's token is the VM's one active token; the payload's was superseded.
        assert_eq!(validate(&server, token).await.0, StatusCode::OK);
        assert_eq!(validate(&server, payload["token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
        let (_, tokens) = server.get(&format!("/api/v1/provisioning/tokens?vm_uuid={VM}"), &alice.access_token).await;
        assert_eq!((tokens["data"][0]["id"].as_str(), tokens["data"][0]["status"].as_str()), (Some(token_id.as_str()), Some("active")));

        let (status, refused) = server.post("/api/v1/provisioning/generate-iso", &alice.access_token,
            generate_body("unregistered-vm-1", json!({"profile_config": config(None)}))).await;
        assert_eq!((status, code(&refused)), (StatusCode::NOT_FOUND, "VM_NOT_REGISTERED"));
    }
}

/// The profile preview makes one VM's answer file and settings script from a config without
/// storing anything or issuing a token; a bad config is a 400 under its field.
#[tokio::test]
async fn a_profile_previews_its_answer_file_without_a_token() {
    let server = start(Backend::Sqlite).await;
    let alice = server
        .user_session("acme", "alice@acme.example", Role::User)
        .await;
    let t = &alice.access_token;
    let mut c = config(Some("Pa55word!"));
    c["computerName"] = json!({"mode": "custom", "customName": "FARM-07"});
    let (status, body) = server
        .post(
            "/api/v1/unattend-profiles/preview",
            t,
            json!({"config": c, "with_playbook": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = &body["data"];
    assert_eq!(
        (p["computer_name"].as_str(), p["username"].as_str()),
        (Some("FARM-07"), Some("Operator"))
    );
    let xml = p["files"]["autounattend.xml"].as_str().unwrap();
    assert!(
        xml.contains("<ComputerName>FARM-07</ComputerName>"),
        "{xml}"
    );
    assert!(
        xml.contains("playbook.yml"),
        "copies the playbook when one is chosen"
    );
    let password = STANDARD.encode(
        "Pa55word!Password"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>(),
    );
    assert!(
        xml.contains(&password),
        "the password encoded as Windows expects"
    );
    assert!(
        p["files"]["setup.ps1"]
            .as_str()
            .unwrap()
            .contains("BingNews")
    );
    assert!(
        p["files"].get("provision.json").is_none(),
        "no token, no per-VM file"
    );
    let (_, tokens) = server.get("/api/v1/unattend-profiles", t).await;
    assert_eq!(tokens["data"], json!([]), "nothing stored");

    c["computerName"]["customName"] = json!("not a name!");
    let (status, body) = server
        .post("/api/v1/unattend-profiles/preview", t, json!({"config": c}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["details"]
            .to_string()
            .contains("config.computerName.customName"),
        "{body}"
    );
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/unattend-profiles/preview",
            None,
            Some(json!({"config": config(None)})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
