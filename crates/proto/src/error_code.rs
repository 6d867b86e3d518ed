//! Stable error codes of the API (spec api.md §23) and the HTTP status each maps to.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The enum, its wire words, statuses and `ALL` from one table, so a code cannot be added
/// without its word and status.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $word:literal => $status:literal,)+) => {
        /// Every code the server answers with. The string form is the wire form.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, to read one back from its wire form.
            pub const ALL: [ErrorCode; [$($word),+].len()] = [$(Self::$variant),+];

            /// The HTTP status code that goes with this error.
            pub fn http_status(self) -> u16 {
                match self {
                    $(Self::$variant => $status,)+
                }
            }

            /// The wire form, e.g. `"BAD_REQUEST"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }
        }
    };
}

error_codes! {
    BadRequest = "BAD_REQUEST" => 400,
    Unauthorized = "UNAUTHORIZED" => 401,
    InvalidCredentials = "INVALID_CREDENTIALS" => 401,
    Forbidden = "FORBIDDEN" => 403,
    AccountDisabled = "ACCOUNT_DISABLED" => 403,
    NotFound = "NOT_FOUND" => 404,
    MethodNotAllowed = "METHOD_NOT_ALLOWED" => 405,
    AlreadyExists = "ALREADY_EXISTS" => 409,
    Conflict = "CONFLICT" => 409,
    /// Other records refer to this one; the details list them.
    InUse = "IN_USE" => 409,
    LastAdmin = "LAST_ADMIN" => 409,
    /// The bot's value was saved and locked (`generation_locks`); clear the lock to generate
    /// another.
    GenerationLocked = "GENERATION_LOCKED" => 409,
    SetupTokenInvalid = "SETUP_TOKEN_INVALID" => 404,
    PreconditionFailed = "PRECONDITION_FAILED" => 412,
    /// A pairing code that is unknown, used or revoked.
    PairingNotFound = "PAIRING_NOT_FOUND" => 404,
    /// A pairing code past its expiry.
    PairingExpired = "PAIRING_EXPIRED" => 410,
    /// The agent has not been seen within the online window.
    AgentOffline = "AGENT_OFFLINE" => 409,
    /// The agent was revoked: its token and pairing code no longer work.
    AgentRevoked = "AGENT_REVOKED" => 409,
    /// The agent did not answer in time (a wait for a command's outcome ran out).
    AgentTimeout = "AGENT_TIMEOUT" => 504,
    /// The agent ran the command and it failed (its code and message are in the details).
    CommandFailed = "COMMAND_FAILED" => 502,
    /// No VM with this UUID in the tenant's registry (or not one the caller may see).
    VmNotRegistered = "VM_NOT_REGISTERED" => 404,
    /// The VM is paused or revoked in the registry.
    VmInactive = "VM_INACTIVE" => 403,
    /// The VM belongs to another user.
    VmOwnerMismatch = "VM_OWNER_MISMATCH" => 403,
    /// No active, unexpired licence covers the user.
    LicenseInactive = "LICENSE_INACTIVE" => 403,
    /// The user has no entitlement (and the tenant no default one).
    EntitlementRequired = "ENTITLEMENT_REQUIRED" => 403,
    /// The entitlement does not list the module.
    ModuleNotAllowed = "MODULE_NOT_ALLOWED" => 403,
    /// Every licence that covers the user has all its seats in use.
    LeaseLimitReached = "LEASE_LIMIT_REACHED" => 409,
    LeaseNotFound = "LEASE_NOT_FOUND" => 404,
    /// The lease belongs to another user.
    LeaseOwnerMismatch = "LEASE_OWNER_MISMATCH" => 403,
    /// The lease was revoked or has been marked expired.
    LeaseInactive = "LEASE_INACTIVE" => 409,
    /// The lease's time ran out.
    LeaseExpired = "LEASE_EXPIRED" => 409,
    /// The lease was issued for another VM.
    VmUuidMismatch = "VM_UUID_MISMATCH" => 403,
    /// The lease was issued for another module.
    ModuleMismatch = "MODULE_MISMATCH" => 403,
    /// No release is assigned to the user (nor as the tenant default) for this scope.
    ArtifactAssignmentNotFound = "ARTIFACT_ASSIGNMENT_NOT_FOUND" => 404,
    ArtifactReleaseNotFound = "ARTIFACT_RELEASE_NOT_FOUND" => 404,
    /// The release's file is missing from the blob store.
    ArtifactObjectNotFound = "ARTIFACT_OBJECT_NOT_FOUND" => 404,
    /// The release's module, platform or channel differ from the assignment's.
    ArtifactScopeMismatch = "ARTIFACT_SCOPE_MISMATCH" => 409,
    /// The release is draft, disabled or archived.
    ArtifactReleaseNotActive = "ARTIFACT_RELEASE_NOT_ACTIVE" => 409,
    /// The download audit could not be written, so nothing was handed out.
    ArtifactAuditWriteFailed = "ARTIFACT_AUDIT_WRITE_FAILED" => 502,
    /// The blob store failed (its message is in the log, not the answer).
    BlobStoreFailed = "BLOB_STORE_FAILED" => 502,
    /// A download link whose signature does not match (tampered, or for another object).
    DownloadLinkInvalid = "DOWNLOAD_LINK_INVALID" => 403,
    /// A download link past its expiry.
    DownloadLinkExpired = "DOWNLOAD_LINK_EXPIRED" => 410,
    SecretNotFound = "SECRET_NOT_FOUND" => 404,
    /// A secret with this (client-chosen) id already exists in the tenant.
    SecretExists = "SECRET_EXISTS" => 409,
    /// An envelope is sealed to a key that is not the recipient's current vault key
    /// (the recipient re-paired or replaced its key): fetch the recipients and seal again.
    VaultKeyMismatch = "VAULT_KEY_MISMATCH" => 409,
    // Provisioning (spec provisioning §2, §6-8).
    /// A profile or playbook with this name already exists for the user.
    DuplicateName = "DUPLICATE_NAME" => 409,
    ProfileNotFound = "PROFILE_NOT_FOUND" => 404,
    PlaybookNotFound = "PLAYBOOK_NOT_FOUND" => 404,
    /// The playbook's content breaks its schema; `details` holds `{errors, warnings}`.
    InvalidPlaybook = "INVALID_PLAYBOOK" => 422,
    /// A provisioning token that is forged, expired, used, revoked, superseded or for
    /// another VM; the message says which.
    TokenInvalid = "TOKEN_INVALID" => 401,
    /// Generating a payload needs the server's public URL (the VM's way back), and none
    /// was configured.
    PublicUrlRequired = "PUBLIC_URL_REQUIRED" => 400,
    PayloadTooLarge = "PAYLOAD_TOO_LARGE" => 413,
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE" => 415,
    RateLimited = "RATE_LIMITED" => 429,
    InternalError = "INTERNAL_ERROR" => 500,
    /// A setting the request needs is missing (named in the message).
    ConfigError = "CONFIG_ERROR" => 500,
    ServiceUnavailable = "SERVICE_UNAVAILABLE" => 503,
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
    fn codes_have_their_statuses() {
        let status = |c: ErrorCode| (c.as_str(), c.http_status());
        assert_eq!(status(ErrorCode::AgentRevoked), ("AGENT_REVOKED", 409));
        assert_eq!(status(ErrorCode::AgentTimeout), ("AGENT_TIMEOUT", 504));
        assert_eq!(status(ErrorCode::LeaseExpired), ("LEASE_EXPIRED", 409));
        assert_eq!(
            status(ErrorCode::ArtifactAuditWriteFailed),
            ("ARTIFACT_AUDIT_WRITE_FAILED", 502)
        );
    }
}
