//! KILLs the core still owes Mesos, kept until Mesos says the task ended.
//!
//! A call made while the subscription is down fails in the shell
//! (`KILL call while not subscribed`), and one made just before a
//! disconnect may never reach the master; the shell does not retry. What
//! each call type is worth after re-subscribing decides what the core
//! remembers:
//!
//! | call | after SUBSCRIBED |
//! |---|---|
//! | KILL | **still matters** (a deleted pod's containers would run on): remembered here until a terminal status of the task arrives, and issued again on every SUBSCRIBED. A KILL of a task the master does not know makes it reconcile, so every KILL gets an answer; TASK_UNKNOWN and TASK_UNREACHABLE do not settle it (the task may run on, `crate::task_status`). Forgotten when the task's agent is removed (Mesos kills what comes back from a removed agent). |
//! | RECONCILE | redone: explicit reconciliation of every live task after every SUBSCRIBED (`SchedulerCore::on_subscribed`); the periodic implicit one comes at its next interval |
//! | ACCEPT | moot: offers die with the subscription. The tasks it launched, if the master never saw it, are in the explicit reconciliation, which reports them unknown to Mesos; `crate::task_status` decides their pods' fate (a relaunch for a pod that never ran). An ACCEPT that fails while the subscription stays up (a master timing out under load) has its tasks asked about at once (`Input::LaunchUnconfirmed`) |
//! | DECLINE | moot: the offers are void |
//! | ACKNOWLEDGE | moot: the agent sends unacknowledged updates again to the new subscription, and they are acknowledged then |
//! | SUPPRESS, REVIVE | re-derived: a new subscription starts unsuppressed, and the core suppresses or revives from its own state |
//!
//! While the core knows it is disconnected, a new KILL is only remembered
//! (sending it would fail); SUBSCRIBED sends it.

use std::collections::BTreeMap;

use kube_mesos_proto::v1::{AgentId, KillPolicy, TaskId, TaskStatus};

use super::Action;
use crate::task_status;

#[derive(Clone, Debug)]
struct PendingKill {
    task_id: TaskId,
    agent_id: Option<AgentId>,
    kill_policy: Option<KillPolicy>,
}

impl PendingKill {
    fn action(&self) -> Action {
        Action::Kill {
            task_id: self.task_id.clone(),
            agent_id: self.agent_id.clone(),
            kill_policy: self.kill_policy,
        }
    }
}

/// KILLs issued and not yet answered with a terminal status, by task ID.
#[derive(Clone, Debug, Default)]
pub(super) struct PendingKills {
    kills: BTreeMap<String, PendingKill>,
}

impl PendingKills {
    /// Remembers a KILL and returns it to send now, unless disconnected.
    /// A later KILL of the same task replaces the remembered one (its grace
    /// period is the one that counts), except that a KILL without a policy
    /// keeps the policy an earlier one had.
    pub fn kill(
        &mut self,
        task_id: TaskId,
        agent_id: Option<AgentId>,
        kill_policy: Option<KillPolicy>,
        connected: bool,
    ) -> Option<Action> {
        let previous = self.kills.remove(&task_id.value);
        let kill = PendingKill {
            kill_policy: kill_policy.or_else(|| previous.as_ref()?.kill_policy),
            agent_id: agent_id.or_else(|| previous?.agent_id),
            task_id,
        };
        let action = connected.then(|| kill.action());
        if action.is_none() {
            tracing::debug!(task = %kill.task_id.value, "KILL while disconnected; sent once subscribed");
        }
        self.kills.insert(kill.task_id.value.clone(), kill);
        action
    }

    /// A status update (or reconciliation answer): a terminal one settles
    /// the task's KILL.
    pub fn observe(&mut self, status: &TaskStatus) {
        if task_status::is_terminal(status.state) {
            self.kills.remove(&status.task_id.value);
        }
    }

    /// The agent is removed: its tasks are gone for good.
    pub fn forget_agent(&mut self, agent_id: &AgentId) {
        self.kills
            .retain(|_, k| k.agent_id.as_ref() != Some(agent_id));
    }

    /// Every remembered KILL, for a new subscription, in task ID order.
    pub fn reissue(&self) -> impl Iterator<Item = Action> + '_ {
        self.kills.values().map(PendingKill::action)
    }

    /// How many KILLs are unanswered.
    pub fn len(&self) -> usize {
        self.kills.len()
    }
}

#[cfg(test)]
mod tests {
    use kube_mesos_proto::v1::{DurationInfo, TaskState};

    use super::*;

    fn task(id: &str) -> TaskId {
        TaskId { value: id.into() }
    }

    fn agent(id: &str) -> Option<AgentId> {
        Some(AgentId { value: id.into() })
    }

    fn grace(secs: i64) -> Option<KillPolicy> {
        Some(KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: secs * 1_000_000_000,
            }),
        })
    }

    fn status(id: &str, state: TaskState) -> TaskStatus {
        TaskStatus {
            task_id: task(id),
            state: state as i32,
            ..Default::default()
        }
    }

    #[test]
    fn a_kill_is_kept_until_a_terminal_status() {
        let mut kills = PendingKills::default();
        assert!(kills
            .kill(task("t1"), agent("a1"), grace(5), true)
            .is_some());
        assert!(kills.kill(task("t2"), agent("a1"), None, false).is_none());
        kills.observe(&status("t1", TaskState::TaskKilling));
        kills.observe(&status("t2", TaskState::TaskUnreachable));
        assert_eq!(kills.len(), 2);
        let again: Vec<Action> = kills.reissue().collect();
        assert_eq!(
            again,
            vec![
                Action::Kill {
                    task_id: task("t1"),
                    agent_id: agent("a1"),
                    kill_policy: grace(5)
                },
                Action::Kill {
                    task_id: task("t2"),
                    agent_id: agent("a1"),
                    kill_policy: None
                }
            ]
        );
        kills.observe(&status("t1", TaskState::TaskKilled));
        kills.observe(&status("t2", TaskState::TaskLost));
        assert_eq!(kills.len(), 0);
    }

    #[test]
    fn a_repeated_kill_keeps_the_grace_and_agent_it_had() {
        let mut kills = PendingKills::default();
        kills.kill(task("t1"), agent("a1"), grace(5), true);
        kills.kill(task("t1"), None, None, true);
        let again: Vec<Action> = kills.reissue().collect();
        assert_eq!(
            again,
            vec![Action::Kill {
                task_id: task("t1"),
                agent_id: agent("a1"),
                kill_policy: grace(5)
            }]
        );
        kills.kill(task("t1"), None, grace(0), true);
        assert!(matches!(
            kills.reissue().next(),
            Some(Action::Kill { kill_policy, .. }) if kill_policy == grace(0)
        ));
    }

    #[test]
    fn a_removed_agent_takes_its_kills_along() {
        let mut kills = PendingKills::default();
        kills.kill(task("t1"), agent("a1"), None, true);
        kills.kill(task("t2"), agent("a2"), None, true);
        kills.forget_agent(&AgentId { value: "a1".into() });
        assert_eq!(kills.len(), 1);
    }
}
