//! The rules of provisioning. Profiles and playbooks belong to one user of one tenant, with
//! unique names and at most one default each (a partial unique index; the writes that move
//! a default hold the owner's row, so they take turns). The Windows password of a profile is
//! write-only. A payload is issued only for a VM the user owns and that is active in the
//! registry; issuing revokes the VM's earlier token in the same transaction, which also
//! holds the VM row, so a deactivation or move either waits for it (and revokes the new
//! token) or comes first (and the payload is refused).
//!
//! The VM-facing checks follow the reference's order and reasons (spec provisioning §6.2),
//! except its impossible "subscription gate" (a table that never existed, so every token
//! failed): here the last check is that the VM is still active in the registry and still
//! owned by the token's user, which is what deactivating or moving a VM means for its
//! provisioning.

use std::collections::BTreeMap;

use botmox_proto::ErrorCode;
use botmox_proto::licensing::{VmStatus, normalize_vm_uuid};
use botmox_proto::provisioning::{
    CreatePlaybookRequest, CreateProfileRequest, FINAL_STEP, IpConfig, PlaybookChoice,
    PlaybookValidation, PlaybookView, PreviewProfileRequest, ProfileConfig, ProfilePreview,
    ProfileView, ProgressStatus, ProgressView, ProvisionSoftware, ProvisionTokenStatus,
    ProvisionTokenView, ReportProgressRequest, TokenValidated, UpdatePlaybookRequest,
    UpdateProfileRequest,
};
use botmox_proto::{FieldErrors, Validate};
use serde_json::Value;

use super::store::{self, playbooks, profiles};
use super::token::{self, ProvisionClaims};
use crate::bus::events;
use crate::clock::now_ms;
use crate::config::BlobConfig;
use crate::db::entity::{
    playbook, provisioning_token as token_row, unattend_profile, vm_registry, vm_setup_progress,
};
use crate::db::{Db, StoreError, TenantId};
use crate::http::{ApiError, ApiResult};
use crate::keys::hash_secret;
use crate::principal::Auth;
use crate::state::AppState;

/// A write's failure: a unique index said no (a duplicate name), or anything else.
enum WriteError {
    Unique,
    Api(ApiError),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        if e.is_unique_violation() {
            Self::Unique
        } else {
            Self::Api(e.into())
        }
    }
}

impl From<ApiError> for WriteError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// The user a request acts for: its own user (an API token acts for its creator).
pub fn owner_of(auth: &Auth) -> ApiResult<&str> {
    auth.user_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("This caller acts for no user"))
}

fn duplicate_name() -> ApiError {
    ApiError::new(
        ErrorCode::DuplicateName,
        "A row with this name already exists",
    )
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The answer of a profile or playbook write: a unique violation is a duplicate name.
/// (Default flags cannot collide: their writes hold the owner's row, see
/// [`store::lock_owner`], so they take turns.)
fn settle<R>(outcome: Result<R, WriteError>) -> ApiResult<R> {
    match outcome {
        Ok(row) => Ok(row),
        Err(WriteError::Unique) => Err(duplicate_name()),
        Err(WriteError::Api(e)) => Err(e),
    }
}

// Profiles.

/// The profile without its password; `passwordSet` says whether one is stored.
fn profile_view(row: unattend_profile::Model) -> ApiResult<ProfileView> {
    let mut config: Value = serde_json::from_str(&row.config).map_err(ApiError::internal)?;
    let password = config
        .get_mut("user")
        .and_then(Value::as_object_mut)
        .and_then(|user| user.remove("password"));
    let password_set = password
        .as_ref()
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    Ok(ProfileView {
        id: row.id,
        tenant_id: row.tenant_id,
        user_id: row.user_id,
        name: row.name,
        is_default: row.is_default,
        config,
        password_set,
        created_at: crate::clock::iso(row.created_at),
        updated_at: crate::clock::iso(row.updated_at),
    })
}

fn config_text(config: &ProfileConfig) -> ApiResult<String> {
    serde_json::to_string(config).map_err(ApiError::internal)
}

fn stored_config(row: &unattend_profile::Model) -> ApiResult<ProfileConfig> {
    serde_json::from_str(&row.config).map_err(ApiError::internal)
}

fn profile_not_found() -> ApiError {
    ApiError::new(ErrorCode::ProfileNotFound, "Profile not found")
}

pub async fn list_profiles(db: &Db, auth: &Auth) -> ApiResult<Vec<ProfileView>> {
    let user = owner_of(auth)?;
    profiles::list(db.read(), auth.tenant(), user)
        .await?
        .into_iter()
        .map(profile_view)
        .collect()
}

pub async fn get_profile(db: &Db, auth: &Auth, id: &str) -> ApiResult<ProfileView> {
    let user = owner_of(auth)?;
    profiles::get(db.read(), auth.tenant(), user, id)
        .await?
        .ok_or_else(profile_not_found)
        .and_then(profile_view)
}

pub async fn create_profile(
    db: &Db,
    auth: &Auth,
    req: CreateProfileRequest,
) -> ApiResult<ProfileView> {
    let tenant = auth.tenant();
    let user = owner_of(auth)?;
    let name = req.name.trim().to_owned();
    let config = config_text(&req.config)?;
    let id = new_id();
    let now = now_ms();
    let outcome = db
        .write(async |txn| {
            if req.is_default {
                store::lock_owner(txn, tenant, user).await?;
                profiles::clear_default(txn, tenant, user, &id).await?;
            }
            let row = unattend_profile::Model {
                id: id.clone(),
                tenant_id: tenant.as_str().into(),
                user_id: user.into(),
                name: name.clone(),
                is_default: req.is_default,
                config: config.clone(),
                created_at: now,
                updated_at: now,
            };
            Ok::<_, WriteError>(profiles::insert(txn, row).await?)
        })
        .await;
    profile_view(settle(outcome)?)
}

/// Change a profile; a config without `user.password` keeps the stored password.
pub async fn update_profile(
    db: &Db,
    auth: &Auth,
    id: &str,
    req: UpdateProfileRequest,
) -> ApiResult<ProfileView> {
    let tenant = auth.tenant();
    let user = owner_of(auth)?;
    let new_config = req.parsed_config()?;
    let name = req.name.as_deref().map(str::trim);
    let outcome = db
        .write(async |txn| {
            if req.is_default == Some(true) {
                store::lock_owner(txn, tenant, user).await?;
            }
            let mut row = profiles::get(txn, tenant, user, id)
                .await?
                .ok_or_else(profile_not_found)?;
            if let Some(name) = name {
                row.name = name.to_owned();
            }
            if let Some((config, has_password)) = &new_config {
                let mut config = config.clone();
                if !has_password {
                    config.user.password = stored_config(&row)?.user.password;
                }
                row.config = config_text(&config)?;
            }
            if let Some(is_default) = req.is_default {
                if is_default {
                    profiles::clear_default(txn, tenant, user, id).await?;
                }
                row.is_default = is_default;
            }
            row.updated_at = now_ms();
            Ok::<_, WriteError>(profiles::save(txn, row).await?)
        })
        .await;
    profile_view(settle(outcome)?)
}

pub async fn delete_profile(db: &Db, auth: &Auth, id: &str) -> ApiResult<()> {
    let user = owner_of(auth)?;
    let deleted = db
        .write(async |txn| profiles::delete(txn, auth.tenant(), user, id).await)
        .await?;
    if deleted {
        Ok(())
    } else {
        Err(profile_not_found())
    }
}

/// What `config` makes for one VM (spec §3-4): its answer file and settings script, with
/// names drawn as for a real VM. Nothing is stored and no token is issued.
pub fn preview_profile(req: &PreviewProfileRequest) -> ApiResult<ProfilePreview> {
    let resolved = botmox_unattend::resolve(
        &req.config,
        Some(req.sequence.unwrap_or(1)),
        &mut rand::rngs::OsRng,
    )
    .map_err(unattend_error)?;
    let files = botmox_unattend::answer_files(&resolved, req.with_playbook)
        .into_iter()
        .map(|(name, bytes)| (name, String::from_utf8_lossy(&bytes).into_owned()))
        .collect();
    Ok(ProfilePreview {
        files,
        computer_name: resolved.computer_name,
        username: resolved.username,
    })
}

// Playbooks.

fn playbook_not_found() -> ApiError {
    ApiError::new(ErrorCode::PlaybookNotFound, "Playbook not found")
}

/// 422 `INVALID_PLAYBOOK` with `{errors, warnings}` unless `content` is a valid playbook.
fn check_playbook(content: &str) -> ApiResult<()> {
    let report = botmox_unattend::validate_playbook(content);
    if report.valid {
        return Ok(());
    }
    let message = report
        .errors
        .first()
        .map_or("invalid playbook", |e| e.message.as_str())
        .to_owned();
    Err(ApiError::new(ErrorCode::InvalidPlaybook, message)
        .with_details(serde_json::json!({"errors": report.errors, "warnings": report.warnings})))
}

pub fn validate_playbook(content: &str) -> PlaybookValidation {
    botmox_unattend::validate_playbook(content)
}

pub async fn list_playbooks(db: &Db, auth: &Auth) -> ApiResult<Vec<PlaybookView>> {
    let user = owner_of(auth)?;
    Ok(playbooks::list(db.read(), auth.tenant(), user)
        .await?
        .into_iter()
        .map(playbook::Model::view)
        .collect())
}

pub async fn get_playbook(db: &Db, auth: &Auth, id: &str) -> ApiResult<PlaybookView> {
    let user = owner_of(auth)?;
    playbooks::get(db.read(), auth.tenant(), user, id)
        .await?
        .map(playbook::Model::view)
        .ok_or_else(playbook_not_found)
}

pub async fn create_playbook(
    db: &Db,
    auth: &Auth,
    req: CreatePlaybookRequest,
) -> ApiResult<PlaybookView> {
    check_playbook(&req.content)?;
    let tenant = auth.tenant();
    let user = owner_of(auth)?;
    let name = req.name.trim().to_owned();
    let id = new_id();
    let now = now_ms();
    let outcome = db
        .write(async |txn| {
            if req.is_default {
                store::lock_owner(txn, tenant, user).await?;
                playbooks::clear_default(txn, tenant, user, &id).await?;
            }
            let row = playbook::Model {
                id: id.clone(),
                tenant_id: tenant.as_str().into(),
                user_id: user.into(),
                name: name.clone(),
                is_default: req.is_default,
                content: req.content.clone(),
                created_at: now,
                updated_at: now,
            };
            Ok::<_, WriteError>(playbooks::insert(txn, row).await?)
        })
        .await;
    Ok(settle(outcome)?.view())
}

pub async fn update_playbook(
    db: &Db,
    auth: &Auth,
    id: &str,
    req: UpdatePlaybookRequest,
) -> ApiResult<PlaybookView> {
    let tenant = auth.tenant();
    let user = owner_of(auth)?;
    if playbooks::get(db.read(), tenant, user, id).await?.is_none() {
        return Err(playbook_not_found());
    }
    if let Some(content) = &req.content {
        check_playbook(content)?;
    }
    let name = req.name.as_deref().map(str::trim);
    let outcome = db
        .write(async |txn| {
            if req.is_default == Some(true) {
                store::lock_owner(txn, tenant, user).await?;
            }
            let mut row = playbooks::get(txn, tenant, user, id)
                .await?
                .ok_or_else(playbook_not_found)?;
            if let Some(name) = name {
                row.name = name.to_owned();
            }
            if let Some(content) = &req.content {
                row.content = content.clone();
            }
            if let Some(is_default) = req.is_default {
                if is_default {
                    playbooks::clear_default(txn, tenant, user, id).await?;
                }
                row.is_default = is_default;
            }
            row.updated_at = now_ms();
            Ok::<_, WriteError>(playbooks::save(txn, row).await?)
        })
        .await;
    Ok(settle(outcome)?.view())
}

/// Delete a playbook; unlike the reference, an unknown id is a 404.
pub async fn delete_playbook(db: &Db, auth: &Auth, id: &str) -> ApiResult<()> {
    let user = owner_of(auth)?;
    let deleted = db
        .write(async |txn| playbooks::delete(txn, auth.tenant(), user, id).await)
        .await?;
    if deleted {
        Ok(())
    } else {
        Err(playbook_not_found())
    }
}

// Payloads.

/// Which profile a payload is made from.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileChoice {
    /// The user's default profile (400 when there is none).
    Default,
    /// One of the user's saved profiles, by id.
    Saved(String),
    /// A profile given whole.
    Inline(Box<ProfileConfig>),
}

/// What a VM's payload is made for.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadRequest {
    /// The VM's SMBIOS UUID, as registered (normalised here).
    pub vm_uuid: String,
    pub ip: IpConfig,
    pub profile: ProfileChoice,
    /// `None`: the user's default playbook, if any; `Some(PlaybookChoice::None)`: none.
    pub playbook: Option<PlaybookChoice>,
    /// The number of a `sequential` user-name suffix.
    pub sequence: Option<u32>,
}

/// A VM's config-ISO files and the token inside them.
#[derive(Debug, Clone)]
pub struct IssuedPayload {
    /// File name -> bytes (`autounattend.xml`, `setup.ps1`, `provision.json`, `START.ps1`,
    /// and `playbook.yml` when a playbook applies).
    pub files: BTreeMap<String, Vec<u8>>,
    pub token_id: String,
    pub token: String,
    /// Epoch ms.
    pub expires_at: i64,
    pub computer_name: String,
    pub username: String,
    /// Normalised.
    pub vm_uuid: String,
    pub playbook_id: Option<String>,
}

fn public_url_required(message: &str) -> ApiError {
    ApiError::new(ErrorCode::PublicUrlRequired, message)
}

/// The VM checks of issuing a token: registered in the tenant, owned by `user`, active.
fn check_vm(vm: Option<vm_registry::Model>, user: &str) -> ApiResult<vm_registry::Model> {
    let vm =
        vm.ok_or_else(|| ApiError::new(ErrorCode::VmNotRegistered, "VM UUID is not registered"))?;
    if vm.user_id != user {
        return Err(ApiError::new(
            ErrorCode::VmOwnerMismatch,
            "VM is registered to another user",
        ));
    }
    if vm.status != VmStatus::Active {
        return Err(ApiError::new(ErrorCode::VmInactive, "VM is not active"));
    }
    Ok(vm)
}

fn unattend_error(e: botmox_unattend::Error) -> ApiError {
    use botmox_unattend::Error as E;
    match e {
        E::Invalid(fields) => {
            let mut out = FieldErrors::new();
            out.merge_under("profile_config", fields);
            out.into()
        }
        E::SequenceRequired => ApiError::field("sequence", E::SequenceRequired.to_string()),
        E::NoPublicUrl | E::BadPublicUrl => public_url_required(&e.to_string()),
        E::InvalidInput(fields) => fields.into(),
        E::Rng(cause) => ApiError::internal(cause),
    }
}

/// What `START.ps1` leases and downloads: one entry per module with a Windows release
/// assigned to `user` (their own assignment over the tenant default; of several channels,
/// `stable` first), saved as `<module>.exe`. With a playbook, its runner module is marked,
/// and must be among them: a VM could not run the playbook otherwise.
async fn software_for(
    db: &Db,
    tenant: &TenantId,
    user: &str,
    playbook: Option<&playbook::Model>,
) -> ApiResult<Vec<ProvisionSoftware>> {
    let assignments =
        crate::artifacts::store::assignments_of_user(db.read(), tenant, user, "windows").await?;
    // module -> (channel, own); the user's own assignment wins, then `stable`.
    let mut chosen: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for a in assignments {
        let own = a.user_id == user;
        let better = match chosen.get(&a.module) {
            None => true,
            Some((channel, was_own)) => {
                (own, a.channel == "stable") > (*was_own, channel == "stable")
            }
        };
        if better {
            chosen.insert(a.module, (a.channel, own));
        }
    }
    let runner = playbook.map(|p| botmox_unattend::playbook_runner(&p.content));
    if let Some(runner) = &runner
        && !chosen.contains_key(runner)
    {
        return Err(ApiError::field(
            "playbook_id",
            format!(
                "the playbook's runner module '{runner}' has no Windows release assigned to you: assign one under Artifacts, or name another module as the playbook's `runner`"
            ),
        ));
    }
    let mut taken = std::collections::HashSet::new();
    Ok(chosen
        .into_iter()
        .map(|(module, (channel, _))| ProvisionSoftware {
            runner: runner.as_deref() == Some(module.as_str()),
            file: exe_name(&module, &mut taken),
            platform: "windows".to_owned(),
            args: None,
            channel,
            module,
        })
        .collect())
}

/// The file a module is saved as on the VM: `<module>.exe`, with what a file name of the ISO
/// and `C:\WindowsSetup` cannot hold (anything but letters, digits, `.`, `_`, `-`; modules
/// are free text) as `_`, made unique among `taken` (`-2`, `-3`, ...).
fn exe_name(module: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let stem: String = module
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let mut name = format!("{stem}.exe");
    let mut n = 1;
    while !taken.insert(name.to_ascii_lowercase()) {
        n += 1;
        name = format!("{stem}-{n}.exe");
    }
    name
}

/// Issue a provisioning token for a VM `user` owns in `tenant`'s registry and make the
/// VM's config-ISO files around it. The VM's earlier tokens stop working. This is the
/// payload of `POST /provisioning/generate-iso-payload` and of the VM-creation pipeline.
pub async fn issue_payload(
    state: &AppState,
    tenant: &TenantId,
    user: &str,
    req: PayloadRequest,
) -> ApiResult<IssuedPayload> {
    let config = &state.config;
    if !config.public_url_configured {
        return Err(public_url_required(
            "No public URL is configured: set the server's public_url (BOTMOX_PUBLIC_URL), the address provisioned VMs reach the server at",
        ));
    }
    let db = &state.db;
    let vm_uuid = normalize_vm_uuid(&req.vm_uuid).map_err(|p| ApiError::field("vm_uuid", p))?;
    if let Err(e) = req.ip.validate() {
        let mut out = FieldErrors::new();
        out.merge_under("ip", e);
        return Err(out.into());
    }
    // Refused early (the write below checks again, holding the VM).
    check_vm(
        crate::vm_registry::store::get(db.read(), tenant, &vm_uuid).await?,
        user,
    )?;
    let profile = match req.profile {
        ProfileChoice::Inline(config) => *config,
        ProfileChoice::Saved(id) => {
            let row = profiles::get(db.read(), tenant, user, id.trim())
                .await?
                .ok_or_else(profile_not_found)?;
            stored_config(&row)?
        }
        ProfileChoice::Default => {
            let row = profiles::default_of(db.read(), tenant, user)
                .await?
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "No profile was given and you have no default profile: send profile_id or profile_config, or mark a profile as default",
                    )
                })?;
            stored_config(&row)?
        }
    };
    let playbook = match req.playbook {
        Some(PlaybookChoice::None) => None,
        Some(PlaybookChoice::Id(id)) => Some(
            playbooks::get(db.read(), tenant, user, id.trim())
                .await?
                .ok_or_else(playbook_not_found)?,
        ),
        None => playbooks::default_of(db.read(), tenant, user).await?,
    };
    let software = software_for(db, tenant, user, playbook.as_ref()).await?;
    let resolved = botmox_unattend::resolve(&profile, req.sequence, &mut rand::rngs::OsRng)
        .map_err(unattend_error)?;

    let now = now_ms();
    let expires_at = now + config.provision_token_ttl as i64 * 1000;
    let token_id = new_id();
    let claims = ProvisionClaims::new(
        &token_id,
        tenant.as_str(),
        user,
        &vm_uuid,
        now / 1000,
        expires_at / 1000,
    );
    let token = token::sign(&state.key, &claims);
    let s3_endpoint = match &config.blob_store {
        BlobConfig::S3(s3) => s3.public_endpoint().unwrap_or_default().to_owned(),
        BlobConfig::Local(_) => String::new(),
    };
    let files = botmox_unattend::files(&botmox_unattend::Payload {
        resolved: &resolved,
        provision: botmox_unattend::ProvisionInput {
            vm_uuid: &vm_uuid,
            ip: &req.ip,
            token: &token,
            api_endpoint: Some(&config.public_url),
            s3_endpoint: &s3_endpoint,
            software: &software,
        },
        playbook: playbook.as_ref().map(|p| p.content.as_str()),
    })
    .map_err(unattend_error)?;
    let playbook_id = playbook.map(|p| p.id);

    db.write(async |txn| {
        // The VM, held until commit: a deactivation or move waits for this token (and then
        // revokes it) or comes first (and this payload is refused).
        check_vm(
            crate::vm_registry::store::get_locked(txn, tenant, &vm_uuid, true).await?,
            user,
        )?;
        store::revoke_tokens(
            txn,
            tenant,
            &vm_uuid,
            None,
            now,
            "replaced by a newer token",
        )
        .await?;
        store::insert_token(
            txn,
            token_row::Model {
                id: token_id.clone(),
                tenant_id: tenant.as_str().into(),
                user_id: user.into(),
                vm_uuid: vm_uuid.clone(),
                token_hash: hash_secret(&token),
                status: ProvisionTokenStatus::Active.into(),
                playbook_id: playbook_id.clone(),
                issued_at: now,
                expires_at,
                used_at: None,
                revoked_at: None,
                revoke_reason: None,
            },
        )
        .await?;
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(IssuedPayload {
        files,
        token_id,
        token,
        expires_at,
        computer_name: resolved.computer_name,
        username: resolved.username,
        vm_uuid,
        playbook_id,
    })
}

// Tokens.

/// The VM of the registry, if the caller may see it (its owner or an admin): 404 for
/// anyone else, as the registry answers.
async fn visible_vm(db: &Db, auth: &Auth, raw_uuid: &str) -> ApiResult<vm_registry::Model> {
    let uuid = normalize_vm_uuid(raw_uuid).map_err(|p| ApiError::field("vm_uuid", p))?;
    crate::vm_registry::store::get(db.read(), auth.tenant(), &uuid)
        .await?
        .filter(|vm| auth.is_admin() || auth.user_id.as_deref() == Some(vm.user_id.as_str()))
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "VM UUID not found"))
}

/// A VM's tokens, newest first (its owner or an admin).
pub async fn list_tokens(
    db: &Db,
    auth: &Auth,
    vm_uuid: &str,
) -> ApiResult<Vec<ProvisionTokenView>> {
    let vm = visible_vm(db, auth, vm_uuid).await?;
    let now = now_ms();
    Ok(store::tokens_of_vm(db.read(), auth.tenant(), &vm.vm_uuid)
        .await?
        .into_iter()
        .map(|t| t.view(now))
        .collect())
}

/// Revoke a token (its user, the VM's owner or an admin). Revoking a token that is no
/// longer active answers it as it is.
pub async fn revoke_token(db: &Db, auth: &Auth, id: &str) -> ApiResult<ProvisionTokenView> {
    let tenant = auth.tenant();
    let not_found = || ApiError::not_found("Provisioning token");
    let row = store::get_token(db.read(), tenant, id)
        .await?
        .ok_or_else(not_found)?;
    let vm_owner = crate::vm_registry::store::get(db.read(), tenant, &row.vm_uuid)
        .await?
        .map(|vm| vm.user_id);
    let own = auth.user_id.as_deref();
    let allowed =
        auth.is_admin() || own == Some(row.user_id.as_str()) || own == vm_owner.as_deref();
    if !allowed {
        return Err(not_found());
    }
    let now = now_ms();
    db.write(async |txn| {
        store::revoke_tokens(txn, tenant, &row.vm_uuid, Some(&row.id), now, "revoked").await
    })
    .await?;
    let after = store::get_token(db.read(), tenant, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(after.view(now))
}

// The VM's side.

fn token_invalid(reason: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::TokenInvalid, reason)
}

/// The checks of spec provisioning §6.2 in their order, each failure a 401 `TOKEN_INVALID`
/// with its reason; `allow_used` lets a used token through (an exact repeat of a report).
async fn check_token(
    state: &AppState,
    token: &str,
    raw_vm_uuid: &str,
    allow_used: bool,
) -> ApiResult<token_row::Model> {
    let token = token.trim();
    let claims = token::verify(&state.key, token)
        .map_err(|_| token_invalid("Invalid or expired token signature"))?;
    let vm_uuid = normalize_vm_uuid(raw_vm_uuid).map_err(|p| ApiError::field("vm_uuid", p))?;
    if claims.vm != vm_uuid {
        return Err(token_invalid("Token VM UUID mismatch"));
    }
    let tenant = TenantId::trusted(claims.tid.clone());
    let row = store::get_token(state.db.read(), &tenant, &claims.jti)
        .await?
        .filter(|row| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                hash_secret(token).as_bytes(),
                row.token_hash.as_bytes(),
            ))
        })
        .ok_or_else(|| token_invalid("Token not found in database"))?;
    let now = now_ms();
    match row.status.0 {
        ProvisionTokenStatus::Active => {}
        ProvisionTokenStatus::Used if allow_used => {}
        status => return Err(token_invalid(format!("Token status is \"{status}\""))),
    }
    if row.expires_at <= now {
        return Err(token_invalid("Token has expired"));
    }
    let vm = crate::vm_registry::store::get(state.db.read(), &tenant, &row.vm_uuid).await?;
    match vm {
        Some(vm) if vm.status == VmStatus::Active && vm.user_id == row.user_id => {}
        Some(vm) if vm.user_id != row.user_id => {
            return Err(token_invalid(
                "The VM is no longer owned by the token's user",
            ));
        }
        _ => return Err(token_invalid("The VM is not active in the registry")),
    }
    Ok(row)
}

/// An active token as the principal of the two routes `START.ps1` calls with it as its
/// bearer (`/license/lease`, `/artifacts/resolve-download`): its user, its tenant and the
/// one VM it may act for.
pub async fn token_principal(state: &AppState, token: &str) -> ApiResult<token_row::Model> {
    let claims = token::verify(&state.key, token.trim())
        .map_err(|_| ApiError::unauthorized("Token verification failed"))?;
    check_token(state, token, &claims.vm, false)
        .await
        .map_err(|e| ApiError::unauthorized(e.message))
}

pub async fn validate_token(
    state: &AppState,
    token: &str,
    vm_uuid: &str,
) -> ApiResult<TokenValidated> {
    let row = check_token(state, token, vm_uuid, false).await?;
    Ok(TokenValidated {
        valid: true,
        user_id: row.user_id,
        tenant_id: row.tenant_id,
        bootstrap_url: None,
        app_url: None,
    })
}

/// Record a VM's progress. An exact repeat of a stored report answers that report and
/// writes nothing; `completed`/`completed` marks the token used, once.
pub async fn report_progress(
    state: &AppState,
    req: ReportProgressRequest,
) -> ApiResult<ProgressView> {
    let row = check_token(state, &req.token, &req.vm_uuid, true).await?;
    let db = &state.db;
    let step = req.step.trim().to_owned();
    let details = serde_json::to_string(&req.details).map_err(ApiError::internal)?;
    let details_hash = hash_secret(&details);
    let same = store::find_report(db.read(), &row.id, &step, req.status, &details_hash);
    if let Some(existing) = same.await? {
        return Ok(existing.view());
    }
    if row.status == ProvisionTokenStatus::Used {
        return Err(token_invalid("Token status is \"used\""));
    }
    let tenant = TenantId::trusted(row.tenant_id.clone());
    let completes = step == FINAL_STEP && req.status == ProgressStatus::Completed;
    let now = now_ms();
    let report = vm_setup_progress::Model {
        id: new_id(),
        tenant_id: row.tenant_id.clone(),
        vm_uuid: row.vm_uuid.clone(),
        token_id: row.id.clone(),
        step: step.clone(),
        status: req.status.into(),
        details,
        details_hash: details_hash.clone(),
        created_at: now,
    };
    let outcome = db
        .write(async |txn| {
            // `None`: the token stopped being active meanwhile (another report completed it).
            if completes && !store::mark_used(txn, &tenant, &row.id, now).await? {
                return Ok(None);
            }
            let inserted = store::insert_report(txn, report.clone()).await?;
            let event = events::record_provisioning(
                txn,
                &inserted.tenant_id,
                &row.user_id,
                &serde_json::to_string(&inserted.clone().view()).map_err(ApiError::internal)?,
            )
            .await?;
            Ok::<_, WriteError>(Some((inserted, event)))
        })
        .await;
    match outcome {
        Ok(Some((inserted, event))) => {
            event.announce(&state.bus.hub);
            Ok(inserted.view())
        }
        Ok(None) | Err(WriteError::Unique) => {
            match store::find_report(db.read(), &row.id, &step, req.status, &details_hash).await? {
                Some(existing) => Ok(existing.view()),
                None => Err(token_invalid("Token is no longer active")),
            }
        }
        Err(WriteError::Api(e)) => Err(e),
    }
}

/// A VM's progress, oldest first: its owner's (or an admin's) to read; 404 for anyone else.
pub async fn progress(db: &Db, auth: &Auth, vm_uuid: &str) -> ApiResult<Vec<ProgressView>> {
    let vm = visible_vm(db, auth, vm_uuid).await?;
    Ok(store::progress_of_vm(db.read(), auth.tenant(), &vm.vm_uuid)
        .await?
        .into_iter()
        .map(vm_setup_progress::Model::view)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::exe_name;

    #[test]
    fn modules_are_saved_under_plain_unique_file_names() {
        let mut taken = Default::default();
        let names: Vec<String> = ["runner", "Farm Bot", "farm_bot", "модуль", "a/../b"]
            .iter()
            .map(|m| exe_name(m, &mut taken))
            .collect();
        assert_eq!(
            names,
            [
                "runner.exe",
                "Farm_Bot.exe",
                "farm_bot-2.exe",
                "______.exe",
                "a_.._b.exe"
            ]
        );
        for name in &names {
            assert!(
                botmox_proto::provisioning::is_plain_file_name(name),
                "{name}"
            );
        }
    }
}
