//! `POST /artifacts/resolve-download` (spec security §6.4): a lease token buys a short-lived
//! link to the release assigned to the lease's user. The steps run in the spec's order, and
//! every attempt past authentication is written to the download audit, the outcome with its
//! reason; a request the server could not read is audited too (the reference skipped those).
//! When the audit row cannot be written the answer is 502 `ARTIFACT_AUDIT_WRITE_FAILED`
//! (no link goes out unaudited), naming the outcome it replaced in its details.

use botmox_proto::ErrorCode;
use botmox_proto::artifacts::{
    DownloadResult, ResolveDownloadRequest, ResolvedDownload, norm_channel, norm_lower, norm_module,
};
use botmox_proto::licensing::normalize_vm_uuid;
use object_store::path::Path;

use super::store::{self, Scope};
use super::{download, service};
use crate::clock::now_ms;
use crate::db::entity::artifact_download_audit as audit;
use crate::http::{ApiError, ApiResult, ClientAddr};
use crate::licensing::service::lease_for_download;
use crate::principal::Auth;
use crate::state::AppState;

/// The longest `reason` kept.
const REASON_CHARS: usize = 120;

/// An error code as an audit reason: lower-cased, anything outside `[a-z0-9:_-]` as `-`.
pub fn reason_of(code: ErrorCode) -> String {
    code.as_str()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(REASON_CHARS)
        .collect()
}

/// The audit row of one attempt, filled in as the steps learn more.
struct Attempt {
    row: audit::Model,
}

impl Attempt {
    fn new(auth: &Auth, addr: ClientAddr, scope: &Scope, vm_uuid: &str) -> Self {
        Self {
            row: audit::Model {
                id: 0,
                tenant_id: auth.tenant().as_str().to_owned(),
                lease_id: None,
                lease_jti: None,
                user_id: Some(auth.caller().to_owned()),
                vm_uuid: vm_uuid.to_owned(),
                module: scope.module.clone(),
                platform: scope.platform.clone(),
                channel: scope.channel.clone(),
                release_id: None,
                event_type: "resolve_denied".into(),
                result: DownloadResult::Denied.as_str().into(),
                reason: Some("resolve-in-progress".into()),
                request_ip: Some(addr.to_string()),
                url_expires_at: None,
                metadata: "{}".into(),
                created_at: now_ms(),
            },
        }
    }

    /// Write the row for `outcome`; an audit that cannot be written fails the request. On
    /// SQLite it goes through the direct writer, which commits many such rows together.
    async fn finish<T>(mut self, state: &AppState, outcome: ApiResult<T>) -> ApiResult<T> {
        let row = &mut self.row;
        match &outcome {
            Ok(_) => {
                row.event_type = "resolve_success".into();
                row.result = DownloadResult::Allowed.as_str().into();
                row.reason = None;
            }
            Err(e) => {
                let result = if e.status().is_server_error() {
                    DownloadResult::Error
                } else {
                    DownloadResult::Denied
                };
                row.result = result.as_str().into();
                row.reason = Some(reason_of(e.code));
                row.metadata = serde_json::json!({"error_code": e.code.as_str()}).to_string();
                row.url_expires_at = None;
            }
        }
        row.created_at = now_ms();
        let row = self.row;
        let written = match state.db.direct() {
            Some(direct) => {
                direct
                    .write(move |conn| store::insert_audit_direct(conn, &row))
                    .await
            }
            None => {
                state
                    .db
                    .write(async |txn| store::insert_audit(txn, row).await)
                    .await
            }
        };
        match written {
            Ok(()) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "download audit write failed");
                let replaced = match &outcome {
                    Ok(_) => "OK",
                    Err(e) => e.code.as_str(),
                };
                Err(ApiError::new(
                    ErrorCode::ArtifactAuditWriteFailed,
                    "The download audit could not be written",
                )
                .with_details(serde_json::json!({ "outcome": replaced })))
            }
        }
    }
}

/// A request body the server could not take (shape or limits): audited as denied with what
/// little is known, then answered with its error.
pub async fn refuse_unreadable(
    state: &AppState,
    auth: &Auth,
    addr: ClientAddr,
    error: ApiError,
) -> ApiError {
    let scope = Scope {
        module: String::new(),
        platform: String::new(),
        channel: String::new(),
    };
    let attempt = Attempt::new(auth, addr, &scope, "");
    match attempt
        .finish::<std::convert::Infallible>(state, Err(error))
        .await
    {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Resolve a download for `req` (already checked against its limits), auditing the attempt.
pub async fn resolve(
    state: &AppState,
    auth: &Auth,
    addr: ClientAddr,
    req: ResolveDownloadRequest,
) -> ApiResult<ResolvedDownload> {
    let scope = Scope {
        module: norm_module(&req.module),
        platform: norm_lower(&req.platform),
        channel: norm_channel(req.channel.as_deref()),
    };
    let vm_uuid = normalize_vm_uuid(&req.vm_uuid).map_err(|p| ApiError::field("vm_uuid", p))?;
    let mut attempt = Attempt::new(auth, addr, &scope, &vm_uuid);
    let outcome = steps(
        state,
        auth,
        &req.lease_token,
        &vm_uuid,
        &scope,
        &mut attempt,
    )
    .await;
    attempt.finish(state, outcome).await
}

/// Steps 4 to 9 of spec security §6.4, recording what each learns in `attempt`.
async fn steps(
    state: &AppState,
    auth: &Auth,
    lease_token: &str,
    vm_uuid: &str,
    scope: &Scope,
    attempt: &mut Attempt,
) -> ApiResult<ResolvedDownload> {
    let tenant = auth.tenant();
    let grant = lease_for_download(state, auth, lease_token, vm_uuid, &scope.module).await?;
    attempt.row.lease_id = Some(grant.lease_id.clone());
    attempt.row.lease_jti = Some(grant.lease_id.clone());
    attempt.row.user_id = Some(grant.user_id.clone());

    let (own, default) =
        store::assignments_for(state.db.read(), tenant, &grant.user_id, scope).await?;
    let (assignment, source) = match (own, default) {
        (Some(own), _) => (own, "user"),
        (None, Some(default)) => (default, "tenant-default"),
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::ArtifactAssignmentNotFound,
                format!(
                    "No release is assigned for {}/{}/{}",
                    scope.module, scope.platform, scope.channel
                ),
            ));
        }
    };
    attempt.row.release_id = Some(assignment.release_id);
    attempt.row.metadata = serde_json::json!({ "source": source }).to_string();

    let release = store::get_release(state.db.read(), tenant, assignment.release_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ArtifactReleaseNotFound,
                "The assigned release is gone",
            )
        })?;
    if release.status != botmox_proto::artifacts::ReleaseStatus::Active.as_str() {
        return Err(ApiError::new(
            ErrorCode::ArtifactReleaseNotActive,
            format!("The assigned release is {}, not active", release.status),
        ));
    }

    if release.object_key.contains("..") || release.object_key.contains("//") {
        return Err(ApiError::bad_request(
            "The release's object key is not allowed",
        ));
    }
    let path = Path::parse(&release.object_key)
        .map_err(|_| ApiError::bad_request("The release's object key is not allowed"))?;
    match state.blob.head(&path).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(ApiError::new(
                ErrorCode::ArtifactObjectNotFound,
                "The release's file is missing from the blob store",
            ));
        }
        Err(e) => return Err(service::blob_failed(e)),
    }

    let (url, expires_at) = download::url_for(state, tenant, &release.object_key, now_ms()).await?;
    attempt.row.url_expires_at = Some(expires_at);
    Ok(ResolvedDownload {
        download_url: url,
        url_expires_at: expires_at,
        release_id: release.id,
        version: release.version,
        sha256: release.sha256,
        size_bytes: release.size_bytes.max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_slugs_of_the_codes() {
        assert_eq!(reason_of(ErrorCode::VmUuidMismatch), "vm_uuid_mismatch");
        assert_eq!(reason_of(ErrorCode::LeaseExpired), "lease_expired");
    }
}
