//! Rendering a compiled template into a response.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

/// Render a template, or a plain 500 when rendering fails.
pub fn render<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => crate::http::ApiError::internal(format!("template: {e}")).into_response(),
    }
}
