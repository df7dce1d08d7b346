//! The one back-off of the executor's Kubernetes API retries (Node status,
//! pod status, node lease, certificate signing and renewal, waiting for a
//! binding): `backon`'s exponential back-off, doubling from a first delay
//! to a cap, with a reset after a success.
//!
//! The back-offs that are Kubernetes rules (CrashLoopBackOff, the image
//! pull back-off) keep their own kubelet-exact code in the runner; the
//! Mesos connection's back-off lives with the Mesos client.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Delays from `first`, doubling up to `max`; the default is the API
/// retries' 500 ms to 30 s.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: ExponentialBackoff,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Self::FIRST, Self::MAX)
    }
}

impl Backoff {
    /// First delay of the API retries.
    pub const FIRST: Duration = Duration::from_millis(500);
    /// Largest delay of the API retries.
    pub const MAX: Duration = Duration::from_secs(30);

    /// Delays from `first`, doubling up to `max`, never running out.
    pub fn new(first: Duration, max: Duration) -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(first)
            .with_max_delay(max)
            .with_factor(2.0)
            .without_max_times();
        Self {
            delays: builder.build(),
            builder,
            max,
        }
    }

    /// The delay to wait now; the following one doubles.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.delays.next().unwrap_or(self.max);
        // backon multiplies in f32 seconds (400 ms comes out 400.000006
        // ms); whole milliseconds keep the delays exact, as the paused-time
        // tests and the logs expect. f32 is exact to well under 1 ms below
        // an hour.
        let millis = (delay.as_micros() + 500) / 1000;
        Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(b: &mut Backoff, n: usize) -> Vec<Duration> {
        (0..n).map(|_| b.next_delay()).collect()
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::default();
        let expected = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
        assert_eq!(delays(&mut b, 9), expected.map(Duration::from_millis));
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn delays_are_exact_milliseconds() {
        // The node lease's retries: 200 ms doubling to 7 s.
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(7));
        let expected = [200, 400, 800, 1600, 3200, 6400, 7000, 7000];
        assert_eq!(delays(&mut b, 8), expected.map(Duration::from_millis));
    }

    #[test]
    fn never_runs_out() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(7));
        let last = (0..10_000).map(|_| b.next_delay()).last();
        assert_eq!(last, Some(Duration::from_secs(7)));
    }
}
