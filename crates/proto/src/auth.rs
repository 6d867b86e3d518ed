//! Accounts, sessions, principals, API tokens and the audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A member's role inside its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Works with the tenant's records.
    User,
    /// Runs the infrastructure: VMs, agents, provisioning.
    Infra,
    /// Manages the tenant: users, tokens, settings, audit.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Infra => "infra",
            Self::Admin => "admin",
        }
    }

    /// Ordering used when a principal hands out a token: nobody can grant more than they have.
    /// `infra` and `admin` are not comparable to each other, so only an admin grants `infra`.
    pub fn can_grant(self, other: Role) -> bool {
        match self {
            Self::Admin => true,
            Self::Infra => matches!(other, Role::User | Role::Infra),
            Self::User => other == Role::User,
        }
    }

    pub fn is_privileged(self) -> bool {
        matches!(self, Self::Admin | Self::Infra)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "infra" => Ok(Self::Infra),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown role '{other}' (expected user, infra or admin)"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /auth/login`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Answer of login and refresh.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `"Bearer"`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    pub refresh_token: String,
}

/// `POST /auth/refresh`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// What kind of credential a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalType {
    /// A signed-in person (local account or external JWT mapped to one).
    User,
    /// A long-lived API token.
    ApiToken,
}

/// The authenticated caller, as `GET /auth/whoami` returns it (spec api.md §2.4).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Principal {
    /// `local`, `external` or `api_token`: which credential proved the identity.
    pub source: String,
    #[serde(rename = "type")]
    pub kind: PrincipalType,
    /// User id, or `token:<id>` for an API token.
    pub uid: String,
    pub email: Option<String>,
    pub tenant_id: String,
    pub roles: Vec<Role>,
}

/// `GET /auth/verify`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyResult {
    pub valid: bool,
}

/// A member of the tenant, as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /users`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    #[schema(max_length = 254, pattern = "^[^\\s@]+@[^\\s@]+$")]
    pub email: String,
    /// At least 10 characters.
    #[schema(min_length = 10, format = Password)]
    pub password: String,
    pub role: Role,
}

/// `PATCH /users/{id}`: every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PatchUserRequest {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// At least 10 characters.
    #[schema(min_length = 10, format = Password)]
    pub password: Option<String>,
}

/// An API token as listed; the secret is never shown again after creation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenView {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// First characters of the secret, to recognise it.
    pub prefix: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `POST /tokens`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateApiTokenRequest {
    /// 1 to 100 characters, blanks around it trimmed.
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Answer of `POST /tokens`: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub view: ApiTokenView,
    pub token: String,
}

/// One row of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub tenant_id: Option<String>,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// `ok`, `denied` or `error`.
    pub result: String,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `GET /audit` filters and paging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Action, or its prefix (e.g. `auth.` or `user.create`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Actor id or e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// `ok`, `denied` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// From this time (inclusive, RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive, RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}
