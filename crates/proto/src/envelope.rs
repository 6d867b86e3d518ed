//! The response envelope every `/api/v1` answer uses (spec api.md §1).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A successful answer: `{"success": true, "data": ..., "meta": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<PageMeta>,
}

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Self {
            success: true,
            data,
            meta: None,
        }
    }

    pub fn page(data: T, meta: PageMeta) -> Self {
        Self {
            success: true,
            data,
            meta: Some(meta),
        }
    }
}

/// Paging facts of a list answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PageMeta {
    pub total: u64,
    pub page: u64,
    pub limit: u64,
}

/// `page` / `limit` of list endpoints.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams,
)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1)]
    pub page: Option<u64>,
    /// Rows per page, 1 to 200 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// A failed answer: `{"success": false, "error": {"code", "message", "details"?}}`.
/// `error` is always an object, also for internal errors.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    pub success: bool,
    pub error: ApiErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiErrorBody {
    /// Stable, machine-readable code in UPPER_SNAKE case.
    pub code: String,
    /// Human-readable explanation; never contains database or internal text.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}
