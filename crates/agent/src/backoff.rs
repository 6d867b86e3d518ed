//! Waits between retries: exponential, capped, and jittered, so a fleet of agents that lost
//! their server at the same moment does not come back at the same moment.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with "equal jitter": the n-th wait is drawn from
/// `[d/2, d)` where `d = min(max, base * 2^n)`: never zero, never in lock-step.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The wait before the next retry, drawn at random.
    pub fn next_delay(&mut self) -> Duration {
        self.next_with(rand::thread_rng().r#gen::<f64>())
    }

    /// As [`Backoff::next_delay`] with the random draw `unit` in `[0, 1)` given.
    pub fn next_with(&mut self, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// After a success: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// `period` ± `spread` (a fraction of it), drawn at random: heartbeats of agents started
/// together drift apart instead of arriving as one burst.
pub fn jittered(period: Duration, spread: f64) -> Duration {
    let unit: f64 = rand::thread_rng().r#gen::<f64>();
    jittered_with(period, spread, unit)
}

fn jittered_with(period: Duration, spread: f64, unit: f64) -> Duration {
    let factor = 1.0 + spread * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    period.mul_f64(factor.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn grows_doubling_within_jitter_bounds_and_caps() {
        let mut low = Backoff::new(S, Duration::from_secs(60));
        let mut high = low.clone();
        let expected_ceilings = [1, 2, 4, 8, 16, 32, 60, 60, 60];
        for ceiling in expected_ceilings {
            let ceiling = Duration::from_secs(ceiling);
            assert_eq!(low.next_with(0.0), ceiling / 2);
            let top = high.next_with(0.999_999);
            assert!(
                top < ceiling && top > ceiling.mul_f64(0.99),
                "{top:?} vs {ceiling:?}"
            );
        }
        assert_eq!(low.attempts(), expected_ceilings.len() as u32);
    }

    #[test]
    fn reset_starts_over_and_many_failures_do_not_overflow() {
        let mut b = Backoff::new(S, Duration::from_secs(30));
        for _ in 0..1000 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
        b.reset();
        assert_eq!(b.next_with(0.0), Duration::from_millis(500));
    }

    #[test]
    fn random_draws_spread_out() {
        let mut draws: Vec<Duration> = (0..50)
            .map(|_| Backoff::new(S, S * 8).next_delay())
            .collect();
        draws.sort();
        draws.dedup();
        assert!(
            draws.len() > 10,
            "jitter should spread the waits: {draws:?}"
        );
        assert!(draws.iter().all(|d| *d >= S / 2 && *d < S));
    }

    #[test]
    fn heartbeat_jitter_stays_around_the_period() {
        let period = Duration::from_secs(30);
        assert_eq!(jittered_with(period, 0.1, 0.0), Duration::from_secs(27));
        assert_eq!(jittered_with(period, 0.1, 0.5), period);
        assert_eq!(jittered_with(period, 0.1, 1.0), Duration::from_secs(33));
        for _ in 0..100 {
            let d = jittered(period, 0.1);
            assert!(d >= Duration::from_secs(27) && d <= Duration::from_secs(33));
        }
    }
}
