//! `page` / `limit` and time-range query parameters of list endpoints: every one bounded,
//! so no value reaches a query (or an offset) the database would refuse.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use crate::clock::MAX_MS;

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

/// A time-range parameter (`from`, `to`: epoch milliseconds) within ±[`MAX_MS`]; out of
/// range is a 400 naming `field`.
pub fn time_param(field: &str, value: Option<i64>) -> Result<Option<i64>, ApiError> {
    match value {
        Some(ms) if !(-MAX_MS..=MAX_MS).contains(&ms) => Err(ApiError::field(
            field,
            format!("must be epoch milliseconds between -{MAX_MS} and {MAX_MS}"),
        )),
        _ => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_limits_and_times_are_bounded() {
        let paging = |page, limit| Paging { page, limit }.resolve();
        assert_eq!(paging(None, None).unwrap(), (1, 50));
        assert_eq!(
            paging(Some(MAX_PAGE), Some(MAX_LIMIT)).unwrap(),
            (MAX_PAGE, MAX_LIMIT)
        );
        for (page, limit) in [
            (Some(0), None),
            (Some(u64::MAX), None),
            (None, Some(0)),
            (None, Some(201)),
        ] {
            assert!(paging(page, limit).is_err(), "{page:?} {limit:?}");
        }
        assert_eq!(time_param("from", Some(-MAX_MS)).unwrap(), Some(-MAX_MS));
        assert_eq!(time_param("from", None).unwrap(), None);
        for huge in [i64::MAX, i64::MIN, MAX_MS + 1] {
            let err = time_param("to", Some(huge)).unwrap_err();
            assert!(err.details.unwrap()["fieldErrors"]["to"].is_array());
        }
    }
}
