//! Artifacts: releases of a module's build stored in the blob store, which release each user
//! (or the tenant by default) gets, lease-gated download links, and the download audit
//! (spec api.md §12, security §6).
//!
//! Normalisation, the same for every body and query: `module` and `version` are trimmed and
//! keep their case, `platform` and `channel` are trimmed and lower-cased, `channel` defaults
//! to `stable`, `sha256` is lower-cased.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::validate::{FieldErrors, Validate};

pub const MODULE_CHARS: usize = 200;
pub const PLATFORM_CHARS: usize = 100;
pub const CHANNEL_CHARS: usize = 100;
pub const VERSION_CHARS: usize = 100;
pub const OBJECT_KEY_CHARS: usize = 1024;
pub const USER_ID_CHARS: usize = 200;
pub const DEFAULT_CHANNEL: &str = "stable";
pub const DEFAULT_PLATFORM: &str = "windows";

/// Where a release is in its life; only `active` releases can be assigned and downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseStatus {
    Draft,
    #[default]
    Active,
    Disabled,
    Archived,
}

wire_words!(
    ReleaseStatus,
    "release status",
    [
        Draft = "draft",
        Active = "active",
        Disabled = "disabled",
        Archived = "archived"
    ]
);

/// `module` trimmed, case kept.
pub fn norm_module(s: &str) -> String {
    s.trim().to_owned()
}

/// `platform` or `channel` trimmed and lower-cased.
pub fn norm_lower(s: &str) -> String {
    s.trim().to_lowercase()
}

/// The channel, `stable` when absent or blank.
pub fn norm_channel(s: Option<&str>) -> String {
    match s.map(str::trim) {
        Some(c) if !c.is_empty() => c.to_lowercase(),
        _ => DEFAULT_CHANNEL.to_owned(),
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The characters of a VM UUID (spec api.md §10): 8 to 128 of `[A-Za-z0-9:_-]`.
pub fn is_vm_uuid(s: &str) -> bool {
    (8..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// The scope checks shared by every body naming a (module, platform, channel).
fn check_scope(e: &mut FieldErrors, module: &str, platform: &str, channel: Option<&str>) {
    e.required_text("module", module, MODULE_CHARS);
    e.required_text("platform", platform, PLATFORM_CHARS);
    e.max_chars("channel", channel.map(str::trim), CHANNEL_CHARS);
}

/// A release as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseView {
    pub id: i64,
    pub tenant_id: String,
    pub module: String,
    pub platform: String,
    pub channel: String,
    pub version: String,
    /// Where the file is in the blob store.
    pub object_key: String,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    pub size_bytes: u64,
    pub status: ReleaseStatus,
    #[serde(serialize_with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

/// `POST /artifacts/releases/upload` query: the file itself is the raw request body; the
/// server computes its SHA-256 and size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Module name, 1 to 200 characters (case kept).
    #[param(min_length = 1, max_length = 200)]
    pub module: String,
    /// Platform, 1 to 100 characters (lower-cased), e.g. `windows`.
    #[param(min_length = 1, max_length = 100)]
    pub platform: String,
    /// Version, 1 to 100 characters.
    #[param(min_length = 1, max_length = 100)]
    pub version: String,
    /// Channel, at most 100 characters (lower-cased) [default: stable].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 100)]
    pub channel: Option<String>,
    /// Status of the new release [default: active].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReleaseStatus>,
}

impl Validate for UploadQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        check_scope(
            &mut e,
            &self.module,
            &self.platform,
            self.channel.as_deref(),
        );
        e.required_text("version", &self.version, VERSION_CHARS);
        e.into_result()
    }
}

/// `POST /artifacts/releases`: register an object already in the blob store. The server
/// checks that it exists under the tenant's prefix (`artifacts/<tenant>/`) and that its size
/// is `size_bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterReleaseRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub module: String,
    #[schema(min_length = 1, max_length = 100)]
    pub platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub channel: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub version: String,
    /// A key under `artifacts/<tenant>/`; a leading `/` is dropped; `..` and `//` are refused.
    #[schema(min_length = 1, max_length = 1024)]
    pub object_key: String,
    /// 64 hex characters.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: String,
    #[schema(minimum = 1)]
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReleaseStatus>,
    /// Read the object and check its SHA-256 too (the whole file passes through the server)
    /// [default: false, only the size is checked].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_sha256: Option<bool>,
}

impl Validate for RegisterReleaseRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        check_scope(
            &mut e,
            &self.module,
            &self.platform,
            self.channel.as_deref(),
        );
        e.required_text("version", &self.version, VERSION_CHARS);
        e.required_text("object_key", &self.object_key, OBJECT_KEY_CHARS);
        e.check(
            "sha256",
            is_sha256(&self.sha256),
            "must be 64 hexadecimal characters",
        );
        e.check(
            "size_bytes",
            self.size_bytes > 0 && self.size_bytes <= i64::MAX as u64,
            "must be a positive whole number",
        );
        e.into_result()
    }
}

/// `PATCH /artifacts/releases/{id}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PatchReleaseRequest {
    pub status: ReleaseStatus,
}

impl Validate for PatchReleaseRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        Ok(())
    }
}

/// `GET /artifacts/releases` filters and paging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListReleasesQuery {
    /// Exactly this module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 200)]
    pub module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 100)]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 100)]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReleaseStatus>,
    /// 1-based page number, 1 to 1000000 [default: 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page, 1 to 200 [default: 50].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

impl Validate for ListReleasesQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("module", self.module.as_deref(), MODULE_CHARS);
        e.max_chars("platform", self.platform.as_deref(), PLATFORM_CHARS);
        e.max_chars("channel", self.channel.as_deref(), CHANNEL_CHARS);
        e.into_result()
    }
}

/// `POST /artifacts/assign`: which release a user (or, without `user_id`, the tenant by
/// default) gets for a (module, platform, channel). Replaces the previous one atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssignRequest {
    /// A user of the tenant; absent, `null` or blank = the tenant default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub user_id: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub module: String,
    #[schema(min_length = 1, max_length = 100)]
    pub platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub channel: Option<String>,
    #[schema(minimum = 1)]
    pub release_id: i64,
}

impl Validate for AssignRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars(
            "user_id",
            self.user_id.as_deref().map(str::trim),
            USER_ID_CHARS,
        );
        check_scope(
            &mut e,
            &self.module,
            &self.platform,
            self.channel.as_deref(),
        );
        e.check("release_id", self.release_id > 0, "must be greater than 0");
        e.into_result()
    }
}

/// An assignment as the API shows it: `user_id` null and `is_default` true for the tenant
/// default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssignmentView {
    pub id: i64,
    pub tenant_id: String,
    pub module: String,
    pub platform: String,
    pub channel: String,
    pub user_id: Option<String>,
    pub release_id: i64,
    pub is_default: bool,
    #[serde(serialize_with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

/// `GET /artifacts/assign/{userId}/{module}` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssignmentQuery {
    /// [default: windows]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 100)]
    pub platform: Option<String>,
    /// [default: stable]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 100)]
    pub channel: Option<String>,
}

impl Validate for AssignmentQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("platform", self.platform.as_deref(), PLATFORM_CHARS);
        e.max_chars("channel", self.channel.as_deref(), CHANNEL_CHARS);
        e.into_result()
    }
}

/// Answer of `GET /artifacts/assign/{userId}/{module}`: effective = the user's own, else the
/// tenant default, else null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EffectiveAssignment {
    pub user_assignment: Option<AssignmentView>,
    pub default_assignment: Option<AssignmentView>,
    pub effective_assignment: Option<AssignmentView>,
}

/// `GET /artifacts/assignments` filters and paging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAssignmentsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 200)]
    pub module: Option<String>,
    /// 1-based page number, 1 to 1000000 [default: 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page, 1 to 200 [default: 50].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

impl Validate for ListAssignmentsQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("module", self.module.as_deref(), MODULE_CHARS);
        e.into_result()
    }
}

/// `POST /artifacts/resolve-download`: a lease token buys a short-lived download link of
/// the release assigned to the lease's user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResolveDownloadRequest {
    #[schema(min_length = 1, max_length = 8192)]
    pub lease_token: String,
    /// 8 to 128 characters of `[A-Za-z0-9:_-]` (compared lower-cased).
    #[schema(min_length = 8, max_length = 128, pattern = "^[A-Za-z0-9:_-]+$")]
    pub vm_uuid: String,
    #[schema(min_length = 1, max_length = 200)]
    pub module: String,
    #[schema(min_length = 1, max_length = 100)]
    pub platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub channel: Option<String>,
}

impl Validate for ResolveDownloadRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("lease_token", &self.lease_token, 8192);
        e.check(
            "vm_uuid",
            is_vm_uuid(self.vm_uuid.trim()),
            "must be 8 to 128 characters of letters, digits, ':', '_' or '-'",
        );
        check_scope(
            &mut e,
            &self.module,
            &self.platform,
            self.channel.as_deref(),
        );
        e.into_result()
    }
}

/// Answer of `POST /artifacts/resolve-download`. The client downloads `download_url` itself
/// and must check the SHA-256 and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResolvedDownload {
    pub download_url: String,
    /// Epoch milliseconds after which the URL no longer works.
    pub url_expires_at: i64,
    pub release_id: i64,
    pub version: String,
    pub sha256: String,
    pub size_bytes: u64,
}

/// Outcome of one resolve-download attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DownloadResult {
    /// A link was issued.
    Allowed,
    /// Refused (a 4xx answer).
    Denied,
    /// Failed on the server's side (a 5xx answer).
    Error,
}

wire_words!(
    DownloadResult,
    "download result",
    [Allowed = "allowed", Denied = "denied", Error = "error"]
);

/// One row of the download audit (spec security §6.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DownloadAuditView {
    pub id: i64,
    pub tenant_id: String,
    pub lease_id: Option<String>,
    pub lease_jti: Option<String>,
    /// The lease's user when the lease resolved, else the caller.
    pub user_id: Option<String>,
    pub vm_uuid: String,
    pub module: String,
    pub platform: String,
    pub channel: String,
    pub release_id: Option<i64>,
    /// `resolve_success` or `resolve_denied`.
    pub event_type: String,
    pub result: DownloadResult,
    /// The error code, lower-cased (e.g. `vm_uuid_mismatch`); null on success.
    pub reason: Option<String>,
    pub request_ip: Option<String>,
    /// Epoch milliseconds; set on success.
    pub url_expires_at: Option<i64>,
    /// `{"source": "user" | "tenant-default"}` on success, `{"error_code": CODE}` otherwise.
    pub metadata: serde_json::Value,
    #[serde(serialize_with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
}

/// `GET /artifacts/download-audit` filters and paging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadAuditQuery {
    /// Exactly this VM UUID (compared lower-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 128)]
    pub vm_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 200)]
    pub module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<DownloadResult>,
    /// The lease's user (or the caller, when no lease resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 200)]
    pub user_id: Option<String>,
    /// From this time (inclusive, epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = -8_000_000_000_000_000i64, maximum = 8_000_000_000_000_000i64)]
    pub from: Option<i64>,
    /// Until this time (exclusive, epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = -8_000_000_000_000_000i64, maximum = 8_000_000_000_000_000i64)]
    pub to: Option<i64>,
    /// 1-based page number, 1 to 1000000 [default: 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page, 1 to 200 [default: 50].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

impl Validate for DownloadAuditQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("vm_uuid", self.vm_uuid.as_deref(), 128);
        e.max_chars("module", self.module.as_deref(), MODULE_CHARS);
        e.max_chars("user_id", self.user_id.as_deref(), USER_ID_CHARS);
        e.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::from_json;
    use serde_json::json;

    #[test]
    fn words_match_serde_and_bodies_check_their_limits() {
        for s in ReleaseStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        for r in DownloadResult::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), json!(r.as_str()));
        }
        let e = from_json::<RegisterReleaseRequest>(json!({"module": " ", "platform": "w",
            "version": "1", "object_key": "k", "sha256": "xyz", "size_bytes": 0}))
        .unwrap_err();
        for field in ["module", "sha256", "size_bytes"] {
            assert!(e.get(field).is_some(), "{field}: {e}");
        }
        let e = from_json::<ResolveDownloadRequest>(json!({"lease_token": "t",
            "vm_uuid": "bad/uuid", "module": "m", "platform": "w"}))
        .unwrap_err();
        assert!(e.get("vm_uuid").is_some());
        assert_eq!(norm_channel(None), "stable");
        assert_eq!(norm_channel(Some(" Beta ")), "beta");
        assert_eq!(norm_lower(" Windows"), "windows");
    }
}
