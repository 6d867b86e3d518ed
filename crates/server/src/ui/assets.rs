//! The stylesheet and script, embedded in the binary.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::ApiPath;

const APP_CSS: &str = include_str!("../../assets/app.css");
const APP_JS: &str = include_str!("../../assets/app.js");
/// Sealing in the browser, for the Secrets page only.
const VAULT_JS: &str = include_str!("../../assets/vault.js");

pub async fn serve(ApiPath(file): ApiPath<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "vault.js" => (VAULT_JS, "text/javascript; charset=utf-8"),
        _ => return crate::http::ApiError::not_found("Asset").into_response(),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
