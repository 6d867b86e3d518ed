//! Times of the agent and command bodies: RFC 3339 in UTC with milliseconds
//! (`2025-01-02T03:04:05.678Z`), the form the server writes today. Reading accepts any
//! RFC 3339 time.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// The largest time in epoch milliseconds the API takes (about the year 255,000): far past
/// any real date, still a date `chrono` can name, and far from `i64` overflow when ranges
/// are shifted by days.
pub const MAX_MS: i64 = 8_000_000_000_000_000;

fn text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `serialize_with` for a `DateTime<Utc>` field.
pub fn millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&text(t))
}

/// `serialize_with` for an `Option<DateTime<Utc>>` field (`null` when absent).
pub fn millis_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&text(t)),
        None => s.serialize_none(),
    }
}

/// Epoch milliseconds as a time (the server stores them so); `None` when out of range.
pub fn from_epoch_ms(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_keep_their_milliseconds() {
        let t = from_epoch_ms(1_700_000_000_000).unwrap();
        assert_eq!(text(&t), "2023-11-14T22:13:20.000Z");
        let back: DateTime<Utc> = serde_json::from_str("\"2023-11-14T23:13:20.5+01:00\"").unwrap();
        assert_eq!(text(&back), "2023-11-14T22:13:20.500Z");
    }
}
