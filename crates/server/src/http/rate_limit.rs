//! Rate limits: per client address on every API request, tighter per address on public
//! endpoints, per authenticated principal, and on sign-in per (account, address), per
//! address and per account. Over the limit the answer is 429 `RATE_LIMITED` with
//! `Retry-After`.
//!
//! Counters live in process memory (one set per replica); see docs/operations.md.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::client_addr::ClientAddr;
use super::error::ApiError;
use crate::config::Config;

/// A keyed limiter allowing `per_minute` requests a minute, all of them in a burst.
pub struct Limiter<K: Hash + Eq + Clone> {
    inner: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            inner: RateLimiter::keyed(Quota::per_minute(n).allow_burst(n)),
        }
    }

    /// Count one request for `key`; on refusal, the error carries the seconds to wait.
    pub fn check(&self, key: &K) -> Result<(), ApiError> {
        self.inner.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)
        })
    }

    fn forget_idle(&self) {
        self.inner.retain_recent();
    }
}

/// How many times the per-(account, address) sign-in budget one address may spend over
/// all accounts together.
const LOGIN_ADDRESS_FACTOR: u32 = 4;
/// How many times the per-(account, address) sign-in budget one account takes from all
/// addresses together: far above what one address can spend on it, so no single address
/// can lock an account out for everyone.
const LOGIN_ACCOUNT_FACTOR: u32 = 10;

/// Every limiter of the server.
pub struct RateLimits {
    pub per_address: Limiter<IpAddr>,
    pub public: Limiter<IpAddr>,
    pub per_principal: Limiter<Arc<str>>,
    login_per_account_address: Limiter<(String, IpAddr)>,
    login_per_address: Limiter<IpAddr>,
    login_per_account: Limiter<String>,
}

impl RateLimits {
    pub fn new(config: &Config) -> Arc<Self> {
        let limits = Arc::new(Self {
            per_address: Limiter::per_minute(config.rate_limit_per_address),
            public: Limiter::per_minute(config.rate_limit_public),
            per_principal: Limiter::per_minute(config.rate_limit_per_principal),
            login_per_account_address: Limiter::per_minute(config.login_attempts_per_account),
            login_per_address: Limiter::per_minute(
                config
                    .login_attempts_per_account
                    .saturating_mul(LOGIN_ADDRESS_FACTOR),
            ),
            login_per_account: Limiter::per_minute(
                config
                    .login_attempts_per_account
                    .saturating_mul(LOGIN_ACCOUNT_FACTOR),
            ),
        });
        let weak = Arc::downgrade(&limits);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(limits) = weak.upgrade() else { break };
                limits.per_address.forget_idle();
                limits.public.forget_idle();
                limits.per_principal.forget_idle();
                limits.login_per_account_address.forget_idle();
                limits.login_per_address.forget_idle();
                limits.login_per_account.forget_idle();
            }
        });
        limits
    }

    /// Count one sign-in attempt for `account` (a normalised e-mail) from `addr`. The
    /// limits are checked narrowest first, and a refused check spends nothing of the wider
    /// ones: an address that used up its budget on an account adds no more to that
    /// account's ceiling, so another address still gets in.
    pub fn login_attempt(&self, account: &str, addr: IpAddr) -> Result<(), ApiError> {
        self.login_per_account_address
            .check(&(account.to_owned(), addr))?;
        self.login_per_address.check(&addr)?;
        self.login_per_account.check(&account.to_owned())
    }
}

/// Endpoints anyone can call without a credential: they get the tighter public limit.
fn is_public(method: &Method, path: &str) -> bool {
    path.starts_with("/api/v1/health")
        || (method == Method::POST
            && matches!(
                path,
                "/api/v1/auth/login"
                    | "/api/v1/auth/refresh"
                    | "/api/v1/agents/register"
                    | "/api/v1/agents/quick-pair"
                    | "/api/v1/provisioning/validate-token"
                    | "/api/v1/provisioning/report-progress"
            ))
        || path == "/login"
        || path.starts_with("/setup")
}

/// The per-address limits of a request (the per-principal one is applied once the principal
/// is known, in `auth`): every API request and the public pages count; `OPTIONS` does not.
pub fn check_address(
    limits: &RateLimits,
    method: &Method,
    path: &str,
    addr: ClientAddr,
) -> Result<(), ApiError> {
    if method == Method::OPTIONS {
        return Ok(());
    }
    let public = is_public(method, path);
    if path.starts_with("/api/") || public {
        limits.per_address.check(&addr.0)?;
        if public {
            limits.public.check(&addr.0)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_its_budget_and_others_are_not() {
        let limiter = Limiter::<u8>::per_minute(2);
        assert!(limiter.check(&1).is_ok());
        assert!(limiter.check(&1).is_ok());
        let err = limiter.check(&1).unwrap_err();
        assert_eq!(err.code, botmox_proto::ErrorCode::RateLimited);
        assert!(err.retry_after.unwrap() >= 1);
        assert!(limiter.check(&2).is_ok());
    }

    #[tokio::test]
    async fn one_address_cannot_lock_an_account_for_others() {
        let config = crate::config::Settings {
            login_attempts_per_account: Some(2),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        let limits = RateLimits::new(&config);
        let (a, b): (IpAddr, IpAddr) = (
            "198.51.100.1".parse().unwrap(),
            "203.0.113.9".parse().unwrap(),
        );
        // However long address `a` keeps trying, it only spends its own budget.
        for attempt in 0..100 {
            let refused = limits.login_attempt("x@example.com", a).is_err();
            assert_eq!(refused, attempt >= 2, "attempt {attempt}");
        }
        assert!(limits.login_attempt("x@example.com", b).is_ok());
        // `a` may try other accounts up to its per-address budget (8, of which it spent 2).
        for n in 0..6 {
            assert!(limits.login_attempt(&format!("{n}@example.com"), a).is_ok());
        }
        assert!(limits.login_attempt("7@example.com", a).is_err());
        // Many addresses together reach the account's ceiling (20; `a` spent 2 of it, `b` 1).
        for n in 0..8 {
            let addr = IpAddr::from([192, 0, 2, n]);
            assert!(limits.login_attempt("x@example.com", addr).is_ok());
            assert!(limits.login_attempt("x@example.com", addr).is_ok());
        }
        let last = IpAddr::from([192, 0, 2, 100]);
        assert!(limits.login_attempt("x@example.com", last).is_ok());
        assert!(limits.login_attempt("x@example.com", last).is_err());
    }
}
