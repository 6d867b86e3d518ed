//! The VM pipeline end to end with real processes: the server (in-process on SQLite and
//! PostgreSQL, and as the `botmox` binary for a restart), `botmox-agent` paired with it and
//! `botmox-fake-pve` as Proxmox. A batch of five VMs is cloned, resized, configured,
//! registered under the UUID set on each clone, given its config ISO and started; the test
//! then plays each VM (validate-token and report-progress with the token from its config
//! ISO, read back from the fake) and the jobs complete, the ISOs ejected and deleted, the
//! tokens used. A server killed mid-clone resumes without a second clone; a cancelled job
//! stops and its token with it; a failing step says which step and the agent's code; a
//! delete job removes a VM. In headless Chromium, three VMs are made from the generator
//! page and its board follows them to completion.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use botmox_proto::auth::Role;
use botmox_testkit::{Backend, ServerProcess, Session, TestServer, both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PVE_TOKEN: &str = "root@pam!jobs=0b1c2d3e-aaaa-bbbb-cccc-000000000002";
/// Generous: these tests must pass on a slow, busy machine.
const WAIT: Duration = Duration::from_secs(180);

/// A binary of another workspace package, beside `botmox` in the target directory, built
/// (or found up to date) by cargo once per test process.
fn workspace_bin(package: &str, name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let server = Path::new(env!("CARGO_BIN_EXE_botmox"));
    let path = server.with_file_name(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        built.push(name.to_owned());
        let target_dir = server
            .parent()
            .and_then(Path::parent)
            .expect("<target>/<profile>/botmox");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", package, "--bin", name])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p {package} failed");
    }
    path
}

/// `botmox-fake-pve` on a free port; killed when dropped.
struct Fake {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Fake {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(workspace_bin("botmox-fake-pve", "botmox-fake-pve"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--node",
                "pve",
                "--token",
                PVE_TOKEN,
            ])
            .args(["--task-ms", "100"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start botmox-fake-pve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the fake's first line");
        let url = line
            .trim()
            .strip_prefix("botmox-fake-pve listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        Self {
            child,
            url,
            http: reqwest::Client::new(),
        }
    }

    /// `GET /api2/json<path>`'s `data`.
    async fn get(&self, path: &str) -> Value {
        let res = self
            .http
            .get(format!("{}/api2/json{path}", self.url))
            .header("Authorization", format!("PVEAPIToken={PVE_TOKEN}"))
            .send()
            .await
            .expect("the fake answers");
        let body: Value = res.json().await.expect("JSON");
        body["data"].clone()
    }

    async fn vm_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .get("/nodes/pve/qemu")
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["vmid"].as_u64())
            .collect();
        ids.sort_unstable();
        ids
    }

    async fn isos(&self) -> Vec<String> {
        self.get("/nodes/pve/storage/local/content?content=iso")
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["volid"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `botmox-agent` paired with the server at `api` (through `owner`'s pairing) and running;
/// killed when dropped.
struct Agent {
    id: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Agent {
    async fn start(http: &reqwest::Client, api: &str, owner: &Session, fake: &Fake) -> Self {
        let res = http
            .post(format!("{api}/api/v1/agents/pairings"))
            .bearer_auth(&owner.access_token)
            .json(&json!({"name": "jobs agent"}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let body: Value = res.json().await.unwrap();
        let uri = body["data"]["pairing_uri"].as_str().unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agent.toml");
        let agent = workspace_bin("botmox-agent", "botmox-agent");
        let out = Command::new(&agent)
            .arg("--config")
            .arg(&config)
            .args(["pair", &uri, "--proxmox-url", &fake.url])
            .args(["--proxmox-token", PVE_TOKEN, "--node", "pve"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&config).unwrap();
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("agent_id = "))
            .map(|v| v.trim_matches('"').to_owned())
            .expect("agent_id in the config");
        let log = std::fs::File::create(dir.path().join("agent.log")).unwrap();
        let child = Command::new(&agent)
            .arg("--config")
            .arg(&config)
            .args(["run", "--concurrency", "8"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            id,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The API of one server as one user.
struct Api<'a> {
    http: &'a reqwest::Client,
    url: String,
    token: String,
}

impl Api<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("the server answers");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body["data"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Wait until every job of the batch is in `state` (failing at once if one fails);
    /// checks on the way that at most `concurrency` run their Proxmox steps at once.
    async fn wait_batch(&self, batch: &str, state: &str, concurrency: usize) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let jobs = self
                .get(&format!("/api/v1/vm-jobs?batch_id={batch}&limit=200"))
                .await;
            let jobs = jobs.as_array().unwrap().clone();
            let running = jobs.iter().filter(|j| j["state"] == "running").count();
            assert!(
                running <= concurrency,
                "{running} running at once: {jobs:#?}"
            );
            if let Some(failed) = jobs.iter().find(|j| j["state"] == "failed") {
                panic!("a job failed: {failed:#}");
            }
            if jobs.iter().all(|j| j["state"] == state) {
                return jobs;
            }
            assert!(Instant::now() < deadline, "jobs not {state}: {jobs:#?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_job(&self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let job = self.get(&format!("/api/v1/vm-jobs/{id}")).await;
            if job["state"] == state {
                return job;
            }
            assert!(
                Instant::now() < deadline && !(job["state"] == "failed" && state != "failed"),
                "job not {state}: {job:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The token the server put into the job's config ISO, read as the VM reads it: the image
/// as uploaded to the (fake) Proxmox storage, its `provision.json` extracted with `isoinfo`.
/// The ISO command as the API shows it, and as stored once it ended, holds no file content.
async fn iso_token(fake: &Fake, api: &Api<'_>, job: &Value) -> String {
    let volume = job["iso_path"]
        .as_str()
        .unwrap_or_else(|| panic!("the job's ISO: {job:#}"));
    let (storage, name) = volume.split_once(":iso/").expect("<storage>:iso/<file>");
    let res = fake
        .http
        .get(format!("{}/fake/iso/pve/{storage}/{name}", fake.url))
        .header("Authorization", format!("PVEAPIToken={PVE_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the fake kept {volume}");
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join(name);
    std::fs::write(&image, res.bytes().await.unwrap()).unwrap();
    let out = Command::new("isoinfo")
        .args(["-J", "-i"])
        .arg(&image)
        .args(["-x", "/provision.json"])
        .output()
        .expect("isoinfo (Debian's genisoimage) reads the image");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let provision: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(provision["vm_uuid"], job["vm_uuid"], "the ISO is the VM's");

    let iso_command = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|s| s["step"] == "iso" && s["status"] == "succeeded")
        .and_then(|s| s["command_id"].as_str())
        .unwrap_or_else(|| panic!("the iso step's command: {job:#}"));
    let command = api
        .get(&format!("/api/v1/vm-ops/commands/{iso_command}"))
        .await;
    let files = command["payload"]["files"].as_object().expect("file names");
    assert!(files.contains_key("provision.json") && files.contains_key("autounattend.xml"));
    assert!(
        files.values().all(|content| content == ""),
        "no token nor password in the command's view: {command:#}"
    );
    provision["token"].as_str().unwrap().to_owned()
}

/// The VM's part: validate its token, then report every step of its setup.
async fn play_vm(http: &reqwest::Client, url: &str, token: &str, uuid: &str) {
    let res = http
        .post(format!("{url}/api/v1/provisioning/validate-token"))
        .json(&json!({"token": token, "vm_uuid": uuid}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    for (step, status) in [
        ("windows_installed", "completed"),
        ("network_configured", "completed"),
        ("software_installed", "running"),
        ("software_installed", "completed"),
        ("completed", "completed"),
    ] {
        let res = http
            .post(format!("{url}/api/v1/provisioning/report-progress"))
            .json(&json!({"token": token, "vm_uuid": uuid, "step": step, "status": status, "details": {}}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{step}: {:?}", res.text().await);
    }
}

/// A server that provisions (its public URL set explicitly) and runs `workers` jobs.
async fn server(backend: Backend, workers: u32) -> TestServer {
    TestServer::start_with(backend, |s| {
        s.public_url = Some(format!("http://{}", s.listen.unwrap()).parse().unwrap());
        s.vm_job_workers = Some(workers);
        s.rate_limit_public = Some(100_000);
    })
    .await
}

/// The owner's default unattend profile.
async fn default_profile(api: &Api<'_>) {
    let (status, body) = api
        .post(
            "/api/v1/unattend-profiles",
            json!({"name": "Default", "is_default": true, "config": {
                "user": {"nameMode": "custom", "customName": "Operator", "password": "Pa55word!"},
                "computerName": {"mode": "fixed"},
                "locale": {"uiLanguage": "en-US", "keyboardLayouts": [{"language": "0409", "layout": "00000409"}]},
                "softwareRemoval": {"mode": "fixed"}, "capabilityRemoval": {"mode": "fixed"},
                "windowsSettings": {}, "visualEffects": {"mode": "performance"},
                "desktopIcons": {"mode": "default"},
            }}),
        )
        .await;
    assert!(status.is_success(), "{body}");
}

fn batch_body(agent: &str, count: u32, concurrency: u32, first_ip: &str) -> Value {
    json!({
        "agent_id": agent, "template_vmid": 100, "count": count, "name_prefix": "bot-",
        "cores": 2, "memory_mb": 4096, "disk_gib": 80, "bridge": "vmbr1",
        "playbook_id": "none", "concurrency": concurrency, "boot_keys": 2,
        "ip": {"first_address": first_ip, "gateway": "192.168.10.1", "dns": ["1.1.1.1"]}
    })
}

both_backends! {
    async fn a_batch_of_five_is_created_provisioned_and_cleaned_up(backend) {
        let server = server(backend, 16).await;
        let owner = server.user_session("acme", "ops@example.com", Role::User).await;
        let api = Api { http: &server.http, url: server.url.clone(), token: owner.access_token.clone() };
        default_profile(&api).await;
        let fake = Fake::start(&[]);
        let agent = Agent::start(&server.http, &server.url, &owner, &fake).await;

        let (status, batch) = api.post("/api/v1/vm-jobs", batch_body(&agent.id, 5, 3, "192.168.10.50")).await;
        assert_eq!(status, StatusCode::CREATED, "{batch}");
        let batch_id = batch["data"]["id"].as_str().unwrap().to_owned();
        assert_eq!(batch["data"]["jobs"].as_array().unwrap().len(), 5);

        let jobs = api.wait_batch(&batch_id, "waiting_for_windows", 3).await;
        assert_eq!(fake.vm_ids().await.len(), 6, "the template and five clones");
        let mut vmids = Vec::new();
        for job in &jobs {
            let vmid = job["vmid"].as_u64().unwrap();
            vmids.push(vmid);
            let uuid = job["vm_uuid"].as_str().unwrap();
            let config = fake.get(&format!("/nodes/pve/qemu/{vmid}/config")).await;
            assert_eq!(config["name"], format!("bot-{vmid}"));
            assert!(config["smbios1"].as_str().unwrap().starts_with(&format!("uuid={uuid}")), "{config}");
            let text = |key: &str| config[key].to_string().trim_matches('"').to_owned();
            assert_eq!((text("cores"), text("memory")), ("2".to_owned(), "4096".to_owned()));
            assert!(config["sata0"].as_str().unwrap().contains("size=80G"), "{config}");
            assert!(config["net0"].as_str().unwrap().contains("bridge=vmbr1"), "{config}");
            assert_eq!(config["ide2"], "none,media=cdrom", "the installer drive is left alone");
            assert_eq!(config["ide3"], format!("local:iso/provision-{vmid}.iso,media=cdrom"));
            let status = fake.get(&format!("/nodes/pve/qemu/{vmid}/status/current")).await;
            assert_eq!(status["status"], "running");
            // Registered under the UUID set on the clone: one source of truth.
            let vm = api.get(&format!("/api/v1/vm/{uuid}/resolve")).await;
            assert_eq!((vm["vm_name"].clone(), vm["status"].clone()), (json!(format!("bot-{vmid}")), json!("active")));
        }
        vmids.sort_unstable();
        vmids.dedup();
        assert_eq!(vmids.len(), 5, "five VM ids");
        assert_eq!(fake.isos().await.len(), 5);

        for job in &jobs {
            let detail = api.get(&format!("/api/v1/vm-jobs/{}", job["id"].as_str().unwrap())).await;
            let token = iso_token(&fake, &api, &detail).await;
            play_vm(&server.http, &server.url, &token, job["vm_uuid"].as_str().unwrap()).await;
        }
        // Ejecting after the VMs finished is not bounded by the batch's concurrency.
        let jobs = api.wait_batch(&batch_id, "completed", usize::MAX).await;
        assert!(fake.isos().await.is_empty(), "the ISOs are deleted");
        for job in &jobs {
            let vmid = job["vmid"].as_u64().unwrap();
            let config = fake.get(&format!("/nodes/pve/qemu/{vmid}/config")).await;
            assert_eq!(config["ide3"], "none,media=cdrom", "ejected");
            assert_eq!(job["progress"]["step"], "completed", "{job:#}");
            let uuid = job["vm_uuid"].as_str().unwrap();
            let tokens = api.get(&format!("/api/v1/provisioning/tokens?vm_uuid={uuid}")).await;
            assert_eq!(tokens[0]["status"], "used", "{tokens:#}");
            let detail = api.get(&format!("/api/v1/vm-jobs/{}", job["id"].as_str().unwrap())).await;
            let steps: Vec<&str> = detail["steps"].as_array().unwrap().iter()
                .filter(|s| s["status"] == "succeeded" || s["status"] == "skipped")
                .filter_map(|s| s["step"].as_str()).collect();
            for step in ["reserve", "clone", "inspect", "resize", "configure", "register", "iso", "attach", "start", "boot_keys", "wait_windows", "detach"] {
                assert!(steps.contains(&step), "{step} in {steps:?}");
            }
        }

        // Job changes are events on the live stream.
        let res = server.http.get(format!("{}/api/v1/vm-ops/events?last_event_id=0", server.url))
            .bearer_auth(&owner.access_token).send().await.unwrap();
        let mut res = res;
        let mut seen = String::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen.contains("vm-job.completed") && Instant::now() < deadline {
            if let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await {
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        }
        assert!(seen.contains("event: vm-job") && seen.contains("vm-job.completed"), "{seen}");

        // Deleting a VM is a job too: stopped, destroyed, deactivated.
        let first = &jobs[0];
        let (status, delete) = api.post("/api/v1/vm-jobs/delete", json!({"agent_id": agent.id, "vmid": first["vmid"]})).await;
        assert_eq!(status, StatusCode::CREATED, "{delete}");
        api.wait_job(delete["data"]["id"].as_str().unwrap(), "completed").await;
        assert_eq!(fake.vm_ids().await.len(), 5);
        let vm = api.get(&format!("/api/v1/vm/{}/resolve", first["vm_uuid"].as_str().unwrap())).await;
        assert_eq!(vm["status"], "revoked");
    }

    async fn bad_batches_are_refused_failures_name_their_step_and_cancel_stops(backend) {
        let server = server(backend, 16).await;
        let owner = server.user_session("acme", "ops@example.com", Role::User).await;
        let other = server.user_session("acme", "other@example.com", Role::User).await;
        let stranger = server.user_session("globex", "x@example.com", Role::Admin).await;
        let api = Api { http: &server.http, url: server.url.clone(), token: owner.access_token.clone() };
        default_profile(&api).await;
        let fake = Fake::start(&[]);
        let agent = Agent::start(&server.http, &server.url, &owner, &fake).await;

        // Refusals with their codes, nothing queued.
        let mut body = batch_body(&agent.id, 0, 3, "192.168.10.50");
        let (status, err) = api.post("/api/v1/vm-jobs", body.clone()).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("BAD_REQUEST")), "{err}");
        body["count"] = json!(2);
        for who in [&other, &stranger] {
            let as_other = Api { http: &server.http, url: server.url.clone(), token: who.access_token.clone() };
            let (status, _) = as_other.post("/api/v1/vm-jobs", body.clone()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "not their agent");
        }
        assert_eq!(api.get("/api/v1/vm-jobs").await.as_array().unwrap().len(), 0, "nothing queued");

        // A failing step: the template does not exist, so the clone fails with the agent's code.
        let mut missing = batch_body(&agent.id, 1, 1, "192.168.10.60");
        missing["template_vmid"] = json!(999);
        let (status, batch) = api.post("/api/v1/vm-jobs", missing).await;
        assert_eq!(status, StatusCode::CREATED, "{batch}");
        let id = batch["data"]["jobs"][0]["id"].as_str().unwrap().to_owned();
        let failed = api.wait_job(&id, "failed").await;
        assert_eq!(failed["error"]["step"], "clone", "{failed:#}");
        assert!(failed["error"]["code"].as_str().unwrap().starts_with("PVE_"), "{failed:#}");
        assert!(failed["steps"].as_array().unwrap().iter().any(|s| s["step"] == "clone" && s["status"] == "failed"));
        // Its VM id is free again.
        assert_eq!(fake.vm_ids().await, vec![100]);

        // Cancel: a job waiting for Windows stops and says so; it does not complete.
        let (_, batch) = api.post("/api/v1/vm-jobs", batch_body(&agent.id, 1, 1, "192.168.10.70")).await;
        let id = batch["data"]["jobs"][0]["id"].as_str().unwrap().to_owned();
        let waiting = api.wait_job(&id, "waiting_for_windows").await;
        let token = iso_token(&fake, &api, &waiting).await;
        let uuid = waiting["vm_uuid"].as_str().unwrap().to_owned();
        let as_other = Api { http: &server.http, url: server.url.clone(), token: other.access_token.clone() };
        let (status, _) = as_other.post(&format!("/api/v1/vm-jobs/{id}/cancel"), json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "only its owner or an admin");
        let (status, cancelled) = api.post(&format!("/api/v1/vm-jobs/{id}/cancel"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        let job = api.wait_job(&id, "cancelled").await;
        let last = job["steps"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["step"].clone(), last["status"].clone()), (json!("wait_windows"), json!("cancelled")), "{job:#}");
        let (status, _) = api.post(&format!("/api/v1/vm-jobs/{id}/cancel"), json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "finished");
        // The token on its ISO is revoked with it: the VM cannot go on provisioning.
        let tokens = api.get(&format!("/api/v1/provisioning/tokens?vm_uuid={uuid}")).await;
        assert_eq!(tokens[0]["status"], "revoked", "{tokens:#}");
        let res = server.http.post(format!("{}/api/v1/provisioning/validate-token", server.url))
            .json(&json!({"token": token, "vm_uuid": uuid})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

        // A job queued while the agent is away can be cancelled before it runs.
        server.execute("UPDATE agents SET last_seen_at = 0").await.unwrap();
        let (status, err) = api.post("/api/v1/vm-jobs", batch_body(&agent.id, 1, 1, "192.168.10.80")).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::CONFLICT, json!("AGENT_OFFLINE")));
    }
}

/// The `botmox` process is killed (SIGKILL) while a clone runs and started again: the job
/// resumes at its clone, waits for the command already sent instead of sending another, and
/// the batch completes. SQLite, with the test's own server running no jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_clone_resumes_without_a_second_clone() {
    let shared = server(Backend::Sqlite, 0).await;
    let owner = shared
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let port = botmox_testkit::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let bin = env!("CARGO_BIN_EXE_botmox");
    let env = [("BOTMOX_PUBLIC_URL", url.as_str())];
    let process = ServerProcess::start_with_env(bin, &shared, port, &env).await;
    let api = Api {
        http: &shared.http,
        url: url.clone(),
        token: owner.access_token.clone(),
    };
    default_profile(&api).await;
    let fake = Fake::start(&["--task-type-ms", "qmclone=4000"]);
    let agent = Agent::start(&shared.http, &url, &owner, &fake).await;

    let (status, batch) = api
        .post(
            "/api/v1/vm-jobs",
            batch_body(&agent.id, 2, 2, "192.168.10.50"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let batch_id = batch["data"]["id"].as_str().unwrap().to_owned();

    // Wait until both clones are running on the agent, then kill the server.
    let deadline = Instant::now() + WAIT;
    loop {
        let jobs = api
            .get(&format!("/api/v1/vm-jobs?batch_id={batch_id}"))
            .await;
        let cloning = jobs
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["step"] == "clone" && j["step_command_id"].is_string())
            .count();
        let locked = fake
            .get("/nodes/pve/qemu")
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["lock"] == "clone")
            .count();
        if cloning == 2 && locked == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "clones not running: {jobs:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    process.kill();
    let process = ServerProcess::start_with_env(bin, &shared, port, &env).await;

    let jobs = api.wait_batch(&batch_id, "waiting_for_windows", 2).await;
    let stored = async |command_type: &str| -> Vec<Value> {
        let tenant = botmox_server::db::TenantId::trusted("acme");
        let commands = botmox_server::vm_ops::store::list(
            &shared.state().db,
            &tenant,
            &botmox_server::vm_ops::store::ListFilter {
                created_by: None,
                agent_id: None,
                status: None,
                command_type: Some(command_type.into()),
            },
            100,
        )
        .await
        .unwrap();
        commands
            .iter()
            .map(|c| serde_json::from_str(&c.payload).unwrap())
            .collect()
    };
    let clones: Vec<u64> = stored("proxmox.clone")
        .await
        .iter()
        .map(|p| p["newid"].as_u64().unwrap())
        .collect();
    // The ended ISO commands are stored without their files' content (token, password).
    let isos = stored("proxmox.create-provision-iso").await;
    assert_eq!(isos.len(), 2);
    for payload in &isos {
        let files = payload["files"].as_object().unwrap();
        assert!(files.contains_key("provision.json"));
        assert!(files.values().all(|c| c == ""), "{payload}");
    }
    assert_eq!(
        clones.len(),
        2,
        "one clone per VM, none sent twice: {clones:?}"
    );
    assert_eq!(fake.vm_ids().await.len(), 3);
    for job in &jobs {
        let detail = api
            .get(&format!("/api/v1/vm-jobs/{}", job["id"].as_str().unwrap()))
            .await;
        let token = iso_token(&fake, &api, &detail).await;
        play_vm(&shared.http, &url, &token, job["vm_uuid"].as_str().unwrap()).await;
    }
    api.wait_batch(&batch_id, "completed", usize::MAX).await;
    assert!(fake.isos().await.is_empty());
    drop(process);
}

/// How many of the board's jobs are in `state`, as the open page shows them now.
async fn board_count(c: &fantoccini::Client, state: &str) -> u64 {
    c.execute(
        "return document.querySelectorAll(`#jobs tbody tr[data-state='${arguments[0]}']`).length;",
        vec![json!(state)],
    )
    .await
    .unwrap()
    .as_u64()
    .unwrap_or(0)
}

/// Wait until the open board shows `n` jobs in `state`, without reloading the page.
async fn wait_board(c: &fantoccini::Client, state: &str, n: u64) {
    let deadline = Instant::now() + WAIT;
    while board_count(c, state).await != n {
        let board = c
            .execute(
                "return document.querySelector('#job-board').innerText;",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            Instant::now() < deadline,
            "{n} jobs not {state} on the board: {board}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The generator page end to end: three VMs asked for on the page reach "waiting for
/// Windows" on its live board, then finish once the test plays each VM's part; one is then
/// deleted from the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_vms_made_from_the_generator_page_finish_on_its_board() {
    use botmox_testkit::browser::{Browser, click, fill, select, sign_in, wait_for};
    let server = server(Backend::Sqlite, 8).await;
    let owner = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let api = Api {
        http: &server.http,
        url: server.url.clone(),
        token: owner.access_token.clone(),
    };
    default_profile(&api).await;
    let fake = Fake::start(&[]);
    let agent = Agent::start(&server.http, &server.url, &owner, &fake).await;

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &owner.email, &owner.password).await;
    c.goto(&format!("{}/vm-jobs", server.url)).await.unwrap();
    select(c, "#batch-form select[name=agent_id]", &agent.id).await;
    fill(c, "#batch-form input[name=count]", "3").await;
    fill(c, "#batch-form input[name=name_prefix]", "web-").await;
    fill(c, "#batch-form input[name=first_address]", "192.168.20.10").await;
    fill(c, "#batch-form input[name=gateway]", "192.168.20.1").await;
    select(c, "#batch-form select[name=playbook_id]", "none").await;
    click(c, "#batch-form button").await;
    wait_for(
        c,
        "#notice",
        "Batch queued; its jobs show below as they run.",
    )
    .await;
    c.execute("window.botmoxMarker = 'still here'; return true;", vec![])
        .await
        .unwrap();
    wait_board(c, "waiting_for_windows", 3).await;

    let jobs = api.get("/api/v1/vm-jobs?limit=200").await;
    let jobs = jobs.as_array().unwrap().clone();
    assert_eq!(jobs.len(), 3);
    for job in &jobs {
        assert!(
            job["vm_name"].as_str().unwrap().starts_with("web-"),
            "{job}"
        );
        let detail = api
            .get(&format!("/api/v1/vm-jobs/{}", job["id"].as_str().unwrap()))
            .await;
        let token = iso_token(&fake, &api, &detail).await;
        play_vm(
            &server.http,
            &server.url,
            &token,
            job["vm_uuid"].as_str().unwrap(),
        )
        .await;
    }
    wait_board(c, "completed", 3).await;
    let marker = c
        .execute("return window.botmoxMarker || 'reloaded';", vec![])
        .await
        .unwrap();
    assert_eq!(marker, json!("still here"), "followed live, not reloaded");
    assert!(fake.isos().await.is_empty(), "the ISOs are deleted");

    // Deleting one from the page is a job too.
    let vmid = jobs[0]["vmid"].as_u64().unwrap().to_string();
    select(c, "#delete-form select[name=agent_id]", &agent.id).await;
    fill(c, "#delete-form input[name=vmid]", &vmid).await;
    c.execute("window.confirm = () => true; return true;", vec![])
        .await
        .unwrap();
    click(c, "#delete-form button").await;
    wait_for(
        c,
        "#notice",
        "Delete queued; the VM is stopped, destroyed and deactivated.",
    )
    .await;
    wait_board(c, "completed", 4).await;
    assert_eq!(fake.vm_ids().await.len(), 3, "the template and two VMs");
    let vm = api
        .get(&format!(
            "/api/v1/vm/{}/resolve",
            jobs[0]["vm_uuid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(vm["status"], "revoked");
    browser.close().await;
}
