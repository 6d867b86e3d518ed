//! `botmox`: the server binary.

use clap::Parser;

use botmox_server::cli::{ArtifactCommand, Cli, Command, DataCommand, UserCommand};
use botmox_server::db::Db;
use botmox_server::{app, telemetry, users};

/// Thread-local heaps: under load, glibc malloc's arena locks cost a third of the request
/// path's CPU (measured with perf; see docs/architecture.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc commits its arenas on demand (`MIMALLOC_ARENA_EAGER_COMMIT=0`), so memory freed
/// after a burst (a sign-in's 19 MiB Argon2 block, upload buffers) goes back to the system
/// instead of staying resident. mimalloc reads the option when it reserves its first arena,
/// which the first allocation does, before `main`; so it is set from an early constructor
/// (an `.init_array` entry with a priority, which runs before unprioritised ones such as
/// mimalloc's), with libc's `setenv`, which does not allocate through Rust. An operator's own
/// `MIMALLOC_ARENA_EAGER_COMMIT` is kept.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00500")]
static COMMIT_ARENAS_ON_DEMAND: extern "C" fn() = {
    extern "C" fn commit_arenas_on_demand() {
        // SAFETY: runs before any thread exists; both strings are NUL-terminated literals.
        unsafe { libc::setenv(c"MIMALLOC_ARENA_EAGER_COMMIT".as_ptr(), c"0".as_ptr(), 0) };
    }
    commit_arenas_on_demand
};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Artifact {
            remote,
            command: ArtifactCommand::Push(args),
        } => {
            let release = botmox_server::cli::artifact_push(remote, args).await?;
            println!(
                "release {} of {} {}/{}: {} bytes, sha256 {}",
                release.id,
                release.module,
                release.platform,
                release.channel,
                release.size_bytes,
                release.sha256
            );
            println!("version {}", release.version);
            Ok(())
        }
        Command::Serve { settings } => {
            let config = settings.resolve()?;
            let _log = telemetry::init(config.log_format);
            app::serve(config).await
        }
        Command::Migrate { settings } => {
            let config = settings.resolve()?;
            let _log = telemetry::init(config.log_format);
            let db = Db::open(&config.database_url, 1).await?;
            db.close().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Backup { out, settings } => botmox_server::cli::backup(out, settings).await,
        Command::Restore { from, settings } => botmox_server::cli::restore(from, settings).await,
        Command::Data {
            command:
                DataCommand::Migrate {
                    to,
                    blobs_to,
                    settings,
                },
        } => botmox_server::cli::data_migrate(to, blobs_to, settings).await,
        Command::Secret { remote, command } => {
            let stdin = std::io::stdin();
            botmox_server::cli::secret(remote, command, &mut stdin.lock(), &mut std::io::stdout())
                .await
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    password,
                    role,
                    tenant,
                    settings,
                },
        } => {
            let config = settings.resolve()?;
            let _log = telemetry::init(config.log_format);
            let db = Db::open(&config.database_url, 1).await?;
            let created = match users::service::check_tenant_name(&tenant) {
                Ok(tenant) => {
                    users::service::create_user(&db, &tenant, &email, &password, role).await
                }
                Err(e) => Err(e),
            };
            db.close().await?;
            let user = created.map_err(|e| anyhow::anyhow!("{}", e.message))?;
            println!(
                "created {} user {} in tenant {} (id {})",
                user.role, user.email, user.tenant_id, user.id
            );
            Ok(())
        }
    }
}
