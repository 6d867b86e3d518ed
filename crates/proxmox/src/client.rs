//! Transport: builds the HTTP client, authenticates each request (token header, or ticket
//! cookie plus CSRF token with renewal), and turns replies into `data` or a typed [`Error`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, COOKIE, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use url::Url;

use crate::config::{ClientConfig, Credentials, TlsTrust, with_default_realm};
use crate::error::{Error, Result};
use crate::tls::pinned_client_config;

/// A Proxmox VE API client. Cheap to clone; clones share the connection pool and the ticket.
#[derive(Clone)]
pub struct ProxmoxClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    request_timeout: Duration,
}

enum Auth {
    Token(HeaderValue),
    Ticket(TicketAuth),
}

struct TicketAuth {
    username: String,
    password: String,
    renew_after: Duration,
    /// Held across a login so concurrent requests share one.
    session: Mutex<Option<Arc<Session>>>,
}

struct Session {
    cookie: HeaderValue,
    csrf: HeaderValue,
    obtained: Instant,
}

/// A request body.
pub(crate) enum Body {
    Empty,
    Form(Vec<(String, String)>),
}

impl std::fmt::Debug for ProxmoxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxmoxClient")
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

impl ProxmoxClient {
    pub fn new(config: ClientConfig) -> Result<Self> {
        let https = config.api_base.scheme() == "https";
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("botmox-proxmox/", env!("CARGO_PKG_VERSION")))
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout);
        match &config.tls {
            TlsTrust::WebPki => {}
            TlsTrust::ExtraCaPem(pem) => {
                let certs = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
                if certs.is_empty() {
                    return Err(Error::Config(
                        "CA certificate: no PEM certificate found".into(),
                    ));
                }
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            TlsTrust::Fingerprint(fp) => {
                builder = builder.use_preconfigured_tls(pinned_client_config(*fp)?);
            }
        }
        if !https && !matches!(config.tls, TlsTrust::WebPki) {
            return Err(Error::Config(
                "a CA or certificate fingerprint needs an https:// URL".into(),
            ));
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {}", error_chain(&e))))?;
        let auth = match config.credentials {
            Credentials::ApiToken(token) => {
                let mut value = HeaderValue::from_str(&token.header_value())
                    .map_err(|_| Error::Config("API token contains invalid characters".into()))?;
                value.set_sensitive(true);
                Auth::Token(value)
            }
            Credentials::Password { username, password } => Auth::Ticket(TicketAuth {
                username: with_default_realm(username),
                password,
                renew_after: config.ticket_renew_after,
                session: Mutex::new(None),
            }),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base: config.api_base,
                auth,
                request_timeout: config.request_timeout,
            }),
        })
    }

    /// The API base URL (`.../api2/json/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Check the credentials now: a ticket login (a fresh one if `force`), or for an API token
    /// one authenticated call.
    pub async fn login(&self, force: bool) -> Result<()> {
        match &self.inner.auth {
            Auth::Token(_) => self.version().await.map(drop),
            Auth::Ticket(t) => {
                if force {
                    *t.session.lock().await = None;
                }
                t.session(self).await.map(drop)
            }
        }
    }

    /// URL of an API path; each segment is percent-encoded (UPIDs and volume ids contain
    /// `:`, `@`, `!` and `/`). A segment that would change the path instead of naming something
    /// (empty, `.`, `..`: the URL parser silently drops the dot forms) is refused, as are
    /// control characters and unsafe query values (see [`check_params`]).
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url> {
        if let Some(bad) = segments
            .iter()
            .find(|s| matches!(**s, "" | "." | "..") || s.chars().any(char::is_control))
        {
            return Err(Error::BadParams {
                message: format!("unusable name in the request path: {bad:?}"),
                errors: BTreeMap::new(),
            });
        }
        check_params(query.iter().map(|(k, v)| (*k, v.as_str())))?;
        let mut url = self.inner.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("an http(s) base URL has path segments");
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// One API call returning `data`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Body,
    ) -> Result<T> {
        let url = self.url(segments, query)?;
        if let Body::Form(form) = &body {
            check_params(form.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        }
        let response = self
            .send(&method, || {
                let builder = self.inner.http.request(method.clone(), url.clone());
                Ok(match &body {
                    Body::Empty => builder,
                    Body::Form(form) => builder.form(form),
                })
            })
            .await?;
        decode(response).await
    }

    /// Send an authenticated request built by `build` (called again for the retry after a
    /// fresh login, so bodies must be rebuildable).
    pub(crate) async fn send(
        &self,
        method: &Method,
        build: impl Fn() -> Result<RequestBuilder>,
    ) -> Result<Response> {
        match &self.inner.auth {
            Auth::Token(header) => execute(build()?.header(AUTHORIZATION, header.clone())).await,
            Auth::Ticket(t) => {
                let session = t.session(self).await?;
                let response = execute(session.apply(build()?, method)).await?;
                if response.status() != StatusCode::UNAUTHORIZED {
                    return Ok(response);
                }
                // The ticket expired or was revoked under us: log in once more and repeat.
                tracing::debug!("PVE answered 401 to a ticket request; logging in again");
                t.discard(&session).await;
                let session = t.session(self).await?;
                execute(session.apply(build()?, method)).await
            }
        }
    }

    async fn request_ticket(&self, username: &str, password: &str) -> Result<Session> {
        #[derive(Deserialize)]
        struct Login {
            ticket: String,
            #[serde(rename = "CSRFPreventionToken")]
            csrf: String,
        }
        let url = self.url(&["access", "ticket"], &[])?;
        let form = [("username", username), ("password", password)];
        let response = execute(self.inner.http.post(url).form(&form)).await?;
        let login: Login = decode(response).await?;
        let header = |v: String| {
            HeaderValue::from_str(&v).map(|mut h| {
                h.set_sensitive(true);
                h
            })
        };
        Ok(Session {
            cookie: header(format!("PVEAuthCookie={}", login.ticket))
                .map_err(|_| Error::Decode("ticket contains invalid characters".into()))?,
            csrf: header(login.csrf)
                .map_err(|_| Error::Decode("CSRF token contains invalid characters".into()))?,
            obtained: Instant::now(),
        })
    }
}

impl TicketAuth {
    /// The current session; logs in when there is none and renews one older than
    /// `renew_after` (renewal passes the ticket as password; if that fails, a password login).
    async fn session(&self, client: &ProxmoxClient) -> Result<Arc<Session>> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref() {
            if session.obtained.elapsed() < self.renew_after {
                return Ok(session.clone());
            }
            let ticket = session
                .cookie
                .to_str()
                .ok()
                .and_then(|c| c.strip_prefix("PVEAuthCookie="))
                .map(str::to_owned);
            if let Some(ticket) = ticket {
                match client.request_ticket(&self.username, &ticket).await {
                    Ok(renewed) => {
                        let renewed = Arc::new(renewed);
                        *slot = Some(renewed.clone());
                        return Ok(renewed);
                    }
                    Err(e) => tracing::debug!("ticket renewal failed ({e}); logging in again"),
                }
            }
        }
        let fresh = Arc::new(
            client
                .request_ticket(&self.username, &self.password)
                .await?,
        );
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forget `stale` unless another request already replaced it.
    async fn discard(&self, stale: &Arc<Session>) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, stale)) {
            *slot = None;
        }
    }
}

impl Session {
    fn apply(&self, builder: RequestBuilder, method: &Method) -> RequestBuilder {
        let builder = builder.header(COOKIE, self.cookie.clone());
        if method == Method::GET {
            builder
        } else {
            builder.header("CSRFPreventionToken", self.csrf.clone())
        }
    }
}

/// Refuse parameters PVE would misread, before anything is sent: a name outside
/// `[A-Za-z0-9_-]` or given twice (e.g. `set("delete", ..)` next to `delete(..)`), and control
/// characters in a value. PVE writes each config value as one `key: value` line, so a line
/// break would smuggle in extra keys (`net0: ...\nhookscript: ...`); only `description`, stored
/// as comment lines, may span lines. NUL is refused everywhere.
pub(crate) fn check_params<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<()> {
    let mut seen = HashSet::new();
    for (name, value) in pairs {
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(Error::local_param(
                name,
                format!("invalid parameter name {name:?}"),
            ));
        }
        if !seen.insert(name) {
            return Err(Error::local_param(name, "parameter given twice"));
        }
        let multiline = name == "description";
        let bad = value
            .chars()
            .find(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
        if let Some(c) = bad {
            return Err(Error::local_param(
                name,
                format!("control character {c:?} not allowed in the value"),
            ));
        }
    }
    Ok(())
}

async fn execute(builder: RequestBuilder) -> Result<Response> {
    builder.send().await.map_err(transport_error)
}

fn transport_error(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::Timeout(format!("request timed out: {}", error_chain(&e)))
    } else {
        Error::Transport(error_chain(&e))
    }
}

/// An error and its causes on one line (TLS failures hide the useful part in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `data` of a 2xx reply, or the typed error of any other.
pub(crate) async fn decode<T: DeserializeOwned>(response: Response) -> Result<T> {
    #[derive(Deserialize)]
    struct Envelope<T> {
        data: T,
    }
    let status = response.status();
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
    let body = response.bytes().await.map_err(transport_error)?;
    if status.is_success() {
        return serde_json::from_slice::<Envelope<T>>(&body)
            .map(|e| e.data)
            .map_err(|e| {
                let preview: String = String::from_utf8_lossy(&body).chars().take(200).collect();
                Error::Decode(format!("{e} in reply {preview:?}"))
            });
    }
    Err(error_from_reply(status, reason, &body))
}

/// Error text = JSON `message`, else the reason phrase (older servers put the only copy there),
/// else the body, else the standard phrase; plus the `errors` map of a 400.
/// A body of an unexpected shape (not JSON, `message` not a string, `errors` not an object)
/// loses only the part that does not fit.
fn error_from_reply(status: StatusCode, reason: Option<String>, body: &[u8]) -> Error {
    use serde_json::Value;
    let mut parsed = match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let json_message = match parsed.remove("message") {
        Some(Value::String(m)) => Some(m),
        _ => None,
    };
    let errors = match parsed.remove("errors") {
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text.trim_end().to_owned())
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let body_text = || {
        let text = String::from_utf8_lossy(body).trim().to_owned();
        (!text.is_empty() && !text.starts_with('{')).then_some(text)
    };
    let message = json_message
        .map(|m| m.trim_end().to_owned())
        .filter(|m| !m.is_empty())
        .or(reason.filter(|r| !r.trim().is_empty()))
        .or_else(body_text)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("HTTP error").to_owned());
    Error::from_status(status.as_u16(), message, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_precedence() {
        let s500 = StatusCode::INTERNAL_SERVER_ERROR;
        let newer = br#"{"data":null,"message":"VM is locked (clone)\n"}"#;
        let e = error_from_reply(s500, Some("VM is locked (clone)".into()), newer);
        assert_eq!(e.code(), "PVE_LOCKED");
        assert_eq!(e.to_string(), "VM is locked (clone)");

        // older servers: only the reason phrase carries the text
        let e = error_from_reply(
            s500,
            Some("Configuration file 'nodes/pve/qemu-server/9.conf' does not exist".into()),
            br#"{"data":null}"#,
        );
        assert_eq!(e.code(), "PVE_NOT_FOUND");

        // 401 from the front end: empty body, reason only
        let e = error_from_reply(StatusCode::UNAUTHORIZED, Some("No ticket".into()), b"");
        assert_eq!(
            e,
            Error::Unauthorized {
                message: "No ticket".into()
            }
        );

        // plain-text body from the front end, no custom reason
        let e = error_from_reply(
            StatusCode::NOT_IMPLEMENTED,
            None,
            b"Method 'GET /x' not implemented\n",
        );
        assert_eq!(e.to_string(), "HTTP 501: Method 'GET /x' not implemented");

        // nothing at all
        let e = error_from_reply(StatusCode::BAD_GATEWAY, None, b"");
        assert_eq!(e.to_string(), "HTTP 502: Bad Gateway");
    }

    #[test]
    fn bad_params_keep_the_errors_map() {
        let body = br#"{"data":null,"message":"Parameter verification failed.\n","errors":{"newid":"invalid format - value does not look like a valid VM ID\n","bogus":"property is not defined in schema and the schema does not allow additional properties"}}"#;
        let Error::BadParams { message, errors } =
            error_from_reply(StatusCode::BAD_REQUEST, None, body)
        else {
            panic!("expected BadParams")
        };
        assert_eq!(message, "Parameter verification failed.");
        assert_eq!(
            errors["newid"],
            "invalid format - value does not look like a valid VM ID"
        );
        assert!(errors.contains_key("bogus"));
    }

    #[test]
    fn error_bodies_of_the_wrong_shape_keep_what_fits() {
        // `errors` as an array: the message must survive
        let body = br#"{"data":null,"message":"storage 'nas' does not exist\n","errors":["x"]}"#;
        let e = error_from_reply(StatusCode::INTERNAL_SERVER_ERROR, None, body);
        assert_eq!(
            e,
            Error::NotFound {
                message: "storage 'nas' does not exist".into()
            }
        );
        // `message` not a string, body an array: fall back to the reason phrase
        let e = error_from_reply(
            StatusCode::BAD_REQUEST,
            Some("bad".into()),
            br#"{"message":7}"#,
        );
        assert_eq!(e.to_string(), "bad");
        let e = error_from_reply(StatusCode::FORBIDDEN, Some("denied".into()), b"[1,2]");
        assert_eq!(e.to_string(), "denied");
    }

    #[test]
    fn unsafe_parameters_are_refused_before_sending() {
        let ok = [
            ("net0", "virtio,bridge=vmbr0"),
            ("description", "two\nlines\r\n"),
        ];
        check_params(ok).unwrap();
        for (name, value) in [
            (
                "net0",
                "virtio,bridge=vmbr0\nhookscript: local:snippets/x.sh",
            ),
            ("args", "-x\r-y"),
            ("name", "w11\0"),
            ("description", "nul\0inside"),
            ("cores\nargs", "1"),
            ("", "1"),
            ("a&b", "1"),
        ] {
            let err = check_params([(name, value)]).unwrap_err();
            assert_eq!(err.code(), "PVE_BAD_PARAMS", "{name:?}={value:?}");
        }
        let twice = check_params([("delete", "ide2"), ("delete", "scsi0")]).unwrap_err();
        assert_eq!(
            twice.to_string(),
            "parameter given twice (delete: parameter given twice)"
        );
    }

    #[test]
    fn path_segments_that_would_move_the_path_are_refused() {
        let config = ClientConfig::new(
            "http://127.0.0.1:1",
            Credentials::ApiToken("a@b!cd=x".parse().unwrap()),
        )
        .unwrap();
        let client = ProxmoxClient::new(config).unwrap();
        for node in ["..", ".", "", "pve\n"] {
            assert!(
                client.url(&["nodes", node, "qemu"], &[]).is_err(),
                "{node:?}"
            );
        }
        assert!(
            client
                .url(&["nodes", "pve", "storage"], &[("content", "iso\0".into())])
                .is_err()
        );
        // `..` inside a name is harmless once encoded
        let url = client
            .url(&["nodes", "pve", "storage", "a..b"], &[])
            .unwrap();
        assert!(url.as_str().ends_with("/storage/a..b"), "{url}");
    }

    #[test]
    fn path_segments_are_encoded() {
        let config = ClientConfig::new(
            "http://127.0.0.1:1",
            Credentials::ApiToken("a@b!cd=x".parse().unwrap()),
        )
        .unwrap();
        let client = ProxmoxClient::new(config).unwrap();
        let url = client
            .url(
                &[
                    "nodes",
                    "pve",
                    "tasks",
                    "UPID:pve:00000001:01B4C5D6:66F0A1B2:qmstart:100:ops@pve!ci:",
                    "status",
                ],
                &[("type", "vm".into())],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/api2/json/nodes/pve/tasks/UPID:pve:00000001:01B4C5D6:66F0A1B2:qmstart:100:ops@pve!ci:/status?type=vm"
        );
        let url = client
            .url(
                &[
                    "nodes",
                    "pve",
                    "storage",
                    "local",
                    "content",
                    "local:iso/x.iso",
                ],
                &[],
            )
            .unwrap();
        assert!(
            url.as_str().ends_with("/content/local:iso%2Fx.iso"),
            "{url}"
        );
    }
}
