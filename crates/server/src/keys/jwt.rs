//! Signed tokens: our own short-lived access tokens, and (optionally) JWTs issued by an
//! external identity provider such as Supabase, mapped to a local user by e-mail.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use super::ServerKey;
use crate::config::ExternalJwtConfig;

/// Claims of an access token. `sid` ties it to a session, which is checked on every request,
/// so revocation does not wait for expiry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub typ: String,
    pub sub: String,
    pub sid: String,
    pub tid: String,
    pub iat: i64,
    pub exp: i64,
}

const ACCESS_TYP: &str = "access";

pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl AccessTokens {
    pub fn new(key: &ServerKey) -> Self {
        let secret = key.derive("access-token-v1");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
        }
    }

    pub fn issue(&self, user_id: &str, session_id: &str, tenant_id: &str, ttl_secs: u64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            typ: ACCESS_TYP.into(),
            sub: user_id.into(),
            sid: session_id.into(),
            tid: tenant_id.into(),
            iat: now,
            exp: now + ttl_secs as i64,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding cannot fail")
    }

    /// Claims of a valid, unexpired access token of ours.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        let data = decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        (data.claims.typ == ACCESS_TYP).then_some(data.claims)
    }
}

#[derive(Debug, Deserialize)]
struct ExternalClaims {
    email: Option<String>,
}

/// Verifier for externally issued JWTs.
pub struct ExternalJwt {
    keys: Vec<(DecodingKey, Validation)>,
}

impl ExternalJwt {
    pub fn new(config: &ExternalJwtConfig) -> anyhow::Result<Self> {
        let validation = |alg| {
            let mut v = Validation::new(alg);
            v.set_audience(&[config.audience.as_str()]);
            if let Some(iss) = &config.issuer {
                v.set_issuer(&[iss.as_str()]);
            }
            v.set_required_spec_claims(&["exp", "sub", "aud"]);
            v
        };
        let mut keys = Vec::new();
        if let Some(secret) = &config.hs256_secret {
            keys.push((
                DecodingKey::from_secret(secret.as_bytes()),
                validation(Algorithm::HS256),
            ));
        }
        for path in &config.rs256_key_files {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .map_err(|e| anyhow::anyhow!("{} is not an RSA public key: {e}", path.display()))?;
            keys.push((key, validation(Algorithm::RS256)));
        }
        Ok(Self { keys })
    }

    /// The verified e-mail of an external token, lower-cased.
    pub fn verify(&self, token: &str) -> Option<String> {
        self.keys.iter().find_map(|(key, validation)| {
            let data = decode::<ExternalClaims>(token, key, validation).ok()?;
            data.claims
                .email
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let tokens = AccessTokens::new(&ServerKey::from_secret("0123456789abcdef0123456789abcdef"));
        let t = tokens.issue("u1", "s1", "t1", 60);
        let claims = tokens.verify(&t).unwrap();
        assert_eq!(
            (
                claims.sub.as_str(),
                claims.sid.as_str(),
                claims.tid.as_str()
            ),
            ("u1", "s1", "t1")
        );
        let other = AccessTokens::new(&ServerKey::from_secret(
            "another-key-another-key-another-key",
        ));
        assert!(other.verify(&t).is_none());
        let mut tampered = t.clone();
        tampered.pop();
        assert!(tokens.verify(&tampered).is_none());
    }

    #[test]
    fn external_hs256_tokens_need_the_right_secret_and_audience() {
        let config = ExternalJwtConfig {
            hs256_secret: Some("external-secret".into()),
            rs256_key_files: vec![],
            issuer: None,
            audience: "authenticated".into(),
        };
        let verifier = ExternalJwt::new(&config).unwrap();
        let make = |secret: &str, aud: &str| {
            let claims = serde_json::json!({"sub": "x", "aud": aud, "email": "A@Example.com",
                "exp": chrono::Utc::now().timestamp() + 60});
            encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .unwrap()
        };
        assert_eq!(
            verifier
                .verify(&make("external-secret", "authenticated"))
                .as_deref(),
            Some("a@example.com")
        );
        assert!(verifier.verify(&make("wrong", "authenticated")).is_none());
        assert!(verifier.verify(&make("external-secret", "anon")).is_none());
    }
}
