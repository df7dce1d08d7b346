//! What the status page shows, as plain serialisable data: the same value
//! is rendered as HTML and served as JSON (`status.json`), so tools and
//! tests read exactly what an operator sees.
//!
//! [`CoreStatus`] is the scheduler core's part (built by
//! `SchedulerCore::status` from its own state); [`Snapshot`] adds what the
//! shell knows (leadership, the recent-events ring, the last offer of each
//! agent).

use serde::Serialize;

use crate::resources::{from_milli, Scalars};

/// Scalar resources in Mesos units (cpus, MB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Amounts {
    /// CPUs.
    pub cpus: f64,
    /// Memory, MB.
    pub mem: f64,
    /// Disk, MB.
    pub disk: f64,
}

impl From<Scalars> for Amounts {
    fn from(s: Scalars) -> Self {
        Amounts {
            cpus: from_milli(s.cpus),
            mem: from_milli(s.mem),
            disk: from_milli(s.disk),
        }
    }
}

/// A pod waiting for placement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PendingPod {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `spec.priority`.
    pub priority: i32,
    /// Failed placement attempts so far.
    pub attempts: u32,
    /// Seconds since it entered the queue.
    pub queued_seconds: f64,
    /// Seconds until its back-off ends (a new offer ends it earlier).
    pub backoff_seconds: Option<f64>,
    /// The message of its last FailedScheduling event.
    pub last_failed_scheduling: Option<String>,
}

/// A bound pod waiting for offers of its agent to be launched again.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RelaunchingPod {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The agent it waits for.
    pub agent_id: String,
    /// Why (`ExecutorLost`, `Handover`, ...).
    pub reason: String,
    /// Mesos' words.
    pub message: String,
}

/// Live pods of one executor (one executor configuration) on an agent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecutorStatus {
    /// `kube-mesos-<config hash>`.
    pub executor_id: String,
    /// Whether it is the current configuration's executor.
    pub current: bool,
    /// Its live pods.
    pub pods: usize,
}

/// One agent (Kubernetes Node) as the core knows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentStatus {
    /// The Node name (the agent's hostname).
    pub node: String,
    /// The Mesos agent ID, when known (from an offer or a task).
    pub agent_id: Option<String>,
    /// Live pods of this framework on it.
    pub pods: usize,
    /// The resources those pods request (kube-scheduler's effective
    /// request; the executors' own share is not counted).
    pub allocated: Amounts,
    /// Resources of the offers held now.
    pub offered_now: Amounts,
    /// Offers held now.
    pub offers_held: usize,
    /// Resources of the last offer received from it and how long ago, in
    /// seconds (filled by the shell; offers are held one batching window
    /// at most, so "now" is mostly empty).
    pub last_offer: Option<(Amounts, f64)>,
    /// The Node is cordoned (`spec.unschedulable`).
    pub cordoned: bool,
    /// The maintenance state (Mesos maintenance → cordon → drain);
    /// `None` is shown as "none".
    pub maintenance: Option<String>,
    /// Executors running this framework's pods there.
    pub executors: Vec<ExecutorStatus>,
}

/// An offer the core holds during its batching window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeldOfferStatus {
    /// The offer ID.
    pub offer_id: String,
    /// Its agent.
    pub agent_id: String,
    /// The agent's hostname.
    pub hostname: String,
    /// What it offers.
    pub resources: Amounts,
    /// Unix seconds at which the agent becomes unavailable (maintenance),
    /// when the offer says so.
    pub unavailable_from: Option<i64>,
}

/// Offer etiquette: whether offers are suppressed and how revives go.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OfferInterest {
    /// SUPPRESS is in force.
    pub suppressed: bool,
    /// A REVIVE waits for its minimum interval.
    pub revive_wanted: bool,
    /// Seconds since the last REVIVE.
    pub last_revive_seconds: Option<f64>,
    /// Offers were declined with a refuse filter since the last REVIVE.
    pub refuse_filters_active: bool,
    /// REVIVE calls so far.
    pub revives: u64,
    /// SUPPRESS calls so far.
    pub suppresses: u64,
    /// Offers received so far.
    pub offers_received: u64,
    /// Offers used by a launch so far.
    pub offers_used: u64,
    /// Offers declined so far.
    pub offers_declined: u64,
}

/// How many pending pods the snapshot lists: a page of 30,000 rows helps
/// nobody, and building it each time the page is published would cost the
/// scheduler's own thread.
pub const PENDING_LISTED: usize = 500;

/// The scheduler core's part of the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CoreStatus {
    /// The framework ID Mesos confirmed, once subscribed.
    pub framework_id: Option<String>,
    /// Subscribed to Mesos now.
    pub connected: bool,
    /// The pod watch finished its initial list.
    pub synced: bool,
    /// The executor ID of the current executor configuration.
    pub current_executor: String,
    /// The first [`PENDING_LISTED`] pods waiting for placement, in queue
    /// order.
    pub pending: Vec<PendingPod>,
    /// How many pods wait for placement in all.
    pub pending_total: usize,
    /// Bound pods waiting to be launched again on their agent.
    pub relaunching: Vec<RelaunchingPod>,
    /// Agents, by Node name.
    pub agents: Vec<AgentStatus>,
    /// Offers held now.
    pub offers: Vec<HeldOfferStatus>,
    /// Suppress/revive state.
    pub offer_interest: OfferInterest,
}

/// One entry of the recent-events ring.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecentEvent {
    /// Wall-clock time (RFC 3339, UTC).
    pub at: String,
    /// `Placed`, `Task` (a status update), `Unschedulable`, `Killed`, ...
    pub kind: String,
    /// `namespace/name` of the pod, when known.
    pub pod: Option<String>,
    /// The Node (agent hostname) or agent ID.
    pub node: Option<String>,
    /// The task ID, for task events.
    pub task_id: Option<String>,
    /// The task state (`TASK_RUNNING`, ...), for task events.
    pub state: Option<String>,
    /// Details: the reason and message.
    pub detail: String,
}

/// This replica.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Replica {
    /// Its leader-election identity.
    pub identity: String,
    /// It holds the leader lease (or runs without election).
    pub leader: bool,
    /// It is subscribed to Mesos.
    pub subscribed: bool,
}

/// Everything the status page shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// This replica and its role.
    pub replica: Replica,
    /// Wall-clock time of the last core step published (RFC 3339), if any.
    pub updated: Option<String>,
    /// The core's state; `None` on a standby.
    pub core: Option<CoreStatus>,
    /// Recent placements and task state changes, newest first.
    pub recent: Vec<RecentEvent>,
}
