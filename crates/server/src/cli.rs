//! The `botmox` command line: `serve`, `migrate`, `user create`, `backup`, `restore`,
//! `data migrate`, and the commands that talk
//! to a running server through the typed client: `artifact push` and `secret put|ls|...`
//! (which seals on this machine).

use std::io::{Read, Write};

use anyhow::{Context, bail};
use botmox_client::Client;
use botmox_proto::vault::{CreateSecretRequest, MAX_PLAINTEXT_BYTES};
use clap::{Args, Parser, Subcommand};

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
    /// Write an online backup of an installation on SQLite (database snapshot, blobs,
    /// server key) into a new folder, while the server runs.
    Backup {
        /// The folder to write (absent or empty).
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
        #[command(flatten)]
        settings: Settings,
    },
    /// Bring a backup back into an empty installation: its SQLite file or PostgreSQL
    /// database, and its blob store (local or S3).
    Restore {
        /// The folder `botmox backup` wrote.
        #[arg(long, value_name = "DIR")]
        from: std::path::PathBuf,
        #[command(flatten)]
        settings: Settings,
    },
    /// Move the data to other engines.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Manage user accounts directly in the database.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage artifact releases on a running server (with an admin API token).
    Artifact {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: ArtifactCommand,
    },
    /// Vault secrets on a running server: sealed here, so the server never sees the value.
    Secret {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: SecretCommand,
    },
}

/// Which server, and the API token to call it with (given before or after the
/// subcommand, or in the environment).
#[derive(Debug, Args)]
pub struct Remote {
    /// Base URL of the Bot-Mox server.
    #[arg(long, env = "BOTMOX_SERVER", value_name = "URL", global = true)]
    pub server: Option<String>,
    /// An API token (`bmx_...`; an admin's for artifacts and to store secrets).
    #[arg(long, env = "BOTMOX_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

impl Remote {
    /// The typed client of the server, with the token.
    pub fn client(self) -> anyhow::Result<Client> {
        let server = self
            .server
            .ok_or_else(|| anyhow::anyhow!("--server (or BOTMOX_SERVER) is required"))?;
        let token = self
            .token
            .ok_or_else(|| anyhow::anyhow!("--token (or BOTMOX_TOKEN) is required"))?;
        Ok(Client::new(&server)?.with_token(token))
    }
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
}

/// Size of the chunks a push reads and sends.
const PUSH_CHUNK: usize = 256 * 1024;

/// `botmox artifact push`: stream the file to the server, drawing progress on stderr.
pub async fn artifact_push(
    remote: Remote,
    args: PushArgs,
) -> anyhow::Result<botmox_proto::artifacts::ReleaseView> {
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
    let client = remote.client()?;
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
pub enum SecretCommand {
    /// Seal the value read from standard input to each --to recipient and store it.
    Put {
        #[arg(long)]
        label: String,
        /// What it is for, e.g. `proxmox.password` (sealed into the ciphertext).
        #[arg(long)]
        field: String,
        /// A recipient, `agent:<id>` or `user:<id>` (see `secret recipients`); repeatable.
        #[arg(long = "to", required = true, value_name = "RECIPIENT")]
        to: Vec<String>,
        /// Rotate this secret instead of creating one.
        #[arg(long, value_name = "SECRET_ID")]
        rotate: Option<String>,
    },
    /// The tenant's secrets (metadata only).
    Ls,
    /// Make a vault key pair for the token's user: the private key goes to FILE (created
    /// owner-only, never overwritten), the public key is registered with the server.
    Key {
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Print a secret sealed to the user's vault key, opened here with the private key FILE
    /// (exactly the value, without a line break).
    Get {
        id: String,
        #[arg(long, value_name = "FILE")]
        key: std::path::PathBuf,
    },
    /// The recipients a secret can be sealed to.
    Recipients,
}

/// Run a `secret` command: the value of `put` comes from `input` (never the command line,
/// which other users of the machine can see), what it prints goes to `out`.
pub async fn secret(
    remote: Remote,
    command: SecretCommand,
    input: &mut dyn Read,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let client = remote.client()?;
    match command {
        SecretCommand::Put {
            label,
            field,
            to,
            rotate,
        } => {
            let value = read_value(input)?;
            let tenant = client.whoami().await.context("who am I")?.tenant_id;
            let known = client.vault_recipients().await?;
            let mut recipients = Vec::with_capacity(to.len());
            for name in &to {
                match known.iter().find(|r| &r.recipient == name) {
                    Some(r) => recipients.push(r.clone()),
                    None => bail!(
                        "{name} is not a recipient of this tenant (known: {})",
                        known
                            .iter()
                            .map(|r| r.recipient.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
            let id = rotate
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let envelopes = botmox_client::vault::seal_to_all(
                &recipients,
                &tenant,
                &id,
                &field,
                value.as_bytes(),
            )?;
            let meta = match rotate {
                Some(id) => {
                    let current = client.secret_meta(&id).await?;
                    if current.field != field {
                        bail!("secret {id} holds field '{}', not '{field}'", current.field);
                    }
                    let body = botmox_proto::vault::RotateSecretRequest {
                        label: Some(label),
                        envelopes,
                    };
                    client.rotate_secret(&id, &body).await?
                }
                None => {
                    let body = CreateSecretRequest {
                        id,
                        label,
                        field,
                        envelopes,
                    };
                    client.create_secret(&body).await?
                }
            };
            writeln!(out, "{}", meta.id)?;
        }
        SecretCommand::Ls => {
            for meta in client.list_secrets().await? {
                let to: Vec<&str> = meta
                    .recipients
                    .iter()
                    .map(|r| r.recipient.as_str())
                    .collect();
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    meta.id,
                    meta.field,
                    meta.label,
                    to.join(",")
                )?;
            }
        }
        SecretCommand::Key { out: path } => {
            let (private_key, public_key) = botmox_client::vault::generate_key_pair();
            write_private(&path, &private_key)?;
            let body = botmox_proto::vault::VaultKeyRequest { public_key };
            let key = client.put_vault_key(&body).await?;
            writeln!(out, "{} {}", key.recipient, key.key_id)?;
        }
        SecretCommand::Get { id, key } => {
            let private_key = std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read the vault key {}", key.display()))?;
            // Opened as a secret of our own tenant, not of whatever the answer claims.
            let tenant = client.whoami().await.context("who am I")?.tenant_id;
            let sealed = client.secret_ciphertext(&id).await?;
            let value = botmox_client::vault::open(
                &private_key,
                &tenant,
                &id,
                &sealed.field,
                &sealed.envelope,
            )?;
            out.write_all(&value)?;
        }
        SecretCommand::Recipients => {
            for r in client.vault_recipients().await? {
                writeln!(out, "{}\t{}\t{}", r.recipient, r.key_id, r.name)?;
            }
        }
    }
    Ok(())
}

/// Write a new file readable by its owner only; an existing file is left alone (it may be
/// the key to secrets already sealed).
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// The secret's value: all of `input`, less one final line break (`echo` adds one).
fn read_value(input: &mut dyn Read) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    input
        .take(MAX_PLAINTEXT_BYTES as u64 + 3)
        .read_to_end(&mut bytes)
        .context("cannot read the value from standard input")?;
    let mut value = String::from_utf8(bytes).context("the value must be UTF-8 text")?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        bail!(
            "no value on standard input (pipe it in: `printf %s \"$PW\" | botmox secret put ...`)"
        );
    }
    if value.len() > MAX_PLAINTEXT_BYTES {
        bail!("the value is longer than {MAX_PLAINTEXT_BYTES} bytes");
    }
    Ok(value)
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Copy everything from the embedded SQLite database (and, with --blobs-to, the blob
    /// folder) into PostgreSQL (and an S3-compatible store), then check row counts and
    /// checksums; safe to run again. Stop the server first.
    Migrate {
        /// The PostgreSQL database to fill (postgres://...); its schema is created.
        #[arg(long, value_name = "URL")]
        to: String,
        /// The blob store to fill, e.g. s3://BUCKET (with the s3_* options).
        #[arg(long, value_name = "STORE")]
        blobs_to: Option<String>,
        #[command(flatten)]
        settings: Settings,
    },
}

/// `botmox data migrate`: the move, and what to set on the servers that run on the copy.
pub async fn data_migrate(
    to: String,
    blobs_to: Option<String>,
    settings: Settings,
) -> anyhow::Result<()> {
    let blobs_config = match &blobs_to {
        Some(spec) => Some(
            Settings {
                blob_store: Some(spec.clone()),
                ..settings.clone()
            }
            .resolve()?
            .blob_store,
        ),
        None => None,
    };
    let config = settings.resolve()?;
    let moved = crate::data::migrate(&config, &to, blobs_config.as_ref()).await?;
    for table in &moved.tables {
        println!(
            "table {}: {} rows, sha256 {}",
            table.table, table.rows, table.sha256
        );
    }
    let rows: u64 = moved.tables.iter().map(|t| t.rows).sum();
    println!(
        "copied and checked {} tables, {rows} rows",
        moved.tables.len()
    );
    if let Some(objects) = &moved.objects {
        let bytes: u64 = objects.values().map(|o| o.size).sum();
        println!(
            "copied and checked {} objects, {bytes} bytes",
            objects.len()
        );
    }
    if config.secret_key.is_none() && config.data_dir.join("secret.key").exists() {
        println!(
            "run the servers on the copy with BOTMOX_SECRET_KEY set to the contents of {} \
             (sealed credentials open only with it)",
            config.data_dir.join("secret.key").display()
        );
    }
    Ok(())
}

/// `botmox backup`: the backup, and a summary of what it holds.
pub async fn backup(out: std::path::PathBuf, settings: Settings) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    let manifest = crate::data::backup::backup(&config, &out).await?;
    print_manifest("backed up", &manifest);
    if !manifest.secret_key {
        println!("the server key is set in configuration: keep it with the backup");
    }
    Ok(())
}

/// `botmox restore`: the restore, and a summary of what it brought back.
pub async fn restore(from: std::path::PathBuf, settings: Settings) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    let manifest = crate::data::backup::restore(&config, &from).await?;
    print_manifest("restored", &manifest);
    Ok(())
}

fn print_manifest(done: &str, manifest: &crate::data::backup::Manifest) {
    let rows: u64 = manifest.tables.values().sum();
    let bytes: u64 = manifest.objects.values().map(|o| o.size).sum();
    println!(
        "{done} {} tables ({rows} rows, migration {}), {} objects ({bytes} bytes){}",
        manifest.tables.len(),
        manifest.migration,
        manifest.objects.len(),
        if manifest.secret_key {
            ", secret.key"
        } else {
            ""
        }
    );
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
