//! `flood`: how fast the command bus takes dispatches while polls wait, on one server or on
//! several replicas of one PostgreSQL database.
//!
//! One round per count in `--pollers`, each on an agent of its own (the next line of the
//! `seed-agents` file): that many polls of the agent wait (`commands/next`, spread over the
//! replicas in turn), then `--concurrency` dispatchers send `--commands` commands to it as
//! fast as the server answers (also spread over the replicas). Each poll that gets a command
//! reports it `succeeded` and polls again. The round prints the dispatch rate (acknowledged
//! dispatches a second), the latency of the dispatch request, and, with polls waiting, how
//! long until every command was claimed.
//!
//! Many polls of one agent are the worst case of the wake-ups: a dispatch that woke every
//! waiting poll of its agent would have each of them look for a command that only one can
//! claim. Real agents keep one poll; this round shows the bus does not depend on that.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use botmox_client::Client;
use botmox_proto::agent::HeartbeatRequest;
use botmox_proto::command::{Command, DispatchRequest, NextQuery, ReportRequest};
use clap::Args;
use reqwest::Url;
use serde_json::json;

use crate::agents::{DispatcherLogin, REQUEST_TIMEOUT, fleet_client, read_agent_tokens};
use crate::measure::{CpuMeter, Failures, Latencies, failure, open_files_limit};

#[derive(Debug, Args)]
pub struct FloodArgs {
    /// Base URL of a replica; repeat for several. Polls and dispatchers take them in turn.
    /// Hosts must be 127.0.0.1, localhost or [::1].
    #[arg(long = "url", required = true)]
    urls: Vec<Url>,
    /// File written by `seed-agents`.
    #[arg(long)]
    agents_file: PathBuf,
    /// Agents of the file to pass over: round `r` uses agent `skip + r`.
    #[arg(long, default_value_t = 0)]
    skip: usize,
    #[command(flatten)]
    dispatcher: DispatcherLogin,
    /// Waiting polls of the round's agent, one round per value.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 50, 5_000])]
    pollers: Vec<usize>,
    /// Commands dispatched per round.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    commands: u64,
    /// Dispatch requests in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    concurrency: u64,
    /// Process ids of the servers, whose CPU time is read from /proc (repeat for several).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// First word of the summary lines.
    #[arg(long, default_value = "flood")]
    label: String,
}

/// How long a round waits for its commands to be claimed once all are dispatched.
const CLAIM_DEADLINE: Duration = Duration::from_secs(120);
/// Each poll's wait on the server (`timeout_ms`).
const POLL_WAIT_MS: u64 = 25_000;

/// What a round's tasks share.
struct Round {
    stopping: AtomicBool,
    /// Polls sent and not answered yet.
    in_flight: AtomicUsize,
    claimed: AtomicU64,
    failures: Failures,
}

impl Round {
    fn fail(&self, (key, detail): (String, String)) {
        if !self.stopping.load(Ordering::Relaxed) {
            self.failures.add(key, detail);
        }
    }

    /// Poll as the agent until the round stops, reporting every command received.
    async fn poll(&self, agent: Client) {
        let query = NextQuery {
            timeout_ms: Some(POLL_WAIT_MS),
        };
        while !self.stopping.load(Ordering::Relaxed) {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            let answer = agent.next(&query).await;
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            match answer {
                Ok(Some(command)) => {
                    self.claimed.fetch_add(1, Ordering::Relaxed);
                    let claim = command.claim_id.clone().unwrap_or_default();
                    let body = ReportRequest::succeeded(claim, json!({"ok": true}));
                    if let Err(e) = agent.report(&command.id, &body).await {
                        self.fail(failure("report", &e));
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.fail(failure("poll", &e));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

pub async fn run(args: FloodArgs) -> anyhow::Result<ExitCode> {
    for url in &args.urls {
        crate::check_loopback(url, "--url")?;
    }
    let most = args.pollers.iter().copied().max().unwrap_or(0) as u64;
    let needed = most + args.concurrency + 200;
    if let Some(limit) = open_files_limit()
        && limit < needed
    {
        bail!("{most} polls need about {needed} open files; the limit is {limit} (ulimit -n)");
    }
    let agents = read_agent_tokens(&args.agents_file, args.skip + args.pollers.len())?;
    let token = crate::login(&args.urls[0], &args.dispatcher.login, REQUEST_TIMEOUT).await?;
    let clients: Vec<Client> = args
        .urls
        .iter()
        .map(|url| fleet_client(url, None))
        .collect::<anyhow::Result<_>>()?;
    let dispatchers: Vec<Client> = clients
        .iter()
        .map(|c| c.clone().with_token(token.clone()))
        .collect();

    let mut failed = false;
    for (round, &pollers) in args.pollers.iter().enumerate() {
        let (agent_id, agent_token) = &agents[args.skip + round];
        let agent_clients: Vec<Client> = clients
            .iter()
            .map(|c| c.clone().with_token(agent_token.clone()))
            .collect();
        // Online, so dispatches are accepted.
        let heartbeat = HeartbeatRequest {
            version: Some("loadgen".into()),
            ..HeartbeatRequest::default()
        };
        agent_clients[0].heartbeat(&heartbeat).await?;
        let shared = Arc::new(Round {
            stopping: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            claimed: AtomicU64::new(0),
            failures: Failures::default(),
        });
        let mut polls = tokio::task::JoinSet::new();
        for j in 0..pollers {
            let (shared, agent) = (
                shared.clone(),
                agent_clients[j % agent_clients.len()].clone(),
            );
            polls.spawn(async move { shared.poll(agent).await });
        }
        wait_for_polls(&shared, pollers).await?;

        let cpu = CpuMeter::start(&args.server_pids);
        let post = Latencies::new()?;
        let started = Instant::now();
        let next = AtomicU64::new(0);
        let send = |c: u64| {
            let (dispatcher, shared, post, next) = (
                &dispatchers[c as usize % dispatchers.len()],
                &shared,
                &post,
                &next,
            );
            async move {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= args.commands {
                        return;
                    }
                    // A start: an action, never merged with an equal one.
                    let command = Command::from_parts("proxmox.start", json!({ "vmid": 100 + k }))
                        .expect("a start of a VM is a command");
                    let body = DispatchRequest::new(agent_id.clone(), command);
                    let sent = Instant::now();
                    match dispatcher.dispatch(&body).await {
                        Ok(_) => post.record(sent.elapsed()),
                        Err(e) => shared.fail(failure("dispatch", &e)),
                    }
                }
            }
        };
        futures::future::join_all((0..args.concurrency).map(send)).await;
        let dispatching = started.elapsed();
        let mut line = format!(
            "{} flood: replicas={} pollers={pollers} commands={} dispatch_rate={:.0}/s {}",
            args.label,
            args.urls.len(),
            args.commands,
            args.commands as f64 / dispatching.as_secs_f64(),
            post.summary("post"),
        );
        if pollers > 0 {
            let deadline = Instant::now() + CLAIM_DEADLINE;
            while shared.claimed.load(Ordering::Relaxed) < args.commands
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let claimed = shared.claimed.load(Ordering::Relaxed);
            let all_claimed = started.elapsed();
            line.push_str(&format!(
                " claimed={claimed} all_claimed_after={:.2}s claim_rate={:.0}/s",
                all_claimed.as_secs_f64(),
                claimed as f64 / all_claimed.as_secs_f64(),
            ));
            if claimed < args.commands {
                shared.fail((
                    "claims: missing".into(),
                    format!(
                        "{claimed} of {} claimed within {}s",
                        args.commands,
                        CLAIM_DEADLINE.as_secs()
                    ),
                ));
            }
        }
        println!("{line} {}", cpu.summary());
        shared.stopping.store(true, Ordering::Relaxed);
        // Dropping the waiting polls closes their connections; the server lets them go.
        polls.abort_all();
        while polls.join_next().await.is_some() {}
        shared.failures.print(&args.label);
        failed |= shared.failures.total() > 0;
    }
    if failed {
        eprintln!(
            "{}: unexpected answers; the figures above are not valid",
            args.label
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Wait until all `pollers` polls are sent, then a little longer so they wait on the
/// server (a poll counts as sent before its connection is open).
async fn wait_for_polls(round: &Round, pollers: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while round.in_flight.load(Ordering::Relaxed) < pollers {
        if Instant::now() >= deadline {
            bail!(
                "only {} of {pollers} polls were sent within 60s",
                round.in_flight.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let settle = Duration::from_millis(500 + pollers as u64 / 2);
    tokio::time::sleep(settle).await;
    Ok(())
}
