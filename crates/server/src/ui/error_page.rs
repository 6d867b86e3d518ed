//! The error page, and [`PageError`]: what a page handler answers instead of mapping each
//! API error by hand (`?` turns one into the page with its status and message).

use askama::Template;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::render::render;

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
}

/// A page handler's failure, answered with the error page: `?` on an API error gives the
/// page with its status and message (internal causes stay in the log).
#[derive(Debug)]
pub struct PageError(crate::http::ApiError);

impl From<crate::http::ApiError> for PageError {
    fn from(e: crate::http::ApiError) -> Self {
        Self(e)
    }
}

impl From<crate::db::StoreError> for PageError {
    fn from(e: crate::db::StoreError) -> Self {
        crate::http::ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let title = match e.status() {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            _ => "Request failed",
        };
        e.answer_with(render(&ErrorPage {
            title: title.into(),
            message: e.message.clone(),
        }))
    }
}

/// What a page handler answers.
pub type PageResult = Result<Response, PageError>;

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    (
        status,
        render(&ErrorPage {
            title: title.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

/// The answer for an address no route has: the error page for a browser asking for a page
/// (outside `/api/`, with HTML in `Accept`), the API's JSON envelope for anyone else.
pub async fn not_found(req: Request) -> Response {
    let wants_page = !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_page {
        return error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no page at this address.",
        );
    }
    crate::http::layers::not_found(req).await
}
