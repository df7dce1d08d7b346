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

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
pub use kube_mesos_client::Shutdown;
use kube_mesos_proto::v1::scheduler::event;
use kube_mesos_proto::v1::{
    framework_info, offer, Filters, FrameworkId, FrameworkInfo, Offer, TaskId,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::FrameworkConfig;
use crate::core::{Action, CoreConfig, CoreMetrics, Input, PodRef, SchedulerCore};
use crate::drain::Drain;
use crate::executor_info::{ExecutorConfig, ExecutorUri};
use crate::http::Health;
use crate::kube::best_effort::{BestEffortGate, Ticket};
use crate::kube::binder::PodWriter;
use crate::kube::events::EventRecorder;
use crate::kube::framework_id::FrameworkIdStore;
use crate::kube::pod_order::PodOrder;
use crate::kube::{watch as kube_watch, KubeError};
use crate::leader;
use crate::mesos::{self, Credential, SchedulerClient, SchedulerConfig, SchedulerEvent};
use crate::metrics::{CoreCounters, Metrics};
use crate::nodes::{self, operator::OperatorClient, NodeRegistry};
use crate::status::throttle::{Throttle, PUBLISH_EVERY};

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
    let shutdown = Shutdown::new();
    shutdown.on_signals().map_err(RunError::SignalSetupFailed)?;
    run(config, client, listener, shutdown).await
}

/// Runs the framework with a given client, HTTP listener and shutdown
/// (tests pass their own): a drain request ends it cleanly, a forced one
/// (or the drain deadline) with [`RunError::ForcedExit`]. Every task it
/// spawns is tracked and has ended when it returns.
pub async fn run(
    config: FrameworkConfig,
    client: kube::Client,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::new(metrics.clone()));
    let http_addr = listener.local_addr().ok();
    let tasks = TaskTracker::new();
    // Stops what serves until the process ends (the HTTP endpoint, the
    // standby health): after the drain and the lease release.
    let stopped = CancellationToken::new();
    let http = tasks.spawn(crate::http::serve(
        listener,
        health.clone(),
        stopped.clone().cancelled_owned(),
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
        tasks.spawn(leader::run(
            client.clone(),
            config.namespace.clone(),
            config.leader_election.clone(),
            identity.clone(),
            leader_tx,
            healthy_tx,
            shutdown.drain_token().cancelled_owned(),
        ))
    });
    {
        let health = health.clone();
        let stopped = stopped.clone();
        tasks.spawn(async move {
            loop {
                health.set_standby_healthy(*healthy_rx.borrow_and_update());
                tokio::select! {
                    changed = healthy_rx.changed() => if changed.is_err() { break },
                    _ = stopped.cancelled() => break,
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
            _ = shutdown.draining() => break,
            led = wait_leader(&mut leader_rx, true) => if !led { break },
        }
        metrics.set_leader(true);
        tracing::info!(identity = %identity, "leading: starting the scheduler");
        let outcome = tokio::select! {
            r = term.run(&shutdown, leader_rx.clone()) => r,
            _ = shutdown.forced_within(config.drain_deadline) => Err(RunError::ForcedExit),
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
            _ = shutdown.forced_within(config.drain_deadline) => true,
        };
        if forced && result.is_ok() {
            result = Err(RunError::ForcedExit);
        }
    }
    stopped.cancel();
    tasks.close();
    if result.is_err() {
        // A forced exit does not wait for the election's lease release.
        http.abort();
    } else {
        tasks.wait().await;
    }
    health.set_alive(false);
    result
}

/// Why a term ended without error.
#[derive(Debug, PartialEq, Eq)]
enum TermEnd {
    LostLeadership,
    Shutdown,
}

/// What one term runs: the core, the subscription, the tasks feeding the
/// core and the performer of its actions.
struct TermParts {
    core: SchedulerCore,
    events: mesos::SchedulerEvents,
    inputs: mpsc::Receiver<Input>,
    /// Offers, for the node registry's agents-from-offers fallback.
    offers_tx: mpsc::Sender<Offer>,
    /// The watches and the node registry.
    feeds: JoinSet<()>,
    /// Stops the node registry.
    stop: CancellationToken,
    performer: Performer,
    drain: Drain,
    /// When the status page and the core's gauges are published next.
    publish: Throttle,
    id_store: FrameworkIdStore,
    stored_id: Option<String>,
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
    /// One term as the leader, in named steps: load the framework ID,
    /// start the Mesos subscription and the tasks feeding the core, run the
    /// loop, and end (give held offers back, stop and join every task).
    async fn run(
        &self,
        shutdown: &Shutdown,
        mut leader: watch::Receiver<bool>,
    ) -> Result<TermEnd, RunError> {
        let stored_id = match self.load_framework_id(shutdown, &mut leader).await {
            Ok(id) => id,
            Err(end) => return Ok(end),
        };
        let mut parts = self.start(stored_id)?;
        let end = self.serve(&mut parts, shutdown, &mut leader).await;
        self.finish(parts).await;
        end
    }

    /// Step 1: the framework ID from its ConfigMap, retried while the API
    /// server fails; `Err` when the term ends first.
    async fn load_framework_id(
        &self,
        shutdown: &Shutdown,
        leader: &mut watch::Receiver<bool>,
    ) -> Result<Option<String>, TermEnd> {
        let id_store = self.id_store();
        loop {
            match id_store.load().await {
                Ok(id) => {
                    tracing::info!(framework_id = ?id, "framework ID loaded");
                    return Ok(id);
                }
                Err(error) => {
                    self.metrics.kube_error();
                    tracing::warn!(%error, "loading the framework ID failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = shutdown.draining() => return Err(TermEnd::Shutdown),
                        _ = wait_leader(leader, false) => return Err(TermEnd::LostLeadership),
                    }
                }
            }
        }
    }

    fn id_store(&self) -> FrameworkIdStore {
        FrameworkIdStore::new(
            self.client.clone(),
            &self.config.namespace,
            &self.config.framework_id_configmap,
        )
    }

    /// Step 2: the subscription, the core, and the tasks that feed it (pod
    /// and node watches, the node registry), all tracked.
    fn start(&self, stored_id: Option<String>) -> Result<TermParts, RunError> {
        let config = &self.config;
        let credential = self.credential()?;
        let mut scheduler_config = SchedulerConfig::new(config.masters.clone());
        scheduler_config.credential = credential.clone();
        let mesos_client = SchedulerClient::new(scheduler_config)
            .map_err(|e| RunError::MesosClientFailed(Box::new(e)))?;
        let operator = OperatorClient::new(config.masters.clone(), credential)
            .map_err(|e| RunError::OperatorClientFailed(Box::new(e)))?;
        let events = mesos_client.subscribe(self.framework_info(stored_id.clone()));
        let (inputs_tx, inputs) = mpsc::channel::<Input>(1024);
        let (offers_tx, offers_rx) = mpsc::channel::<Offer>(256);
        let stop = CancellationToken::new();
        let mut feeds = JoinSet::new();
        feeds.spawn(kube_watch::watch_pods(
            self.client.clone(),
            config.scheduler_names(),
            inputs_tx.clone(),
        ));
        feeds.spawn(kube_watch::watch_nodes(
            self.client.clone(),
            inputs_tx.clone(),
        ));
        feeds.spawn(kube_watch::watch_budgets(
            self.client.clone(),
            inputs_tx.clone(),
        ));
        let executor_resources = vec![
            crate::resources::build::scalar(crate::resources::CPUS, config.executor.cpus, "*"),
            crate::resources::build::scalar(crate::resources::MEM, config.executor.mem_mib, "*"),
        ];
        feeds.spawn(nodes::run(
            NodeRegistry::new(self.client.clone()).with_executor_resources(executor_resources),
            operator,
            offers_rx,
            inputs_tx.clone(),
            stop.clone().cancelled_owned(),
        ));
        let performer = Performer {
            mesos: mesos_client.handle(),
            writes: Arc::new(tokio::sync::Semaphore::new(KUBE_WRITES_IN_FLIGHT)),
            mesos_calls: Arc::new(tokio::sync::Semaphore::new(MESOS_CALLS_IN_FLIGHT)),
            order: PodOrder::default(),
            best_effort: BestEffortGate::default(),
            pods: PodWriter::new(self.client.clone()),
            events: EventRecorder::new(
                self.client.clone(),
                config.scheduler_name.clone(),
                self.identity.clone(),
            ),
            metrics: self.metrics.clone(),
            inputs: inputs_tx,
            spawned: TaskTracker::new(),
            stop_writes: CancellationToken::new(),
        };
        let drain = Drain::new(
            config.maintenance_horizon,
            config.evict_kept_pods,
            self.client.clone(),
            performer.events.clone(),
        );
        Ok(TermParts {
            core: SchedulerCore::new(core_config(config)),
            events,
            inputs,
            offers_tx,
            feeds,
            stop,
            performer,
            drain,
            publish: Throttle::new(PUBLISH_EVERY),
            id_store: self.id_store(),
            stored_id,
        })
    }

    /// Step 3: the loop: wait for the next input, let the core decide,
    /// perform its actions. Ends on a drain, lost leadership, or a
    /// permanent subscription failure.
    async fn serve(
        &self,
        parts: &mut TermParts,
        shutdown: &Shutdown,
        leader: &mut watch::Receiver<bool>,
    ) -> Result<TermEnd, RunError> {
        self.status.serve();
        loop {
            let deadline = parts.core.next_deadline();
            let input = tokio::select! {
                _ = shutdown.draining() => return Ok(TermEnd::Shutdown),
                _ = wait_leader(leader, false) => return Ok(TermEnd::LostLeadership),
                _ = sleep_until(deadline) => Input::Tick,
                _ = sleep_until(parts.publish.due()) => Input::Tick,
                _ = self.status.asked() => Input::Tick,
                _ = sleep_until(parts.drain.next_deadline()) => Input::Tick,
                Some((pod, outcome)) = parts.drain.results() => {
                    parts.drain.evicted(pod, outcome, &parts.performer.mesos).await;
                    Input::Tick
                }
                Some(input) = parts.inputs.recv() => input,
                event = parts.events.next() => match self.on_scheduler_event(parts, event).await? {
                    Some(input) => input,
                    None => continue,
                },
            };
            self.step(parts, input).await;
        }
    }

    /// What the subscription said, as a core input (`None`: nothing for
    /// the core). `Err` when the subscription failed for good.
    async fn on_scheduler_event(
        &self,
        parts: &mut TermParts,
        event: Option<mesos::Result<SchedulerEvent>>,
    ) -> Result<Option<Input>, RunError> {
        match event {
            None => Err(RunError::SubscriptionFailed(Box::new(
                mesos::Error::EventStreamLost(kube_mesos_client::StreamError::Ended),
            ))),
            Some(Err(error)) => {
                tracing::error!(%error, "Mesos subscription failed permanently");
                Err(RunError::SubscriptionFailed(Box::new(error)))
            }
            Some(Ok(SchedulerEvent::Connected { framework_id, .. })) => {
                tracing::info!(framework_id = %framework_id.value, "subscribed to Mesos");
                self.metrics.set_subscribed(true);
                if parts.stored_id.as_deref() != Some(framework_id.value.as_str()) {
                    match parts.id_store.store(&framework_id.value).await {
                        Ok(()) => parts.stored_id = Some(framework_id.value.clone()),
                        Err(error) => {
                            self.metrics.kube_error();
                            tracing::error!(%error, "storing the framework ID failed");
                        }
                    }
                }
                Ok(Some(Input::Subscribed { framework_id }))
            }
            Some(Ok(SchedulerEvent::Disconnected { reason })) => {
                tracing::warn!(error = %reason, "Mesos subscription lost; reconnecting");
                self.metrics.set_subscribed(false);
                Ok(Some(Input::Disconnected))
            }
            Some(Ok(SchedulerEvent::Event(event))) => {
                for input in Drain::inputs_of_event(&event) {
                    parts.drain.handle(input, &parts.performer.mesos).await;
                }
                let input = input_of_event(*event);
                if let Some(Input::Offers(offers)) = &input {
                    // The node registry learns agents from offers too.
                    for offer in offers {
                        let _ = parts.offers_tx.try_send(offer.clone());
                    }
                }
                Ok(input)
            }
        }
    }

    /// One input through the core, its actions performed in order, and the
    /// status page and metrics brought up to date.
    async fn step(&self, parts: &mut TermParts, input: Input) {
        if let Input::NodeUpserted(node) = &input {
            parts
                .drain
                .handle(Drain::input_of_node(node), &parts.performer.mesos)
                .await;
        }
        let now = tokio::time::Instant::now();
        self.status.record_input(&input, now);
        let actions = parts.core.handle(input, now);
        for latency in parts.core.take_placement_latencies() {
            self.metrics
                .observe_placement_latency(latency.as_secs_f64());
        }
        self.perform_all(&parts.performer, actions).await;
        parts
            .drain
            .sync(&mut parts.core, &parts.performer.mesos)
            .await;
        if !self.status.wanted() || !parts.publish.ready(now) {
            return;
        }
        let started = std::time::Instant::now();
        // The gauges first: a `/metrics` reader wakes at the publication.
        self.status.publish(|| {
            let snapshot = parts.core.metrics();
            self.metrics.set_core(counters(&snapshot));
            self.metrics
                .set_executor_generations(parts.core.executor_generations());
            self.metrics.set_executor_pods(
                &parts.core.executor_id().value,
                &snapshot.executor_generations,
            );
            parts.core.status(now)
        });
        parts.publish.cost(started.elapsed());
    }

    /// Performs actions in the core's order; runs of ACCEPTs go together.
    async fn perform_all(&self, performer: &Performer, actions: Vec<Action>) {
        let mut actions = actions.into_iter().peekable();
        while let Some(action) = actions.next() {
            self.status.record_action(&action);
            if !matches!(action, Action::Accept { .. }) {
                performer.perform(action).await;
                continue;
            }
            // ACCEPTs of different agents are independent: a round at
            // scale has thousands, sent together; what follows them (the
            // Binds of their pods) waits for all.
            let mut batch = vec![action];
            while let Some(next) = actions.next_if(|a| matches!(a, Action::Accept { .. })) {
                self.status.record_action(&next);
                batch.push(next);
            }
            futures::stream::iter(batch)
                .for_each_concurrent(MESOS_CALLS_IN_FLIGHT, |a| performer.perform(a))
                .await;
        }
    }

    /// Step 4: give the held offers back right away instead of letting them
    /// sit until the master rescinds them, then stop every task of the term
    /// and wait for it. Writes in flight get [`TERM_WRITES_GRACE`] to finish.
    async fn finish(&self, mut parts: TermParts) {
        if let Some(Action::Decline { offer_ids, .. }) = parts.core.give_back_offers() {
            if let Err(error) = parts.performer.mesos.decline(offer_ids, None).await {
                tracing::debug!(%error, "declining held offers on exit failed");
            }
        }
        // The watches loop until dropped; the node registry stops on its token.
        parts.stop.cancel();
        parts.feeds.abort_all();
        while parts.feeds.join_next().await.is_some() {}
        let spawned = &parts.performer.spawned;
        spawned.close();
        if tokio::time::timeout(TERM_WRITES_GRACE, spawned.wait())
            .await
            .is_err()
        {
            tracing::info!(
                writes = spawned.len(),
                "Kubernetes writes still running at the end of the term; stopping them"
            );
            parts.performer.stop_writes.cancel();
            spawned.wait().await;
        }
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
        revive_min_interval: config.revive_min_interval,
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

/// How long the Kubernetes writes of a term (binds, events, annotations)
/// may still run after it ended before they are stopped.
const TERM_WRITES_GRACE: Duration = Duration::from_secs(5);

/// ACCEPT calls in flight at once.
const MESOS_CALLS_IN_FLIGHT: usize = 16;

/// Kubernetes writes (binds, pod status, events) in flight at once. A
/// placement round can bind thousands of pods; unbounded, each would hold
/// its own request (and soon its own connection) to the API server.
const KUBE_WRITES_IN_FLIGHT: usize = 64;

struct Performer {
    mesos: mesos::SchedulerHandle,
    /// Permits for the concurrent Kubernetes writes (binds, pod status,
    /// events).
    writes: Arc<tokio::sync::Semaphore>,
    /// Permits for the Mesos calls made off the loop (acknowledgements).
    mesos_calls: Arc<tokio::sync::Semaphore>,
    /// Each pod's writes in the core's order.
    order: PodOrder,
    /// Bounds the Events and unschedulable conditions waiting.
    best_effort: BestEffortGate,
    pods: PodWriter,
    events: EventRecorder,
    metrics: Arc<Metrics>,
    inputs: mpsc::Sender<Input>,
    /// The concurrent writes (binds, events, annotations) of this term, so
    /// that its end waits for them.
    spawned: TaskTracker,
    /// Stops the writes still running after [`TERM_WRITES_GRACE`].
    stop_writes: CancellationToken,
}

impl Performer {
    /// Runs a write concurrently, tracked and stoppable.
    fn spawn(&self, write: impl std::future::Future<Output = ()> + Send + 'static) {
        let stop = self.stop_writes.clone();
        self.spawned.spawn(async move {
            stop.run_until_cancelled(write).await;
        });
    }

    /// Runs a write of `pod` concurrently, after the pod's earlier writes
    /// and with a write permit, so that no Kubernetes write holds up the
    /// scheduler loop. The write is built by `make` only once it may run:
    /// a round binds thousands of pods, and each write's future (the HTTP
    /// client's request inline, tens of KiB) waiting for a permit made most
    /// of the framework's peak memory.
    fn spawn_for_pod<F, W>(&self, pod: &PodRef, make: F)
    where
        F: FnOnce() -> W + Send + 'static,
        W: std::future::Future<Output = ()> + Send + 'static,
    {
        self.spawn(
            self.order
                .queue(&pod.uid, with_permit(self.writes.clone(), make)),
        );
    }

    /// A place for one more Event or unschedulable condition among those
    /// waiting, or `None`, counted as dropped, when too many wait.
    fn admit_best_effort(&self) -> Option<Ticket> {
        let ticket = self.best_effort.admit();
        if ticket.is_none() {
            self.metrics.best_effort_write_dropped();
        }
        ticket
    }

    /// [`Self::spawn_for_pod`] for a pod status write whose failure is
    /// logged (the core writes again when it next decides to).
    fn spawn_status_write<F, W>(&self, pod: &PodRef, failed: &'static str, make: F)
    where
        F: FnOnce() -> W + Send + 'static,
        W: std::future::Future<Output = Result<(), KubeError>> + Send + 'static,
    {
        let metrics = self.metrics.clone();
        self.spawn_for_pod(pod, move || async move {
            if let Err(error) = make().await {
                metrics.kube_error();
                tracing::warn!(%error, "{failed}");
            }
        });
    }

    async fn perform(&self, action: Action) {
        let result = match action {
            Action::Accept {
                offer_ids,
                operations,
                filters,
            } => {
                let launched = launched_tasks(&operations);
                let result = self
                    .mesos
                    .accept(offer_ids, operations, Some(filters))
                    .await;
                if result.is_err() && !launched.is_empty() {
                    // Sent from a task of its own: the core's loop is
                    // waiting for this call, and the inputs may be full.
                    let inputs = self.inputs.clone();
                    self.spawn(async move {
                        let _ = inputs.send(Input::LaunchUnconfirmed(launched)).await;
                    });
                }
                result
            }
            Action::Decline { offer_ids, filters } => {
                self.mesos.decline(offer_ids, Some(filters)).await
            }
            Action::Suppress { roles, idle } => {
                // Idle from here: what the burst allocated and freed goes
                // back to the system (see `crate::memory`). The purge delay
                // is set here, in the actions' order, so that a REVIVE
                // right after cannot be overtaken by the blocking task.
                // Not at the SUPPRESS before the pod list is in: the pages
                // freed while it is decoded are taken again at once.
                if idle {
                    crate::memory::allocator::set_busy(false);
                    tokio::task::spawn_blocking(crate::memory::give_back_free_memory);
                }
                self.mesos.suppress(roles).await
            }
            Action::Revive { roles } => {
                crate::memory::allocator::set_busy(true);
                self.mesos.revive(roles).await
            }
            Action::Kill {
                task_id,
                agent_id,
                kill_policy,
            } => self.mesos.kill(task_id, agent_id, kill_policy).await,
            Action::Acknowledge {
                agent_id,
                task_id,
                uuid,
                after_write_of,
            } => {
                // Not awaited in the loop: the master answers each call on
                // its own time, and a loop waiting for one acknowledgement
                // after another stops reading the event stream behind them
                // (offers then sit unanswered at the master). Mesos sends a
                // task's next update only once this one is acknowledged, so
                // a task's acknowledgements cannot overtake each other.
                let mesos = self.mesos.clone();
                let calls = self.mesos_calls.clone();
                let metrics = self.metrics.clone();
                let ack = with_permit(calls, move || async move {
                    if let Err(error) = mesos.acknowledge(agent_id, task_id, uuid).await {
                        metrics.mesos_call_error();
                        tracing::warn!(%error, "Mesos call failed");
                    }
                });
                // Behind the pod's writes queued before it, when the update
                // decided something only the pod records.
                match after_write_of {
                    Some(pod) => self.spawn(self.order.queue(&pod.uid, ack)),
                    None => self.spawn(ack),
                }
                return;
            }
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
                self.spawn_for_pod(&pod.clone(), move || async move {
                    let result = pods.bind(&pod, &node_name, &annotations).await;
                    // "pod placed" has told of the pod and its node already.
                    if matches!(result, crate::core::BindOutcome::Bound) {
                        tracing::debug!(pod = %format!("{}/{}", pod.namespace, pod.name), node = %node_name, "bound");
                    } else {
                        tracing::info!(pod = %format!("{}/{}", pod.namespace, pod.name), node = %node_name, ?result, "bind");
                    }
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
                self.spawn_for_pod(&pod.clone(), move || async move {
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
                let Some(ticket) = self.admit_best_effort() else {
                    return;
                };
                let (pods, target) = (self.pods.clone(), pod.clone());
                self.spawn_status_write(
                    &pod,
                    "marking pod unschedulable failed",
                    move || async move {
                        drop(ticket);
                        let now = jiff::Timestamp::now();
                        pods.set_unschedulable(&target, &message, now).await
                    },
                );
                return;
            }
            Action::EvictPod { pod, message } => {
                let (pods, target) = (self.pods.clone(), pod.clone());
                self.spawn_status_write(
                    &pod,
                    "evicting a preempted pod failed",
                    move || async move {
                        let now = jiff::Timestamp::now();
                        pods.preempt_victim(&target, &message, now).await
                    },
                );
                return;
            }
            Action::NominatePod { pod, node_name } => {
                let (pods, target) = (self.pods.clone(), pod.clone());
                self.spawn_status_write(
                    &pod,
                    "setting nominatedNodeName failed",
                    move || async move { pods.nominate(&target, &node_name).await },
                );
                return;
            }
            Action::FailPod {
                pod,
                reason,
                message,
                last_known,
            } => {
                let (pods, target) = (self.pods.clone(), pod.clone());
                self.spawn_status_write(&pod, "failing pod failed", move || async move {
                    let now = jiff::Timestamp::now();
                    pods.fail(&target, &reason, &message, &last_known, now)
                        .await
                });
                return;
            }
            Action::FetchPod { pod } => {
                let pods = self.pods.clone();
                let inputs = self.inputs.clone();
                let metrics = self.metrics.clone();
                self.spawn(async move {
                    match pods.get(&pod).await {
                        Ok(Some(found)) => {
                            let _ = inputs.send(Input::PodFetched(Box::new(found))).await;
                        }
                        // Gone: its deletion comes by the watch.
                        Ok(None) => {}
                        Err(error) => {
                            metrics.kube_error();
                            tracing::warn!(%error, "fetching a pod to launch again failed; asked again on a later round");
                        }
                    }
                });
                return;
            }
            Action::SetPodTask { pod, annotations } => {
                let pods = self.pods.clone();
                let metrics = self.metrics.clone();
                // A restarted framework knows the pod's task and a
                // relaunch scheduled for it only from these annotations:
                // tried again while the API server is away.
                self.spawn_for_pod(&pod.clone(), move || async move {
                    let name = format!("{}/{}", pod.namespace, pod.name);
                    let result = crate::kube::retry::until_done(
                        || pods.annotate(&pod, &annotations),
                        |error, pause| {
                            metrics.kube_error();
                            tracing::info!(pod = %name, %error, retry_in = ?pause, "recording the pod's task in its annotations failed; trying again");
                        },
                    )
                    .await;
                    if let Err(error) = result {
                        metrics.kube_error();
                        tracing::warn!(pod = %name, %error, "recording the pod's task in its annotations failed");
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
                let (pods, target) = (self.pods.clone(), pod.clone());
                self.spawn_status_write(
                    &pod,
                    "setting a pod condition failed",
                    move || async move {
                        let condition = crate::kube::binder::Condition {
                            type_: &type_,
                            status,
                            reason: &reason,
                            message: &message,
                        };
                        let now = jiff::Timestamp::now();
                        pods.set_condition(&target, &condition, now).await
                    },
                );
                return;
            }
            Action::RecoverPod {
                pod,
                phase,
                message,
            } => {
                let (pods, target) = (self.pods.clone(), pod.clone());
                self.spawn_status_write(&pod, "taking a pod back failed", move || async move {
                    let now = jiff::Timestamp::now();
                    pods.recover(&target, &phase, &message, now).await
                });
                return;
            }
            Action::RecordEvent {
                pod,
                type_,
                reason,
                message,
            } => {
                let Some(ticket) = self.admit_best_effort() else {
                    return;
                };
                let events = self.events.clone();
                let metrics = self.metrics.clone();
                let writes = self.writes.clone();
                self.spawn(with_permit(writes, move || async move {
                    drop(ticket);
                    if let Err(error) = events
                        .record(&pod, type_, &reason, &message, jiff::Timestamp::now())
                        .await
                    {
                        metrics.kube_error();
                        tracing::debug!(%error, "recording event failed");
                    }
                }));
                return;
            }
        };
        if let Err(error) = result {
            self.metrics.mesos_call_error();
            tracing::warn!(%error, "Mesos call failed");
        }
    }
}

/// The tasks an ACCEPT's operations launch.
fn launched_tasks(operations: &[offer::Operation]) -> Vec<TaskId> {
    operations
        .iter()
        .flat_map(|op| {
            let single = op.launch.iter().flat_map(|l| &l.task_infos);
            let group = op.launch_group.iter().flat_map(|g| &g.task_group.tasks);
            single.chain(group)
        })
        .map(|t| t.task_id.clone())
        .collect()
}

/// Runs the write `make` builds once a permit is free; until then only
/// what `make` captured is held, not the write's future.
async fn with_permit<F, W>(permits: Arc<tokio::sync::Semaphore>, make: F)
where
    F: FnOnce() -> W,
    W: std::future::Future<Output = ()>,
{
    let _permit = permits.acquire_owned().await;
    Box::pin(make()).await;
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
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

    #[tokio::test(start_paused = true)]
    async fn a_write_is_built_only_once_a_permit_is_free() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let permits = Arc::new(tokio::sync::Semaphore::new(1));
        let built = Arc::new(AtomicUsize::new(0));
        let held = permits.clone().acquire_owned().await.unwrap();
        let waiting = tokio::spawn(with_permit(permits.clone(), {
            let built = built.clone();
            move || async move {
                built.fetch_add(1, Ordering::SeqCst);
            }
        }));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(built.load(Ordering::SeqCst), 0, "built while waiting");
        drop(held);
        waiting.await.unwrap();
        assert_eq!(built.load(Ordering::SeqCst), 1);
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
}
