//! The scheduler core: every scheduling decision of the framework, as a pure
//! state machine.
//!
//! The framework's shell (`run.rs`) owns all I/O: the Kubernetes watches and
//! writes, the Mesos scheduler connection and the timers. It turns what it
//! sees into [`Input`]s, calls [`SchedulerCore::handle`] and performs the
//! returned [`Action`]s *in order*. The core never reads a clock (time comes
//! in with every call), never sleeps and never does I/O, so every rule below
//! is tested with plain values (STYLE.md 1–2).
//!
//! What the core owns:
//! - the pod queue (priority, then age; per-pod backoff) — [`crate::queue`];
//! - offers held during the batching window, and when to place, accept and
//!   decline them;
//! - placement of queued pods on the held offers — [`crate::placement`];
//! - the pods it launched: their tasks, relaunch of bound pods whose launch
//!   failed (after a per-agent back-off, `relaunch_backoff`), kills on
//!   deletion, and the mapping of task updates to pod status —
//!   [`crate::task_status`];
//! - the executors it believes run on each agent — [`crate::executor_info`] —
//!   and the retirement of executors of an older configuration, whose
//!   pods are handed over to the current one — [`generations`];
//! - offer etiquette: SUPPRESS when idle, rate-limited REVIVE, refuse filters;
//! - reconciliation after every SUBSCRIBED and periodically;
//! - which calls still matter after a lost subscription: KILLs are kept
//!   until answered and sent again on SUBSCRIBED; the table per call type is
//!   in `kills`.
//!
//! Contract with the shell:
//! - feed [`Input::PodUpserted`] for every pod the watches see (pending pods
//!   of our scheduler names, and bound pods carrying our annotations), then
//!   [`Input::PodsSynced`] once the initial list is complete. Until then the
//!   core neither places pods nor kills tasks it cannot attribute, and keeps
//!   task updates (unacknowledged) for the list, because a pod it has not
//!   seen yet may own them;
//! - perform actions in the order given: an `Accept` always comes before the
//!   `Bind` of the pods it launches, and an `Acknowledge` after the actions
//!   its update caused;
//! - call [`SchedulerCore::handle`] with [`Input::Tick`] at
//!   [`SchedulerCore::next_deadline`] (or earlier: ticks are idempotent).

pub mod generations;
pub mod kept;
mod kills;
pub mod maintenance;
pub mod reconcile_gate;
mod relaunch_backoff;
pub mod relaunch_intent;
mod state;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube_mesos_proto::v1::{
    offer, AgentId, ExecutorId, ExecutorInfo, Filters, FrameworkId, KillPolicy, Offer, OfferId,
    TaskId, TaskStatus,
};

use crate::executor_info::ExecutorConfig;
use crate::placement::PlacementPolicy;

pub use state::{SchedulerCore, REASON_BACK_OFF};

/// The monotonic clock type of the core. It is tokio's, so the shell's
/// paused-time tests drive the core with the same instants as its timers.
pub type Instant = tokio::time::Instant;

pub use kube_mesos_node::annotations::{
    ANNOTATION_AGENT_ID, ANNOTATION_EXECUTOR_ID, ANNOTATION_EXECUTOR_RESOURCES,
    ANNOTATION_FRAMEWORK_ID, ANNOTATION_ROLE, ANNOTATION_TASK_ID,
};

/// The Mesos task ID of generation `generation` of a pod: `pod.<uid>`,
/// then `pod.<uid>.<n>` for its n-th relaunch (see [`kube_mesos_node::task`]).
pub fn task_id_for_pod(uid: &str, generation: u32) -> TaskId {
    TaskId {
        value: kube_mesos_node::task::task_id(uid, generation),
    }
}

/// The pod UID named by one of our task IDs, or `None` for a task ID that is
/// not ours.
pub fn pod_uid_from_task_id(task_id: &TaskId) -> Option<&str> {
    kube_mesos_node::task::parse(&task_id.value).map(|(uid, _)| uid)
}

/// The generation of one of our task IDs (0 for a task ID not ours).
pub fn task_generation(task_id: &TaskId) -> u32 {
    kube_mesos_node::task::parse(&task_id.value).map_or(0, |(_, g)| g)
}

/// An executor the master lists: on which agent, launched with what.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningExecutor {
    /// The agent it runs on.
    pub agent_id: AgentId,
    /// Its `ExecutorInfo` as the master holds it.
    pub info: ExecutorInfo,
}

/// Everything the core is configured with. The shell builds it from its
/// `FrameworkConfig`; tests build it directly.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// `spec.schedulerName`s whose pods we schedule. Default `["kube-mesos"]`;
    /// add `default-scheduler` when the framework replaces kube-scheduler.
    pub scheduler_names: Vec<String>,
    /// The Mesos roles the framework subscribes with (MULTI_ROLE). The first
    /// is the default role of a pod. Default `["*"]`.
    pub roles: Vec<String>,
    /// Default Mesos role per namespace (overridden by the pod annotation
    /// `kube-mesos.io/role`).
    pub namespace_roles: BTreeMap<String, String>,
    /// How agents are scored. Default [`PlacementPolicy::Binpack`].
    pub placement_policy: PlacementPolicy,
    /// How long offers are held to batch placements. Default 1 s: the good
    /// neighbour rule says never longer.
    pub batch_window: Duration,
    /// Refuse filter for offers we cannot use at all. Default 120 s.
    pub refuse_seconds: f64,
    /// Refuse filter while busy (pods arriving, or pending pods that might
    /// fit once resources free up on that agent). Default 0 s: what is left
    /// comes back with the master's next allocation.
    pub busy_refuse_seconds: f64,
    /// How long after the last pod arrived the framework stays busy before
    /// it declines with the long filter and SUPPRESSes. Default 2 s: a
    /// steady stream of pods keeps offers flowing, an idle framework holds
    /// nothing and asks for nothing.
    pub idle_grace: Duration,
    /// Delay between a pod meeting an offer in hand (or offers meeting
    /// ready pods) and its placement, so that pods arriving together share
    /// a round. Default 20 ms. Offers are still answered at the latest at
    /// the end of the batching window.
    pub placement_delay: Duration,
    /// Most pods one placement round considers. Default 1,000. A round's
    /// LAUNCHes, Bindings and events are all built before any is sent, so
    /// thousands of pods arriving together would wait for one long round
    /// and the framework would hold every launch of it (the pod's JSON, its
    /// resources, its executor) at once; past the cap the round keeps the
    /// offers it did not use and the next one follows at once.
    pub max_round_pods: usize,
    /// Minimum time between two REVIVE calls. Default 250 ms: a new pod
    /// that finds no offer in hand REVIVEs (Mesos then allocates at once)
    /// at most four times a second, whatever the rate of pods. What an
    /// ACCEPT leaves over goes back to the master, which offers it again
    /// only at its next allocation (Mesos' allocator does not allocate on
    /// recovered resources; its interval is 1 s), so on one agent the pods
    /// arriving after an ACCEPT wait for the next REVIVE: at 250 ms instead
    /// of 1 s the churn bench's p99 there fell from 0.89 to 0.40 s (Apache
    /// Mesos). A REVIVE offers again only what no framework holds; since
    /// rounds keep their unused offers while pods arrive (see `place`) that
    /// is little on a large pool — before, with 5,000 agents and pods
    /// arriving steadily, each REVIVE at 250 ms offered the whole pool
    /// again and the devcluster's master fell behind.
    pub revive_min_interval: Duration,
    /// First per-pod backoff after a failed placement attempt (kube-scheduler
    /// `podInitialBackoffSeconds`). Default 1 s.
    pub pod_initial_backoff: Duration,
    /// Backoff cap (kube-scheduler `podMaxBackoffSeconds`). Default 60 s.
    pub pod_max_backoff: Duration,
    /// How long a bound pod whose launch failed may wait for a relaunch on
    /// its agent before it is failed. Default 5 min.
    pub relaunch_deadline: Duration,
    /// First pause of relaunches on an agent after a launch there failed
    /// (the executor failed, or Mesos dropped or refused the task). Default
    /// 10 s, the kubelet's first CrashLoopBackOff step; a Warning `BackOff`
    /// event on the pod says why.
    pub relaunch_backoff_initial: Duration,
    /// The pause doubles per failure up to this. Default 5 min (the
    /// kubelet's cap).
    pub relaunch_backoff_max: Duration,
    /// The pause starts over once a task launched after the last failure
    /// has run this long. Default 10 min (the kubelet's reset).
    pub relaunch_backoff_reset: Duration,
    /// How long a pod waits for a task Mesos reports TASK_UNREACHABLE or
    /// TASK_UNKNOWN before the pod is lost (failed `NodeLost` or relaunched,
    /// see [`crate::task_status::lost_pod_fate`]). Default 5 min, like the
    /// node lifecycle controller's eviction timeout and Kubernetes' default
    /// toleration of `node.kubernetes.io/unreachable` (300 s).
    pub unreachable_timeout: Duration,
    /// Period of implicit reconciliation. Default 5 min.
    pub reconcile_interval: Duration,
    /// First retry of an explicit reconciliation that left tasks without an
    /// answer (the master drops them while their agent has not re-registered)
    /// or unknown; doubles up to `reconcile_interval`, as
    /// `docs/reconciliation.md` recommends. Default 5 s.
    pub reconcile_retry: Duration,
    /// What the executor is and how it is started.
    pub executor: ExecutorConfig,
    /// Move running pods off executors of an older configuration (another
    /// executor ID) onto the current one, as [`generations`] describes.
    /// Default true: an upgrade retires the old executors; pods that cannot
    /// move (process runtime) stay on them until they end.
    pub retire_old_executors: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            scheduler_names: vec!["kube-mesos".to_owned()],
            roles: vec!["*".to_owned()],
            namespace_roles: BTreeMap::new(),
            placement_policy: PlacementPolicy::Binpack,
            batch_window: Duration::from_secs(1),
            refuse_seconds: 120.0,
            busy_refuse_seconds: 0.0,
            idle_grace: Duration::from_secs(2),
            placement_delay: Duration::from_millis(20),
            max_round_pods: 1_000,
            revive_min_interval: Duration::from_millis(250),
            pod_initial_backoff: Duration::from_secs(1),
            pod_max_backoff: Duration::from_secs(60),
            relaunch_deadline: Duration::from_secs(300),
            relaunch_backoff_initial: Duration::from_secs(10),
            relaunch_backoff_max: Duration::from_secs(300),
            relaunch_backoff_reset: Duration::from_secs(600),
            unreachable_timeout: Duration::from_secs(300),
            reconcile_interval: Duration::from_secs(300),
            reconcile_retry: Duration::from_secs(5),
            executor: ExecutorConfig::default(),
            retire_old_executors: true,
        }
    }
}

/// Something the shell observed.
#[derive(Clone, Debug)]
pub enum Input {
    /// A pod was added or changed (watch event or initial list).
    PodUpserted(Box<Pod>),
    /// A pod is gone from the API server.
    PodDeleted(Box<Pod>),
    /// The answer to an [`Action::FetchPod`]: the pod as the API server has
    /// it.
    PodFetched(Box<Pod>),
    /// The pod watch finished its initial list: the core now knows every pod
    /// that may own one of our tasks.
    PodsSynced,
    /// A Node was added or changed (labels, taints, `spec.unschedulable`).
    NodeUpserted(Box<Node>),
    /// A Node was deleted (by name).
    NodeDeleted(String),
    /// A PodDisruptionBudget was added or changed (its status holds the
    /// disruptions it allows now): preemption prefers victims that violate
    /// no budget.
    BudgetUpserted(Box<PodDisruptionBudget>),
    /// A PodDisruptionBudget was deleted.
    BudgetDeleted {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// SUBSCRIBED: the framework is (re)connected with this ID.
    Subscribed {
        /// The framework ID Mesos confirmed.
        framework_id: FrameworkId,
    },
    /// The subscription is lost; held offers are void.
    Disconnected,
    /// OFFERS.
    Offers(Vec<Offer>),
    /// RESCIND of one offer.
    Rescinded(OfferId),
    /// UPDATE with a task status.
    TaskUpdate(Box<TaskStatus>),
    /// FAILURE of an executor.
    ExecutorFailure {
        /// The agent it ran on.
        agent_id: AgentId,
        /// The executor.
        executor_id: ExecutorId,
        /// Its exit status, when Mesos knows it.
        status: Option<i32>,
    },
    /// The executors the master has now (operator API SUBSCRIBED,
    /// `get_executors`). Ours among them say exactly what a later launch on
    /// their agent must repeat as its `ExecutorInfo`: unlike the pod
    /// annotations a restarted framework otherwise goes by, which may
    /// describe an executor that died since (an executor replaced after a
    /// kill gets other resources, e.g. another port).
    ExecutorsRunning(Vec<RunningExecutor>),
    /// The agent is removed (operator API AGENT_REMOVED, or FAILURE without
    /// an executor).
    AgentRemoved(AgentId),
    /// The agent is unreachable (partitioned); its tasks may come back.
    AgentUnreachable(AgentId),
    /// The outcome of a [`Action::Bind`] or [`Action::Annotate`].
    BindResult {
        /// The pod's UID.
        pod_uid: String,
        /// What the API server said.
        result: BindOutcome,
    },
    /// An ACCEPT that launched these tasks failed while the subscription
    /// stayed up (a timeout, a 5xx): the master may or may not have taken
    /// it. The core asks Mesos about them (an explicit reconciliation,
    /// retried until answered); a task the master never saw comes back
    /// TASK_GONE and its pod is launched again, instead of waiting bound
    /// and Pending for an update that never comes.
    LaunchUnconfirmed(Vec<TaskId>),
    /// Time passed; run whatever is due.
    Tick,
}

/// Result of binding a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindOutcome {
    /// Annotations patched and Binding created.
    Bound,
    /// 409: the pod is bound elsewhere (or gone and recreated). Its task is
    /// killed.
    Conflict,
    /// Any other failure (the message is logged); the task is killed and the
    /// pod goes back to the queue.
    Failed(String),
}

/// Kubernetes event type (the contract's: the executor writes the same).
pub use kube_mesos_node::events::EventType;

/// Identifies a pod for the actions that write to it. Writes carry the UID
/// as a precondition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
}

/// Something the shell must do, in the order returned.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// ACCEPT the offers (all of one agent) with these operations (one
    /// LAUNCH per pod). Unused resources are refused for `filters`.
    Accept {
        /// The offers, all of one agent.
        offer_ids: Vec<OfferId>,
        /// LAUNCH operations.
        operations: Vec<offer::Operation>,
        /// Refuse filter for what is left.
        filters: Filters,
    },
    /// DECLINE the offers.
    Decline {
        /// The offers.
        offer_ids: Vec<OfferId>,
        /// Refuse filter.
        filters: Filters,
    },
    /// SUPPRESS offers for these roles.
    Suppress {
        /// Roles (all configured roles).
        roles: Vec<String>,
        /// The queue is empty with the pod list in: the framework is idle
        /// until the next REVIVE. Not so for the SUPPRESS right after
        /// subscribing, before the pod list (its queue is empty because
        /// nothing is known yet, and the list is decoded next).
        idle: bool,
    },
    /// REVIVE offers for these roles.
    Revive {
        /// Roles (all configured roles).
        roles: Vec<String>,
    },
    /// KILL a task.
    Kill {
        /// The task.
        task_id: TaskId,
        /// Its agent, when known.
        agent_id: Option<AgentId>,
        /// Grace period override (the pod's deletion grace period).
        kill_policy: Option<KillPolicy>,
    },
    /// ACKNOWLEDGE a status update.
    Acknowledge {
        /// The agent.
        agent_id: AgentId,
        /// The task.
        task_id: TaskId,
        /// The update's uuid.
        uuid: Vec<u8>,
        /// The update led to a write to this pod, returned before: the
        /// acknowledgement waits for it. Once acknowledged, Mesos forgets
        /// the update (and, for a terminal one, the task); a framework
        /// killed before the write landed would find the pod naming a task
        /// the master answers TASK_GONE for, without the relaunch it had
        /// decided. Unacknowledged, the update comes again to the next
        /// framework process.
        after_write_of: Option<PodRef>,
    },
    /// RECONCILE these tasks; empty = implicit reconciliation.
    Reconcile {
        /// Tasks and their agents.
        tasks: Vec<(TaskId, Option<AgentId>)>,
    },
    /// Patch the pod's annotations, then POST its Binding to `node_name`.
    /// Report the outcome with [`Input::BindResult`].
    Bind {
        /// The pod.
        pod: PodRef,
        /// Target Node (the agent's hostname).
        node_name: String,
        /// Annotations to merge into `metadata.annotations`.
        annotations: BTreeMap<String, String>,
    },
    /// Patch the annotations of a pod whose `spec.nodeName` was preset (no
    /// Binding: it is bound already). Report with [`Input::BindResult`].
    Annotate {
        /// The pod.
        pod: PodRef,
        /// Annotations to merge into `metadata.annotations`.
        annotations: BTreeMap<String, String>,
    },
    /// Set the pod condition `PodScheduled=False`, reason `Unschedulable`.
    SetPodUnschedulable {
        /// The pod.
        pod: PodRef,
        /// kube-scheduler's fit error text.
        message: String,
    },
    /// Set one pod condition (a strategic merge by `type`, so the
    /// executor's conditions stay).
    SetPodCondition {
        /// The pod.
        pod: PodRef,
        /// `type`, e.g. [`crate::task_status::CONDITION_NODE_REACHABLE`].
        type_: String,
        /// `status`: `True` or `False`.
        status: bool,
        /// `reason`.
        reason: String,
        /// `message`.
        message: String,
    },
    /// Undo a [`Action::FailPod`]: the task the pod was failed for is back.
    /// Writes `phase`, clears `reason` and `message` and sets the
    /// `NodeReachable` condition back to `True`.
    RecoverPod {
        /// The pod.
        pod: PodRef,
        /// `status.phase` from the task's state (`Running` or `Pending`).
        phase: String,
        /// The condition's message.
        message: String,
    },
    /// Fail the pod: `status.phase` `Failed` with reason and message, and
    /// the rest of its status made consistent with it as the kubelet keeps
    /// it (`Ready` and `ContainersReady` false, every container that was
    /// not terminated terminated with the same reason and message; see
    /// `kube::binder::failed_patch`).
    FailPod {
        /// The pod.
        pod: PodRef,
        /// `status.reason`.
        reason: String,
        /// `status.message`.
        message: String,
        /// The pod as last seen: its containers and their statuses.
        last_known: Box<Pod>,
    },
    /// GET the pod and report it with [`Input::PodFetched`]: it is to be
    /// launched again, and the core stored it slim while its task ran. A
    /// failure is logged; the core asks again on a later round.
    FetchPod {
        /// The pod.
        pod: PodRef,
    },
    /// The pod's task changed (a relaunch): patch its annotations so that
    /// a restarted framework finds the new task. The pod is bound already,
    /// so nothing waits for the outcome; a failure is logged, and a newer
    /// task of a pod is taken for its task anyway when Mesos reports it.
    SetPodTask {
        /// The pod.
        pod: PodRef,
        /// Annotations to merge into `metadata.annotations`.
        annotations: BTreeMap<String, String>,
    },
    /// MESSAGE to an executor (a framework message; Mesos delivers it at
    /// most once).
    SendMessage {
        /// The executor's agent.
        agent_id: AgentId,
        /// The executor.
        executor_id: ExecutorId,
        /// The message.
        data: Vec<u8>,
    },
    /// Evict a pod for a preemption, as kube-scheduler does: set its
    /// `DisruptionTarget` condition (reason `PreemptionByScheduler`, this
    /// message), then DELETE it (its own grace period, UID precondition).
    /// The deletion then kills its task gracefully like any other.
    EvictPod {
        /// The victim.
        pod: PodRef,
        /// The condition's message.
        message: String,
    },
    /// Set the pod's `status.nominatedNodeName` (a preemption made room for
    /// it there).
    NominatePod {
        /// The preemptor.
        pod: PodRef,
        /// The Node.
        node_name: String,
    },
    /// Record a core/v1 Event on the pod.
    RecordEvent {
        /// The pod (involvedObject).
        pod: PodRef,
        /// Normal or Warning.
        type_: EventType,
        /// `Scheduled`, `FailedScheduling`, ...
        reason: String,
        /// Human text.
        message: String,
    },
}

/// Counters and gauges for the shell to export. Counters only grow.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CoreMetrics {
    /// Pods waiting for placement (including those in backoff).
    pub queue_len: usize,
    /// Bound pods waiting for a relaunch on their agent.
    pub relaunch_pending: usize,
    /// Whether offers are suppressed now.
    pub suppressed: bool,
    /// Offers received.
    pub offers_received: u64,
    /// Offers accepted (used by at least one LAUNCH).
    pub offers_used: u64,
    /// Offers declined.
    pub offers_declined: u64,
    /// Offers rescinded by the master.
    pub offers_rescinded: u64,
    /// REVIVE calls.
    pub revives: u64,
    /// SUPPRESS calls.
    pub suppresses: u64,
    /// RECONCILE calls (explicit and implicit).
    pub reconciliations: u64,
    /// Pods placed (tasks launched, relaunches included).
    pub placements: u64,
    /// Placement attempts that left a pod unschedulable.
    pub unschedulable_attempts: u64,
    /// Tasks killed.
    pub kills: u64,
    /// KILLs not answered with a terminal status yet (sent again on every
    /// SUBSCRIBED).
    pub kills_pending: usize,
    /// Pods waiting for a task Mesos reports unreachable or unknown.
    pub tasks_waiting: usize,
    /// Pods lost with their node (failed `NodeLost` or relaunched).
    pub pods_lost: u64,
    /// Tasks that came back after their pod waited or was lost.
    pub tasks_recovered: u64,
    /// Pods handed over from an executor of an older configuration.
    pub handovers: u64,
    /// Live pods per agent and executor (the current one and older
    /// generations still running pods).
    pub executor_generations: BTreeMap<String, generations::AgentGenerations>,
}
