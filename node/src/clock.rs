//! The clock: the only place (with the driver) that reads the system time. Cores take `now`
//! as a parameter; tests move a [`ManualClock`].

use poc247_protocol::UtcMs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC milliseconds.
    fn now(&self) -> UtcMs;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UtcMs {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        UtcMs(ms)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: UtcMs) -> Self {
        ManualClock(Arc::new(AtomicU64::new(start.0)))
    }
    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    /// Sets the clock.
    pub fn set(&self, t: UtcMs) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UtcMs {
        UtcMs(self.0.load(Ordering::SeqCst))
    }
}

/// The clock of a drill node: another clock moved forward by an offset that only grows, so
/// that deadlines of days come due in minutes. Never used by a node that is not in drill mode.
#[derive(Debug)]
pub struct DrillClock {
    inner: Arc<dyn Clock>,
    offset_ms: AtomicU64,
}

impl DrillClock {
    /// `inner`, `offset_ms` ahead.
    pub fn new(inner: Arc<dyn Clock>, offset_ms: u64) -> Self {
        DrillClock {
            inner,
            offset_ms: AtomicU64::new(offset_ms),
        }
    }

    /// How far ahead of the clock beneath it, in milliseconds.
    pub fn offset_ms(&self) -> u64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves the clock `ms` forward; returns the new offset.
    pub fn advance(&self, ms: u64) -> u64 {
        self.offset_ms
            .fetch_add(ms, Ordering::SeqCst)
            .saturating_add(ms)
    }
}

impl Clock for DrillClock {
    fn now(&self) -> UtcMs {
        self.inner.now().plus_ms(self.offset_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drill_clock_runs_ahead_by_an_offset_that_only_grows() {
        let base = ManualClock::new(UtcMs(1_000));
        let drill = DrillClock::new(Arc::new(base.clone()), 500);
        assert_eq!(drill.now(), UtcMs(1_500));
        assert_eq!(drill.advance(86_400_000), 86_400_500);
        base.advance(10);
        assert_eq!(drill.now(), UtcMs(1_000 + 10 + 86_400_500));
    }
}
