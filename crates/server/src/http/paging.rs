//! `page` / `limit` query parameters of list endpoints.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;

pub const MAX_LIMIT: u64 = 200;
/// Past this page no list has rows (200 million at the largest page size), and the offset
/// stays far inside what the databases accept.
pub const MAX_PAGE: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// 1-based page number, 1 to 1000000 [default: 1].
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page, 1 to 200 [default: 50].
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

impl Paging {
    /// Checked (page, limit).
    pub fn resolve(self) -> Result<(u64, u64), ApiError> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(50);
        if page == 0 || page > MAX_PAGE {
            return Err(ApiError::field(
                "page",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
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
