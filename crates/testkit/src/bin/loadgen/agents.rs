//! `seed-agents` and `agents`: simulated agents against one server, for the command bus
//! targets (10,000 agents held with a dispatch → claim p99 under 50 ms, 2,000 dispatch →
//! claim → report cycles a second, the memory a waiting poll costs).
//!
//! A real fleet cannot be borrowed for a benchmark, and what costs the server is what every
//! agent does all the time: a heartbeat every 30 s and one long-poll always waiting for the
//! next command. So each simulated agent does exactly that, over one shared keep-alive
//! connection pool (one connection per waiting poll, plus a few for heartbeats and reports).
//!
//! * `seed-agents` writes N active agents straight into the database (registering them
//!   through the API would need a pairing code each and hit the register rate limit), owned
//!   by an existing user, and their ids and tokens to a file.
//! * `agents` reads that file and starts the agents evenly over `--ramp` seconds. Each sends
//!   a heartbeat, then one every `--heartbeat` s ± `--heartbeat-jitter` (the first after a
//!   random part of the period, so they spread), and polls `commands/next` in a loop; a
//!   command that arrives is reported `succeeded` at once. Once every agent's poll waits:
//!   1. memory: with `--server-pid`, the growth of the server's VmRSS since before the
//!      agents connected, divided by the number of waiting polls;
//!   2. hold: a dispatcher sends `--rate` commands a second to random idle agents for
//!      `--duration` s; dispatch → claim is from sending the dispatch to the agent's poll
//!      returning the command (the send instant travels in the payload);
//!   3. cycles: `--cycle-agents` dispatch loops, one per agent, each dispatching and waiting
//!      for the agent's report before the next: complete cycles a second.
//!
//! Every other agent keeps heartbeating and polling meanwhile, so the phases run against the
//! whole fleet. Any unexpected answer fails the run.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use botmox_client::Client;
use botmox_proto::agent::HeartbeatRequest;
use botmox_proto::agent::{AGENT_TOKEN_PREFIX as TOKEN_PREFIX, TOKEN_TTL_MS};
use botmox_proto::command::{Command, CommandView, DispatchRequest, NextQuery, ReportRequest};
use botmox_server::auth::store::user_by_email;
use botmox_server::db::StoreError;
use botmox_server::db::entity::agent;
use botmox_server::keys::{hash_secret, random_secret};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Url;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use serde_json::json;
use tokio::sync::Notify;

use crate::measure::{CpuMeter, Failures, Latencies, failure, open_files_limit, status_kib};

#[derive(Debug, Args)]
pub struct SeedAgentsArgs {
    /// Database URL, as for `botmox serve` (sqlite:... or postgres://...).
    #[arg(long)]
    database_url: String,
    /// E-mail of the existing user who owns the agents (and dispatches to them).
    #[arg(long)]
    owner_email: String,
    #[arg(long, default_value = "default")]
    tenant: String,
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// File that receives one `<agent id> <agent token>` line per agent (owner-only).
    #[arg(long)]
    out: PathBuf,
}

const BATCH: usize = 1_000;

/// Insert active agents as `register` leaves them, and write their tokens to `--out`.
pub async fn seed(args: SeedAgentsArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let db = super::seed::open(&args.database_url).await?;
    let owner = user_by_email(db.read(), &args.owner_email.to_lowercase())
        .await?
        .filter(|u| u.tenant_id == args.tenant)
        .with_context(|| {
            format!(
                "no user {} in tenant '{}'; create it first (botmox user create)",
                args.owner_email, args.tenant
            )
        })?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut lines = String::with_capacity(args.agents * 90);
    let mut rows = Vec::with_capacity(args.agents);
    for i in 0..args.agents {
        let id = uuid::Uuid::new_v4().to_string();
        let token = random_secret(TOKEN_PREFIX);
        writeln!(lines, "{id} {token}")?;
        // Columns not set here (pairing code, revocation, presence...) keep their defaults.
        rows.push(agent::ActiveModel {
            id: Set(id),
            tenant_id: Set(owner.tenant_id.clone()),
            owner_user_id: Set(Some(owner.id.clone())),
            name: Set(format!("bench-agent-{i:05}")),
            status: Set(botmox_proto::agent::AgentStatus::Active.into()),
            version: Set(Some("loadgen".into())),
            platform: Set(Some("linux".into())),
            capabilities: Set("[]".into()),
            metadata: Set(json!({ "machine_name": format!("bench-{i:05}") }).to_string()),
            paired_at: Set(Some(now)),
            paired_by: Set(Some(owner.id.clone())),
            last_seen_at: Set(Some(now)),
            token_hash: Set(Some(hash_secret(&token))),
            token_expires_at: Set(Some(now + TOKEN_TTL_MS)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
    }
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<_> = rows.by_ref().take(BATCH).collect();
        db.write(async |txn| {
            agent::Entity::insert_many(batch)
                .exec_without_returning(txn)
                .await?;
            Ok::<_, StoreError>(())
        })
        .await?;
    }
    db.after_bulk_load().await?;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&args.out)
        .and_then(|mut f| f.write_all(lines.as_bytes()))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "seed-agents: {} agents of {} in tenant '{}' in {:.1}s; tokens in {}",
        args.agents,
        args.owner_email,
        owner.tenant_id,
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// Base URL of the server; its host must be 127.0.0.1, localhost or [::1].
    #[arg(long)]
    url: Url,
    /// File written by `seed-agents`.
    #[arg(long)]
    agents_file: PathBuf,
    /// Simulated agents: the first N of the file.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    agents: u64,
    #[command(flatten)]
    dispatcher: DispatcherLogin,
    /// Seconds over which the agents start, evenly. The default, one heartbeat period,
    /// makes the start as busy as the steady state rather than a reconnect storm.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=600))]
    ramp: u64,
    /// Seconds between an agent's heartbeats.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=110))]
    heartbeat: u64,
    /// Each wait between heartbeats is drawn from the period ± this many seconds.
    #[arg(long, default_value_t = 5)]
    heartbeat_jitter: u64,
    /// How long each poll waits on the server (`timeout_ms` of `commands/next`).
    #[arg(long, default_value_t = 25_000, value_parser = clap::value_parser!(u64).range(1_000..=60_000))]
    poll_timeout_ms: u64,
    /// Seconds every poll is left waiting before the memory is read and the phases start.
    #[arg(long, default_value_t = 2)]
    settle: u64,
    /// Dispatches a second in the hold phase (0 skips it).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    rate: u32,
    /// Measured seconds of each phase.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    duration: u64,
    /// Seconds of cycles before they are measured (not recorded).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    warmup: u64,
    /// Agents in the cycles phase, each with its own dispatch loop (0 skips the phase).
    #[arg(long, default_value_t = 16)]
    cycle_agents: usize,
    /// Process id of the server, whose memory, open files and CPU time are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// First word of the summary lines.
    #[arg(long, default_value = "agents")]
    label: String,
}

/// How the user who dispatches to the simulated agents (their owner) signs in.
#[derive(Debug, Args)]
pub struct DispatcherLogin {
    /// The dispatcher (the agents' owner) signs in with EMAIL:PASSWORD.
    #[arg(
        long,
        value_name = "EMAIL:PASSWORD",
        env = "BOTMOX_LOADGEN_LOGIN",
        hide_env_values = true
    )]
    pub(crate) login: String,
}

/// Timeout of every request but the polls.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A poll may take this much longer than its own wait before it counts as failed.
const POLL_GRACE: Duration = Duration::from_secs(10);
/// How long the end of a phase waits for commands still on their way.
const DRAIN: Duration = Duration::from_secs(10);

/// One simulated agent.
struct SimAgent {
    id: String,
    /// The API client with this agent's token.
    api: Client,
    /// A command was dispatched to it and not reported yet (set by the dispatcher).
    busy: AtomicBool,
    /// The outstanding command's phase (`HOLD` or `CYCLES`) and when its dispatch was sent
    /// (µs since `epoch`): an agent has at most one command outstanding.
    phase: AtomicU8,
    sent_us: AtomicU64,
    /// Told when a `cycles` command has been reported.
    reported: Notify,
}

const HOLD: u8 = 1;
const CYCLES: u8 = 2;

/// Everything the tasks share.
struct Sim {
    /// The API client of the user who dispatches.
    dispatcher: Client,
    agents: Vec<SimAgent>,
    epoch: Instant,
    poll: NextQuery,
    heartbeat: Duration,
    jitter: Duration,
    stopping: AtomicBool,
    /// Agents whose poll loop runs and that are not handling a command: their poll waits on
    /// the server or is about to be sent again.
    polling: AtomicUsize,
    busy: AtomicUsize,
    heartbeats: AtomicU64,
    polls: AtomicU64,
    hold_dispatched: AtomicU64,
    hold_claimed: AtomicU64,
    hold_claim: Latencies,
    hold_post: Latencies,
    /// Cycle claims sent from this instant (µs since `epoch`) on are recorded.
    cycles_from_us: AtomicU64,
    cycle_claim: Latencies,
    cycle_total: Latencies,
    failures: Failures,
}

impl Sim {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn fail(&self, (key, detail): (String, String)) {
        if !self.stopping.load(Ordering::Relaxed) {
            self.failures.add(key, detail);
        }
    }

    /// Mark agent `i` busy for a dispatch; `false` when it already is.
    fn take(&self, i: usize) -> bool {
        let won = self.agents[i]
            .busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            self.busy.fetch_add(1, Ordering::Relaxed);
        }
        won
    }

    fn release(&self, i: usize) {
        if self.agents[i].busy.swap(false, Ordering::AcqRel) {
            self.busy.fetch_sub(1, Ordering::Relaxed);
        }
    }

    async fn send_heartbeat(&self, i: usize) {
        let body = HeartbeatRequest {
            version: Some("loadgen".into()),
            platform: Some("linux".into()),
            ..HeartbeatRequest::default()
        };
        match self.agents[i].api.heartbeat(&body).await {
            Ok(_) => {
                self.heartbeats.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.fail(failure("heartbeat", &e)),
        }
    }

    /// Heartbeats after the first: the first wait is a random part of the period.
    async fn heartbeats(&self, i: usize) {
        let mut rng = StdRng::seed_from_u64(i as u64);
        let period = self.heartbeat.as_secs_f64();
        let jitter = self.jitter.as_secs_f64().min(period / 2.0);
        let mut wait = rng.gen_range(0.0..period);
        loop {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            self.send_heartbeat(i).await;
            wait = period + rng.gen_range(-jitter..=jitter);
        }
    }

    /// Poll for commands until the run stops; report each one received.
    async fn polls(&self, i: usize) {
        let agent = &self.agents[i];
        self.polling.fetch_add(1, Ordering::Relaxed);
        while !self.stopping.load(Ordering::Relaxed) {
            let command = match agent.api.next(&self.poll).await {
                Ok(command) => command,
                Err(e) => {
                    self.fail(failure("poll", &e));
                    self.polling.fetch_sub(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    self.polling.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            self.polls.fetch_add(1, Ordering::Relaxed);
            let Some(command) = command else {
                continue;
            };
            self.polling.fetch_sub(1, Ordering::Relaxed);
            let cycle = self.claimed(i, &command);
            self.report(i, &command).await;
            self.release(i);
            if cycle {
                agent.reported.notify_one();
            }
            self.polling.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Record the dispatch → claim time of a command agent `i` just received; `true` for a
    /// cycle.
    fn claimed(&self, i: usize, command: &CommandView) -> bool {
        let now = self.now_us();
        let agent = &self.agents[i];
        let sent = agent.sent_us.load(Ordering::Acquire);
        match agent.phase.swap(0, Ordering::AcqRel) {
            _ if command.agent_id != agent.id => {
                self.fail((
                    "poll: another agent's command".into(),
                    format!("{} for {}", command.id, command.agent_id),
                ));
                false
            }
            HOLD => {
                self.hold_claim.record_us(now.saturating_sub(sent));
                self.hold_claimed.fetch_add(1, Ordering::Relaxed);
                false
            }
            CYCLES => {
                if sent >= self.cycles_from_us.load(Ordering::Relaxed) {
                    self.cycle_claim.record_us(now.saturating_sub(sent));
                }
                true
            }
            _ => {
                self.fail((
                    "poll: a command the load generator did not send".into(),
                    command.id.clone(),
                ));
                false
            }
        }
    }

    async fn report(&self, i: usize, command: &CommandView) {
        let claim = command.claim_id.clone().unwrap_or_default();
        let body = ReportRequest::succeeded(claim, json!({"ok": true}));
        if let Err(e) = self.agents[i].api.report(&command.id, &body).await {
            self.fail(failure("report", &e));
        }
    }

    /// Dispatch a command to agent `i` (which the caller marked busy) in `phase`; the
    /// phase and the send instant stay with the agent until its poll receives it.
    async fn dispatch(&self, i: usize, phase: u8) -> Result<(), (String, String)> {
        let agent = &self.agents[i];
        agent.sent_us.store(self.now_us(), Ordering::Release);
        agent.phase.store(phase, Ordering::Release);
        // A start of VM `100 + i`: an action (never de-duplicated), one per agent at a time.
        let vmid = 100 + i as u64;
        let command = Command::from_parts("proxmox.start", json!({ "vmid": vmid }))
            .map_err(|e| ("dispatch: not a command".to_owned(), e.to_string()))?;
        let body = DispatchRequest::new(agent.id.clone(), command);
        self.dispatcher
            .dispatch(&body)
            .await
            .map(|_| ())
            .map_err(|e| failure("dispatch", &e))
    }

    /// Wait until no dispatched command is outstanding, at most `DRAIN`; `false` if some are.
    async fn drain(&self) -> bool {
        let deadline = Instant::now() + DRAIN;
        while self.busy.load(Ordering::Relaxed) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

/// The first `n` `<id> <token>` lines of a file written by `seed-agents`.
pub(crate) fn read_agent_tokens(path: &Path, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let agents: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .map(|l| {
            let (id, token) = l
                .split_once(' ')
                .with_context(|| format!("{}: not `<id> <token>`", path.display()))?;
            Ok((id.to_owned(), token.trim().to_owned()))
        })
        .collect::<anyhow::Result<_>>()?;
    if agents.len() < n {
        bail!(
            "{} holds {} agents, fewer than the {n} asked for",
            path.display(),
            agents.len()
        );
    }
    Ok(agents)
}

/// An API client for a fleet on `url`: HTTP/1.1 keep-alive connections without limit (one
/// per waiting poll), `REQUEST_TIMEOUT` on every request but the polls, sent from loopback
/// address `from` when given.
pub(crate) fn fleet_client(url: &Url, from: Option<IpAddr>) -> anyhow::Result<Client> {
    let http = reqwest::Client::builder()
        .local_address(from)
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(120))
        .connect_timeout(REQUEST_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")?;
    Ok(Client::with_http(http, url.as_str())
        .context("invalid URL")?
        .with_timeout(REQUEST_TIMEOUT))
}

pub async fn run(args: AgentsArgs) -> anyhow::Result<ExitCode> {
    crate::check_loopback(&args.url, "--url")?;
    let n = args.agents as usize;
    let label = args.label.as_str();
    // One connection per waiting poll, plus heartbeats, reports and dispatches.
    let needed = n as u64 + 500;
    if let Some(limit) = open_files_limit()
        && limit < needed
    {
        bail!("{n} agents need about {needed} open files; the limit is {limit} (ulimit -n)");
    }
    let token = crate::login(&args.url, &args.dispatcher.login, REQUEST_TIMEOUT).await?;
    let api = fleet_client(&args.url, None)?;
    let agents = read_agent_tokens(&args.agents_file, n)?
        .into_iter()
        .map(|(id, token)| SimAgent {
            id,
            api: api.clone().with_token(token),
            busy: AtomicBool::new(false),
            phase: AtomicU8::new(0),
            sent_us: AtomicU64::new(0),
            reported: Notify::new(),
        })
        .collect();
    let sim = Arc::new(Sim {
        dispatcher: api.with_token(token),
        agents,
        epoch: Instant::now(),
        poll: NextQuery {
            timeout_ms: Some(args.poll_timeout_ms),
        },
        heartbeat: Duration::from_secs(args.heartbeat),
        jitter: Duration::from_secs(args.heartbeat_jitter),
        stopping: AtomicBool::new(false),
        polling: AtomicUsize::new(0),
        busy: AtomicUsize::new(0),
        heartbeats: AtomicU64::new(0),
        polls: AtomicU64::new(0),
        hold_dispatched: AtomicU64::new(0),
        hold_claimed: AtomicU64::new(0),
        hold_claim: Latencies::new()?,
        hold_post: Latencies::new()?,
        cycles_from_us: AtomicU64::new(u64::MAX),
        cycle_claim: Latencies::new()?,
        cycle_total: Latencies::new()?,
        failures: Failures::default(),
    });

    let rss_idle = args
        .server_pid
        .map(|pid| status_kib(pid, "VmRSS"))
        .transpose()?;
    eprintln!(
        "{label}: starting {n} agents over {}s (heartbeat {}±{}s, polls of {}ms)",
        args.ramp, args.heartbeat, args.heartbeat_jitter, args.poll_timeout_ms
    );
    let ramp = Duration::from_secs(args.ramp);
    for i in 0..n {
        let sim = sim.clone();
        let delay = ramp.mul_f64(i as f64 / n as f64);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sim.send_heartbeat(i).await;
            tokio::join!(sim.heartbeats(i), sim.polls(i));
        });
    }
    let outcome = phases(&sim, &args, rss_idle).await;
    sim.stopping.store(true, Ordering::Relaxed);
    sim.failures.print(label);
    outcome?;
    let failures = sim.failures.total();
    if failures > 0 {
        eprintln!("{label}: {failures} unexpected answers; the figures above are not valid");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Wait for every poll, then memory, hold and cycles; print one line each.
async fn phases(sim: &Arc<Sim>, args: &AgentsArgs, rss_idle: Option<u64>) -> anyhow::Result<()> {
    let n = sim.agents.len();
    let label = args.label.as_str();

    // --- every agent's poll waiting ----------------------------------------------------
    let ramp_started = Instant::now();
    let deadline = ramp_started + Duration::from_secs(args.ramp + 60);
    let mut last_report = Instant::now();
    while sim.polling.load(Ordering::Relaxed) < n {
        if Instant::now() >= deadline {
            bail!(
                "only {} of {n} agents are polling {}s after the start",
                sim.polling.load(Ordering::Relaxed),
                args.ramp + 60
            );
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "{label}: {} of {n} agents polling",
                sim.polling.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_polling = ramp_started.elapsed();
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let waiting = sim.polling.load(Ordering::Relaxed);
    let mut line = format!(
        "{label} held: agents={n} waiting={waiting} all_polling_after={:.1}s heartbeats={} polls_done={}",
        all_polling.as_secs_f64(),
        sim.heartbeats.load(Ordering::Relaxed),
        sim.polls.load(Ordering::Relaxed),
    );
    if let (Some(pid), Some(idle)) = (args.server_pid, rss_idle) {
        let held = status_kib(pid, "VmRSS")?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        write!(
            line,
            " rss_idle_mb={:.1} rss_held_mb={:.1} per_poll_kib={:.1} server_fds={fds}",
            idle as f64 / 1024.0,
            held as f64 / 1024.0,
            held.saturating_sub(idle) as f64 / waiting.max(1) as f64,
        )?;
    }
    println!("{line}");
    if waiting < n {
        bail!("only {waiting} of {n} polls were waiting");
    }

    // --- hold: dispatches at a fixed rate to random idle agents --------------------------
    if args.rate > 0 {
        let cpu = CpuMeter::start(args.server_pid.as_slice());
        let (heartbeats, polls) = (
            sim.heartbeats.load(Ordering::Relaxed),
            sim.polls.load(Ordering::Relaxed),
        );
        let mut rng = StdRng::from_entropy();
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let started = Instant::now();
        let end = started + Duration::from_secs(args.duration);
        let mut skipped = 0u64;
        let mut sends = tokio::task::JoinSet::new();
        while Instant::now() < end {
            ticker.tick().await;
            // An agent busy with a command would queue the new one behind it.
            let Some(i) = (0..16).map(|_| rng.gen_range(0..n)).find(|&i| sim.take(i)) else {
                skipped += 1;
                continue;
            };
            let sim = sim.clone();
            sends.spawn(async move {
                let sent = Instant::now();
                match sim.dispatch(i, HOLD).await {
                    Ok(()) => {
                        sim.hold_post.record(sent.elapsed());
                        sim.hold_dispatched.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        sim.fail(e);
                        sim.release(i);
                    }
                }
            });
            while sends.try_join_next().is_some() {}
        }
        while sends.join_next().await.is_some() {}
        let sending = started.elapsed().as_secs_f64();
        let drained = sim.drain().await;
        let dispatched = sim.hold_dispatched.load(Ordering::Relaxed);
        let claimed = sim.hold_claimed.load(Ordering::Relaxed);
        println!(
            "{label} hold: agents={n} dispatched={dispatched} rate={:.0}/s claimed={claimed} lost={} skipped_busy={skipped} {} {} heartbeats={} polls_done={} {}",
            dispatched as f64 / sending,
            dispatched.saturating_sub(claimed),
            sim.hold_claim.summary("claim"),
            sim.hold_post.summary("post"),
            sim.heartbeats.load(Ordering::Relaxed) - heartbeats,
            sim.polls.load(Ordering::Relaxed) - polls,
            cpu.summary(),
        );
        if !drained || claimed < dispatched {
            bail!(
                "{} dispatched commands did not reach their agent within {}s",
                dispatched.saturating_sub(claimed),
                DRAIN.as_secs()
            );
        }
    }

    // --- cycles: dispatch, claim, report, back to back per agent -------------------------
    let k = args.cycle_agents.min(n);
    if k > 0 {
        let warmup = Duration::from_secs(args.warmup);
        let measure_from = Instant::now() + warmup;
        let end = measure_from + Duration::from_secs(args.duration);
        sim.cycles_from_us
            .store(sim.now_us() + warmup.as_micros() as u64, Ordering::Relaxed);
        let completed = Arc::new(AtomicU64::new(0));
        let mut loops = tokio::task::JoinSet::new();
        for i in 0..k {
            let (sim, completed) = (sim.clone(), completed.clone());
            loops.spawn(async move {
                while Instant::now() < end {
                    if !sim.take(i) {
                        // Still busy with a command from the hold phase.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    let sent = Instant::now();
                    if let Err(e) = sim.dispatch(i, CYCLES).await {
                        sim.fail(e);
                        sim.release(i);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    let reported = sim.agents[i].reported.notified();
                    if tokio::time::timeout(REQUEST_TIMEOUT + POLL_GRACE, reported)
                        .await
                        .is_err()
                    {
                        sim.fail((
                            "cycle: no report".into(),
                            format!("agent {} did not report within 20s", sim.agents[i].id),
                        ));
                        return;
                    }
                    let done = Instant::now();
                    if done >= measure_from && done <= end {
                        sim.cycle_total.record(done - sent);
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        tokio::time::sleep_until(measure_from.into()).await;
        let cpu = CpuMeter::start(args.server_pid.as_slice());
        let (heartbeats, polls) = (
            sim.heartbeats.load(Ordering::Relaxed),
            sim.polls.load(Ordering::Relaxed),
        );
        while loops.join_next().await.is_some() {}
        let cpu = cpu.summary();
        let cycles = completed.load(Ordering::Relaxed);
        println!(
            "{label} cycles: agents={n} loops={k} cycles={cycles} cps={:.0} {} {} heartbeats={} polls_done={} {cpu}",
            cycles as f64 / args.duration as f64,
            sim.cycle_total.summary("cycle"),
            sim.cycle_claim.summary("cclaim"),
            sim.heartbeats.load(Ordering::Relaxed) - heartbeats,
            sim.polls.load(Ordering::Relaxed) - polls,
        );
        sim.drain().await;
    }
    if let Some(pid) = args.server_pid {
        println!(
            "{label} end: server_peak_rss_mb={:.1}",
            status_kib(pid, "VmHWM")? as f64 / 1024.0
        );
    }
    Ok(())
}
