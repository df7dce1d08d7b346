//! CrashLoopBackOff timing, exactly as the kubelet's `flowcontrol.Backoff`
//! used by `kuberuntime_manager.go` `doBackOff`.
//!
//! The kubelet keys one backoff entry per container (pod name, namespace,
//! uid, container name and spec hash); a pod's spec is immutable here, so one
//! entry per container record is the same thing. Behaviour:
//! - first exit: no entry, restart at once, entry starts at 10 s;
//! - later exits: wait until `finishedAt + backoff`, then double it (cap 300 s)
//!   and restart;
//! - an entry not updated for more than twice the cap (10 minutes) when the
//!   container finishes is stale: the container ran long enough, restart at
//!   once and start again at 10 s.

use std::time::Duration;

use tokio::time::Instant;

/// Kubelet's initial container backoff (`backOffPeriod`).
pub const INITIAL: Duration = Duration::from_secs(10);
/// Kubelet's `MaxContainerBackOff`.
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    backoff: Duration,
    last_update: Instant,
}

/// One container's backoff entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    entry: Option<Entry>,
}

fn expired(event: Instant, last_update: Instant) -> bool {
    event.saturating_duration_since(last_update) > MAX * 2
}

impl Backoff {
    /// `IsInBackOffSince(finished)`: if the container that finished at
    /// `finished` must still wait at `now`, the instant the wait ends.
    pub fn wait_until(&self, finished: Instant, now: Instant) -> Option<Instant> {
        let e = self.entry?;
        if expired(finished, e.last_update) {
            return None;
        }
        let until = finished + e.backoff;
        (now < until).then_some(until)
    }

    /// `Next(finished)`: record a restart happening at `now`.
    pub fn next(&mut self, finished: Instant, now: Instant) {
        let backoff = match self.entry {
            Some(e) if !expired(finished, e.last_update) => (e.backoff * 2).min(MAX),
            _ => INITIAL,
        };
        self.entry = Some(Entry {
            backoff,
            last_update: now,
        });
    }

    /// `Get`: the current backoff (0 before the first restart).
    pub fn current(&self) -> Duration {
        self.entry.map_or(Duration::ZERO, |e| e.backoff)
    }
}

/// Formats a duration as Go's `time.Duration.String()` does for whole
/// seconds (`10s`, `1m20s`, `5m0s`), for kubelet messages.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{}h{}m{}s", secs / 3600, (secs % 3600) / 60, secs % 60)
    } else if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_format() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }

    #[tokio::test(start_paused = true)]
    async fn doubles_to_the_cap_and_resets_after_ten_minutes() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        // First exit: restart at once.
        assert_eq!(b.wait_until(t0, t0), None);
        b.next(t0, t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            now += Duration::from_secs(1); // the container runs 1 s and exits
            let finished = now;
            let until = b.wait_until(finished, now).expect("in backoff");
            waits.push((until - finished).as_secs());
            now = until;
            assert_eq!(b.wait_until(finished, now), None);
            b.next(finished, now);
        }
        assert_eq!(waits, vec![10, 20, 40, 80, 160, 300, 300, 300]);
        // A run of more than 10 minutes resets it.
        let finished = now + Duration::from_secs(601);
        assert_eq!(b.wait_until(finished, finished), None);
        b.next(finished, finished);
        assert_eq!(b.current(), INITIAL);
        // ... but 10 minutes exactly does not.
        let finished2 = finished + Duration::from_secs(600);
        assert_eq!(
            b.wait_until(finished2, finished2),
            Some(finished2 + INITIAL)
        );
    }
}
