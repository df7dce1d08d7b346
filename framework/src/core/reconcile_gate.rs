//! Placement waits, after every SUBSCRIBED, until Mesos has told the
//! framework every task it knows of.
//!
//! A task is launched before its pod's Binding is written (an offer is
//! only good for a moment). A framework that dies between the two leaves a
//! task that no pod names: only Mesos knows it. The next framework
//! process, placing that pod again before the implicit reconciliation
//! answered, would launch it a second time — a duplicated pod, and with
//! the same generation, a reused task ID (MESOS-2198). So after the
//! implicit RECONCILE the core asks about one more task, a marker no one
//! ever launched. The master answers RECONCILE calls in the order they
//! come and each one whole (`Master::reconcile` sends every update
//! before returning), and the events keep that order on the stream: when
//! the marker's answer (TASK_UNKNOWN, or TASK_LOST to a framework that is
//! not partition-aware) arrives, every task the master knows has been
//! heard of.
//!
//! A master that has just failed over answers nothing about a task of an
//! unknown agent while agents are still re-registering; the marker is
//! asked again, and after [`GIVE_UP_AFTER`] placement goes on without
//! the answer (what those agents run is heard when they come back, and a
//! task of a pod placed meanwhile is killed as stale then).

use std::time::Duration;

use kube_mesos_proto::v1::{TaskId, TaskStatus};

use super::Instant;

/// Every marker's task ID starts with this: not `pod.<uid>`, so no pod's.
pub const MARKER_PREFIX: &str = "kube-mesos.reconciled.";

/// How long the marker waits for its answer before it is asked again.
pub const ASK_AGAIN_AFTER: Duration = Duration::from_secs(2);

/// How long placement waits for the answer at most.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(15);

#[derive(Clone, Debug, PartialEq)]
enum Gate {
    /// Nothing asked yet (before the first SUBSCRIBED and pod list).
    Unasked,
    /// Placement may go on.
    Open,
    /// Waiting for the answer about `marker`, asked first at `since`.
    Waiting {
        marker: TaskId,
        since: Instant,
        asked_at: Instant,
    },
}

/// What a tick asks of the core.
#[derive(Clone, Debug, PartialEq)]
pub enum Due {
    Nothing,
    /// Ask about this marker again.
    AskAgain(TaskId),
    /// Stop waiting: the master has not answered for [`GIVE_UP_AFTER`].
    GaveUp,
}

/// Whether placement waits for reconciliation (see the module docs).
#[derive(Clone, Debug)]
pub struct ReconcileGate {
    gate: Gate,
    asked: u64,
}

impl Default for ReconcileGate {
    /// Closed: nothing is placed before the first reconciliation.
    fn default() -> Self {
        Self {
            gate: Gate::Unasked,
            asked: 0,
        }
    }
}

impl ReconcileGate {
    /// A reconciliation starts: placement waits for the answer about the
    /// returned marker, to be asked right after the implicit RECONCILE.
    pub fn close(&mut self, now: Instant) -> TaskId {
        let marker = self.next_marker();
        self.gate = Gate::Waiting {
            marker: marker.clone(),
            since: now,
            asked_at: now,
        };
        marker
    }

    /// Whether placement may go on.
    pub fn is_open(&self) -> bool {
        self.gate == Gate::Open
    }

    /// Whether `status` is about a marker (of this or an earlier
    /// reconciliation): such updates are the gate's alone.
    pub fn is_marker(status: &TaskStatus) -> bool {
        status.task_id.value.starts_with(MARKER_PREFIX)
    }

    /// An update about a marker: the current one's answer opens the gate
    /// (returns true when it did).
    pub fn observe(&mut self, status: &TaskStatus) -> bool {
        match &self.gate {
            Gate::Waiting { marker, .. } if *marker == status.task_id => {
                self.gate = Gate::Open;
                true
            }
            _ => false,
        }
    }

    /// What is due at `now`.
    pub fn due(&mut self, now: Instant) -> Due {
        let Gate::Waiting {
            since, asked_at, ..
        } = self.gate
        else {
            return Due::Nothing;
        };
        if now >= since + GIVE_UP_AFTER {
            self.gate = Gate::Open;
            return Due::GaveUp;
        }
        if now < asked_at + ASK_AGAIN_AFTER {
            return Due::Nothing;
        }
        // A new marker: a late answer about the old one is not taken for
        // an answer to this ask.
        let marker = self.next_marker();
        self.gate = Gate::Waiting {
            marker: marker.clone(),
            since,
            asked_at: now,
        };
        Due::AskAgain(marker)
    }

    /// When [`Self::due`] has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        match self.gate {
            Gate::Unasked | Gate::Open => None,
            Gate::Waiting {
                since, asked_at, ..
            } => Some((asked_at + ASK_AGAIN_AFTER).min(since + GIVE_UP_AFTER)),
        }
    }

    fn next_marker(&mut self) -> TaskId {
        self.asked += 1;
        TaskId {
            value: format!("{MARKER_PREFIX}{}", self.asked),
        }
    }
}

/// What a master answers about the markers `actions` ask about
/// (TASK_UNKNOWN, "Reconciliation: Task is unknown"): for tests and
/// simulations that drive the core without a master.
pub fn master_answers(actions: &[super::Action]) -> Vec<TaskStatus> {
    use kube_mesos_proto::v1::{task_status, TaskState};
    actions
        .iter()
        .filter_map(|a| match a {
            super::Action::Reconcile { tasks } => Some(tasks),
            _ => None,
        })
        .flatten()
        .filter(|(id, _)| id.value.starts_with(MARKER_PREFIX))
        .map(|(id, agent)| TaskStatus {
            task_id: id.clone(),
            state: TaskState::TaskUnknown as i32,
            message: Some("Reconciliation: Task is unknown".into()),
            source: Some(task_status::Source::Master as i32),
            reason: Some(task_status::Reason::Reconciliation as i32),
            agent_id: agent.clone(),
            ..Default::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use kube_mesos_proto::v1::TaskState;

    use super::*;

    fn answer(marker: &TaskId) -> TaskStatus {
        TaskStatus {
            task_id: marker.clone(),
            state: TaskState::TaskUnknown as i32,
            ..Default::default()
        }
    }

    #[test]
    fn the_markers_answer_opens_the_gate() {
        let t0 = Instant::now();
        let mut gate = ReconcileGate::default();
        assert!(!gate.is_open());
        let marker = gate.close(t0);
        assert!(ReconcileGate::is_marker(&answer(&marker)));
        assert!(!gate.observe(&TaskStatus {
            task_id: TaskId {
                value: "pod.x".into()
            },
            ..Default::default()
        }));
        assert!(gate.observe(&answer(&marker)));
        assert!(gate.is_open());
        assert_eq!(gate.deadline(), None);
        assert_eq!(gate.due(t0 + GIVE_UP_AFTER), Due::Nothing);
    }

    #[test]
    fn an_unanswered_marker_is_asked_again_then_given_up() {
        let t0 = Instant::now();
        let mut gate = ReconcileGate::default();
        let first = gate.close(t0);
        assert_eq!(gate.deadline(), Some(t0 + ASK_AGAIN_AFTER));
        assert_eq!(gate.due(t0 + Duration::from_secs(1)), Due::Nothing);
        let Due::AskAgain(second) = gate.due(t0 + ASK_AGAIN_AFTER) else {
            panic!("asked again");
        };
        assert_ne!(first, second);
        // The first marker's late answer is not the second's.
        assert!(!gate.observe(&answer(&first)));
        assert!(!gate.is_open());
        assert_eq!(gate.due(t0 + GIVE_UP_AFTER), Due::GaveUp);
        assert!(gate.is_open());
    }

    #[test]
    fn a_new_reconciliation_closes_the_gate_again() {
        let t0 = Instant::now();
        let mut gate = ReconcileGate::default();
        let m = gate.close(t0);
        gate.observe(&answer(&m));
        let again = gate.close(t0 + Duration::from_secs(60));
        assert!(!gate.is_open());
        assert!(!gate.observe(&answer(&m)));
        assert!(gate.observe(&answer(&again)));
    }
}
