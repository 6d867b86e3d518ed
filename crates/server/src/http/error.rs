//! The one API error type. Every failure answers with the envelope of spec api.md §1, a
//! stable code and its HTTP status; internal causes are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botmox_proto::{ApiErrorBody, ErrorCode, ErrorEnvelope};
use serde_json::Value;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds, sent as `Retry-After` (rate limits).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// A validation failure on one field, in the validator shape of spec §1.
    pub fn field(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        Self::bad_request(format!("{field}: {problem}")).with_details(serde_json::json!({
            "formErrors": [],
            "fieldErrors": { field: [problem] },
        }))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                ErrorCode::RateLimited,
                "Too many requests. Please try again later.",
            )
        }
    }

    /// An unexpected failure: the cause goes to the log, the caller sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        match current_request_id() {
            Some(id) => tracing::error!(request_id = %id, error = %cause, "internal error"),
            None => tracing::error!(error = %cause, "internal error"),
        }
        Self::new(ErrorCode::InternalError, "Internal server error")
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The envelope this error answers with.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            success: false,
            error: ApiErrorBody {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A body or query that broke the contract: 400 with every problem under its field.
impl From<botmox_proto::validate::FieldErrors> for ApiError {
    fn from(errors: botmox_proto::validate::FieldErrors) -> Self {
        let details = serde_json::to_value(&errors).unwrap_or_default();
        ApiError::bad_request(errors.to_string()).with_details(details)
    }
}

impl From<crate::db::StoreError> for ApiError {
    fn from(err: crate::db::StoreError) -> Self {
        ApiError::internal(err)
    }
}

impl ApiError {
    /// `body` with this error's status and, when throttled, its `Retry-After`: the API's
    /// envelope and the UI's pages answer a failure alike.
    pub fn answer_with(&self, body: impl IntoResponse) -> Response {
        let mut response = (self.status(), body).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.answer_with(axum::Json(self.envelope()))
    }
}

tokio::task_local! {
    /// The id of the request this task serves (set by the edge layer), so that an internal
    /// error logged while serving it names the request.
    pub static CURRENT_REQUEST: std::sync::Arc<str>;
}

/// The id of the request being served, if any.
fn current_request_id() -> Option<std::sync::Arc<str>> {
    CURRENT_REQUEST.try_with(|id| id.clone()).ok()
}
