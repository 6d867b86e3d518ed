//! Times on the pages, as the reference shows them (spec ui.md §1.4): `DD.MM.YYYY HH:MM`.
//! The server writes each into a `<time datetime>` element in UTC; `app.js` shows it in the
//! viewer's own time zone (the UTC text stays as its tooltip) and adds "5 min ago" where the
//! element asks for it. Without scripts the UTC text stands.

use std::fmt;

use chrono::{DateTime, Utc};

/// A moment as a page shows it. Its `Display` is the `<time>` element (safe HTML: only
/// digits and fixed text), so templates print it with `|safe`.
pub struct Moment {
    at: DateTime<Utc>,
    ago: bool,
}

impl Moment {
    /// Shown with how long ago it was ("… (5 minutes ago)").
    pub fn ago(at: &DateTime<Utc>) -> Self {
        Self { at: *at, ago: true }
    }
}

/// `t` as a page shows it.
pub fn at(t: &DateTime<Utc>) -> Moment {
    Moment { at: *t, ago: false }
}

/// Epoch milliseconds as a page shows them; `None` out of range.
pub fn at_ms(ms: i64) -> Option<Moment> {
    DateTime::from_timestamp_millis(ms).map(|t| at(&t))
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"<time datetime="{}"{}>{} UTC</time>"#,
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            if self.ago { " data-ago" } else { "" },
            self.at.format("%d.%m.%Y %H:%M"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_is_a_time_element_in_utc() {
        let t = at_ms(1_767_225_600_000 + 90_000).unwrap();
        assert_eq!(
            t.to_string(),
            r#"<time datetime="2026-01-01T00:01:30Z">01.01.2026 00:01 UTC</time>"#
        );
        let t = DateTime::from_timestamp_millis(0).unwrap();
        assert!(Moment::ago(&t).to_string().contains(" data-ago>"));
        assert!(at_ms(i64::MAX).is_none());
    }
}
