//! Time as the API speaks it: epoch milliseconds, and RFC 3339 strings where the reference's
//! fields are ISO times (agents and commands).

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

pub use botmox_proto::time::MAX_MS;

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 (UTC, milliseconds) of epoch milliseconds.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
