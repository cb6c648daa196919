//! Rate limits on the one public operation, `submitSatisfaction`: per client address (checked in
//! the HTTP layer, before anything runs) and per survey link (checked where the link's token is
//! verified). Both are kept in this process's memory: with several instances behind a balancer
//! each allows the configured rate.

use std::hash::Hash;
use std::net::IpAddr;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use crate::config::RateLimit;

/// One rate, counted separately for each key.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limit: RateLimit,
    limiter: DefaultKeyedRateLimiter<K>,
}

/// A request over a limit: the limit, and how long until one more is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub limit: RateLimit,
    pub retry_after: Duration,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// The whole budget (`limit.count`) at once, then one more every `period / count`.
    pub fn new(limit: RateLimit) -> Self {
        let replenish = (limit.period / limit.count.get()).max(Duration::from_nanos(1));
        // `with_period` refuses only a zero period, which the max above rules out.
        let quota =
            Quota::with_period(replenish).unwrap_or_else(|| Quota::per_second(limit.count)).allow_burst(limit.count);
        KeyedLimiter { limit, limiter: RateLimiter::keyed(quota) }
    }

    /// Counts one request for `key`, or tells how long to wait.
    pub fn check(&self, key: &K) -> Result<(), Limited> {
        self.limiter.check_key(key).map_err(|not_until| Limited {
            limit: self.limit,
            retry_after: not_until.wait_time_from(self.limiter.clock().now()),
        })
    }

    /// Forgets keys whose budget is whole again, so that memory follows the recent callers.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The limits on `submitSatisfaction`.
pub struct SurveyLimits {
    per_address: KeyedLimiter<IpAddr>,
    per_link: KeyedLimiter<[u8; 32]>,
}

impl SurveyLimits {
    pub fn new(per_address: RateLimit, per_link: RateLimit) -> Self {
        SurveyLimits { per_address: KeyedLimiter::new(per_address), per_link: KeyedLimiter::new(per_link) }
    }

    /// Counts one anonymous request from `address`. An IPv6 client usually holds a whole /64,
    /// so it counts by that prefix.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Limited> {
        let key = match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
            },
            v4 => v4,
        };
        self.per_address.check(&key)
    }

    /// Counts one submission through the survey link whose (verified) token is `token`. Keyed by
    /// the token's hash, so the memory holds no token.
    pub fn check_link(&self, token: &str) -> Result<(), Limited> {
        self.per_link.check(&Sha256::digest(token.as_bytes()).into())
    }

    pub fn forget_idle(&self) {
        self.per_address.forget_idle();
        self.per_link.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(value: &str) -> RateLimit {
        value.parse().unwrap()
    }

    #[test]
    fn a_key_gets_its_budget_then_waits_and_other_keys_are_untouched() {
        let limits = SurveyLimits::new(rate("3/1m"), rate("2/1h"));
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check_address(client).is_ok());
        }
        let limited = limits.check_address(client).unwrap_err();
        assert_eq!(limited.limit, rate("3/1m"));
        assert!(limited.retry_after > Duration::ZERO && limited.retry_after <= Duration::from_secs(20));
        assert!(limits.check_address("192.0.2.8".parse().unwrap()).is_ok());

        assert!(limits.check_link("a").is_ok() && limits.check_link("a").is_ok());
        assert!(limits.check_link("a").is_err());
        assert!(limits.check_link("b").is_ok());
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_prefix() {
        let limits = SurveyLimits::new(rate("1/1m"), rate("1/1h"));
        assert!(limits.check_address("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(limits.check_address("2001:db8:1:2:ffff::9".parse().unwrap()).is_err());
        assert!(limits.check_address("2001:db8:1:3::1".parse().unwrap()).is_ok());
        // An IPv4 client seen through a dual-stack socket is that IPv4 client.
        assert!(limits.check_address("198.51.100.1".parse().unwrap()).is_ok());
        assert!(limits.check_address("::ffff:198.51.100.1".parse().unwrap()).is_err());
    }
}
