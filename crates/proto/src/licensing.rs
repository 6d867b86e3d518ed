//! The VM registry, tenant licences, entitlements and execution leases (spec api.md §10-11,
//! security §4-5), as they go over the wire. Times are epoch milliseconds, as in the
//! reference.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::validate::{FieldErrors, Validate, lenient_opt};

const ID_CHARS: usize = 200;
const METADATA_BYTES: usize = 16 * 1024;
/// Most modules one entitlement lists.
pub const MAX_MODULES: usize = 200;

/// A VM UUID as every route keys it: trimmed, lower-cased, 8 to 128 of `[a-z0-9:_-]`.
/// `Err` says what is wrong, for a 400.
pub fn normalize_vm_uuid(raw: &str) -> Result<String, String> {
    let uuid = raw.trim().to_ascii_lowercase();
    let ok = (8..=128).contains(&uuid.len())
        && uuid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
    if ok {
        Ok(uuid)
    } else {
        Err("must be 8 to 128 characters of letters, digits, ':', '_' or '-'".into())
    }
}

/// The `{uuid}` of the `/vm/{uuid}/...` routes.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VmPath {
    /// The VM UUID, any case (surrounding blanks are trimmed away).
    #[param(
        pattern = r"^\s*[A-Za-z0-9:_-]{8,128}\s*$",
        example = "4c4c4544-0042-3510-8052-b4c04f565931"
    )]
    pub uuid: String,
}

fn check_vm_uuid(e: &mut FieldErrors, field: &str, raw: &str) {
    if let Err(problem) = normalize_vm_uuid(raw) {
        e.add(field, problem);
    }
}

/// A field that may be absent (leave as is), `null` (clear) or a value.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// [`nullable`] for a whole number, which JSON may also write as `5.0` or `"5"`.
fn nullable_whole<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    lenient_opt(d).map(Some)
}

/// Where a VM is in the registry. Only `active` VMs get leases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VmStatus {
    #[default]
    Active,
    Paused,
    /// Deactivated: its leases were revoked and it gets no new ones.
    Revoked,
}

wire_words!(
    VmStatus,
    "VM status",
    [Active = "active", Paused = "paused", Revoked = "revoked"]
);

/// `POST /vm/register`: add a VM to the registry, or update one the caller owns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegisterVmRequest {
    /// The VM's SMBIOS UUID (stored lower-case).
    #[schema(
        min_length = 8,
        max_length = 128,
        example = "4c4c4544-0042-3510-8052-b4c04f565931"
    )]
    pub vm_uuid: String,
    /// Owner: default the caller. Naming another user is for admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, pattern = "\\S")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, example = "WIN-042")]
    pub vm_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100, example = "wow_tbc")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VmStatus>,
    /// Free-form facts (at most 16 KiB of JSON), e.g. `{"vmid": 105, "node": "h1"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// An admin moving a VM that another user owns: must be `true`, so an ownership change
    /// is never a side effect (it is audited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassign: Option<bool>,
}

impl Validate for RegisterVmRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        check_vm_uuid(&mut e, "vm_uuid", &self.vm_uuid);
        if let Some(user) = &self.user_id {
            e.required_text("user_id", user, ID_CHARS);
        }
        e.max_chars("vm_name", self.vm_name.as_deref(), 200);
        e.max_chars("project_id", self.project_id.as_deref(), 100);
        e.json_within("metadata", self.metadata.as_ref(), METADATA_BYTES);
        e.into_result()
    }
}

/// `PATCH /vm/{uuid}`: change what the registry says of a VM (its owner stays).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpdateVmRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub vm_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub project_id: Option<String>,
    /// `revoked` also revokes the VM's active leases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VmStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl Validate for UpdateVmRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("vm_name", self.vm_name.as_deref(), 200);
        e.max_chars("project_id", self.project_id.as_deref(), 100);
        e.json_within("metadata", self.metadata.as_ref(), METADATA_BYTES);
        e.into_result()
    }
}

/// A VM of the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VmView {
    pub tenant_id: String,
    pub vm_uuid: String,
    /// The owner.
    pub user_id: String,
    pub vm_name: String,
    pub project_id: String,
    pub status: VmStatus,
    pub metadata: Map<String, Value>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The same times again, under the names the reference also answered with.
    pub created_at: i64,
    pub updated_at: i64,
}

/// `GET /vm`: filters of the registry list (admins see the tenant's VMs, others their own).
#[derive(
    Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
pub struct VmListQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VmStatus>,
    /// Owner (admins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Part of the UUID, name or project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
}

impl Validate for VmListQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("user_id", self.user_id.as_deref(), ID_CHARS);
        e.max_chars("q", self.q.as_deref(), 200);
        e.into_result()
    }
}

/// Kind of a tenant licence: `perpetual` and `alltime` never expire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LicenseType {
    #[default]
    Subscription,
    Trial,
    Perpetual,
    Alltime,
}

wire_words!(
    LicenseType,
    "licence type",
    [
        Subscription = "subscription",
        Trial = "trial",
        Perpetual = "perpetual",
        Alltime = "alltime"
    ]
);

impl LicenseType {
    /// Whether licences of this type ignore `expires_at`.
    pub fn never_expires(self) -> bool {
        matches!(self, Self::Perpetual | Self::Alltime)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LicenseStatus {
    #[default]
    Active,
    Expired,
    Revoked,
}

wire_words!(
    LicenseStatus,
    "licence status",
    [Active = "active", Expired = "expired", Revoked = "revoked"]
);

/// `POST /license/tenant-licenses` (admins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateLicenseRequest {
    /// Default `subscription`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub license_type: Option<LicenseType>,
    /// Default `active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LicenseStatus>,
    /// Epoch ms; required unless the type never expires.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1, maximum = 8_000_000_000_000_000i64)]
    pub expires_at: Option<i64>,
    /// Seats: the most leases it backs at once (`null`: no limit).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_leases: Option<u32>,
    /// A personal licence of this user; absent for one that covers the whole tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl Validate for CreateLicenseRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        let kind = self.license_type.unwrap_or_default();
        e.in_range("expires_at", self.expires_at, 1, crate::time::MAX_MS);
        e.check(
            "expires_at",
            kind.never_expires() || self.expires_at.is_some(),
            format!("is required for a {kind} licence"),
        );
        e.in_range("max_leases", self.max_leases, 1, 1_000_000);
        if let Some(user) = &self.user_id {
            e.required_text("user_id", user, ID_CHARS);
        }
        e.json_within("metadata", self.metadata.as_ref(), METADATA_BYTES);
        e.into_result()
    }
}

/// `PATCH /license/tenant-licenses/{id}` (admins): `null` clears `expires_at`, `max_leases`
/// or `user_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpdateLicenseRequest {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub license_type: Option<LicenseType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LicenseStatus>,
    #[serde(
        default,
        deserialize_with = "nullable_whole",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 8_000_000_000_000_000i64)]
    pub expires_at: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "nullable_whole",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub max_leases: Option<Option<u32>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub user_id: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl Validate for UpdateLicenseRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.in_range(
            "expires_at",
            self.expires_at.flatten(),
            1,
            crate::time::MAX_MS,
        );
        e.in_range("max_leases", self.max_leases.flatten(), 1, 1_000_000);
        if let Some(Some(user)) = &self.user_id {
            e.required_text("user_id", user, ID_CHARS);
        }
        e.json_within("metadata", self.metadata.as_ref(), METADATA_BYTES);
        e.into_result()
    }
}

/// A tenant licence with its seats in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LicenseView {
    pub id: String,
    pub tenant_id: String,
    #[serde(rename = "type")]
    pub license_type: LicenseType,
    pub status: LicenseStatus,
    pub expires_at: Option<i64>,
    pub max_leases: Option<u32>,
    /// `null`: the licence covers every user of the tenant.
    pub user_id: Option<String>,
    pub metadata: Map<String, Value>,
    /// Leases it backs now (active and unexpired).
    pub active_leases: u64,
    /// Whether it grants leases now: active and not past its expiry.
    pub effective: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The modules an entitlement allows: a list of names, or the reference's map
/// `{"name": true, "*": true}` (`*` allows every module). Read either way, written as a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Modules(pub Vec<String>);

/// The list form, with the bounds [`SetEntitlementRequest`] checks.
impl utoipa::PartialSchema for Modules {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(ID_CHARS)),
            )
            .max_items(Some(MAX_MODULES))
            .examples([serde_json::json!(["runner", "updater"])])
            .into()
    }
}

impl ToSchema for Modules {}

impl<'de> Deserialize<'de> for Modules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            List(Vec<String>),
            Map(std::collections::BTreeMap<String, bool>),
        }
        let names = match Shape::deserialize(d).map_err(|_| {
            serde::de::Error::custom("must be a list of module names or a map of name to true")
        })? {
            Shape::List(names) => names,
            Shape::Map(map) => map
                .into_iter()
                .filter(|(_, on)| *on)
                .map(|(n, _)| n)
                .collect(),
        };
        let mut names: Vec<String> = names.into_iter().map(|n| n.trim().to_owned()).collect();
        names.sort();
        names.dedup();
        Ok(Self(names))
    }
}

impl Modules {
    /// Whether `module` is allowed (exactly, or through `*`).
    pub fn allows(&self, module: &str) -> bool {
        self.0.iter().any(|m| m == "*" || m == module)
    }
}

/// `POST /license/entitlements` (admins): set (replace) the modules of a user, or the
/// tenant's default when `user_id` is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SetEntitlementRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, pattern = "\\S")]
    pub user_id: Option<String>,
    pub modules: Modules,
}

impl Validate for SetEntitlementRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Some(user) = &self.user_id {
            e.required_text("user_id", user, ID_CHARS);
        }
        e.text_list("modules", Some(&self.modules.0), MAX_MODULES, ID_CHARS);
        e.check(
            "modules",
            self.modules.0.iter().all(|m| !m.is_empty()),
            "module names must not be blank",
        );
        e.into_result()
    }
}

/// An entitlement: a user's, or (`user_id` null) the tenant's default for users without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EntitlementView {
    pub tenant_id: String,
    pub user_id: Option<String>,
    pub modules: Vec<String>,
    pub updated_at: i64,
    pub updated_by: Option<String>,
}

/// `DELETE /license/entitlements` query: whose entitlement (absent: the tenant default).
#[derive(
    Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
pub struct EntitlementKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl Validate for EntitlementKey {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Some(user) = &self.user_id {
            e.required_text("user_id", user, ID_CHARS);
        }
        e.into_result()
    }
}

/// `POST /license/lease`: a lease for one module on one registered VM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseRequest {
    #[schema(pattern = r"^\s*[A-Za-z0-9:_-]{8,128}\s*$")]
    pub vm_uuid: String,
    /// Whose licence and entitlement: default the caller; another user's for admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, pattern = "\\S")]
    pub user_id: Option<String>,
    #[schema(max_length = 200, example = "agent-1")]
    pub agent_id: String,
    #[schema(max_length = 200, example = "runner-1")]
    pub runner_id: String,
    #[schema(max_length = 200, example = "runner")]
    pub module: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub version: Option<String>,
}

impl Validate for LeaseRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        check_vm_uuid(&mut e, "vm_uuid", &self.vm_uuid);
        if let Some(user) = &self.user_id {
            e.required_text("user_id", user, ID_CHARS);
        }
        e.required_text("agent_id", &self.agent_id, ID_CHARS);
        e.required_text("runner_id", &self.runner_id, ID_CHARS);
        e.required_text("module", &self.module, ID_CHARS);
        e.max_chars("version", self.version.as_deref(), 100);
        e.into_result()
    }
}

/// Answer of `POST /license/lease` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IssuedLease {
    pub lease_id: String,
    /// The signed lease token (a JWS with a `kid`), shown only here.
    pub token: String,
    /// Epoch ms; heartbeats move it forward.
    pub expires_at: i64,
    pub tenant_id: String,
    pub user_id: String,
    pub vm_uuid: String,
    pub module: String,
    pub license_id: String,
}

/// `POST /license/heartbeat`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseHeartbeatRequest {
    #[schema(max_length = 200, pattern = "\\S")]
    pub lease_id: String,
}

impl Validate for LeaseHeartbeatRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("lease_id", &self.lease_id, ID_CHARS);
        e.into_result()
    }
}

/// Answer of `POST /license/heartbeat`: the lease's new expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseHeartbeat {
    pub lease_id: String,
    pub status: LeaseStatus,
    pub expires_at: i64,
    pub last_heartbeat_at: i64,
}

/// `POST /license/revoke`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevokeLeaseRequest {
    #[schema(max_length = 200, pattern = "\\S")]
    pub lease_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

impl Validate for RevokeLeaseRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("lease_id", &self.lease_id, ID_CHARS);
        e.max_chars("reason", self.reason.as_deref(), 500);
        e.into_result()
    }
}

/// Answer of `POST /license/revoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseRevoked {
    pub lease_id: String,
    pub status: LeaseStatus,
    pub revoked_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeaseStatus {
    Active,
    Revoked,
    /// Lapsed without a heartbeat (the sweeper marks it; its seat was free from the moment
    /// it lapsed).
    Expired,
}

wire_words!(
    LeaseStatus,
    "lease status",
    [Active = "active", Revoked = "revoked", Expired = "expired"]
);

/// A lease as lists show it (never its token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseView {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub vm_uuid: String,
    pub module: String,
    pub version: Option<String>,
    pub agent_id: String,
    pub runner_id: String,
    pub license_id: String,
    /// `active` here means active and unexpired; a lapsed lease shows `expired` even before
    /// the sweeper marks it.
    pub status: LeaseStatus,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_heartbeat_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
}

/// `GET /license/leases` filters (admins see the tenant's leases, others their own).
#[derive(
    Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
pub struct LeaseListQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LeaseStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_id: Option<String>,
    /// Owner (admins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl Validate for LeaseListQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        for (field, value) in [
            ("vm_uuid", &self.vm_uuid),
            ("module", &self.module),
            ("license_id", &self.license_id),
            ("user_id", &self.user_id),
        ] {
            e.max_chars(field, value.as_deref(), ID_CHARS);
        }
        e.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vm_uuids_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            normalize_vm_uuid("4C4C4544 0042").unwrap_err(),
            "must be 8 to 128 characters of letters, digits, ':', '_' or '-'"
        );
        assert_eq!(
            normalize_vm_uuid(" ABCDEF12-x:y_z ").unwrap(),
            "abcdef12-x:y_z"
        );
        assert!(normalize_vm_uuid("short").is_err());
        assert!(normalize_vm_uuid(&"a".repeat(129)).is_err());
        assert!(normalize_vm_uuid("../../etc/passwd").is_err());
    }

    #[test]
    fn modules_read_as_list_or_map_and_allow_the_wildcard() {
        let list: Modules = serde_json::from_value(json!(["b", "a", "b"])).unwrap();
        assert_eq!(list.0, ["a", "b"]);
        assert!(list.allows("a") && !list.allows("c"));
        let map: Modules = serde_json::from_value(json!({"x": true, "y": false})).unwrap();
        assert_eq!(map.0, ["x"]);
        let all: Modules = serde_json::from_value(json!({"*": true})).unwrap();
        assert!(all.allows("anything"));
        assert!(serde_json::from_value::<Modules>(json!("runner")).is_err());
    }

    #[test]
    fn a_licence_that_can_expire_needs_an_expiry() {
        let sub = CreateLicenseRequest::default();
        assert!(sub.validate().unwrap_err().get("expires_at").is_some());
        let perpetual = CreateLicenseRequest {
            license_type: Some(LicenseType::Perpetual),
            ..Default::default()
        };
        assert!(perpetual.validate().is_ok());
        let patch: UpdateLicenseRequest =
            serde_json::from_value(json!({"max_leases": null, "user_id": "u1", "expires_at": 5.0}))
                .unwrap();
        assert_eq!(
            patch.expires_at,
            Some(Some(5)),
            "JSON may write a whole number as 5.0"
        );
        assert_eq!(patch.max_leases, Some(None));
        assert_eq!(patch.user_id, Some(Some("u1".into())));
    }
}
