//! InterPodAffinity: required pod affinity and anti-affinity (a filter) and
//! preferred ones (a score), as kube-scheduler's plugin of that name.
//!
//! Terms count matching pods per topology domain — a `(topologyKey,
//! value)` pair of node labels — over every node of the [`Snapshot`]:
//! `kubernetes.io/hostname`, `topology.kubernetes.io/zone` from the agent's
//! fault domain, or any agent attribute. The filter then rejects a node:
//!
//! - whose domains lack a pod matching all required affinity terms (unless
//!   no pod anywhere matches and the pod matches its own terms: the first
//!   of a group), or lacks a term's topology label: "node(s) didn't match
//!   pod affinity rules";
//! - sharing a domain with a pod the required anti-affinity terms match:
//!   "node(s) didn't match pod anti-affinity rules";
//! - sharing a domain with an existing pod whose required anti-affinity
//!   terms match the incoming pod: "node(s) didn't satisfy existing pods
//!   anti-affinity rules".
//!
//! A term's namespaces are its `namespaces`, else the pod's own; a
//! `namespaceSelector` is matched against the one label every namespace
//! carries, `kubernetes.io/metadata.name` (the framework does not watch
//! Namespaces). `matchLabelKeys` and `mismatchLabelKeys` add `key in
//! (value)` and `key notin (value)` with the pod's own label values, as
//! kube-apiserver does when it admits the pod (doing it again is harmless).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};

use super::fit::MAX_NODE_SCORE;
use super::selector::{Requirement, Selector};
use super::snapshot::{has_pod_affinity, has_required_anti_affinity, PodView, Snapshot};

/// Reason: required affinity not met.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Reason: required anti-affinity not met.
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Reason: an existing pod's required anti-affinity forbids this pod.
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// kube-scheduler's `hardPodAffinityWeight` default: how much an existing
/// pod's required affinity to the incoming pod counts in the score.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// The label every namespace carries with its own name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A parsed `PodAffinityTerm` (kube-scheduler's `AffinityTerm`).
#[derive(Clone, Debug)]
pub struct AffinityTerm {
    namespaces: BTreeSet<String>,
    namespace_selector: Selector,
    selector: Selector,
    /// The node label that names the term's domains.
    pub topology_key: String,
}

impl AffinityTerm {
    /// The term as `pod` states it.
    pub fn new(pod: PodView<'_>, term: &PodAffinityTerm) -> Self {
        let own = pod.labels;
        let mut selector = Selector::from_label_selector(term.label_selector.as_ref());
        for key in term.match_label_keys.iter().flatten() {
            if let Some(v) = own.get(key) {
                selector = selector.with(Requirement::In(key.clone(), vec![v.to_owned()]));
            }
        }
        for key in term.mismatch_label_keys.iter().flatten() {
            if let Some(v) = own.get(key) {
                selector = selector.with(Requirement::NotIn(key.clone(), vec![v.to_owned()]));
            }
        }
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(namespace(pod).to_owned());
        }
        AffinityTerm {
            namespaces,
            namespace_selector: Selector::from_label_selector(term.namespace_selector.as_ref()),
            selector,
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod` is one the term selects (`AffinityTerm.Matches`).
    pub fn matches(&self, pod: PodView<'_>) -> bool {
        let ns = namespace(pod);
        let ns_labels = BTreeMap::from([(NAMESPACE_NAME_LABEL.to_owned(), ns.to_owned())]);
        (self.namespaces.contains(ns) || self.namespace_selector.matches(&ns_labels))
            && self.selector.matches(pod.labels)
    }
}

fn namespace(pod: PodView<'_>) -> &str {
    pod.namespace.unwrap_or("default")
}

/// A preferred term with its weight.
#[derive(Clone, Debug)]
pub struct WeightedTerm {
    term: AffinityTerm,
    weight: i64,
}

/// A pod's pod-affinity terms, parsed once.
#[derive(Clone, Debug, Default)]
pub struct PodAffinity {
    /// Required affinity.
    pub required: Vec<AffinityTerm>,
    /// Required anti-affinity.
    pub required_anti: Vec<AffinityTerm>,
    preferred: Vec<WeightedTerm>,
    preferred_anti: Vec<WeightedTerm>,
}

impl PodAffinity {
    /// The terms of `pod`.
    pub fn of(pod: PodView<'_>) -> Self {
        let Some(a) = pod.affinity else {
            return PodAffinity::default();
        };
        let terms = |t: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            t.into_iter()
                .flatten()
                .map(|t| AffinityTerm::new(pod, t))
                .collect()
        };
        let weighted = |t: Option<&Vec<WeightedPodAffinityTerm>>| -> Vec<WeightedTerm> {
            t.into_iter()
                .flatten()
                .filter(|w| w.weight != 0)
                .map(|w| WeightedTerm {
                    term: AffinityTerm::new(pod, &w.pod_affinity_term),
                    weight: i64::from(w.weight),
                })
                .collect()
        };
        let aff = a.pod_affinity.as_ref();
        let anti = a.pod_anti_affinity.as_ref();
        PodAffinity {
            required: terms(aff.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti: terms(anti.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred: weighted(aff.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti: weighted(anti.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
        }
    }

    fn has_preferred(&self) -> bool {
        !self.preferred.is_empty() || !self.preferred_anti.is_empty()
    }

    fn matches_all_required(&self, pod: PodView<'_>) -> bool {
        !self.required.is_empty() && self.required.iter().all(|t| t.matches(pod))
    }
}

/// Matching pods per `(topologyKey, value)` domain.
type Counts = HashMap<(String, String), i64>;

fn count(counts: &mut Counts, labels: &BTreeMap<String, String>, key: &str) {
    if let Some(v) = labels.get(key) {
        *counts.entry((key.to_owned(), v.clone())).or_default() += 1;
    }
}

/// What the filter needs, computed once per pod (kube-scheduler's
/// PreFilter state).
#[derive(Debug, Default)]
pub struct Filter {
    existing_anti: Counts,
    affinity: Counts,
    anti: Counts,
}

impl Filter {
    /// The counts for `pod` over `snap`, or `None` when the filter has
    /// nothing to check (kube-scheduler's Skip).
    pub fn new(pod: &Pod, terms: &PodAffinity, snap: &Snapshot<'_>) -> Option<Self> {
        let me = PodView::of(pod);
        let mut f = Filter::default();
        if snap.any_required_anti_affinity() {
            for node in snap
                .nodes()
                .iter()
                .filter(|n| n.with_required_anti_affinity > 0)
            {
                for p in node
                    .pods
                    .iter()
                    .filter(|p| has_required_anti_affinity(p.pod))
                {
                    for t in PodAffinity::of(p.pod).required_anti {
                        if t.matches(me) {
                            count(&mut f.existing_anti, node.labels(), &t.topology_key);
                        }
                    }
                }
            }
        }
        if terms.required.is_empty() && terms.required_anti.is_empty() {
            return (!f.existing_anti.is_empty()).then_some(f);
        }
        for node in snap.nodes() {
            for p in &node.pods {
                if terms.matches_all_required(p.pod) {
                    for t in &terms.required {
                        count(&mut f.affinity, node.labels(), &t.topology_key);
                    }
                }
                for t in terms.required_anti.iter().filter(|t| t.matches(p.pod)) {
                    count(&mut f.anti, node.labels(), &t.topology_key);
                }
            }
        }
        Some(f)
    }

    /// The reason the node with `labels` is rejected, if it is. `Err`
    /// carries whether the reason can be resolved by evicting pods
    /// (kube-scheduler's Unschedulable, versus UnschedulableAndUnresolvable
    /// for affinity).
    pub fn check(
        &self,
        pod: &Pod,
        terms: &PodAffinity,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), (&'static str, bool)> {
        let mut pods_exist = true;
        for t in &terms.required {
            let Some(v) = labels.get(&t.topology_key) else {
                return Err((REASON_AFFINITY, false));
            };
            if self
                .affinity
                .get(&(t.topology_key.clone(), v.clone()))
                .copied()
                .unwrap_or(0)
                <= 0
            {
                pods_exist = false;
            }
        }
        // The first pod of a group with affinity to itself may go anywhere
        // its topology keys exist, when no pod matches yet.
        let first_of_group =
            self.affinity.is_empty() && terms.matches_all_required(PodView::of(pod));
        if !pods_exist && !first_of_group {
            return Err((REASON_AFFINITY, false));
        }
        if !self.anti.is_empty() {
            for t in &terms.required_anti {
                if let Some(v) = labels.get(&t.topology_key) {
                    if self
                        .anti
                        .get(&(t.topology_key.clone(), v.clone()))
                        .copied()
                        .unwrap_or(0)
                        > 0
                    {
                        return Err((REASON_ANTI_AFFINITY, true));
                    }
                }
            }
        }
        if !self.existing_anti.is_empty()
            && labels.iter().any(|(k, v)| {
                self.existing_anti
                    .get(&(k.clone(), v.clone()))
                    .copied()
                    .unwrap_or(0)
                    > 0
            })
        {
            return Err((REASON_EXISTING_ANTI_AFFINITY, true));
        }
        Ok(())
    }
}

/// The score's state: weight per topology key and value.
#[derive(Debug, Default)]
pub struct Score {
    topology: HashMap<String, HashMap<String, i64>>,
}

impl Score {
    /// kube-scheduler's PreScore, or `None` when nothing scores (Skip).
    pub fn new(pod: &Pod, terms: &PodAffinity, snap: &Snapshot<'_>) -> Option<Self> {
        let me = PodView::of(pod);
        let has_preferred = terms.has_preferred();
        if !has_preferred && !snap.any_affinity() {
            return None;
        }
        let mut s = Score::default();
        for node in snap.nodes() {
            if node.labels().is_empty() || (!has_preferred && node.with_affinity == 0) {
                continue;
            }
            for p in &node.pods {
                if !has_preferred && !has_pod_affinity(p.pod) {
                    continue;
                }
                let mut add = |term: &AffinityTerm, target: PodView<'_>, weight: i64| {
                    if let Some(v) = node.labels().get(&term.topology_key) {
                        if term.matches(target) {
                            *s.topology
                                .entry(term.topology_key.clone())
                                .or_default()
                                .entry(v.clone())
                                .or_default() += weight;
                        }
                    }
                };
                for w in &terms.preferred {
                    add(&w.term, p.pod, w.weight);
                }
                for w in &terms.preferred_anti {
                    add(&w.term, p.pod, -w.weight);
                }
                if has_pod_affinity(p.pod) {
                    let existing = PodAffinity::of(p.pod);
                    for t in &existing.required {
                        add(t, me, HARD_POD_AFFINITY_WEIGHT);
                    }
                    for w in &existing.preferred {
                        add(&w.term, me, w.weight);
                    }
                    for w in &existing.preferred_anti {
                        add(&w.term, me, -w.weight);
                    }
                }
            }
        }
        (!s.topology.is_empty()).then_some(s)
    }

    /// The raw score of a node with `labels`.
    pub fn raw(&self, labels: &BTreeMap<String, String>) -> i64 {
        self.topology
            .iter()
            .filter_map(|(key, values)| labels.get(key).and_then(|v| values.get(v)))
            .sum()
    }
}

/// InterPodAffinity's NormalizeScore: min-max scaled to 0..=100.
pub fn normalize(scores: &mut [i64]) {
    let (Some(&min), Some(&max)) = (scores.iter().min(), scores.iter().max()) else {
        return;
    };
    let diff = max - min;
    for s in scores.iter_mut() {
        *s = if diff > 0 {
            (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
}
