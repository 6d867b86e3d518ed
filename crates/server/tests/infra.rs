//! The reference's `/api/v1/infra/*` routes served through an agent, on SQLite and
//! PostgreSQL: the role they need, how the agent is chosen, the call as a catalogue command
//! whose outcome is the answer, and the agent's failure, absence and slowness as stable
//! codes. A simulated agent claims and reports here; crates/agent's end-to-end test runs
//! the same routes through the real agent and the fake Proxmox VE.

use botmox_proto::auth::Role;
use botmox_testkit::{TestServer, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The simulated agent: claim the next command (waiting for it), check it is `expected`,
/// then report `outcome` (`Ok(result)` or `Err(message)`).
async fn serve_one(
    server: &TestServer,
    token: &str,
    expected: (&str, Value),
    outcome: Result<Value, &str>,
) {
    let (status, next) = server
        .get("/api/v1/vm-ops/commands/next?timeout_ms=20000", token)
        .await;
    assert_eq!(status, StatusCode::OK, "{next}");
    let command = &next["data"];
    assert_eq!(
        (
            command["command_type"].as_str().unwrap(),
            command["payload"].clone()
        ),
        expected,
        "{command}"
    );
    let id = command["id"].as_str().unwrap();
    let claim = command["claim_id"].clone();
    let body = match outcome {
        Ok(result) => json!({"claim_id": claim, "status": "succeeded", "result": result}),
        Err(message) => json!({"claim_id": claim, "status": "failed", "error_message": message}),
    };
    let (status, reported) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/vm-ops/commands/{id}"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reported}");
}

both_backends! {
    async fn infra_calls_run_on_the_agent_and_answer_its_result(backend) {
        let server = TestServer::start(backend).await;
        let infra = server.user_session("acme", "infra@example.com", Role::Infra).await;
        let t = &infra.access_token;
        let (agent, token) = server.paired_agent(&infra).await;

        // Status: proxmox.status on the only agent; the answer is its result, connected.
        let (call, ()) = tokio::join!(
            server.get("/api/v1/infra/proxmox/status", t),
            serve_one(&server, &token, ("proxmox.status", json!({})), Ok(json!({"version": "8.2.4", "release": "8.2"}))),
        );
        assert_eq!(call.0, StatusCode::OK, "{}", call.1);
        assert_eq!(call.1["data"], json!({"connected": true, "version": "8.2.4", "release": "8.2"}));

        // A power action with the node and VM id from the path; the agent's result answers.
        let path = format!("/api/v1/infra/proxmox/nodes/pve/qemu/101/status/start?agent_id={agent}");
        let (call, ()) = tokio::join!(
            server.post(&path, t, json!({})),
            serve_one(&server, &token, ("proxmox.start", json!({"node": "pve", "vmid": 101})),
                Ok(json!({"upid": "UPID:pve:1:2:3:qmstart:101:root@pam:", "exitstatus": "OK"}))),
        );
        assert_eq!((call.0, call.1["data"]["exitstatus"].clone()), (StatusCode::OK, json!("OK")), "{}", call.1);

        // Clone with the reference's body (`full` as 1), and delete with its flags.
        let (call, ()) = tokio::join!(
            server.post("/api/v1/infra/proxmox/nodes/pve/qemu/100/clone", t, json!({"newid": 120, "name": "w1", "full": 1})),
            serve_one(&server, &token, ("proxmox.clone", json!({"node": "pve", "templateVmId": 100, "newid": 120, "name": "w1", "full": true})),
                Ok(json!({"upid": "UPID:x", "newid": 120}))),
        );
        assert_eq!(call.0, StatusCode::OK, "{}", call.1);
        let (call, ()) = tokio::join!(
            server.delete("/api/v1/infra/proxmox/nodes/pve/qemu/120?purge=yes", t),
            serve_one(&server, &token, ("proxmox.delete", json!({"node": "pve", "vmid": 120, "purge": true, "destroyUnreferencedDisks": false})),
                Ok(json!({"upid": "UPID:y"}))),
        );
        assert_eq!(call.0, StatusCode::OK, "{}", call.1);

        // SSH: exec's timeout becomes timeoutMs; the config file is written through the agent.
        let (call, ()) = tokio::join!(
            server.post("/api/v1/infra/ssh/exec", t, json!({"command": "qm status 101", "timeout": 5000})),
            serve_one(&server, &token, ("proxmox.ssh-exec", json!({"command": "qm status 101", "timeoutMs": 5000})),
                Ok(json!({"stdout": "status: running\n", "stderr": "", "exitCode": 0, "allowlisted": true}))),
        );
        assert_eq!(call.1["data"]["stdout"], "status: running\n", "{}", call.1);
        let (call, ()) = tokio::join!(
            server.put("/api/v1/infra/ssh/vm-config/101", t, json!({"content": "cores: 2\n"})),
            serve_one(&server, &token, ("proxmox.ssh-write-config", json!({"vmid": 101, "content": "cores: 2\n"})),
                Ok(json!({"written": true}))),
        );
        assert_eq!(call.1["data"], json!({"written": true}));

        // Mutating calls are audited as privileged ones.
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let (_, audit) = server.get("/api/v1/audit?action=POST%20/api/v1/infra", &admin.access_token).await;
        assert!(audit["meta"]["total"].as_u64().unwrap() >= 3, "{audit}");
    }

    async fn the_agents_failure_absence_and_slowness_have_stable_codes(backend) {
        let server = TestServer::start(backend).await;
        let infra = server.user_session("acme", "infra@example.com", Role::Infra).await;
        let t = &infra.access_token;

        let (status, err) = server.get("/api/v1/infra/proxmox/status", t).await;
        assert_eq!((status, err["error"]["details"]["fieldErrors"]["agent_id"].is_array()), (StatusCode::BAD_REQUEST, true), "no agent: {err}");

        let (agent, token) = server.paired_agent(&infra).await;
        // The agent fails: 502 with its code and message apart.
        let (call, ()) = tokio::join!(
            server.get("/api/v1/infra/proxmox/nodes/pve/qemu/7/config", t),
            serve_one(&server, &token, ("proxmox.get-config", json!({"node": "pve", "vmid": 7})),
                Err("PVE_NOT_FOUND: Configuration file 'nodes/pve/qemu-server/7.conf' does not exist")),
        );
        assert_eq!((call.0, call.1["error"]["code"].clone()), (StatusCode::BAD_GATEWAY, json!("COMMAND_FAILED")), "{}", call.1);
        assert_eq!(call.1["error"]["details"]["code"], "PVE_NOT_FOUND");
        assert_eq!(call.1["error"]["details"]["status"], "failed");

        // The agent never answers: 504 naming the command, which stays to be followed.
        let (status, err) = server.get("/api/v1/infra/proxmox/cluster/resources?timeout_ms=1000", t).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::GATEWAY_TIMEOUT, json!("AGENT_TIMEOUT")), "{err}");
        let command = err["error"]["details"]["command_id"].as_str().unwrap();
        let (status, view) = server.get(&format!("/api/v1/vm-ops/commands/{command}"), t).await;
        assert_eq!((status, view["data"]["command_type"].clone()), (StatusCode::OK, json!("proxmox.cluster-resources")));

        // Bad input is refused before anything is queued.
        for (path, body) in [
            ("/api/v1/infra/proxmox/nodes/pve/qemu/abc/status/start", json!({})),
            // No VM has id 0, and Proxmox gives none above 999999999.
            ("/api/v1/infra/proxmox/nodes/pve/qemu/0/status/start", json!({})),
            ("/api/v1/infra/proxmox/nodes/pve/qemu/1000000000/status/start", json!({})),
            ("/api/v1/infra/proxmox/nodes/pve/qemu/101/status/explode", json!({})),
            ("/api/v1/infra/proxmox/nodes/pve/qemu/101/sendkey", json!({"key": "a; reboot"})),
            ("/api/v1/infra/ssh/exec", json!({"command": "qm status 1\nreboot"})),
            ("/api/v1/infra/ssh/exec", json!({"command": "rm -rf /"})),
            ("/api/v1/infra/ssh/exec", json!({"command": "qm status 101", "timeout": 999_999})),
            // An array is not a body, though serde would read a struct from one.
            ("/api/v1/infra/proxmox/nodes/pve/qemu/100/clone", json!([null, null, null, null, null])),
            ("/api/v1/infra/proxmox/nodes/pve/qemu/100/clone", json!({"full": "yes"})),
            ("/api/v1/infra/proxmox/nodes/pve/qemu/101/sendkey", json!(["ret"])),
            ("/api/v1/infra/proxmox/status?timeout_ms=5", json!({})),
        ] {
            let (status, err) = server.post(path, t, body).await;
            assert!([StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&status), "{path}: {status} {err}");
        }
        for path in [
            "/api/v1/infra/proxmox/nodes/a%00b/qemu",
            "/api/v1/infra/proxmox/nodes/pve/qemu/99999999999999999999999/config",
            "/api/v1/infra/proxmox/nodes/pve/tasks/UPID%00x/status",
            "/api/v1/infra/proxmox/nodes/pve/tasks/UPID:h1:%C3%A9/status",
            "/api/v1/infra/proxmox/status?timeout_ms=18446744073709551616",
            "/api/v1/infra/proxmox/status?agent_id=a%00",
        ] {
            let (status, err) = server.get(path, t).await;
            assert!([StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND].contains(&status), "{path}: {status} {err}");
        }
        let (_, listed) = server.get(&format!("/api/v1/vm-ops/commands?agent_id={agent}"), t).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 2, "only the two calls above were queued: {listed}");

        // Two agents: the call must say which, or the settings name a default.
        let (second, _) = server.paired_agent(&infra).await;
        let (status, _) = server.get("/api/v1/infra/proxmox/status?timeout_ms=1000", t).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        server.put("/api/v1/settings/vmgenerator/agentId", &admin.access_token, json!(second)).await;
        let (status, err) = server.get("/api/v1/infra/proxmox/status?timeout_ms=1000", t).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "the default agent got it: {err}");

        // An agent not seen lately: 409 at once.
        server.execute("UPDATE agents SET last_seen_at = 0").await.unwrap();
        let (status, err) = server.get(&format!("/api/v1/infra/proxmox/status?agent_id={agent}"), t).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::CONFLICT, json!("AGENT_OFFLINE")));
    }

    async fn infra_needs_its_role_and_stays_in_the_tenant(backend) {
        let server = TestServer::start(backend).await;
        let user = server.user_session("acme", "user@example.com", Role::User).await;
        let (agent, _) = server.paired_agent(&user).await;
        let (status, _) = server.get(&format!("/api/v1/infra/proxmox/status?agent_id={agent}"), &user.access_token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a plain user");
        let (status, _) = server.get("/api/v1/infra/proxmox/status", "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Another tenant's infra member cannot reach the agent.
        let other = server.user_session("globex", "infra@globex.example", Role::Infra).await;
        let (status, err) = server.get(&format!("/api/v1/infra/proxmox/status?agent_id={agent}"), &other.access_token).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("NOT_FOUND")), "{err}");
    }
}
