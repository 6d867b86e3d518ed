//! `botmox-agent run`: heartbeats every 30 s (jittered), a long-poll that claims the next
//! command whenever a slot is free, commands run up to N at once with one VM's commands in
//! claim order, each reported `running` and then with its result. Failures back off with
//! jitter; a revoked agent stops; the token is rotated a week before it expires; on SIGTERM
//! or Ctrl-C the agent stops claiming and lets what it runs finish (bounded).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use botmox_client::{Client, ClientError};
use botmox_proto::ErrorCode;
use botmox_proto::agent::{HEARTBEAT_INTERVAL_MS, HeartbeatRequest, HostFacts};
use botmox_proto::command::{Command, CommandError, CommandView, NextQuery, ReportRequest};
use botmox_proto::validate::Validate;
use serde_json::{Map, Value};
use tokio::sync::{Notify, OwnedSemaphorePermit, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::backoff::{Backoff, jittered};
use crate::config::{AgentConfig, MAX_CONCURRENCY};
use crate::doctor;
use crate::error::{ExecError, code};
use crate::executor::Executor;
use crate::scheduler::{Scheduler, Turn};

/// How long the server holds a poll open when no command comes.
const POLL_WAIT_MS: u64 = 25_000;
/// Rotate the token once less than this remains of it.
const ROTATE_BEFORE: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// How often the doctor's facts for the heartbeat are refreshed.
const DOCTOR_PERIOD: Duration = Duration::from_secs(300);
/// A report is tried this often before the agent gives up on it.
const REPORT_ATTEMPTS: u32 = 8;

/// Why `run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Asked to stop (signal); in-flight commands were finished or reported failed.
    Stopped,
    /// The server revoked the agent (409 `AGENT_REVOKED` or 403): pair again to go on.
    Revoked,
}

/// Settings of one run beyond the config file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Commands at once (default: the config's `concurrency`).
    pub concurrency: Option<usize>,
}

/// What the loop's tasks share.
struct Shared {
    path: PathBuf,
    config: tokio::sync::Mutex<AgentConfig>,
    client: RwLock<Client>,
    facts: Mutex<Option<Value>>,
    facts_changed: Notify,
    exit: watch::Sender<Option<Outcome>>,
    /// Claimed commands not yet reported: id -> claim id.
    inflight: Mutex<HashMap<String, String>>,
}

impl Shared {
    fn client(&self) -> Client {
        self.client.read().expect("client lock").clone()
    }

    fn stop(&self, outcome: Outcome) {
        self.exit.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(outcome);
            }
            first
        });
    }

    fn outcome(&self) -> Option<Outcome> {
        *self.exit.borrow()
    }

    /// Resolves once a stop was asked for.
    async fn stopped(&self) {
        let mut rx = self.exit.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }
}

/// The server's word that this agent must stop: revoked, or forbidden altogether.
fn is_revoked(e: &ClientError) -> bool {
    e.is(ErrorCode::AgentRevoked) || e.status() == Some(403)
}

/// Worth another try: the server or the network failed, or the token just changed.
fn is_transient(e: &ClientError) -> bool {
    match e {
        ClientError::Timeout | ClientError::Transport(_) => true,
        _ => e.status().is_some_and(|s| s >= 500 || s == 429 || s == 401),
    }
}

fn client_for(config: &AgentConfig) -> anyhow::Result<Client> {
    Ok(Client::new(&config.server_url)
        .with_context(|| format!("server_url {}", config.server_url))?
        .with_token(config.token.clone()))
}

/// Run until stopped or revoked.
pub async fn run(path: PathBuf, options: RunOptions) -> anyhow::Result<Outcome> {
    let config = AgentConfig::load(&path)?;
    let limit = options
        .concurrency
        .unwrap_or(config.concurrency)
        .clamp(1, MAX_CONCURRENCY);
    // Passwords from the vault live in this copy only: `config` is saved on token rotation.
    let mut resolved = config.clone();
    crate::vault::resolve(&mut resolved, &client_for(&config)?).await?;
    let executor = Arc::new(Executor::new(&resolved));
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let (exit, _) = watch::channel(None);
    let shared = Arc::new(Shared {
        path,
        client: RwLock::new(client_for(&config)?),
        config: tokio::sync::Mutex::new(config.clone()),
        facts: Mutex::new(None),
        facts_changed: Notify::new(),
        exit,
        inflight: Mutex::new(HashMap::new()),
    });
    info!(
        agent = %config.agent_id,
        server = %config.server_url,
        concurrency = limit,
        targets = config.targets.len(),
        "agent starting"
    );

    tokio::spawn(signals(shared.clone()));
    let heartbeat = tokio::spawn(heartbeats(shared.clone()));
    let doctor_task = tokio::spawn(refresh_facts(shared.clone(), executor.clone(), resolved));

    let scheduler = Scheduler::new(limit);
    let mut running = JoinSet::new();
    poll(&shared, &executor, &scheduler, &mut running).await;

    let outcome = shared.outcome().unwrap_or(Outcome::Stopped);
    doctor_task.abort();
    heartbeat.abort();
    match outcome {
        Outcome::Revoked => {
            warn!("the server revoked this agent; stopping (pair it again to go on)");
            running.abort_all();
        }
        Outcome::Stopped => drain(&shared, &scheduler, running, grace).await,
    }
    info!(?outcome, "agent stopped");
    Ok(outcome)
}

/// Claim commands while slots are free, until a stop.
async fn poll(
    shared: &Arc<Shared>,
    executor: &Arc<Executor>,
    scheduler: &Scheduler,
    running: &mut JoinSet<()>,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let query = NextQuery {
        timeout_ms: Some(POLL_WAIT_MS),
    };
    loop {
        while running.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = scheduler.slot() => slot,
            () = shared.stopped() => return,
        };
        let client = shared.client();
        let polled = tokio::select! {
            polled = client.next(&query) => polled,
            // A command claimed in this instant is lost to us; its claim lapses and the
            // server hands it out again.
            () = shared.stopped() => return,
        };
        if polled.is_ok() && backoff.attempts() > 0 {
            info!("connected to the server again");
            backoff.reset();
        }
        match polled {
            Ok(Some(view)) => {
                let command = view.command();
                let key = command.as_ref().ok().and_then(|c| executor.vm_key(c));
                let turn = scheduler.enqueue(key);
                let span = info_span!("command", id = %view.id, kind = %view.command_type);
                let task = run_one(shared.clone(), executor.clone(), view, command, turn, slot);
                running.spawn(task.instrument(span));
            }
            Ok(None) => {}
            Err(e) if is_revoked(&e) => {
                shared.stop(Outcome::Revoked);
                return;
            }
            Err(e) => {
                let wait = backoff.next_delay();
                if e.status() == Some(401) {
                    warn!(error = %e, retry_in = ?wait,
                        "the server refused the agent token; if it expired, pair the agent again");
                } else {
                    warn!(error = %e, retry_in = ?wait, "polling for commands failed");
                }
                drop(slot);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shared.stopped() => return,
                }
            }
        }
    }
}

/// The code of a command the agent cannot read: an unknown type, or a bad payload.
fn undecodable(e: &CommandError) -> ExecError {
    let kind = if e.errors.get("command_type").is_some() {
        code::UNKNOWN_COMMAND
    } else {
        code::BAD_REQUEST
    };
    ExecError::new(kind, e.to_string())
}

/// The report of a finished command. A result the server would refuse (over 64 KiB of
/// JSON, NUL in a string) is the command's failure, reported as such, rather than a report
/// that never lands and leaves the command running.
fn outcome_report(claim: &str, outcome: Result<Value, ExecError>) -> ReportRequest {
    let e = match outcome {
        Ok(result) => {
            let succeeded = ReportRequest::succeeded(claim, result);
            match succeeded.validate() {
                Ok(()) => return succeeded,
                Err(problems) => ExecError::new(
                    code::RESULT_REFUSED,
                    format!("the result breaks the contract: {problems}"),
                ),
            }
        }
        Err(e) => e,
    };
    ReportRequest::failed(claim, &e.to_string())
}

/// Run one claimed command: `running`, its VM's turn, the work, the result.
async fn run_one(
    shared: Arc<Shared>,
    executor: Arc<Executor>,
    view: CommandView,
    command: Result<Command, CommandError>,
    mut turn: Turn,
    slot: OwnedSemaphorePermit,
) {
    let Some(claim) = view.claim_id.clone() else {
        warn!("the server sent a command without a claim id; skipping it");
        return;
    };
    shared
        .inflight
        .lock()
        .expect("in-flight")
        .insert(view.id.clone(), claim.clone());
    let started = Instant::now();
    // Accepted at once, so the claim does not lapse while the VM's earlier commands run.
    match report(&shared, &view.id, &ReportRequest::running(&claim)).await {
        Ok(()) => {
            let outcome = match &command {
                Ok(command) => {
                    turn.wait().await;
                    executor.execute(command).await
                }
                Err(e) => Err(undecodable(e)),
            };
            drop(turn);
            let body = outcome_report(&claim, outcome);
            match &body.error_message {
                None => info!(took = ?started.elapsed(), "command succeeded"),
                Some(e) => warn!(took = ?started.elapsed(), error = %e, "command failed"),
            }
            if let Err(e) = report(&shared, &view.id, &body).await {
                warn!(error = %e, "could not report the outcome");
            }
        }
        Err(e) => {
            warn!(error = %e, "could not report the command running; leaving it to the server")
        }
    }
    shared.inflight.lock().expect("in-flight").remove(&view.id);
    drop(slot);
}

/// Send a report, retrying what may pass (network, 5xx, 429, a token rotated meanwhile).
async fn report(shared: &Shared, id: &str, body: &ReportRequest) -> Result<(), ClientError> {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(15));
    let mut attempt = 0;
    loop {
        attempt += 1;
        match shared.client().report(id, body).await {
            Ok(_) => return Ok(()),
            Err(e) if is_transient(&e) && attempt < REPORT_ATTEMPTS => {
                let wait = backoff.next_delay();
                warn!(error = %e, retry_in = ?wait, "report failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                if is_revoked(&e) {
                    shared.stop(Outcome::Revoked);
                }
                return Err(e);
            }
        }
    }
}

/// After a stop: let running commands finish within `grace`; report the rest failed, so
/// none waits out the server's running limit.
async fn drain(shared: &Shared, scheduler: &Scheduler, mut running: JoinSet<()>, grace: Duration) {
    if running.is_empty() {
        return;
    }
    info!(
        commands = scheduler.busy(),
        vms = scheduler.queued_vms(),
        ?grace,
        "stopping: no new commands; letting running ones finish"
    );
    let finished = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if finished.is_ok() {
        return;
    }
    running.abort_all();
    let left: Vec<(String, String)> = shared.inflight.lock().expect("in-flight").drain().collect();
    let message = ExecError::new(
        code::AGENT_STOPPED,
        "the agent stopped before the command finished",
    )
    .to_string();
    for (id, claim) in left {
        let body = ReportRequest::failed(&claim, &message);
        let client = shared.client();
        match tokio::time::timeout(Duration::from_secs(5), client.report(&id, &body)).await {
            Ok(Ok(_)) => warn!(command = %id, "reported unfinished command as failed"),
            _ => warn!(command = %id, "could not report the unfinished command"),
        }
    }
}

/// Heartbeats every 30 s ± 10 %, the latest doctor facts attached; rotate the token when due.
async fn heartbeats(shared: Arc<Shared>) {
    let period = Duration::from_millis(HEARTBEAT_INTERVAL_MS);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        let wait = match beat(&shared).await {
            Ok(()) => {
                backoff.reset();
                rotate_if_due(&shared).await;
                jittered(period, 0.1)
            }
            Err(e) if is_revoked(&e) => {
                shared.stop(Outcome::Revoked);
                return;
            }
            Err(e) => {
                let wait = backoff.next_delay().min(period);
                warn!(error = %e, retry_in = ?wait, "heartbeat failed");
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.facts_changed.notified() => {}
            () = shared.stopped() => return,
        }
    }
}

async fn beat(shared: &Shared) -> Result<(), ClientError> {
    let mut other = Map::new();
    if let Some(doctor) = shared.facts.lock().expect("facts").clone() {
        other.insert("doctor".into(), doctor);
    }
    let host = HostFacts {
        hostname: hostname(),
        os: Some(std::env::consts::OS.to_owned()),
        arch: Some(std::env::consts::ARCH.to_owned()),
        cpus: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok()),
        other,
        ..HostFacts::default()
    };
    let body = HeartbeatRequest {
        agent_id: Some(shared.config.lock().await.agent_id.clone()),
        version: Some(crate::VERSION.to_owned()),
        platform: Some(std::env::consts::OS.to_owned()),
        capabilities: Some(crate::capabilities()),
        host: Some(host),
    };
    shared.client().heartbeat(&body).await.map(drop)
}

/// The machine's name, for the server's agent list.
pub fn hostname() -> Option<String> {
    whoami::fallible::hostname().ok().filter(|h| !h.is_empty())
}

/// Swap the token for a fresh one when less than [`ROTATE_BEFORE`] remains.
async fn rotate_if_due(shared: &Shared) {
    let mut config = shared.config.lock().await;
    let due = config
        .token_expires_at
        .is_some_and(|at| at - chrono::Utc::now() < ROTATE_BEFORE);
    if !due {
        return;
    }
    match shared.client().rotate_token().await {
        Ok(rotated) => {
            config.token = rotated.agent_token;
            config.token_expires_at = rotated.agent_token_expires_at;
            match client_for(&config) {
                Ok(client) => *shared.client.write().expect("client lock") = client,
                Err(e) => warn!(error = %e, "cannot use the rotated token"),
            }
            match config.save(&shared.path) {
                Ok(()) => info!(expires = ?config.token_expires_at, "agent token rotated"),
                // The old token no longer works: say so loudly, the next start needs the new one.
                Err(e) => tracing::error!(error = %format!("{e:#}"),
                    "agent token rotated but the config could not be saved; fix the file's permissions"),
            }
        }
        Err(e) => warn!(error = %e, "token rotation failed; retrying at the next heartbeat"),
    }
}

/// Refresh the node's facts now and then; the heartbeat carries the latest. (Not the
/// server's: the heartbeat itself proves it, and this config's token may have been rotated.)
async fn refresh_facts(shared: Arc<Shared>, executor: Arc<Executor>, config: AgentConfig) {
    loop {
        let facts = doctor::check_node(&executor, &config).await;
        for line in facts.lines() {
            info!("{line}");
        }
        *shared.facts.lock().expect("facts") = serde_json::to_value(&facts).ok();
        shared.facts_changed.notify_one();
        tokio::select! {
            () = tokio::time::sleep(DOCTOR_PERIOD) => {}
            () = shared.stopped() => return,
        }
    }
}

/// SIGTERM, SIGINT (Ctrl-C) and, on Windows, Ctrl-Break, close and shutdown: stop.
async fn signals(shared: Arc<Shared>) {
    wait_for_signal().await;
    info!("stop requested");
    shared.stop(Outcome::Stopped);
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the agent");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(windows)]
async fn wait_for_signal() {
    use tokio::signal::windows::{ctrl_break, ctrl_close, ctrl_shutdown};
    let (Ok(mut brk), Ok(mut close), Ok(mut shutdown)) =
        (ctrl_break(), ctrl_close(), ctrl_shutdown())
    else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = brk.recv() => {}
        _ = close.recv() => {}
        _ = shutdown.recv() => {}
    }
}

#[cfg(not(any(unix, windows)))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_the_server_would_refuse_is_reported_as_the_failure() {
        let fine = outcome_report("c1", Ok(serde_json::json!({"ok": true})));
        assert!(fine.validate().is_ok());
        assert!(fine.error_message.is_none());
        for refused in [
            serde_json::json!({"stdout": "a\u{0}b"}),
            serde_json::json!({"stdout": "x".repeat(botmox_proto::command::MAX_RESULT_BYTES)}),
        ] {
            let body = outcome_report("c1", Ok(refused));
            assert!(body.validate().is_ok(), "the failure report itself lands");
            assert!(body.result.is_none());
            let message = body.error_message.unwrap();
            assert!(message.contains(code::RESULT_REFUSED), "{message}");
        }
        let failed = outcome_report("c1", Err(ExecError::new(code::BAD_REQUEST, "no")));
        assert!(failed.error_message.unwrap().contains("no"));
    }

    #[test]
    fn revocation_and_transient_failures_are_told_apart() {
        let api = |status: u16, code: &str| ClientError::Api {
            status,
            code: botmox_client::Code::Other(code.to_owned()),
            message: "m".into(),
            details: None,
        };
        let revoked = ClientError::Api {
            status: 409,
            code: botmox_client::Code::Known(ErrorCode::AgentRevoked),
            message: "revoked".into(),
            details: None,
        };
        assert!(is_revoked(&revoked));
        assert!(is_revoked(&api(403, "FORBIDDEN")));
        assert!(!is_revoked(&api(401, "UNAUTHORIZED")));
        assert!(is_transient(&ClientError::Timeout));
        assert!(is_transient(&api(503, "SERVICE_UNAVAILABLE")));
        assert!(is_transient(&api(429, "RATE_LIMITED")));
        assert!(is_transient(&api(401, "UNAUTHORIZED")));
        assert!(!is_transient(&api(404, "COMMAND_NOT_FOUND")));
        assert!(!is_transient(&api(409, "CONFLICT")));
    }

    #[test]
    fn undecodable_commands_get_their_codes() {
        let unknown = Command::from_parts("syncthing.restart", Value::Null).unwrap_err();
        assert_eq!(undecodable(&unknown).code, code::UNKNOWN_COMMAND);
        let bad =
            Command::from_parts("proxmox.start", serde_json::json!({"vmid": "x"})).unwrap_err();
        assert_eq!(undecodable(&bad).code, code::BAD_REQUEST);
    }
}
