//! The agent's task status update manager, as a pure state machine.
//!
//! Mesos delivers task status updates reliably: the agent keeps one stream
//! per task, forwards only the head of each stream to the master, and resends
//! it with a doubling interval (10 secs up to 10 mins in Mesos) until the
//! scheduler acknowledges its uuid; only then is the next update of that task
//! forwarded (apache/mesos `src/status_update_manager/`). A stream ends when
//! its terminal update is acknowledged. While the agent is disconnected from
//! the master the manager is paused: updates queue up and nothing is resent;
//! resuming forwards every stream's head again.
//!
//! This module owns no clock and no channel: every method returns the
//! [`Action`]s the agent's async shell must perform (forward, arm a retry
//! timer). A retry timer carries the uuid it was armed for, so a late timer
//! for an update that was acknowledged meanwhile is a no-op.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use kube_mesos_proto::v1::{FrameworkId, TaskId, TaskState, TaskStatus};

/// Key of one task's stream: (framework ID, task ID).
pub type StreamKey = (String, String);

/// What the shell must do after a step.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived, never stored in bulk
pub enum Action {
    /// Send this update to the master (link `StatusUpdate`).
    Forward {
        framework_id: FrameworkId,
        status: TaskStatus,
    },
    /// Call [`StatusUpdateManager::retry`] with these arguments after `after`.
    ArmRetry {
        key: StreamKey,
        uuid: Vec<u8>,
        after: Duration,
    },
}

/// Outcome of handing an update to the manager.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// New update; perform the actions.
    Accepted(Vec<Action>),
    /// Already received (same uuid): ignored, but still acknowledged to the
    /// executor, as Mesos does.
    Duplicate,
    /// The stream already received its terminal update.
    AfterTerminal,
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No stream for this task.
    #[error("no status update stream for task {task_id} of framework {framework_id}")]
    StreamUnknown {
        framework_id: String,
        task_id: String,
    },
    /// The uuid is not the update in flight (duplicate or stale ack).
    #[error("unexpected acknowledgement for task {task_id}")]
    UuidUnexpected { task_id: String },
}

/// Outcome of a valid acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Acked {
    /// The acknowledged update was terminal: the stream is closed and the
    /// task can be forgotten.
    pub terminal: bool,
    /// Next update to forward, if any.
    pub actions: Vec<Action>,
}

/// One task's stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    /// The framework (kept whole so forwards need no lookup).
    pub framework_id: FrameworkId,
    /// Updates not yet acknowledged; the head is in flight.
    pub pending: VecDeque<TaskStatus>,
    /// Uuids ever received on this stream (duplicate detection).
    pub received: HashSet<Vec<u8>>,
    /// A terminal update was received.
    pub terminated: bool,
    /// Current retry interval of the head.
    interval: Duration,
}

/// The manager: all streams of one agent.
#[derive(Debug, Clone)]
pub struct StatusUpdateManager {
    streams: HashMap<StreamKey, Stream>,
    retry_min: Duration,
    retry_max: Duration,
    paused: bool,
}

/// Whether a task state is terminal for the status update stream
/// (`protobuf::isTerminalState`: FINISHED, FAILED, KILLED, LOST, ERROR,
/// DROPPED, GONE, GONE_BY_OPERATOR).
pub fn is_terminal(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskLost
            | TaskState::TaskError
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator)
    )
}

impl StatusUpdateManager {
    /// A paused manager (the agent resumes it once registered).
    pub fn new(retry_min: Duration, retry_max: Duration) -> Self {
        StatusUpdateManager {
            streams: HashMap::new(),
            retry_min,
            retry_max,
            paused: true,
        }
    }

    /// Whether updates are being forwarded.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Handles a new update. `status.uuid` must be set (the agent sets one
    /// on the updates it generates; executors' are validated).
    pub fn update(&mut self, framework_id: &FrameworkId, status: TaskStatus) -> Received {
        let key = (framework_id.value.clone(), status.task_id.value.clone());
        let uuid = status.uuid.clone().unwrap_or_default();
        let stream = self.streams.entry(key.clone()).or_insert_with(|| Stream {
            framework_id: framework_id.clone(),
            interval: self.retry_min,
            ..Default::default()
        });
        if stream.received.contains(&uuid) {
            return Received::Duplicate;
        }
        if stream.terminated {
            return Received::AfterTerminal;
        }
        stream.received.insert(uuid);
        stream.terminated = is_terminal(status.state);
        stream.pending.push_back(status);
        if stream.pending.len() == 1 && !self.paused {
            stream.interval = self.retry_min;
            return Received::Accepted(self.forward_head(&key));
        }
        Received::Accepted(Vec::new())
    }

    /// Handles the scheduler's acknowledgement of `uuid`.
    pub fn acknowledge(
        &mut self,
        framework_id: &str,
        task_id: &str,
        uuid: &[u8],
    ) -> Result<Acked, AckError> {
        let key = (framework_id.to_owned(), task_id.to_owned());
        let stream = self
            .streams
            .get_mut(&key)
            .ok_or_else(|| AckError::StreamUnknown {
                framework_id: framework_id.to_owned(),
                task_id: task_id.to_owned(),
            })?;
        let head_matches = stream
            .pending
            .front()
            .is_some_and(|s| s.uuid.as_deref() == Some(uuid));
        if !head_matches {
            return Err(AckError::UuidUnexpected {
                task_id: task_id.to_owned(),
            });
        }
        let acked = stream.pending.pop_front();
        let terminal = acked.as_ref().is_some_and(|s| is_terminal(s.state));
        if terminal {
            self.streams.remove(&key);
            return Ok(Acked {
                terminal: true,
                actions: Vec::new(),
            });
        }
        stream.interval = self.retry_min;
        let actions = if self.paused || stream.pending.is_empty() {
            Vec::new()
        } else {
            self.forward_head(&key)
        };
        Ok(Acked {
            terminal: false,
            actions,
        })
    }

    /// A retry timer fired: resend the head if it is still `uuid`.
    pub fn retry(&mut self, key: &StreamKey, uuid: &[u8]) -> Vec<Action> {
        if self.paused {
            return Vec::new();
        }
        let Some(stream) = self.streams.get_mut(key) else {
            return Vec::new();
        };
        if stream.pending.front().and_then(|s| s.uuid.as_deref()) != Some(uuid) {
            return Vec::new();
        }
        stream.interval = (stream.interval * 2).min(self.retry_max);
        self.forward_head(key)
    }

    /// Stops forwarding (the master is away).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Starts forwarding again: every stream's head is sent at once.
    pub fn resume(&mut self) -> Vec<Action> {
        self.paused = false;
        self.resend_all()
    }

    /// Sends every stream's head now, with its retry interval reset (a
    /// framework resubscribed); nothing while paused.
    pub fn resend_all(&mut self) -> Vec<Action> {
        if self.paused {
            return Vec::new();
        }
        let keys: Vec<StreamKey> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.pending.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        let mut actions = Vec::new();
        for key in keys {
            if let Some(stream) = self.streams.get_mut(&key) {
                stream.interval = self.retry_min;
            }
            actions.extend(self.forward_head(&key));
        }
        actions
    }

    /// The stream of one task, if any.
    pub fn stream(&self, framework_id: &str, task_id: &str) -> Option<&Stream> {
        self.streams
            .get(&(framework_id.to_owned(), task_id.to_owned()))
    }

    /// Restores a stream from a checkpoint (paused; forwarded on resume).
    pub fn restore(
        &mut self,
        framework_id: FrameworkId,
        task_id: &TaskId,
        pending: Vec<TaskStatus>,
        received: HashSet<Vec<u8>>,
        terminated: bool,
    ) {
        let key = (framework_id.value.clone(), task_id.value.clone());
        self.streams.insert(
            key,
            Stream {
                framework_id,
                pending: pending.into(),
                received,
                terminated,
                interval: self.retry_min,
            },
        );
    }

    /// Drops every stream of a framework (it was shut down).
    pub fn remove_framework(&mut self, framework_id: &str) {
        self.streams.retain(|(fw, _), _| fw != framework_id);
    }

    /// Number of streams (for tests and state endpoints).
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether there are no streams.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    fn forward_head(&mut self, key: &StreamKey) -> Vec<Action> {
        let Some(stream) = self.streams.get(key) else {
            return Vec::new();
        };
        let Some(head) = stream.pending.front() else {
            return Vec::new();
        };
        vec![
            Action::Forward {
                framework_id: stream.framework_id.clone(),
                status: head.clone(),
            },
            Action::ArmRetry {
                key: key.clone(),
                uuid: head.uuid.clone().unwrap_or_default(),
                after: stream.interval,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw() -> FrameworkId {
        FrameworkId {
            value: "fw".to_owned(),
        }
    }

    fn status(task: &str, state: TaskState, uuid: u8) -> TaskStatus {
        TaskStatus {
            task_id: TaskId {
                value: task.to_owned(),
            },
            state: state as i32,
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        }
    }

    fn forwarded(actions: &[Action]) -> Vec<Vec<u8>> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Forward { status, .. } => status.uuid.clone(),
                _ => None,
            })
            .collect()
    }

    fn retry_after(actions: &[Action]) -> Option<Duration> {
        actions.iter().find_map(|a| match a {
            Action::ArmRetry { after, .. } => Some(*after),
            _ => None,
        })
    }

    fn manager() -> StatusUpdateManager {
        let mut m = StatusUpdateManager::new(Duration::from_secs(10), Duration::from_secs(600));
        assert!(m.resume().is_empty());
        m
    }

    #[test]
    fn one_outstanding_update_per_task() {
        let mut m = manager();
        let Received::Accepted(a) = m.update(&fw(), status("t", TaskState::TaskStarting, 1)) else {
            panic!("accepted")
        };
        assert_eq!(forwarded(&a), vec![vec![1; 16]]);
        assert_eq!(retry_after(&a), Some(Duration::from_secs(10)));
        // The second update waits for the first one's acknowledgement.
        let r = m.update(&fw(), status("t", TaskState::TaskRunning, 2));
        assert_eq!(r, Received::Accepted(vec![]));
        // Another task's stream is independent.
        let Received::Accepted(a) = m.update(&fw(), status("u", TaskState::TaskRunning, 3)) else {
            panic!("accepted")
        };
        assert_eq!(forwarded(&a), vec![vec![3; 16]]);
        // A stale ack is refused; the right one releases the next update.
        assert!(m.acknowledge("fw", "t", &[2; 16]).is_err());
        let acked = m.acknowledge("fw", "t", &[1; 16]).expect("ack");
        assert!(!acked.terminal);
        assert_eq!(forwarded(&acked.actions), vec![vec![2; 16]]);
        assert!(m.acknowledge("fw", "t", &[1; 16]).is_err(), "double ack");
    }

    #[test]
    fn retries_double_up_to_the_maximum_and_stop_after_ack() {
        let mut m = manager();
        m.update(&fw(), status("t", TaskState::TaskRunning, 1));
        let key = ("fw".to_owned(), "t".to_owned());
        let mut intervals = Vec::new();
        for _ in 0..8 {
            let a = m.retry(&key, &[1; 16]);
            assert_eq!(forwarded(&a), vec![vec![1; 16]]);
            intervals.push(retry_after(&a).map(|d| d.as_secs()).unwrap_or(0));
        }
        assert_eq!(intervals, vec![20, 40, 80, 160, 320, 600, 600, 600]);
        m.acknowledge("fw", "t", &[1; 16]).expect("ack");
        assert!(m.retry(&key, &[1; 16]).is_empty(), "late timer is a no-op");
    }

    #[test]
    fn a_resubscribed_framework_gets_pending_heads_at_once_with_the_interval_reset() {
        let mut m = manager();
        m.update(&fw(), status("t", TaskState::TaskFailed, 1));
        let key = ("fw".to_owned(), "t".to_owned());
        for _ in 0..5 {
            m.retry(&key, &[1; 16]);
        }
        let a = m.resend_all();
        assert_eq!(forwarded(&a), vec![vec![1; 16]]);
        assert_eq!(retry_after(&a), Some(Duration::from_secs(10)));
        m.pause();
        assert!(m.resend_all().is_empty(), "nothing goes out while paused");
    }

    #[test]
    fn duplicates_terminal_and_pause() {
        let mut m = manager();
        m.update(&fw(), status("t", TaskState::TaskFinished, 1));
        assert_eq!(
            m.update(&fw(), status("t", TaskState::TaskFinished, 1)),
            Received::Duplicate
        );
        assert_eq!(
            m.update(&fw(), status("t", TaskState::TaskRunning, 2)),
            Received::AfterTerminal
        );
        let acked = m.acknowledge("fw", "t", &[1; 16]).expect("ack");
        assert!(acked.terminal);
        assert!(m.is_empty(), "terminal ack closes the stream");

        m.pause();
        assert_eq!(
            m.update(&fw(), status("x", TaskState::TaskRunning, 5)),
            Received::Accepted(vec![])
        );
        assert!(m.retry(&("fw".into(), "x".into()), &[5; 16]).is_empty());
        let a = m.resume();
        assert_eq!(forwarded(&a), vec![vec![5; 16]]);
    }
}
