//! Capped exponential backoff with jitter, as a pure value.
//!
//! The delay doubles from `initial` up to `max`; each actual sleep is drawn
//! from the upper half of the current ceiling ("equal jitter"), so many
//! frameworks that lost the same master do not come back in lockstep, and a
//! delay never collapses to zero. The random draw is passed in, keeping the
//! arithmetic testable.

use std::time::Duration;

use super::config::BackoffConfig;

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
    #[cfg(test)]
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

    /// [`next_ceiling`](Self::next_ceiling) with the jitter applied.
    #[cfg(test)]
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        jitter(self.next_ceiling(), unit)
    }
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
}
