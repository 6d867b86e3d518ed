//! Lease tokens: HS256 JWS whose header names the key that signed it (`kid`). Each key is
//! derived from the server key and its id, so rotating is changing the configured id;
//! retired ids are refused. A token is only ever half the check: its lease row (by `jti`,
//! with the token's hash) must agree on every use.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::LeaseConfig;
use crate::keys::ServerKey;

const ISSUER: &str = "botmox-lease";
const TYP: &str = "lease";

/// What a lease token says. Short claim names keep the token small; the lease row holds
/// the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseClaims {
    pub iss: String,
    /// Always `lease`, so no other token of ours passes for one.
    pub typ: String,
    /// The runner.
    pub sub: String,
    /// The lease id.
    pub jti: String,
    pub iat: i64,
    /// The latest the lease can be kept alive to (seconds); the row's expiry is the live one.
    pub exp: i64,
    pub tid: String,
    pub uid: String,
    pub vm: String,
    pub module: String,
    pub lic: String,
}

impl LeaseClaims {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lease_id: &str,
        runner: &str,
        tenant: &str,
        user: &str,
        vm_uuid: &str,
        module: &str,
        license_id: &str,
        iat: i64,
        exp: i64,
    ) -> Self {
        Self {
            iss: ISSUER.into(),
            typ: TYP.into(),
            sub: runner.into(),
            jti: lease_id.into(),
            iat,
            exp,
            tid: tenant.into(),
            uid: user.into(),
            vm: vm_uuid.into(),
            module: module.into(),
            lic: license_id.into(),
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Not a lease token of ours: malformed, wrong algorithm, unknown or retired key, or a
    /// signature that does not match.
    Invalid,
    /// Genuine, but past its `exp`.
    Expired,
}

fn secret(key: &ServerKey, kid: &str) -> Vec<u8> {
    key.derive(&format!("lease-token:{kid}"))
}

/// Sign `claims` with the current key; the answer and the key id.
pub fn sign(key: &ServerKey, config: &LeaseConfig, claims: &LeaseClaims) -> (String, String) {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(config.key_id.clone());
    let token = jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(&secret(key, &config.key_id)),
    )
    .expect("HS256 signing cannot fail");
    (token, config.key_id.clone())
}

/// The claims of a genuine lease token signed by a key that is not retired.
pub fn verify(
    key: &ServerKey,
    config: &LeaseConfig,
    token: &str,
) -> Result<LeaseClaims, TokenProblem> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenProblem::Invalid)?;
    let kid = header.kid.ok_or(TokenProblem::Invalid)?;
    if header.alg != Algorithm::HS256 || config.retired_key_ids.contains(&kid) || kid.len() > 64 {
        return Err(TokenProblem::Invalid);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss"]);
    let data = jsonwebtoken::decode::<LeaseClaims>(
        token,
        &DecodingKey::from_secret(&secret(key, &kid)),
        &validation,
    )
    .map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => TokenProblem::Expired,
        _ => TokenProblem::Invalid,
    })?;
    if data.claims.typ != TYP {
        return Err(TokenProblem::Invalid);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kid: &str, retired: &[&str]) -> LeaseConfig {
        LeaseConfig {
            ttl_secs: 300,
            max_lifetime_secs: 86_400,
            key_id: kid.into(),
            retired_key_ids: retired.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn claims(exp: i64) -> LeaseClaims {
        LeaseClaims::new(
            "l1",
            "r1",
            "t1",
            "u1",
            "vm-00000001",
            "runner",
            "lic1",
            0,
            exp,
        )
    }

    #[test]
    fn tokens_verify_until_their_key_is_retired() {
        let key = ServerKey::from_secret("0123456789abcdef0123456789abcdef");
        let far = chrono::Utc::now().timestamp() + 3600;
        let (token, kid) = sign(&key, &config("k1", &[]), &claims(far));
        assert_eq!(kid, "k1");
        assert_eq!(
            verify(&key, &config("k1", &[]), &token).unwrap(),
            claims(far)
        );
        // Rotated: the new key signs, the old key's tokens still verify until retired.
        assert!(verify(&key, &config("k2", &[]), &token).is_ok());
        assert_eq!(
            verify(&key, &config("k2", &["k1"]), &token),
            Err(TokenProblem::Invalid)
        );
        let other = ServerKey::from_secret("another-secret-another-secret-xx");
        assert_eq!(
            verify(&other, &config("k1", &[]), &token),
            Err(TokenProblem::Invalid)
        );
    }

    #[test]
    fn tampered_and_expired_tokens_are_told_apart() {
        let key = ServerKey::from_secret("0123456789abcdef0123456789abcdef");
        let cfg = config("k1", &[]);
        let (expired, _) = sign(&key, &cfg, &claims(1));
        assert_eq!(verify(&key, &cfg, &expired), Err(TokenProblem::Expired));
        let far = chrono::Utc::now().timestamp() + 3600;
        let (token, _) = sign(&key, &cfg, &claims(far));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = claims(far + 1);
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&forged).unwrap(),
        );
        assert_eq!(
            verify(&key, &cfg, &parts.join(".")),
            Err(TokenProblem::Invalid)
        );
        assert_eq!(verify(&key, &cfg, "a.b"), Err(TokenProblem::Invalid));
        // The access-token key does not make lease tokens.
        let access = crate::keys::jwt::AccessTokens::new(&key).issue("u", "s", "t", 60);
        assert_eq!(verify(&key, &cfg, &access), Err(TokenProblem::Invalid));
    }
}
