//! End to end with separate processes: `botmox serve`, `botmox-fake-pve` and `botmox-agent`.
//! A pairing made through the API is pasted into `botmox-agent pair`; `botmox-agent run`
//! then executes what the API dispatches against the fake Proxmox VE, whose state changes;
//! a revocation stops the agent; a server restart does not; a token near its expiry is
//! rotated. In headless Chromium, the VMs page lists the fake's VMs through the agent and
//! starts one.

mod common;

use std::process::Command;
use std::time::Duration;

use botmox_agent::config::AgentConfig;
use botmox_client::Method;
use botmox_proto::agent::RevokeRequest;
use botmox_proto::auth::Role;
use botmox_proto::command::CommandStatus;
use botmox_testkit::browser::{self, Browser};
use botmox_testkit::{Backend, ServerProcess, Session, TestServer};
use common::*;
use serde_json::{Value, json};

/// A TestServer holds the database (and creates the user); the `botmox` process on it
/// serves the agent, so it can be killed and started again.
async fn servers() -> (TestServer, ServerProcess, Api, Session) {
    let shared = TestServer::start(Backend::Sqlite).await;
    let admin = shared
        .user_session("default", "ops@example.com", Role::Admin)
        .await;
    let bin = workspace_bin("botmox-server", "botmox");
    let server = ServerProcess::start(bin.to_str().expect("UTF-8 path"), &shared).await;
    let api = Api::new(&server.url, &admin.access_token);
    (shared, server, api, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_runs_commands_on_proxmox_and_stops_when_revoked() {
    let (_shared, _server, api, _) = servers().await;
    let fake = FakePveProcess::start(200);
    let pve = fake.client();

    let paired = PairedAgent::new(&api, &fake).await;
    let (config, log, agent_id) = (paired.config.clone(), paired.log.clone(), paired.id.clone());
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

    let started_at = chrono::Utc::now();
    let mut child = start_agent(&config, &log);
    api.wait_heartbeat(&agent_id, started_at).await;
    let run = |kind: &'static str, payload: Value| api.run(&agent_id, kind, payload);

    // A clone with an id, then one where Proxmox picks the id, both waiting for their task.
    let clone = run(
        "proxmox.clone",
        json!({"templateVmId": 100, "newid": 101, "name": "e2e-1", "full": true}),
    )
    .await;
    assert_eq!(
        clone.status,
        CommandStatus::Succeeded,
        "{clone:?}\n{}",
        log_of(&log)
    );
    assert_eq!(clone.result["vmid"], 101);
    assert_eq!(clone.result["exitstatus"], "OK");
    let picked = run(
        "proxmox.clone",
        json!({"templateVmId": 100, "name": "e2e-2"}),
    )
    .await;
    assert_eq!(picked.status, CommandStatus::Succeeded, "{picked:?}");
    let picked_id = picked.result["vmid"].as_u64().expect("the new id");
    assert!(picked_id > 101, "{picked:?}");
    let listed = pve.list_vms("pve").await.unwrap();
    let names: Vec<&str> = listed.iter().filter_map(|v| v.name.as_deref()).collect();
    assert!(
        names.contains(&"e2e-1") && names.contains(&"e2e-2"),
        "{listed:?}"
    );

    // Start: the command succeeds and the fake's VM runs.
    let start = run("proxmox.start", json!({"vmid": 101})).await;
    assert_eq!(
        start.status,
        CommandStatus::Succeeded,
        "{start:?}\n{}",
        log_of(&log)
    );
    assert_eq!(
        pve.vm_status("pve", 101).await.unwrap().vm.status,
        "running"
    );

    // Starting it again fails inside the task: the task's real exit status is the error.
    let again = run("proxmox.start", json!({"vmid": "101"})).await;
    assert_eq!(again.status, CommandStatus::Failed);
    let message = again.error_message.as_deref().unwrap();
    assert!(
        message.starts_with("PVE_TASK_FAILED: ") && message.contains("already running"),
        "{message}"
    );

    // Reads, a config change, and a command the agent does not know.
    let missing = run(
        "proxmox.update-config",
        json!({"vmid": 999, "config": {"cores": 4}}),
    )
    .await;
    assert_eq!(missing.status, CommandStatus::Failed, "{missing:?}");
    assert!(
        missing
            .error_message
            .as_deref()
            .unwrap()
            .starts_with("PVE_NOT_FOUND: "),
        "{missing:?}"
    );
    let update = run(
        "proxmox.update-config",
        json!({"vmid": picked_id, "cores": 4, "config": {"memory": 8192}}),
    )
    .await;
    assert_eq!(update.status, CommandStatus::Succeeded);
    let read = run("proxmox.get-config", json!({"vmid": picked_id})).await;
    assert_eq!(
        (
            read.result["cores"].as_str(),
            read.result["memory"].as_str()
        ),
        (Some("4"), Some("8192")),
        "{read:?}"
    );
    let vms = run("proxmox.list-vms", json!({})).await;
    assert!(vms.result.as_array().unwrap().len() >= 3);
    let targets = run("proxmox.list-targets", json!({})).await;
    assert_eq!(targets.result[0]["node"], "pve");
    // A type outside the catalogue never reaches the agent: the server refuses it.
    let body = json!({"agent_id": agent_id, "command_type": "syncthing.restart", "payload": {}});
    let unknown = api
        .client
        .request::<Value>(Method::POST, "/vm-ops/commands", Some(&body))
        .await
        .unwrap_err();
    assert_eq!(unknown.status(), Some(400), "{unknown}");

    // The reference's direct routes, served through the agent: list the node's VMs, start
    // one, read its status; the fake's VM runs.
    let infra = |method: Method, path: String| {
        let client = &api.client;
        async move {
            client
                .request::<Value>(method, &path, None::<&Value>)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"))
        }
    };
    let listed = infra(Method::GET, "/infra/proxmox/nodes/pve/qemu".into()).await;
    assert!(listed.as_array().unwrap().len() >= 3, "{listed}");
    let started = infra(
        Method::POST,
        format!("/infra/proxmox/nodes/pve/qemu/{picked_id}/status/start"),
    )
    .await;
    assert_eq!(started["exitstatus"], "OK", "{started}");
    assert_eq!(
        pve.vm_status("pve", picked_id as u32)
            .await
            .unwrap()
            .vm
            .status,
        "running"
    );
    let current = infra(
        Method::GET,
        format!("/infra/proxmox/nodes/pve/qemu/{picked_id}/status/current"),
    )
    .await;
    assert_eq!(current["status"], "running", "{current}");

    // The heartbeat carries the doctor's facts for the Agents page (once they are in).
    let deadline = Deadline::new("the doctor's facts in a heartbeat");
    let host = loop {
        let view = api.agent(&agent_id).await;
        let host = view.metadata["host"].clone();
        if !host["doctor"].is_null() {
            break host;
        }
        deadline.tick(&view).await;
    };
    assert!(host["hostname"].is_string(), "{host}");
    assert_eq!(host["doctor"]["proxmox"]["authenticated"], true, "{host}");

    // Revocation: the agent stops by itself, with its own exit status.
    let revoke = RevokeRequest {
        reason: Some("e2e".into()),
    };
    api.client.revoke_agent(&agent_id, &revoke).await.unwrap();
    let code = wait_exit(&mut child).await;
    assert_eq!(
        code,
        Some(3),
        "exit status of a revoked agent\n{}",
        log_of(&log)
    );
    assert!(log_of(&log).contains("revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotates_its_token_reconnects_after_a_server_restart_and_stops_on_sigterm() {
    let (shared, server, api, _) = servers().await;
    let base = server.url.clone();
    let port = url::Url::parse(&base).unwrap().port().unwrap();
    let fake = FakePveProcess::start(100);
    let paired = PairedAgent::new(&api, &fake).await;
    let (config, log, agent_id) = (paired.config.clone(), paired.log.clone(), paired.id.clone());
    // A token with a day left: the agent swaps it for a fresh one after its first heartbeat.
    // (And a short grace after SIGTERM, for the stop at the end.)
    let mut paired = AgentConfig::load(&config).unwrap();
    let old_token = paired.token.clone();
    paired.token_expires_at = Some(chrono::Utc::now() + chrono::TimeDelta::days(1));
    paired.shutdown_grace_secs = 2;
    paired.save(&config).unwrap();
    let started_at = chrono::Utc::now();
    let mut child = start_agent(&config, &log);
    api.wait_heartbeat(&agent_id, started_at).await;
    let deadline = Deadline::new("the token to be rotated");
    let rotated = loop {
        let now = AgentConfig::load(&config).unwrap();
        if now.token != old_token {
            break now;
        }
        deadline.tick(&log_of(&log)).await;
    };
    let expires = rotated.token_expires_at.unwrap();
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
    let restarted_at = chrono::Utc::now();

    // The agent carries on (with its rotated token): it heartbeats again and runs what is
    // dispatched.
    api.wait_heartbeat(&agent_id, restarted_at).await;
    let clone = api
        .run(
            &agent_id,
            "proxmox.clone",
            json!({"templateVmId": 100, "newid": 120, "name": "after-restart"}),
        )
        .await;
    assert_eq!(
        clone.status,
        CommandStatus::Succeeded,
        "{clone:?}\n{}",
        log_of(&log)
    );
    let status = api
        .run(&agent_id, "proxmox.vm-status", json!({"vmid": 120}))
        .await;
    assert_eq!(status.result["status"], "stopped");
    let agent_log = log_of(&log);
    assert!(
        agent_log.contains("failed"),
        "the outage shows in the log:\n{agent_log}"
    );

    // SIGTERM while a command waits (for a VM that never runs): the agent stops claiming,
    // gives it the configured grace, reports it failed and exits cleanly.
    let waiting = api
        .dispatch(
            &agent_id,
            "proxmox.wait-vm-status",
            json!({"vmid": 120, "status": "running", "timeoutMs": 600000}),
        )
        .await;
    let deadline = Deadline::new(format!("command {waiting} to run"));
    loop {
        let view = api.client.get_command(&waiting).await.unwrap();
        if view.status == CommandStatus::Running {
            break;
        }
        deadline.tick(&view).await;
    }
    #[cfg(unix)]
    {
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let code = wait_exit(&mut child).await;
        assert_eq!(code, Some(0), "{}", log_of(&log));
        assert!(log_of(&log).contains("agent stopped"));
        let stopped = api.finished(&waiting).await;
        assert_eq!(stopped.status, CommandStatus::Failed, "{stopped:?}");
        let message = stopped.error_message.as_deref().unwrap();
        assert!(message.starts_with("AGENT_STOPPED: "), "{message}");
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vms_page_lists_the_nodes_vms_and_starts_one_through_the_agent() {
    let (_shared, server, api, admin) = servers().await;
    let fake = FakePveProcess::start(200);
    let paired = PairedAgent::new(&api, &fake).await;
    let (config, log, agent_id) = (paired.config.clone(), paired.log.clone(), paired.id.clone());
    let started_at = chrono::Utc::now();
    let mut child = start_agent(&config, &log);
    api.wait_heartbeat(&agent_id, started_at).await;
    let clone = api
        .run(
            &agent_id,
            "proxmox.clone",
            json!({"templateVmId": 100, "newid": 131, "name": "page-vm"}),
        )
        .await;
    assert_eq!(clone.status, CommandStatus::Succeeded, "{clone:?}");

    let browser = Browser::start().await;
    let c = &browser.client;
    browser::sign_in(c, &server.url, &admin.email, &admin.password).await;
    c.goto(&format!("{}/vms", server.url)).await.unwrap();
    // The template and the clone, as the agent listed them from the fake.
    let row = "#vms tbody tr[data-vmid='131']";
    let text = browser::text_of(c, row).await;
    assert!(
        text.contains("page-vm") && text.contains("stopped"),
        "{text}"
    );
    assert!(
        browser::text_of(c, "#vms tbody tr[data-vmid='100']")
            .await
            .contains("template")
    );

    browser::click(c, &format!("{row} form[action$='/start'] button")).await;
    browser::wait_for_parts(c, "#notice", &["Start of VM 131 queued"]).await;
    // The list re-renders by itself once the start has finished: the VM runs.
    let deadline = Deadline::new("VM 131 running on the page");
    loop {
        let text = browser::text_of(c, row).await;
        if text.contains("running") {
            break;
        }
        deadline.tick(&text).await;
    }
    let log_text = browser::text_of(c, "#command-log").await;
    assert!(log_text.contains("proxmox.start"), "{log_text}");
    let pve = fake.client();
    assert_eq!(
        pve.vm_status("pve", 131).await.unwrap().vm.status,
        "running"
    );
    browser.close().await;
    child.kill().ok();
    child.wait().ok();
}
