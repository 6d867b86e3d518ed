//! Rules for releases and assignments: names normalised once, uploads streamed into
//! server-chosen keys and hashed on the way, registered objects checked against the store,
//! duplicates answered 409, assignments only of active releases of the same scope and
//! replaced atomically, releases deleted only when nothing is assigned to them.

use botmox_proto::ErrorCode;
use botmox_proto::artifacts::{
    AssignRequest, AssignmentQuery, AssignmentView, DEFAULT_PLATFORM, DownloadAuditQuery,
    DownloadAuditView, DownloadResult, EffectiveAssignment, ListAssignmentsQuery,
    ListReleasesQuery, RegisterReleaseRequest, ReleaseStatus, ReleaseView, UploadQuery,
    norm_channel, norm_lower, norm_module,
};
use botmox_proto::time::from_epoch_ms;
use futures::Stream;
use object_store::path::Path;

use super::store::{self, AuditFilter, NewRelease, ReleaseFilter, Scope};
use crate::blob::PutError;
use crate::clock::now_ms;
use crate::db::entity::artifact_assignment::{self as assignment, TENANT_DEFAULT};
use crate::db::entity::{artifact_download_audit as audit, artifact_release as release};
use crate::db::{StoreError, TenantId};
use crate::http::paging::{Paging, time_param};
use crate::http::upload::{DRAIN_LIMIT, drain};
use crate::http::{ApiError, ApiResult};
use crate::principal::Admin;
use crate::state::AppState;

/// Where every object of a tenant lives; registered keys must be under it too, so one
/// tenant cannot hand out another's files.
pub fn tenant_prefix(tenant: &TenantId) -> String {
    format!("artifacts/{}/", tenant.as_str())
}

/// A name as one safe key segment: letters, digits, `-`, `_` and single dots kept, anything
/// else `_`, and never a leading dot (so no `.` or `..` segment, and no `..` at all).
fn segment(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    out = out.replace("..", "__");
    if out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// The server-chosen key of an upload: readable, and unique by its last segment.
pub fn upload_key(tenant: &TenantId, scope: &Scope, version: &str) -> String {
    format!(
        "{}{}/{}/{}/{}/{}",
        tenant_prefix(tenant),
        segment(&scope.module),
        segment(&scope.platform),
        segment(&scope.channel),
        segment(version),
        uuid::Uuid::new_v4().simple()
    )
}

/// A registered object key: a leading `/` dropped; empty, `..`, `//`, control characters,
/// or a key outside the tenant's prefix refused (400).
pub fn check_object_key(tenant: &TenantId, key: &str) -> ApiResult<(String, Path)> {
    let key = key.trim().trim_start_matches('/');
    let bad = |problem: &str| ApiError::field("object_key", problem);
    if key.is_empty() {
        return Err(bad("must not be empty"));
    }
    if key.contains("..") || key.contains("//") {
        return Err(bad("must not contain '..' or '//'"));
    }
    if key.chars().any(char::is_control) || key.ends_with('/') {
        return Err(bad(
            "must be a key of one object, without control characters",
        ));
    }
    let prefix = tenant_prefix(tenant);
    if !key.starts_with(&prefix) {
        return Err(bad(&format!("must be under {prefix}")));
    }
    let path = Path::parse(key).map_err(|e| bad(&e.to_string()))?;
    Ok((key.to_owned(), path))
}

/// A blob store failure: logged, answered 502 `BLOB_STORE_FAILED`.
pub fn blob_failed(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "blob store failed");
    ApiError::new(ErrorCode::BlobStoreFailed, "The blob store failed")
}

fn scope_of(module: &str, platform: &str, channel: Option<&str>) -> Scope {
    Scope {
        module: norm_module(module),
        platform: norm_lower(platform),
        channel: norm_channel(channel),
    }
}

fn release_not_found() -> ApiError {
    ApiError::new(ErrorCode::ArtifactReleaseNotFound, "Release not found")
}

fn duplicate(scope: &Scope, version: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AlreadyExists,
        format!(
            "Release {version} of {}/{}/{} (or its object) already exists",
            scope.module, scope.platform, scope.channel
        ),
    )
}

pub fn release_view(r: release::Model) -> ReleaseView {
    ReleaseView {
        status: r.status.parse().unwrap_or(ReleaseStatus::Disabled),
        id: r.id,
        tenant_id: r.tenant_id,
        module: r.module,
        platform: r.platform,
        channel: r.channel,
        version: r.version,
        object_key: r.object_key,
        sha256: r.sha256,
        size_bytes: r.size_bytes.max(0) as u64,
        created_at: from_epoch_ms(r.created_at).unwrap_or_default(),
        updated_at: from_epoch_ms(r.updated_at).unwrap_or_default(),
        created_by: r.created_by,
        updated_by: r.updated_by,
    }
}

pub fn assignment_view(a: assignment::Model) -> AssignmentView {
    let is_default = a.user_id == TENANT_DEFAULT;
    AssignmentView {
        id: a.id,
        tenant_id: a.tenant_id,
        module: a.module,
        platform: a.platform,
        channel: a.channel,
        user_id: (!is_default).then_some(a.user_id),
        release_id: a.release_id,
        is_default,
        created_at: from_epoch_ms(a.created_at).unwrap_or_default(),
        updated_at: from_epoch_ms(a.updated_at).unwrap_or_default(),
        created_by: a.created_by,
        updated_by: a.updated_by,
    }
}

pub fn audit_view(a: audit::Model) -> DownloadAuditView {
    DownloadAuditView {
        id: a.id,
        tenant_id: a.tenant_id,
        lease_id: a.lease_id,
        lease_jti: a.lease_jti,
        user_id: a.user_id,
        vm_uuid: a.vm_uuid,
        module: a.module,
        platform: a.platform,
        channel: a.channel,
        release_id: a.release_id,
        event_type: a.event_type,
        result: a.result.parse().unwrap_or(DownloadResult::Error),
        reason: a.reason,
        request_ip: a.request_ip,
        url_expires_at: a.url_expires_at,
        metadata: serde_json::from_str(&a.metadata).unwrap_or_default(),
        created_at: from_epoch_ms(a.created_at).unwrap_or_default(),
    }
}

/// Insert a release row for an object already stored; a duplicate is 409.
async fn insert_release(
    state: &AppState,
    admin: &Admin,
    new: NewRelease<'_>,
) -> ApiResult<release::Model> {
    let (scope, version) = (new.scope, new.version);
    let tenant = admin.tenant();
    let inserted = state
        .db
        .write(async |txn| store::insert_release(txn, tenant, new).await)
        .await;
    match inserted {
        Ok(row) => Ok(row),
        Err(e) if e.is_unique_violation() => Err(duplicate(scope, version)),
        Err(e) => Err(e.into()),
    }
}

/// Stream an uploaded file into the blob store and record it as a release. `declared` is
/// the request's Content-Length, if any: a body announced larger than the limit is refused
/// before a byte is stored. Nothing is left behind when anything fails.
pub async fn upload<S, E>(
    state: &AppState,
    admin: &Admin,
    query: UploadQuery,
    declared: Option<u64>,
    body: S,
) -> ApiResult<ReleaseView>
where
    S: Stream<Item = Result<axum::body::Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let limit = state.config.artifact_upload_limit;
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("An artifact may have at most {limit} bytes"),
        )
    };
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let tenant = admin.tenant();
    let scope = scope_of(&query.module, &query.platform, query.channel.as_deref());
    let version = query.version.trim();
    if store::release_exists(state.db.read(), tenant, &scope, version).await? {
        drain(body, DRAIN_LIMIT).await;
        return Err(duplicate(&scope, version));
    }
    let key = upload_key(tenant, &scope, version);
    let path = Path::parse(&key).map_err(ApiError::internal)?;
    let stored = match state.blob.put_stream(&path, body, limit).await {
        Ok(stored) => stored,
        Err(PutError::TooLarge(_)) => return Err(too_large()),
        Err(PutError::Body(e)) => {
            return Err(ApiError::bad_request(format!(
                "The upload did not arrive whole: {e}"
            )));
        }
        Err(PutError::Store(e)) => return Err(blob_failed(e)),
    };
    let forget = async || {
        if let Err(e) = state.blob.delete(&path).await {
            tracing::warn!(error = %e, %key, "removing a refused upload failed");
        }
    };
    if stored.size == 0 {
        forget().await;
        return Err(ApiError::bad_request("The file is empty"));
    }
    let status = query.status.unwrap_or_default();
    let new = NewRelease {
        scope: &scope,
        version,
        object_key: &key,
        sha256: &stored.sha256,
        size_bytes: stored.size as i64,
        status: status.as_str(),
        actor: admin.caller(),
        now: now_ms(),
    };
    match insert_release(state, admin, new).await {
        Ok(row) => Ok(release_view(row)),
        Err(e) => {
            forget().await;
            Err(e)
        }
    }
}

/// Register an object already in the store (uploaded by other means): it must exist under
/// the tenant's prefix with the declared size, and with `verify_sha256` the declared hash.
pub async fn register(
    state: &AppState,
    admin: &Admin,
    req: RegisterReleaseRequest,
) -> ApiResult<ReleaseView> {
    let tenant = admin.tenant();
    let (key, path) = check_object_key(tenant, &req.object_key)?;
    let scope = scope_of(&req.module, &req.platform, req.channel.as_deref());
    let size = match state.blob.head(&path).await {
        Ok(Some(size)) => size,
        Ok(None) => {
            return Err(ApiError::new(
                ErrorCode::ArtifactObjectNotFound,
                format!("No object {key} in the blob store"),
            ));
        }
        Err(e) => return Err(blob_failed(e)),
    };
    if size != req.size_bytes {
        return Err(ApiError::field(
            "size_bytes",
            format!("the object has {size} bytes"),
        ));
    }
    let sha256 = req.sha256.to_ascii_lowercase();
    if req.verify_sha256 == Some(true) {
        match state.blob.sha256(&path).await {
            Ok(Some(actual)) if actual == sha256 => {}
            Ok(Some(actual)) => {
                return Err(ApiError::field(
                    "sha256",
                    format!("the object's SHA-256 is {actual}"),
                ));
            }
            Ok(None) => {
                return Err(ApiError::new(
                    ErrorCode::ArtifactObjectNotFound,
                    format!("No object {key} in the blob store"),
                ));
            }
            Err(e) => return Err(blob_failed(e)),
        }
    }
    let new = NewRelease {
        scope: &scope,
        version: req.version.trim(),
        object_key: &key,
        sha256: &sha256,
        size_bytes: size as i64,
        status: req.status.unwrap_or_default().as_str(),
        actor: admin.caller(),
        now: now_ms(),
    };
    Ok(release_view(insert_release(state, admin, new).await?))
}

/// A page of the tenant's releases, newest first.
pub async fn list(
    state: &AppState,
    admin: &Admin,
    q: ListReleasesQuery,
) -> ApiResult<(Vec<ReleaseView>, u64, u64, u64)> {
    let (page, limit) = Paging {
        page: q.page,
        limit: q.limit,
    }
    .resolve()?;
    let blank = |s: Option<String>| s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let filter = ReleaseFilter {
        module: blank(q.module),
        platform: blank(q.platform).map(|p| p.to_lowercase()),
        channel: blank(q.channel).map(|c| c.to_lowercase()),
        status: q.status.map(|s| s.as_str().to_owned()),
    };
    let (rows, total) =
        store::list_releases(state.db.read(), admin.tenant(), &filter, page, limit).await?;
    Ok((
        rows.into_iter().map(release_view).collect(),
        total,
        page,
        limit,
    ))
}

pub async fn set_status(
    state: &AppState,
    admin: &Admin,
    id: i64,
    status: ReleaseStatus,
) -> ApiResult<ReleaseView> {
    let tenant = admin.tenant();
    let row = state
        .db
        .write(async |txn| {
            let found = store::set_release_status(
                txn,
                tenant,
                id,
                status.as_str(),
                admin.caller(),
                now_ms(),
            )
            .await?;
            if !found {
                return Err(release_not_found());
            }
            store::get_release(txn, tenant, id)
                .await?
                .ok_or_else(release_not_found)
        })
        .await?;
    Ok(release_view(row))
}

/// Delete a release and its object; 409 `IN_USE` while any assignment names it.
pub async fn delete(state: &AppState, admin: &Admin, id: i64) -> ApiResult<ReleaseView> {
    let tenant = admin.tenant();
    let in_use = |n: u64| {
        ApiError::new(
            ErrorCode::InUse,
            "The release is assigned; assign another release first",
        )
        .with_details(serde_json::json!({ "references": { "assignments": n } }))
    };
    let deleted = state
        .db
        .write(async |txn| {
            let row = store::get_release(txn, tenant, id)
                .await?
                .ok_or_else(release_not_found)?;
            let n = store::count_assignments_of(txn, tenant, id).await?;
            if n > 0 {
                return Err(in_use(n));
            }
            match store::delete_release(txn, tenant, id).await {
                Ok(_) => Ok(row),
                // An assignment written meanwhile (the foreign key refuses the delete).
                Err(StoreError::Db(e))
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
                    ) =>
                {
                    Err(in_use(1))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await?;
    if let Ok(path) = Path::parse(&deleted.object_key)
        && let Err(e) = state.blob.delete(&path).await
    {
        tracing::warn!(error = %e, key = %deleted.object_key, "removing a deleted release's object failed");
    }
    Ok(release_view(deleted))
}

/// Assign an active release to a user, or (no `user_id`) as the tenant default, replacing
/// the previous assignment of that scope in one statement.
pub async fn assign(
    state: &AppState,
    admin: &Admin,
    req: AssignRequest,
) -> ApiResult<AssignmentView> {
    let tenant = admin.tenant();
    let scope = scope_of(&req.module, &req.platform, req.channel.as_deref());
    let user_id = req.user_id.as_deref().map(str::trim).unwrap_or_default();
    let row = state
        .db
        .write(async |txn| {
            let release = store::get_release(txn, tenant, req.release_id)
                .await?
                .ok_or_else(release_not_found)?;
            let release_scope = Scope {
                module: release.module.clone(),
                platform: release.platform.clone(),
                channel: release.channel.clone(),
            };
            if release_scope != scope {
                return Err(ApiError::new(
                    ErrorCode::ArtifactScopeMismatch,
                    format!(
                        "Release {} is of {}/{}/{}, not {}/{}/{}",
                        release.id,
                        release.module,
                        release.platform,
                        release.channel,
                        scope.module,
                        scope.platform,
                        scope.channel
                    ),
                ));
            }
            if release.status != ReleaseStatus::Active.as_str() {
                return Err(ApiError::new(
                    ErrorCode::ArtifactReleaseNotActive,
                    format!("Release {} is {}, not active", release.id, release.status),
                ));
            }
            Ok(store::upsert_assignment(
                txn,
                tenant,
                user_id,
                &scope,
                release.id,
                admin.caller(),
                now_ms(),
            )
            .await?)
        })
        .await?;
    Ok(assignment_view(row))
}

/// The user's own assignment, the tenant default and the effective one (own, else default).
pub async fn effective(
    state: &AppState,
    admin: &Admin,
    user_id: &str,
    module: &str,
    q: AssignmentQuery,
) -> ApiResult<EffectiveAssignment> {
    let platform = q
        .platform
        .as_deref()
        .map(norm_lower)
        .filter(|p| !p.is_empty());
    let scope = Scope {
        module: norm_module(module),
        platform: platform.unwrap_or_else(|| DEFAULT_PLATFORM.to_owned()),
        channel: norm_channel(q.channel.as_deref()),
    };
    if scope.module.is_empty() {
        return Err(ApiError::field("module", "must be a non-empty string"));
    }
    let (own, default) =
        store::assignments_for(state.db.read(), admin.tenant(), user_id.trim(), &scope).await?;
    let own = own.map(assignment_view);
    let default = default.map(assignment_view);
    Ok(EffectiveAssignment {
        effective_assignment: own.clone().or_else(|| default.clone()),
        user_assignment: own,
        default_assignment: default,
    })
}

pub async fn list_assignments(
    state: &AppState,
    admin: &Admin,
    q: ListAssignmentsQuery,
) -> ApiResult<(Vec<AssignmentView>, u64, u64, u64)> {
    let (page, limit) = Paging {
        page: q.page,
        limit: q.limit,
    }
    .resolve()?;
    let module = q.module.as_deref().map(str::trim).filter(|m| !m.is_empty());
    let (rows, total) =
        store::list_assignments(state.db.read(), admin.tenant(), module, page, limit).await?;
    Ok((
        rows.into_iter().map(assignment_view).collect(),
        total,
        page,
        limit,
    ))
}

/// A page of the download audit, newest first.
pub async fn download_audit(
    state: &AppState,
    admin: &Admin,
    q: DownloadAuditQuery,
) -> ApiResult<(Vec<DownloadAuditView>, u64, u64, u64)> {
    let (page, limit) = Paging {
        page: q.page,
        limit: q.limit,
    }
    .resolve()?;
    let blank = |s: Option<String>| s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let filter = AuditFilter {
        vm_uuid: blank(q.vm_uuid).map(|v| v.to_lowercase()),
        module: blank(q.module),
        result: q.result.map(|r| r.as_str().to_owned()),
        user_id: blank(q.user_id),
        from: time_param("from", q.from)?,
        to: time_param("to", q.to)?,
    };
    let (rows, total) =
        store::list_audit(state.db.read(), admin.tenant(), &filter, page, limit).await?;
    Ok((
        rows.into_iter().map(audit_view).collect(),
        total,
        page,
        limit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_tenant() {
        let acme = TenantId::trusted("acme");
        let scope = scope_of("Bot/../x", "Windows", None);
        let key = upload_key(&acme, &scope, "..");
        assert!(
            key.starts_with("artifacts/acme/Bot____x/windows/stable/__/"),
            "{key}"
        );
        assert!(Path::parse(&key).is_ok(), "{key}");
        let ok = check_object_key(&acme, "/artifacts/acme/m/1.0/file.zip").unwrap();
        assert_eq!(ok.0, "artifacts/acme/m/1.0/file.zip");
        for bad in [
            "",
            "/",
            "artifacts/acme/../other/x",
            "artifacts/acme//x",
            "artifacts/other/x",
            "artifacts/acme/x/",
            "artifacts/acme/a\nb",
            "isos/x",
        ] {
            assert!(check_object_key(&acme, bad).is_err(), "{bad:?}");
        }
    }
}
