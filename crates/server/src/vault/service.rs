//! The rules of the vault. Admins create, rotate and delete secrets and bindings (weakness
//! #17); tenant members read metadata; a secret's ciphertext goes only to its recipient, an
//! envelope at a time. Envelopes are accepted only for the tenant's current recipients, each
//! sealed to that recipient's current key, so nothing is stored that nobody can open. The
//! server checks shapes and key ids; it never holds a private key and never decrypts.

use std::collections::BTreeMap;

use botmox_proto::ErrorCode;
use botmox_proto::vault::{
    ALG, BindingQuery, BindingView, BoundSecret, CreateBindingRequest, CreateSecretRequest,
    Recipient, RecipientKey, RecipientRef, RotateSecretRequest, SealedEnvelope, SecretCiphertext,
    SecretMeta, VaultKeyRequest, decode_public_key, key_id,
};

use super::store;
use crate::clock::now_ms;
use crate::db::entity::{agent, vault_binding as binding, vault_envelope as envelope};
use crate::db::entity::{vault_secret as secret, vault_user_key as user_key};
use crate::db::{Db, TenantId};
use crate::http::{ApiError, ApiResult};
use crate::principal::{Admin, Auth};

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::SecretNotFound, "Secret not found")
}

/// Who may be handed a ciphertext: an agent, or the user behind a session or API token.
pub enum Reader<'a> {
    Agent(&'a agent::Model),
    Human(&'a Auth),
}

impl Reader<'_> {
    fn tenant(&self) -> TenantId {
        match self {
            Self::Agent(a) => TenantId::trusted(a.tenant_id.clone()),
            Self::Human(auth) => auth.tenant().clone(),
        }
    }

    /// The recipient this caller is, if it can be one.
    fn recipient(&self) -> Option<String> {
        match self {
            Self::Agent(a) => Some(Recipient::Agent(a.id.clone()).to_string()),
            Self::Human(auth) => auth
                .user_id
                .as_ref()
                .map(|u| Recipient::User(u.clone()).to_string()),
        }
    }
}

// Recipients.

/// The tenant's recipients: active agents with a vault key, then enabled users with one.
pub async fn recipients(db: &Db, tenant: &TenantId) -> ApiResult<Vec<RecipientKey>> {
    let mut out = Vec::new();
    for a in store::agent_keys(db.read(), tenant).await? {
        let Some(public_key) = a.vault_public_key else {
            continue;
        };
        let Ok(raw) = decode_public_key(&public_key) else {
            continue;
        };
        out.push(RecipientKey {
            recipient: Recipient::Agent(a.id).to_string(),
            name: a.name,
            key_id: key_id(&raw),
            public_key,
        });
    }
    for (k, email) in store::user_keys(db.read(), tenant).await? {
        out.push(user_recipient(k, email));
    }
    Ok(out)
}

fn user_recipient(k: user_key::Model, name: String) -> RecipientKey {
    RecipientKey {
        recipient: Recipient::User(k.user_id).to_string(),
        name,
        key_id: k.key_id,
        public_key: k.public_key,
    }
}

/// The user behind the caller (a session's, or an API token's creator).
fn user_of(auth: &Auth) -> ApiResult<&str> {
    auth.user_id.as_deref().ok_or_else(|| {
        ApiError::forbidden("Only a user (or an API token a user made) has a vault key")
    })
}

/// Register or replace the caller's vault public key.
pub async fn put_vault_key(db: &Db, auth: &Auth, req: VaultKeyRequest) -> ApiResult<RecipientKey> {
    let user = user_of(auth)?.to_owned();
    let public_key = req.public_key.trim().to_owned();
    let raw = decode_public_key(&public_key).map_err(|p| ApiError::field("public_key", p))?;
    let row = user_key::Model {
        tenant_id: auth.tenant().as_str().to_owned(),
        user_id: user,
        key_id: key_id(&raw),
        public_key,
        updated_at: now_ms(),
    };
    db.write(async |txn| store::put_user_key(txn, row.clone()).await)
        .await?;
    Ok(user_recipient(row, auth.email.clone().unwrap_or_default()))
}

/// The caller's vault public key (404 when none is registered).
pub async fn vault_key(db: &Db, auth: &Auth) -> ApiResult<RecipientKey> {
    let user = user_of(auth)?;
    let row = store::user_key(db.read(), auth.tenant(), user)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No vault key is registered"))?;
    Ok(user_recipient(row, auth.email.clone().unwrap_or_default()))
}

/// 400 unless every envelope is for a current recipient of the tenant; 409
/// `VAULT_KEY_MISMATCH` when one is sealed to a key the recipient no longer has.
async fn check_recipients(
    db: &Db,
    tenant: &TenantId,
    envelopes: &[SealedEnvelope],
) -> ApiResult<()> {
    let current: BTreeMap<String, String> = recipients(db, tenant)
        .await?
        .into_iter()
        .map(|r| (r.recipient, r.key_id))
        .collect();
    for (i, env) in envelopes.iter().enumerate() {
        match current.get(&env.recipient) {
            None => {
                return Err(ApiError::field(
                    &format!("envelopes[{i}].recipient"),
                    "is not a recipient of this tenant (an active agent or a user with a vault key)",
                ));
            }
            Some(key) if *key != env.key_id => {
                return Err(ApiError::new(
                    ErrorCode::VaultKeyMismatch,
                    format!(
                        "The envelope for {} is sealed to key {}, but its key is now {key}; seal it again",
                        env.recipient, env.key_id
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn envelope_rows(
    tenant: &TenantId,
    id: &str,
    envelopes: Vec<SealedEnvelope>,
) -> Vec<envelope::Model> {
    envelopes
        .into_iter()
        .map(|e| envelope::Model {
            tenant_id: tenant.as_str().to_owned(),
            secret_id: id.to_owned(),
            recipient: e.recipient,
            key_id: e.key_id,
            enc: e.enc,
            ciphertext: e.ciphertext,
        })
        .collect()
}

fn meta(row: secret::Model, envelopes: &[envelope::Model]) -> SecretMeta {
    SecretMeta {
        recipients: envelopes
            .iter()
            .filter(|e| e.secret_id == row.id)
            .map(|e| RecipientRef {
                recipient: e.recipient.clone(),
                key_id: e.key_id.clone(),
            })
            .collect(),
        id: row.id,
        tenant_id: row.tenant_id,
        label: row.label,
        field: row.field,
        alg: ALG.to_owned(),
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        rotated_at: row.rotated_at,
    }
}

// Secrets.

pub async fn create(db: &Db, admin: &Admin, req: CreateSecretRequest) -> ApiResult<SecretMeta> {
    let tenant = admin.tenant();
    check_recipients(db, tenant, &req.envelopes).await?;
    let now = now_ms();
    let row = secret::Model {
        tenant_id: tenant.as_str().to_owned(),
        id: req.id.clone(),
        label: req.label.trim().to_owned(),
        field: req.field,
        created_by: Some(admin.caller().to_owned()),
        created_at: now,
        updated_at: now,
        rotated_at: None,
    };
    let envelopes = envelope_rows(tenant, &req.id, req.envelopes);
    let stored = envelopes.clone();
    let exists = || {
        ApiError::new(
            ErrorCode::SecretExists,
            "A secret with this id exists; choose a new id",
        )
    };
    db.write(async |txn| {
        if store::get_secret(txn, tenant, &row.id).await?.is_some() {
            return Err(exists());
        }
        // Another replica may have taken the id since: its key says so.
        match store::insert_secret(txn, row.clone()).await {
            Err(e) if e.is_unique_violation() => return Err(exists()),
            other => other?,
        }
        store::insert_envelopes(txn, stored).await?;
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(meta(row, &envelopes))
}

pub async fn list(db: &Db, auth: &Auth) -> ApiResult<Vec<SecretMeta>> {
    let rows = store::list_secrets(db.read(), auth.tenant()).await?;
    let envelopes = store::envelopes(db.read(), auth.tenant(), None).await?;
    Ok(rows.into_iter().map(|r| meta(r, &envelopes)).collect())
}

pub async fn get_meta(db: &Db, auth: &Auth, id: &str) -> ApiResult<SecretMeta> {
    let row = store::get_secret(db.read(), auth.tenant(), id)
        .await?
        .ok_or_else(not_found)?;
    let envelopes = store::envelopes(db.read(), auth.tenant(), Some(id)).await?;
    Ok(meta(row, &envelopes))
}

/// Replace every envelope (a new value, or new recipients); the label too if given.
pub async fn rotate(
    db: &Db,
    admin: &Admin,
    id: &str,
    req: RotateSecretRequest,
) -> ApiResult<SecretMeta> {
    let tenant = admin.tenant();
    // Absent (or another tenant's) first, whatever the envelopes say.
    store::get_secret(db.read(), tenant, id)
        .await?
        .ok_or_else(not_found)?;
    check_recipients(db, tenant, &req.envelopes).await?;
    let now = now_ms();
    let envelopes = envelope_rows(tenant, id, req.envelopes);
    let stored = envelopes.clone();
    let row = db
        .write(async |txn| {
            let mut row = store::get_secret(txn, tenant, id)
                .await?
                .ok_or_else(not_found)?;
            if let Some(label) = &req.label {
                row.label = label.trim().to_owned();
            }
            row.updated_at = now;
            row.rotated_at = Some(now);
            store::save_secret(txn, row.clone()).await?;
            store::delete_envelopes(txn, tenant, id).await?;
            store::insert_envelopes(txn, stored).await?;
            Ok::<_, ApiError>(row)
        })
        .await?;
    Ok(meta(row, &envelopes))
}

pub async fn delete(db: &Db, admin: &Admin, id: &str) -> ApiResult<()> {
    let tenant = admin.tenant();
    let deleted = db
        .write(async |txn| store::delete_secret(txn, tenant, id).await)
        .await?;
    deleted.then_some(()).ok_or_else(not_found)
}

/// The caller's own envelope of a secret; 404 for anyone who is not a recipient, exactly as
/// for a secret that does not exist.
pub async fn ciphertext(db: &Db, reader: Reader<'_>, id: &str) -> ApiResult<SecretCiphertext> {
    let tenant = reader.tenant();
    let recipient = reader.recipient().ok_or_else(not_found)?;
    let row = store::get_secret(db.read(), &tenant, id)
        .await?
        .ok_or_else(not_found)?;
    let envelope = store::envelope_for(db.read(), &tenant, id, &recipient)
        .await?
        .ok_or_else(not_found)?;
    Ok(sealed_view(row, envelope))
}

fn sealed_view(row: secret::Model, envelope: envelope::Model) -> SecretCiphertext {
    SecretCiphertext {
        id: row.id,
        tenant_id: row.tenant_id,
        field: row.field,
        alg: ALG.to_owned(),
        envelope: envelope.sealed(),
        updated_at: row.updated_at,
    }
}

// Bindings.

pub async fn create_binding(
    db: &Db,
    admin: &Admin,
    req: CreateBindingRequest,
) -> ApiResult<BindingView> {
    let tenant = admin.tenant();
    // Another tenant's secret reads as absent: the reference never checked this.
    let secret = store::get_secret(db.read(), tenant, &req.secret_ref)
        .await?
        .ok_or_else(|| ApiError::field("secret_ref", "is not a secret of this tenant"))?;
    if let Some(field) = &req.field_name
        && *field != secret.field
    {
        return Err(ApiError::field(
            "field_name",
            format!(
                "must be the secret's field '{}' (it is sealed into the ciphertext)",
                secret.field
            ),
        ));
    }
    let now = now_ms();
    let row = binding::Model {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.as_str().to_owned(),
        scope_type: req.scope_type.into(),
        scope_id: req.scope_id.trim().to_owned(),
        secret_id: secret.id,
        field_name: secret.field,
        created_by: Some(admin.caller().to_owned()),
        created_at: now,
        updated_at: now,
    };
    let row = db
        .write(async |txn| store::upsert_binding(txn, row).await)
        .await?;
    Ok(row.view())
}

pub async fn list_bindings(
    db: &Db,
    auth: &Auth,
    query: BindingQuery,
) -> ApiResult<Vec<BindingView>> {
    let scope_id = query.scope_id.as_deref().map(str::trim);
    Ok(
        store::list_bindings(db.read(), auth.tenant(), query.scope_type, scope_id)
            .await?
            .into_iter()
            .map(binding::Model::view)
            .collect(),
    )
}

pub async fn delete_binding(db: &Db, admin: &Admin, id: &str) -> ApiResult<()> {
    let tenant = admin.tenant();
    let deleted = db
        .write(async |txn| store::delete_binding(txn, tenant, id).await)
        .await?;
    deleted
        .then_some(())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "Binding not found"))
}

/// The secrets bound to `agent` (its own bindings and the tenant-wide ones) that are sealed
/// to it, each with its envelope. A binding whose secret has no envelope for the agent is
/// left out: the agent could not open it anyway.
pub async fn bound_to_agent(db: &Db, agent: &agent::Model) -> ApiResult<Vec<BoundSecret>> {
    let tenant = TenantId::trusted(agent.tenant_id.clone());
    let recipient = Recipient::Agent(agent.id.clone()).to_string();
    let mut out = Vec::new();
    for b in store::bindings_for_agent(db.read(), &tenant, &agent.id).await? {
        let secret = store::get_secret(db.read(), &tenant, &b.secret_id).await?;
        let envelope = store::envelope_for(db.read(), &tenant, &b.secret_id, &recipient).await?;
        if let (Some(secret), Some(envelope)) = (secret, envelope) {
            out.push(BoundSecret {
                binding: b.view(),
                secret: sealed_view(secret, envelope),
            });
        }
    }
    Ok(out)
}
