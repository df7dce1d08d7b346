//! Placement: which queued pods go onto which agent's offers.
//!
//! One placement round sees the offers held during the batching window,
//! grouped per agent ([`AgentView`]), and the pods to place in queue order
//! ([`PodToPlace`]). Each pod is checked against every agent with
//! kube-scheduler's filters ([`predicates`]), in kube-scheduler's order and
//! with its reason strings; among the agents it fits on, the policy picks
//! one ([`PlacementPolicy`]) and the pod's resources are carved from that
//! agent's pool at once, so the next pod sees what is left. Several pods can
//! land on one agent, drawing on several of its offers.
//!
//! The first pod placed on an agent without a running executor of the
//! current version also carries the executor's resources (cpus, mem and one
//! port for its kubelet endpoint); later pods on that agent do not.
//!
//! A pod that fits nowhere gets kube-scheduler's FitError text
//! ([`fit_error_message`]), e.g. `0/3 nodes are available: 1 node(s) didn't
//! match Pod's node affinity/selector, 2 Insufficient cpu.` The node count is
//! the number of agents whose offers this round considered: agents without a
//! current offer cannot take the pod now either.

pub mod predicates;
pub mod requests;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, Taint};
use kube_mesos_proto::v1::{value, AgentId, Offer, OfferId, Resource};

use crate::resources::{AgentPool, Demand, Milli, Scalars};

/// Every task takes at least this many thousandths of a CPU (Mesos rejects
/// tasks without resources; 0.01 is Mesos' own minimum for executors).
pub const MIN_TASK_CPUS_MILLI: Milli = 10;

/// How agents are scored among those a pod fits on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlacementPolicy {
    /// Prefer the agent with the least free resources after placement, so
    /// whole agents stay free for neighbours on the shared pool. Default.
    #[default]
    Binpack,
    /// Prefer the agent with the most free resources.
    Spread,
}

impl std::str::FromStr for PlacementPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "binpack" => Ok(Self::Binpack),
            "spread" => Ok(Self::Spread),
            other => Err(format!(
                "unknown placement policy `{other}` (expected binpack or spread)"
            )),
        }
    }
}

/// Labels of an agent as a Node would carry them, derived from an offer
/// (or any agent description with hostname, attributes and fault domain):
/// `kubernetes.io/hostname`, `kubernetes.io/os=linux`, one label per text
/// or scalar attribute, and `topology.kubernetes.io/region` / `zone` from
/// the fault domain. The shell's node registry uses the same function so
/// that placement before a Node exists agrees with the Node it creates.
pub fn agent_labels(offer: &Offer) -> BTreeMap<String, String> {
    labels_from_parts(&offer.hostname, &offer.attributes, offer.domain.as_ref())
}

/// [`agent_labels`] from the parts (for `AgentInfo` in the operator API).
pub fn labels_from_parts(
    hostname: &str,
    attributes: &[kube_mesos_proto::v1::Attribute],
    domain: Option<&kube_mesos_proto::v1::DomainInfo>,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for a in attributes {
        let v = if a.r#type == value::Type::Text as i32 {
            a.text.as_ref().map(|t| t.value.clone())
        } else if a.r#type == value::Type::Scalar as i32 {
            a.scalar.map(|s| format_scalar(s.value))
        } else {
            None
        };
        if let Some(v) = v {
            labels.insert(a.name.clone(), v);
        }
    }
    if let Some(fd) = domain.and_then(|d| d.fault_domain.as_ref()) {
        labels.insert(
            "topology.kubernetes.io/region".to_owned(),
            fd.region.name.clone(),
        );
        labels.insert(
            "topology.kubernetes.io/zone".to_owned(),
            fd.zone.name.clone(),
        );
    }
    labels.insert("kubernetes.io/hostname".to_owned(), hostname.to_owned());
    labels.insert("kubernetes.io/os".to_owned(), "linux".to_owned());
    labels
}

fn format_scalar(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// kube-scheduler's FitError text: `0/<n> nodes are available: <count>
/// <reason>, ....` with the `"<count> <reason>"` strings sorted as strings.
/// With no node at all it is kube-scheduler's `ErrNoNodesAvailable` text.
pub fn fit_error_message(num_nodes: usize, reasons_per_node: &[Vec<String>]) -> String {
    if num_nodes == 0 {
        return "no nodes available to schedule pods".to_owned();
    }
    let mut hist: BTreeMap<&str, usize> = BTreeMap::new();
    for reasons in reasons_per_node {
        for r in reasons {
            *hist.entry(r.as_str()).or_default() += 1;
        }
    }
    let mut parts: Vec<String> = hist.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if !parts.is_empty() {
        msg.push_str(&format!(" {}.", parts.join(", ")));
    }
    msg
}

/// One agent as placement sees it in a round.
#[derive(Clone, Debug)]
pub struct AgentView {
    /// Mesos agent ID.
    pub agent_id: AgentId,
    /// The agent's hostname = the Node's name.
    pub hostname: String,
    /// Node labels (from the Node, else [`agent_labels`]).
    pub labels: BTreeMap<String, String>,
    /// Node taints.
    pub taints: Vec<Taint>,
    /// Node `spec.unschedulable`.
    pub unschedulable: bool,
    /// The held offers of this agent.
    pub offer_ids: Vec<OfferId>,
    /// What those offers hold, minus what this round already carved.
    pub pool: AgentPool,
    /// hostPorts of pods already running on the agent.
    pub used_ports: BTreeSet<u64>,
    /// Whether a launch here must start the current executor (and carry its
    /// resources). Cleared by the first placement on the agent.
    pub executor_needed: bool,
    /// Free scalars at the start of the round (for scoring).
    pub capacity: Scalars,
}

impl AgentView {
    /// A view of these offers (all of one agent, at least one).
    pub fn from_offers(offers: &[&Offer]) -> Option<Self> {
        let first = offers.first()?;
        let pool = AgentPool::from_offers(offers.iter().copied());
        let capacity = pool.total();
        Some(Self {
            agent_id: first.agent_id.clone(),
            hostname: first.hostname.clone(),
            labels: agent_labels(first),
            taints: Vec::new(),
            unschedulable: false,
            offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
            pool,
            used_ports: BTreeSet::new(),
            executor_needed: true,
            capacity,
        })
    }
}

/// A pod to place.
#[derive(Clone, Debug)]
pub struct PodToPlace<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// Its Mesos role.
    pub role: String,
    /// Only this agent may take it (a bound pod being relaunched).
    pub only_agent: Option<AgentId>,
}

/// A pod placed on an agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// Index into the pods given to [`place`].
    pub pod_index: usize,
    /// Index into the agents given to [`place`].
    pub agent_index: usize,
    /// The task's resources, carved from the agent's offers.
    pub task_resources: Vec<Resource>,
    /// The executor's resources when this launch starts the executor.
    pub executor_resources: Option<Vec<Resource>>,
}

/// A pod that fits nowhere this round.
#[derive(Clone, Debug, PartialEq)]
pub struct Unplaced {
    /// Index into the pods given to [`place`].
    pub pod_index: usize,
    /// kube-scheduler's FitError text.
    pub message: String,
    /// Whether some agent failed only for lack of resources or ports, that
    /// is, the pod might fit there once resources are freed.
    pub might_fit_later: bool,
    /// Per agent index, whether the failure there is transient (resources,
    /// ports) rather than static (selector, taint, name, unschedulable).
    pub transient_on: Vec<usize>,
}

/// The result of a round.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Pods placed, in placement order.
    pub placed: Vec<Placement>,
    /// Pods not placed.
    pub unplaced: Vec<Unplaced>,
}

enum Check {
    Fits {
        score: f64,
    },
    /// Rejected; the bool says whether the reason is transient.
    Rejected(Vec<String>, bool),
}

fn executor_demand(exec: Scalars) -> Demand {
    Demand {
        scalars: exec,
        ports: Vec::new(),
        any_ports: 1,
    }
}

fn pod_demand(pod: &Pod) -> Demand {
    let mut scalars = requests::pod_request(pod).to_scalars();
    scalars.cpus = scalars.cpus.max(MIN_TASK_CPUS_MILLI);
    Demand {
        scalars,
        ports: requests::host_ports(pod),
        any_ports: 0,
    }
}

fn check(p: &PodToPlace<'_>, agent: &AgentView, exec: Scalars, policy: PlacementPolicy) -> Check {
    use predicates::*;
    let pod = p.pod;
    let spec = pod.spec.as_ref();
    if !unschedulable_ok(pod, agent.unschedulable) {
        return Check::Rejected(vec![REASON_UNSCHEDULABLE.to_owned()], false);
    }
    if let Some(name) = spec
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
    {
        if name != agent.hostname {
            return Check::Rejected(vec![REASON_NODE_NAME.to_owned()], false);
        }
    }
    if let Some(t) = first_untolerated_taint(pod, &agent.taints) {
        return Check::Rejected(vec![reason_untolerated_taint(t)], false);
    }
    if !node_affinity_ok(pod, &agent.labels, &agent.hostname) {
        return Check::Rejected(vec![REASON_NODE_AFFINITY.to_owned()], false);
    }
    let demand = pod_demand(pod);
    let free_ports = agent.pool.free_ports(&p.role);
    let ports_ok = demand
        .ports
        .iter()
        .all(|port| free_ports.contains(port) && !agent.used_ports.contains(port))
        && (!agent.executor_needed || free_ports.len() > demand.ports.len());
    if !ports_ok {
        return Check::Rejected(vec![REASON_NODE_PORTS.to_owned()], true);
    }
    let mut need = demand.scalars;
    if agent.executor_needed {
        need = need.plus(exec);
    }
    let avail = agent.pool.available(&p.role);
    let mut reasons = Vec::new();
    if need.cpus > 0 && need.cpus > avail.cpus {
        reasons.push(REASON_INSUFFICIENT_CPU.to_owned());
    }
    if need.mem > 0 && need.mem > avail.mem {
        reasons.push(REASON_INSUFFICIENT_MEMORY.to_owned());
    }
    if need.disk > 0 && need.disk > avail.disk {
        reasons.push(REASON_INSUFFICIENT_EPHEMERAL.to_owned());
    }
    if !reasons.is_empty() {
        return Check::Rejected(reasons, true);
    }
    // Score on what would be left.
    let mut trial = agent.pool.clone();
    if agent.executor_needed && trial.carve(&p.role, &executor_demand(exec)).is_none() {
        return Check::Rejected(vec![REASON_NODE_PORTS.to_owned()], true);
    }
    if trial.carve(&p.role, &demand).is_none() {
        // Scalars were checked; what is left is a port conflict.
        return Check::Rejected(vec![REASON_NODE_PORTS.to_owned()], true);
    }
    let left = trial.total();
    let frac = |l: Milli, c: Milli| if c > 0 { l as f64 / c as f64 } else { 0.0 };
    let free = (frac(left.cpus, agent.capacity.cpus) + frac(left.mem, agent.capacity.mem)) / 2.0;
    let score = match policy {
        PlacementPolicy::Binpack => -free,
        PlacementPolicy::Spread => free,
    };
    Check::Fits { score }
}

/// Place `pods` (in order) onto `agents`. `exec` is the executor's own
/// cpus/mem, carried by the first launch on an agent whose
/// `executor_needed` is set.
pub fn place(
    pods: &[PodToPlace<'_>],
    agents: &mut [AgentView],
    exec: Scalars,
    policy: PlacementPolicy,
) -> Outcome {
    let mut out = Outcome::default();
    for (pod_index, p) in pods.iter().enumerate() {
        let mut best: Option<(f64, usize)> = None;
        let mut reasons: Vec<Vec<String>> = Vec::new();
        let mut transient_on = Vec::new();
        let mut considered = 0;
        for (ai, agent) in agents.iter().enumerate() {
            if p.only_agent
                .as_ref()
                .is_some_and(|only| *only != agent.agent_id)
            {
                continue;
            }
            considered += 1;
            match check(p, agent, exec, policy) {
                Check::Fits { score } => {
                    let better = match best {
                        None => true,
                        Some((s, bi)) => {
                            score > s || (score == s && agent.hostname < agents[bi].hostname)
                        }
                    };
                    if better {
                        best = Some((score, ai));
                    }
                }
                Check::Rejected(r, transient) => {
                    if transient {
                        transient_on.push(ai);
                    }
                    reasons.push(r);
                }
            }
        }
        let Some((_, ai)) = best else {
            out.unplaced.push(Unplaced {
                pod_index,
                message: fit_error_message(considered, &reasons),
                might_fit_later: !transient_on.is_empty(),
                transient_on,
            });
            continue;
        };
        let agent = &mut agents[ai];
        let executor_resources = if agent.executor_needed {
            agent.pool.carve(&p.role, &executor_demand(exec))
        } else {
            None
        };
        let Some(task_resources) = agent.pool.carve(&p.role, &pod_demand(p.pod)) else {
            // Unreachable after a successful check; treat as a port clash.
            out.unplaced.push(Unplaced {
                pod_index,
                message: fit_error_message(1, &[vec![predicates::REASON_NODE_PORTS.to_owned()]]),
                might_fit_later: true,
                transient_on: vec![ai],
            });
            continue;
        };
        if executor_resources.is_some() {
            agent.executor_needed = false;
        }
        agent.used_ports.extend(requests::host_ports(p.pod));
        out.placed.push(Placement {
            pod_index,
            agent_index: ai,
            task_resources,
            executor_resources,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_error_text_is_kube_schedulers() {
        let msg = fit_error_message(
            3,
            &[
                vec!["Insufficient cpu".into()],
                vec!["Insufficient cpu".into()],
                vec!["node(s) didn't match Pod's node affinity/selector".into()],
            ],
        );
        assert_eq!(
            msg,
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
        );
        let msg = fit_error_message(
            1,
            &[vec![
                "Insufficient cpu".into(),
                "Insufficient memory".into(),
            ]],
        );
        assert_eq!(
            msg,
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
        );
        assert_eq!(
            fit_error_message(0, &[]),
            "no nodes available to schedule pods"
        );
    }
}
