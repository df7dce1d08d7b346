//! What agents tell the master over the link (`Master::registerSlave`,
//! `reregisterSlave`, `statusUpdate`, `exitedExecutor`, ...) and how an agent
//! leaves (`__removeSlave`).

use std::collections::{BTreeMap, BTreeSet};

use kube_mesos_proto::v1::master as operator;
use kube_mesos_proto::v1::scheduler::Event;
use kube_mesos_proto::v1::{
    task_status, AgentId, AgentInfo, ExecutorInfo, FrameworkInfo, Task, TaskState, TaskStatus,
};

use super::metrics::{count_task_update, Counter};
use super::{
    event, fw_id, is_terminal, master_status, now_time, update_event, Agent, Framework, Removal,
    State,
};
use crate::mesos::link::{AgentInbox, AgentMessage, MasterMessage};
use crate::mesos::master::resources::Resources;

impl State {
    /// An agent message from the link.
    pub fn agent_message(&mut self, msg: AgentMessage) {
        if let (Some(held), AgentMessage::Register { .. }) = (&mut self.held_registrations, &msg) {
            held.push(msg);
            return;
        }
        match msg {
            AgentMessage::Register {
                info,
                executors,
                tasks,
                frameworks,
                inbox,
                reply,
            } => {
                let known_id = info.id.as_ref().is_some_and(|i| !i.value.is_empty());
                self.metrics.inc(if known_id {
                    Counter::MessagesReregisterSlave
                } else {
                    Counter::MessagesRegisterSlave
                });
                let result = self.register_agent(info, executors, tasks, frameworks, inbox);
                let _ = reply.send(result);
            }
            AgentMessage::StatusUpdate {
                agent_id,
                framework_id,
                status,
            } => self.status_update(&agent_id.value, &framework_id.value, status),
            AgentMessage::ExecutorExited {
                agent_id,
                framework_id,
                executor_id,
                status,
            } => {
                self.metrics.inc(Counter::MessagesExitedExecutor);
                if let Some(agent) = self.agents.get_mut(&agent_id.value) {
                    agent
                        .executors
                        .remove(&(framework_id.value.clone(), executor_id.value.clone()));
                }
                if let Some(fw) = self.frameworks.get(&framework_id.value) {
                    fw.send(Event {
                        failure: Some(event::Failure {
                            agent_id: Some(agent_id),
                            executor_id: Some(executor_id),
                            status,
                        }),
                        ..event(event::Type::Failure)
                    });
                }
            }
            AgentMessage::ResourcesRecovered { .. } => {
                // The executor's resources came back when ExecutorExited,
                // which the agent always sends first, removed it by ID (as
                // Mesos' `removeExecutor` recovers `executor.resources()`).
                // Matching executors by their resources here would also drop
                // a twin of the same shape, such as the new executor of an
                // upgrade running next to the old one.
            }
            AgentMessage::FrameworkMessage {
                agent_id,
                framework_id,
                executor_id,
                data,
            } => {
                self.metrics.inc(Counter::MessagesExecutorToFramework);
                let valid = self.agents.contains_key(&agent_id.value)
                    && self
                        .frameworks
                        .get(&framework_id.value)
                        .is_some_and(|f| f.conn.is_some());
                self.metrics.inc(if valid {
                    Counter::ValidExecutorToFrameworkMessages
                } else {
                    Counter::InvalidExecutorToFrameworkMessages
                });
                if let Some(fw) = self.frameworks.get(&framework_id.value) {
                    fw.send(Event {
                        message: Some(event::Message {
                            agent_id,
                            executor_id,
                            data,
                        }),
                        ..event(event::Type::Message)
                    });
                }
            }
            AgentMessage::Unregister { agent_id } => {
                self.metrics.inc(Counter::MessagesUnregisterSlave);
                if self.agents.contains_key(&agent_id.value) {
                    self.remove_agent(&agent_id.value, Removal::Unregistered, false);
                }
            }
        }
    }

    fn register_agent(
        &mut self,
        mut info: AgentInfo,
        executors: Vec<ExecutorInfo>,
        tasks: Vec<Task>,
        frameworks: Vec<FrameworkInfo>,
        inbox: AgentInbox,
    ) -> Result<AgentId, String> {
        let had_id = info.id.as_ref().is_some_and(|i| !i.value.is_empty());
        let id = match info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|v| !v.is_empty())
        {
            Some(id) => {
                if self.gone_agents.contains_key(&id) {
                    let _ = inbox.send(MasterMessage::Shutdown {
                        message: "Agent has been marked gone".into(),
                    });
                    return Err("Agent has been marked gone".into());
                }
                id
            }
            None => {
                let id = format!("{}-S{}", self.master_id(), self.next_agent);
                self.next_agent += 1;
                id
            }
        };
        // `Master::registerSlave` / `reregisterSlave`: no agent of a DOWN
        // machine is let in.
        if self.machine_down(&info) {
            tracing::warn!(agent_id = %id, hostname = %info.hostname, "refusing the registration of an agent whose machine is DOWN");
            let _ = inbox.send(MasterMessage::Shutdown {
                message: "Machine is `DOWN`".into(),
            });
            return Err("Machine is `DOWN`".into());
        }
        info.id = Some(AgentId { value: id.clone() });
        let was_unreachable = self.unreachable_agents.contains_key(&id);
        let was_recovered = self.recovered_agents.contains_key(&id);
        // `Master::__reregisterSlave`: an agent re-registering that this
        // master had neither registered nor recovered from its registry
        // (unknown, or unreachable) has its tasks sent to the frameworks.
        let announce = (!self.agents.contains_key(&id) && !self.recovered_agents.contains_key(&id))
            .then_some(if was_unreachable {
                "Unreachable agent re-reregistered"
            } else {
                "Unknown agent reregistered"
            });
        let reregistered = self.agents.contains_key(&id)
            || was_unreachable
            || self.recovered_agents.contains_key(&id);
        self.unreachable_agents.remove(&id);
        self.recovered_agents.remove(&id);
        tracing::info!(agent_id = %id, hostname = %info.hostname, reregistered, "agent registered");

        let previous = self.agents.remove(&id);
        // A new agent is registered; an agent the master did not hold as
        // registered (recovered, unreachable, or unknown) is re-registered
        // (`__registerSlave` / `__reregisterSlave`).
        if previous.is_none() {
            self.metrics.inc(if had_id {
                Counter::SlaveReregistrations
            } else {
                Counter::SlaveRegistrations
            });
        }
        let mut agent = Agent {
            total: Resources::from_protos(&info.resources).unallocated(),
            info,
            inbox,
            connected: true,
            disconnected_at: None,
            registered_time: previous
                .as_ref()
                .map(|p| p.registered_time)
                .unwrap_or_else(now_time),
            reregistered_time: if reregistered { Some(now_time()) } else { None },
            executors: BTreeMap::new(),
            killed_tasks: BTreeSet::new(),
        };
        // `Master::reconcileKnownSlave`: KILLs the agent may have missed
        // while disconnected are sent again for the tasks it still runs.
        if let Some(previous) = &previous {
            for t in tasks.iter().filter(|t| !is_terminal(t.state())) {
                let key = (t.framework_id.value.clone(), t.task_id.value.clone());
                if previous.killed_tasks.contains(&key) {
                    tracing::warn!(agent_id = %id, task_id = %t.task_id.value, "agent has a live task that is supposed to be killed; killing it now");
                    agent.send(MasterMessage::KillTask {
                        framework_id: t.framework_id.clone(),
                        task_id: t.task_id.clone(),
                        kill_policy: None,
                    });
                    agent.killed_tasks.insert(key);
                }
            }
        }
        for e in executors {
            let f = e
                .framework_id
                .as_ref()
                .map(|f| f.value.clone())
                .unwrap_or_default();
            agent.executors.insert((f, e.executor_id.value.clone()), e);
        }
        // Offers on this agent are void.
        let stale: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.offer.agent_id.value == id)
            .map(|(k, _)| k.clone())
            .collect();
        for o in stale {
            self.remove_offer(&o, true);
        }
        // Frameworks the agent knows about that this master does not (after
        // a master restart): recovered, not connected.
        for fi in frameworks {
            let Some(fid) = fi.id.as_ref().map(|i| i.value.clone()) else {
                continue;
            };
            if self.completed_frameworks.iter().any(|f| f.id() == fid) {
                continue;
            }
            self.frameworks
                .entry(fid)
                .or_insert_with(|| Framework::recovered(fi.clone()));
        }
        // The agent's view of its tasks wins: bring unreachable tasks back,
        // add unknown ones, and drop what the agent no longer has.
        let reported: BTreeSet<(String, String)> = tasks
            .iter()
            .map(|t| (t.framework_id.value.clone(), t.task_id.value.clone()))
            .collect();
        for mut t in tasks {
            t.agent_id = AgentId { value: id.clone() };
            let fid = t.framework_id.value.clone();
            if !self.frameworks.contains_key(&fid)
                && !self.completed_frameworks.iter().any(|f| f.id() == fid)
            {
                // The agent did not name the framework: recover it from the
                // task until the scheduler resubscribes with its info.
                let info = FrameworkInfo {
                    id: Some(fw_id(&fid)),
                    ..Default::default()
                };
                self.frameworks
                    .insert(fid.clone(), Framework::recovered(info));
            }
            if let Some(fw) = self.frameworks.get_mut(&fid) {
                fw.unreachable_tasks.remove(&t.task_id.value);
                if !was_recovered {
                    // MESOS-9940: a task the master took for terminal that
                    // the agent brings back is tracked once, not as both.
                    fw.completed_tasks.retain(|c| c.task_id != t.task_id);
                }
                // `Framework::addTask` counts a task added in a terminal state.
                if !fw.tasks.contains_key(&t.task_id.value) {
                    fw.metrics.task_state(None, t.state());
                }
                if let Some(message) = announce {
                    // Sent to connected frameworks, dropped for others.
                    let mut status = master_status(
                        &t.task_id,
                        TaskState::try_from(t.state).unwrap_or(TaskState::TaskStaging),
                        message,
                        task_status::Reason::AgentReregistered,
                        Some(&t.agent_id),
                        t.executor_id.as_ref(),
                    );
                    if let Some(last) = t.statuses.last() {
                        status.healthy = last.healthy;
                        status.container_status = last.container_status.clone();
                    }
                    tracing::info!(task_id = %t.task_id.value, agent_id = %id, message, "sending the task of a re-registered agent");
                    fw.send(update_event(status));
                }
                fw.tasks.insert(t.task_id.value.clone(), t);
            }
        }
        let mut dropped: Vec<(String, Task)> = Vec::new();
        for (fid, fw) in self.frameworks.iter_mut() {
            let missing: Vec<String> = fw
                .tasks
                .values()
                .chain(fw.unreachable_tasks.values())
                .filter(|t| {
                    t.agent_id.value == id
                        && !reported.contains(&(fid.clone(), t.task_id.value.clone()))
                        && !is_terminal(t.state())
                })
                .map(|t| t.task_id.value.clone())
                .collect();
            for tid in missing {
                let t = fw
                    .tasks
                    .remove(&tid)
                    .or_else(|| fw.unreachable_tasks.remove(&tid));
                if let Some(t) = t {
                    dropped.push((fid.clone(), t));
                }
            }
        }
        self.agents.insert(id.clone(), agent);
        self.persist_registry();
        for (fid, mut t) in dropped {
            if let Some(fw) = self.frameworks.get_mut(&fid) {
                let state = if fw.partition_aware() {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                };
                let status = master_status(
                    &t.task_id,
                    state,
                    "Task is unknown to the agent",
                    task_status::Reason::Reconciliation,
                    Some(&t.agent_id),
                    t.executor_id.as_ref(),
                );
                count_task_update(&mut self.metrics, Some(&fw.metrics), t.state(), &status);
                t.state = state as i32;
                t.statuses.push(status.clone());
                fw.completed_tasks.push(t);
                fw.send(update_event(status));
            }
        }
        let a = self.agent_summary(&id);
        self.publish(operator::Event {
            r#type: Some(operator::event::Type::AgentAdded as i32),
            agent_added: a.map(|agent| operator::event::AgentAdded { agent }),
            ..Default::default()
        });
        self.allocation_wanted = true;
        Ok(AgentId { value: id })
    }

    /// A status update from an agent (`Master::statusUpdate`): forwarded
    /// first, then applied to the task.
    fn status_update(&mut self, agent_id: &str, framework_id: &str, mut status: TaskStatus) {
        self.metrics.inc(Counter::MessagesStatusUpdate);
        if !self.agents.contains_key(agent_id) {
            tracing::warn!(agent_id, "status update from an unknown agent dropped");
            self.metrics.inc(Counter::InvalidStatusUpdates);
            return;
        }
        if status.agent_id.is_none() {
            status.agent_id = Some(AgentId {
                value: agent_id.to_owned(),
            });
        }
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            tracing::warn!(
                framework_id,
                "status update for an unknown framework dropped"
            );
            self.metrics.inc(Counter::InvalidStatusUpdates);
            return;
        };
        // Mesos forwards (and counts the event) only to a connected framework.
        let connected = fw.conn.is_some();
        if connected {
            fw.send(update_event(status.clone()));
        }
        // `slave->getTask(...)`: the task on *this* agent. A task ID the
        // framework used again on another agent (allowed once the first
        // task is terminal) is not touched by a late update of the first.
        let Some(task) = fw
            .tasks
            .get_mut(&status.task_id.value)
            .filter(|t| t.agent_id.value == agent_id)
        else {
            self.metrics.inc(Counter::InvalidStatusUpdates);
            return;
        };
        count_task_update(&mut self.metrics, Some(&fw.metrics), task.state(), &status);
        self.metrics.inc(if connected {
            Counter::ValidStatusUpdates
        } else {
            Counter::InvalidStatusUpdates
        });
        if status.executor_id.is_none() {
            status.executor_id = task.executor_id.clone();
        }
        let was_terminal = is_terminal(task.state());
        if !was_terminal {
            task.state = status.state;
        }
        task.status_update_state = Some(status.state);
        task.status_update_uuid = status.uuid.clone();
        task.statuses.push(status.clone());
        let remove_now = is_terminal(status.state()) && status.uuid.is_none();
        if remove_now {
            if let Some(t) = fw.tasks.remove(&status.task_id.value) {
                fw.completed_tasks.push(t);
            }
        }
        if is_terminal(status.state()) {
            if let Some(agent) = self.agents.get_mut(agent_id) {
                agent
                    .killed_tasks
                    .remove(&(framework_id.to_owned(), status.task_id.value.clone()));
            }
        }
        let state = status.state;
        self.publish(operator::Event {
            r#type: Some(operator::event::Type::TaskUpdated as i32),
            task_updated: Some(operator::event::TaskUpdated {
                framework_id: fw_id(framework_id),
                status,
                state,
            }),
            ..Default::default()
        });
    }

    /// Removes an agent (`__removeSlave`), telling frameworks about its tasks.
    pub fn remove_agent(&mut self, agent_id: &str, how: Removal, shutdown: bool) -> bool {
        let Some(agent) = self.agents.remove(agent_id) else {
            return false;
        };
        tracing::info!(agent_id, ?how, "removing agent");
        let counters: &[Counter] = match &how {
            // The health-check path: scheduled, completed, `_markUnreachable`.
            Removal::Unreachable(_) => &[
                Counter::SlaveUnreachableScheduled,
                Counter::SlaveUnreachableCompleted,
                Counter::SlaveRemovals,
                Counter::SlaveRemovalsReasonUnhealthy,
            ],
            Removal::Unregistered => &[
                Counter::SlaveRemovals,
                Counter::SlaveRemovalsReasonUnregistered,
            ],
            // `Master::markGone` counts no removal.
            Removal::Gone => &[],
            // `_startMaintenance` removes it without a reason counter.
            Removal::MachineDown => &[Counter::SlaveRemovals],
        };
        for c in counters {
            self.metrics.inc(*c);
        }
        let stale: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.offer.agent_id.value == agent_id)
            .map(|(k, _)| k.clone())
            .collect();
        for o in stale {
            self.remove_offer(&o, true);
        }
        self.rescind_inverse_offers_of_agent(agent_id);
        let unreachable_time = now_time();
        let message = match &how {
            Removal::Gone => "Agent has been marked gone".to_owned(),
            Removal::Unreachable(m) => m.clone(),
            Removal::Unregistered => "agent unregistered".to_owned(),
            Removal::MachineDown => super::maintenance::MACHINE_DOWN.to_owned(),
        };
        for fw in self.frameworks.values_mut() {
            let ids: Vec<String> = fw
                .tasks
                .values()
                .filter(|t| t.agent_id.value == agent_id)
                .map(|t| t.task_id.value.clone())
                .collect();
            let pa = fw.partition_aware();
            for tid in ids {
                let Some(mut t) = fw.tasks.remove(&tid) else {
                    continue;
                };
                if is_terminal(t.state()) {
                    fw.completed_tasks.push(t);
                    continue;
                }
                let (state, reason) = match (&how, pa) {
                    (Removal::Gone | Removal::MachineDown, true) => (
                        TaskState::TaskGoneByOperator,
                        task_status::Reason::AgentRemovedByOperator,
                    ),
                    (Removal::Unreachable(_), true) => (
                        TaskState::TaskUnreachable,
                        task_status::Reason::AgentRemoved,
                    ),
                    (Removal::Unregistered, true) => {
                        (TaskState::TaskGone, task_status::Reason::AgentRemoved)
                    }
                    (_, false) => (TaskState::TaskLost, task_status::Reason::AgentRemoved),
                };
                let mut status = master_status(
                    &t.task_id,
                    state,
                    &message,
                    reason,
                    Some(&t.agent_id),
                    t.executor_id.as_ref(),
                );
                if matches!(how, Removal::Unreachable(_)) {
                    status.unreachable_time = Some(unreachable_time);
                }
                count_task_update(&mut self.metrics, Some(&fw.metrics), t.state(), &status);
                fw.send(update_event(status.clone()));
                t.state = state as i32;
                t.status_update_state = Some(state as i32);
                t.status_update_uuid = None;
                t.statuses.push(status);
                if matches!(how, Removal::Unreachable(_)) && pa {
                    fw.unreachable_tasks.insert(tid, t);
                } else if matches!(how, Removal::Unreachable(_)) {
                    // Non-partition-aware frameworks see TASK_LOST, yet the
                    // task may come back when the agent re-registers.
                    fw.unreachable_tasks.insert(tid, t);
                } else {
                    fw.completed_tasks.push(t);
                }
            }
        }
        match &how {
            Removal::Gone => {
                self.gone_agents.insert(agent_id.to_owned(), now_time());
            }
            Removal::Unreachable(_) => {
                self.unreachable_agents
                    .insert(agent_id.to_owned(), (agent.info.clone(), unreachable_time));
            }
            Removal::Unregistered | Removal::MachineDown => {}
        }
        self.persist_registry();
        if shutdown {
            agent.send(MasterMessage::Shutdown { message });
        }
        self.publish(operator::Event {
            r#type: Some(operator::event::Type::AgentRemoved as i32),
            agent_removed: Some(operator::event::AgentRemoved {
                agent_id: AgentId {
                    value: agent_id.to_owned(),
                },
            }),
            ..Default::default()
        });
        true
    }
}
