//! Launched tasks and sent status updates the agent has not acknowledged yet.
//!
//! Mesos delivers status updates at least once through the agent, which
//! acknowledges each one to the executor (ACKNOWLEDGED with the update's
//! uuid) once it has checkpointed it. Until then the executor keeps the update
//! and, if the agent restarts, hands it back in SUBSCRIBE
//! (`unacknowledged_updates`), together with the tasks it was given but whose
//! first update has not been acknowledged (`unacknowledged_tasks`), so the
//! agent learns of tasks it may have lost. This follows the Mesos executors
//! (`src/launcher/executor.cpp`, `src/launcher/default_executor.cpp`): an
//! update is dropped on its ACKNOWLEDGED; a task stops being unacknowledged
//! once any of its updates is acknowledged.
//!
//! Updates are resent in the order they were sent: the agent's status update
//! manager keeps a per-task stream and expects them in order.

use kube_mesos_proto::v1::executor::call;
use kube_mesos_proto::v1::{TaskId, TaskInfo};

/// Unacknowledged tasks and updates. Pure bookkeeping, no I/O.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    tasks: Vec<TaskInfo>,
    updates: Vec<(TaskId, Vec<u8>, call::Update)>,
}

impl Ledger {
    /// A task arrived in LAUNCH.
    pub fn launched(&mut self, task: TaskInfo) {
        self.tasks.retain(|t| t.task_id != task.task_id);
        self.tasks.push(task);
    }

    /// An update was sent (or queued for the next SUBSCRIBE). Updates without
    /// a uuid are never acknowledged and are not kept.
    pub fn sent(&mut self, update: call::Update) {
        let Some(uuid) = update.status.uuid.clone() else {
            return;
        };
        let task_id = update.status.task_id.clone();
        self.updates
            .retain(|(t, u, _)| !(t == &task_id && u == &uuid));
        self.updates.push((task_id, uuid, update));
    }

    /// The agent refused an update outright; it will never be acknowledged.
    pub fn forget(&mut self, task_id: &TaskId, uuid: &[u8]) {
        self.updates
            .retain(|(t, u, _)| !(t == task_id && u == uuid));
    }

    /// ACKNOWLEDGED arrived. Returns whether the update was known.
    pub fn acknowledged(&mut self, task_id: &TaskId, uuid: &[u8]) -> bool {
        let before = self.updates.len();
        self.forget(task_id, uuid);
        self.tasks.retain(|t| &t.task_id != task_id);
        self.updates.len() != before
    }

    /// Tasks for SUBSCRIBE's `unacknowledged_tasks`.
    pub fn unacknowledged_tasks(&self) -> Vec<TaskInfo> {
        self.tasks.clone()
    }

    /// Updates for SUBSCRIBE's `unacknowledged_updates`, in send order.
    pub fn unacknowledged_updates(&self) -> Vec<call::Update> {
        self.updates.iter().map(|(_, _, u)| u.clone()).collect()
    }

    /// Whether nothing is outstanding.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.updates.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::{AgentId, TaskStatus};

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            agent_id: AgentId { value: "a".into() },
            ..Default::default()
        }
    }

    fn update(task: &str, uuid: u8) -> call::Update {
        call::Update {
            status: TaskStatus {
                task_id: TaskId { value: task.into() },
                uuid: Some(vec![uuid; 16]),
                ..Default::default()
            },
        }
    }

    #[test]
    fn acknowledgement_drops_the_update_and_the_task() {
        let mut ledger = Ledger::default();
        ledger.launched(task("t1"));
        ledger.launched(task("t2"));
        ledger.sent(update("t1", 1));
        ledger.sent(update("t1", 2));
        assert_eq!(ledger.unacknowledged_tasks().len(), 2);
        assert_eq!(ledger.unacknowledged_updates().len(), 2);

        assert!(ledger.acknowledged(&TaskId { value: "t1".into() }, &[1; 16]));
        assert_eq!(ledger.unacknowledged_updates(), vec![update("t1", 2)]);
        let tasks: Vec<String> = ledger
            .unacknowledged_tasks()
            .into_iter()
            .map(|t| t.task_id.value)
            .collect();
        assert_eq!(tasks, vec!["t2".to_string()]);

        // Unknown acknowledgements change nothing.
        assert!(!ledger.acknowledged(&TaskId { value: "t1".into() }, &[9; 16]));
        assert!(ledger.acknowledged(&TaskId { value: "t1".into() }, &[2; 16]));
        ledger.acknowledged(&TaskId { value: "t2".into() }, &[0; 16]);
        assert!(ledger.is_empty());
    }

    #[test]
    fn updates_keep_send_order_and_skip_uuidless() {
        let mut ledger = Ledger::default();
        ledger.sent(update("t1", 3));
        ledger.sent(update("t1", 1));
        ledger.sent(update("t2", 2));
        let mut no_uuid = update("t3", 0);
        no_uuid.status.uuid = None;
        ledger.sent(no_uuid);
        let uuids: Vec<u8> = ledger
            .unacknowledged_updates()
            .iter()
            .map(|u| u.status.uuid.as_ref().unwrap()[0])
            .collect();
        assert_eq!(uuids, vec![3, 1, 2]);
        ledger.forget(&TaskId { value: "t1".into() }, &[1; 16]);
        assert_eq!(ledger.unacknowledged_updates().len(), 2);
    }
}
