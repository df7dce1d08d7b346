//! The master's in-memory state and what each input does to it.
//!
//! One [`State`] behind one mutex: HTTP handlers and the master's event loop
//! lock it, apply one input (a scheduler call, an agent message, a timer
//! tick, a fault hook) and leave. Every method here is synchronous; outputs
//! go to unbounded channels (framework streams, operator streams, agent
//! inboxes), so no lock is ever held across an await. The rules follow
//! apache/mesos `src/master/master.cpp`; the comments name the Mesos
//! function each method mirrors.
//!
//! Scheduler calls live here; agent messages and agent removal in
//! `agents.rs`; the operator API's read views in `views.rs`; the counters
//! of `/metrics/snapshot` in `metrics.rs` (bumped where inputs are handled)
//! and its view in `snapshot.rs`; the read-only JSON endpoints in
//! `readonly.rs`.

// `FrameworkInfo.role`, `ExecutorInfo.source` and a few response fields are
// deprecated upstream yet still part of the protocol Mesos speaks.
#![allow(deprecated)]

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube_mesos_proto::v1::master as operator;
use kube_mesos_proto::v1::scheduler::{call, event, Event};
use kube_mesos_proto::v1::{
    self as v1, framework_info, offer, task_status, AgentId, AgentInfo, ExecutorId, ExecutorInfo,
    FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, Task, TaskId, TaskInfo, TaskState,
    TaskStatus, TimeInfo,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::allocator::{self, AgentView, AllocatorInput, FrameworkView, OfferFilter};
use super::resources::Resources;
use super::validation::validate_framework_info;
use super::{registry, MasterConfig, Registry};
use crate::mesos::link::{AgentInbox, AgentMessage, MasterMessage};
use metrics::{count_task_update, Counter, FrameworkMetrics, MasterMetrics};

/// Where a framework's events go.
pub type EventTx = mpsc::UnboundedSender<Event>;
/// Where an operator subscriber's events go.
pub type OperatorTx = mpsc::UnboundedSender<operator::Event>;

/// The open SUBSCRIBE stream of a framework.
#[derive(Debug)]
pub struct Connection {
    /// The `Mesos-Stream-Id` handed out with it.
    pub stream_id: String,
    tx: EventTx,
}

/// A framework the master knows.
#[derive(Debug)]
pub struct Framework {
    /// Its info, with `id` set.
    pub info: FrameworkInfo,
    /// Its stream while subscribed.
    pub conn: Option<Connection>,
    suppressed: BTreeSet<String>,
    filters: Vec<OfferFilter>,
    tasks: BTreeMap<String, Task>,
    unreachable_tasks: BTreeMap<String, Task>,
    completed_tasks: Vec<Task>,
    registered_time: TimeInfo,
    reregistered_time: Option<TimeInfo>,
    unregistered_time: Option<TimeInfo>,
    disconnected_at: Option<Instant>,
    recovered: bool,
    /// Its counters (`master/frameworks/<name>/<id>/...`).
    metrics: FrameworkMetrics,
}

impl Framework {
    /// A framework known only from an agent or a resubscription after a
    /// master restart (`Master::recoverFramework`): not connected.
    fn recovered(info: FrameworkInfo) -> Self {
        Framework {
            metrics: FrameworkMetrics::new(&info),
            info,
            conn: None,
            suppressed: BTreeSet::new(),
            filters: Vec::new(),
            tasks: BTreeMap::new(),
            unreachable_tasks: BTreeMap::new(),
            completed_tasks: Vec::new(),
            registered_time: now_time(),
            reregistered_time: None,
            unregistered_time: None,
            disconnected_at: None,
            recovered: true,
        }
    }

    fn id(&self) -> String {
        self.info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default()
    }

    fn send(&self, event: Event) {
        // Counted even when disconnected, as `Framework::send` does.
        self.metrics.event(event.r#type());
        if let Some(conn) = &self.conn {
            let _ = conn.tx.send(event);
        }
    }

    fn has_capability(&self, c: framework_info::capability::Type) -> bool {
        self.info.capabilities.iter().any(|x| x.r#type() == c)
    }

    fn partition_aware(&self) -> bool {
        self.has_capability(framework_info::capability::Type::PartitionAware)
    }

    fn multi_role(&self) -> bool {
        self.has_capability(framework_info::capability::Type::MultiRole)
    }

    /// The roles it subscribes to (`roles` with MULTI_ROLE, else `role`).
    fn roles(&self) -> Vec<String> {
        roles_of(&self.info)
    }
}

pub(super) fn roles_of(info: &FrameworkInfo) -> Vec<String> {
    let multi = info
        .capabilities
        .iter()
        .any(|c| c.r#type() == framework_info::capability::Type::MultiRole);
    if multi {
        info.roles.clone()
    } else {
        vec![info.role().to_owned()]
    }
}

/// A registered agent.
#[derive(Debug)]
pub struct Agent {
    /// Its info, with `id` set.
    pub info: AgentInfo,
    inbox: AgentInbox,
    total: Resources,
    connected: bool,
    /// Since when its inbox is closed (the agent stopped listening).
    disconnected_at: Option<Instant>,
    registered_time: TimeInfo,
    reregistered_time: Option<TimeInfo>,
    /// Executors running there: (framework ID, executor ID) → info.
    executors: BTreeMap<(String, String), ExecutorInfo>,
    /// Tasks a framework asked to kill, (framework ID, task ID), until
    /// they end (`Slave::killedTasks`): the KILL may not have reached an
    /// agent that is disconnected without the master knowing yet, so it is
    /// sent again should the agent re-register with the task live
    /// (`Master::reconcileKnownSlave`).
    killed_tasks: BTreeSet<(String, String)>,
}

impl Agent {
    fn send(&self, msg: MasterMessage) {
        if self.inbox.send(msg).is_err() {
            tracing::debug!(agent_id = %self.id(), "agent inbox closed; message dropped");
        }
    }

    fn id(&self) -> String {
        self.info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
struct OutstandingOffer {
    offer: Offer,
    role: String,
    resources: Resources,
    /// `resources` without allocation info (what the agent has offered),
    /// and allocated to a placeholder role (what the framework's role has
    /// been offered, for the allocator's sorter): worked out once, not on
    /// every allocation pass.
    unallocated: Resources,
    placeholder: Resources,
    created: Instant,
}

/// The whole master state.
#[derive(Debug)]
pub struct State {
    pub(super) config: MasterConfig,
    pub(super) master_info: MasterInfo,
    /// `Some(host:port)` while this master is not the leader.
    pub(super) leader: Option<String>,
    pub(super) start_time: f64,
    frameworks: BTreeMap<String, Framework>,
    completed_frameworks: Vec<Framework>,
    agents: BTreeMap<String, Agent>,
    unreachable_agents: BTreeMap<String, (AgentInfo, TimeInfo)>,
    gone_agents: BTreeMap<String, TimeInfo>,
    /// Agents known before a master restart that have not re-registered
    /// (replicated-log registry only), and since when.
    recovered_agents: BTreeMap<String, (AgentInfo, Instant)>,
    /// While [`MasterHandle::hold_agents`](super::MasterHandle::hold_agents)
    /// is on: the registrations waiting, in order.
    held_registrations: Option<Vec<AgentMessage>>,
    offers: BTreeMap<String, OutstandingOffer>,
    operator_subscribers: Vec<OperatorTx>,
    next_framework: u64,
    next_agent: u64,
    next_offer: u64,
    /// Set when something happened that calls for an allocation now rather
    /// than at the next interval: what makes Mesos 1.11's allocator call
    /// `generateOffers()` — a framework added or failed over, REVIVE, an
    /// agent added. Declined, rescinded and freed resources wait for the
    /// next interval, as in Mesos (MESOS-3078), so a framework sees the
    /// same offer timing on both.
    pub(super) allocation_wanted: bool,
    /// The master-wide counters.
    metrics: MasterMetrics,
    /// Machines under maintenance and the inverse offers for them.
    maintenance: maintenance::InverseOfferBooks,
    /// What live tasks hold per agent, kept across allocation passes.
    task_usage: usage::TaskUsage,
    /// `allocator/mesos/allocation_run_ms`: how long each pass held the
    /// state (Mesos keeps an hour of them).
    allocation_run: timer::Timer,
    /// What each agent has free, kept across allocation passes.
    free: free::FreeResources,
}

pub(super) fn now_time() -> TimeInfo {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    TimeInfo { nanoseconds: nanos }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn is_terminal(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    )
}

fn event(ty: event::Type) -> Event {
    Event {
        r#type: Some(ty as i32),
        ..Default::default()
    }
}

/// A status update generated by the master: no uuid, SOURCE_MASTER.
#[allow(clippy::too_many_arguments)]
fn master_status(
    task_id: &TaskId,
    state: TaskState,
    message: &str,
    reason: task_status::Reason,
    agent_id: Option<&AgentId>,
    executor_id: Option<&ExecutorId>,
) -> TaskStatus {
    TaskStatus {
        task_id: task_id.clone(),
        state: state as i32,
        message: Some(message.to_owned()),
        source: Some(task_status::Source::Master as i32),
        reason: Some(reason as i32),
        agent_id: agent_id.cloned(),
        executor_id: executor_id.cloned(),
        timestamp: Some(now_secs()),
        ..Default::default()
    }
}

fn update_event(status: TaskStatus) -> Event {
    Event {
        update: Some(event::Update { status }),
        ..event(event::Type::Update)
    }
}

fn fw_id(v: &str) -> FrameworkId {
    FrameworkId {
        value: v.to_owned(),
    }
}

/// How a refused SUBSCRIBE is told: an ERROR event, then the stream closes.
pub fn error_event(message: &str) -> Event {
    Event {
        error: Some(event::Error {
            message: message.to_owned(),
        }),
        ..event(event::Type::Error)
    }
}

/// Tells the caller of [`State::update_framework`] what to answer.
pub type UpdateResult = Result<(), String>;

impl State {
    pub(super) fn new(config: MasterConfig, master_info: MasterInfo) -> Self {
        let leader = config.leader.clone();
        State {
            config,
            master_info,
            leader,
            start_time: now_secs(),
            frameworks: BTreeMap::new(),
            completed_frameworks: Vec::new(),
            agents: BTreeMap::new(),
            unreachable_agents: BTreeMap::new(),
            gone_agents: BTreeMap::new(),
            recovered_agents: BTreeMap::new(),
            held_registrations: None,
            offers: BTreeMap::new(),
            operator_subscribers: Vec::new(),
            next_framework: 0,
            next_agent: 0,
            next_offer: 0,
            allocation_wanted: false,
            metrics: MasterMetrics::default(),
            maintenance: maintenance::InverseOfferBooks::default(),
            task_usage: usage::TaskUsage::default(),
            free: free::FreeResources::default(),
            allocation_run: timer::Timer::new(
                "allocator/mesos/allocation_run",
                Duration::from_secs(3600),
            ),
        }
    }

    fn master_id(&self) -> &str {
        &self.master_info.id
    }

    fn publish(&mut self, ev: operator::Event) {
        self.operator_subscribers
            .retain(|tx| tx.send(ev.clone()).is_ok());
    }

    // ---------------------------------------------------------------- frameworks

    /// Looks a framework up for a non-SUBSCRIBE call, with Mesos' answers.
    pub fn check_call(
        &self,
        framework_id: &str,
        principal: Option<&str>,
        stream_id: Option<&str>,
    ) -> Result<(), CallRefused> {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return Err(CallRefused::BadRequest("Framework cannot be found".into()));
        };
        // Mesos' implicit scheduler authorization (MESOS-7399): the
        // authenticated principal must be the framework's.
        if let Some(principal) = principal {
            let registered = fw.info.principal.as_deref().unwrap_or_default();
            if principal != registered {
                return Err(CallRefused::BadRequest(format!(
                    "Authenticated principal '{principal}' does not match principal \
                     '{registered}' set in `FrameworkInfo`"
                )));
            }
        }
        let Some(conn) = &fw.conn else {
            return Err(CallRefused::Forbidden("Framework is not subscribed".into()));
        };
        let Some(stream_id) = stream_id else {
            return Err(CallRefused::BadRequest(
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header".into(),
            ));
        };
        if stream_id != conn.stream_id {
            return Err(CallRefused::BadRequest(format!(
                "The stream ID '{stream_id}' included in this request didn't match the stream ID \
                 currently associated with framework ID {framework_id}"
            )));
        }
        Ok(())
    }

    /// SUBSCRIBE (`Master::subscribe` / `_subscribe` / `failoverFramework`).
    /// Returns the framework ID when the subscription was accepted.
    pub fn subscribe(
        &mut self,
        subscribe: call::Subscribe,
        stream_id: String,
        tx: EventTx,
    ) -> Option<String> {
        let mut info = subscribe.framework_info;
        let name = info.name.clone();
        if info.id.as_ref().is_none_or(|i| i.value.is_empty()) {
            self.metrics.inc(Counter::MessagesRegisterFramework);
        } else {
            self.metrics.inc(Counter::MessagesReregisterFramework);
        }
        let refuse = |tx: &EventTx, msg: &str| {
            tracing::info!(framework = %name, error = msg, "refusing subscription");
            let _ = tx.send(error_event(msg));
        };
        if let Some(err) = validate_framework_info(
            &info,
            &subscribe.suppressed_roles,
            self.config.roles.as_ref(),
        ) {
            refuse(&tx, &err);
            return None;
        }
        let id = info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|v| !v.is_empty());
        if let Some(id) = &id {
            if self.completed_frameworks.iter().any(|f| &f.id() == id) {
                refuse(&tx, "Framework has been removed");
                return None;
            }
        }
        let suppressed: BTreeSet<String> = subscribe.suppressed_roles.into_iter().collect();
        let heartbeat = self.config.heartbeat_interval.as_secs_f64();
        let subscribed = |id: &str, mi: &MasterInfo| Event {
            subscribed: Some(event::Subscribed {
                framework_id: fw_id(id),
                heartbeat_interval_seconds: Some(heartbeat),
                master_info: Some(mi.clone()),
            }),
            ..event(event::Type::Subscribed)
        };

        let Some(id) = id else {
            let id = format!("{}-{:04}", self.master_id(), self.next_framework);
            self.next_framework += 1;
            info.id = Some(fw_id(&id));
            tracing::info!(framework_id = %id, name = %info.name, "framework subscribed");
            let _ = tx.send(subscribed(&id, &self.master_info));
            let fw = Framework {
                metrics: FrameworkMetrics::new(&info),
                info,
                conn: Some(Connection { stream_id, tx }),
                suppressed,
                filters: Vec::new(),
                tasks: BTreeMap::new(),
                unreachable_tasks: BTreeMap::new(),
                completed_tasks: Vec::new(),
                registered_time: now_time(),
                reregistered_time: None,
                unregistered_time: None,
                disconnected_at: None,
                recovered: false,
            };
            fw.metrics.call(call::Type::Subscribe);
            fw.metrics.event(event::Type::Subscribed);
            self.frameworks.insert(id.clone(), fw);
            self.send_framework_updates(&id);
            let f = self.framework_summary(&id);
            self.publish(operator::Event {
                r#type: Some(operator::event::Type::FrameworkAdded as i32),
                framework_added: f.map(|framework| operator::event::FrameworkAdded { framework }),
                ..Default::default()
            });
            self.allocation_wanted = true;
            return Some(id);
        };

        // Resubscription: failover, or first subscription after a master
        // restart (an unknown ID is accepted, as Mesos does).
        let _ = tx.send(subscribed(&id, &self.master_info));
        let mut rescinded = Vec::new();
        let fw = self
            .frameworks
            .entry(id.clone())
            .or_insert_with(|| Framework::recovered(info.clone()));
        fw.metrics.call(call::Type::Subscribe);
        if let Some(old) = fw.conn.take() {
            tracing::info!(framework_id = %id, "framework failed over");
            fw.metrics.event(event::Type::Error);
            let _ = old.tx.send(error_event("Framework failed over"));
        }
        fw.metrics.event(event::Type::Subscribed);
        fw.info = info;
        fw.conn = Some(Connection { stream_id, tx });
        fw.suppressed = suppressed;
        fw.disconnected_at = None;
        fw.unregistered_time = None;
        fw.reregistered_time = Some(now_time());
        fw.recovered = false;
        for (oid, o) in &self.offers {
            if o.offer.framework_id.value == id {
                rescinded.push(oid.clone());
            }
        }
        // Offers made to the old connection are void; they are recovered
        // without RESCIND events (the new stream never saw them).
        for oid in rescinded {
            self.offers.remove(&oid);
        }
        self.send_framework_updates(&id);
        let f = self.framework_summary(&id);
        self.publish(operator::Event {
            r#type: Some(operator::event::Type::FrameworkUpdated as i32),
            framework_updated: f.map(|framework| operator::event::FrameworkUpdated { framework }),
            ..Default::default()
        });
        self.allocation_wanted = true;
        Some(id)
    }

    /// `Master::sendFrameworkUpdates`: every agent learns the framework's
    /// info, and resends its pending status updates for it at once.
    fn send_framework_updates(&self, framework_id: &str) {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        for agent in self.agents.values() {
            agent.send(MasterMessage::UpdateFramework {
                framework: fw.info.clone(),
            });
        }
    }

    /// A framework's stream ended (`Master::exited` for HTTP frameworks).
    pub fn stream_closed(&mut self, framework_id: &str, stream_id: &str, now: Instant) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if fw.conn.as_ref().map(|c| c.stream_id.as_str()) != Some(stream_id) {
            return;
        }
        tracing::info!(framework_id, "framework disconnected");
        fw.conn = None;
        fw.disconnected_at = Some(now);
        fw.unregistered_time = Some(now_time());
        // `HierarchicalAllocatorProcess::deactivateFramework` forgets the
        // framework's refusals: a scheduler that comes back (a failover
        // after a crash) gets every agent offered again at once, not after
        // the long filters its previous process declined with.
        fw.filters.clear();
        self.remove_offers_of(framework_id, false);
        self.drop_inverse_offers_of_framework(framework_id);
        self.maintenance.forget_filters_of(framework_id);
        let f = self.framework_summary(framework_id);
        self.publish(operator::Event {
            r#type: Some(operator::event::Type::FrameworkUpdated as i32),
            framework_updated: f.map(|framework| operator::event::FrameworkUpdated { framework }),
            ..Default::default()
        });
        // Its offers go to others at the next interval: Mesos'
        // `deactivateFramework` does not allocate.
    }

    /// Removes (and optionally rescinds) every offer of a framework.
    fn remove_offers_of(&mut self, framework_id: &str, rescind: bool) {
        let ids: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.offer.framework_id.value == framework_id)
            .map(|(k, _)| k.clone())
            .collect();
        for id in ids {
            self.remove_offer(&id, rescind);
        }
    }

    fn remove_offer(&mut self, offer_id: &str, rescind: bool) {
        let Some(o) = self.offers.remove(offer_id) else {
            return;
        };
        if rescind {
            if let Some(fw) = self.frameworks.get(&o.offer.framework_id.value) {
                fw.metrics.offer_rescinded();
                fw.send(Event {
                    rescind: Some(event::Rescind {
                        offer_id: o.offer.id.clone(),
                    }),
                    ..event(event::Type::Rescind)
                });
            }
        }
    }

    /// TEARDOWN, or failover timeout (`Master::removeFramework`).
    pub fn remove_framework(&mut self, framework_id: &str) {
        self.remove_offers_of(framework_id, false);
        self.drop_inverse_offers_of_framework(framework_id);
        let Some(mut fw) = self.frameworks.remove(framework_id) else {
            return;
        };
        tracing::info!(framework_id, "removing framework");
        let tasks: Vec<Task> = std::mem::take(&mut fw.tasks).into_values().collect();
        for mut task in tasks {
            if !is_terminal(task.state()) {
                let status = master_status(
                    &task.task_id,
                    TaskState::TaskKilled,
                    &format!("Framework {framework_id} removed"),
                    task_status::Reason::FrameworkRemoved,
                    Some(&task.agent_id),
                    task.executor_id.as_ref(),
                );
                count_task_update(&mut self.metrics, Some(&fw.metrics), task.state(), &status);
                task.state = TaskState::TaskKilled as i32;
                task.statuses.push(status);
            }
            fw.completed_tasks.push(task);
        }
        for agent in self.agents.values_mut() {
            let had = agent.executors.keys().any(|(f, _)| f == framework_id);
            agent.executors.retain(|(f, _), _| f != framework_id);
            let runs_tasks = fw
                .completed_tasks
                .iter()
                .any(|t| t.agent_id.value == agent.id());
            if had || runs_tasks {
                agent.send(MasterMessage::ShutdownFramework {
                    framework_id: fw_id(framework_id),
                });
            }
        }
        // Closing the stream: dropping the sender ends the response body.
        fw.conn = None;
        fw.unregistered_time = Some(now_time());
        let info = fw.info.clone();
        self.completed_frameworks.push(fw);
        self.publish(operator::Event {
            r#type: Some(operator::event::Type::FrameworkRemoved as i32),
            framework_removed: Some(operator::event::FrameworkRemoved {
                framework_info: info,
            }),
            ..Default::default()
        });
    }

    fn executor_known(&self, agent_id: &str, framework_id: &str, e: &ExecutorInfo) -> bool {
        self.agents.get(agent_id).is_some_and(|a| {
            a.executors
                .contains_key(&(framework_id.to_owned(), e.executor_id.value.clone()))
        })
    }

    /// `validation::task::validate`, the parts that matter here.
    #[allow(clippy::too_many_arguments)]
    fn validate_task(
        &self,
        framework_id: &str,
        agent_id: &str,
        task: &TaskInfo,
        executor: Option<&ExecutorInfo>,
        group: bool,
        used_ids: &BTreeSet<String>,
        available: &Resources,
        validated: &[(TaskInfo, ExecutorInfo)],
        launched: &[ExecutorInfo],
    ) -> Option<String> {
        let fw = self.frameworks.get(framework_id)?;
        if task.task_id.value.is_empty() {
            return Some("ID must not be empty".into());
        }
        // `validateUniqueTaskID`: a task stays the framework's until its
        // terminal update is acknowledged, so its ID is taken until then.
        if used_ids.contains(&task.task_id.value) || fw.tasks.contains_key(&task.task_id.value) {
            return Some(format!("Task has duplicate ID: {}", task.task_id.value));
        }
        if task.agent_id.value != agent_id {
            return Some(format!("Task uses invalid agent: {}", task.agent_id.value));
        }
        if !group && task.executor.is_some() == task.command.is_some() {
            return Some(
                "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
                    .into(),
            );
        }
        if group && task.executor.is_some() {
            return Some("'TaskInfo.executor' must not be set".into());
        }
        if let Some(e) = executor {
            if let Some(f) = &e.framework_id {
                if f.value != framework_id {
                    return Some(format!(
                        "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {})",
                        f.value, framework_id
                    ));
                }
            }
            let mut e_norm = e.clone();
            e_norm.framework_id = Some(fw_id(framework_id));
            let existing = self
                .agents
                .get(agent_id)
                .and_then(|a| {
                    a.executors
                        .get(&(framework_id.to_owned(), e.executor_id.value.clone()))
                        .cloned()
                })
                .or_else(|| {
                    launched
                        .iter()
                        .chain(validated.iter().map(|(_, v)| v))
                        .find(|v| v.executor_id == e.executor_id)
                        .cloned()
                });
            if let Some(existing) = existing {
                if existing != e_norm {
                    return Some(
                        "ExecutorInfo is not compatible with existing ExecutorInfo with same \
                         ExecutorID"
                            .into(),
                    );
                }
            }
        }
        if task.resources.is_empty() {
            return Some("Task uses no resources".into());
        }
        let mut total = Resources::from_protos(&task.resources).unallocated();
        if let Some(e) = executor {
            let known = self.executor_known(agent_id, framework_id, e)
                || launched
                    .iter()
                    .chain(validated.iter().map(|(_, v)| v))
                    .any(|v| v.executor_id == e.executor_id);
            if !known {
                total.add_all(&Resources::from_protos(&e.resources).unallocated());
            }
        }
        if !available.contains(&total) {
            return Some(format!(
                "Task uses more resources {total} than available {available}"
            ));
        }
        None
    }

    fn add_filter(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        resources: Resources,
        refuse_seconds: f64,
        now: Instant,
    ) {
        let mut secs = refuse_seconds;
        if !secs.is_finite() || secs < 0.0 {
            secs = 5.0;
        }
        secs = secs.min(365.0 * 24.0 * 3600.0);
        if secs <= 0.0 {
            return;
        }
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            fw.filters.push(OfferFilter {
                agent_id: agent_id.to_owned(),
                role: role.to_owned(),
                resources: resources.unallocated(),
                expires: now + Duration::from_secs_f64(secs),
            });
        }
    }

    /// DECLINE (`Master::decline`).
    pub fn decline(&mut self, framework_id: &str, decline: call::Decline, now: Instant) {
        let refuse = decline
            .filters
            .as_ref()
            .map(|f| f.refuse_seconds())
            .unwrap_or(5.0);
        self.metrics.inc(Counter::MessagesDeclineOffers);
        let mut declined = 0;
        for oid in decline.offer_ids {
            let owned = self
                .offers
                .get(&oid.value)
                .is_some_and(|o| o.offer.framework_id.value == framework_id);
            if !owned {
                continue;
            }
            if let Some(o) = self.offers.remove(&oid.value) {
                declined += 1;
                self.add_filter(
                    framework_id,
                    &o.offer.agent_id.value,
                    &o.role,
                    o.resources,
                    refuse,
                    now,
                );
            }
        }
        if let Some(fw) = self.frameworks.get(framework_id) {
            fw.metrics.offers_declined(declined);
        }
    }

    fn roles_or_all(&self, framework_id: &str, roles: Vec<String>) -> Vec<String> {
        if roles.is_empty() {
            self.frameworks
                .get(framework_id)
                .map(|f| f.roles())
                .unwrap_or_default()
        } else {
            roles
        }
    }

    /// REVIVE (`Master::revive`): unsuppress and clear filters.
    pub fn revive(&mut self, framework_id: &str, roles: Vec<String>) {
        self.metrics.inc(Counter::MessagesReviveOffers);
        let roles = self.roles_or_all(framework_id, roles);
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            for r in &roles {
                fw.suppressed.remove(r);
            }
            fw.filters.retain(|f| !roles.contains(&f.role));
        }
        self.allocation_wanted = true;
    }

    /// SUPPRESS (`Master::suppress`).
    pub fn suppress(&mut self, framework_id: &str, roles: Vec<String>) {
        self.metrics.inc(Counter::MessagesSuppressOffers);
        let roles = self.roles_or_all(framework_id, roles);
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            fw.suppressed.extend(roles);
        }
    }

    /// KILL (`Master::kill`).
    pub fn kill(&mut self, framework_id: &str, kill: call::Kill) {
        self.metrics.inc(Counter::MessagesKillTask);
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        match fw.tasks.get(&kill.task_id.value) {
            Some(task) => {
                if let Some(agent) = self.agents.get_mut(&task.agent_id.value) {
                    agent
                        .killed_tasks
                        .insert((framework_id.to_owned(), kill.task_id.value.clone()));
                    agent.send(MasterMessage::KillTask {
                        framework_id: fw_id(framework_id),
                        task_id: kill.task_id,
                        kill_policy: kill.kill_policy,
                    });
                }
            }
            None => {
                // Unknown task: answer as an explicit reconciliation would.
                self.reconcile(
                    framework_id,
                    call::Reconcile {
                        tasks: vec![call::reconcile::Task {
                            task_id: kill.task_id,
                            agent_id: kill.agent_id,
                        }],
                    },
                );
            }
        }
    }

    /// SHUTDOWN of an executor (`Master::shutdown`).
    pub fn shutdown_executor(&mut self, framework_id: &str, shutdown: call::Shutdown) {
        if let Some(agent) = self.agents.get(&shutdown.agent_id.value) {
            agent.send(MasterMessage::ShutdownExecutor {
                framework_id: fw_id(framework_id),
                executor_id: shutdown.executor_id,
            });
        }
    }

    /// ACKNOWLEDGE (`Master::acknowledge`).
    pub fn acknowledge(&mut self, framework_id: &str, ack: call::Acknowledge) {
        let agent_id = ack.agent_id.value.clone();
        self.metrics
            .inc(Counter::MessagesStatusUpdateAcknowledgement);
        // `slave->getTask(...)`: the task on the acknowledged agent only.
        let on_agent = |t: &&Task| t.agent_id.value == agent_id;
        let unsent = self
            .frameworks
            .get(framework_id)
            .and_then(|fw| fw.tasks.get(&ack.task_id.value))
            .filter(on_agent)
            .is_some_and(|t| t.status_update_state.is_none());
        let valid = !unsent && self.agents.get(&agent_id).is_some_and(|a| a.connected);
        self.metrics.inc(if valid {
            Counter::ValidStatusUpdateAcknowledgements
        } else {
            Counter::InvalidStatusUpdateAcknowledgements
        });
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            let done = fw
                .tasks
                .get(&ack.task_id.value)
                .filter(on_agent)
                .is_some_and(|t| {
                    t.status_update_uuid.as_deref() == Some(ack.uuid.as_slice())
                        && is_terminal(t.state())
                });
            if done {
                if let Some(t) = fw.tasks.remove(&ack.task_id.value) {
                    fw.completed_tasks.push(t);
                }
            }
        }
        if let Some(agent) = self.agents.get(&agent_id) {
            agent.send(MasterMessage::StatusUpdateAcknowledged {
                framework_id: fw_id(framework_id),
                task_id: ack.task_id,
                uuid: ack.uuid,
            });
        } else {
            tracing::warn!(agent_id, "acknowledgement for an unknown agent dropped");
        }
    }

    /// RECONCILE (`Master::reconcile`).
    pub fn reconcile(&mut self, framework_id: &str, reconcile: call::Reconcile) {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        let reason = task_status::Reason::Reconciliation;
        let latest = |task: &Task| {
            let state = task.status_update_state.unwrap_or(task.state);
            let mut s = master_status(
                &task.task_id,
                TaskState::try_from(state).unwrap_or(TaskState::TaskStaging),
                "Reconciliation: Latest task state",
                reason,
                Some(&task.agent_id),
                task.executor_id.as_ref(),
            );
            if let Some(last) = task.statuses.last() {
                s.healthy = last.healthy;
                s.container_status = last.container_status.clone();
                s.unreachable_time = last.unreachable_time;
            }
            s
        };
        if reconcile.tasks.is_empty() {
            // `foreachvalue (Task* task, framework->tasks)`: the tasks of
            // unreachable agents are not among them (Mesos 1.11 keeps them
            // in `unreachableTasks`); an explicit ask answers for those.
            for task in fw.tasks.values() {
                fw.send(update_event(latest(task)));
            }
            return;
        }
        let pa = fw.partition_aware();
        let pick = |s: TaskState| if pa { s } else { TaskState::TaskLost };
        for t in reconcile.tasks {
            let agent = t.agent_id.as_ref().map(|a| a.value.clone());
            // `framework->getTask`: `tasks` only; a task of an unreachable
            // agent is answered by case (4) below.
            let known = fw.tasks.get(&t.task_id.value);
            let status = if let Some(task) = known {
                Some(latest(task))
            } else if agent
                .as_ref()
                .map(|a| self.recovered_agents.contains_key(a))
                .unwrap_or(!self.recovered_agents.is_empty())
            {
                None
            } else if let Some(a) = agent.as_ref().filter(|a| self.agents.contains_key(*a)) {
                Some(master_status(
                    &t.task_id,
                    pick(TaskState::TaskGone),
                    "Reconciliation: Task is unknown to the agent",
                    reason,
                    Some(&AgentId { value: a.clone() }),
                    None,
                ))
            } else if let Some((a, (_, when))) = agent
                .as_ref()
                .and_then(|a| self.unreachable_agents.get_key_value(a))
            {
                let mut s = master_status(
                    &t.task_id,
                    pick(TaskState::TaskUnreachable),
                    "Reconciliation: Task is unreachable",
                    reason,
                    Some(&AgentId { value: a.clone() }),
                    None,
                );
                s.unreachable_time = Some(*when);
                Some(s)
            } else if let Some(a) = agent.as_ref().filter(|a| self.gone_agents.contains_key(*a)) {
                Some(master_status(
                    &t.task_id,
                    pick(TaskState::TaskGoneByOperator),
                    "Reconciliation: Task is gone",
                    reason,
                    Some(&AgentId { value: a.clone() }),
                    None,
                ))
            } else {
                Some(master_status(
                    &t.task_id,
                    pick(TaskState::TaskUnknown),
                    "Reconciliation: Task is unknown",
                    reason,
                    t.agent_id.as_ref(),
                    None,
                ))
            };
            if let Some(s) = status {
                fw.send(update_event(s));
            }
        }
    }

    /// MESSAGE to an executor (`Master::message`).
    pub fn message(&mut self, framework_id: &str, msg: call::Message) {
        self.metrics.inc(Counter::MessagesFrameworkToExecutor);
        match self.agents.get(&msg.agent_id.value) {
            Some(agent) if agent.connected => {
                self.metrics.inc(Counter::ValidFrameworkToExecutorMessages);
                agent.send(MasterMessage::FrameworkMessage {
                    framework_id: fw_id(framework_id),
                    executor_id: msg.executor_id,
                    data: msg.data,
                })
            }
            _ => {
                self.metrics
                    .inc(Counter::InvalidFrameworkToExecutorMessages);
                tracing::warn!(agent_id = %msg.agent_id.value, "framework message for an unknown agent dropped")
            }
        }
    }

    /// UPDATE_FRAMEWORK (`Master::updateFramework`).
    pub fn update_framework(&mut self, update: call::UpdateFramework) -> UpdateResult {
        let info = update.framework_info;
        let id = info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default();
        if let Some(e) =
            validate_framework_info(&info, &update.suppressed_roles, self.config.roles.as_ref())
        {
            return Err(e);
        }
        let Some(fw) = self.frameworks.get_mut(&id) else {
            return Err("Framework cannot be found".into());
        };
        if fw.info.user != info.user {
            return Err(format!(
                "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{}' to '{}'",
                fw.info.user, info.user
            ));
        }
        if fw.info.checkpoint() != info.checkpoint() {
            return Err(format!(
                "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from '{}' to '{}'",
                fw.info.checkpoint(),
                info.checkpoint()
            ));
        }
        fw.info = info;
        fw.suppressed = update.suppressed_roles.into_iter().collect();
        let roles = fw.roles();
        fw.filters.retain(|f| roles.contains(&f.role));
        let stale: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.offer.framework_id.value == id && !roles.contains(&o.role))
            .map(|(k, _)| k.clone())
            .collect();
        for o in stale {
            self.remove_offer(&o, true);
        }
        let f = self.framework_summary(&id);
        self.publish(operator::Event {
            r#type: Some(operator::event::Type::FrameworkUpdated as i32),
            framework_updated: f.map(|framework| operator::event::FrameworkUpdated { framework }),
            ..Default::default()
        });
        Ok(())
    }

    // ------------------------------------------------------------ timers, faults

    /// Periodic work: failover timeouts, offer timeouts, agents that never
    /// came back after a restart, agents whose inbox closed.
    pub fn tick(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .frameworks
            .iter()
            .filter(|(_, f)| {
                f.conn.is_none()
                    && f.disconnected_at.is_some_and(|d| {
                        now.duration_since(d).as_secs_f64() >= f.info.failover_timeout()
                    })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for id in expired {
            tracing::info!(framework_id = %id, "framework failover timeout");
            self.remove_framework(&id);
        }
        if let Some(timeout) = self.config.offer_timeout {
            let old: Vec<String> = self
                .offers
                .iter()
                .filter(|(_, o)| now.duration_since(o.created) >= timeout)
                .map(|(k, _)| k.clone())
                .collect();
            for o in old {
                self.remove_offer(&o, true);
            }
            self.expire_inverse_offers(now, timeout);
        }
        // `Master::recoveredSlavesTimeout`: recovered agents that did not
        // re-register are marked unreachable.
        let lost: Vec<String> = self
            .recovered_agents
            .iter()
            .filter(|(_, (_, since))| {
                now.duration_since(*since) >= self.config.agent_reregister_timeout
            })
            .map(|(k, _)| k.clone())
            .collect();
        for a in lost {
            if let Some((info, _)) = self.recovered_agents.remove(&a) {
                tracing::info!(agent_id = %a, "agent did not re-register after the master failover; marking it unreachable");
                // `Master::recoveredSlavesTimeout` then `_markUnreachable`.
                for c in [
                    Counter::SlaveUnreachableScheduled,
                    Counter::SlaveUnreachableCompleted,
                    Counter::SlaveRemovals,
                    Counter::SlaveRemovalsReasonUnhealthy,
                    Counter::RecoverySlaveRemovals,
                ] {
                    self.metrics.inc(c);
                }
                self.unreachable_agents.insert(a, (info, now_time()));
                self.persist_registry();
            }
        }
        for agent in self.agents.values_mut() {
            if agent.connected && agent.inbox.is_closed() {
                tracing::info!(agent_id = %agent.id(), "agent disconnected");
                agent.connected = false;
                agent.disconnected_at = Some(now);
            }
        }
        // Mesos marks an agent unreachable once it missed
        // `max_agent_ping_timeouts` pings of `agent_ping_timeout` each.
        let silent: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| {
                a.disconnected_at
                    .is_some_and(|d| now.duration_since(d) >= self.config.agent_ping_timeout)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for a in silent {
            self.remove_agent(
                &a,
                Removal::Unreachable("health check timed out".into()),
                false,
            );
        }
        let disconnected: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| {
                self.agents
                    .get(&o.offer.agent_id.value)
                    .is_some_and(|a| !a.connected)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for o in disconnected {
            self.remove_offer(&o, true);
        }
    }

    /// One allocation pass; sends OFFERS events.
    pub fn allocate(&mut self, now: Instant) {
        self.allocation_wanted = false;
        if self.leader.is_some() {
            return;
        }
        self.metrics.inc(Counter::AllocationRuns);
        let started = std::time::Instant::now();
        self.allocation_pass(now);
        self.allocation_run.record(now, started.elapsed());
    }

    /// One pass: what each agent has free, offered to the frameworks the
    /// allocator picks, then inverse offers for machines under maintenance.
    fn allocation_pass(&mut self, now: Instant) {
        for fw in self.frameworks.values_mut() {
            fw.filters.retain(|f| f.expires > now);
        }
        let first_roles: BTreeMap<&str, String> = self
            .frameworks
            .iter()
            .map(|(fid, fw)| {
                (
                    fid.as_str(),
                    fw.roles().into_iter().next().unwrap_or_default(),
                )
            })
            .collect();
        let frameworks = &self.frameworks;
        self.task_usage.refresh(|| {
            frameworks.iter().flat_map(|(fid, fw)| {
                let first_role = first_roles.get(fid.as_str()).map_or("", String::as_str);
                fw.tasks
                    .values()
                    .filter(|t| !is_terminal(t.state()))
                    .map(move |task| usage::LiveTask {
                        framework_id: fid,
                        first_role,
                        task,
                    })
            })
        });
        let mut fw_alloc = self.task_usage.allocated();
        for o in self.offers.values() {
            if let Some(r) = fw_alloc
                .get_mut(&o.offer.framework_id.value)
                .and_then(|per_role| per_role.get_mut(&o.role))
            {
                r.add_all(&o.placeholder);
            } else {
                fw_alloc
                    .entry(o.offer.framework_id.value.clone())
                    .or_default()
                    .insert(o.role.clone(), o.placeholder.clone());
            }
        }
        let (task_usage, offers) = (&self.task_usage, &self.offers);
        self.free.refresh(
            self.agents
                .iter()
                .filter(|(_, a)| a.connected)
                .map(|(id, a)| free::AgentInputs {
                    id,
                    total: &a.total,
                    executors: &a.executors,
                    tasks: task_usage.print(id).zip(task_usage.used(id)),
                }),
            || {
                offers.iter().map(|(id, o)| free::OfferInputs {
                    id,
                    agent: &o.offer.agent_id.value,
                    unallocated: &o.unallocated,
                })
            },
        );
        let input = AllocatorInput {
            frameworks: self
                .frameworks
                .iter()
                .filter(|(_, f)| f.conn.is_some())
                .map(|(id, f)| FrameworkView {
                    id: id.clone(),
                    roles: f.roles(),
                    suppressed: f.suppressed.clone(),
                    filters: &f.filters,
                    allocated: fw_alloc.remove(id).unwrap_or_default(),
                })
                .collect(),
            agents: self
                .agents
                .iter()
                .filter(|(_, a)| a.connected)
                .filter_map(|(id, a)| {
                    Some(AgentView {
                        id,
                        total: Cow::Borrowed(&a.total),
                        available: Cow::Borrowed(self.free.get(id)?),
                    })
                })
                .collect(),
            weights: self.config.weights.clone(),
            now: Some(now),
        };
        let allocations = allocator::allocate(&input);
        let mut per_fw: BTreeMap<String, Vec<Offer>> = BTreeMap::new();
        for a in allocations {
            let Some(agent) = self.agents.get(&a.agent_id) else {
                continue;
            };
            let Some(fw) = self.frameworks.get(&a.framework_id) else {
                continue;
            };
            let oid = format!("{}-O{}", self.master_info.id, self.next_offer);
            self.next_offer += 1;
            let unallocated = a.resources.unallocated();
            let resources = if fw.multi_role() {
                a.resources.clone()
            } else {
                unallocated.clone()
            };
            let executor_ids = agent
                .executors
                .keys()
                .filter(|(f, _)| *f == a.framework_id)
                .map(|(_, e)| ExecutorId { value: e.clone() })
                .collect();
            let port = agent.info.port.unwrap_or(5051);
            let offer = Offer {
                id: OfferId { value: oid.clone() },
                framework_id: fw_id(&a.framework_id),
                agent_id: AgentId {
                    value: a.agent_id.clone(),
                },
                hostname: agent.info.hostname.clone(),
                url: Some(v1::Url {
                    scheme: "http".into(),
                    address: v1::Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: Some("127.0.0.1".into()),
                        port,
                    },
                    path: Some("/slave(1)".into()),
                    ..Default::default()
                }),
                domain: agent.info.domain.clone(),
                resources: resources.into_protos(),
                attributes: agent.info.attributes.clone(),
                executor_ids,
                // MESOS-8237: pre-MULTI_ROLE schedulers see no allocation
                // info, neither on the offer nor on its resources.
                allocation_info: fw.multi_role().then(|| v1::resource::AllocationInfo {
                    role: Some(a.role.clone()),
                }),
                // `Master::offer`: offers of a scheduled machine's agents
                // carry its window.
                unavailability: self.unavailability_of(&a.agent_id),
            };
            self.offers.insert(
                oid,
                OutstandingOffer {
                    offer: offer.clone(),
                    role: a.role.clone(),
                    placeholder: unallocated.allocate("x"),
                    unallocated,
                    resources: a.resources,
                    created: now,
                },
            );
            per_fw
                .entry(a.framework_id.clone())
                .or_default()
                .push(offer);
        }
        for (fid, offers) in per_fw {
            if let Some(fw) = self.frameworks.get(&fid) {
                tracing::debug!(framework_id = %fid, count = offers.len(), "sending offers");
                fw.metrics.offers_sent(offers.len());
                fw.send(Event {
                    offers: Some(event::Offers { offers }),
                    ..event(event::Type::Offers)
                });
            }
        }
        self.generate_inverse_offers(now);
    }

    /// Fault hook: the master restarts. Streams close, agents are told (their
    /// inboxes are dropped) and must re-register; frameworks resubscribe.
    /// What the new instance knows is what its registry kept
    /// (`Master::_recover`): with the replicated log, admitted agents come
    /// back as recovered and unreachable and gone agents stay so; in memory,
    /// nothing. A hold on registrations outlives the restart; registrations
    /// held for the old instance are dropped (their agents retry).
    pub fn restart(&mut self, new_master_id: String, now: Instant) {
        let registry = self.config.registry;
        let admitted: Vec<(String, AgentInfo)> = self
            .agents
            .iter()
            .map(|(id, a)| (id.clone(), a.info.clone()))
            .chain(
                self.recovered_agents
                    .iter()
                    .map(|(id, (info, _))| (id.clone(), info.clone())),
            )
            .collect();
        let unreachable = std::mem::take(&mut self.unreachable_agents);
        let gone = std::mem::take(&mut self.gone_agents);
        let held = self.held_registrations.is_some();
        let mut config = self.config.clone();
        config.leader = self.leader.clone();
        let mut info = self.master_info.clone();
        info.id = new_master_id;
        let subscribers = std::mem::take(&mut self.operator_subscribers);
        drop(subscribers);
        *self = State::new(config, info);
        if held {
            self.held_registrations = Some(Vec::new());
        }
        if registry == Registry::ReplicatedLog {
            for (id, info) in admitted {
                self.recovered_agents.insert(id, (info, now));
            }
            self.unreachable_agents = unreachable;
            self.gone_agents = gone;
        }
    }

    /// What the registry holds now: admitted (registered and recovered),
    /// unreachable and gone agents.
    fn registry_contents(&self) -> registry::Contents {
        registry::Contents {
            admitted: self
                .agents
                .values()
                .map(|a| a.info.clone())
                .chain(self.recovered_agents.values().map(|(info, _)| info.clone()))
                .collect(),
            unreachable: self.unreachable_agents.values().cloned().collect(),
            gone: self
                .gone_agents
                .iter()
                .map(|(id, at)| (id.clone(), *at))
                .collect(),
        }
    }

    /// Writes the registry after a change of its agents, as Mesos'
    /// registrar does before the change takes effect; only for the
    /// replicated log with a registry dir. A failed write is logged: this
    /// master keeps running, as a single-process double has no quorum to
    /// lose.
    pub(super) fn persist_registry(&self) {
        let (Registry::ReplicatedLog, Some(dir)) =
            (self.config.registry, self.config.registry_dir.as_ref())
        else {
            return;
        };
        if let Err(error) = registry::store(dir, &self.registry_contents()) {
            tracing::warn!(%error, "writing the registry failed");
        }
    }

    /// At start: what a replicated-log registry on disk kept
    /// (`Master::_recover`) — admitted agents become recovered (waiting up
    /// to `agent_reregister_timeout` from `now`), unreachable and gone
    /// agents stay so.
    pub(super) fn recover_registry(&mut self, now: Instant) -> Result<(), registry::RegistryError> {
        let (Registry::ReplicatedLog, Some(dir)) =
            (self.config.registry, self.config.registry_dir.clone())
        else {
            return Ok(());
        };
        let contents = registry::load(&dir)?;
        for info in contents.admitted {
            if let Some(id) = info.id.as_ref().map(|i| i.value.clone()) {
                self.recovered_agents.insert(id, (info, now));
            }
        }
        for (info, at) in contents.unreachable {
            if let Some(id) = info.id.as_ref().map(|i| i.value.clone()) {
                self.unreachable_agents.insert(id, (info, at));
            }
        }
        self.gone_agents.extend(contents.gone);
        tracing::info!(
            recovered = self.recovered_agents.len(),
            unreachable = self.unreachable_agents.len(),
            gone = self.gone_agents.len(),
            "recovered the registry"
        );
        Ok(())
    }

    /// Starts or ends holding agents' registrations; ending it handles the
    /// held ones in order.
    pub fn hold_registrations(&mut self, hold: bool) {
        if hold {
            self.held_registrations.get_or_insert_with(Vec::new);
            return;
        }
        for msg in self.held_registrations.take().unwrap_or_default() {
            self.agent_message(msg);
        }
    }

    /// Every framework ID (for tests and GET_FRAMEWORKS).
    pub fn framework_ids(&self) -> Vec<String> {
        self.frameworks.keys().cloned().collect()
    }

    /// Adds an operator subscriber and returns its SUBSCRIBED event.
    pub fn operator_subscribe(&mut self, tx: OperatorTx) -> operator::Event {
        self.operator_subscribers.push(tx);
        operator::Event {
            r#type: Some(operator::event::Type::Subscribed as i32),
            subscribed: Some(operator::event::Subscribed {
                get_state: Some(self.get_state()),
                heartbeat_interval_seconds: Some(self.config.heartbeat_interval.as_secs_f64()),
            }),
            ..Default::default()
        }
    }
}

/// How an agent leaves.
#[derive(Debug, Clone)]
pub enum Removal {
    /// Operator marked it gone (`MARK_AGENT_GONE`).
    Gone,
    /// Marked unreachable (health checks failed), with the reason.
    Unreachable(String),
    /// It shut down on purpose.
    Unregistered,
    /// Its machine went DOWN (START_MAINTENANCE); it may come back once
    /// the machine is UP again.
    MachineDown,
}

/// Why a non-SUBSCRIBE call is refused before it is processed.
#[derive(Debug, Clone, PartialEq)]
pub enum CallRefused {
    /// 400 with the message.
    BadRequest(String),
    /// 403 with the message.
    Forbidden(String),
}

fn launched_tasks(ops: &[offer::Operation]) -> Vec<TaskInfo> {
    let mut out = Vec::new();
    for op in ops {
        match op.r#type() {
            offer::operation::Type::Launch => {
                if let Some(l) = &op.launch {
                    out.extend(l.task_infos.iter().cloned());
                }
            }
            offer::operation::Type::LaunchGroup => {
                if let Some(lg) = &op.launch_group {
                    out.extend(lg.task_group.tasks.iter().cloned());
                }
            }
            _ => {}
        }
    }
    out
}

fn launched_in_group(ops: &[offer::Operation], task_id: &TaskId) -> bool {
    ops.iter().any(|op| {
        op.r#type() == offer::operation::Type::LaunchGroup
            && op
                .launch_group
                .as_ref()
                .is_some_and(|lg| lg.task_group.tasks.iter().any(|t| &t.task_id == task_id))
    })
}

/// The executor Mesos would generate for a command task.
fn command_executor(task: &TaskInfo) -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Custom as i32),
        executor_id: ExecutorId {
            value: task.task_id.value.clone(),
        },
        command: task.command.clone(),
        name: Some(format!("Command Executor (Task: {})", task.task_id.value)),
        source: Some(task.task_id.value.clone()),
        ..Default::default()
    }
}

mod accept;
mod agents;
mod free;
pub mod maintenance;
pub mod metrics;
pub mod readonly;
mod snapshot;
mod timer;
mod usage;
mod views;
