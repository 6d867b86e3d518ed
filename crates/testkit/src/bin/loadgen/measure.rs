//! What the load generator's fleet modes measure besides their own counts: latency
//! histograms, unexpected answers grouped by kind, and the CPU and memory of the servers
//! under test, read from `/proc`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use botmox_client::ClientError;
use hdrhistogram::Histogram;

/// An HDR histogram of microseconds shared by tasks.
pub(crate) struct Latencies(Mutex<Histogram<u64>>);

impl Latencies {
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Self(Mutex::new(
            Histogram::new_with_bounds(1, 3_600_000_000, 3).context("histogram bounds")?,
        )))
    }

    pub(crate) fn record(&self, d: Duration) {
        self.record_us(d.as_micros() as u64);
    }

    pub(crate) fn record_us(&self, us: u64) {
        self.lock().saturating_record(us.max(1));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Histogram<u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `name_p50=.. name_p90=.. name_p99=.. name_max=..` in milliseconds.
    pub(crate) fn summary(&self, name: &str) -> String {
        let h = self.lock();
        let ms = |us: u64| us as f64 / 1000.0;
        format!(
            "{name}_p50={:.2}ms {name}_p90={:.2}ms {name}_p99={:.2}ms {name}_max={:.2}ms",
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.90)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        )
    }
}

/// Unexpected answers, by request and status, with the first detail of each.
#[derive(Default)]
pub(crate) struct Failures(Mutex<BTreeMap<String, (u64, String)>>);

impl Failures {
    pub(crate) fn add(&self, key: String, detail: String) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key).or_insert((0, detail)).0 += 1;
    }

    /// Add `n` failures of one kind (another process's, say).
    pub(crate) fn add_n(&self, key: String, n: u64, detail: String) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key).or_insert((0, detail)).0 += n;
    }

    /// Every kind: its key, count and first detail.
    pub(crate) fn entries(&self) -> Vec<(String, u64, String)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(key, (n, detail))| (key.clone(), *n, detail.clone()))
            .collect()
    }

    pub(crate) fn total(&self) -> u64 {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.values().map(|(n, _)| n).sum()
    }

    pub(crate) fn print(&self, label: &str) {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (key, (n, detail)) in map.iter() {
            eprintln!("{label}: {n} x {key}; first: {detail}");
        }
    }
}

/// A failure as (key, detail): the key groups failures of one kind in the summary.
pub(crate) fn failure(what: &str, e: &ClientError) -> (String, String) {
    let key = match e {
        ClientError::Api { status, code, .. } => format!("{what}: {status} {code}"),
        ClientError::Timeout => format!("{what}: timeout"),
        ClientError::Transport(_) => format!("{what}: transport error"),
        ClientError::Decode { .. } => format!("{what}: unexpected answer"),
        ClientError::BaseUrl(_) => format!("{what}: bad base URL"),
    };
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        write!(detail, ": {s}").ok();
        source = s.source();
    }
    (key, detail)
}

/// CPU seconds (user + system) of a process so far, from `/proc/<pid>/stat`.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses; utime and
    // stime are fields 14 and 15, in clock ticks of 1/100 s (USER_HZ).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM...).
pub(crate) fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in {path}"))
}

/// The soft limit on open files of this process.
pub(crate) fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Busy and total clock ticks of the whole machine, from the first line of `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().sum();
    // idle and iowait are the 4th and 5th.
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// CPU used over a phase by the servers (their sum) and by this process (% of one core),
/// and by the whole machine (% of all cores: the database, and anything else running,
/// included).
pub(crate) struct CpuMeter {
    servers: Vec<String>,
    started: Instant,
    servers_s: f64,
    own_s: f64,
    machine: Option<(u64, u64)>,
}

impl CpuMeter {
    pub(crate) fn start(server_pids: &[u32]) -> Self {
        let servers: Vec<String> = server_pids.iter().map(u32::to_string).collect();
        Self {
            servers_s: servers_cpu(&servers).unwrap_or(0.0),
            own_s: cpu_seconds("self").unwrap_or(0.0),
            servers,
            started: Instant::now(),
            machine: machine_ticks(),
        }
    }

    pub(crate) fn summary(&self) -> String {
        let own = cpu_seconds("self").map(|now| now - self.own_s);
        self.summary_with_loadgen(own)
    }

    /// The summary, with `loadgen_s` CPU seconds as the load generator's over the phase
    /// (several processes' together, say).
    pub(crate) fn summary_with_loadgen(&self, loadgen_s: Option<f64>) -> String {
        let wall = self.started.elapsed().as_secs_f64().max(f64::EPSILON);
        let pct = |now: Option<f64>, then: f64| now.map(|n| 100.0 * (n - then) / wall);
        let mut s = String::new();
        if !self.servers.is_empty()
            && let Some(p) = pct(servers_cpu(&self.servers), self.servers_s)
        {
            write!(s, "server_cpu={p:.0}% ").ok();
        }
        if let Some(p) = pct(loadgen_s, 0.0) {
            write!(s, "loadgen_cpu={p:.0}% ").ok();
        }
        if let (Some((busy0, total0)), Some((busy1, total1))) = (self.machine, machine_ticks())
            && total1 > total0
        {
            let p = 100.0 * (busy1 - busy0) as f64 / (total1 - total0) as f64;
            write!(s, "machine_cpu={p:.0}%").ok();
        }
        s
    }
}

/// CPU seconds of several processes together.
fn servers_cpu(pids: &[String]) -> Option<f64> {
    pids.iter().map(|p| cpu_seconds(p)).sum()
}
