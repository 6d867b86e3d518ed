//! What can go wrong with a call, kept apart so a caller can react to each: the server said
//! no (with its stable code), the server did not answer in time, the network failed, or the
//! answer was not what the contract says.

use std::fmt;

use botmox_proto::{ErrorCode, ErrorEnvelope, FieldErrors};
use serde_json::Value;

/// The server's `error.code`: one this client knows, or the text of a newer one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Known(ErrorCode),
    Other(String),
}

impl Code {
    fn parse(text: &str) -> Self {
        text.parse().map_or_else(Self::Other, Self::Known)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(code) => code.fmt(f),
            Self::Other(text) => f.write_str(text),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with its failure envelope.
    #[error("HTTP {status} {code}: {message}")]
    Api {
        status: u16,
        code: Code,
        message: String,
        details: Option<Value>,
    },
    /// No answer within the request's time limit.
    #[error("the server did not answer in time")]
    Timeout,
    /// The server could not be reached, or the connection broke.
    #[error("could not talk to the server: {0}")]
    Transport(#[source] reqwest::Error),
    /// An answer that is not the API's envelope of the expected type (a proxy's error page,
    /// a newer server's shape, a broken event).
    #[error("unexpected answer (HTTP {status}): {message}")]
    Decode { status: u16, message: String },
    /// The base URL given to the client is not an http(s) URL.
    #[error("not a usable base URL: {0}")]
    BaseUrl(String),
}

impl ClientError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error code, when it sent one.
    pub fn code(&self) -> Option<&Code> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the server answered with `code`.
    pub fn is(&self, code: ErrorCode) -> bool {
        self.code() == Some(&Code::Known(code))
    }

    /// The per-field problems of a 400 answer, when its details carry them.
    pub fn field_errors(&self) -> Option<FieldErrors> {
        match self {
            Self::Api {
                details: Some(details),
                ..
            } => serde_json::from_value(details.clone()).ok(),
            _ => None,
        }
    }

    /// A failed HTTP answer: the envelope's error, or a note of what came instead.
    pub(crate) fn from_failure(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<ErrorEnvelope>(body) {
            Ok(envelope) => Self::Api {
                status,
                code: Code::parse(&envelope.error.code),
                message: envelope.error.message,
                details: envelope.error.details,
            },
            Err(_) => Self::Decode {
                status,
                message: excerpt(body),
            },
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(e)
        }
    }
}

/// The start of a body that is not the envelope, for the error message.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        cut.push('…');
    }
    cut
}
