//! The one expiry model of licences, proxies and subscriptions. Their stored `status` is
//! what the operator set; what every page and list shows, filters on and counts is the
//! *effective* status computed here from it, `expires_at` and the warning window
//! (settings `alerts.warning_days`):
//!
//! - a status the operator set that time does not change (`revoked`, `banned`,
//!   `cancelled`) stays;
//! - else `expired` once `expires_at` has passed (or when the operator set `expired`);
//! - else `expiring` when at most `warning_days` days are left;
//! - else `active` (the stored `active`, no status at all, or a subscription's
//!   `expiring_soon`, which the reference let clients store and time decides here).
//!
//! Days left count started days: anything from one millisecond up to a whole day left is
//! one day, so a record is `expiring` exactly when `0 < days_left ≤ warning_days` (spec
//! ui.md §1.4). Dates are UTC: a date picked in a form is the start of that day in UTC,
//! the instant the record expires.

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition};

use crate::clock::DAY_MS;
use crate::db::entity::record::Column;
use crate::records::kinds::Kind;

pub const ACTIVE: &str = "active";
pub const EXPIRING: &str = "expiring";
pub const EXPIRED: &str = "expired";

/// Statuses an operator sets that the passing of time does not change.
const SETTLED: [&str; 3] = ["revoked", "banned", "cancelled"];
/// The reference's stored spelling of `expiring` (subscriptions), decided by time here.
const EXPIRING_SOON: &str = "expiring_soon";

/// Whether records of `kind` expire (and so have an effective status).
pub fn applies(kind: Kind) -> bool {
    matches!(kind, Kind::License | Kind::Proxy | Kind::Subscription)
}

/// Started days from `now` until `expires_at`; zero or less once it has passed.
pub fn days_left(expires_at: i64, now: i64) -> i64 {
    let left = expires_at.saturating_sub(now);
    left.div_euclid(DAY_MS) + i64::from(left.rem_euclid(DAY_MS) != 0)
}

/// The moment effective statuses are computed at, and the warning window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub now: i64,
    pub warning_days: i64,
}

impl Window {
    /// The last `expires_at` that is still `expiring` (rather than plain active).
    fn soon(&self) -> i64 {
        self.now
            .saturating_add(self.warning_days.saturating_mul(DAY_MS))
    }

    /// The effective status of a record stored with `status` and `expires_at`.
    pub fn status<'a>(&self, status: Option<&'a str>, expires_at: Option<i64>) -> &'a str {
        match (status, expires_at) {
            (Some(s), _) if SETTLED.contains(&s) => s,
            (Some(EXPIRED), _) => EXPIRED,
            (_, Some(e)) if e <= self.now => EXPIRED,
            (_, Some(e)) if e <= self.soon() => EXPIRING,
            (None | Some(EXPIRING_SOON), _) => ACTIVE,
            (Some(s), _) => s,
        }
    }

    /// The rows whose effective status is `status`, as a condition on the projection
    /// columns (so the status and expiry indexes still serve it).
    pub fn condition(&self, status: &str) -> Condition {
        let open = || {
            Expr::expr(Expr::col(Column::Status).if_null(""))
                .is_not_in(SETTLED.iter().copied().chain([EXPIRED]))
        };
        match status {
            s if SETTLED.contains(&s) => Condition::all().add(Column::Status.eq(s)),
            EXPIRING_SOON => self.condition(EXPIRING),
            ACTIVE => Condition::all()
                .add(
                    Condition::any()
                        .add(Column::Status.is_null())
                        .add(Column::Status.is_in([ACTIVE, EXPIRING_SOON])),
                )
                .add(
                    Condition::any()
                        .add(Column::ExpiresAtMs.is_null())
                        .add(Column::ExpiresAtMs.gt(self.soon())),
                ),
            EXPIRED => Condition::any().add(Column::Status.eq(EXPIRED)).add(
                Condition::all()
                    .add(Column::ExpiresAtMs.lte(self.now))
                    .add(open()),
            ),
            EXPIRING => Condition::all()
                .add(Column::ExpiresAtMs.gt(self.now))
                .add(Column::ExpiresAtMs.lte(self.soon()))
                .add(open()),
            other => Condition::all().add(Column::Status.eq(other)).add(
                Condition::any()
                    .add(Column::ExpiresAtMs.is_null())
                    .add(Column::ExpiresAtMs.gt(self.soon())),
            ),
        }
    }

    /// How many rows have the effective status `status`: an aggregate for a grouped query.
    pub fn count(&self, status: &str) -> SimpleExpr {
        let one_if = Expr::case(self.condition(status), 1).finally(0);
        Expr::expr(SimpleExpr::from(sea_orm::sea_query::Func::sum(one_if))).if_null(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        now: 1_000 * DAY_MS,
        warning_days: 7,
    };

    #[test]
    fn days_left_counts_started_days() {
        assert_eq!(days_left(W.now + 1, W.now), 1);
        assert_eq!(days_left(W.now + DAY_MS, W.now), 1);
        assert_eq!(days_left(W.now + DAY_MS + 1, W.now), 2);
        assert_eq!(days_left(W.now, W.now), 0);
        assert_eq!(days_left(W.now - DAY_MS / 2, W.now), 0);
        assert_eq!(days_left(W.now - DAY_MS - 1, W.now), -1);
        assert_eq!(days_left(i64::MAX, i64::MIN), i64::MAX / DAY_MS + 1);
    }

    #[test]
    fn effective_status_follows_time_unless_settled() {
        let at = |ms: i64| Some(W.now + ms);
        assert_eq!(W.status(Some("active"), at(-1)), EXPIRED);
        assert_eq!(W.status(Some("active"), at(0)), EXPIRED);
        assert_eq!(W.status(Some("active"), at(1)), EXPIRING);
        assert_eq!(W.status(Some("active"), at(7 * DAY_MS)), EXPIRING);
        assert_eq!(W.status(Some("active"), at(7 * DAY_MS + 1)), ACTIVE);
        assert_eq!(W.status(Some("active"), None), ACTIVE);
        assert_eq!(W.status(None, at(DAY_MS)), EXPIRING);
        assert_eq!(W.status(None, None), ACTIVE);
        assert_eq!(W.status(None, at(30 * DAY_MS)), ACTIVE);
        assert_eq!(W.status(Some("expired"), at(30 * DAY_MS)), EXPIRED);
        assert_eq!(W.status(Some("expiring_soon"), at(30 * DAY_MS)), ACTIVE);
        assert_eq!(W.status(Some("expiring_soon"), at(DAY_MS)), EXPIRING);
        assert_eq!(W.status(Some("expiring_soon"), at(-DAY_MS)), EXPIRED);
        for settled in SETTLED {
            assert_eq!(W.status(Some(settled), at(-DAY_MS)), settled);
            assert_eq!(W.status(Some(settled), at(DAY_MS)), settled);
        }
        // Expiring is exactly 0 < days left <= warning days.
        for ms in [1, DAY_MS, 7 * DAY_MS, 7 * DAY_MS + 1, 0, -1] {
            let d = days_left(W.now + ms, W.now);
            let expiring = W.status(Some("active"), at(ms)) == EXPIRING;
            assert_eq!(expiring, d > 0 && d <= W.warning_days, "{ms} ms left");
        }
    }
}
