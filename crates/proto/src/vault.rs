//! The secrets vault (spec api.md §15, security §7) as it goes over the wire, and the
//! parts of its scheme every client must agree on: the associated data that binds a
//! ciphertext to its tenant, secret and field, the HPKE `info`, and key ids.
//!
//! A client seals a secret's value once per recipient with HPKE (RFC 9180, base mode,
//! DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) to that recipient's public key; the
//! server stores the envelopes and metadata and hands each recipient only its own envelope.
//! The server never holds a private key, so it cannot decrypt; and since the associated data
//! names the tenant, secret id and field, an envelope the server moves to another secret (or
//! field, or tenant) no longer opens. The sealing itself lives in `botmox_client::vault` (Rust)
//! and `assets/vault.js` (the browser); both follow [`aad`], [`INFO`] and [`key_id`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::validate::{FieldErrors, Validate};

/// The one algorithm suite, as metadata names it.
pub const ALG: &str = "HPKE-P256-SHA256-AES256GCM";
/// HPKE `info` of every envelope (a version of the scheme: a new scheme takes a new one).
pub const INFO: &[u8] = b"botmox-vault-v1";
/// Bytes of an uncompressed P-256 point (SEC1 `04 || X || Y`): public keys and HPKE `enc`.
pub const POINT_BYTES: usize = 65;
/// AES-GCM tag bytes at the end of every ciphertext.
pub const TAG_BYTES: usize = 16;
/// Largest plaintext a secret may hold (a password, a key file, a token).
pub const MAX_PLAINTEXT_BYTES: usize = 16 * 1024;
/// Most recipients one secret is sealed to.
pub const MAX_RECIPIENTS: usize = 50;
const TEXT_CHARS: usize = 200;

/// The associated data of an envelope: `botmox-vault-v1`, the tenant id, the secret id and
/// the field, each on its own line (UTF-8). None of them can hold a line break (tenant ids
/// are the server's, secret ids UUIDs, fields checked by [`check_field`]), so the form reads
/// one way only.
pub fn aad(tenant_id: &str, secret_id: &str, field: &str) -> Vec<u8> {
    format!("botmox-vault-v1\n{tenant_id}\n{secret_id}\n{field}").into_bytes()
}

/// A key's id: `p256:` and the first 16 hex digits of the SHA-256 of its raw (65-byte)
/// form; any client computes it from the key alone.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = Sha256::digest(public_key);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("p256:{hex}")
}

/// The raw bytes of a base64 public key, if it is an uncompressed P-256 point.
pub fn decode_public_key(b64: &str) -> Result<Vec<u8>, String> {
    let raw = B64
        .decode(b64.trim())
        .map_err(|_| "must be standard base64".to_owned())?;
    if raw.len() != POINT_BYTES || raw[0] != 4 {
        return Err(format!(
            "must be an uncompressed P-256 point ({POINT_BYTES} bytes starting with 0x04)"
        ));
    }
    Ok(raw)
}

/// A client-chosen secret id: a UUID, lower-case and hyphenated, so it reads the same in
/// every associated data.
pub fn is_secret_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// A field name (`proxmox.password`): 1 to 200 of letters, digits and `._-`.
pub fn check_field(e: &mut FieldErrors, name: &str, field: &str) {
    let ok = (1..=TEXT_CHARS).contains(&field.len())
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    e.check(
        name,
        ok,
        "must be 1 to 200 letters, digits, '.', '_' or '-'",
    );
}

/// Who an envelope is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    Agent(String),
    User(String),
}

impl Recipient {
    /// `agent:<id>` or `user:<id>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || "must be agent:<id> or user:<id>".to_owned();
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        if id.is_empty() || id.len() > TEXT_CHARS || id.contains(char::is_whitespace) {
            return Err(bad());
        }
        match kind {
            "agent" => Ok(Self::Agent(id.to_owned())),
            "user" => Ok(Self::User(id.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Agent(id) => write!(f, "agent:{id}"),
            Self::User(id) => write!(f, "user:{id}"),
        }
    }
}

/// A secret's value sealed to one recipient.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SealedEnvelope {
    /// `agent:<id>` or `user:<id>`.
    #[schema(example = "agent:0b6f8e5e-8f3c-4c84-9a57-5d1b1f5f1f0e")]
    pub recipient: String,
    /// The [`key_id`] of the public key it is sealed to.
    #[schema(example = "p256:3f2a9c0d11b7e845")]
    pub key_id: String,
    /// HPKE encapsulated key: base64 of an uncompressed P-256 point.
    pub enc: String,
    /// Base64 of the AES-256-GCM ciphertext with its tag.
    pub ciphertext: String,
}

/// Names the recipient and key only: ciphertexts stay out of logs.
impl std::fmt::Debug for SealedEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedEnvelope")
            .field("recipient", &self.recipient)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SealedEnvelope {
    fn check(&self, e: &mut FieldErrors, at: &str) {
        if let Err(problem) = Recipient::parse(&self.recipient) {
            e.add(format!("{at}.recipient"), problem);
        }
        e.check(
            &format!("{at}.key_id"),
            self.key_id.len() == 21 && self.key_id.starts_with("p256:"),
            "must be a key id as the recipients list shows it (p256:<16 hex digits>)",
        );
        let enc = B64.decode(&self.enc).ok();
        e.check(
            &format!("{at}.enc"),
            enc.is_some_and(|b| b.len() == POINT_BYTES && b[0] == 4),
            "must be base64 of an uncompressed P-256 point",
        );
        let max = MAX_PLAINTEXT_BYTES + TAG_BYTES;
        let ct = B64.decode(&self.ciphertext).ok();
        e.check(
            &format!("{at}.ciphertext"),
            ct.is_some_and(|b| (TAG_BYTES + 1..=max).contains(&b.len())),
            format!("must be base64 of 17 to {max} bytes"),
        );
    }
}

fn check_envelopes(e: &mut FieldErrors, envelopes: &[SealedEnvelope]) {
    if envelopes.is_empty() || envelopes.len() > MAX_RECIPIENTS {
        e.add(
            "envelopes",
            format!("must hold 1 to {MAX_RECIPIENTS} envelopes"),
        );
    }
    for (i, envelope) in envelopes.iter().enumerate().take(MAX_RECIPIENTS) {
        envelope.check(e, &format!("envelopes[{i}]"));
        if envelopes[..i]
            .iter()
            .any(|o| o.recipient == envelope.recipient)
        {
            e.add(format!("envelopes[{i}].recipient"), "is named twice");
        }
    }
}

/// `POST /secrets` (admins): a new secret, sealed by the client to each recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateSecretRequest {
    /// Chosen by the client (it is part of the associated data): a lower-case UUID.
    #[schema(example = "7d0b5a8e-2f41-4b7e-9c55-0f7e4d1c2a90")]
    pub id: String,
    #[schema(max_length = 200, example = "Proxmox root password")]
    pub label: String,
    /// What the value is for, as bindings and agents name it; part of the associated data.
    #[schema(max_length = 200, example = "proxmox.password")]
    pub field: String,
    /// One per recipient, at most 50.
    pub envelopes: Vec<SealedEnvelope>,
}

impl Validate for CreateSecretRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.check(
            "id",
            is_secret_id(&self.id),
            "must be a lower-case hyphenated UUID",
        );
        e.required_text("label", &self.label, TEXT_CHARS);
        check_field(&mut e, "field", &self.field);
        check_envelopes(&mut e, &self.envelopes);
        e.into_result()
    }
}

/// `POST /secrets/{id}/rotate` (admins): a new value (or new recipients), sealed afresh;
/// every envelope is replaced. The field stays (it is in the associated data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RotateSecretRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub label: Option<String>,
    pub envelopes: Vec<SealedEnvelope>,
}

impl Validate for RotateSecretRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Some(label) = &self.label {
            e.required_text("label", label, TEXT_CHARS);
        }
        check_envelopes(&mut e, &self.envelopes);
        e.into_result()
    }
}

/// A recipient of a secret and the key its envelope is sealed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecipientRef {
    pub recipient: String,
    pub key_id: String,
}

/// A secret's metadata: never its ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretMeta {
    pub id: String,
    pub tenant_id: String,
    pub label: String,
    pub field: String,
    #[schema(example = "HPKE-P256-SHA256-AES256GCM")]
    pub alg: String,
    pub recipients: Vec<RecipientRef>,
    pub created_by: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub rotated_at: Option<i64>,
}

/// `GET /secrets/{id}/ciphertext`: the caller's own envelope of a secret, with what it needs
/// to open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretCiphertext {
    pub id: String,
    pub tenant_id: String,
    pub field: String,
    pub alg: String,
    pub envelope: SealedEnvelope,
    pub updated_at: i64,
}

/// What a binding attaches a secret to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BindingScope {
    Bot,
    Vm,
    /// The VM generator's settings (`scope_id` `vmgenerator`): agents that are recipients
    /// receive it.
    VmSettings,
    /// One agent (`scope_id` its id).
    Agent,
    /// The whole tenant: agents that are recipients receive it.
    Tenant,
}

wire_words!(
    BindingScope,
    "scope type",
    [
        Bot = "bot",
        Vm = "vm",
        VmSettings = "vm_settings",
        Agent = "agent",
        Tenant = "tenant"
    ]
);

/// `POST /secrets/bindings` (admins): attach a secret to a scope under its field name;
/// binding the same scope and field again replaces the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateBindingRequest {
    pub scope_type: BindingScope,
    #[schema(max_length = 200, example = "vmgenerator")]
    pub scope_id: String,
    /// The secret's id.
    #[schema(pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub secret_ref: String,
    /// Default the secret's field; if given it must be that field (the field is sealed into
    /// the ciphertext, so a binding cannot rename it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,200}$")]
    pub field_name: Option<String>,
}

impl Validate for CreateBindingRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.required_text("scope_id", &self.scope_id, TEXT_CHARS);
        e.check(
            "secret_ref",
            is_secret_id(&self.secret_ref),
            "must be a secret id (a lower-case UUID)",
        );
        if let Some(field) = &self.field_name {
            check_field(&mut e, "field_name", field);
        }
        e.into_result()
    }
}

/// `GET /secrets/bindings` filters.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
pub struct BindingQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_type: Option<BindingScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
}

impl Validate for BindingQuery {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        e.max_chars("scope_id", self.scope_id.as_deref(), TEXT_CHARS);
        e.into_result()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BindingView {
    pub id: String,
    pub tenant_id: String,
    pub scope_type: BindingScope,
    pub scope_id: String,
    pub secret_ref: String,
    pub field_name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// `PUT /secrets/vault-key`: the caller's vault public key (replacing any earlier one;
/// secrets sealed to the old key must be rotated to reach the new one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VaultKeyRequest {
    /// Base64 of an uncompressed P-256 point (WebCrypto's `raw` export).
    pub public_key: String,
}

impl Validate for VaultKeyRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Err(problem) = decode_public_key(&self.public_key) {
            e.add("public_key", problem);
        }
        e.into_result()
    }
}

/// A recipient's public key, as encrypting clients need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecipientKey {
    /// `agent:<id>` or `user:<id>`.
    pub recipient: String,
    /// The agent's name or the user's e-mail.
    pub name: String,
    pub key_id: String,
    /// Base64 of an uncompressed P-256 point.
    pub public_key: String,
}

/// A secret bound to the calling agent, with its envelope for that agent
/// (`GET /secrets/agent/bound`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BoundSecret {
    pub binding: BindingView,
    pub secret: SecretCiphertext,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aad_names_tenant_secret_and_field() {
        assert_eq!(
            aad(
                "t1",
                "7d0b5a8e-2f41-4b7e-9c55-0f7e4d1c2a90",
                "proxmox.password"
            ),
            b"botmox-vault-v1\nt1\n7d0b5a8e-2f41-4b7e-9c55-0f7e4d1c2a90\nproxmox.password"
        );
        let key = [4u8; POINT_BYTES];
        assert_eq!(key_id(&key).len(), 21);
        assert_ne!(key_id(&key), key_id(&[5u8; POINT_BYTES]));
    }

    #[test]
    fn ids_recipients_and_fields_are_checked() {
        assert!(is_secret_id("7d0b5a8e-2f41-4b7e-9c55-0f7e4d1c2a90"));
        assert!(!is_secret_id("7D0B5A8E-2F41-4B7E-9C55-0F7E4D1C2A90"));
        assert!(!is_secret_id("7d0b5a8e2f414b7e9c550f7e4d1c2a90"));
        assert_eq!(
            Recipient::parse("agent:a1"),
            Ok(Recipient::Agent("a1".into()))
        );
        assert_eq!(Recipient::parse("user:u").unwrap().to_string(), "user:u");
        assert!(Recipient::parse("bot:b").is_err() && Recipient::parse("agent:").is_err());
        let mut e = FieldErrors::new();
        check_field(&mut e, "f", "ssh.password");
        assert!(e.is_empty());
        check_field(&mut e, "f", "a\nb");
        assert!(e.get("f").is_some());
    }

    #[test]
    fn bad_bodies_name_every_field() {
        let body = json!({"id": "nope", "label": " ", "field": "a b", "envelopes": [
            {"recipient": "vm:1", "key_id": "x", "enc": "!!", "ciphertext": ""},
            {"recipient": "vm:1", "key_id": "x", "enc": "!!", "ciphertext": ""}]});
        let e = crate::from_json::<CreateSecretRequest>(body).unwrap_err();
        for field in [
            "id",
            "label",
            "field",
            "envelopes[0].recipient",
            "envelopes[0].key_id",
            "envelopes[0].enc",
            "envelopes[0].ciphertext",
            "envelopes[1].recipient",
        ] {
            assert!(e.get(field).is_some(), "{field}: {e:?}");
        }
        let e = crate::from_json::<CreateBindingRequest>(
            json!({"scope_type": "planet", "scope_id": "x", "secret_ref": "x"}),
        )
        .unwrap_err();
        assert!(e.get("scope_type").is_some(), "{e:?}");
        let e = crate::from_json::<VaultKeyRequest>(json!({"public_key": "AAAA"})).unwrap_err();
        assert!(e.get("public_key").is_some());
    }

    #[test]
    fn scope_words_match_serde() {
        for scope in BindingScope::ALL {
            assert_eq!(serde_json::to_value(scope).unwrap(), json!(scope.as_str()));
        }
    }

    #[test]
    fn envelopes_do_not_debug_their_ciphertext() {
        let env = SealedEnvelope {
            recipient: "agent:a".into(),
            key_id: "p256:0000000000000000".into(),
            enc: "ENCVALUE".into(),
            ciphertext: "CIPHERTEXT".into(),
        };
        let shown = format!("{env:?}");
        assert!(!shown.contains("CIPHERTEXT") && !shown.contains("ENCVALUE"));
    }
}
