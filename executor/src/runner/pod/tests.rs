//! Unit tests of the pod state machine, under paused time.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use serde_json::json;
use tokio::time::Instant;

use super::machine::{step, Action, Input, Now, PodState, Run, Stage, Timer};
use super::probe::ProbeKind;

pub(crate) fn pod(v: serde_json::Value) -> core::Pod {
    serde_json::from_value(v).expect("valid pod")
}

pub(crate) struct Harness {
    pub state: PodState,
    base_mono: Instant,
    base_wall: Timestamp,
    ids: u32,
}

impl Harness {
    pub fn new(p: &core::Pod) -> Self {
        Self {
            state: PodState::new(p),
            base_mono: Instant::now(),
            base_wall: Timestamp::from_second(1_700_000_000).unwrap(),
            ids: 0,
        }
    }

    pub fn now(&self) -> Now {
        let elapsed = Instant::now() - self.base_mono;
        Now {
            mono: Instant::now(),
            wall: self.base_wall + elapsed,
        }
    }

    pub fn feed(&mut self, input: Input) -> Vec<Action> {
        let now = self.now();
        step(&mut self.state, now, input)
    }

    pub async fn advance(&mut self, d: Duration) {
        tokio::time::advance(d).await;
    }

    /// Starts the pod and readies the sandbox.
    pub fn boot(&mut self) -> Vec<Action> {
        assert_eq!(self.feed(Input::Started), vec![Action::PrepareSandbox]);
        self.feed(Input::SandboxReady { pod_ips: vec![] })
    }

    pub fn started(&mut self, name: &str) -> (String, Vec<Action>) {
        self.ids += 1;
        let id = format!("{name}-{}", self.ids);
        let started_at = self.now().wall;
        let a = self.feed(Input::ContainerStarted {
            name: name.into(),
            id: id.clone(),
            started_at,
        });
        (id, a)
    }

    pub fn exited(&mut self, name: &str, id: &str, code: i32) -> Vec<Action> {
        let finished_at = self.now().wall;
        self.feed(Input::ContainerExited {
            name: name.into(),
            id: id.into(),
            code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            finished_at,
        })
    }
}

pub(crate) fn starts(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StartContainer { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn restart_timer(actions: &[Action]) -> Option<(Instant, Timer)> {
    actions.iter().find_map(|a| match a {
        Action::SetTimer {
            at,
            timer: t @ Timer::Restart { .. },
        } => Some((*at, t.clone())),
        _ => None,
    })
}

fn probe_timers(actions: &[Action]) -> Vec<(Instant, ProbeKind)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SetTimer {
                at,
                timer: Timer::Probe { kind, .. },
            } => Some((*at, *kind)),
            _ => None,
        })
        .collect()
}

fn simple(policy: &str) -> core::Pod {
    pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}
    }))
}

#[tokio::test(start_paused = true)]
async fn init_containers_run_in_order_then_app_containers() {
    let p = pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {
            "initContainers": [{"name": "i1", "command": ["true"]}, {"name": "i2", "command": ["true"]}],
            "containers": [{"name": "a", "command": ["sleep"]}, {"name": "b", "command": ["sleep"]}]
        }
    }));
    let mut h = Harness::new(&p);
    assert_eq!(starts(&h.boot()), vec!["i1"]);
    let (id, a) = h.started("i1");
    assert!(starts(&a).is_empty());
    assert_eq!(starts(&h.exited("i1", &id, 0)), vec!["i2"]);
    let (id, _) = h.started("i2");
    assert_eq!(starts(&h.exited("i2", &id, 0)), vec!["a", "b"]);
    assert_eq!(h.state.stage, Stage::Running);
}

#[tokio::test(start_paused = true)]
async fn failing_init_container_fails_the_pod_under_never() {
    let p = pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [{"name": "i1", "command": ["false"]}],
            "containers": [{"name": "a", "command": ["sleep"]}]
        }
    }));
    let mut h = Harness::new(&p);
    h.boot();
    let (id, _) = h.started("i1");
    assert_eq!(h.exited("i1", &id, 1), vec![Action::StopPod]);
    assert!(h.state.terminal);
    h.feed(Input::PodStopped);
    assert_eq!(h.state.stage, Stage::Terminated);
}

#[tokio::test(start_paused = true)]
async fn failing_init_container_is_retried_with_backoff_under_always() {
    let p = pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {
            "initContainers": [{"name": "i1", "command": ["false"]}],
            "containers": [{"name": "a", "command": ["sleep"]}]
        }
    }));
    let mut h = Harness::new(&p);
    h.boot();
    let (id, _) = h.started("i1");
    h.advance(Duration::from_secs(1)).await;
    // First failure: restarted at once.
    assert_eq!(starts(&h.exited("i1", &id, 1)), vec!["i1"]);
    let (id, _) = h.started("i1");
    h.advance(Duration::from_secs(1)).await;
    let a = h.exited("i1", &id, 1);
    assert!(starts(&a).is_empty());
    let (at, timer) = restart_timer(&a).expect("backoff timer");
    assert_eq!(at - Instant::now(), Duration::from_secs(10));
    let c = h.state.container("i1").unwrap();
    assert!(matches!(&c.run, Run::Waiting { reason, .. } if reason == "CrashLoopBackOff"));
    h.advance(Duration::from_secs(10)).await;
    assert_eq!(starts(&h.feed(Input::TimerFired(timer))), vec!["i1"]);
    assert_eq!(h.state.container("i1").unwrap().restart_count, 2);
    assert!(starts(&[]).is_empty());
    assert_eq!(h.state.container("a").unwrap().restart_count, 0);
}

#[tokio::test(start_paused = true)]
async fn crash_loop_backoff_doubles_to_five_minutes_and_resets_after_ten() {
    let mut h = Harness::new(&simple("Always"));
    assert_eq!(starts(&h.boot()), vec!["c"]);
    let (mut id, _) = h.started("c");
    h.advance(Duration::from_secs(1)).await;
    assert_eq!(
        starts(&h.exited("c", &id, 1)),
        vec!["c"],
        "first restart is immediate"
    );
    let mut waits = Vec::new();
    for _ in 0..8 {
        (id, _) = h.started("c");
        h.advance(Duration::from_secs(1)).await;
        let a = h.exited("c", &id, 1);
        let (at, timer) = restart_timer(&a).expect("in backoff");
        let wait = at - Instant::now();
        waits.push(wait.as_secs());
        if let Run::Waiting { message, .. } = &h.state.container("c").unwrap().run {
            let m = message.clone().unwrap();
            assert!(m.starts_with("back-off "), "{m}");
            assert!(
                m.ends_with(" restarting failed container=c pod=web_ns(u1)"),
                "{m}"
            );
        }
        // Nothing starts before the timer.
        h.advance(wait).await;
        assert_eq!(starts(&h.feed(Input::TimerFired(timer))), vec!["c"]);
    }
    assert_eq!(waits, vec![10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(h.state.container("c").unwrap().restart_count, 9);

    // It now runs for more than 10 minutes: the next restart is immediate
    // and the one after waits 10 s again.
    (id, _) = h.started("c");
    h.advance(Duration::from_secs(601)).await;
    assert_eq!(starts(&h.exited("c", &id, 1)), vec!["c"]);
    (id, _) = h.started("c");
    h.advance(Duration::from_secs(1)).await;
    let (at, _) = restart_timer(&h.exited("c", &id, 1)).expect("in backoff");
    assert_eq!(at - Instant::now(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn restart_policies() {
    // OnFailure: success completes the pod, failure restarts.
    let mut h = Harness::new(&simple("OnFailure"));
    h.boot();
    let (id, _) = h.started("c");
    assert_eq!(starts(&h.exited("c", &id, 2)), vec!["c"]);
    let (id, _) = h.started("c");
    assert_eq!(h.exited("c", &id, 0), vec![Action::StopPod]);

    // Never: failure completes the pod.
    let mut h = Harness::new(&simple("Never"));
    h.boot();
    let (id, _) = h.started("c");
    assert_eq!(h.exited("c", &id, 1), vec![Action::StopPod]);

    // Always: success restarts too.
    let mut h = Harness::new(&simple("Always"));
    h.boot();
    let (id, _) = h.started("c");
    assert_eq!(starts(&h.exited("c", &id, 0)), vec!["c"]);
}

fn probed(probes: serde_json::Value) -> core::Pod {
    let mut c = json!({"name": "c", "command": ["sleep"], "ports": [{"name": "http", "containerPort": 8080}]});
    for (k, v) in probes.as_object().unwrap() {
        c[k] = v.clone();
    }
    pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {"terminationGracePeriodSeconds": 20, "containers": [c]}
    }))
}

fn probe_result(h: &mut Harness, kind: ProbeKind, success: bool) -> Vec<Action> {
    let epoch = h.state.container("c").unwrap().epoch;
    h.feed(Input::ProbeResult {
        name: "c".into(),
        kind,
        epoch,
        success,
    })
}

#[tokio::test(start_paused = true)]
async fn readiness_honours_initial_delay_and_success_threshold() {
    let p = probed(json!({"readinessProbe": {
        "httpGet": {"port": "http", "path": "/ready"},
        "initialDelaySeconds": 5, "successThreshold": 2, "failureThreshold": 2, "periodSeconds": 3
    }}));
    let mut h = Harness::new(&p);
    h.boot();
    let (_, a) = h.started("c");
    let timers = probe_timers(&a);
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].0 - Instant::now(), Duration::from_secs(5));
    assert!(
        !h.state.container("c").unwrap().ready(),
        "readiness starts false"
    );

    h.advance(Duration::from_secs(5)).await;
    let epoch = h.state.container("c").unwrap().epoch;
    let fired = h.feed(Input::TimerFired(Timer::Probe {
        name: "c".into(),
        kind: ProbeKind::Readiness,
        epoch,
    }));
    assert!(
        matches!(&fired[0], Action::RunProbe { spec, .. } if spec.kind == ProbeKind::Readiness)
    );
    let next = probe_result(&mut h, ProbeKind::Readiness, true);
    assert_eq!(
        probe_timers(&next)[0].0 - Instant::now(),
        Duration::from_secs(3)
    );
    assert!(
        !h.state.container("c").unwrap().ready(),
        "one success is below threshold"
    );
    probe_result(&mut h, ProbeKind::Readiness, true);
    assert!(h.state.container("c").unwrap().ready());
    probe_result(&mut h, ProbeKind::Readiness, false);
    assert!(h.state.container("c").unwrap().ready());
    probe_result(&mut h, ProbeKind::Readiness, false);
    assert!(!h.state.container("c").unwrap().ready());
    // Stale results (an older epoch) are ignored.
    h.feed(Input::ProbeResult {
        name: "c".into(),
        kind: ProbeKind::Readiness,
        epoch: 0,
        success: true,
    });
    assert!(!h.state.container("c").unwrap().ready());
}

#[tokio::test(start_paused = true)]
async fn liveness_failure_threshold_kills_and_restarts() {
    let p = probed(json!({"livenessProbe": {
        "tcpSocket": {"port": 8080}, "failureThreshold": 3, "terminationGracePeriodSeconds": 7
    }}));
    let mut h = Harness::new(&p);
    h.boot();
    let (id, a) = h.started("c");
    assert_eq!(probe_timers(&a)[0].0, Instant::now(), "no initial delay");
    assert!(
        h.state.container("c").unwrap().ready(),
        "no readiness probe: ready"
    );
    for _ in 0..2 {
        let a = probe_result(&mut h, ProbeKind::Liveness, false);
        assert!(!a.iter().any(|a| matches!(a, Action::StopContainer { .. })));
    }
    let a = probe_result(&mut h, ProbeKind::Liveness, false);
    assert_eq!(
        a,
        vec![Action::StopContainer {
            name: "c".into(),
            id: id.clone(),
            grace: Duration::from_secs(7)
        }]
    );
    h.advance(Duration::from_secs(1)).await;
    assert_eq!(starts(&h.exited("c", &id, 143)), vec!["c"]);
    let c = h.state.container("c").unwrap();
    assert_eq!(c.restart_count, 1);
    assert_eq!(c.last_state.as_ref().unwrap().exit_code, 143);
}

#[tokio::test(start_paused = true)]
async fn startup_probe_gates_liveness_and_readiness() {
    let p = probed(json!({
        "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 2, "periodSeconds": 1},
        "livenessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 2},
        "readinessProbe": {"exec": {"command": ["true"]}}
    }));
    let mut h = Harness::new(&p);
    h.boot();
    let (_, a) = h.started("c");
    let kinds: Vec<ProbeKind> = probe_timers(&a).into_iter().map(|t| t.1).collect();
    assert_eq!(kinds, vec![ProbeKind::Startup]);
    let c = h.state.container("c").unwrap();
    assert!(!c.started && !c.ready());
    // A liveness timer, even if one fired, does nothing before startup.
    let epoch = c.epoch;
    assert!(h
        .feed(Input::TimerFired(Timer::Probe {
            name: "c".into(),
            kind: ProbeKind::Liveness,
            epoch
        }))
        .is_empty());
    h.advance(Duration::from_secs(1)).await;
    let a = probe_result(&mut h, ProbeKind::Startup, true);
    let timers = probe_timers(&a);
    assert_eq!(
        timers.iter().map(|t| t.1).collect::<Vec<_>>(),
        vec![ProbeKind::Liveness, ProbeKind::Readiness]
    );
    // Liveness keeps its initial delay from the container start.
    assert_eq!(timers[0].0 - Instant::now(), Duration::from_secs(1));
    assert!(h.state.container("c").unwrap().started);
}

#[tokio::test(start_paused = true)]
async fn startup_probe_failure_kills_with_pod_grace() {
    let p =
        probed(json!({"startupProbe": {"exec": {"command": ["false"]}, "failureThreshold": 1}}));
    let mut h = Harness::new(&p);
    h.boot();
    let (id, _) = h.started("c");
    let a = probe_result(&mut h, ProbeKind::Startup, false);
    assert_eq!(
        a,
        vec![Action::StopContainer {
            name: "c".into(),
            id,
            grace: Duration::from_secs(20)
        }]
    );
}

fn with_pre_stop() -> core::Pod {
    pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {"containers": [
            {"name": "a", "command": ["sleep"], "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 5"]}}}},
            {"name": "b", "command": ["sleep"]}
        ]}
    }))
}

#[tokio::test(start_paused = true)]
async fn kill_runs_pre_stop_before_term_and_counts_grace_from_the_start() {
    let mut h = Harness::new(&with_pre_stop());
    h.boot();
    let (ida, _) = h.started("a");
    let (idb, _) = h.started("b");
    let a = h.feed(Input::Kill {
        grace: Duration::from_secs(30),
    });
    // In parallel: a's preStop (with its grace timer) and b's TERM.
    assert!(
        matches!(&a[0], Action::RunPreStop { name, timeout, .. } if name == "a" && *timeout == Duration::from_secs(30))
    );
    assert!(
        matches!(&a[1], Action::SetTimer { at, timer: Timer::Grace { .. } } if *at - Instant::now() == Duration::from_secs(30))
    );
    assert_eq!(
        a[2],
        Action::StopContainer {
            name: "b".into(),
            id: idb.clone(),
            grace: Duration::from_secs(30)
        }
    );
    assert!(!a
        .iter()
        .any(|x| matches!(x, Action::StopContainer { name, .. } if name == "a")));
    h.advance(Duration::from_secs(5)).await;
    let epoch = h.state.container("a").unwrap().epoch;
    let a = h.feed(Input::PreStopDone {
        name: "a".into(),
        epoch,
    });
    assert_eq!(
        a,
        vec![Action::StopContainer {
            name: "a".into(),
            id: ida.clone(),
            grace: Duration::from_secs(25)
        }]
    );
    // The stale grace timer does nothing.
    h.advance(Duration::from_secs(25)).await;
    assert!(h
        .feed(Input::TimerFired(Timer::Grace {
            name: "a".into(),
            epoch
        }))
        .is_empty());
    assert!(h.exited("b", &idb, 143).is_empty(), "a still running");
    assert_eq!(h.exited("a", &ida, 137), vec![Action::StopPod]);
    assert!(h.feed(Input::PodStopped).is_empty());
    assert_eq!(h.state.stage, Stage::Terminated);
}

#[tokio::test(start_paused = true)]
async fn pre_stop_overrunning_the_grace_gets_term_with_the_minimum_then_kill() {
    let mut h = Harness::new(&with_pre_stop());
    h.boot();
    let (ida, _) = h.started("a");
    h.started("b");
    h.feed(Input::Kill {
        grace: Duration::from_secs(3),
    });
    h.advance(Duration::from_secs(3)).await;
    let epoch = h.state.container("a").unwrap().epoch;
    let a = h.feed(Input::TimerFired(Timer::Grace {
        name: "a".into(),
        epoch,
    }));
    assert_eq!(
        a,
        vec![Action::StopContainer {
            name: "a".into(),
            id: ida,
            grace: Duration::from_secs(2)
        }]
    );
    // A late PreStopDone changes nothing.
    assert!(h
        .feed(Input::PreStopDone {
            name: "a".into(),
            epoch
        })
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn kill_before_start_and_during_start() {
    // Killed while a container is being started: stopped as soon as it runs.
    let mut h = Harness::new(&simple("Always"));
    h.boot();
    assert!(h
        .feed(Input::Kill {
            grace: Duration::from_secs(10)
        })
        .is_empty());
    let (id, a) = h.started("c");
    assert_eq!(
        a,
        vec![Action::StopContainer {
            name: "c".into(),
            id: id.clone(),
            grace: Duration::from_secs(10)
        }]
    );
    assert_eq!(h.exited("c", &id, 143), vec![Action::StopPod]);

    // Killed before the sandbox is ready.
    let mut h = Harness::new(&simple("Always"));
    h.feed(Input::Started);
    assert_eq!(
        h.feed(Input::Kill {
            grace: Duration::from_secs(10)
        }),
        vec![Action::StopPod]
    );
}

#[tokio::test(start_paused = true)]
async fn config_errors_wait_and_retry() {
    let mut h = Harness::new(&simple("Always"));
    h.boot();
    let a = h.feed(Input::ContainerStartFailed {
        name: "c".into(),
        reason: "CreateContainerConfigError".into(),
        message: "configmap \"x\" not found".into(),
    });
    let (at, timer) = restart_timer(&a).expect("retry timer");
    assert_eq!(at - Instant::now(), Duration::from_secs(10));
    assert!(
        matches!(&h.state.container("c").unwrap().run, Run::Waiting { reason, .. } if reason == "CreateContainerConfigError")
    );
    h.advance(Duration::from_secs(10)).await;
    assert_eq!(starts(&h.feed(Input::TimerFired(timer))), vec!["c"]);
    assert_eq!(h.state.container("c").unwrap().restart_count, 0);
}

#[tokio::test(start_paused = true)]
async fn sandbox_failure_is_retried() {
    let mut h = Harness::new(&simple("Always"));
    h.feed(Input::Started);
    let a = h.feed(Input::SandboxFailed {
        message: "MountVolume.SetUp failed".into(),
    });
    assert!(matches!(
        &a[0],
        Action::SetTimer {
            timer: Timer::Sandbox,
            ..
        }
    ));
    h.advance(Duration::from_secs(10)).await;
    assert_eq!(
        h.feed(Input::TimerFired(Timer::Sandbox)),
        vec![Action::PrepareSandbox]
    );
}

#[tokio::test(start_paused = true)]
async fn adopted_containers_resume_instead_of_starting_again() {
    let p = pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {
            "initContainers": [{"name": "i1", "command": ["true"]}],
            "containers": [{"name": "a", "command": ["sleep"]}, {"name": "b", "command": ["sleep"]}]
        }
    }));
    let mut h = Harness::new(&p);
    assert_eq!(h.feed(Input::Started), vec![Action::PrepareSandbox]);
    let wall = h.now().wall;
    h.feed(Input::Adopted {
        name: "i1".into(),
        id: "i1-0".into(),
        attempt: 0,
        started_at: Some(wall),
        exit: Some((0, "Completed".into(), None, wall)),
    });
    h.feed(Input::Adopted {
        name: "a".into(),
        id: "a-1".into(),
        attempt: 1,
        started_at: Some(wall),
        exit: Some((1, "Error".into(), None, wall)),
    });
    h.feed(Input::Adopted {
        name: "a".into(),
        id: "a-2".into(),
        attempt: 2,
        started_at: Some(wall),
        exit: None,
    });
    // Only b, never seen by the runtime, is started.
    let a = h.feed(Input::SandboxReady { pod_ips: vec![] });
    assert_eq!(starts(&a), vec!["b"]);
    let c = h.state.container("a").unwrap();
    assert_eq!(c.restart_count, 2);
    assert_eq!(c.id(), Some("a-2"));
    assert_eq!(c.last_state.as_ref().unwrap().id, "a-1");
    assert!(h.state.container("i1").unwrap().succeeded);
    // Its exit is handled like any other.
    assert_eq!(starts(&h.exited("a", "a-2", 1)), vec!["a"]);
}

#[tokio::test(start_paused = true)]
async fn failed_post_start_hook_kills_and_restarts() {
    let p = pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {"terminationGracePeriodSeconds": 9, "containers": [
            {"name": "c", "command": ["sleep"], "lifecycle": {"postStart": {"exec": {"command": ["false"]}}}}
        ]}
    }));
    let mut h = Harness::new(&p);
    h.boot();
    let (id, a) = h.started("c");
    assert!(matches!(&a[0], Action::RunPostStart { name, .. } if name == "c"));
    let epoch = h.state.container("c").unwrap().epoch;
    let a = h.feed(Input::PostStartDone {
        name: "c".into(),
        epoch,
        success: false,
    });
    assert_eq!(
        a,
        vec![Action::StopContainer {
            name: "c".into(),
            id: id.clone(),
            grace: Duration::from_secs(9)
        }]
    );
    assert_eq!(starts(&h.exited("c", &id, 137)), vec!["c"]);
}

#[tokio::test(start_paused = true)]
async fn adopting_an_exited_app_container_does_not_rerun_init_containers() {
    let p = pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {
            "restartPolicy": "OnFailure",
            "initContainers": [{"name": "i1", "command": ["true"]}],
            "containers": [{"name": "a", "command": ["sleep"]}]
        }
    }));
    let mut h = Harness::new(&p);
    h.feed(Input::Started);
    let wall = h.now().wall;
    h.feed(Input::Adopted {
        name: "a".into(),
        id: "a-0".into(),
        attempt: 0,
        started_at: Some(wall),
        exit: Some((0, "Completed".into(), None, wall)),
    });
    // Nothing to run: the pod completed while the executor was away.
    assert_eq!(
        h.feed(Input::SandboxReady { pod_ips: vec![] }),
        vec![Action::StopPod]
    );
}

pub(crate) fn with_sidecar() -> core::Pod {
    pod(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [
                {"name": "proxy", "command": ["sleep"], "restartPolicy": "Always"},
                {"name": "setup", "command": ["true"]}
            ],
            "containers": [{"name": "main", "command": ["true"]}]
        }
    }))
}

#[tokio::test(start_paused = true)]
async fn sidecars_start_first_keep_running_and_stop_after_the_app() {
    let mut h = Harness::new(&with_sidecar());
    assert_eq!(starts(&h.boot()), vec!["proxy"]);
    // Started (no startup probe): the next init container may start.
    let (proxy, a) = h.started("proxy");
    assert_eq!(starts(&a), vec!["setup"]);
    let (setup, _) = h.started("setup");
    assert_eq!(starts(&h.exited("setup", &setup, 0)), vec!["main"]);
    let (main, _) = h.started("main");
    // The sidecar restarts whatever the pod's restart policy.
    h.advance(Duration::from_secs(1)).await;
    assert_eq!(starts(&h.exited("proxy", &proxy, 1)), vec!["proxy"]);
    let (proxy, _) = h.started("proxy");
    assert_eq!(h.state.container("proxy").unwrap().restart_count, 1);
    // The app completes: the sidecar is stopped, then the pod.
    let a = h.exited("main", &main, 0);
    assert_eq!(
        a,
        vec![Action::StopContainer {
            name: "proxy".into(),
            id: proxy.clone(),
            grace: Duration::from_secs(30)
        }]
    );
    assert_eq!(h.exited("proxy", &proxy, 143), vec![Action::StopPod]);
}
