//! The core's state and its step function.
//!
//! Every pod the core knows is a [`PodEntry`] with a [`PodState`]:
//!
//! ```text
//!            placed (Accept + Bind)            terminal, reported by executor
//! Queued ─────────────────────────────► Task ───────────────────────────────► (forgotten)
//!   ▲  │ unschedulable: backoff,          │ ▲ UNREACHABLE / UNKNOWN: the task
//!   │  │ FailedScheduling event           │ │ waits (phase kept) until it is
//!   └──┘                                  │ │ back or `unreachable_timeout`
//!                                         │ └──────────────────────┐ task is back
//!     launch failed before running,       ▼  gone / timed out      │ (taken back)
//!     executor died (BackOff event),  Relaunch ── its agent's back-off over,
//!     or lost before it ran               │     offers of its agent ──► Task
//!                                         │     (the next generation)
//!                                         │ deadline                ▲
//!                                         ▼                         │ task is back,
//!                                 Done / Lost (FailPod written) ────┘ no replacement runs
//! ```
//!
//! A pod has at most one live task: `pod.<uid>`, then `pod.<uid>.<n>` for
//! its n-th relaunch (a new ID per task, see [`kube_mesos_node::task`]), and
//! a pod is only placed again once its previous task is known to be
//! terminal. A running pod whose executor died is relaunched on its agent
//! (`Relaunch` with reason `ExecutorLost`): the new executor takes over the
//! containers that survived. A task that
//! is only unreachable or unknown is never killed and its pod never failed
//! before `unreachable_timeout`; the task-state policy is
//! [`crate::task_status`].

mod status;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube_mesos_proto::v1::{
    offer, AgentId, DurationInfo, ExecutorId, ExecutorInfo, Filters, FrameworkId, KillPolicy,
    Label, Labels, Offer, OfferId, Resource, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tracing::{debug, info, warn};

use super::generations::{self, Handover};
use super::kills::PendingKills;
use super::relaunch_backoff::{go_duration, RelaunchBackoff};
use super::{
    pod_uid_from_task_id, task_generation, task_id_for_pod, Action, BindOutcome, CoreConfig,
    CoreMetrics, EventType, Input, Instant, PodRef, RunningExecutor, ANNOTATION_AGENT_ID,
    ANNOTATION_EXECUTOR_ID, ANNOTATION_EXECUTOR_RESOURCES, ANNOTATION_FRAMEWORK_ID,
    ANNOTATION_ROLE, ANNOTATION_TASK_ID,
};
use crate::placement::{self, requests, AgentView, PodToPlace};
use crate::queue::PodQueue;
use crate::resources::{self, to_milli, Scalars};
use crate::task_status::{self, AgentStanding, LostPodFate, TaskOutcome, WaitCause};

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECONDS: i64 = 30;
/// Event reason of a relaunch that waits (the kubelet's for a crash loop).
pub const REASON_BACK_OFF: &str = "BackOff";

/// Where a pod stands.
#[derive(Clone, Debug)]
enum PodState {
    /// Waiting in the queue. `last_event` is the last FailedScheduling
    /// message and when it was written.
    Queued {
        last_event: Option<(String, Instant)>,
    },
    /// A task exists (launched by us, or named by the pod's annotations).
    Task(TaskTrack),
    /// Bound pod whose launch failed, or lost and relaunched in place;
    /// waiting for offers of its agent.
    Relaunch {
        agent_id: AgentId,
        deadline: Instant,
        reason: &'static str,
        message: String,
        /// The Bind of the failed launch has not been answered yet.
        bind_pending: bool,
    },
    /// Nothing more to do for this pod.
    Done,
    /// Failed `NodeLost` by the framework because its task was gone or did
    /// not come back in time. Should the task reappear, the pod is taken
    /// back, or the task killed if a replacement pod already runs.
    Lost {
        agent_id: Option<AgentId>,
        /// Running pods of the same controller when the pod was failed; one
        /// running now that is not among them is a replacement. `None` when
        /// unknown (rebuilt after a restart): the pod is then taken back,
        /// and its controller removes a surplus replica if there is one.
        siblings: Option<Vec<String>>,
    },
}

/// A task Mesos reports unreachable or unknown: its pod waits.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    since: Instant,
    cause: WaitCause,
}

/// An explicit reconciliation in progress (`docs/reconciliation.md`): the
/// tasks asked are asked again, with a truncated exponential backoff, until
/// each has answered since `started` with something other than UNKNOWN.
#[derive(Clone, Debug)]
struct ReconcileRound {
    started: Instant,
    /// Pod UIDs whose tasks were asked.
    asked: Vec<String>,
    next: Instant,
    backoff: Duration,
}

#[derive(Clone, Debug)]
enum BindState {
    /// Bind/Annotate sent, no answer yet.
    Pending,
    /// Bound (or found bound).
    Bound,
    /// Bind failed: kill the task, then put the pod back in the queue.
    RequeueAfterKill,
    /// Bind conflicted: kill the task and forget the pod.
    Abandon,
}

#[derive(Clone, Debug)]
struct TaskTrack {
    task_id: TaskId,
    agent_id: Option<AgentId>,
    executor_id: Option<ExecutorId>,
    /// Last state Mesos reported; `None` until the first update.
    state: Option<TaskState>,
    /// The pod has run (TASK_RUNNING seen, or the pod's phase says so).
    ever_running: bool,
    bind: BindState,
    kill_sent: bool,
    /// When a relaunch started, the deadline it keeps.
    relaunch_deadline: Option<Instant>,
    /// When this framework process launched the task (`None`: found in the
    /// pod's annotations); orders failures for the relaunch back-off.
    launched_at: Option<Instant>,
    /// Set while Mesos reports the task unreachable or unknown.
    waiting: Option<Waiting>,
    /// When the last status update of the task arrived.
    last_update: Option<Instant>,
    /// On an executor of an older configuration: whether it was asked to
    /// hand the pod over (see [`generations`]).
    handover: Handover,
}

#[derive(Clone, Debug)]
struct PodEntry {
    pod: Pod,
    /// The pod object is gone from the API server.
    deleted: bool,
    state: PodState,
    /// The generation of the pod's next task: one above every task of the
    /// pod seen so far, so that no task ID is ever launched twice.
    next_generation: u32,
}

#[derive(Clone, Debug, Default)]
struct NodeInfo {
    labels: BTreeMap<String, String>,
    taints: Vec<Taint>,
    unschedulable: bool,
}

#[derive(Clone, Debug)]
struct HeldOffer {
    offer: Offer,
}

/// The scheduler's state machine. See the module docs of [`crate::core`].
#[derive(Debug)]
pub struct SchedulerCore {
    config: CoreConfig,
    executor_id: ExecutorId,
    framework_id: Option<FrameworkId>,
    connected: bool,
    synced: bool,
    reconcile_pending: bool,
    pods: HashMap<String, PodEntry>,
    queue: PodQueue,
    nodes: HashMap<String, NodeInfo>,
    /// Resources the current executor was launched with, per agent ID.
    executors: HashMap<String, Vec<Resource>>,
    /// The master's executors, until the framework ID is known to pick
    /// ours among them.
    master_executors: Option<Vec<RunningExecutor>>,
    held: Vec<HeldOffer>,
    /// KILLs not answered with a terminal status yet.
    kills: PendingKills,
    /// How long relaunches wait per agent after launches there failed.
    relaunch_backoff: RelaunchBackoff,
    batch_deadline: Option<Instant>,
    suppressed: bool,
    /// Offers were declined (with a refuse filter) since the last REVIVE.
    filters_active: bool,
    last_revive: Option<Instant>,
    revive_wanted: bool,
    next_reconcile: Option<Instant>,
    reconcile_round: Option<ReconcileRound>,
    metrics: CoreMetrics,
    latencies: Vec<Duration>,
}

fn pod_ref(pod: &Pod) -> PodRef {
    PodRef {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref())
}

fn is_terminal_phase(pod: &Pod) -> bool {
    matches!(phase(pod), Some("Succeeded" | "Failed"))
}

/// The UID of the controller (ReplicaSet, Job, ...) that owns the pod.
fn controller_uid(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

fn is_deleting(entry: &PodEntry) -> bool {
    entry.deleted || entry.pod.metadata.deletion_timestamp.is_some()
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn kill_policy_seconds(seconds: i64) -> KillPolicy {
    KillPolicy {
        grace_period: Some(DurationInfo {
            nanoseconds: seconds.max(0).saturating_mul(1_000_000_000),
        }),
    }
}

fn filters(seconds: f64) -> Filters {
    Filters {
        refuse_seconds: Some(seconds),
    }
}

impl TaskTrack {
    fn is_live(&self) -> bool {
        self.state
            .is_none_or(|s| !task_status::is_terminal(s as i32))
    }
}

impl SchedulerCore {
    /// A core with nothing known yet.
    pub fn new(config: CoreConfig) -> Self {
        let executor_id = config.executor.executor_id();
        let queue = PodQueue::new(config.pod_initial_backoff, config.pod_max_backoff);
        let relaunch_backoff = RelaunchBackoff::new(
            config.relaunch_backoff_initial,
            config.relaunch_backoff_max,
            config.relaunch_backoff_reset,
        );
        Self {
            config,
            executor_id,
            framework_id: None,
            connected: false,
            synced: false,
            reconcile_pending: false,
            pods: HashMap::new(),
            queue,
            nodes: HashMap::new(),
            executors: HashMap::new(),
            master_executors: None,
            held: Vec::new(),
            kills: PendingKills::default(),
            relaunch_backoff,
            batch_deadline: None,
            suppressed: false,
            filters_active: false,
            last_revive: None,
            revive_wanted: false,
            next_reconcile: None,
            reconcile_round: None,
            metrics: CoreMetrics::default(),
            latencies: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The executor ID of the current executor configuration.
    pub fn executor_id(&self) -> &ExecutorId {
        &self.executor_id
    }

    /// Feed one input observed at `now`; perform the returned actions in
    /// order.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::PodUpserted(pod) => self.on_pod_upserted(*pod, now, &mut out),
            Input::PodDeleted(pod) => self.on_pod_deleted(&pod, &mut out),
            Input::PodsSynced => {
                self.synced = true;
                if self.connected && self.reconcile_pending {
                    self.reconcile_explicit(now, &mut out);
                }
            }
            Input::NodeUpserted(node) => self.on_node(*node),
            Input::NodeDeleted(name) => {
                self.nodes.remove(&name);
            }
            Input::Subscribed { framework_id } => self.on_subscribed(framework_id, now, &mut out),
            Input::Disconnected => {
                self.connected = false;
                // Offers die with the subscription; nothing to decline.
                self.held.clear();
                self.batch_deadline = None;
            }
            Input::Offers(offers) => self.on_offers(offers, now, &mut out),
            Input::Rescinded(id) => {
                let before = self.held.len();
                self.held.retain(|h| h.offer.id != id);
                if self.held.len() < before {
                    self.metrics.offers_rescinded += 1;
                }
                if self.held.is_empty() {
                    self.batch_deadline = None;
                }
            }
            Input::TaskUpdate(status) => self.on_task_update(*status, now, &mut out),
            Input::ExecutorFailure {
                agent_id,
                executor_id,
                status,
            } => {
                info!(agent = %agent_id.value, executor = %executor_id.value, ?status, "executor failed");
                if executor_id == self.executor_id {
                    self.executors.remove(&agent_id.value);
                }
            }
            Input::ExecutorsRunning(list) => {
                self.master_executors = Some(list);
                self.adopt_master_executors();
            }
            Input::AgentRemoved(agent_id) => self.on_agent_removed(&agent_id, now, &mut out),
            Input::AgentUnreachable(agent_id) => {
                info!(agent = %agent_id.value, "agent unreachable; its tasks may come back");
                self.held.retain(|h| h.offer.agent_id != agent_id);
            }
            Input::BindResult { pod_uid, result } => {
                self.on_bind_result(&pod_uid, result, now, &mut out)
            }
            Input::Tick => {}
        }
        self.run_due(now, &mut out);
        self.update_offer_interest(now, &mut out);
        out
    }

    /// When the shell must call [`SchedulerCore::handle`] with
    /// [`Input::Tick`] next, if anything is timed.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut d: Vec<Instant> = Vec::new();
        d.extend(self.batch_deadline);
        d.extend(self.relaunch_backoff.next_expiry());
        if self.connected {
            d.extend(self.next_reconcile);
            d.extend(self.reconcile_round.as_ref().map(|r| r.next));
            if self.revive_wanted {
                if let Some(last) = self.last_revive {
                    d.push(last + self.config.revive_min_interval);
                }
            }
        }
        for e in self.pods.values() {
            match &e.state {
                PodState::Relaunch { deadline, .. } => d.push(*deadline),
                PodState::Task(TaskTrack {
                    waiting: Some(w), ..
                }) => d.push(w.since + self.config.unreachable_timeout),
                PodState::Task(t) if self.connected => d.extend(t.handover.next_ask()),
                _ => {}
            }
        }
        d.into_iter().min()
    }

    /// Counters and gauges for export.
    pub fn metrics(&self) -> CoreMetrics {
        let mut m = self.metrics.clone();
        m.queue_len = self.queue.len();
        m.relaunch_pending = self
            .pods
            .values()
            .filter(|e| matches!(e.state, PodState::Relaunch { .. }))
            .count();
        m.suppressed = self.suppressed;
        m.kills_pending = self.kills.len();
        m.tasks_waiting = self
            .pods
            .values()
            .filter(|e| matches!(&e.state, PodState::Task(t) if t.waiting.is_some()))
            .count();
        m.executor_generations =
            generations::count(self.pods.values().filter_map(|e| match &e.state {
                PodState::Task(t) if t.is_live() => Some((
                    t.agent_id.as_ref()?.value.clone(),
                    t.executor_id.as_ref()?.value.clone(),
                )),
                _ => None,
            }));
        m
    }

    /// Executor generations per agent: how many executor IDs run this
    /// framework's live tasks there, by (agent ID, node name). More than one
    /// while pods of an older executor configuration still run on the agent
    /// after an upgrade; agents without live tasks are left out.
    pub fn executor_generations(&self) -> BTreeMap<(String, String), usize> {
        let mut ids: BTreeMap<(String, String), BTreeSet<&str>> = BTreeMap::new();
        for entry in self.pods.values() {
            let PodState::Task(track) = &entry.state else {
                continue;
            };
            let (Some(agent), Some(executor)) = (&track.agent_id, &track.executor_id) else {
                continue;
            };
            if !track.is_live() {
                continue;
            }
            let node = entry
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            ids.entry((agent.value.clone(), node))
                .or_default()
                .insert(executor.value.as_str());
        }
        ids.into_iter().map(|(k, v)| (k, v.len())).collect()
    }

    /// Placement latencies (pod queued → launched) observed since the last
    /// call, for the shell's histogram.
    pub fn take_placement_latencies(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.latencies)
    }

    // ----- pods and nodes -------------------------------------------------

    fn is_our_scheduler(&self, pod: &Pod) -> bool {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or("default-scheduler");
        self.config.scheduler_names.iter().any(|n| n == name)
    }

    /// The pod's Mesos role: annotation, else namespace default, else the
    /// first configured role.
    fn role_of(&self, pod: &Pod) -> String {
        if let Some(r) = annotation(pod, ANNOTATION_ROLE) {
            return r.to_owned();
        }
        if let Some(r) = pod
            .metadata
            .namespace
            .as_ref()
            .and_then(|ns| self.config.namespace_roles.get(ns))
        {
            return r.clone();
        }
        self.config
            .roles
            .first()
            .cloned()
            .unwrap_or_else(|| "*".to_owned())
    }

    fn on_pod_upserted(&mut self, pod: Pod, now: Instant, out: &mut Vec<Action>) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        // The task the pod's annotations name, if it is one of this pod's.
        let named_task = annotation(&pod, ANNOTATION_TASK_ID)
            .map(|t| TaskId {
                value: t.to_owned(),
            })
            .filter(|t| pod_uid_from_task_id(t) == Some(uid.as_str()));
        let next_generation = named_task.as_ref().map_or(0, |t| task_generation(t) + 1);
        let deleting = pod.metadata.deletion_timestamp.is_some();

        if let Some(entry) = self.pods.get_mut(&uid) {
            entry.pod = pod;
            match &mut entry.state {
                PodState::Queued { .. } => {
                    if deleting || is_terminal_phase(&entry.pod) {
                        self.queue.remove(&uid);
                        self.pods.remove(&uid);
                    } else {
                        self.queue.upsert(&uid, &entry.pod, now);
                    }
                }
                PodState::Task(track) => {
                    if matches!(
                        entry.pod.status.as_ref().and_then(|s| s.phase.as_deref()),
                        Some("Running")
                    ) {
                        track.ever_running = true;
                    }
                    if deleting && track.is_live() && !track.kill_sent {
                        let grace = entry
                            .pod
                            .metadata
                            .deletion_grace_period_seconds
                            .or_else(|| {
                                entry
                                    .pod
                                    .spec
                                    .as_ref()
                                    .and_then(|s| s.termination_grace_period_seconds)
                            })
                            .unwrap_or(DEFAULT_GRACE_SECONDS);
                        track.kill_sent = true;
                        self.metrics.kills += 1;
                        out.extend(self.kills.kill(
                            track.task_id.clone(),
                            track.agent_id.clone(),
                            Some(kill_policy_seconds(grace)),
                            self.connected,
                        ));
                    }
                }
                PodState::Relaunch { .. } => {
                    if deleting || is_terminal_phase(&entry.pod) {
                        self.pods.remove(&uid);
                    }
                }
                PodState::Done | PodState::Lost { .. } => {}
            }
            return;
        }

        if is_terminal_phase(&pod) {
            let lost = phase(&pod) == Some("Failed")
                && pod.status.as_ref().and_then(|s| s.reason.as_deref())
                    == Some(task_status::REASON_NODE_LOST);
            if lost && named_task.is_some() {
                // Failed `NodeLost` before a restart: its task may come back.
                let agent_id = annotation(&pod, ANNOTATION_AGENT_ID).map(|a| AgentId {
                    value: a.to_owned(),
                });
                self.pods.insert(
                    uid,
                    PodEntry {
                        pod,
                        deleted: false,
                        state: PodState::Lost {
                            agent_id,
                            siblings: None,
                        },
                        next_generation,
                    },
                );
            }
            return;
        }
        if let Some(task_id) = named_task {
            // A bound pod of ours we did not know (restart): rebuild its
            // task from the annotations; reconciliation tells its state.
            let agent_id = annotation(&pod, ANNOTATION_AGENT_ID).map(|a| AgentId {
                value: a.to_owned(),
            });
            let executor_id = annotation(&pod, ANNOTATION_EXECUTOR_ID).map(|e| ExecutorId {
                value: e.to_owned(),
            });
            if let (Some(agent), Some(exec)) = (&agent_id, &executor_id) {
                if *exec == self.executor_id && !self.executors.contains_key(&agent.value) {
                    if let Some(res) =
                        annotation(&pod, ANNOTATION_EXECUTOR_RESOURCES).and_then(|j| {
                            kube_mesos_proto::json::from_json::<ExecutorInfo>(j.as_bytes()).ok()
                        })
                    {
                        self.executors.insert(agent.value.clone(), res.resources);
                    }
                }
            }
            let ever_running = matches!(phase(&pod), Some("Running"));
            let track = TaskTrack {
                task_id,
                agent_id,
                executor_id,
                state: None,
                ever_running,
                bind: BindState::Bound,
                kill_sent: false,
                relaunch_deadline: None,
                launched_at: None,
                waiting: None,
                last_update: None,
                handover: Handover::NotAsked,
            };
            self.pods.insert(
                uid.clone(),
                PodEntry {
                    pod,
                    deleted: false,
                    state: PodState::Task(track),
                    next_generation,
                },
            );
            if deleting {
                // Re-run the deletion rule on the new entry.
                if let Some(p) = self.pods.get(&uid).map(|e| e.pod.clone()) {
                    self.on_pod_upserted(p, now, out);
                }
            }
            return;
        }
        if deleting || !self.is_our_scheduler(&pod) {
            return;
        }
        self.queue.upsert(&uid, &pod, now);
        self.pods.insert(
            uid,
            PodEntry {
                pod,
                deleted: false,
                state: PodState::Queued { last_event: None },
                next_generation,
            },
        );
        // Work appeared: filters set by earlier declines must go.
        self.revive_wanted = true;
    }

    fn on_pod_deleted(&mut self, pod: &Pod, out: &mut Vec<Action>) {
        let Some(uid) = pod.metadata.uid.as_deref() else {
            return;
        };
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        match &mut entry.state {
            PodState::Task(track) if track.is_live() => {
                entry.deleted = true;
                if !track.kill_sent {
                    track.kill_sent = true;
                    self.metrics.kills += 1;
                    out.extend(self.kills.kill(
                        track.task_id.clone(),
                        track.agent_id.clone(),
                        None,
                        self.connected,
                    ));
                }
            }
            _ => {
                self.queue.remove(uid);
                self.pods.remove(uid);
            }
        }
    }

    fn on_node(&mut self, node: Node) {
        let Some(name) = node.metadata.name.clone() else {
            return;
        };
        let spec = node.spec.unwrap_or_default();
        self.nodes.insert(
            name,
            NodeInfo {
                labels: node.metadata.labels.unwrap_or_default(),
                taints: spec.taints.unwrap_or_default(),
                unschedulable: spec.unschedulable.unwrap_or(false),
            },
        );
    }

    // ----- subscription and reconciliation ---------------------------------

    fn on_subscribed(&mut self, framework_id: FrameworkId, now: Instant, out: &mut Vec<Action>) {
        self.framework_id = Some(framework_id);
        self.adopt_master_executors();
        self.connected = true;
        // A fresh SUBSCRIBE (without suppressed roles) is not suppressed,
        // but refuse filters of an earlier subscription may live on in the
        // allocator: with work pending, REVIVE once (rate-limited).
        self.suppressed = false;
        self.filters_active = true;
        self.revive_wanted = true;
        self.held.clear();
        self.batch_deadline = None;
        if self.synced {
            self.reconcile_explicit(now, out);
        } else {
            self.reconcile_pending = true;
        }
        // KILLs not answered yet may have been lost with the connection,
        // or were never sent (see `kills`).
        out.extend(self.kills.reissue());
    }

    fn reconcile_explicit(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.reconcile_pending = false;
        let mut asked: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, e)| matches!(&e.state, PodState::Task(t) if t.is_live()))
            .map(|(uid, _)| uid.clone())
            .collect();
        asked.sort();
        let tasks = self.reconcile_tasks(&asked);
        self.reconcile_round = None;
        if !tasks.is_empty() {
            self.metrics.reconciliations += 1;
            // Implicit first: the master answers calls in order, so a newer
            // task of a pod than its annotation names (a relaunch recorded
            // just before the framework died, or whose annotation write
            // failed) is heard and taken as the pod's before the explicit
            // answer for the older task, which the master no longer has
            // (TASK_GONE, "unknown to the agent") and which would fail the
            // pod.
            out.push(Action::Reconcile { tasks: Vec::new() });
            out.push(Action::Reconcile { tasks });
            let backoff = self.config.reconcile_retry;
            self.reconcile_round = Some(ReconcileRound {
                started: now,
                asked,
                next: now + backoff,
                backoff,
            });
        }
        self.next_reconcile = Some(now + self.config.reconcile_interval);
    }

    /// The tasks of these pods, with their agents, for a RECONCILE call.
    fn reconcile_tasks(&self, uids: &[String]) -> Vec<(TaskId, Option<AgentId>)> {
        let mut tasks: Vec<(TaskId, Option<AgentId>)> = uids
            .iter()
            .filter_map(|uid| match &self.pods.get(uid)?.state {
                PodState::Task(t) => Some((t.task_id.clone(), t.agent_id.clone())),
                _ => None,
            })
            .collect();
        tasks.sort_by(|a, b| a.0.value.cmp(&b.0.value));
        tasks
    }

    /// Asks again for the tasks of the current round that have no answer
    /// since it started (the master drops a reconciliation while the task's
    /// agent has not re-registered) or whose answer was TASK_UNKNOWN.
    fn retry_reconciliation(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(round) = self.reconcile_round.as_mut() else {
            return;
        };
        if round.next > now {
            return;
        }
        let started = round.started;
        let pods = &self.pods;
        round
            .asked
            .retain(|uid| match pods.get(uid).map(|e| &e.state) {
                Some(PodState::Task(t)) if t.is_live() => {
                    t.last_update.is_none_or(|at| at < started)
                        || t.waiting.is_some_and(|w| w.cause == WaitCause::Unknown)
                }
                _ => false,
            });
        if round.asked.is_empty() {
            self.reconcile_round = None;
            return;
        }
        round.backoff = (round.backoff * 2).min(self.config.reconcile_interval);
        round.next = now + round.backoff;
        let asked = round.asked.clone();
        debug!(
            tasks = asked.len(),
            "reconciling tasks without a final answer again"
        );
        let tasks = self.reconcile_tasks(&asked);
        self.metrics.reconciliations += 1;
        out.push(Action::Reconcile { tasks });
    }

    // ----- offers ----------------------------------------------------------

    fn has_pending_work(&self) -> bool {
        !self.queue.is_empty()
            || self
                .pods
                .values()
                .any(|e| matches!(e.state, PodState::Relaunch { .. }))
    }

    fn on_offers(&mut self, offers: Vec<Offer>, now: Instant, out: &mut Vec<Action>) {
        self.metrics.offers_received += offers.len() as u64;
        if offers.is_empty() {
            return;
        }
        if !self.synced || !self.has_pending_work() || self.framework_id.is_none() {
            let refuse = if self.synced {
                self.config.refuse_seconds
            } else {
                self.config.busy_refuse_seconds
            };
            self.decline(offers.iter().map(|o| o.id.clone()).collect(), refuse, out);
            return;
        }
        // New resources: every pod may try again now.
        self.queue.flush_backoff();
        self.held
            .extend(offers.into_iter().map(|offer| HeldOffer { offer }));
        if self.batch_deadline.is_none() {
            self.batch_deadline = Some(now + self.config.batch_window);
        }
    }

    fn decline(&mut self, offer_ids: Vec<OfferId>, refuse: f64, out: &mut Vec<Action>) {
        if offer_ids.is_empty() {
            return;
        }
        self.metrics.offers_declined += offer_ids.len() as u64;
        if refuse > 0.0 {
            self.filters_active = true;
        }
        out.push(Action::Decline {
            offer_ids,
            filters: filters(refuse),
        });
    }

    fn run_due(&mut self, now: Instant, out: &mut Vec<Action>) {
        // A relaunch back-off ended: offers of that agent are wanted again
        // (refuse filters of the wait may hold them back).
        if self.relaunch_backoff.take_expired(now) {
            self.revive_wanted = true;
        }
        if self.batch_deadline.is_some_and(|d| d <= now) {
            self.batch_deadline = None;
            self.place(now, out);
        }
        // Relaunch deadlines.
        let expired: Vec<String> = self
            .pods
            .iter()
            .filter_map(|(uid, e)| match &e.state {
                PodState::Relaunch { deadline, .. } if *deadline <= now => Some(uid.clone()),
                _ => None,
            })
            .collect();
        for uid in expired {
            let siblings = self.running_siblings(&uid);
            if let Some(entry) = self.pods.get_mut(&uid) {
                if let PodState::Relaunch {
                    reason,
                    message,
                    agent_id,
                    ..
                } = std::mem::replace(&mut entry.state, PodState::Done)
                {
                    if reason == task_status::REASON_NODE_LOST {
                        // Its task may still come back with the agent.
                        entry.state = PodState::Lost {
                            agent_id: Some(agent_id),
                            siblings: Some(siblings),
                        };
                    }
                    let message = format!(
                        "{message}; not relaunched on its node within {}s",
                        self.config.relaunch_deadline.as_secs()
                    );
                    fail_pod(&entry.pod, reason, &message, out);
                }
            }
        }
        // Tasks that stayed unreachable or unknown for too long: the pod is
        // lost. Nothing is killed: should the task come back, it is taken
        // back or killed then (see `on_task_reappeared`).
        let timeout = self.config.unreachable_timeout;
        let mut timed_out: Vec<(String, String)> = self
            .pods
            .iter()
            .filter_map(|(uid, e)| match &e.state {
                PodState::Task(t) => {
                    let w = t.waiting.filter(|w| w.since + timeout <= now)?;
                    let agent = t.agent_id.as_ref().map(|a| a.value.as_str()).unwrap_or("?");
                    let message = match w.cause {
                        WaitCause::Unreachable => format!(
                            "Mesos agent {agent} has been unreachable for {}s",
                            timeout.as_secs()
                        ),
                        WaitCause::Unknown => format!(
                            "Mesos has not known task {} on agent {agent} for {}s",
                            t.task_id.value,
                            timeout.as_secs()
                        ),
                    };
                    Some((uid.clone(), message))
                }
                _ => None,
            })
            .collect();
        timed_out.sort();
        for (uid, message) in timed_out {
            self.lose_pod(&uid, message, AgentStanding::Away, now, out);
        }
        if self.connected && self.synced {
            self.retry_reconciliation(now, out);
            self.retire_old_executors(now, out);
        }
        if self.connected && self.synced && self.next_reconcile.is_some_and(|d| d <= now) {
            self.metrics.reconciliations += 1;
            out.push(Action::Reconcile { tasks: Vec::new() });
            self.next_reconcile = Some(now + self.config.reconcile_interval);
        }
    }

    fn update_offer_interest(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.connected {
            return;
        }
        let roles = self.config.roles.clone();
        if self.has_pending_work() {
            if (self.suppressed || self.filters_active) && self.revive_wanted {
                let allowed = self
                    .last_revive
                    .is_none_or(|last| now >= last + self.config.revive_min_interval);
                if allowed {
                    self.suppressed = false;
                    self.filters_active = false;
                    self.revive_wanted = false;
                    self.last_revive = Some(now);
                    self.metrics.revives += 1;
                    out.push(Action::Revive { roles });
                }
            } else if !self.suppressed && !self.filters_active {
                self.revive_wanted = false;
            }
        } else {
            self.revive_wanted = false;
            if !self.suppressed && self.held.is_empty() {
                self.suppressed = true;
                self.metrics.suppresses += 1;
                out.push(Action::Suppress { roles });
            }
        }
    }

    /// Does the current executor run (or is it being launched) on `agent`?
    fn executor_present(&self, agent_id: &AgentId, offers: &[&Offer]) -> bool {
        offers
            .iter()
            .any(|o| o.executor_ids.contains(&self.executor_id))
            || self.pods.values().any(|e| match &e.state {
                PodState::Task(t) => {
                    t.is_live()
                        && t.agent_id.as_ref() == Some(agent_id)
                        && t.executor_id.as_ref() == Some(&self.executor_id)
                }
                _ => false,
            })
    }

    fn place(&mut self, now: Instant, out: &mut Vec<Action>) {
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return;
        }
        let Some(framework_id) = self.framework_id.clone() else {
            return;
        };
        // Group offers per agent, in a stable order.
        let mut by_agent: BTreeMap<String, Vec<&Offer>> = BTreeMap::new();
        for h in &held {
            by_agent
                .entry(h.offer.agent_id.value.clone())
                .or_default()
                .push(&h.offer);
        }
        let mut agents: Vec<AgentView> = Vec::new();
        for offers in by_agent.values() {
            let Some(mut view) = AgentView::from_offers(offers) else {
                continue;
            };
            if let Some(node) = self.nodes.get(&view.hostname) {
                if !node.labels.is_empty() {
                    view.labels = node.labels.clone();
                }
                view.taints = node.taints.clone();
                view.unschedulable = node.unschedulable;
            }
            view.executor_needed = !self.executor_present(&view.agent_id, offers);
            if view.executor_needed {
                self.executors.remove(&view.agent_id.value);
            }
            for e in self.pods.values() {
                if let PodState::Task(t) = &e.state {
                    if t.is_live() && t.agent_id.as_ref() == Some(&view.agent_id) {
                        view.used_ports.extend(requests::host_ports(&e.pod));
                    }
                }
            }
            agents.push(view);
        }

        // Candidates: relaunches first (they are bound already), then the
        // queue in order.
        let backoff = &self.relaunch_backoff;
        let mut uids: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, e)| match &e.state {
                // A handover is no failure: it does not wait for the
                // agent's back-off.
                PodState::Relaunch {
                    agent_id, reason, ..
                } => {
                    *reason == task_status::REASON_HANDOVER
                        || !backoff.waiting(&agent_id.value, now)
                }
                _ => false,
            })
            .map(|(uid, _)| uid.clone())
            .collect();
        uids.sort();
        uids.extend(self.queue.ready(now).into_iter().map(str::to_owned));
        // A pod asking for a role we do not subscribe with can never fit.
        let mut misfits: Vec<(String, String)> = Vec::new();
        uids.retain(|uid| {
            let Some(e) = self.pods.get(uid) else {
                return false;
            };
            let role = self.role_of(&e.pod);
            if self.config.roles.contains(&role) {
                return true;
            }
            misfits.push((
                uid.clone(),
                format!(
                    "the pod's Mesos role \"{role}\" is not one of the framework's roles ({})",
                    self.config.roles.join(", ")
                ),
            ));
            false
        });
        let mut cands: Vec<PodToPlace<'_>> = Vec::new();
        for uid in &uids {
            let Some(e) = self.pods.get(uid) else {
                continue;
            };
            let only_agent = match &e.state {
                PodState::Relaunch { agent_id, .. } => Some(agent_id.clone()),
                _ => None,
            };
            cands.push(PodToPlace {
                pod: &e.pod,
                role: self.role_of(&e.pod),
                only_agent,
            });
        }
        let exec = Scalars {
            cpus: to_milli(self.config.executor.cpus),
            mem: to_milli(self.config.executor.mem_mb),
            disk: 0,
        };
        let outcome = placement::place(&cands, &mut agents, exec, self.config.placement_policy);
        let roles: Vec<String> = cands.iter().map(|c| c.role.clone()).collect();
        drop(cands);

        // Refuse filter per agent: short if some pod might fit there later.
        let mut busy = vec![false; agents.len()];
        for u in &outcome.unplaced {
            for &ai in &u.transient_on {
                busy[ai] = true;
            }
        }
        let (busy_refuse, long_refuse) =
            (self.config.busy_refuse_seconds, self.config.refuse_seconds);
        let refuse_for = |ai: usize| if busy[ai] { busy_refuse } else { long_refuse };

        // Launch operations per agent.
        let mut ops: Vec<Vec<offer::Operation>> = vec![Vec::new(); agents.len()];
        let mut follow_ups: Vec<Action> = Vec::new();
        for p in &outcome.placed {
            let uid = &uids[p.pod_index];
            let agent = &agents[p.agent_index];
            let exec_resources = match &p.executor_resources {
                Some(r) => {
                    self.executors
                        .insert(agent.agent_id.value.clone(), r.clone());
                    r.clone()
                }
                None => self
                    .executors
                    .get(&agent.agent_id.value)
                    .cloned()
                    .unwrap_or_else(|| self.synthesized_executor_resources(&roles[p.pod_index])),
            };
            let executor = self
                .config
                .executor
                .executor_info(&framework_id, exec_resources.clone());
            let Some(entry) = self.pods.get_mut(uid) else {
                continue;
            };
            let task_id = task_id_for_pod(uid, entry.next_generation);
            entry.next_generation += 1;
            let relaunch = match &entry.state {
                PodState::Relaunch {
                    reason, message, ..
                } => Some((*reason, message.clone())),
                _ => None,
            };
            self.metrics.placements += 1;
            let was_relaunch = relaunch.is_some();
            let (relaunch_deadline, bind_pending) = match &entry.state {
                PodState::Relaunch {
                    deadline,
                    bind_pending,
                    ..
                } => (Some(*deadline), *bind_pending),
                _ => (None, false),
            };
            if let Some(q) = self.queue.remove(uid) {
                self.latencies
                    .push(now.saturating_duration_since(q.queued_at));
            }
            let preassigned = node_name(&entry.pod).is_some();
            let mut annotations = BTreeMap::new();
            annotations.insert(
                ANNOTATION_FRAMEWORK_ID.to_owned(),
                framework_id.value.clone(),
            );
            annotations.insert(ANNOTATION_AGENT_ID.to_owned(), agent.agent_id.value.clone());
            annotations.insert(ANNOTATION_TASK_ID.to_owned(), task_id.value.clone());
            annotations.insert(
                ANNOTATION_EXECUTOR_ID.to_owned(),
                self.executor_id.value.clone(),
            );
            let exec_json = ExecutorInfo {
                executor_id: self.executor_id.clone(),
                resources: exec_resources,
                ..Default::default()
            };
            if let Ok(j) = kube_mesos_proto::json::to_json(&exec_json) {
                annotations.insert(ANNOTATION_EXECUTOR_RESOURCES.to_owned(), j.to_string());
            }
            // The executor gets the pod as the API server holds it once
            // bound (nodeName, placement annotations), as a kubelet does.
            let task = build_task_info(
                &bound_pod(&entry.pod, &agent.hostname, &annotations),
                &task_id,
                agent,
                p.task_resources.clone(),
                executor,
                relaunch.as_ref().map(|(r, m)| (*r, m.as_str())),
            );
            ops[p.agent_index].push(offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch {
                    task_infos: vec![task],
                }),
                ..Default::default()
            });
            let pref = pod_ref(&entry.pod);
            let bind = if was_relaunch && !bind_pending {
                BindState::Bound
            } else {
                BindState::Pending
            };
            if !was_relaunch {
                if preassigned {
                    follow_ups.push(Action::Annotate {
                        pod: pref.clone(),
                        annotations,
                    });
                } else {
                    follow_ups.push(Action::Bind {
                        pod: pref.clone(),
                        node_name: agent.hostname.clone(),
                        annotations,
                    });
                }
                follow_ups.push(Action::RecordEvent {
                    pod: pref.clone(),
                    type_: EventType::Normal,
                    reason: "Scheduled".to_owned(),
                    message: format!(
                        "Successfully assigned {}/{} to {}",
                        pref.namespace, pref.name, agent.hostname
                    ),
                });
            } else {
                // Its new task ID goes into the annotations; the pod is
                // bound already, so a failure is only logged (see
                // `Action::SetPodTask`).
                follow_ups.push(Action::SetPodTask {
                    pod: pref.clone(),
                    annotations,
                });
                let why = match relaunch.as_ref().map(|(r, _)| *r) {
                    Some(task_status::REASON_EXECUTOR_LOST) => "after its executor was lost",
                    Some(task_status::REASON_NODE_LOST) => "after its task was lost",
                    Some(task_status::REASON_HANDOVER) => {
                        "on the current executor, handed over by an executor of an older configuration"
                    }
                    _ => "after a failed launch",
                };
                follow_ups.push(Action::RecordEvent {
                    pod: pref.clone(),
                    type_: EventType::Normal,
                    reason: "Relaunched".to_owned(),
                    message: format!(
                        "Relaunched on {} as task {} {why}",
                        agent.hostname, task_id.value
                    ),
                });
            }
            info!(pod = %format!("{}/{}", pref.namespace, pref.name), agent = %agent.agent_id.value, host = %agent.hostname, relaunch = was_relaunch, "pod placed");
            entry.state = PodState::Task(TaskTrack {
                task_id,
                agent_id: Some(agent.agent_id.clone()),
                executor_id: Some(self.executor_id.clone()),
                state: None,
                ever_running: false,
                bind,
                kill_sent: false,
                relaunch_deadline,
                launched_at: Some(now),
                waiting: None,
                last_update: None,
                handover: Handover::NotAsked,
            });
        }
        for (ai, agent) in agents.iter().enumerate() {
            if ops[ai].is_empty() {
                self.decline(agent.offer_ids.clone(), refuse_for(ai), out);
            } else {
                self.metrics.offers_used += agent.offer_ids.len() as u64;
                let refuse = refuse_for(ai);
                if refuse > 0.0 {
                    self.filters_active = true;
                }
                out.push(Action::Accept {
                    offer_ids: agent.offer_ids.clone(),
                    operations: std::mem::take(&mut ops[ai]),
                    filters: filters(refuse),
                });
            }
        }
        out.extend(follow_ups);

        // Unschedulable pods of the queue: backoff and (rate-limited) events.
        for u in &outcome.unplaced {
            let uid = &uids[u.pod_index];
            if !self.queue.contains(uid) {
                continue; // a relaunch: its deadline decides
            }
            self.report_unschedulable(uid, &u.message, now, out);
        }
        for (uid, message) in misfits {
            self.report_unschedulable(&uid, &message, now, out);
        }
    }

    /// A queued pod did not fit: back it off, and write PodScheduled=False
    /// and a FailedScheduling event when the message changed or the backoff
    /// has passed since the last one (no event spam).
    fn report_unschedulable(
        &mut self,
        uid: &str,
        message: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.metrics.unschedulable_attempts += 1;
        let backoff = self.queue.record_failure(uid, now);
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        let PodState::Queued { last_event } = &mut entry.state else {
            return;
        };
        let due = match last_event {
            None => true,
            Some((msg, at)) => msg != message || now >= *at + backoff,
        };
        debug!(pod = %uid, %message, due, "pod unschedulable");
        if due {
            *last_event = Some((message.to_owned(), now));
            let pref = pod_ref(&entry.pod);
            out.push(Action::SetPodUnschedulable {
                pod: pref.clone(),
                message: message.to_owned(),
            });
            out.push(Action::RecordEvent {
                pod: pref,
                type_: EventType::Warning,
                reason: "FailedScheduling".to_owned(),
                message: message.to_owned(),
            });
        }
    }

    /// Takes our executors' resources from the master's list once the
    /// framework ID is known. They replace what the pod annotations said:
    /// the master holds the `ExecutorInfo` a launch must repeat.
    fn adopt_master_executors(&mut self) {
        let Some(framework_id) = self.framework_id.clone() else {
            return;
        };
        let Some(list) = self.master_executors.take() else {
            return;
        };
        for e in list {
            if e.info.executor_id == self.executor_id
                && e.info.framework_id.as_ref() == Some(&framework_id)
            {
                info!(agent = %e.agent_id.value, executor = %self.executor_id.value, "executor resources from the master");
                self.executors.insert(e.agent_id.value, e.info.resources);
            }
        }
    }

    /// Executor resources for an executor that runs but whose launch we did
    /// not see (framework restart without the annotation): cpus and mem of
    /// the pod's role, unreserved. Mesos rejects the task if this differs
    /// from what the executor was started with; the pod is then relaunched
    /// until its deadline.
    fn synthesized_executor_resources(&self, role: &str) -> Vec<Resource> {
        vec![
            resources::build::scalar(resources::CPUS, self.config.executor.cpus, role),
            resources::build::scalar(resources::MEM, self.config.executor.mem_mb, role),
        ]
    }

    // ----- task updates ------------------------------------------------------

    fn on_task_update(&mut self, status: TaskStatus, now: Instant, out: &mut Vec<Action>) {
        self.kills.observe(&status);
        self.handle_status(&status, now, out);
        if let (Some(uuid), Some(agent_id)) = (status.uuid.as_ref(), status.agent_id.as_ref()) {
            if !uuid.is_empty() {
                out.push(Action::Acknowledge {
                    agent_id: agent_id.clone(),
                    task_id: status.task_id.clone(),
                    uuid: uuid.clone(),
                });
            }
        }
    }

    fn kill_orphan(&mut self, status: &TaskStatus, out: &mut Vec<Action>) {
        // Only an active task is killed: one Mesos reports unreachable or
        // unknown cannot be reached by a KILL (the master answers it with
        // the same state), and may yet come back as ours.
        let active = matches!(task_status::classify(status), TaskOutcome::Active { .. });
        if !active || !self.synced {
            return;
        }
        warn!(task = %status.task_id.value, "task has no pod that names it; killing it");
        self.metrics.kills += 1;
        out.extend(self.kills.kill(
            status.task_id.clone(),
            status.agent_id.clone(),
            None,
            self.connected,
        ));
    }

    fn handle_status(&mut self, status: &TaskStatus, now: Instant, out: &mut Vec<Action>) {
        let Some(uid) = pod_uid_from_task_id(&status.task_id).map(str::to_owned) else {
            // Not a task ID we ever create.
            self.kill_orphan(status, out);
            return;
        };
        let relaunch_deadline_cfg = self.config.relaunch_deadline;
        let Some(entry) = self.pods.get_mut(&uid) else {
            self.kill_orphan(status, out);
            return;
        };
        let outcome = task_status::classify(status);
        entry.next_generation = entry
            .next_generation
            .max(task_generation(&status.task_id) + 1);
        let PodState::Task(track) = &mut entry.state else {
            let lost = matches!(
                entry.state,
                PodState::Relaunch { .. } | PodState::Lost { .. }
            );
            if lost && matches!(outcome, TaskOutcome::Active { .. }) {
                self.on_task_reappeared(&uid, status, now, out);
            } else {
                // The pod is queued or done: this task is stale.
                self.kill_orphan(status, out);
            }
            return;
        };
        if track.task_id != status.task_id {
            // A newer task of the pod than the one we track, active while
            // ours is over or unheard of: a relaunch whose annotation the
            // pod did not get (the framework restarted in between). It is
            // the pod's task. Anything else is stale.
            let newer = task_generation(&status.task_id) > task_generation(&track.task_id);
            let ours_over = !track.is_live() || track.state.is_none();
            if newer && ours_over && matches!(outcome, TaskOutcome::Active { .. }) {
                info!(pod = %uid, task = %status.task_id.value, was = %track.task_id.value, "a newer task of the pod runs; tracking it");
                track.task_id = status.task_id.clone();
                track.executor_id = status.executor_id.clone().or(track.executor_id.take());
                track.agent_id = status.agent_id.clone().or(track.agent_id.take());
                track.state = None;
                track.waiting = None;
                let mut annotations = BTreeMap::new();
                annotations.insert(ANNOTATION_TASK_ID.to_owned(), track.task_id.value.clone());
                if let Some(e) = &track.executor_id {
                    annotations.insert(ANNOTATION_EXECUTOR_ID.to_owned(), e.value.clone());
                }
                if let Some(a) = &track.agent_id {
                    annotations.insert(ANNOTATION_AGENT_ID.to_owned(), a.value.clone());
                }
                out.push(Action::SetPodTask {
                    pod: pod_ref(&entry.pod),
                    annotations,
                });
            } else {
                self.kill_orphan(status, out);
                return;
            }
        }
        track.last_update = Some(now);
        if let Ok(s) = TaskState::try_from(status.state) {
            track.state = Some(s);
        }
        if track.agent_id.is_none() {
            track.agent_id = status.agent_id.clone();
        }
        if task_status::handover_answer(status) == Some(kube_mesos_node::handover::KEPT) {
            // Its executor keeps it (it cannot move): not asked again.
            track.handover = Handover::Kept;
        }
        match outcome {
            TaskOutcome::Active { running } => {
                if running {
                    track.ever_running = true;
                    if let Some(agent) = &track.agent_id {
                        self.relaunch_backoff
                            .running(&agent.value, track.launched_at, now);
                    }
                }
                let deleting = entry.deleted || entry.pod.metadata.deletion_timestamp.is_some();
                let abandon =
                    matches!(track.bind, BindState::RequeueAfterKill | BindState::Abandon);
                if track.waiting.take().is_some() {
                    self.metrics.tasks_recovered += 1;
                    let message = format!("{}; the pod resumes", task_status::describe(status));
                    info!(pod = %uid, %message, "task is back");
                    if !entry.deleted {
                        recovered(&entry.pod, &message, out);
                    }
                    if (deleting || abandon) && track.kill_sent {
                        // The KILL sent while Mesos could not reach the
                        // task went nowhere; it is still owed (with its
                        // grace period).
                        self.metrics.kills += 1;
                        out.extend(self.kills.kill(
                            track.task_id.clone(),
                            track.agent_id.clone(),
                            None,
                            self.connected,
                        ));
                    }
                }
                if (deleting || abandon) && !track.kill_sent {
                    track.kill_sent = true;
                    self.metrics.kills += 1;
                    out.extend(self.kills.kill(
                        track.task_id.clone(),
                        track.agent_id.clone(),
                        None,
                        self.connected,
                    ));
                }
            }
            TaskOutcome::Waiting { cause, message } => {
                let previous = track.waiting;
                track.waiting = Some(Waiting {
                    since: previous.map_or(now, |w| w.since),
                    cause,
                });
                if previous.map(|w| w.cause) != Some(cause) && !entry.deleted {
                    let message = format!(
                        "{message}; the pod keeps its state until its task is back, for at most {}s",
                        self.config.unreachable_timeout.as_secs()
                    );
                    info!(pod = %uid, reason = cause.reason(), %message, "task unreachable or unknown; the pod waits");
                    let pref = pod_ref(&entry.pod);
                    out.push(Action::SetPodCondition {
                        pod: pref.clone(),
                        type_: task_status::CONDITION_NODE_REACHABLE.to_owned(),
                        status: false,
                        reason: cause.reason().to_owned(),
                        message: message.clone(),
                    });
                    out.push(Action::RecordEvent {
                        pod: pref,
                        type_: EventType::Warning,
                        reason: cause.reason().to_owned(),
                        message,
                    });
                }
            }
            TaskOutcome::Gone { message, agent } => {
                self.queue.flush_backoff();
                self.lose_pod(&uid, message, agent, now, out);
            }
            TaskOutcome::ReportedByExecutor => {
                self.queue.flush_backoff();
                self.finish_task(&uid, now);
            }
            TaskOutcome::HandedOver { message } => self.handed_over(&uid, message, now, out),
            TaskOutcome::NotReported {
                reason,
                message,
                retryable,
            } => {
                self.queue.flush_backoff();
                let Some(entry) = self.pods.get_mut(&uid) else {
                    return;
                };
                let PodState::Task(track) = &entry.state else {
                    return;
                };
                let deleting = entry.deleted || entry.pod.metadata.deletion_timestamp.is_some();
                if deleting
                    || matches!(track.bind, BindState::RequeueAfterKill | BindState::Abandon)
                {
                    self.finish_task(&uid, now);
                    return;
                }
                let agent_id = track
                    .agent_id
                    .clone()
                    .or_else(|| status.agent_id.clone())
                    .unwrap_or_default();
                // Every failure on the agent feeds its relaunch back-off.
                let pause = (!agent_id.value.is_empty()).then(|| {
                    self.relaunch_backoff
                        .failed(&agent_id.value, track.launched_at, now)
                });
                // A pod is relaunched when its task never ran, when its
                // executor died (the new executor takes over what survived,
                // see `kube_mesos_node::relaunch`), and when the failed task
                // was itself a relaunch, until the relaunch deadline.
                let relaunchable = retryable
                    && (!track.ever_running
                        || reason == task_status::REASON_EXECUTOR_LOST
                        || track.relaunch_deadline.is_some());
                if let (true, Some(pause)) = (relaunchable, pause) {
                    let deadline = track
                        .relaunch_deadline
                        .unwrap_or(now + relaunch_deadline_cfg);
                    if deadline > now {
                        info!(pod = %uid, agent = %agent_id.value, %message, reason, back_off = %go_duration(pause), "task failed; relaunching on the same agent after a back-off");
                        let what =
                            if track.ever_running && reason == task_status::REASON_EXECUTOR_LOST {
                                "its executor was lost"
                            } else {
                                "its launch failed"
                            };
                        out.push(back_off_event(&entry.pod, &agent_id, pause, what, &message));
                        let bind_pending = matches!(track.bind, BindState::Pending);
                        if !self.relaunch_backoff.waiting(&agent_id.value, now) {
                            self.revive_wanted = true;
                        }
                        entry.state = PodState::Relaunch {
                            agent_id,
                            deadline,
                            reason,
                            message,
                            bind_pending,
                        };
                        return;
                    }
                }
                entry.state = PodState::Done;
                fail_pod(&entry.pod, reason, &message, out);
            }
        }
    }

    /// An executor of an older configuration let go of the pod: relaunch
    /// it on its agent, on the current executor, at once (see
    /// [`generations`]).
    fn handed_over(&mut self, uid: &str, message: String, now: Instant, out: &mut Vec<Action>) {
        let deadline = now + self.config.relaunch_deadline;
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        let PodState::Task(track) = &entry.state else {
            return;
        };
        let (Some(agent_id), false) = (track.agent_id.clone(), is_deleting(entry)) else {
            self.finish_task(uid, now);
            return;
        };
        self.metrics.handovers += 1;
        info!(pod = %uid, agent = %agent_id.value, old = ?track.executor_id, %message, "pod handed over by an outdated executor; relaunching it on the current one");
        out.push(Action::RecordEvent {
            pod: pod_ref(&entry.pod),
            type_: EventType::Normal,
            reason: "HandedOver".to_owned(),
            message: format!(
                "Executor {} let go of the pod, its containers running on; it moves to executor {}",
                track.executor_id.as_ref().map_or("?", |e| e.value.as_str()),
                self.executor_id.value
            ),
        });
        entry.state = PodState::Relaunch {
            agent_id,
            deadline,
            reason: task_status::REASON_HANDOVER,
            message,
            bind_pending: false,
        };
        self.revive_wanted = true;
    }

    /// Asks executors of an older configuration to hand their running pods
    /// over, once and then again after [`generations::ASK_AGAIN`] while
    /// unanswered (framework messages may be lost).
    fn retire_old_executors(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.config.retire_old_executors {
            return;
        }
        let current = self.executor_id.clone();
        let mut asks = Vec::new();
        for entry in self.pods.values_mut() {
            let deleting = is_deleting(entry);
            let PodState::Task(t) = &mut entry.state else {
                continue;
            };
            let outdated = t.executor_id.as_ref().is_some_and(|e| *e != current);
            let running = t.state == Some(TaskState::TaskRunning) && t.waiting.is_none();
            if !outdated || !running || deleting || t.kill_sent || !t.handover.due(now) {
                continue;
            }
            let (Some(agent), Some(executor)) = (t.agent_id.clone(), t.executor_id.clone()) else {
                continue;
            };
            t.handover = Handover::Asked(now);
            asks.push((agent, executor, t.task_id.clone()));
        }
        if !asks.is_empty() {
            info!(tasks = asks.len(), current = %current.value, "asking executors of an older configuration to hand their pods over");
            out.extend(generations::release_requests(asks));
        }
    }

    /// The pod's task is gone, or did not come back in time: the pod is
    /// lost. It is failed `NodeLost` or relaunched in place, as
    /// [`task_status::lost_pod_fate`] says; its task is not killed (see
    /// [`SchedulerCore::on_task_reappeared`]).
    fn lose_pod(
        &mut self,
        uid: &str,
        message: String,
        agent: AgentStanding,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let relaunch_deadline_cfg = self.config.relaunch_deadline;
        let siblings = self.running_siblings(uid);
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        let PodState::Task(track) = &entry.state else {
            return;
        };
        if is_deleting(entry)
            || matches!(track.bind, BindState::RequeueAfterKill | BindState::Abandon)
        {
            self.finish_task(uid, now);
            return;
        }
        self.metrics.pods_lost += 1;
        let fate = task_status::lost_pod_fate(
            agent,
            controller_uid(&entry.pod).is_some(),
            track.ever_running,
        );
        let agent_id = track.agent_id.clone();
        if fate == LostPodFate::Relaunch {
            let deadline = track
                .relaunch_deadline
                .unwrap_or(now + relaunch_deadline_cfg);
            if let Some(agent_id) = agent_id
                .clone()
                .filter(|a| !a.value.is_empty() && deadline > now)
            {
                info!(pod = %uid, agent = %agent_id.value, %message, "pod lost before it ran; relaunching it on its node");
                let bind_pending = matches!(track.bind, BindState::Pending);
                entry.state = PodState::Relaunch {
                    agent_id,
                    deadline,
                    reason: task_status::REASON_NODE_LOST,
                    message,
                    bind_pending,
                };
                self.revive_wanted = true;
                return;
            }
        }
        entry.state = PodState::Lost {
            agent_id,
            siblings: Some(siblings),
        };
        fail_pod(&entry.pod, task_status::REASON_NODE_LOST, &message, out);
    }

    /// UIDs of the running pods that share the pod's controller.
    fn running_siblings(&self, uid: &str) -> Vec<String> {
        let Some(owner) = self.pods.get(uid).and_then(|e| controller_uid(&e.pod)) else {
            return Vec::new();
        };
        let mut out: Vec<String> = self
            .pods
            .iter()
            .filter(|(other, e)| {
                other.as_str() != uid
                    && !is_deleting(e)
                    && controller_uid(&e.pod) == Some(owner)
                    && matches!(&e.state, PodState::Task(t) if t.is_live() && t.ever_running)
            })
            .map(|(other, _)| other.clone())
            .collect();
        out.sort();
        out
    }

    /// The task of a pod that was lost (failed, or waiting for a relaunch)
    /// is active again. It is killed if the pod is being deleted or a
    /// replacement already runs; otherwise the pod is taken back with it,
    /// with no restart and no kill.
    fn on_task_reappeared(
        &mut self,
        uid: &str,
        status: &TaskStatus,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(entry) = self.pods.get(uid) else {
            return;
        };
        if is_deleting(entry) {
            self.kill_orphan(status, out);
            return;
        }
        let replacement = match &entry.state {
            PodState::Lost {
                siblings: Some(before),
                ..
            } => self
                .running_siblings(uid)
                .into_iter()
                .find(|s| !before.contains(s)),
            _ => None,
        };
        if let Some(replacement) = replacement {
            warn!(pod = %uid, %replacement, task = %status.task_id.value, "task is back but a replacement pod runs; killing it");
            self.metrics.kills += 1;
            out.extend(self.kills.kill(
                status.task_id.clone(),
                status.agent_id.clone(),
                None,
                self.connected,
            ));
            return;
        }
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        let (was_failed, bind, agent_id) = match &entry.state {
            PodState::Relaunch {
                agent_id,
                bind_pending,
                ..
            } => (
                false,
                if *bind_pending {
                    BindState::Pending
                } else {
                    BindState::Bound
                },
                Some(agent_id.clone()),
            ),
            PodState::Lost { agent_id, .. } => (true, BindState::Bound, agent_id.clone()),
            _ => return,
        };
        let state = TaskState::try_from(status.state).ok();
        let running = matches!(state, Some(TaskState::TaskRunning | TaskState::TaskKilling));
        entry.state = PodState::Task(TaskTrack {
            task_id: status.task_id.clone(),
            agent_id: status.agent_id.clone().or(agent_id),
            executor_id: status.executor_id.clone(),
            state,
            ever_running: running,
            bind,
            kill_sent: false,
            relaunch_deadline: None,
            launched_at: None,
            waiting: None,
            last_update: Some(now),
            handover: Handover::NotAsked,
        });
        self.metrics.tasks_recovered += 1;
        let message = format!("{}; the pod is taken back", task_status::describe(status));
        info!(pod = %uid, %message, "task is back");
        if was_failed {
            let pref = pod_ref(&entry.pod);
            out.push(Action::RecoverPod {
                pod: pref.clone(),
                phase: if running { "Running" } else { "Pending" }.to_owned(),
                message: message.clone(),
            });
            out.push(Action::RecordEvent {
                pod: pref,
                type_: EventType::Normal,
                reason: task_status::REASON_TASK_RECOVERED.to_owned(),
                message,
            });
        } else {
            recovered(&entry.pod, &message, out);
        }
    }

    /// The task ended; decide what becomes of the pod.
    fn finish_task(&mut self, uid: &str, now: Instant) {
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        let requeue = matches!(&entry.state, PodState::Task(t) if matches!(t.bind, BindState::RequeueAfterKill));
        if entry.deleted {
            self.pods.remove(uid);
            return;
        }
        if requeue && entry.pod.metadata.deletion_timestamp.is_none() {
            entry.state = PodState::Queued { last_event: None };
            let pod = entry.pod.clone();
            self.queue.upsert(uid, &pod, now);
            self.revive_wanted = true;
            return;
        }
        entry.state = PodState::Done;
    }

    fn on_agent_removed(&mut self, agent_id: &AgentId, _now: Instant, out: &mut Vec<Action>) {
        info!(agent = %agent_id.value, "agent removed; failing its pods");
        self.executors.remove(&agent_id.value);
        self.kills.forget_agent(agent_id);
        self.relaunch_backoff.forget(&agent_id.value);
        self.held.retain(|h| h.offer.agent_id != *agent_id);
        let message = format!("Mesos agent {} was removed", agent_id.value);
        let mut uids: Vec<String> = self.pods.keys().cloned().collect();
        uids.sort();
        for uid in uids {
            let Some(entry) = self.pods.get_mut(&uid) else {
                continue;
            };
            let on_agent = match &entry.state {
                PodState::Task(t) => t.is_live() && t.agent_id.as_ref() == Some(agent_id),
                PodState::Relaunch { agent_id: a, .. } => a == agent_id,
                _ => false,
            };
            if !on_agent {
                continue;
            }
            if entry.deleted {
                self.pods.remove(&uid);
                continue;
            }
            self.metrics.pods_lost += 1;
            let siblings = self.running_siblings(&uid);
            let Some(entry) = self.pods.get_mut(&uid) else {
                continue;
            };
            entry.state = PodState::Lost {
                agent_id: Some(agent_id.clone()),
                siblings: Some(siblings),
            };
            fail_pod(&entry.pod, task_status::REASON_NODE_LOST, &message, out);
        }
    }

    fn on_bind_result(
        &mut self,
        uid: &str,
        result: BindOutcome,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        if let PodState::Relaunch { bind_pending, .. } = &mut entry.state {
            // The launch already failed; no task is live.
            match result {
                BindOutcome::Bound => *bind_pending = false,
                BindOutcome::Conflict => entry.state = PodState::Done,
                BindOutcome::Failed(_) => {
                    entry.state = PodState::Queued { last_event: None };
                    let pod = entry.pod.clone();
                    self.queue.upsert(uid, &pod, now);
                }
            }
            return;
        }
        let PodState::Task(track) = &mut entry.state else {
            return;
        };
        match result {
            BindOutcome::Bound => track.bind = BindState::Bound,
            BindOutcome::Conflict | BindOutcome::Failed(_) => {
                warn!(pod = %uid, ?result, "binding failed; killing the task");
                track.bind = if result == BindOutcome::Conflict {
                    BindState::Abandon
                } else {
                    BindState::RequeueAfterKill
                };
                if track.is_live() && !track.kill_sent {
                    track.kill_sent = true;
                    self.metrics.kills += 1;
                    out.extend(self.kills.kill(
                        track.task_id.clone(),
                        track.agent_id.clone(),
                        None,
                        self.connected,
                    ));
                }
            }
        }
    }
}

/// The Warning a pod gets when its relaunch waits: the kubelet's
/// CrashLoopBackOff event in spirit (`BackOff`, "Back-off 10s ..."), with
/// `what` happened ("its launch failed", "its executor was lost") and what
/// Mesos said about it.
fn back_off_event(pod: &Pod, agent_id: &AgentId, pause: Duration, what: &str, why: &str) -> Action {
    let place = match node_name(pod) {
        Some(node) => format!("node {node}"),
        None => format!("Mesos agent {}", agent_id.value),
    };
    Action::RecordEvent {
        pod: pod_ref(pod),
        type_: EventType::Warning,
        reason: REASON_BACK_OFF.to_owned(),
        message: format!(
            "Back-off {} relaunching the pod on {place} after {what}: {why}",
            go_duration(pause)
        ),
    }
}

/// The pod's task is back: `NodeReachable=True` and a Normal event.
fn recovered(pod: &Pod, message: &str, out: &mut Vec<Action>) {
    let pref = pod_ref(pod);
    out.push(Action::SetPodCondition {
        pod: pref.clone(),
        type_: task_status::CONDITION_NODE_REACHABLE.to_owned(),
        status: true,
        reason: task_status::REASON_TASK_RECOVERED.to_owned(),
        message: message.to_owned(),
    });
    out.push(Action::RecordEvent {
        pod: pref,
        type_: EventType::Normal,
        reason: task_status::REASON_TASK_RECOVERED.to_owned(),
        message: message.to_owned(),
    });
}

fn fail_pod(pod: &Pod, reason: &str, message: &str, out: &mut Vec<Action>) {
    let pref = pod_ref(pod);
    warn!(pod = %format!("{}/{}", pref.namespace, pref.name), reason, message, "failing pod");
    out.push(Action::FailPod {
        pod: pref.clone(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_known: Box::new(pod.clone()),
    });
    out.push(Action::RecordEvent {
        pod: pref,
        type_: EventType::Warning,
        reason: reason.to_owned(),
        message: message.to_owned(),
    });
}

/// `pod` as it reads after the framework's annotate-then-bind: its
/// `spec.nodeName` set to the Node it is bound to and the placement
/// annotations added — what the kubelet's downward API reads
/// (`fieldRef: spec.nodeName`, `metadata.annotations`).
fn bound_pod(pod: &Pod, node_name: &str, annotations: &BTreeMap<String, String>) -> Pod {
    let mut bound = pod.clone();
    if let Some(spec) = bound.spec.as_mut() {
        spec.node_name = Some(node_name.to_owned());
    }
    bound
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    bound
}

/// The LAUNCH of a pod's task. A relaunch carries its reason (a pod
/// `status.reason` such as `ExecutorLost`) and what Mesos said about the
/// task it replaces, for the executor (see [`kube_mesos_node::relaunch`]).
fn build_task_info(
    pod: &Pod,
    task_id: &TaskId,
    agent: &AgentView,
    resources: Vec<Resource>,
    executor: ExecutorInfo,
    relaunch: Option<(&str, &str)>,
) -> TaskInfo {
    let pref = pod_ref(pod);
    let grace = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(DEFAULT_GRACE_SECONDS);
    // Serializing a k8s-openapi Pod cannot fail (no maps with non-string
    // keys); an empty payload would make the executor fail the task.
    let data = serde_json::to_vec(pod).unwrap_or_default();
    let label = |k: &str, v: &str| Label {
        key: k.to_owned(),
        value: Some(v.to_owned()),
    };
    let mut labels = vec![
        label("kube-mesos.io/namespace", &pref.namespace),
        label("kube-mesos.io/name", &pref.name),
        label("kube-mesos.io/uid", &pref.uid),
    ];
    if let Some((reason, message)) = relaunch {
        labels.push(label(kube_mesos_node::relaunch::LABEL_REASON, reason));
        labels.push(label(kube_mesos_node::relaunch::LABEL_MESSAGE, message));
    }
    TaskInfo {
        name: format!("{}/{}", pref.namespace, pref.name),
        task_id: task_id.clone(),
        agent_id: agent.agent_id.clone(),
        resources,
        executor: Some(executor),
        kill_policy: Some(kill_policy_seconds(grace)),
        data: Some(data),
        labels: Some(Labels { labels }),
        ..Default::default()
    }
}
