//! Who is calling and in which tenant, as types every domain shares: [`TenantId`], which
//! every tenant-owned store function requires; [`Scope`] (tenant, caller, role) with the one
//! owner-or-admin rule; [`Auth`], the authenticated principal; and [`Admin`], the capability
//! that services of tenant administration demand in their signatures.
//!
//! The extractors that prove these from a request live with the sign-in rules (`auth`).

pub mod cache;

use std::sync::Arc;

use botmox_proto::auth::{Principal, PrincipalType, Role};

pub use crate::db::TenantId;
use crate::http::ApiError;

/// The tenant, the caller and the caller's role: what a service needs to decide.
#[derive(Debug, Clone)]
pub struct Scope {
    tenant: TenantId,
    /// The caller's stable id: a user id, or `token:<id>` for an API token. Shared, since
    /// the per-principal rate limit keys on it on every request.
    caller: Arc<str>,
    role: Role,
}

impl Scope {
    pub fn new(tenant: TenantId, caller: impl Into<Arc<str>>, role: Role) -> Self {
        Self {
            tenant,
            caller: caller.into(),
            role,
        }
    }

    /// The caller's id as the shared key of per-caller state (rate limits).
    pub fn caller_key(&self) -> &Arc<str> {
        &self.caller
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The caller's stable id, as shown in `whoami` and the audit log.
    pub fn caller(&self) -> &str {
        &self.caller
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The owner-or-admin rule: an admin acts on everything of the tenant, anyone else on
    /// what they own.
    pub fn may_act_on(&self, owner: Option<&str>) -> bool {
        self.is_admin() || owner == Some(&*self.caller)
    }

    /// Whose things a list shows: the caller's own, or (`None`) the whole tenant's for admins.
    pub fn own_only(&self) -> Option<&str> {
        (!self.is_admin()).then_some(&*self.caller)
    }
}

/// An authenticated principal: its [`Scope`] and how it was proven. It dereferences to
/// [`Identity`] and from there to the scope, so `auth.tenant()` and `auth.may_act_on(..)`
/// read as they mean. Cloning is one reference-count increment (every request clones the
/// cached principal).
#[derive(Debug, Clone)]
pub struct Auth(Arc<Identity>);

impl Auth {
    pub fn new(identity: Identity) -> Self {
        Self(Arc::new(identity))
    }
}

impl std::ops::Deref for Auth {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.0
    }
}

/// What an [`Auth`] knows of its caller.
#[derive(Debug)]
pub struct Identity {
    pub scope: Scope,
    pub kind: PrincipalType,
    /// `local`, `external` or `api_token`.
    pub source: &'static str,
    /// The user behind the request: the signed-in user, or the creator of an API token
    /// (absent for a token nobody created, such as one made from the command line).
    pub user_id: Option<String>,
    pub token_id: Option<String>,
    pub session_id: Option<String>,
    pub email: Option<String>,
}

impl std::ops::Deref for Identity {
    type Target = Scope;

    fn deref(&self) -> &Scope {
        &self.scope
    }
}

impl Auth {
    pub fn principal(&self) -> Principal {
        Principal {
            source: self.source.into(),
            kind: self.kind,
            uid: self.scope.caller.to_string(),
            email: self.email.clone(),
            tenant_id: self.scope.tenant.as_str().to_owned(),
            roles: vec![self.scope.role],
        }
    }

    /// The admin capability, or 403 for anyone else.
    pub fn admin(&self) -> Result<Admin, ApiError> {
        Admin::try_from(self.clone())
    }
}

/// An admin of its tenant: only [`Admin::try_from`] (or its extractor) makes one, so a
/// service that takes `&Admin` cannot be reached by anyone else.
#[derive(Debug, Clone)]
pub struct Admin(Auth);

impl TryFrom<Auth> for Admin {
    type Error = ApiError;

    fn try_from(auth: Auth) -> Result<Self, ApiError> {
        if auth.is_admin() {
            Ok(Self(auth))
        } else {
            Err(ApiError::forbidden(
                "Role 'admin' is required for this endpoint",
            ))
        }
    }
}

impl std::ops::Deref for Admin {
    type Target = Auth;

    fn deref(&self) -> &Auth {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(role: Role) -> Scope {
        Scope::new(TenantId::trusted("t"), "u1", role)
    }

    #[test]
    fn owners_and_admins_may_act_and_only_admins_see_the_tenant() {
        let user = scope(Role::User);
        assert!(user.may_act_on(Some("u1")));
        assert!(!user.may_act_on(Some("u2")));
        assert!(!user.may_act_on(None));
        assert_eq!(user.own_only(), Some("u1"));
        let admin = scope(Role::Admin);
        assert!(admin.may_act_on(Some("u2")) && admin.may_act_on(None));
        assert_eq!(admin.own_only(), None);
        // Infra is privileged for infrastructure, not an admin of the tenant.
        assert!(!scope(Role::Infra).may_act_on(Some("u2")));
    }
}
