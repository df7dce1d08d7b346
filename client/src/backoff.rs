//! The one back-off of every Mesos connection: capped exponential with
//! jitter, as a pure value.
//!
//! The delay doubles from `initial` up to `max`; each actual sleep is drawn
//! from the upper half of the current ceiling ("equal jitter"), so many
//! clients that lost the same master do not come back in lockstep, and a
//! delay never collapses to zero. The random draw is passed in, keeping the
//! arithmetic testable; [`random_unit`] is the production draw.
//!
//! The executor's reconnection rule is Mesos' own (a uniform delay in
//! `[0, MESOS_SUBSCRIPTION_BACKOFF_MAX]`, `src/executor/executor.cpp`):
//! [`full_jitter`] is that draw, kept here so that every Mesos connection
//! takes its delays from one place.

use std::time::Duration;

/// Capped exponential backoff between connection attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// First delay. Default 1 s: a master failover takes seconds, not less.
    pub initial: Duration,
    /// Largest delay. Default 60 s, so a long outage is still noticed within a
    /// minute of its end.
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// Backoff progress between two successful subscriptions.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    config: BackoffConfig,
    ceiling: Duration,
}

impl Backoff {
    /// A fresh backoff, next ceiling `initial`.
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            ceiling: config.initial.min(config.max),
            config,
        }
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.ceiling = self.config.initial.min(self.config.max);
    }

    /// The ceiling the next delay is drawn under.
    pub fn ceiling(&self) -> Duration {
        self.ceiling
    }

    /// Returns the current ceiling and doubles it for next time, capped at
    /// `max`. The caller draws the actual delay with [`jitter`].
    pub fn next_ceiling(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = ceiling.saturating_mul(2).min(self.config.max);
        ceiling
    }

    /// [`next_ceiling`](Self::next_ceiling) with the jitter applied for a
    /// uniform draw `unit` in `[0, 1]` (see [`random_unit`]).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        jitter(self.next_ceiling(), unit)
    }
}

/// A uniform draw in `[0, 1)` for the jitter functions.
pub fn random_unit() -> f64 {
    rand::random::<f64>()
}

/// A delay in `[ceiling / 2, ceiling]` for a uniform draw `unit` in `[0, 1]`.
pub fn jitter(ceiling: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let half = ceiling / 2;
    half + (ceiling - half).mul_f64(unit)
}

/// A delay in `[0, max]` for a uniform draw `unit` in `[0, 1]` (Mesos'
/// executor library's reconnection delay).
pub fn full_jitter(max: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        1.0
    };
    max.mul_f64(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::new(config());
        let ceilings: Vec<u64> = (0..9)
            .map(|_| {
                let c = b.ceiling().as_secs();
                b.next_delay(1.0);
                c
            })
            .collect();
        assert_eq!(ceilings, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let mut b = Backoff::new(config());
        assert_eq!(b.next_delay(0.0), Duration::from_millis(500));
        assert_eq!(b.next_delay(1.0), Duration::from_secs(2));
        assert_eq!(b.next_delay(f64::NAN), Duration::from_secs(4));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn initial_above_max_is_capped() {
        let mut b = Backoff::new(BackoffConfig {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(3),
        });
        assert_eq!(b.next_delay(1.0), Duration::from_secs(3));
    }

    #[test]
    fn full_jitter_spans_zero_to_max() {
        let max = Duration::from_secs(2);
        assert_eq!(full_jitter(max, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(max, 0.5), Duration::from_secs(1));
        assert_eq!(full_jitter(max, 1.0), max);
        assert_eq!(full_jitter(max, f64::INFINITY), max);
        assert_eq!(full_jitter(max, -3.0), Duration::ZERO);
    }
}
