//! How often, at most, the run loop rebuilds the status page's snapshot
//! and the core's gauges (when a reader asks: see [`super::Board::fresh`]).
//! Both walk every pod the core tracks; rebuilt after every
//! input they made the loop O(pods) per watch event, and at a thousand pods
//! under churn the loop fell minutes behind the pod watch (placing pods long
//! deleted). Readers poll every few seconds, so a snapshot at most
//! [`PUBLISH_EVERY`] old loses them nothing.
//!
//! A publication's cost grows with the pods: at 100,000 pods one took a
//! few hundred milliseconds, so publishing every 500 ms kept the loop busy
//! with it about half the time, and placement and status updates waited.
//! The interval therefore stretches to [`COST_FACTOR`] times what the last
//! publication cost: the loop spends at most a twentieth of its time on
//! it, and the page lags a few seconds behind on a very large cluster.

use std::time::Duration;

use tokio::time::Instant;

/// The longest a published snapshot lags behind the core.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// The interval is at least this many times the last publication's cost.
pub const COST_FACTOR: u32 = 20;

/// Publish at once when the last publication is old enough; otherwise owe
/// one, due [`PUBLISH_EVERY`] (or [`COST_FACTOR`] times the last cost)
/// after the last. The drain paces its walks for kept pods with one too
/// (`crate::drain`).
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    /// The interval now: `every`, or longer after a costly publication.
    interval: Duration,
    last: Option<Instant>,
    owed: bool,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            interval: every,
            last: None,
            owed: false,
        }
    }

    /// Records what the publication just made cost.
    pub fn cost(&mut self, cost: Duration) {
        self.interval = self.every.max(cost.saturating_mul(COST_FACTOR));
    }

    /// Whether to publish now (the state changed at `now`). When not, a
    /// publication is owed at [`Throttle::due`].
    pub fn ready(&mut self, now: Instant) -> bool {
        if self.last.is_some_and(|last| now < last + self.interval) {
            self.owed = true;
            return false;
        }
        self.last = Some(now);
        self.owed = false;
        true
    }

    /// When an owed publication falls due.
    pub fn due(&self) -> Option<Instant> {
        self.last
            .filter(|_| self.owed)
            .map(|last| last + self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_change_publishes_and_a_burst_owes_one_at_the_interval() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Throttle::new(PUBLISH_EVERY);
        assert!(t.ready(t0));
        assert_eq!(t.due(), None, "nothing owed after a publication");
        assert!(!t.ready(ms(10)));
        assert!(!t.ready(ms(499)));
        assert_eq!(t.due(), Some(ms(500)));
        // The owed publication at its time, then quiet again.
        assert!(t.ready(ms(500)));
        assert_eq!(t.due(), None);
        // Long after, the next change publishes at once.
        assert!(t.ready(ms(5_000)));
    }

    #[test]
    fn a_costly_publication_stretches_the_interval() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Throttle::new(PUBLISH_EVERY);
        assert!(t.ready(t0));
        t.cost(Duration::from_millis(200));
        assert!(!t.ready(ms(3_999)));
        assert_eq!(t.due(), Some(ms(4_000)));
        assert!(t.ready(ms(4_000)));
        // Cheap again: back to the floor.
        t.cost(Duration::from_millis(1));
        assert!(!t.ready(ms(4_499)));
        assert!(t.ready(ms(4_500)));
    }
}
