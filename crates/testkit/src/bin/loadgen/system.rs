//! `system`: the whole system under a farm's everyday load at once, on one server or on
//! several replicas of one database. Agents heartbeat and keep a poll waiting, reporting
//! every command they get; operators view pages, call the API and dispatch commands to the
//! agents; VMs heartbeat their licence leases, resolve their downloads and report their
//! provisioning progress. It prints, per kind of request, the answers a second and their
//! p50, p99 and maximum; the unexpected answers; and the servers' CPU and peak memory.
//!
//! One process may hold only so many open files (20,000 here), so the load is split over
//! `--processes` worker processes (this binary run again with `--worker`): worker `w` plays
//! every agent, VM and operator whose number is `w` modulo the count, and sends from
//! loopback address `127.0.0.(2 + w)`, so each worker also has source ports of its own.
//! Each worker prints its histograms as one JSON line; this process merges them.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use botmox_client::{Client, ClientError};
use botmox_proto::agent::HeartbeatRequest;
use botmox_proto::command::{Command, DispatchRequest, NextQuery, ReportRequest};
use clap::Args;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::agents::{DispatcherLogin, REQUEST_TIMEOUT, fleet_client, read_agent_tokens};
use crate::measure::{CpuMeter, Failures, cpu_seconds, failure, open_files_limit, status_kib};

#[derive(Debug, Args)]
pub struct SystemArgs {
    /// Base URL of a replica; repeat for several (loopback only). Agents and VMs keep to
    /// one replica each, in turn; operators pick one at random per request.
    #[arg(long = "url", required = true)]
    urls: Vec<Url>,
    /// The agents' `<id> <token>` file written by `seed-agents` (owned by the operators).
    #[arg(long)]
    agents_file: PathBuf,
    /// Agents to play, from the start of the file.
    #[arg(long, default_value_t = 1_000)]
    agents: usize,
    /// Seconds between an agent's heartbeats (± 5 s).
    #[arg(long, default_value_t = 30)]
    heartbeat: u64,
    /// The lease heartbeat bodies written by `seed-leases` (one VM each).
    #[arg(long)]
    leases_file: PathBuf,
    /// The resolve-download bodies written by `seed-leases`, in the same order.
    #[arg(long)]
    resolves_file: PathBuf,
    /// Seconds between a VM's lease heartbeats.
    #[arg(long, default_value_t = 60)]
    lease_heartbeat: u64,
    /// Seconds between a VM's resolve-downloads.
    #[arg(long, default_value_t = 300)]
    resolve_every: u64,
    /// The `<vm_uuid> <token>` file written by `seed-leases --provisioning-tokens`: those
    /// VMs report provisioning progress.
    #[arg(long)]
    provisioning_tokens: Option<PathBuf>,
    /// Seconds between a provisioning VM's progress reports.
    #[arg(long, default_value_t = 20)]
    progress_every: u64,
    /// Operators, each viewing a page, calling the API or dispatching, then thinking.
    #[arg(long, default_value_t = 20)]
    operators: usize,
    /// Mean seconds an operator thinks between requests.
    #[arg(long, default_value_t = 1.0)]
    think: f64,
    #[command(flatten)]
    operator: DispatcherLogin,
    /// Seconds of load before the measurement starts (agents and VMs start over it).
    #[arg(long, default_value_t = 30)]
    warmup: u64,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Worker processes the load is spread over.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=200))]
    processes: u8,
    /// Process ids of the servers, whose CPU and memory are read from /proc.
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// First word of the summary lines.
    #[arg(long, default_value = "system")]
    label: String,
    /// Run as worker `N` of `--processes` (set by the parent process).
    #[arg(long, hide = true)]
    worker: Option<u8>,
}

/// The web UI's pages an operator views, by kind.
const PAGES: [(&str, &str); 5] = [
    ("page.overview", "/"),
    ("page.agents", "/agents"),
    ("page.vm_ops", "/vm-ops"),
    ("page.licensing", "/licensing"),
    ("page.finance", "/finance"),
];
/// The API's reads an operator makes, by kind (paths under `/api/v1`).
const READS: [(&str, &str); 5] = [
    ("api.bots", "/bots?limit=50"),
    ("api.agents", "/agents?limit=50"),
    ("api.commands", "/vm-ops/commands"),
    ("api.overview", "/overview"),
    ("api.leases", "/license/leases?limit=50"),
];
/// How long a poll waits on the server.
const POLL_WAIT_MS: u64 = 25_000;

/// What one worker measured, as it sends it to the parent.
#[derive(Default, Serialize, Deserialize)]
struct WorkerReport {
    /// Per kind of request, the recorded latencies in µs as (value, count).
    kinds: BTreeMap<String, Vec<(u64, u64)>>,
    /// (key, count, first detail) of the unexpected answers.
    failures: Vec<(String, u64, String)>,
    /// The worker's CPU seconds over the measured time.
    cpu_s: f64,
}

pub async fn run(args: SystemArgs) -> anyhow::Result<ExitCode> {
    for url in &args.urls {
        crate::check_loopback(url, "--url")?;
    }
    match args.worker {
        Some(w) => worker(args, w).await,
        None => parent(args).await,
    }
}

/// Start the workers, read the servers while they load them, and merge what they measured.
async fn parent(args: SystemArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this program")?;
    let mut workers = Vec::new();
    for w in 0..args.processes {
        let child = std::process::Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .args(["--worker", &w.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start a worker")?;
        // Read on threads of their own: a worker's report may be larger than a pipe holds.
        workers.push(std::thread::spawn(move || child.wait_with_output()));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let cpu = CpuMeter::start(&args.server_pids);
    let measured = Instant::now();
    let mut rss_peak_kib = vec![0_u64; args.server_pids.len()];
    while !workers.iter().all(|w| w.is_finished()) {
        if measured.elapsed() < Duration::from_secs(args.duration) {
            for (peak, pid) in rss_peak_kib.iter_mut().zip(&args.server_pids) {
                *peak = (*peak).max(status_kib(*pid, "VmRSS").unwrap_or(0));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut kinds: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let failures = Failures::default();
    let mut loadgen_s = 0.0;
    for (w, worker) in workers.into_iter().enumerate() {
        let output = worker
            .join()
            .map_err(|_| anyhow::anyhow!("worker {w}'s reader panicked"))?
            .with_context(|| format!("worker {w}"))?;
        if !output.status.success() {
            bail!("worker {w} failed ({})", output.status);
        }
        let report: WorkerReport = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("worker {w}'s report"))?;
        for (kind, values) in report.kinds {
            let histogram = match kinds.entry(kind) {
                Entry::Occupied(h) => h.into_mut(),
                Entry::Vacant(v) => v.insert(histogram()?),
            };
            for (value, count) in values {
                histogram.saturating_record_n(value, count);
            }
        }
        for (key, n, detail) in report.failures {
            failures.add_n(key, n, detail);
        }
        loadgen_s += report.cpu_s;
    }

    let label = &args.label;
    let seconds = args.duration as f64;
    println!(
        "{label}: replicas={} agents={} operators={} processes={} duration={}s",
        args.urls.len(),
        args.agents,
        args.operators,
        args.processes,
        args.duration
    );
    let ms = |us: u64| us as f64 / 1000.0;
    let mut total = 0;
    for (kind, h) in &kinds {
        total += h.len();
        println!(
            "{label} {kind}: count={} rate={:.1}/s p50={:.2}ms p99={:.2}ms max={:.2}ms",
            h.len(),
            h.len() as f64 / seconds,
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        );
    }
    let rss: Vec<String> = rss_peak_kib
        .iter()
        .map(|kib| format!("{:.0}", *kib as f64 / 1024.0))
        .collect();
    println!(
        "{label}: requests={total} rate={:.0}/s {} server_rss_peak_mb={}",
        total as f64 / seconds,
        cpu.summary_with_loadgen(Some(loadgen_s)),
        rss.join(","),
    );
    failures.print(label);
    if failures.total() > 0 {
        eprintln!("{label}: unexpected answers; the figures above are not valid");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).context("histogram bounds")
}

/// The latencies and failures of one worker, recorded only inside the measured time.
struct Recorder {
    measure_from: Instant,
    measure_until: Instant,
    stopping: AtomicBool,
    kinds: Mutex<BTreeMap<&'static str, Histogram<u64>>>,
    failures: Failures,
}

impl Recorder {
    /// Send `call` as a request of `kind` and record how long its answer took, or why it
    /// failed; `None` when it failed.
    async fn timed<T>(
        &self,
        kind: &'static str,
        call: impl Future<Output = Result<T, ClientError>>,
    ) -> Option<T> {
        let sent = Instant::now();
        match call.await {
            Ok(answer) => {
                self.record(kind, sent, sent.elapsed());
                Some(answer)
            }
            Err(e) => {
                self.fail(failure(kind, &e));
                None
            }
        }
    }

    /// Record `took` for `kind` if the request was sent and answered inside the measured
    /// time.
    fn record(&self, kind: &'static str, sent: Instant, took: Duration) {
        if sent < self.measure_from || Instant::now() > self.measure_until {
            return;
        }
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let h = match kinds.entry(kind) {
            Entry::Occupied(h) => h.into_mut(),
            Entry::Vacant(v) => match histogram() {
                Ok(h) => v.insert(h),
                Err(_) => return,
            },
        };
        h.saturating_record((took.as_micros() as u64).max(1));
    }

    fn fail(&self, (key, detail): (String, String)) {
        if !self.stopping.load(Ordering::Relaxed) {
            self.failures.add(key, detail);
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    fn report(&self, cpu_s: f64) -> WorkerReport {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        WorkerReport {
            kinds: kinds
                .iter()
                .map(|(kind, h)| {
                    let values = h
                        .iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()));
                    (kind.to_string(), values.collect())
                })
                .collect(),
            failures: self.failures.entries(),
            cpu_s,
        }
    }
}

/// One simulated agent of this worker.
struct Agent {
    id: String,
    api: Client,
    /// Online: its first heartbeat was answered, so operators may dispatch to it.
    online: AtomicBool,
    /// A dispatched command not reported yet (one at a time).
    busy: AtomicBool,
    /// When its outstanding command's dispatch was sent, in µs since `epoch`.
    sent_us: AtomicU64,
}

/// What a worker's tasks share.
struct Worker {
    recorder: Recorder,
    epoch: Instant,
    agents: Vec<Agent>,
    /// The operators' API clients, one per replica (signed in).
    operators: Vec<Client>,
    ui: WebUi,
    args: SystemArgs,
}

/// The operators' web UI session.
struct WebUi {
    http: reqwest::Client,
    /// The replicas' base URLs.
    bases: Vec<String>,
    /// The session's `Cookie` header.
    cookie: String,
}

impl Worker {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Agent `i`: heartbeats in the background, a poll always waiting, each command
    /// reported. It starts at a random moment of the warm-up.
    async fn agent(self: Arc<Self>, i: usize, mut rng: StdRng) {
        let start = self.args.warmup as f64 * 0.8;
        tokio::time::sleep(Duration::from_secs_f64(rng.gen_range(0.0..=start))).await;
        let me = self.clone();
        tokio::spawn(async move { me.heartbeats(i, rng).await });
        let agent = &self.agents[i];
        let query = NextQuery {
            timeout_ms: Some(POLL_WAIT_MS),
        };
        while !self.recorder.stopping() {
            let command = match agent.api.next(&query).await {
                Ok(Some(command)) => command,
                Ok(None) => continue,
                Err(e) => {
                    self.recorder.fail(failure("agent.poll", &e));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            // A command this worker dispatched (not one left over from an earlier run):
            // from sending the dispatch to the poll answering with it.
            if agent.busy.load(Ordering::Acquire) {
                let sent_us = agent.sent_us.load(Ordering::Acquire);
                let claimed = Duration::from_micros(self.now_us().saturating_sub(sent_us));
                let sent = self.epoch + Duration::from_micros(sent_us);
                self.recorder.record("dispatch_to_claim", sent, claimed);
            }
            let claim = command.claim_id.clone().unwrap_or_default();
            let body = ReportRequest::succeeded(claim, json!({"ok": true}));
            self.recorder
                .timed("agent.report", agent.api.report(&command.id, &body))
                .await;
            agent.busy.store(false, Ordering::Release);
        }
    }

    async fn heartbeats(&self, i: usize, mut rng: StdRng) {
        let agent = &self.agents[i];
        let body = HeartbeatRequest {
            version: Some("loadgen".into()),
            platform: Some("linux".into()),
            ..HeartbeatRequest::default()
        };
        let period = self.args.heartbeat as f64;
        let jitter = 5.0_f64.min(period / 2.0);
        while !self.recorder.stopping() {
            if self
                .recorder
                .timed("agent.heartbeat", agent.api.heartbeat(&body))
                .await
                .is_some()
            {
                agent.online.store(true, Ordering::Release);
            }
            let wait = period + rng.gen_range(-jitter..=jitter);
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }

    /// An operator: a page, an API read or a dispatch, then a think.
    async fn operator(self: Arc<Self>, mut rng: StdRng) {
        while !self.recorder.stopping() {
            let think = self.args.think * rng.gen_range(0.5..1.5);
            tokio::time::sleep(Duration::from_secs_f64(think)).await;
            let replica = rng.gen_range(0..self.operators.len());
            match rng.gen_range(0..10) {
                0..=2 => self.view_page(replica, &mut rng).await,
                3..=6 => {
                    let (kind, path) = READS[rng.gen_range(0..READS.len())];
                    let api = &self.operators[replica];
                    let read = api.request::<Value>(Method::GET, path, None);
                    self.recorder.timed(kind, read).await;
                }
                _ => self.dispatch(replica, &mut rng).await,
            }
        }
    }

    async fn view_page(&self, replica: usize, rng: &mut StdRng) {
        let (kind, path) = PAGES[rng.gen_range(0..PAGES.len())];
        let WebUi {
            http,
            bases,
            cookie,
        } = &self.ui;
        let sent = Instant::now();
        let answer = http
            .get(format!("{}{path}", bases[replica]))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await;
        let problem = match answer {
            Ok(page) => {
                let status = page.status();
                match page.bytes().await {
                    Ok(_) if status == reqwest::StatusCode::OK => {
                        self.recorder.record(kind, sent, sent.elapsed());
                        return;
                    }
                    Ok(_) => status.to_string(),
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        };
        self.recorder
            .fail((format!("{kind}: {problem}"), format!("GET {path}")));
    }

    /// Dispatch a command to an online agent with none outstanding, if one is found.
    async fn dispatch(&self, replica: usize, rng: &mut StdRng) {
        let n = self.agents.len();
        if n == 0 {
            return;
        }
        let first = rng.gen_range(0..n);
        let Some(i) = (0..n.min(16)).map(|k| (first + k) % n).find(|&i| {
            let agent = &self.agents[i];
            agent.online.load(Ordering::Acquire)
                && agent
                    .busy
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
        }) else {
            return;
        };
        let agent = &self.agents[i];
        agent.sent_us.store(self.now_us(), Ordering::Release);
        let Ok(command) = Command::from_parts("proxmox.start", json!({ "vmid": 100 + i })) else {
            return;
        };
        let body = DispatchRequest::new(agent.id.clone(), command);
        let api = &self.operators[replica];
        if self
            .recorder
            .timed("dispatch", api.dispatch(&body))
            .await
            .is_none()
        {
            agent.busy.store(false, Ordering::Release);
        }
    }

    /// A leased VM: lease heartbeats and resolve-downloads at their periods, the first of
    /// each at a random moment of the first period.
    async fn vm(self: Arc<Self>, api: Client, lease: Value, resolve: Value, mut rng: StdRng) {
        let every = |s: u64| Duration::from_secs(s.max(1));
        let (beat, resolve_every) = (
            every(self.args.lease_heartbeat),
            every(self.args.resolve_every),
        );
        let mut next_beat = Instant::now() + beat.mul_f64(rng.gen_range(0.0..1.0));
        let mut next_resolve = Instant::now() + resolve_every.mul_f64(rng.gen_range(0.0..1.0));
        while !self.recorder.stopping() {
            let next = next_beat.min(next_resolve);
            tokio::time::sleep_until(next.into()).await;
            if next == next_beat {
                let call = api.request::<Value>(Method::POST, "/license/heartbeat", Some(&lease));
                self.recorder.timed("vm.lease_heartbeat", call).await;
                next_beat += beat;
            } else {
                let path = "/artifacts/resolve-download";
                let call = api.request::<Value>(Method::POST, path, Some(&resolve));
                self.recorder.timed("vm.resolve_download", call).await;
                next_resolve += resolve_every;
            }
        }
    }

    /// A VM being provisioned: a progress report (a new step each time) at its period.
    async fn provisioning(
        self: Arc<Self>,
        api: Client,
        vm: String,
        token: String,
        mut rng: StdRng,
    ) {
        let period = Duration::from_secs(self.args.progress_every.max(1));
        tokio::time::sleep(period.mul_f64(rng.gen_range(0.0..1.0))).await;
        let mut step = 0_u64;
        while !self.recorder.stopping() {
            step += 1;
            let body = json!({
                "token": token, "vm_uuid": vm, "step": format!("step-{step}"),
                "status": "running", "details": {},
            });
            let path = "/provisioning/report-progress";
            let call = api.request::<Value>(Method::POST, path, Some(&body));
            self.recorder.timed("vm.provisioning_progress", call).await;
            tokio::time::sleep(period).await;
        }
    }
}

/// The lines of `path` that belong to worker `w` of `of`, with their line numbers.
fn my_lines(path: &Path, w: usize, of: usize) -> anyhow::Result<Vec<(usize, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .filter(|(i, _)| i % of == w)
        .map(|(i, l)| (i, l.to_owned()))
        .collect())
}

/// Play this worker's share of the load for the warm-up and the measured time, then print
/// what was measured as one JSON line.
async fn worker(args: SystemArgs, w: u8) -> anyhow::Result<ExitCode> {
    let (of, wi) = (usize::from(args.processes), usize::from(w));
    let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + w));
    let replicas: Vec<Client> = args
        .urls
        .iter()
        .map(|url| fleet_client(url, Some(from)))
        .collect::<anyhow::Result<_>>()?;
    let agents: Vec<(usize, (String, String))> = read_agent_tokens(&args.agents_file, args.agents)?
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % of == wi)
        .collect();
    let leases = my_lines(&args.leases_file, wi, of)?;
    let resolves = my_lines(&args.resolves_file, wi, of)?;
    if leases.len() != resolves.len() {
        bail!("--leases-file and --resolves-file hold different VMs");
    }
    let provisioning = match &args.provisioning_tokens {
        Some(path) => my_lines(path, wi, of)?,
        None => Vec::new(),
    };
    // A waiting poll per agent, and a connection or so per VM between its requests.
    let needed = (agents.len() + leases.len() / 4 + provisioning.len() / 4 + 500) as u64;
    if let Some(limit) = open_files_limit()
        && limit < needed
    {
        bail!("worker {w} needs about {needed} open files; the limit is {limit}: add --processes");
    }

    let token = crate::login(&args.urls[0], &args.operator.login, REQUEST_TIMEOUT).await?;
    let (email, password) = args
        .operator
        .login
        .split_once(':')
        .context("the login must be EMAIL:PASSWORD")?;
    let ui_http = reqwest::Client::builder()
        .local_address(from)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let bases: Vec<String> = args
        .urls
        .iter()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .collect();
    let (cookie, _) = botmox_testkit::ui_session(&ui_http, &bases[0], email, password).await;

    let epoch = Instant::now();
    let measure_from = epoch + Duration::from_secs(args.warmup);
    let measure_until = measure_from + Duration::from_secs(args.duration);
    let worker = Arc::new(Worker {
        recorder: Recorder {
            measure_from,
            measure_until,
            stopping: AtomicBool::new(false),
            kinds: Mutex::default(),
            failures: Failures::default(),
        },
        epoch,
        agents: agents
            .iter()
            .map(|(i, (id, token))| Agent {
                id: id.clone(),
                api: replicas[i % replicas.len()]
                    .clone()
                    .with_token(token.clone()),
                online: AtomicBool::new(false),
                busy: AtomicBool::new(false),
                sent_us: AtomicU64::new(0),
            })
            .collect(),
        operators: replicas
            .iter()
            .map(|c| c.clone().with_token(token.clone()))
            .collect(),
        ui: WebUi {
            http: ui_http,
            bases,
            cookie,
        },
        args,
    });
    let seed = |k: usize| StdRng::seed_from_u64(((wi as u64) << 32) ^ k as u64);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..worker.agents.len() {
        tasks.spawn(worker.clone().agent(i, seed(i)));
    }
    for o in (0..worker.args.operators).filter(|o| o % of == wi) {
        tasks.spawn(worker.clone().operator(seed((1 << 20) + o)));
    }
    for ((i, lease), (_, resolve)) in leases.into_iter().zip(resolves) {
        let api = worker.operators[i % worker.operators.len()].clone();
        let lease: Value = serde_json::from_str(&lease).context("a lease heartbeat body")?;
        let resolve: Value = serde_json::from_str(&resolve).context("a resolve-download body")?;
        tasks.spawn(worker.clone().vm(api, lease, resolve, seed((2 << 20) + i)));
    }
    for (i, line) in provisioning {
        let (vm, token) = line
            .split_once(' ')
            .context("a provisioning line is `<vm_uuid> <token>`")?;
        let api = replicas[i % replicas.len()].clone();
        let (vm, token) = (vm.to_owned(), token.trim().to_owned());
        tasks.spawn(
            worker
                .clone()
                .provisioning(api, vm, token, seed((3 << 20) + i)),
        );
    }

    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_from = cpu_seconds("self").unwrap_or(0.0);
    tokio::time::sleep_until(measure_until.into()).await;
    let cpu_s = cpu_seconds("self").unwrap_or(0.0) - cpu_from;
    worker.recorder.stopping.store(true, Ordering::Relaxed);
    tasks.abort_all();
    let report = worker.recorder.report(cpu_s);
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
