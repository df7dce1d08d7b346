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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::machine::{step, Action, Input, Now, PodState, Stage};
use super::prober;
use crate::runner::env::{self, ObjectSource, PodFacts, CREATE_CONTAINER_CONFIG_ERROR};
use crate::runner::process::{container_labels, sandbox_path};
use crate::runner::runtime::{
    ContainerConfig, Mount, Runtime, RuntimeError, SandboxConfig, SandboxInfo,
};
use crate::runner::status::{pod_status, NodeFacts};
use crate::runner::volumes;

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
        let first = report(&pod, &state, &config, None, start.1);
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
) -> PodReport {
    let node = NodeFacts {
        host_ip: config.host_ip.clone(),
    };
    let previous = previous.or(pod.status.as_ref());
    PodReport {
        status: pod_status(pod, state, config.runtime.id_scheme(), &node, previous, now),
        stage: state.stage,
        sandbox_error: state.sandbox_error.clone(),
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
                tokio::spawn(async move {
                    match prepare(&pod, &config, &facts).await {
                        Ok((sb, vols)) => {
                            let pod_ips = sb.pod_ips.clone();
                            let _ = tx.send(Event::Sandbox(sb.clone(), vols));
                            adopt(config.runtime.clone(), &sb, &tx).await;
                            let _ = tx.send(Event::Input(Input::SandboxReady { pod_ips }));
                        }
                        Err(message) => {
                            tracing::warn!(pod = ?pod.metadata.name, %message, "pod sandbox setup failed");
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
                let pod = self.pod.clone();
                let objects = self.config.objects.clone();
                let facts = self.facts(state);
                let volumes = self.volumes.clone();
                tokio::spawn(async move {
                    start_container(
                        &pod, &*rt, &*objects, &facts, &sandbox, &volumes, &name, init, attempt,
                        send,
                    )
                    .await;
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
                tokio::spawn(async move {
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
                tokio::spawn(async move {
                    let out = prober::run(&*rt, &id, &handler, &host, timeout).await;
                    if !out.success {
                        tracing::warn!(container = %name, output = %out.output, "postStart hook failed");
                    }
                    send(Input::PostStartDone {
                        name,
                        epoch,
                        success: out.success,
                    });
                });
            }
            Action::StopContainer { name, id, grace } => {
                tokio::spawn(async move {
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
                tokio::spawn(async move {
                    let out = prober::run(&*rt, &id, &spec.handler, &host, spec.timeout).await;
                    if !out.success {
                        tracing::debug!(container = %name, probe = spec.kind.as_str(), output = %out.output, "probe failed");
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
                tokio::spawn(async move {
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
/// live ones are watched like freshly started ones.
async fn adopt(rt: Arc<dyn Runtime>, sb: &SandboxInfo, tx: &mpsc::UnboundedSender<Event>) {
    let mut found = match rt.list_containers(&sb.pod_uid).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "listing containers for re-adoption failed");
            return;
        }
    };
    found.sort_by_key(|c| c.attempt);
    for c in found {
        let running = c.exit.is_none();
        let name = c.name.clone();
        let id = c.id.clone();
        tracing::info!(container = %name, id = %id, running, "re-adopting container");
        let _ = tx.send(Event::Input(Input::Adopted {
            name: c.name,
            id: c.id,
            attempt: c.attempt,
            started_at: c.started_at,
            exit: c
                .exit
                .map(|e| (e.exit_code, e.reason, e.message, e.finished_at)),
        }));
        if running {
            let tx = tx.clone();
            let rt = rt.clone();
            tokio::spawn(async move {
                match rt.wait(&id).await {
                    Ok(exit) => {
                        let _ = tx.send(Event::Input(Input::ContainerExited {
                            name,
                            id,
                            code: exit.exit_code,
                            reason: exit.reason,
                            message: exit.message,
                            finished_at: exit.finished_at,
                        }));
                    }
                    Err(e) => {
                        let _ = tx.send(Event::Input(Input::RuntimeError {
                            name: Some(name),
                            message: e.to_string(),
                        }));
                    }
                }
            });
        }
    }
}

async fn prepare(
    pod: &core::Pod,
    config: &WorkerConfig,
    facts: &PodFacts,
) -> Result<(SandboxInfo, BTreeMap<String, PathBuf>), String> {
    let meta = &pod.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    let uid = meta.uid.clone().unwrap_or_default();
    let sb = config
        .runtime
        .prepare_pod(&SandboxConfig {
            log_directory: config.log_root.join(format!("{namespace}_{name}_{uid}")),
            labels: meta.labels.clone().unwrap_or_default(),
            name,
            namespace,
            uid,
        })
        .await
        .map_err(|e| e.to_string())?;
    let vols = volumes::setup_volumes(pod, &sb.dir.join("volumes"), facts, &*config.objects)
        .await
        .map_err(|e| e.to_string())?;
    Ok((sb, vols))
}

#[allow(clippy::too_many_arguments)]
async fn start_container(
    pod: &core::Pod,
    rt: &dyn Runtime,
    objects: &dyn ObjectSource,
    facts: &PodFacts,
    sandbox: &SandboxInfo,
    volumes: &BTreeMap<String, PathBuf>,
    name: &str,
    init: bool,
    attempt: u32,
    send: impl Fn(Input),
) {
    let spec = pod.spec.clone().unwrap_or_default();
    let list = if init {
        spec.init_containers.unwrap_or_default()
    } else {
        spec.containers
    };
    let Some(c) = list.into_iter().find(|c| c.name == name) else {
        return;
    };
    let config_error = |message: String| Input::ContainerStartFailed {
        name: name.to_string(),
        reason: CREATE_CONTAINER_CONFIG_ERROR.into(),
        message,
    };
    let envs = match env::resolve_env(pod, &c, facts, objects).await {
        Ok(e) => e,
        Err(e) => return send(config_error(e.to_string())),
    };
    let mut mounts = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let Some(dir) = volumes.get(&m.name) else {
            return send(config_error(format!(
                "cannot find volume {:?} to mount into container {:?}",
                m.name, name
            )));
        };
        let host = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            None => dir.clone(),
            Some(sub) => match sandbox_path(dir, sub) {
                Some(p) => {
                    let _ = std::fs::create_dir_all(&p);
                    p
                }
                None => return send(config_error(format!("invalid subPath {sub:?}"))),
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
        image: c.image.clone().unwrap_or_default(),
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
    };
    match rt.create_and_start(sandbox, &config).await {
        Ok(id) => {
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
        Err(RuntimeError::InvalidContainerConfig { message, .. }) => {
            send(Input::ContainerStartFailed {
                name: name.to_string(),
                reason: "CreateContainerError".into(),
                message,
            })
        }
        Err(e) => {
            // Like runc failing to exec: a terminated container with
            // reason StartError and exit code 128, subject to backoff.
            send(Input::ContainerExited {
                name: name.to_string(),
                id: String::new(),
                code: 128,
                reason: "StartError".into(),
                message: Some(e.to_string()),
                finished_at: Timestamp::now(),
            })
        }
    }
}

async fn run(
    pod: core::Pod,
    mut state: PodState,
    config: WorkerConfig,
    mut kill_rx: mpsc::UnboundedReceiver<Duration>,
    reports: watch::Sender<PodReport>,
    start: (Instant, Timestamp),
) -> PodReport {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pod = Arc::new(pod);
    let mut shell = Shell {
        pod: pod.clone(),
        config,
        tx,
        sandbox: None,
        volumes: BTreeMap::new(),
        start,
    };
    shell.send(Input::Started);
    let mut kill_open = true;
    loop {
        let event = tokio::select! {
            Some(e) = rx.recv() => e,
            k = kill_rx.recv(), if kill_open => match k {
                Some(grace) => Event::Input(Input::Kill { grace }),
                None => { kill_open = false; continue; }
            },
            else => return reports.borrow().clone(),
        };
        let input = match event {
            Event::Sandbox(sb, vols) => {
                shell.sandbox = Some(sb);
                shell.volumes = vols;
                continue;
            }
            Event::Input(i) => i,
        };
        let now = shell.now();
        let actions = step(&mut state, now, input);
        for a in actions {
            shell.perform(&state, a);
        }
        let previous = reports.borrow().status.clone();
        let next = report(&pod, &state, &shell.config, Some(&previous), now.wall);
        reports.send_if_modified(|r| {
            if *r == next {
                false
            } else {
                *r = next.clone();
                true
            }
        });
        if state.stage == Stage::Terminated {
            return next;
        }
    }
}
