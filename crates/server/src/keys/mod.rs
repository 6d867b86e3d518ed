//! The server's secret key and what is derived from it: the access-token signing key and the
//! CSRF key. Also the helpers for opaque secrets (random tokens shown once, stored as SHA-256).

pub mod jwt;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Master secret of this deployment. Every replica must hold the same one.
#[derive(Clone)]
pub struct ServerKey {
    master: Vec<u8>,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

impl ServerKey {
    pub fn from_secret(secret: &str) -> Self {
        Self {
            master: secret.as_bytes().to_vec(),
        }
    }

    /// Read `<data_dir>/secret.key`, creating it (owner-only permissions) on first start.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().len() >= 32 => return Ok(Self::from_secret(text.trim())),
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is shorter than 32 characters",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        crate::data_dir::create_private_dir(data_dir)?;
        let secret = hex::encode(random_bytes::<32>());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                std::io::Write::write_all(&mut file, secret.as_bytes())?;
                Ok(Self::from_secret(&secret))
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load_or_create(data_dir)
            }
            Err(e) => Err(e),
        }
    }

    /// A key for one purpose, so a value signed for one use is useless for another.
    pub fn derive(&self, purpose: &str) -> Vec<u8> {
        self.mac(purpose.as_bytes(), &[])
    }

    fn mac(&self, purpose: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.master).expect("HMAC takes any key length");
        mac.update(purpose);
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// HMAC of `data` under the key for `purpose`, base64url.
    pub fn sign(&self, purpose: &str, data: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose.as_bytes(), data.as_bytes()))
    }

    /// Constant-time check of a value made by [`ServerKey::sign`].
    pub fn verify(&self, purpose: &str, data: &str, signature: &str) -> bool {
        let expected = self.sign(purpose, data);
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes()).into()
    }
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A fresh secret with a recognisable prefix, e.g. `bmx_...` for API tokens (256 bits).
pub fn random_secret(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// How opaque secrets are stored: hex SHA-256. (They carry 256 bits, so no slow hash is needed.)
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = ServerKey::load_or_create(dir.path()).unwrap();
        let b = ServerKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.derive("x"), b.derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn signatures_are_bound_to_purpose_and_data() {
        let key = ServerKey::from_secret("0123456789abcdef0123456789abcdef");
        let sig = key.sign("csrf", "abc");
        assert!(key.verify("csrf", "abc", &sig));
        assert!(!key.verify("csrf", "abd", &sig));
        assert!(!key.verify("other", "abc", &sig));
    }

    #[test]
    fn secrets_are_random_and_hash_stably() {
        let a = random_secret("bmx_");
        assert!(a.starts_with("bmx_") && a.len() > 40);
        assert_ne!(a, random_secret("bmx_"));
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_eq!(hash_secret(&a).len(), 64);
    }
}
