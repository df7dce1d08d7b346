//! Placement engine: kube-scheduler's filters and words, Mesos resource
//! carving, executor resources, packing and scoring.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, Pod, PodSpec, ResourceRequirements, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_mesos_framework::placement::snapshot::{NodeFacts, PodInfo, Snapshot};
use kube_mesos_framework::placement::{
    place, AgentView, Outcome, PlacementPolicy, PodToPlace, Unplaced,
};
use kube_mesos_framework::resources::{
    build, ports_in, reservation_role, scalar_sum, Scalars, CPUS, MEM,
};
use kube_mesos_proto::v1::{
    domain_info, value, AgentId, Attribute, DomainInfo, FrameworkId, Offer, OfferId, Resource,
};

const EXEC: Scalars = Scalars {
    cpus: 100,
    mem: 64_000,
    disk: 0,
};

fn requests(cpu: &str, mem: &str) -> Option<ResourceRequirements> {
    let mut r = BTreeMap::new();
    if !cpu.is_empty() {
        r.insert("cpu".to_owned(), Quantity(cpu.to_owned()));
    }
    if !mem.is_empty() {
        r.insert("memory".to_owned(), Quantity(mem.to_owned()));
    }
    Some(ResourceRequirements {
        requests: Some(r),
        ..Default::default()
    })
}

fn container(cpu: &str, mem: &str) -> Container {
    Container {
        name: "c".into(),
        resources: requests(cpu, mem),
        ..Default::default()
    }
}

fn pod(name: &str, cpu: &str, mem: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![container(cpu, mem)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn offer(id: &str, agent: &str, host: &str, resources: Vec<Resource>) -> Offer {
    Offer {
        id: OfferId { value: id.into() },
        framework_id: FrameworkId { value: "fw".into() },
        agent_id: AgentId {
            value: agent.into(),
        },
        hostname: host.into(),
        resources,
        ..Default::default()
    }
}

fn std_offer(id: &str, agent: &str, cpus: f64, mem: f64) -> Offer {
    offer(
        id,
        agent,
        &format!("host-{agent}"),
        vec![
            build::scalar(CPUS, cpus, "*"),
            build::scalar(MEM, mem, "*"),
            build::ports(&[(31000, 31010)], "*"),
        ],
    )
}

/// `offer` with a text attribute, which its agent's Node labels carry.
fn with_attribute(mut offer: Offer, name: &str, value: &str) -> Offer {
    offer.attributes.push(kube_mesos_proto::v1::Attribute {
        name: name.into(),
        r#type: kube_mesos_proto::v1::value::Type::Text as i32,
        text: Some(kube_mesos_proto::v1::value::Text {
            value: value.into(),
        }),
        ..Default::default()
    });
    offer
}

fn view(offers: &[&Offer]) -> AgentView {
    AgentView::from_offers(offers).expect("view")
}

/// The FailedScheduling text without what preemption adds after it
/// (`placement_conformance` checks the whole text).
fn filters_said(u: &Unplaced) -> &str {
    u.message.split(" preemption: ").next().unwrap_or_default()
}

/// A binpack round without Nodes: only the offers decide.
fn binpack<'a>(pods: &[PodToPlace<'a>], agents: &mut [AgentView]) -> Outcome {
    binpack_on(pods, agents, &mut Snapshot::new())
}

/// A binpack round on these Nodes.
fn binpack_on<'a>(
    pods: &[PodToPlace<'a>],
    agents: &mut [AgentView],
    snap: &mut Snapshot<'a>,
) -> Outcome {
    place(pods, agents, snap, EXEC, PlacementPolicy::Binpack)
}

fn cand(p: &Pod) -> PodToPlace<'_> {
    PodToPlace::new(p, "*")
}

#[test]
fn a_fitting_pod_gets_its_requests_and_the_executor_its_share() {
    let o = std_offer("o1", "a1", 2.0, 1024.0);
    let p = pod("web", "1", "512Mi");
    let mut agents = vec![view(&[&o])];
    let out = binpack(&[cand(&p)], &mut agents);
    assert!(out.unplaced.is_empty(), "{:?}", out.unplaced);
    let pl = &out.placed[0];
    assert_eq!(scalar_sum(&pl.task_resources, CPUS), 1000);
    assert_eq!(scalar_sum(&pl.task_resources, MEM), 512_000);
    let exec = pl
        .executor_resources
        .as_ref()
        .expect("executor launched with the first pod");
    assert_eq!(scalar_sum(exec, CPUS), 100);
    assert_eq!(scalar_sum(exec, MEM), 64_000);
    assert_eq!(
        ports_in(exec).len(),
        1,
        "one port for the executor's endpoint"
    );
}

#[test]
fn init_container_max_rule_and_overhead() {
    // App containers: 0.5 + 0.5; an init container wants 2 → effective 2.
    let mut p = pod("init", "500m", "");
    let spec = p.spec.as_mut().expect("spec");
    spec.containers.push(container("500m", ""));
    spec.init_containers = Some(vec![container("2", "")]);
    let o = std_offer("o1", "a1", 2.0, 1024.0);
    let mut agents = vec![view(&[&o])];
    let out = binpack(&[cand(&p)], &mut agents);
    assert_eq!(
        filters_said(&out.unplaced[0]),
        "0/1 nodes are available: 1 Insufficient cpu offered by Mesos.",
        "2 cpus + executor 0.1 > 2 (no Node: only the offer decides)"
    );
    let o = std_offer("o2", "a2", 2.1, 1024.0);
    let mut agents = vec![view(&[&o])];
    let out = binpack(&[cand(&p)], &mut agents);
    assert_eq!(scalar_sum(&out.placed[0].task_resources, CPUS), 2000);

    // Overhead is added on top.
    let mut q = pod("ovh", "1", "100Mi");
    q.spec.as_mut().expect("spec").overhead = Some(BTreeMap::from([
        ("cpu".to_owned(), Quantity("250m".into())),
        ("memory".to_owned(), Quantity("28Mi".into())),
    ]));
    let o = std_offer("o3", "a3", 4.0, 1024.0);
    let mut agents = vec![view(&[&o])];
    let out = binpack(&[cand(&q)], &mut agents);
    assert_eq!(scalar_sum(&out.placed[0].task_resources, CPUS), 1250);
    assert_eq!(scalar_sum(&out.placed[0].task_resources, MEM), 128_000);
}

#[test]
fn sidecar_init_containers_add_to_the_app_sum() {
    let mut p = pod("sc", "1", "");
    let mut sidecar = container("500m", "");
    sidecar.restart_policy = Some("Always".into());
    p.spec.as_mut().expect("spec").init_containers = Some(vec![sidecar, container("1", "")]);
    let req = kube_mesos_framework::placement::requests::pod_request(&p);
    // app 1 + sidecar 0.5 = 1.5; init 1 + sidecar 0.5 = 1.5 → 1.5
    assert_eq!(req.milli_cpu, 1500);
}

#[test]
fn executor_resources_only_with_the_first_launch_on_an_agent() {
    let o = std_offer("o1", "a1", 4.0, 4096.0);
    let p1 = pod("p1", "1", "");
    let p2 = pod("p2", "1", "");
    let mut agents = vec![view(&[&o])];
    let out = binpack(&[cand(&p1), cand(&p2)], &mut agents);
    assert_eq!(out.placed.len(), 2);
    assert!(out.placed[0].executor_resources.is_some());
    assert!(out.placed[1].executor_resources.is_none());

    // An agent whose executor already runs: none at all.
    let mut agents = vec![view(&[&o])];
    agents[0].executor_needed = false;
    let out = binpack(&[cand(&p1)], &mut agents);
    assert!(out.placed[0].executor_resources.is_none());
}

fn with_host_port(mut p: Pod, port: i32) -> Pod {
    p.spec.as_mut().expect("spec").containers[0].ports = Some(vec![ContainerPort {
        container_port: 80,
        host_port: Some(port),
        ..Default::default()
    }]);
    p
}

#[test]
fn host_ports_must_be_offered_and_free() {
    let o = std_offer("o1", "a1", 4.0, 4096.0);
    let inside = with_host_port(pod("in", "100m", ""), 31005);
    let twin = with_host_port(pod("twin", "100m", ""), 31005);
    let outside = with_host_port(pod("out", "100m", ""), 8080);
    let mut agents = vec![view(&[&o])];
    let out = binpack(&[cand(&inside), cand(&twin), cand(&outside)], &mut agents);
    assert_eq!(out.placed.len(), 1);
    assert_eq!(ports_in(&out.placed[0].task_resources), vec![31005]);
    let exec_port = ports_in(out.placed[0].executor_resources.as_ref().expect("exec"));
    assert_ne!(exec_port, vec![31005], "the executor's port is another one");
    let msg =
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.";
    assert_eq!(
        filters_said(&out.unplaced[0]),
        msg,
        "collision with the first pod"
    );
    assert_eq!(
        filters_said(&out.unplaced[1]),
        msg,
        "not in the offered ranges"
    );

    // Ports used by pods already running on the agent are taken too.
    let mut agents = vec![view(&[&o])];
    let running = with_host_port(pod("running", "100m", ""), 31005);
    let mut snap = Snapshot::new();
    snap.add_pod("host-a1", PodInfo::new(&running));
    let out = binpack_on(&[cand(&inside)], &mut agents, &mut snap);
    assert_eq!(out.unplaced.len(), 1);
}

#[test]
fn node_name_selector_affinity_taints_and_unschedulable() {
    let oa = with_attribute(std_offer("oa", "a", 4.0, 4096.0), "disk", "ssd");
    let ob = std_offer("ob", "b", 4.0, 4096.0);
    let oc = std_offer("oc", "c", 4.0, 4096.0);
    let fresh = || vec![view(&[&oa]), view(&[&ob]), view(&[&oc])];
    // Taints and cordons come from the Nodes.
    let facts = |i: usize| NodeFacts {
        labels: fresh()[i].labels(),
        taints: if i == 1 {
            vec![Taint {
                key: "dedicated".into(),
                value: Some("gpu".into()),
                effect: "NoSchedule".into(),
                time_added: None,
            }]
        } else {
            Vec::new()
        },
        unschedulable: i == 2,
        allocatable: None,
    };
    let nodes: Vec<NodeFacts> = (0..3).map(facts).collect();
    let snap = || {
        let mut s = Snapshot::new();
        for (i, host) in ["host-a", "host-b", "host-c"].iter().enumerate() {
            s.add_node(host, Cow::Borrowed(&nodes[i]));
        }
        s
    };

    let mut named = pod("named", "100m", "");
    named.spec.as_mut().expect("spec").node_name = Some("host-b".into());
    let mut agents = fresh();
    let out = binpack_on(&[cand(&named)], &mut agents, &mut snap());
    assert_eq!(
        filters_said(&out.unplaced[0]),
        "0/3 nodes are available: 1 node(s) didn't match the requested node name, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable."
    );

    let mut sel = pod("sel", "100m", "");
    sel.spec.as_mut().expect("spec").node_selector =
        Some(BTreeMap::from([("disk".into(), "ssd".into())]));
    let mut agents = fresh();
    let out = binpack_on(&[cand(&sel)], &mut agents, &mut snap());
    assert_eq!(out.placed[0].agent_index, 0);

    let mut aff = pod("aff", "100m", "");
    aff.spec.as_mut().expect("spec").affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: "disk".into(),
                        operator: "NotIn".into(),
                        values: Some(vec!["ssd".into()]),
                    }]),
                    match_fields: None,
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut agents = fresh();
    let out = binpack_on(&[cand(&aff)], &mut agents, &mut snap());
    assert_eq!(
        filters_said(&out.unplaced[0]),
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable."
    );

    let mut tolerant = pod("tol", "100m", "");
    tolerant.spec.as_mut().expect("spec").tolerations = Some(vec![Toleration {
        key: Some("dedicated".into()),
        operator: Some("Equal".into()),
        value: Some("gpu".into()),
        effect: Some("NoSchedule".into()),
        toleration_seconds: None,
    }]);
    tolerant.spec.as_mut().expect("spec").node_name = Some("host-b".into());
    let mut agents = fresh();
    let out = binpack_on(&[cand(&tolerant)], &mut agents, &mut snap());
    assert_eq!(out.placed[0].agent_index, 1);

    let mut everything = pod("all", "100m", "");
    everything.spec.as_mut().expect("spec").tolerations = Some(vec![Toleration {
        operator: Some("Exists".into()),
        ..Default::default()
    }]);
    everything.spec.as_mut().expect("spec").node_name = Some("host-c".into());
    let mut agents = fresh();
    let out = binpack_on(&[cand(&everything)], &mut agents, &mut snap());
    assert_eq!(
        out.placed[0].agent_index, 2,
        "empty key + Exists tolerates the unschedulable taint"
    );
}

#[test]
fn failed_scheduling_message_counts_per_reason() {
    let small1 = with_attribute(std_offer("o1", "a1", 0.5, 4096.0), "zone", "x");
    let small2 = with_attribute(std_offer("o2", "a2", 0.5, 4096.0), "zone", "x");
    let labelled = std_offer("o3", "a3", 8.0, 4096.0);
    let mut p = pod("big", "2", "");
    p.spec.as_mut().expect("spec").node_selector =
        Some(BTreeMap::from([("zone".into(), "x".into())]));
    let mut agents = vec![view(&[&small1]), view(&[&small2]), view(&[&labelled])];
    let out = binpack(&[cand(&p)], &mut agents);
    assert_eq!(
        filters_said(&out.unplaced[0]),
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu offered by Mesos."
    );
    assert!(out.unplaced[0].might_fit_later);
    assert_eq!(out.unplaced[0].transient_on, vec![0, 1]);
}

#[test]
fn pods_of_one_round_sharing_a_selector_each_go_where_it_matches() {
    let offers = [
        std_offer("o1", "a1", 8.0, 4096.0),
        std_offer("o2", "a2", 8.0, 4096.0),
        std_offer("o3", "a3", 8.0, 4096.0),
    ];
    let offers: Vec<Offer> = offers
        .into_iter()
        .zip(["x", "y", "x"])
        .map(|(o, zone)| with_attribute(o, "zone", zone))
        .collect();
    let mut agents: Vec<_> = offers.iter().map(|o| view(&[o])).collect();
    let in_zone = |name: &str, zone: &str| {
        let mut p = pod(name, "3", "");
        p.spec.as_mut().expect("spec").node_selector =
            Some(BTreeMap::from([("zone".into(), zone.into())]));
        p
    };
    // Four pods for zone x: two fit on each of its agents, the fifth
    // finds no room; the zone y pod and the zone z pod between them judge
    // the same agents by their own selectors.
    let pods = [
        in_zone("x1", "x"),
        in_zone("y1", "y"),
        in_zone("x2", "x"),
        in_zone("z1", "z"),
        in_zone("x3", "x"),
        in_zone("x4", "x"),
        in_zone("x5", "x"),
    ];
    let cands: Vec<_> = pods.iter().map(cand).collect();
    let out = binpack(&cands, &mut agents);
    let zone_of = |i: usize| ["x", "y", "x"][i];
    let placed: Vec<(usize, &str)> = out
        .placed
        .iter()
        .map(|p| (p.pod_index, zone_of(p.agent_index)))
        .collect();
    assert_eq!(
        placed,
        [(0, "x"), (1, "y"), (2, "x"), (4, "x"), (5, "x")],
        "{out:?}"
    );
    let unplaced: Vec<(usize, String)> = out
        .unplaced
        .iter()
        .map(|u| (u.pod_index, filters_said(u).to_owned()))
        .collect();
    assert_eq!(
        unplaced,
        [
            (
                3,
                "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
                    .to_owned()
            ),
            (
                6,
                "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu offered by Mesos."
                    .to_owned()
            ),
        ]
    );
}

#[test]
fn several_pods_across_several_offers_of_one_agent() {
    let o1 = std_offer("o1", "a1", 1.0, 1024.0);
    let o2 = std_offer("o2", "a1", 1.0, 1024.0);
    let big = pod("big", "1500m", "");
    let small = pod("small", "300m", "");
    let mut agents = vec![view(&[&o1, &o2])];
    assert_eq!(agents[0].offer_ids.len(), 2);
    let out = binpack(&[cand(&big), cand(&small), cand(&small)], &mut agents);
    // 2 cpus: executor 0.1 + 1.5 + 0.3 = 1.9; the third does not fit.
    assert_eq!(out.placed.len(), 2);
    assert_eq!(scalar_sum(&out.placed[0].task_resources, CPUS), 1500);
    assert_eq!(out.unplaced.len(), 1);
}

#[test]
fn binpack_prefers_the_fuller_agent_and_spread_the_emptier() {
    let big = std_offer("o1", "big", 8.0, 8192.0);
    let small = std_offer("o2", "small", 2.0, 2048.0);
    let p = pod("p", "1", "512Mi");
    let mut agents = vec![view(&[&big]), view(&[&small])];
    let out = binpack(&[cand(&p)], &mut agents);
    assert_eq!(out.placed[0].agent_index, 1);
    let mut agents = vec![view(&[&big]), view(&[&small])];
    let out = place(
        &[cand(&p)],
        &mut agents,
        &mut Snapshot::new(),
        EXEC,
        PlacementPolicy::Spread,
    );
    assert_eq!(out.placed[0].agent_index, 0);
}

#[test]
fn roles_reserved_first_and_allocation_info_carried() {
    let o = offer(
        "o1",
        "a1",
        "h1",
        vec![
            build::scalar(CPUS, 4.0, "batch"),
            build::scalar(CPUS, 2.0, "web"),
            build::reserved(build::scalar(CPUS, 1.0, "web"), "web"),
            build::scalar(MEM, 1024.0, "web"),
            build::ports(&[(31000, 31001)], "web"),
        ],
    );
    let p = pod("p", "1500m", "");
    let mut agents = vec![view(&[&o])];
    agents[0].executor_needed = false;
    let c = PodToPlace::new(&p, "web");
    let out = binpack(&[c], &mut agents);
    let res = &out.placed[0].task_resources;
    assert_eq!(scalar_sum(res, CPUS), 1500);
    assert_eq!(reservation_role(&res[0]), Some("web"), "reserved first");
    assert_eq!(scalar_sum(&res[..1], CPUS), 1000);
    for r in res {
        assert_eq!(
            r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
            Some("web")
        );
    }

    // A pod of a role the agent has nothing for does not fit, even though
    // `batch` has plenty.
    let q = pod("q", "3500m", "");
    let mut agents = vec![view(&[&o])];
    agents[0].executor_needed = false;
    let c = PodToPlace::new(&q, "web");
    let out = binpack(&[c], &mut agents);
    assert_eq!(
        filters_said(&out.unplaced[0]),
        "0/1 nodes are available: 1 Insufficient cpu offered by Mesos."
    );
}

#[test]
fn only_agent_restricts_relaunches() {
    let oa = std_offer("oa", "a", 4.0, 4096.0);
    let ob = std_offer("ob", "b", 8.0, 8192.0);
    let p = pod("p", "1", "");
    let mut agents = vec![view(&[&oa]), view(&[&ob])];
    let mut c = PodToPlace::new(&p, "*");
    c.only_agent = Some(AgentId { value: "b".into() });
    let out = binpack(&[c], &mut agents);
    assert_eq!(out.placed[0].agent_index, 1);
}

#[test]
fn agent_labels_from_an_offer() {
    let mut o = std_offer("o", "a", 1.0, 1.0);
    o.hostname = "node-1.example".into();
    o.attributes = vec![
        Attribute {
            name: "rack".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text { value: "r1".into() }),
            ..Default::default()
        },
        Attribute {
            name: "gen".into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: 5.0 }),
            ..Default::default()
        },
    ];
    o.domain = Some(DomainInfo {
        fault_domain: Some(domain_info::FaultDomain {
            region: domain_info::fault_domain::RegionInfo { name: "eu".into() },
            zone: domain_info::fault_domain::ZoneInfo {
                name: "eu-1a".into(),
            },
        }),
    });
    let l = view(&[&o]).labels();
    assert_eq!(l["kubernetes.io/hostname"], "node-1.example");
    assert_eq!(l["kubernetes.io/os"], "linux");
    assert_eq!(l["rack"], "r1");
    assert_eq!(l["gen"], "5");
    assert_eq!(l["topology.kubernetes.io/region"], "eu");
    assert_eq!(l["topology.kubernetes.io/zone"], "eu-1a");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the pods ask, what one round carves from an agent
        /// (tasks and executor together) never exceeds its offers, and no
        /// port is handed out twice.
        #[test]
        fn a_round_never_carves_more_than_offered(
            agents_cpus in proptest::collection::vec(0.0f64..6.0, 1..4),
            pods in proptest::collection::vec((1u32..3000, 1u32..2048, proptest::option::of(31000i32..31012)), 1..12),
            spread in any::<bool>(),
        ) {
            let offers: Vec<Offer> = agents_cpus
                .iter()
                .enumerate()
                .map(|(i, &c)| std_offer(&format!("o{i}"), &format!("a{i}"), c, 2048.0))
                .collect();
            let pods: Vec<Pod> = pods
                .iter()
                .enumerate()
                .map(|(i, &(cpu, mem, port))| {
                    let p = pod(&format!("p{i}"), &format!("{cpu}m"), &format!("{mem}Mi"));
                    match port {
                        Some(port) => with_host_port(p, port),
                        None => p,
                    }
                })
                .collect();
            let mut agents: Vec<AgentView> = offers.iter().map(|o| view(&[o])).collect();
            let cands: Vec<PodToPlace<'_>> = pods.iter().map(cand).collect();
            let policy = if spread { PlacementPolicy::Spread } else { PlacementPolicy::Binpack };
            let out = place(&cands, &mut agents, &mut Snapshot::new(), EXEC, policy);
            prop_assert_eq!(out.placed.len() + out.unplaced.len(), pods.len());
            for (ai, o) in offers.iter().enumerate() {
                let mut carved: Vec<Resource> = Vec::new();
                for p in out.placed.iter().filter(|p| p.agent_index == ai) {
                    carved.extend(p.task_resources.iter().cloned());
                    carved.extend(p.executor_resources.iter().flatten().cloned());
                }
                prop_assert!(scalar_sum(&carved, CPUS) <= scalar_sum(&o.resources, CPUS));
                prop_assert!(scalar_sum(&carved, MEM) <= scalar_sum(&o.resources, MEM));
                let mut ports = ports_in(&carved);
                let n = ports.len();
                ports.sort_unstable();
                ports.dedup();
                prop_assert_eq!(n, ports.len());
                prop_assert!(ports.iter().all(|p| (31000..=31010).contains(p)));
            }
        }
    }
}

/// The Node the framework writes for an agent offering `offer`'s
/// resources, with the executor's share set aside.
fn node_of(offer: &Offer) -> NodeFacts {
    let agent = kube_mesos_proto::v1::AgentInfo {
        hostname: offer.hostname.clone(),
        id: Some(offer.agent_id.clone()),
        resources: offer.resources.clone(),
        ..Default::default()
    };
    let executor = vec![build::scalar(CPUS, 0.1, "*"), build::scalar(MEM, 64.0, "*")];
    let node = kube_mesos_framework::nodes::agent_node::node_for_agent(
        &agent,
        &offer.resources,
        &executor,
        k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
    );
    NodeFacts::from_node(&node)
}

/// A snapshot holding the one Node `host-a1`.
fn on_node(node: &NodeFacts) -> Snapshot<'_> {
    let mut snap = Snapshot::new();
    snap.add_node("host-a1", Cow::Borrowed(node));
    snap
}

/// Regression (issue 22): 200 pods of cpu 1m on a 2-cpu agent. Each task
/// once cost at least 0.01 cpu, so 190 ran, 10 stayed Pending with
/// "Insufficient cpu" next to a Node showing 0.19 cpu requested, and the
/// Node's `pods: 110` was not enforced. Now a task carries exactly its
/// request, and the 111th pod gets kube-scheduler's "Too many pods".
#[test]
fn two_hundred_tiny_pods_stop_at_the_nodes_pod_count() {
    let o = std_offer("o1", "a1", 2.0, 2048.0);
    let node = node_of(&o);
    assert_eq!(node.allocatable.as_ref().map(|a| a.pods), Some(110));
    let pods: Vec<Pod> = (0..200)
        .map(|i| pod(&format!("tiny-{i}"), "1m", ""))
        .collect();
    let cands: Vec<PodToPlace<'_>> = pods.iter().map(cand).collect();
    let mut agents = vec![view(&[&o])];
    let mut snap = on_node(&node);
    let out = binpack_on(&cands, &mut agents, &mut snap);
    assert_eq!(out.placed.len(), 110);
    for p in &out.placed {
        assert_eq!(
            scalar_sum(&p.task_resources, CPUS),
            1,
            "exactly the request"
        );
    }
    assert_eq!(out.unplaced.len(), 90);
    assert!(
        out.unplaced[0]
            .message
            .starts_with("0/1 nodes are available: 1 Too many pods."),
        "{}",
        filters_said(&out.unplaced[0])
    );
    let i = snap.index_of("host-a1").expect("node");
    assert_eq!(
        snap.node(i).requested.milli_cpu,
        110,
        "what kubectl describe node adds up"
    );
}

/// A pod that requests nothing still needs a Mesos resource: the floor of
/// 0.001 cpu, which the Node's allocatable sets aside per pod slot.
#[test]
fn best_effort_pods_carry_the_cpu_floor() {
    let o = std_offer("o1", "a1", 1.0, 1024.0);
    let p = pod("be", "", "");
    let mut agents = vec![view(&[&o])];
    let out = binpack(&[cand(&p)], &mut agents);
    assert_eq!(scalar_sum(&out.placed[0].task_resources, CPUS), 1);
    assert_eq!(scalar_sum(&out.placed[0].task_resources, MEM), 0);
    // Memory alone is a resource: no cpu floor then.
    let m = pod("mem-only", "", "64Mi");
    let mut agents = vec![view(&[&o])];
    let out = binpack(&[cand(&m)], &mut agents);
    assert_eq!(scalar_sum(&out.placed[0].task_resources, CPUS), 0);
}

/// Kubernetes' books (the Node) decide with kube-scheduler's words; Mesos'
/// (the offer) add their own reason only when they hold less, e.g. when
/// another framework uses the agent.
#[test]
fn the_nodes_books_and_the_offers_each_have_their_reason() {
    let o = std_offer("o1", "a1", 2.0, 2048.0);
    let node = node_of(&o);
    // 1790m allocatable: 1.8 cpus do not fit the Node.
    let big = pod("big", "1800m", "");
    let mut agents = vec![view(&[&o])];
    let mut snap = on_node(&node);
    let out = binpack_on(&[cand(&big)], &mut agents, &mut snap);
    assert_eq!(
        filters_said(&out.unplaced[0]),
        "0/1 nodes are available: 1 Insufficient cpu."
    );
    // The Node has room for 1 cpu, but Spark holds most of the agent: the
    // offer has 0.5 cpus.
    let mid = pod("mid", "1", "");
    let busy = std_offer("o2", "a1", 0.5, 2048.0);
    let mut agents = vec![view(&[&busy])];
    let mut snap = on_node(&node);
    let out = binpack_on(&[cand(&mid)], &mut agents, &mut snap);
    assert_eq!(
        filters_said(&out.unplaced[0]),
        "0/1 nodes are available: 1 Insufficient cpu offered by Mesos."
    );
}

#[test]
fn extended_resources_are_counted_on_the_node_and_carved_from_the_offer() {
    let mut o = std_offer("o1", "a1", 4.0, 4096.0);
    o.resources
        .push(build::scalar("example.com/dongle", 1.0, "*"));
    let node = node_of(&o);
    let mut p = pod("d", "100m", "");
    p.spec.as_mut().expect("spec").containers[0]
        .resources
        .as_mut()
        .expect("resources")
        .requests
        .as_mut()
        .expect("requests")
        .insert("example.com/dongle".into(), Quantity("1".into()));
    let twin = {
        let mut t = p.clone();
        t.metadata.name = Some("d2".into());
        t
    };
    let mut agents = vec![view(&[&o])];
    let mut snap = on_node(&node);
    let out = binpack_on(&[cand(&p), cand(&twin)], &mut agents, &mut snap);
    assert_eq!(out.placed.len(), 1);
    assert_eq!(
        scalar_sum(&out.placed[0].task_resources, "example.com/dongle"),
        1000
    );
    assert_eq!(
        filters_said(&out.unplaced[0]),
        "0/1 nodes are available: 1 Insufficient example.com/dongle."
    );
}
