//! Stable error codes of the API (spec api.md §23) and the HTTP status each maps to.

use serde::{Deserialize, Serialize};

/// Every code the server answers with. The string form is the wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
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
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::RateLimited,
            ErrorCode::InvalidCredentials,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
