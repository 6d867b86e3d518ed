//! Sealing and opening vault secrets in Rust, for the CLI, the agent and the tests: HPKE
//! (RFC 9180) base mode with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM, through
//! the `hpke` crate. The associated data, `info` and key ids come from
//! [`botmox_proto::vault`], which the browser's `vault.js` follows too.
//!
//! Keys travel as base64: a public key is its uncompressed SEC1 point (65 bytes), a private
//! key its 32-byte scalar.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use botmox_proto::vault::{INFO, RecipientKey, SealedEnvelope, aad, key_id};
use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::DhP256HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};

type Kem = DhP256HkdfSha256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("the {0} is not valid base64 of the right length")]
    BadKey(&'static str),
    #[error("the envelope is not well-formed")]
    BadEnvelope,
    #[error("the secret could not be sealed")]
    Seal,
    /// Wrong key, or the envelope does not belong to this tenant, secret and field.
    #[error(
        "the secret does not open with this key for this tenant, secret and field (sealed to another key, or moved)"
    )]
    Open,
}

/// A fresh key pair: (base64 private key, base64 public key).
pub fn generate_key_pair() -> (String, String) {
    let (private, public) = Kem::gen_keypair();
    (
        B64.encode(private.to_bytes()),
        B64.encode(public.to_bytes()),
    )
}

/// The base64 public key of a base64 private key.
pub fn public_key_of(private_key: &str) -> Result<String, VaultError> {
    let private = decode_private(private_key)?;
    Ok(B64.encode(Kem::sk_to_pk(&private).to_bytes()))
}

fn decode_private(b64: &str) -> Result<<Kem as hpke::Kem>::PrivateKey, VaultError> {
    let raw = B64
        .decode(b64.trim())
        .map_err(|_| VaultError::BadKey("private key"))?;
    <Kem as hpke::Kem>::PrivateKey::from_bytes(&raw).map_err(|_| VaultError::BadKey("private key"))
}

/// Seal `plaintext` to one recipient's public key, bound to the tenant, secret and field.
pub fn seal(
    recipient: &str,
    public_key: &str,
    tenant_id: &str,
    secret_id: &str,
    field: &str,
    plaintext: &[u8],
) -> Result<SealedEnvelope, VaultError> {
    let raw = B64
        .decode(public_key.trim())
        .map_err(|_| VaultError::BadKey("public key"))?;
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&raw)
        .map_err(|_| VaultError::BadKey("public key"))?;
    let (enc, ciphertext) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        INFO,
        plaintext,
        &aad(tenant_id, secret_id, field),
    )
    .map_err(|_| VaultError::Seal)?;
    Ok(SealedEnvelope {
        recipient: recipient.to_owned(),
        key_id: key_id(&raw),
        enc: B64.encode(enc.to_bytes()),
        ciphertext: B64.encode(ciphertext),
    })
}

/// Seal `plaintext` to each of `recipients`.
pub fn seal_to_all(
    recipients: &[RecipientKey],
    tenant_id: &str,
    secret_id: &str,
    field: &str,
    plaintext: &[u8],
) -> Result<Vec<SealedEnvelope>, VaultError> {
    recipients
        .iter()
        .map(|r| {
            seal(
                &r.recipient,
                &r.public_key,
                tenant_id,
                secret_id,
                field,
                plaintext,
            )
        })
        .collect()
}

/// Open an envelope with the recipient's private key, as the secret `secret_id` of field
/// `field` in tenant `tenant_id`: it fails unless it was sealed for exactly those.
pub fn open(
    private_key: &str,
    tenant_id: &str,
    secret_id: &str,
    field: &str,
    envelope: &SealedEnvelope,
) -> Result<Vec<u8>, VaultError> {
    let private = decode_private(private_key)?;
    let enc = B64
        .decode(&envelope.enc)
        .ok()
        .and_then(|b| <Kem as hpke::Kem>::EncappedKey::from_bytes(&b).ok())
        .ok_or(VaultError::BadEnvelope)?;
    let ciphertext = B64
        .decode(&envelope.ciphertext)
        .map_err(|_| VaultError::BadEnvelope)?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
        &OpModeR::Base,
        &private,
        &enc,
        INFO,
        &ciphertext,
        &aad(tenant_id, secret_id, field),
    )
    .map_err(|_| VaultError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "t1";
    const ID: &str = "7d0b5a8e-2f41-4b7e-9c55-0f7e4d1c2a90";
    const OTHER: &str = "00000000-2f41-4b7e-9c55-0f7e4d1c2a90";

    #[test]
    fn sealed_opens_only_as_the_same_tenant_secret_and_field_with_the_right_key() {
        let (private, public) = generate_key_pair();
        assert_eq!(public_key_of(&private).unwrap(), public);
        let env = seal(
            "agent:a",
            &public,
            TENANT,
            ID,
            "proxmox.password",
            b"hunter2",
        )
        .unwrap();
        assert_eq!(env.key_id, key_id(&B64.decode(&public).unwrap()));
        assert_eq!(
            open(&private, TENANT, ID, "proxmox.password", &env).unwrap(),
            b"hunter2"
        );
        let refused = [
            open(&private, "t2", ID, "proxmox.password", &env),
            open(&private, TENANT, OTHER, "proxmox.password", &env),
            open(&private, TENANT, ID, "ssh.password", &env),
            open(&generate_key_pair().0, TENANT, ID, "proxmox.password", &env),
        ];
        for outcome in refused {
            assert_eq!(outcome, Err(VaultError::Open));
        }
        let mut torn = env.clone();
        torn.enc = "AAAA".into();
        assert_eq!(
            open(&private, TENANT, ID, "proxmox.password", &torn),
            Err(VaultError::BadEnvelope)
        );
        assert_eq!(
            seal("agent:a", "AAAA", TENANT, ID, "f", b"x").unwrap_err(),
            VaultError::BadKey("public key")
        );
    }

    /// Every seal takes a fresh ephemeral key, so equal values never show as equal
    /// ciphertexts.
    #[test]
    fn two_seals_of_one_value_differ() {
        let (_, public) = generate_key_pair();
        let a = seal("user:u", &public, TENANT, ID, "f", b"same").unwrap();
        let b = seal("user:u", &public, TENANT, ID, "f", b"same").unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.enc, b.enc);
    }
}
