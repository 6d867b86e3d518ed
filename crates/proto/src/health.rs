//! Liveness, readiness and the service summary (spec api.md §4).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /health/live`: the process is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Live {
    #[schema(example = "botmox")]
    pub service: String,
    /// Always `live`.
    pub status: String,
    pub timestamp: DateTime<Utc>,
}

/// One dependency's readiness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Check {
    pub required: bool,
    pub ready: bool,
    /// Why not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Checks {
    pub database: Check,
    pub blob_store: Check,
}

/// `GET /health/ready`: the server can serve (503 with this in `error.details` when not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// `ready` or `not-ready`.
    pub status: String,
    pub ready: bool,
    pub checks: Checks,
    pub timestamp: DateTime<Utc>,
}

/// `GET /health`: the service and its backends; always 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    #[schema(example = "botmox")]
    pub service: String,
    #[schema(example = "0.1.0")]
    pub version: String,
    pub timestamp: DateTime<Utc>,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// `local` or `s3`.
    pub blob_store: String,
    pub database_ready: bool,
    pub blob_store_ready: bool,
}
