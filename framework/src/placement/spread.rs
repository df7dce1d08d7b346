//! PodTopologySpread: `topologySpreadConstraints` as kube-scheduler's
//! plugin of that name applies them.
//!
//! A constraint counts the pods its selector matches (in the pod's
//! namespace, terminating pods left out) per value of its `topologyKey`
//! over the eligible nodes of the [`Snapshot`]: nodes carrying every
//! constraint's key, matching the pod's node affinity and selector
//! (`nodeAffinityPolicy: Honor`, the default) and, with `nodeTaintsPolicy:
//! Honor`, whose taints the pod tolerates.
//!
//! - `whenUnsatisfiable: DoNotSchedule` filters: a node is rejected when
//!   `count(its domain) + 1 (if the pod matches) - min(count) > maxSkew`
//!   ("node(s) didn't match pod topology spread constraints"), or when it
//!   lacks the key ("... (missing required label)"). With fewer eligible
//!   domains than `minDomains`, the minimum counts as 0.
//! - `ScheduleAnyway` scores: the fewer matching pods in a node's domains
//!   (weighted by log(domains + 2), plus maxSkew − 1), the higher, scaled
//!   so the best node gets 100.
//!
//! `matchLabelKeys` adds the pod's own label values to the selector.
//! kube-scheduler's cluster-level default constraints (for pods of
//! Services and ReplicaSets without constraints of their own) are not
//! applied: the framework does not watch Services.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Pod, Taint, TopologySpreadConstraint};

use super::fit::MAX_NODE_SCORE;
use super::predicates;
use super::selector::{Requirement, Selector};
use super::snapshot::{NodeInfo, Snapshot};

/// Reason: the skew would exceed maxSkew.
pub const REASON_CONSTRAINTS: &str = "node(s) didn't match pod topology spread constraints";
/// Reason: the node lacks a constraint's topology key.
pub const REASON_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME: &str = "kubernetes.io/hostname";

/// A parsed constraint.
#[derive(Clone, Debug)]
pub struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: Selector,
    min_domains: i64,
    honor_node_affinity: bool,
    honor_taints: bool,
}

impl Constraint {
    fn new(pod: &Pod, c: &TopologySpreadConstraint) -> Self {
        let mut selector = Selector::from_label_selector(c.label_selector.as_ref());
        let own = pod.metadata.labels.clone().unwrap_or_default();
        for key in c.match_label_keys.iter().flatten() {
            if let Some(v) = own.get(key) {
                selector = selector.with(Requirement::In(key.clone(), vec![v.clone()]));
            }
        }
        Constraint {
            max_skew: i64::from(c.max_skew),
            topology_key: c.topology_key.clone(),
            selector,
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        }
    }

    /// `matchNodeInclusionPolicies`.
    fn includes(
        &self,
        pod: &Pod,
        name: &str,
        labels: &BTreeMap<String, String>,
        taints: &[Taint],
    ) -> bool {
        (!self.honor_node_affinity || predicates::node_affinity_ok(pod, labels, name))
            && (!self.honor_taints || predicates::first_untolerated_taint(pod, taints).is_none())
    }

    /// `countPodsMatchSelector` on one node.
    fn count(&self, node: &NodeInfo<'_>, namespace: &str) -> i64 {
        if self.selector.is_empty() {
            return 0;
        }
        node.pods
            .iter()
            .filter(|p| {
                p.pod.deletion_timestamp.is_none()
                    && p.pod.namespace.unwrap_or("default") == namespace
                    && self.selector.matches(p.pod.labels)
            })
            .count() as i64
    }
}

/// The pod's constraints with this `whenUnsatisfiable`.
fn constraints(pod: &Pod, action: &str) -> Vec<Constraint> {
    pod.spec
        .iter()
        .flat_map(|s| s.topology_spread_constraints.iter().flatten())
        .filter(|c| c.when_unsatisfiable == action)
        .map(|c| Constraint::new(pod, c))
        .collect()
}

fn has_all_keys(labels: &BTreeMap<String, String>, cs: &[Constraint]) -> bool {
    cs.iter().all(|c| labels.contains_key(&c.topology_key))
}

fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// The filter's state for one pod (kube-scheduler's PreFilter state).
#[derive(Debug)]
pub struct Filter {
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
    min: Vec<i64>,
}

impl Filter {
    /// The counts of `pod`'s DoNotSchedule constraints, or `None` when it
    /// has none.
    pub fn new(pod: &Pod, snap: &Snapshot<'_>) -> Option<Self> {
        let constraints = constraints(pod, "DoNotSchedule");
        if constraints.is_empty() {
            return None;
        }
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        for node in snap.nodes() {
            let labels = node.labels();
            if !has_all_keys(labels, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes(pod, &node.name, labels, &node.facts.taints) {
                    continue;
                }
                *counts[i]
                    .entry(labels[&c.topology_key].clone())
                    .or_default() += c.count(node, namespace(pod));
            }
        }
        let min = counts
            .iter()
            .map(|m| m.values().copied().min().unwrap_or(i64::from(i32::MAX)))
            .collect();
        Some(Filter {
            constraints,
            counts,
            min,
        })
    }

    /// The reason the node with `labels` is rejected, if it is; `Err`
    /// carries whether evicting pods could resolve it.
    pub fn check(
        &self,
        pod: &Pod,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), (&'static str, bool)> {
        let own = pod.metadata.labels.clone().unwrap_or_default();
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = labels.get(&c.topology_key) else {
                return Err((REASON_MISSING_LABEL, false));
            };
            let min = if (self.counts[i].len() as i64) < c.min_domains {
                0
            } else {
                self.min[i]
            };
            let matched = self.counts[i].get(value).copied().unwrap_or(0);
            let own_match = i64::from(c.selector.matches(&own));
            if matched + own_match - min > c.max_skew {
                return Err((REASON_CONSTRAINTS, true));
            }
        }
        Ok(())
    }
}

/// The score's state for one pod (kube-scheduler's PreScore state).
#[derive(Debug)]
pub struct Score {
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
    namespace: String,
}

impl Score {
    /// The counts of `pod`'s ScheduleAnyway constraints over the domains
    /// of the feasible nodes `feasible` (snapshot indices), or `None` when
    /// it has none.
    pub fn new(pod: &Pod, snap: &Snapshot<'_>, feasible: &[usize]) -> Option<Self> {
        let constraints = constraints(pod, "ScheduleAnyway");
        if constraints.is_empty() || feasible.is_empty() {
            return None;
        }
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        let mut scored_nodes = 0usize;
        for &n in feasible {
            let labels = snap.node(n).labels();
            if !has_all_keys(labels, &constraints) {
                continue;
            }
            scored_nodes += 1;
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key != HOSTNAME {
                    counts[i]
                        .entry(labels[&c.topology_key].clone())
                        .or_insert(0);
                }
            }
        }
        let weights = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == HOSTNAME {
                    scored_nodes
                } else {
                    counts[i].len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        for node in snap.nodes() {
            let labels = node.labels();
            if !has_all_keys(labels, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == HOSTNAME
                    || !c.includes(pod, &node.name, labels, &node.facts.taints)
                {
                    continue;
                }
                if let Some(n) = counts[i].get_mut(&labels[&c.topology_key]) {
                    *n += c.count(node, namespace(pod));
                }
            }
        }
        Some(Score {
            constraints,
            counts,
            weights,
            namespace: namespace(pod).to_owned(),
        })
    }

    /// The raw score of a node (lower is better before normalizing);
    /// `None` for a node missing a key (scored 0 after normalizing).
    pub fn raw(&self, node: &NodeInfo<'_>) -> Option<i64> {
        let labels = node.labels();
        if !has_all_keys(labels, &self.constraints) {
            return None;
        }
        let mut score = 0.0;
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = labels.get(&c.topology_key) else {
                continue;
            };
            let cnt = if c.topology_key == HOSTNAME {
                c.count(node, &self.namespace)
            } else {
                self.counts[i].get(value).copied().unwrap_or(0)
            };
            score += cnt as f64 * self.weights[i] + (c.max_skew - 1) as f64;
        }
        Some(score.round() as i64)
    }
}

/// PodTopologySpread's NormalizeScore: fewer matching pods score higher,
/// nodes missing a key score 0.
pub fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let present = raw.iter().flatten();
    let min = present.clone().copied().min().unwrap_or(i64::MAX);
    let max = present.copied().max().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => MAX_NODE_SCORE,
            Some(s) => MAX_NODE_SCORE * (max + min - s) / max,
        })
        .collect()
}
