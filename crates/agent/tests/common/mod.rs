//! Helpers of the agent's end-to-end tests: the other binaries of the workspace (`botmox`,
//! `botmox-fake-pve`) as child processes, and small waits on the API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Generous: these tests must pass on a slow, busy machine.
pub const WAIT: Duration = Duration::from_secs(120);

pub const PVE_TOKEN: &str = "root@pam!e2e=0b1c2d3e-aaaa-bbbb-cccc-000000000001";

/// A binary of another workspace package, beside this package's own binary in the target
/// directory; built with cargo when it is not there yet (`cargo test --workspace` builds it).
pub fn workspace_bin(package: &str, name: &str) -> PathBuf {
    let agent = Path::new(env!("CARGO_BIN_EXE_botmox-agent"));
    let path = agent
        .with_file_name(name)
        .with_extension(std::env::consts::EXE_EXTENSION);
    if !path.exists() {
        let target_dir = agent
            .parent()
            .and_then(Path::parent)
            .expect("the agent binary lies in <target>/<profile>/");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", package, "--bin", name])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build -p {package} --bin {name} failed"
        );
    }
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// `botmox-fake-pve` as a child process on a free port, with one API token.
pub struct FakePveProcess {
    child: Child,
    pub url: String,
}

impl FakePveProcess {
    pub fn start(task_ms: u64) -> Self {
        let mut child = Command::new(workspace_bin("botmox-fake-pve", "botmox-fake-pve"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--node",
                "pve",
                "--token",
                PVE_TOKEN,
            ])
            .args(["--task-ms", &task_ms.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start botmox-fake-pve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the fake's first line");
        let url = line
            .trim()
            .strip_prefix("botmox-fake-pve listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .trim_end_matches('/')
            .to_owned();
        Self { child, url }
    }

    /// `GET /api2/json/<path>` with the token; the `data` member.
    pub async fn get(&self, path: &str) -> Value {
        let body: Value = reqwest::Client::new()
            .get(format!("{}/api2/json/{path}", self.url))
            .header("Authorization", format!("PVEAPIToken={PVE_TOKEN}"))
            .send()
            .await
            .expect("fake PVE answers")
            .json()
            .await
            .expect("JSON");
        body["data"].clone()
    }
}

impl Drop for FakePveProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON call to the server; the status and the body.
pub async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A pairing of the server at `base`; its `pairing_uri`.
pub async fn create_pairing(base: &str, token: &str) -> String {
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/agents/pairings"),
        token,
        Some(json!({"name": "e2e agent"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["data"]["pairing_uri"]
        .as_str()
        .expect("a pairing URI")
        .to_owned()
}

/// Dispatch a command to the agent; its id.
pub async fn dispatch(base: &str, token: &str, agent: &str, kind: &str, payload: Value) -> String {
    let body = json!({"agent_id": agent, "command_type": kind, "payload": payload});
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/vm-ops/commands"),
        token,
        Some(body),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    body["data"]["id"]
        .as_str()
        .expect("a command id")
        .to_owned()
}

/// Wait until the command is done (succeeded, failed, cancelled, expired); the record.
pub async fn finished(base: &str, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = call(
            reqwest::Method::GET,
            &format!("{base}/api/v1/vm-ops/commands/{id}"),
            token,
            None,
        )
        .await;
        let record = &body["data"];
        if status == 200
            && matches!(
                record["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled" | "expired")
            )
        {
            return record.clone();
        }
        assert!(
            Instant::now() < deadline,
            "command {id} did not finish: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until the agent is online (it heartbeated).
pub async fn wait_online(base: &str, token: &str, agent: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, body) = call(
            reqwest::Method::GET,
            &format!("{base}/api/v1/agents/{agent}"),
            token,
            None,
        )
        .await;
        if body["data"]["online"] == true {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "agent {agent} never came online: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait for a child to exit; its exit code.
pub fn wait_exit(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status.code();
        }
        assert!(Instant::now() < deadline, "the agent did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}
