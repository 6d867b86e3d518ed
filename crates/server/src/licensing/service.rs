//! The rules of licensing. Licences and entitlements are the admins'; a lease is issued
//! after the checks of spec §11 in a fixed order (VM, licence, entitlement, then a seat),
//! the seat taken in the same transaction that counts the seats, so concurrent requests can
//! never exceed a licence's limit. Heartbeats slide the expiry up to a hard cap; every use
//! of a token is checked against its lease row.

use botmox_proto::ErrorCode;
use botmox_proto::licensing::{
    CreateLicenseRequest, EntitlementKey, EntitlementView, IssuedLease, LeaseHeartbeat,
    LeaseHeartbeatRequest, LeaseListQuery, LeaseRequest, LeaseRevoked, LeaseStatus, LeaseView,
    LicenseView, Modules, RevokeLeaseRequest, SetEntitlementRequest, UpdateLicenseRequest,
    normalize_vm_uuid,
};

use super::store::{self, LeaseFilter, Revocation};
use super::token::{self, LeaseClaims, TokenProblem};
use crate::clock::now_ms;
use crate::db::entity::tenant_entitlement::{self as entitlement, TENANT_DEFAULT};
use crate::db::entity::{execution_lease as lease, tenant_license as license, vm_registry};
use crate::db::{Db, StoreError};
use crate::http::{ApiError, ApiResult};
use crate::keys::hash_secret;
use crate::principal::{Admin, Auth};
use crate::state::AppState;
use crate::users;
use crate::vm_registry::service::acting_user;

// Licences.

/// 400 unless `user` is a member of the admin's tenant.
async fn member(db: &Db, admin: &Admin, field: &str, user: &str) -> ApiResult<()> {
    users::store::get_user(db.read(), admin.tenant(), user)
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::field(field, "is not a user of this tenant"))
}

async fn license_view(db: &Db, row: license::Model, now: i64) -> ApiResult<LicenseView> {
    let in_use = store::seats_in_use(db.read(), &row.id, now).await?;
    Ok(row.view(in_use, now))
}

pub async fn create_license(
    db: &Db,
    admin: &Admin,
    req: CreateLicenseRequest,
) -> ApiResult<LicenseView> {
    let user_id = req.user_id.map(|u| u.trim().to_owned());
    if let Some(user) = &user_id {
        member(db, admin, "user_id", user).await?;
    }
    let now = now_ms();
    let row = license::Model {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: admin.tenant().as_str().into(),
        user_id,
        license_type: req.license_type.unwrap_or_default().into(),
        status: req.status.unwrap_or_default().into(),
        expires_at: req.expires_at,
        max_leases: req.max_leases.map(|m| m as i32),
        metadata: serde_json::to_string(&req.metadata.unwrap_or_default())
            .map_err(ApiError::internal)?,
        created_by: Some(admin.caller().into()),
        created_at: now,
        updated_at: now,
    };
    let row = db
        .write(async |txn| store::insert_license(txn, row).await)
        .await?;
    Ok(row.view(0, now))
}

pub async fn list_licenses(
    db: &Db,
    admin: &Admin,
    page: u64,
    limit: u64,
) -> ApiResult<(Vec<LicenseView>, u64)> {
    let now = now_ms();
    let (rows, total) = store::list_licenses(db.read(), admin.tenant(), page, limit).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let seats = store::seats_in_use_of(db.read(), &ids, now).await?;
    let views = rows
        .into_iter()
        .map(|row| {
            let in_use = seats.get(&row.id).copied().unwrap_or(0);
            row.view(in_use, now)
        })
        .collect();
    Ok((views, total))
}

/// Change a licence. One that stops granting (revoked, expired, or its expiry moved into
/// the past) takes its leases with it; a lower seat limit only refuses new leases.
pub async fn update_license(
    db: &Db,
    admin: &Admin,
    id: &str,
    req: UpdateLicenseRequest,
) -> ApiResult<LicenseView> {
    if let Some(Some(user)) = &req.user_id {
        member(db, admin, "user_id", user.trim()).await?;
    }
    let tenant = admin.tenant();
    let now = now_ms();
    let row = db
        .write(async |txn| {
            let mut row = store::get_license(txn, tenant, id, true)
                .await?
                .ok_or_else(|| ApiError::not_found("Licence"))?;
            if let Some(kind) = req.license_type {
                row.license_type = kind.into();
            }
            if let Some(status) = req.status {
                row.status = status.into();
            }
            if let Some(expires_at) = req.expires_at {
                row.expires_at = expires_at;
            }
            if let Some(max) = req.max_leases {
                row.max_leases = max.map(|m| m as i32);
            }
            if let Some(user) = req.user_id {
                row.user_id = user.map(|u| u.trim().to_owned());
            }
            if let Some(metadata) = req.metadata {
                row.metadata = serde_json::to_string(&metadata).map_err(ApiError::internal)?;
            }
            if !row.license_type.0.never_expires() && row.expires_at.is_none() {
                return Err(ApiError::field(
                    "expires_at",
                    format!("is required for a {} licence", row.license_type.0),
                ));
            }
            row.updated_at = now;
            let row = store::save_license(txn, row).await?;
            // The licence's leases follow it: all end when it stops granting, other users'
            // when it becomes personal, and none outlives its expiry.
            let how = Revocation {
                at: now,
                by: admin.caller(),
                reason: Some("licence no longer covers the lease"),
            };
            if !row.effective(now) {
                store::revoke_license_leases(txn, tenant, &row.id, None, &how).await?;
            } else if let Some(user) = &row.user_id {
                store::revoke_license_leases(txn, tenant, &row.id, Some(user), &how).await?;
            }
            if let Some(cap) = row.lease_cap() {
                store::cap_license_leases(txn, &row.id, cap).await?;
            }
            Ok::<_, ApiError>(row)
        })
        .await?;
    license_view(db, row, now).await
}

/// Delete a licence; the leases it backs are revoked with it.
pub async fn delete_license(db: &Db, admin: &Admin, id: &str) -> ApiResult<()> {
    let tenant = admin.tenant();
    let now = now_ms();
    db.write(async |txn| {
        let how = Revocation {
            at: now,
            by: admin.caller(),
            reason: Some("licence deleted"),
        };
        store::revoke_license_leases(txn, tenant, id, None, &how).await?;
        if store::delete_license(txn, tenant, id).await? {
            Ok(())
        } else {
            Err(ApiError::not_found("Licence"))
        }
    })
    .await
}

// Entitlements.

pub async fn set_entitlement(
    db: &Db,
    admin: &Admin,
    req: SetEntitlementRequest,
) -> ApiResult<EntitlementView> {
    let user = req.user_id.map(|u| u.trim().to_owned());
    if let Some(user) = &user {
        member(db, admin, "user_id", user).await?;
    }
    let row = entitlement::Model {
        tenant_id: admin.tenant().as_str().into(),
        user_id: user.unwrap_or_default(),
        modules: serde_json::to_string(&req.modules.0).map_err(ApiError::internal)?,
        updated_by: Some(admin.caller().into()),
        updated_at: now_ms(),
    };
    let view = row.clone().view();
    db.write(async |txn| store::put_entitlement(txn, row).await)
        .await?;
    Ok(view)
}

pub async fn list_entitlements(db: &Db, admin: &Admin) -> ApiResult<Vec<EntitlementView>> {
    Ok(store::list_entitlements(db.read(), admin.tenant())
        .await?
        .into_iter()
        .map(entitlement::Model::view)
        .collect())
}

pub async fn delete_entitlement(db: &Db, admin: &Admin, key: EntitlementKey) -> ApiResult<()> {
    let user = key.user_id.map(|u| u.trim().to_owned()).unwrap_or_default();
    let deleted = db
        .write(async |txn| store::delete_entitlement(txn, admin.tenant(), &user).await)
        .await?;
    if deleted {
        Ok(())
    } else {
        Err(ApiError::not_found("Entitlement"))
    }
}

// Leases.

fn refuse(code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(code, message)
}

/// The VM checks of a lease, in the reference's order.
fn check_vm(vm: Option<vm_registry::Model>, user: &str) -> ApiResult<()> {
    let vm = vm.ok_or_else(|| refuse(ErrorCode::VmNotRegistered, "VM UUID is not registered"))?;
    if vm.status != botmox_proto::licensing::VmStatus::Active {
        return Err(refuse(ErrorCode::VmInactive, "VM is not active"));
    }
    if vm.user_id != user {
        return Err(refuse(
            ErrorCode::VmOwnerMismatch,
            "VM is registered to another user",
        ));
    }
    Ok(())
}

/// Issue a lease: VM, licence, entitlement and seat checked in that order; the seat taken
/// while the licence row is locked.
pub async fn issue(state: &AppState, auth: &Auth, req: LeaseRequest) -> ApiResult<IssuedLease> {
    let db = &state.db;
    let tenant = auth.tenant();
    let vm_uuid = normalize_vm_uuid(&req.vm_uuid).map_err(|p| ApiError::field("vm_uuid", p))?;
    let user = acting_user(db, auth, req.user_id.as_deref()).await?;
    let module = req.module.trim().to_owned();
    let now = now_ms();

    check_vm(
        crate::vm_registry::store::get(db.read(), tenant, &vm_uuid).await?,
        &user,
    )?;
    let candidates: Vec<license::Model> = store::licenses_for(db.read(), tenant, &user)
        .await?
        .into_iter()
        .filter(|l| l.effective(now))
        .collect();
    if candidates.is_empty() {
        return Err(refuse(
            ErrorCode::LicenseInactive,
            "No active licence covers this user",
        ));
    }
    let entitled = match store::get_entitlement(db.read(), tenant, &user).await? {
        Some(own) => own,
        None => store::get_entitlement(db.read(), tenant, TENANT_DEFAULT)
            .await?
            .ok_or_else(|| {
                refuse(
                    ErrorCode::EntitlementRequired,
                    "The user has no entitlement to any module",
                )
            })?,
    };
    if !Modules(entitled.modules()).allows(&module) {
        return Err(refuse(
            ErrorCode::ModuleNotAllowed,
            "The entitlement does not allow this module",
        ));
    }

    let config = &state.config.lease;
    let lease_id = uuid::Uuid::new_v4().to_string();
    db.write(async |txn| {
        // The VM again, held until commit: a deactivation or move waits for this lease
        // (and then revokes it) or wins first (and this lease is refused).
        check_vm(
            crate::vm_registry::store::get_locked(txn, tenant, &vm_uuid, false).await?,
            &user,
        )?;
        for candidate in &candidates {
            let Some(lic) = store::get_license(txn, tenant, &candidate.id, true).await? else {
                continue;
            };
            let covers = lic.user_id.as_deref().is_none_or(|u| u == user);
            if !lic.effective(now) || !covers {
                continue;
            }
            if let Some(max) = lic.max_leases
                && store::seats_in_use(txn, &lic.id, now).await? >= max.max(0) as u64
            {
                continue;
            }
            let lifetime_cap = now + config.max_lifetime_secs as i64 * 1000;
            let max_expires_at = lic
                .lease_cap()
                .map_or(lifetime_cap, |c| c.min(lifetime_cap));
            let expires_at = (now + config.ttl_secs as i64 * 1000).min(max_expires_at);
            let claims = LeaseClaims::new(
                &lease_id,
                req.runner_id.trim(),
                tenant.as_str(),
                &user,
                &vm_uuid,
                &module,
                &lic.id,
                now / 1000,
                max_expires_at / 1000,
            );
            let (token, kid) = token::sign(&state.key, config, &claims);
            store::insert_lease(
                txn,
                lease::Model {
                    id: lease_id.clone(),
                    tenant_id: tenant.as_str().into(),
                    token_hash: hash_secret(&token),
                    kid,
                    status: LeaseStatus::Active.into(),
                    user_id: user.clone(),
                    vm_uuid: vm_uuid.clone(),
                    module: module.clone(),
                    version: req.version.as_deref().map(str::trim).map(str::to_owned),
                    agent_id: req.agent_id.trim().into(),
                    runner_id: req.runner_id.trim().into(),
                    license_id: lic.id.clone(),
                    created_at: now,
                    updated_at: now,
                    expires_at,
                    max_expires_at,
                    last_heartbeat_at: now,
                    revoked_at: None,
                    revoked_by: None,
                    revoke_reason: None,
                },
            )
            .await?;
            return Ok(IssuedLease {
                lease_id: lease_id.clone(),
                token,
                expires_at,
                tenant_id: tenant.as_str().into(),
                user_id: user.clone(),
                vm_uuid: vm_uuid.clone(),
                module: module.clone(),
                license_id: lic.id,
            });
        }
        Err(refuse(
            ErrorCode::LeaseLimitReached,
            "Every licence that covers this user has all its seats in use",
        ))
    })
    .await
}

/// The lease, if the caller may act on it (its owner, or an admin).
async fn own_lease(db: &Db, auth: &Auth, id: &str) -> ApiResult<lease::Model> {
    let row = store::get_lease(db.read(), auth.tenant(), id.trim())
        .await?
        .ok_or_else(|| refuse(ErrorCode::LeaseNotFound, "Lease not found"))?;
    if !auth.is_admin() && auth.user_id.as_deref() != Some(row.user_id.as_str()) {
        return Err(refuse(
            ErrorCode::LeaseOwnerMismatch,
            "The lease belongs to another user",
        ));
    }
    Ok(row)
}

/// 409 unless the lease is active and unexpired at `now`.
fn check_live(row: &lease::Model, now: i64) -> ApiResult<()> {
    match row.status_at(now) {
        LeaseStatus::Active => Ok(()),
        LeaseStatus::Expired => Err(refuse(ErrorCode::LeaseExpired, "The lease has expired")),
        LeaseStatus::Revoked => Err(refuse(ErrorCode::LeaseInactive, "The lease was revoked")),
    }
}

/// Extend a lease by the TTL from now, up to its hard cap (which never passes its licence's
/// expiry: a licence that stops granting revokes or caps its leases when it changes, so a
/// heartbeat is one conditional statement; with SQLite it goes through the direct writer,
/// which commits many together). A refusal says why.
pub async fn heartbeat(
    state: &AppState,
    auth: &Auth,
    req: LeaseHeartbeatRequest,
) -> ApiResult<LeaseHeartbeat> {
    let db = &state.db;
    let tenant = auth.tenant();
    let id = req.lease_id.trim();
    let now = now_ms();
    let until = now + state.config.lease.ttl_secs as i64 * 1000;
    let owner = (!auth.is_admin()).then(|| auth.user_id.as_deref().unwrap_or(auth.caller()));
    let extended = match db.direct() {
        Some(direct) => {
            let (tenant, id, owner) = (tenant.clone(), id.to_owned(), owner.map(str::to_owned));
            direct
                .write(move |conn| {
                    store::extend_lease_direct(conn, &tenant, &id, owner.as_deref(), until, now)
                })
                .await?
        }
        None => {
            db.write(async |txn| store::extend_lease(txn, tenant, id, owner, until, now).await)
                .await?
        }
    };
    match extended {
        Some(expires_at) => Ok(LeaseHeartbeat {
            lease_id: id.to_owned(),
            status: LeaseStatus::Active,
            expires_at,
            last_heartbeat_at: now,
        }),
        None => {
            // Not extended: say why, in the order of the checks.
            let row = own_lease(db, auth, id).await?;
            check_live(&row, now_ms())?;
            Err(refuse(
                ErrorCode::LeaseInactive,
                "The lease changed meanwhile",
            ))
        }
    }
}

/// Revoke a lease (its owner or an admin). Revoking a revoked lease answers as the first
/// revocation did.
pub async fn revoke(
    state: &AppState,
    auth: &Auth,
    req: RevokeLeaseRequest,
) -> ApiResult<LeaseRevoked> {
    let db = &state.db;
    let tenant = auth.tenant();
    let row = own_lease(db, auth, &req.lease_id).await?;
    let now = now_ms();
    let revoked_view = |row: &lease::Model| LeaseRevoked {
        lease_id: row.id.clone(),
        status: LeaseStatus::Revoked,
        revoked_at: row.revoked_at.unwrap_or(now),
    };
    if row.status == LeaseStatus::Revoked {
        return Ok(revoked_view(&row));
    }
    let how = Revocation {
        at: now,
        by: auth.caller(),
        reason: req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty()),
    };
    db.write(async |txn| store::revoke_lease(txn, tenant, &row.id, &how).await)
        .await?;
    let after = store::get_lease(db.read(), tenant, &row.id)
        .await?
        .ok_or_else(|| refuse(ErrorCode::LeaseNotFound, "Lease not found"))?;
    match after.status.0 {
        LeaseStatus::Revoked => Ok(revoked_view(&after)),
        _ => Err(refuse(
            ErrorCode::LeaseInactive,
            "The lease had already expired",
        )),
    }
}

/// Leases newest first: an admin's the tenant's, anyone else's their own.
pub async fn list_leases(
    db: &Db,
    auth: &Auth,
    query: LeaseListQuery,
    page: u64,
    limit: u64,
) -> ApiResult<(Vec<LeaseView>, u64)> {
    let own = auth.user_id.clone().unwrap_or_else(|| auth.caller().into());
    let owner = if auth.is_admin() {
        query.user_id.as_deref()
    } else {
        Some(own.as_str())
    };
    let vm_uuid = match &query.vm_uuid {
        Some(raw) => Some(normalize_vm_uuid(raw).map_err(|p| ApiError::field("vm_uuid", p))?),
        None => None,
    };
    let filter = LeaseFilter {
        owner,
        status: query.status,
        vm_uuid: vm_uuid.as_deref(),
        module: query.module.as_deref(),
        license_id: query.license_id.as_deref(),
    };
    let now = now_ms();
    let (rows, total) =
        store::list_leases(db.read(), auth.tenant(), filter, now, page, limit).await?;
    Ok((rows.into_iter().map(|r| r.view(now)).collect(), total))
}

/// A lease token checked as resolve-download needs it (spec security §2.4 steps 1-12), plus
/// what the reference skipped: the licence behind it must still grant.
#[derive(Debug, Clone)]
pub struct LeaseGrant {
    pub lease_id: String,
    /// The lease's owner.
    pub user_id: String,
    pub vm_uuid: String,
    pub module: String,
}

pub async fn lease_for_download(
    state: &AppState,
    auth: &Auth,
    token: &str,
    vm_uuid: &str,
    module: &str,
) -> Result<LeaseGrant, ApiError> {
    let token = token.trim();
    let claims = token::verify(&state.key, &state.config.lease, token).map_err(|p| match p {
        TokenProblem::Invalid => ApiError::unauthorized("Invalid lease token"),
        TokenProblem::Expired => refuse(ErrorCode::LeaseExpired, "The lease token has expired"),
    })?;
    let tenant = auth.tenant();
    let row = store::get_lease(state.db.read(), tenant, &claims.jti)
        .await?
        .ok_or_else(|| refuse(ErrorCode::LeaseNotFound, "Lease not found"))?;
    let presented = hash_secret(token);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        presented.as_bytes(),
        row.token_hash.as_bytes(),
    )) {
        return Err(ApiError::unauthorized("Lease token mismatch"));
    }
    let now = now_ms();
    check_live(&row, now)?;
    let vm_uuid = normalize_vm_uuid(vm_uuid).map_err(|p| ApiError::field("vm_uuid", p))?;
    if row.vm_uuid != vm_uuid {
        return Err(refuse(
            ErrorCode::VmUuidMismatch,
            "The lease was issued for another VM",
        ));
    }
    if row.module != module.trim() {
        return Err(refuse(
            ErrorCode::ModuleMismatch,
            "The lease was issued for another module",
        ));
    }
    let granting = store::get_license(state.db.read(), tenant, &row.license_id, false)
        .await?
        .is_some_and(|l| l.effective(now));
    if !granting {
        return Err(refuse(
            ErrorCode::LicenseInactive,
            "The licence behind this lease is no longer active",
        ));
    }
    Ok(LeaseGrant {
        lease_id: row.id,
        user_id: row.user_id,
        vm_uuid: row.vm_uuid,
        module: row.module,
    })
}

/// Mark lapsed leases expired (the periodic sweep).
pub async fn sweep(db: &Db) -> Result<(), StoreError> {
    let now = now_ms();
    db.write(async |txn| store::expire_lapsed(txn, now).await)
        .await
        .map(|_| ())
}
