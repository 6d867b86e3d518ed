//! Typed async client of the Proxmox VE HTTP API, as used by the Bot-Mox agent.
//!
//! The behaviour it relies on is written down in `spec/proxmox-api.md`; the short version:
//!
//! - every reply is `{"data": ...}`; success is decided by the status code alone;
//! - failures are typed ([`Error`]) with a stable code ([`Error::code`]), because PVE reports a
//!   missing or locked VM as a 500 with a descriptive text, not as 404/409;
//! - asynchronous calls return a [`Upid`]; [`ProxmoxClient::wait_task`] polls it and turns a
//!   failed `exitstatus` into [`Error::TaskFailed`] with the real text;
//! - authentication is an API token (preferred) or a ticket login that is renewed before it
//!   expires; TLS verification stays on, a self-signed PVE is trusted by pinning its
//!   certificate's SHA-256 fingerprint ([`TlsTrust::Fingerprint`]);
//! - decoding tolerates the server's loose JSON typing (numbers as strings, 0/1 booleans).

mod client;
mod config;
mod de;
mod error;
mod tls;
mod types;
mod upid;
mod vm;

pub use client::ProxmoxClient;
pub use config::{ApiToken, CertFingerprint, ClientConfig, Credentials, TlsTrust};
pub use error::{Error, Result};
pub use types::{
    CloneOptions, ClusterResource, ConfigUpdate, DeleteOptions, GuestInterface, GuestIpAddress,
    IsoSource, IsoUpload, NodeInfo, PowerAction, ResourceType, StorageVolume, TaskState,
    TaskStatus, VersionInfo, VmConfig, VmStatus, VmSummary, WaitOptions, find_guest_ipv4,
};
pub use upid::Upid;
