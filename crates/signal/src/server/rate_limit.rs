//! Per-IP and per-connection rate limits (token buckets from `governor`).

use std::net::IpAddr;
use std::num::NonZeroU32;

use super::limits::address_key;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

fn quota(per_period: u32, burst: u32, per_second: bool) -> Option<Quota> {
    let rate = NonZeroU32::new(per_period)?;
    let burst = NonZeroU32::new(burst.max(1)).expect("max(1) is non-zero");
    let q = if per_second { Quota::per_second(rate) } else { Quota::per_minute(rate) };
    Some(q.allow_burst(burst))
}

/// A per-IP limit; `None` inside means unlimited.
pub struct IpLimit(Option<DefaultKeyedRateLimiter<IpAddr>>);

impl IpLimit {
    pub fn per_minute(rate: u32, burst: u32) -> Self {
        IpLimit(quota(rate, burst, false).map(RateLimiter::keyed))
    }

    /// Take one token for `ip` (an IPv6 address's /64: one subscriber's); false when the bucket is empty.
    pub fn check(&self, ip: IpAddr) -> bool {
        self.0.as_ref().is_none_or(|l| l.check_key(&address_key(ip)).is_ok())
    }

    /// Forget addresses whose buckets are full again (keeps memory bounded).
    pub fn forget_idle(&self) {
        if let Some(l) = &self.0 {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// A per-connection message limit.
pub struct MessageLimit(Option<DefaultDirectRateLimiter>);

impl MessageLimit {
    pub fn per_second(rate: u32, burst: u32) -> Self {
        MessageLimit(quota(rate, burst, true).map(RateLimiter::direct))
    }

    pub fn check(&self) -> bool {
        self.0.as_ref().is_none_or(|l| l.check().is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_per_ip() {
        let limit = IpLimit::per_minute(1, 3);
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        assert!((0..3).all(|_| limit.check(a)));
        assert!(!limit.check(a));
        assert!(limit.check(b), "another address has its own bucket");
        assert!((0..1000).all(|_| IpLimit::per_minute(0, 0).check(a)), "0 means unlimited");
    }

    #[test]
    fn message_limit_bursts() {
        let limit = MessageLimit::per_second(1, 5);
        assert_eq!((0..10).filter(|_| limit.check()).count(), 5);
    }
}
