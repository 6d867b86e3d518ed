//! The one-paste pairing bundle and the parser of everything an operator may paste into
//! the agent (spec agent-and-vm-ops.md §2.2).

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

use super::ProxmoxHints;

/// Bundle format version this crate writes and reads.
pub const BUNDLE_VERSION: u64 = 1;

/// What the agent needs to pair: the code, where the server is, and Proxmox hints for its
/// form. `pairing_bundle` is this as base64url (no padding) of its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PairingBundle {
    /// Always 1.
    #[schema(example = 1)]
    pub v: u64,
    #[schema(example = "0123456789abcdef0123456789abcdef")]
    pub pairing_code: String,
    /// Base URL of the server, without a trailing slash; `null` when unknown.
    #[schema(example = "https://botmox.example.com")]
    pub server_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxmox: Option<ProxmoxHints>,
}

/// A paste that holds no pairing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    #[error("nothing to pair with: paste a pairing code, bundle or link")]
    Empty,
    #[error("the pairing bundle is not valid: {0}")]
    BadBundle(String),
    #[error("pairing bundle version {0} is not supported (this agent reads version 1)")]
    UnsupportedVersion(u64),
    #[error("the link holds no pairing code or bundle")]
    NoCode,
    #[error("this is not a pairing code, bundle or link")]
    NotAPairing,
}

/// Padding is optional when reading: some tools add it back when copying.
const READ_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Raw pairing codes are 32 hex characters; anything up to this is taken as a code.
const MAX_CODE_CHARS: usize = 200;

impl PairingBundle {
    /// A version-1 bundle; empty hints are left out.
    pub fn new(
        pairing_code: impl Into<String>,
        server_url: Option<String>,
        proxmox: Option<ProxmoxHints>,
    ) -> Self {
        Self {
            v: BUNDLE_VERSION,
            pairing_code: pairing_code.into(),
            server_url: server_url.map(|u| u.trim_end_matches('/').to_owned()),
            proxmox: proxmox.filter(|p| !p.is_empty()),
        }
    }

    /// The `pairing_bundle` text: base64url without padding of the JSON.
    pub fn encode(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Read a `pairing_bundle` text (padding optional; the reference's key spellings accepted).
    pub fn decode(text: &str) -> Result<Self, PairingError> {
        let bytes = READ_BASE64
            .decode(text.trim())
            .map_err(|e| PairingError::BadBundle(e.to_string()))?;
        let loose: LooseBundle =
            serde_json::from_slice(&bytes).map_err(|e| PairingError::BadBundle(e.to_string()))?;
        loose.into_bundle()
    }

    /// `botmox://pair?bundle=<bundle>` (base64url needs no percent-encoding).
    pub fn uri(&self) -> String {
        format!("botmox://pair?bundle={}", self.encode())
    }

    /// `<server_url>/agent/pair?bundle=<bundle>`, when the server URL is known.
    pub fn link(&self) -> Option<String> {
        let base = self.server_url.as_deref()?;
        Some(format!("{base}/agent/pair?bundle={}", self.encode()))
    }
}

/// Everything the reference's bundles and hints have been spelled as.
#[derive(Deserialize)]
struct LooseBundle {
    v: Option<u64>,
    #[serde(alias = "code")]
    pairing_code: Option<String>,
    #[serde(alias = "serverUrl")]
    server_url: Option<String>,
    #[serde(alias = "proxmox_defaults")]
    proxmox: Option<LooseHints>,
}

#[derive(Deserialize)]
struct LooseHints {
    #[serde(alias = "proxmoxUrl")]
    url: Option<String>,
    #[serde(alias = "proxmoxUsername")]
    username: Option<String>,
    #[serde(alias = "proxmoxNode")]
    node: Option<String>,
}

fn non_blank(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Whether `code` can be a pairing code: one word of printable characters, at most
/// [`MAX_CODE_CHARS`] long. Anything else is refused here rather than sent to the server.
fn is_code(code: &str) -> bool {
    !code.is_empty()
        && code.chars().count() <= MAX_CODE_CHARS
        && !code.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `code` when [`is_code`], else why not.
fn checked_code(code: String) -> Result<String, PairingError> {
    if is_code(&code) {
        Ok(code)
    } else {
        Err(PairingError::BadBundle(
            "the pairing code is not one word of at most 200 printable characters".into(),
        ))
    }
}

impl LooseBundle {
    fn into_bundle(self) -> Result<PairingBundle, PairingError> {
        if let Some(v) = self.v.filter(|v| *v != BUNDLE_VERSION) {
            return Err(PairingError::UnsupportedVersion(v));
        }
        let code = checked_code(non_blank(self.pairing_code).ok_or(PairingError::NoCode)?)?;
        let hints = self.proxmox.map(|h| ProxmoxHints {
            url: non_blank(h.url),
            username: non_blank(h.username),
            node: non_blank(h.node),
        });
        Ok(PairingBundle::new(code, non_blank(self.server_url), hints))
    }
}

/// Read what an operator pasted: a bare bundle, the bundle's JSON, a `botmox://pair?bundle=`
/// URI, a `<server>/agent/pair?bundle=` link (absolute or as a path), a link with
/// `?pairing_code=` or `?code=` (plus `server_url`/`serverUrl`, `proxmox_url`,
/// `proxmox_username`, `proxmox_node`), a link ending in `/pair/<code>`, or the bare code.
/// A link's http(s) origin is the server URL when the link names none.
pub fn parse_pairing_string(input: &str) -> Result<PairingBundle, PairingError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(PairingError::Empty);
    }
    if text.starts_with('{') {
        let loose: LooseBundle =
            serde_json::from_str(text).map_err(|e| PairingError::BadBundle(e.to_string()))?;
        return loose.into_bundle();
    }
    if let Some(link) = as_link(text) {
        return from_link(&link.url, link.origin);
    }
    // A bare bundle decodes to a JSON object; a raw code (hex) may decode, but not to that.
    if let Ok(bundle) = PairingBundle::decode(text) {
        return Ok(bundle);
    }
    if is_code(text) {
        return Ok(PairingBundle::new(text, None, None));
    }
    Err(PairingError::NotAPairing)
}

struct Link {
    url: Url,
    /// The server URL implied by the link: its origin, for http(s) links.
    origin: Option<String>,
}

fn as_link(text: &str) -> Option<Link> {
    if text.starts_with('/') {
        // A path such as `/agent/pair?bundle=...`: parse it against a placeholder base.
        let url = Url::parse("http://link.invalid").ok()?.join(text).ok()?;
        return Some(Link { url, origin: None });
    }
    if !text.contains("://") {
        return None;
    }
    let url = Url::parse(text).ok()?;
    let origin =
        matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization());
    Some(Link { url, origin })
}

fn from_link(url: &Url, origin: Option<String>) -> Result<PairingBundle, PairingError> {
    let query = |keys: &[&str]| {
        url.query_pairs()
            .find(|(k, v)| keys.contains(&k.as_ref()) && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    let mut bundle = if let Some(b) = query(&["bundle"]) {
        PairingBundle::decode(&b)?
    } else {
        let code = query(&["pairing_code", "code"])
            .or_else(|| {
                let mut segments = url.path_segments()?.rev().filter(|s| !s.is_empty());
                let code = segments.next()?;
                (segments.next() == Some("pair")).then(|| code.to_owned())
            })
            .ok_or(PairingError::NoCode)?;
        let code = checked_code(code)?;
        let hints = ProxmoxHints {
            url: query(&["proxmox_url"]),
            username: query(&["proxmox_username"]),
            node: query(&["proxmox_node"]),
        };
        PairingBundle::new(code, query(&["server_url", "serverUrl"]), Some(hints))
    };
    if bundle.server_url.is_none() {
        bundle.server_url = origin;
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CODE: &str = "0123456789abcdef0123456789abcdef";

    fn hinted() -> PairingBundle {
        PairingBundle::new(
            CODE,
            Some("https://botmox.example.com/".into()),
            Some(ProxmoxHints {
                url: Some("https://pve.lan:8006".into()),
                username: Some("root@pam".into()),
                node: Some("h1".into()),
            }),
        )
    }

    #[test]
    fn a_bundle_encodes_the_reference_json() {
        let b = hinted();
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(b.encode()).unwrap()).unwrap();
        assert_eq!(
            json,
            json!({"v": 1, "pairing_code": CODE, "server_url": "https://botmox.example.com",
                "proxmox": {"url": "https://pve.lan:8006", "username": "root@pam", "node": "h1"}})
        );
        assert!(!b.encode().contains('='));
        let bare = PairingBundle::new(CODE, None, Some(ProxmoxHints::default()));
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(bare.encode()).unwrap()).unwrap();
        assert_eq!(
            json,
            json!({"v": 1, "pairing_code": CODE, "server_url": null})
        );
        assert_eq!(bare.link(), None);
        assert_eq!(PairingBundle::decode(&b.encode()).unwrap(), b);
    }

    #[test]
    fn every_paste_format_gives_the_pairing() {
        let b = hinted();
        let link = b.link().unwrap();
        assert!(link.starts_with("https://botmox.example.com/agent/pair?bundle="));
        let path = link.trim_start_matches("https://botmox.example.com");
        for paste in [
            b.encode(),
            format!("  {}\n", b.encode()),
            base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&b).unwrap()),
            serde_json::to_string(&b).unwrap(),
            b.uri(),
            link.clone(),
            path.to_owned(),
        ] {
            assert_eq!(parse_pairing_string(&paste).unwrap(), b, "{paste}");
        }
    }

    #[test]
    fn the_references_spellings_are_read() {
        let raw = json!({"code": CODE, "serverUrl": "http://10.0.0.5:3001/",
            "proxmox_defaults": {"proxmoxUrl": "https://pve:8006", "proxmoxUsername": "root", "proxmoxNode": " "}});
        let pasted = URL_SAFE_NO_PAD.encode(raw.to_string());
        let b = parse_pairing_string(&pasted).unwrap();
        assert_eq!(b.pairing_code, CODE);
        assert_eq!(b.server_url.as_deref(), Some("http://10.0.0.5:3001"));
        let hints = b.proxmox.unwrap();
        assert_eq!(
            (hints.url.as_deref(), hints.username.as_deref(), hints.node),
            (Some("https://pve:8006"), Some("root"), None)
        );
    }

    #[test]
    fn links_with_a_code_take_the_server_from_the_link() {
        let b = parse_pairing_string(&format!(
            "https://botmox.example.com:8443/agent/pair?code={CODE}&proxmox_node=h2"
        ))
        .unwrap();
        assert_eq!(
            (b.pairing_code.as_str(), b.server_url.as_deref()),
            (CODE, Some("https://botmox.example.com:8443"))
        );
        assert_eq!(b.proxmox.unwrap().node.as_deref(), Some("h2"));
        let b = parse_pairing_string(&format!(
            "http://host/x?pairing_code={CODE}&serverUrl=https://api.example.com"
        ))
        .unwrap();
        assert_eq!(b.server_url.as_deref(), Some("https://api.example.com"));
        let b = parse_pairing_string(&format!("https://botmox.example.com/pair/{CODE}/")).unwrap();
        assert_eq!(
            (b.pairing_code.as_str(), b.server_url.as_deref(), b.proxmox),
            (CODE, Some("https://botmox.example.com"), None)
        );
        let b = parse_pairing_string(&format!("botmox://pair?code={CODE}")).unwrap();
        assert_eq!(b.server_url, None, "no origin for a botmox:// link");
    }

    #[test]
    fn a_bare_code_is_a_code_and_nonsense_is_refused() {
        let b = parse_pairing_string(CODE).unwrap();
        assert_eq!((b.pairing_code.as_str(), b.server_url), (CODE, None));
        assert_eq!(parse_pairing_string("  "), Err(PairingError::Empty));
        assert_eq!(
            parse_pairing_string("two words"),
            Err(PairingError::NotAPairing)
        );
        assert_eq!(
            parse_pairing_string("https://botmox.example.com/agents"),
            Err(PairingError::NoCode)
        );
        assert_eq!(
            parse_pairing_string(&json!({"v": 2, "pairing_code": CODE}).to_string()),
            Err(PairingError::UnsupportedVersion(2))
        );
        assert!(matches!(
            parse_pairing_string("botmox://pair?bundle=!!!"),
            Err(PairingError::BadBundle(_))
        ));
    }

    #[test]
    fn a_code_with_controls_or_of_any_length_is_refused_in_every_form() {
        let long = "c".repeat(MAX_CODE_CHARS + 1);
        assert_eq!(parse_pairing_string(&long), Err(PairingError::NotAPairing));
        assert_eq!(
            parse_pairing_string("ab\u{0}cd"),
            Err(PairingError::NotAPairing)
        );
        for bad in [
            json!({"pairing_code": long}).to_string(),
            json!({"pairing_code": "ab\u{0}cd"}).to_string(),
            json!({"code": "two words"}).to_string(),
            "https://botmox.example.com/agent/pair?code=ab%00cd".to_owned(),
            format!("https://botmox.example.com/agent/pair?code={long}"),
        ] {
            assert!(
                matches!(parse_pairing_string(&bad), Err(PairingError::BadBundle(_))),
                "{bad}"
            );
        }
        // A bare bundle whose code is bad is no bundle; it is only taken as the code it spells.
        let pasted = URL_SAFE_NO_PAD.encode(json!({"code": "a\u{7}b"}).to_string());
        assert!(matches!(
            PairingBundle::decode(&pasted),
            Err(PairingError::BadBundle(_))
        ));
        assert_eq!(parse_pairing_string(&pasted).unwrap().pairing_code, pasted);
    }
}
