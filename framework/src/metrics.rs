//! Prometheus metrics of the framework, in the text exposition format
//! (0.0.4), encoded by `prometheus-client`.
//!
//! The counters an operator of a shared Mesos pool wants to see (offers
//! received / used / declined, suppress state, revives, reconciliations) plus
//! queue length, placement latency and leadership. The core counts; the run
//! loop copies its snapshot here after every step. Values the framework
//! updates itself (leadership, subscription, errors, placement latency) are
//! the crate's live metrics; values that arrive as whole snapshots (the
//! core's counters, the executor generations) are read by a collector at
//! scrape time, so a scrape never sees half of a snapshot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the placement latency histogram buckets: from a
/// pod's arrival in the queue to its placement on an offer. The batching
/// window (1 s) dominates, so the buckets cluster around it.
pub const PLACEMENT_LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

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

/// The snapshots the run loop hands over, encoded at scrape time.
#[derive(Debug, Default)]
struct Snapshots {
    core: Mutex<CoreCounters>,
    executor_generations: Mutex<BTreeMap<(String, String), usize>>,
    executor_pods: Mutex<Vec<ExecutorGeneration>>,
}

/// How one of the core's values is exposed. Counter names are given
/// without `_total`: the encoder adds it, as Prometheus expects.
struct CoreValue {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    value: fn(&CoreCounters) -> u64,
}

const CORE_VALUES: &[CoreValue] = &[
    CoreValue {
        name: "kube_mesos_queue_length",
        help: "Pods waiting for placement.",
        kind: MetricType::Gauge,
        value: |c| c.queue_length,
    },
    CoreValue {
        name: "kube_mesos_offers_suppressed",
        help: "1 while offers are suppressed (nothing pending).",
        kind: MetricType::Gauge,
        value: |c| u64::from(c.suppressed),
    },
    CoreValue {
        name: "kube_mesos_offers_received",
        help: "Mesos offers received.",
        kind: MetricType::Counter,
        value: |c| c.offers_received,
    },
    CoreValue {
        name: "kube_mesos_offers_used",
        help: "Mesos offers accepted with at least one launch.",
        kind: MetricType::Counter,
        value: |c| c.offers_used,
    },
    CoreValue {
        name: "kube_mesos_offers_declined",
        help: "Mesos offers declined.",
        kind: MetricType::Counter,
        value: |c| c.offers_declined,
    },
    CoreValue {
        name: "kube_mesos_revives",
        help: "REVIVE calls sent.",
        kind: MetricType::Counter,
        value: |c| c.revives,
    },
    CoreValue {
        name: "kube_mesos_reconciliations",
        help: "Task reconciliations started.",
        kind: MetricType::Counter,
        value: |c| c.reconciliations,
    },
    CoreValue {
        name: "kube_mesos_placements",
        help: "Pods placed on offers.",
        kind: MetricType::Counter,
        value: |c| c.placements,
    },
    CoreValue {
        name: "kube_mesos_task_kills",
        help: "KILL calls for tasks (deleted pods, stale and orphan tasks).",
        kind: MetricType::Counter,
        value: |c| c.kills,
    },
    CoreValue {
        name: "kube_mesos_tasks_waiting",
        help: "Pods waiting for a task Mesos reports unreachable or unknown.",
        kind: MetricType::Gauge,
        value: |c| c.tasks_waiting,
    },
    CoreValue {
        name: "kube_mesos_pods_lost",
        help: "Pods lost with their node (failed NodeLost or relaunched).",
        kind: MetricType::Counter,
        value: |c| c.pods_lost,
    },
    CoreValue {
        name: "kube_mesos_tasks_recovered",
        help: "Tasks back after their pod waited for them or was lost.",
        kind: MetricType::Counter,
        value: |c| c.tasks_recovered,
    },
    CoreValue {
        name: "kube_mesos_pods_handed_over",
        help: "Pods an executor of an older configuration handed over to the current one.",
        kind: MetricType::Counter,
        value: |c| c.handovers,
    },
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ExecutorPodsLabels {
    agent_id: String,
    executor: String,
    current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GenerationsLabels {
    agent_id: String,
    node: String,
}

impl Collector for Snapshots {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let core = *lock(&self.core);
        for v in CORE_VALUES {
            let metric = encoder.encode_descriptor(v.name, v.help, None, v.kind)?;
            match v.kind {
                MetricType::Counter => ConstCounter::new((v.value)(&core)).encode(metric)?,
                _ => ConstGauge::new((v.value)(&core)).encode(metric)?,
            }
        }
        let mut family = encoder.encode_descriptor(
            "kube_mesos_executor_pods",
            "Live pods per agent and executor generation (executor ID); current=\"false\" ones are older configurations still running pods.",
            None,
            MetricType::Gauge,
        )?;
        for g in lock(&self.executor_pods).iter() {
            let labels = ExecutorPodsLabels {
                agent_id: g.agent.clone(),
                executor: g.executor.clone(),
                current: g.current,
            };
            ConstGauge::new(g.pods as u64).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "kube_mesos_executor_generations",
            "Executor generations (executor IDs) running this framework's tasks on an agent; above 1 while pods of an older executor configuration still run there.",
            None,
            MetricType::Gauge,
        )?;
        for ((agent, node), n) in lock(&self.executor_generations).iter() {
            let labels = GenerationsLabels {
                agent_id: agent.clone(),
                node: node.clone(),
            };
            ConstGauge::new(*n as u64).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// All metrics of one framework process. Shared behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    snapshots: Arc<Snapshots>,
    placement_latency: Histogram,
    leader: Gauge,
    subscribed: Gauge,
    leader_transitions: Counter,
    subscriptions: Counter,
    kube_errors: Counter,
    mesos_call_errors: Counter,
    best_effort_dropped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let snapshots = Arc::new(Snapshots::default());
        let placement_latency = Histogram::new(PLACEMENT_LATENCY_BUCKETS.iter().copied());
        let (leader, subscribed) = (Gauge::default(), Gauge::default());
        let (leader_transitions, subscriptions) = (Counter::default(), Counter::default());
        let (kube_errors, mesos_call_errors) = (Counter::default(), Counter::default());
        let best_effort_dropped = Counter::default();
        // The registry adds a full stop to each help text.
        let mut registry = Registry::default();
        registry.register_collector(Box::new(snapshots.clone()));
        registry.register(
            "kube_mesos_leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        registry.register(
            "kube_mesos_leader_transitions",
            "Changes of this replica's leadership",
            leader_transitions.clone(),
        );
        registry.register(
            "kube_mesos_subscribed",
            "1 while subscribed to the Mesos master",
            subscribed.clone(),
        );
        registry.register(
            "kube_mesos_subscriptions",
            "Successful SUBSCRIBEs",
            subscriptions.clone(),
        );
        registry.register(
            "kube_mesos_kube_errors",
            "Failed Kubernetes API requests",
            kube_errors.clone(),
        );
        registry.register(
            "kube_mesos_best_effort_writes_dropped",
            "Events and unschedulable conditions not written because too many waited for the API server (a pod's condition is written again at its next failed attempt)",
            best_effort_dropped.clone(),
        );
        registry.register(
            "kube_mesos_mesos_call_errors",
            "Failed Mesos scheduler calls",
            mesos_call_errors.clone(),
        );
        registry.register(
            "kube_mesos_placement_latency_seconds",
            "Time from a pod entering the queue to its placement",
            placement_latency.clone(),
        );
        Self {
            registry,
            snapshots,
            placement_latency,
            leader,
            subscribed,
            leader_transitions,
            subscriptions,
            kube_errors,
            mesos_call_errors,
            best_effort_dropped,
        }
    }
}

impl Metrics {
    /// Replaces the core's counters with a newer snapshot.
    pub fn set_core(&self, counters: CoreCounters) {
        *lock(&self.snapshots.core) = counters;
    }

    /// The core's counters as last set.
    pub fn core(&self) -> CoreCounters {
        *lock(&self.snapshots.core)
    }

    /// Replaces the executor generations per (agent ID, node).
    pub fn set_executor_generations(&self, generations: BTreeMap<(String, String), usize>) {
        *lock(&self.snapshots.executor_generations) = generations;
    }

    /// Replaces the live pods per agent and executor generation
    /// (`current` is the current configuration's executor).
    pub fn set_executor_pods(
        &self,
        current: &str,
        generations: &BTreeMap<String, crate::core::generations::AgentGenerations>,
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
        *lock(&self.snapshots.executor_pods) = rows;
    }

    /// The live pods per agent and executor as last set.
    pub fn executor_pods(&self) -> Vec<ExecutorGeneration> {
        lock(&self.snapshots.executor_pods).clone()
    }

    /// Records a placement latency sample in seconds. Negative or
    /// non-finite samples are ignored (they would mean a clock bug, not a
    /// slow placement).
    pub fn observe_placement_latency(&self, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.placement_latency.observe(seconds);
        }
    }

    /// Sets whether this replica leads; counts changes.
    pub fn set_leader(&self, leader: bool) {
        let old = self.leader.set(i64::from(leader));
        if old != i64::from(leader) {
            self.leader_transitions.inc();
        }
    }

    /// Whether this replica leads.
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    /// Sets whether the framework is subscribed to Mesos; counts subscriptions.
    pub fn set_subscribed(&self, subscribed: bool) {
        let old = self.subscribed.set(i64::from(subscribed));
        if subscribed && old == 0 {
            self.subscriptions.inc();
        }
    }

    /// Whether the framework is subscribed.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.get() == 1
    }

    /// Counts a failed Kubernetes API request.
    pub fn kube_error(&self) {
        self.kube_errors.inc();
    }

    /// Counts a best-effort write dropped (see `kube::best_effort`).
    pub fn best_effort_write_dropped(&self) {
        self.best_effort_dropped.inc();
    }

    /// Counts a failed Mesos call.
    pub fn mesos_call_error(&self) {
        self.mesos_call_errors.inc();
    }

    /// The Prometheus text exposition, [`CONTENT_TYPE`].
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String fails only if an encoder does; ours do not,
        // and a partial page is still better than none.
        if let Err(error) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::warn!(%error, "encoding the metrics failed");
        }
        out
    }
}

/// The `Content-Type` of [`Metrics::render`] (text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these plain values
    // half-written in a way that matters for metrics; keep serving them.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_latency_buckets_are_cumulative_and_skip_clock_bugs() {
        let m = Metrics::default();
        for s in [0.3, 0.7, 400.0, f64::NAN, -1.0, f64::INFINITY] {
            m.observe_placement_latency(s);
        }
        let text = m.render();
        let name = "kube_mesos_placement_latency_seconds";
        for (le, n) in [("0.25", 0), ("0.5", 1), ("1", 2), ("300", 2), ("+Inf", 3)] {
            let line = format!("{name}_bucket{{le=\"{le}\"}} {n}\n");
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(text.contains(&format!("{name}_count 3\n")), "{text}");
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
