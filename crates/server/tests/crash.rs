//! `kill -9` of the server in the middle of a command run, and of a mixed write load
//! (records created, patched and deleted, finance operations with their daily totals):
//! after a restart on the same database no acknowledged write is lost or undone, none is
//! half-written, and no command is claimed twice; on SQLite and PostgreSQL. The server runs as a real child process (the `botmox` binary).

use std::collections::{HashMap, HashSet};
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
        // Killed once the run is under way, however fast this machine is.
        while { let s = seen.lock().unwrap(); s.acknowledged.len() <= 20 || s.claimed.len() <= 10 } {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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

/// What the writers of the mixed load were told: bots created (id, name), the last level a
/// PATCH of the patched bot acknowledged (0: none yet), bots whose delete was acknowledged,
/// and finance operations created (id, amount).
#[derive(Default)]
struct Written {
    created: Vec<(String, String)>,
    patched: u64,
    deleted: Vec<String>,
    operations: Vec<(String, f64)>,
}

/// A day of January 2026 (epoch ms), where every operation of the mixed load is dated.
const JANUARY_5: i64 = 1_767_614_400_000;

/// The mixed load against `url` until a request fails: a creator, a patcher of `patch`, a
/// deleter of `delete` and a finance writer, each noting what was acknowledged.
async fn write_until_failure(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    patch: &str,
    delete: &[String],
    written: &Mutex<Written>,
) {
    let send = |method: reqwest::Method, path: String, body: Option<Value>| async move {
        let mut request = http
            .request(method, format!("{url}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let res = request.send().await.ok()?;
        let status = res.status();
        let body = res.json::<Value>().await.ok()?;
        Some((status, body))
    };
    let creator = async {
        for n in 0.. {
            let name = format!("created-{n}");
            let Some((StatusCode::CREATED, body)) = send(reqwest::Method::POST, "/api/v1/bots".into(),
                Some(json!({"name": name, "character": {"name": format!("Char{n}"), "level": 1 + n % 70}}))).await else { return };
            written
                .lock()
                .unwrap()
                .created
                .push((body["data"]["id"].as_str().unwrap().to_owned(), name));
        }
    };
    let patcher = async {
        for level in 1.. {
            let Some((StatusCode::OK, _)) = send(
                reqwest::Method::PATCH,
                format!("/api/v1/bots/{patch}"),
                Some(json!({"character/level": level})),
            )
            .await
            else {
                return;
            };
            written.lock().unwrap().patched = level;
        }
    };
    let deleter = async {
        for id in delete {
            let Some((StatusCode::OK, _)) =
                send(reqwest::Method::DELETE, format!("/api/v1/bots/{id}"), None).await
            else {
                return;
            };
            written.lock().unwrap().deleted.push(id.clone());
        }
    };
    let finance = async {
        for n in 1.. {
            let amount = f64::from(n % 97) + 0.25;
            let Some((StatusCode::CREATED, body)) = send(reqwest::Method::POST, "/api/v1/finance/operations".into(),
                Some(json!({"type": "income", "category": "sale", "amount": amount, "currency": "USD", "date": JANUARY_5}))).await else { return };
            written
                .lock()
                .unwrap()
                .operations
                .push((body["data"]["id"].as_str().unwrap().to_owned(), amount));
        }
    };
    tokio::join!(creator, patcher, deleter, finance);
}

both_backends! {
    async fn a_killed_server_keeps_every_acknowledged_record_and_finance_write_whole(backend) {
        let keeper = TestServer::start(backend).await;
        let owner = keeper.user_session("acme", "owner@example.com", Role::User).await;
        let token = owner.access_token.clone();
        let patched = keeper.create("/api/v1/bots", &token, json!({"name": "patched", "character": {"level": 1}})).await;
        let mut doomed = Vec::new();
        for n in 0..400 {
            doomed.push(keeper.create("/api/v1/bots", &token, json!({"name": format!("doomed-{n}")})).await);
        }

        let server = ServerProcess::start(BIN, &keeper).await;
        let written = Arc::new(Mutex::new(Written::default()));
        let work = {
            let (http, url, token, patched, doomed, written) =
                (keeper.http.clone(), server.url.clone(), token.clone(), patched.clone(), doomed.clone(), written.clone());
            tokio::spawn(async move { write_until_failure(&http, &url, &token, &patched, &doomed, &written).await })
        };
        // Killed once every writer is under way, however fast this machine is.
        loop {
            {
                let w = written.lock().unwrap();
                if w.created.len() >= 20 && w.patched >= 20
                    && w.deleted.len() >= 20 && w.operations.len() >= 20 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.kill();
        tokio::time::timeout(Duration::from_secs(30), work).await.expect("writers stop when the server dies").unwrap();
        let written = std::mem::take(&mut *written.lock().unwrap());

        let restarted = ServerProcess::start(BIN, &keeper).await;
        let get = |path: String| {
            let (http, url, token) = (&keeper.http, &restarted.url, &token);
            async move {
                let res = http.get(format!("{url}{path}")).bearer_auth(token).send().await.unwrap();
                let status = res.status();
                (status, res.json::<Value>().await.unwrap())
            }
        };
        for (id, name) in &written.created {
            let (status, bot) = get(format!("/api/v1/bots/{id}")).await;
            assert_eq!(status, StatusCode::OK, "acknowledged bot {id} is missing");
            assert_eq!(bot["data"]["name"], json!(name));
        }
        // The patched bot holds the last acknowledged level, or the next one whose answer
        // died with the server; its version counts every patch that landed.
        let res = keeper.http.get(format!("{}/api/v1/bots/{patched}", restarted.url)).bearer_auth(&token).send().await.unwrap();
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        let bot: Value = res.json().await.unwrap();
        let acknowledged = written.patched;
        let level = bot["data"]["character"]["level"].as_u64().unwrap();
        assert!(level == acknowledged || level == acknowledged + 1, "level {level}, acknowledged {acknowledged}");
        assert_eq!(etag, format!("W/\"{}\"", level + 1), "one version per landed patch (created at 1 with level 1)");
        for id in &written.deleted {
            assert_eq!(get(format!("/api/v1/bots/{id}")).await.0, StatusCode::NOT_FOUND, "acknowledged delete of {id} undone");
        }
        // Every acknowledged operation is stored, and the day's totals are those of the
        // stored operations: no operation without its totals, no totals without it.
        let mut stored = HashMap::new();
        for page in 1.. {
            let (status, list) = get(format!("/api/v1/finance/operations?limit=100&page={page}")).await;
            assert_eq!(status, StatusCode::OK, "{list}");
            let rows = list["data"].as_array().unwrap();
            stored.extend(rows.iter().map(|r| (r["id"].as_str().unwrap().to_owned(), r["amount"].as_f64().unwrap())));
            if rows.len() < 100 { break }
        }
        for (id, amount) in &written.operations {
            assert_eq!(stored.get(id), Some(amount), "acknowledged operation {id}");
        }
        let (_, summary) = get(format!("/api/v1/finance/summary?from={}&to={}", JANUARY_5 - 86_400_000, JANUARY_5 + 86_400_000)).await;
        let totals = &summary["data"]["totals"];
        assert_eq!(totals["operations"].as_u64(), Some(stored.len() as u64), "{summary}");
        let income: f64 = stored.values().sum();
        assert!((totals["income"].as_f64().unwrap() - income).abs() < 1e-6, "{totals} against {income}");
    }
}
