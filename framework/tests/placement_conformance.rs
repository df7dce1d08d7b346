//! Placement against kube-scheduler, table-driven and through the framework
//! core: each case gives agents (their Nodes as the framework writes them,
//! with labels, zones, taints, cordons), pods already running on them, and
//! one pod to place; it expects the Node kube-scheduler would bind it to,
//! or kube-scheduler's FailedScheduling text. The cases follow
//! kube-scheduler's own filter and score tests (`pkg/scheduler/framework/
//! plugins/{noderesources,nodeports,nodeunschedulable,tainttoleration,
//! nodeaffinity,interpodaffinity,podtopologyspread}/*_test.go`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, Pod, PodAffinity, PodAffinityTerm, PodAntiAffinity, PodSpec, PodStatus,
    PreferredSchedulingTerm, ResourceRequirements, Taint, Toleration, TopologySpreadConstraint,
    WeightedPodAffinityTerm,
};
use k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube_mesos_framework::core::{
    reconcile_gate, Action, CoreConfig, Input, Instant, SchedulerCore, ANNOTATION_AGENT_ID,
    ANNOTATION_FRAMEWORK_ID, ANNOTATION_TASK_ID,
};
use kube_mesos_framework::nodes::agent_node::node_for_agent;
use kube_mesos_framework::placement::PlacementPolicy;
use kube_mesos_framework::resources::{build, CPUS, MEM};
use kube_mesos_proto::v1::{
    domain_info, value, AgentId, AgentInfo, Attribute, DomainInfo, FrameworkId, Offer, OfferId,
};

// ----- the world of a case -------------------------------------------------

/// One agent: `host-<name>`, 4 cpus and 8 GiB unless changed.
#[derive(Clone)]
struct Agent {
    name: &'static str,
    cpus: f64,
    mem: f64,
    zone: Option<&'static str>,
    attributes: Vec<(&'static str, &'static str)>,
    taints: Vec<Taint>,
    unschedulable: bool,
    /// Whether the agent has an offer this round.
    offered: bool,
}

fn agent(name: &'static str) -> Agent {
    Agent {
        name,
        cpus: 4.0,
        mem: 8192.0,
        zone: None,
        attributes: Vec::new(),
        taints: Vec::new(),
        unschedulable: false,
        offered: true,
    }
}

fn in_zone(mut a: Agent, zone: &'static str) -> Agent {
    a.zone = Some(zone);
    a
}

fn with_attr(mut a: Agent, k: &'static str, v: &'static str) -> Agent {
    a.attributes.push((k, v));
    a
}

fn tainted(mut a: Agent, key: &str, value: &str, effect: &str) -> Agent {
    a.taints.push(Taint {
        key: key.into(),
        value: Some(value.into()),
        effect: effect.into(),
        time_added: None,
    });
    a
}

const EXECUTOR_CPUS: f64 = 0.1;
const EXECUTOR_MEM: f64 = 64.0;

fn host(a: &str) -> String {
    format!("host-{a}")
}

impl Agent {
    fn resources(&self) -> Vec<kube_mesos_proto::v1::Resource> {
        vec![
            build::scalar(CPUS, self.cpus, "*"),
            build::scalar(MEM, self.mem, "*"),
            build::ports(&[(31000, 31100)], "*"),
        ]
    }

    /// The Node the framework writes for this agent, with the operator's
    /// taints and cordon.
    fn node(&self) -> Node {
        let info = AgentInfo {
            hostname: host(self.name),
            id: Some(AgentId {
                value: self.name.into(),
            }),
            attributes: self
                .attributes
                .iter()
                .map(|(k, v)| Attribute {
                    name: (*k).into(),
                    r#type: value::Type::Text as i32,
                    text: Some(value::Text { value: (*v).into() }),
                    ..Default::default()
                })
                .collect(),
            domain: self.zone.map(|z| DomainInfo {
                fault_domain: Some(domain_info::FaultDomain {
                    region: domain_info::fault_domain::RegionInfo {
                        name: "region-1".into(),
                    },
                    zone: domain_info::fault_domain::ZoneInfo { name: z.into() },
                }),
            }),
            resources: self.resources(),
            ..Default::default()
        };
        let executor = vec![
            build::scalar(CPUS, EXECUTOR_CPUS, "*"),
            build::scalar(MEM, EXECUTOR_MEM, "*"),
        ];
        let mut node = node_for_agent(&info, &info.resources, &executor, Timestamp::UNIX_EPOCH);
        let spec = node.spec.get_or_insert_with(Default::default);
        spec.taints = (!self.taints.is_empty()).then(|| self.taints.clone());
        spec.unschedulable = self.unschedulable.then_some(true);
        node
    }

    /// Its offer: what the pods already on it leave (Mesos' view).
    fn offer(&self, round: usize, used_cpus: f64, used_mem: f64) -> Offer {
        Offer {
            id: OfferId {
                value: format!("o{round}-{}", self.name),
            },
            framework_id: FrameworkId {
                value: "fw-1".into(),
            },
            agent_id: AgentId {
                value: self.name.into(),
            },
            hostname: host(self.name),
            resources: vec![
                build::scalar(CPUS, self.cpus - used_cpus, "*"),
                build::scalar(MEM, self.mem - used_mem, "*"),
                build::ports(&[(31000, 31100)], "*"),
            ],
            ..Default::default()
        }
    }
}

// ----- pods -------------------------------------------------------------------

fn pod(name: &str, cpu: &str) -> Pod {
    let mut requests = BTreeMap::new();
    if !cpu.is_empty() {
        requests.insert("cpu".to_owned(), Quantity(cpu.to_owned()));
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(Time(Timestamp::from_second(1_700_000_000).expect("ts"))),
            ..Default::default()
        },
        spec: Some(PodSpec {
            scheduler_name: Some("kube-mesos".into()),
            containers: vec![Container {
                name: "c".into(),
                resources: Some(ResourceRequirements {
                    requests: Some(requests),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    }
}

fn labelled(mut p: Pod, kv: &[(&str, &str)]) -> Pod {
    let labels = p.metadata.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in kv {
        labels.insert((*k).into(), (*v).into());
    }
    p
}

fn in_namespace(mut p: Pod, ns: &str) -> Pod {
    p.metadata.namespace = Some(ns.into());
    p
}

fn spec(p: &mut Pod) -> &mut PodSpec {
    p.spec.as_mut().expect("spec")
}

fn affinity(p: &mut Pod) -> &mut Affinity {
    spec(p).affinity.get_or_insert_with(Default::default)
}

fn selector(kv: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(kv.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
        ..Default::default()
    }
}

fn term(kv: &[(&str, &str)], topology_key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(selector(kv)),
        topology_key: topology_key.into(),
        ..Default::default()
    }
}

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

fn requires_affinity(mut p: Pod, t: PodAffinityTerm) -> Pod {
    affinity(&mut p)
        .pod_affinity
        .get_or_insert_with(PodAffinity::default)
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new)
        .push(t);
    p
}

fn requires_anti_affinity(mut p: Pod, t: PodAffinityTerm) -> Pod {
    affinity(&mut p)
        .pod_anti_affinity
        .get_or_insert_with(PodAntiAffinity::default)
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new)
        .push(t);
    p
}

fn prefers_affinity(mut p: Pod, weight: i32, t: PodAffinityTerm) -> Pod {
    affinity(&mut p)
        .pod_affinity
        .get_or_insert_with(PodAffinity::default)
        .preferred_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new)
        .push(WeightedPodAffinityTerm {
            weight,
            pod_affinity_term: t,
        });
    p
}

fn prefers_anti_affinity(mut p: Pod, weight: i32, t: PodAffinityTerm) -> Pod {
    affinity(&mut p)
        .pod_anti_affinity
        .get_or_insert_with(PodAntiAffinity::default)
        .preferred_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new)
        .push(WeightedPodAffinityTerm {
            weight,
            pod_affinity_term: t,
        });
    p
}

fn node_term(key: &str, op: &str, values: &[&str]) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: Some(vec![NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| (*v).into()).collect()),
        }]),
        match_fields: None,
    }
}

fn requires_node(mut p: Pod, t: NodeSelectorTerm) -> Pod {
    affinity(&mut p)
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![t],
    });
    p
}

fn prefers_node(mut p: Pod, weight: i32, t: NodeSelectorTerm) -> Pod {
    affinity(&mut p)
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .preferred_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new)
        .push(PreferredSchedulingTerm {
            weight,
            preference: t,
        });
    p
}

fn constraint(
    max_skew: i32,
    key: &str,
    when: &str,
    kv: &[(&str, &str)],
) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew,
        topology_key: key.into(),
        when_unsatisfiable: when.into(),
        label_selector: Some(selector(kv)),
        ..Default::default()
    }
}

fn spreads(mut p: Pod, c: TopologySpreadConstraint) -> Pod {
    spec(&mut p)
        .topology_spread_constraints
        .get_or_insert_with(Vec::new)
        .push(c);
    p
}

fn host_port(mut p: Pod, port: i32) -> Pod {
    spec(&mut p).containers[0].ports = Some(vec![ContainerPort {
        container_port: port,
        host_port: Some(port),
        ..Default::default()
    }]);
    p
}

fn tolerates(mut p: Pod, key: &str, effect: &str) -> Pod {
    spec(&mut p)
        .tolerations
        .get_or_insert_with(Vec::new)
        .push(Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Default::default()
        });
    p
}

fn with_selector(mut p: Pod, k: &str, v: &str) -> Pod {
    spec(&mut p)
        .node_selector
        .get_or_insert_with(BTreeMap::new)
        .insert(k.into(), v.into());
    p
}

/// A pod of ours already running on `agent` (bound, with our annotations).
fn running_on(mut p: Pod, agent: &str) -> (Pod, &str) {
    let uid = p.metadata.uid.clone().expect("uid");
    spec(&mut p).node_name = Some(host(agent));
    p.metadata.annotations = Some(BTreeMap::from([
        (ANNOTATION_TASK_ID.to_owned(), format!("pod.{uid}")),
        (ANNOTATION_AGENT_ID.to_owned(), agent.to_owned()),
        (ANNOTATION_FRAMEWORK_ID.to_owned(), "fw-1".to_owned()),
    ]));
    p.status.as_mut().expect("status").phase = Some("Running".into());
    (p, agent)
}

fn cpus_of(p: &Pod) -> f64 {
    kube_mesos_framework::placement::requests::pod_request(p).milli_cpu as f64 / 1000.0
}

// ----- the run ---------------------------------------------------------------

/// What a case expects.
#[derive(Debug)]
enum Want {
    /// Bound to this Node.
    Node(&'static str),
    /// Bound to one of these Nodes.
    OneOf(&'static [&'static str]),
    /// Not placed, with this FailedScheduling text.
    Fails(&'static str),
    /// Not placed; nominated for this Node once these pods are evicted,
    /// with this FailedScheduling text.
    Preempts(&'static str, &'static [&'static str], &'static str),
}

struct Case {
    name: &'static str,
    agents: Vec<Agent>,
    existing: Vec<(Pod, &'static str)>,
    /// PodDisruptionBudgets the core knows.
    budgets: Vec<PodDisruptionBudget>,
    pod: Pod,
    policy: PlacementPolicy,
    want: Want,
}

fn case(name: &'static str, agents: Vec<Agent>, pod: Pod, want: Want) -> Case {
    Case {
        name,
        agents,
        existing: Vec::new(),
        budgets: Vec::new(),
        pod,
        policy: PlacementPolicy::Binpack,
        want,
    }
}

fn with_existing(mut c: Case, existing: Vec<(Pod, &'static str)>) -> Case {
    c.existing = existing;
    c
}

/// The `spread` policy (LeastAllocated). Cases run with `binpack` by
/// default, so that a pod expected away from the agent already in use
/// proves the filter or score that sent it there.
fn spreading(mut c: Case) -> Case {
    c.policy = PlacementPolicy::Spread;
    c
}

/// The outcome of placing pods through the core: Node per bound pod name,
/// FailedScheduling text per unplaced pod name.
#[derive(Debug, Default)]
struct Outcome {
    bound: BTreeMap<String, String>,
    failed: BTreeMap<String, String>,
    evicted: Vec<String>,
    nominated: BTreeMap<String, String>,
}

/// Feed the core the case's Nodes and running pods, then `pending`, then
/// one offer per offered agent (what its pods leave), and run the round.
fn run(
    agents: &[Agent],
    existing: &[(Pod, &str)],
    pending: &[Pod],
    policy: PlacementPolicy,
) -> Outcome {
    run_with_budgets(agents, existing, &[], pending, policy)
}

/// [`run`], with PodDisruptionBudgets fed to the core before the pods.
fn run_with_budgets(
    agents: &[Agent],
    existing: &[(Pod, &str)],
    budgets: &[PodDisruptionBudget],
    pending: &[Pod],
    policy: PlacementPolicy,
) -> Outcome {
    let t0 = Instant::now();
    let mut core = SchedulerCore::new(CoreConfig {
        placement_policy: policy,
        ..CoreConfig::default()
    });
    let mut actions = Vec::new();
    let mut feed = |core: &mut SchedulerCore, input: Input, secs: f64| {
        let now = t0 + Duration::from_secs_f64(secs);
        let out = core.handle(input, now);
        let answers = reconcile_gate::master_answers(&out);
        actions.extend(out);
        for answer in answers {
            actions.extend(core.handle(Input::TaskUpdate(Box::new(answer)), now));
        }
    };
    for a in agents {
        feed(&mut core, Input::NodeUpserted(Box::new(a.node())), 0.0);
    }
    for b in budgets {
        feed(&mut core, Input::BudgetUpserted(Box::new(b.clone())), 0.0);
    }
    for (p, _) in existing {
        feed(&mut core, Input::PodUpserted(Box::new(p.clone())), 0.0);
    }
    feed(&mut core, Input::PodsSynced, 0.0);
    feed(
        &mut core,
        Input::Subscribed {
            framework_id: FrameworkId {
                value: "fw-1".into(),
            },
        },
        0.0,
    );
    for p in pending {
        feed(&mut core, Input::PodUpserted(Box::new(p.clone())), 0.0);
    }
    let offers: Vec<Offer> = agents
        .iter()
        .filter(|a| a.offered)
        .map(|a| {
            let on: Vec<&Pod> = existing
                .iter()
                .filter(|(_, on)| *on == a.name)
                .map(|(p, _)| p)
                .collect();
            let exec = if on.is_empty() { 0.0 } else { EXECUTOR_CPUS };
            let cpus: f64 = on.iter().map(|p| cpus_of(p)).sum::<f64>() + exec;
            let mem = if on.is_empty() { 0.0 } else { EXECUTOR_MEM };
            a.offer(0, cpus, mem)
        })
        .collect();
    feed(&mut core, Input::Offers(offers), 0.1);
    feed(&mut core, Input::Tick, 2.0);
    let mut out = Outcome::default();
    for a in actions {
        match a {
            Action::Bind { pod, node_name, .. } => {
                out.bound.insert(pod.name, node_name);
            }
            Action::SetPodUnschedulable { pod, message } => {
                out.failed.insert(pod.name, message);
            }
            Action::EvictPod { pod, .. } => out.evicted.push(pod.name),
            Action::NominatePod { pod, node_name } => {
                out.nominated.insert(pod.name, node_name);
            }
            _ => {}
        }
    }
    out
}

/// What is wrong with a case's outcome, if anything.
fn check(c: &Case) -> Option<String> {
    let out = run_with_budgets(
        &c.agents,
        &c.existing,
        &c.budgets,
        std::slice::from_ref(&c.pod),
        c.policy,
    );
    let name = c.pod.metadata.name.clone().expect("name");
    let bound = out.bound.get(&name);
    let failed = out.failed.get(&name);
    let ok = match &c.want {
        Want::Node(n) => bound == Some(&host(n)),
        Want::OneOf(ns) => bound.is_some_and(|b| ns.iter().any(|n| host(n) == *b)),
        Want::Fails(msg) => failed.map(String::as_str) == Some(*msg) && out.evicted.is_empty(),
        Want::Preempts(node, victims, msg) => {
            let mut evicted = out.evicted.clone();
            evicted.sort();
            failed.map(String::as_str) == Some(*msg)
                && out.nominated.get(&name) == Some(&host(node))
                && evicted == *victims
        }
    };
    (!ok).then(|| {
        format!(
            "{}: want {:?}, bound to {bound:?}, failed with {failed:?}, evicted {:?}, nominated {:?}",
            c.name, c.want, out.evicted, out.nominated
        )
    })
}

/// Every case, all failures reported at once.
fn check_all(cases: &[Case]) {
    let failures: Vec<String> = cases.iter().filter_map(check).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn zones() -> Vec<Agent> {
    vec![
        in_zone(agent("a"), "zone-a"),
        in_zone(agent("b"), "zone-b"),
        in_zone(agent("c"), "zone-c"),
    ]
}

// ----- filters -----------------------------------------------------------------

#[test]
fn filters_match_kube_scheduler() {
    let web = |n: &str| labelled(pod(n, "100m"), &[("app", "web")]);
    let cases = vec![
        // NodeResourcesFit
        case(
            "cpu beyond every Node's allocatable",
            vec![agent("a"), agent("b")],
            pod("big", "5"),
            Want::Fails("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."),
        ),
        with_existing(
            case(
                "cpu used by running pods counts, requests within allocatable fit elsewhere",
                vec![agent("a"), agent("b")],
                pod("p", "2"),
                Want::Node("b"),
            ),
            vec![running_on(pod("old", "3"), "a")],
        ),
        // NodePorts
        with_existing(
            case(
                "a hostPort in use on one agent",
                vec![agent("a"), agent("b")],
                host_port(pod("p", "100m"), 31050),
                Want::Node("b"),
            ),
            vec![running_on(host_port(pod("old", "100m"), 31050), "a")],
        ),
        // NodeUnschedulable, TaintToleration, NodeAffinity
        case(
            "cordoned, tainted and mislabelled agents",
            vec![
                Agent {
                    unschedulable: true,
                    ..agent("a")
                },
                tainted(agent("b"), "dedicated", "gpu", "NoSchedule"),
                with_attr(agent("c"), "disk", "hdd"),
            ],
            with_selector(pod("p", "100m"), "disk", "ssd"),
            Want::Fails(
                "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
            ),
        ),
        case(
            "a toleration lets the pod onto the tainted agent",
            vec![tainted(agent("b"), "dedicated", "gpu", "NoSchedule")],
            tolerates(pod("p", "100m"), "dedicated", "NoSchedule"),
            Want::Node("b"),
        ),
        case(
            "required node affinity NotIn",
            zones(),
            requires_node(pod("p", "100m"), node_term(ZONE, "NotIn", &["zone-a", "zone-b"])),
            Want::Node("c"),
        ),
        // InterPodAffinity, required
        with_existing(
            case(
                "anti-affinity on hostname keeps replicas apart",
                vec![agent("a"), agent("b")],
                requires_anti_affinity(web("web-2"), term(&[("app", "web")], HOSTNAME)),
                Want::Node("b"),
            ),
            vec![running_on(web("web-1"), "a")],
        ),
        with_existing(
            case(
                "anti-affinity with every agent taken",
                vec![agent("a"), agent("b")],
                requires_anti_affinity(web("web-3"), term(&[("app", "web")], HOSTNAME)),
                Want::Fails("0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."),
            ),
            vec![running_on(web("web-1"), "a"), running_on(web("web-2"), "b")],
        ),
        with_existing(
            case(
                "anti-affinity counts only the term's namespaces",
                vec![agent("a")],
                requires_anti_affinity(web("web-2"), term(&[("app", "web")], HOSTNAME)),
                Want::Node("a"),
            ),
            vec![running_on(in_namespace(web("web-1"), "other"), "a")],
        ),
        spreading(with_existing(
            case(
                "affinity to a zone holding a matching pod",
                zones(),
                requires_affinity(pod("client", "100m"), term(&[("app", "db")], ZONE)),
                Want::Node("b"),
            ),
            vec![running_on(labelled(pod("db", "100m"), &[("app", "db")]), "b")],
        )),
        with_existing(
            case(
                "affinity to pods that do not exist",
                zones(),
                requires_affinity(pod("client", "100m"), term(&[("app", "cache")], ZONE)),
                Want::Fails("0/3 nodes are available: 3 node(s) didn't match pod affinity rules. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."),
            ),
            vec![running_on(labelled(pod("db", "100m"), &[("app", "db")]), "b")],
        ),
        case(
            "the first pod of a group with affinity to itself",
            zones(),
            requires_affinity(web("web-1"), term(&[("app", "web")], ZONE)),
            Want::OneOf(&["a", "b", "c"]),
        ),
        case(
            "affinity on a key no Node has",
            zones(),
            requires_affinity(web("web-1"), term(&[("app", "web")], "rack")),
            Want::Fails("0/3 nodes are available: 3 node(s) didn't match pod affinity rules. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."),
        ),
        with_existing(
            case(
                "an existing pod's anti-affinity keeps the pod out of its zone",
                zones(),
                labelled(pod("intruder", "100m"), &[("security", "s1")]),
                Want::OneOf(&["b", "c"]),
            ),
            vec![running_on(
                requires_anti_affinity(pod("guard", "100m"), term(&[("security", "s1")], ZONE)),
                "a",
            )],
        ),
        with_existing(
            case(
                "existing anti-affinity everywhere",
                vec![in_zone(agent("a"), "zone-a")],
                labelled(pod("intruder", "100m"), &[("security", "s1")]),
                Want::Fails(
                    "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
                ),
            ),
            vec![running_on(
                requires_anti_affinity(pod("guard", "100m"), term(&[("security", "s1")], ZONE)),
                "a",
            )],
        ),
        // PodTopologySpread, DoNotSchedule
        with_existing(
            case(
                "zone spread maxSkew 1 goes to the empty zone",
                zones(),
                spreads(web("web-3"), constraint(1, ZONE, "DoNotSchedule", &[("app", "web")])),
                Want::Node("c"),
            ),
            vec![running_on(web("web-1"), "a"), running_on(web("web-2"), "b")],
        ),
        with_existing(
            case(
                "zone spread with the empty zone not offered",
                vec![
                    in_zone(agent("a"), "zone-a"),
                    in_zone(agent("b"), "zone-b"),
                    Agent {
                        offered: false,
                        ..in_zone(agent("c"), "zone-c")
                    },
                ],
                spreads(web("web-3"), constraint(1, ZONE, "DoNotSchedule", &[("app", "web")])),
                Want::Fails("0/3 nodes are available: 1 node(s) had no resources offered by Mesos, 2 node(s) didn't match pod topology spread constraints. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."),
            ),
            vec![running_on(web("web-1"), "a"), running_on(web("web-2"), "b")],
        ),
        with_existing(
            case(
                "nodes outside the pod's node affinity are no domains",
                zones(),
                requires_node(
                    spreads(web("web-3"), constraint(1, ZONE, "DoNotSchedule", &[("app", "web")])),
                    node_term(ZONE, "In", &["zone-a", "zone-b"]),
                ),
                Want::OneOf(&["a", "b"]),
            ),
            vec![running_on(web("web-1"), "a"), running_on(web("web-2"), "b")],
        ),
        case(
            "a node without the topology key",
            vec![in_zone(agent("a"), "zone-a"), agent("b")],
            spreads(
                requires_node(web("web-1"), node_term(HOSTNAME, "In", &["host-b"])),
                constraint(1, ZONE, "DoNotSchedule", &[("app", "web")]),
            ),
            Want::Fails(
                "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't match pod topology spread constraints (missing required label). preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
            ),
        ),
        with_existing(
            case(
                "minDomains above the domains there are counts the minimum as 0",
                vec![in_zone(agent("a"), "zone-a"), in_zone(agent("b"), "zone-b")],
                spreads(web("web-3"), {
                    let mut c = constraint(1, ZONE, "DoNotSchedule", &[("app", "web")]);
                    c.min_domains = Some(3);
                    c
                }),
                Want::Fails("0/2 nodes are available: 2 node(s) didn't match pod topology spread constraints. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."),
            ),
            vec![running_on(web("web-1"), "a"), running_on(web("web-2"), "b")],
        ),
        with_existing(
            case(
                "hostname spread",
                vec![agent("a"), agent("b")],
                spreads(web("web-3"), constraint(1, HOSTNAME, "DoNotSchedule", &[("app", "web")])),
                Want::Node("b"),
            ),
            vec![running_on(web("web-1"), "a")],
        ),
    ];
    check_all(&cases);
}

// ----- scores ------------------------------------------------------------------

#[test]
fn scores_match_kube_scheduler() {
    let web = |n: &str| labelled(pod(n, "100m"), &[("app", "web")]);
    let cases = vec![
        case(
            "preferred node affinity: the heavier term wins",
            vec![
                with_attr(agent("a"), "disk", "ssd"),
                with_attr(agent("b"), "gpu", "yes"),
            ],
            prefers_node(
                prefers_node(pod("p", "100m"), 10, node_term("disk", "In", &["ssd"])),
                50,
                node_term("gpu", "In", &["yes"]),
            ),
            Want::Node("b"),
        ),
        with_existing(
            case(
                "preferred anti-affinity moves away from a matching pod",
                vec![agent("a"), agent("b")],
                prefers_anti_affinity(web("web-2"), 100, term(&[("app", "web")], HOSTNAME)),
                Want::Node("b"),
            ),
            vec![running_on(web("web-1"), "a")],
        ),
        spreading(with_existing(
            case(
                "preferred affinity moves next to a matching pod",
                vec![agent("a"), agent("b")],
                prefers_affinity(
                    pod("client", "100m"),
                    100,
                    term(&[("app", "web")], HOSTNAME),
                ),
                Want::Node("b"),
            ),
            vec![running_on(web("web-1"), "b")],
        )),
        spreading(with_existing(
            case(
                "an existing pod's required affinity attracts the pod it names",
                vec![agent("a"), agent("b")],
                labelled(pod("db", "100m"), &[("app", "db")]),
                Want::Node("b"),
            ),
            vec![running_on(
                requires_affinity(pod("client", "100m"), term(&[("app", "db")], HOSTNAME)),
                "b",
            )],
        )),
        with_existing(
            case(
                "ScheduleAnyway spread prefers the emptier zone",
                zones(),
                spreads(
                    web("web-3"),
                    constraint(1, ZONE, "ScheduleAnyway", &[("app", "web")]),
                ),
                Want::Node("c"),
            ),
            vec![running_on(web("web-1"), "a"), running_on(web("web-2"), "b")],
        ),
        case(
            "a PreferNoSchedule taint is avoided",
            vec![
                tainted(agent("a"), "soft", "x", "PreferNoSchedule"),
                agent("b"),
            ],
            pod("p", "100m"),
            Want::Node("b"),
        ),
        spreading(with_existing(
            case(
                "spread (LeastAllocated) takes the emptier agent",
                vec![agent("a"), agent("b")],
                pod("p", "500m"),
                Want::Node("b"),
            ),
            vec![running_on(pod("old", "2"), "a")],
        )),
        (with_existing(
            case(
                "binpack (MostAllocated) takes the fuller agent",
                vec![agent("a"), agent("b")],
                pod("p", "500m"),
                Want::Node("a"),
            ),
            vec![running_on(pod("old", "2"), "a")],
        )),
    ];
    check_all(&cases);
}

// ----- preemption -------------------------------------------------------------

fn with_priority(mut p: Pod, priority: i32) -> Pod {
    spec(&mut p).priority = Some(priority);
    p
}

/// SUBSCRIBED, and the master's answer to the reconciliation it asks.
fn subscribe(core: &mut SchedulerCore, framework_id: FrameworkId, now: Instant) {
    let asked = core.handle(Input::Subscribed { framework_id }, now);
    for answer in reconcile_gate::master_answers(&asked) {
        core.handle(Input::TaskUpdate(Box::new(answer)), now);
    }
}

fn started_at(mut p: Pod, second: i64) -> Pod {
    p.status.get_or_insert_with(Default::default).start_time =
        Some(Time(Timestamp::from_second(second).expect("ts")));
    p
}

#[test]
fn preemption_matches_kube_scheduler() {
    let low = |n: &str, cpu: &str, prio: i32| with_priority(pod(n, cpu), prio);
    let high = |n: &str, cpu: &str| with_priority(pod(n, cpu), 1000);
    let cases = vec![
        with_existing(
            case(
                "a lower-priority pod makes room",
                vec![agent("a")],
                high("urgent", "2"),
                Want::Preempts("a", &["batch"], "0/1 nodes are available: 1 Insufficient cpu."),
            ),
            vec![running_on(low("batch", "3", 0), "a")],
        ),
        with_existing(
            case(
                "a full agent has no offer, and is preempted on all the same",
                vec![Agent {
                    offered: false,
                    ..agent("a")
                }],
                high("urgent", "2"),
                Want::Preempts(
                    "a",
                    &["batch"],
                    "0/1 nodes are available: 1 node(s) had no resources offered by Mesos.",
                ),
            ),
            vec![running_on(low("batch", "3500m", 0), "a")],
        ),
        with_existing(
            case(
                "equal priority is no victim",
                vec![agent("a")],
                with_priority(pod("peer", "2"), 0),
                Want::Fails(
                    "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
                ),
            ),
            vec![running_on(low("batch", "3", 0), "a")],
        ),
        with_existing(
            case(
                "preemptionPolicy Never",
                vec![agent("a")],
                {
                    let mut p = high("polite", "2");
                    spec(&mut p).preemption_policy = Some("Never".into());
                    p
                },
                Want::Fails(
                    "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
                ),
            ),
            vec![running_on(low("batch", "3", 0), "a")],
        ),
        with_existing(
            case(
                "the node whose most important victim matters least",
                vec![agent("a"), agent("b")],
                high("urgent", "2"),
                Want::Preempts("b", &["cheap"], "0/2 nodes are available: 2 Insufficient cpu."),
            ),
            vec![
                running_on(low("dear", "3", 500), "a"),
                running_on(low("cheap", "3", 10), "b"),
            ],
        ),
        with_existing(
            case(
                "fewer victims",
                vec![agent("a"), agent("b")],
                high("urgent", "2"),
                Want::Preempts("b", &["one"], "0/2 nodes are available: 2 Insufficient cpu."),
            ),
            vec![
                running_on(low("two-a", "1900m", 0), "a"),
                running_on(low("two-b", "1800m", 0), "a"),
                running_on(low("one", "3", 0), "b"),
            ],
        ),
        with_existing(
            case(
                "victims are reprieved, the most important first",
                vec![agent("a")],
                high("urgent", "1500m"),
                Want::Preempts("a", &["younger"], "0/1 nodes are available: 1 Insufficient cpu."),
            ),
            vec![
                running_on(started_at(low("older", "1", 0), 100), "a"),
                running_on(started_at(low("younger", "1", 0), 200), "a"),
                running_on(low("keeper", "1", 2000), "a"),
            ],
        ),
        with_existing(
            case(
                "evicting would not help against a taint",
                vec![tainted(agent("a"), "dedicated", "gpu", "NoSchedule")],
                high("urgent", "100m"),
                Want::Fails(
                    "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
                ),
            ),
            vec![running_on(
                tolerates(low("batch", "100m", 0), "dedicated", "NoSchedule"),
                "a",
            )],
        ),
        with_existing(
            case(
                "anti-affinity resolved by evicting the pod it names",
                vec![agent("a")],
                requires_anti_affinity(high("web-2", "100m"), term(&[("app", "web")], HOSTNAME)),
                Want::Preempts(
                    "a",
                    &["web-1"],
                    "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.",
                ),
            ),
            vec![running_on(
                labelled(low("web-1", "100m", 0), &[("app", "web")]),
                "a",
            )],
        ),
    ];
    check_all(&cases);
}

// ----- preemption and PodDisruptionBudgets --------------------------------------

/// A budget in `default` over the pods labelled `app=<app>`, allowing
/// `allowed` disruptions now (its status as the disruption controller
/// wrote it).
fn budget(app: &str, allowed: i32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(format!("{app}-budget")),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(selector(&[("app", app)])),
            ..Default::default()
        }),
        status: Some(PodDisruptionBudgetStatus {
            disruptions_allowed: allowed,
            ..Default::default()
        }),
    }
}

fn with_budgets(mut c: Case, budgets: Vec<PodDisruptionBudget>) -> Case {
    c.budgets = budgets;
    c
}

/// kube-scheduler's `TestSelectNodesForPreemption` / `TestPickOneNodeForPreemption`
/// cases with PodDisruptionBudgets: victims whose budget allows no
/// disruption are reprieved first, and the node with fewer violations wins
/// before priorities count; a budget is never a veto.
#[test]
fn preemption_prefers_victims_within_their_budgets() {
    let low = |n: &str, cpu: &str, prio: i32| with_priority(pod(n, cpu), prio);
    let high = |n: &str, cpu: &str| with_priority(pod(n, cpu), 1000);
    let guarded = |p: Pod| labelled(p, &[("app", "db")]);
    let two_agents = || {
        vec![
            running_on(guarded(low("cheap", "3", 10)), "a"),
            running_on(low("dear", "3", 500), "b"),
        ]
    };
    let cases = vec![
        with_budgets(
            with_existing(
                case(
                    "a victim its budget protects is reprieved before an older one",
                    vec![agent("a")],
                    high("urgent", "1500m"),
                    Want::Preempts("a", &["older"], "0/1 nodes are available: 1 Insufficient cpu."),
                ),
                vec![
                    running_on(started_at(low("older", "1", 0), 100), "a"),
                    running_on(started_at(guarded(low("younger", "1", 0)), 200), "a"),
                    running_on(low("keeper", "1", 2000), "a"),
                ],
            ),
            vec![budget("db", 0)],
        ),
        with_budgets(
            with_existing(
                case(
                    "the node with fewer budget violations wins over a cheaper victim",
                    vec![agent("a"), agent("b")],
                    high("urgent", "2"),
                    Want::Preempts("b", &["dear"], "0/2 nodes are available: 2 Insufficient cpu."),
                ),
                two_agents(),
            ),
            vec![budget("db", 0)],
        ),
        with_budgets(
            with_existing(
                case(
                    "a budget that allows the disruption changes nothing",
                    vec![agent("a"), agent("b")],
                    high("urgent", "2"),
                    Want::Preempts("a", &["cheap"], "0/2 nodes are available: 2 Insufficient cpu."),
                ),
                two_agents(),
            ),
            vec![budget("db", 1)],
        ),
        with_budgets(
            with_existing(
                case(
                    "a budget of another namespace does not cover the pod",
                    vec![agent("a"), agent("b")],
                    high("urgent", "2"),
                    Want::Preempts("a", &["cheap"], "0/2 nodes are available: 2 Insufficient cpu."),
                ),
                two_agents(),
            ),
            vec![{
                let mut b = budget("db", 0);
                b.metadata.namespace = Some("other".into());
                b
            }],
        ),
        with_budgets(
            with_existing(
                case(
                    "when every choice violates a budget, preemption goes ahead",
                    vec![agent("a")],
                    high("urgent", "2"),
                    Want::Preempts("a", &["cheap"], "0/1 nodes are available: 1 Insufficient cpu."),
                ),
                vec![running_on(guarded(low("cheap", "3", 10)), "a")],
            ),
            vec![budget("db", 0)],
        ),
        with_budgets(
            with_existing(
                case(
                    "one disruption allowed, two needed: one violation, still fewer than the other node's",
                    vec![agent("a"), agent("b")],
                    high("urgent", "3"),
                    Want::Preempts(
                        "a",
                        &["db-1", "db-2"],
                        "0/2 nodes are available: 2 Insufficient cpu.",
                    ),
                ),
                vec![
                    running_on(guarded(low("db-1", "1500m", 5)), "a"),
                    running_on(guarded(low("db-2", "1500m", 5)), "a"),
                    running_on(labelled(low("web-1", "1500m", 0), &[("app", "web")]), "b"),
                    running_on(labelled(low("web-2", "1500m", 0), &[("app", "web")]), "b"),
                ],
            ),
            vec![budget("db", 1), budget("web", 0)],
        ),
    ];
    check_all(&cases);
}

// ----- rounds ----------------------------------------------------------------

/// Regression (issue 22): 200 pods of cpu 1m on one agent with 2 cpus.
/// kube-scheduler binds 110 (the Node's `pods`) and says "Too many pods" for
/// the rest; the Node's books then show 110m requested of 1790m.
#[test]
fn two_hundred_tiny_pods_on_one_agent() {
    let a = Agent {
        cpus: 2.0,
        mem: 2048.0,
        ..agent("a")
    };
    let pods: Vec<Pod> = (0..200)
        .map(|i| pod(&format!("tiny-{i:03}"), "1m"))
        .collect();
    let out = run(&[a], &[], &pods, PlacementPolicy::Binpack);
    assert_eq!(out.bound.len(), 110);
    assert_eq!(out.failed.len(), 90);
    for msg in out.failed.values() {
        assert_eq!(msg, "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.");
    }
}

/// Pods placed in one round see each other: three replicas with hostname
/// anti-affinity land on three agents, a fourth does not fit.
#[test]
fn replicas_placed_together_spread_over_agents() {
    let replicas: Vec<Pod> = (1..=4)
        .map(|i| {
            requires_anti_affinity(
                labelled(pod(&format!("web-{i}"), "100m"), &[("app", "web")]),
                term(&[("app", "web")], HOSTNAME),
            )
        })
        .collect();
    let out = run(&zones(), &[], &replicas, PlacementPolicy::Binpack);
    let mut nodes: Vec<&String> = out.bound.values().collect();
    nodes.sort();
    assert_eq!(nodes, vec!["host-a", "host-b", "host-c"]);
    assert_eq!(
        out.failed.values().next().map(String::as_str),
        Some("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.")
    );
}

/// Zone spread with maxSkew 1 over a round: six pods, two per zone.
#[test]
fn zone_spread_over_a_round() {
    let pods: Vec<Pod> = (1..=6)
        .map(|i| {
            spreads(
                labelled(pod(&format!("web-{i}"), "100m"), &[("app", "web")]),
                constraint(1, ZONE, "DoNotSchedule", &[("app", "web")]),
            )
        })
        .collect();
    let out = run(&zones(), &[], &pods, PlacementPolicy::Binpack);
    assert_eq!(out.bound.len(), 6, "{:?}", out.failed);
    for h in ["host-a", "host-b", "host-c"] {
        assert_eq!(out.bound.values().filter(|n| *n == h).count(), 2, "{h}");
    }
}

/// The executor's TASK_KILLED of the pod `batch` on agent `a`.
fn batch_killed_on_a() -> Input {
    use kube_mesos_proto::v1::{task_status, TaskId, TaskState, TaskStatus};
    Input::TaskUpdate(Box::new(TaskStatus {
        task_id: TaskId {
            value: "pod.uid-batch".into(),
        },
        state: TaskState::TaskKilled as i32,
        source: Some(task_status::Source::Executor as i32),
        agent_id: Some(AgentId { value: "a".into() }),
        uuid: Some(vec![1; 16]),
        ..Default::default()
    }))
}

/// A preemption through to the placement: the victim is evicted once, the
/// preemptor waits for it (no second preemption while it terminates), and
/// takes the room its task leaves.
#[test]
fn a_preemptor_waits_for_its_victim_then_takes_the_room() {
    let a = agent("a");
    let (batch, _) = running_on(with_priority(pod("batch", "3500m"), 0), "a");
    let urgent = with_priority(pod("urgent", "2"), 1000);
    let t0 = Instant::now();
    let mut core = SchedulerCore::new(CoreConfig::default());
    let at = |s: f64| t0 + Duration::from_secs_f64(s);
    let fw = FrameworkId {
        value: "fw-1".into(),
    };
    core.handle(Input::NodeUpserted(Box::new(a.node())), at(0.0));
    core.handle(Input::PodUpserted(Box::new(batch.clone())), at(0.0));
    core.handle(Input::PodsSynced, at(0.0));
    subscribe(&mut core, fw, at(0.0));
    core.handle(Input::PodUpserted(Box::new(urgent.clone())), at(0.0));
    core.handle(Input::Offers(vec![a.offer(1, 3.6, 64.0)]), at(0.1));
    let first = core.handle(Input::Tick, at(1.5));
    let evicted: Vec<&str> = first
        .iter()
        .filter_map(|x| match x {
            Action::EvictPod { pod, message } => {
                assert_eq!(
                    message,
                    "kube-mesos: preempting to accommodate a higher priority pod"
                );
                Some(pod.name.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(evicted, vec!["batch"], "{first:?}");
    assert!(first.iter().any(|x| matches!(x, Action::RecordEvent { pod, reason, message, .. }
        if pod.name == "batch" && reason == "Preempted" && message == "Preempted by pod uid-urgent on node host-a")));
    assert!(first
        .iter()
        .any(|x| matches!(x, Action::NominatePod { pod, node_name }
        if pod.name == "urgent" && node_name == "host-a")));

    // The victim terminates slowly: the preemptor's next attempt waits.
    core.handle(Input::Offers(vec![a.offer(2, 3.6, 64.0)]), at(3.0));
    let second = core.handle(Input::Tick, at(4.5));
    assert!(
        !second.iter().any(|x| matches!(x, Action::EvictPod { .. })),
        "{second:?}"
    );
    assert!(second.iter().any(|x| matches!(x, Action::SetPodUnschedulable { message, .. }
        if message == "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to a terminating pod on the nominated node.")), "{second:?}");

    // Evicted: its task is killed and ends; the room comes back offered.
    let mut deleting = batch.clone();
    deleting.metadata.deletion_timestamp =
        Some(Time(Timestamp::from_second(1_700_000_100).expect("ts")));
    let kill = core.handle(Input::PodUpserted(Box::new(deleting)), at(5.0));
    assert!(
        kill.iter().any(|x| matches!(x, Action::Kill { .. })),
        "{kill:?}"
    );
    core.handle(batch_killed_on_a(), at(6.0));
    core.handle(Input::Offers(vec![a.offer(3, 0.1, 64.0)]), at(6.5));
    let last = core.handle(Input::Tick, at(8.0));
    assert!(
        last.iter()
            .any(|x| matches!(x, Action::Bind { pod, node_name, .. }
        if pod.name == "urgent" && node_name == "host-a")),
        "{last:?}"
    );
}

/// Regression (issue 22, found by the e2e with a PodDisruptionBudget): once
/// the victims were gone, a round that saw only another agent's offer
/// preempted there too — a second victim for one pod — because the room
/// on the nominated agent was not offered yet. The pod now waits for it.
#[test]
fn a_preemptor_whose_room_is_not_yet_offered_preempts_nobody_else() {
    let (a, b) = (agent("a"), agent("b"));
    let (batch, _) = running_on(with_priority(pod("batch", "3500m"), 0), "a");
    let (other, _) = running_on(with_priority(pod("other", "3500m"), 10), "b");
    let urgent = with_priority(pod("urgent", "2"), 1000);
    let t0 = Instant::now();
    let at = |s: f64| t0 + Duration::from_secs_f64(s);
    let mut core = SchedulerCore::new(CoreConfig::default());
    for n in [a.node(), b.node()] {
        core.handle(Input::NodeUpserted(Box::new(n)), at(0.0));
    }
    for p in [&batch, &other] {
        core.handle(Input::PodUpserted(Box::new(p.clone())), at(0.0));
    }
    core.handle(Input::PodsSynced, at(0.0));
    let fw = FrameworkId {
        value: "fw-1".into(),
    };
    subscribe(&mut core, fw, at(0.0));
    core.handle(Input::PodUpserted(Box::new(urgent)), at(0.0));
    core.handle(
        Input::Offers(vec![a.offer(1, 3.6, 64.0), b.offer(1, 3.6, 64.0)]),
        at(0.1),
    );
    let evicted = |actions: &[Action]| -> Vec<String> {
        actions
            .iter()
            .filter_map(|x| match x {
                Action::EvictPod { pod, .. } => Some(pod.name.clone()),
                _ => None,
            })
            .collect()
    };
    let first = core.handle(Input::Tick, at(1.5));
    assert_eq!(evicted(&first), ["batch"], "{first:?}");

    // The victim is gone; only agent b is offered in the next round.
    let mut deleting = batch.clone();
    deleting.metadata.deletion_timestamp =
        Some(Time(Timestamp::from_second(1_700_000_100).expect("ts")));
    core.handle(Input::PodUpserted(Box::new(deleting)), at(2.0));
    core.handle(batch_killed_on_a(), at(2.5));
    core.handle(Input::Offers(vec![b.offer(2, 3.6, 64.0)]), at(3.0));
    let second = core.handle(Input::Tick, at(4.5));
    assert!(evicted(&second).is_empty(), "{second:?}");
    assert!(second.iter().any(|x| matches!(x, Action::SetPodUnschedulable { message, .. }
        if message.ends_with("preemption: not eligible while the nominated node's room is not yet offered by Mesos."))), "{second:?}");

    // The room is offered: the pod takes it.
    core.handle(Input::Offers(vec![a.offer(3, 0.1, 64.0)]), at(5.0));
    let last = core.handle(Input::Tick, at(6.5));
    assert!(
        last.iter()
            .any(|x| matches!(x, Action::Bind { pod, node_name, .. }
        if pod.name == "urgent" && node_name == "host-a")),
        "{last:?}"
    );
}
