//! Client settings: where PVE is, how to authenticate, which certificate to trust.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};

/// Everything [`crate::ProxmoxClient::new`] needs.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Base of the API, always ending in `/api2/json/`.
    pub(crate) api_base: Url,
    pub credentials: Credentials,
    pub tls: TlsTrust,
    /// Budget for one HTTP request (PVE answers synchronous calls quickly; long work is a task).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// A ticket lives 2 hours; it is renewed once it is older than this.
    pub ticket_renew_after: Duration,
}

impl ClientConfig {
    /// `url` is `https://host:8006` (any path is replaced by `/api2/json/`), or a bare
    /// `host[:port]`, which means `https://host:8006`. Plain `http://` is used only when written
    /// out explicitly (tests against a fake); it is never a fallback.
    pub fn new(url: &str, credentials: Credentials) -> Result<Self> {
        Ok(Self {
            api_base: api_base(url)?,
            credentials,
            tls: TlsTrust::default(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ticket_renew_after: Duration::from_secs(90 * 60),
        })
    }

    /// Same configuration with a different trust setting.
    pub fn with_tls(mut self, tls: TlsTrust) -> Self {
        self.tls = tls;
        self
    }
}

fn api_base(input: &str) -> Result<Url> {
    let input = input.trim();
    let mut url = if input.contains("://") {
        Url::parse(input).map_err(|e| Error::Config(format!("invalid URL '{input}': {e}")))?
    } else {
        let authority = input.split('/').next().unwrap_or_default();
        let has_port = match authority.strip_prefix('[') {
            Some(v6) => v6.contains("]:"),
            None => authority.contains(':'),
        };
        let with_port = if has_port {
            format!("https://{input}")
        } else {
            format!("https://{authority}:8006")
        };
        Url::parse(&with_port).map_err(|e| Error::Config(format!("invalid host '{input}': {e}")))?
    };
    if !matches!(url.scheme(), "https" | "http") {
        return Err(Error::Config(format!(
            "unsupported URL scheme '{}' (use https://)",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::Config(format!("URL '{input}' has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "credentials belong in the client configuration, not in the URL".into(),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    url.set_path("/api2/json/");
    Ok(url)
}

/// How requests authenticate.
#[derive(Clone)]
pub enum Credentials {
    /// `Authorization: PVEAPIToken=...`: no login, no CSRF token, no renewal.
    ApiToken(ApiToken),
    /// Ticket login (`POST /access/ticket`); `@pam` is appended to a user without realm.
    Password { username: String, password: String },
}

impl Credentials {
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Password {
            username: with_default_realm(username.into()),
            password: password.into(),
        }
    }
}

/// `root` -> `root@pam`; a user with a realm is kept as it is.
pub(crate) fn with_default_realm(mut username: String) -> String {
    if !username.contains('@') {
        username.push_str("@pam");
    }
    username
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiToken(token) => f.debug_tuple("ApiToken").field(token).finish(),
            Self::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"********")
                .finish(),
        }
    }
}

/// A PVE API token: `USER@REALM!TOKENID=SECRET`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    token_id: String,
    secret: String,
}

impl ApiToken {
    /// The full token id, `user@realm!tokenid` (the user tasks are attributed to).
    pub fn token_id(&self) -> &str {
        &self.token_id
    }

    pub(crate) fn header_value(&self) -> String {
        format!("PVEAPIToken={}={}", self.token_id, self.secret)
    }
}

impl FromStr for ApiToken {
    type Err = Error;

    /// Splits at the last `=`, as the server does.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let s = s.strip_prefix("PVEAPIToken=").unwrap_or(s);
        let bad = |why: &str| {
            Error::Config(format!(
                "invalid API token ({why}); expected USER@REALM!TOKENID=SECRET"
            ))
        };
        let (token_id, secret) = s.rsplit_once('=').ok_or_else(|| bad("no '='"))?;
        let (user, id) = token_id.split_once('!').ok_or_else(|| bad("no '!'"))?;
        let (name, realm) = user.split_once('@').ok_or_else(|| bad("no '@realm'"))?;
        if name.is_empty() || realm.is_empty() {
            return Err(bad("empty user or realm"));
        }
        let mut chars = id.chars();
        let id_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && id.len() >= 2
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !id_ok {
            return Err(bad("token id must match [A-Za-z][A-Za-z0-9._-]+"));
        }
        if secret.is_empty() {
            return Err(bad("empty secret"));
        }
        Ok(Self {
            token_id: token_id.to_owned(),
            secret: secret.to_owned(),
        })
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiToken({}=********)", self.token_id)
    }
}

/// Which server certificates are accepted. Verification is never switched off.
#[derive(Clone, Debug, Default)]
pub enum TlsTrust {
    /// Normal WebPKI verification against the bundled Mozilla roots.
    #[default]
    WebPki,
    /// WebPKI verification against the bundled roots plus this CA (PEM), e.g. the cluster's
    /// own `pve-root-ca.pem`.
    ExtraCaPem(Vec<u8>),
    /// Accept exactly the leaf certificate with this SHA-256 fingerprint (what PVE shows as the
    /// node's `ssl_fingerprint`); host name and validity dates are not checked, the TLS
    /// handshake signature still is.
    Fingerprint(CertFingerprint),
}

/// SHA-256 fingerprint of a DER certificate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CertFingerprint(pub [u8; 32]);

impl CertFingerprint {
    /// Fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(der).into())
    }
}

impl FromStr for CertFingerprint {
    type Err = Error;

    /// Accepts `AA:BB:...` (as PVE prints it) or 64 plain hex digits, any case.
    fn from_str(s: &str) -> Result<Self> {
        let hex_digits: String = s.trim().chars().filter(|c| *c != ':').collect();
        let mut out = [0u8; 32];
        hex::decode_to_slice(&hex_digits, &mut out).map_err(|_| {
            Error::Config(format!(
                "invalid SHA-256 fingerprint '{s}': expected 32 bytes as hex, e.g. AA:BB:..."
            ))
        })?;
        Ok(Self(out))
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Credentials {
        Credentials::ApiToken("root@pam!ci=aaaa".parse().unwrap())
    }

    #[test]
    fn base_url_forms() {
        let base = |u: &str| ClientConfig::new(u, token()).unwrap().api_base.to_string();
        assert_eq!(base("pve.lan"), "https://pve.lan:8006/api2/json/");
        assert_eq!(base("pve.lan:443"), "https://pve.lan/api2/json/");
        assert_eq!(base("[::1]"), "https://[::1]:8006/api2/json/");
        assert_eq!(
            base("https://pve.lan:8006"),
            "https://pve.lan:8006/api2/json/"
        );
        assert_eq!(
            base("https://pve.lan:8006/api2/json"),
            "https://pve.lan:8006/api2/json/"
        );
        assert_eq!(
            base("http://127.0.0.1:9000/"),
            "http://127.0.0.1:9000/api2/json/"
        );
        assert!(ClientConfig::new("ftp://pve.lan", token()).is_err());
        assert!(ClientConfig::new("https://root:pw@pve.lan", token()).is_err());
    }

    #[test]
    fn api_token_parsing() {
        let t: ApiToken = "ops@pve!ci=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
            .parse()
            .unwrap();
        assert_eq!(t.token_id(), "ops@pve!ci");
        assert_eq!(
            t.header_value(),
            "PVEAPIToken=ops@pve!ci=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
        );
        // the secret never shows in Debug
        assert!(!format!("{t:?}").contains("aaaa"));
        // the server splits at the last '=', so "x1=se" would be the token id: invalid
        for bad in [
            "a@b!x1=se=cret",
            "root@pam=secret",
            "root!ci=s",
            "root@pam!1x=s",
            "root@pam!ci=",
            "@pam!ci=s",
        ] {
            assert!(bad.parse::<ApiToken>().is_err(), "{bad}");
        }
    }

    #[test]
    fn password_credentials_default_realm() {
        let Credentials::Password { username, .. } = Credentials::password("root", "x") else {
            unreachable!()
        };
        assert_eq!(username, "root@pam");
        assert!(!format!("{:?}", Credentials::password("a@pve", "hunter2")).contains("hunter2"));
    }

    #[test]
    fn fingerprint_forms() {
        let colon = "AB:".repeat(31) + "CD";
        let fp: CertFingerprint = colon.parse().unwrap();
        assert_eq!(fp.to_string(), colon);
        let plain: CertFingerprint = colon.replace(':', "").to_lowercase().parse().unwrap();
        assert_eq!(fp, plain);
        assert!("AB:CD".parse::<CertFingerprint>().is_err());
        assert!("zz".repeat(32).parse::<CertFingerprint>().is_err());
    }
}
