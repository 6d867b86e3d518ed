//! Time as the API speaks it: epoch milliseconds, and RFC 3339 strings where the reference's
//! fields are ISO times (agents and commands).

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

pub use botmox_proto::time::MAX_MS;

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `1 day` / `N days`: a count and its noun.
pub fn count(n: i64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// A span of milliseconds in words, to the unit that reads best: `N minutes` below two
/// hours, `N hours` below two days, else `N days` (for "last seen 20 minutes ago").
pub fn span(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        m if m < 120 => count(m, "minute"),
        m if m < 48 * 60 => count(m / 60, "hour"),
        m => count(m / (24 * 60), "day"),
    }
}

/// RFC 3339 (UTC, milliseconds) of epoch milliseconds.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_the_unit_that_fits() {
        let minute = 60_000;
        assert_eq!(span(0), "0 minutes");
        assert_eq!(span(minute), "1 minute");
        assert_eq!(span(119 * minute), "119 minutes");
        assert_eq!(span(120 * minute), "2 hours");
        assert_eq!(span(DAY_MS * 2 - 1), "47 hours");
        assert_eq!(span(DAY_MS * 30), "30 days");
        assert_eq!(
            span(-5),
            "0 minutes",
            "a clock a little ahead is not the future"
        );
    }
}
