//! `botmox-agent`: the command line over the agent library.
//!
//! ```text
//! botmox-agent [--config FILE] pair STRING [--proxmox-url URL] [--proxmox-token 'USER@REALM!ID=SECRET'] [--node NAME]
//! botmox-agent [--config FILE] run | status | doctor | ssh trust
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use botmox_agent::config::{self, AgentConfig, fingerprint};
use botmox_agent::executor::Executor;
use botmox_agent::pair::{PairOptions, pair};
use botmox_agent::runtime::{Outcome, RunOptions, run};
use botmox_agent::{doctor, ssh};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Exit status of `run` when the server revoked the agent (a service manager should not
/// restart it: it would only be refused again).
const EXIT_REVOKED: u8 = 3;

/// The Bot-Mox agent: runs Proxmox VE commands for a Bot-Mox server.
#[derive(Parser, Debug)]
#[command(name = "botmox-agent", version)]
struct Cli {
    /// Config file [default: <config dir>/botmox-agent/config.toml]
    #[arg(long, global = true, env = config::CONFIG_ENV, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log JSON lines instead of text (for log collectors).
    #[arg(long, global = true, env = "BOTMOX_AGENT_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Pair with a server: the pairing bundle, `botmox://pair?...` URI or `/agent/pair?...` link.
    Pair(Box<PairArgs>),
    /// Run the agent in the foreground until SIGTERM / Ctrl-C (exit 3 when revoked).
    Run {
        /// Commands run at once [default: the config's `concurrency`, 4].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=config::MAX_CONCURRENCY as i64))]
        concurrency: Option<u16>,
    },
    /// Show the config and whether the server, Proxmox and SSH answer.
    Status,
    /// Check the server, Proxmox and SSH; exit 1 if one fails.
    Doctor,
    /// SSH host key trust.
    Ssh {
        #[command(subcommand)]
        command: SshCmd,
    },
}

#[derive(Subcommand, Debug)]
enum SshCmd {
    /// Connect once, show the host key's fingerprint and pin it (replacing an older pin).
    Trust,
}

#[derive(Args, Debug)]
struct PairArgs {
    /// What the server's Agents page shows: bundle, URI or link (or a bare code with --server-url).
    string: String,
    /// Server URL, when the string does not name it.
    #[arg(long, value_name = "URL")]
    server_url: Option<String>,
    /// Proxmox VE URL, e.g. https://192.168.1.10:8006 [default: the bundle's hint].
    #[arg(long, value_name = "URL")]
    proxmox_url: Option<String>,
    /// Proxmox API token (preferred over a password).
    #[arg(
        long,
        value_name = "USER@REALM!ID=SECRET",
        env = "BOTMOX_PROXMOX_TOKEN",
        hide_env_values = true
    )]
    proxmox_token: Option<String>,
    /// Proxmox user for ticket login [default: the bundle's hint].
    #[arg(long, value_name = "USER@REALM")]
    proxmox_user: Option<String>,
    /// Password of --proxmox-user.
    #[arg(long, env = "BOTMOX_PROXMOX_PASSWORD", hide_env_values = true)]
    proxmox_password: Option<String>,
    /// Take --proxmox-user's password from the vault instead: a secret id, or the field of
    /// a secret bound to this agent (e.g. `proxmox.password`).
    #[arg(long, value_name = "SECRET", conflicts_with = "proxmox_password")]
    proxmox_password_secret: Option<String>,
    /// SHA-256 fingerprint of the Proxmox certificate to trust (self-signed PVE).
    #[arg(long, value_name = "AA:BB:...")]
    proxmox_fingerprint: Option<String>,
    /// Proxmox node [default: the bundle's hint, else h1].
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// SSH host of the node [default: the Proxmox URL's host].
    #[arg(long, value_name = "HOST")]
    ssh_host: Option<String>,
    #[arg(long, value_name = "PORT")]
    ssh_port: Option<u16>,
    /// SSH user [default: root].
    #[arg(long, value_name = "USER")]
    ssh_user: Option<String>,
    /// Private key file for SSH (unencrypted OpenSSH or PEM).
    #[arg(long, value_name = "FILE")]
    ssh_key: Option<PathBuf>,
    #[arg(long, env = "BOTMOX_SSH_PASSWORD", hide_env_values = true)]
    ssh_password: Option<String>,
    /// Take the SSH password from the vault instead (a secret id or a bound field).
    #[arg(long, value_name = "SECRET", conflicts_with = "ssh_password")]
    ssh_password_secret: Option<String>,
    /// Directory of the VM config files on the node [default: /etc/pve/qemu-server].
    #[arg(long, value_name = "DIR")]
    ssh_config_dir: Option<String>,
}

fn init_logs(json: bool, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = !matches!(cli.command, Cmd::Run { .. });
    init_logs(cli.log_json, if quiet { "warn" } else { "info" });
    let path = cli.config.clone().unwrap_or_else(config::default_path);
    match dispatch(cli.command, path).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("botmox-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Cmd, path: PathBuf) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Pair(args) => {
            let options = PairOptions {
                server_url: args.server_url,
                proxmox_url: args.proxmox_url,
                proxmox_token: args.proxmox_token,
                proxmox_user: args.proxmox_user,
                proxmox_password: args.proxmox_password,
                proxmox_password_secret: args.proxmox_password_secret,
                proxmox_fingerprint: args.proxmox_fingerprint,
                node: args.node,
                ssh_host: args.ssh_host,
                ssh_port: args.ssh_port,
                ssh_user: args.ssh_user,
                ssh_key: args.ssh_key,
                ssh_password: args.ssh_password,
                ssh_password_secret: args.ssh_password_secret,
                ssh_config_dir: args.ssh_config_dir,
            };
            let config = pair(&path, &args.string, options).await?;
            println!(
                "Paired as agent {} ({}) with {}.",
                config.agent_id,
                config.agent_name.as_deref().unwrap_or("unnamed"),
                config.server_url
            );
            println!("Config written to {} (owner-only).", path.display());
            match config.target(None) {
                Some(t) => println!("Proxmox target: {}", t.label()),
                None => println!(
                    "No Proxmox target yet: pair again with --proxmox-url and --proxmox-token, or add [[proxmox]] to the config."
                ),
            }
            if config.ssh.is_some() {
                println!("Next: check the node's SSH host key with `botmox-agent ssh trust`.");
            }
            println!("Start it with `botmox-agent run` (or as a service, see docs/agent.md).");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run { concurrency } => {
            let options = RunOptions {
                concurrency: concurrency.map(usize::from),
            };
            Ok(match run(path, options).await? {
                Outcome::Stopped => ExitCode::SUCCESS,
                Outcome::Revoked => ExitCode::from(EXIT_REVOKED),
            })
        }
        Cmd::Status => status(&path, false).await,
        Cmd::Doctor => status(&path, true).await,
        Cmd::Ssh {
            command: SshCmd::Trust,
        } => trust(&path).await,
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<AgentConfig> {
    if !path.exists() {
        anyhow::bail!(
            "not paired: {} does not exist; run `botmox-agent pair <pairing string>` first",
            path.display()
        );
    }
    AgentConfig::load(path)
}

/// `status` prints the config and the checks; `doctor` also fails when a check fails.
async fn status(path: &std::path::Path, doctor_mode: bool) -> anyhow::Result<ExitCode> {
    let config = load(path)?;
    println!("Config: {}", path.display());
    println!(
        "Agent: {} ({}) of {}",
        config.agent_id,
        config.agent_name.as_deref().unwrap_or("unnamed"),
        config.server_url
    );
    if let Some(expires) = config.token_expires_at {
        println!("Token valid until {expires} (rotated a week before)");
    }
    if let Some(fp) = config.key_fingerprint() {
        println!("Agent key: {fp}");
    }
    // The id the Secrets page and `botmox secret recipients` show for this agent: compare
    // them to know secrets are sealed to this machine's key.
    match config.vault_key_id() {
        Some(id) => println!("Vault key: {id}"),
        None => println!("Vault key: none (paired before the vault; pair again to get one)"),
    }
    for target in &config.targets {
        let active = config.target(None).is_some_and(|t| t.id == target.id);
        let auth = if target.token.is_some() {
            "API token"
        } else {
            "user/password"
        };
        println!(
            "Proxmox target '{}'{}: {} with {auth}",
            target.id,
            if active { " (active)" } else { "" },
            target.label()
        );
    }
    if let Some(ssh) = &config.ssh {
        let pinned = ssh
            .pinned_key()?
            .map_or_else(|| "not trusted yet".to_owned(), |k| fingerprint(&k));
        println!("SSH host key: {pinned}; VM configs in {}", ssh.config_dir);
    }
    println!("Concurrency: {}", config.concurrency);
    let mut resolved = config.clone();
    let client = botmox_client::Client::new(&config.server_url)?.with_token(config.token.clone());
    if let Err(e) = botmox_agent::vault::resolve(&mut resolved, &client).await {
        println!("Vault passwords: {e:#}");
    }
    let executor = Executor::new(&resolved);
    let facts = doctor::check_all(&executor, &resolved).await;
    for line in facts.lines() {
        println!("{line}");
    }
    if !doctor_mode {
        return Ok(ExitCode::SUCCESS);
    }
    if facts.healthy() {
        println!("All checks passed.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("Some checks failed (see above).");
        Ok(ExitCode::FAILURE)
    }
}

/// `ssh trust`: fetch the host key, show it, pin it.
async fn trust(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let mut config = load(path)?;
    let executor = Executor::new(&config);
    let (host, port) = executor.ssh_address().map_err(anyhow::Error::new)?;
    let key = ssh::host_key(&host, port, Duration::from_secs(20))
        .await
        .map_err(anyhow::Error::new)?;
    let offered = fingerprint(&key);
    println!(
        "{host}:{port} offers the {} host key {offered}",
        key.algorithm()
    );
    let settings = config
        .ssh
        .as_mut()
        .context("no [ssh] section in the config")?;
    match settings.pinned_key()? {
        Some(pinned) if pinned.key_data() == key.key_data() => {
            println!("Already trusted.");
            return Ok(ExitCode::SUCCESS);
        }
        Some(pinned) => println!(
            "Replacing the pinned key {} (compare the new one with the node's `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`).",
            fingerprint(&pinned)
        ),
        None => {
            println!("Compare it with the node's `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`.")
        }
    }
    let mut line = key.clone();
    line.set_comment("");
    settings.host_key = Some(line.to_openssh().context("cannot encode the host key")?);
    config.save(path)?;
    println!("Pinned; connections to a host showing another key are refused.");
    Ok(ExitCode::SUCCESS)
}
