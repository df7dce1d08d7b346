//! The master's counters, kept where the inputs are handled, as Mesos keeps
//! them (apache/mesos `src/master/metrics.{hpp,cpp}`, incremented in
//! `master.cpp`, `framework.cpp` and `http.cpp`).
//!
//! Only *counters* live here: what happened cannot be recomputed from the
//! state. Mesos' gauges (`master/tasks_running`, `master/frameworks_active`,
//! `.../subscribed`, `.../tasks/active/<state>`, `.../roles/<role>/suppressed`,
//! ...) are functions of the state and are computed by the snapshot view
//! (`snapshot.rs`). Per-framework counters use interior mutability because
//! events are counted where they are sent, [`Framework::send`], which many
//! call sites reach through a shared borrow.
//!
//! [`Framework::send`]: super::Framework

use std::cell::RefCell;
use std::collections::BTreeMap;

use kube_mesos_proto::v1::scheduler::{call, event};
use kube_mesos_proto::v1::{offer, FrameworkInfo, TaskState, TaskStatus};

use super::{is_terminal, State};

macro_rules! counters {
    ($($variant:ident => $key:literal,)*) => {
        /// A master-wide counter and its metric name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Counter { $($variant,)* }

        impl Counter {
            /// Every counter, so that each is reported from the start (as
            /// Mesos registers its metrics when the master starts).
            pub const ALL: &'static [Counter] = &[$(Counter::$variant,)*];

            /// The metric name.
            pub fn key(self) -> &'static str {
                match self { $(Counter::$variant => $key,)* }
            }
        }
    };
}

counters! {
    // Only libprocess (driver-based) schedulers and agents send these, so
    // for the devcluster they count nothing and stay 0, as they do on a
    // real master whose frameworks all use the HTTP API.
    DroppedMessages => "master/dropped_messages",
    MessagesAuthenticate => "master/messages_authenticate",
    MessagesDeactivateFramework => "master/messages_deactivate_framework",
    MessagesUnregisterFramework => "master/messages_unregister_framework",
    // Deprecated in Mesos, always 0 there too.
    SlaveShutdownsScheduled => "master/slave_shutdowns_scheduled",
    SlaveShutdownsCompleted => "master/slave_shutdowns_completed",
    SlaveShutdownsCanceled => "master/slave_shutdowns_canceled",
    // Devcluster agents never send UpdateSlaveMessage.
    MessagesUpdateSlave => "master/messages_update_slave",

    MessagesRegisterFramework => "master/messages_register_framework",
    MessagesReregisterFramework => "master/messages_reregister_framework",
    MessagesKillTask => "master/messages_kill_task",
    MessagesStatusUpdateAcknowledgement => "master/messages_status_update_acknowledgement",
    MessagesResourceRequest => "master/messages_resource_request",
    MessagesLaunchTasks => "master/messages_launch_tasks",
    MessagesDeclineOffers => "master/messages_decline_offers",
    MessagesReviveOffers => "master/messages_revive_offers",
    MessagesSuppressOffers => "master/messages_suppress_offers",
    MessagesReconcileTasks => "master/messages_reconcile_tasks",
    MessagesFrameworkToExecutor => "master/messages_framework_to_executor",
    MessagesExecutorToFramework => "master/messages_executor_to_framework",
    MessagesRegisterSlave => "master/messages_register_slave",
    MessagesReregisterSlave => "master/messages_reregister_slave",
    MessagesUnregisterSlave => "master/messages_unregister_slave",
    MessagesStatusUpdate => "master/messages_status_update",
    MessagesExitedExecutor => "master/messages_exited_executor",

    ValidFrameworkToExecutorMessages => "master/valid_framework_to_executor_messages",
    InvalidFrameworkToExecutorMessages => "master/invalid_framework_to_executor_messages",
    ValidExecutorToFrameworkMessages => "master/valid_executor_to_framework_messages",
    InvalidExecutorToFrameworkMessages => "master/invalid_executor_to_framework_messages",
    ValidStatusUpdates => "master/valid_status_updates",
    InvalidStatusUpdates => "master/invalid_status_updates",
    ValidStatusUpdateAcknowledgements => "master/valid_status_update_acknowledgements",
    InvalidStatusUpdateAcknowledgements => "master/invalid_status_update_acknowledgements",

    RecoverySlaveRemovals => "master/recovery_slave_removals",
    SlaveRegistrations => "master/slave_registrations",
    SlaveReregistrations => "master/slave_reregistrations",
    SlaveRemovals => "master/slave_removals",
    SlaveRemovalsReasonUnhealthy => "master/slave_removals/reason_unhealthy",
    SlaveRemovalsReasonUnregistered => "master/slave_removals/reason_unregistered",
    SlaveRemovalsReasonRegistered => "master/slave_removals/reason_registered",
    SlaveUnreachableScheduled => "master/slave_unreachable_scheduled",
    SlaveUnreachableCompleted => "master/slave_unreachable_completed",
    SlaveUnreachableCanceled => "master/slave_unreachable_canceled",

    TasksFinished => "master/tasks_finished",
    TasksFailed => "master/tasks_failed",
    TasksKilled => "master/tasks_killed",
    TasksLost => "master/tasks_lost",
    TasksError => "master/tasks_error",
    TasksDropped => "master/tasks_dropped",
    TasksGone => "master/tasks_gone",
    TasksGoneByOperator => "master/tasks_gone_by_operator",

    AllocationRuns => "allocator/mesos/allocation_runs",
}

/// Mesos names sources and reasons in these counters by their v0 names
/// (`SOURCE_SLAVE`, `REASON_SLAVE_REMOVED`); v1 says `AGENT`.
fn v0_name(v1: &str) -> String {
    v1.replace("AGENT", "SLAVE").to_lowercase()
}

/// The master-wide counters.
#[derive(Debug, Default)]
pub struct MasterMetrics {
    counters: BTreeMap<Counter, u64>,
    /// `master/<state>/<source>/<reason>`: created on first use, like
    /// `Metrics::incrementTasksStates`.
    task_reasons: BTreeMap<String, u64>,
}

impl MasterMetrics {
    /// Adds one to `counter`.
    pub fn inc(&mut self, counter: Counter) {
        *self.counters.entry(counter).or_default() += 1;
    }

    /// The value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters.get(&counter).copied().unwrap_or(0)
    }

    /// A task reached a terminal state (or, for the reason counter only,
    /// TASK_UNREACHABLE) with `status`: `master/tasks_<state>` and, if the
    /// status has a reason, `master/<state>/<source>/<reason>`. This is the
    /// accounting of `Master::updateTask` and of the updates the master
    /// makes up for tasks it refuses to launch.
    pub fn task_ended(&mut self, status: &TaskStatus) {
        let counter = match status.state() {
            TaskState::TaskFinished => Some(Counter::TasksFinished),
            TaskState::TaskFailed => Some(Counter::TasksFailed),
            TaskState::TaskKilled => Some(Counter::TasksKilled),
            TaskState::TaskLost => Some(Counter::TasksLost),
            TaskState::TaskError => Some(Counter::TasksError),
            TaskState::TaskDropped => Some(Counter::TasksDropped),
            TaskState::TaskGone => Some(Counter::TasksGone),
            TaskState::TaskGoneByOperator => Some(Counter::TasksGoneByOperator),
            _ => None,
        };
        if let Some(c) = counter {
            self.inc(c);
        }
        if status.reason.is_some() {
            let key = format!(
                "master/{}/{}/{}",
                status.state().as_str_name().to_lowercase(),
                v0_name(status.source().as_str_name()),
                v0_name(status.reason().as_str_name()),
            );
            *self.task_reasons.entry(key).or_default() += 1;
        }
    }

    /// Every counter with its value.
    pub fn values(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        Counter::ALL
            .iter()
            .map(|c| (c.key().to_owned(), self.get(*c)))
            .chain(self.task_reasons.iter().map(|(k, v)| (k.clone(), *v)))
    }
}

fn terminal_or_unreachable(s: TaskState) -> bool {
    is_terminal(s) || s == TaskState::TaskUnreachable
}

/// libprocess' `http::encode`, which Mesos applies to framework names in
/// metric keys.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let reserved = b"$&+,/:;=?@ \"<>#%{}|\\^~[]`".contains(&b);
        if reserved || !(0x20..=0x7f).contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Lower-cased names of the values of a prost enum, `UNKNOWN` excluded.
fn enum_names<E: TryFrom<i32>>(name: impl Fn(E) -> &'static str) -> Vec<String> {
    (0..64)
        .filter_map(|i| E::try_from(i).ok())
        .map(|e| name(e).to_lowercase())
        .filter(|n| n != "unknown")
        .collect()
}

/// The counters of one framework (`master/frameworks/<name>/<id>/...`).
///
/// Of the operation counters only `launch` and `launch_group` exist: the
/// devcluster applies no other offer operation, so it cannot count them the
/// way Mesos does (after validating them).
#[derive(Debug)]
pub struct FrameworkMetrics {
    prefix: String,
    counts: RefCell<BTreeMap<String, u64>>,
}

impl FrameworkMetrics {
    /// The counters of a framework, all 0. Like Mesos, the key prefix is
    /// fixed when the framework object is made, from its name and ID then.
    pub fn new(info: &FrameworkInfo) -> Self {
        let id = info.id.as_ref().map(|i| i.value.as_str()).unwrap_or("");
        let prefix = format!("master/frameworks/{}/{}/", percent_encode(&info.name), id);
        let mut keys = vec!["calls".to_owned(), "events".to_owned()];
        keys.extend(
            enum_names(|t: call::Type| t.as_str_name())
                .into_iter()
                .map(|n| format!("calls/{n}")),
        );
        keys.extend(
            enum_names(|t: event::Type| t.as_str_name())
                .into_iter()
                .map(|n| format!("events/{n}")),
        );
        for k in ["sent", "accepted", "declined", "rescinded"] {
            keys.push(format!("offers/{k}"));
        }
        keys.extend(
            enum_names(|s: TaskState| s.as_str_name())
                .into_iter()
                .filter(|n| TaskState::from_str_name(&n.to_uppercase()).is_some_and(is_terminal))
                .map(|n| format!("tasks/terminal/{n}")),
        );
        keys.extend(
            ["operations", "operations/launch", "operations/launch_group"].map(String::from),
        );
        FrameworkMetrics {
            prefix,
            counts: RefCell::new(keys.into_iter().map(|k| (k, 0)).collect()),
        }
    }

    /// `master/frameworks/<encoded name>/<id>/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn add(&self, key: &str, n: u64) {
        *self.counts.borrow_mut().entry(key.to_owned()).or_default() += n;
    }

    /// A scheduler call arrived (`FrameworkMetrics::incrementCall`).
    pub fn call(&self, ty: call::Type) {
        self.add(&format!("calls/{}", ty.as_str_name().to_lowercase()), 1);
        self.add("calls", 1);
    }

    /// An event was sent (`FrameworkMetrics::incrementEvent`).
    pub fn event(&self, ty: event::Type) {
        self.add(&format!("events/{}", ty.as_str_name().to_lowercase()), 1);
        self.add("events", 1);
    }

    /// `n` offers were sent in one OFFERS event (offers, not events, count).
    pub fn offers_sent(&self, n: usize) {
        self.add("offers/sent", n as u64);
    }

    /// `n` offers were accepted by one ACCEPT.
    pub fn offers_accepted(&self, n: usize) {
        self.add("offers/accepted", n as u64);
    }

    /// `n` offers were declined by one DECLINE.
    pub fn offers_declined(&self, n: usize) {
        self.add("offers/declined", n as u64);
    }

    /// An offer was rescinded.
    pub fn offer_rescinded(&self) {
        self.add("offers/rescinded", 1);
    }

    /// One operation of `ty` was applied: each launched task of a LAUNCH
    /// counts, a LAUNCH_GROUP counts once (`incrementOperation` sits in
    /// Mesos' per-task loop for LAUNCH).
    pub fn operation(&self, ty: offer::operation::Type) {
        self.add(
            &format!("operations/{}", ty.as_str_name().to_lowercase()),
            1,
        );
        self.add("operations", 1);
    }

    /// A task of the framework went from `old` to `new` (or was added in
    /// `new`): terminal states are counted, active ones are gauges.
    pub fn task_state(&self, old: Option<TaskState>, new: TaskState) {
        let changed = match old {
            Some(old) => !is_terminal(old) && old != new,
            None => true,
        };
        if changed && is_terminal(new) {
            let key = format!("tasks/terminal/{}", new.as_str_name().to_lowercase());
            self.add(&key, 1);
        }
    }

    /// Every counter, without the prefix.
    pub fn values(&self) -> Vec<(String, u64)> {
        self.counts
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// A task moved from `old` to `status`'s state, as `Master::updateTask`
/// accounts it: the framework's terminal counters on any change, the
/// master's task counters when it became terminal or unreachable. Takes the
/// two metrics apart so that callers can hold a framework borrowed from the
/// state while counting.
pub(super) fn count_task_update(
    master: &mut MasterMetrics,
    framework: Option<&FrameworkMetrics>,
    old: TaskState,
    status: &TaskStatus,
) {
    let new = status.state();
    if let Some(fw) = framework {
        fw.task_state(Some(old), new);
    }
    if !terminal_or_unreachable(old) && terminal_or_unreachable(new) {
        master.task_ended(status);
    }
}

impl State {
    /// A scheduler call of `ty` from a known framework, counted before it is
    /// checked any further (`http.cpp` counts right after the lookup).
    pub fn count_call(&self, framework_id: &str, ty: call::Type) {
        if let Some(fw) = self.frameworks.get(framework_id) {
            fw.metrics.call(ty);
        }
    }

    /// A scheduler call that failed validation
    /// (`Metrics::incrementInvalidSchedulerCalls`).
    pub fn count_invalid_call(&mut self, ty: Option<call::Type>) {
        match ty {
            Some(call::Type::Acknowledge) => self
                .metrics
                .inc(Counter::InvalidStatusUpdateAcknowledgements),
            Some(call::Type::Message) => self
                .metrics
                .inc(Counter::InvalidFrameworkToExecutorMessages),
            _ => {}
        }
    }

    /// A HEARTBEAT went out on `stream_id`; counted if that is still the
    /// framework's stream (Mesos' heartbeater belongs to the connection).
    pub fn count_heartbeat(&self, framework_id: &str, stream_id: &str) {
        if let Some(fw) = self.frameworks.get(framework_id) {
            if fw.conn.as_ref().is_some_and(|c| c.stream_id == stream_id) {
                fw.metrics.event(event::Type::Heartbeat);
            }
        }
    }

    /// Bumps a master-wide counter for a call the HTTP shell handles itself
    /// or that reaches a shared state method: REQUEST (only counted; Mesos'
    /// allocator ignores resource requests, so does the devcluster's) and
    /// RECONCILE (counted per call; KILL of an unknown task reconciles
    /// without counting, as `Master::kill` calls `_reconcileTasks`).
    pub fn count(&mut self, counter: Counter) {
        self.metrics.inc(counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::{task_status, FrameworkId, TaskId};

    #[test]
    fn framework_keys_are_percent_encoded_and_complete() {
        let info = FrameworkInfo {
            name: "my fw/1".into(),
            id: Some(FrameworkId {
                value: "f-0".into(),
            }),
            ..Default::default()
        };
        let m = FrameworkMetrics::new(&info);
        assert_eq!(m.prefix(), "master/frameworks/my%20fw%2F1/f-0/");
        let keys: Vec<String> = m.values().into_iter().map(|(k, _)| k).collect();
        for k in [
            "calls/accept_inverse_offers",
            "calls/update_framework",
            "events/rescind_inverse_offer",
            "events/update_operation_status",
            "tasks/terminal/task_gone_by_operator",
            "offers/rescinded",
            "operations/launch_group",
        ] {
            assert!(keys.contains(&k.to_owned()), "{k} missing");
        }
        assert!(!keys.iter().any(|k| k.ends_with("/unknown")));
        assert!(!keys.contains(&"tasks/terminal/task_running".to_owned()));
        assert_eq!(keys.len(), 2 + 17 + 11 + 4 + 8 + 3);
    }

    #[test]
    fn calls_events_and_terminal_states_count_like_mesos() {
        let m = FrameworkMetrics::new(&FrameworkInfo::default());
        m.call(call::Type::Suppress);
        m.call(call::Type::Suppress);
        m.event(event::Type::Offers);
        m.offers_sent(3);
        m.task_state(Some(TaskState::TaskRunning), TaskState::TaskKilling);
        m.task_state(Some(TaskState::TaskKilling), TaskState::TaskKilled);
        // A terminal task does not change any more.
        m.task_state(Some(TaskState::TaskKilled), TaskState::TaskFailed);
        let v: BTreeMap<String, u64> = m.values().into_iter().collect();
        assert_eq!(v["calls"], 2);
        assert_eq!(v["calls/suppress"], 2);
        assert_eq!(v["events"], 1);
        assert_eq!(v["offers/sent"], 3);
        assert_eq!(v["tasks/terminal/task_killed"], 1);
        assert_eq!(v["tasks/terminal/task_failed"], 0);
    }

    #[test]
    fn task_reasons_use_v0_names_and_appear_on_first_use() {
        let mut m = MasterMetrics::default();
        assert!(m.values().all(|(k, _)| !k.starts_with("master/task_")));
        m.task_ended(&TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: TaskState::TaskLost as i32,
            source: Some(task_status::Source::Master as i32),
            reason: Some(task_status::Reason::AgentRemoved as i32),
            ..Default::default()
        });
        m.task_ended(&TaskStatus {
            state: TaskState::TaskUnreachable as i32,
            ..Default::default()
        });
        let v: BTreeMap<String, u64> = m.values().collect();
        assert_eq!(v["master/tasks_lost"], 1);
        assert_eq!(v["master/task_lost/source_master/reason_slave_removed"], 1);
        assert_eq!(v.len(), Counter::ALL.len() + 1);
    }
}
