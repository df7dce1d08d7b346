//! NodeResourcesFit and NodeResourcesBalancedAllocation.
//!
//! A pod fits an agent when two books balance:
//!
//! 1. **Kubernetes'**, as kube-scheduler keeps it ([`insufficient`]): the
//!    Node's `allocatable` against the summed requests of the pods on it,
//!    the pod count against `allocatable.pods` ("Too many pods"), extended
//!    resources by name. These are the numbers `kubectl describe node`
//!    shows, and the reasons are kube-scheduler's words. The Node's
//!    allocatable already sets aside what Mesos needs beside the pods'
//!    requests (the executor's own resources and the per-task cpu floor,
//!    see `kube_mesos_node::capacity::node_resources`), so requests within
//!    allocatable fit the agent when kube-mesos is alone on it.
//! 2. **Mesos'** ([`insufficient_offered`]): what the agent's offers hold
//!    for the pod's role must cover the task (its requests, at least the
//!    floor) and, with the first pod on the agent, the executor. This fails
//!    on its own only when Mesos gives less than the Node shows: other
//!    frameworks use the agent, resources are reserved for other roles, or
//!    the Node is not known yet. Its reasons say so: "Insufficient cpu
//!    offered by Mesos".
//!
//! Scores are kube-scheduler's with its default resources (cpu and memory,
//! weight 1 each): `LeastAllocated` for the `spread` policy (kube-scheduler's
//! default) and `MostAllocated` for `binpack`, on the non-zero requests;
//! BalancedAllocation on the actual requests, skipped for BestEffort pods.

use super::requests::{PodRequest, PodRequests};
use super::snapshot::{Allocatable, NodeInfo};
use super::{PlacementPolicy, Reason};
use crate::resources::{Milli, Scalars};

/// NodeResourcesFit's reason for the pod count.
pub const REASON_TOO_MANY_PODS: &str = "Too many pods";
/// kube-scheduler's `MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

/// kube-scheduler's `fitsRequest`: the reasons the pod does not fit the
/// Node's allocatable next to the pods on it, in its order (empty: fits).
pub fn insufficient(req: &PodRequest, alloc: &Allocatable, node: &NodeInfo<'_>) -> Vec<Reason> {
    let mut out = Vec::new();
    if node.pods.len() as i64 + 1 > alloc.pods {
        out.push(Reason::Borrowed(REASON_TOO_MANY_PODS));
    }
    if req.is_empty() {
        return out;
    }
    let used = &node.requested;
    let short = |want: i64, have: i64, used: i64| want > 0 && want > have - used;
    if short(req.milli_cpu, alloc.milli_cpu, used.milli_cpu) {
        out.push(Reason::Borrowed("Insufficient cpu"));
    }
    if short(req.memory, alloc.memory, used.memory) {
        out.push(Reason::Borrowed("Insufficient memory"));
    }
    if short(
        req.ephemeral_storage,
        alloc.ephemeral_storage,
        used.ephemeral_storage,
    ) {
        out.push(Reason::Borrowed("Insufficient ephemeral-storage"));
    }
    for (name, want) in &req.extended {
        let have = alloc.extended.get(name).copied().unwrap_or(0);
        let used = used.extended.get(name).copied().unwrap_or(0);
        if short(*want, have, used) {
            out.push(Reason::Owned(format!("Insufficient {name}")));
        }
    }
    out
}

/// What a launch takes from the agent's offers and what they hold for the
/// pod's role, in Mesos units.
pub struct Offered<'a> {
    /// cpus, mem and disk the launch needs (the task, and the executor
    /// when this launch starts it).
    pub need: Scalars,
    /// Free cpus, mem and disk for the role.
    pub avail: Scalars,
    /// Extended resources the task needs, with what is free of each.
    pub extended: &'a [(String, Milli, Milli)],
}

/// The Mesos side of the fit (see the module docs): one reason per
/// resource the offers are short of.
pub fn insufficient_offered(o: &Offered<'_>) -> Vec<Reason> {
    let mut out = Vec::new();
    for (reason, need, avail) in [
        (
            "Insufficient cpu offered by Mesos",
            o.need.cpus,
            o.avail.cpus,
        ),
        (
            "Insufficient memory offered by Mesos",
            o.need.mem,
            o.avail.mem,
        ),
        (
            "Insufficient ephemeral-storage offered by Mesos",
            o.need.disk,
            o.avail.disk,
        ),
    ] {
        if need > 0 && need > avail {
            out.push(Reason::Borrowed(reason));
        }
    }
    for (name, need, avail) in o.extended {
        if need > avail {
            out.push(Reason::Owned(format!(
                "Insufficient {name} offered by Mesos"
            )));
        }
    }
    out
}

/// cpu and memory of a node for scoring: what is requested with the pod
/// and what there is. `None` when nothing can be said (no allocatable and
/// no capacity).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBasis {
    /// Non-zero requests with the pod (NodeResourcesFit's score):
    /// millicores, bytes.
    pub non_zero: [i64; 2],
    /// Actual requests with the pod (BalancedAllocation).
    pub requested: [i64; 2],
    /// Allocatable: millicores, bytes.
    pub allocatable: [i64; 2],
}

impl ScoreBasis {
    /// The basis of a node with a Node object.
    pub fn of_node(node: &NodeInfo<'_>, alloc: &Allocatable, pod: &PodRequests) -> Self {
        ScoreBasis {
            non_zero: [
                node.non_zero_milli_cpu + pod.non_zero_milli_cpu,
                node.non_zero_memory + pod.non_zero_memory,
            ],
            requested: [
                node.requested.milli_cpu + pod.request.milli_cpu,
                node.requested.memory + pod.request.memory,
            ],
            allocatable: [alloc.milli_cpu, alloc.memory],
        }
    }

    /// The basis of an agent without a Node: what its offers held at the
    /// start of the round stands in for allocatable, what the round took
    /// since for the pods on it.
    pub fn of_offers(capacity: Scalars, left: Scalars, pod: &PodRequests) -> Self {
        let bytes = |mb_milli: Milli| mb_milli.saturating_mul(1 << 20) / 1000;
        let used = [capacity.cpus - left.cpus, bytes(capacity.mem - left.mem)];
        ScoreBasis {
            non_zero: [
                used[0] + pod.non_zero_milli_cpu,
                used[1] + pod.non_zero_memory,
            ],
            requested: [
                used[0] + pod.request.milli_cpu,
                used[1] + pod.request.memory,
            ],
            allocatable: [capacity.cpus, bytes(capacity.mem)],
        }
    }
}

/// NodeResourcesFit's score: `LeastAllocated` (spread) or `MostAllocated`
/// (binpack) over cpu and memory, weight 1 each.
pub fn resources_score(policy: PlacementPolicy, b: &ScoreBasis) -> i64 {
    let mut sum = 0;
    let mut weights = 0;
    for i in 0..2 {
        let (requested, capacity) = (b.non_zero[i], b.allocatable[i]);
        if capacity == 0 {
            continue;
        }
        sum += match policy {
            PlacementPolicy::Spread if requested > capacity => 0,
            PlacementPolicy::Spread => (capacity - requested) * MAX_NODE_SCORE / capacity,
            PlacementPolicy::Binpack => requested.min(capacity) * MAX_NODE_SCORE / capacity,
        };
        weights += 1;
    }
    if weights == 0 {
        0
    } else {
        sum / weights
    }
}

/// NodeResourcesBalancedAllocation's score: 100 × (1 − the standard
/// deviation of the cpu and memory fractions). `None` for a BestEffort pod
/// (kube-scheduler skips the plugin so that such pods do not all pile onto
/// one node).
pub fn balanced_score(pod: &PodRequests, b: &ScoreBasis) -> Option<i64> {
    if pod.request.milli_cpu == 0 && pod.request.memory == 0 {
        return None;
    }
    let fraction = |i: usize| (b.requested[i] as f64 / b.allocatable[i] as f64).min(1.0);
    // Two resources: the standard deviation is half their difference; with
    // one (or none) it is 0.
    let std = if b.allocatable.iter().all(|&a| a != 0) {
        ((fraction(0) - fraction(1)) / 2.0).abs()
    } else {
        0.0
    };
    Some(((1.0 - std) * MAX_NODE_SCORE as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::snapshot::{NodeFacts, PodInfo};
    use k8s_openapi::api::core::v1::Pod;
    use std::borrow::Cow;

    fn alloc(cpu: i64, pods: i64) -> Allocatable {
        Allocatable {
            milli_cpu: cpu,
            memory: 1 << 30,
            ephemeral_storage: 0,
            pods,
            extended: [("example.com/dongle".to_owned(), 1000)].into(),
        }
    }

    fn req(cpu: i64) -> PodRequest {
        PodRequest {
            milli_cpu: cpu,
            ..Default::default()
        }
    }

    #[test]
    fn kube_schedulers_reasons_in_its_order() {
        let pod = Pod::default();
        let mut node = NodeInfo::new("n".into(), Cow::Owned(NodeFacts::default()));
        assert!(insufficient(&req(1000), &alloc(1000, 1), &node).is_empty());
        node.add_pod(PodInfo::new(&pod));
        assert_eq!(
            insufficient(&req(1001), &alloc(1000, 1), &node),
            vec!["Too many pods", "Insufficient cpu"]
        );
        // A BestEffort pod is only counted.
        assert_eq!(
            insufficient(&PodRequest::default(), &alloc(0, 2), &node),
            Vec::<Reason>::new()
        );
        let mut r = req(0);
        r.ephemeral_storage = 1;
        r.extended.insert("example.com/dongle".into(), 2000);
        r.extended.insert("example.com/other".into(), 1000);
        assert_eq!(
            insufficient(&r, &alloc(0, 2), &node),
            vec![
                "Insufficient ephemeral-storage",
                "Insufficient example.com/dongle",
                "Insufficient example.com/other"
            ]
        );
    }

    #[test]
    fn mesos_reasons_name_mesos() {
        let short = insufficient_offered(&Offered {
            need: Scalars {
                cpus: 110,
                mem: 64_000,
                disk: 0,
            },
            avail: Scalars {
                cpus: 100,
                mem: 64_000,
                disk: 0,
            },
            extended: &[("example.com/dongle".into(), 1000, 0)],
        });
        assert_eq!(
            short,
            vec![
                "Insufficient cpu offered by Mesos",
                "Insufficient example.com/dongle offered by Mesos"
            ]
        );
    }

    #[test]
    fn scores_are_kube_schedulers() {
        let b = ScoreBasis {
            non_zero: [3000, 5 << 30],
            requested: [3000, 5 << 30],
            allocatable: [4000, 10 << 30],
        };
        // LeastAllocated: ((1000*100/4000) + (5Gi*100/10Gi)) / 2 = (25 + 50) / 2.
        assert_eq!(resources_score(PlacementPolicy::Spread, &b), 37);
        // MostAllocated: (75 + 50) / 2.
        assert_eq!(resources_score(PlacementPolicy::Binpack, &b), 62);
        // Balanced: 1 - |0.75 - 0.5| / 2 = 0.875.
        let pod = PodRequests {
            request: req(100),
            ..Default::default()
        };
        assert_eq!(balanced_score(&pod, &b), Some(87));
        assert_eq!(balanced_score(&PodRequests::default(), &b), None);
    }
}
