//! The pod's API status, computed purely from the runner's state, as the
//! kubelet writes it (`kubelet_pods.go` generateAPIPodStatus / getPhase /
//! convertToAPIContainerStatuses and `status/generate.go`).
//!
//! Pure on purpose: the status writer (API server) and the Mesos side both
//! derive what they report from this one function, and it is tested without
//! any runtime. The previous status is an input so that `lastTransitionTime`
//! stays put while a condition does not change, conditions the kubelet does
//! not own (readiness gates, DisruptionTarget) are kept, and a terminal phase
//! never goes back.
//!
//! Restartable init containers (sidecars) follow the kubelet's separate
//! rules in phase and conditions. Not covered: pod-level resources for QoS.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::pod::machine::{Container, PodState, Run, Stage, Termination};
use kube_mesos_node::quantity;

/// Kubelet condition reasons (`status/generate.go`).
pub const CONTAINERS_NOT_READY: &str = "ContainersNotReady";
/// Init containers not done.
pub const CONTAINERS_NOT_INITIALIZED: &str = "ContainersNotInitialized";
/// All containers succeeded.
pub const POD_COMPLETED: &str = "PodCompleted";
/// The pod failed.
pub const POD_FAILED: &str = "PodFailed";
/// A readiness gate is not True.
pub const READINESS_GATES_NOT_READY: &str = "ReadinessGatesNotReady";

const KUBELET_CONDITIONS: [&str; 5] = [
    "PodScheduled",
    "Ready",
    "Initialized",
    "ContainersReady",
    "PodReadyToStartContainers",
];

/// Node facts the status needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// The node's IP (`status.hostIP`).
    pub host_ip: Option<String>,
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

fn terminated(t: &Termination) -> core::ContainerStateTerminated {
    core::ContainerStateTerminated {
        exit_code: t.exit_code,
        reason: Some(t.reason.clone()),
        message: t.message.clone(),
        started_at: t.started_at.map(time),
        finished_at: Some(time(t.finished_at)),
        container_id: (!t.id.is_empty()).then(|| t.id.clone()),
        signal: None,
    }
}

fn container_status(c: &Container, scheme: &str) -> core::ContainerStatus {
    let with_scheme = |id: &str| format!("{scheme}://{id}");
    let (state, id) = match &c.run {
        Run::Waiting {
            reason, message, ..
        } => (
            core::ContainerState {
                waiting: Some(core::ContainerStateWaiting {
                    reason: Some(reason.clone()),
                    message: message.clone(),
                }),
                ..Default::default()
            },
            None,
        ),
        Run::Starting => (
            core::ContainerState {
                waiting: Some(core::ContainerStateWaiting {
                    reason: Some("ContainerCreating".into()),
                    message: None,
                }),
                ..Default::default()
            },
            None,
        ),
        Run::Running { id, started_at, .. } | Run::Stopping { id, started_at, .. } => (
            core::ContainerState {
                running: Some(core::ContainerStateRunning {
                    started_at: Some(time(*started_at)),
                }),
                ..Default::default()
            },
            Some(id.clone()),
        ),
        Run::Exited(t) => {
            let mut term = terminated(t);
            term.container_id = term.container_id.map(|i| with_scheme(&i));
            (
                core::ContainerState {
                    terminated: Some(term),
                    ..Default::default()
                },
                (!t.id.is_empty()).then(|| t.id.clone()),
            )
        }
    };
    let last_state = match &c.last_state {
        Some(t) => {
            let mut term = terminated(t);
            term.container_id = term.container_id.map(|i| with_scheme(&i));
            core::ContainerState {
                terminated: Some(term),
                ..Default::default()
            }
        }
        None => core::ContainerState::default(),
    };
    let running = matches!(c.run, Run::Running { .. } | Run::Stopping { .. });
    core::ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: String::new(),
        container_id: id.map(|i| with_scheme(&i)),
        state: Some(state),
        last_state: Some(last_state),
        ready: c.ready(),
        started: Some(running && c.started),
        restart_count: i32::try_from(c.restart_count).unwrap_or(i32::MAX),
        ..Default::default()
    }
}

fn is_running(s: &core::ContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.running.is_some())
}

fn terminated_of(s: &core::ContainerStatus) -> Option<&core::ContainerStateTerminated> {
    s.state.as_ref().and_then(|st| st.terminated.as_ref())
}

fn last_terminated(s: &core::ContainerStatus) -> Option<&core::ContainerStateTerminated> {
    s.last_state.as_ref().and_then(|st| st.terminated.as_ref())
}

fn is_waiting(s: &core::ContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.waiting.is_some())
}

/// Kubelet `getPhase`. `sidecars[i]` says whether `init[i]` is a
/// restartable init container.
pub fn phase(
    restart_policy: &str,
    init: &[core::ContainerStatus],
    sidecars: &[bool],
    app: &[core::ContainerStatus],
    pod_is_terminal: bool,
) -> &'static str {
    let mut pending_init = 0;
    let mut failed_init = 0;
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for (s, sidecar) in init
        .iter()
        .zip(sidecars.iter().chain(std::iter::repeat(&false)))
    {
        if *sidecar {
            if is_running(s) {
                if s.started != Some(true) {
                    pending_init += 1;
                }
                running += 1;
            } else if terminated_of(s).is_none() && last_terminated(s).is_none() {
                // Waiting (or unknown) and never ran.
                pending_init += 1;
                if is_waiting(s) {
                    waiting += 1;
                }
            }
            continue;
        }
        if is_running(s) {
            pending_init += 1;
        } else if let Some(t) = terminated_of(s) {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if is_waiting(s) {
            match last_terminated(s) {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
        }
    }
    for s in app {
        if is_running(s) {
            running += 1;
        } else if let Some(t) = terminated_of(s) {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if is_waiting(s) {
            if last_terminated(s).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        }
    }
    let any_regular_started = app
        .iter()
        .any(|s| is_running(s) || terminated_of(s).is_some() || last_terminated(s).is_some());
    if failed_init > 0 && restart_policy == "Never" {
        return "Failed";
    }
    if (pending_init > 0 && !any_regular_started) || waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if pod_is_terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if restart_policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if restart_policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn cond(
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
) -> core::PodCondition {
    core::PodCondition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.map(str::to_string),
        message,
        ..Default::default()
    }
}

/// `fmt.Sprintf("%s", []string{...})` as Go prints it: `[a b]`.
fn go_list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

fn containers_ready(
    init: &[core::ContainerStatus],
    sidecars: &[bool],
    app: &[core::ContainerStatus],
    phase: &str,
) -> core::PodCondition {
    if phase == "Succeeded" {
        return cond("ContainersReady", false, Some(POD_COMPLETED), None);
    }
    if phase == "Failed" {
        return cond("ContainersReady", false, Some(POD_FAILED), None);
    }
    let unready: Vec<String> = init
        .iter()
        .zip(sidecars)
        .filter(|(_, sidecar)| **sidecar)
        .map(|(s, _)| s)
        .chain(app)
        .filter(|s| !s.ready)
        .map(|s| s.name.clone())
        .collect();
    if unready.is_empty() {
        cond("ContainersReady", true, None, None)
    } else {
        cond(
            "ContainersReady",
            false,
            Some(CONTAINERS_NOT_READY),
            Some(format!(
                "containers with unready status: {}",
                go_list(&unready)
            )),
        )
    }
}

fn ready(
    pod: &core::Pod,
    kept: &[core::PodCondition],
    containers_ready: &core::PodCondition,
) -> core::PodCondition {
    if containers_ready.status != "True" {
        let mut c = containers_ready.clone();
        c.type_ = "Ready".into();
        return c;
    }
    let mut msgs = Vec::new();
    for gate in pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .into_iter()
        .flatten()
    {
        match kept.iter().find(|c| c.type_ == gate.condition_type) {
            None => msgs.push(format!(
                "corresponding condition of pod readiness gate {:?} does not exist.",
                gate.condition_type
            )),
            Some(c) if c.status != "True" => msgs.push(format!(
                "the status of pod readiness gate {:?} is not \"True\", but {}",
                gate.condition_type, c.status
            )),
            Some(_) => {}
        }
    }
    if msgs.is_empty() {
        cond("Ready", true, None, None)
    } else {
        cond(
            "Ready",
            false,
            Some(READINESS_GATES_NOT_READY),
            Some(msgs.join(", ")),
        )
    }
}

fn initialized(
    init: &[core::ContainerStatus],
    sidecars: &[bool],
    app: &[core::ContainerStatus],
    phase: &str,
) -> core::PodCondition {
    if phase == "Succeeded" {
        return cond("Initialized", true, Some(POD_COMPLETED), None);
    }
    let any_regular_started = app
        .iter()
        .any(|s| is_running(s) || terminated_of(s).is_some() || last_terminated(s).is_some());
    if any_regular_started {
        return cond("Initialized", true, None, None);
    }
    // A regular init container is done when ready (exited 0), a sidecar
    // when started.
    let incomplete: Vec<String> = init
        .iter()
        .zip(sidecars.iter().chain(std::iter::repeat(&false)))
        .filter(|(s, sidecar)| {
            if **sidecar {
                s.started != Some(true)
            } else {
                !s.ready
            }
        })
        .map(|(s, _)| s.name.clone())
        .collect();
    if incomplete.is_empty() {
        cond("Initialized", true, None, None)
    } else {
        cond(
            "Initialized",
            false,
            Some(CONTAINERS_NOT_INITIALIZED),
            Some(format!(
                "containers with incomplete status: {}",
                go_list(&incomplete)
            )),
        )
    }
}

fn resources(c: &core::Container) -> (BTreeMap<String, i128>, BTreeMap<String, i128>) {
    let pick =
        |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.into_iter()
                .flatten()
                .filter(|(k, _)| k.as_str() == "cpu" || k.as_str() == "memory")
                .filter_map(|(k, v)| quantity::parse(&v.0).map(|n| (k.clone(), n)))
                .filter(|(_, n)| *n != 0)
                .collect::<BTreeMap<_, _>>()
        };
    let r = c.resources.as_ref();
    let limits = pick(r.and_then(|r| r.limits.as_ref()));
    let mut requests = pick(r.and_then(|r| r.requests.as_ref()));
    // API defaulting: a limit without a request sets the request.
    for (k, v) in &limits {
        requests.entry(k.clone()).or_insert(*v);
    }
    (requests, limits)
}

/// Kubernetes `GetPodQOS` (container-level resources).
pub fn qos_class(pod: &core::Pod) -> &'static str {
    let Some(spec) = &pod.spec else {
        return "BestEffort";
    };
    let mut any = false;
    let mut guaranteed = true;
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let (req, lim) = resources(c);
        if !req.is_empty() || !lim.is_empty() {
            any = true;
        }
        if !(lim.contains_key("cpu") && lim.contains_key("memory")) || req != lim {
            guaranteed = false;
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Keeps `lastTransitionTime` (and probe times) of an unchanged condition.
fn stamp(
    mut c: core::PodCondition,
    previous: &[core::PodCondition],
    now: Timestamp,
) -> core::PodCondition {
    match previous.iter().find(|p| p.type_ == c.type_) {
        Some(p) if p.status == c.status => c.last_transition_time = p.last_transition_time.clone(),
        _ => c.last_transition_time = Some(time(now)),
    }
    c
}

/// The pod status as the kubelet would write it now.
///
/// `previous` is the status currently in the API (conditions not owned by
/// the kubelet are kept from it; an already terminal phase is kept).
pub fn pod_status(
    pod: &core::Pod,
    state: &PodState,
    scheme: &str,
    node: &NodeFacts,
    previous: Option<&core::PodStatus>,
    now: Timestamp,
) -> core::PodStatus {
    let init: Vec<core::ContainerStatus> = state
        .init
        .iter()
        .map(|c| container_status(c, scheme))
        .collect();
    let app: Vec<core::ContainerStatus> = state
        .app
        .iter()
        .map(|c| container_status(c, scheme))
        .collect();
    let policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let sidecars: Vec<bool> = state.init.iter().map(|c| c.sidecar).collect();
    let mut ph = phase(policy, &init, &sidecars, &app, state.terminal);
    let prev_phase = previous.and_then(|p| p.phase.as_deref());
    if let Some(p @ ("Succeeded" | "Failed")) = prev_phase {
        ph = if p == "Succeeded" {
            "Succeeded"
        } else {
            "Failed"
        };
    }

    let prev_conds: &[core::PodCondition] = previous
        .and_then(|p| p.conditions.as_deref())
        .unwrap_or_default();
    let kept: Vec<core::PodCondition> = prev_conds
        .iter()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    let sandbox_ok =
        state.sandbox_ready && !matches!(state.stage, Stage::StoppingPod | Stage::Terminated);
    let cr = containers_ready(&init, &sidecars, &app, ph);
    let mut conditions = kept.clone();
    conditions.push(cond("PodReadyToStartContainers", sandbox_ok, None, None));
    conditions.push(initialized(&init, &sidecars, &app, ph));
    conditions.push(ready(pod, &kept, &cr));
    conditions.push(cr);
    conditions.push(cond("PodScheduled", true, None, None));
    let conditions = conditions
        .into_iter()
        .map(|c| {
            if KUBELET_CONDITIONS.contains(&c.type_.as_str()) {
                stamp(c, prev_conds, now)
            } else {
                c
            }
        })
        .collect();

    let pod_ips: Vec<String> = if !state.sandbox_ready {
        Vec::new()
    } else if state.pod_ips.is_empty() {
        // No pod network (process runtime / hostNetwork): the node's IP.
        node.host_ip.iter().cloned().collect()
    } else {
        state.pod_ips.clone()
    };

    core::PodStatus {
        phase: Some(ph.into()),
        conditions: Some(conditions),
        host_ip: node.host_ip.clone(),
        host_ips: node
            .host_ip
            .as_ref()
            .map(|ip| vec![core::HostIP { ip: ip.clone() }]),
        pod_ip: pod_ips.first().cloned(),
        pod_ips: (!pod_ips.is_empty()).then(|| {
            pod_ips
                .iter()
                .map(|ip| core::PodIP { ip: ip.clone() })
                .collect()
        }),
        start_time: state.start_time.map(time),
        qos_class: Some(qos_class(pod).into()),
        container_statuses: Some({
            // The kubelet sorts app container statuses by name
            // (`SortedContainerStatuses`); conditions above list names in
            // spec order, and init containers keep spec order.
            let mut app = app;
            app.sort_by(|a, b| a.name.cmp(&b.name));
            app
        }),
        init_container_statuses: (!init.is_empty()).then_some(init),
        reason: previous
            .and_then(|p| p.reason.clone())
            .filter(|_| prev_phase == Some(ph)),
        message: previous
            .and_then(|p| p.message.clone())
            .filter(|_| prev_phase == Some(ph)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::runner::pod::tests::{pod, Harness};

    fn status(h: &Harness, p: &core::Pod, prev: Option<&core::PodStatus>) -> core::PodStatus {
        let node = NodeFacts {
            host_ip: Some("10.0.0.5".into()),
        };
        pod_status(p, &h.state, "process", &node, prev, h.now().wall)
    }

    fn condition<'a>(s: &'a core::PodStatus, t: &str) -> &'a core::PodCondition {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    fn waiting_reason(c: &core::ContainerStatus) -> Option<&str> {
        c.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
    }

    fn with_init(policy: &str) -> core::Pod {
        pod(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {
                "restartPolicy": policy,
                "initContainers": [{"name": "i1", "image": "busybox", "command": ["true"]}],
                "containers": [{"name": "a", "image": "nginx", "command": ["sleep"]}, {"name": "b", "image": "nginx", "command": ["sleep"]}]
            }
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn pending_while_initializing() {
        let p = with_init("Always");
        let mut h = Harness::new(&p);
        let s = status(&h, &p, None);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        assert_eq!(condition(&s, "PodReadyToStartContainers").status, "False");
        h.boot();
        h.started("i1");
        let s = status(&h, &p, None);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let init = condition(&s, "Initialized");
        assert_eq!(init.status, "False");
        assert_eq!(init.reason.as_deref(), Some("ContainersNotInitialized"));
        assert_eq!(
            init.message.as_deref(),
            Some("containers with incomplete status: [i1]")
        );
        let ready = condition(&s, "Ready");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [a b]")
        );
        let cs = s.container_statuses.as_ref().unwrap();
        assert_eq!(waiting_reason(&cs[0]), Some("PodInitializing"));
        assert_eq!(cs[0].image, "nginx");
        let ics = s.init_container_statuses.as_ref().unwrap();
        assert!(ics[0].state.as_ref().unwrap().running.is_some());
        assert_eq!(ics[0].container_id.as_deref(), Some("process://i1-1"));
        assert_eq!(s.pod_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(s.host_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
        assert!(s.start_time.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn running_and_ready_then_transition_times_kept() {
        let p = with_init("Always");
        let mut h = Harness::new(&p);
        h.boot();
        let (id, _) = h.started("i1");
        h.exited("i1", &id, 0);
        h.started("a");
        let s1 = status(&h, &p, None);
        // b is still being created: kubelet's getPhase says Pending.
        assert_eq!(s1.phase.as_deref(), Some("Pending"));
        assert_eq!(condition(&s1, "Initialized").status, "True");
        assert_eq!(
            condition(&s1, "Ready").message.as_deref(),
            Some("containers with unready status: [b]")
        );
        h.started("b");
        tokio::time::advance(Duration::from_secs(5)).await;
        let s2 = status(&h, &p, Some(&s1));
        assert_eq!(s2.phase.as_deref(), Some("Running"));
        assert_eq!(condition(&s2, "Ready").status, "True");
        assert_eq!(condition(&s2, "ContainersReady").status, "True");
        assert_ne!(
            condition(&s2, "Ready").last_transition_time,
            condition(&s1, "Ready").last_transition_time
        );
        assert_eq!(
            condition(&s2, "Initialized").last_transition_time,
            condition(&s1, "Initialized").last_transition_time
        );
        let a = &s2.container_statuses.as_ref().unwrap()[0];
        assert!(a.ready);
        assert_eq!(a.started, Some(true));
        assert_eq!(a.container_id.as_deref(), Some("process://a-2"));
        let i1 = &s2.init_container_statuses.as_ref().unwrap()[0];
        let t = i1.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
        assert!(i1.ready);
    }

    #[tokio::test(start_paused = true)]
    async fn succeeded_and_failed() {
        let p = pod(json!({
            "metadata": {"name": "job", "namespace": "ns", "uid": "u2"},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "command": ["true"]}]}
        }));
        let mut h = Harness::new(&p);
        h.boot();
        let (id, _) = h.started("c");
        h.exited("c", &id, 0);
        let s = status(&h, &p, None);
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
        assert_eq!(
            condition(&s, "Ready").reason.as_deref(),
            Some("PodCompleted")
        );
        assert_eq!(
            condition(&s, "Initialized").reason.as_deref(),
            Some("PodCompleted")
        );
        assert_eq!(condition(&s, "Initialized").status, "True");

        let mut h = Harness::new(&p);
        h.boot();
        let (id, _) = h.started("c");
        h.exited("c", &id, 2);
        let s = status(&h, &p, None);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        assert_eq!(
            condition(&s, "ContainersReady").reason.as_deref(),
            Some("PodFailed")
        );
        let t = s.container_statuses.as_ref().unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .clone()
            .unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (2, Some("Error")));
        assert_eq!(t.container_id.as_deref(), Some("process://c-1"));

        // Init failure under Never fails the pod.
        let p = with_init("Never");
        let mut h = Harness::new(&p);
        h.boot();
        let (id, _) = h.started("i1");
        h.exited("i1", &id, 1);
        assert_eq!(status(&h, &p, None).phase.as_deref(), Some("Failed"));
    }

    #[tokio::test(start_paused = true)]
    async fn crash_loop_back_off_status() {
        let p = pod(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [{"name": "c", "command": ["false"]}]}
        }));
        let mut h = Harness::new(&p);
        h.boot();
        let (id, _) = h.started("c");
        h.exited("c", &id, 1);
        let (id, _) = h.started("c");
        h.exited("c", &id, 1);
        let s = status(&h, &p, None);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let c = &s.container_statuses.as_ref().unwrap()[0];
        let w = c.state.as_ref().unwrap().waiting.as_ref().unwrap();
        assert_eq!(w.reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(
            w.message.as_deref(),
            Some("back-off 10s restarting failed container=c pod=web_ns(u1)")
        );
        assert_eq!(c.restart_count, 1);
        let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(last.exit_code, 1);
        assert!(!c.ready);
    }

    #[tokio::test(start_paused = true)]
    async fn killed_pod_is_failed_and_terminal_phase_sticks() {
        let p = pod(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [{"name": "c", "command": ["sleep"]}]}
        }));
        let mut h = Harness::new(&p);
        h.boot();
        let (id, _) = h.started("c");
        h.feed(crate::runner::pod::machine::Input::Kill {
            grace: Duration::from_secs(5),
        });
        assert_eq!(status(&h, &p, None).phase.as_deref(), Some("Running"));
        h.exited("c", &id, 143);
        let s = status(&h, &p, None);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        let prev = core::PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        };
        assert_eq!(
            status(&h, &p, Some(&prev)).phase.as_deref(),
            Some("Succeeded")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_gates_use_existing_conditions() {
        let p = pod(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {"readinessGates": [{"conditionType": "example.com/lb"}], "containers": [{"name": "c", "command": ["sleep"]}]}
        }));
        let mut h = Harness::new(&p);
        h.boot();
        h.started("c");
        let s = status(&h, &p, None);
        assert_eq!(condition(&s, "ContainersReady").status, "True");
        let r = condition(&s, "Ready");
        assert_eq!(r.reason.as_deref(), Some("ReadinessGatesNotReady"));
        assert_eq!(
            r.message.as_deref(),
            Some(
                "corresponding condition of pod readiness gate \"example.com/lb\" does not exist."
            )
        );
        let mut prev = s.clone();
        prev.conditions.as_mut().unwrap().push(core::PodCondition {
            type_: "example.com/lb".into(),
            status: "True".into(),
            ..Default::default()
        });
        let s = status(&h, &p, Some(&prev));
        assert_eq!(condition(&s, "Ready").status, "True");
        assert_eq!(condition(&s, "example.com/lb").status, "True");
    }

    #[test]
    fn qos_classes() {
        let mk = |res: serde_json::Value| {
            pod(
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": res}]}}),
            )
        };
        assert_eq!(qos_class(&mk(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&mk(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&mk(
                json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}})
            )),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&mk(json!({"requests": {"cpu": "100m"}}))),
            "Burstable"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn app_statuses_are_sorted_by_name_but_messages_follow_the_spec() {
        let p = pod(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [{"name": "zeta", "command": ["x"]}, {"name": "alpha", "command": ["x"]}]}
        }));
        let mut h = Harness::new(&p);
        h.boot();
        let s = status(&h, &p, None);
        let names: Vec<&str> = s
            .container_statuses
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, vec!["alpha", "zeta"]);
        assert_eq!(
            condition(&s, "Ready").message.as_deref(),
            Some("containers with unready status: [zeta alpha]")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn sidecar_status_and_phase() {
        let p = crate::runner::pod::tests::with_sidecar();
        let mut h = Harness::new(&p);
        h.boot();
        h.started("proxy");
        h.started("setup");
        let s = status(&h, &p, None);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        assert_eq!(
            condition(&s, "Initialized").message.as_deref(),
            Some("containers with incomplete status: [setup]")
        );
        let proxy = &s.init_container_statuses.as_ref().unwrap()[0];
        assert!(proxy.ready && proxy.started == Some(true));
        let (setup, _) = {
            let id = s.init_container_statuses.as_ref().unwrap()[1]
                .container_id
                .clone()
                .unwrap();
            (id.trim_start_matches("process://").to_string(), ())
        };
        h.exited("setup", &setup, 0);
        h.started("main");
        let s = status(&h, &p, None);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(condition(&s, "Initialized").status, "True");
        assert_eq!(condition(&s, "ContainersReady").status, "True");
    }
}
