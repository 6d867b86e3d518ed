//! Typed failures. PVE has no 404/409: a missing or locked VM is a 500 whose text says so, so
//! the text of a 500 is matched here once, and callers match on the kind or its code.

use std::collections::BTreeMap;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The VM (its config file), a storage or a volume does not exist.
    #[error("{message}")]
    NotFound { message: String },
    /// The VM carries a config lock (`lock` is its name, e.g. `clone`), or the per-VM lock file
    /// could not be taken in time (`lock` is `None`; retry after a pause).
    #[error("{message}")]
    Locked {
        message: String,
        lock: Option<String>,
    },
    /// A VM with that id exists already (clone or create with a taken id).
    #[error("{message}")]
    AlreadyExists { message: String },
    /// The VM is in the wrong run state for a synchronous call (not running, running, paused).
    #[error("{message}")]
    InvalidState { message: String },
    /// 400: parameter verification failed; `errors` maps parameter -> text.
    #[error("{message}{}", format_param_errors(errors))]
    BadParams {
        message: String,
        errors: BTreeMap<String, String>,
    },
    /// 401: no, expired or wrong ticket/token, bad CSRF token, or a failed login.
    #[error("{message}")]
    Unauthorized { message: String },
    /// 403: authenticated but lacking a privilege.
    #[error("{message}")]
    Forbidden { message: String },
    /// Any other HTTP failure (other 500s, 501, 595/596/599 forwarding errors, ...).
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// The request did not complete: connection, TLS or protocol failure.
    #[error("{0}")]
    Transport(String),
    /// A request, or a wait for a task or VM state, ran out of time.
    #[error("{0}")]
    Timeout(String),
    /// The task ended with an `exitstatus` other than `OK` / `WARNINGS: n`; that text is kept.
    #[error("{exitstatus}")]
    TaskFailed { upid: String, exitstatus: String },
    /// A 2xx reply whose body is not what the endpoint documents.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// The client configuration is unusable (URL, token, fingerprint, CA).
    #[error("invalid configuration: {0}")]
    Config(String),
}

fn format_param_errors(errors: &BTreeMap<String, String>) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.trim_end()))
        .collect();
    format!(" ({})", parts.join("; "))
}

impl Error {
    /// Stable code of the kind, for reports of the form `CODE: message`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "PVE_NOT_FOUND",
            Self::Locked { .. } => "PVE_LOCKED",
            Self::AlreadyExists { .. } => "PVE_ALREADY_EXISTS",
            Self::InvalidState { .. } => "PVE_INVALID_STATE",
            Self::BadParams { .. } => "PVE_BAD_PARAMS",
            Self::Unauthorized { .. } => "PVE_UNAUTHORIZED",
            Self::Forbidden { .. } => "PVE_FORBIDDEN",
            Self::Http { .. } => "PVE_HTTP_ERROR",
            Self::Transport(_) => "PVE_TRANSPORT",
            Self::Timeout(_) => "PVE_TIMEOUT",
            Self::TaskFailed { .. } => "PVE_TASK_FAILED",
            Self::Decode(_) => "PVE_DECODE",
            Self::Config(_) => "PVE_CONFIG",
        }
    }

    /// `CODE: message`, the form the agent reports failures in.
    pub fn report(&self) -> String {
        format!("{}: {self}", self.code())
    }

    /// A request refused before it was sent, shaped like PVE's own 400 for `param`.
    pub(crate) fn local_param(param: &str, text: impl Into<String>) -> Self {
        let text = text.into();
        Self::BadParams {
            errors: BTreeMap::from([(param.to_owned(), text.clone())]),
            message: text,
        }
    }

    /// Classify a non-2xx reply. `message` is already trimmed of its trailing newline.
    pub(crate) fn from_status(
        status: u16,
        message: String,
        errors: BTreeMap<String, String>,
    ) -> Self {
        match status {
            400 => Self::BadParams { message, errors },
            401 => Self::Unauthorized { message },
            403 => Self::Forbidden { message },
            500 => classify_500(message),
            _ => Self::Http { status, message },
        }
    }
}

fn classify_500(message: String) -> Error {
    if let Some(lock) = locked_by(&message) {
        return Error::Locked {
            lock: Some(lock.to_owned()),
            message,
        };
    }
    if message.starts_with("can't lock file '") && message.ends_with("got timeout") {
        return Error::Locked {
            message,
            lock: None,
        };
    }
    if is_not_found(&message) {
        return Error::NotFound { message };
    }
    if message.ends_with("config file already exists") {
        return Error::AlreadyExists { message };
    }
    if is_invalid_state(&message) {
        return Error::InvalidState { message };
    }
    Error::Http {
        status: 500,
        message,
    }
}

/// `VM is locked (clone)` -> `clone`.
fn locked_by(message: &str) -> Option<&str> {
    message
        .strip_prefix("VM is locked (")
        .and_then(|rest| rest.strip_suffix(')'))
}

fn is_not_found(m: &str) -> bool {
    (m.starts_with("Configuration file '") && m.ends_with("' does not exist"))
        || m.starts_with("unable to find configuration file for VM ")
        || (m.starts_with("storage '") && m.ends_with("' does not exist"))
        || (m.starts_with("volume '") && m.ends_with("' does not exist"))
        || (m.starts_with("snapshot '") && m.ends_with("' does not exist"))
}

fn is_invalid_state(m: &str) -> bool {
    m.starts_with("VM ")
        && (m.ends_with(" not running")
            || m.ends_with(" is not running")
            || m.ends_with(" already running")
            || m.ends_with(" is running - destroy failed"))
        || m == "VM is paused - cannot shutdown"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e500(m: &str) -> Error {
        Error::from_status(500, m.to_owned(), BTreeMap::new())
    }

    #[test]
    fn classifies_the_documented_500_texts() {
        let cases = [
            (
                "Configuration file 'nodes/pve/qemu-server/101.conf' does not exist",
                "PVE_NOT_FOUND",
            ),
            (
                "unable to find configuration file for VM 101 on node 'pve'",
                "PVE_NOT_FOUND",
            ),
            ("storage 'nas' does not exist", "PVE_NOT_FOUND"),
            ("VM is locked (clone)", "PVE_LOCKED"),
            (
                "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout",
                "PVE_LOCKED",
            ),
            (
                "unable to create VM 101: config file already exists",
                "PVE_ALREADY_EXISTS",
            ),
            ("VM 101 not running", "PVE_INVALID_STATE"),
            ("VM 101 is not running", "PVE_INVALID_STATE"),
            ("VM 101 is running - destroy failed", "PVE_INVALID_STATE"),
            ("VM is paused - cannot shutdown", "PVE_INVALID_STATE"),
            ("cluster not ready - no quorum?", "PVE_HTTP_ERROR"),
        ];
        assert_eq!(
            e500("cluster not ready - no quorum?").report(),
            "PVE_HTTP_ERROR: HTTP 500: cluster not ready - no quorum?"
        );
        for (text, code) in cases {
            let err = e500(text);
            assert_eq!(err.code(), code, "{text}");
            if code != "PVE_HTTP_ERROR" {
                assert_eq!(err.to_string(), text);
            }
        }
        assert_eq!(
            e500("VM is locked (backup)"),
            Error::Locked {
                message: "VM is locked (backup)".into(),
                lock: Some("backup".into())
            }
        );
    }

    #[test]
    fn other_statuses() {
        let mut errors = BTreeMap::new();
        errors.insert("newid".to_owned(), "invalid format\n".to_owned());
        let bad = Error::from_status(400, "Parameter verification failed.".into(), errors);
        assert_eq!(bad.code(), "PVE_BAD_PARAMS");
        assert_eq!(
            bad.report(),
            "PVE_BAD_PARAMS: Parameter verification failed. (newid: invalid format)"
        );
        let e = Error::from_status(401, "No ticket".into(), BTreeMap::new());
        assert_eq!(e.code(), "PVE_UNAUTHORIZED");
        let e = Error::from_status(403, "Permission check failed".into(), BTreeMap::new());
        assert_eq!(e.code(), "PVE_FORBIDDEN");
        let e = Error::from_status(
            501,
            "Method 'POST /x' not implemented".into(),
            BTreeMap::new(),
        );
        assert_eq!(
            e.report(),
            "PVE_HTTP_ERROR: HTTP 501: Method 'POST /x' not implemented"
        );
        let e = Error::TaskFailed {
            upid: "UPID:pve:...".into(),
            exitstatus: "VM 100 already running".into(),
        };
        assert_eq!(e.report(), "PVE_TASK_FAILED: VM 100 already running");
    }
}
