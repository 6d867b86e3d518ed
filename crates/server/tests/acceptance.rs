//! The reference's licensing acceptance scenario (spec security §6.6), end to end over HTTP
//! on SQLite and PostgreSQL, with the embedded blob store and with a real S3-compatible
//! server: a runner registers a VM, leases, resolves a download and fetches it (SHA-256
//! compared); a mutated VM UUID, another module, a revoked lease and a forged token are
//! refused with their codes; an unregistered VM, another tenant's VM and an expired
//! subscription get no lease, a perpetual licence does; every resolve attempt is in the
//! download audit, and no token or secret comes back in any answer.

use base64::Engine;
use botmox_proto::auth::Role;
use botmox_testkit::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn scenario(server: &TestServer) {
    let admin = server
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await;
    let runner_user = server
        .user_session("acme", "runner@acme.example", Role::User)
        .await;
    let a = &admin.access_token;
    // The runner signs in as its own user (the reference's runner JWT).
    let runner = runner_user.access_token.clone();

    // The admin side: a subscription that has lapsed, a release, its assignment.
    let lapsed = server
        .create(
            "/api/v1/license/tenant-licenses",
            a,
            json!({"type": "subscription", "expires_at": now_ms() - 86_400_000}),
        )
        .await;
    let (status, _) = server
        .post(
            "/api/v1/license/entitlements",
            a,
            json!({"modules": ["runner"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let bytes: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let upload = server
        .http
        .post(format!(
            "{}/api/v1/artifacts/releases/upload?module=runner&platform=windows&version=1.4.2",
            server.url
        ))
        .bearer_auth(a)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::CREATED);
    let release: Value = upload.json().await.unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(release["data"]["sha256"].as_str(), Some(sha.as_str()));
    let (status, assigned) = server
        .post(
            "/api/v1/artifacts/assign",
            a,
            json!({"module": "runner", "platform": "windows", "release_id": release["data"]["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{assigned}");

    // The runner: register a fresh VM UUID (201).
    let vm = format!("{}", uuid::Uuid::new_v4()).to_uppercase();
    let (status, registered) = server
        .post(
            "/api/v1/vm/register",
            &runner,
            json!({"vm_uuid": vm, "vm_name": "WIN-7"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert_eq!(
        registered["data"]["user_id"].as_str(),
        Some(runner_user.user_id.as_str())
    );
    let lease_body = |vm: &str| json!({"vm_uuid": vm, "agent_id": "agent-1", "runner_id": "runner-1", "module": "runner", "version": "1.4.2"});
    // An expired subscription grants nothing; an unregistered UUID gets nothing.
    let (status, refused) = server
        .post("/api/v1/license/lease", &runner, lease_body(&vm))
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::FORBIDDEN, "LICENSE_INACTIVE")
    );
    let (status, refused) = server
        .post(
            "/api/v1/license/lease",
            &runner,
            lease_body("never-registered-1"),
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::NOT_FOUND, "VM_NOT_REGISTERED")
    );
    // A perpetual licence grants the lease (201).
    server
        .create(
            "/api/v1/license/tenant-licenses",
            a,
            json!({"type": "perpetual"}),
        )
        .await;
    let (status, lease) = server
        .post("/api/v1/license/lease", &runner, lease_body(&vm))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lease}");
    let token = lease["data"]["token"].as_str().unwrap().to_owned();
    let lease_id = lease["data"]["lease_id"].as_str().unwrap().to_owned();
    assert_ne!(lease["data"]["license_id"].as_str(), Some(lapsed.as_str()));

    // Resolve (200, URL + sha256), download and compare.
    let resolve = |token: &str, vm: &str, module: &str| {
        let body =
            json!({"lease_token": token, "vm_uuid": vm, "module": module, "platform": "windows"});
        let runner = runner.clone();
        async move {
            server
                .post("/api/v1/artifacts/resolve-download", &runner, body)
                .await
        }
    };
    let (status, resolved) = resolve(&token, &vm, "runner").await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(
        (
            resolved["data"]["sha256"].as_str(),
            resolved["data"]["version"].as_str()
        ),
        (Some(sha.as_str()), Some("1.4.2"))
    );
    let url = resolved["data"]["download_url"].as_str().unwrap();
    let fetched = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK, "{url}");
    let fetched = fetched.bytes().await.unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&fetched)),
        sha,
        "the downloaded file is the release"
    );

    // A mutated VM UUID and another module are refused.
    let mut mutated = vm.clone();
    mutated.replace_range(0..1, if vm.starts_with('A') { "B" } else { "A" });
    let (status, refused) = resolve(&token, &mutated, "runner").await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::FORBIDDEN, "VM_UUID_MISMATCH")
    );
    let (status, refused) = resolve(&token, &vm, "runner-mismatch").await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::FORBIDDEN, "MODULE_MISMATCH")
    );

    // The admin revokes the lease (200); resolving again is 409 LEASE_INACTIVE.
    let (status, revoked) = server
        .post(
            "/api/v1/license/revoke",
            a,
            json!({"lease_id": lease_id, "reason": "acceptance"}),
        )
        .await;
    assert_eq!(
        (status, revoked["data"]["status"].as_str()),
        (StatusCode::OK, Some("revoked"))
    );
    let (status, refused) = resolve(&token, &vm, "runner").await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::CONFLICT, "LEASE_INACTIVE")
    );

    // A forged, already-expired token signed with another key: 401.
    let forged = forged_token(&lease_id, &vm);
    let (status, refused) = resolve(&forged, &vm, "runner").await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );

    // Another tenant's UUID is not this tenant's VM: no lease on it from here.
    let other = server
        .user_session("other", "admin@other.example", Role::Admin)
        .await;
    let (status, _) = server
        .post(
            "/api/v1/vm/register",
            &other.access_token,
            json!({"vm_uuid": "other-tenants-vm-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, refused) = server
        .post(
            "/api/v1/license/lease",
            &runner,
            lease_body("other-tenants-vm-1"),
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::NOT_FOUND, "VM_NOT_REGISTERED")
    );
    let (status, refused) = server
        .post(
            "/api/v1/artifacts/resolve-download",
            &other.access_token,
            json!({"lease_token": token, "vm_uuid": vm, "module": "runner", "platform": "windows"}),
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::NOT_FOUND, "LEASE_NOT_FOUND"),
        "another tenant's caller finds no lease"
    );

    // Every resolve attempt is audited: one allowed, five denied (oldest last).
    let (_, audit) = server
        .get("/api/v1/artifacts/download-audit?limit=50", a)
        .await;
    let rows = audit["data"].as_array().unwrap();
    let results: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["result"].as_str().unwrap(),
                r["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("denied", "unauthorized"),
            ("denied", "lease_inactive"),
            ("denied", "module_mismatch"),
            ("denied", "vm_uuid_mismatch"),
            ("allowed", "")
        ],
        "{audit}"
    );

    // No answer carries the lease token or a stored secret back.
    for path in [
        "/api/v1/license/leases?status=all",
        "/api/v1/license/leases",
        "/api/v1/artifacts/download-audit",
        "/api/v1/vm",
        "/api/v1/license/tenant-licenses",
        "/api/v1/audit?limit=200",
    ] {
        let (_, body) = server.get(path, a).await;
        assert!(
            !body.to_string().contains(&token),
            "{path} shows the lease token"
        );
    }
}

/// A lease-shaped token for `lease_id`, expired an hour ago and signed with a key the server
/// never had.
fn forged_token(lease_id: &str, vm: &str) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = chrono::Utc::now().timestamp();
    let header = b64(json!({"alg": "HS256", "typ": "JWT", "kid": "lease-1"}));
    let claims = b64(
        json!({"iss": "botmox-lease", "typ": "lease", "sub": "runner-1", "jti": lease_id,
        "iat": now - 7200, "exp": now - 3600, "tid": "acme", "uid": "x", "vm": vm.to_lowercase(), "module": "runner", "lic": "x"}),
    );
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac_sha256(
        b"a key the server never had",
        format!("{header}.{claims}").as_bytes(),
    ));
    format!("{header}.{claims}.{signature}")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

macro_rules! every_store {
    ($($name:ident: $backend:expr, $s3:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if $s3 {
                let s3 = botmox_testkit::s3::S3Server::start();
                let server = TestServer::start_with($backend, |s| s3.configure(s)).await;
                scenario(&server).await;
            } else {
                scenario(&TestServer::start($backend).await).await;
            }
        }
    )*};
}

every_store! {
    sqlite_local_blobs: Backend::Sqlite, false;
    postgres_local_blobs: Backend::Postgres, false;
    sqlite_s3: Backend::Sqlite, true;
    postgres_s3: Backend::Postgres, true;
}
