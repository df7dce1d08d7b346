//! Executor generations: retiring executors of an older configuration.
//!
//! Every executor configuration has its own executor ID
//! (`kube-mesos-<hash>`), so after an upgrade new pods go to the new
//! executor while running pods stay where they are. With
//! `retire_old_executors` (the default), the core moves them: it asks each
//! outdated executor, in one framework message per executor and agent, to
//! hand its running pods over ([`kube_mesos_node::handover`]). A pod the
//! executor lets go (CRI: its containers run on) ends its task
//! `TASK_FINISHED`, labelled `released`; the core relaunches it on its
//! agent as its next task on the current executor, which takes the
//! containers over. A pod that cannot move (the process runtime) is kept,
//! labelled `kept`, and is not asked again. Framework messages are not
//! reliable, so a request left unanswered is sent again after
//! [`ASK_AGAIN`]. An executor asked to hand over exits once it has no pods
//! left.
//!
//! This module holds the pure parts: a task's standing in this exchange,
//! the messages for a set of tasks, and the per-agent view of generations
//! the metrics export.

use std::collections::BTreeMap;
use std::time::Duration;

use kube_mesos_proto::v1::{AgentId, ExecutorId, TaskId};

use super::{Action, Instant};

/// How long an unanswered release request waits before it is sent again.
pub const ASK_AGAIN: Duration = Duration::from_secs(60);

/// Where a task on an outdated executor stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Handover {
    /// Nothing asked yet.
    #[default]
    NotAsked,
    /// Asked at this instant; no answer yet.
    Asked(Instant),
    /// The executor keeps the pod: it cannot move.
    Kept,
}

impl Handover {
    /// Whether a release request for the task is due at `now`.
    pub fn due(self, now: Instant) -> bool {
        match self {
            Handover::NotAsked => true,
            Handover::Asked(at) => at + ASK_AGAIN <= now,
            Handover::Kept => false,
        }
    }

    /// When a request would be due again, if it is waiting for an answer.
    pub fn next_ask(self) -> Option<Instant> {
        match self {
            Handover::Asked(at) => Some(at + ASK_AGAIN),
            _ => None,
        }
    }
}

/// One framework message per (agent, executor) asking it to hand `tasks`
/// over, in a stable order.
pub fn release_requests(tasks: Vec<(AgentId, ExecutorId, TaskId)>) -> Vec<Action> {
    let mut by_executor: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (agent, executor, task) in tasks {
        by_executor
            .entry((agent.value, executor.value))
            .or_default()
            .push(task.value);
    }
    by_executor
        .into_iter()
        .map(|((agent, executor), mut tasks)| {
            tasks.sort();
            Action::SendMessage {
                agent_id: AgentId { value: agent },
                executor_id: ExecutorId { value: executor },
                data: kube_mesos_node::handover::release_request(&tasks),
            }
        })
        .collect()
}

/// Live pods per executor of one agent, for the metrics: how far the
/// retirement of old generations got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentGenerations {
    /// Live pods per executor ID.
    pub pods: BTreeMap<String, usize>,
}

/// Counts live pods per agent and executor from `(agent, executor)` pairs.
pub fn count(
    tasks: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, AgentGenerations> {
    let mut out: BTreeMap<String, AgentGenerations> = BTreeMap::new();
    for (agent, executor) in tasks {
        *out.entry(agent)
            .or_default()
            .pods
            .entry(executor)
            .or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        v.to_owned()
    }

    #[test]
    fn a_request_is_due_once_then_again_after_a_minute_unless_kept() {
        let t0 = Instant::now();
        assert!(Handover::NotAsked.due(t0));
        let asked = Handover::Asked(t0);
        assert!(!asked.due(t0 + Duration::from_secs(59)));
        assert!(asked.due(t0 + ASK_AGAIN));
        assert_eq!(asked.next_ask(), Some(t0 + ASK_AGAIN));
        assert!(!Handover::Kept.due(t0 + Duration::from_secs(3600)));
        assert_eq!(Handover::Kept.next_ask(), None);
    }

    #[test]
    fn one_message_per_executor_and_agent() {
        let t = |a: &str, e: &str, task: &str| {
            (
                AgentId { value: a.into() },
                ExecutorId { value: e.into() },
                TaskId { value: task.into() },
            )
        };
        let actions = release_requests(vec![
            t("a1", "kube-mesos-old", "pod.b"),
            t("a2", "kube-mesos-old", "pod.c"),
            t("a1", "kube-mesos-old", "pod.a.3"),
            t("a1", "kube-mesos-older", "pod.d"),
        ]);
        let sent: Vec<(String, String, String)> = actions
            .into_iter()
            .map(|a| match a {
                Action::SendMessage {
                    agent_id,
                    executor_id,
                    data,
                } => (
                    agent_id.value,
                    executor_id.value,
                    String::from_utf8(data).unwrap_or_default(),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sent,
            [
                (
                    s("a1"),
                    s("kube-mesos-old"),
                    s("kube-mesos.io/release-tasks:pod.a.3,pod.b")
                ),
                (
                    s("a1"),
                    s("kube-mesos-older"),
                    s("kube-mesos.io/release-tasks:pod.d")
                ),
                (
                    s("a2"),
                    s("kube-mesos-old"),
                    s("kube-mesos.io/release-tasks:pod.c")
                ),
            ]
        );
    }

    #[test]
    fn generations_are_counted_per_agent() {
        let counted = count([
            ("a1".to_owned(), "new".to_owned()),
            ("a1".to_owned(), "old".to_owned()),
            ("a1".to_owned(), "new".to_owned()),
            ("a2".to_owned(), "new".to_owned()),
        ]);
        assert_eq!(
            counted["a1"].pods,
            BTreeMap::from([("new".into(), 2), ("old".into(), 1)])
        );
        assert_eq!(counted["a2"].pods, BTreeMap::from([("new".into(), 1)]));
    }
}
