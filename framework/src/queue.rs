//! The queue of pods waiting for placement.
//!
//! Order is kube-scheduler's `PrioritySort`: higher `spec.priority` first,
//! then older (creation time), then by namespace/name for a total order.
//! A pod whose placement attempt failed backs off like kube-scheduler's
//! `podInitialBackoffSeconds` / `podMaxBackoffSeconds` (1 s doubling to
//! 60 s by default). The backoff only gates *repeated* work — a retry is
//! also triggered by anything that may make room (new offers, a task that
//! ended), which [`PodQueue::flush_backoff`] records, so a pod never waits
//! longer than until the next new offer or freed resource.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::core::Instant;
use crate::placement::snapshot::PodView;

/// Queue bookkeeping for one pod.
#[derive(Clone, Debug)]
pub struct QueueEntry {
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// `metadata.creationTimestamp`.
    pub created: Option<Timestamp>,
    /// `namespace/name`, the last tie-breaker.
    pub key: String,
    /// When the pod entered the queue (for placement latency).
    pub queued_at: Instant,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not retried before this instant (unless flushed).
    pub backoff_until: Option<Instant>,
    /// Not retried before this instant, flushed or not: its Binding
    /// failed, which new room does not mend (see [`PodQueue::hold`]).
    pub held_until: Option<Instant>,
}

impl QueueEntry {
    fn ready(&self, now: Instant) -> bool {
        self.backoff_until.is_none_or(|until| until <= now)
            && self.held_until.is_none_or(|until| until <= now)
    }

    /// When the entry is ready again, if it is waiting.
    fn waits_until(&self) -> Option<Instant> {
        match (self.backoff_until, self.held_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The capacity below which the queue's table is left as it is.
const SHRINK_ABOVE: usize = 1024;

/// The pending pods by UID.
#[derive(Clone, Debug, Default)]
pub struct PodQueue {
    entries: HashMap<String, QueueEntry>,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl PodQueue {
    /// An empty queue with the given backoff bounds.
    pub fn new(initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            initial_backoff,
            max_backoff,
        }
    }

    /// Add a pod or refresh its ordering keys (attempts are kept).
    pub fn upsert(&mut self, uid: &str, pod: PodView<'_>, now: Instant) {
        let priority = pod.priority;
        let created = pod.creation_timestamp.map(|t| t.0);
        let key = format!("{}/{}", pod.namespace.unwrap_or(""), pod.name.unwrap_or(""));
        let e = self.entries.entry(uid.to_owned()).or_insert(QueueEntry {
            priority,
            created,
            key: key.clone(),
            queued_at: now,
            attempts: 0,
            backoff_until: None,
            held_until: None,
        });
        e.priority = priority;
        e.created = created;
        e.key = key;
    }

    /// Remove a pod; returns its entry.
    pub fn remove(&mut self, uid: &str) -> Option<QueueEntry> {
        let removed = self.entries.remove(uid);
        // A burst of pods grows the table to fit them all, and a hash map
        // keeps its slots once emptied (16 MiB after 70,000 pods). Halving
        // it once a quarter is used keeps each entry's share of the moves
        // constant.
        let (len, capacity) = (self.entries.len(), self.entries.capacity());
        if capacity > SHRINK_ABOVE && len < capacity / 4 {
            self.entries.shrink_to(len * 2);
        }
        removed
    }

    /// Whether the pod is queued.
    pub fn contains(&self, uid: &str) -> bool {
        self.entries.contains_key(uid)
    }

    /// The entry of a queued pod.
    pub fn get(&self, uid: &str) -> Option<&QueueEntry> {
        self.entries.get(uid)
    }

    /// Number of queued pods.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The best `cap` queued pods, best first, backed off or not: what the
    /// status page lists of a queue that may hold tens of thousands.
    pub fn first(&self, cap: usize) -> Vec<&str> {
        best_of(self.entries.iter().collect(), cap).0
    }

    /// The highest priority queued (`None`: nothing queued).
    pub fn max_priority(&self) -> Option<i32> {
        self.entries.values().map(|e| e.priority).max()
    }

    /// The best `cap` queued pods not in backoff at `now`, best first, and
    /// whether more are ready. A round takes at most a cap of a long queue,
    /// once a round: the rest is only partitioned off, not sorted.
    pub fn ready(&self, now: Instant, cap: usize) -> (Vec<&str>, bool) {
        best_of(
            self.entries.iter().filter(|(_, e)| e.ready(now)).collect(),
            cap,
        )
    }

    /// Whether some queued pod is not in backoff at `now` (stops at the
    /// first).
    pub fn has_ready(&self, now: Instant) -> bool {
        self.entries.values().any(|e| e.ready(now))
    }

    /// When the first back-off (or hold) of a queued pod ends, if one is
    /// in force.
    pub fn next_backoff_expiry(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(QueueEntry::waits_until)
            .min()
    }

    /// Keep a pod from placement until `until` whatever room appears: its
    /// Binding failed, and every attempt launches a task only to kill it
    /// again (while the API server is down, one per offer round).
    pub fn hold(&mut self, uid: &str, until: Instant) {
        if let Some(e) = self.entries.get_mut(uid) {
            e.held_until = Some(until);
        }
    }

    /// The backoff after `attempts` failures: initial × 2^(attempts−1),
    /// capped.
    pub fn backoff_for(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << shift)
            .min(self.max_backoff)
    }

    /// Record a failed attempt; returns the backoff now in force.
    pub fn record_failure(&mut self, uid: &str, now: Instant) -> Duration {
        let Some(attempts) = self.entries.get(uid).map(|e| e.attempts + 1) else {
            return Duration::ZERO;
        };
        let backoff = self.backoff_for(attempts);
        if let Some(e) = self.entries.get_mut(uid) {
            e.attempts = attempts;
            e.backoff_until = Some(now + backoff);
        }
        backoff
    }

    /// Something that may make room happened: every pod may be retried now.
    /// Attempt counts are kept so the next failure backs off further.
    pub fn flush_backoff(&mut self) {
        for e in self.entries.values_mut() {
            e.backoff_until = None;
        }
    }
}

/// The best `cap` of `v`, best first, and whether there were more: the
/// rest is only partitioned off, not sorted.
fn best_of<'q>(mut v: Vec<(&'q String, &'q QueueEntry)>, cap: usize) -> (Vec<&'q str>, bool) {
    let more = v.len() > cap;
    if more {
        v.select_nth_unstable_by(cap, |(_, a), (_, b)| best_first(a, b));
        v.truncate(cap);
    }
    v.sort_by(|(_, a), (_, b)| best_first(a, b));
    (v.into_iter().map(|(uid, _)| uid.as_str()).collect(), more)
}

/// Queue order: higher priority first, then older, then by pod key, so
/// that a round's selection does not depend on the table's order.
fn best_first(a: &QueueEntry, b: &QueueEntry) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| match (a.created, b.created) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
        .then_with(|| a.key.cmp(&b.key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod(name: &str, priority: Option<i32>, created_s: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                creation_timestamp: Some(Time(Timestamp::from_second(created_s).expect("ts"))),
                ..Default::default()
            },
            spec: Some(PodSpec {
                priority,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn priority_then_age_then_name() {
        let now = Instant::now();
        let mut q = PodQueue::new(Duration::from_secs(1), Duration::from_secs(60));
        q.upsert("old-low", PodView::of(&pod("a", None, 100)), now);
        q.upsert("new-high", PodView::of(&pod("b", Some(10), 300)), now);
        q.upsert("new-low", PodView::of(&pod("c", Some(0), 200)), now);
        q.upsert("old-high", PodView::of(&pod("d", Some(10), 50)), now);
        assert_eq!(
            q.first(usize::MAX),
            vec!["old-high", "new-high", "old-low", "new-low"]
        );
        assert_eq!(q.first(2), vec!["old-high", "new-high"]);
    }

    #[test]
    fn a_capped_round_takes_the_best_ready_pods_in_order() {
        let now = Instant::now();
        let mut q = PodQueue::new(Duration::from_secs(1), Duration::from_secs(60));
        // Priorities and ages interleaved so that the best are spread over
        // the table; one of the best is backed off and must be skipped.
        for i in 0..200i64 {
            let priority = Some((i % 7) as i32);
            q.upsert(
                &format!("u{i:03}"),
                PodView::of(&pod(&format!("p{i:03}"), priority, 1000 - i)),
                now,
            );
        }
        q.record_failure("u195", now);
        let all: Vec<String> = q
            .ready(now, usize::MAX)
            .0
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(all.len(), 199);
        assert!(!all.contains(&"u195".to_owned()));
        let (best, more) = q.ready(now, 10);
        assert!(more);
        assert_eq!(
            best,
            all[..10].iter().map(String::as_str).collect::<Vec<_>>()
        );
        let ordered_ready: Vec<&str> = q
            .first(usize::MAX)
            .into_iter()
            .filter(|u| *u != "u195")
            .collect();
        assert_eq!(
            ordered_ready,
            all.iter().map(String::as_str).collect::<Vec<_>>()
        );
        let (everything, more) = q.ready(now, 199);
        assert!(!more);
        assert_eq!(everything.len(), 199);
    }

    #[test]
    fn a_drained_burst_gives_its_table_back_and_keeps_the_rest_in_order() {
        let now = Instant::now();
        let mut q = PodQueue::new(Duration::from_secs(1), Duration::from_secs(60));
        let uids: Vec<String> = (0..20_000).map(|i| format!("u{i:05}")).collect();
        for (i, uid) in uids.iter().enumerate() {
            q.upsert(uid, PodView::of(&pod(uid, None, i as i64)), now);
        }
        let full = q.entries.capacity();
        for uid in &uids[..19_990] {
            assert!(q.remove(uid).is_some());
        }
        assert!(q.entries.capacity() <= SHRINK_ABOVE.max(full / 64));
        let rest: Vec<&str> = uids[19_990..].iter().map(String::as_str).collect();
        assert_eq!(q.first(usize::MAX), rest);
    }

    #[test]
    fn a_hold_outlasts_a_flush() {
        let mut q = PodQueue::new(Duration::from_secs(1), Duration::from_secs(60));
        let t0 = Instant::now();
        q.upsert("a", PodView::of(&pod("a", None, 1)), t0);
        q.hold("a", t0 + Duration::from_secs(4));
        q.flush_backoff();
        assert!(q.ready(t0, usize::MAX).0.is_empty());
        assert!(!q.has_ready(t0 + Duration::from_secs(3)));
        assert_eq!(q.next_backoff_expiry(), Some(t0 + Duration::from_secs(4)));
        assert_eq!(
            q.ready(t0 + Duration::from_secs(4), usize::MAX).0,
            vec!["a"]
        );
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_flushes() {
        let now = Instant::now();
        let mut q = PodQueue::new(Duration::from_secs(1), Duration::from_secs(60));
        q.upsert("p", PodView::of(&pod("p", None, 1)), now);
        let seq: Vec<u64> = (0..8)
            .map(|_| q.record_failure("p", now).as_secs())
            .collect();
        assert_eq!(seq, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert!(q.ready(now, usize::MAX).0.is_empty());
        assert_eq!(
            q.ready(now + Duration::from_secs(60), usize::MAX).0,
            vec!["p"]
        );
        q.flush_backoff();
        assert_eq!(q.ready(now, usize::MAX).0, vec!["p"]);
        assert_eq!(q.get("p").map(|e| e.attempts), Some(8), "attempts kept");
    }
}
