//! The per-pod state machine: `step(&mut PodState, now, Input) -> Vec<Action>`.
//!
//! It holds the kubelet's rules (`kuberuntime_manager.go` computePodActions,
//! `prober/`, `lifecycle/`) without any I/O or clock: every input carries
//! what happened, `now` says when, and the returned actions say what the
//! worker must do (start a container, run a probe, arm a timer...). Results of
//! actions come back as inputs. Timers and probe results carry the container
//! `epoch` (incremented at each start) so stale ones are ignored.
//!
//! Rules:
//! - init containers run one at a time in order, each must exit 0; a failing
//!   one is restarted with backoff unless `restartPolicy: Never`, which fails
//!   the pod; then all app containers start;
//! - an exited app container restarts under `Always`, under `OnFailure` if its
//!   exit code is not 0, never under `Never`; restarts follow CrashLoopBackOff
//!   ([`super::backoff`]);
//! - startup probe gates liveness and readiness; a liveness or startup
//!   failure kills the container (probe's `terminationGracePeriodSeconds` or
//!   the pod's), which then restarts per policy;
//! - stopping a container: preStop hook, then TERM with what is left of the
//!   grace period (at least 2 s, kubelet's `minimumGracePeriodInSeconds`),
//!   KILL when it runs out (done by the runtime's `stop`);
//! - a pod kill stops all containers in parallel, then the sandbox;
//! - a postStart hook runs right after the container starts; its failure
//!   kills the container (`FailedPostStartHook`), which restarts per policy.
//!   Unlike the kubelet, which blocks the pod's sync on the hook, the other
//!   containers are not held back meanwhile.
//!
//! - restartable init containers (sidecars, `restartPolicy: Always`) start
//!   in init order, let the next init container start once they are
//!   started (startup probe passed), restart on any exit whatever the pod's
//!   policy, and are stopped once the app containers are done.
//!
//! Not covered yet: `activeDeadlineSeconds`, in-place resize.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use tokio::time::Instant;

use super::backoff::{go_duration, Backoff};
use super::probe::{hook_handler, Handler, ProbeKind, ProbeSpec, ProbeTracker};

/// Kubelet's `minimumGracePeriodInSeconds`.
pub const MIN_GRACE: Duration = Duration::from_secs(2);
/// Default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// Retry delay after a container could not be created (config error) or the
/// sandbox could not be prepared (kubelet's pod worker backoff).
pub const RETRY: Duration = Duration::from_secs(10);

/// Both clocks at one moment: monotonic for timers, wall for status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic (tokio's, so tests can pause it).
    pub mono: Instant,
    /// Wall clock.
    pub wall: Timestamp,
}

/// Restart policy of the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// `Always` (default).
    Always,
    /// `OnFailure`.
    OnFailure,
    /// `Never`.
    Never,
}

/// How a container instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    /// Runtime container ID.
    pub id: String,
    /// Exit code.
    pub exit_code: i32,
    /// Reason (`Completed`, `Error`, `OOMKilled`, `StartError`...).
    pub reason: String,
    /// Message.
    pub message: Option<String>,
    /// Start (wall).
    pub started_at: Option<Timestamp>,
    /// End (wall).
    pub finished_at: Timestamp,
    /// End (monotonic), for backoff.
    pub finished_mono: Instant,
}

/// Why a container is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// The pod is being killed.
    PodKill,
    /// A liveness or startup probe failed.
    ProbeFailed(ProbeKind),
    /// The postStart hook failed.
    PostStartFailed,
}

/// The current instance of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// Not running; `reason` is the kubelet waiting reason.
    Waiting {
        /// `ContainerCreating`, `PodInitializing`, `CrashLoopBackOff`,
        /// `CreateContainerConfigError`...
        reason: String,
        /// Message, if any.
        message: Option<String>,
        /// Whether it is waiting for a retry timer (not startable before).
        until: Option<Instant>,
    },
    /// Start requested from the runtime.
    Starting,
    /// Running.
    Running {
        /// Container ID.
        id: String,
        /// Start (wall).
        started_at: Timestamp,
        /// Start (monotonic).
        started_mono: Instant,
    },
    /// Being stopped.
    Stopping {
        /// Container ID.
        id: String,
        /// Start (wall).
        started_at: Timestamp,
        /// When the grace period ends.
        deadline: Instant,
        /// Whether the preStop hook is still running.
        in_pre_stop: bool,
        /// Why.
        cause: StopCause,
    },
    /// Exited and not (yet) restarted.
    Exited(Termination),
}

/// One container of the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// Name.
    pub name: String,
    /// Image (reported in status).
    pub image: String,
    /// Init container?
    pub init: bool,
    /// Restartable init container (`restartPolicy: Always`): a sidecar.
    pub sidecar: bool,
    /// Current instance.
    pub run: Run,
    /// The previous termination (status `lastState`).
    pub last_state: Option<Termination>,
    /// Restarts so far.
    pub restart_count: u32,
    /// Incremented at each start; stale timers and probe results are dropped.
    pub epoch: u64,
    /// CrashLoopBackOff entry.
    pub backoff: Backoff,
    /// Startup probe passed (or none): status `started`.
    pub started: bool,
    /// Probes, by kind.
    pub probes: BTreeMap<ProbeKind, ProbeTracker>,
    /// preStop hook.
    pub pre_stop: Option<Handler>,
    /// postStart hook.
    pub post_start: Option<Handler>,
    /// Init container that exited 0 (a sidecar: that started once).
    pub succeeded: bool,
    /// Ever ran (a start was attempted and got an ID or an exit).
    pub ran: bool,
}

impl Container {
    fn new(c: &core::Container, init: bool, has_init: bool) -> Self {
        let sidecar = init && c.restart_policy.as_deref() == Some("Always");
        let mut probes = BTreeMap::new();
        for (kind, probe) in [
            (ProbeKind::Startup, &c.startup_probe),
            (ProbeKind::Liveness, &c.liveness_probe),
            (ProbeKind::Readiness, &c.readiness_probe),
        ] {
            // Regular init containers have no probes.
            if let (false, Some(p)) = (init && !sidecar, probe) {
                probes.insert(kind, ProbeTracker::new(ProbeSpec::new(kind, p, c)));
            }
        }
        Self {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            init,
            sidecar,
            run: Run::Waiting {
                reason: if has_init {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                }
                .into(),
                message: None,
                until: None,
            },
            last_state: None,
            restart_count: 0,
            epoch: 0,
            backoff: Backoff::default(),
            started: false,
            probes,
            post_start: c
                .lifecycle
                .as_ref()
                .and_then(|l| l.post_start.as_ref())
                .map(|h| hook_handler(h, c)),
            pre_stop: c
                .lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.as_ref())
                .map(|h| hook_handler(h, c)),
            succeeded: false,
            ran: false,
        }
    }

    /// Whether a process may be alive (start requested, running or stopping).
    pub fn active(&self) -> bool {
        matches!(
            self.run,
            Run::Starting | Run::Running { .. } | Run::Stopping { .. }
        )
    }

    /// The running instance's ID, if running or stopping.
    pub fn id(&self) -> Option<&str> {
        match &self.run {
            Run::Running { id, .. } | Run::Stopping { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Kubelet readiness: running, started, and readiness probe (if any) passed.
    /// A completed regular init container is ready.
    pub fn ready(&self) -> bool {
        if self.init && !self.sidecar {
            return self.succeeded && matches!(self.run, Run::Exited(_));
        }
        matches!(self.run, Run::Running { .. })
            && self.started
            && self
                .probes
                .get(&ProbeKind::Readiness)
                .is_none_or(|p| p.result == Some(true))
    }
}

/// Where the pod is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not started.
    New,
    /// Sandbox being prepared (or waiting to retry).
    Preparing,
    /// Sandbox ready; running init then app containers.
    Running,
    /// Killed, or finished on its own: stopping containers.
    Terminating,
    /// All containers stopped; sandbox being stopped.
    StoppingPod,
    /// Done.
    Terminated,
}

/// Timers the machine arms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    /// Retry the sandbox.
    Sandbox,
    /// A container may be (re)started.
    Restart {
        /// Container.
        name: String,
        /// Epoch when armed.
        epoch: u64,
    },
    /// A probe is due.
    Probe {
        /// Container.
        name: String,
        /// Probe.
        kind: ProbeKind,
        /// Epoch of the instance.
        epoch: u64,
    },
    /// A container's grace period ran out during its preStop hook.
    Grace {
        /// Container.
        name: String,
        /// Epoch of the instance.
        epoch: u64,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Start the pod.
    Started,
    /// The sandbox is ready.
    SandboxReady {
        /// Pod IPs (empty for host network).
        pod_ips: Vec<String>,
    },
    /// The sandbox (or its volumes) could not be prepared; retried.
    SandboxFailed {
        /// Why (kubelet event message, e.g. FailedMount).
        message: String,
    },
    /// A container found in the runtime after an executor restart (fed
    /// before `SandboxReady`). `exit` is `None` when it is still running;
    /// the shell then watches it like one it started.
    Adopted {
        /// Container.
        name: String,
        /// Runtime ID.
        id: String,
        /// Restart attempt it was created with (becomes the restart count).
        attempt: u32,
        /// Start time.
        started_at: Option<Timestamp>,
        /// Exit, if it already ended: (code, reason, message, finished_at).
        exit: Option<(i32, String, Option<String>, Timestamp)>,
    },
    /// The runtime started a container.
    ContainerStarted {
        /// Container.
        name: String,
        /// Runtime ID.
        id: String,
        /// Start time.
        started_at: Timestamp,
    },
    /// A container could not be created (config error); it waits with `reason`.
    ContainerStartFailed {
        /// Container.
        name: String,
        /// Kubelet waiting reason (`CreateContainerConfigError`...).
        reason: String,
        /// Message.
        message: String,
    },
    /// A container exited (or failed at start, as `StartError` 128).
    ContainerExited {
        /// Container.
        name: String,
        /// Runtime ID, if it got one.
        id: String,
        /// Exit code.
        code: i32,
        /// Runtime reason.
        reason: String,
        /// Message.
        message: Option<String>,
        /// End time.
        finished_at: Timestamp,
    },
    /// A probe finished.
    ProbeResult {
        /// Container.
        name: String,
        /// Probe.
        kind: ProbeKind,
        /// Epoch it ran for.
        epoch: u64,
        /// Outcome.
        success: bool,
    },
    /// The postStart hook finished; a failure kills the container
    /// (kubelet reason `FailedPostStartHook`), which restarts per policy.
    PostStartDone {
        /// Container.
        name: String,
        /// Epoch it ran for.
        epoch: u64,
        /// Whether the hook succeeded.
        success: bool,
    },
    /// The preStop hook finished (successfully or not).
    PreStopDone {
        /// Container.
        name: String,
        /// Epoch it ran for.
        epoch: u64,
    },
    /// A timer fired.
    TimerFired(Timer),
    /// Kill the pod with this grace period.
    Kill {
        /// Grace (from the Mesos kill policy or the pod).
        grace: Duration,
    },
    /// The sandbox was stopped.
    PodStopped,
    /// A runtime call failed in a way the machine should know (logged, reported).
    RuntimeError {
        /// Container, if any.
        name: Option<String>,
        /// Message.
        message: String,
    },
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Prepare volumes and the sandbox; answer `SandboxReady`/`SandboxFailed`.
    PrepareSandbox,
    /// Resolve env and mounts, start the container; answer
    /// `ContainerStarted`/`ContainerStartFailed`/`ContainerExited`.
    StartContainer {
        /// Container.
        name: String,
        /// Init container?
        init: bool,
        /// Restart attempt (the restart count).
        attempt: u32,
    },
    /// Run the postStart hook; answer `PostStartDone`.
    RunPostStart {
        /// Container.
        name: String,
        /// Runtime ID.
        id: String,
        /// Hook.
        handler: Handler,
        /// Epoch.
        epoch: u64,
    },
    /// Run the preStop hook; answer `PreStopDone`.
    RunPreStop {
        /// Container.
        name: String,
        /// Runtime ID.
        id: String,
        /// Hook.
        handler: Handler,
        /// Epoch.
        epoch: u64,
        /// Time it may take.
        timeout: Duration,
    },
    /// TERM, then KILL after `grace` (runtime `stop`). The exit arrives as
    /// `ContainerExited` from the container's wait.
    StopContainer {
        /// Container.
        name: String,
        /// Runtime ID.
        id: String,
        /// Grace.
        grace: Duration,
    },
    /// Run a probe; answer `ProbeResult`.
    RunProbe {
        /// Container.
        name: String,
        /// Runtime ID.
        id: String,
        /// Probe settings.
        spec: ProbeSpec,
        /// Epoch.
        epoch: u64,
    },
    /// Arm a timer; answer `TimerFired` at `at`.
    SetTimer {
        /// When.
        at: Instant,
        /// What.
        timer: Timer,
    },
    /// Stop the sandbox; answer `PodStopped`.
    StopPod,
}

/// Everything the machine knows about one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodState {
    /// `name_namespace(uid)`, kubelet's `format.Pod`, for messages.
    pub pod_ref: String,
    /// Restart policy.
    pub restart_policy: RestartPolicy,
    /// `terminationGracePeriodSeconds` (default 30 s).
    pub grace: Duration,
    /// Stage.
    pub stage: Stage,
    /// Init containers, in order.
    pub init: Vec<Container>,
    /// App containers, in order.
    pub app: Vec<Container>,
    /// Pod IPs from the sandbox.
    pub pod_ips: Vec<String>,
    /// Sandbox ready (status condition `PodReadyToStartContainers`).
    pub sandbox_ready: bool,
    /// Last sandbox/mount error, for events and logs.
    pub sandbox_error: Option<String>,
    /// When the pod was started (status `startTime`).
    pub start_time: Option<Timestamp>,
    /// The pod is terminal (killed or finished): kubelet's `podIsTerminal`.
    pub terminal: bool,
    /// Last runtime error seen.
    pub last_error: Option<String>,
    /// When the pod kill's grace period ends, once killed.
    pub kill_deadline: Option<Instant>,
}

impl PodState {
    /// Builds the state of a pod from its spec.
    pub fn new(pod: &core::Pod) -> Self {
        let meta = &pod.metadata;
        let spec = pod.spec.clone().unwrap_or_default();
        let has_init = spec.init_containers.as_ref().is_some_and(|v| !v.is_empty());
        Self {
            pod_ref: format!(
                "{}_{}({})",
                meta.name.as_deref().unwrap_or_default(),
                meta.namespace.as_deref().unwrap_or_default(),
                meta.uid.as_deref().unwrap_or_default()
            ),
            restart_policy: match spec.restart_policy.as_deref() {
                Some("Never") => RestartPolicy::Never,
                Some("OnFailure") => RestartPolicy::OnFailure,
                _ => RestartPolicy::Always,
            },
            grace: spec
                .termination_grace_period_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(DEFAULT_GRACE, Duration::from_secs),
            stage: Stage::New,
            init: spec
                .init_containers
                .iter()
                .flatten()
                .map(|c| Container::new(c, true, has_init))
                .collect(),
            app: spec
                .containers
                .iter()
                .map(|c| Container::new(c, false, has_init))
                .collect(),
            pod_ips: Vec::new(),
            sandbox_ready: false,
            sandbox_error: None,
            start_time: None,
            terminal: false,
            last_error: None,
            kill_deadline: None,
        }
    }

    /// The container called `name`.
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.init.iter().chain(&self.app).find(|c| c.name == name)
    }

    fn container_mut(&mut self, name: &str) -> Option<&mut Container> {
        self.init
            .iter_mut()
            .chain(self.app.iter_mut())
            .find(|c| c.name == name)
    }

    fn any_active(&self) -> bool {
        self.init.iter().chain(&self.app).any(Container::active)
    }
}

/// Feeds one input; returns the actions to perform, in order. Each input
/// has its own named step below; [`reconcile`] then starts, restarts and
/// finishes what the new state calls for.
pub fn step(state: &mut PodState, now: Now, input: Input) -> Vec<Action> {
    let mut out = Vec::new();
    match input {
        Input::Started => {
            if state.stage == Stage::New {
                state.stage = Stage::Preparing;
                state.start_time = Some(now.wall);
                out.push(Action::PrepareSandbox);
            }
        }
        Input::SandboxReady { pod_ips } => {
            if state.stage == Stage::Preparing {
                state.pod_ips = pod_ips;
                state.sandbox_ready = true;
                state.sandbox_error = None;
                state.stage = Stage::Running;
            }
        }
        Input::SandboxFailed { message } => {
            if state.stage == Stage::Preparing {
                state.sandbox_error = Some(message);
                out.push(Action::SetTimer {
                    at: now.mono + RETRY,
                    timer: Timer::Sandbox,
                });
            }
        }
        Input::TimerFired(Timer::Sandbox) => {
            if state.stage == Stage::Preparing {
                out.push(Action::PrepareSandbox);
            }
        }
        Input::ContainerStarted {
            name,
            id,
            started_at,
        } => on_started(state, now, &name, id, started_at, &mut out),
        Input::Adopted {
            name,
            id,
            attempt,
            started_at,
            exit,
        } => on_adopted(state, now, &name, id, attempt, started_at, exit, &mut out),
        Input::ContainerStartFailed {
            name,
            reason,
            message,
        } => on_start_failed(state, now, name, reason, message, &mut out),
        Input::ContainerExited {
            name,
            id,
            code,
            reason,
            message,
            finished_at,
        } => {
            let exit = Termination {
                id,
                exit_code: code,
                reason,
                message,
                started_at: None,
                finished_at,
                finished_mono: now.mono,
            };
            if on_exited(state, &name, exit) == Exit::Stale {
                return out;
            }
        }
        Input::ProbeResult {
            name,
            kind,
            epoch,
            success,
        } => on_probe(state, now, &name, kind, epoch, success, &mut out),
        Input::PostStartDone {
            name,
            epoch,
            success,
        } => on_post_start_done(state, now, &name, epoch, success, &mut out),
        Input::PreStopDone { name, epoch } => on_pre_stop_done(state, now, &name, epoch, &mut out),
        Input::TimerFired(Timer::Grace { name, epoch }) => {
            on_grace_over(state, &name, epoch, &mut out)
        }
        Input::TimerFired(Timer::Probe { name, kind, epoch }) => {
            on_probe_due(state, name, kind, epoch, &mut out)
        }
        Input::TimerFired(Timer::Restart { name, epoch }) => {
            if let Some(c) = state.container_mut(&name) {
                if c.epoch == epoch {
                    if let Run::Waiting { until, .. } = &mut c.run {
                        *until = None;
                    }
                }
            }
        }
        Input::Kill { grace } => on_kill(state, now, grace, &mut out),
        Input::PodStopped => {
            if state.stage == Stage::StoppingPod {
                state.stage = Stage::Terminated;
            }
        }
        Input::RuntimeError { name, message } => {
            tracing::warn!(pod = %state.pod_ref, container = ?name, %message, "runtime error");
            state.last_error = Some(message);
        }
    }
    reconcile(state, now, &mut out);
    out
}

/// A container the runtime could not start: it waits [`RETRY`] with the
/// runtime's reason, then [`reconcile`] starts it again.
fn on_start_failed(
    state: &mut PodState,
    now: Now,
    name: String,
    reason: String,
    message: String,
    out: &mut Vec<Action>,
) {
    let Some(c) = state.container_mut(&name) else {
        return;
    };
    if c.run != Run::Starting {
        return;
    }
    c.epoch += 1;
    c.run = Run::Waiting {
        reason,
        message: Some(message),
        until: Some(now.mono + RETRY),
    };
    out.push(Action::SetTimer {
        at: now.mono + RETRY,
        timer: Timer::Restart {
            name,
            epoch: c.epoch,
        },
    });
}

/// Whether an exit report applied to the container it names.
#[derive(Debug, PartialEq, Eq)]
enum Exit {
    /// Applied (or the container is unknown).
    Applied,
    /// A duplicate, or of an earlier run: nothing changes.
    Stale,
}

/// A container exited (`exit` without its start time, which this fills in
/// from the run it ends): its probes reset and an init container that
/// exited 0 counts as succeeded.
fn on_exited(state: &mut PodState, name: &str, mut exit: Termination) -> Exit {
    let Some(c) = state.container_mut(name) else {
        return Exit::Applied;
    };
    exit.started_at = match &c.run {
        Run::Running {
            id: cur,
            started_at,
            ..
        }
        | Run::Stopping {
            id: cur,
            started_at,
            ..
        } if *cur == exit.id => Some(*started_at),
        Run::Starting => None,
        _ => return Exit::Stale,
    };
    c.ran = true;
    c.epoch += 1;
    if c.init && !c.sidecar && exit.exit_code == 0 {
        c.succeeded = true;
    }
    c.run = Run::Exited(exit);
    for p in c.probes.values_mut() {
        p.reset();
    }
    Exit::Applied
}

/// A postStart hook ended: a failed one kills the container (the kubelet's
/// `FailedPostStartHook`).
fn on_post_start_done(
    state: &mut PodState,
    now: Now,
    name: &str,
    epoch: u64,
    success: bool,
    out: &mut Vec<Action>,
) {
    let current = state
        .container(name)
        .is_some_and(|c| c.epoch == epoch && matches!(c.run, Run::Running { .. }));
    if current && !success && state.stage == Stage::Running {
        tracing::info!(container = %name, "postStart hook failed, killing the container");
        let grace = state.grace;
        begin_stop(state, now, name, grace, StopCause::PostStartFailed, out);
    }
}

/// A preStop hook ended: TERM with what is left of the grace period.
fn on_pre_stop_done(state: &mut PodState, now: Now, name: &str, epoch: u64, out: &mut Vec<Action>) {
    let grace_left = state.container(name).and_then(|c| match &c.run {
        Run::Stopping {
            in_pre_stop: true,
            deadline,
            ..
        } if c.epoch == epoch => Some(deadline.saturating_duration_since(now.mono)),
        _ => None,
    });
    if let Some(left) = grace_left {
        send_term(state, name, left, out);
    }
}

/// The grace period ran out during a preStop hook: TERM with no grace
/// left.
fn on_grace_over(state: &mut PodState, name: &str, epoch: u64, out: &mut Vec<Action>) {
    let overdue = state.container(name).is_some_and(|c| {
        c.epoch == epoch
            && matches!(
                c.run,
                Run::Stopping {
                    in_pre_stop: true,
                    ..
                }
            )
    });
    if overdue {
        send_term(state, name, Duration::ZERO, out);
    }
}

/// A probe is due: run it unless the container moved on, the probe is on
/// hold, or it is gated (liveness and readiness wait for startup).
fn on_probe_due(
    state: &PodState,
    name: String,
    kind: ProbeKind,
    epoch: u64,
    out: &mut Vec<Action>,
) {
    let Some(c) = state.container(&name) else {
        return;
    };
    let (Run::Running { id, .. }, Some(p)) = (&c.run, c.probes.get(&kind)) else {
        return;
    };
    let gated = match kind {
        ProbeKind::Startup => c.started,
        _ => !c.started,
    };
    if c.epoch == epoch && !p.on_hold && !gated && state.stage == Stage::Running {
        out.push(Action::RunProbe {
            name: name.clone(),
            id: id.clone(),
            spec: p.spec.clone(),
            epoch,
        });
    }
}

/// The pod is killed with `grace`: it terminates, and every running
/// container (on a repeated kill, every container with an ID) stops within
/// the earliest deadline asked for.
fn on_kill(state: &mut PodState, now: Now, grace: Duration, out: &mut Vec<Action>) {
    if !matches!(
        state.stage,
        Stage::New | Stage::Preparing | Stage::Running | Stage::Terminating
    ) {
        return;
    }
    let first = state.stage != Stage::Terminating;
    state.stage = Stage::Terminating;
    state.terminal = true;
    let deadline = now.mono + grace;
    state.kill_deadline = Some(state.kill_deadline.map_or(deadline, |d| d.min(deadline)));
    let names: Vec<String> = state
        .init
        .iter()
        .chain(&state.app)
        .filter(|c| matches!(c.run, Run::Running { .. }) || (!first && c.id().is_some()))
        .map(|c| c.name.clone())
        .collect();
    for name in names {
        begin_stop(state, now, &name, grace, StopCause::PodKill, out);
    }
}

fn on_started(
    state: &mut PodState,
    now: Now,
    name: &str,
    id: String,
    started_at: Timestamp,
    out: &mut Vec<Action>,
) {
    let terminating = state.stage == Stage::Terminating;
    let grace = state
        .kill_deadline
        .map_or(state.grace, |d| d.saturating_duration_since(now.mono));
    let Some(c) = state.container_mut(name) else {
        return;
    };
    if c.run != Run::Starting {
        return;
    }
    c.ran = true;
    c.run = Run::Running {
        id,
        started_at,
        started_mono: now.mono,
    };
    for p in c.probes.values_mut() {
        p.reset();
    }
    c.started = !c.probes.contains_key(&ProbeKind::Startup);
    if c.sidecar && c.started {
        c.succeeded = true;
    }
    if terminating {
        // Killed while it was starting: stop it now.
        begin_stop(state, now, name, grace, StopCause::PodKill, out);
        return;
    }
    if let (Some(handler), Run::Running { id, .. }) = (&c.post_start, &c.run) {
        out.push(Action::RunPostStart {
            name: c.name.clone(),
            id: id.clone(),
            handler: handler.clone(),
            epoch: c.epoch,
        });
    }
    let kinds: Vec<ProbeKind> = if c.started {
        vec![ProbeKind::Liveness, ProbeKind::Readiness]
    } else {
        vec![ProbeKind::Startup]
    };
    schedule_first_probes(c, now, &kinds, out);
}

#[allow(clippy::too_many_arguments)]
fn on_adopted(
    state: &mut PodState,
    now: Now,
    name: &str,
    id: String,
    attempt: u32,
    started_at: Option<Timestamp>,
    exit: Option<(i32, String, Option<String>, Timestamp)>,
    out: &mut Vec<Action>,
) {
    if !matches!(state.stage, Stage::New | Stage::Preparing) {
        return;
    }
    let Some(c) = state.container_mut(name) else {
        return;
    };
    // Only the newest attempt becomes the current instance; an older one
    // is the last termination.
    if c.ran && attempt < c.restart_count {
        if let Some((code, reason, message, finished_at)) = exit {
            if c.last_state.is_none() {
                c.last_state = Some(Termination {
                    id,
                    exit_code: code,
                    reason,
                    message,
                    started_at,
                    finished_at,
                    finished_mono: now.mono,
                });
            }
        }
        return;
    }
    if let Run::Exited(t) = &c.run {
        c.last_state = Some(t.clone());
    }
    c.ran = true;
    c.restart_count = attempt;
    c.epoch += 1;
    if !c.init {
        // A regular container ran: the pod was initialized (kubelet's
        // HasAnyRegularContainerStarted), even if init records are gone.
        for i in &mut state.init {
            i.succeeded = true;
        }
    }
    let Some(c) = state.container_mut(name) else {
        return;
    };
    match exit {
        Some((code, reason, message, finished_at)) => {
            if c.init && !c.sidecar && code == 0 {
                c.succeeded = true;
            }
            c.run = Run::Exited(Termination {
                id,
                exit_code: code,
                reason,
                message,
                started_at,
                finished_at,
                finished_mono: now.mono,
            });
        }
        None => {
            if c.init {
                // A running init container: the ones before it succeeded.
                let idx = state.init.iter().position(|i| i.name == name).unwrap_or(0);
                for prev in &mut state.init[..idx] {
                    prev.succeeded = true;
                }
            }
            let Some(c) = state.container_mut(name) else {
                return;
            };
            c.run = Run::Running {
                id,
                started_at: started_at.unwrap_or(now.wall),
                started_mono: now.mono,
            };
            c.started = !c.probes.contains_key(&ProbeKind::Startup);
            if c.sidecar {
                c.succeeded = true;
            }
            let kinds: Vec<ProbeKind> = if c.started {
                vec![ProbeKind::Liveness, ProbeKind::Readiness]
            } else {
                vec![ProbeKind::Startup]
            };
            schedule_first_probes(c, now, &kinds, out);
        }
    }
}

fn schedule_first_probes(c: &Container, now: Now, kinds: &[ProbeKind], out: &mut Vec<Action>) {
    let Run::Running { started_mono, .. } = &c.run else {
        return;
    };
    for kind in kinds {
        if let Some(p) = c.probes.get(kind) {
            out.push(Action::SetTimer {
                at: (*started_mono + p.spec.initial_delay).max(now.mono),
                timer: Timer::Probe {
                    name: c.name.clone(),
                    kind: *kind,
                    epoch: c.epoch,
                },
            });
        }
    }
}

fn on_probe(
    state: &mut PodState,
    now: Now,
    name: &str,
    kind: ProbeKind,
    epoch: u64,
    success: bool,
    out: &mut Vec<Action>,
) {
    let running = state.stage == Stage::Running;
    let pod_grace = state.grace;
    let Some(c) = state.container_mut(name) else {
        return;
    };
    if c.epoch != epoch || !matches!(c.run, Run::Running { .. }) {
        return;
    }
    let Some(p) = c.probes.get_mut(&kind) else {
        return;
    };
    let changed = p.observe(success);
    let period = p.spec.period;
    let on_hold = p.on_hold;
    let probe_grace = p.spec.termination_grace;
    match (kind, changed) {
        (ProbeKind::Startup, Some(true)) => {
            c.started = true;
            if c.sidecar {
                c.succeeded = true;
            }
            schedule_first_probes(c, now, &[ProbeKind::Liveness, ProbeKind::Readiness], out);
            return;
        }
        (ProbeKind::Startup | ProbeKind::Liveness, Some(false)) if running => {
            tracing::info!(container = %name, probe = kind.as_str(), "probe failed, container will be restarted");
            let grace = probe_grace.unwrap_or(pod_grace);
            begin_stop(state, now, name, grace, StopCause::ProbeFailed(kind), out);
            return;
        }
        _ => {}
    }
    if !on_hold {
        out.push(Action::SetTimer {
            at: now.mono + period,
            timer: Timer::Probe {
                name: name.to_string(),
                kind,
                epoch,
            },
        });
    }
}

/// Starts stopping a running container: preStop first if it has one and
/// there is grace, else TERM now.
fn begin_stop(
    state: &mut PodState,
    now: Now,
    name: &str,
    grace: Duration,
    cause: StopCause,
    out: &mut Vec<Action>,
) {
    let Some(c) = state.container_mut(name) else {
        return;
    };
    let (id, started_at) = match &mut c.run {
        Run::Running { id, started_at, .. } => (id.clone(), *started_at),
        Run::Stopping { deadline, .. } => {
            // Already stopping: a shorter grace wins (kubelet allows shortening).
            if now.mono + grace < *deadline {
                *deadline = now.mono + grace;
                send_term(state, name, grace, out);
            }
            return;
        }
        _ => return,
    };
    let deadline = now.mono + grace;
    let hook = c.pre_stop.clone().filter(|_| !grace.is_zero());
    c.run = Run::Stopping {
        id: id.clone(),
        started_at,
        deadline,
        in_pre_stop: hook.is_some(),
        cause,
    };
    match hook {
        Some(handler) => {
            out.push(Action::RunPreStop {
                name: name.to_string(),
                id,
                handler,
                epoch: c.epoch,
                timeout: grace,
            });
            out.push(Action::SetTimer {
                at: deadline,
                timer: Timer::Grace {
                    name: name.to_string(),
                    epoch: c.epoch,
                },
            });
        }
        None => send_term(state, name, grace, out),
    }
}

/// TERM with `left` (at least [`MIN_GRACE`]), KILL after.
fn send_term(state: &mut PodState, name: &str, left: Duration, out: &mut Vec<Action>) {
    let Some(c) = state.container_mut(name) else {
        return;
    };
    if let Run::Stopping {
        id, in_pre_stop, ..
    } = &mut c.run
    {
        *in_pre_stop = false;
        out.push(Action::StopContainer {
            name: name.to_string(),
            id: id.clone(),
            grace: left.max(MIN_GRACE),
        });
    }
}

fn should_restart(policy: RestartPolicy, code: i32) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => code != 0,
        RestartPolicy::Never => false,
    }
}

/// Decides what to start next (kubelet's computePodActions) and whether the
/// pod is finished.
fn reconcile(state: &mut PodState, now: Now, out: &mut Vec<Action>) {
    match state.stage {
        Stage::Running => {}
        Stage::Terminating => {
            if !state.any_active() {
                state.stage = Stage::StoppingPod;
                out.push(Action::StopPod);
            }
            return;
        }
        _ => return,
    }
    let policy = state.restart_policy;
    let pod_ref = state.pod_ref.clone();

    // Sidecars that already started once restart whenever they exit,
    // whatever the pod's policy, without holding anything back.
    for c in state.init.iter_mut().filter(|c| c.sidecar && c.succeeded) {
        if matches!(c.run, Run::Exited(_) | Run::Waiting { .. }) {
            try_start(c, now, &pod_ref, true, out);
        }
    }

    // Init containers, one at a time; a sidecar is done once started.
    if let Some(i) = state.init.iter().position(|c| !c.succeeded) {
        let c = &state.init[i];
        if !c.sidecar && matches!(c.run, Run::Exited(_)) && policy == RestartPolicy::Never {
            finish(state, now, out);
            return;
        }
        try_start(&mut state.init[i], now, &pod_ref, true, out);
        return;
    }

    // App containers.
    for c in &mut state.app {
        let restart = match &c.run {
            Run::Exited(t) => should_restart(policy, t.exit_code),
            Run::Waiting { .. } => true,
            _ => false,
        };
        if restart {
            try_start(c, now, &pod_ref, false, out);
        }
    }
    let done = !state.app.is_empty()
        && state.app.iter().all(|c| match &c.run {
            Run::Exited(t) => !should_restart(policy, t.exit_code),
            _ => false,
        });
    if done {
        finish(state, now, out);
    }
}

/// The pod completed (or failed) on its own: nothing will restart. Running
/// sidecars are stopped with the pod's grace (all at once; the kubelet stops
/// them in reverse order).
fn finish(state: &mut PodState, now: Now, out: &mut Vec<Action>) {
    state.terminal = true;
    state.stage = Stage::Terminating;
    let grace = state.grace;
    let running: Vec<String> = state
        .init
        .iter()
        .chain(&state.app)
        .filter(|c| matches!(c.run, Run::Running { .. }))
        .map(|c| c.name.clone())
        .collect();
    for name in running {
        begin_stop(state, now, &name, grace, StopCause::PodKill, out);
    }
    if !state.any_active() {
        state.stage = Stage::StoppingPod;
        out.push(Action::StopPod);
    }
}

/// Starts a waiting or exited container if its backoff allows, else puts it
/// in CrashLoopBackOff with a timer.
fn try_start(c: &mut Container, now: Now, pod_ref: &str, init: bool, out: &mut Vec<Action>) {
    match &c.run {
        Run::Waiting { until: Some(_), .. } => {}
        Run::Waiting { until: None, .. } => {
            // Fresh container, or a retry after a config error / backoff.
            if let Some(t) = c.last_state.clone().filter(|_| c.ran) {
                if c.backoff.wait_until(t.finished_mono, now.mono).is_some() {
                    return;
                }
                c.backoff.next(t.finished_mono, now.mono);
            }
            start(c, init, out);
        }
        Run::Exited(t) => {
            let t = t.clone();
            c.last_state = Some(t.clone());
            match c.backoff.wait_until(t.finished_mono, now.mono) {
                Some(until) => {
                    c.run = Run::Waiting {
                        reason: "CrashLoopBackOff".into(),
                        message: Some(format!(
                            "back-off {} restarting failed container={} pod={}",
                            go_duration(c.backoff.current()),
                            c.name,
                            pod_ref
                        )),
                        until: Some(until),
                    };
                    out.push(Action::SetTimer {
                        at: until,
                        timer: Timer::Restart {
                            name: c.name.clone(),
                            epoch: c.epoch,
                        },
                    });
                }
                None => {
                    c.backoff.next(t.finished_mono, now.mono);
                    start(c, init, out);
                }
            }
        }
        _ => {}
    }
}

fn start(c: &mut Container, init: bool, out: &mut Vec<Action>) {
    if c.ran {
        c.restart_count += 1;
    }
    c.epoch += 1;
    c.started = false;
    c.run = Run::Starting;
    out.push(Action::StartContainer {
        name: c.name.clone(),
        init,
        attempt: c.restart_count,
    });
}
