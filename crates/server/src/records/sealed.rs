//! Credentials inside records (a proxy's password) are sealed at rest with
//! ChaCha20-Poly1305 under a key derived from the server key, bound to the tenant, record and
//! field, and never returned by reads: they show as [`MASK`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::auth::keys::{ServerKey, random_bytes};

pub const MASK: &str = "********";
const PREFIX: &str = "sealed:v1:";

pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    pub fn new(key: &ServerKey) -> Self {
        let derived = key.derive("record-secrets-v1");
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&derived[..32])),
        }
    }

    /// Seal `plain` for the field at `place` (tenant/kind/id/field).
    pub fn seal(&self, place: &str, plain: &str) -> String {
        let nonce = random_bytes::<12>();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: place.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// The plaintext of a value made by [`Sealer::seal`] for the same `place`.
    pub fn open(&self, place: &str, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: place.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }

    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_place() {
        let sealer = Sealer::new(&ServerKey::from_secret("0123456789abcdef0123456789abcdef"));
        let sealed = sealer.seal("t/proxies/p1/password", "hunter2");
        assert!(Sealer::is_sealed(&sealed) && !sealed.contains("hunter2"));
        assert_eq!(
            sealer.open("t/proxies/p1/password", &sealed).as_deref(),
            Some("hunter2")
        );
        assert!(
            sealer.open("t/proxies/p2/password", &sealed).is_none(),
            "bound to its record"
        );
        let other = Sealer::new(&ServerKey::from_secret(
            "another-key-another-key-another-key",
        ));
        assert!(other.open("t/proxies/p1/password", &sealed).is_none());
    }
}
