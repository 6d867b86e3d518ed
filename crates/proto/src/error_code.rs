//! Stable error codes of the API (spec api.md §23) and the HTTP status each maps to.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every code the server answers with. The string form is the wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    InvalidCredentials,
    Forbidden,
    AccountDisabled,
    NotFound,
    MethodNotAllowed,
    AlreadyExists,
    Conflict,
    /// Other records refer to this one; the details list them.
    InUse,
    LastAdmin,
    SetupTokenInvalid,
    PreconditionFailed,
    /// A pairing code that is unknown, used or revoked.
    PairingNotFound,
    /// A pairing code past its expiry.
    PairingExpired,
    /// The agent has not been seen within the online window.
    AgentOffline,
    /// The agent was revoked: its token and pairing code no longer work.
    AgentRevoked,
    /// The agent did not answer in time (a wait for a command's outcome ran out).
    AgentTimeout,
    /// The agent ran the command and it failed (its code and message are in the details).
    CommandFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    InternalError,
    ServiceUnavailable,
}

impl ErrorCode {
    /// The HTTP status code that goes with this error.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized | Self::InvalidCredentials => 401,
            Self::Forbidden | Self::AccountDisabled => 403,
            Self::NotFound | Self::SetupTokenInvalid => 404,
            Self::MethodNotAllowed => 405,
            Self::AlreadyExists | Self::Conflict | Self::InUse | Self::LastAdmin => 409,
            Self::PreconditionFailed => 412,
            Self::PairingNotFound => 404,
            Self::PairingExpired => 410,
            Self::AgentOffline => 409,
            Self::AgentRevoked => 409,
            Self::AgentTimeout => 504,
            Self::CommandFailed => 502,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::InternalError => 500,
            Self::ServiceUnavailable => 503,
        }
    }

    /// The wire form, e.g. `"BAD_REQUEST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::Forbidden => "FORBIDDEN",
            Self::AccountDisabled => "ACCOUNT_DISABLED",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::Conflict => "CONFLICT",
            Self::InUse => "IN_USE",
            Self::LastAdmin => "LAST_ADMIN",
            Self::SetupTokenInvalid => "SETUP_TOKEN_INVALID",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::PairingNotFound => "PAIRING_NOT_FOUND",
            Self::PairingExpired => "PAIRING_EXPIRED",
            Self::AgentOffline => "AGENT_OFFLINE",
            Self::AgentRevoked => "AGENT_REVOKED",
            Self::AgentTimeout => "AGENT_TIMEOUT",
            Self::CommandFailed => "COMMAND_FAILED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }
}

impl ErrorCode {
    /// Every code, to read one back from its wire form.
    pub const ALL: [ErrorCode; 24] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::InvalidCredentials,
        Self::Forbidden,
        Self::AccountDisabled,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::AlreadyExists,
        Self::Conflict,
        Self::InUse,
        Self::LastAdmin,
        Self::SetupTokenInvalid,
        Self::PreconditionFailed,
        Self::PairingNotFound,
        Self::PairingExpired,
        Self::AgentOffline,
        Self::AgentRevoked,
        Self::AgentTimeout,
        Self::CommandFailed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::InternalError,
        Self::ServiceUnavailable,
    ];
}

/// The wire form back to the code; `Err` keeps an unknown code's text (a newer server's).
impl std::str::FromStr for ErrorCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| s.to_owned())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_matches_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
        }
        assert_eq!(
            "NOT_A_CODE".parse::<ErrorCode>(),
            Err("NOT_A_CODE".to_owned())
        );
    }

    #[test]
    fn agent_codes_have_their_statuses() {
        assert_eq!(
            (
                ErrorCode::AgentRevoked.as_str(),
                ErrorCode::AgentRevoked.http_status()
            ),
            ("AGENT_REVOKED", 409)
        );
        assert_eq!(
            (
                ErrorCode::AgentTimeout.as_str(),
                ErrorCode::AgentTimeout.http_status()
            ),
            ("AGENT_TIMEOUT", 504)
        );
    }
}
