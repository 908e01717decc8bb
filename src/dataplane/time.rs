//! Time as a value passed in by the caller.
//!
//! Contract: the dataplane never reads a clock. The runtime reads its
//! monotonic clock once per batch of frames and passes an [`Instant`] down.
//! An `Instant` is a count of milliseconds since an epoch the caller chooses
//! (the daemon's start, or zero in tests); only differences are meaningful.
//! Arithmetic saturates: a clock that appears to go backwards yields a zero
//! elapsed time, never a panic.

use core::fmt;
use core::ops::Add;
use core::time::Duration;

/// A point in time, in milliseconds since a caller-chosen epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant { millis: 0 };

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Instant {
        Instant { millis }
    }

    /// An instant `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Instant {
        Instant {
            millis: secs.saturating_mul(1000),
        }
    }

    /// Milliseconds since the epoch.
    pub const fn total_millis(self) -> u64 {
        self.millis
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Adds whole milliseconds of `rhs`, saturating at the end of time.
    fn add(self, rhs: Duration) -> Instant {
        let add = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Instant {
            millis: self.millis.saturating_add(add),
        }
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.millis / 1000, self.millis % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_saturates_when_clock_goes_back() {
        let a = Instant::from_secs(10);
        let b = Instant::from_millis(9_500);
        assert_eq!(a.saturating_duration_since(b), Duration::from_millis(500));
        assert_eq!(b.saturating_duration_since(a), Duration::ZERO);
    }

    #[test]
    fn add_saturates() {
        let t = Instant::from_millis(u64::MAX - 1) + Duration::from_secs(5);
        assert_eq!(t.total_millis(), u64::MAX);
        assert_eq!(
            Instant::ZERO + Duration::from_secs(2),
            Instant::from_secs(2)
        );
    }

    #[test]
    fn display() {
        assert_eq!(Instant::from_millis(12_034).to_string(), "12.034s");
    }
}
