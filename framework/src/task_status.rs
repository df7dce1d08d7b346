//! What a Mesos task status means for its pod.
//!
//! The executor is the pod's kubelet: while it lives it writes the pod's
//! status itself, including the terminal phase (a pod that ran to
//! completion, failed, or was killed for deletion). The framework writes a
//! pod's status only when nobody else can: the task never reached the
//! executor, or the executor or its agent died. This module decides which
//! case a status update is, as a pure function of the update:
//!
//! | state | source | meaning for the pod |
//! |---|---|---|
//! | STAGING, STARTING, RUNNING, KILLING | any | active; nothing to write |
//! | UNREACHABLE | master | agent partitioned; the pod may come back: nothing yet (the core fails it `NodeLost` after `unreachable_timeout`) |
//! | FINISHED, FAILED, KILLED | executor | the executor reported it (and wrote the pod): nothing to write |
//! | KILLED | master/agent | killed before the executor had it: launch failed, retryable |
//! | FAILED | master/agent | the executor died (`REASON_EXECUTOR_TERMINATED`, ...) or never started (`REASON_CONTAINER_LAUNCH_FAILED`, ...): retryable if the pod never ran, else failed `ExecutorLost` |
//! | ERROR | any | the task was invalid (e.g. stale offer): retryable, `LaunchFailed` |
//! | DROPPED | any | never launched (`REASON_INVALID_OFFERS`, agent gone during launch): retryable, `LaunchFailed` |
//! | LOST, GONE, GONE_BY_OPERATOR, UNKNOWN | master/agent | agent or task lost: retryable if the pod never ran, else failed `NodeLost` |
//!
//! "Retryable" means: a bound pod that never ran is relaunched on the same
//! agent (its `nodeName` is final) until a deadline; one that ran is failed,
//! as the kubelet's pod would be when its node is lost.

use kube_mesos_proto::v1::{task_status, TaskState, TaskStatus};

/// Pod `status.reason` when the agent (node) is lost.
pub const REASON_NODE_LOST: &str = "NodeLost";
/// Pod `status.reason` when the executor (our kubelet) died under the pod.
pub const REASON_EXECUTOR_LOST: &str = "ExecutorLost";
/// Pod `status.reason` when the task could not be launched.
pub const REASON_LAUNCH_FAILED: &str = "LaunchFailed";

/// The meaning of one status update for its pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The task is staging, starting, running or being killed.
    Active {
        /// `TASK_RUNNING` (or later active states): the pod has run.
        running: bool,
    },
    /// The agent is partitioned; the task may come back.
    Unreachable,
    /// Terminal and reported by the executor, which wrote the pod's status.
    ReportedByExecutor,
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

fn describe(status: &TaskStatus) -> String {
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
    match state {
        TaskStaging | TaskStarting => TaskOutcome::Active { running: false },
        TaskRunning | TaskKilling => TaskOutcome::Active { running: true },
        TaskUnreachable => TaskOutcome::Unreachable,
        TaskFinished | TaskFailed | TaskKilled if from_executor => TaskOutcome::ReportedByExecutor,
        // A FINISHED from elsewhere is not something Mesos sends; if it
        // does, the executor is the only one that knows: leave the pod.
        TaskFinished => TaskOutcome::ReportedByExecutor,
        TaskKilled => not_reported(REASON_LAUNCH_FAILED, true),
        TaskFailed => not_reported(REASON_EXECUTOR_LOST, true),
        TaskError | TaskDropped => not_reported(REASON_LAUNCH_FAILED, true),
        TaskLost | TaskGone | TaskGoneByOperator | TaskUnknown => {
            not_reported(REASON_NODE_LOST, true)
        }
    }
}

/// Whether a task state is terminal.
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
            | TaskGoneByOperator
            | TaskUnknown)
    )
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
                TaskState::TaskUnreachable,
                Source::Master,
                Some(Reason::AgentDisconnected)
            )),
            TaskOutcome::Unreachable
        );
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
            TaskState::TaskLost,
            Source::Master,
            Some(Reason::AgentRemoved),
        ));
        assert!(matches!(
            o,
            TaskOutcome::NotReported {
                reason: REASON_NODE_LOST,
                ..
            }
        ));
        let o = classify(&st(TaskState::TaskGone, Source::Master, None));
        assert!(matches!(
            o,
            TaskOutcome::NotReported {
                reason: REASON_NODE_LOST,
                ..
            }
        ));
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
    fn terminal_states() {
        assert!(is_terminal(TaskState::TaskGone as i32));
        assert!(!is_terminal(TaskState::TaskUnreachable as i32));
        assert!(!is_terminal(TaskState::TaskKilling as i32));
    }
}
