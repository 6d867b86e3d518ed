//! The `botmox` command line: `serve`, `migrate` and `user create`.

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
