//! Credentials inside records and settings (a proxy's password, a bot's account password, an
//! API key in settings) are sealed at rest with ChaCha20-Poly1305 under a key derived from
//! the server key, bound to the tenant, document and JSON path, and never returned by reads:
//! they show as [`MASK`]. Only the audited reveal endpoints open them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use serde_json::Value;

use crate::keys::{ServerKey, random_bytes};

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

    /// Seal every credential in `doc`, whose place is `place`. A [`MASK`] sent back means
    /// "unchanged" and keeps the sealed value of `previous` at the same path.
    pub fn seal_tree(&self, place: &str, doc: &mut Value, previous: Option<&Value>) {
        let Value::Object(map) = doc else { return };
        for (key, value) in map.iter_mut() {
            let path = format!("{place}/{key}");
            let before = previous.and_then(|p| p.get(key));
            if is_secret_key(key)
                && let Some(s) = value.as_str()
            {
                let kept = before.filter(|b| b.as_str().is_some_and(Self::is_sealed));
                let replacement = if s.is_empty() {
                    continue;
                } else if s == MASK || kept.and_then(Value::as_str) == Some(s) {
                    kept.cloned().unwrap_or(Value::Null)
                } else {
                    Value::String(self.seal(&path, s))
                };
                *value = replacement;
            } else if value.is_object() {
                self.seal_tree(&path, value, before);
            }
        }
    }
}

/// Keys whose values are credentials, at any depth of a document or the settings tree.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("password") || matches!(k.as_str(), "api_key" | "bot_token" | "secret" | "token")
}

/// Replace every non-empty credential by [`MASK`], for reads.
pub fn mask_tree(doc: &mut Value) {
    let Value::Object(map) = doc else { return };
    for (key, value) in map.iter_mut() {
        if is_secret_key(key) && value.as_str().is_some_and(|s| !s.is_empty()) {
            *value = Value::String(MASK.into());
        } else if value.is_object() {
            mask_tree(value);
        }
    }
}

/// The value at a slash-separated `path` of `doc`.
pub fn at_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .try_fold(doc, |node, key| node.get(key))
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

    #[test]
    fn trees_seal_nested_credentials_keep_masked_ones_and_mask_reads() {
        let sealer = Sealer::new(&ServerKey::from_secret("0123456789abcdef0123456789abcdef"));
        let mut doc = serde_json::json!({"name": "b", "account": {"email": "e", "password": "pw"}});
        sealer.seal_tree("t/bots/b1", &mut doc, None);
        let sealed = doc["account"]["password"].as_str().unwrap().to_owned();
        assert!(Sealer::is_sealed(&sealed));
        assert_eq!(
            sealer
                .open("t/bots/b1/account/password", &sealed)
                .as_deref(),
            Some("pw")
        );
        assert_eq!(doc["account"]["email"], "e");

        let mut again = serde_json::json!({"account": {"email": "e", "password": MASK}});
        sealer.seal_tree("t/bots/b1", &mut again, Some(&doc));
        assert_eq!(again["account"]["password"].as_str(), Some(sealed.as_str()));

        mask_tree(&mut again);
        assert_eq!(again["account"]["password"], MASK);
        assert_eq!(at_path(&again, "account/email"), Some(&Value::from("e")));
    }

    #[test]
    fn credential_keys_are_recognised() {
        for k in ["password", "tinyFmPassword", "api_key", "bot_token"] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["username", "chat_id", "enabled", "passwordOptions", "login"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
