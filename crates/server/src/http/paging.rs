//! `page` / `limit` query parameters of list endpoints.

use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiError;

pub const MAX_LIMIT: u64 = 200;

#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
pub struct Paging {
    /// 1-based page number [default: 1].
    pub page: Option<u64>,
    /// Rows per page, 1 to 200 [default: 50].
    pub limit: Option<u64>,
}

impl Paging {
    /// Checked (page, limit).
    pub fn resolve(self) -> Result<(u64, u64), ApiError> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(50);
        if page == 0 {
            return Err(ApiError::field("page", "must be 1 or more"));
        }
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok((page, limit))
    }
}
