//! Cross-cutting HTTP pieces: the API error type and envelope, extractors that answer bad
//! input with the envelope, client addresses, rate limits, request ids, security headers and
//! metrics.

pub mod client_addr;
pub mod error;
pub mod extract;
pub mod layers;
pub mod metrics;
pub mod paging;
pub mod rate_limit;
pub mod upload;

pub use client_addr::ClientAddr;
pub use error::{ApiError, ApiResult};
pub use extract::{ApiJson, ApiPath, ApiQuery, Valid, ValidQuery};

/// A successful answer: `value` in the `{success: true, data}` envelope, with `status`.
pub fn answer(
    status: axum::http::StatusCode,
    value: impl serde::Serialize,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(botmox_proto::Envelope::ok(value))).into_response()
}
