//! Per-peer token buckets, sans-IO: `now` is a parameter.

use poc247_protocol::{PartyId, UtcMs};
use std::collections::HashMap;

/// One bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: UtcMs,
    rate: f64,
    burst: f64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_s: u32, burst: u32, now: UtcMs) -> Self {
        TokenBucket {
            tokens: f64::from(burst),
            last: now,
            rate: f64::from(rate_per_s),
            burst: f64::from(burst),
        }
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, now: UtcMs) -> bool {
        let elapsed = now.since(self.last) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A bucket per peer.
#[derive(Debug, Default)]
pub struct PeerLimits {
    buckets: HashMap<PartyId, TokenBucket>,
}

impl PeerLimits {
    /// Whether `peer` may send one more message now.
    pub fn allow(&mut self, peer: &PartyId, rate_per_s: u32, burst: u32, now: UtcMs) -> bool {
        self.buckets
            .entry(peer.clone())
            .or_insert_with(|| TokenBucket::new(rate_per_s, burst, now))
            .try_take(now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let fr = PartyId::parse("FR").unwrap();
        let mut l = PeerLimits::default();
        let t = UtcMs(1_000);
        for _ in 0..5 {
            assert!(l.allow(&fr, 10, 5, t));
        }
        assert!(!l.allow(&fr, 10, 5, t), "burst spent");
        assert!(!l.allow(&fr, 10, 5, t.plus_ms(50)), "half a token");
        assert!(
            l.allow(&fr, 10, 5, t.plus_ms(100)),
            "one token after 100 ms at 10/s"
        );
        let lu = PartyId::parse("LU").unwrap();
        assert!(l.allow(&lu, 10, 5, t), "buckets are per peer");
    }
}
