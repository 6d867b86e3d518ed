//! Rules of the VM registry: whose VM it is (the caller's, or for an admin any member's),
//! that registering never takes a VM from its owner unless an admin asks for it by name,
//! and that a VM leaving `active` or changing hands loses its leases and provisioning
//! tokens in the same transaction.

use botmox_proto::ErrorCode;
use botmox_proto::licensing::{
    RegisterVmRequest, UpdateVmRequest, VmListQuery, VmStatus, VmView, normalize_vm_uuid,
};

use super::store::{self, VmFilter};
use crate::clock::now_ms;
use crate::db::entity::vm_registry::Model;
use crate::db::{Db, TenantId};
use crate::http::{ApiError, ApiResult};
use crate::licensing::store::{Revocation, revoke_vm_leases};
use crate::principal::Auth;
use crate::provisioning::store::revoke_tokens;
use crate::users;

/// Whose VM or lease a request is for: the caller's own user (an API token acts for its
/// creator), or a member the caller names, which only admins may.
pub async fn acting_user(db: &Db, auth: &Auth, requested: Option<&str>) -> ApiResult<String> {
    let own = auth.user_id.as_deref();
    match requested.map(str::trim) {
        None => own
            .map(str::to_owned)
            .ok_or_else(|| ApiError::field("user_id", "is required: this caller acts for no user")),
        Some(user) if Some(user) == own => Ok(user.to_owned()),
        Some(user) => {
            if !auth.is_admin() {
                return Err(ApiError::forbidden("user_id override is not allowed"));
            }
            users::store::get_user(db.read(), auth.tenant(), user)
                .await?
                .ok_or_else(|| ApiError::field("user_id", "is not a user of this tenant"))?;
            Ok(user.to_owned())
        }
    }
}

fn uuid_of(raw: &str) -> ApiResult<String> {
    normalize_vm_uuid(raw).map_err(|p| ApiError::field("vm_uuid", p))
}

fn metadata_text(metadata: &serde_json::Map<String, serde_json::Value>) -> ApiResult<String> {
    serde_json::to_string(metadata).map_err(ApiError::internal)
}

/// Revoke the VM's active leases and provisioning tokens when it stops being active or
/// changes hands.
async fn settle_leases(
    txn: &impl sea_orm::ConnectionTrait,
    tenant: &TenantId,
    before: &Model,
    after: &Model,
    by: &str,
) -> ApiResult<()> {
    let reason = if before.user_id != after.user_id {
        "VM moved to another user"
    } else if after.status != VmStatus::Active {
        "VM deactivated"
    } else {
        return Ok(());
    };
    let how = Revocation {
        at: after.updated_at,
        by,
        reason: Some(reason),
    };
    revoke_vm_leases(txn, tenant, &after.vm_uuid, &how).await?;
    revoke_tokens(txn, tenant, &after.vm_uuid, None, after.updated_at, reason).await?;
    Ok(())
}

/// What registering did.
pub struct Registered {
    pub vm: VmView,
    pub created: bool,
    /// The previous owner, when an admin moved the VM.
    pub moved_from: Option<String>,
}

/// Register a VM, or update one of the acting user's. A VM of another user is refused
/// (403 `VM_OWNER_MISMATCH`), except for an admin who sends `reassign: true`.
pub async fn register(db: &Db, auth: &Auth, req: RegisterVmRequest) -> ApiResult<Registered> {
    let tenant = auth.tenant();
    let uuid = uuid_of(&req.vm_uuid)?;
    let owner = acting_user(db, auth, req.user_id.as_deref()).await?;
    let now = now_ms();
    db.write(async |txn| {
        let Some(before) = store::get_locked(txn, tenant, &uuid, true).await? else {
            let row = Model {
                tenant_id: tenant.as_str().into(),
                vm_uuid: uuid.clone(),
                user_id: owner.clone(),
                vm_name: req.vm_name.as_deref().unwrap_or_default().trim().into(),
                project_id: req.project_id.as_deref().unwrap_or_default().trim().into(),
                status: req.status.unwrap_or_default().into(),
                metadata: metadata_text(&req.metadata.clone().unwrap_or_default())?,
                created_at: now,
                updated_at: now,
            };
            let row = store::insert(txn, row).await?;
            return Ok(Registered {
                vm: row.view(),
                created: true,
                moved_from: None,
            });
        };
        let moved_from = (before.user_id != owner).then(|| before.user_id.clone());
        if moved_from.is_some() {
            if !auth.is_admin() {
                return Err(ApiError::new(
                    ErrorCode::VmOwnerMismatch,
                    "This VM is registered to another user",
                ));
            }
            if req.reassign != Some(true) {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "This VM is registered to another user; send \"reassign\": true to move it",
                ));
            }
        }
        let mut after = before.clone();
        after.user_id = owner.clone();
        if let Some(name) = &req.vm_name {
            after.vm_name = name.trim().into();
        }
        if let Some(project) = &req.project_id {
            after.project_id = project.trim().into();
        }
        if let Some(status) = req.status {
            after.status = status.into();
        }
        if let Some(metadata) = &req.metadata {
            after.metadata = metadata_text(metadata)?;
        }
        after.updated_at = now;
        let after = store::save(txn, after).await?;
        settle_leases(txn, tenant, &before, &after, auth.caller()).await?;
        Ok(Registered {
            vm: after.view(),
            created: false,
            moved_from,
        })
    })
    .await
}

/// The VM, if the caller may see it (its owner, or an admin); anyone else gets 404 as if
/// it did not exist.
pub async fn resolve(db: &Db, auth: &Auth, raw_uuid: &str) -> ApiResult<VmView> {
    let uuid = uuid_of(raw_uuid)?;
    let row = store::get(db.read(), auth.tenant(), &uuid).await?;
    visible(auth, row).map(Model::view)
}

fn visible(auth: &Auth, row: Option<Model>) -> ApiResult<Model> {
    row.filter(|r| auth.is_admin() || auth.user_id.as_deref() == Some(r.user_id.as_str()))
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "VM UUID not found"))
}

/// The registry: an admin's the tenant's (or one member's), anyone else's their own.
pub async fn list(
    db: &Db,
    auth: &Auth,
    query: &VmListQuery,
    page: u64,
    limit: u64,
) -> ApiResult<(Vec<VmView>, u64)> {
    let own = auth.user_id.clone().unwrap_or_else(|| auth.caller().into());
    let owner = if auth.is_admin() {
        query.user_id.as_deref()
    } else {
        Some(own.as_str())
    };
    let filter = VmFilter {
        owner,
        status: query.status,
        text: query.q.as_deref(),
    };
    let (rows, total) = store::list(db.read(), auth.tenant(), filter, page, limit).await?;
    Ok((rows.into_iter().map(Model::view).collect(), total))
}

/// Change a VM's name, project, status or metadata (its owner or an admin).
pub async fn update(
    db: &Db,
    auth: &Auth,
    raw_uuid: &str,
    req: UpdateVmRequest,
) -> ApiResult<VmView> {
    let tenant = auth.tenant();
    let uuid = uuid_of(raw_uuid)?;
    let now = now_ms();
    db.write(async |txn| {
        let before = visible(auth, store::get_locked(txn, tenant, &uuid, true).await?)?;
        let mut after = before.clone();
        if let Some(name) = &req.vm_name {
            after.vm_name = name.trim().into();
        }
        if let Some(project) = &req.project_id {
            after.project_id = project.trim().into();
        }
        if let Some(status) = req.status {
            after.status = status.into();
        }
        if let Some(metadata) = &req.metadata {
            after.metadata = metadata_text(metadata)?;
        }
        after.updated_at = now;
        let after = store::save(txn, after).await?;
        settle_leases(txn, tenant, &before, &after, auth.caller()).await?;
        Ok(after.view())
    })
    .await
}
