//! The Bot-Mox agent: it pairs with a server from one pasted string, then heartbeats,
//! long-polls for commands and runs them on Proxmox VE through its API and over SSH. The
//! `botmox-agent` binary is a thin CLI over this library; the tests drive both.

pub mod backoff;
pub mod cdrom;
pub mod config;
pub mod doctor;
pub mod error;
pub mod executor;
pub mod iso;
pub mod pair;
pub mod runtime;
pub mod scheduler;
pub mod ssh;
pub mod vault;

/// This agent's version, as it reports it to the server.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// What this agent can do, as it tells the server.
pub const CAPABILITIES: &[&str] = &["proxmox", "ssh"];

/// [`CAPABILITIES`] as the registration and the heartbeat send them.
pub fn capabilities() -> Vec<String> {
    CAPABILITIES.iter().map(|c| (*c).to_owned()).collect()
}
