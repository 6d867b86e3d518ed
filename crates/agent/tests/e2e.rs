//! End to end with separate processes: `botmox serve`, `botmox-fake-pve` and `botmox-agent`.
//! A pairing made through the API is pasted into `botmox-agent pair`; `botmox-agent run`
//! then executes what the API dispatches against the fake Proxmox VE, whose state changes;
//! a revocation stops the agent; a server restart does not; a token near its expiry is
//! rotated.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use botmox_proto::auth::Role;
use botmox_testkit::{Backend, ServerProcess, TestServer};
use common::*;
use serde_json::json;

/// A TestServer holds the database (and creates the user); the `botmox` process on it
/// serves the agent, so it can be killed and started again.
async fn servers() -> (TestServer, ServerProcess, String) {
    let shared = TestServer::start(Backend::Sqlite).await;
    let admin = shared
        .user_session("default", "ops@example.com", Role::Admin)
        .await;
    let bin = workspace_bin("botmox-server", "botmox");
    let server = ServerProcess::start(bin.to_str().expect("UTF-8 path"), &shared).await;
    (shared, server, admin.access_token)
}

fn agent(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_botmox-agent"));
    command.arg("--config").arg(config).args(args);
    command
}

/// `botmox-agent pair <uri> --proxmox-url <fake> --proxmox-token <token> --node pve`; the
/// agent id from the config file.
fn pair(config: &Path, uri: &str, fake: &FakePveProcess) -> String {
    let out = agent(config, &["pair", uri])
        .args([
            "--proxmox-url",
            &fake.url,
            "--proxmox-token",
            PVE_TOKEN,
            "--node",
            "pve",
        ])
        .output()
        .expect("run botmox-agent pair");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pair failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Paired as agent"), "{stdout}");
    let text = std::fs::read_to_string(config).expect("config written");
    let parsed: toml::Value = toml::from_str(&text).expect("TOML config");
    parsed["agent_id"].as_str().expect("agent_id").to_owned()
}

fn start_agent(config: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    agent(config, &["run", "--concurrency", "4"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start botmox-agent run")
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_runs_commands_on_proxmox_and_stops_when_revoked() {
    let (_shared, server, token) = servers().await;
    let base = server.url.clone();
    let fake = FakePveProcess::start(200);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    let log = dir.path().join("agent.log");

    let uri = create_pairing(&base, &token).await;
    let agent_id = pair(&config, &uri, &fake);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the config holds secrets");
    }

    // status and doctor say, in words, that the server and Proxmox work.
    let out = agent(&config, &["doctor"]).output().unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{words}");
    assert!(
        words.contains("Server: reachable and authenticated"),
        "{words}"
    );
    assert!(
        words.contains("Proxmox: reachable and authenticated"),
        "{words}"
    );
    assert!(words.contains("SSH: not configured"), "{words}");

    let mut child = start_agent(&config, &log);
    wait_online(&base, &token, &agent_id).await;

    // A clone with an id, then one where Proxmox picks the id, both waiting for their task.
    let clone = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.clone",
        json!({"templateVmId": 100, "newid": 101, "name": "e2e-1", "full": true}),
    )
    .await;
    let clone = finished(&base, &token, &clone).await;
    assert_eq!(clone["status"], "succeeded", "{clone}\n{}", log_of(&log));
    assert_eq!(clone["result"]["vmid"], 101);
    assert_eq!(clone["result"]["exitstatus"], "OK");
    let picked = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.clone",
        json!({"templateVmId": 100, "name": "e2e-2"}),
    )
    .await;
    let picked = finished(&base, &token, &picked).await;
    assert_eq!(picked["status"], "succeeded", "{picked}");
    let picked_id = picked["result"]["vmid"].as_u64().expect("the new id");
    assert!(picked_id > 101, "{picked}");
    let listed = fake.get("nodes/pve/qemu").await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        names.contains(&"e2e-1") && names.contains(&"e2e-2"),
        "{listed}"
    );

    // Start: the command succeeds and the fake's VM runs.
    let start = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.start",
        json!({"vmid": 101}),
    )
    .await;
    let start = finished(&base, &token, &start).await;
    assert_eq!(start["status"], "succeeded", "{start}\n{}", log_of(&log));
    assert_eq!(
        fake.get("nodes/pve/qemu/101/status/current").await["status"],
        "running"
    );

    // Starting it again fails inside the task: the task's real exit status is the error.
    let again = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.start",
        json!({"vmid": "101"}),
    )
    .await;
    let again = finished(&base, &token, &again).await;
    assert_eq!(again["status"], "failed");
    let message = again["error_message"].as_str().unwrap();
    assert!(
        message.starts_with("PVE_TASK_FAILED: ") && message.contains("already running"),
        "{message}"
    );

    // Reads, a config change, and a command the agent does not know.
    let missing = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.update-config",
        json!({"vmid": 999, "config": {"cores": 4}}),
    )
    .await;
    let missing = finished(&base, &token, &missing).await;
    assert_eq!(missing["status"], "failed", "{missing}");
    assert!(
        missing["error_message"]
            .as_str()
            .unwrap()
            .starts_with("PVE_NOT_FOUND: "),
        "{missing}"
    );
    let update = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.update-config",
        json!({"vmid": picked_id, "cores": 4, "config": {"memory": 8192}}),
    )
    .await;
    assert_eq!(
        finished(&base, &token, &update).await["status"],
        "succeeded"
    );
    let read = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.get-config",
        json!({"vmid": picked_id}),
    )
    .await;
    let read = finished(&base, &token, &read).await;
    assert_eq!(
        (
            read["result"]["cores"].as_str(),
            read["result"]["memory"].as_str()
        ),
        (Some("4"), Some("8192")),
        "{read}"
    );
    let vms = dispatch(&base, &token, &agent_id, "proxmox.list-vms", json!({})).await;
    assert!(
        finished(&base, &token, &vms).await["result"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
    let targets = dispatch(&base, &token, &agent_id, "proxmox.list-targets", json!({})).await;
    let targets = finished(&base, &token, &targets).await;
    assert_eq!(targets["result"][0]["node"], "pve");
    // A type outside the catalogue never reaches the agent: the server refuses it.
    let (status, unknown) = call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/vm-ops/commands"),
        &token,
        Some(json!({"agent_id": agent_id, "command_type": "syncthing.restart", "payload": {}})),
    )
    .await;
    assert_eq!(status, 400, "{unknown}");

    // The heartbeat carries the doctor's facts for the Agents page.
    let (_, agent_view) = call(
        reqwest::Method::GET,
        &format!("{base}/api/v1/agents/{agent_id}"),
        &token,
        None,
    )
    .await;
    let host = &agent_view["data"]["metadata"]["host"];
    assert!(host["hostname"].is_string(), "{agent_view}");
    assert_eq!(
        host["doctor"]["proxmox"]["authenticated"], true,
        "{agent_view}"
    );

    // Revocation: the agent stops by itself, with its own exit status.
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/agents/{agent_id}/revoke"),
        &token,
        Some(json!({"reason": "e2e"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let code = tokio::task::spawn_blocking(move || {
        let code = wait_exit(&mut child);
        (code, child)
    })
    .await
    .unwrap();
    assert_eq!(
        code.0,
        Some(3),
        "exit status of a revoked agent\n{}",
        log_of(&log)
    );
    assert!(log_of(&log).contains("revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotates_its_token_reconnects_after_a_server_restart_and_stops_on_sigterm() {
    let (shared, server, token) = servers().await;
    let base = server.url.clone();
    let port = url::Url::parse(&base).unwrap().port().unwrap();
    let fake = FakePveProcess::start(100);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    let log = dir.path().join("agent.log");
    let uri = create_pairing(&base, &token).await;
    let agent_id = pair(&config, &uri, &fake);
    // A token with a day left: the agent swaps it for a fresh one after its first heartbeat.
    // (And a short grace after SIGTERM, for the stop at the end.)
    let paired: toml::Value = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let old_token = paired["token"].as_str().unwrap().to_owned();
    let soon = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    let text = std::fs::read_to_string(&config).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("token_expires_at") {
                format!("token_expires_at = \"{soon}\"")
            } else if l.starts_with("shutdown_grace_secs") {
                "shutdown_grace_secs = 2".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, text + "\n").unwrap();
    let mut child = start_agent(&config, &log);
    wait_online(&base, &token, &agent_id).await;
    let deadline = std::time::Instant::now() + WAIT;
    let rotated = loop {
        let now: toml::Value = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        let current = now["token"].as_str().unwrap().to_owned();
        if current != old_token {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token was not rotated\n{}",
            log_of(&log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expires = rotated["token_expires_at"].as_str().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    assert!(
        expires > chrono::Utc::now() + chrono::TimeDelta::days(20),
        "{expires}"
    );

    // The server dies (SIGKILL) while the agent waits in a poll, and comes back on its port.
    server.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bin = workspace_bin("botmox-server", "botmox");
    let server = ServerProcess::start_at(bin.to_str().unwrap(), &shared, port).await;
    assert_eq!(server.url, base);

    // The agent carries on (with its rotated token): it comes online again and runs what is
    // dispatched.
    wait_online(&base, &token, &agent_id).await;
    let clone = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.clone",
        json!({"templateVmId": 100, "newid": 120, "name": "after-restart"}),
    )
    .await;
    let clone = finished(&base, &token, &clone).await;
    assert_eq!(clone["status"], "succeeded", "{clone}\n{}", log_of(&log));
    let status = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.vm-status",
        json!({"vmid": 120}),
    )
    .await;
    assert_eq!(
        finished(&base, &token, &status).await["result"]["status"],
        "stopped"
    );
    let agent_log = log_of(&log);
    assert!(
        agent_log.contains("failed"),
        "the outage shows in the log:\n{agent_log}"
    );

    // SIGTERM while a command waits (for a VM that never runs): the agent stops claiming,
    // gives it the configured grace, reports it failed and exits cleanly.
    let waiting = dispatch(
        &base,
        &token,
        &agent_id,
        "proxmox.wait-vm-status",
        json!({"vmid": 120, "status": "running", "timeoutMs": 600000}),
    )
    .await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, body) = call(
            reqwest::Method::GET,
            &format!("{base}/api/v1/vm-ops/commands/{waiting}"),
            &token,
            None,
        )
        .await;
        if body["data"]["status"] == "running" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    #[cfg(unix)]
    {
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let code = tokio::task::spawn_blocking(move || wait_exit(&mut child))
            .await
            .unwrap();
        assert_eq!(code, Some(0), "{}", log_of(&log));
        assert!(log_of(&log).contains("agent stopped"));
        let stopped = finished(&base, &token, &waiting).await;
        assert_eq!(stopped["status"], "failed", "{stopped}");
        let message = stopped["error_message"].as_str().unwrap();
        assert!(message.starts_with("AGENT_STOPPED: "), "{message}");
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
        let _ = child.wait();
    }
}
