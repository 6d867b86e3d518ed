//! `botmox-fake-pve`: the fake Proxmox VE API as a process, for end-to-end tests.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use botmox_fake_pve::{FakeConfig, FakePve};
use clap::{ArgGroup, Parser};

/// Fake Proxmox VE API server (in memory; follows spec/proxmox-api.md).
#[derive(Parser, Debug)]
#[command(version, group(ArgGroup::new("credentials").required(true).multiple(true).args(["tokens", "user"])))]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8006 (port 0 picks a free one).
    #[arg(long)]
    listen: SocketAddr,
    /// Node name; repeat for a cluster. The first node holds template VM 100.
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// API token USER@REALM!TOKENID=SECRET; may be repeated.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// User for ticket login (USER@REALM); needs --password.
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// Password of --user.
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// Duration of every task in milliseconds (default: per task type, 0.2 s to 2 s).
    #[arg(long)]
    task_ms: Option<u64>,
    /// Duration of one task type in milliseconds, over --task-ms, e.g. `qmclone=2000`;
    /// may be repeated.
    #[arg(long = "task-type-ms", value_parser = type_ms)]
    task_type_ms: Vec<(String, u64)>,
    /// Serve HTTPS with a generated self-signed certificate (its fingerprint is printed).
    #[arg(long)]
    tls: bool,
}

/// `TYPE=MS`.
fn type_ms(text: &str) -> Result<(String, u64), String> {
    let (kind, ms) = text
        .split_once('=')
        .ok_or_else(|| format!("expected TYPE=MS, got '{text}'"))?;
    let ms = ms
        .parse()
        .map_err(|_| format!("'{ms}' is not a number of milliseconds"))?;
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("'{kind}' is not a task type"));
    }
    Ok((kind.to_owned(), ms))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = FakeConfig {
        listen: args.listen,
        nodes: args.nodes,
        tokens: args.tokens,
        users: args.user.zip(args.password).into_iter().collect(),
        task_duration: args.task_ms.map(Duration::from_millis),
        task_durations: args
            .task_type_ms
            .into_iter()
            .map(|(kind, ms)| (kind, Duration::from_millis(ms)))
            .collect(),
        tls: args.tls,
    };
    let fake = match FakePve::start(config).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("botmox-fake-pve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "botmox-fake-pve listening on {}", fake.url());
    if let Some(fingerprint) = fake.cert_fingerprint() {
        let _ = writeln!(out, "certificate fingerprint (SHA-256): {fingerprint}");
    }
    let _ = out.flush();
    drop(out);
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("botmox-fake-pve: cannot wait for Ctrl-C: {e}");
    }
    fake.shutdown().await;
    ExitCode::SUCCESS
}
