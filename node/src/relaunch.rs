//! Why the framework relaunches a pod's task, as the task tells its
//! executor.
//!
//! A relaunched task (generation ≥ 1, see [`crate::task`]) carries two
//! `TaskInfo` labels: the [`Reason`] and, as a message, what Mesos said
//! about the task it replaces. The executor uses them to report honestly
//! what the pod went through: containers that died with a lost executor
//! end with reason `ExecutorLost` and that message, and their restarts say
//! why in an event.

/// Label: the [`Reason`] of the relaunch.
pub const LABEL_REASON: &str = "kube-mesos.io/relaunch-reason";
/// Label: what Mesos said about the task this one replaces.
pub const LABEL_MESSAGE: &str = "kube-mesos.io/relaunch-message";

/// Why a pod's task is launched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The previous task never got to run (Mesos dropped or refused it, or
    /// its executor could not start).
    LaunchFailed,
    /// The executor of the previous task died: the agent failed its tasks
    /// and destroyed its container. Pods of the process runtime died with
    /// it; CRI containers live on under their runtime.
    ExecutorLost,
    /// The previous task's agent was lost and the pod had not run yet.
    NodeLost,
    /// The executor of the previous task, of an older configuration, let
    /// go of the pod (see [`crate::handover`]); its containers run on.
    Handover,
}

impl Reason {
    /// The label value, also the pod's `status.reason` should it fail.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::LaunchFailed => "LaunchFailed",
            Reason::ExecutorLost => "ExecutorLost",
            Reason::NodeLost => "NodeLost",
            Reason::Handover => "Handover",
        }
    }

    /// The reason a label value names.
    pub fn parse(value: &str) -> Option<Reason> {
        [
            Reason::LaunchFailed,
            Reason::ExecutorLost,
            Reason::NodeLost,
            Reason::Handover,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_their_label_values() {
        for r in [
            Reason::LaunchFailed,
            Reason::ExecutorLost,
            Reason::NodeLost,
            Reason::Handover,
        ] {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("Handed"), None);
    }
}
