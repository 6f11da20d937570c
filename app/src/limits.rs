//! Brakes on password guessing: attempts are limited per account and per client address.
//!
//! Each key has a bucket (GCRA, from the `governor` crate): a burst of attempts, then one
//! more every so often. The owner of an account under attack waits at most one refill
//! interval once the burst is spent, and a guesser gets a handful of tries a minute.
//! Unknown names are counted exactly like known ones, so the limit tells nothing about
//! which names exist.
//!
//! The buckets live in this process's memory: several `app` tasks (or the gateway beside
//! `app`) each count on their own, so the effective limit grows with their number.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use shared::api::CLIENT_HEADER;

use crate::error::AppError;

/// One more attempt per account comes back this often once its burst is spent.
pub const ACCOUNT_REFILL: Duration = Duration::from_secs(30);
/// One more attempt per client address comes back this often.
pub const CLIENT_REFILL: Duration = Duration::from_secs(2);
/// Buckets untouched for a while are dropped every this many checks, so that the
/// maps do not grow without bound.
const SWEEP_EVERY: u64 = 1024;

/// The attempt limits of one process.
#[derive(Clone, Debug)]
pub struct SignInLimits {
    accounts: Arc<DefaultKeyedRateLimiter<String>>,
    clients: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    checks: Arc<AtomicU64>,
}

impl SignInLimits {
    /// `account_burst` attempts per account and `client_burst` per client address, each
    /// refilled one at a time.
    pub fn new(account_burst: u32, client_burst: u32) -> Self {
        Self {
            accounts: Arc::new(RateLimiter::keyed(quota(ACCOUNT_REFILL, account_burst))),
            clients: Arc::new(RateLimiter::keyed(quota(CLIENT_REFILL, client_burst))),
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Takes one attempt from the client's bucket, if the caller said who the client is.
    pub fn check_client(&self, client: Option<IpAddr>) -> Result<(), AppError> {
        let Some(client) = client else {
            return Ok(());
        };
        self.sweep_now_and_then();
        let outcome = self.clients.check_key(&client);
        outcome
            .map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// Takes one attempt from the bucket of the account with this canonical name.
    pub fn check_account(&self, canonical_name: &str) -> Result<(), AppError> {
        self.sweep_now_and_then();
        let outcome = self.accounts.check_key(&canonical_name.to_string());
        outcome
            .map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now())))
    }

    fn sweep_now_and_then(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.accounts.retain_recent();
            self.clients.retain_recent();
        }
    }
}

/// The client address that `web` forwarded. Call only from a handler that has verified
/// the caller's internal credential: from anyone else the header would be a free choice.
pub fn forwarded_client(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get(CLIENT_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
}

fn quota(refill: Duration, burst: u32) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(refill)
        .expect("refill periods are not zero")
        .allow_burst(burst)
}

/// Whole seconds to wait, rounded up, never zero: a `Retry-After` of 0 invites a retry
/// that would be refused again.
fn too_many(wait: Duration) -> AppError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AppError::TooManyAttempts {
        retry_after_seconds: seconds.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(result: Result<(), AppError>) -> Option<u64> {
        match result {
            Ok(()) => None,
            Err(AppError::TooManyAttempts {
                retry_after_seconds,
            }) => Some(retry_after_seconds),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn an_account_gets_its_burst_then_waits_about_one_refill() {
        let limits = SignInLimits::new(3, 100);
        for attempt in 0..3 {
            assert_eq!(retry_after(limits.check_account("ann")), None, "{attempt}");
        }
        let wait = retry_after(limits.check_account("ann")).expect("the fourth is refused");
        assert!((1..=30).contains(&wait), "{wait}");
        assert_eq!(
            retry_after(limits.check_account("bob")),
            None,
            "another account has its own bucket"
        );
    }

    #[test]
    fn a_client_address_gets_its_burst_and_no_address_is_not_counted() {
        let limits = SignInLimits::new(100, 2);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(retry_after(limits.check_client(Some(client))), None);
        assert_eq!(retry_after(limits.check_client(Some(client))), None);
        let wait = retry_after(limits.check_client(Some(client))).expect("refused");
        assert!((1..=2).contains(&wait), "{wait}");
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        assert_eq!(retry_after(limits.check_client(Some(other))), None);
        for _ in 0..10 {
            assert_eq!(retry_after(limits.check_client(None)), None);
        }
    }

    #[test]
    fn waits_are_whole_seconds_rounded_up() {
        let wait = |millis| match too_many(Duration::from_millis(millis)) {
            AppError::TooManyAttempts {
                retry_after_seconds,
            } => retry_after_seconds,
            _ => unreachable!(),
        };
        assert_eq!(wait(0), 1);
        assert_eq!(wait(1), 1);
        assert_eq!(wait(29_001), 30);
        assert_eq!(wait(30_000), 30);
    }
}
