//! Sign-in, sign-out, first-run setup, theme switch, the overview and the sections whose
//! content later modules provide.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error_page::{PageError, error_page};
use super::extract::PageQuery;
use super::layout::render;
use super::session::{self, CsrfForm, CsrfToken, EmptyForm, UiUser};
use crate::http::ClientAddr;
use crate::http::layers::RequestId;
use crate::setup;
use crate::state::AppState;

/// `target` when it is a path on this site, fit to redirect to; `None` otherwise. It must
/// open with exactly one `/` and hold only visible ASCII: browsers read `/\host` as
/// `//host` (another site), drop tabs and line breaks (so `/<TAB>/host` is `//host` too),
/// and a CR or LF cannot go into a `Location` header at all. Links of this site are
/// percent-encoded, so they pass.
pub fn same_site_path(target: &str) -> Option<&str> {
    let bytes = target.as_bytes();
    let ok = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\');
    ok.then_some(target)
}

fn redirect_with_cookies(to: &str, cookies: Vec<axum::http::HeaderValue>) -> Response {
    let mut response = Redirect::to(to).into_response();
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    /// Where to go once signed in: a path of this site, or empty for the Overview.
    next: String,
    error: Option<String>,
}

/// The page to open after signing in: `next` when it is a path of this site.
fn after_login(next: Option<&str>) -> &str {
    next.and_then(same_site_path).unwrap_or("/")
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(LoginQuery { next }): PageQuery<LoginQuery>,
) -> Response {
    if let Some(cookie) = session::read_cookie(&headers, session::SESSION_COOKIE)
        && let Ok(Some(_)) = crate::auth::service::authenticate_ui_session(&state, &cookie).await
    {
        return Redirect::to(after_login(next.as_deref())).into_response();
    }
    let csrf = CsrfToken::for_request(&state, &headers);
    csrf.attach(render(&LoginPage {
        csrf: csrf.token.clone(),
        email: String::new(),
        next: after_login(next.as_deref()).to_owned(),
        error: None,
    }))
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn login_submit(
    State(state): State<AppState>,
    addr: ClientAddr,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Response {
    let request_id = request_id.map(|r| r.0.0);
    let user = match crate::auth::service::check_credentials(
        &state,
        &form.email,
        &form.password,
        addr,
        request_id,
    )
    .await
    {
        Ok(user) => user,
        Err(e) => {
            let csrf = CsrfToken::for_request(&state, &headers);
            let page = LoginPage {
                csrf: csrf.token.clone(),
                email: form.email,
                next: after_login(form.next.as_deref()).to_owned(),
                error: Some(e.message.clone()),
            };
            return csrf.attach(e.answer_with(render(&page)));
        }
    };
    match crate::auth::service::start_ui_session(&state, &user, addr).await {
        Ok(cookie) => redirect_with_cookies(
            after_login(form.next.as_deref()),
            vec![session::set_cookie(
                &state,
                session::SESSION_COOKIE,
                &cookie,
                Some(state.config.ui_session_ttl as i64),
            )],
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Response {
    if let Err(e) = crate::auth::service::logout(&state, &auth).await {
        return PageError::from(e).into_response();
    }
    redirect_with_cookies(
        "/login",
        vec![session::clear_cookie(&state, session::SESSION_COOKIE)],
    )
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    csrf: String,
    tenant: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

fn setup_unavailable() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Setup link not valid",
        "This setup link is invalid, used or expired. Restart the server while no user exists to get a new one, or use `botmox user create`.",
    )
}

/// `GET /setup?token=...` moves the token into a cookie and drops it from the address bar;
/// `GET /setup` shows the form while the token is valid.
pub async fn setup_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SetupQuery>,
) -> Response {
    if let Some(token) = q.token {
        return match setup::is_valid(&state, &token).await {
            Ok(true) => redirect_with_cookies(
                "/setup",
                vec![session::set_cookie(
                    &state,
                    session::SETUP_COOKIE,
                    &token,
                    Some(state.config.setup_link_ttl as i64),
                )],
            ),
            Ok(false) => setup_unavailable(),
            Err(e) => PageError::from(e).into_response(),
        };
    }
    let Some(token) = session::read_cookie(&headers, session::SETUP_COOKIE) else {
        return setup_unavailable();
    };
    match setup::is_valid(&state, &token).await {
        Ok(true) => {}
        Ok(false) => return setup_unavailable(),
        Err(e) => return PageError::from(e).into_response(),
    }
    let csrf = CsrfToken::for_request(&state, &headers);
    csrf.attach(render(&SetupPage {
        csrf: csrf.token.clone(),
        tenant: crate::users::service::DEFAULT_TENANT.into(),
        email: String::new(),
        error: None,
    }))
}

#[derive(Deserialize)]
pub struct SetupForm {
    tenant: String,
    email: String,
    password: String,
    password_confirm: String,
}

pub async fn setup_submit(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<SetupForm>,
) -> Response {
    let Some(token) = session::read_cookie(&headers, session::SETUP_COOKIE) else {
        return setup_unavailable();
    };
    let again = |message: String| {
        let csrf = CsrfToken::for_request(&state, &headers);
        let page = SetupPage {
            csrf: csrf.token.clone(),
            tenant: form.tenant.clone(),
            email: form.email.clone(),
            error: Some(message),
        };
        csrf.attach((StatusCode::BAD_REQUEST, render(&page)).into_response())
    };
    if form.password != form.password_confirm {
        return again("The passwords do not match.".into());
    }
    let user = match setup::complete(
        &state,
        &token,
        form.tenant.trim(),
        &form.email,
        &form.password,
    )
    .await
    {
        Ok(user) => user,
        Err(e) if e.code == botmox_proto::ErrorCode::BadRequest => return again(e.message),
        Err(_) => return setup_unavailable(),
    };
    tracing::info!(email = %user.email, tenant = %user.tenant_id, "first admin created through the setup link");
    match crate::auth::service::start_ui_session(&state, &user, addr).await {
        Ok(cookie) => redirect_with_cookies(
            "/",
            vec![
                session::set_cookie(
                    &state,
                    session::SESSION_COOKIE,
                    &cookie,
                    Some(state.config.ui_session_ttl as i64),
                ),
                session::clear_cookie(&state, session::SETUP_COOKIE),
            ],
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct ThemeForm {
    theme: String,
    back: Option<String>,
}

pub async fn set_theme(
    State(state): State<AppState>,
    CsrfForm(form): CsrfForm<ThemeForm>,
) -> Response {
    let theme = if form.theme == "dark" {
        "dark"
    } else {
        "light"
    };
    let back = form.back.as_deref().and_then(same_site_path).unwrap_or("/");
    redirect_with_cookies(
        back,
        vec![session::set_cookie(
            &state,
            session::THEME_COOKIE,
            theme,
            Some(365 * 86_400),
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_redirect_targets() {
        for ok in [
            "/",
            "/bots?tab=a&notice=x",
            "/bot/a%2Fb",
            "/workspace/notes#top",
        ] {
            assert_eq!(same_site_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "bots",
            "//evil.example/",
            "/\\evil.example/",
            "/\t/evil.example",
            "/x\\y",
            "/\r\nSet-Cookie: a=b",
            "/a b",
            "/\u{e9}",
            "https://evil.example/",
        ] {
            assert_eq!(same_site_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn signing_in_returns_only_to_a_page_of_this_site() {
        assert_eq!(after_login(Some("/bots?q=x")), "/bots?q=x");
        for away in [
            None,
            Some(""),
            Some("//evil.example/"),
            Some("https://evil.example/"),
            Some("/\\evil"),
        ] {
            assert_eq!(after_login(away), "/", "{away:?}");
        }
    }
}
