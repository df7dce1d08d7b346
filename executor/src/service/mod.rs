//! The executor service: the async shell that makes a Mesos executor act as
//! the node's kubelet.
//!
//! It ties together the Mesos subscription ([`crate::mesos`]), one
//! [`PodWorker`] per task, one status writer per pod
//! ([`crate::kube::pod_status`]), and, once the agent has said who it is
//! (SUBSCRIBED), the node role: the kubelet endpoint ([`crate::kubelet`]) on
//! the executor's port, and the Node status and the node Lease while this
//! executor is the agent's newest generation ([`crate::node_role`]: after
//! an upgrade several executors share the agent's Node).
//!
//! One loop owns all state and handles one input at a time: Mesos events,
//! pod status snapshots (forwarded from each worker's `watch`), and
//! shutdown signals. What each pod means for its Mesos task is decided by
//! the pure [`task::PodTask`]; the loop only sends what it returns. Nothing
//! in the loop waits on the API server: writers run in their own tasks.
//!
//! Shutdown (SHUTDOWN, a fatal subscription error, or SIGTERM) kills every
//! pod gracefully within `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`, reports
//! TASK_KILLED, lets the writers flush, removes the stopped pods' sandboxes
//! and whatever else of the runtime no pod of the node needs
//! ([`housekeeping`]), then returns. A second SIGTERM (or the deadline)
//! returns at once, leaving pods running.
//!
//! Nothing leaks meanwhile: a pod deleted after it was killed has its
//! sandbox removed right after its final deletion, and the housekeeping
//! (at startup once the agent has subscribed, then every
//! `housekeeping_interval`) removes the runtime state of pods that are gone
//! from the API server. Pod events (Started, Killing, BackOff, ...) are
//! written by [`crate::kube::events`] once the node name is known.
//!
//! A framework message asking to hand tasks over
//! ([`kube_mesos_node::handover`], sent to executors of an older
//! configuration) lets go of the pods whose containers outlive this
//! executor (CRI) — worker detached, status writer stopped, containers
//! untouched, task `TASK_FINISHED` labelled `released` — and keeps the
//! others, saying so; the executor then exits once it has no pods left.
//!
//! A KILL for a task this executor does not run is ignored with a warning,
//! as Mesos' own default executor does (`killTask`: "Ignoring kill for task
//! ... as it is no longer active"); so is a KILL while shutting down.

pub mod facts;
pub mod housekeeping;
pub mod task;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1 as core;
use kube_mesos_client::Shutdown;
use kube_mesos_proto::v1::executor::event;
use kube_mesos_proto::v1::task_status::Reason;
use kube_mesos_proto::v1::{AgentInfo, ExecutorInfo, TaskId, TaskInfo, TaskState, TaskStatus};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::housekeeping::Ours;
use self::task::{PodTask, TaskUpdate};
use crate::config::{ExecutorConfig, KubeCredentials, RuntimeKind};
use crate::kube::events::ApiEventRecorder;
use crate::kube::identity::{IssueWait, NodeIdentity};
use crate::kube::node::{HostFacts, NodeFacts};
use crate::kube::objects::ApiObjects;
use crate::kube::pod_status::{delete_if_terminating, write_statuses, PodRef, WriterEnd};
use crate::kube::KubeError;
use crate::kubelet::{self, KnownPod, KubeletState, PodDirectory};
use crate::mesos::{ExecutorClient, ExecutorEnv, ExecutorEvent};
use crate::node_role::coordinator::{run_coordinator, NODE_ROLE_TICK};
use crate::node_role::registry::{Membership, PeerSocket, PodKey, Registry, RegistryError};
use crate::node_role::writers::NodeWriters;
use crate::node_role::GenerationHost;
use crate::runner::pod::machine::Stage;
use crate::runner::pod::worker::{PodReport, PodWorker, WorkerConfig};
use crate::runner::runtime::Runtime;

/// Why the service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The Kubernetes client could not be set up.
    #[error("setting up the Kubernetes client failed")]
    KubeSetupFailed(#[source] KubeError),
    /// The node's own client certificate could not be had (bootstrap
    /// kubeconfig unusable, CSR denied or not issued in time).
    #[error("getting the node's client certificate failed")]
    NodeIdentityFailed(#[source] crate::kube::identity::IdentityError),
    /// The container runtime could not be set up.
    #[error("setting up the {runtime} runtime failed")]
    RuntimeSetupFailed {
        /// Runtime name.
        runtime: &'static str,
        /// Cause.
        #[source]
        source: crate::runner::runtime::RuntimeError,
    },
    /// The executor's directories could not be created.
    #[error("creating {path} failed")]
    CreateDirFailed {
        /// The directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The Mesos client could not be built.
    #[error("setting up the Mesos executor client failed")]
    MesosSetupFailed(#[source] crate::mesos::Error),
    /// The subscription to the agent ended for good (agent lost without
    /// checkpointing, recovery timeout, refusal).
    #[error("the connection to the Mesos agent ended")]
    AgentLost(#[source] crate::mesos::Error),
    /// No port the executor owns could be bound for the kubelet endpoint.
    /// The executor exits rather than advertise a port it does not serve.
    #[error("binding the kubelet endpoint failed")]
    KubeletBindFailed(#[source] kubelet::listener::BindError),
    /// The kubelet endpoint's TLS could not be set up.
    #[error("setting up the kubelet endpoint's TLS failed")]
    KubeletTlsFailed(#[source] kubelet::tls::TlsError),
}

/// A pod as the directory keeps it: the pod, its snapshots, its log dir.
type DirectoryEntry = (Arc<core::Pod>, watch::Receiver<PodReport>, PathBuf);

/// Pods by namespace and name, for the kubelet endpoint; published in the
/// executor registry once this generation joined it, so the other
/// generations of the agent can forward requests for them here.
#[derive(Default)]
struct Directory {
    pods: Mutex<HashMap<(String, String), DirectoryEntry>>,
    membership: OnceLock<Arc<Membership>>,
}

impl Directory {
    /// Publishes the pods from now on in `membership`.
    fn join(&self, membership: Arc<Membership>) {
        let membership = self.membership.get_or_init(|| membership);
        if let Err(e) = membership.publish() {
            tracing::warn!(error = %e, "publishing this executor in the registry failed");
        }
        self.publish();
    }

    fn insert(&self, key: (String, String), entry: DirectoryEntry) {
        self.pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, entry);
        self.publish();
    }

    fn publish(&self) {
        let Some(membership) = self.membership.get() else {
            return;
        };
        let pods = self
            .pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|((namespace, name), (pod, _, _))| PodKey {
                namespace: namespace.clone(),
                name: name.clone(),
                uid: pod.metadata.uid.clone().unwrap_or_default(),
            })
            .collect();
        if let Err(e) = membership.set_pods(pods) {
            tracing::warn!(error = %e, "publishing this executor's pods in the registry failed; other generations cannot forward requests for them");
        }
    }

    /// Tells the other generations this one is draining.
    fn draining(&self) {
        if let Some(membership) = self.membership.get() {
            if let Err(e) = membership.set_draining() {
                tracing::warn!(error = %e, "publishing that this executor drains failed");
            }
        }
    }
}

impl PodDirectory for Directory {
    fn elsewhere(&self, namespace: &str, name: &str) -> Option<PeerSocket> {
        let membership = self.membership.get()?;
        membership
            .registry()
            .locate(namespace, name, membership.sequence())
    }

    fn find(&self, namespace: &str, name: &str) -> Option<KnownPod> {
        let pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
        let (pod, reports, log_dir) = pods.get(&(namespace.to_string(), name.to_string()))?;
        let status = reports.borrow().status.clone();
        Some(KnownPod {
            pod: pod.clone(),
            status,
            log_dir: log_dir.clone(),
        })
    }
}

/// What the loop reacts to besides Mesos events.
enum Input {
    /// A pod's new status snapshot.
    Report {
        task_id: String,
        report: Box<PodReport>,
    },
    /// A pod's worker finished.
    WorkerDone { task_id: String },
}

/// One task this executor runs.
struct Running {
    /// Pod IPs of the last snapshot, reported in TaskStatus.
    pod_ips: Vec<String>,
    pod: Arc<core::Pod>,
    task: PodTask,
    task_info: TaskInfo,
    worker: Option<PodWorker>,
    writer: Option<tokio::task::JoinHandle<()>>,
}

/// The node role, started at the first SUBSCRIBED.
/// How long the node role's tasks get to stop at the end.
const NODE_ROLE_STOP_GRACE: Duration = Duration::from_secs(2);

struct NodeRole {
    /// Stops every task of the role (the one shutdown model: a token).
    stop: CancellationToken,
    /// Every task of the role, so that the end waits for exactly them.
    tasks: TaskTracker,
}

/// The executor service. Build with [`ExecutorService::new`], then [`run`](Self::run).
pub struct ExecutorService {
    config: ExecutorConfig,
    env: ExecutorEnv,
    client: kube::Client,
    /// With a bootstrap kubeconfig: the node identity `client` speaks with.
    identity: Option<Arc<NodeIdentity>>,
    runtime: Arc<dyn Runtime>,
    runtime_version: String,
}

impl ExecutorService {
    /// Sets up the Kubernetes client and the runtime, and says which
    /// runtime is used.
    pub async fn new(config: ExecutorConfig, env: ExecutorEnv) -> Result<Self, ServiceError> {
        for dir in [&config.root_dir, &config.pod_log_dir] {
            std::fs::create_dir_all(dir).map_err(|source| ServiceError::CreateDirFailed {
                path: dir.clone(),
                source,
            })?;
        }
        let (client, identity) = match &config.credentials {
            KubeCredentials::Bootstrap(path) => {
                let identity =
                    NodeIdentity::new(path, &config.root_dir.join("pki"), IssueWait::default())
                        .await
                        .map_err(ServiceError::NodeIdentityFailed)?;
                (identity.client(), Some(Arc::new(identity)))
            }
            other => (
                crate::kube::client(other)
                    .await
                    .map_err(ServiceError::KubeSetupFailed)?,
                None,
            ),
        };
        let (runtime, runtime_version): (Arc<dyn Runtime>, String) = match config.runtime {
            RuntimeKind::Process => {
                let rt = crate::runner::process::ProcessRuntime::new(
                    crate::runner::process::ProcessConfig::new(config.root_dir.join("process")),
                );
                (
                    Arc::new(rt),
                    format!("process://{}", env!("CARGO_PKG_VERSION")),
                )
            }
            RuntimeKind::Cri => {
                let cri = crate::runner::cri::CriConfig::new(
                    &config.cri_socket,
                    config.root_dir.join("cri"),
                );
                let rt = crate::runner::cri::CriRuntime::connect(cri)
                    .await
                    .map_err(|source| ServiceError::RuntimeSetupFailed {
                        runtime: "cri",
                        source,
                    })?;
                let version = match rt.version().await {
                    Ok(v) => format!("{}://{}", v.runtime_name, v.runtime_version),
                    Err(_) => format!("{}://unknown", rt.id_scheme()),
                };
                (Arc::new(rt), version)
            }
        };
        match config.runtime {
            // The process runtime's own warning: no images, no isolation.
            RuntimeKind::Process => {
                tracing::warn!(runtime = "process", version = %runtime_version, "{}", runtime.describe())
            }
            RuntimeKind::Cri => {
                tracing::info!(runtime = "cri", version = %runtime_version, "{}", runtime.describe())
            }
        }
        Ok(Self {
            config,
            env,
            client,
            identity,
            runtime,
            runtime_version,
        })
    }

    /// Runs until SHUTDOWN, the loss of the agent, or `shutdown`: a drain
    /// stops the pods gracefully, a forced exit (or a drain while already
    /// stopping) leaves them running. Returns the error that ended it.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), ServiceError> {
        let mesos =
            ExecutorClient::new(self.env.clone()).map_err(ServiceError::MesosSetupFailed)?;
        let mut events = mesos.events();
        let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
        let mut shell = Shell {
            service: &self,
            mesos: mesos.clone(),
            tx: tx.clone(),
            tasks: HashMap::new(),
            relaunches: HashMap::new(),
            directory: Arc::new(Directory::default()),
            node: None,
            node_role: None,
            killing_capable: false,
            draining: None,
            retiring: false,
            events: None,
            ours: Ours::default(),
        };
        let mut events_open = true;
        let mut drain_seen = false;
        let mut end: Result<(), ServiceError> = Ok(());
        loop {
            if shell.retiring && shell.draining.is_none() && shell.all_finished() {
                tracing::info!("every pod handed over or ended; the retired executor exits");
                break;
            }
            if let Some(deadline) = shell.draining {
                if shell.all_finished() {
                    tracing::info!("all pods stopped; executor exits");
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(
                        "shutdown grace period over with pods still stopping; executor exits"
                    );
                    break;
                }
            }
            let deadline = shell.draining;
            tokio::select! {
                event = events.next(), if events_open => match event {
                    Some(Ok(e)) => {
                        if let Err(e) = shell.on_mesos(e).await {
                            let cause = std::error::Error::source(&e)
                                .map(ToString::to_string)
                                .unwrap_or_default();
                            tracing::error!(error = %e, %cause, "the executor cannot serve this node; exiting");
                            end = Err(e);
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "subscription to the agent ended; stopping pods and exiting");
                        events_open = false;
                        end = Err(ServiceError::AgentLost(e));
                        shell.drain();
                    }
                    None => { events_open = false; shell.drain(); }
                },
                Some(input) = rx.recv() => match input {
                    Input::Report { task_id, report } => shell.on_report(&task_id, *report).await,
                    Input::WorkerDone { task_id } => shell.on_worker_done(&task_id).await,
                },
                _ = shutdown.forced() => {
                    tracing::warn!("forced exit: exiting now, pods keep running");
                    shell.detach_all();
                    return end;
                }
                _ = shutdown.draining(), if !drain_seen => {
                    drain_seen = true;
                    if shell.draining.is_some() {
                        tracing::warn!("termination signal while stopping: exiting now, pods keep running");
                        shell.detach_all();
                        return end;
                    }
                    tracing::info!("termination signal: stopping pods gracefully");
                    shell.drain();
                }
                _ = sleep_until_opt(deadline) => {}
            }
        }
        shell.finish().await;
        end
    }
}

/// Joins the executor registry under `root_dir` and binds this
/// generation's peer socket (not yet published: see [`Directory::join`]).
fn join_generations(
    root_dir: &std::path::Path,
    node_name: &str,
    executor_id: &str,
    kubelet_port: u16,
) -> Result<(Arc<Membership>, tokio::net::UnixListener), RegistryError> {
    let membership = Registry::open(root_dir, node_name)?.join(executor_id, kubelet_port)?;
    let socket = membership.socket();
    let listener = socket.bind().map_err(|source| RegistryError::FileFailed {
        what: "binding",
        path: socket.path(),
        source,
    })?;
    Ok((Arc::new(membership), listener))
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

struct Shell<'a> {
    service: &'a ExecutorService,
    mesos: ExecutorClient,
    tx: mpsc::UnboundedSender<Input>,
    tasks: HashMap<String, Running>,
    /// LAUNCHes of a task whose earlier run here ended but whose worker has
    /// not said its last word yet: started once it has.
    relaunches: HashMap<String, TaskInfo>,
    directory: Arc<Directory>,
    /// Node facts once subscribed: name, IP, allocatable.
    node: Option<(String, Option<IpAddr>, AgentInfo)>,
    node_role: Option<NodeRole>,
    killing_capable: bool,
    /// Set while shutting down: the deadline.
    draining: Option<tokio::time::Instant>,
    /// The framework asked this executor to hand its pods over (it is of
    /// an older configuration): it exits once it has none left.
    retiring: bool,
    /// Pod events, once the node name is known.
    events: Option<ApiEventRecorder>,
    /// UIDs of the pods this executor runs (kept by the housekeeping).
    ours: Ours,
}

impl Shell<'_> {
    async fn send(&self, task_id: &str, update: TaskUpdate, agent: Option<&TaskInfo>) {
        let pod_ips = self
            .tasks
            .get(task_id)
            .map(|r| r.pod_ips.as_slice())
            .unwrap_or_default();
        let mut status = TaskStatus {
            task_id: TaskId {
                value: task_id.to_string(),
            },
            message: update.message.clone(),
            agent_id: agent.map(|t| t.agent_id.clone()),
            container_status: facts::container_status(pod_ips),
            ..Default::default()
        };
        status.set_state(update.state);
        if let Some(r) = update.reason {
            status.set_reason(r);
        }
        if let Some(answer) = update.handover {
            status.labels = Some(kube_mesos_proto::v1::Labels {
                labels: vec![kube_mesos_proto::v1::Label {
                    key: kube_mesos_node::handover::LABEL.to_owned(),
                    value: Some(answer.to_owned()),
                }],
            });
        }
        tracing::info!(task_id, state = update.state.as_str_name(), message = ?update.message, "task status update");
        if let Err(e) = self.mesos.update(status).await {
            tracing::error!(task_id, error = %e, "the agent refused a status update");
        }
    }

    /// Handles one event; an error means the executor must exit (its node
    /// role could not start).
    async fn on_mesos(&mut self, event: ExecutorEvent) -> Result<(), ServiceError> {
        match event {
            ExecutorEvent::Connected { subscribed } => {
                return self.on_subscribed(*subscribed).await
            }
            ExecutorEvent::Disconnected { reason } => {
                tracing::warn!(error = %reason, "disconnected from the agent; pods keep running while reconnecting");
            }
            ExecutorEvent::Event(e) => match e.r#type() {
                event::Type::Launch => {
                    if let Some(launch) = e.launch {
                        self.on_launch(launch.task).await;
                    }
                }
                event::Type::LaunchGroup => {
                    for t in e
                        .launch_group
                        .map(|g| g.task_group.tasks)
                        .unwrap_or_default()
                    {
                        let update = TaskUpdate {
                            state: TaskState::TaskFailed,
                            message: Some(
                                "LAUNCH_GROUP is not supported by the kube-mesos executor: launch one task per pod with LAUNCH".into(),
                            ),
                            reason: Some(Reason::TaskGroupInvalid),
                handover: None,
                        };
                        self.send(&t.task_id.value, update, Some(&t)).await;
                    }
                }
                event::Type::Kill => {
                    if let Some(kill) = e.kill {
                        self.on_kill(&kill.task_id.value, kill.kill_policy.as_ref())
                            .await;
                    }
                }
                event::Type::Shutdown => {
                    tracing::info!("SHUTDOWN from the agent: stopping every pod");
                    self.drain();
                }
                event::Type::Error => {
                    let message = e.error.map(|e| e.message).unwrap_or_default();
                    tracing::error!(%message, "ERROR from the agent: stopping pods and exiting");
                    self.drain();
                }
                event::Type::Message => {
                    let data = e.message.map(|m| m.data).unwrap_or_default();
                    match kube_mesos_node::handover::parse_release_request(&data) {
                        Some(tasks) => self.on_release(&tasks).await,
                        None => tracing::debug!("framework message ignored"),
                    }
                }
                other => {
                    tracing::debug!(event = other.as_str_name(), "event handled by the client")
                }
            },
        }
        Ok(())
    }

    async fn on_subscribed(&mut self, subscribed: event::Subscribed) -> Result<(), ServiceError> {
        let config = &self.service.config;
        self.killing_capable = facts::killing_capable(&subscribed.framework_info);
        if self.node.is_some() {
            tracing::info!("resubscribed to the agent; unacknowledged updates were handed back");
            return Ok(());
        }
        let agent = subscribed.agent_info;
        let node_name = facts::node_name(config.node_name.as_deref(), &agent.hostname);
        let node_ip = match config
            .node_ip
            .or_else(|| facts::agent_ip(&self.service.env.agent_pid))
        {
            Some(ip) => Some(ip),
            None => tokio::net::lookup_host((agent.hostname.as_str(), 0))
                .await
                .ok()
                .and_then(|mut a| a.next())
                .map(|a| a.ip()),
        };
        // The node's own identity first: everything below speaks as it.
        let rotation = match &self.service.identity {
            Some(identity) => {
                let cert = identity
                    .ensure(&node_name)
                    .await
                    .map_err(ServiceError::NodeIdentityFailed)?;
                Some((identity.clone(), cert))
            }
            None => None,
        };
        self.start_node_role(&node_name, node_ip, &agent, &subscribed.executor_info)
            .await?;
        if let (Some((identity, cert)), Some(role)) = (rotation, &mut self.node_role) {
            role.tasks.spawn(identity.run_rotation(
                node_name.clone(),
                cert,
                role.stop.clone().cancelled_owned(),
            ));
        }
        self.node = Some((node_name.clone(), node_ip, agent.clone()));
        let (events, writer) =
            ApiEventRecorder::spawn(self.service.client.clone(), node_name.clone());
        self.events = Some(events);
        // Housekeeping: at once (pods to be relaunched are still bound to
        // the node, so they are kept for re-adoption), then periodically.
        let stop = self.node_role.as_ref().map(|r| r.stop.clone());
        let task = tokio::spawn(housekeeping::run_housekeeping(
            self.service.client.clone(),
            self.service.runtime.clone(),
            node_name,
            self.ours.clone(),
            config.pod_log_dir.clone(),
            config.housekeeping_interval,
            async move {
                match stop {
                    Some(stop) => stop.cancelled().await,
                    None => std::future::pending().await,
                }
            },
        ));
        if let Some(role) = &self.node_role {
            role.tasks.spawn(async move {
                let _ = task.await;
            });
            role.tasks.spawn(async move {
                let _ = writer.await;
            });
        }
        Ok(())
    }

    /// Starts the kubelet endpoint, the Node status and the Node lease. The
    /// endpoint comes first: the Node advertises the port it really bound,
    /// and if none of the executor's ports binds, nothing is started and
    /// the error ends the executor (see [`kubelet::listener`]).
    async fn start_node_role(
        &mut self,
        node_name: &str,
        node_ip: Option<IpAddr>,
        agent: &AgentInfo,
        executor: &ExecutorInfo,
    ) -> Result<(), ServiceError> {
        let config = &self.service.config;
        let mut ports = facts::kubelet_ports(&executor.resources);
        if ports.is_empty() {
            // Not started by our framework (no ports resource): the flag.
            ports.push(config.kubelet_port);
        }
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let mut names = vec![
            node_name.to_string(),
            agent.hostname.clone(),
            "localhost".into(),
        ];
        if let Some(ip) = node_ip {
            names.push(ip.to_string());
        }
        let tls =
            kubelet::tls::server_config(config, &names).map_err(ServiceError::KubeletTlsFailed)?;
        let (listener, kubelet_port) =
            kubelet::listener::bind_owned_port(config.kubelet_address, &ports)
                .await
                .map_err(ServiceError::KubeletBindFailed)?;
        let reviews = kubelet::authz::ApiReviews {
            client: self.service.client.clone(),
        };
        let state = KubeletState {
            auth: config.kubelet_auth.clone(),
            pods: self.directory.clone(),
            runtime: self.service.runtime.clone(),
            access: Some(Arc::new(kubelet::authz::Access::new(
                node_name,
                Box::new(reviews),
            ))),
        };
        let shutdown = stop.clone().cancelled_owned();
        let tls_state = state.clone();
        tasks.spawn(async move {
            if let Err(e) = kubelet::serve(listener, tls, tls_state, shutdown).await {
                tracing::error!(error = %e, "kubelet endpoint failed");
            }
        });
        tracing::info!(
            port = kubelet_port,
            "kubelet endpoint serving /containerLogs over HTTPS"
        );
        let writers = NodeWriters {
            client: self.service.client.clone(),
            facts: NodeFacts {
                node_name: node_name.to_string(),
                hostname: agent.hostname.clone(),
                internal_ip: node_ip.map(|i| i.to_string()),
                resources: agent.resources.clone(),
                executor_resources: executor.resources.clone(),
                attributes: agent.attributes.clone(),
                kubelet_port,
                container_runtime_version: self.service.runtime_version.clone(),
                host: HostFacts::read(),
            },
            status_interval: config.node_status_interval,
            lease_interval: config.lease_renew_interval,
        };
        match join_generations(
            &config.root_dir,
            node_name,
            &executor.executor_id.value,
            kubelet_port,
        ) {
            Ok((membership, peers)) => {
                tracing::info!(
                    sequence = membership.sequence(),
                    registry = %membership.registry().dir().display(),
                    "executor generation registered; the newest generation writes the Node status and Lease"
                );
                tasks.spawn(kubelet::peer::serve_peers(
                    peers,
                    state,
                    stop.clone().cancelled_owned(),
                ));
                self.directory.join(membership.clone());
                let host = GenerationHost::new(membership, writers);
                let shutdown = stop.clone().cancelled_owned();
                tasks.spawn(async move {
                    run_coordinator(host, NODE_ROLE_TICK, shutdown).await;
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "the executor registry under the root dir cannot be used: this executor writes the Node status and Lease on its own, and pods of other executor generations of this agent are not reachable through its kubelet endpoint");
                let running = writers.start();
                let stopped = stop.clone();
                tasks.spawn(async move {
                    stopped.cancelled().await;
                    running.stop().await;
                });
            }
        }
        self.node_role = Some(NodeRole { stop, tasks });
        Ok(())
    }

    /// LAUNCH: a pod to run. Named steps: whether this launch starts a run
    /// ([`Self::launch_starts_a_run`]), refusal while draining, decoding the
    /// pod, then the pod worker, the forwarding of its reports into the
    /// loop and the pod's status writer.
    async fn on_launch(&mut self, task_info: TaskInfo) {
        let Some(task_info) = self.launch_starts_a_run(task_info) else {
            return;
        };
        let task_id = task_info.task_id.value.clone();
        if self.draining.is_some() {
            let update = TaskUpdate {
                state: TaskState::TaskKilled,
                message: Some("the executor is shutting down".into()),
                reason: Some(Reason::TaskKilledDuringLaunch),
                handover: None,
            };
            self.send(&task_id, update, Some(&task_info)).await;
            return;
        }
        let Some(pod) = self.decode_or_fail(&task_id, &task_info).await else {
            return;
        };
        let (task, starting) = PodTask::accepted(self.killing_capable);
        self.send(&task_id, starting, Some(&task_info)).await;
        let pod_ref = PodRef::of(&pod);
        let relaunch = facts::relaunch(&task_info);
        tracing::info!(%task_id, pod = %pod_ref, uid = %pod_ref.uid, relaunch = ?relaunch, "running pod");
        let worker_config = self.worker_config(&pod_ref, relaunch);
        self.ours
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pod_ref.uid.clone());
        let log_dir =
            self.service
                .config
                .pod_log_dir
                .join(crate::runner::pod::worker::log_dir_name(
                    &pod_ref.namespace,
                    &pod_ref.name,
                    &pod_ref.uid,
                ));
        let worker = PodWorker::spawn(pod.clone(), worker_config);
        let reports = worker.subscribe();
        let pod = Arc::new(pod);
        self.directory.insert(
            (pod_ref.namespace.clone(), pod_ref.name.clone()),
            (pod.clone(), reports.clone(), log_dir.clone()),
        );
        self.forward_reports(task_id.clone(), reports.clone());
        let writer = self.spawn_status_writer(pod_ref, &pod, reports, log_dir);
        self.tasks.insert(
            task_id,
            Running {
                pod_ips: Vec::new(),
                pod,
                task,
                task_info,
                worker: Some(worker),
                writer: Some(writer),
            },
        );
    }

    /// The LAUNCH to run now, or `None` when it is a duplicate of a running
    /// task (ignored) or the relaunch of a task whose worker is still
    /// finishing (kept for [`Self::on_worker_done`]).
    fn launch_starts_a_run(&mut self, task_info: TaskInfo) -> Option<TaskInfo> {
        let task_id = task_info.task_id.value.clone();
        if let Some(earlier) = self.tasks.get(&task_id) {
            if !earlier.task.is_terminal() {
                tracing::info!(%task_id, "LAUNCH for a task already running; ignored");
                return None;
            }
            // The scheduler launches the task again once its terminal
            // update is acknowledged (a pod relaunched under its task ID
            // after a kill): a new run, which must not be ignored — the
            // task would stay STAGING for ever.
            if earlier.worker.is_some() {
                tracing::info!(%task_id, "LAUNCH of a task that ended here; started once its worker is done");
                self.relaunches.insert(task_id, task_info);
                return None;
            }
            tracing::info!(%task_id, "LAUNCH of a task that ended here; starting it again");
            self.forget(&task_id);
        }
        Some(task_info)
    }

    /// The pod in the task's data, or `None` after failing the task with
    /// TASK_INVALID (a pod that cannot be decoded never runs).
    async fn decode_or_fail(&self, task_id: &str, task_info: &TaskInfo) -> Option<core::Pod> {
        match facts::decode_pod(task_info) {
            Ok(p) => Some(p),
            Err(e) => {
                let message = match std::error::Error::source(&e) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                };
                tracing::warn!(%task_id, %message, "LAUNCH with an unusable pod");
                let update = TaskUpdate {
                    state: TaskState::TaskFailed,
                    message: Some(message),
                    reason: Some(Reason::TaskInvalid),
                    handover: None,
                };
                self.send(task_id, update, Some(task_info)).await;
                None
            }
        }
    }

    /// What a pod's worker needs from this executor: the runtime, the API
    /// objects scoped to the pod and node, the node's IP and allocatable
    /// (downward API), logs, DNS and events, and why it was relaunched.
    fn worker_config(
        &self,
        pod_ref: &PodRef,
        relaunch: Option<(kube_mesos_node::relaunch::Reason, String)>,
    ) -> WorkerConfig {
        let (host_ip, allocatable) = match &self.node {
            Some((_, ip, agent)) => (
                ip.map(|i| i.to_string()),
                kube_mesos_node::capacity::node_resources(&agent.resources, &[])
                    .into_maps(k8s_openapi::apimachinery::pkg::api::resource::Quantity)
                    .0,
            ),
            None => (None, Default::default()),
        };
        let events: Arc<dyn crate::runner::events::EventRecorder> = match &self.events {
            Some(e) => Arc::new(e.clone()),
            None => Arc::new(crate::runner::events::NoEvents),
        };
        WorkerConfig {
            runtime: self.service.runtime.clone(),
            objects: Arc::new(match &self.node {
                Some((node, _, _)) => {
                    ApiObjects::for_pod(self.service.client.clone(), pod_ref.clone(), node.clone())
                }
                None => ApiObjects::new(self.service.client.clone()),
            }),
            host_ip,
            node_allocatable: allocatable,
            log_root: self.service.config.pod_log_dir.clone(),
            cluster_dns: self.service.config.cluster_dns(),
            events,
            lost_with_executor: relaunch.and_then(|(reason, message)| {
                (reason == kube_mesos_node::relaunch::Reason::ExecutorLost).then_some(message)
            }),
        }
    }

    /// Forwards a worker's report snapshots into the loop as
    /// [`Input::Report`], then [`Input::WorkerDone`] once it finished.
    fn forward_reports(&self, task_id: String, mut forward: watch::Receiver<PodReport>) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            loop {
                let report = Box::new(forward.borrow_and_update().clone());
                let finished = report.finished();
                if tx
                    .send(Input::Report {
                        task_id: task_id.clone(),
                        report,
                    })
                    .is_err()
                    || finished
                {
                    break;
                }
                if forward.changed().await.is_err() {
                    let report = Box::new(forward.borrow().clone());
                    let _ = tx.send(Input::Report {
                        task_id: task_id.clone(),
                        report,
                    });
                    break;
                }
            }
            let _ = tx.send(Input::WorkerDone { task_id });
        });
    }

    /// The pod's status writer, then deletion of a pod being deleted, then
    /// removal of its sandbox (the kubelet removes a deleted pod's
    /// containers).
    fn spawn_status_writer(
        &self,
        pod_ref: PodRef,
        pod: &core::Pod,
        reports: watch::Receiver<PodReport>,
        pod_log_dir: PathBuf,
    ) -> tokio::task::JoinHandle<()> {
        let client = self.service.client.clone();
        let runtime = self.service.runtime.clone();
        let ours = self.ours.clone();
        let final_reports = reports.clone();
        let initial = pod.status.clone();
        let readopting = initial.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        let writer_reports = if readopting {
            settled(reports, initial.clone().unwrap_or_default())
        } else {
            reports
        };
        tokio::spawn(async move {
            if write_statuses(client.clone(), pod_ref.clone(), initial, writer_reports).await
                == WriterEnd::FinalStatusWritten
            {
                match delete_if_terminating(&client, &pod_ref).await {
                    Ok(true) => {
                        tracing::info!(pod = %pod_ref, "terminated pod deleted (grace 0, UID precondition)");
                        let sandbox = final_reports.borrow().sandbox.clone();
                        if let Some(sb) = sandbox {
                            match runtime.remove_pod(&sb).await {
                                Ok(()) => tracing::info!(pod = %pod_ref, "pod sandbox removed"),
                                Err(e) => {
                                    tracing::warn!(pod = %pod_ref, error = %e, "removing the pod sandbox failed; the housekeeping retries")
                                }
                            }
                        }
                        let _ = tokio::fs::remove_dir_all(&pod_log_dir).await;
                        ours.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&pod_ref.uid);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(pod = %pod_ref, error = %e, "deleting the terminated pod failed")
                    }
                }
            }
        })
    }

    async fn on_kill(&mut self, task_id: &str, policy: Option<&kube_mesos_proto::v1::KillPolicy>) {
        if self.draining.is_some() {
            tracing::warn!(
                task_id,
                "ignoring KILL since the executor is shutting down (its pods are being stopped)"
            );
            return;
        }
        let Some(running) = self.tasks.get_mut(task_id) else {
            // As Mesos' default executor: the agent answers for tasks it
            // does not know; an executor has nothing to report.
            tracing::warn!(
                task_id,
                "ignoring KILL for a task this executor does not run"
            );
            return;
        };
        let grace = facts::kill_grace(policy, running.task_info.kill_policy.as_ref(), &running.pod);
        let updates = running.task.on_kill();
        if let Some(w) = &running.worker {
            tracing::info!(task_id, ?grace, "killing pod");
            w.kill(grace);
        }
        let info = running.task_info.clone();
        for u in updates {
            self.send(task_id, u, Some(&info)).await;
        }
    }

    /// The framework asks to hand `tasks` over to a newer executor (see
    /// [`kube_mesos_node::handover`]). A pod whose containers outlive this
    /// executor is let go — its worker detached and its status writer
    /// stopped, its containers untouched — and its task finished; a pod
    /// that cannot move stays and says so. From now on the executor exits
    /// once it has no pods left.
    async fn on_release(&mut self, tasks: &[String]) {
        if self.draining.is_some() {
            return;
        }
        self.retiring = true;
        let movable = self.service.runtime.containers_outlive_executor();
        for task_id in tasks {
            let Some(running) = self.tasks.get_mut(task_id) else {
                tracing::info!(%task_id, "asked to hand over a task this executor does not run");
                continue;
            };
            let (answer, updates) = running.task.on_release(movable);
            let info = running.task_info.clone();
            if answer == task::Release::LetGo {
                if let Some(w) = running.writer.take() {
                    w.abort();
                }
                if let Some(w) = running.worker.take() {
                    w.detach();
                }
                let pod = PodRef::of(&running.pod);
                self.directory
                    .pods
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&(pod.namespace.clone(), pod.name.clone()));
                self.ours
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&pod.uid);
                tracing::info!(%task_id, %pod, "pod handed over to a newer executor; its containers run on");
            }
            for u in updates {
                self.send(task_id, u, Some(&info)).await;
            }
            if answer == task::Release::LetGo {
                self.tasks.remove(task_id);
            }
        }
    }

    async fn on_report(&mut self, task_id: &str, report: PodReport) {
        let Some(running) = self.tasks.get_mut(task_id) else {
            return;
        };
        running.pod_ips = report
            .status
            .pod_ips
            .iter()
            .flatten()
            .map(|p| p.ip.clone())
            .collect();
        let updates = running.task.on_report(&report);
        let info = running.task_info.clone();
        for u in updates {
            self.send(task_id, u, Some(&info)).await;
        }
    }

    async fn on_worker_done(&mut self, task_id: &str) {
        if let Some(r) = self.tasks.get_mut(task_id) {
            r.worker = None;
            // Its containers are stopped: from now on the pod's runtime
            // state stays only while the pod exists (the housekeeping asks
            // the API server), as the kubelet removes a deleted pod's.
            if let Some(uid) = &r.pod.metadata.uid {
                self.ours
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(uid);
            }
        }
        if let Some(info) = self.relaunches.remove(task_id) {
            tracing::info!(task_id, "starting the task again");
            self.forget(task_id);
            self.on_launch(info).await;
        }
    }

    /// Drops an ended run of a task. Its status writer stops: it would
    /// write the old run's end over the new run's status.
    fn forget(&mut self, task_id: &str) {
        if let Some(r) = self.tasks.remove(task_id) {
            if let Some(w) = r.writer {
                w.abort();
            }
        }
    }

    fn all_finished(&self) -> bool {
        self.tasks
            .values()
            .all(|r| r.worker.is_none() || r.task.is_terminal())
    }

    /// Starts the graceful shutdown: every pod is killed with its grace
    /// period capped by what the agent allows.
    fn drain(&mut self) {
        if self.draining.is_some() {
            return;
        }
        let window = self.service.env.shutdown_grace_period;
        // Leave a little of the agent's grace for the final updates.
        let cap = window
            .saturating_sub(window / 5)
            .max(Duration::from_millis(500));
        self.draining = Some(tokio::time::Instant::now() + window);
        self.directory.draining();
        for (task_id, r) in &mut self.tasks {
            let _ = r.task.on_kill();
            if let Some(w) = &r.worker {
                let grace =
                    facts::kill_grace(None, r.task_info.kill_policy.as_ref(), &r.pod).min(cap);
                tracing::info!(%task_id, ?grace, "stopping pod for shutdown");
                w.kill(grace);
            }
        }
    }

    fn detach_all(&mut self) {
        for (_, r) in self.tasks.drain() {
            if let Some(w) = r.worker {
                w.detach();
            }
        }
    }

    /// After the loop: give writers a moment to flush, stop the node role.
    async fn finish(&mut self) {
        let writers: Vec<_> = self
            .tasks
            .values_mut()
            .filter_map(|r| r.writer.take())
            .collect();
        let flush = futures::future::join_all(writers);
        let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
        // Updates not yet acknowledged get a moment to be delivered.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while !self.mesos.ledger().unacknowledged_updates().is_empty()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.remove_stopped_pods().await;
        self.events = None;
        if let Some(role) = self.node_role.take() {
            role.stop.cancel();
            role.tasks.close();
            // Bounded: a task stuck in a request must not hold the exit.
            let _ = tokio::time::timeout(NODE_ROLE_STOP_GRACE, role.tasks.wait()).await;
        }
        for (_, r) in self.tasks.drain() {
            if let Some(w) = r.worker {
                w.detach();
            }
        }
    }

    /// At shutdown: removes the sandboxes of our pods that stopped, then
    /// what no pod of the node needs (pods still bound to the node and not
    /// ours may be another executor's, or wait to be relaunched). Skipped
    /// for pods still running (the deadline passed) and, for orphans, when
    /// the API server cannot be asked.
    async fn remove_stopped_pods(&mut self) {
        let runtime = &*self.service.runtime;
        let mut running = Vec::new();
        for r in self.tasks.values() {
            let uid = r.pod.metadata.uid.clone().unwrap_or_default();
            let report = r.worker.as_ref().map(|w| w.subscribe().borrow().clone());
            match report {
                Some(rep) if !rep.finished() => running.push(uid),
                Some(rep) => {
                    if let Some(sb) = &rep.sandbox {
                        if let Err(e) = runtime.remove_pod(sb).await {
                            tracing::warn!(pod_uid = %uid, error = %e, "removing a stopped pod's sandbox failed");
                        }
                    }
                }
                None => {}
            }
        }
        let Some((node, _, _)) = &self.node else {
            return;
        };
        let ours: Vec<String> = self
            .tasks
            .values()
            .filter_map(|r| r.pod.metadata.uid.clone())
            .collect();
        match tokio::time::timeout(
            Duration::from_secs(5),
            housekeeping::node_pods(&self.service.client, node),
        )
        .await
        {
            Ok(Ok(pods)) => {
                let others = pods
                    .iter()
                    .filter(|p| p.metadata.uid.as_ref().is_none_or(|u| !ours.contains(u)));
                let keep = housekeeping::keep_set(others, running.iter());
                housekeeping::remove_orphans(runtime, &keep, &self.service.config.pod_log_dir)
                    .await;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "listing the node's pods failed; orphans are left for the next executor")
            }
            Err(_) => tracing::warn!(
                "listing the node's pods timed out; orphans are left for the next executor"
            ),
        }
    }
}

/// A view of `reports` that skips snapshots while the worker is still
/// preparing (used when re-adopting a pod the API already shows Running, so
/// a restarted executor does not flash it back to Pending).
fn settled(
    reports: watch::Receiver<PodReport>,
    api_status: core::PodStatus,
) -> watch::Receiver<PodReport> {
    let mut initial = reports.borrow().clone();
    initial.status = api_status;
    let (tx, rx) = watch::channel(initial);
    let mut src = reports;
    tokio::spawn(async move {
        let mut started = false;
        loop {
            let r = src.borrow_and_update().clone();
            started |= !matches!(r.stage, Stage::New | Stage::Preparing);
            if started && tx.send(r).is_err() {
                return;
            }
            if src.changed().await.is_err() {
                return;
            }
        }
    });
    rx
}
