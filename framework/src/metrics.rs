//! Prometheus metrics of the framework, in the text exposition format.
//!
//! The counters an operator of a shared Mesos pool wants to see (offers
//! received / used / declined, suppress state, revives, reconciliations) plus
//! queue length, placement latency and leadership. The core counts; the run
//! loop copies its snapshot here after every step, and `/metrics` renders it.
//! The text format is small enough to write by hand, which keeps a metrics
//! crate and its registry machinery out of the dependency graph.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the placement latency histogram buckets: from a
/// pod's arrival in the queue to its placement on an offer. The batching
/// window (1 s) dominates, so the buckets cluster around it.
pub const PLACEMENT_LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A cumulative histogram with fixed buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// An empty histogram with the given bucket upper bounds (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one sample in seconds. Negative or non-finite samples are
    /// ignored (they would mean a clock bug, not a slow placement).
    pub fn observe(&mut self, seconds: f64) {
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        for (bound, count) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Values copied from the core after each step (cumulative counters and
/// current gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CoreCounters {
    /// Pods waiting for placement.
    pub queue_length: u64,
    /// Whether offers are suppressed.
    pub suppressed: bool,
    /// Offers received in total.
    pub offers_received: u64,
    /// Offers used (accepted with at least one launch).
    pub offers_used: u64,
    /// Offers declined.
    pub offers_declined: u64,
    /// REVIVE calls sent.
    pub revives: u64,
    /// Reconciliations started (explicit and implicit).
    pub reconciliations: u64,
    /// Pods placed.
    pub placements: u64,
    /// Tasks killed (deletions, stale and orphan tasks).
    pub kills: u64,
    /// Pods waiting for a task Mesos reports unreachable or unknown.
    pub tasks_waiting: u64,
    /// Pods lost with their node (failed NodeLost or relaunched).
    pub pods_lost: u64,
    /// Tasks back after their pod waited for them or was lost.
    pub tasks_recovered: u64,
    /// Pods handed over from an executor of an older configuration.
    pub handovers: u64,
}

/// Live pods of one executor generation on one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorGeneration {
    /// The agent ID.
    pub agent: String,
    /// The executor ID (`kube-mesos-<config hash>`).
    pub executor: String,
    /// Whether it is the current configuration's executor.
    pub current: bool,
    /// Its live pods.
    pub pods: usize,
}

/// All metrics of one framework process. Shared behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    core: Mutex<CoreCounters>,
    executor_generations: Mutex<BTreeMap<(String, String), usize>>,
    executor_pods: Mutex<Vec<ExecutorGeneration>>,
    placement_latency: Mutex<Histogram>,
    leader: AtomicU64,
    subscribed: AtomicU64,
    leader_transitions: AtomicU64,
    subscriptions: AtomicU64,
    kube_errors: AtomicU64,
    mesos_call_errors: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            core: Mutex::new(CoreCounters::default()),
            executor_generations: Mutex::new(BTreeMap::new()),
            executor_pods: Mutex::new(Vec::new()),
            placement_latency: Mutex::new(Histogram::new(PLACEMENT_LATENCY_BUCKETS)),
            leader: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
            leader_transitions: AtomicU64::new(0),
            subscriptions: AtomicU64::new(0),
            kube_errors: AtomicU64::new(0),
            mesos_call_errors: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Replaces the core's counters with a newer snapshot.
    pub fn set_core(&self, counters: CoreCounters) {
        *lock(&self.core) = counters;
    }

    /// The core's counters as last set.
    pub fn core(&self) -> CoreCounters {
        *lock(&self.core)
    }

    /// Replaces the executor generations per (agent ID, node).
    pub fn set_executor_generations(&self, generations: BTreeMap<(String, String), usize>) {
        *lock(&self.executor_generations) = generations;
    }

    /// Replaces the live pods per agent and executor generation
    /// (`current` is the current configuration's executor).
    pub fn set_executor_pods(
        &self,
        current: &str,
        generations: &std::collections::BTreeMap<
            String,
            crate::core::generations::AgentGenerations,
        >,
    ) {
        let rows = generations
            .iter()
            .flat_map(|(agent, g)| {
                g.pods
                    .iter()
                    .map(move |(executor, pods)| ExecutorGeneration {
                        agent: agent.clone(),
                        executor: executor.clone(),
                        current: executor == current,
                        pods: *pods,
                    })
            })
            .collect();
        *lock(&self.executor_pods) = rows;
    }

    /// The live pods per agent and executor as last set.
    pub fn executor_pods(&self) -> Vec<ExecutorGeneration> {
        lock(&self.executor_pods).clone()
    }

    /// Records a placement latency sample in seconds.
    pub fn observe_placement_latency(&self, seconds: f64) {
        lock(&self.placement_latency).observe(seconds);
    }

    /// Sets whether this replica leads; counts changes.
    pub fn set_leader(&self, leader: bool) {
        let old = self.leader.swap(u64::from(leader), Ordering::Relaxed);
        if old != u64::from(leader) {
            self.leader_transitions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether this replica leads.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed) == 1
    }

    /// Sets whether the framework is subscribed to Mesos; counts subscriptions.
    pub fn set_subscribed(&self, subscribed: bool) {
        let old = self
            .subscribed
            .swap(u64::from(subscribed), Ordering::Relaxed);
        if subscribed && old == 0 {
            self.subscriptions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the framework is subscribed.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed) == 1
    }

    /// Counts a failed Kubernetes API request.
    pub fn kube_error(&self) {
        self.kube_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed Mesos call.
    pub fn mesos_call_error(&self) {
        self.mesos_call_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let core = self.core();
        let mut out = String::new();
        gauge(
            &mut out,
            "kube_mesos_queue_length",
            "Pods waiting for placement.",
            core.queue_length as f64,
        );
        gauge(
            &mut out,
            "kube_mesos_offers_suppressed",
            "1 while offers are suppressed (nothing pending).",
            f64::from(u8::from(core.suppressed)),
        );
        counter(
            &mut out,
            "kube_mesos_offers_received_total",
            "Mesos offers received.",
            core.offers_received,
        );
        counter(
            &mut out,
            "kube_mesos_offers_used_total",
            "Mesos offers accepted with at least one launch.",
            core.offers_used,
        );
        counter(
            &mut out,
            "kube_mesos_offers_declined_total",
            "Mesos offers declined.",
            core.offers_declined,
        );
        counter(
            &mut out,
            "kube_mesos_revives_total",
            "REVIVE calls sent.",
            core.revives,
        );
        counter(
            &mut out,
            "kube_mesos_reconciliations_total",
            "Task reconciliations started.",
            core.reconciliations,
        );
        counter(
            &mut out,
            "kube_mesos_placements_total",
            "Pods placed on offers.",
            core.placements,
        );
        counter(
            &mut out,
            "kube_mesos_task_kills_total",
            "KILL calls for tasks (deleted pods, stale and orphan tasks).",
            core.kills,
        );
        gauge(
            &mut out,
            "kube_mesos_tasks_waiting",
            "Pods waiting for a task Mesos reports unreachable or unknown.",
            core.tasks_waiting as f64,
        );
        counter(
            &mut out,
            "kube_mesos_pods_lost_total",
            "Pods lost with their node (failed NodeLost or relaunched).",
            core.pods_lost,
        );
        counter(
            &mut out,
            "kube_mesos_tasks_recovered_total",
            "Tasks back after their pod waited for them or was lost.",
            core.tasks_recovered,
        );
        counter(
            &mut out,
            "kube_mesos_pods_handed_over_total",
            "Pods an executor of an older configuration handed over to the current one.",
            core.handovers,
        );
        let executor_pods = self.executor_pods();
        let name = "kube_mesos_executor_pods";
        let _ = writeln!(
            out,
            "# HELP {name} Live pods per agent and executor generation (executor ID); current=\"false\" ones are older configurations still running pods.\n# TYPE {name} gauge"
        );
        for g in &executor_pods {
            let _ = writeln!(
                out,
                "{name}{{agent_id=\"{}\",executor=\"{}\",current=\"{}\"}} {}",
                label_value(&g.agent),
                label_value(&g.executor),
                g.current,
                g.pods
            );
        }
        gauge(
            &mut out,
            "kube_mesos_leader",
            "1 while this replica holds the leader lease.",
            self.leader.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "kube_mesos_leader_transitions_total",
            "Changes of this replica's leadership.",
            self.leader_transitions.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "kube_mesos_subscribed",
            "1 while subscribed to the Mesos master.",
            self.subscribed.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "kube_mesos_subscriptions_total",
            "Successful SUBSCRIBEs.",
            self.subscriptions.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "kube_mesos_kube_errors_total",
            "Failed Kubernetes API requests.",
            self.kube_errors.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "kube_mesos_mesos_call_errors_total",
            "Failed Mesos scheduler calls.",
            self.mesos_call_errors.load(Ordering::Relaxed),
        );
        let name = "kube_mesos_executor_generations";
        let _ = writeln!(
            out,
            "# HELP {name} Executor generations (executor IDs) running this framework's tasks on an agent; above 1 while pods of an older executor configuration still run there.\n# TYPE {name} gauge"
        );
        for ((agent, node), n) in lock(&self.executor_generations).iter() {
            let _ = writeln!(
                out,
                "{name}{{agent_id=\"{}\",node=\"{}\"}} {n}",
                label_value(agent),
                label_value(node)
            );
        }
        let h = lock(&self.placement_latency).clone();
        let name = "kube_mesos_placement_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a pod entering the queue to its placement."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, count) in h.bounds.iter().zip(&h.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum {}", h.sum);
        let _ = writeln!(out, "{name}_count {}", h.count);
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these plain values
    // half-written in a way that matters for metrics; keep serving them.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A label value escaped for the text format.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(5.0);
        h.observe(f64::NAN);
        assert_eq!(h.counts, vec![1, 2]);
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn render_contains_every_family_with_type_lines() {
        let m = Metrics::default();
        m.set_core(CoreCounters {
            queue_length: 3,
            suppressed: true,
            offers_received: 7,
            offers_declined: 2,
            tasks_waiting: 1,
            ..CoreCounters::default()
        });
        m.set_leader(true);
        m.observe_placement_latency(0.3);
        m.set_executor_generations(BTreeMap::from([
            (("S1".to_string(), "agent-1".to_string()), 2),
            (("S2".to_string(), "a\"b".to_string()), 1),
        ]));
        let text = m.render();
        assert!(text.contains(
            "# TYPE kube_mesos_executor_generations gauge\nkube_mesos_executor_generations{agent_id=\"S1\",node=\"agent-1\"} 2\n"
        ));
        assert!(
            text.contains("kube_mesos_executor_generations{agent_id=\"S2\",node=\"a\\\"b\"} 1\n")
        );
        let mut generations = std::collections::BTreeMap::new();
        generations.insert(
            "a1".to_owned(),
            crate::core::generations::AgentGenerations {
                pods: [
                    ("kube-mesos-new".to_owned(), 2),
                    ("kube-mesos-old".to_owned(), 1),
                ]
                .into(),
            },
        );
        m.set_executor_pods("kube-mesos-new", &generations);
        let text = m.render();
        assert!(text.contains(
            "kube_mesos_executor_pods{agent_id=\"a1\",executor=\"kube-mesos-new\",current=\"true\"} 2\n"
        ));
        assert!(text.contains(
            "kube_mesos_executor_pods{agent_id=\"a1\",executor=\"kube-mesos-old\",current=\"false\"} 1\n"
        ));
        assert!(text.contains("kube_mesos_pods_handed_over_total 0\n"));
        assert!(text.contains("# TYPE kube_mesos_queue_length gauge\nkube_mesos_queue_length 3\n"));
        assert!(text.contains("kube_mesos_offers_suppressed 1\n"));
        assert!(text.contains("kube_mesos_offers_received_total 7\n"));
        assert!(text.contains("kube_mesos_offers_declined_total 2\n"));
        assert!(text.contains("kube_mesos_tasks_waiting 1\n"));
        assert!(text.contains("kube_mesos_task_kills_total 0\n"));
        assert!(text.contains("kube_mesos_leader 1\n"));
        assert!(text.contains("kube_mesos_leader_transitions_total 1\n"));
        assert!(text.contains("kube_mesos_placement_latency_seconds_bucket{le=\"0.25\"} 0\n"));
        assert!(text.contains("kube_mesos_placement_latency_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("kube_mesos_placement_latency_seconds_count 1\n"));
        // Every sample line belongs to a family declared with # TYPE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }
}
