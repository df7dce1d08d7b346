//! What a Mesos task status means for its pod: the task-state policy.
//!
//! The executor is the pod's kubelet: while it lives it writes the pod's
//! status itself, including the terminal phase (a pod that ran to
//! completion, failed, or was killed for deletion). The framework writes a
//! pod's status only when nobody else can: the task never reached the
//! executor, or the executor or its agent died. This module decides which
//! case a status update is, as a pure function of the update. Each state is
//! taken for what Mesos promises about it (`include/mesos/v1/mesos.proto`,
//! `docs/task-state-reasons.md`, `src/master/master.cpp`), never for more:
//!
//! | state | source | what Mesos promises | meaning for the pod |
//! |---|---|---|---|
//! | STAGING, STARTING, RUNNING, KILLING | any | the task is active | active; a waiting pod resumes (no restart, no kill) |
//! | UNREACHABLE | master | the agent is partitioned and may come back | **waiting**: phase kept, condition and event `NodeUnreachable` |
//! | UNKNOWN | master | the master has no knowledge of the task; it may or may not run (master failover before the agent re-registered) | **waiting**: phase kept, condition and event `NodeUnknown` |
//! | FINISHED, FAILED, KILLED | executor | the executor reported it (and wrote the pod) | nothing to write |
//! | FINISHED labelled `kube-mesos.io/handover=released` | executor | an outdated executor let go of the pod, whose containers run on | **handed over**: relaunched on the current executor |
//! | KILLED | master/agent | killed before the executor had it | launch failed, retryable |
//! | FAILED | master/agent | the executor died (`REASON_EXECUTOR_TERMINATED`, ...) or never started (`REASON_CONTAINER_LAUNCH_FAILED`, ...) | `ExecutorLost`: relaunched on its agent as the pod's next task (the new executor takes over what survived), failed at the relaunch deadline |
//! | ERROR | any | the task was invalid (e.g. stale offer) | retryable, `LaunchFailed` |
//! | DROPPED | any | never launched (`REASON_INVALID_OFFERS`, agent gone during launch, `REASON_EXECUTOR_TERMINATED`: the executor of that ID still going away) | retryable after a short hold, not a failure of the agent (see [`launch_not_tried`]), `LaunchFailed` at the deadline |
//! | GONE | master | the agent is registered and does not have the task | **lost** |
//! | GONE_BY_OPERATOR | master | the operator marked the agent gone; it will not come back | **lost** (failed) |
//! | LOST | master/agent | terminal (the master sends it to frameworks that are not partition aware) | **lost** |
//!
//! A **waiting** pod keeps its phase until its task reappears (it resumes)
//! or `unreachable_timeout` passes; only then, or on a state that means
//! gone, is the pod **lost**: failed `NodeLost` (a controller that owns it
//! replaces it), or relaunched on its node if it never ran
//! ([`lost_pod_fate`]).
//! "Retryable" means: a bound pod that never ran is relaunched on the same
//! agent (its `nodeName` is final) until a deadline. A pod whose executor
//! died is relaunched that way whether it ran or not, and so is a failed
//! relaunch (`docs/task-states.md`, "When the executor dies").

use kube_mesos_node::handover;
use kube_mesos_node::relaunch::Reason;
use kube_mesos_proto::v1::{task_status, TaskState, TaskStatus};

/// Pod `status.reason` when the agent (node) is lost.
pub const REASON_NODE_LOST: &str = Reason::NodeLost.as_str();
/// Pod `status.reason` when the executor (our kubelet) died under the pod.
pub const REASON_EXECUTOR_LOST: &str = Reason::ExecutorLost.as_str();
/// Pod `status.reason` when the task could not be launched.
pub const REASON_LAUNCH_FAILED: &str = Reason::LaunchFailed.as_str();
/// Relaunch reason of a pod handed over by an outdated executor (and its
/// `status.reason` should the relaunch fail).
pub const REASON_HANDOVER: &str = Reason::Handover.as_str();

/// Pod condition type the framework owns: whether Mesos can vouch for the
/// pod's task. `False` while the pod waits on an unreachable or unknown
/// task. A condition of its own (not `Ready`) so that the executor, which
/// owns `Ready` and may well be running the pod, never fights over it.
pub const CONDITION_NODE_REACHABLE: &str = "kube-mesos.io/NodeReachable";
/// Condition reason and event reason: the task's agent is partitioned.
pub const REASON_NODE_UNREACHABLE: &str = "NodeUnreachable";
/// Condition reason and event reason: the master does not know the task.
pub const REASON_NODE_UNKNOWN: &str = "NodeUnknown";
/// Condition reason and event reason: a waiting or lost pod's task is back.
pub const REASON_TASK_RECOVERED: &str = "TaskRecovered";

/// Why a pod waits for its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCause {
    /// TASK_UNREACHABLE: the agent is partitioned.
    Unreachable,
    /// TASK_UNKNOWN: the master does not know the task (yet).
    Unknown,
}

impl WaitCause {
    /// The condition and event reason.
    pub fn reason(self) -> &'static str {
        match self {
            WaitCause::Unreachable => REASON_NODE_UNREACHABLE,
            WaitCause::Unknown => REASON_NODE_UNKNOWN,
        }
    }
}

/// The meaning of one status update for its pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The task is staging, starting, running or being killed.
    Active {
        /// `TASK_RUNNING` (or later active states): the pod has run.
        running: bool,
    },
    /// The task may still run but Mesos cannot say so: the pod waits.
    Waiting {
        /// Unreachable or unknown.
        cause: WaitCause,
        /// What Mesos said, for the condition and event.
        message: String,
    },
    /// The task is gone with its agent or from it (LOST, GONE,
    /// GONE_BY_OPERATOR): the pod is lost, see [`lost_pod_fate`].
    Gone {
        /// What Mesos said, for the pod's status message.
        message: String,
        /// Where the task's agent stands.
        agent: AgentStanding,
    },
    /// Terminal and reported by the executor, which wrote the pod's status.
    ReportedByExecutor,
    /// `TASK_FINISHED` from an executor of an older configuration that let
    /// go of the pod for a newer one ([`kube_mesos_node::handover`]): the
    /// pod runs on and is relaunched on the current executor.
    HandedOver {
        /// What the executor said.
        message: String,
    },
    /// Terminal and not reported by the executor: the framework must act.
    NotReported {
        /// Pod `status.reason` to use if the pod is failed.
        reason: &'static str,
        /// Pod `status.message` to use if the pod is failed.
        message: String,
        /// Whether a pod that never ran may be relaunched.
        retryable: bool,
    },
}

/// A one-line account of a status update: `Mesos reported STATE (REASON
/// from SOURCE): message`.
pub fn describe(status: &TaskStatus) -> String {
    let state = TaskState::try_from(status.state)
        .map(|s| s.as_str_name())
        .unwrap_or("TASK_?");
    let mut out = format!("Mesos reported {state}");
    let reason = status
        .reason
        .and_then(|r| task_status::Reason::try_from(r).ok())
        .map(|r| r.as_str_name());
    let source = status
        .source
        .and_then(|s| task_status::Source::try_from(s).ok())
        .map(|s| s.as_str_name());
    match (reason, source) {
        (Some(r), Some(s)) => out.push_str(&format!(" ({r} from {s})")),
        (Some(r), None) => out.push_str(&format!(" ({r})")),
        (None, Some(s)) => out.push_str(&format!(" (from {s})")),
        (None, None) => {}
    }
    if let Some(m) = status.message.as_deref().filter(|m| !m.is_empty()) {
        out.push_str(": ");
        out.push_str(m);
    }
    out
}

/// Classify a status update (see the module docs for the table).
pub fn classify(status: &TaskStatus) -> TaskOutcome {
    use TaskState::*;
    let from_executor = status.source == Some(task_status::Source::Executor as i32);
    let Ok(state) = TaskState::try_from(status.state) else {
        return TaskOutcome::Active { running: false };
    };
    let not_reported = |reason: &'static str, retryable: bool| TaskOutcome::NotReported {
        reason,
        message: describe(status),
        retryable,
    };
    let waiting = |cause| TaskOutcome::Waiting {
        cause,
        message: describe(status),
    };
    match state {
        TaskFinished if from_executor && handover_answer(status) == Some(handover::RELEASED) => {
            TaskOutcome::HandedOver {
                message: describe(status),
            }
        }
        TaskStaging | TaskStarting => TaskOutcome::Active { running: false },
        TaskRunning | TaskKilling => TaskOutcome::Active { running: true },
        TaskUnreachable => waiting(WaitCause::Unreachable),
        TaskUnknown => waiting(WaitCause::Unknown),
        TaskFinished | TaskFailed | TaskKilled if from_executor => TaskOutcome::ReportedByExecutor,
        // A FINISHED from elsewhere is not something Mesos sends; if it
        // does, the executor is the only one that knows: leave the pod.
        TaskFinished => TaskOutcome::ReportedByExecutor,
        TaskKilled => not_reported(REASON_LAUNCH_FAILED, true),
        TaskFailed => not_reported(REASON_EXECUTOR_LOST, true),
        TaskError | TaskDropped => not_reported(REASON_LAUNCH_FAILED, true),
        TaskLost | TaskGone => TaskOutcome::Gone {
            message: describe(status),
            agent: AgentStanding::Registered,
        },
        TaskGoneByOperator => TaskOutcome::Gone {
            message: describe(status),
            agent: AgentStanding::Removed,
        },
    }
}

/// TASK_DROPPED: "the task failed to launch because of a transient error.
/// The task's executor never started running. ... attempting to launch the
/// task again may be successful" (mesos.proto). The launch was not tried:
/// the offer was stale (a master failover), the agent went away during the
/// launch, or the agent still tore down the executor of that ID — it keeps
/// a dead executor until its tasks' terminal updates are acknowledged
/// (`Slave::__run`: "Executor terminated"), which a relaunch right after a
/// framework restart runs into. None of it says the agent cannot run pods.
pub fn launch_not_tried(status: &TaskStatus) -> bool {
    status.state == TaskState::TaskDropped as i32
}

/// An executor's answer to a release request, from the update's labels
/// (see [`kube_mesos_node::handover`]).
pub fn handover_answer(status: &TaskStatus) -> Option<&str> {
    status
        .labels
        .as_ref()?
        .labels
        .iter()
        .find(|l| l.key == handover::LABEL)?
        .value
        .as_deref()
}

/// Whether a task state is terminal, as Mesos' `protobuf::isTerminalState`
/// says: UNREACHABLE and UNKNOWN are not (the task may still run).
pub fn is_terminal(state: i32) -> bool {
    use TaskState::*;
    matches!(
        TaskState::try_from(state),
        Ok(TaskFinished
            | TaskFailed
            | TaskKilled
            | TaskError
            | TaskLost
            | TaskDropped
            | TaskGone
            | TaskGoneByOperator)
    )
}

/// Where the agent of a lost task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStanding {
    /// It answered for the task (GONE: registered without it; LOST).
    Registered,
    /// The task stayed unreachable or unknown past the timeout: the agent
    /// is away and may or may not come back.
    Away,
    /// The operator marked it gone (GONE_BY_OPERATOR): it never comes back.
    Removed,
}

/// What becomes of a pod whose task is lost with its node (a state that
/// means gone, or a wait that timed out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostPodFate {
    /// Failed `NodeLost`. A controller that owns the pod replaces it.
    Fail,
    /// Relaunched on its node (its `nodeName` is final) should the agent
    /// offer resources before the relaunch deadline.
    Relaunch,
}

/// The fate of a lost pod, from what Mesos and Kubernetes say about it:
/// - its agent will not come back (GONE_BY_OPERATOR): failed;
/// - it ran: failed, whatever its restartPolicy. A lost task's processes
///   may outlive what Mesos knows of it (TASK_GONE after an agent dropped a
///   task whose executor was still stopping it), and a kubelet never runs a
///   second incarnation of a pod beside the first; its restartPolicy
///   restarts containers inside a live pod, it does not resurrect a pod;
/// - its agent is away and a controller owns it: failed, so that the
///   controller replaces it on a node that works instead of it waiting for
///   this one;
/// - otherwise (it never ran, and its agent is there or a bare pod waits
///   for it) relaunched on its node.
pub fn lost_pod_fate(agent: AgentStanding, has_controller: bool, ran: bool) -> LostPodFate {
    match agent {
        AgentStanding::Removed => LostPodFate::Fail,
        _ if ran => LostPodFate::Fail,
        AgentStanding::Away if has_controller => LostPodFate::Fail,
        AgentStanding::Registered | AgentStanding::Away => LostPodFate::Relaunch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::TaskId;
    use task_status::{Reason, Source};

    fn st(state: TaskState, source: Source, reason: Option<Reason>) -> TaskStatus {
        TaskStatus {
            task_id: TaskId {
                value: "pod.u".into(),
            },
            state: state as i32,
            source: Some(source as i32),
            reason: reason.map(|r| r as i32),
            message: Some("boom".into()),
            ..Default::default()
        }
    }

    #[test]
    fn active_states() {
        assert_eq!(
            classify(&st(TaskState::TaskStaging, Source::Master, None)),
            TaskOutcome::Active { running: false }
        );
        assert_eq!(
            classify(&st(TaskState::TaskRunning, Source::Executor, None)),
            TaskOutcome::Active { running: true }
        );
        assert_eq!(
            classify(&st(
                TaskState::TaskRunning,
                Source::Master,
                Some(Reason::AgentReregistered)
            )),
            TaskOutcome::Active { running: true }
        );
    }

    #[test]
    fn unreachable_and_unknown_wait_instead_of_failing() {
        assert_eq!(
            classify(&st(
                TaskState::TaskUnreachable,
                Source::Master,
                Some(Reason::AgentRemoved)
            )),
            TaskOutcome::Waiting {
                cause: WaitCause::Unreachable,
                message: "Mesos reported TASK_UNREACHABLE (REASON_AGENT_REMOVED from SOURCE_MASTER): boom".into(),
            }
        );
        // What a master answers for a task on an agent it does not know
        // (master failover with the in-memory registry).
        let unknown = classify(&st(
            TaskState::TaskUnknown,
            Source::Master,
            Some(Reason::Reconciliation),
        ));
        assert!(matches!(
            unknown,
            TaskOutcome::Waiting {
                cause: WaitCause::Unknown,
                ..
            }
        ));
        assert_eq!(WaitCause::Unknown.reason(), "NodeUnknown");
        assert_eq!(WaitCause::Unreachable.reason(), "NodeUnreachable");
    }

    #[test]
    fn executor_reports_are_left_to_the_executor() {
        for s in [
            TaskState::TaskFinished,
            TaskState::TaskFailed,
            TaskState::TaskKilled,
        ] {
            assert_eq!(
                classify(&st(s, Source::Executor, None)),
                TaskOutcome::ReportedByExecutor,
                "{s:?}"
            );
        }
    }

    #[test]
    fn gone_states_lose_the_pod() {
        for (state, standing) in [
            (TaskState::TaskGone, AgentStanding::Registered),
            (TaskState::TaskLost, AgentStanding::Registered),
            (TaskState::TaskGoneByOperator, AgentStanding::Removed),
        ] {
            let o = classify(&st(state, Source::Master, Some(Reason::Reconciliation)));
            assert!(
                matches!(o, TaskOutcome::Gone { agent, .. } if agent == standing),
                "{state:?}: {o:?}"
            );
        }
    }

    #[test]
    fn a_launch_not_tried_is_told_apart_from_a_failed_one() {
        for dropped in [
            st(
                TaskState::TaskDropped,
                Source::Agent,
                Some(Reason::ExecutorTerminated),
            ),
            st(
                TaskState::TaskDropped,
                Source::Master,
                Some(Reason::InvalidOffers),
            ),
        ] {
            assert!(launch_not_tried(&dropped), "{dropped:?}");
        }
        for tried in [
            st(
                TaskState::TaskFailed,
                Source::Agent,
                Some(Reason::ExecutorTerminated),
            ),
            st(
                TaskState::TaskFailed,
                Source::Agent,
                Some(Reason::ContainerLaunchFailed),
            ),
            st(
                TaskState::TaskError,
                Source::Master,
                Some(Reason::TaskInvalid),
            ),
        ] {
            assert!(!launch_not_tried(&tried), "{tried:?}");
        }
    }

    #[test]
    fn unreported_terminal_states() {
        let o = classify(&st(
            TaskState::TaskFailed,
            Source::Agent,
            Some(Reason::ExecutorTerminated),
        ));
        assert_eq!(
            o,
            TaskOutcome::NotReported {
                reason: REASON_EXECUTOR_LOST,
                message: "Mesos reported TASK_FAILED (REASON_EXECUTOR_TERMINATED from SOURCE_AGENT): boom".into(),
                retryable: true
            }
        );
        let o = classify(&st(
            TaskState::TaskDropped,
            Source::Master,
            Some(Reason::InvalidOffers),
        ));
        assert!(matches!(
            o,
            TaskOutcome::NotReported {
                reason: REASON_LAUNCH_FAILED,
                retryable: true,
                ..
            }
        ));
        let o = classify(&st(
            TaskState::TaskError,
            Source::Master,
            Some(Reason::TaskInvalid),
        ));
        assert!(matches!(
            o,
            TaskOutcome::NotReported {
                reason: REASON_LAUNCH_FAILED,
                ..
            }
        ));
        let o = classify(&st(
            TaskState::TaskKilled,
            Source::Master,
            Some(Reason::TaskKilledDuringLaunch),
        ));
        assert!(matches!(
            o,
            TaskOutcome::NotReported {
                reason: REASON_LAUNCH_FAILED,
                ..
            }
        ));
    }

    #[test]
    fn terminal_states_are_mesos_terminal_states() {
        assert!(is_terminal(TaskState::TaskGone as i32));
        assert!(is_terminal(TaskState::TaskDropped as i32));
        assert!(!is_terminal(TaskState::TaskUnreachable as i32));
        assert!(!is_terminal(TaskState::TaskUnknown as i32));
        assert!(!is_terminal(TaskState::TaskKilling as i32));
    }

    #[test]
    fn lost_pods_fail_unless_they_never_ran_and_may_be_relaunched() {
        use AgentStanding::*;
        use LostPodFate::*;
        // (agent, controller, ran) -> fate
        let cases = [
            ((Removed, false, false), Fail),
            ((Registered, false, true), Fail),
            ((Away, false, true), Fail),
            ((Away, true, false), Fail),
            ((Away, false, false), Relaunch),
            ((Registered, true, false), Relaunch),
            ((Registered, false, false), Relaunch),
        ];
        for ((agent, owned, ran), fate) in cases {
            assert_eq!(
                lost_pod_fate(agent, owned, ran),
                fate,
                "{agent:?} {owned} {ran}"
            );
        }
    }
}
