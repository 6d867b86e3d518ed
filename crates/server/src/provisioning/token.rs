//! Provisioning tokens: HS256 JWS with the claims of spec provisioning §6.2 (`typ`
//! `provision`, `sub` the user, `vm`, `tid`, `iat`, `exp`) plus `jti`, the token row's id.
//! The key is derived from the server key for this one purpose (as the lease key is), so no
//! other token of ours passes for one. A token is only half the check: its row (by `jti`,
//! with the token's hash) must agree on every use.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::ServerKey;

const TYP: &str = "provision";
const PURPOSE: &str = "provision-token-v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionClaims {
    pub typ: String,
    /// The user the token acts for.
    pub sub: String,
    /// The VM UUID (normalised).
    pub vm: String,
    pub tid: String,
    /// The token row's id.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl ProvisionClaims {
    pub fn new(id: &str, tenant: &str, user: &str, vm: &str, iat: i64, exp: i64) -> Self {
        Self {
            typ: TYP.into(),
            sub: user.into(),
            vm: vm.into(),
            tid: tenant.into(),
            jti: id.into(),
            iat,
            exp,
        }
    }
}

/// Why a token's signature check failed (the reference's first reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSignature;

pub fn sign(key: &ServerKey, claims: &ProvisionClaims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&key.derive(PURPOSE)),
    )
    .expect("HS256 signing cannot fail")
}

/// The claims of a genuine, unexpired provisioning token of ours.
pub fn verify(key: &ServerKey, token: &str) -> Result<ProvisionClaims, BadSignature> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<ProvisionClaims>(
        token,
        &DecodingKey::from_secret(&key.derive(PURPOSE)),
        &validation,
    )
    .map_err(|_| BadSignature)?;
    if data.claims.typ != TYP {
        return Err(BadSignature);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_genuine_unexpired_provisioning_tokens_verify() {
        let key = ServerKey::from_secret("0123456789abcdef0123456789abcdef");
        let far = chrono::Utc::now().timestamp() + 3600;
        let claims = ProvisionClaims::new("t1", "acme", "u1", "vm-00000001", 0, far);
        let token = sign(&key, &claims);
        assert_eq!(verify(&key, &token), Ok(claims.clone()));
        let other = ServerKey::from_secret("another-secret-another-secret-xx");
        assert_eq!(verify(&other, &token), Err(BadSignature));
        let expired = sign(&key, &ProvisionClaims { exp: 1, ..claims });
        assert_eq!(verify(&key, &expired), Err(BadSignature));
        // An access token of the same server is no provisioning token.
        let access = crate::keys::jwt::AccessTokens::new(&key).issue("u", "s", "t", 60);
        assert_eq!(verify(&key, &access), Err(BadSignature));
        assert_eq!(verify(&key, "a.b.c"), Err(BadSignature));
    }
}
