//! The proxy string an operator pastes from a provider (spec ui.md §3.3, Resources):
//! `ip:port`, `ip:port:login:password`, `ip:port@login:password` or `login:password@ip:port`,
//! each optionally after `http://`, `https://` or `socks5://`. The proxy forms take one in
//! their `paste` input and fill the address, credentials and type from it.

use super::form::Posted;
use crate::http::ApiError;

/// The input of the proxy forms that takes a pasted string.
pub const PASTE: &str = "paste";

#[derive(Debug, PartialEq, Eq)]
pub struct ProxyParts {
    /// `http` or `socks5`, when the string named a scheme.
    pub kind: Option<&'static str>,
    pub host: String,
    pub port: u16,
    pub login: Option<String>,
    pub password: Option<String>,
}

fn port(text: &str) -> Option<u16> {
    text.parse().ok().filter(|p| *p > 0)
}

/// `host:port`, when `text` is one: a host of letters, digits, dots, dashes (or an IPv4
/// address) and a port from 1 to 65535.
fn address(text: &str) -> Option<(String, u16)> {
    let (host, p) = text.rsplit_once(':')?;
    let fits = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    Some((host.to_owned(), port(p)?)).filter(|_| fits)
}

/// `login:password` (the password may hold colons).
fn credentials(text: &str) -> Option<(String, String)> {
    let (login, password) = text.split_once(':')?;
    Some((login.to_owned(), password.to_owned())).filter(|_| !login.is_empty())
}

/// Read a pasted proxy string.
pub fn parse(pasted: &str) -> Result<ProxyParts, String> {
    let text = pasted.trim();
    let lower = text.to_ascii_lowercase();
    let (kind, rest) = [
        ("socks5://", "socks5"),
        ("http://", "http"),
        ("https://", "http"),
    ]
    .into_iter()
    .find(|(prefix, _)| lower.starts_with(prefix))
    .map_or((None, text), |(prefix, kind)| {
        (Some(kind), &text[prefix.len()..])
    });
    let rest = rest.trim_end_matches('/');
    let parts = if let Some((left, right)) = rest.rsplit_once('@') {
        // `login:password@host:port` (the URL order) unless only the left side is an address.
        match (address(right), address(left)) {
            (Some((host, port)), _) => {
                credentials(left).map(|(l, p)| (host, port, Some(l), Some(p)))
            }
            (None, Some((host, port))) => {
                credentials(right).map(|(l, p)| (host, port, Some(l), Some(p)))
            }
            (None, None) => None,
        }
    } else {
        let mut fields = rest.splitn(4, ':');
        let address_part = [fields.next(), fields.next()];
        match (address_part, fields.next(), fields.next()) {
            ([Some(host), Some(p)], login, password) => {
                address(&format!("{host}:{p}")).and_then(|(host, port)| match (login, password) {
                    (None, None) => Some((host, port, None, None)),
                    (Some(l), Some(pw)) if !l.is_empty() => {
                        Some((host, port, Some(l.to_owned()), Some(pw.to_owned())))
                    }
                    _ => None,
                })
            }
            _ => None,
        }
    };
    let (host, port, login, password) = parts.ok_or_else(|| {
        "is not a proxy string: use ip:port, ip:port:login:password, ip:port@login:password or login:password@ip:port".to_owned()
    })?;
    Ok(ProxyParts {
        kind,
        host,
        port,
        login,
        password,
    })
}

/// The posted proxy form with a pasted string, if any, spread into its inputs (they win over
/// what was typed into them); the `paste` input itself is never stored.
pub fn expand(posted: &Posted) -> Result<Posted, ApiError> {
    let mut out = posted.clone();
    let Some(pasted) = out.remove(PASTE).filter(|p| !p.trim().is_empty()) else {
        return Ok(out);
    };
    let parts = parse(&pasted).map_err(|problem| ApiError::field(PASTE, problem))?;
    out.insert("ip".into(), parts.host);
    out.insert("port".into(), parts.port.to_string());
    if let Some(kind) = parts.kind {
        out.insert("type".into(), kind.into());
    }
    if let (Some(login), Some(password)) = (parts.login, parts.password) {
        out.insert("login".into(), login);
        out.insert("password".into(), password);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(
        s: &str,
    ) -> (
        Option<&'static str>,
        String,
        u16,
        Option<String>,
        Option<String>,
    ) {
        let p = parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (p.kind, p.host, p.port, p.login, p.password)
    }

    #[test]
    fn every_paste_format_is_read() {
        let full = |kind| {
            (
                kind,
                "203.0.113.7".to_owned(),
                8080,
                Some("user".to_owned()),
                Some("p:ss".to_owned()),
            )
        };
        assert_eq!(read("203.0.113.7:8080:user:p:ss"), full(None));
        assert_eq!(read("203.0.113.7:8080@user:p:ss"), full(None));
        assert_eq!(read("user:p:ss@203.0.113.7:8080"), full(None));
        assert_eq!(
            read(" socks5://user:p:ss@203.0.113.7:8080/ "),
            full(Some("socks5"))
        );
        assert_eq!(
            read("HTTPS://203.0.113.7:8080:user:p:ss"),
            full(Some("http"))
        );
        assert_eq!(
            read("http://proxy-1.example.com:3128"),
            (Some("http"), "proxy-1.example.com".into(), 3128, None, None)
        );
        // Both sides look like host:port: the URL order wins.
        assert_eq!(read("user:1234@10.0.0.1:80").1, "10.0.0.1");
    }

    #[test]
    fn what_is_not_a_proxy_string_is_refused() {
        for bad in [
            "",
            "203.0.113.7",
            "203.0.113.7:0",
            "203.0.113.7:70000",
            "203.0.113.7:80:user",
            "203.0.113.7:80::pw",
            "bad host:80",
            "@203.0.113.7:80",
            "user:pw@nohost",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_paste_fills_the_form_and_is_not_kept() {
        let posted: Posted = [
            ("paste", "socks5://203.0.113.9:1080:bob:secret"),
            ("ip", "typed"),
            ("provider", "IPRoyal"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let out = expand(&posted).unwrap();
        assert_eq!(out.get("ip").map(String::as_str), Some("203.0.113.9"));
        assert_eq!(out.get("type").map(String::as_str), Some("socks5"));
        assert_eq!(out.get("password").map(String::as_str), Some("secret"));
        assert_eq!(out.get("provider").map(String::as_str), Some("IPRoyal"));
        assert!(!out.contains_key(PASTE));
        let bad: Posted = [("paste".to_owned(), "nonsense".to_owned())].into();
        assert!(expand(&bad).is_err());
    }
}
