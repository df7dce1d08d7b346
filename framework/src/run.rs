//! The async shell: drives the scheduler core with inputs from the
//! Kubernetes watches, the Mesos subscription, the node registry and timers,
//! and performs the actions it returns.
//!
//! Shape of a process:
//!
//! 1. the HTTP endpoint starts at once (a standby is observable too);
//! 2. leader election runs (or, disabled, this replica leads at once);
//! 3. while leading, one *term* runs: a fresh [`SchedulerCore`] (all state is
//!    rebuilt from Kubernetes objects and Mesos reconciliation), the framework
//!    ID from its ConfigMap, a Mesos subscription, the watches, the node
//!    registry. Losing the lease ends the term at once: the subscription is
//!    dropped (no TEARDOWN: tasks keep running for the next leader) and the
//!    replica goes back to standby;
//! 4. the first SIGTERM/SIGINT drains: readiness fails, held offers are
//!    declined, the term ends, the lease is released, exit 0. A second
//!    signal, or the drain deadline, forces the exit (STYLE.md 6).
//!
//! Actions are performed in the core's order. Mesos calls and pod status
//! writes are awaited in line (an Acknowledge must follow the writes its
//! update caused); Binds run concurrently and report back as
//! `Input::BindResult`, events are fire-and-forget.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube_mesos_proto::v1::scheduler::event;
use kube_mesos_proto::v1::{framework_info, Filters, FrameworkId, FrameworkInfo, Offer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::FrameworkConfig;
use crate::core::{Action, CoreConfig, CoreMetrics, Input, SchedulerCore};
use crate::executor_info::{ExecutorConfig, ExecutorUri};
use crate::http::Health;
use crate::kube::binder::PodWriter;
use crate::kube::events::EventRecorder;
use crate::kube::framework_id::FrameworkIdStore;
use crate::kube::{watch as kube_watch, KubeError};
use crate::leader;
use crate::mesos::{self, Credential, SchedulerClient, SchedulerConfig, SchedulerEvent};
use crate::metrics::{CoreCounters, Metrics};
use crate::nodes::{self, operator::OperatorClient, NodeRegistry};

/// Why the framework stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The Kubernetes client could not be set up. Not retryable.
    #[error("setting up the Kubernetes client failed")]
    KubeClientFailed(#[source] Box<KubeError>),
    /// The HTTP endpoint could not bind. Not retryable.
    #[error("binding the HTTP endpoint {addr} failed")]
    HttpBindFailed {
        /// The address.
        addr: std::net::SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The Mesos secret file could not be read. Not retryable.
    #[error("reading the Mesos secret file {path} failed")]
    SecretReadFailed {
        /// The path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The Mesos client could not be built. Not retryable.
    #[error("building the Mesos scheduler client failed")]
    MesosClientFailed(#[source] Box<mesos::Error>),
    /// The operator API client could not be built. Not retryable.
    #[error("building the Mesos operator client failed")]
    OperatorClientFailed(#[source] Box<nodes::operator::OperatorError>),
    /// The master refused or removed the framework (ERROR event, 4xx on
    /// SUBSCRIBE). Not retryable without an operator's help.
    #[error("the Mesos subscription failed permanently")]
    SubscriptionFailed(#[source] Box<mesos::Error>),
    /// Installing the signal handlers failed.
    #[error("installing signal handlers failed")]
    SignalSetupFailed(#[source] std::io::Error),
    /// The drain did not finish in time or a second signal came.
    #[error("forced exit before the drain finished")]
    ForcedExit,
}

/// Shutdown requests: the number of signals seen (1 = drain, 2 = force).
pub type ShutdownSignals = watch::Receiver<u32>;

/// Runs the framework until SIGTERM/SIGINT, as `kube-mesos framework` does.
pub async fn run_until_signal(config: FrameworkConfig) -> Result<(), RunError> {
    let client = crate::kube::client(config.kubeconfig.as_deref())
        .await
        .map_err(|e| RunError::KubeClientFailed(Box::new(e)))?;
    let listener = TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| RunError::HttpBindFailed {
            addr: config.http_addr,
            source,
        })?;
    let (signals_tx, signals) = watch::channel(0u32);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(RunError::SignalSetupFailed)?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(RunError::SignalSetupFailed)?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            signals_tx.send_modify(|n| *n += 1);
            tracing::info!(signals = *signals_tx.borrow(), "shutdown signal received");
        }
    });
    run(config, client, listener, signals).await
}

/// Runs the framework with a given client, HTTP listener and shutdown
/// signal counter (tests pass their own). Returns after a drain.
pub async fn run(
    config: FrameworkConfig,
    client: kube::Client,
    listener: TcpListener,
    signals: ShutdownSignals,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::new(metrics.clone()));
    let http_addr = listener.local_addr().ok();
    let http = tokio::spawn(crate::http::serve(
        listener,
        health.clone(),
        wait_signals(signals.clone(), 1),
    ));
    let hostname = config.hostname.clone().unwrap_or_else(local_hostname);
    let identity = config
        .leader_election
        .identity
        .clone()
        .unwrap_or_else(|| leader::default_identity(&hostname));

    // Leadership: election, or always leader.
    let (leader_tx, leader_rx) = watch::channel(!config.leader_election.enabled);
    let (healthy_tx, mut healthy_rx) = watch::channel(!config.leader_election.enabled);
    let election = config.leader_election.enabled.then(|| {
        tokio::spawn(leader::run(
            client.clone(),
            config.namespace.clone(),
            config.leader_election.clone(),
            identity.clone(),
            leader_tx,
            healthy_tx,
            wait_signals(signals.clone(), 1),
        ))
    });
    {
        let health = health.clone();
        tokio::spawn(async move {
            loop {
                health.set_standby_healthy(*healthy_rx.borrow_and_update());
                if healthy_rx.changed().await.is_err() {
                    break;
                }
            }
        });
    }

    health.status.set_identity(&identity);
    let webui_url = http_addr.map(|a| {
        crate::status::webui_url(
            a,
            &hostname,
            config.webui_host.as_deref(),
            config.webui_port,
        )
    });
    let term = Term {
        config: config.clone(),
        client: client.clone(),
        metrics: metrics.clone(),
        status: health.status.clone(),
        identity: identity.clone(),
        hostname,
        webui_url,
    };
    let mut result = Ok(());
    let mut leader_rx = leader_rx;
    loop {
        // Standby: wait to lead or to stop.
        tokio::select! {
            _ = wait_signals(signals.clone(), 1) => break,
            led = wait_leader(&mut leader_rx, true) => if !led { break },
        }
        metrics.set_leader(true);
        tracing::info!(identity = %identity, "leading: starting the scheduler");
        let outcome = tokio::select! {
            r = term.run(signals.clone(), leader_rx.clone()) => r,
            _ = forced(signals.clone(), config.drain_deadline) => Err(RunError::ForcedExit),
        };
        metrics.set_leader(false);
        metrics.set_subscribed(false);
        health.status.withdraw();
        match outcome {
            Ok(TermEnd::LostLeadership) => {
                tracing::warn!("lost leadership: scheduler stopped, back to standby");
                continue;
            }
            Ok(TermEnd::Shutdown) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    health.set_draining();
    // Let election release the lease; bounded by the drain deadline.
    if let Some(election) = election {
        let forced = tokio::select! {
            _ = election => false,
            _ = forced(signals.clone(), config.drain_deadline) => true,
        };
        if forced && result.is_ok() {
            result = Err(RunError::ForcedExit);
        }
    }
    http.abort();
    health.set_alive(false);
    result
}

/// Why a term ended without error.
#[derive(Debug, PartialEq, Eq)]
enum TermEnd {
    LostLeadership,
    Shutdown,
}

struct Term {
    config: FrameworkConfig,
    client: kube::Client,
    metrics: Arc<Metrics>,
    status: Arc<crate::status::Board>,
    identity: String,
    hostname: String,
    webui_url: Option<String>,
}

impl Term {
    async fn run(
        &self,
        signals: ShutdownSignals,
        mut leader: watch::Receiver<bool>,
    ) -> Result<TermEnd, RunError> {
        let config = &self.config;
        let id_store = FrameworkIdStore::new(
            self.client.clone(),
            &config.namespace,
            &config.framework_id_configmap,
        );
        let mut stored_id = loop {
            match id_store.load().await {
                Ok(id) => break id,
                Err(error) => {
                    self.metrics.kube_error();
                    tracing::warn!(%error, "loading the framework ID failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = wait_signals(signals.clone(), 1) => return Ok(TermEnd::Shutdown),
                        _ = wait_leader(&mut leader, false) => return Ok(TermEnd::LostLeadership),
                    }
                }
            }
        };
        tracing::info!(framework_id = ?stored_id, "framework ID loaded");
        let credential = self.credential()?;
        let mut scheduler_config = SchedulerConfig::new(config.masters.clone());
        scheduler_config.credential = credential.clone();
        let mesos_client = SchedulerClient::new(scheduler_config)
            .map_err(|e| RunError::MesosClientFailed(Box::new(e)))?;
        let mesos = mesos_client.handle();
        let mut events = mesos_client.subscribe(self.framework_info(stored_id.clone()));

        let mut core = SchedulerCore::new(core_config(config));
        let (inputs_tx, mut inputs) = mpsc::channel::<Input>(1024);
        let (offers_tx, offers_rx) = mpsc::channel::<Offer>(256);
        let mut tasks = JoinSet::new();
        tasks.spawn(kube_watch::watch_pods(
            self.client.clone(),
            config.scheduler_names(),
            inputs_tx.clone(),
        ));
        tasks.spawn(kube_watch::watch_nodes(
            self.client.clone(),
            inputs_tx.clone(),
        ));
        let operator = OperatorClient::new(config.masters.clone(), credential)
            .map_err(|e| RunError::OperatorClientFailed(Box::new(e)))?;
        tasks.spawn(nodes::run(
            NodeRegistry::new(self.client.clone()),
            operator,
            offers_rx,
            inputs_tx.clone(),
            std::future::pending::<()>(),
        ));
        let performer = Performer {
            mesos,
            pods: PodWriter::new(self.client.clone()),
            events: EventRecorder::new(
                self.client.clone(),
                config.scheduler_name.clone(),
                self.identity.clone(),
            ),
            metrics: self.metrics.clone(),
            inputs: inputs_tx.clone(),
        };
        let mut held: BTreeSet<String> = BTreeSet::new();

        let end = loop {
            let deadline = core.next_deadline();
            let input = tokio::select! {
                _ = wait_signals(signals.clone(), 1) => break TermEnd::Shutdown,
                _ = wait_leader(&mut leader, false) => break TermEnd::LostLeadership,
                _ = sleep_until(deadline) => Input::Tick,
                Some(input) = inputs.recv() => input,
                event = events.next() => match event {
                    None => {
                        tasks.abort_all();
                        return Err(RunError::SubscriptionFailed(Box::new(
                            mesos::Error::EventStreamEnded,
                        )));
                    }
                    Some(Err(error)) => {
                        tracing::error!(%error, "Mesos subscription failed permanently");
                        tasks.abort_all();
                        return Err(RunError::SubscriptionFailed(Box::new(error)));
                    }
                    Some(Ok(SchedulerEvent::Connected { framework_id, .. })) => {
                        tracing::info!(framework_id = %framework_id.value, "subscribed to Mesos");
                        self.metrics.set_subscribed(true);
                        if stored_id.as_deref() != Some(framework_id.value.as_str()) {
                            match id_store.store(&framework_id.value).await {
                                Ok(()) => stored_id = Some(framework_id.value.clone()),
                                Err(error) => {
                                    self.metrics.kube_error();
                                    tracing::error!(%error, "storing the framework ID failed");
                                }
                            }
                        }
                        Input::Subscribed { framework_id }
                    }
                    Some(Ok(SchedulerEvent::Disconnected { reason })) => {
                        tracing::warn!(error = %reason, "Mesos subscription lost; reconnecting");
                        self.metrics.set_subscribed(false);
                        held.clear();
                        Input::Disconnected
                    }
                    Some(Ok(SchedulerEvent::Event(event))) => {
                        match input_of_event(*event) {
                            Some(input) => {
                                if let Input::Offers(offers) = &input {
                                    for offer in offers {
                                        held.insert(offer.id.value.clone());
                                        let _ = offers_tx.try_send(offer.clone());
                                    }
                                }
                                if let Input::Rescinded(id) = &input {
                                    held.remove(&id.value);
                                }
                                input
                            }
                            None => continue,
                        }
                    }
                },
            };
            let now = tokio::time::Instant::now();
            self.status.record_input(&input, now);
            let actions = core.handle(input, now);
            for latency in core.take_placement_latencies() {
                self.metrics
                    .observe_placement_latency(latency.as_secs_f64());
            }
            for action in actions {
                forget_offers(&action, &mut held);
                self.status.record_action(&action);
                performer.perform(action).await;
            }
            self.status.publish(core.status(now));
            let snapshot = core.metrics();
            self.metrics.set_core(counters(&snapshot));
            self.metrics
                .set_executor_generations(core.executor_generations());
            self.metrics
                .set_executor_pods(&core.executor_id().value, &snapshot.executor_generations);
        };
        // Drain or step down: give the held offers back right away instead of
        // letting them sit until the master rescinds them.
        if !held.is_empty() {
            let ids = held
                .iter()
                .map(|v| kube_mesos_proto::v1::OfferId { value: v.clone() })
                .collect();
            if let Err(error) = performer.mesos.decline(ids, None).await {
                tracing::debug!(%error, "declining held offers on exit failed");
            }
        }
        tasks.abort_all();
        Ok(end)
    }

    fn credential(&self) -> Result<Option<Credential>, RunError> {
        let Some(principal) = self.config.mesos_principal.clone() else {
            return Ok(None);
        };
        let secret = match &self.config.mesos_secret_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|source| RunError::SecretReadFailed {
                    path: path.display().to_string(),
                    source,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
            None => String::new(),
        };
        Ok(Some(Credential { principal, secret }))
    }

    fn framework_info(&self, id: Option<String>) -> FrameworkInfo {
        framework_info(&self.config, id, &self.hostname, self.webui_url.clone())
    }
}

/// The FrameworkInfo we subscribe with.
pub fn framework_info(
    config: &FrameworkConfig,
    id: Option<String>,
    hostname: &str,
    webui_url: Option<String>,
) -> FrameworkInfo {
    use framework_info::capability::Type;
    let capabilities = [
        Type::MultiRole,
        Type::PartitionAware,
        Type::TaskKillingState,
        Type::RegionAware,
        Type::ReservationRefinement,
    ]
    .into_iter()
    .map(|t| framework_info::Capability {
        r#type: Some(t as i32),
    })
    .collect();
    FrameworkInfo {
        user: config.mesos_user.clone(),
        name: config.framework_name.clone(),
        id: id.map(|value| FrameworkId { value }),
        failover_timeout: Some(config.failover_timeout.as_secs_f64()),
        checkpoint: Some(true),
        roles: config.roles.clone(),
        hostname: Some(hostname.to_string()),
        principal: config.mesos_principal.clone(),
        webui_url,
        capabilities,
        ..FrameworkInfo::default()
    }
}

/// The core's configuration from ours.
pub fn core_config(config: &FrameworkConfig) -> CoreConfig {
    let uris = config
        .executor
        .uris
        .iter()
        .map(|u| {
            let archive = [".tar.gz", ".tgz", ".tar", ".zip", ".tar.xz", ".tar.bz2"]
                .iter()
                .any(|ext| u.ends_with(ext));
            ExecutorUri {
                value: u.clone(),
                executable: !archive,
                extract: archive,
                cache: false,
                output_file: None,
            }
        })
        .collect();
    CoreConfig {
        scheduler_names: config.scheduler_names(),
        roles: config.roles.clone(),
        namespace_roles: config.role_for_namespace.clone(),
        placement_policy: match config.placement_policy {
            crate::config::PlacementPolicy::Binpack => crate::placement::PlacementPolicy::Binpack,
            crate::config::PlacementPolicy::Spread => crate::placement::PlacementPolicy::Spread,
        },
        batch_window: config.batch_window,
        refuse_seconds: config.refuse_seconds,
        unreachable_timeout: config.unreachable_timeout,
        relaunch_deadline: config.relaunch_deadline,
        retire_old_executors: config.retire_old_executors,
        executor: ExecutorConfig {
            uris,
            command: config.executor.command.clone(),
            cpus: config.executor.cpus,
            mem_mb: config.executor.mem_mib,
            env: config
                .executor
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..ExecutorConfig::default()
        },
        ..CoreConfig::default()
    }
}

/// Maps a Mesos event to a core input (`None`: nothing for the core).
pub fn input_of_event(event: kube_mesos_proto::v1::scheduler::Event) -> Option<Input> {
    match event.r#type.and_then(|t| event::Type::try_from(t).ok())? {
        event::Type::Offers => event.offers.map(|o| Input::Offers(o.offers)),
        event::Type::Rescind => event.rescind.map(|r| Input::Rescinded(r.offer_id)),
        event::Type::Update => event.update.map(|u| Input::TaskUpdate(Box::new(u.status))),
        event::Type::Failure => {
            let failure = event.failure?;
            match (failure.agent_id, failure.executor_id) {
                (Some(agent_id), Some(executor_id)) => Some(Input::ExecutorFailure {
                    agent_id,
                    executor_id,
                    status: failure.status,
                }),
                // Mesos sends this for removed and for unreachable agents
                // alike; task updates decide the pods' fate.
                (Some(agent_id), None) => Some(Input::AgentUnreachable(agent_id)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn forget_offers(action: &Action, held: &mut BTreeSet<String>) {
    match action {
        Action::Accept { offer_ids, .. } | Action::Decline { offer_ids, .. } => {
            for id in offer_ids {
                held.remove(&id.value);
            }
        }
        _ => {}
    }
}

/// The core's counters in the metrics' shape.
pub fn counters(m: &CoreMetrics) -> CoreCounters {
    CoreCounters {
        queue_length: m.queue_len as u64,
        suppressed: m.suppressed,
        offers_received: m.offers_received,
        offers_used: m.offers_used,
        offers_declined: m.offers_declined,
        revives: m.revives,
        reconciliations: m.reconciliations,
        placements: m.placements,
        kills: m.kills,
        tasks_waiting: m.tasks_waiting as u64,
        pods_lost: m.pods_lost,
        tasks_recovered: m.tasks_recovered,
        handovers: m.handovers,
    }
}

struct Performer {
    mesos: mesos::SchedulerHandle,
    pods: PodWriter,
    events: EventRecorder,
    metrics: Arc<Metrics>,
    inputs: mpsc::Sender<Input>,
}

impl Performer {
    async fn perform(&self, action: Action) {
        let result = match action {
            Action::Accept {
                offer_ids,
                operations,
                filters,
            } => {
                self.mesos
                    .accept(offer_ids, operations, Some(filters))
                    .await
            }
            Action::Decline { offer_ids, filters } => {
                self.mesos.decline(offer_ids, Some(filters)).await
            }
            Action::Suppress { roles } => self.mesos.suppress(roles).await,
            Action::Revive { roles } => self.mesos.revive(roles).await,
            Action::Kill {
                task_id,
                agent_id,
                kill_policy,
            } => self.mesos.kill(task_id, agent_id, kill_policy).await,
            Action::Acknowledge {
                agent_id,
                task_id,
                uuid,
            } => self.mesos.acknowledge(agent_id, task_id, uuid).await,
            Action::Reconcile { tasks } => self.mesos.reconcile(tasks).await,
            Action::SendMessage {
                agent_id,
                executor_id,
                data,
            } => self.mesos.message(agent_id, executor_id, data).await,
            Action::Bind {
                pod,
                node_name,
                annotations,
            } => {
                let pods = self.pods.clone();
                let inputs = self.inputs.clone();
                tokio::spawn(async move {
                    let result = pods.bind(&pod, &node_name, &annotations).await;
                    tracing::info!(pod = %format!("{}/{}", pod.namespace, pod.name), node = %node_name, ?result, "bind");
                    let _ = inputs
                        .send(Input::BindResult {
                            pod_uid: pod.uid,
                            result,
                        })
                        .await;
                });
                return;
            }
            Action::Annotate { pod, annotations } => {
                let pods = self.pods.clone();
                let inputs = self.inputs.clone();
                tokio::spawn(async move {
                    let result = match pods.annotate(&pod, &annotations).await {
                        Ok(()) => crate::core::BindOutcome::Bound,
                        Err(e) => crate::kube::binder::outcome_of(e),
                    };
                    let _ = inputs
                        .send(Input::BindResult {
                            pod_uid: pod.uid,
                            result,
                        })
                        .await;
                });
                return;
            }
            Action::SetPodUnschedulable { pod, message } => {
                if let Err(error) = self
                    .pods
                    .set_unschedulable(&pod, &message, jiff::Timestamp::now())
                    .await
                {
                    self.metrics.kube_error();
                    tracing::warn!(%error, "marking pod unschedulable failed");
                }
                return;
            }
            Action::FailPod {
                pod,
                reason,
                message,
                last_known,
            } => {
                let now = jiff::Timestamp::now();
                if let Err(error) = self
                    .pods
                    .fail(&pod, &reason, &message, &last_known, now)
                    .await
                {
                    self.metrics.kube_error();
                    tracing::warn!(%error, "failing pod failed");
                }
                return;
            }
            Action::SetPodTask { pod, annotations } => {
                let pods = self.pods.clone();
                let metrics = self.metrics.clone();
                tokio::spawn(async move {
                    if let Err(error) = pods.annotate(&pod, &annotations).await {
                        metrics.kube_error();
                        tracing::warn!(pod = %format!("{}/{}", pod.namespace, pod.name), %error, "recording the pod's new task in its annotations failed");
                    }
                });
                return;
            }
            Action::SetPodCondition {
                pod,
                type_,
                status,
                reason,
                message,
            } => {
                let condition = crate::kube::binder::Condition {
                    type_: &type_,
                    status,
                    reason: &reason,
                    message: &message,
                };
                if let Err(error) = self
                    .pods
                    .set_condition(&pod, &condition, jiff::Timestamp::now())
                    .await
                {
                    self.metrics.kube_error();
                    tracing::warn!(%error, "setting a pod condition failed");
                }
                return;
            }
            Action::RecoverPod {
                pod,
                phase,
                message,
            } => {
                if let Err(error) = self
                    .pods
                    .recover(&pod, &phase, &message, jiff::Timestamp::now())
                    .await
                {
                    self.metrics.kube_error();
                    tracing::warn!(%error, "taking a pod back failed");
                }
                return;
            }
            Action::RecordEvent {
                pod,
                type_,
                reason,
                message,
            } => {
                let events = self.events.clone();
                let metrics = self.metrics.clone();
                tokio::spawn(async move {
                    if let Err(error) = events
                        .record(&pod, type_, &reason, &message, jiff::Timestamp::now())
                        .await
                    {
                        metrics.kube_error();
                        tracing::debug!(%error, "recording event failed");
                    }
                });
                return;
            }
        };
        if let Err(error) = result {
            self.metrics.mesos_call_error();
            tracing::warn!(%error, "Mesos call failed");
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Completes once at least `count` signals were seen (never, if the sender
/// is gone and fewer were seen).
pub async fn wait_signals(mut signals: ShutdownSignals, count: u32) {
    loop {
        if *signals.borrow_and_update() >= count {
            return;
        }
        if signals.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Completes when the exit must be forced: a second signal, or the drain
/// deadline after the first.
pub async fn forced(signals: ShutdownSignals, drain_deadline: Duration) {
    let deadline = async {
        wait_signals(signals.clone(), 1).await;
        tokio::time::sleep(drain_deadline).await;
    };
    tokio::select! {
        _ = wait_signals(signals.clone(), 2) => {}
        _ = deadline => {}
    }
}

/// Completes with `true` once leadership equals `want`; `false` if the
/// election ended without reaching it.
async fn wait_leader(leader: &mut watch::Receiver<bool>, want: bool) -> bool {
    loop {
        if *leader.borrow_and_update() == want {
            return true;
        }
        if leader.changed().await.is_err() {
            if *leader.borrow() == want {
                return true;
            }
            return std::future::pending().await;
        }
    }
}

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Filters helper for tests and callers that decline by hand.
pub fn refuse(seconds: f64) -> Filters {
    Filters {
        refuse_seconds: Some(seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::scheduler::Event;
    use kube_mesos_proto::v1::{AgentId, ExecutorId};

    fn config() -> FrameworkConfig {
        FrameworkConfig::new(vec![url::Url::parse("http://m:5050").unwrap()])
    }

    #[test]
    fn framework_info_has_roles_capabilities_checkpoint_and_failover() {
        let mut c = config();
        c.roles = vec!["web".into(), "batch".into()];
        c.mesos_principal = Some("kube".into());
        let info = framework_info(&c, Some("F1".into()), "h", Some("http://h:1/".into()));
        assert_eq!(info.id.unwrap().value, "F1");
        assert_eq!(info.roles, vec!["web", "batch"]);
        assert_eq!(info.checkpoint, Some(true));
        assert_eq!(info.failover_timeout, Some(604800.0));
        assert_eq!(info.principal.as_deref(), Some("kube"));
        let caps: Vec<i32> = info.capabilities.iter().filter_map(|c| c.r#type).collect();
        use framework_info::capability::Type;
        for t in [
            Type::MultiRole,
            Type::PartitionAware,
            Type::TaskKillingState,
            Type::RegionAware,
        ] {
            assert!(caps.contains(&(t as i32)));
        }
    }

    #[test]
    fn failure_events_map_to_executor_or_agent_inputs() {
        let failure = |executor: bool| Event {
            r#type: Some(event::Type::Failure as i32),
            failure: Some(event::Failure {
                agent_id: Some(AgentId { value: "S1".into() }),
                executor_id: executor.then(|| ExecutorId { value: "E".into() }),
                status: Some(1),
            }),
            ..Event::default()
        };
        assert!(matches!(
            input_of_event(failure(true)),
            Some(Input::ExecutorFailure { .. })
        ));
        assert!(matches!(
            input_of_event(failure(false)),
            Some(Input::AgentUnreachable(_))
        ));
        let heartbeat = Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Event::default()
        };
        assert!(input_of_event(heartbeat).is_none());
    }

    #[test]
    fn core_config_carries_flags_and_executor_uris() {
        let mut c = config();
        c.executor.uris = vec![
            "http://x/kube-mesos".into(),
            "http://x/bundle.tar.gz".into(),
        ];
        let core = core_config(&c);
        assert!(core.executor.uris[0].executable && !core.executor.uris[0].extract);
        assert!(core.executor.uris[1].extract && !core.executor.uris[1].executable);
        assert_eq!(core.scheduler_names, vec!["kube-mesos"]);
        assert_eq!(core.refuse_seconds, 120.0);
        c.relaunch_deadline = Duration::from_secs(42);
        assert_eq!(core_config(&c).relaunch_deadline, Duration::from_secs(42));
    }

    #[tokio::test(start_paused = true)]
    async fn second_signal_forces() {
        let (tx, rx) = watch::channel(0u32);
        let first = tokio::spawn(wait_signals(rx.clone(), 1));
        let second = tokio::spawn(wait_signals(rx, 2));
        tx.send_modify(|n| *n += 1);
        first.await.unwrap();
        assert!(!second.is_finished());
        tx.send_modify(|n| *n += 1);
        second.await.unwrap();
    }
}
