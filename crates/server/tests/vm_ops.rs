//! The command bus over the API: dispatch, atomic claim with a claim id, checked reports,
//! offline handling, cancel, a waiting poll woken by a dispatch or a revocation, 50
//! concurrent pollers claiming (and starting) 10,000 commands each exactly once, read-only de-duplication,
//! presence events, event streams for humans and agents; on SQLite and PostgreSQL.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use botmox_proto::auth::Role;
use botmox_proto::command::CommandStatus;
use botmox_testkit::{Backend, Session, TestServer, both_backends};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

async fn next(server: &TestServer, agent_token: &str, timeout_ms: u64) -> (StatusCode, Value) {
    server
        .get(
            &format!("/api/v1/vm-ops/commands/next?timeout_ms={timeout_ms}"),
            agent_token,
        )
        .await
}

/// A server without rate limits (the load tests send thousands of requests at once), an
/// owner, and the owner's paired agent with its token.
async fn unthrottled_agent(backend: Backend) -> (TestServer, Session, String, String) {
    let server = TestServer::start_with(backend, |s| {
        s.rate_limit_per_address = Some(1_000_000);
        s.rate_limit_per_principal = Some(1_000_000);
    })
    .await;
    let owner = server
        .user_session("acme", "owner@example.com", Role::User)
        .await;
    let (agent, token) = server.paired_agent(&owner).await;
    (server, owner, agent, token)
}

/// `n` starts of VMs dispatched to `agent` by `owner`, 16 at a time: the ids acknowledged.
async fn dispatch_starts(
    server: &TestServer,
    owner: &Session,
    agent: &str,
    n: usize,
) -> Vec<String> {
    use futures::StreamExt;
    futures::stream::iter(0..n)
        .map(|i| async move {
            let body = json!({"agent_id": agent, "command_type": "proxmox.start", "payload": {"vmid": 100 + i}});
            let (status, c) = server
                .post("/api/v1/vm-ops/commands", &owner.access_token, body)
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{c}");
            c["data"]["id"].as_str().unwrap().to_owned()
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Read an SSE stream until `until` appears in what was received (at most 10 s).
async fn read_sse(server: &TestServer, token: &str, last: Option<&str>, until: &str) -> String {
    let mut req = server
        .http
        .get(format!("{}/api/v1/vm-ops/events", server.url))
        .bearer_auth(token);
    if let Some(id) = last {
        req = req.header("last-event-id", id);
    }
    let mut res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(until) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, res.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("{until} not received; got: {seen}"),
        }
    }
    seen
}

/// The `(id, event_type)` of each event frame.
fn frames(text: &str) -> Vec<(i64, String)> {
    text.split("\n\n")
        .filter_map(|f| {
            let id = f
                .lines()
                .find_map(|l| l.strip_prefix("id: "))?
                .parse()
                .ok()?;
            let data: Value =
                serde_json::from_str(f.lines().find_map(|l| l.strip_prefix("data: "))?).ok()?;
            Some((id, data["event_type"].as_str()?.to_owned()))
        })
        .collect()
}

both_backends! {
    async fn a_command_is_dispatched_claimed_run_and_reported(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let (agent, token) = server.paired_agent(&owner).await;
        let (status, queued) = server.post("/api/v1/vm-ops/proxmox/list-vms", t, json!({"agent_id": agent, "params": {"node": "pve1"}})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        let id = queued["data"]["id"].as_str().unwrap().to_owned();
        assert_eq!((queued["data"]["command_type"].clone(), queued["data"]["status"].clone()), (json!("proxmox.list-vms"), json!("queued")));

        let (status, claimed) = next(&server, &token, 1000).await;
        assert_eq!(status, StatusCode::OK);
        let c = &claimed["data"];
        assert_eq!((c["id"].clone(), c["status"].clone(), c["payload"].clone()), (json!(id), json!("dispatched"), json!({"node": "pve1"})));
        let claim = c["claim_id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        assert_eq!(next(&server, &token, 1000).await.1["data"], Value::Null, "claimed once");
        assert!(started.elapsed() >= Duration::from_millis(900), "an empty poll waits");

        let path = format!("/api/v1/vm-ops/commands/{id}");
        let (status, _) = server.patch(&path, &token, json!({"claim_id": "not-mine", "status": "running"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(server.patch(&path, t, json!({"claim_id": claim, "status": "running"})).await.0, StatusCode::UNAUTHORIZED, "humans do not report");
        assert_eq!(server.patch(&path, &token, json!({"claim_id": claim, "status": "running"})).await.0, StatusCode::OK);
        let (status, done) = server.patch(&path, &token, json!({"claim_id": claim, "status": "succeeded", "result": {"vms": [100, 101]}})).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(server.patch(&path, &token, json!({"claim_id": claim, "status": "running"})).await.0, StatusCode::CONFLICT, "no way back");

        let (_, seen) = server.get(&path, t).await;
        assert_eq!((seen["data"]["status"].clone(), seen["data"]["result"].clone()), (json!("succeeded"), json!({"vms": [100, 101]})));
        let other = server.user_session("acme", "other@example.com", Role::User).await;
        assert_eq!(server.get(&path, &other.access_token).await.0, StatusCode::NOT_FOUND);
        let (status, _) = server.post("/api/v1/vm-ops/commands", &other.access_token, json!({"agent_id": agent, "command_type": "proxmox.start", "payload": {"vmid": 100}})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "only the agent's owner or an admin dispatches to it");
        let (_, listed) = server.get(&format!("/api/v1/vm-ops/commands?agent_id={agent}&status=succeeded"), t).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    }

    async fn offline_agents_fail_fast_unless_queued_and_queued_commands_cancel(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let (agent, _) = server.paired_agent(&owner).await;
        let (status, err) = server.post("/api/v1/vm-ops/commands", t, json!({"agent_id": agent, "command_type": "proxmox.start",
            "payload": {"vmid": 100, "ssh": {"password": "x"}}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "no credentials in payloads: {err}");
        server.execute("UPDATE agents SET last_seen_at = 0").await.unwrap();
        let (status, err) = server.post("/api/v1/vm-ops/commands", t, json!({"agent_id": agent, "command_type": "proxmox.start", "payload": {"vmid": 100}})).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::CONFLICT, json!("AGENT_OFFLINE")));
        let (status, queued) = server.post("/api/v1/vm-ops/commands", t, json!({"agent_id": agent, "command_type": "proxmox.start",
            "payload": {"vmid": 100}, "queue_if_offline": true, "expires_in_seconds": 600})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let id = queued["data"]["id"].as_str().unwrap();
        let (status, cancelled) = server.post(&format!("/api/v1/vm-ops/commands/{id}/cancel"), t, json!({})).await;
        assert_eq!((status, cancelled["data"]["status"].clone()), (StatusCode::OK, json!("cancelled")));
        assert_eq!(server.post(&format!("/api/v1/vm-ops/commands/{id}/cancel"), t, json!({})).await.0, StatusCode::CONFLICT);
    }

    async fn a_waiting_poll_wakes_on_dispatch_and_on_revocation(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let (agent, token) = server.paired_agent(&owner).await;
        let started = Instant::now();
        let (polled, dispatched) = tokio::join!(next(&server, &token, 20_000), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.post("/api/v1/vm-ops/commands", &owner.access_token, json!({"agent_id": agent, "command_type": "proxmox.status"})).await
        });
        assert_eq!(dispatched.0, StatusCode::ACCEPTED);
        assert_eq!(polled.1["data"]["id"], dispatched.1["data"]["id"]);
        assert!(started.elapsed() < Duration::from_secs(5), "woken, not timed out: {:?}", started.elapsed());

        let started = Instant::now();
        let (polled, revoked) = tokio::join!(next(&server, &token, 20_000), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.post(&format!("/api/v1/agents/{agent}/revoke"), &owner.access_token, json!({})).await
        });
        assert_eq!(revoked.0, StatusCode::OK);
        assert_eq!((polled.0, polled.1["error"]["code"].clone()), (StatusCode::CONFLICT, json!("AGENT_REVOKED")), "a revoked agent's poll ends at once, saying so");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    async fn fifty_pollers_claim_ten_thousand_commands_each_exactly_once(backend) {
        let (server, owner, agent, token) = unthrottled_agent(backend).await;
        const COMMANDS: usize = 10_000;
        let acknowledged = dispatch_starts(&server, &owner, &agent, COMMANDS).await;
        // Each poller starts what it claims, as an agent does: a started command's claim no
        // longer lapses, however long the run takes on a slow machine.
        let pollers = (0..50).map(|_| {
            let server = &server;
            let token = token.clone();
            async move {
                let mut got = Vec::new();
                loop {
                    let (status, c) = next(server, &token, 1000).await;
                    assert_eq!(status, StatusCode::OK, "{c}");
                    let Some(id) = c["data"]["id"].as_str() else {
                        return got;
                    };
                    let (status, started) = server.patch(&format!("/api/v1/vm-ops/commands/{id}"), &token,
                        json!({"claim_id": c["data"]["claim_id"], "status": "running"})).await;
                    assert_eq!(status, StatusCode::OK, "{started}");
                    got.push(id.to_owned());
                }
            }
        });
        let claims: Vec<String> = futures::future::join_all(pollers).await.into_iter().flatten().collect();
        let unique: HashSet<&String> = claims.iter().collect();
        assert_eq!((claims.len(), unique.len()), (COMMANDS, COMMANDS), "every command claimed, none twice");
        assert_eq!(unique, acknowledged.iter().collect(), "the claimed commands are the dispatched ones");
    }

    async fn commands_dispatched_while_fifty_polls_wait_reach_one_poll_each(backend) {
        // Dispatches race with waiting polls: most are handed straight to a waiting poll,
        // the rest queued and claimed; none may be lost, claimed twice or left behind.
        use botmox_server::db::entity::command_event;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (server, owner, agent, token) = unthrottled_agent(backend).await;
        const COMMANDS: usize = 2_000;
        let claimed = AtomicUsize::new(0);
        let pollers = futures::future::join_all((0..50).map(|_| {
            let (server, token, claimed) = (&server, token.clone(), &claimed);
            async move {
                let mut got = Vec::new();
                while claimed.load(Ordering::SeqCst) < COMMANDS {
                    let (status, c) = next(server, &token, 1000).await;
                    assert_eq!(status, StatusCode::OK, "{c}");
                    let Some(id) = c["data"]["id"].as_str() else { continue };
                    let (status, started) = server.patch(&format!("/api/v1/vm-ops/commands/{id}"), &token,
                        json!({"claim_id": c["data"]["claim_id"], "status": "running"})).await;
                    assert_eq!(status, StatusCode::OK, "{started}");
                    got.push(id.to_owned());
                    claimed.fetch_add(1, Ordering::SeqCst);
                }
                got
            }
        }));
        let dispatches = dispatch_starts(&server, &owner, &agent, COMMANDS);
        let (claims, acknowledged) = tokio::join!(pollers, dispatches);
        let claims: Vec<String> = claims.into_iter().flatten().collect();
        let unique: HashSet<&String> = claims.iter().collect();
        assert_eq!((claims.len(), unique.len()), (COMMANDS, COMMANDS), "every command claimed, none twice");
        assert_eq!(unique, acknowledged.iter().collect(), "the claimed commands are the dispatched ones");
        // Every command's events tell its steps in order, however it reached its poll.
        let events = command_event::Entity::find().all(server.state().db.read()).await.unwrap();
        let mut steps: std::collections::HashMap<String, Vec<(i64, String)>> = Default::default();
        for e in events.into_iter().filter(|e| e.event_type.starts_with("command.")) {
            steps.entry(e.command_id).or_default().push((e.id, e.event_type));
        }
        assert_eq!(steps.len(), COMMANDS);
        for (command, mut events) in steps {
            events.sort();
            let types: Vec<&str> = events.iter().map(|(_, t)| t.as_str()).collect();
            assert_eq!(types, ["command.queued", "command.dispatched", "command.running"], "{command}");
        }
    }

    async fn equal_read_only_dispatches_within_seconds_share_one_command(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let (agent, _) = server.paired_agent(&owner).await;
        let dispatch = |command_type: &'static str, payload: Value| {
            let agent = agent.clone();
            let server = &server;
            async move {
                let (status, c) = server.post("/api/v1/vm-ops/commands", t,
                    json!({"agent_id": agent, "command_type": command_type, "payload": payload})).await;
                assert_eq!(status, StatusCode::ACCEPTED, "{c}");
                c["data"]["id"].as_str().unwrap().to_owned()
            }
        };
        let first = dispatch("proxmox.vm-status", json!({"vmid": 100, "node": "pve1"})).await;
        assert_eq!(dispatch("proxmox.vm-status", json!({"node": "pve1", "vmid": 100})).await, first, "key order does not matter");
        assert_ne!(dispatch("proxmox.vm-status", json!({"vmid": 101, "node": "pve1"})).await, first, "another payload is another command");
        let start = dispatch("proxmox.start", json!({"vmid": 100})).await;
        assert_ne!(dispatch("proxmox.start", json!({"vmid": 100})).await, start, "actions are never merged");
        // Older than the window: a fresh command.
        server.execute(&format!(
            "UPDATE agent_commands SET queued_at = queued_at - 11000 WHERE id = '{first}'")).await.unwrap();
        assert_ne!(dispatch("proxmox.vm-status", json!({"vmid": 100, "node": "pve1"})).await, first);
        let (_, listed) = server.get(&format!("/api/v1/vm-ops/commands?agent_id={agent}"), t).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 5);

        // A change that finished after a read was queued makes that read stale: the same
        // read asked again is a fresh command, within the window or not.
        let read = dispatch("proxmox.list-vms", json!({"node": "pve1"})).await;
        assert_eq!(dispatch("proxmox.list-vms", json!({"node": "pve1"})).await, read);
        server.execute(&format!(
            "UPDATE agent_commands SET status = 'succeeded', completed_at = queued_at + 1 WHERE id = '{start}'")).await.unwrap();
        server.execute(&format!(
            "UPDATE agent_commands SET queued_at = (SELECT completed_at FROM agent_commands WHERE id = '{start}') - 1 WHERE id = '{read}'"))
            .await.unwrap();
        let again = dispatch("proxmox.list-vms", json!({"node": "pve1"})).await;
        assert_ne!(again, read, "the read queued before the start finished is not reused");
        assert_eq!(dispatch("proxmox.list-vms", json!({"node": "pve1"})).await, again, "the fresh one is");
    }

    async fn presence_changes_are_events_for_the_owner_and_the_agent(backend) {
        use botmox_server::agents::service::announce_offline;
        use botmox_server::db::entity::agent::ONLINE_WINDOW_MS;
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let (agent, token) = server.paired_agent(&owner).await;
        let now = || chrono::Utc::now().timestamp_millis();
        announce_offline(server.state(), now()).await.unwrap();
        server.execute(&format!(
            "UPDATE agents SET last_seen_at = {} WHERE id = '{agent}'", now() - ONLINE_WINDOW_MS - 1000)).await.unwrap();
        announce_offline(server.state(), now()).await.unwrap();
        announce_offline(server.state(), now()).await.unwrap();
        let (_, listed) = server.get("/api/v1/agents", t).await;
        assert_eq!(listed["data"][0]["online"], false);
        assert_eq!(server.post("/api/v1/agents/heartbeat", &token, json!({})).await.0, StatusCode::OK);
        assert_eq!(server.post("/api/v1/agents/heartbeat", &token, json!({})).await.0, StatusCode::OK);
        assert_eq!(server.post(&format!("/api/v1/agents/{agent}/revoke"), t, json!({})).await.0, StatusCode::OK);

        let seen = read_sse(&server, t, Some("0"), "agent.revoked").await;
        let kinds: Vec<String> = frames(&seen).into_iter().map(|(_, k)| k).collect();
        assert_eq!(kinds, ["agent.online", "agent.offline", "agent.online", "agent.revoked"], "each change once: {seen}");
        assert!(seen.contains("event: agent-status") && seen.contains(&agent));

        // Another user of the tenant sees none of it.
        let other = server.user_session("acme", "other@example.com", Role::User).await;
        let mut res = server.http.get(format!("{}/api/v1/vm-ops/events?last_event_id=0", server.url))
            .bearer_auth(&other.access_token).send().await.unwrap();
        let mut quiet = String::new();
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_millis(800), res.chunk()).await {
            quiet.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(quiet.contains(": connected") && !quiet.contains("agent-status"), "{quiet}");
    }

    async fn a_stream_sends_events_that_arrive_out_of_id_order(backend) {
        use botmox_server::bus::events::record_command;
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let (agent, _) = server.paired_agent(&owner).await;
        let (_, queued) = server.post("/api/v1/vm-ops/commands", t, json!({"agent_id": agent, "command_type": "proxmox.start", "payload": {"vmid": 100}})).await;
        let id = queued["data"]["id"].as_str().unwrap();
        let state = server.state();
        let command = botmox_server::db::entity::agent_command::Entity::find_by_id(id.to_owned())
            .one(state.db.read()).await.unwrap().unwrap();
        // Two changes whose transactions commit in the other order than they took their ids
        // (as concurrent commits on PostgreSQL, or another replica's late notification, do).
        let (mut early, mut late) = (command.clone(), command);
        early.status = CommandStatus::Running.into();
        late.status = CommandStatus::Succeeded.into();
        let (stream, _) = tokio::join!(read_sse(&server, t, None, "command.running"), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let lower = state.db.write(async |txn| record_command(txn, &early).await).await.unwrap();
            let higher = state.db.write(async |txn| record_command(txn, &late).await).await.unwrap();
            higher.announce(&state.bus.hub);
            lower.announce(&state.bus.hub);
        });
        let kinds: Vec<String> = frames(&stream).into_iter().map(|(_, k)| k).collect();
        assert_eq!(kinds, ["command.succeeded", "command.running"], "the lower id is not dropped: {stream}");
    }

    async fn an_agent_watches_its_own_events_only(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let (agent, token) = server.paired_agent(&owner).await;
        let (other_agent, _) = server.paired_agent(&owner).await;
        server.post("/api/v1/vm-ops/commands", t, json!({"agent_id": other_agent, "command_type": "proxmox.stop", "payload": {"vmid": 100}})).await;
        let (_, mine) = server.post("/api/v1/vm-ops/commands", t, json!({"agent_id": agent, "command_type": "proxmox.start", "payload": {"vmid": 100}})).await;
        let seen = read_sse(&server, &token, Some("0"), "proxmox.start").await;
        assert!(seen.contains(mine["data"]["id"].as_str().unwrap()) && !seen.contains("proxmox.stop") && !seen.contains(&other_agent), "{seen}");
        let (status, _) = server.get(&format!("/api/v1/vm-ops/events?agent_id={other_agent}"), &token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "not another agent's stream");
        let stranger = server.user_session("acme", "stranger@example.com", Role::User).await;
        let (status, _) = server.get(&format!("/api/v1/vm-ops/events?agent_id={agent}"), &stranger.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "not an agent the caller may see");
    }

    async fn events_stream_live_and_replay_after_reconnect(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let (agent, token) = server.paired_agent(&owner).await;
        let (live, queued) = tokio::join!(read_sse(&server, t, None, "command.queued"), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.post("/api/v1/vm-ops/commands", t, json!({"agent_id": agent, "command_type": "proxmox.status"})).await
        });
        assert_eq!(queued.0, StatusCode::ACCEPTED);
        let first = frames(&live);
        assert_eq!(first.len(), 1, "{live}");
        let (queued_id, _) = first[0].clone();

        // While disconnected the command runs to the end; a reconnect replays exactly that.
        let (_, claimed) = next(&server, &token, 1000).await;
        let claim = claimed["data"]["claim_id"].clone();
        let path = format!("/api/v1/vm-ops/commands/{}", claimed["data"]["id"].as_str().unwrap());
        server.patch(&path, &token, json!({"claim_id": claim, "status": "running"})).await;
        server.patch(&path, &token, json!({"claim_id": claim, "status": "succeeded", "result": {"ok": true}})).await;
        let replay = read_sse(&server, t, Some(&queued_id.to_string()), "command.succeeded").await;
        let events = frames(&replay);
        let kinds: Vec<&str> = events.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(kinds, ["command.dispatched", "command.running", "command.succeeded"], "{replay}");
        assert!(events.windows(2).all(|w| w[0].0 < w[1].0) && events[0].0 > queued_id, "ids only grow");

        // Another tenant's stream shows none of it.
        let other = server.user_session("other", "x@other.example", Role::Admin).await;
        let mut res = server.http.get(format!("{}/api/v1/vm-ops/events?last_event_id=0", server.url))
            .bearer_auth(&other.access_token).send().await.unwrap();
        let mut seen = String::new();
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_millis(800), res.chunk()).await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(seen.contains(": connected") && !seen.contains("vm-command"), "{seen}");
    }
}

/// Two servers on one PostgreSQL database: a dispatch through one wakes a poll waiting on
/// the other, and the other's event stream carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_on_one_replica_wakes_a_poll_on_another() {
    let a = TestServer::start(botmox_testkit::Backend::Postgres).await;
    let b = a.replica().await;
    let owner = a
        .user_session("acme", "owner@example.com", Role::User)
        .await;
    let (agent, token) = a.paired_agent(&owner).await;
    let started = Instant::now();
    let (polled, streamed, dispatched) = tokio::join!(
        next(&b, &token, 20_000),
        read_sse(&b, &owner.access_token, None, "command.queued"),
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            a.post(
                "/api/v1/vm-ops/commands",
                &owner.access_token,
                json!({"agent_id": agent, "command_type": "proxmox.status"}),
            )
            .await
        }
    );
    assert_eq!(dispatched.0, StatusCode::ACCEPTED);
    assert_eq!(
        polled.1["data"]["id"], dispatched.1["data"]["id"],
        "claimed on replica B"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken, not timed out: {:?}",
        started.elapsed()
    );
    assert!(streamed.contains(dispatched.1["data"]["id"].as_str().unwrap()));
}

/// The sweeper gives a lapsed claim back to the queue (the old claim id stops working),
/// fails a command claimed too often, and expires queued commands past their time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapsed_claims_return_to_the_queue_and_nothing_stays_claimed_forever() {
    use botmox_server::vm_ops::sweeper::{CLAIM_LEASE_MS, MAX_ATTEMPTS, sweep};
    let server = TestServer::start(botmox_testkit::Backend::Sqlite).await;
    let owner = server
        .user_session("acme", "owner@example.com", Role::User)
        .await;
    let (agent, token) = server.paired_agent(&owner).await;
    let (_, queued) = server
        .post(
            "/api/v1/vm-ops/commands",
            &owner.access_token,
            json!({"agent_id": agent, "command_type": "proxmox.start", "payload": {"vmid": 100}}),
        )
        .await;
    let id = queued["data"]["id"].as_str().unwrap().to_owned();
    let later = || chrono::Utc::now().timestamp_millis() + CLAIM_LEASE_MS + 1000;
    let mut old_claim = Value::Null;
    for attempt in 1..=MAX_ATTEMPTS {
        let claimed = if attempt == 1 {
            next(&server, &token, 1000).await.1
        } else {
            // The poll already waits when the sweeper gives the command back: that wakes it.
            let started = Instant::now();
            let requeue = async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                sweep(server.state(), later()).await.unwrap();
            };
            let ((_, claimed), ()) = tokio::join!(next(&server, &token, 10_000), requeue);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "woken by the re-queue, not timed out: {:?}",
                started.elapsed()
            );
            claimed
        };
        assert_eq!(
            (
                claimed["data"]["id"].clone(),
                claimed["data"]["attempts"].clone()
            ),
            (json!(id), json!(attempt))
        );
        assert_ne!(claimed["data"]["claim_id"], old_claim);
        old_claim = claimed["data"]["claim_id"].clone();
    }
    sweep(server.state(), later()).await.unwrap();
    let path = format!("/api/v1/vm-ops/commands/{id}");
    let (_, failed) = server.get(&path, &owner.access_token).await;
    assert_eq!(failed["data"]["status"], "failed", "{failed}");
    assert!(
        failed["data"]["error_message"]
            .as_str()
            .unwrap()
            .contains("3 times")
    );
    let (status, _) = server
        .patch(
            &path,
            &token,
            json!({"claim_id": old_claim, "status": "running"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a lapsed claim reports nothing"
    );

    let (_, queued) = server
        .post(
            "/api/v1/vm-ops/commands",
            &owner.access_token,
            json!({"agent_id": agent, "command_type": "proxmox.stop", "payload": {"vmid": 100}, "expires_in_seconds": 10}),
        )
        .await;
    sweep(
        server.state(),
        chrono::Utc::now().timestamp_millis() + 11_000,
    )
    .await
    .unwrap();
    let (_, expired) = server
        .get(
            &format!(
                "/api/v1/vm-ops/commands/{}",
                queued["data"]["id"].as_str().unwrap()
            ),
            &owner.access_token,
        )
        .await;
    assert_eq!(expired["data"]["status"], "expired");
    assert_eq!(
        next(&server, &token, 1000).await.1["data"],
        Value::Null,
        "nothing left to claim"
    );
}

/// Open an SSE stream (`path` with `headers`), run `withdraw`, and return whether the stream
/// ended (the server closed it) within 10 s after; what it sent is read along the way.
async fn ends_after(
    server: &TestServer,
    path: &str,
    headers: &[(&str, String)],
    withdraw: impl std::future::Future<Output = ()>,
) -> bool {
    let mut req = server.http.get(format!("{}{path}", server.url));
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let mut res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    // The stream is open (its first bytes arrived) before access is withdrawn.
    let first = tokio::time::timeout(Duration::from_secs(10), res.chunk()).await;
    assert!(matches!(first, Ok(Ok(Some(_)))), "{path} opened");
    withdraw.await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, res.chunk()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Ok(Err(_)) => return true,
            Err(_) => return false,
        }
    }
}

both_backends! {
    async fn open_event_streams_end_when_access_is_withdrawn(backend) {
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let bearer = |t: &str| vec![("authorization", format!("Bearer {t}"))];

        // An API token, revoked.
        let (_, created) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": "ci", "role": "admin"})).await;
        let token = created["data"]["token"].as_str().unwrap().to_owned();
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        let revoke = async {
            assert_eq!(server.delete(&format!("/api/v1/tokens/{id}"), &admin.access_token).await.0, StatusCode::OK);
        };
        assert!(ends_after(&server, "/api/v1/vm-ops/events", &bearer(&token), revoke).await, "revoked token");

        // A user disabled, and one demoted (an admin's stream showed the whole tenant).
        let user = server.user_session("acme", "user@example.com", Role::Admin).await;
        let disable = async {
            let (status, body) = server.patch(&format!("/api/v1/users/{}", user.user_id), &admin.access_token, json!({"disabled": true})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        };
        assert!(ends_after(&server, "/api/v1/vm-ops/events", &bearer(&user.access_token), disable).await, "disabled user");
        let other = server.user_session("acme", "other@example.com", Role::Admin).await;
        let demote = async {
            let (status, body) = server.patch(&format!("/api/v1/users/{}", other.user_id), &admin.access_token, json!({"role": "user"})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        };
        assert!(ends_after(&server, "/api/v1/vm-ops/events", &bearer(&other.access_token), demote).await, "demoted admin");

        // A stream whose holder is untouched stays open when someone else's access changes.
        let still = server.user_session("acme", "still@example.com", Role::User).await;
        let unrelated = async {
            let (_, created) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": "x", "role": "user"})).await;
            let id = created["data"]["id"].as_str().unwrap().to_owned();
            server.delete(&format!("/api/v1/tokens/{id}"), &admin.access_token).await;
        };
        assert!(!ends_after(&server, "/api/v1/vm-ops/events", &bearer(&still.access_token), unrelated).await, "others' changes end nothing");

        // An agent revoked.
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let (agent, agent_token) = server.paired_agent(&owner).await;
        let revoke_agent = async {
            assert_eq!(server.post(&format!("/api/v1/agents/{agent}/revoke"), &owner.access_token, json!({})).await.0, StatusCode::OK);
        };
        assert!(ends_after(&server, "/api/v1/vm-ops/events", &bearer(&agent_token), revoke_agent).await, "revoked agent");
    }

    async fn a_stream_on_another_replica_ends_when_access_is_withdrawn(backend) {
        if backend == botmox_testkit::Backend::Sqlite {
            return; // replicas share a database only on PostgreSQL
        }
        let server = TestServer::start(backend).await;
        let replica = server.replica().await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let (_, created) = server.post("/api/v1/tokens", &admin.access_token, json!({"name": "ci", "role": "user"})).await;
        let token = created["data"]["token"].as_str().unwrap().to_owned();
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        let revoke = async {
            assert_eq!(server.delete(&format!("/api/v1/tokens/{id}"), &admin.access_token).await.0, StatusCode::OK);
        };
        let headers = [("authorization", format!("Bearer {token}"))];
        assert!(ends_after(&replica, "/api/v1/vm-ops/events", &headers, revoke).await, "the other replica's stream ends too");
    }
}

both_backends! {
    async fn the_pages_event_stream_ends_when_the_ui_session_logs_out(backend) {
        let server = TestServer::start(backend).await;
        server.create_user("acme", "ui@example.com", Role::User).await;
        let (cookie, csrf) = server.ui_session("ui@example.com", "correct-horse-battery").await;
        let logout = async {
            let res = server
                .http
                .post(format!("{}/logout", server.url))
                .header("cookie", &cookie)
                .form(&[("_csrf", csrf.as_str())])
                .send()
                .await
                .unwrap();
            assert!(res.status().is_redirection(), "{}", res.status());
        };
        let headers = [("cookie", cookie.clone())];
        assert!(ends_after(&server, "/events", &headers, logout).await, "logged-out session");
    }
}

/// The stored payload of command `id`, as the database holds it.
async fn stored_payload(server: &TestServer, id: &str) -> Value {
    let tenant = botmox_server::db::TenantId::trusted("acme");
    let command = botmox_server::vm_ops::store::get(&server.state().db, &tenant, id)
        .await
        .unwrap()
        .expect("the command");
    serde_json::from_str(&command.payload).unwrap()
}

both_backends! {
    async fn the_config_isos_files_reach_the_agent_only_and_are_not_kept_once_it_ends(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let t = &owner.access_token;
        let (agent, token) = server.paired_agent(&owner).await;
        // "{"token":"secret"}", as provision.json would carry it.
        let files = json!({"provision.json": "eyJ0b2tlbiI6InNlY3JldCJ9", "START.ps1": "V3JpdGUtSG9zdCBoaQ=="});
        let dispatch = |vmid: u32| server.post("/api/v1/vm-ops/commands", t, json!({"agent_id": agent,
            "command_type": "proxmox.create-provision-iso", "payload": {"vmid": vmid, "files": files}, "queue_if_offline": true}));
        let withheld = json!({"provision.json": "", "START.ps1": ""});

        let (status, queued) = dispatch(101).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        assert_eq!(queued["data"]["payload"]["files"], withheld, "people see the names only");
        let id = queued["data"]["id"].as_str().unwrap().to_owned();
        let (_, claimed) = next(&server, &token, 1000).await;
        assert_eq!(claimed["data"]["payload"]["files"], files, "the agent gets the files whole");
        assert_eq!(stored_payload(&server, &id).await["files"], files, "kept while it runs");
        let (_, seen) = server.get(&format!("/api/v1/vm-ops/commands/{id}"), t).await;
        assert_eq!(seen["data"]["payload"]["files"], withheld);
        let (_, listed) = server.get(&format!("/api/v1/vm-ops/commands?agent_id={agent}"), t).await;
        assert_eq!(listed["data"][0]["payload"]["files"], withheld);
        let claim = claimed["data"]["claim_id"].clone();
        let (status, _) = server.patch(&format!("/api/v1/vm-ops/commands/{id}"), &token,
            json!({"claim_id": claim, "status": "succeeded", "result": {"isoPath": "local:iso/x.iso"}})).await;
        assert_eq!(status, StatusCode::OK);
        let payload = stored_payload(&server, &id).await;
        assert_eq!((payload["files"].clone(), payload["vmid"].clone()), (withheld.clone(), json!(101)), "emptied once it ended");

        // Cancelled before any agent took it: emptied too.
        let (_, queued) = dispatch(102).await;
        let id = queued["data"]["id"].as_str().unwrap().to_owned();
        let (status, _) = server.post(&format!("/api/v1/vm-ops/commands/{id}/cancel"), t, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(stored_payload(&server, &id).await["files"], withheld);

        // Other commands' payloads are kept as they were.
        let (_, queued) = server.post("/api/v1/vm-ops/commands", t, json!({"agent_id": agent,
            "command_type": "proxmox.start", "payload": {"vmid": 100}})).await;
        let id = queued["data"]["id"].as_str().unwrap().to_owned();
        let (_, claimed) = next(&server, &token, 1000).await;
        assert_eq!(claimed["data"]["id"], json!(id));
        server.patch(&format!("/api/v1/vm-ops/commands/{id}"), &token,
            json!({"claim_id": claimed["data"]["claim_id"], "status": "failed", "error_message": "no"})).await;
        assert_eq!(stored_payload(&server, &id).await, json!({"vmid": 100}));
    }
}
