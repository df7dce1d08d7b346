//! A libprocess `metrics::Timer` with a window, as the master's allocator
//! keeps for `allocator/mesos/allocation_run` (apache/mesos
//! `src/master/allocator/mesos/metrics.cpp`; libprocess
//! `include/process/metrics/timer.hpp` and `statistics.hpp`).
//!
//! The snapshot shows the last value as `<name>_ms` once there is one, and
//! `/count`, `/min`, `/max` and the percentiles once the window holds two
//! (libprocess' `Statistics::from` needs two values). libprocess thins a
//! full time series out evenly; this one drops the oldest values instead,
//! which keeps the statistics of the recent past that a reader wants.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// How many values the window keeps at most (libprocess' `TimeSeries`
/// default capacity).
const CAPACITY: usize = 1000;

/// The percentiles libprocess reports, with their key suffixes.
const PERCENTILES: [(f64, &str); 6] = [
    (0.5, "p50"),
    (0.9, "p90"),
    (0.95, "p95"),
    (0.99, "p99"),
    (0.999, "p999"),
    (0.9999, "p9999"),
];

/// Durations in milliseconds over a time window.
#[derive(Debug)]
pub struct Timer {
    name: &'static str,
    window: Duration,
    values: VecDeque<(Instant, f64)>,
}

impl Timer {
    /// A timer reported as `<name>_ms`, keeping values for `window`.
    pub fn new(name: &'static str, window: Duration) -> Self {
        Self {
            name,
            window,
            values: VecDeque::new(),
        }
    }

    /// Records one duration taken at `now`.
    pub fn record(&mut self, now: Instant, took: Duration) {
        while self
            .values
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > self.window)
            || self.values.len() >= CAPACITY
        {
            self.values.pop_front();
        }
        self.values.push_back((now, took.as_secs_f64() * 1000.0));
    }

    /// The snapshot's keys for this timer.
    pub fn snapshot(&self, m: &mut BTreeMap<String, f64>) {
        let key = format!("{}_ms", self.name);
        let Some((_, last)) = self.values.back() else {
            return;
        };
        m.insert(key.clone(), *last);
        if self.values.len() < 2 {
            return;
        }
        let mut sorted: Vec<f64> = self.values.iter().map(|(_, v)| *v).collect();
        sorted.sort_by(f64::total_cmp);
        m.insert(format!("{key}/count"), sorted.len() as f64);
        m.insert(format!("{key}/min"), sorted[0]);
        m.insert(format!("{key}/max"), sorted[sorted.len() - 1]);
        for (p, suffix) in PERCENTILES {
            m.insert(format!("{key}/{suffix}"), percentile(&sorted, p));
        }
    }
}

/// libprocess' linear interpolation between the two nearest ranks;
/// `sorted` holds at least two values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let position = p * (sorted.len() - 1) as f64;
    let index = position.floor() as usize;
    let delta = position - index as f64;
    match sorted.get(index + 1) {
        Some(next) => sorted[index] + delta * (next - sorted[index]),
        None => sorted[index],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(t: &Timer) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        t.snapshot(&mut m);
        m
    }

    #[test]
    fn keys_appear_as_libprocess_adds_them() {
        let now = Instant::now();
        let mut t = Timer::new("allocator/mesos/allocation_run", Duration::from_secs(3600));
        assert!(snapshot(&t).is_empty());
        t.record(now, Duration::from_millis(7));
        let m = snapshot(&t);
        assert_eq!(m.len(), 1);
        assert_eq!(m["allocator/mesos/allocation_run_ms"], 7.0);
        t.record(now, Duration::from_millis(3));
        let m = snapshot(&t);
        assert_eq!(m["allocator/mesos/allocation_run_ms"], 3.0);
        assert_eq!(m["allocator/mesos/allocation_run_ms/count"], 2.0);
        assert_eq!(m.len(), 1 + 3 + PERCENTILES.len());
    }

    /// libprocess' own test (-5..=5: p90 4.0, p95 4.5), shifted by 5.
    #[test]
    fn percentiles_interpolate_like_libprocess() {
        let now = Instant::now();
        let mut t = Timer::new("t", Duration::from_secs(3600));
        for v in 0..=10u64 {
            t.record(now, Duration::from_millis(v));
        }
        let m = snapshot(&t);
        assert_eq!(m["t_ms/count"], 11.0);
        assert_eq!(m["t_ms/min"], 0.0);
        assert_eq!(m["t_ms/max"], 10.0);
        assert!((m["t_ms/p50"] - 5.0).abs() < 1e-9);
        assert!((m["t_ms/p90"] - 9.0).abs() < 1e-9);
        assert!((m["t_ms/p95"] - 9.5).abs() < 1e-9);
        assert!((m["t_ms/p99"] - 9.9).abs() < 1e-9);
        assert!((m["t_ms/p9999"] - 9.999).abs() < 1e-9);
    }

    #[test]
    fn old_values_leave_the_window_and_the_window_is_capped() {
        let start = Instant::now();
        let mut t = Timer::new("t", Duration::from_secs(10));
        t.record(start, Duration::from_millis(100));
        t.record(start + Duration::from_secs(11), Duration::from_millis(1));
        t.record(start + Duration::from_secs(11), Duration::from_millis(2));
        let m = snapshot(&t);
        assert_eq!(m["t_ms/count"], 2.0);
        assert_eq!(m["t_ms/max"], 2.0);
        for i in 0..(CAPACITY + 5) {
            t.record(
                start + Duration::from_secs(12),
                Duration::from_millis(i as u64),
            );
        }
        assert_eq!(snapshot(&t)["t_ms/count"], CAPACITY as f64);
        assert_eq!(snapshot(&t)["t_ms/min"], 5.0);
    }
}
