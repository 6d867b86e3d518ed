//! `botmox-loadgen`: the load generator behind Bot-Mox's performance targets.
//!
//! Throughput and latency figures are quoted from this tool run against a release build of the
//! server (see `bench/foundation.sh`), not from timed tests: a test on a shared CI machine in a
//! debug build measures the machine, not the server, and would either fail at random or assert
//! nothing. A benchmark here is a separate, deliberate run whose numbers are read by a person.
//!
//! Subcommands:
//!
//! * `run` keeps N HTTP/1.1 keep-alive connections busy with requests (GET, or PATCH/POST
//!   with a body; `{n}` in the URL becomes a random number below `--n-range`, so writes
//!   spread over many records) for a fixed time (after a warm-up that is not recorded) and
//!   prints one summary line: request count, requests per second, latency percentiles from
//!   an HDR histogram, non-2xx and errors.
//! * `hello` serves a bare axum "hello" on the same kind of runtime as the server: the ceiling
//!   the server's figures are compared with on the same machine.
//! * `seed` fills a tenant with bots and finance operations for the records benchmark.
//! * `seed-agents` and `agents`: thousands of simulated agents (heartbeats, waiting polls)
//!   against one server, for the command bus benchmark (`bench/agents.sh`).
//! * `flood`: dispatch and claim rates with 0 to thousands of polls waiting, on one server
//!   or several replicas (`bench/agents.sh`).
//! * `seed-leases`: VMs each holding an execution lease, for the lease heartbeat benchmark
//!   (`bench/licensing.sh`, with `run --values` over the lease ids).
//! * `pages`: pages loaded one after another in headless Chromium, timed by the browser
//!   (server time and DOMContentLoaded), for `bench/records.sh`.
//! * `system`: the whole system at once (agents, operators' pages, API calls and
//!   dispatches, VMs' lease heartbeats, resolve-downloads and provisioning progress), spread
//!   over several processes and loopback addresses, for `bench/system.sh`.
//!
//! Only loopback targets are accepted: this is a benchmark of a local server, not a tool to
//! point at someone else's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use rand::Rng;
use reqwest::Method;
use reqwest::Url;
use reqwest::header::HeaderMap;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

mod agents;
mod flood;
mod leases;
mod measure;
mod pages;
mod seed;
mod system;

#[derive(Debug, Parser)]
#[command(
    name = "botmox-loadgen",
    about = "HTTP load generator for Bot-Mox benchmarks (loopback only)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start; size does not matter
enum Command {
    /// Serve a bare axum hello-world (GET / -> "hello") until SIGINT or SIGTERM: the ceiling.
    Hello {
        /// Address and port to listen on (port 0 picks a free one; the address is printed).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Load a URL with concurrent keep-alive connections and print one summary line.
    Run(RunArgs),
    /// Fill a tenant's database with bots and finance operations (benchmark data).
    Seed(seed::SeedArgs),
    /// Insert active agents into the database and write their tokens to a file.
    SeedAgents(agents::SeedAgentsArgs),
    /// Simulate agents (heartbeats, long-polls) and measure dispatch → claim and cycles.
    Agents(agents::AgentsArgs),
    /// Dispatch as fast as the server answers while many polls of one agent wait, on one
    /// server or several replicas: dispatch and claim rates.
    Flood(flood::FloodArgs),
    /// Register VMs and lease for each through the API; write the lease ids to a file.
    SeedLeases(leases::SeedLeasesArgs),
    /// Time pages in headless Chromium: server time and DOMContentLoaded, p50 and p99.
    Pages(pages::PagesArgs),
    /// Load the whole system at once from several processes: per kind of request, the
    /// rate and p50/p99; the servers' CPU and memory.
    System(system::SystemArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// URL to request; its host must be 127.0.0.1, localhost or [::1]. `{n}` in it is
    /// replaced by a random number below `--n-range` on every request.
    #[arg(long)]
    url: String,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: Method,
    /// JSON body sent with every request (for PATCH or POST).
    #[arg(long)]
    body: Option<String>,
    /// Extra header `Name: value` (repeatable), e.g. a session cookie.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Upper bound (exclusive) of the random `{n}` in the URL.
    #[arg(long, default_value_t = 1)]
    n_range: u64,
    /// File of values, one per line: `{v}` in the URL and the body becomes a random one of
    /// them on every request (e.g. lease ids).
    #[arg(long, value_name = "FILE")]
    values: Option<std::path::PathBuf>,
    /// Number of concurrent connections, each driven by its own worker.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    duration: u64,
    /// Seconds of load before the measurement starts (not recorded).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    warmup: u64,
    /// Seconds after which one request counts as an error.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout: u64,
    /// First word of the summary line.
    #[arg(long, default_value = "loadgen")]
    label: String,
    /// Bearer token sent with every request.
    #[arg(
        long,
        env = "BOTMOX_LOADGEN_TOKEN",
        hide_env_values = true,
        conflicts_with = "login"
    )]
    token: Option<String>,
    /// Sign in first with EMAIL:PASSWORD (POST <login-url>/api/v1/auth/login) and send the
    /// access token as Bearer.
    #[arg(long, value_name = "EMAIL:PASSWORD")]
    login: Option<String>,
    /// Base URL of the server to sign in to [default: scheme, host and port of --url].
    #[arg(long, value_name = "BASE", requires = "login")]
    login_url: Option<Url>,
    /// Exit with status 0 even when some requests failed or were not 2xx.
    #[arg(long)]
    allow_failures: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Hello { listen } => hello(listen).await.map(|()| ExitCode::SUCCESS),
            Command::Run(args) => run(args).await,
            Command::Seed(args) => seed::seed(args).await.map(|()| ExitCode::SUCCESS),
            Command::SeedAgents(args) => agents::seed(args).await.map(|()| ExitCode::SUCCESS),
            Command::Agents(args) => agents::run(args).await,
            Command::Flood(args) => flood::run(args).await,
            Command::SeedLeases(args) => leases::seed(args).await.map(|()| ExitCode::SUCCESS),
            Command::Pages(args) => pages::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::System(args) => system::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The ceiling: the least an axum server can do per request.
async fn hello(listen: SocketAddr) -> anyhow::Result<()> {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!("hello listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// Refuse anything but a loopback http(s) URL.
fn check_loopback(url: &Url, what: &str) -> anyhow::Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        bail!("{what} must be an http:// URL, not {url}");
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    };
    if !loopback {
        bail!("{what} must point at 127.0.0.1, localhost or [::1]; refusing {url}");
    }
    Ok(())
}

/// One client per worker: at most one pooled connection, HTTP/1.1 only, no proxy (a proxy from
/// the environment would be measured instead of the server).
fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(timeout)
        .build()
        .context("cannot build the HTTP client")
}

/// `POST <base>/api/v1/auth/login` and return `data.access_token`.
async fn login(base: &Url, credentials: &str, timeout: Duration) -> anyhow::Result<String> {
    let (email, password) = credentials
        .split_once(':')
        .context("--login must be EMAIL:PASSWORD")?;
    let url = base
        .join("/api/v1/auth/login")
        .context("invalid --login-url")?;
    let response = client(timeout)?
        .post(url.clone())
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    if !status.is_success() {
        bail!("login as {email} failed with {status}: {body}");
    }
    body.pointer("/data/access_token")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .with_context(|| format!("no data.access_token in the login answer: {body}"))
}

/// What one worker saw during the measured window.
struct Tally {
    latency_us: Histogram<u64>,
    non_2xx: BTreeMap<u16, u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .context("histogram bounds")?,
            non_2xx: BTreeMap::new(),
            errors: 0,
            first_error: None,
        })
    }

    fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.latency_us
            .add(&other.latency_us)
            .context("merging histograms")?;
        for (status, n) in other.non_2xx {
            *self.non_2xx.entry(status).or_default() += n;
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

/// What every request of a run looks like.
#[derive(Clone)]
struct Target {
    method: Method,
    /// The URL, possibly with `{n}` and `{v}`.
    url: String,
    n_range: u64,
    /// Possibly with `{v}`.
    body: Option<String>,
    headers: HeaderMap,
    /// What `{v}` stands for: one of these at random.
    values: std::sync::Arc<Vec<String>>,
}

impl Target {
    fn request(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let value = (!self.values.is_empty())
            .then(|| &self.values[rand::thread_rng().gen_range(0..self.values.len())]);
        let fill = |text: &str| match value {
            Some(v) if text.contains("{v}") => text.replace("{v}", v),
            _ => text.to_owned(),
        };
        let url = if self.url.contains("{n}") {
            let n = rand::thread_rng().gen_range(0..self.n_range.max(1));
            fill(&self.url.replace("{n}", &n.to_string()))
        } else {
            fill(&self.url)
        };
        let mut request = client
            .request(self.method.clone(), url)
            .headers(self.headers.clone());
        if let Some(body) = &self.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(fill(body));
        }
        request
    }
}

/// Send requests back to back on one connection until `end`; record those started after
/// `measure_from`.
async fn worker(
    client: reqwest::Client,
    target: Target,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let request = target.request(&client);
        // The body is read to the end so that the connection goes back to the pool.
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|_| status)
            }
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        let recorded = started >= measure_from;
        match outcome {
            Ok(status) => {
                if recorded {
                    tally
                        .latency_us
                        .saturating_record(elapsed.as_micros().max(1) as u64);
                    if !status.is_success() {
                        *tally.non_2xx.entry(status.as_u16()).or_default() += 1;
                    }
                }
            }
            Err(e) => {
                if recorded {
                    tally.errors += 1;
                    tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                }
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    Ok(tally)
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let url =
        Url::parse(&args.url.replace("{n}", "0").replace("{v}", "v")).context("invalid --url")?;
    check_loopback(&url, "--url")?;
    let timeout = Duration::from_secs(args.timeout);
    let token = match (&args.token, &args.login) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(credentials)) => {
            let base = match &args.login_url {
                Some(base) => base.clone(),
                None => url
                    .join("/")
                    .context("cannot derive --login-url from --url")?,
            };
            check_loopback(&base, "--login-url")?;
            Some(login(&base, credentials, timeout).await?)
        }
        (None, None) => None,
    };
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .context("the token is not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("--header {header:?} is not NAME: VALUE"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).context("invalid header name")?;
        let mut value = HeaderValue::from_str(value.trim()).context("invalid header value")?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let values = match &args.values {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    if args.values.is_some() && values.is_empty() {
        bail!("--values names a file without values");
    }
    let target = Target {
        method: args.method.clone(),
        url: args.url.clone(),
        n_range: args.n_range,
        body: args.body.clone(),
        headers,
        values: std::sync::Arc::new(values),
    };

    eprintln!(
        "{}: {} connections, {} {}, warm-up {}s, measuring {}s",
        args.label, args.connections, args.method, args.url, args.warmup, args.duration
    );
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let end = measure_from + Duration::from_secs(args.duration);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        workers.spawn(worker(client(timeout)?, target.clone(), measure_from, end));
    }
    let mut total = Tally::new()?;
    // Every worker stops starting requests at `end` and each request times out, so this ends
    // by itself; the outer bound only guards against a bug.
    let bound = Duration::from_secs(args.warmup + args.duration) + timeout + Duration::from_secs(5);
    let joined = tokio::time::timeout(bound, async {
        while let Some(joined) = workers.join_next().await {
            total.merge(joined.context("a worker panicked")??)?;
        }
        anyhow::Ok(())
    })
    .await;
    match joined {
        Ok(result) => result?,
        Err(_) => {
            workers.abort_all();
            bail!("the workers did not stop within {}s", bound.as_secs());
        }
    }
    let measured = Instant::now()
        .saturating_duration_since(measure_from)
        .as_secs_f64()
        .max(f64::EPSILON);

    let h = &total.latency_us;
    let ms = |us: u64| us as f64 / 1000.0;
    let completed = h.len();
    let non_2xx: u64 = total.non_2xx.values().sum();
    println!(
        "{}: {} conns {}s  requests={} rps={:.0} p50={:.2}ms p90={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms non2xx={} errors={}",
        args.label,
        args.connections,
        args.duration,
        completed + total.errors,
        completed as f64 / measured,
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.90)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
        non_2xx,
        total.errors,
    );
    if !total.non_2xx.is_empty() {
        let statuses: Vec<String> = total
            .non_2xx
            .iter()
            .map(|(s, n)| format!("{s}x{n}"))
            .collect();
        eprintln!("{}: non-2xx answers: {}", args.label, statuses.join(" "));
    }
    if let Some(e) = &total.first_error {
        eprintln!("{}: first error: {e}", args.label);
    }
    let failed = completed == 0 || non_2xx > 0 || total.errors > 0;
    if failed && !args.allow_failures {
        eprintln!(
            "{}: some requests failed; the figures above do not measure the intended path",
            args.label
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
