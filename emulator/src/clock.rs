//! The injected clock: every time window (fault windows, quota buckets, the attempt
//! fallback) reads time from here, so tests can move time by hand instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time since the emulator started, from the system or moved by hand.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Monotonic system time from an origin.
    System(Instant),
    /// A clock that only moves when told (tests).
    Manual(Arc<AtomicU64>),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::System(Instant::now())
    }
}

impl Clock {
    /// A system clock starting now.
    pub fn system() -> Self {
        Clock::default()
    }

    /// A manual clock at zero.
    pub fn manual() -> Self {
        Clock::Manual(Arc::new(AtomicU64::new(0)))
    }

    /// Time since the origin.
    pub fn now(&self) -> Duration {
        match self {
            Clock::System(origin) => origin.elapsed(),
            Clock::Manual(micros) => Duration::from_micros(micros.load(Ordering::Relaxed)),
        }
    }

    /// Moves a manual clock forward (a system clock ignores it).
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(micros) = self {
            micros.fetch_add(u64::try_from(by.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = Clock::manual();
        assert_eq!(c.now(), Duration::ZERO);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now(), Duration::from_millis(1500));
    }
}
