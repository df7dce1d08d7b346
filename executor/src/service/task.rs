//! `PodTask`: which Mesos task states a pod's life translates into.
//!
//! Pure: fed the runner's status snapshots and kills, it says which
//! TaskStatus updates to send, each at most once and never after a terminal
//! one (updates are delivered at least once, so handlers must be
//! idempotent, and a terminal state closes the task for Mesos):
//! - accepted → TASK_STARTING;
//! - pod phase Running → TASK_RUNNING;
//! - pod finished after a kill → TASK_KILLED (after TASK_KILLING, sent when
//!   the kill arrives, if the framework has the TASK_KILLING_STATE
//!   capability);
//! - pod finished on its own: Succeeded → TASK_FINISHED, Failed →
//!   TASK_FAILED with the pod's reason as the message;
//! - the framework asks the pod to move to a newer executor
//!   ([`kube_mesos_node::handover`]): a running pod whose containers
//!   outlive this executor is let go, TASK_FINISHED labelled `released`;
//!   one whose containers cannot move is kept, said once with TASK_RUNNING
//!   labelled `kept`.

use k8s_openapi::api::core::v1 as core;
use kube_mesos_proto::v1::task_status::Reason;
use kube_mesos_proto::v1::TaskState;

use crate::runner::pod::worker::PodReport;

/// One update to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskUpdate {
    /// The state.
    pub state: TaskState,
    /// Human-readable message.
    pub message: Option<String>,
    /// Mesos reason.
    pub reason: Option<Reason>,
    /// `TaskStatus.labels`: the handover answer, if it is one.
    pub handover: Option<&'static str>,
}

impl TaskUpdate {
    fn new(state: TaskState, message: impl Into<Option<String>>) -> Self {
        Self {
            state,
            message: message.into(),
            reason: None,
            handover: None,
        }
    }
}

/// The answer to a release request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Let the pod go: its task is over here, its containers run on.
    LetGo,
    /// Keep it (it cannot move, or is not running yet or any more).
    Keep,
}

/// Whether a state is terminal for Mesos.
pub fn is_terminal(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    )
}

/// The task state of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTask {
    sent: Vec<TaskState>,
    killed: bool,
    killing_capable: bool,
    /// That the pod cannot move was said.
    kept_said: bool,
}

impl PodTask {
    /// A pod was accepted: returns the task and its TASK_STARTING.
    pub fn accepted(killing_capable: bool) -> (Self, TaskUpdate) {
        let task = Self {
            sent: vec![TaskState::TaskStarting],
            killed: false,
            killing_capable,
            kept_said: false,
        };
        (task, TaskUpdate::new(TaskState::TaskStarting, None))
    }

    /// The last state sent.
    pub fn state(&self) -> TaskState {
        self.sent.last().copied().unwrap_or(TaskState::TaskStarting)
    }

    /// Whether a terminal state was sent.
    pub fn is_terminal(&self) -> bool {
        is_terminal(self.state())
    }

    /// Whether a kill was asked for.
    pub fn killed(&self) -> bool {
        self.killed
    }

    fn emit(&mut self, update: TaskUpdate) -> Vec<TaskUpdate> {
        if self.is_terminal() || self.sent.contains(&update.state) {
            return Vec::new();
        }
        self.sent.push(update.state);
        vec![update]
    }

    /// KILL (or SHUTDOWN) arrived.
    pub fn on_kill(&mut self) -> Vec<TaskUpdate> {
        if self.is_terminal() {
            return Vec::new();
        }
        self.killed = true;
        if self.killing_capable {
            self.emit(TaskUpdate::new(TaskState::TaskKilling, None))
        } else {
            Vec::new()
        }
    }

    /// The framework asks the pod to move to a newer executor; `movable`:
    /// its containers outlive this executor. Only a running pod that is not
    /// being killed moves; a pod that cannot move says so once.
    pub fn on_release(&mut self, movable: bool) -> (Release, Vec<TaskUpdate>) {
        use kube_mesos_node::handover::{KEPT, RELEASED};
        if self.is_terminal() || self.killed || self.state() != TaskState::TaskRunning {
            return (Release::Keep, Vec::new());
        }
        if movable {
            let mut update = TaskUpdate::new(
                TaskState::TaskFinished,
                Some("handed over to a newer executor; its containers run on".to_string()),
            );
            update.handover = Some(RELEASED);
            self.sent.push(TaskState::TaskFinished);
            return (Release::LetGo, vec![update]);
        }
        if std::mem::replace(&mut self.kept_said, true) {
            return (Release::Keep, Vec::new());
        }
        let mut update = TaskUpdate::new(
            TaskState::TaskRunning,
            Some(
                "the process runtime's containers cannot move to another executor: \
                 the pod stays on this one until it ends"
                    .to_string(),
            ),
        );
        update.handover = Some(KEPT);
        (Release::Keep, vec![update])
    }

    /// A new status snapshot of the pod.
    pub fn on_report(&mut self, report: &PodReport) -> Vec<TaskUpdate> {
        let phase = report.status.phase.as_deref().unwrap_or("Pending");
        if report.finished() {
            if self.killed {
                return self.emit(TaskUpdate::new(
                    TaskState::TaskKilled,
                    Some("pod killed".to_string()),
                ));
            }
            return match phase {
                "Succeeded" => self.emit(TaskUpdate::new(
                    TaskState::TaskFinished,
                    Some("pod succeeded".to_string()),
                )),
                _ => self.emit(TaskUpdate::new(
                    TaskState::TaskFailed,
                    Some(failure_message(&report.status)),
                )),
            };
        }
        if phase == "Running" && !self.killed {
            return self.emit(TaskUpdate::new(TaskState::TaskRunning, None));
        }
        Vec::new()
    }
}

/// Why a pod failed, in one line: the pod's reason and message if it has
/// them, else the first container that failed.
pub fn failure_message(status: &core::PodStatus) -> String {
    let reason = status.reason.clone().filter(|r| !r.is_empty());
    let message = status.message.clone().filter(|m| !m.is_empty());
    match (reason, message) {
        (Some(r), Some(m)) => return format!("{r}: {m}"),
        (Some(r), None) => return r,
        (None, Some(m)) => return m,
        (None, None) => {}
    }
    let failed = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find_map(|c| {
            let t = c.state.as_ref()?.terminated.as_ref()?;
            (t.exit_code != 0).then(|| (c.name.clone(), t.clone()))
        });
    match failed {
        Some((name, t)) => {
            let mut s = format!(
                "container {name:?} terminated: {} (exit code {})",
                t.reason.as_deref().unwrap_or("Error"),
                t.exit_code
            );
            if let Some(m) = t.message.filter(|m| !m.is_empty()) {
                s.push_str(": ");
                s.push_str(m.trim());
            }
            s
        }
        None => "pod failed".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::pod::machine::Stage;

    fn report(phase: &str, stage: Stage) -> PodReport {
        PodReport {
            status: core::PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            },
            stage,
            sandbox_error: None,
            sandbox: None,
        }
    }

    fn states(updates: Vec<TaskUpdate>) -> Vec<TaskState> {
        updates.into_iter().map(|u| u.state).collect()
    }

    #[test]
    fn a_running_movable_pod_is_let_go_once_with_its_task_finished() {
        let (mut t, _) = PodTask::accepted(true);
        assert_eq!(
            t.on_release(true),
            (Release::Keep, vec![]),
            "not running yet: kept for now"
        );
        t.on_report(&report("Running", Stage::Running));
        let (answer, updates) = t.on_release(true);
        assert_eq!(answer, Release::LetGo);
        assert_eq!(states(updates.clone()), [TaskState::TaskFinished]);
        assert_eq!(updates[0].handover, Some("released"));
        assert!(t.is_terminal());
        assert_eq!(t.on_release(true), (Release::Keep, vec![]));
        assert!(t.on_report(&report("Running", Stage::Running)).is_empty());
    }

    #[test]
    fn a_pod_that_cannot_move_is_kept_and_says_so_once() {
        let (mut t, _) = PodTask::accepted(true);
        t.on_report(&report("Running", Stage::Running));
        let (answer, updates) = t.on_release(false);
        assert_eq!(answer, Release::Keep);
        assert_eq!(states(updates.clone()), [TaskState::TaskRunning]);
        assert_eq!(updates[0].handover, Some("kept"));
        assert_eq!(t.on_release(false), (Release::Keep, vec![]), "once");
        assert!(!t.is_terminal());
        // A pod being killed does not move.
        let (mut t, _) = PodTask::accepted(true);
        t.on_report(&report("Running", Stage::Running));
        t.on_kill();
        assert_eq!(t.on_release(true), (Release::Keep, vec![]));
    }

    #[test]
    fn pod_life_maps_to_starting_running_finished() {
        let (mut t, first) = PodTask::accepted(true);
        assert_eq!(first.state, TaskState::TaskStarting);
        assert!(t.on_report(&report("Pending", Stage::Preparing)).is_empty());
        assert_eq!(
            states(t.on_report(&report("Running", Stage::Running))),
            vec![TaskState::TaskRunning]
        );
        // Repeated snapshots send nothing new.
        assert!(t.on_report(&report("Running", Stage::Running)).is_empty());
        // Succeeded but not finished (sandbox stopping): wait.
        assert!(t
            .on_report(&report("Succeeded", Stage::StoppingPod))
            .is_empty());
        assert_eq!(
            states(t.on_report(&report("Succeeded", Stage::Terminated))),
            vec![TaskState::TaskFinished]
        );
        assert!(t.is_terminal());
        assert!(t.on_kill().is_empty());
        assert!(t.on_report(&report("Failed", Stage::Terminated)).is_empty());
    }

    #[test]
    fn failure_carries_the_reason() {
        let (mut t, _) = PodTask::accepted(false);
        let mut r = report("Failed", Stage::Terminated);
        r.status.reason = Some("DeadlineExceeded".into());
        r.status.message =
            Some("Pod was active on the node longer than the specified deadline".into());
        let u = t.on_report(&r);
        assert_eq!(u[0].state, TaskState::TaskFailed);
        assert_eq!(
            u[0].message.as_deref(),
            Some("DeadlineExceeded: Pod was active on the node longer than the specified deadline")
        );
        let mut r = report("Failed", Stage::Terminated);
        r.status.container_statuses = Some(vec![core::ContainerStatus {
            name: "main".into(),
            state: Some(core::ContainerState {
                terminated: Some(core::ContainerStateTerminated {
                    exit_code: 3,
                    reason: Some("Error".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        assert_eq!(
            failure_message(&r.status),
            "container \"main\" terminated: Error (exit code 3)"
        );
    }

    #[test]
    fn kill_sends_killing_only_with_the_capability_then_killed() {
        let (mut t, _) = PodTask::accepted(true);
        t.on_report(&report("Running", Stage::Running));
        assert_eq!(states(t.on_kill()), vec![TaskState::TaskKilling]);
        assert!(t.on_kill().is_empty(), "KILL is idempotent");
        // Whatever phase the pod ends in, a killed pod is TASK_KILLED.
        assert!(t
            .on_report(&report("Running", Stage::Terminating))
            .is_empty());
        assert_eq!(
            states(t.on_report(&report("Failed", Stage::Terminated))),
            vec![TaskState::TaskKilled]
        );

        let (mut t, _) = PodTask::accepted(false);
        assert!(t.on_kill().is_empty());
        assert_eq!(
            states(t.on_report(&report("Succeeded", Stage::Terminated))),
            vec![TaskState::TaskKilled]
        );
    }
}
