//! The thin async shell around one pod's state machine.
//!
//! A `PodWorker` owns one pod: it feeds the machine's inputs (runtime waits,
//! probe results, tokio timers, kills) through one channel, performs the
//! returned actions as spawned tasks whose results come back as inputs, and
//! publishes a status snapshot after every step on a `watch` channel. No
//! rule lives here; every decision is in [`super::machine::step`].
//!
//! Time: monotonic instants come from tokio (pausable in tests); wall-clock
//! times are derived from the worker's start so status timestamps are
//! consistent with the timers.
//!
//! The worker also builds what a runtime needs beyond the bare configs —
//! the pod's [`PodRuntimeSpec`] (host network, DNS, hostPorts, security,
//! resolved pull secrets) and each container's [`ContainerRuntimeSpec`]
//! (pull policy, resources, security context) — through the
//! runtime-independent [`crate::runner::spec`], and maps runtime errors to
//! the container states the kubelet shows:
//! - an error with a kubelet waiting reason ([`RuntimeError::waiting_reason`]:
//!   `ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull`,
//!   `InvalidImageName`, `ImageInspectError`, `CreateContainerError`,
//!   `CreateContainerConfigError`) leaves the container waiting with that
//!   reason and message, retried after the kubelet's pod worker back-off
//!   (10 s; image pulls add the image back-off of the runtime, so retries
//!   alternate `ErrImagePull` / `ImagePullBackOff` as on a kubelet);
//! - a failed `StartContainer` (`RunContainerError`) leaves a container
//!   that the runtime reports exited with `StartError` / 128 (runc could not
//!   exec it), so it becomes that termination and restarts under
//!   CrashLoopBackOff — what `kubectl describe` shows on a kubelet node;
//! - anything else (runtime unreachable...) waits as `CreateContainerError`.
//!
//! Kubelet events (Created, Started, Killing, BackOff, Unhealthy,
//! FailedMount, Failed...) go to the configured [`EventRecorder`].
//!
//! A panic never ends the worker (nor the executor, which runs one worker
//! per pod): one in an action's task is that action's failure (a start that
//! panicked waits as `CreateContainerError` and is retried), and one in the
//! worker's own loop starts the pod's handling over from the runtime's
//! view, as a new executor would (running containers re-adopted), after a
//! growing pause and with a `PodWorkerFailed` event.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::machine::{step, Action, Input, Now, PodState, Stage};
use super::machine::{Run, StopCause};
use super::prober;
use crate::runner::env::{self, ObjectSource, PodFacts, CREATE_CONTAINER_CONFIG_ERROR};
use crate::runner::events::{self, EventRecorder, NoEvents};
use crate::runner::process::{container_labels, sandbox_path};
use crate::runner::runtime::{
    ContainerConfig, ContainerRuntimeSpec, Mount, PodRuntimeSpec, Runtime, RuntimeError,
    SandboxConfig, SandboxInfo,
};
use crate::runner::spec::{self, ClusterDns};
use crate::runner::status::{pod_status, NodeFacts};
use crate::runner::volumes;
use kube_mesos_node::quantity;

/// The pod's log directory name below the log root: the kubelet's
/// `<namespace>_<name>_<uid>`, with the name cut so that it fits a file
/// name (255 bytes). A pod name may have 253 characters, and the kubelet's
/// own spelling then fails with "file name too long"; the UID stays last
/// and whole, so the directory still identifies the pod.
pub fn log_dir_name(namespace: &str, name: &str, uid: &str) -> String {
    let room = 255usize.saturating_sub(namespace.len() + uid.len() + 2);
    format!(
        "{namespace}_{}_{uid}",
        crate::runner::truncate_utf8(name, room)
    )
}

/// What a pod worker needs from its surroundings.
#[derive(Clone)]
pub struct WorkerConfig {
    /// The runtime.
    pub runtime: Arc<dyn Runtime>,
    /// ConfigMaps and Secrets.
    pub objects: Arc<dyn ObjectSource>,
    /// The node's IP.
    pub host_ip: Option<String>,
    /// Node allocatable, the default for unset limits in the downward API.
    pub node_allocatable: BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    /// Root of container logs (kubelet: `/var/log/pods`); each pod gets
    /// `<log_root>/<ns>_<name>_<uid>/<container>/<attempt>.log`.
    pub log_root: PathBuf,
    /// Cluster DNS for `dnsPolicy: ClusterFirst` (kubelet `--cluster-dns`,
    /// `--cluster-domain`); `None` keeps the node's resolv.conf.
    pub cluster_dns: Option<ClusterDns>,
    /// Where the pod's kubelet events go.
    pub events: Arc<dyn EventRecorder>,
    /// Set when the pod's previous executor died (the task is a relaunch,
    /// see [`kube_mesos_node::relaunch`]): what Mesos said. Containers that
    /// the runtime found lost (they ended while no executor watched them)
    /// died with it: they end with reason `ExecutorLost` and this message,
    /// and an event says so. `None` for a first launch.
    pub lost_with_executor: Option<String>,
}

impl WorkerConfig {
    /// A config with no node IP, no allocatable, no cluster DNS and no
    /// events; set the public fields for more.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        objects: Arc<dyn ObjectSource>,
        log_root: impl Into<PathBuf>,
    ) -> Self {
        Self {
            runtime,
            objects,
            host_ip: None,
            node_allocatable: BTreeMap::new(),
            log_root: log_root.into(),
            cluster_dns: None,
            events: Arc::new(NoEvents),
            lost_with_executor: None,
        }
    }

    /// Node memory in bytes (allocatable), for the burstable OOM score.
    fn memory_capacity(&self) -> i64 {
        self.node_allocatable
            .get("memory")
            .and_then(|q| quantity::parse(&q.0))
            .map_or(0, |n| i64::try_from(quantity::units(n)).unwrap_or(i64::MAX))
    }
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("host_ip", &self.host_ip)
            .field("log_root", &self.log_root)
            .finish_non_exhaustive()
    }
}

/// A snapshot of the pod as the runner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodReport {
    /// The API status as the kubelet would write it.
    pub status: core::PodStatus,
    /// Where the pod is in its life.
    pub stage: Stage,
    /// Last sandbox/volume error (FailedMount message), if any.
    pub sandbox_error: Option<String>,
    /// The pod's sandbox once prepared, so that whoever owns the pod can
    /// remove it (`Runtime::remove_pod`) once the pod is gone.
    pub sandbox: Option<SandboxInfo>,
}

impl PodReport {
    /// Whether the worker is done (all containers and the sandbox stopped).
    pub fn finished(&self) -> bool {
        self.stage == Stage::Terminated
    }
}

/// A handle on a running pod worker.
#[derive(Debug)]
pub struct PodWorker {
    kill: mpsc::UnboundedSender<Duration>,
    reports: watch::Receiver<PodReport>,
    task: tokio::task::JoinHandle<PodReport>,
}

impl PodWorker {
    /// Starts running `pod`.
    pub fn spawn(pod: core::Pod, config: WorkerConfig) -> Self {
        let (kill_tx, kill_rx) = mpsc::unbounded_channel();
        let state = PodState::new(&pod);
        let start = (Instant::now(), Timestamp::now());
        let first = report(&pod, &state, &config, None, start.1, None);
        let (report_tx, reports) = watch::channel(first);
        let task = tokio::spawn(run(pod, state, config, kill_rx, report_tx, start));
        Self {
            kill: kill_tx,
            reports,
            task,
        }
    }

    /// Kills the pod with `grace` (e.g. from the Mesos kill policy).
    pub fn kill(&self, grace: Duration) {
        let _ = self.kill.send(grace);
    }

    /// Follows the pod's status snapshots.
    pub fn subscribe(&self) -> watch::Receiver<PodReport> {
        self.reports.clone()
    }

    /// Stops driving the pod without touching its containers, as when the
    /// executor exits while pods keep running (a later worker re-adopts them).
    pub fn detach(self) {
        self.task.abort();
    }

    /// Waits until the pod is finished; returns the final report.
    pub async fn wait(self) -> PodReport {
        match self.task.await {
            Ok(r) => r,
            Err(e) => {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
                self.reports.borrow().clone()
            }
        }
    }
}

fn report(
    pod: &core::Pod,
    state: &PodState,
    config: &WorkerConfig,
    previous: Option<&core::PodStatus>,
    now: Timestamp,
    sandbox: Option<&SandboxInfo>,
) -> PodReport {
    let node = NodeFacts {
        host_ip: config.host_ip.clone(),
    };
    let previous = previous.or(pod.status.as_ref());
    PodReport {
        status: pod_status(pod, state, config.runtime.id_scheme(), &node, previous, now),
        stage: state.stage,
        sandbox_error: state.sandbox_error.clone(),
        sandbox: sandbox.cloned(),
    }
}

enum Event {
    Input(Input),
    Sandbox(SandboxInfo, BTreeMap<String, PathBuf>),
}

struct Shell {
    pod: Arc<core::Pod>,
    config: WorkerConfig,
    tx: mpsc::UnboundedSender<Event>,
    sandbox: Option<SandboxInfo>,
    volumes: BTreeMap<String, PathBuf>,
    start: (Instant, Timestamp),
}

impl Shell {
    fn now(&self) -> Now {
        let mono = Instant::now();
        let elapsed = mono.saturating_duration_since(self.start.0);
        Now {
            mono,
            wall: self.start.1 + elapsed,
        }
    }

    fn facts(&self, state: &PodState) -> PodFacts {
        let pod_ips = if state.pod_ips.is_empty() {
            self.config.host_ip.iter().cloned().collect()
        } else {
            state.pod_ips.clone()
        };
        PodFacts {
            host_ip: self.config.host_ip.clone(),
            pod_ips,
            node_allocatable: self.config.node_allocatable.clone(),
        }
    }

    fn send(&self, input: Input) {
        let _ = self.tx.send(Event::Input(input));
    }

    /// Runs an action's future. A panic in it (a bug, in the runtime client
    /// or here) must not leave the machine waiting for an answer that never
    /// comes, nor take anything else down: it becomes `fallback`, the
    /// input a failure of that action would have given.
    fn spawn_guarded<F>(
        &self,
        what: &'static str,
        fallback: impl FnOnce(String) -> Input + Send + 'static,
        fut: F,
    ) where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let tx = self.tx.clone();
        let pod = self.pod.metadata.name.clone().unwrap_or_default();
        tokio::spawn(async move {
            if let Err(panic) = std::panic::AssertUnwindSafe(fut).catch_unwind().await {
                let why = panic_message(&*panic);
                tracing::error!(%pod, what, %why, "a pod worker's task panicked; the pod carries on");
                let _ = tx.send(Event::Input(fallback(format!(
                    "the executor failed {what}: {why}"
                ))));
            }
        });
    }

    fn perform(&self, state: &PodState, action: Action) {
        let tx = self.tx.clone();
        let send = move |i: Input| {
            let _ = tx.send(Event::Input(i));
        };
        let rt = self.config.runtime.clone();
        match action {
            Action::PrepareSandbox => {
                let pod = self.pod.clone();
                let config = self.config.clone();
                let facts = self.facts(state);
                let tx = self.tx.clone();
                let fallback = |why| Input::SandboxFailed { message: why };
                self.spawn_guarded("preparing the pod", fallback, async move {
                    match prepare(&pod, &config, &facts).await {
                        Ok((sb, vols)) => {
                            let pod_ips = sb.pod_ips.clone();
                            let _ = tx.send(Event::Sandbox(sb.clone(), vols));
                            adopt(&pod, &config, &sb, &tx).await;
                            let _ = tx.send(Event::Input(Input::SandboxReady { pod_ips }));
                        }
                        Err(failure) => {
                            let (event, message) = match failure {
                                PrepareFailed::Sandbox(m) => (events::failed_sandbox(&m), m),
                                PrepareFailed::Volumes(m) => (events::failed_mount(&m), m),
                            };
                            tracing::warn!(pod = ?pod.metadata.name, %message, "pod sandbox setup failed");
                            config.events.record(&pod, event);
                            let _ = tx.send(Event::Input(Input::SandboxFailed { message }));
                        }
                    }
                });
            }
            Action::StartContainer {
                name,
                init,
                attempt,
            } => {
                let Some(sandbox) = self.sandbox.clone() else {
                    send(Input::ContainerStartFailed {
                        name,
                        reason: "CreateContainerError".into(),
                        message: "pod sandbox is not ready".into(),
                    });
                    return;
                };
                let ctx = StartContext {
                    pod: self.pod.clone(),
                    config: self.config.clone(),
                    facts: self.facts(state),
                    sandbox,
                    volumes: self.volumes.clone(),
                };
                let fallback = {
                    let name = name.clone();
                    move |why| Input::ContainerStartFailed {
                        name,
                        reason: "CreateContainerError".into(),
                        message: why,
                    }
                };
                self.spawn_guarded("starting a container", fallback, async move {
                    start_container(&ctx, &name, init, attempt, send).await;
                });
            }
            Action::RunPreStop {
                name,
                id,
                handler,
                epoch,
                timeout,
            } => {
                let host = self
                    .facts(state)
                    .pod_ips
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "127.0.0.1".into());
                let fallback = {
                    let name = name.clone();
                    move |_| Input::PreStopDone { name, epoch }
                };
                self.spawn_guarded("running a preStop hook", fallback, async move {
                    let out = prober::run(&*rt, &id, &handler, &host, timeout).await;
                    if !out.success {
                        tracing::warn!(container = %name, output = %out.output, "preStop hook failed");
                    }
                    send(Input::PreStopDone { name, epoch });
                });
            }
            Action::RunPostStart {
                name,
                id,
                handler,
                epoch,
            } => {
                let host = self
                    .facts(state)
                    .pod_ips
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "127.0.0.1".into());
                let timeout = state.grace;
                let pod = self.pod.clone();
                let recorder = self.config.events.clone();
                let init = state.container(&name).is_some_and(|c| c.init);
                let fallback = {
                    let name = name.clone();
                    move |_| Input::PostStartDone {
                        name,
                        epoch,
                        success: false,
                    }
                };
                self.spawn_guarded("running a postStart hook", fallback, async move {
                    let out = prober::run(&*rt, &id, &handler, &host, timeout).await;
                    if !out.success {
                        tracing::warn!(container = %name, output = %out.output, "postStart hook failed");
                        recorder.record(&pod, events::failed_post_start(&name, init, &out.output));
                    }
                    send(Input::PostStartDone {
                        name,
                        epoch,
                        success: out.success,
                    });
                });
            }
            Action::StopContainer { name, id, grace } => {
                let fallback = {
                    let name = name.clone();
                    move |why| Input::RuntimeError {
                        name: Some(name),
                        message: why,
                    }
                };
                self.spawn_guarded("stopping a container", fallback, async move {
                    if let Err(e) = rt.stop(&id, grace).await {
                        send(Input::RuntimeError {
                            name: Some(name),
                            message: e.to_string(),
                        });
                    }
                });
            }
            Action::RunProbe {
                name,
                id,
                spec,
                epoch,
            } => {
                let host = self
                    .facts(state)
                    .pod_ips
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "127.0.0.1".into());
                let pod = self.pod.clone();
                let recorder = self.config.events.clone();
                let init = state.container(&name).is_some_and(|c| c.init);
                let fallback = {
                    let (name, kind) = (name.clone(), spec.kind);
                    move |_| Input::ProbeResult {
                        name,
                        kind,
                        epoch,
                        success: false,
                    }
                };
                self.spawn_guarded("running a probe", fallback, async move {
                    let out = prober::run(&*rt, &id, &spec.handler, &host, spec.timeout).await;
                    if !out.success {
                        tracing::debug!(container = %name, probe = spec.kind.as_str(), output = %out.output, "probe failed");
                        recorder
                            .record(&pod, events::unhealthy(&name, init, spec.kind, &out.output));
                    }
                    send(Input::ProbeResult {
                        name,
                        kind: spec.kind,
                        epoch,
                        success: out.success,
                    });
                });
            }
            Action::SetTimer { at, timer } => {
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    send(Input::TimerFired(timer));
                });
            }
            Action::StopPod => {
                let sandbox = self.sandbox.clone();
                let fallback = |_| Input::PodStopped;
                self.spawn_guarded("stopping the pod", fallback, async move {
                    if let Some(sb) = sandbox {
                        if let Err(e) = rt.stop_pod(&sb).await {
                            tracing::warn!(error = %e, "stopping pod sandbox failed");
                        }
                    }
                    send(Input::PodStopped);
                });
            }
        }
    }
}

/// Re-adoption after an executor restart: containers the runtime still
/// knows for this pod become `Adopted` inputs (oldest attempt first), and
/// live ones are watched like freshly started ones. When the pod's previous
/// executor died, the containers the runtime reports lost died with it
/// ([`lost_with_executor`]).
async fn adopt(
    pod: &core::Pod,
    config: &WorkerConfig,
    sb: &SandboxInfo,
    tx: &mpsc::UnboundedSender<Event>,
) {
    let rt = config.runtime.clone();
    let mut found = match rt.list_containers(&sb.pod_uid).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "listing containers for re-adoption failed");
            return;
        }
    };
    found.sort_by_key(|c| c.attempt);
    let newest: BTreeMap<String, u32> = found.iter().map(|c| (c.name.clone(), c.attempt)).collect();
    for c in found {
        let running = c.exit.is_none();
        let name = c.name.clone();
        let id = c.id.clone();
        tracing::info!(container = %name, id = %id, running, "re-adopting container");
        let mut exit = c
            .exit
            .map(|e| (e.exit_code, e.reason, e.message, e.finished_at));
        if let (Some(why), Some(e)) = (config.lost_with_executor.as_deref(), exit.as_mut()) {
            if newest.get(&name) == Some(&c.attempt) {
                if let Some(event) = lost_with_executor(pod, &name, e, why) {
                    tracing::warn!(container = %name, id = %id, %why, "container died with the pod's previous executor");
                    config.events.record(pod, event);
                }
            }
        }
        let _ = tx.send(Event::Input(Input::Adopted {
            name: c.name,
            id: c.id,
            attempt: c.attempt,
            started_at: c.started_at,
            exit,
        }));
        if running {
            let tx = tx.clone();
            let rt = rt.clone();
            // A process the agent killed may still look alive for a moment
            // (a zombie not reaped yet): it is found lost while watched.
            let lost = config
                .lost_with_executor
                .clone()
                .map(|why| (pod.clone(), config.events.clone(), why));
            let (panic_tx, panic_name) = (tx.clone(), name.clone());
            tokio::spawn(async move {
                let watch = async move {
                    match rt.wait(&id).await {
                        Ok(exit) => {
                            let mut e =
                                (exit.exit_code, exit.reason, exit.message, exit.finished_at);
                            if let Some((pod, events, why)) = &lost {
                                if let Some(event) = lost_with_executor(pod, &name, &mut e, why) {
                                    tracing::warn!(container = %name, id = %id, %why, "container died with the pod's previous executor");
                                    events.record(pod, event);
                                }
                            }
                            let (code, reason, message, finished_at) = e;
                            let _ = tx.send(Event::Input(Input::ContainerExited {
                                name,
                                id,
                                code,
                                reason,
                                message,
                                finished_at,
                            }));
                        }
                        Err(e) => {
                            let _ = tx.send(Event::Input(Input::RuntimeError {
                                name: Some(name),
                                message: e.to_string(),
                            }));
                        }
                    }
                };
                if let Err(panic) = std::panic::AssertUnwindSafe(watch).catch_unwind().await {
                    let _ = panic_tx.send(Event::Input(Input::RuntimeError {
                        name: Some(panic_name),
                        message: format!(
                            "the executor failed watching a container: {}",
                            panic_message(&*panic)
                        ),
                    }));
                }
            });
        }
    }
}

/// A container the runtime found lost (it ended while no executor watched
/// it, [`crate::runner::process::LOST_REASON`]) in a pod whose executor
/// died: it died with that executor. Its exit gets reason `ExecutorLost`
/// and a message saying so; the event to record says whether it restarts
/// (it does unless the pod's `restartPolicy` is `Never`; a sidecar always
/// does). `None` for any other exit, which is the container's own.
pub fn lost_with_executor(
    pod: &core::Pod,
    name: &str,
    exit: &mut (i32, String, Option<String>, Timestamp),
    why: &str,
) -> Option<events::PodEvent> {
    if exit.1 != crate::runner::process::LOST_REASON {
        return None;
    }
    let spec = pod.spec.as_ref()?;
    let (container, init) = match spec.containers.iter().find(|c| c.name == name) {
        Some(c) => (c, false),
        None => (
            spec.init_containers
                .iter()
                .flatten()
                .find(|c| c.name == name)?,
            true,
        ),
    };
    let sidecar = init && container.restart_policy.as_deref() == Some("Always");
    let restarting = sidecar || spec.restart_policy.as_deref() != Some("Never");
    exit.1 = events::reason::EXECUTOR_LOST.to_owned();
    exit.2 = Some(format!(
        "The container was killed with the pod's executor ({why}): process-runtime containers do not outlive their executor"
    ));
    Some(events::executor_lost(name, init, why, restarting))
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Why a pod's sandbox could not be prepared: the runtime's sandbox
/// (kubelet event `FailedCreatePodSandBox`) or its volumes (`FailedMount`).
enum PrepareFailed {
    Sandbox(String),
    Volumes(String),
}

async fn prepare(
    pod: &core::Pod,
    config: &WorkerConfig,
    facts: &PodFacts,
) -> Result<(SandboxInfo, BTreeMap<String, PathBuf>), PrepareFailed> {
    let meta = &pod.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    let uid = meta.uid.clone().unwrap_or_default();
    let auths = spec::resolve_pull_secrets(pod, &*config.objects).await;
    let pod_spec: PodRuntimeSpec = spec::pod_runtime_spec(pod, config.cluster_dns.as_ref(), auths);
    let sb = config
        .runtime
        .prepare_pod_with(
            &SandboxConfig {
                log_directory: config.log_root.join(log_dir_name(&namespace, &name, &uid)),
                labels: meta.labels.clone().unwrap_or_default(),
                name,
                namespace,
                uid,
            },
            &pod_spec,
        )
        .await
        .map_err(|e| PrepareFailed::Sandbox(e.to_string()))?;
    let vols = volumes::setup_volumes(pod, &sb.dir.join("volumes"), facts, &*config.objects)
        .await
        .map_err(|e| PrepareFailed::Volumes(e.to_string()))?;
    Ok((sb, vols))
}

/// Everything starting one container needs, moved into its task.
struct StartContext {
    pod: Arc<core::Pod>,
    config: WorkerConfig,
    facts: PodFacts,
    sandbox: SandboxInfo,
    volumes: BTreeMap<String, PathBuf>,
}

/// What a failed start becomes (see the module docs).
pub fn start_failure(name: &str, error: RuntimeError) -> Input {
    match error {
        RuntimeError::StartContainerFailed { source, .. } => Input::ContainerExited {
            name: name.to_string(),
            id: String::new(),
            code: 128,
            reason: "StartError".into(),
            message: Some(source.to_string()),
            finished_at: Timestamp::now(),
        },
        e => {
            let reason = e.waiting_reason().unwrap_or("CreateContainerError");
            let message = match e {
                RuntimeError::ImagePullFailed { message, .. }
                | RuntimeError::InvalidContainerConfig { message, .. }
                | RuntimeError::CreateContainerFailed { message, .. } => message,
                other => other.to_string(),
            };
            Input::ContainerStartFailed {
                name: name.to_string(),
                reason: reason.into(),
                message,
            }
        }
    }
}

async fn start_container(
    ctx: &StartContext,
    name: &str,
    init: bool,
    attempt: u32,
    send: impl Fn(Input),
) {
    let pod = &*ctx.pod;
    let rt = &*ctx.config.runtime;
    let recorder = &*ctx.config.events;
    let spec = pod.spec.clone().unwrap_or_default();
    let list = if init {
        spec.init_containers.unwrap_or_default()
    } else {
        spec.containers
    };
    let Some(c) = list.into_iter().find(|c| c.name == name) else {
        return;
    };
    let image = c.image.clone().unwrap_or_default();
    let fail = |reason: &str, message: String| {
        for e in events::start_failed(name, init, &image, reason, &message) {
            recorder.record(pod, e);
        }
        send(Input::ContainerStartFailed {
            name: name.to_string(),
            reason: reason.to_string(),
            message,
        })
    };
    let envs = match env::resolve_env(pod, &c, &ctx.facts, &*ctx.config.objects).await {
        Ok(e) => e,
        Err(e) => return fail(CREATE_CONTAINER_CONFIG_ERROR, e.to_string()),
    };
    let mut mounts = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let Some(dir) = ctx.volumes.get(&m.name) else {
            return fail(
                CREATE_CONTAINER_CONFIG_ERROR,
                format!(
                    "cannot find volume {:?} to mount into container {:?}",
                    m.name, name
                ),
            );
        };
        let host = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            None => dir.clone(),
            Some(sub) => match sandbox_path(dir, sub) {
                Some(p) => {
                    let _ = std::fs::create_dir_all(&p);
                    p
                }
                None => {
                    return fail(
                        CREATE_CONTAINER_CONFIG_ERROR,
                        format!("invalid subPath {sub:?}"),
                    )
                }
            },
        };
        mounts.push(Mount {
            container_path: m.mount_path.clone(),
            host_path: host,
            readonly: m.read_only == Some(true),
        });
    }
    let meta = &pod.metadata;
    let config = ContainerConfig {
        name: name.to_string(),
        attempt,
        image: image.clone(),
        command: env::expand_all(c.command.as_deref().unwrap_or_default(), &envs),
        args: env::expand_all(c.args.as_deref().unwrap_or_default(), &envs),
        envs,
        working_dir: c.working_dir.clone().unwrap_or_default(),
        mounts,
        log_path: PathBuf::from(name).join(format!("{attempt}.log")),
        labels: container_labels(
            meta.name.as_deref().unwrap_or_default(),
            meta.namespace.as_deref().unwrap_or_default(),
            meta.uid.as_deref().unwrap_or_default(),
            name,
        ),
        stdin: c.stdin == Some(true),
        stdin_once: c.stdin_once == Some(true),
        tty: c.tty == Some(true),
    };
    let runtime_spec: ContainerRuntimeSpec =
        spec::container_runtime_spec(pod, &c, ctx.config.memory_capacity());
    match rt
        .create_and_start_with(&ctx.sandbox, &config, &runtime_spec)
        .await
    {
        Ok(id) => {
            recorder.record(pod, events::created(name, init));
            recorder.record(pod, events::started(name, init));
            let started_at = rt
                .status(&id)
                .await
                .ok()
                .and_then(|s| s.started_at)
                .unwrap_or_else(Timestamp::now);
            send(Input::ContainerStarted {
                name: name.to_string(),
                id: id.clone(),
                started_at,
            });
            match rt.wait(&id).await {
                Ok(exit) => send(Input::ContainerExited {
                    name: name.to_string(),
                    id,
                    code: exit.exit_code,
                    reason: exit.reason,
                    message: exit.message,
                    finished_at: exit.finished_at,
                }),
                Err(e) => send(Input::RuntimeError {
                    name: Some(name.to_string()),
                    message: e.to_string(),
                }),
            }
        }
        Err(e) => {
            tracing::warn!(pod = ?meta.name, container = %name, error = %e, "container start failed");
            match start_failure(name, e) {
                Input::ContainerStartFailed {
                    reason, message, ..
                } => fail(&reason, message),
                exited => {
                    if let Input::ContainerExited { message, .. } = &exited {
                        let message = message.clone().unwrap_or_default();
                        for e in
                            events::start_failed(name, init, &image, "RunContainerError", &message)
                        {
                            recorder.record(pod, e);
                        }
                    }
                    send(exited)
                }
            }
        }
    }
}

/// What the worker remembers of a container between two steps, to see the
/// transitions that the kubelet reports as events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Stopping,
    BackOff,
    Other,
}

fn seen(state: &PodState) -> Vec<(String, bool, Seen)> {
    state
        .init
        .iter()
        .chain(&state.app)
        .map(|c| {
            let s = match &c.run {
                Run::Stopping { .. } => Seen::Stopping,
                Run::Waiting { reason, .. } if reason == "CrashLoopBackOff" => Seen::BackOff,
                _ => Seen::Other,
            };
            (c.name.clone(), c.init, s)
        })
        .collect()
}

/// Killing and BackOff events for containers that just started stopping
/// or just entered CrashLoopBackOff.
fn transition_events(before: &[(String, bool, Seen)], state: &PodState) -> Vec<events::PodEvent> {
    let mut out = Vec::new();
    for ((name, init, was), c) in before.iter().zip(state.init.iter().chain(&state.app)) {
        match &c.run {
            Run::Stopping { cause, .. } if *was != Seen::Stopping => {
                let probe = match cause {
                    StopCause::ProbeFailed(kind) => Some(*kind),
                    _ => None,
                };
                out.push(events::killing(name, *init, probe));
            }
            Run::Waiting { reason, .. }
                if reason == "CrashLoopBackOff" && *was != Seen::BackOff =>
            {
                out.push(events::crash_back_off(name, *init, &state.pod_ref));
            }
            _ => {}
        }
    }
    out
}

async fn run(
    pod: core::Pod,
    mut state: PodState,
    config: WorkerConfig,
    mut kill_rx: mpsc::UnboundedReceiver<Duration>,
    reports: watch::Sender<PodReport>,
    start: (Instant, Timestamp),
) -> PodReport {
    let pod = Arc::new(pod);
    let mut killed: Option<Duration> = None;
    let mut failures = 0u32;
    loop {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut shell = Shell {
            pod: pod.clone(),
            config: config.clone(),
            tx,
            sandbox: None,
            volumes: BTreeMap::new(),
            start,
        };
        shell.send(Input::Started);
        let taken_over = failures > 0;
        let why = match drive(
            &pod,
            &mut state,
            &mut shell,
            &mut rx,
            &mut kill_rx,
            &reports,
            &mut killed,
            taken_over,
        )
        .await
        {
            Ok(last) => return last,
            Err(why) => why,
        };
        // A bug in the pod's state machine or status: the pod itself is
        // fine. Start over from the runtime's view, as a new executor
        // would (the sandbox is reused, running containers re-adopted),
        // after a pause that grows while it keeps failing. Results of the
        // failed incarnation's tasks go to its dropped channel.
        failures += 1;
        let pause = RESTART_PAUSE
            .saturating_mul(1 << (failures - 1).min(6))
            .min(MAX_RESTART_PAUSE);
        tracing::error!(pod = %state.pod_ref, %why, ?pause, "the pod's worker failed; it takes the pod over again");
        config
            .events
            .record(&pod, events::worker_failed(&why, pause));
        tokio::time::sleep(pause).await;
        state = PodState::new(&pod);
    }
}

/// First pause before a failed pod worker takes its pod over again.
const RESTART_PAUSE: Duration = Duration::from_secs(1);
/// Longest such pause.
const MAX_RESTART_PAUSE: Duration = Duration::from_secs(60);

/// One incarnation of a pod's worker: feeds inputs to the machine until the
/// pod is done (its final report) or a step panics (the panic's message).
/// `taken_over`: this incarnation took the pod over from a failed one, so
/// nothing is published before the sandbox is ready again (the pod would
/// flash back to Pending), and a kill the failed one had received is given
/// again once the running containers are re-adopted.
#[allow(clippy::too_many_arguments)]
async fn drive(
    pod: &Arc<core::Pod>,
    state: &mut PodState,
    shell: &mut Shell,
    rx: &mut mpsc::UnboundedReceiver<Event>,
    kill_rx: &mut mpsc::UnboundedReceiver<Duration>,
    reports: &watch::Sender<PodReport>,
    killed: &mut Option<Duration>,
    taken_over: bool,
) -> Result<PodReport, String> {
    let mut kill_open = true;
    // From the sandbox's arrival until `SandboxReady`, re-adopted containers
    // are fed in one by one; a snapshot taken in between would show them
    // running without the pod's IPs, so nothing is published until then.
    let mut adopting = taken_over;
    let mut kill_again = if taken_over { *killed } else { None };
    loop {
        let event = tokio::select! {
            Some(e) = rx.recv() => e,
            k = kill_rx.recv(), if kill_open => match k {
                Some(grace) => {
                    *killed = Some(killed.map_or(grace, |g| g.min(grace)));
                    Event::Input(Input::Kill { grace })
                }
                None => { kill_open = false; continue; }
            },
            else => return Ok(reports.borrow().clone()),
        };
        let input = match event {
            Event::Sandbox(sb, vols) => {
                shell.sandbox = Some(sb);
                shell.volumes = vols;
                adopting = true;
                continue;
            }
            Event::Input(i) => i,
        };
        if matches!(input, Input::SandboxReady { .. }) {
            adopting = false;
            if let Some(grace) = kill_again.take() {
                shell.send(Input::Kill { grace });
            }
        }
        let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let now = shell.now();
            let before = seen(state);
            let actions = step(state, now, input);
            for e in transition_events(&before, state) {
                shell.config.events.record(pod, e);
            }
            for a in actions {
                shell.perform(state, a);
            }
            if adopting && state.stage != Stage::Terminated {
                return None;
            }
            let previous = reports.borrow().status.clone();
            Some(report(
                pod,
                state,
                &shell.config,
                Some(&previous),
                now.wall,
                shell.sandbox.as_ref(),
            ))
        }));
        let next = match stepped {
            Ok(Some(next)) => next,
            Ok(None) => continue,
            Err(panic) => return Err(panic_message(&*panic)),
        };
        reports.send_if_modified(|r| {
            if *r == next {
                false
            } else {
                *r = next.clone();
                true
            }
        });
        if state.stage == Stage::Terminated {
            return Ok(next);
        }
    }
}

#[cfg(test)]
mod log_dir_tests {
    use super::log_dir_name;

    /// Regression: a 253-character pod never started ("file name too long").
    #[test]
    fn log_dir_names_fit_a_file_name_and_keep_the_uid() {
        let uid = "a6b231e0-4ea8-44b8-8a64-7e2e255eea53";
        assert_eq!(log_dir_name("ns", "web", uid), format!("ns_web_{uid}"));
        let long = log_dir_name("default", &"n".repeat(253), uid);
        assert_eq!(long.len(), 255);
        assert!(long.starts_with("default_nnn") && long.ends_with(&format!("_{uid}")));
    }
}
