//! How often the run loop rebuilds the status page's snapshot and the
//! core's gauges. Both walk every pod the core tracks; rebuilt after every
//! input they made the loop O(pods) per watch event, and at a thousand pods
//! under churn the loop fell minutes behind the pod watch (placing pods long
//! deleted). Readers poll every few seconds, so a snapshot at most
//! [`PUBLISH_EVERY`] old loses them nothing.

use std::time::Duration;

use tokio::time::Instant;

/// The longest a published snapshot lags behind the core.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// Publish at once when the last publication is old enough; otherwise owe
/// one, due [`PUBLISH_EVERY`] after the last.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    owed: bool,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            owed: false,
        }
    }

    /// Whether to publish now (the state changed at `now`). When not, a
    /// publication is owed at [`Throttle::due`].
    pub fn ready(&mut self, now: Instant) -> bool {
        if self.last.is_some_and(|last| now < last + self.every) {
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
            .map(|last| last + self.every)
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
}
