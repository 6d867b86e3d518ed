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

/// The hardening headers every answer carries, with a strict Content-Security-Policy: the UI
/// loads only its own scripts and styles, no inline code, and cannot be framed.
/// `referrer-policy` is `same-origin`, not `no-referrer`: with no-referrer browsers send
/// `Origin: null` on form posts, which would defeat the same-origin check of the CSRF
/// protection.
const SECURITY_HEADERS: [(&str, &str); 8] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
    ("cache-control", "no-store"),
];

/// The outermost layer, one pass around every request (each `from_fn` layer costs the rest
/// of the stack a boxed clone per request, so the cross-cutting parts share one):
///
/// - the request id: `X-Request-Id` (or the reference's `X-Correlation-Id`) when it is a short
///   token of safe characters, otherwise a generated one; echoed in both headers, and known
///   to every error line logged while the request is served;
/// - with `access_log`, one `served` line per request, inside a span carrying the id;
/// - the security headers ([`SECURITY_HEADERS`]; `cache-control` only where the handler set
///   none);
/// - the request counter and latency histogram per method, matched route and status.
pub async fn edge(
    axum::extract::State(access_log): axum::extract::State<bool>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = std::time::Instant::now();
    let given = req
        .headers()
        .get(&REQUEST_ID)
        .or_else(|| req.headers().get(&CORRELATION_ID))
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_id(v))
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| {
        uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .to_owned()
    });
    let shared: std::sync::Arc<str> = id.as_str().into();
    req.extensions_mut().insert(RequestId(id));
    let method = req.method().clone();
    let route = super::metrics::route_of(&req);
    let mut response = if access_log {
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!("request", request_id = %shared, %method, %path);
        let served = super::error::CURRENT_REQUEST.scope(shared.clone(), next.run(req));
        let response = tracing::Instrument::instrument(served, span.clone()).await;
        span.in_scope(|| {
            tracing::info!(
                status = response.status().as_u16(),
                elapsed_ms = start.elapsed().as_millis() as u64,
                "served"
            )
        });
        response
    } else {
        super::error::CURRENT_REQUEST
            .scope(shared.clone(), next.run(req))
            .await
    };
    let headers = response.headers_mut();
    let value =
        HeaderValue::from_str(&shared).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    headers.insert(REQUEST_ID.clone(), value.clone());
    headers.insert(CORRELATION_ID.clone(), value);
    for (name, value) in SECURITY_HEADERS {
        let name = HeaderName::from_static(name);
        if name == header::CACHE_CONTROL && headers.contains_key(header::CACHE_CONTROL) {
            continue;
        }
        headers.insert(name, HeaderValue::from_static(value));
    }
    super::metrics::record(&method, route.as_ref(), response.status(), start.elapsed());
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
