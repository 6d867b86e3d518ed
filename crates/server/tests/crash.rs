//! `kill -9` of the server in the middle of a command run: after a restart on the same
//! database no acknowledged command is lost and none is claimed twice; on SQLite and
//! PostgreSQL. The server runs as a real child process (the `botmox` binary).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use botmox_proto::auth::Role;
use botmox_testkit::{ServerProcess, TestServer, both_backends};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_botmox");

/// What the clients were told: commands acknowledged (202) and commands claimed (200).
#[derive(Default)]
struct Seen {
    acknowledged: Vec<String>,
    claimed: Vec<String>,
}

/// Dispatch and claim (and report) against `url` until a request fails (the server died)
/// or, with `drain`, until a poll comes back empty.
async fn run(
    http: &reqwest::Client,
    url: &str,
    human: &str,
    agent: (&str, &str),
    seen: &Mutex<Seen>,
    drain: bool,
) {
    let (agent_id, token) = agent;
    let dispatcher = async {
        if drain {
            return;
        }
        for n in 0.. {
            let sent = http.post(format!("{url}/api/v1/vm-ops/commands")).bearer_auth(human)
                .json(&json!({"agent_id": agent_id, "command_type": "proxmox.start", "payload": {"vmid": 100 + n}})).send().await;
            let Ok(res) = sent else { return };
            if res.status() != StatusCode::ACCEPTED {
                return;
            }
            let Ok(body) = res.json::<Value>().await else {
                return;
            };
            seen.lock()
                .unwrap()
                .acknowledged
                .push(body["data"]["id"].as_str().unwrap().to_owned());
        }
    };
    let poller = || async {
        loop {
            let polled = http
                .get(format!("{url}/api/v1/vm-ops/commands/next?timeout_ms=1000"))
                .bearer_auth(token)
                .send()
                .await;
            let Ok(res) = polled else { return };
            let Ok(body) = res.json::<Value>().await else {
                return;
            };
            let Some(id) = body["data"]["id"].as_str() else {
                if drain { return } else { continue }
            };
            seen.lock().unwrap().claimed.push(id.to_owned());
            let report = json!({"claim_id": body["data"]["claim_id"], "status": "succeeded", "result": {"ok": true}});
            if http
                .patch(format!("{url}/api/v1/vm-ops/commands/{id}"))
                .bearer_auth(token)
                .json(&report)
                .send()
                .await
                .is_err()
            {
                return;
            }
        }
    };
    tokio::join!(dispatcher, poller(), poller(), poller(), poller());
}

both_backends! {
    async fn a_killed_server_loses_no_acknowledged_command_and_claims_none_twice(backend) {
        let keeper = TestServer::start(backend).await;
        let owner = keeper.user_session("acme", "owner@example.com", Role::User).await;
        let (_, pairing) = keeper.post("/api/v1/agents/pairings", &owner.access_token, json!({})).await;
        let (_, agent) = keeper.call(reqwest::Method::POST, "/api/v1/agents/register", None,
            Some(json!({"pairing_code": pairing["data"]["pairing_code"]}))).await;
        let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
        let token = agent["data"]["agent_token"].as_str().unwrap().to_owned();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let http = keeper.http.clone();

        let server = ServerProcess::start(BIN, &keeper).await;
        let url = server.url.clone();
        let work = {
            let (http, seen, human, agent_id, token) = (http.clone(), seen.clone(), owner.access_token.clone(), agent_id.clone(), token.clone());
            tokio::spawn(async move { run(&http, &url, &human, (&agent_id, &token), &seen, false).await })
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill();
        tokio::time::timeout(Duration::from_secs(10), work).await.expect("clients stop when the server dies").unwrap();
        let before = { let s = seen.lock().unwrap(); (s.acknowledged.len(), s.claimed.len()) };
        assert!(before.0 > 20 && before.1 > 10, "the run was under way when killed: {before:?}");

        let restarted = ServerProcess::start(BIN, &keeper).await;
        run(&http, &restarted.url, &owner.access_token, (&agent_id, &token), &seen, true).await;

        let seen = std::mem::take(&mut *seen.lock().unwrap());
        let claimed: HashSet<&String> = seen.claimed.iter().collect();
        assert_eq!(claimed.len(), seen.claimed.len(), "no command was handed out twice");
        let rows = keeper.state().db.read().query_all(Statement::from_string(keeper.state().db.read().get_database_backend(),
            "SELECT id, status, attempts FROM agent_commands")).await.unwrap();
        let stored: Vec<(String, String, i32)> = rows.iter()
            .map(|r| (r.try_get("", "id").unwrap(), r.try_get("", "status").unwrap(), r.try_get("", "attempts").unwrap()))
            .collect();
        let ids: HashSet<&String> = stored.iter().map(|(id, _, _)| id).collect();
        assert!(seen.acknowledged.iter().all(|id| ids.contains(id)), "every acknowledged command is stored");
        assert!(stored.iter().all(|(_, _, attempts)| *attempts <= 1), "no command was claimed twice: {stored:?}");
        // Each command was claimed (its claim answer may have died with the server, which
        // leaves it `dispatched`), and each claim that reached the agent was reported.
        for (id, status, _) in &stored {
            assert_ne!(status, "queued", "{id} was left behind");
            if !claimed.contains(id) {
                assert_eq!(status, "dispatched", "{id}: only a claim whose answer died with the server goes unseen");
            } else if status != "succeeded" {
                assert_eq!(status, "dispatched", "{id}: a report was lost mid-flight at most");
            }
        }
    }
}
