//! Two `botmox serve` processes on one PostgreSQL database and one S3-compatible store,
//! behind a client that alternates between them as a round-robin balancer would, behave as
//! one server through the main flows: sign-in, pairing, dispatch → claim → report with the
//! event stream, lease-gated downloads, provisioning progress, and access withdrawn on one
//! replica ending it on the other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use botmox_proto::auth::Role;
use botmox_testkit::fixtures::unattend_profile;
use botmox_testkit::s3::S3Server;
use botmox_testkit::{Backend, ServerProcess, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_botmox");
const VM: &str = "replica-vm-0001";

/// The two replicas' addresses; `any` takes the next one in turn.
struct Front {
    replicas: [String; 2],
    turn: AtomicUsize,
    http: reqwest::Client,
}

impl Front {
    fn any(&self) -> &str {
        &self.replicas[self.turn.fetch_add(1, Ordering::Relaxed) % 2]
    }

    async fn call_at(
        &self,
        base: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        botmox_testkit::request(&self.http, base, method, path, token, body).await
    }

    /// One call through the balancer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let base = self.any().to_owned();
        self.call_at(&base, method, path, token, body).await
    }

    /// A call that must answer `expected`: its `data`.
    async fn ok(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, answer) = self.call(method.clone(), path, Some(token), body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        answer["data"].clone()
    }
}

/// The event frames `(event_type, data)` of an SSE stream on `base`, read until one of type
/// `until` for `command` arrives (at most 20 s).
async fn stream_until(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    command: &tokio::sync::OnceCell<String>,
    until: &str,
) -> Vec<(String, Value)> {
    let mut res = http
        .get(format!("{base}/api/v1/vm-ops/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    loop {
        let frames: Vec<(String, Value)> = text
            .split("\n\n")
            .filter_map(|f| {
                serde_json::from_str::<Value>(f.lines().find_map(|l| l.strip_prefix("data: "))?)
                    .ok()
            })
            .filter_map(|d| Some((d["event_type"].as_str()?.to_owned(), d)))
            .collect();
        if let Some(id) = command.get()
            && frames
                .iter()
                .any(|(t, d)| t == until && d["command"]["id"] == json!(id))
        {
            return frames;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, res.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("{until} not streamed; got {text}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replica_processes_behave_as_one_server() {
    let keeper = TestServer::start(Backend::Postgres).await;
    let s3 = S3Server::start();
    let ports: Vec<u16> = (0..2).map(|_| botmox_testkit::free_port()).collect();
    let public_url = format!("http://127.0.0.1:{}", ports[0]);
    let env = [
        ("BOTMOX_BLOB_STORE", format!("s3://{}", s3.bucket)),
        ("AWS_ENDPOINT_URL", s3.endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", s3.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_key.clone()),
        ("BOTMOX_S3_PATH_STYLE", "true".to_owned()),
        ("BOTMOX_PUBLIC_URL", public_url),
        ("BOTMOX_RATE_LIMIT_PUBLIC", "100000".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = ServerProcess::start_with_env(BIN, &keeper, ports[0], &env).await;
    let b = ServerProcess::start_with_env(BIN, &keeper, ports[1], &env).await;
    let front = Front {
        replicas: [a.url.clone(), b.url.clone()],
        turn: AtomicUsize::new(0),
        http: keeper.http.clone(),
    };
    let (a, b) = (a.url.clone(), b.url.clone());

    // Sessions: signed in through one replica, valid on both.
    let admin = keeper
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await;
    let owner = keeper
        .user_session("acme", "owner@acme.example", Role::User)
        .await;
    let (status, signed_in) = front
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": owner.email, "password": owner.password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    let user = signed_in["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let whoami = front
            .ok(
                Method::GET,
                "/api/v1/auth/whoami",
                &user,
                None,
                StatusCode::OK,
            )
            .await;
        assert_eq!(whoami["email"], "owner@acme.example");
    }

    // Pairing: the code made on one replica is redeemed on the other.
    let pairing = front
        .ok(
            Method::POST,
            "/api/v1/agents/pairings",
            &user,
            Some(json!({})),
            StatusCode::CREATED,
        )
        .await;
    let (status, agent) = front
        .call(
            Method::POST,
            "/api/v1/agents/register",
            None,
            Some(json!({"pairing_code": pairing["pairing_code"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
    let agent_token = agent["data"]["agent_token"].as_str().unwrap().to_owned();

    // A dispatch on A wakes the poll waiting on B; the report on A settles it on B; the
    // stream on B carries every step once, in order.
    let command = tokio::sync::OnceCell::new();
    let (streamed, polled, ()) = tokio::join!(
        stream_until(&front.http, &b, &user, &command, "command.succeeded"),
        async {
            let polled = front
                .call_at(
                    &b,
                    Method::GET,
                    "/api/v1/vm-ops/commands/next?timeout_ms=20000",
                    Some(&agent_token),
                    None,
                )
                .await;
            let (id, claim) = (&polled.1["data"]["id"], &polled.1["data"]["claim_id"]);
            let reported = front
                .call_at(
                    &a,
                    Method::PATCH,
                    &format!(
                        "/api/v1/vm-ops/commands/{}",
                        id.as_str().unwrap_or_default()
                    ),
                    Some(&agent_token),
                    Some(json!({"claim_id": claim, "status": "succeeded", "result": {"ok": true}})),
                )
                .await;
            assert_eq!(
                reported.0,
                StatusCode::OK,
                "reported through A: {}",
                reported.1
            );
            polled
        },
        async {
            // The poll and the stream are opened first, so the dispatch must wake them.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (status, queued) = front
                .call_at(
                    &a,
                    Method::POST,
                    "/api/v1/vm-ops/commands",
                    Some(&user),
                    Some(json!({"agent_id": agent_id, "command_type": "proxmox.status"})),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
            command
                .set(queued["data"]["id"].as_str().unwrap().to_owned())
                .unwrap();
        }
    );
    let id = command.get().unwrap().clone();
    assert_eq!(polled.0, StatusCode::OK, "{}", polled.1);
    assert_eq!(polled.1["data"]["id"], json!(id), "claimed through B");
    let steps: Vec<&str> = streamed
        .iter()
        .filter(|(_, d)| d["command"]["id"] == json!(id))
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(
        steps,
        ["command.queued", "command.dispatched", "command.succeeded"],
        "each once, in order"
    );
    let settled = front
        .ok(
            Method::GET,
            &format!("/api/v1/vm-ops/commands/{id}"),
            &user,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(settled["status"], "succeeded");

    // A lease-gated download: release uploaded through one replica to S3, licence and
    // assignment through the other, leased and resolved alternately; the link is S3's.
    let t = &admin.access_token;
    front
        .ok(
            Method::POST,
            "/api/v1/license/tenant-licenses",
            t,
            Some(json!({"type": "perpetual"})),
            StatusCode::CREATED,
        )
        .await;
    front
        .ok(
            Method::POST,
            "/api/v1/license/entitlements",
            t,
            Some(json!({"modules": ["runner"]})),
            StatusCode::CREATED,
        )
        .await;
    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let release = botmox_testkit::upload_release(
        &front.http,
        front.any(),
        t,
        "module=runner&platform=windows&version=1",
        file.clone(),
    )
    .await;
    front.ok(Method::POST, "/api/v1/artifacts/assign", t,
        Some(json!({"module": "runner", "platform": "windows", "channel": "stable", "release_id": release["id"]})), StatusCode::CREATED).await;
    front
        .ok(
            Method::POST,
            "/api/v1/vm/register",
            &user,
            Some(json!({"vm_uuid": VM})),
            StatusCode::CREATED,
        )
        .await;
    let lease = front.ok(Method::POST, "/api/v1/license/lease", &user,
        Some(json!({"vm_uuid": VM, "agent_id": "WIN-PC", "runner_id": "START.ps1", "module": "runner"})), StatusCode::CREATED).await;
    let resolved = front.ok(Method::POST, "/api/v1/artifacts/resolve-download", &user,
        Some(json!({"lease_token": lease["token"], "vm_uuid": VM, "module": "runner", "platform": "windows", "channel": "stable"})), StatusCode::OK).await;
    let link = resolved["download_url"]
        .as_str()
        .expect("a download link")
        .to_owned();
    assert!(link.starts_with(&s3.endpoint), "a presigned S3 GET: {link}");
    let fetched = front
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Sha256::digest(&fetched), Sha256::digest(&file));
    front
        .ok(
            Method::POST,
            "/api/v1/license/heartbeat",
            &user,
            Some(json!({"lease_id": lease["lease_id"]})),
            StatusCode::OK,
        )
        .await;

    // Provisioning: the token issued on one replica is validated and reported on the
    // other, and the progress reads the same on both.
    let payload = front.ok(Method::POST, "/api/v1/provisioning/generate-iso-payload", &user,
        Some(json!({"vm_uuid": VM, "ip": {"address": "10.0.0.5", "gateway": "10.0.0.1"}, "profile_config": unattend_profile(None)})), StatusCode::OK).await;
    let token = payload["token"].as_str().unwrap();
    let (status, valid) = front
        .call(
            Method::POST,
            "/api/v1/provisioning/validate-token",
            None,
            Some(json!({"token": token, "vm_uuid": VM})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{valid}");
    for step in ["windows_installed", "downloader_ready"] {
        let (status, reported) = front.call(Method::POST, "/api/v1/provisioning/report-progress", None,
            Some(json!({"token": token, "vm_uuid": VM, "step": step, "status": "completed", "details": {}}))).await;
        assert_eq!(status, StatusCode::OK, "{reported}");
    }
    for _ in 0..2 {
        let rows = front
            .ok(
                Method::GET,
                &format!("/api/v1/provisioning/progress/{VM}"),
                &user,
                None,
                StatusCode::OK,
            )
            .await;
        let steps: Vec<&str> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["step"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["windows_installed", "downloader_ready"]);
    }

    // Access withdrawn on one replica ends on the other: a revoked API token, a signed-out
    // refresh token, a revoked agent.
    let created = front
        .ok(
            Method::POST,
            "/api/v1/tokens",
            t,
            Some(json!({"name": "ci", "role": "user"})),
            StatusCode::CREATED,
        )
        .await;
    let api_token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(
        front
            .call_at(
                &b,
                Method::GET,
                "/api/v1/auth/whoami",
                Some(&api_token),
                None
            )
            .await
            .0,
        StatusCode::OK
    );
    let (status, _) = front
        .call_at(
            &a,
            Method::DELETE,
            &format!("/api/v1/tokens/{}", created["id"].as_str().unwrap()),
            Some(t),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // B learns of it over PostgreSQL's NOTIFY (its token cache is cleared), well before the
    // cache's own 5 s would lapse.
    let deadline = Instant::now() + Duration::from_secs(4);
    while front
        .call_at(
            &b,
            Method::GET,
            "/api/v1/auth/whoami",
            Some(&api_token),
            None,
        )
        .await
        .0
        != StatusCode::UNAUTHORIZED
    {
        assert!(
            Instant::now() < deadline,
            "revoked on A, still accepted on B"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = front
        .call_at(
            &a,
            Method::POST,
            &format!("/api/v1/agents/{agent_id}/revoke"),
            Some(&user),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = front
        .call_at(
            &b,
            Method::POST,
            "/api/v1/agents/heartbeat",
            Some(&agent_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (StatusCode::CONFLICT, &json!("AGENT_REVOKED")),
        "the agent revoked on A is told to stop on B"
    );
    let refresh = signed_in["data"]["refresh_token"].as_str().unwrap();
    front
        .call_at(
            &b,
            Method::POST,
            "/api/v1/auth/logout",
            Some(&user),
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    let (status, _) = front
        .call_at(
            &a,
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "signed out on B, no refresh on A"
    );
}
