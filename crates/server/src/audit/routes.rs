//! `GET /api/v1/audit`

use axum::Json;
use axum::extract::State;
use botmox_proto::auth::AuditEntry;
use botmox_proto::{Envelope, PageMeta};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, AuditFilter};
use crate::http::paging::Paging;
use crate::http::{ApiError, ApiQuery, ApiResult};
use crate::principal::Admin;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Action, or its prefix (e.g. `auth.` or `user.create`).
    pub action: Option<String>,
    /// Actor id or e-mail.
    pub actor: Option<String>,
    /// `ok`, `denied` or `error`.
    #[param(schema_with = crate::openapi::audit_result_param)]
    pub result: Option<String>,
    /// From this time (inclusive, RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive, RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// 1-based page number, 1 to 1000000 [default: 1].
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page, 1 to 200 [default: 50].
    #[param(minimum = 1, maximum = 200)]
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
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = ["admin"])), params(AuditQuery),
    responses((status = 200, body = Envelope<Vec<AuditEntry>>), (status = 403, description = "not an admin")))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Envelope<Vec<AuditEntry>>>> {
    let (page, limit) = Paging {
        page: q.page,
        limit: q.limit,
    }
    .resolve()?;
    let (rows, total) = store::list(&state.db, admin.tenant(), &q.filter()?, page, limit).await?;
    Ok(Json(Envelope::page(rows, PageMeta { total, page, limit })))
}
