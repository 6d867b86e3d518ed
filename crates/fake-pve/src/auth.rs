//! Authentication as pveproxy does it (spec section 4): ticket cookie (or `Authorization:
//! PVEAuthCookie=`) with a CSRF token on writes, or an API token header; ticket login and
//! renewal with `POST /access/ticket`.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::params::{Params, RawParams, STR, Ty, checked};
use crate::reply::ApiError;
use crate::state::Shared;

/// Tickets and CSRF tokens are valid from 5 minutes before to 2 hours after issue.
const TICKET_LIFETIME: u64 = 2 * 3600;
const CLOCK_SKEW: u64 = 300;

/// Who made a request.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The effective user id, as UPIDs show it: `user@realm` or `user@realm!tokenid`.
    pub(crate) userid: String,
    /// `user@realm` (a token's owner).
    pub(crate) owner: String,
    pub(crate) tokenid: Option<String>,
}

impl Caller {
    /// Only a `root@pam` ticket is root; tokens never are, not even root's.
    pub(crate) fn is_root(&self) -> bool {
        self.tokenid.is_none() && self.owner == "root@pam"
    }
}

fn sign(secret: &[u8; 32], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn issue_ticket(shared: &Shared, user: &str, now: u64) -> String {
    let plain = format!("PVE:{user}:{now:08X}");
    let sig = STANDARD.encode(sign(&shared.secret, &plain));
    format!("{plain}::{sig}")
}

fn issue_csrf(shared: &Shared, user: &str, now: u64) -> String {
    let stamp = format!("{now:08X}");
    let sig = STANDARD_NO_PAD.encode(sign(&shared.secret, &format!("{stamp}:{user}")));
    format!("{stamp}:{sig}")
}

/// The issue time of a ticket or CSRF token: exactly 8 hex digits, and not too old or new.
fn fresh_stamp(stamp: &str, now: u64) -> bool {
    stamp.len() == 8
        && stamp.bytes().all(|b| b.is_ascii_hexdigit())
        && u64::from_str_radix(stamp, 16)
            .is_ok_and(|issued| issued <= now + CLOCK_SKEW && now < issued + TICKET_LIFETIME)
}

/// The user of a valid, unexpired ticket.
fn verify_ticket(shared: &Shared, ticket: &str, now: u64) -> Option<String> {
    let (plain, sig) = ticket.rsplit_once("::")?;
    let rest = plain.strip_prefix("PVE:")?;
    let (user, stamp) = rest.rsplit_once(':')?;
    let expected = STANDARD.encode(sign(&shared.secret, plain));
    (expected == sig && fresh_stamp(stamp, now) && shared.users.contains_key(user))
        .then(|| user.to_owned())
}

fn verify_csrf(shared: &Shared, token: &str, user: &str, now: u64) -> bool {
    let Some((stamp, sig)) = token.split_once(':') else {
        return false;
    };
    let expected = STANDARD_NO_PAD.encode(sign(&shared.secret, &format!("{stamp}:{user}")));
    expected == sig && fresh_stamp(stamp, now)
}

/// `name=value` out of a `; `-separated cookie or authorization header.
fn auth_value<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .map(str::trim)
        .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
}

/// Authenticate a request. `csrf_exempt` is set for the multipart upload.
pub(crate) fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    method: &str,
    csrf_exempt: bool,
) -> Result<Caller, ApiError> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let cookie = text("cookie");
    let authorization = text("authorization");
    let now = shared.lock().now();
    let ticket =
        auth_value(cookie, "PVEAuthCookie").or_else(|| auth_value(authorization, "PVEAuthCookie"));
    if let Some(ticket) = ticket {
        let ticket = percent_decode_str(ticket).decode_utf8_lossy();
        let user = verify_ticket(shared, &ticket, now)
            .ok_or_else(|| ApiError::unauthorized("Authentication failed!"))?;
        if method != "GET" && !csrf_exempt {
            let csrf = text("csrfpreventiontoken").unwrap_or_default();
            if !verify_csrf(shared, csrf, &user, now) {
                return Err(ApiError::unauthorized(
                    "Permission denied - invalid csrf token",
                ));
            }
        }
        return Ok(Caller {
            userid: user.clone(),
            owner: user,
            tokenid: None,
        });
    }
    let token = authorization.and_then(|a| {
        a.strip_prefix("PVEAPIToken=")
            .or_else(|| a.strip_prefix("PVEAPIToken "))
    });
    if let Some(token) = token {
        let (full_id, secret) = token
            .trim()
            .rsplit_once('=')
            .ok_or_else(|| ApiError::unauthorized("Authentication failed!"))?;
        let known = shared.tokens.get(full_id).is_some_and(|s| s == secret);
        let (owner, tokenid) = full_id
            .split_once('!')
            .filter(|_| known)
            .ok_or_else(|| ApiError::unauthorized("Authentication failed!"))?;
        return Ok(Caller {
            userid: full_id.to_owned(),
            owner: owner.to_owned(),
            tokenid: Some(tokenid.to_owned()),
        });
    }
    Err(ApiError::unauthorized("No ticket"))
}

const LOGIN: &[(&str, Ty)] = &[
    ("username", Ty::Str { max_len: 64 }),
    ("password", STR),
    ("realm", STR),
    ("otp", STR),
    ("tfa-challenge", STR),
    ("new-format", Ty::Bool),
    ("path", STR),
    ("privs", STR),
];

/// `POST /access/ticket`: password login, or renewal with a valid ticket as the password.
pub(crate) fn login(shared: &Shared, raw: &RawParams) -> Result<Value, ApiError> {
    let params: Params = checked(raw, &[], LOGIN, &["username", "password"])?;
    let mut username = params.str("username").unwrap_or_default().to_owned();
    if let Some(realm) = params.str("realm")
        && !username.contains('@')
    {
        username = format!("{username}@{realm}");
    }
    let password = params.str("password").unwrap_or_default();
    let mut state = shared.lock();
    let now = state.now();
    if shared.users.get(&username).is_some_and(|p| p == password) {
        state.logins.password += 1;
    } else if verify_ticket(shared, password, now).as_deref() == Some(username.as_str()) {
        state.logins.ticket += 1;
    } else {
        state.logins.failed += 1;
        return Err(ApiError::status(401, "authentication failure"));
    }
    let all = |privs: &[&str]| -> Value {
        privs
            .iter()
            .map(|p| ((*p).to_owned(), json!(1)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    Ok(json!({
        "username": username,
        "ticket": issue_ticket(shared, &username, now),
        "CSRFPreventionToken": issue_csrf(shared, &username, now),
        "cap": {
            "vms": all(&["VM.Allocate", "VM.Audit", "VM.Clone", "VM.Config.CDROM", "VM.Config.Disk", "VM.PowerMgmt", "VM.Console"]),
            "storage": all(&["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit"]),
            "nodes": all(&["Sys.Audit"]),
            "access": all(&["User.Modify"]),
            "dc": all(&["Sys.Audit"]),
            "sdn": all(&["SDN.Audit"]),
            "mapping": all(&["Mapping.Audit"]),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Shared, State};
    use std::collections::BTreeMap;

    fn shared() -> Shared {
        let mut users = BTreeMap::new();
        users.insert("root@pam".to_owned(), "pw".to_owned());
        // a real user, so that a forged ticket for it fails on the signature alone
        users.insert("eve@pam".to_owned(), "pw2".to_owned());
        Shared::new(
            State::new(Vec::new()),
            users,
            BTreeMap::new(),
            Default::default(),
        )
    }

    #[test]
    fn ticket_and_csrf_shapes_and_lifetime() {
        let s = shared();
        let now = 0x66F0_A1B2;
        let ticket = issue_ticket(&s, "root@pam", now);
        assert!(ticket.starts_with("PVE:root@pam:66F0A1B2::"), "{ticket}");
        assert_eq!(
            verify_ticket(&s, &ticket, now + 7199).as_deref(),
            Some("root@pam")
        );
        assert_eq!(
            verify_ticket(&s, &ticket, now + 7200),
            None,
            "expired after 2 h"
        );
        assert_eq!(
            verify_ticket(&s, &ticket.replace("root@pam", "eve@pam"), now),
            None,
            "the signature covers the user"
        );
        let eve = issue_ticket(&s, "eve@pam", now);
        assert_eq!(verify_ticket(&s, &eve, now).as_deref(), Some("eve@pam"));
        let (plain, _) = eve.rsplit_once("::").unwrap();
        assert_eq!(verify_ticket(&s, &format!("{plain}::AAAA"), now), None);
        // correctly signed, but the stamp is not 8 hex digits (`+` passes from_str_radix)
        let plain = "PVE:root@pam:+6F0A1B2";
        let signed = format!("{plain}::{}", STANDARD.encode(sign(&s.secret, plain)));
        assert_eq!(verify_ticket(&s, &signed, 0x06F0_A1B2), None);

        let csrf = issue_csrf(&s, "root@pam", now);
        let (stamp, sig) = csrf.split_once(':').unwrap();
        assert_eq!(stamp, "66F0A1B2");
        assert_eq!(sig.len(), 43);
        assert!(verify_csrf(&s, &csrf, "root@pam", now));
        assert!(
            !verify_csrf(&s, &csrf, "other@pam", now),
            "bound to the user"
        );
        assert!(
            !verify_csrf(&s, &csrf, "root@pam", now + TICKET_LIFETIME),
            "expires with the ticket"
        );
    }

    #[test]
    fn auth_values_from_headers() {
        assert_eq!(
            auth_value(Some("a=b; PVEAuthCookie=PVE:x:1::s=="), "PVEAuthCookie"),
            Some("PVE:x:1::s==")
        );
        assert_eq!(auth_value(Some("PVEAuthCookie2=x"), "PVEAuthCookie"), None);
    }
}
