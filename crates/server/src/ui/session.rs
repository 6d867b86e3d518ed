//! The web UI's session and CSRF protection.
//!
//! The session is an HttpOnly, SameSite=Strict cookie holding a random value whose hash is a
//! session row; nothing a script could read. Every form carries a CSRF token: an HMAC (under
//! the server key) of a random per-browser nonce kept in its own HttpOnly cookie, and the
//! request's `Origin`, when sent, must be this server's.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use serde::de::DeserializeOwned;

use crate::audit::AuditSlot;
use crate::keys::random_secret;
use crate::principal::{Admin, Auth};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "botmox_session";
pub const CSRF_COOKIE: &str = "botmox_csrf";
pub const SETUP_COOKIE: &str = "botmox_setup";
pub const THEME_COOKIE: &str = "botmox_theme";
const CSRF_PURPOSE: &str = "csrf-v1";

/// Value of a cookie in the request.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| {
            Cookie::split_parse(v.to_owned())
                .filter_map(Result::ok)
                .collect::<Vec<_>>()
        })
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, `Secure` when served over https.
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age_secs: Option<i64>,
) -> HeaderValue {
    let mut c = Cookie::new(name.to_owned(), value.to_owned());
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/");
    c.set_secure(state.config.secure_cookies());
    if let Some(age) = max_age_secs {
        c.set_max_age(cookie::time::Duration::seconds(age));
    }
    HeaderValue::from_str(&c.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(state: &AppState, name: &str) -> HeaderValue {
    set_cookie(state, name, "", Some(0))
}

/// The CSRF token to put into this browser's forms, and a cookie to set when the browser has
/// no nonce yet.
pub struct CsrfToken {
    pub token: String,
    pub set_cookie: Option<HeaderValue>,
}

impl CsrfToken {
    pub fn for_request(state: &AppState, headers: &HeaderMap) -> Self {
        match read_cookie(headers, CSRF_COOKIE).filter(|n| n.len() >= 16) {
            Some(nonce) => Self {
                token: state.key.sign(CSRF_PURPOSE, &nonce),
                set_cookie: None,
            },
            None => {
                let nonce = random_secret("");
                Self {
                    token: state.key.sign(CSRF_PURPOSE, &nonce),
                    set_cookie: Some(set_cookie(state, CSRF_COOKIE, &nonce, None)),
                }
            }
        }
    }

    /// Attach the nonce cookie to a response when it was just created.
    pub fn attach(&self, mut response: Response) -> Response {
        if let Some(c) = &self.set_cookie {
            response.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        response
    }
}

fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let public = state.config.public_url.origin().ascii_serialization();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin == public || origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// Whether `token` is the CSRF token of this browser (its nonce cookie), sent from this site.
pub fn csrf_ok(state: &AppState, headers: &HeaderMap, token: &str) -> bool {
    let Some(nonce) = read_cookie(headers, CSRF_COOKIE) else {
        return false;
    };
    same_origin(state, headers) && state.key.verify(CSRF_PURPOSE, &nonce, token)
}

/// An answer for a refused form: 403 with a short page.
pub fn csrf_refused() -> Response {
    super::error_page::error_page(
        axum::http::StatusCode::FORBIDDEN,
        "Form refused",
        "This form could not be verified (missing or invalid CSRF token). Reload the page and try again.",
    )
}

/// A form with no fields besides its CSRF token (buttons: logout, revoke, delete).
#[derive(serde::Deserialize)]
pub struct EmptyForm {}

/// A form body whose CSRF token (`_csrf` field) was checked.
pub struct CsrfForm<T>(pub T);

#[derive(serde::Deserialize)]
struct WithToken {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if crate::http::extract::url_has_nul(&bytes) {
            return Err(super::error_page::error_page(
                axum::http::StatusCode::BAD_REQUEST,
                "Request failed",
                "Text must not contain the NUL character (U+0000)",
            ));
        }
        let token: WithToken = serde_urlencoded::from_bytes(&bytes).map_err(|_| csrf_refused())?;
        if !csrf_ok(state, &headers, &token.csrf) {
            tracing::warn!("form refused: CSRF check failed");
            return Err(csrf_refused());
        }
        let value: T = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            super::error_page::error_page(
                axum::http::StatusCode::BAD_REQUEST,
                "Request failed",
                &format!("Invalid form: {e}"),
            )
        })?;
        Ok(Self(value))
    }
}

/// A signed-in UI user; anonymous visitors are sent to the login page, with the page they
/// asked for as `next`.
pub struct UiUser(pub Auth);

impl FromRequestParts<AppState> for UiUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A page asked for by GET is where signing in returns to.
        let back = (parts.method == axum::http::Method::GET)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str()))
            .flatten()
            .filter(|p| *p != "/");
        let to = match back {
            Some(p) => format!(
                "/login?next={}",
                form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>()
            ),
            None => "/login".to_owned(),
        };
        let login = || Redirect::to(&to).into_response();
        let Some(cookie) = read_cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(login());
        };
        let auth = match crate::auth::service::authenticate_ui_session(state, &cookie).await {
            Ok(Some(auth)) => auth,
            Ok(None) => return Err(login()),
            Err(e) => return Err(e.into_response()),
        };
        if let Some(slot) = parts.extensions.get::<AuditSlot>() {
            slot.set_principal(&auth);
        }
        Ok(Self(auth))
    }
}

/// A signed-in UI user who is an admin of the tenant; anyone else signed in sees a 403 page.
pub struct UiAdmin(pub Admin);

impl FromRequestParts<AppState> for UiAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let UiUser(auth) = UiUser::from_request_parts(parts, state).await?;
        auth.admin().map(Self).map_err(|_| {
            super::error_page::error_page(
                axum::http::StatusCode::FORBIDDEN,
                "Not allowed",
                "Only admins of this tenant can open this page.",
            )
        })
    }
}

/// The theme chosen in this browser: `light`, `dark` or empty (follow the system).
pub fn theme(headers: &HeaderMap) -> String {
    read_cookie(headers, THEME_COOKIE)
        .filter(|t| t == "light" || t == "dark")
        .unwrap_or_default()
}
