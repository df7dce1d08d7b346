//! The in-process link between the devcluster master and its agents.
//!
//! Real Mesos masters and agents talk libprocess messages over the network
//! (`RegisterSlaveMessage`, `RunTaskGroupMessage`, `StatusUpdateMessage`,
//! `KillTaskMessage`, ...). The devcluster runs master and agents in one
//! process, so they talk through these channels instead. The variants mirror
//! those messages one to one, so that each side keeps the semantics of its real
//! counterpart: the master owns offers, frameworks and the task table; the
//! agent owns executors, their sandboxes and the status update manager.
//!
//! An agent holds a [`MasterLink`] and registers with [`AgentMessage::Register`],
//! handing the master the sending half of its own inbox. Every later message
//! names the agent, so the master never needs to guess which link spoke. A
//! dropped inbox is how the master learns that an agent went away without
//! saying so (crash or in-process restart).

use kube_mesos_proto::v1::{
    AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, Resource,
    Task, TaskId, TaskInfo, TaskStatus,
};
use tokio::sync::{mpsc, oneshot};

/// The sending half an agent uses to talk to the master.
pub type MasterLink = mpsc::UnboundedSender<AgentMessage>;

/// The sending half the master uses to talk to one agent.
pub type AgentInbox = mpsc::UnboundedSender<MasterMessage>;

/// A message from an agent to the master.
#[derive(Debug)]
pub enum AgentMessage {
    /// First registration (`info.id` unset) or re-registration after an agent
    /// restart, a master restart or a partition (`info.id` set). A
    /// re-registering agent reports everything it still runs, as
    /// `ReregisterSlaveMessage` does, so the master can rebuild its task
    /// table after its own restart.
    Register {
        /// Hostname, port, attributes, domain, and `resources` = the agent's total.
        info: AgentInfo,
        /// Executors still running on the agent (recovered from checkpoints).
        executors: Vec<ExecutorInfo>,
        /// Tasks still known to the agent, each with its latest state.
        tasks: Vec<Task>,
        /// Frameworks those executors and tasks belong to.
        frameworks: Vec<FrameworkInfo>,
        /// Where the master sends this agent's instructions.
        inbox: AgentInbox,
        /// The agent's ID (newly assigned or confirmed), or why registration was refused.
        reply: oneshot::Sender<Result<AgentId, String>>,
    },
    /// A task status update from the agent's status update manager. The
    /// master forwards it to the scheduler and, when the scheduler
    /// acknowledges its uuid, answers [`MasterMessage::StatusUpdateAcknowledged`].
    StatusUpdate {
        agent_id: AgentId,
        framework_id: FrameworkId,
        status: TaskStatus,
    },
    /// An executor exited or never registered in time. `status` is the wait
    /// status when the process exited, `None` when it was never started.
    ExecutorExited {
        agent_id: AgentId,
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        status: Option<i32>,
    },
    /// Resources the agent no longer uses (an executor's own resources once it
    /// is gone). Informational: the master already freed them, by executor
    /// ID, on [`AgentMessage::ExecutorExited`]; this only prompts an
    /// allocation round.
    ResourcesRecovered {
        agent_id: AgentId,
        framework_id: FrameworkId,
        resources: Vec<Resource>,
    },
    /// A message from an executor to its scheduler (scheduler Event MESSAGE).
    FrameworkMessage {
        agent_id: AgentId,
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    },
    /// The agent is shutting down on purpose (not a crash).
    Unregister { agent_id: AgentId },
}

/// A message from the master to one agent.
// RunTasks is large, but each message is sent once through an unbounded
// channel; boxing it would only complicate both sides' pattern matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum MasterMessage {
    /// Launch tasks on the framework's executor, starting the executor first
    /// if it is not running (LAUNCH and LAUNCH_GROUP; `group` for the latter).
    RunTasks {
        framework: FrameworkInfo,
        executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
        group: bool,
    },
    /// Kill a task; the kill policy overrides the task's own when set.
    KillTask {
        framework_id: FrameworkId,
        task_id: TaskId,
        kill_policy: Option<KillPolicy>,
    },
    /// Shut one executor down (scheduler SHUTDOWN call).
    ShutdownExecutor {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
    },
    /// The framework was torn down or removed: shut its executors down.
    ShutdownFramework { framework_id: FrameworkId },
    /// The framework (re)subscribed (`UpdateFrameworkMessage`, sent by
    /// `Master::sendFrameworkUpdates` on every SUBSCRIBE): the agent takes
    /// its new info and resends its pending status updates at once, as
    /// `Slave::updateFramework` does, instead of waiting for their retry
    /// timers (up to 10 minutes) — until then the terminal updates of a
    /// dead executor stay unacknowledged and the agent drops launches on
    /// its executor ID ("Executor terminated").
    UpdateFramework { framework: FrameworkInfo },
    /// The scheduler acknowledged this update; the agent's status update
    /// manager may send the next one and tells the executor (ACKNOWLEDGED).
    StatusUpdateAcknowledged {
        framework_id: FrameworkId,
        task_id: TaskId,
        uuid: Vec<u8>,
    },
    /// A scheduler MESSAGE for an executor.
    FrameworkMessage {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    },
    /// The master removed this agent (operator action or health check
    /// failure): the agent must kill its tasks and stop, as a real agent
    /// does on `ShutdownMessage`.
    Shutdown { message: String },
}
