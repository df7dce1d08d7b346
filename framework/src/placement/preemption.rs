//! DefaultPreemption: a pod that fits nowhere may evict lower-priority pods
//! from one agent, chosen as kube-scheduler's PostFilter plugin chooses.
//!
//! 1. The pod must be eligible: not `preemptionPolicy: Never`, and no
//!    lower-priority pod still being evicted from the node it was nominated
//!    for earlier (it waits for those rather than evicting more). Once they
//!    are gone the node's books have the room, and the pod waits for Mesos
//!    to offer it (kube-scheduler, without offers, would bind it there at
//!    once) instead of preempting a second time elsewhere.
//! 2. Candidate nodes are those whose filters failed for reasons evicting
//!    pods could resolve (resources, ports, spread, anti-affinity) — any
//!    agent with a Node, offered or not: a full agent has no offer to show.
//! 3. On each, every lower-priority pod is taken off; if the pod then
//!    passes the filters on the Node's books, the victims are reprieved one
//!    by one as long as the pod still fits: first those whose eviction
//!    would violate a PodDisruptionBudget, then the others, each group
//!    highest priority (then longest running) first. Those that cannot
//!    stay are the victims; the violating ones among them are counted.
//! 4. Among the candidates, the node with the fewest budget violations
//!    wins, then the one whose most important victim has the lowest
//!    priority, the lowest sum of victim priorities, the fewest victims,
//!    the latest-started most important victim.
//!
//! Budgets are a preference, not a veto, as in kube-scheduler: victims are
//! deleted, not evicted through the Eviction API, so a preemption may still
//! go below a budget when every choice does ([`super::disruption`]).
//!
//! Only pods of this framework are ever victims: the snapshot holds nothing
//! else. Resources other frameworks use on an agent are Mesos' to share
//! (roles, quota, weights), never ours to take.
//!
//! When no node is a candidate, the message kube-scheduler appends to the
//! FailedScheduling text says why per node: the reasons after evicting,
//! "No preemption victims found for incoming pod" where nobody has lower
//! priority, "Preemption is not helpful for scheduling" elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;

use super::disruption::split_by_violation;
use super::snapshot::{pod_priority, PodInfo, PodView, Snapshot};
use super::{check, fit_error_text, Filters, Prepared, Reason, Rejection, Victim};

/// A node where no pod has lower priority than the preemptor.
pub const REASON_NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// A node where evicting pods would not let the pod in.
pub const REASON_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// A nominated pod whose node has the room on its books, not yet offered.
pub const REASON_WAITING_FOR_OFFER: &str =
    "not eligible while the nominated node's room is not yet offered by Mesos.";

/// What preemption made of an unplaced pod.
pub(super) enum PostFilter {
    /// Evict `victims` from node `node` (snapshot index); the pod is
    /// nominated for it.
    Nominated {
        /// The node.
        node: usize,
        /// The pods to evict.
        victims: Vec<Victim>,
    },
    /// Nothing to do; the text kube-scheduler appends after
    /// `preemption: `.
    Failed(String),
}

/// kube-scheduler's `GetPodStartTime`: `status.startTime`, else the
/// creation time.
fn start_time(pod: PodView<'_>) -> Option<Timestamp> {
    pod.start_time.or(pod.creation_timestamp).map(|t| t.0)
}

/// Decide a preemption for `pod`, whose filters failed with `statuses` on
/// the offered agents; `unoffered` are the other known agents (snapshot
/// indices). Nodes in `taken` already had a preemption this round and are
/// left alone. `snap` is restored before returning.
pub(super) fn preempt<'a>(
    pod: &Prepared<'_, 'a>,
    statuses: &[(usize, Rejection)],
    unoffered: &[usize],
    snap: &mut Snapshot<'a>,
    taken: &BTreeSet<usize>,
) -> PostFilter {
    let p = pod.p.pod;
    if p.spec.as_ref().and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return PostFilter::Failed("not eligible due to preemptionPolicy=Never.".to_owned());
    }
    let priority = pod_priority(p);
    if let Some(ni) = pod.p.nominated.as_deref().and_then(|n| snap.index_of(n)) {
        let unresolvable = statuses.iter().any(|(i, r)| *i == ni && !r.resolvable);
        let waiting = snap
            .node(ni)
            .pods
            .iter()
            .any(|q| q.evicting && q.priority() < priority);
        if !unresolvable && waiting {
            return PostFilter::Failed(
                "not eligible due to a terminating pod on the nominated node.".to_owned(),
            );
        }
        // The victims are gone and the Node's books have the room, but
        // Mesos has not offered it yet: kube-scheduler, which needs no
        // offer, would bind the pod there now. Preempting elsewhere would
        // evict a second set of victims for one pod.
        if !unresolvable && fits(pod, snap, ni).is_ok() {
            return PostFilter::Failed(REASON_WAITING_FOR_OFFER.to_owned());
        }
    }
    let all = statuses.len() + unoffered.len();
    let nobody_lower = snap.lowest_priority() >= priority;
    // Reasons counted per node, not listed: thousands of nodes per pod.
    let mut failures: BTreeMap<Reason, usize> = BTreeMap::new();
    let mut failed_nodes = 0;
    let mut candidates: Vec<(usize, Candidate<'a>)> = Vec::new();
    // Where preemption might help: nodes whose filters failed for reasons
    // evicting could resolve. Unoffered agents are checked on their books
    // only when someone has a lower priority (else nobody is a victim).
    let mut potential: Vec<usize> = statuses
        .iter()
        .filter(|(_, r)| r.resolvable)
        .map(|(i, _)| *i)
        .collect();
    if !nobody_lower {
        potential.extend(unoffered.iter().copied().filter(|&i| {
            check(pod, &pod.filters, snap.node(i), None, None).is_err_and(|r| r.resolvable)
        }));
    }
    let mut fail = |reasons: &[Reason]| {
        failed_nodes += 1;
        for r in reasons {
            *failures.entry(r.clone()).or_default() += 1;
        }
    };
    for ni in potential {
        if nobody_lower {
            fail(&[Reason::Borrowed(REASON_NO_VICTIMS)]);
            continue;
        }
        if taken.contains(&ni) || snap.node(ni).facts.allocatable.is_none() {
            continue;
        }
        match select_victims(pod, snap, ni) {
            Ok(candidate) => candidates.push((ni, candidate)),
            Err(reasons) => fail(&reasons),
        }
    }
    let Some((node, Candidate { victims, .. })) = pick_one(candidates) else {
        if failed_nodes < all {
            *failures
                .entry(Reason::Borrowed(REASON_NOT_HELPFUL))
                .or_default() += all - failed_nodes;
        }
        let hist: BTreeMap<&str, usize> = failures.iter().map(|(r, n)| (r.as_ref(), *n)).collect();
        return PostFilter::Failed(fit_error_text(all, &hist));
    };
    PostFilter::Nominated {
        node,
        victims: victims
            .iter()
            .map(|v| Victim {
                namespace: v.pod.namespace.unwrap_or_default().to_owned(),
                name: v.pod.name.unwrap_or_default().to_owned(),
                uid: v.pod.uid.unwrap_or_default().to_owned(),
            })
            .collect(),
    }
}

/// Whether the pod passes the filters on node `ni` as the snapshot now
/// holds it (the Node's books only), with the reasons when it does not.
fn fits(pod: &Prepared<'_, '_>, snap: &Snapshot<'_>, ni: usize) -> Result<(), Vec<Reason>> {
    let filters = if pod.needs_pod_state(snap) {
        Filters::new(pod.p.pod, &pod.affinity, snap)
    } else {
        Filters {
            interpod: None,
            spread: None,
        }
    };
    check(pod, &filters, snap.node(ni), None, None)
        .map(drop)
        .map_err(Rejection::into_reasons)
}

/// The victims on one node, most important first, and how many of them
/// violate a PodDisruptionBudget.
struct Candidate<'a> {
    victims: Vec<PodInfo<'a>>,
    violations: usize,
}

/// kube-scheduler's `MoreImportantPod`: higher priority, then the earlier
/// start.
fn more_important(a: &PodInfo<'_>, b: &PodInfo<'_>) -> std::cmp::Ordering {
    b.priority()
        .cmp(&a.priority())
        .then_with(|| start_time(a.pod).cmp(&start_time(b.pod)))
}

/// kube-scheduler's `SelectVictimsOnNode` (see the module docs).
fn select_victims<'a>(
    pod: &Prepared<'_, 'a>,
    snap: &mut Snapshot<'a>,
    ni: usize,
) -> Result<Candidate<'a>, Vec<Reason>> {
    let priority = pod_priority(pod.p.pod);
    let saved = snap.node(ni).clone();
    let lower: Vec<usize> = (0..saved.pods.len())
        .filter(|&i| saved.pods[i].priority() < priority)
        .collect();
    if lower.is_empty() {
        return Err(vec![Reason::Borrowed(REASON_NO_VICTIMS)]);
    }
    let mut removed: Vec<PodInfo<'a>> = lower
        .into_iter()
        .rev()
        .map(|i| snap.remove_pod_from(ni, i))
        .collect();
    if let Err(reasons) = fits(pod, snap, ni) {
        snap.restore_node(ni, saved);
        return Err(reasons);
    }
    removed.sort_by(more_important);
    let (violating, other) = split_by_violation(removed, snap.budgets());
    let regroup = !violating.is_empty() && !other.is_empty();
    let mut victims = Vec::new();
    let mut violations = 0;
    let groups = violating
        .into_iter()
        .map(|v| (v, true))
        .chain(other.into_iter().map(|v| (v, false)));
    for (v, violates) in groups {
        snap.add_pod_to(ni, v.clone());
        if fits(pod, snap, ni).is_err() {
            let last = snap.node(ni).pods.len() - 1;
            snap.remove_pod_from(ni, last);
            victims.push(v);
            violations += usize::from(violates);
        }
    }
    snap.restore_node(ni, saved);
    if victims.is_empty() {
        return Err(vec![Reason::Borrowed(REASON_NOT_HELPFUL)]);
    }
    if regroup {
        victims.sort_by(more_important);
    }
    Ok(Candidate {
        victims,
        violations,
    })
}

/// kube-scheduler's `pickOneNodeForPreemption` (see the module docs); ties
/// go to the first candidate.
fn pick_one<'a>(candidates: Vec<(usize, Candidate<'a>)>) -> Option<(usize, Candidate<'a>)> {
    let key = |c: &Candidate<'_>| {
        let victims = &c.victims;
        let highest = victims
            .iter()
            .map(PodInfo::priority)
            .max()
            .unwrap_or(i32::MIN);
        let sum: i64 = victims
            .iter()
            .map(|v| i64::from(v.priority()) + i64::from(i32::MAX) + 1)
            .sum();
        let earliest_of_highest = victims
            .iter()
            .filter(|v| v.priority() == highest)
            .filter_map(|v| start_time(v.pod))
            .min();
        (
            c.violations,
            highest,
            sum,
            victims.len(),
            std::cmp::Reverse(earliest_of_highest),
        )
    };
    let mut best: Option<(usize, Candidate<'a>)> = None;
    for (node, candidate) in candidates {
        let better = match &best {
            None => true,
            Some((_, b)) => key(&candidate) < key(b),
        };
        if better {
            best = Some((node, candidate));
        }
    }
    best
}
