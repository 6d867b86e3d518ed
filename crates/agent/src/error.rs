//! A command's failure as the agent reports it: a stable code and a message, sent as
//! `CODE: message` so the UI can tell an unreachable SSH host from a refused password.

use std::fmt;

/// Stable codes of the agent's own failures (Proxmox failures carry the client's `PVE_*`).
pub mod code {
    /// The command type is not in the catalogue.
    pub const UNKNOWN_COMMAND: &str = "UNKNOWN_COMMAND";
    /// The payload is not what the command takes.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The agent has no Proxmox target, or not the one named.
    pub const PROXMOX_NOT_CONFIGURED: &str = "PROXMOX_NOT_CONFIGURED";
    /// SSH is not configured (host, user, key or password), or the host key is not trusted yet.
    pub const SSH_REQUIRED: &str = "SSH_REQUIRED";
    pub const SSH_AUTH_FAILED: &str = "SSH_AUTH_FAILED";
    /// No TCP connection, no SSH handshake, or no answer in time.
    pub const SSH_UNREACHABLE: &str = "SSH_UNREACHABLE";
    /// The host offered another key than the pinned one: refused before authenticating.
    pub const SSH_HOST_KEY_CHANGED: &str = "SSH_HOST_KEY_CHANGED";
    pub const SSH_EXEC_ERROR: &str = "SSH_EXEC_ERROR";
    /// `ssh-exec` of a command outside the allowlist.
    pub const SSH_COMMAND_FORBIDDEN: &str = "SSH_COMMAND_FORBIDDEN";
    pub const SSH_READ_FAILED: &str = "SSH_READ_FAILED";
    pub const SSH_WRITE_FAILED: &str = "SSH_WRITE_FAILED";
    pub const ISO_CREATE_FAILED: &str = "ISO_CREATE_FAILED";
    /// `attach-cdrom`: the slot asked for holds another medium or a disk, or none is free.
    pub const CDROM_SLOT_TAKEN: &str = "CDROM_SLOT_TAKEN";
    /// `upload-iso` could not fetch its URL.
    pub const DOWNLOAD_FAILED: &str = "DOWNLOAD_FAILED";
    /// A result the server would refuse (over 64 KiB of JSON, or NUL in a string).
    pub const RESULT_REFUSED: &str = "RESULT_REFUSED";
    /// The agent stopped before the command finished.
    pub const AGENT_STOPPED: &str = "AGENT_STOPPED";
}

/// A failed command: `code` is one of [`code`] or a `PVE_*` code of the Proxmox client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecError {
    pub code: String,
    pub message: String,
}

impl ExecError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ExecError {}

impl From<botmox_proxmox::Error> for ExecError {
    fn from(e: botmox_proxmox::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

pub type ExecResult<T> = Result<T, ExecError>;
