//! The cluster as one placement round sees it: kube-scheduler's snapshot of
//! NodeInfos.
//!
//! Offers say what Mesos lets us use now; they say nothing about the pods
//! already on an agent, which kube-scheduler's filters need: the pod count
//! and the summed requests (NodeResourcesFit against the Node's
//! allocatable), the labels of pods per topology domain (InterPodAffinity,
//! PodTopologySpread) and the pods a preemption could evict. The core
//! builds a [`Snapshot`] each round from what it tracks: the Nodes that are
//! Mesos agents and the pods whose tasks are live on them. Placement adds
//! each pod it places (kube-scheduler's "assume"), so the next pod of the
//! round sees it, and preemption takes victims out of a copy of one node.
//!
//! Only Mesos agents are in it: pods on other Nodes (in a cluster that mixes
//! kubelets and Mesos agents) are not known to the framework, and a domain
//! it can never place into must not hold a spread back.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Affinity, Node, Pod, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use kube_mesos_node::quantity::parse_milli;

use super::selector::Labels;

use super::disruption::Budget;
use super::requests::{PodRequest, PodRequests};

/// A Node's allocatable in kube-scheduler's units (millicores, bytes,
/// bytes, pods, extended resources in thousandths of a unit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allocatable {
    /// Millicores.
    pub milli_cpu: i64,
    /// Bytes of memory.
    pub memory: i64,
    /// Bytes of ephemeral storage.
    pub ephemeral_storage: i64,
    /// Pods (`allocatable.pods`).
    pub pods: i64,
    /// Every other resource by name (thousandths of a unit).
    pub extended: BTreeMap<String, i64>,
}

impl Allocatable {
    /// From a Node's `status.allocatable`; malformed quantities count 0.
    pub fn from_quantities(list: &BTreeMap<String, Quantity>) -> Self {
        let milli = |q: &Quantity| {
            parse_milli(&q.0)
                .unwrap_or(0)
                .clamp(0, i128::from(i64::MAX)) as i64
        };
        let mut a = Allocatable::default();
        for (name, q) in list {
            let m = milli(q);
            match name.as_str() {
                "cpu" => a.milli_cpu = m,
                "memory" => a.memory = m / 1000,
                "ephemeral-storage" => a.ephemeral_storage = m / 1000,
                "pods" => a.pods = m / 1000,
                _ => {
                    a.extended.insert(name.clone(), m);
                }
            }
        }
        a
    }
}

/// What placement knows of a Node: what kube-scheduler's node filters and
/// NodeResourcesFit read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeFacts {
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.taints`.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// `status.allocatable`; `None` when there is no Node (yet), in which
    /// case only what the agent offers decides.
    pub allocatable: Option<Allocatable>,
}

impl NodeFacts {
    /// The facts of a Node object.
    pub fn from_node(node: &Node) -> Self {
        let spec = node.spec.as_ref();
        NodeFacts {
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable: node
                .status
                .as_ref()
                .and_then(|s| s.allocatable.as_ref())
                .map(Allocatable::from_quantities),
        }
    }
}

/// What placement reads of a pod already on a node (kube-scheduler's
/// PodInfo reads no more): borrowed, so the core need not keep a whole
/// `Pod` for a running pod.
#[derive(Clone, Copy, Debug)]
pub struct PodView<'a> {
    pub name: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub uid: Option<&'a str>,
    pub labels: Labels<'a>,
    pub creation_timestamp: Option<&'a Time>,
    pub deletion_timestamp: Option<&'a Time>,
    /// `spec.priority`, 0 when unset.
    pub priority: i32,
    /// `spec.affinity`.
    pub affinity: Option<&'a Affinity>,
    /// `status.startTime`.
    pub start_time: Option<&'a Time>,
}

impl<'a> PodView<'a> {
    /// The view of a whole pod.
    pub fn of(pod: &'a Pod) -> Self {
        let meta = &pod.metadata;
        PodView {
            name: meta.name.as_deref(),
            namespace: meta.namespace.as_deref(),
            uid: meta.uid.as_deref(),
            labels: Labels::of(meta.labels.as_ref()),
            creation_timestamp: meta.creation_timestamp.as_ref(),
            deletion_timestamp: meta.deletion_timestamp.as_ref(),
            priority: pod_priority(pod),
            affinity: pod.spec.as_ref().and_then(|s| s.affinity.as_ref()),
            start_time: pod.status.as_ref().and_then(|s| s.start_time.as_ref()),
        }
    }
}

/// A pod on a node, with its requests worked out once.
#[derive(Clone, Debug)]
pub struct PodInfo<'a> {
    /// The pod, as placement reads it.
    pub pod: PodView<'a>,
    /// Its requests.
    pub requests: Cow<'a, PodRequests>,
    /// Being evicted by a preemption (its task is still running): a
    /// preemptor nominated to its node waits for it rather than preempting
    /// again (kube-scheduler's `podTerminatingByPreemption`).
    pub evicting: bool,
}

impl<'a> PodInfo<'a> {
    /// A pod whose requests are computed here.
    pub fn new(pod: &'a Pod) -> Self {
        PodInfo {
            pod: PodView::of(pod),
            requests: Cow::Owned(PodRequests::of(pod)),
            evicting: false,
        }
    }

    /// `spec.priority` (0 when unset), as kube-scheduler's `PodPriority`.
    pub fn priority(&self) -> i32 {
        self.pod.priority
    }
}

/// `corev1helpers.PodPriority`: `spec.priority`, 0 when unset.
pub fn pod_priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Whether a pod has required pod anti-affinity terms.
pub fn has_required_anti_affinity(pod: PodView<'_>) -> bool {
    pod.affinity
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_some_and(|t| !t.is_empty())
}

/// Whether a pod has any pod affinity or anti-affinity (kube-scheduler's
/// `PodsWithAffinity`).
pub fn has_pod_affinity(pod: PodView<'_>) -> bool {
    pod.affinity
        .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
}

/// One node with its pods (kube-scheduler's NodeInfo).
#[derive(Clone, Debug)]
pub struct NodeInfo<'a> {
    /// The Node's name (the agent's hostname).
    pub name: String,
    /// Labels, taints, allocatable.
    pub facts: Cow<'a, NodeFacts>,
    /// The pods on it: live tasks, and the pods placed this round.
    pub pods: Vec<PodInfo<'a>>,
    /// The sum of the pods' requests.
    pub requested: PodRequest,
    /// The sum of their non-zero cpu requests (scoring).
    pub non_zero_milli_cpu: i64,
    /// The sum of their non-zero memory requests (scoring).
    pub non_zero_memory: i64,
    /// How many of them have any pod (anti-)affinity.
    pub with_affinity: usize,
    /// How many of them have required pod anti-affinity.
    pub with_required_anti_affinity: usize,
    /// The hostPorts the pods hold, with how many pods hold each.
    pub used_ports: BTreeMap<u64, usize>,
    /// Whether the node is an agent placement knows (a Node object or an
    /// offer), not only the name a bound pod gives: known nodes count in
    /// FailedScheduling messages and may be preempted on.
    pub known: bool,
}

impl<'a> NodeInfo<'a> {
    /// A node without pods.
    pub fn new(name: String, facts: Cow<'a, NodeFacts>) -> Self {
        NodeInfo {
            name,
            facts,
            pods: Vec::new(),
            requested: PodRequest::default(),
            non_zero_milli_cpu: 0,
            non_zero_memory: 0,
            with_affinity: 0,
            with_required_anti_affinity: 0,
            used_ports: BTreeMap::new(),
            known: false,
        }
    }

    /// Whether a pod holds hostPort `port` here.
    pub fn port_in_use(&self, port: u64) -> bool {
        self.used_ports.contains_key(&port)
    }

    /// Labels of the node.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.facts.labels
    }

    /// Put a pod on the node.
    pub fn add_pod(&mut self, pod: PodInfo<'a>) {
        self.requested.add(&pod.requests.request);
        self.non_zero_milli_cpu += pod.requests.non_zero_milli_cpu;
        self.non_zero_memory += pod.requests.non_zero_memory;
        self.with_affinity += usize::from(has_pod_affinity(pod.pod));
        self.with_required_anti_affinity += usize::from(has_required_anti_affinity(pod.pod));
        for &port in &pod.requests.host_ports {
            *self.used_ports.entry(port).or_default() += 1;
        }
        self.pods.push(pod);
    }

    /// Take the pod at `index` off the node.
    pub fn remove_pod(&mut self, index: usize) -> PodInfo<'a> {
        let pod = self.pods.swap_remove(index);
        self.requested.sub(&pod.requests.request);
        self.non_zero_milli_cpu -= pod.requests.non_zero_milli_cpu;
        self.non_zero_memory -= pod.requests.non_zero_memory;
        self.with_affinity -= usize::from(has_pod_affinity(pod.pod));
        self.with_required_anti_affinity -= usize::from(has_required_anti_affinity(pod.pod));
        for port in &pod.requests.host_ports {
            if let Some(n) = self.used_ports.get_mut(port) {
                *n -= 1;
                if *n == 0 {
                    self.used_ports.remove(port);
                }
            }
        }
        pod
    }
}

/// One pod of `priority` more (`add`) or fewer in `counts`; a free function
/// so a node's pods can be counted while the node is borrowed.
fn count_priority(counts: &mut BTreeMap<i32, usize>, priority: i32, add: bool) {
    if add {
        *counts.entry(priority).or_default() += 1;
    } else if let Some(n) = counts.get_mut(&priority) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&priority);
        }
    }
}

/// Every node of the round (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Snapshot<'a> {
    nodes: Vec<NodeInfo<'a>>,
    index: HashMap<String, usize>,
    /// Pods with any pod (anti-)affinity, over all nodes.
    with_affinity: usize,
    /// Pods with required pod anti-affinity, over all nodes.
    with_required_anti_affinity: usize,
    /// How many pods have each priority, over all nodes: every unplaced pod
    /// of a round asks for the lowest (whether it has anyone to preempt),
    /// and walking every pod for it made a round with thousands of
    /// unplaced pods at 100,000 pods take minutes.
    priorities: BTreeMap<i32, usize>,
    /// The cluster's PodDisruptionBudgets (preemption prefers victims that
    /// violate none).
    budgets: &'a [Budget],
}

impl<'a> Snapshot<'a> {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a node (or replace the facts of a known one); returns its index.
    pub fn add_node(&mut self, name: &str, facts: Cow<'a, NodeFacts>) -> usize {
        let i = self.insert(name, facts);
        self.nodes[i].known = true;
        i
    }

    fn insert(&mut self, name: &str, facts: Cow<'a, NodeFacts>) -> usize {
        if let Some(&i) = self.index.get(name) {
            self.nodes[i].facts = facts;
            return i;
        }
        self.nodes.push(NodeInfo::new(name.to_owned(), facts));
        self.index.insert(name.to_owned(), self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    /// The index of a node, adding it without facts when unknown (a pod's
    /// node whose Node object the framework has not seen).
    pub fn node_or_insert(&mut self, name: &str) -> usize {
        match self.index.get(name) {
            Some(&i) => i,
            None => self.insert(name, Cow::Owned(NodeFacts::default())),
        }
    }

    /// Put a pod on the node `name`.
    pub fn add_pod(&mut self, name: &str, pod: PodInfo<'a>) {
        let i = self.node_or_insert(name);
        self.add_pod_to(i, pod);
    }

    /// Put a pod on node `i`.
    pub fn add_pod_to(&mut self, i: usize, pod: PodInfo<'a>) {
        count_priority(&mut self.priorities, pod.priority(), true);
        self.with_affinity += usize::from(has_pod_affinity(pod.pod));
        self.with_required_anti_affinity += usize::from(has_required_anti_affinity(pod.pod));
        self.nodes[i].add_pod(pod);
    }

    /// Take the pod at `index` off node `i`.
    pub fn remove_pod_from(&mut self, i: usize, index: usize) -> PodInfo<'a> {
        let pod = self.nodes[i].remove_pod(index);
        count_priority(&mut self.priorities, pod.priority(), false);
        self.with_affinity -= usize::from(has_pod_affinity(pod.pod));
        self.with_required_anti_affinity -= usize::from(has_required_anti_affinity(pod.pod));
        pod
    }

    /// Put back node `i` as it was (`saved` is a clone taken before pods
    /// were added or removed).
    pub fn restore_node(&mut self, i: usize, saved: NodeInfo<'a>) {
        for p in self.nodes[i].pods.iter().map(PodInfo::priority) {
            count_priority(&mut self.priorities, p, false);
        }
        for p in saved.pods.iter().map(PodInfo::priority) {
            count_priority(&mut self.priorities, p, true);
        }
        let now = &self.nodes[i];
        self.with_affinity = self.with_affinity + saved.with_affinity - now.with_affinity;
        self.with_required_anti_affinity = self.with_required_anti_affinity
            + saved.with_required_anti_affinity
            - now.with_required_anti_affinity;
        self.nodes[i] = saved;
    }

    /// The index of the node `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// All nodes.
    pub fn nodes(&self) -> &[NodeInfo<'a>] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, i: usize) -> &NodeInfo<'a> {
        &self.nodes[i]
    }

    /// Whether some pod has required anti-affinity (kube-scheduler's
    /// `HavePodsWithRequiredAntiAffinityList` is not empty).
    pub fn any_required_anti_affinity(&self) -> bool {
        self.with_required_anti_affinity > 0
    }

    /// The lowest priority of any pod (`i32::MAX` without pods): a pod of
    /// no higher priority has nobody to preempt.
    pub fn lowest_priority(&self) -> i32 {
        self.priorities.keys().next().copied().unwrap_or(i32::MAX)
    }

    /// Whether some pod has any pod (anti-)affinity.
    pub fn any_affinity(&self) -> bool {
        self.with_affinity > 0
    }

    /// Set the PodDisruptionBudgets preemption consults.
    pub fn set_budgets(&mut self, budgets: &'a [Budget]) {
        self.budgets = budgets;
    }

    /// The PodDisruptionBudgets preemption consults.
    pub fn budgets(&self) -> &'a [Budget] {
        self.budgets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, NodeStatus, PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn allocatable_from_a_node() {
        let node = Node {
            metadata: ObjectMeta {
                labels: Some(BTreeMap::from([("zone".into(), "a".into())])),
                ..Default::default()
            },
            status: Some(NodeStatus {
                allocatable: Some(BTreeMap::from([
                    ("cpu".into(), Quantity("1790m".into())),
                    ("memory".into(), Quantity("1984Mi".into())),
                    ("pods".into(), Quantity("110".into())),
                    ("example.com/dongle".into(), Quantity("2".into())),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let f = NodeFacts::from_node(&node);
        let a = f.allocatable.expect("allocatable");
        assert_eq!(a.milli_cpu, 1790);
        assert_eq!(a.memory, 1984 << 20);
        assert_eq!(a.pods, 110);
        assert_eq!(a.extended["example.com/dongle"], 2000);
        assert_eq!(f.labels["zone"], "a");
    }

    #[test]
    fn pods_add_up_and_come_off() {
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    resources: Some(ResourceRequirements {
                        requests: Some(BTreeMap::from([("cpu".into(), Quantity("1m".into()))])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut s = Snapshot::new();
        for _ in 0..3 {
            s.add_pod("n1", PodInfo::new(&pod));
        }
        let i = s.index_of("n1").expect("node");
        assert_eq!(s.node(i).requested.milli_cpu, 3);
        assert_eq!(s.node(i).non_zero_milli_cpu, 3);
        assert_eq!(s.node(i).non_zero_memory, 3 * (200 << 20));
        s.remove_pod_from(i, 0);
        assert_eq!(s.node(i).pods.len(), 2);
        assert_eq!(s.node(i).requested.milli_cpu, 2);
    }

    #[test]
    fn the_lowest_priority_follows_pods_added_removed_and_restored() {
        let with_priority = |p: i32| Pod {
            spec: Some(PodSpec {
                priority: Some(p),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (low, high) = (with_priority(-5), with_priority(10));
        let mut s = Snapshot::new();
        assert_eq!(s.lowest_priority(), i32::MAX);
        s.add_pod("n1", PodInfo::new(&high));
        s.add_pod("n2", PodInfo::new(&low));
        assert_eq!(s.lowest_priority(), -5);
        let i = s.index_of("n2").expect("node");
        let saved = s.node(i).clone();
        s.remove_pod_from(i, 0);
        assert_eq!(s.lowest_priority(), 10);
        s.restore_node(i, saved);
        assert_eq!(s.lowest_priority(), -5);
    }
}
