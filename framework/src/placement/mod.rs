//! Placement: which queued pods go onto which agent's offers, the way
//! kube-scheduler would place them.
//!
//! One placement round sees the offers held during the batching window,
//! grouped per agent ([`AgentView`]), the cluster as kube-scheduler's
//! snapshot ([`Snapshot`]: every agent's Node and the pods on it), and the
//! pods to place in queue order ([`PodToPlace`]). Per pod, as
//! kube-scheduler's framework runs its default profile:
//!
//! 1. **PreFilter**: requests, Mesos demand, inter-pod affinity counts and
//!    spread counts over the whole snapshot, once.
//! 2. **Filter**, per agent with offers, in kube-scheduler's order, the
//!    first to reject decides: NodeUnschedulable, NodeName,
//!    TaintToleration, NodeAffinity ([`predicates`]), NodePorts,
//!    NodeResourcesFit ([`fit`]: the Node's books, then the offers),
//!    PodTopologySpread ([`spread`]), InterPodAffinity ([`interpod`]). Like
//!    kube-scheduler, a pod stops looking once it has found enough feasible
//!    agents ([`feasible_agents_to_find`]: all of them below 100 agents, 500
//!    at 5,000), which keeps a round linear in the pods at scale.
//! 3. **Score** the feasible agents: each plugin's score normalized to
//!    0..=100 and weighted as in kube-scheduler's default profile —
//!    TaintToleration 3, NodeAffinity 2, PodTopologySpread 2,
//!    InterPodAffinity 2, NodeResourcesFit 1 (MostAllocated for `binpack`,
//!    LeastAllocated for `spread`), NodeResourcesBalancedAllocation 1 — and
//!    the highest total wins (ties: the lowest hostname).
//! 4. **Assume**: the pod's resources are carved from that agent's offers
//!    and the pod is added to the snapshot, so the next pod of the round
//!    sees it (its requests, its labels for spread and affinity).
//!
//! **Scores and offers.** Only agents with an offer in hand are candidates:
//! what Mesos has not offered cannot be launched on, and it is Mesos'
//! business to decide which frameworks see which agents. The counts that
//! filters and scores use (pods per domain, requests per Node) span every
//! agent, offered or not, so a zone is not crowded because its neighbours
//! happen not to be offered this round; a DoNotSchedule spread waits instead
//! until the emptier domain is offered. Offers are held at most the batching
//! window (1 s) and pods that arrive together share a round, so a round sees
//! every agent with free resources that Mesos offers us at the time. The
//! best agent among those offered is kube-scheduler's best among the nodes
//! it sampled.
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

mod affinity_memo;
pub mod disruption;
pub mod fit;
pub mod interpod;
pub mod predicates;
pub mod preemption;
pub mod requests;
pub mod selector;
pub mod snapshot;
pub mod spread;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use kube_mesos_node::labels::node_labels;
use kube_mesos_proto::v1::{AgentId, Attribute, DomainInfo, Offer, OfferId, Resource};

use crate::resources::{AgentPool, Demand, Milli, Scalars};
use affinity_memo::AffinityMemo;
use fit::ScoreBasis;
use requests::PodRequests;
use snapshot::{NodeFacts, NodeInfo, PodInfo, PodView, Snapshot};

pub use kube_mesos_node::capacity::MIN_TASK_CPUS_MILLI;

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

/// kube-scheduler's FitError text: `0/<n> nodes are available: <count>
/// <reason>, ....` with the `"<count> <reason>"` strings sorted as strings.
/// With no node at all it is kube-scheduler's `ErrNoNodesAvailable` text.
pub fn fit_error_message(num_nodes: usize, reasons_per_node: &[Vec<String>]) -> String {
    let mut hist: BTreeMap<&str, usize> = BTreeMap::new();
    for reasons in reasons_per_node {
        for r in reasons {
            *hist.entry(r.as_str()).or_default() += 1;
        }
    }
    fit_error_text(num_nodes, &hist)
}

/// [`fit_error_message`] from the count of nodes per reason: a round at
/// thousands of agents tells each unplaced pod why, and building a list of
/// reasons per node for each made such a round allocate millions of
/// strings.
pub fn fit_error_text(num_nodes: usize, hist: &BTreeMap<&str, usize>) -> String {
    if num_nodes == 0 {
        return "no nodes available to schedule pods".to_owned();
    }
    let mut parts: Vec<String> = hist.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if !parts.is_empty() {
        msg.push_str(&format!(" {}.", parts.join(", ")));
    }
    msg
}

/// One agent with offers in a round: what Mesos lets us use. What
/// Kubernetes knows of it (labels, taints, allocatable, the pods on it) is
/// its node in the round's [`Snapshot`], found by hostname.
#[derive(Clone, Debug)]
pub struct AgentView {
    /// Mesos agent ID.
    pub agent_id: AgentId,
    /// The agent's hostname = the Node's name.
    pub hostname: String,
    /// The offer's attributes and fault domain, for [`AgentView::labels`].
    attributes: Vec<Attribute>,
    domain: Option<DomainInfo>,
    /// The held offers of this agent.
    pub offer_ids: Vec<OfferId>,
    /// What those offers hold, minus what this round already carved.
    pub pool: AgentPool,
    /// Whether a launch here must start the current executor (and carry its
    /// resources). Cleared by the first placement on the agent.
    pub executor_needed: bool,
    /// Free scalars at the start of the round (for scoring without a Node).
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
            attributes: first.attributes.clone(),
            domain: first.domain.clone(),
            offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
            pool,
            executor_needed: true,
            capacity,
        })
    }

    /// The agent's labels as its Node carries them, derived from the offer
    /// ([`kube_mesos_node::labels::node_labels`]: hostname, os, attributes,
    /// fault domain, and arch only from an `arch` attribute): the node's
    /// labels when the snapshot has no Node for this agent. The node
    /// registry writes the Node with the same function, so placement before
    /// a Node exists agrees with the Node it creates. Worked out only then
    /// (most agents have their Node), not for every agent of every round.
    pub fn labels(&self) -> BTreeMap<String, String> {
        node_labels(&self.hostname, &self.attributes, self.domain.as_ref())
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
    /// Its requests, when the caller has them worked out already.
    pub requests: Option<&'a PodRequests>,
    /// The Node a preemption nominated it for (`status.nominatedNodeName`),
    /// tried first.
    pub nominated: Option<String>,
}

impl<'a> PodToPlace<'a> {
    /// A pod of `role` that may go anywhere.
    pub fn new(pod: &'a Pod, role: &str) -> Self {
        PodToPlace {
            pod,
            role: role.to_owned(),
            only_agent: None,
            requests: None,
            nominated: pod
                .status
                .as_ref()
                .and_then(|s| s.nominated_node_name.clone())
                .filter(|n| !n.is_empty()),
        }
    }
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
    /// kube-scheduler's FitError text, with what preemption made of it.
    pub message: String,
    /// Whether some agent failed only for lack of resources or ports, that
    /// is, the pod might fit there once resources are freed.
    pub might_fit_later: bool,
    /// Per agent index, whether the failure there is transient (resources,
    /// ports, spread, anti-affinity) rather than static (selector, taint,
    /// name, unschedulable).
    pub transient_on: Vec<usize>,
}

/// A pod evicted so that a higher-priority pod fits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Victim {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
}

/// A preemption: the pod is nominated for `node` once the victims are gone.
#[derive(Clone, Debug, PartialEq)]
pub struct Preemption {
    /// Index into the pods given to [`place`].
    pub pod_index: usize,
    /// The Node it is nominated for.
    pub node: String,
    /// The pods to evict there.
    pub victims: Vec<Victim>,
}

/// The result of a round.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Pods placed, in placement order.
    pub placed: Vec<Placement>,
    /// Pods not placed.
    pub unplaced: Vec<Unplaced>,
    /// Preemptions decided for unplaced pods.
    pub preemptions: Vec<Preemption>,
}

/// One of kube-scheduler's reason strings: most are constants, and a pod
/// that fits on few agents is told no by thousands in a round, so they are
/// not allocated each time.
pub type Reason = Cow<'static, str>;

/// Why a node does not take a pod: the filter's reasons, and whether they
/// may change as pods come and go (evicting pods could resolve them;
/// kube-scheduler's Unschedulable as against UnschedulableAndUnresolvable).
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    reasons: Reasons,
    /// Resources, ports, spread, anti-affinity: not static.
    pub resolvable: bool,
}

/// kube-scheduler's reason strings. Nearly every rejection has one reason,
/// and a round at thousands of agents rejects a nodeSelector pod on most
/// of them: one reason is kept without a `Vec` (an allocation per node).
#[derive(Clone, Debug, PartialEq)]
enum Reasons {
    One(Reason),
    Many(Vec<Reason>),
}

impl Rejection {
    fn fixed(reason: impl Into<Reason>) -> Self {
        Rejection {
            reasons: Reasons::One(reason.into()),
            resolvable: false,
        }
    }

    fn resolvable(reasons: Vec<Reason>) -> Self {
        Rejection {
            reasons: Reasons::Many(reasons),
            resolvable: true,
        }
    }

    fn of((reason, resolvable): (&'static str, bool)) -> Self {
        Rejection {
            reasons: Reasons::One(Cow::Borrowed(reason)),
            resolvable,
        }
    }

    /// kube-scheduler's reason strings.
    pub fn reasons(&self) -> &[Reason] {
        match &self.reasons {
            Reasons::One(r) => std::slice::from_ref(r),
            Reasons::Many(v) => v,
        }
    }

    fn into_reasons(self) -> Vec<Reason> {
        match self.reasons {
            Reasons::One(r) => vec![r],
            Reasons::Many(v) => v,
        }
    }
}

/// The reason of an agent whose Node has room for the pod but which has no
/// offer in hand: Mesos offers its resources elsewhere, or not yet.
pub const REASON_NOT_OFFERED: &str = "node(s) had no resources offered by Mesos";

fn executor_demand(exec: Scalars) -> Demand {
    Demand {
        scalars: exec,
        ports: Vec::new(),
        any_ports: 1,
        extended: Vec::new(),
    }
}

/// The spread and inter-pod affinity state of one pod over a snapshot
/// (kube-scheduler's PreFilter state of those plugins).
struct Filters {
    interpod: Option<interpod::Filter>,
    spread: Option<spread::Filter>,
}

impl Filters {
    fn new(pod: &Pod, affinity: &interpod::PodAffinity, snap: &Snapshot<'_>) -> Self {
        Filters {
            interpod: interpod::Filter::new(pod, affinity, snap),
            spread: spread::Filter::new(pod, snap),
        }
    }
}

/// What a pod asks for, worked out once per round instead of once per
/// agent (kube-scheduler's PreFilter).
struct Prepared<'p, 'a> {
    p: &'p PodToPlace<'a>,
    requests: Cow<'a, PodRequests>,
    /// The task's Mesos resources: the requests, at least the floor.
    demand: Demand,
    node_name: Option<&'a str>,
    affinity: interpod::PodAffinity,
    filters: Filters,
}

impl<'p, 'a> Prepared<'p, 'a> {
    fn new(p: &'p PodToPlace<'a>, snap: &Snapshot<'a>) -> Self {
        let requests = match p.requests {
            Some(r) => Cow::Borrowed(r),
            None => Cow::Owned(PodRequests::of(p.pod)),
        };
        let demand = mesos_demand(&requests);
        let affinity = interpod::PodAffinity::of(PodView::of(p.pod));
        Prepared {
            p,
            demand,
            node_name: p
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .filter(|n| !n.is_empty()),
            filters: Filters::new(p.pod, &affinity, snap),
            affinity,
            requests,
        }
    }

    /// Whether the spread and affinity state depends on the pods of the
    /// snapshot (and must be worked out again when they change).
    fn needs_pod_state(&self, snap: &Snapshot<'_>) -> bool {
        !self.affinity.required.is_empty()
            || !self.affinity.required_anti.is_empty()
            || self.filters.spread.is_some()
            || snap.any_required_anti_affinity()
    }
}

/// The Mesos resources of a pod's task: exactly its requests (cpu, memory,
/// ephemeral storage, extended resources) and hostPorts; a pod that asks
/// for nothing at all still takes [`MIN_TASK_CPUS_MILLI`], as Mesos
/// refuses a task without resources.
pub fn mesos_demand(requests: &PodRequests) -> Demand {
    let mut scalars = requests.request.to_scalars();
    let ports = requests.host_ports.clone();
    let extended: Vec<(String, Milli)> = requests
        .request
        .extended
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if scalars == Scalars::default() && ports.is_empty() && extended.is_empty() {
        scalars.cpus = MIN_TASK_CPUS_MILLI;
    }
    Demand {
        scalars,
        ports,
        any_ports: 0,
        extended,
    }
}

/// What an agent's pool holds for one role, computed once per round and
/// again only after a placement on the agent changed it.
#[derive(Clone, Debug)]
struct RoleView {
    role: String,
    avail: Scalars,
    ports: Vec<(u64, u64)>,
}

impl RoleView {
    fn of(agent: &AgentView, role: &str) -> Self {
        RoleView {
            role: role.to_owned(),
            avail: agent.pool.available(role),
            ports: agent.pool.free_port_ranges(role),
        }
    }

    fn has_port(&self, port: u64) -> bool {
        self.ports.iter().any(|&(b, e)| b <= port && port <= e)
    }

    fn port_count(&self) -> u64 {
        self.ports.iter().map(|&(b, e)| e - b + 1).sum()
    }
}

/// The offer side of a check: the agent, what its offers hold for the
/// pod's role, and the executor's resources.
struct OfferSide<'b> {
    agent: &'b AgentView,
    view: &'b RoleView,
    exec: Scalars,
}

/// kube-scheduler's filters in its order (NodeUnschedulable, NodeName,
/// TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
/// PodTopologySpread, InterPodAffinity) on one node; the first to reject
/// decides. With an offer, NodePorts and NodeResourcesFit also check what
/// Mesos offers; without, only the Node's books. On success, the basis of
/// the resource scores (`None` without an offer and without a Node).
/// `node_affinity` is NodeAffinity's result when the caller knows it
/// already.
fn check(
    pod: &Prepared<'_, '_>,
    filters: &Filters,
    node: &NodeInfo<'_>,
    offer: Option<&OfferSide<'_>>,
    node_affinity: Option<bool>,
) -> Result<Option<ScoreBasis>, Rejection> {
    use predicates::*;
    let p = pod.p.pod;
    let facts = &node.facts;
    if !unschedulable_ok(p, facts.unschedulable) {
        return Err(Rejection::fixed(REASON_UNSCHEDULABLE));
    }
    if pod.node_name.is_some_and(|name| name != node.name) {
        return Err(Rejection::fixed(REASON_NODE_NAME));
    }
    if let Some(t) = first_untolerated_taint(p, &facts.taints) {
        return Err(Rejection::fixed(reason_untolerated_taint(t)));
    }
    if !node_affinity.unwrap_or_else(|| node_affinity_ok(p, &facts.labels, &node.name)) {
        return Err(Rejection::fixed(REASON_NODE_AFFINITY));
    }
    let demand = &pod.demand;
    let ports_free = demand.ports.iter().all(|port| !node.port_in_use(*port));
    let ports_offered = offer.is_none_or(|o| {
        demand.ports.iter().all(|port| o.view.has_port(*port))
            && (!o.agent.executor_needed || o.view.port_count() > demand.ports.len() as u64)
    });
    if !(ports_free && ports_offered) {
        return Err(Rejection::of((REASON_NODE_PORTS, true)));
    }
    let mut basis = None;
    if let Some(alloc) = &facts.allocatable {
        let short = fit::insufficient(&pod.requests.request, alloc, node);
        if !short.is_empty() {
            return Err(Rejection::resolvable(short));
        }
        basis = Some(ScoreBasis::of_node(node, alloc, &pod.requests));
    }
    if let Some(o) = offer {
        let mut need = demand.scalars;
        if o.agent.executor_needed {
            need = need.plus(o.exec);
        }
        let extended: Vec<(String, Milli, Milli)> = demand
            .extended
            .iter()
            .map(|(n, m)| (n.clone(), *m, o.agent.pool.available_named(&o.view.role, n)))
            .collect();
        let short = fit::insufficient_offered(&fit::Offered {
            need,
            avail: o.view.avail,
            extended: &extended,
        });
        if !short.is_empty() {
            return Err(Rejection::resolvable(short));
        }
        basis = basis.or_else(|| {
            Some(ScoreBasis::of_offers(
                o.agent.capacity,
                o.agent.pool.total(),
                &pod.requests,
            ))
        });
    }
    if let Some(spread) = &filters.spread {
        spread.check(p, &facts.labels).map_err(Rejection::of)?;
    }
    if let Some(interpod) = &filters.interpod {
        interpod
            .check(p, &pod.affinity, &facts.labels)
            .map_err(Rejection::of)?;
    }
    Ok(basis)
}

/// Fewest feasible agents looked for before choosing among them.
const MIN_FEASIBLE_AGENTS: usize = 100;
/// Least share of the agents looked for, in percent.
const MIN_FEASIBLE_PERCENT: usize = 5;

/// How many feasible agents a pod looks for before it picks the best of
/// them: kube-scheduler's `numFeasibleNodesToFind` with its adaptive
/// `percentageOfNodesToScore` (all agents below 100; 50 % minus one per 125
/// agents, at least 5 %, at least 100 agents). At 5,000 agents a pod stops
/// after 500 feasible ones, so a round costs pods × 500 checks instead of
/// pods × agents; the search starts where the previous pod's ended, so the
/// whole pool is used in turn.
pub fn feasible_agents_to_find(agents: usize) -> usize {
    if agents < MIN_FEASIBLE_AGENTS {
        return agents;
    }
    let percent = 50usize
        .saturating_sub(agents / 125)
        .max(MIN_FEASIBLE_PERCENT);
    (agents * percent / 100).max(MIN_FEASIBLE_AGENTS)
}

/// A feasible agent of one pod.
struct Feasible {
    agent: usize,
    node: usize,
    basis: ScoreBasis,
}

/// The snapshot node of every agent, added from the offer's labels when
/// the snapshot has none.
fn agent_nodes(agents: &[AgentView], snap: &mut Snapshot<'_>) -> Vec<usize> {
    agents
        .iter()
        .map(
            |a| match snap.index_of(&a.hostname).filter(|&i| snap.node(i).known) {
                Some(i) => i,
                None => snap.add_node(
                    &a.hostname,
                    Cow::Owned(NodeFacts {
                        labels: a.labels(),
                        ..NodeFacts::default()
                    }),
                ),
            },
        )
        .collect()
}

/// Place `pods` (in order) onto `agents`. `snap` holds every node and the
/// pods on it; each placed pod is added to it. `exec` is the executor's own
/// cpus/mem, carried by the first launch on an agent whose
/// `executor_needed` is set. A round without agents (nothing offered) only
/// says why each pod waits and preempts where that helps.
pub fn place<'a>(
    pods: &[PodToPlace<'a>],
    agents: &mut [AgentView],
    snap: &mut Snapshot<'a>,
    exec: Scalars,
    policy: PlacementPolicy,
) -> Outcome {
    let mut out = Outcome::default();
    let n = agents.len();
    let nodes = agent_nodes(agents, snap);
    let enough = feasible_agents_to_find(n);
    let mut views: Vec<Option<RoleView>> = vec![None; n];
    let mut next_start = 0;
    let mut preempted_on: BTreeSet<usize> = BTreeSet::new();
    let unoffered = unoffered(&nodes, snap);
    let mut affinity = AffinityMemo::default();
    // Each pod's findings, in buffers the round keeps: hundreds of entries
    // a pod, thousands for a nodeSelector's rejections.
    let mut feasible: Vec<Feasible> = Vec::new();
    let mut statuses: Vec<(usize, Rejection)> = Vec::new();
    for (pod_index, p) in pods.iter().enumerate() {
        let prepared = Prepared::new(p, snap);
        let selection = predicates::node_selection(p.pod).map(|sel| {
            affinity.class(sel, n, |ai| {
                let node = snap.node(nodes[ai]);
                (&node.facts.labels, node.name.as_str())
            })
        });
        feasible.clear();
        statuses.clear();
        let mut transient_on = Vec::new();
        // The nominated agent first (kube-scheduler's evaluateNominatedNode),
        // then the others from where the previous pod stopped. A pod with a
        // node selection walks only the agents that match it: the others
        // would fail NodeAffinity (or an earlier fixed filter), which
        // matters only to the text of an unplaced pod (`unselected` below).
        let nominated = p
            .nominated
            .as_deref()
            .and_then(|n| agents.iter().position(|a| a.hostname == n));
        let walk: Box<dyn Iterator<Item = usize>> = match selection {
            Some(c) => {
                let matching = affinity.matching(c);
                let from = matching.partition_point(|&ai| ai < next_start);
                Box::new(matching[from..].iter().chain(&matching[..from]).copied())
            }
            None => Box::new((next_start..n).chain(0..next_start)),
        };
        let order = nominated
            .into_iter()
            .chain(walk.filter(|&ai| Some(ai) != nominated));
        let mut nominated_fits = false;
        let mut last = None;
        for ai in order {
            if feasible.len() >= enough || nominated_fits {
                break;
            }
            last = Some(ai);
            let agent = &agents[ai];
            if p.only_agent
                .as_ref()
                .is_some_and(|only| *only != agent.agent_id)
            {
                continue;
            }
            let view = match &mut views[ai] {
                Some(v) if v.role == p.role => v,
                slot => slot.insert(RoleView::of(agent, &p.role)),
            };
            let side = OfferSide { agent, view, exec };
            let node = snap.node(nodes[ai]);
            // Every agent of the walk matches; only the nominated one,
            // looked at first whatever its labels, may not.
            let node_affinity = selection.map(|c| Some(ai) != nominated || affinity.passes(c, ai));
            match check(
                &prepared,
                &prepared.filters,
                node,
                Some(&side),
                node_affinity,
            ) {
                Ok(basis) => {
                    nominated_fits = Some(ai) == nominated;
                    feasible.push(Feasible {
                        agent: ai,
                        node: nodes[ai],
                        basis: basis.unwrap_or(ScoreBasis {
                            non_zero: [0, 0],
                            requested: [0, 0],
                            allocatable: [0, 0],
                        }),
                    })
                }
                Err(r) => {
                    if r.resolvable {
                        transient_on.push(ai);
                    }
                    statuses.push((nodes[ai], r));
                }
            }
        }
        // kube-scheduler's next start: past every agent looked at, the
        // skipped unmatched ones among them; all of them when the search
        // ran out.
        if n > 0 && nominated.is_none() {
            let examined = match last {
                Some(ai) if feasible.len() >= enough => (ai + n - next_start) % n + 1,
                _ => n,
            };
            next_start = (next_start + examined) % n;
        }
        let Some(ai) = best(&prepared, &feasible, agents, snap, policy) else {
            if let Some(c) = selection {
                unselected(&prepared, agents, snap, &nodes, nominated, |ai| {
                    affinity.passes(c, ai)
                })
                .for_each(|status| statuses.push(status));
            }
            transient_on.sort_unstable();
            let unoffered: &[usize] = if p.only_agent.is_none() {
                &unoffered
            } else {
                &[]
            };
            let mut hist: BTreeMap<&str, usize> = BTreeMap::new();
            for r in statuses.iter().flat_map(|(_, r)| r.reasons()) {
                *hist.entry(r.as_ref()).or_default() += 1;
            }
            if !unoffered.is_empty() {
                *hist.entry(REASON_NOT_OFFERED).or_default() += unoffered.len();
            }
            let nodes_seen = statuses.len() + unoffered.len();
            let mut message = fit_error_text(nodes_seen, &hist);
            if p.only_agent.is_none() && nodes_seen > 0 {
                match preemption::preempt(&prepared, &statuses, unoffered, snap, &preempted_on) {
                    preemption::PostFilter::Nominated { node, victims } => {
                        preempted_on.insert(node);
                        out.preemptions.push(Preemption {
                            pod_index,
                            node: snap.node(node).name.clone(),
                            victims,
                        });
                    }
                    preemption::PostFilter::Failed(why) => {
                        message.push_str(" preemption: ");
                        message.push_str(&why);
                    }
                }
            }
            out.unplaced.push(Unplaced {
                pod_index,
                message,
                might_fit_later: !transient_on.is_empty(),
                transient_on,
            });
            continue;
        };
        let agent = &mut agents[ai];
        views[ai] = None;
        let executor_resources = if agent.executor_needed {
            agent.pool.carve(&p.role, &executor_demand(exec))
        } else {
            None
        };
        let Some(task_resources) = agent.pool.carve(&p.role, &prepared.demand) else {
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
        snap.add_pod_to(
            nodes[ai],
            PodInfo {
                pod: PodView::of(p.pod),
                requests: prepared.requests.clone(),
                evicting: false,
            },
        );
        out.placed.push(Placement {
            pod_index,
            agent_index: ai,
            task_resources,
            executor_resources,
        });
    }
    out
}

/// What the agents a pod's node selection does not match (and so were not
/// looked at, see [`place`]) say to it: each fails a fixed filter —
/// NodeAffinity or one checked before it — so they count in the
/// FailedScheduling text and are never preemption candidates.
fn unselected<'s>(
    pod: &'s Prepared<'_, '_>,
    agents: &'s [AgentView],
    snap: &'s Snapshot<'_>,
    nodes: &'s [usize],
    nominated: Option<usize>,
    passes: impl Fn(usize) -> bool + 's,
) -> impl Iterator<Item = (usize, Rejection)> + 's {
    (0..agents.len())
        .filter(move |&ai| !passes(ai) && Some(ai) != nominated)
        .filter(|&ai| {
            pod.p
                .only_agent
                .as_ref()
                .is_none_or(|only| *only == agents[ai].agent_id)
        })
        .filter_map(|ai| {
            check(pod, &pod.filters, snap.node(nodes[ai]), None, Some(false))
                .err()
                .map(|r| (nodes[ai], r))
        })
}

/// The known agents without an offer this round (snapshot indices). They
/// count in the FailedScheduling text as [`REASON_NOT_OFFERED`] without
/// being checked one by one (that would cost every unplaced pod a pass over
/// thousands of agents); preemption checks them, as a full agent has no
/// offer to show.
fn unoffered(offered: &[usize], snap: &Snapshot<'_>) -> Vec<usize> {
    let offered: BTreeSet<usize> = offered.iter().copied().collect();
    (0..snap.nodes().len())
        .filter(|i| snap.node(*i).known && !offered.contains(i))
        .collect()
}

/// kube-scheduler's plugin weights in its default profile.
const WEIGHT_TAINT_TOLERATION: i64 = 3;
const WEIGHT_NODE_AFFINITY: i64 = 2;
const WEIGHT_RESOURCES_FIT: i64 = 1;
const WEIGHT_TOPOLOGY_SPREAD: i64 = 2;
const WEIGHT_INTER_POD_AFFINITY: i64 = 2;
const WEIGHT_BALANCED_ALLOCATION: i64 = 1;

/// `helper.DefaultNormalizeScore`: scaled so the highest is 100 (reversed:
/// the lowest).
fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    for s in scores.iter_mut() {
        *s = match (max, reverse) {
            (0, true) => fit::MAX_NODE_SCORE,
            (0, false) => *s,
            (m, r) => {
                let v = fit::MAX_NODE_SCORE * *s / m;
                if r {
                    fit::MAX_NODE_SCORE - v
                } else {
                    v
                }
            }
        };
    }
}

/// kube-scheduler's scoring of the feasible agents: each plugin's score,
/// normalized, times its weight, summed; the highest total wins, ties go
/// to the lowest hostname (kube-scheduler picks one of them at random).
fn best(
    pod: &Prepared<'_, '_>,
    feasible: &[Feasible],
    agents: &[AgentView],
    snap: &Snapshot<'_>,
    policy: PlacementPolicy,
) -> Option<usize> {
    if feasible.len() <= 1 {
        return feasible.first().map(|f| f.agent);
    }
    let p = pod.p.pod;
    let mut total: Vec<i64> = feasible
        .iter()
        .map(|f| {
            WEIGHT_RESOURCES_FIT * fit::resources_score(policy, &f.basis)
                + WEIGHT_BALANCED_ALLOCATION
                    * fit::balanced_score(&pod.requests, &f.basis).unwrap_or(0)
        })
        .collect();
    let mut add = |weight: i64, scores: Vec<i64>| {
        for (t, s) in total.iter_mut().zip(scores) {
            *t += weight * s;
        }
    };
    let mut taints: Vec<i64> = feasible
        .iter()
        .map(|f| predicates::intolerable_prefer_no_schedule(p, &snap.node(f.node).facts.taints))
        .collect();
    if taints.iter().any(|&t| t > 0) {
        default_normalize(&mut taints, true);
        add(WEIGHT_TAINT_TOLERATION, taints);
    }
    if predicates::has_preferred_node_affinity(p) {
        let mut s: Vec<i64> = feasible
            .iter()
            .map(|f| {
                predicates::preferred_node_affinity_score(
                    p,
                    snap.node(f.node).labels(),
                    &agents[f.agent].hostname,
                )
            })
            .collect();
        default_normalize(&mut s, false);
        add(WEIGHT_NODE_AFFINITY, s);
    }
    let nodes: Vec<usize> = feasible.iter().map(|f| f.node).collect();
    if let Some(spread) = spread::Score::new(p, snap, &nodes) {
        let raw: Vec<Option<i64>> = nodes.iter().map(|&n| spread.raw(snap.node(n))).collect();
        add(WEIGHT_TOPOLOGY_SPREAD, spread::normalize(&raw));
    }
    if let Some(interpod) = interpod::Score::new(p, &pod.affinity, snap) {
        let mut s: Vec<i64> = nodes
            .iter()
            .map(|&n| interpod.raw(snap.node(n).labels()))
            .collect();
        interpod::normalize(&mut s);
        add(WEIGHT_INTER_POD_AFFINITY, s);
    }
    let mut best: Option<(i64, usize)> = None;
    for (i, f) in feasible.iter().enumerate() {
        let better = match best {
            None => true,
            Some((s, bi)) => {
                total[i] > s
                    || (total[i] == s
                        && agents[f.agent].hostname < agents[feasible[bi].agent].hostname)
            }
        };
        if better {
            best = Some((total[i], i));
        }
    }
    best.map(|(_, i)| feasible[i].agent)
}

/// Labels from key/value pairs, for the tests of placement's modules.
#[cfg(test)]
pub(crate) fn test_labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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
