//! Rate limits: per client address on every API request, tighter per address on public
//! endpoints, per authenticated principal, and per account on login. Over the limit the
//! answer is 429 `RATE_LIMITED` with `Retry-After`.
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

/// Every limiter of the server.
pub struct RateLimits {
    pub per_address: Limiter<IpAddr>,
    pub public: Limiter<IpAddr>,
    pub per_principal: Limiter<Arc<str>>,
    pub login_per_account: Limiter<String>,
    pub login_per_address: Limiter<IpAddr>,
}

impl RateLimits {
    pub fn new(config: &Config) -> Arc<Self> {
        let limits = Arc::new(Self {
            per_address: Limiter::per_minute(config.rate_limit_per_address),
            public: Limiter::per_minute(config.rate_limit_public),
            per_principal: Limiter::per_minute(config.rate_limit_per_principal),
            login_per_account: Limiter::per_minute(config.login_attempts_per_account),
            login_per_address: Limiter::per_minute(
                config.login_attempts_per_account.saturating_mul(4),
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
                limits.login_per_account.forget_idle();
                limits.login_per_address.forget_idle();
            }
        });
        limits
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
}
