//! The scheduler core alone placing a queue of pods on thousands of
//! agents: no API server, no master, no sockets — what the framework's own
//! logic costs per pod (the wall-clock time of its calls, on one thread:
//! run it on a quiet machine, compare builds back to back), its page
//! faults, and a process to profile
//! (`perf record`) without the harness that shares the machine in
//! `scripts/bench`'s placement scenario.
//!
//! The inputs are what the shell feeds in that scenario: the agents' Nodes
//! (a tenth with `disk=ssd` and a NoSchedule taint), the pending pods
//! (the same mix: four request sizes, a tenth with a nodeSelector and its
//! toleration, a twentieth with a hostPort), offers of what each agent has
//! left (a master that honours refuse filters, SUPPRESS and REVIVE), the
//! Bindings' outcomes, the watch's copies of each bound pod, TASK_RUNNING,
//! and the Running pod.
//!
//! `cargo bench -p kube-mesos-framework --bench core_rounds` runs 5,000
//! agents and 30,000 pods (`-- AGENTS PODS` for others); under
//! `cargo test` it runs a small size and checks only that every pod was
//! placed once.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant as WallInstant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube_mesos_framework::core::{
    reconcile_gate, Action, BindOutcome, CoreConfig, Input, Instant, SchedulerCore,
};
use kube_mesos_framework::resources::{build, from_milli, ports_in, scalar_sum, CPUS, DISK, MEM};
use kube_mesos_proto::v1::{
    task_status, value, AgentId, Attribute, FrameworkId, Offer, OfferId, Resource, TaskState,
    TaskStatus,
};

// The framework's allocator, as `kube-mesos framework` runs it.
#[global_allocator]
static ALLOCATOR: kube_mesos_framework::memory::allocator::Chosen =
    kube_mesos_framework::memory::allocator::Chosen;

const AGENT_CPUS: f64 = 8.0;
const AGENT_MEM: f64 = 32768.0;
const PORT_RANGE: (u64, u64) = (31000, 32000);

fn main() {
    kube_mesos_framework::memory::allocator::use_mimalloc();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let (agents, pods) = match (sizes.as_slice(), full) {
        ([a, p, ..], _) => (*a, *p),
        (_, true) => (5_000, 30_000),
        _ => (100, 300),
    };
    let run = Run::new(agents, pods);
    let faults_before = minor_faults();
    let figures = run.place_all();
    let faults = minor_faults().saturating_sub(faults_before);
    println!(
        "core_rounds: {pods} pods on {agents} agents: {:.1} µs of the core per pod \
         ({:.2} s in all, {} ACCEPTs, {:.0} pods/s of core time, {:.1} page faults per pod)",
        figures.core.as_secs_f64() * 1e6 / pods as f64,
        figures.core.as_secs_f64(),
        figures.accepts,
        pods as f64 / figures.core.as_secs_f64(),
        faults as f64 / pods as f64,
    );
    // A round runs within whichever input finds it due (a tick, offers, a
    // Binding's answer, a pod's update), so this splits by the input, not
    // by the work.
    println!("  the core's time by the input it handled:");
    let mut kinds: Vec<_> = figures.by_input.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1));
    for (kind, spent) in kinds {
        println!(
            "  {kind:<12} {:>8.1} µs per pod",
            spent.as_secs_f64() * 1e6 / pods as f64
        );
    }
    assert_eq!(figures.placed, pods, "every pod placed");
    assert_eq!(figures.launched_twice, 0, "no pod launched twice");
}

/// This process's minor page faults so far (`/proc/self/stat`, field 10):
/// pages touched for the first time, or again after the allocator gave
/// them back. Counted over the whole run, the simulation's few included.
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis, from field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .nth(7)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

struct Figures {
    core: Duration,
    by_input: BTreeMap<&'static str, Duration>,
    accepts: usize,
    placed: usize,
    launched_twice: usize,
}

#[derive(Default)]
struct Tally {
    bound: usize,
    accepts: usize,
    /// Launches per task ID.
    launched: HashMap<String, usize>,
}

/// What the simulated master knows of an agent.
struct Agent {
    id: String,
    hostname: String,
    ssd: bool,
    cpus: f64,
    mem: f64,
    used_ports: BTreeSet<u64>,
    executor: bool,
    offered: bool,
    refused_until: Option<Instant>,
}

struct Run {
    core: SchedulerCore,
    now: Instant,
    agents: Vec<Agent>,
    pods: HashMap<String, Pod>,
    suppressed: bool,
    offer_seq: u64,
    by_input: BTreeMap<&'static str, Duration>,
    spent: Duration,
}

impl Run {
    fn new(agents: usize, pods: usize) -> Run {
        let agents: Vec<Agent> = (0..agents)
            .map(|i| Agent {
                id: format!("agent-id-{i}"),
                hostname: format!("agent-{i}"),
                ssd: i % 10 == 9,
                cpus: AGENT_CPUS,
                mem: AGENT_MEM,
                used_ports: BTreeSet::new(),
                executor: false,
                offered: false,
                refused_until: None,
            })
            .collect();
        let pods = (0..pods)
            .map(|i| {
                let p = pending_pod(i);
                (p.metadata.uid.clone().unwrap_or_default(), p)
            })
            .collect();
        Run {
            core: SchedulerCore::new(CoreConfig::default()),
            now: Instant::now(),
            agents,
            pods,
            suppressed: false,
            offer_seq: 0,
            by_input: BTreeMap::new(),
            spent: Duration::ZERO,
        }
    }

    fn feed(&mut self, kind: &'static str, input: Input) -> Vec<Action> {
        let start = WallInstant::now();
        let mut out = self.core.handle(input, self.now);
        for answer in reconcile_gate::master_answers(&out) {
            out.extend(
                self.core
                    .handle(Input::TaskUpdate(Box::new(answer)), self.now),
            );
        }
        let spent = start.elapsed();
        self.spent += spent;
        *self.by_input.entry(kind).or_default() += spent;
        out
    }

    fn place_all(mut self) -> Figures {
        let nodes: Vec<Node> = self.agents.iter().map(node).collect();
        for n in nodes {
            self.feed("node", Input::NodeUpserted(Box::new(n)));
        }
        let mut queued: Vec<Pod> = self.pods.values().cloned().collect();
        queued.sort_by_key(|p| p.metadata.name.clone());
        for p in queued {
            self.feed("pod", Input::PodUpserted(Box::new(p)));
        }
        self.feed("pod", Input::PodsSynced);
        let subscribed = Input::Subscribed {
            framework_id: FrameworkId {
                value: "fw-bench".into(),
            },
        };
        let actions = self.feed("subscribed", subscribed);
        let mut tally = Tally::default();
        self.perform(actions, &mut tally);

        let total = self.pods.len();
        let step = Duration::from_millis(10);
        // Simulated time; a stuck run ends instead of looping.
        for _ in 0..100_000 {
            if tally.bound == total {
                break;
            }
            self.now += step;
            let offers = self.offers();
            let mut actions = if offers.is_empty() {
                Vec::new()
            } else {
                self.feed("offers", Input::Offers(offers))
            };
            actions.extend(self.feed("tick", Input::Tick));
            self.perform(actions, &mut tally);
        }
        Figures {
            core: self.spent,
            by_input: self.by_input,
            accepts: tally.accepts,
            placed: tally.bound,
            launched_twice: tally.launched.values().filter(|&&n| n > 1).count(),
        }
    }

    /// Performs the core's actions as the shell would, and what they lead
    /// to: the master's part, each Binding's answer and the watch and task
    /// updates that follow it (whose actions are performed in turn).
    fn perform(&mut self, actions: Vec<Action>, tally: &mut Tally) {
        let mut todo: VecDeque<Action> = actions.into();
        while let Some(action) = todo.pop_front() {
            match action {
                Action::Bind {
                    pod,
                    node_name,
                    annotations,
                } => {
                    tally.bound += 1;
                    todo.extend(self.bound(&pod.uid, node_name, annotations));
                }
                other => {
                    if matches!(other, Action::Accept { .. }) {
                        tally.accepts += 1;
                    }
                    for task in self.master(other) {
                        *tally.launched.entry(task).or_default() += 1;
                    }
                }
            }
        }
    }

    /// A Binding that succeeded, then what the watch and the agent tell:
    /// the bound pod, TASK_RUNNING, the Running pod. Returns the core's
    /// actions.
    fn bound(
        &mut self,
        uid: &str,
        node_name: String,
        annotations: BTreeMap<String, String>,
    ) -> Vec<Action> {
        let result = Input::BindResult {
            pod_uid: uid.to_owned(),
            result: BindOutcome::Bound,
        };
        let mut out = self.feed("bind", result);
        let Some(mut pod) = self.pods.get(uid).cloned() else {
            return out;
        };
        pod.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .extend(annotations);
        pod.spec.as_mut().expect("spec").node_name = Some(node_name);
        out.extend(self.feed("pod", Input::PodUpserted(Box::new(pod.clone()))));
        let annotation = |key: &str| {
            pod.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .cloned()
                .unwrap_or_default()
        };
        let task = annotation(kube_mesos_framework::core::ANNOTATION_TASK_ID);
        let agent = annotation(kube_mesos_framework::core::ANNOTATION_AGENT_ID);
        let update = TaskStatus {
            task_id: kube_mesos_proto::v1::TaskId { value: task },
            state: TaskState::TaskRunning as i32,
            source: Some(task_status::Source::Executor as i32),
            agent_id: Some(AgentId { value: agent }),
            uuid: Some(uid.as_bytes().to_vec()),
            ..Default::default()
        };
        out.extend(self.feed("task_update", Input::TaskUpdate(Box::new(update))));
        let status = pod.status.get_or_insert_with(Default::default);
        status.phase = Some("Running".into());
        out.extend(self.feed("pod", Input::PodUpserted(Box::new(pod))));
        out
    }

    /// One offer per agent that has none out, is not filtered and has
    /// something left, unless the framework suppressed offers.
    fn offers(&mut self) -> Vec<Offer> {
        if self.suppressed {
            return Vec::new();
        }
        let now = self.now;
        let mut out = Vec::new();
        for a in &mut self.agents {
            if a.offered || a.refused_until.is_some_and(|t| t > now) || a.cpus < 0.05 {
                continue;
            }
            self.offer_seq += 1;
            a.offered = true;
            out.push(offer_of(a, self.offer_seq));
        }
        out
    }

    /// What the master does with a call of the core; returns the task IDs
    /// launched.
    fn master(&mut self, action: Action) -> Vec<String> {
        let now = self.now;
        let mut launched = Vec::new();
        {
            match action {
                Action::Accept {
                    offer_ids,
                    operations,
                    filters,
                } => {
                    let Some(agent) = self.agent_of(&offer_ids) else {
                        return launched;
                    };
                    for op in operations.iter().filter_map(|o| o.launch.as_ref()) {
                        for task in &op.task_infos {
                            take(agent, &task.resources);
                            if let Some(e) = &task.executor {
                                if !agent.executor {
                                    take(agent, &e.resources);
                                    agent.executor = true;
                                }
                            }
                            launched.push(task.task_id.value.clone());
                        }
                    }
                    refuse(agent, now, filters.refuse_seconds);
                }
                Action::Decline { offer_ids, filters } => {
                    for id in &offer_ids {
                        if let Some(agent) = self.agent_of(std::slice::from_ref(id)) {
                            refuse(agent, now, filters.refuse_seconds);
                        }
                    }
                }
                Action::Suppress { .. } => self.suppressed = true,
                Action::Revive { .. } => {
                    self.suppressed = false;
                    for a in &mut self.agents {
                        a.refused_until = None;
                    }
                }
                _ => {}
            }
        }
        launched
    }

    fn agent_of(&mut self, offer_ids: &[OfferId]) -> Option<&mut Agent> {
        let id = offer_ids.first()?;
        // Offer IDs are `<agent index>-<sequence>`.
        let index: usize = id.value.split('-').next()?.parse().ok()?;
        self.agents.get_mut(index)
    }
}

fn refuse(agent: &mut Agent, now: Instant, seconds: Option<f64>) {
    agent.offered = false;
    let seconds = seconds.unwrap_or(5.0);
    agent.refused_until = (seconds > 0.0).then(|| now + Duration::from_secs_f64(seconds));
}

fn take(agent: &mut Agent, resources: &[Resource]) {
    agent.cpus -= from_milli(scalar_sum(resources, CPUS));
    agent.mem -= from_milli(scalar_sum(resources, MEM));
    agent.used_ports.extend(ports_in(resources));
}

fn offer_of(a: &Agent, seq: u64) -> Offer {
    let index = a.hostname.trim_start_matches("agent-");
    let mut free_ranges = Vec::new();
    let mut start: Option<u64> = None;
    for port in PORT_RANGE.0..=PORT_RANGE.1 + 1 {
        let free = port <= PORT_RANGE.1 && !a.used_ports.contains(&port);
        match (free, start) {
            (true, None) => start = Some(port),
            (false, Some(s)) => {
                free_ranges.push((s, port - 1));
                start = None;
            }
            _ => {}
        }
    }
    let mut resources = vec![
        build::scalar(CPUS, (a.cpus * 1000.0).round() / 1000.0, "*"),
        build::scalar(MEM, a.mem.floor(), "*"),
        build::scalar(DISK, 100_000.0, "*"),
    ];
    if !free_ranges.is_empty() {
        resources.push(build::ports(&free_ranges, "*"));
    }
    let attributes = if a.ssd {
        ["disk", "rack"]
            .iter()
            .zip(["ssd", "r1"])
            .map(|(name, v)| Attribute {
                name: (*name).into(),
                r#type: value::Type::Text as i32,
                text: Some(value::Text { value: v.into() }),
                ..Default::default()
            })
            .collect()
    } else {
        Vec::new()
    };
    Offer {
        id: OfferId {
            value: format!("{index}-{seq}"),
        },
        framework_id: FrameworkId {
            value: "fw-bench".into(),
        },
        agent_id: AgentId {
            value: a.id.clone(),
        },
        hostname: a.hostname.clone(),
        resources,
        attributes,
        executor_ids: if a.executor {
            vec![CoreConfig::default().executor.executor_id()]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

/// The Node the framework registers for an agent, with the operator's
/// taint on the `disk=ssd` ones.
fn node(a: &Agent) -> Node {
    let mut labels = serde_json::json!({ "kubernetes.io/hostname": a.hostname });
    let mut spec = serde_json::json!({});
    if a.ssd {
        labels["disk"] = "ssd".into();
        labels["rack"] = "r1".into();
        spec["taints"] =
            serde_json::json!([{ "key": "disk", "value": "ssd", "effect": "NoSchedule" }]);
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": a.hostname, "labels": labels },
        "spec": spec,
        "status": {
            "allocatable": { "cpu": "8", "memory": "32Gi", "pods": "110" },
            "capacity": { "cpu": "8", "memory": "32Gi", "pods": "110" },
            "conditions": [{ "type": "Ready", "status": "True" }],
        },
    }))
    .expect("a valid Node")
}

/// The placement scenario's pod number `i`.
fn pending_pod(i: usize) -> Pod {
    let cpus = ["100m", "250m", "500m", "1"];
    let mems = ["128Mi", "256Mi", "512Mi", "1Gi"];
    let mut container = serde_json::json!({
        "name": "c",
        "image": "busybox",
        "imagePullPolicy": "IfNotPresent",
        "command": ["sleep", "3600"],
        "resources": { "requests": { "cpu": cpus[i % 4], "memory": mems[(i / 4) % 4] } },
    });
    if i % 20 == 7 {
        let port = 31500 + (i / 20 % 50);
        container["ports"] = serde_json::json!([{ "containerPort": port, "hostPort": port }]);
    }
    let mut spec = serde_json::json!({
        "schedulerName": "kube-mesos",
        "terminationGracePeriodSeconds": 1,
        "containers": [container],
    });
    if i % 10 == 3 {
        spec["nodeSelector"] = serde_json::json!({ "disk": "ssd" });
        spec["tolerations"] = serde_json::json!([
            { "key": "disk", "operator": "Equal", "value": "ssd", "effect": "NoSchedule" }
        ]);
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("p{i}"),
            "namespace": "default",
            "uid": format!("00000000-0000-0000-0000-{i:012}"),
            "resourceVersion": format!("{}", i + 1),
            "creationTimestamp": "2026-12-06T00:00:00Z",
            "labels": { "app": "bench" },
        },
        "spec": spec,
        "status": { "phase": "Pending", "qosClass": "Burstable" },
    }))
    .expect("a valid pod")
}
