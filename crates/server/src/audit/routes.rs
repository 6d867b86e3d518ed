//! `GET /api/v1/audit`

use axum::Json;
use axum::extract::State;
use botmox_proto::auth::AuditEntry;
use botmox_proto::{Envelope, PageMeta};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::store::{self, AuditFilter};
use crate::app::AppState;
use crate::auth::principal::Admin;
use crate::http::paging::Paging;
use crate::http::{ApiError, ApiQuery, ApiResult};

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Action, or its prefix (e.g. `auth.` or `user.create`).
    pub action: Option<String>,
    /// Actor id or e-mail.
    pub actor: Option<String>,
    /// `ok`, `denied` or `error`.
    pub result: Option<String>,
    /// From this time (inclusive, RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive, RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub page: Option<u64>,
    pub limit: Option<u64>,
}

impl AuditQuery {
    pub fn filter(&self) -> Result<AuditFilter, ApiError> {
        let blank = |s: &Option<String>| {
            s.as_ref()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let result = blank(&self.result);
        if let Some(result) = &result
            && !matches!(result.as_str(), "ok" | "denied" | "error")
        {
            return Err(ApiError::field("result", "must be ok, denied or error"));
        }
        Ok(AuditFilter {
            action: blank(&self.action),
            actor: blank(&self.actor),
            result,
            from: self.from,
            to: self.to,
        })
    }
}

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Envelope<Vec<AuditEntry>>), (status = 403, description = "not an admin")))]
pub async fn list(
    State(state): State<AppState>,
    Admin(auth): Admin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Envelope<Vec<AuditEntry>>>> {
    let (page, limit) = Paging {
        page: q.page,
        limit: q.limit,
    }
    .resolve()?;
    let (rows, total) = store::list(&state.db, &auth.tenant_id, &q.filter()?, page, limit).await?;
    Ok(Json(Envelope::page(rows, PageMeta { total, page, limit })))
}
