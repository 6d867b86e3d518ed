//! The caller of the two routes `START.ps1` calls with its provisioning token as bearer
//! (`POST /license/lease`, `POST /artifacts/resolve-download`): a user or API token as on
//! every route, or an active provisioning token, which acts for its user (never as an
//! admin) and only for its own VM. Everywhere else a provisioning token is no credential.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use botmox_proto::ErrorCode;
use botmox_proto::auth::{PrincipalType, Role};
use botmox_proto::licensing::normalize_vm_uuid;

use super::{service, token};
use crate::audit::AuditSlot;
use crate::auth::extract::bearer;
use crate::http::{ApiError, ApiResult};
use crate::principal::{Auth, Identity, Scope, TenantId};
use crate::state::AppState;

/// Who calls, and the one VM a provisioning token binds it to.
pub struct VmBearer {
    pub auth: Auth,
    /// The provisioning token's VM; `None` for any other caller.
    pub bound_vm: Option<String>,
}

impl VmBearer {
    /// 403 `VM_UUID_MISMATCH` when a provisioning token asks for another VM than its own.
    pub fn check_vm(&self, raw_vm_uuid: &str) -> ApiResult<()> {
        let Some(bound) = &self.bound_vm else {
            return Ok(());
        };
        let asked = normalize_vm_uuid(raw_vm_uuid).map_err(|p| ApiError::field("vm_uuid", p))?;
        if &asked != bound {
            return Err(ApiError::new(
                ErrorCode::VmUuidMismatch,
                "The provisioning token is bound to another VM",
            ));
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for VmBearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let refused = match Auth::from_request_parts(parts, state).await {
            Ok(auth) => {
                return Ok(Self {
                    auth,
                    bound_vm: None,
                });
            }
            Err(e) => e,
        };
        let Some(presented) = bearer(parts) else {
            return Err(refused);
        };
        if token::verify(&state.key, presented).is_err() {
            return Err(refused);
        }
        let row = service::token_principal(state, presented).await?;
        let auth = Auth::new(Identity {
            scope: Scope::new(
                TenantId::trusted(row.tenant_id.clone()),
                row.user_id.clone(),
                Role::User,
            ),
            kind: PrincipalType::User,
            source: "provisioning_token",
            user_id: Some(row.user_id.clone()),
            token_id: Some(row.id.clone()),
            session_id: None,
            email: None,
        });
        state.limits.per_principal.check(auth.caller_key())?;
        if let Some(slot) = parts.extensions.get::<AuditSlot>() {
            slot.set_principal(&auth);
        }
        Ok(Self {
            auth,
            bound_vm: Some(row.vm_uuid),
        })
    }
}
