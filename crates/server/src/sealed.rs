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
/// A sealed string: the plaintext is the string itself.
const PREFIX: &str = "sealed:v1:";
/// A sealed credential given as another JSON type (a number, a list, ...): the plaintext is
/// its JSON text, so a reveal gives back the value as it was given.
const JSON_PREFIX: &str = "sealed:v1+json:";

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
        self.seal_bytes(PREFIX, place, plain.as_bytes())
    }

    /// Seal any JSON value for the field at `place`; strings as [`Sealer::seal`] does.
    pub fn seal_value(&self, place: &str, plain: &Value) -> String {
        match plain {
            Value::String(s) => self.seal(place, s),
            other => self.seal_bytes(JSON_PREFIX, place, other.to_string().as_bytes()),
        }
    }

    fn seal_bytes(&self, prefix: &str, place: &str, plain: &[u8]) -> String {
        let nonce = random_bytes::<12>();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: place.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{prefix}{}", STANDARD.encode(out))
    }

    /// The value sealed by [`Sealer::seal`] or [`Sealer::seal_value`] for the same `place`.
    pub fn open(&self, place: &str, sealed: &str) -> Option<Value> {
        let (body, json) = match sealed.strip_prefix(JSON_PREFIX) {
            Some(body) => (body, true),
            None => (sealed.strip_prefix(PREFIX)?, false),
        };
        let bytes = STANDARD.decode(body).ok()?;
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
        let text = String::from_utf8(plain).ok()?;
        if json {
            serde_json::from_str(&text).ok()
        } else {
            Some(Value::String(text))
        }
    }

    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX) || value.starts_with(JSON_PREFIX)
    }

    /// Seal every credential in `doc`, whose place is `place`: under a credential key at any
    /// depth, inside objects and lists alike, whatever its JSON type. A [`MASK`] sent back
    /// means "unchanged" and keeps the sealed value of `previous` at the same path (for a
    /// list item: the same position).
    pub fn seal_tree(&self, place: &str, doc: &mut Value, previous: Option<&Value>) {
        let children: Vec<(String, &mut Value, bool)> = match doc {
            Value::Object(map) => map
                .iter_mut()
                .map(|(k, v)| (k.clone(), v, is_secret_key(k)))
                .collect(),
            Value::Array(items) => items
                .iter_mut()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v, false))
                .collect(),
            _ => return,
        };
        for (key, value, secret) in children {
            if holds_flags(&key) {
                continue;
            }
            let path = format!("{place}/{key}");
            let before = previous.and_then(|p| child(p, &key));
            if !secret {
                self.seal_tree(&path, value, before);
                continue;
            }
            if is_blank(value) {
                continue;
            }
            let given = value.as_str();
            let sealed_before = before
                .and_then(Value::as_str)
                .filter(|b| Self::is_sealed(b));
            let unchanged = given == Some(MASK) || (given.is_some() && given == sealed_before);
            *value = match before {
                _ if !unchanged => Value::String(self.seal_value(&path, value)),
                Some(kept) if sealed_before.is_some() => kept.clone(),
                // Stored in the clear by a release that missed it (in a list, not a
                // string): the mask keeps it, sealed now.
                Some(plain) if !is_blank(plain) && plain.as_str() != Some(MASK) => {
                    Value::String(self.seal_value(&path, plain))
                }
                _ => Value::Null,
            };
        }
    }
}

/// No credential: nothing to seal or mask.
fn is_blank(value: &Value) -> bool {
    value.is_null() || value.as_str() == Some("")
}

/// The child of an object (by key) or a list (by position) named by one path segment.
fn child<'a>(node: &'a Value, segment: &str) -> Option<&'a Value> {
    match node {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => {
            // Positions are plain decimal numbers: `01` or `+1` name nothing.
            if segment != "0" && segment.starts_with(['0', '+']) {
                return None;
            }
            items.get(segment.parse::<usize>().ok()?)
        }
        _ => None,
    }
}

/// Keys of objects that hold only on/off flags named after what they guard (a bot's
/// `generation_locks.account_password`): never credentials, whatever their keys say.
pub fn holds_flags(key: &str) -> bool {
    key == "generation_locks"
}

/// Keys whose values are credentials, at any depth of a document or the settings tree.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("password") || matches!(k.as_str(), "api_key" | "bot_token" | "secret" | "token")
}

/// Replace every credential (under a credential key at any depth, in objects and lists,
/// whatever its type) by [`MASK`], for reads.
pub fn mask_tree(doc: &mut Value) {
    match doc {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_secret_key(key) {
                    if !is_blank(value) {
                        *value = Value::String(MASK.into());
                    }
                } else if !holds_flags(key) {
                    mask_tree(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_tree),
        _ => {}
    }
}

/// The value at a slash-separated `path` of `doc` (list items by position, e.g.
/// `accounts/0/password`); empty segments are skipped.
pub fn at_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .try_fold(doc, child)
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
            sealer.open("t/proxies/p1/password", &sealed),
            Some(Value::from("hunter2"))
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
            sealer.open("t/bots/b1/account/password", &sealed),
            Some(Value::from("pw"))
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
    fn credentials_in_lists_and_of_any_type_are_sealed_masked_and_found() {
        let sealer = Sealer::new(&ServerKey::from_secret("0123456789abcdef0123456789abcdef"));
        let mut doc = serde_json::json!({
            "accounts": [{"login": "a", "password": "pw-a"}, {"login": "b", "password": "pw-b"}],
            "account": {"password": 987654321},
            "hosts": [[{"api_key": ["k1", "k2"]}]],
            "token": {"nested": true},
            "blank": {"password": ""},
        });
        let plain = doc.clone();
        sealer.seal_tree("t/bots/b1", &mut doc, None);
        let text = doc.to_string();
        // Quoted, so a ciphertext's base64 (which has no quotes) cannot hold one by chance.
        for secret in [
            r#""pw-a""#,
            r#""pw-b""#,
            "987654321",
            r#""k1""#,
            r#""nested""#,
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        for (path, value) in [
            ("accounts/0/password", "pw-a"),
            ("accounts/1/password", "pw-b"),
            ("account/password", "987654321"),
            ("hosts/0/0/api_key", r#"["k1","k2"]"#),
            ("token", r#"{"nested":true}"#),
        ] {
            let sealed = at_path(&doc, path).and_then(Value::as_str).unwrap();
            let opened = sealer.open(&format!("t/bots/b1/{path}"), sealed).unwrap();
            let expected = at_path(&plain, path).unwrap();
            assert_eq!(&opened, expected, "{path} (given as {value})");
            assert!(
                sealer
                    .open("t/bots/b1/accounts/9/password", sealed)
                    .is_none()
            );
        }
        assert_eq!(doc["blank"]["password"], "");
        assert_eq!(doc["accounts"][1]["login"], "b");

        // A mask sent back keeps the value at the same position.
        let mut again = serde_json::json!({"accounts": [{"password": MASK}, {"password": "new"}]});
        sealer.seal_tree("t/bots/b1", &mut again, Some(&doc));
        assert_eq!(
            again["accounts"][0]["password"],
            doc["accounts"][0]["password"]
        );
        assert_ne!(
            again["accounts"][1]["password"],
            doc["accounts"][1]["password"]
        );

        // A credential an earlier release stored in the clear, masked in the read and sent
        // back as the mask, is kept and sealed.
        let legacy = serde_json::json!({"accounts": [{"password": 1234}]});
        let mut masked = serde_json::json!({"accounts": [{"password": MASK}]});
        sealer.seal_tree("t/bots/b2", &mut masked, Some(&legacy));
        let sealed = masked["accounts"][0]["password"].as_str().unwrap();
        assert_eq!(
            sealer.open("t/bots/b2/accounts/0/password", sealed),
            Some(Value::from(1234))
        );

        mask_tree(&mut doc);
        assert_eq!(doc["accounts"][0]["password"], MASK);
        assert_eq!(doc["account"]["password"], MASK);
        assert_eq!(doc["hosts"][0][0]["api_key"], MASK);
        assert_eq!(doc["token"], MASK);
        assert_eq!(doc["blank"]["password"], "");
        assert_eq!(at_path(&doc, "accounts//1/login"), Some(&Value::from("b")));
        for missing in [
            "accounts/01/login",
            "accounts/+1/login",
            "accounts/-1/login",
            "accounts/x",
        ] {
            assert!(at_path(&doc, missing).is_none(), "{missing}");
        }
    }

    #[test]
    fn flags_named_after_credentials_stay_flags() {
        let sealer = Sealer::new(&ServerKey::from_secret("0123456789abcdef0123456789abcdef"));
        let mut doc = serde_json::json!({"generation_locks": {"account_password": true},
            "account": {"password": "pw"}});
        sealer.seal_tree("bots:b", &mut doc, None);
        assert_eq!(doc["generation_locks"]["account_password"], true);
        assert!(Sealer::is_sealed(
            doc["account"]["password"].as_str().unwrap()
        ));
        mask_tree(&mut doc);
        assert_eq!(doc["generation_locks"]["account_password"], true);
        assert_eq!(doc["account"]["password"], MASK);
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
