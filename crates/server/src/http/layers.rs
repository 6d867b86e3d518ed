//! Request ids, security headers, CORS and the catch-alls (unknown route, wrong method,
//! panic) that keep every answer in the envelope.

use std::any::Any;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use botmox_proto::ErrorCode;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::ApiError;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// The id of the current request (accepted from the client when well-formed, else generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Accept `X-Request-Id` (or the reference's `X-Correlation-Id`) when it is a short token of
/// safe characters, otherwise generate one; echo it, and log the request inside a span with it.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(&REQUEST_ID)
        .or_else(|| req.headers().get(&CORRELATION_ID))
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_id(v))
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let start = std::time::Instant::now();
    let mut response = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    response
        .headers_mut()
        .insert(REQUEST_ID.clone(), value.clone());
    response.headers_mut().insert(CORRELATION_ID.clone(), value);
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = start.elapsed().as_millis() as u64,
            "served"
        )
    });
    response
}

/// Hardening headers on every answer, with a strict Content-Security-Policy: the UI loads only
/// its own scripts and styles, no inline code, and cannot be framed.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    // `same-origin`, not `no-referrer`: with no-referrer browsers send `Origin: null` on form
    // posts, which would defeat the same-origin check of the CSRF protection.
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    response
}

/// CORS for the configured origins only; with none configured no CORS header is ever sent.
pub fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            header::IF_MATCH,
            REQUEST_ID.clone(),
            CORRELATION_ID.clone(),
        ])
        .expose_headers([
            REQUEST_ID.clone(),
            CORRELATION_ID.clone(),
            header::ETAG,
            header::RETRY_AFTER,
        ])
        .allow_credentials(true)
}

pub async fn not_found(req: Request) -> Response {
    ApiError::new(
        ErrorCode::NotFound,
        format!("Unknown endpoint: {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

pub async fn method_not_allowed(req: Request) -> Response {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("Method {} is not allowed here", req.method()),
    )
    .into_response()
}

/// Turns a panic in a handler into a 500 envelope (the panic text goes to the log only).
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}
