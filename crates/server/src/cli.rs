//! The `botmox` command line: `serve`, `migrate`, `user create`, and `artifact push`, which
//! talks to a running server through the typed client.

use clap::{Parser, Subcommand};

use crate::config::Settings;
use botmox_proto::auth::Role;

#[derive(Debug, Parser)]
#[command(
    name = "botmox",
    version,
    about = "Bot-Mox control plane: HTTP API, web UI and admin commands.",
    long_about = "Bot-Mox control plane for fleets of Windows VMs on Proxmox VE.\n\n\
    With no configuration it keeps everything under ./data (SQLite database, blobs, secret key)\n\
    and listens on 127.0.0.1:8080. Every option can also be set in the environment or in a TOML\n\
    file given with --config."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrations are applied first).
    Serve {
        #[command(flatten)]
        settings: Settings,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        settings: Settings,
    },
    /// Manage user accounts directly in the database.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage artifact releases on a running server (with an admin API token).
    Artifact {
        #[command(subcommand)]
        command: ArtifactCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArtifactCommand {
    /// Upload FILE as a new release, with a progress bar; prints the release the server
    /// recorded (its id, SHA-256 and size, computed by the server).
    Push(PushArgs),
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The file to upload.
    pub file: std::path::PathBuf,
    /// Module name (case kept).
    #[arg(long)]
    pub module: String,
    /// Platform, e.g. windows.
    #[arg(long)]
    pub platform: String,
    /// Version of this release.
    #[arg(long)]
    pub version: String,
    /// Channel [default: stable].
    #[arg(long)]
    pub channel: Option<String>,
    /// Base URL of the server, e.g. https://botmox.example.com.
    #[arg(long, env = "BOTMOX_SERVER")]
    pub server: String,
    /// An API token of an admin (`bmx_...`).
    #[arg(long, env = "BOTMOX_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// Size of the chunks a push reads and sends.
const PUSH_CHUNK: usize = 256 * 1024;

/// `botmox artifact push`: stream the file to the server, drawing progress on stderr.
pub async fn artifact_push(args: PushArgs) -> anyhow::Result<botmox_proto::artifacts::ReleaseView> {
    use futures::StreamExt;
    use tokio::io::AsyncReadExt;

    let file = tokio::fs::File::open(&args.file)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.file.display()))?;
    let size = file.metadata().await?.len();
    let progress = Progress::new(size);
    let chunks = futures::stream::unfold((file, progress), |(mut file, mut progress)| async move {
        let mut buf = vec![0u8; PUSH_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => {
                progress.finish();
                None
            }
            Ok(n) => {
                buf.truncate(n);
                progress.advance(n as u64);
                Some((Ok(buf), (file, progress)))
            }
            Err(e) => Some((Err(e), (file, progress))),
        }
    })
    .boxed();
    let client = botmox_client::Client::new(&args.server)?.with_token(args.token);
    let query = botmox_proto::artifacts::UploadQuery {
        module: args.module,
        platform: args.platform,
        version: args.version,
        channel: args.channel,
        status: None,
    };
    Ok(client.upload_release(&query, size, chunks).await?)
}

/// A text progress bar on stderr, redrawn at each whole percent.
struct Progress {
    total: u64,
    sent: u64,
    shown: Option<u64>,
}

impl Progress {
    fn new(total: u64) -> Self {
        Self {
            total,
            sent: 0,
            shown: None,
        }
    }

    fn advance(&mut self, n: u64) {
        self.sent += n;
        let percent = (self.sent * 100).checked_div(self.total).unwrap_or(100);
        if self.shown != Some(percent) {
            self.shown = Some(percent);
            let filled = (percent / 4) as usize;
            eprint!(
                "\r[{}{}] {percent:>3}% {:.1}/{:.1} MiB",
                "#".repeat(filled),
                ".".repeat(25 - filled),
                self.sent as f64 / 1_048_576.0,
                self.total as f64 / 1_048_576.0
            );
        }
    }

    fn finish(&mut self) {
        eprintln!();
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (and its tenant when it does not exist yet).
    Create {
        /// E-mail address the user signs in with.
        #[arg(long)]
        email: String,
        /// Password, at least 10 characters.
        #[arg(long, env = "BOTMOX_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Role in the tenant: admin, infra or user.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Tenant name (a slug such as `acme`).
        #[arg(long, default_value = crate::users::service::DEFAULT_TENANT)]
        tenant: String,
        #[command(flatten)]
        settings: Settings,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}
