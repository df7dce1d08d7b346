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

mod drain;
mod exit;
mod place;
mod pod_read;
mod status;
mod stored_pod;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube_mesos_proto::v1::{
    offer, AgentId, DurationInfo, ExecutorId, ExecutorInfo, Filters, FrameworkId, KillPolicy,
    Label, Labels, Offer, OfferId, Resource, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tracing::{debug, info, warn};

use super::generations::{self, Handover};
use super::kills::PendingKills;
use super::reconcile_gate::{self, ReconcileGate};
use super::relaunch_backoff::{go_duration, RelaunchBackoff};
use super::relaunch_intent::{self, RelaunchIntent};
use super::{
    pod_uid_from_task_id, task_generation, task_id_for_pod, Action, BindOutcome, CoreConfig,
    CoreMetrics, EventType, Input, Instant, PodRef, RunningExecutor, ANNOTATION_AGENT_ID,
    ANNOTATION_EXECUTOR_ID, ANNOTATION_EXECUTOR_RESOURCES, ANNOTATION_FRAMEWORK_ID,
    ANNOTATION_ROLE, ANNOTATION_TASK_ID,
};
use crate::nodes::agent_node::ANNOTATION_NODE_AGENT_ID;
use crate::placement::disruption::{Budget, Budgets};
use crate::placement::requests::PodRequests;
use crate::placement::snapshot::{NodeFacts, PodInfo, Snapshot};
use crate::placement::{self, AgentView, PodToPlace};
use crate::queue::PodQueue;
use crate::resources::{self, to_milli, Scalars};
use crate::task_status::{self, AgentStanding, LostPodFate, TaskOutcome, WaitCause};
use pod_read::PodRead;
use stored_pod::StoredPod;

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECONDS: i64 = 30;
/// How long relaunches on an agent wait after a launch there was dropped
/// (see [`task_status::launch_not_tried`]): long enough for the agent to
/// see a dead executor's updates acknowledged or for a new master's
/// offers, short enough not to keep the pod down.
const DROPPED_LAUNCH_HOLD: Duration = Duration::from_secs(5);
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
    /// A relaunch of this task that an earlier framework process scheduled
    /// and recorded on the pod (rebuilt after a restart): should Mesos no
    /// longer know the task, the relaunch is resumed, not the pod lost.
    /// Boxed: rare, and every running pod has a track.
    intent: Option<Box<RelaunchIntent>>,
}

#[derive(Clone, Debug)]
struct PodEntry {
    /// One pointer (see [`StoredPod`]): every pod of the cluster has an
    /// entry.
    pod: StoredPod,
    /// The pod's requests, worked out when the pod was last seen (a round
    /// sums them per agent without parsing quantities again).
    requests: PodRequests,
    /// The pod object is gone from the API server.
    deleted: bool,
    state: PodState,
    /// The generation of the pod's next task: one above every task of the
    /// pod seen so far, so that no task ID is ever launched twice.
    next_generation: u32,
    /// Bindings of the pod that failed in a row: a requeued pod waits
    /// longer after each (see `SchedulerCore::requeue_after_failed_bind`).
    bind_failures: u32,
}

/// The longest wait of a pod whose Binding failed (see
/// `SchedulerCore::requeue_after_failed_bind`).
const BIND_RETRY_MAX: Duration = Duration::from_secs(10);

/// Whether a pod in `state` may be launched (again), and so keeps the whole
/// pod (see [`stored_pod`]): queued, waiting for a relaunch, or launched
/// with its Binding unanswered or failed (back to the queue once its task
/// is killed). The others are stored slim.
fn keeps_whole(state: &PodState) -> bool {
    match state {
        PodState::Queued { .. } | PodState::Relaunch { .. } => true,
        PodState::Task(t) => matches!(t.bind, BindState::Pending | BindState::RequeueAfterKill),
        PodState::Done | PodState::Lost { .. } => false,
    }
}

/// `pod` stored as a pod in `state` keeps it.
fn store(pod: Pod, state: &PodState) -> StoredPod {
    if keeps_whole(state) {
        StoredPod::new(pod)
    } else {
        StoredPod::slim(pod)
    }
}

/// Whether a relaunch may be placed now: a handover at once (it is no
/// failure), any other once its agent's back-off is over.
fn relaunch_may_go(
    backoff: &RelaunchBackoff,
    agent_id: &AgentId,
    reason: &str,
    now: Instant,
) -> bool {
    reason == task_status::REASON_HANDOVER || !backoff.waiting(&agent_id.value, now)
}

/// How long a pod to launch waits for the answer to an
/// [`Action::FetchPod`] before it is asked for again.
const FETCH_RETRY: Duration = Duration::from_secs(2);

/// Asks for a slim pod to launch, unless asked within [`FETCH_RETRY`].
fn fetch(
    fetching: &mut HashMap<String, Instant>,
    uid: &str,
    pod: &StoredPod,
    now: Instant,
    out: &mut Vec<Action>,
) {
    if fetching
        .get(uid)
        .is_some_and(|asked| now < *asked + FETCH_RETRY)
    {
        return;
    }
    fetching.insert(uid.to_owned(), now);
    out.push(Action::FetchPod { pod: pod_ref(pod) });
}

impl PodEntry {
    /// Lets go of the pod's packed part once its state no longer
    /// [`keeps_whole`] (launched and bound).
    fn slim_if_settled(&mut self) {
        if !keeps_whole(&self.state) {
            self.pod.make_slim();
        }
    }

    /// Boxed: the pod table holds up to twice the slots of its entries and
    /// moves them all when it grows; a slot of a pointer is 8 bytes, of the
    /// entry itself over 300.
    fn new(pod: Pod, state: PodState, next_generation: u32) -> Box<Self> {
        Box::new(PodEntry {
            requests: PodRequests::of(&pod),
            pod: store(pod, &state),
            deleted: false,
            state,
            next_generation,
            bind_failures: 0,
        })
    }
}

/// A Node as placement needs it.
#[derive(Clone, Debug, Default)]
struct NodeInfo {
    facts: NodeFacts,
    /// The Mesos agent behind it, by the Node's `kube-mesos.io/agent-id`
    /// annotation (the agent's latest registration): only agents' Nodes
    /// join a round's snapshot.
    agent_id: Option<String>,
    /// Not marked NotReady or Unknown: a lost agent's Node is left out.
    ready: bool,
}

#[derive(Clone, Debug)]
struct HeldOffer {
    offer: Offer,
    /// When it must be answered: one batching window after it came
    /// (renewed only by a round past its cap, see `place`).
    deadline: Instant,
}

/// The scheduler's state machine. See the module docs of [`crate::core`].
#[derive(Debug)]
pub struct SchedulerCore {
    config: CoreConfig,
    executor_id: ExecutorId,
    framework_id: Option<FrameworkId>,
    connected: bool,
    synced: bool,
    /// Task updates that came before the pod list: handled (and
    /// acknowledged) once it is in.
    early_updates: Vec<TaskStatus>,
    reconcile_pending: bool,
    pods: HashMap<String, Box<PodEntry>>,
    /// Pods that may be relaunching, waiting for an unreachable or unknown
    /// task, or asked to hand over (the timed states): a
    /// superset, added to where those states begin and pruned in
    /// `run_due`. The scans that run on every input (deadlines, pending
    /// work, metrics) walk these instead of every pod, which matters at
    /// 100,000 pods.
    timed: BTreeSet<String>,
    /// Pods to launch that were stored slim, by when their
    /// [`Action::FetchPod`] went out.
    fetching: HashMap<String, Instant>,
    queue: PodQueue,
    nodes: HashMap<String, NodeInfo>,
    /// The cluster's PodDisruptionBudgets, for preemption.
    budgets: Budgets,
    /// Hostname of every agent seen in an offer, by agent ID.
    agent_hosts: HashMap<String, String>,
    /// Pods being evicted by a preemption, until their tasks end.
    evicting: HashSet<String>,
    /// Queued pods a preemption nominated for a Node.
    nominated: HashMap<String, String>,
    /// When a round without offers is due (see `run_due`).
    dry_at: Option<Instant>,
    /// When `run_due` last looked for pods that may preempt.
    dry_checked: Option<Instant>,
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
    /// When the held offers must be answered (the batching window).
    batch_deadline: Option<Instant>,
    /// When to place the ready pods on the held offers (shortly after
    /// they met, so that pods arriving together share a round).
    place_at: Option<Instant>,
    /// When the last pod joined the queue: the framework is busy (offers
    /// flow, short filters) until `idle_grace` after it.
    last_arrival: Option<Instant>,
    /// Pods whose Binding (or annotations) is sent and not answered yet:
    /// while there are many, a round past its cap does not follow at once
    /// (see `place`), so placement keeps the pace of the API server and
    /// the writes waiting for it stay few.
    awaiting_binds: HashSet<String>,
    /// A round came due while Bindings were backlogged: it runs once they
    /// are answered (or at the end of the batching window).
    round_after_binds: bool,
    suppressed: bool,
    /// Offers were declined (with a refuse filter) since the last REVIVE.
    filters_active: bool,
    last_revive: Option<Instant>,
    revive_wanted: bool,
    next_reconcile: Option<Instant>,
    reconcile_round: Option<ReconcileRound>,
    /// Placement waits until Mesos told every task it knows of.
    reconcile_gate: ReconcileGate,
    metrics: CoreMetrics,
    latencies: Vec<Duration>,
    /// The executor-resources annotation of the last launch (see
    /// `place::ExecutorJson`).
    executor_json: place::ExecutorJson,
    /// Agents draining for maintenance (`drain.rs`).
    avoided_agents: std::collections::BTreeSet<String>,
    /// When the next pass over the pods for outdated executors may run.
    retire_scan_at: Option<Instant>,
    /// A pass was skipped since the last one: one is due at `retire_scan_at`.
    retire_scan_owed: bool,
    /// A task may run on an executor other than the current one: set when
    /// one is learnt of (a restored pod, a status update), recomputed by
    /// each pass. While false no pass runs: new tasks use the current one.
    maybe_outdated: bool,
    /// Maintenance state per agent ID, for the status page only.
    maintenance_states: BTreeMap<String, String>,
}

/// Whether a pod is in a timed state (see `SchedulerCore::timed`).
/// How often the core looks for pods on executors of an older
/// configuration (a pass over every pod).
const RETIRE_SCAN_EVERY: Duration = Duration::from_secs(1);

fn is_timed(e: &PodEntry) -> bool {
    match &e.state {
        PodState::Relaunch { .. } => true,
        PodState::Task(t) => t.waiting.is_some() || t.handover.next_ask().is_some(),
        _ => false,
    }
}

fn pod_ref(pod: &impl PodRead) -> PodRef {
    PodRef {
        namespace: pod.namespace().unwrap_or_default().to_owned(),
        name: pod.name().unwrap_or_default().to_owned(),
        uid: pod.uid().unwrap_or_default().to_owned(),
    }
}

fn annotation<'a>(pod: &'a impl PodRead, key: &str) -> Option<&'a str> {
    pod.annotation(key).filter(|v| !v.is_empty())
}

fn is_terminal_phase(pod: &impl PodRead) -> bool {
    matches!(pod.phase(), Some("Succeeded" | "Failed"))
}

fn is_deleting(entry: &PodEntry) -> bool {
    entry.deleted || entry.pod.deletion_timestamp().is_some()
}

/// Whether `status`'s task runs where the pod is bound (or, unbound,
/// where its tracked task is being bound): a relaunch goes to the pod's
/// node only, so a task of the pod anywhere else is a stale one — a
/// launch whose Binding failed or was never written (the framework died
/// between the two) — never the pod's.
fn on_pods_node(
    agent_hosts: &HashMap<String, String>,
    nodes: &HashMap<String, NodeInfo>,
    pod: &StoredPod,
    track: &TaskTrack,
    status: &TaskStatus,
) -> bool {
    let Some(agent) = status.agent_id.as_ref() else {
        return false;
    };
    let host_of = |a: &AgentId| -> Option<&str> {
        agent_hosts.get(&a.value).map(String::as_str).or_else(|| {
            nodes
                .iter()
                .find(|(_, n)| n.agent_id.as_deref() == Some(a.value.as_str()))
                .map(|(name, _)| name.as_str())
        })
    };
    let node = node_name(pod).or_else(|| match track.bind {
        BindState::Bound => track.agent_id.as_ref().and_then(host_of),
        _ => None,
    });
    match node {
        Some(node) => {
            host_of(agent) == Some(node)
                || (track.agent_id.as_ref() == Some(agent) && host_of(agent).is_none())
        }
        // Unbound: the tracked task is this process's placement, its
        // Binding on the way; another task of the pod is an older
        // process's whose Binding never landed.
        None => false,
    }
}

fn node_name(pod: &impl PodRead) -> Option<&str> {
    pod.node_name().filter(|n| !n.is_empty())
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
            early_updates: Vec::new(),
            reconcile_pending: false,
            pods: HashMap::new(),
            timed: BTreeSet::new(),
            fetching: HashMap::new(),
            queue,
            nodes: HashMap::new(),
            budgets: Budgets::default(),
            agent_hosts: HashMap::new(),
            evicting: HashSet::new(),
            nominated: HashMap::new(),
            dry_at: None,
            dry_checked: None,
            executors: HashMap::new(),
            master_executors: None,
            held: Vec::new(),
            kills: PendingKills::default(),
            relaunch_backoff,
            batch_deadline: None,
            place_at: None,
            last_arrival: None,
            awaiting_binds: HashSet::new(),
            round_after_binds: false,
            suppressed: false,
            filters_active: false,
            last_revive: None,
            revive_wanted: false,
            next_reconcile: None,
            reconcile_round: None,
            reconcile_gate: ReconcileGate::default(),
            metrics: CoreMetrics::default(),
            latencies: Vec::new(),
            executor_json: Default::default(),
            avoided_agents: Default::default(),
            retire_scan_at: None,
            retire_scan_owed: false,
            maybe_outdated: false,
            maintenance_states: Default::default(),
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
            Input::PodFetched(pod) => self.on_pod_fetched(*pod, now),
            Input::PodDeleted(pod) => self.on_pod_deleted(&pod, &mut out),
            Input::PodsSynced => {
                self.synced = true;
                for status in std::mem::take(&mut self.early_updates) {
                    self.on_task_update(status, now, &mut out);
                }
                if self.connected && self.reconcile_pending {
                    self.reconcile_explicit(now, &mut out);
                }
            }
            Input::NodeUpserted(node) => self.on_node(*node),
            Input::BudgetUpserted(pdb) => self.budgets.upsert(Budget::of(&pdb)),
            Input::BudgetDeleted { namespace, name } => self.budgets.remove(&namespace, &name),
            Input::NodeDeleted(name) => {
                self.nodes.remove(&name);
            }
            Input::Subscribed { framework_id } => self.on_subscribed(framework_id, now, &mut out),
            Input::Disconnected => {
                self.connected = false;
                // Offers die with the subscription; nothing to decline.
                self.held.clear();
                self.batch_deadline = None;
                self.place_at = None;
            }
            Input::Offers(offers) => self.on_offers(offers, now, &mut out),
            Input::Rescinded(id) => {
                let before = self.held.len();
                self.held.retain(|h| h.offer.id != id);
                if self.held.len() < before {
                    self.metrics.offers_rescinded += 1;
                }
                if self.held.is_empty() {
                    self.place_at = None;
                }
                self.reset_batch_deadline();
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
                self.reset_batch_deadline();
            }
            Input::BindResult { pod_uid, result } => {
                self.on_bind_result(&pod_uid, result, now, &mut out)
            }
            Input::LaunchUnconfirmed(tasks) => self.reconcile_unconfirmed(&tasks, now, &mut out),
            Input::Tick => {}
        }
        self.run_due(now, &mut out);
        self.fetch_relaunches(now, &mut out);
        self.update_offer_interest(now, &mut out);
        out
    }

    /// Fetches the pods waiting for a relaunch that are stored slim (their
    /// task ran), so that they are whole by the time their agent's offers
    /// come; and forgets fetches long unanswered (a pod that went away).
    /// Relaunches are among the timed pods, a small set.
    fn fetch_relaunches(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.fetching.is_empty() {
            self.fetching
                .retain(|_, asked| now < *asked + FETCH_RETRY * 2);
        }
        for uid in &self.timed {
            if let Some(e) = self.pods.get(uid) {
                if matches!(e.state, PodState::Relaunch { .. }) && !e.pod.has_whole() {
                    fetch(&mut self.fetching, uid, &e.pod, now, out);
                }
            }
        }
    }

    /// When the shell must call [`SchedulerCore::handle`] with
    /// [`Input::Tick`] next, if anything is timed.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut d: Vec<Instant> = Vec::new();
        d.extend(self.batch_deadline);
        d.extend(self.place_at);
        d.extend(self.dry_at);
        d.extend(self.relaunch_backoff.next_expiry());
        if self.connected {
            if self.retire_scan_owed {
                d.extend(self.retire_scan_at);
            }
            d.extend(self.next_reconcile);
            d.extend(self.reconcile_round.as_ref().map(|r| r.next));
            if self.synced {
                d.extend(self.reconcile_gate.deadline());
            }
            if !self.suppressed {
                // Busy until then; idle (SUPPRESS) after.
                d.extend(self.last_arrival.map(|t| t + self.config.idle_grace));
            } else {
                d.extend(self.queue.next_backoff_expiry());
            }
            if self.revive_wanted && !self.placement_waits() {
                if let Some(last) = self.last_revive {
                    d.push(last + self.config.revive_min_interval);
                }
            }
        }
        for (_, e) in self.timed_pods() {
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
            .timed_pods()
            .filter(|(_, e)| matches!(e.state, PodState::Relaunch { .. }))
            .count();
        m.suppressed = self.suppressed;
        m.kills_pending = self.kills.len();
        m.tasks_waiting = self
            .timed_pods()
            .filter(|(_, e)| matches!(&e.state, PodState::Task(t) if t.waiting.is_some()))
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
            let node = entry.pod.node_name().unwrap_or_default().to_owned();
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

    fn is_our_scheduler(&self, pod: &impl PodRead) -> bool {
        let name = pod.scheduler_name().unwrap_or("default-scheduler");
        self.config.scheduler_names.iter().any(|n| n == name)
    }

    /// The pod's Mesos role: annotation, else namespace default, else the
    /// first configured role.
    fn role_of(&self, pod: &impl PodRead) -> String {
        if let Some(r) = annotation(pod, ANNOTATION_ROLE) {
            return r.to_owned();
        }
        if let Some(r) = pod
            .namespace()
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

    /// A pod to launch again, fetched because it was stored slim: what
    /// pruning takes is filled in, and placement may take it.
    fn on_pod_fetched(&mut self, pod: Pod, now: Instant) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        self.fetching.remove(&uid);
        let Some(entry) = self.pods.get_mut(&uid) else {
            return;
        };
        if entry.pod.has_whole() || !keeps_whole(&entry.state) {
            return;
        }
        entry.pod.fill(pod);
        // A round may have passed over the pod and declined the offers it
        // could have used: offers are wanted again, unless a relaunch
        // still waits for its agent's back-off (whose end asks for them).
        let wants_offers = match &entry.state {
            PodState::Relaunch {
                agent_id, reason, ..
            } => relaunch_may_go(&self.relaunch_backoff, agent_id, reason, now),
            _ => true,
        };
        if wants_offers {
            self.revive_wanted = true;
        }
        if !self.held.is_empty() {
            self.place_soon(now);
        }
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
            entry.requests = PodRequests::of(&pod);
            entry.pod = store(pod, &entry.state);
            match &mut entry.state {
                PodState::Queued { .. } => {
                    if deleting || is_terminal_phase(&entry.pod) {
                        self.queue.remove(&uid);
                        self.pods.remove(&uid);
                    } else {
                        self.queue.upsert(&uid, entry.pod.view(), now);
                    }
                }
                PodState::Task(track) => {
                    if entry.pod.phase() == Some("Running") {
                        track.ever_running = true;
                    }
                    if deleting && track.is_live() && !track.kill_sent {
                        let grace = entry
                            .pod
                            .deletion_grace_period_seconds()
                            .or_else(|| entry.pod.termination_grace_period_seconds())
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
            let lost = pod.phase() == Some("Failed")
                && pod.status.as_ref().and_then(|s| s.reason.as_deref())
                    == Some(task_status::REASON_NODE_LOST);
            if lost && named_task.is_some() {
                // Failed `NodeLost` before a restart: its task may come back.
                let agent_id = annotation(&pod, ANNOTATION_AGENT_ID).map(|a| AgentId {
                    value: a.to_owned(),
                });
                let state = PodState::Lost {
                    agent_id,
                    siblings: None,
                };
                self.pods
                    .insert(uid, PodEntry::new(pod, state, next_generation));
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
            self.note_executor(executor_id.as_ref());
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
            let ever_running = matches!(pod.phase(), Some("Running"));
            let intent = relaunch_intent::of_pod(&pod, &task_id);
            if let Some(i) = &intent {
                info!(pod = %uid, task = %task_id.value, reason = i.reason, "the pod names a relaunch an earlier framework scheduled");
            }
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
                intent: intent.map(Box::new),
            };
            // The entry is slim: the deletion rule re-runs on the pod as
            // it came.
            let again = deleting.then(|| pod.clone());
            self.pods.insert(
                uid.clone(),
                PodEntry::new(pod, PodState::Task(track), next_generation),
            );
            if let Some(p) = again {
                // Re-run the deletion rule on the new entry.
                self.on_pod_upserted(p, now, out);
            }
            return;
        }
        if deleting || !self.is_our_scheduler(&pod) {
            return;
        }
        self.queue.upsert(&uid, pod.view(), now);
        self.pods.insert(
            uid,
            PodEntry::new(pod, PodState::Queued { last_event: None }, next_generation),
        );
        // Work appeared: filters set by earlier declines must go, and held
        // offers are used at once.
        self.revive_wanted = true;
        self.last_arrival = Some(now);
        if !self.held.is_empty() {
            self.place_soon(now);
        }
    }

    /// Place shortly (`placement_delay`), not at the end of the batching
    /// window: a pod that finds an offer in hand starts at once.
    fn place_soon(&mut self, now: Instant) {
        let at = now + self.config.placement_delay;
        self.place_at = Some(self.place_at.map_or(at, |p| p.min(at)));
    }

    /// Busy: pods are ready to place, a relaunch waits, or a pod arrived
    /// within `idle_grace`. While busy the framework keeps taking offers
    /// and declines with the short filter; once idle it declines with the
    /// long filter and SUPPRESSes. Pods in back-off alone (they did not fit)
    /// do not keep it busy: they are retried when something frees room.
    fn is_busy(&self, now: Instant) -> bool {
        self.queue.has_ready(now)
            || self.pods_arriving(now)
            || self
                .timed_pods()
                .any(|(_, e)| matches!(e.state, PodState::Relaunch { .. }))
    }

    /// Placement waits for the pod list, or for Mesos to finish answering
    /// the reconciliation (`reconcile_gate`).
    fn placement_waits(&self) -> bool {
        !self.synced || !self.reconcile_gate.is_open()
    }

    /// A pod joined the queue within `idle_grace`: more are expected.
    fn pods_arriving(&self, now: Instant) -> bool {
        self.last_arrival
            .is_some_and(|t| now < t + self.config.idle_grace)
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
        let agent_id = node
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_NODE_AGENT_ID))
            .cloned();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_none_or(|c| c.status == "True");
        self.nodes.insert(
            name,
            NodeInfo {
                facts: NodeFacts::from_node(&node),
                agent_id,
                ready,
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
        self.place_at = None;
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
        self.metrics.reconciliations += 1;
        // Implicit first: the master answers calls in order, so a newer
        // task of a pod than its annotation names (a relaunch recorded
        // just before the framework died, or whose annotation write
        // failed) is heard and taken as the pod's before the explicit
        // answer for the older task, which the master no longer has
        // (TASK_GONE, "unknown to the agent") and which would fail the
        // pod. It is asked even when no pod names a task: a task launched
        // for a pod whose Binding never landed is known to Mesos alone.
        out.push(Action::Reconcile { tasks: Vec::new() });
        let marker = self.reconcile_gate.close(now);
        if !tasks.is_empty() {
            out.push(Action::Reconcile { tasks });
            let backoff = self.config.reconcile_retry;
            self.reconcile_round = Some(ReconcileRound {
                started: now,
                asked,
                next: now + backoff,
                backoff,
            });
        }
        // Last: its answer says the ones above are all in (`reconcile_gate`).
        out.push(Action::Reconcile {
            tasks: vec![(marker, None)],
        });
        self.next_reconcile = Some(now + self.config.reconcile_interval);
    }

    /// Placement may go on: offers are wanted again, and the REVIVE that
    /// asks for them clears the long filters of those declined meanwhile.
    fn reconciled(&mut self, now: Instant) {
        if self.has_pending_work() {
            self.revive_wanted = true;
            self.place_soon(now);
        }
    }

    /// The marker of the reconciliation had no answer in time: asked
    /// again, or given up on (see `reconcile_gate`).
    fn ask_reconcile_marker_again(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.reconcile_gate.due(now) {
            reconcile_gate::Due::Nothing => {}
            reconcile_gate::Due::AskAgain(marker) => out.push(Action::Reconcile {
                tasks: vec![(marker, None)],
            }),
            reconcile_gate::Due::GaveUp => {
                warn!(
                    waited = ?reconcile_gate::GIVE_UP_AFTER,
                    "Mesos did not finish answering the reconciliation (agents still re-registering?); placing anyway"
                );
                self.reconciled(now);
            }
        }
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

    /// Asks Mesos about tasks whose ACCEPT failed while subscribed and that
    /// no update has spoken of since: into the explicit reconciliation in
    /// progress, or a new one, retried as it is until each task has an
    /// answer. Without a subscription nothing is asked: SUBSCRIBED asks
    /// about every live task.
    fn reconcile_unconfirmed(&mut self, tasks: &[TaskId], now: Instant, out: &mut Vec<Action>) {
        if !self.connected || !self.synced {
            return;
        }
        let unconfirmed: HashSet<&str> = tasks.iter().map(|t| t.value.as_str()).collect();
        let mut uids: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, e)| {
                matches!(&e.state, PodState::Task(t)
                    if t.state.is_none() && unconfirmed.contains(t.task_id.value.as_str()))
            })
            .map(|(uid, _)| uid.clone())
            .collect();
        if uids.is_empty() {
            return;
        }
        uids.sort();
        warn!(
            tasks = uids.len(),
            "an ACCEPT failed; asking Mesos whether its tasks were launched"
        );
        self.metrics.reconciliations += 1;
        out.push(Action::Reconcile {
            tasks: self.reconcile_tasks(&uids),
        });
        match self.reconcile_round.as_mut() {
            Some(round) => {
                round.asked.extend(uids);
                round.asked.sort();
                round.asked.dedup();
            }
            None => {
                let backoff = self.config.reconcile_retry;
                self.reconcile_round = Some(ReconcileRound {
                    started: now,
                    asked: uids,
                    next: now + backoff,
                    backoff,
                });
            }
        }
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
                .timed_pods()
                .any(|(_, e)| matches!(e.state, PodState::Relaunch { .. }))
    }

    /// The pods of `timed` that still exist (some may have left the timed
    /// states since; callers match on the state).
    fn timed_pods(&self) -> impl Iterator<Item = (&String, &PodEntry)> {
        #[cfg(debug_assertions)]
        for (uid, e) in &self.pods {
            debug_assert!(
                !is_timed(e) || self.timed.contains(uid),
                "pod {uid} entered a timed state without being added to `timed`"
            );
        }
        self.timed
            .iter()
            .filter_map(|uid| self.pods.get_key_value(uid))
            .map(|(uid, e)| (uid, &**e))
    }

    fn on_offers(&mut self, offers: Vec<Offer>, now: Instant, out: &mut Vec<Action>) {
        self.metrics.offers_received += offers.len() as u64;
        for o in &offers {
            if self.agent_hosts.get(&o.agent_id.value) != Some(&o.hostname) {
                self.agent_hosts
                    .insert(o.agent_id.value.clone(), o.hostname.clone());
            }
        }
        if offers.is_empty() {
            return;
        }
        let pending = self.has_pending_work();
        let busy = self.is_busy(now);
        // Offers that come while placement waits (for the pod list, or for
        // Mesos to finish telling its tasks) are declined with the long
        // filter, and no REVIVE is sent until the wait ends: the REVIVE at
        // its end brings them back. With a short filter, a master would
        // offer every agent again at each allocation — 5,000 offers a
        // second for the seconds a large pod list takes to load.
        if self.placement_waits() || (!pending && !busy) || self.framework_id.is_none() {
            self.decline(
                offers.iter().map(|o| o.id.clone()).collect(),
                self.config.refuse_seconds,
                out,
            );
            return;
        }
        // Busy without a pod to place: hold them for the batching window,
        // in case pods arrive (they are placed at once).
        let deadline = now + self.config.batch_window;
        self.held.extend(
            offers
                .into_iter()
                .map(|offer| HeldOffer { offer, deadline }),
        );
        self.reset_batch_deadline();
        if pending {
            // New resources: every pod may try again now, and soon.
            self.queue.flush_backoff();
            self.revive_wanted = false;
            self.place_soon(now);
        }
    }

    /// The batching window ends when the first held offer is due.
    fn reset_batch_deadline(&mut self) {
        self.batch_deadline = self.held.iter().map(|h| h.deadline).min();
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
        let window_over = self.batch_deadline.is_some_and(|d| d <= now);
        let round_due = self.place_at.is_some_and(|d| d <= now);
        if round_due && !window_over && self.bindings_backlogged() {
            // The API server has not caught up with the Bindings of the
            // last rounds: the next waits for it, or for the window's end.
            self.place_at = None;
            self.round_after_binds = true;
        } else if window_over || round_due {
            self.batch_deadline = None;
            self.place_at = None;
            self.round_after_binds = false;
            self.place(now, window_over, out);
        }
        // Ready pods and no offer for a batching window: perhaps nothing is
        // free, which only a preemption changes. A round without offers
        // lets the pods that may preempt do so. Whether any may is checked
        // at most once per window (it costs a pass over the pods).
        if self.held.is_empty() && self.connected && self.synced && self.queue.has_ready(now) {
            let window = self.config.batch_window;
            match self.dry_at {
                Some(at) if at <= now => self.place(now, false, out),
                Some(_) => {}
                None if self.dry_checked.is_none_or(|t| now >= t + window) => {
                    self.dry_checked = Some(now);
                    let lowest = self.lowest_live_priority();
                    if self.queue.max_priority().is_some_and(|p| p > lowest) {
                        self.dry_at = Some(now + window);
                    }
                }
                None => {}
            }
        } else {
            self.dry_at = None;
        }
        let pods = &self.pods;
        self.evicting.retain(|uid| {
            pods.get(uid)
                .is_some_and(|e| matches!(&e.state, PodState::Task(t) if t.is_live()))
        });
        let queue = &self.queue;
        self.nominated.retain(|uid, _| queue.contains(uid));
        let pods = &self.pods;
        self.timed
            .retain(|uid| pods.get(uid).is_some_and(|e| is_timed(e)));
        // Relaunch deadlines.
        let expired: Vec<String> = self
            .timed_pods()
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
            .timed_pods()
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
            self.ask_reconcile_marker_again(now, out);
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
        if self
            .last_arrival
            .is_some_and(|t| now >= t + self.config.idle_grace)
        {
            self.last_arrival = None;
        }
        if self.suppressed && self.queue.has_ready(now) {
            // A pod's back-off ended while suppressed: it asks for offers
            // again, like kube-scheduler retrying it (1 s doubling to 60 s).
            self.revive_wanted = true;
        }
        if self.has_pending_work() {
            // New work and no offer in hand: REVIVE, which also makes the
            // master allocate at once instead of at its next interval
            // (rate-limited: at most one per `revive_min_interval`).
            let needed = self.suppressed || self.filters_active || self.held.is_empty();
            if needed && self.revive_wanted && !self.placement_waits() {
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
                    return;
                }
            } else if !needed {
                self.revive_wanted = false;
            }
        } else {
            self.revive_wanted = false;
        }
        if !self.suppressed && !self.is_busy(now) {
            // Idle: give back what is held with the long filter, SUPPRESS.
            if !self.held.is_empty() {
                let ids = std::mem::take(&mut self.held)
                    .into_iter()
                    .map(|h| h.offer.id)
                    .collect();
                self.batch_deadline = None;
                self.place_at = None;
                self.decline(ids, self.config.refuse_seconds, out);
            }
            self.suppressed = true;
            self.metrics.suppresses += 1;
            out.push(Action::Suppress {
                roles,
                idle: self.synced,
            });
        }
    }

    /// Per agent ID, whether the current executor runs (or is being
    /// launched) there. One pass over the pods, not one per agent.
    fn live_executors(&self) -> HashSet<&str> {
        let mut live: HashSet<&str> = HashSet::new();
        for e in self.pods.values() {
            let PodState::Task(t) = &e.state else {
                continue;
            };
            let Some(agent) = t.agent_id.as_ref().filter(|_| t.is_live()) else {
                continue;
            };
            if t.executor_id.as_ref() == Some(&self.executor_id) {
                live.insert(agent.value.as_str());
            }
        }
        live
    }

    /// The cluster as this round sees it (`placement::snapshot`): the Ready
    /// Nodes of Mesos agents (by annotation, or a hostname seen in offers)
    /// and the pods whose tasks are live, on the Node they are bound to or
    /// the agent they were launched on. Borrowed, so a round costs one pass
    /// over the pods and no copies.
    fn snapshot(&self) -> Snapshot<'_> {
        let offered: HashSet<&str> = self.agent_hosts.values().map(String::as_str).collect();
        let mut snap = Snapshot::new();
        let mut names: Vec<&String> = self
            .nodes
            .iter()
            .filter(|(name, n)| {
                (n.agent_id.is_some() && n.ready) || offered.contains(name.as_str())
            })
            .map(|(name, _)| name)
            .collect();
        names.sort();
        for name in names {
            snap.add_node(name, self.placement_facts(name));
        }
        snap.set_budgets(self.budgets.all());
        for e in self.pods.values() {
            let PodState::Task(t) = &e.state else {
                continue;
            };
            if !t.is_live() {
                continue;
            }
            let host = node_name(&e.pod).or_else(|| {
                t.agent_id
                    .as_ref()
                    .and_then(|a| self.agent_hosts.get(&a.value))
                    .map(String::as_str)
            });
            if let Some(host) = host {
                snap.add_pod(
                    host,
                    PodInfo {
                        pod: e.pod.view(),
                        requests: Cow::Borrowed(&e.requests),
                        evicting: e.pod.uid().is_some_and(|u| self.evicting.contains(u))
                            || terminating_by_preemption(&e.pod),
                    },
                );
            }
        }
        snap
    }

    /// Carry out a preemption: evict the victims (once each) with a
    /// `Preempted` event, as kube-scheduler does, and nominate the pod for
    /// the node.
    fn preempt(&mut self, uid: &str, pre: &placement::Preemption, out: &mut Vec<Action>) {
        let Some(entry) = self.pods.get(uid) else {
            return;
        };
        let preemptor = pod_ref(&entry.pod);
        let scheduler = entry
            .pod
            .scheduler_name()
            .unwrap_or("default-scheduler")
            .to_owned();
        info!(pod = %format!("{}/{}", preemptor.namespace, preemptor.name), node = %pre.node, victims = pre.victims.len(), "preempting");
        for v in &pre.victims {
            if !self.evicting.insert(v.uid.clone()) {
                continue;
            }
            let victim = PodRef {
                namespace: v.namespace.clone(),
                name: v.name.clone(),
                uid: v.uid.clone(),
            };
            out.push(Action::EvictPod {
                pod: victim.clone(),
                message: format!("{scheduler}: preempting to accommodate a higher priority pod"),
            });
            out.push(Action::RecordEvent {
                pod: victim,
                type_: EventType::Normal,
                reason: "Preempted".to_owned(),
                message: format!("Preempted by pod {} on node {}", preemptor.uid, pre.node),
            });
        }
        if self.nominated.get(uid) != Some(&pre.node) {
            self.nominated.insert(uid.to_owned(), pre.node.clone());
            out.push(Action::NominatePod {
                pod: preemptor,
                node_name: pre.node.clone(),
            });
        }
    }

    /// The lowest `spec.priority` of the pods whose tasks are live
    /// (`i32::MAX` without any).
    fn lowest_live_priority(&self) -> i32 {
        self.pods
            .values()
            .filter(|e| matches!(&e.state, PodState::Task(t) if t.is_live()))
            .map(|e| e.pod.priority().unwrap_or(0))
            .min()
            .unwrap_or(i32::MAX)
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
        if ReconcileGate::is_marker(&status) {
            if self.reconcile_gate.observe(&status) {
                debug!("Mesos told every task it knows of; placing");
                self.reconciled(now);
            }
            return;
        }
        if !self.synced {
            // Its pod may not be known yet. Acknowledged now, the update
            // would be gone for good (Mesos forgets a task whose terminal
            // update is acknowledged): a pod whose executor died just
            // before a framework restart, relaunched or failed as its
            // policy says when the update is handled with its pod, would
            // be failed NodeLost on the TASK_GONE of the reconciliation.
            self.early_updates.push(status);
            return;
        }
        self.kills.observe(&status);
        let first = out.len();
        self.handle_status(&status, now, out);
        // What the update decided about its pod that only the pod keeps.
        let after_write_of = out[first..].iter().rev().find_map(|a| match a {
            Action::SetPodTask { pod, .. } | Action::FailPod { pod, .. } => Some(pod.clone()),
            _ => None,
        });
        // A task of an outdated executor changed (whichever path of
        // `handle_status` recorded it): its pod may be asked to move now
        // rather than at the next pass.
        let executor = pod_uid_from_task_id(&status.task_id).and_then(|uid| {
            match &self.pods.get(uid)?.state {
                PodState::Task(t) => t.executor_id.clone(),
                _ => None,
            }
        });
        if self.note_executor(executor.as_ref()) {
            self.retire_scan_at = None;
        }
        if let (Some(uuid), Some(agent_id)) = (status.uuid.as_ref(), status.agent_id.as_ref()) {
            if !uuid.is_empty() {
                out.push(Action::Acknowledge {
                    agent_id: agent_id.clone(),
                    task_id: status.task_id.clone(),
                    uuid: uuid.clone(),
                    after_write_of,
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
        let on_pods_node = match &entry.state {
            PodState::Task(track) => {
                on_pods_node(&self.agent_hosts, &self.nodes, &entry.pod, track, status)
            }
            _ => false,
        };
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
            // A newer task of the pod than the one we track, active: a
            // relaunch whose annotation the pod did not get (the framework
            // restarted in between). It is the pod's task. A newer
            // generation is only ever launched once the older one is known
            // terminal, so whatever claims the older one lives is stale
            // (e.g. an agent back from a partition that still lists it):
            // it is killed, as any older generation that claims to run.
            // An older one Mesos cannot reach is left alone (a KILL would
            // not reach it either) and killed should it come back.
            // Anything else about another task of the pod is stale.
            let newer = task_generation(&status.task_id) > task_generation(&track.task_id);
            if newer && matches!(outcome, TaskOutcome::Active { .. }) && on_pods_node {
                info!(pod = %uid, task = %status.task_id.value, was = %track.task_id.value, "a newer task of the pod runs; tracking it");
                let older_claims_to_run =
                    track.is_live() && track.state.is_some() && track.waiting.is_none();
                if older_claims_to_run && !track.kill_sent {
                    warn!(pod = %uid, task = %track.task_id.value, newer = %status.task_id.value, "an older task of the pod claims to run beside a newer one; killing it");
                    self.metrics.kills += 1;
                    out.extend(self.kills.kill(
                        track.task_id.clone(),
                        track.agent_id.clone(),
                        None,
                        self.connected,
                    ));
                }
                track.task_id = status.task_id.clone();
                track.executor_id = status.executor_id.clone().or(track.executor_id.take());
                track.agent_id = status.agent_id.clone().or(track.agent_id.take());
                track.state = None;
                track.kill_sent = false;
                track.intent = None;
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
                if newer && matches!(outcome, TaskOutcome::Active { .. }) {
                    info!(pod = %uid, task = %status.task_id.value, tracked = %track.task_id.value, "a newer task of the pod runs off the pod's node: a launch whose Binding never landed");
                }
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
                    // A relaunch that runs is done: should its executor
                    // die later, the pod gets a new relaunch with a time
                    // of its own, not this one's long-passed deadline.
                    track.relaunch_deadline = None;
                    if let Some(agent) = &track.agent_id {
                        self.relaunch_backoff
                            .running(&agent.value, track.launched_at, now);
                    }
                }
                let deleting = entry.deleted || entry.pod.deletion_timestamp().is_some();
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
                self.timed.insert(uid.clone());
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
                let deleting = entry.deleted || entry.pod.deletion_timestamp().is_some();
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
                // Every failure on the agent feeds its relaunch back-off; a
                // launch that was not tried only holds it briefly.
                let not_tried = task_status::launch_not_tried(status);
                let pause = (!agent_id.value.is_empty()).then(|| {
                    if not_tried {
                        self.relaunch_backoff
                            .hold(&agent_id.value, DROPPED_LAUNCH_HOLD, now)
                    } else {
                        self.relaunch_backoff
                            .failed(&agent_id.value, track.launched_at, now)
                    }
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
                    // The deadline is how long the pod may wait for its
                    // node, so it starts once the framework's own pause
                    // ends: a back-off longer than the deadline failed
                    // pods whose node was fine. A relaunch that keeps
                    // failing keeps its first deadline (a node that cannot
                    // run it fails it in time), unless Mesos dropped it:
                    // that launch was never tried.
                    let fresh = now + pause + relaunch_deadline_cfg;
                    let deadline = match track.relaunch_deadline {
                        Some(d) if not_tried => d.max(fresh),
                        Some(d) => d,
                        None => fresh,
                    };
                    if deadline > now {
                        info!(pod = %uid, agent = %agent_id.value, %message, reason, back_off = %go_duration(pause), "task failed; relaunching on the same agent after a back-off");
                        let what =
                            if track.ever_running && reason == task_status::REASON_EXECUTOR_LOST {
                                "its executor was lost"
                            } else {
                                "its launch failed"
                            };
                        out.push(back_off_event(&entry.pod, &agent_id, pause, what, &message));
                        out.push(relaunch_recorded(
                            &entry.pod,
                            &track.task_id,
                            reason,
                            &message,
                        ));
                        let bind_pending = matches!(track.bind, BindState::Pending);
                        if !self.relaunch_backoff.waiting(&agent_id.value, now) {
                            self.revive_wanted = true;
                        }
                        self.timed.insert(uid.clone());
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
        out.push(relaunch_recorded(
            &entry.pod,
            &track.task_id,
            task_status::REASON_HANDOVER,
            &message,
        ));
        self.timed.insert(uid.to_owned());
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
    /// A task runs (or ran) on `executor`: if it is not the current one,
    /// the next pass for outdated executors has work. Whether it is not.
    fn note_executor(&mut self, executor: Option<&ExecutorId>) -> bool {
        let outdated = executor.is_some_and(|e| *e != self.executor_id);
        self.maybe_outdated |= outdated;
        outdated
    }

    fn retire_old_executors(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.config.retire_old_executors {
            return;
        }
        // A pass over every pod: at most once per RETIRE_SCAN_EVERY, not
        // once per input (10,000 status updates made it quadratic), with
        // a tick owed for a skipped one.
        if !self.maybe_outdated {
            return;
        }
        if self.retire_scan_at.is_some_and(|at| now < at) {
            self.retire_scan_owed = true;
            return;
        }
        self.retire_scan_at = Some(now + RETIRE_SCAN_EVERY);
        self.retire_scan_owed = false;
        let current = self.executor_id.clone();
        let mut asks = Vec::new();
        let mut any_outdated = false;
        for (uid, entry) in self.pods.iter_mut() {
            let deleting = is_deleting(entry);
            let PodState::Task(t) = &mut entry.state else {
                continue;
            };
            let outdated = t.executor_id.as_ref().is_some_and(|e| *e != current);
            any_outdated |= outdated && t.is_live();
            let running = t.state == Some(TaskState::TaskRunning) && t.waiting.is_none();
            if !outdated || !running || deleting || t.kill_sent || !t.handover.due(now) {
                continue;
            }
            let (Some(agent), Some(executor)) = (t.agent_id.clone(), t.executor_id.clone()) else {
                continue;
            };
            t.handover = Handover::Asked(now);
            self.timed.insert(uid.clone());
            asks.push((agent, executor, t.task_id.clone()));
        }
        self.maybe_outdated = any_outdated;
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
        // A relaunch an earlier framework process scheduled for this task
        // (it ended before, and Mesos has since forgotten it): resumed,
        // unless the agent is gone for good.
        if let (Some(intent), Some(agent_id), false) = (
            track.intent.as_deref().cloned(),
            track.agent_id.clone().filter(|a| !a.value.is_empty()),
            agent == AgentStanding::Removed,
        ) {
            info!(pod = %uid, agent = %agent_id.value, reason = intent.reason, %message, "the pod's task was to be relaunched; resuming the relaunch");
            let bind_pending = matches!(track.bind, BindState::Pending);
            self.timed.insert(uid.to_owned());
            entry.state = PodState::Relaunch {
                agent_id,
                deadline: now + relaunch_deadline_cfg,
                reason: intent.reason,
                message: intent.message,
                bind_pending,
            };
            self.revive_wanted = true;
            return;
        }
        self.metrics.pods_lost += 1;
        let fate = task_status::lost_pod_fate(
            agent,
            entry.pod.controller_uid().is_some(),
            track.ever_running,
        );
        let agent_id = track.agent_id.clone();
        if fate == LostPodFate::Relaunch {
            // Lost before it ran: whatever happened to the launch (an
            // ACCEPT that died with its master, an agent restarted before
            // the executor had the task), its node never tried to run it,
            // so the pod gets its time again.
            let fresh = now + relaunch_deadline_cfg;
            let deadline = track.relaunch_deadline.map_or(fresh, |d| d.max(fresh));
            if let Some(agent_id) = agent_id
                .clone()
                .filter(|a| !a.value.is_empty() && deadline > now)
            {
                info!(pod = %uid, agent = %agent_id.value, %message, "pod lost before it ran; relaunching it on its node");
                out.push(relaunch_recorded(
                    &entry.pod,
                    &track.task_id,
                    task_status::REASON_NODE_LOST,
                    &message,
                ));
                let bind_pending = matches!(track.bind, BindState::Pending);
                self.timed.insert(uid.to_owned());
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
        let Some(owner) = self.pods.get(uid).and_then(|e| e.pod.controller_uid()) else {
            return Vec::new();
        };
        let mut out: Vec<String> = self
            .pods
            .iter()
            .filter(|(other, e)| {
                other.as_str() != uid
                    && !is_deleting(e)
                    && e.pod.controller_uid() == Some(owner)
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
            intent: None,
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
        if requeue && entry.pod.deletion_timestamp().is_none() {
            self.requeue_after_failed_bind(uid, now);
            self.revive_wanted = true;
            return;
        }
        entry.state = PodState::Done;
    }

    /// Back to the queue after a failed Binding, held for kube-scheduler's
    /// pod back-off of its failures in a row (`pod_initial_backoff`
    /// doubling, here capped at [`BIND_RETRY_MAX`]) whatever room appears:
    /// without it the pod is launched and killed once per offer round while
    /// the API server is away, each time as a new task generation.
    fn requeue_after_failed_bind(&mut self, uid: &str, now: Instant) {
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        entry.state = PodState::Queued { last_event: None };
        let wait = self
            .queue
            .backoff_for(entry.bind_failures)
            .min(BIND_RETRY_MAX);
        self.queue.upsert(uid, entry.pod.view(), now);
        self.queue.hold(uid, now + wait);
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
        self.awaiting_binds.remove(uid);
        if self.round_after_binds && !self.bindings_backlogged() {
            self.round_after_binds = false;
            self.place_soon(now);
        }
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        if let PodState::Relaunch { bind_pending, .. } = &mut entry.state {
            // The launch already failed; no task is live.
            match result {
                BindOutcome::Bound => {
                    *bind_pending = false;
                    entry.bind_failures = 0;
                }
                BindOutcome::Conflict => entry.state = PodState::Done,
                BindOutcome::Failed(_) => {
                    entry.bind_failures += 1;
                    self.requeue_after_failed_bind(uid, now);
                }
            }
            return;
        }
        let PodState::Task(track) = &mut entry.state else {
            return;
        };
        match result {
            BindOutcome::Bound => {
                track.bind = BindState::Bound;
                entry.bind_failures = 0;
                entry.slim_if_settled();
            }
            BindOutcome::Conflict | BindOutcome::Failed(_) => {
                entry.bind_failures += 1;
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
fn back_off_event(
    pod: &impl PodRead,
    agent_id: &AgentId,
    pause: Duration,
    what: &str,
    why: &str,
) -> Action {
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

/// Records on the pod that its task `replaced` is to be relaunched, so that
/// a restarted framework resumes the relaunch (see [`relaunch_intent`]).
fn relaunch_recorded(pod: &impl PodRead, replaced: &TaskId, reason: &str, message: &str) -> Action {
    Action::SetPodTask {
        pod: pod_ref(pod),
        annotations: relaunch_intent::annotations(replaced, reason, message),
    }
}

/// The pod's task is back: `NodeReachable=True` and a Normal event.
fn recovered(pod: &impl PodRead, message: &str, out: &mut Vec<Action>) {
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

/// Whether a pod may preempt one of priority `lowest` (kube-scheduler's
/// eligibility: a higher priority, and not `preemptionPolicy: Never`).
fn may_preempt(pod: &impl PodRead, lowest: i32) -> bool {
    pod.preemption_policy() != Some("Never") && pod.priority().unwrap_or(0) > lowest
}

/// kube-scheduler's `podTerminatingByPreemption`: deleted, with the
/// `DisruptionTarget` condition a preemption sets.
fn terminating_by_preemption(pod: &impl PodRead) -> bool {
    pod.deletion_timestamp().is_some()
        && pod.conditions().iter().any(|c| {
            c.type_ == "DisruptionTarget"
                && c.status == "True"
                && c.reason.as_deref() == Some("PreemptionByScheduler")
        })
}

fn fail_pod(pod: &StoredPod, reason: &str, message: &str, out: &mut Vec<Action>) {
    let pref = pod_ref(pod);
    warn!(pod = %format!("{}/{}", pref.namespace, pref.name), reason, message, "failing pod");
    out.push(Action::FailPod {
        pod: pref.clone(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_known: Box::new(pod.whole()),
    });
    out.push(Action::RecordEvent {
        pod: pref,
        type_: EventType::Warning,
        reason: reason.to_owned(),
        message: message.to_owned(),
    });
}

/// The pod as it reads after the framework's annotate-then-bind: its
/// `spec.nodeName` set to the Node it is bound to and the placement
/// annotations added — what the kubelet's downward API reads
/// (`fieldRef: spec.nodeName`, `metadata.annotations`).
fn bound_pod(mut bound: Pod, node_name: &str, annotations: &BTreeMap<String, String>) -> Pod {
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
        label(
            kube_mesos_node::annotations::LABEL_POD_NAMESPACE,
            &pref.namespace,
        ),
        label(kube_mesos_node::annotations::LABEL_POD_NAME, &pref.name),
        label(kube_mesos_node::annotations::LABEL_POD_UID, &pref.uid),
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
