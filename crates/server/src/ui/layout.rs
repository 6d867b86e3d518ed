//! What every page of the application shares: the layout (navigation, crumbs, the signed-in
//! user, the CSRF token, the theme) and the rendering of a template.

pub use super::render::render;
use super::session::{self, CsrfToken};
use crate::principal::Auth;
use crate::state::AppState;
use axum::http::HeaderMap;

pub struct Crumb {
    pub label: String,
    pub href: Option<String>,
}

/// What every page of the application layout needs.
pub struct Layout {
    pub title: String,
    pub crumbs: Vec<Crumb>,
    pub active: &'static str,
    pub email: String,
    pub role: String,
    pub is_admin: bool,
    pub csrf: String,
    pub theme: String,
    pub path: String,
    /// The tenant's projects (id, name) for the navigation.
    pub projects: Vec<(String, String)>,
}

impl Layout {
    pub async fn new(
        state: &AppState,
        auth: &Auth,
        headers: &HeaderMap,
        path: &str,
        active: &'static str,
        trail: &[(&str, Option<&str>)],
    ) -> (Self, CsrfToken) {
        let csrf = CsrfToken::for_request(state, headers);
        let crumbs: Vec<Crumb> = trail
            .iter()
            .map(|(l, h)| Crumb {
                label: (*l).to_owned(),
                href: h.map(str::to_owned),
            })
            .collect();
        let layout = Self {
            title: trail
                .last()
                .map(|(l, _)| (*l).to_owned())
                .unwrap_or_default(),
            crumbs,
            active,
            email: auth.email.clone().unwrap_or_default(),
            role: auth.role().to_string(),
            is_admin: auth.is_admin(),
            csrf: csrf.token.clone(),
            theme: session::theme(headers),
            path: path.to_owned(),
            projects: match crate::settings::service::tree(&state.db, auth.tenant()).await {
                Ok(tree) => crate::settings::service::projects(&tree),
                Err(e) => {
                    tracing::warn!(error = %e.message, "navigation without projects");
                    Vec::new()
                }
            },
        };
        (layout, csrf)
    }
}

/// The address of page `path` with the query `pairs` (those with an empty value left out):
/// what links and live sections re-render from.
pub fn page_url(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            query.append_pair(k, v);
        }
    }
    match query.finish() {
        q if q.is_empty() => path.to_owned(),
        q => format!("{path}?{q}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_left_out_and_the_rest_encoded() {
        assert_eq!(page_url("/vms", &[("agent_id", ""), ("node", "")]), "/vms");
        assert_eq!(
            page_url("/agents", &[("page", "2"), ("q", "a&b c")]),
            "/agents?page=2&q=a%26b+c"
        );
    }
}
