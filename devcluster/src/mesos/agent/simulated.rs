//! Simulated agents: thousands of agents in one process, for scale tests
//! and benchmarks of the master and the framework.
//!
//! Each simulated agent registers over the link like a real one and keeps
//! the same status update discipline (the pure [`StatusUpdateManager`]: one
//! outstanding update per task, retried until acknowledged), but it has no
//! HTTP server, no sandbox and no processes: an in-process fake executor
//! answers every launched task with TASK_RUNNING after a configurable delay,
//! keeps it running until it is killed, and answers KILL with TASK_KILLED.
//! Like a real agent recovering with its executors alive, it re-registers
//! after a master failover with its frameworks, executors and tasks. One
//! small tokio task per agent keeps thousands of them cheap.
//!
//!
//! A [`TaskHook`] sees each task turn running and end, with the task's
//! labels: benchmarks use it as a hollow kubelet (kubemark's idea) that
//! writes the pod status a real executor would, so that "Running" means the
//! same thing to a watch as with real executors.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::Arc;

use kube_mesos_proto::v1::{
    task_status, AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Label,
    Resource, Task, TaskId, TaskState, TaskStatus,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::config::AgentConfig;
use super::status_update::{Action, Received, StatusUpdateManager, StreamKey};
use crate::mesos::link::{AgentMessage, MasterLink, MasterMessage};

/// A simulated task changed state (TASK_RUNNING, or TASK_KILLED on a KILL).
#[derive(Debug, Clone)]
pub struct SimTaskEvent {
    /// The agent's hostname.
    pub hostname: String,
    /// The task.
    pub task_id: TaskId,
    /// The state the fake executor reported.
    pub state: TaskState,
    /// `TaskInfo.labels` of the launch.
    pub labels: Vec<Label>,
}

/// Called by a simulated agent for every [`SimTaskEvent`], on its own task:
/// it must not block (hand the event to a channel).
#[derive(Clone)]
pub struct TaskHook(pub Arc<dyn Fn(SimTaskEvent) + Send + Sync>);

impl std::fmt::Debug for TaskHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskHook")
    }
}

/// How the fake executor behaves.
#[derive(Debug, Clone)]
pub struct SimulationConfig {
    /// Delay between LAUNCH and TASK_RUNNING. Default 100 ms.
    pub running_delay: Duration,
    /// Told about every task that runs or is killed. Default none.
    pub on_task: Option<TaskHook>,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            running_delay: Duration::from_millis(100),
            on_task: None,
        }
    }
}

/// A fleet of simulated agents.
#[derive(Debug)]
pub struct SimulatedAgents {
    tasks: JoinSet<()>,
    /// Each agent's hostname and the handle that stops it, by index.
    agents: Vec<(String, AbortHandle)>,
    registered: watch::Receiver<Vec<Option<AgentId>>>,
}

enum SimInput {
    Master(Box<MasterMessage>),
    Registered(Result<AgentId, String>),
    MasterGone,
    Register,
    Running {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        task_id: TaskId,
    },
    Retry {
        key: StreamKey,
        uuid: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
struct SimTask {
    name: String,
    executor_id: ExecutorId,
    resources: Vec<Resource>,
    state: TaskState,
    /// Kept only when a hook wants them.
    labels: Vec<Label>,
}

impl SimTask {
    /// The task as a re-registration reports it (`ReregisterSlaveMessage`).
    fn proto(&self, framework_id: &str, task_id: &str, agent_id: Option<&AgentId>) -> Task {
        Task {
            name: self.name.clone(),
            task_id: TaskId {
                value: task_id.to_owned(),
            },
            framework_id: FrameworkId {
                value: framework_id.to_owned(),
            },
            executor_id: Some(self.executor_id.clone()),
            agent_id: agent_id.cloned().unwrap_or_default(),
            state: self.state as i32,
            resources: self.resources.clone(),
            status_update_state: Some(self.state as i32),
            ..Default::default()
        }
    }
}

impl SimulatedAgents {
    /// Starts `n` simulated agents named `<template.hostname>-<i>`, each with
    /// the template's resources and attributes, with default behaviour.
    pub fn start(n: usize, template: &AgentConfig, master: MasterLink) -> SimulatedAgents {
        Self::start_with(n, template, master, SimulationConfig::default())
    }

    /// Like [`SimulatedAgents::start`], with a given behaviour.
    pub fn start_with(
        n: usize,
        template: &AgentConfig,
        master: MasterLink,
        sim: SimulationConfig,
    ) -> SimulatedAgents {
        let (registered_tx, registered) = watch::channel(vec![None; n]);
        let mut tasks = JoinSet::new();
        let mut agents = Vec::with_capacity(n);
        for index in 0..n {
            let info = AgentInfo {
                hostname: format!("{}-{index}", template.hostname),
                port: Some(5051),
                resources: template.resources.clone(),
                attributes: template.attributes.clone(),
                id: None,
                domain: template.domain.clone(),
            };
            let agent = SimAgent {
                index,
                info,
                master: master.clone(),
                sim: sim.clone(),
                retry_min: template.status_update_retry_min,
                retry_max: template.status_update_retry_max,
                backoff: template.registration_backoff,
                registered: registered_tx.clone(),
            };
            let hostname = agent.info.hostname.clone();
            agents.push((hostname, tasks.spawn(agent.run())));
        }
        SimulatedAgents {
            tasks,
            agents,
            registered,
        }
    }

    /// How many agents have registered.
    pub fn registered_count(&self) -> usize {
        self.registered.borrow().iter().flatten().count()
    }

    /// Waits until every agent has registered; returns their IDs.
    pub async fn wait_registered(&self) -> Vec<AgentId> {
        let mut rx = self.registered.clone();
        let ids = rx
            .wait_for(|ids| ids.iter().all(Option::is_some))
            .await
            .map(|ids| ids.iter().flatten().cloned().collect())
            .unwrap_or_default();
        ids
    }

    /// Number of agents.
    pub fn len(&self) -> usize {
        self.registered.borrow().len()
    }

    /// Whether there are no agents.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fault hook: the agent named `hostname` dies with its machine — it
    /// stops without a word to the master (which sees its link drop and
    /// marks it unreachable after its pings) and never comes back. Returns
    /// false for a hostname of none of them.
    pub fn lose(&self, hostname: &str) -> bool {
        let Some((_, handle)) = self.agents.iter().find(|(h, _)| h == hostname) else {
            return false;
        };
        handle.abort();
        tracing::info!(%hostname, "simulated agent lost (fault hook)");
        true
    }

    /// Stops every agent at once (as a crash: nothing is reported).
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

struct SimAgent {
    index: usize,
    info: AgentInfo,
    master: MasterLink,
    sim: SimulationConfig,
    retry_min: Duration,
    retry_max: Duration,
    backoff: Duration,
    registered: watch::Sender<Vec<Option<AgentId>>>,
}

impl SimAgent {
    fn notify(&self, task_id: &TaskId, state: TaskState, labels: &[Label]) {
        if let Some(hook) = &self.sim.on_task {
            (hook.0)(SimTaskEvent {
                hostname: self.info.hostname.clone(),
                task_id: task_id.clone(),
                state,
                labels: labels.to_vec(),
            });
        }
    }

    async fn run(self) {
        let (tx, mut rx) = mpsc::unbounded_channel::<SimInput>();
        let mut helpers = JoinSet::new();
        let mut sum = StatusUpdateManager::new(self.retry_min, self.retry_max);
        let mut frameworks: BTreeMap<String, FrameworkInfo> = BTreeMap::new();
        let mut tasks: BTreeMap<(String, String), SimTask> = BTreeMap::new();
        let mut executors: BTreeMap<(String, String), ExecutorInfo> = BTreeMap::new();
        let mut agent_id: Option<AgentId> = None;
        let mut connected = false;
        let _ = tx.send(SimInput::Register);
        while let Some(input) = rx.recv().await {
            while helpers.try_join_next().is_some() {}
            let mut actions = Vec::new();
            match input {
                SimInput::Register => {
                    let mut info = self.info.clone();
                    info.id = agent_id.clone();
                    let (inbox, mut inbox_rx) = mpsc::unbounded_channel();
                    let (reply, reply_rx) = oneshot::channel();
                    let message = AgentMessage::Register {
                        info,
                        executors: executors.values().cloned().collect(),
                        tasks: tasks
                            .iter()
                            .map(|((fw, id), t)| t.proto(fw, id, agent_id.as_ref()))
                            .collect(),
                        frameworks: frameworks.values().cloned().collect(),
                        inbox,
                        reply,
                    };
                    if self.master.send(message).is_err() {
                        return;
                    }
                    let tx = tx.clone();
                    helpers.spawn(async move {
                        let result = reply_rx
                            .await
                            .unwrap_or_else(|_| Err("master dropped the registration".into()));
                        let ok = result.is_ok();
                        let _ = tx.send(SimInput::Registered(result));
                        if !ok {
                            return;
                        }
                        while let Some(m) = inbox_rx.recv().await {
                            let _ = tx.send(SimInput::Master(Box::new(m)));
                        }
                        let _ = tx.send(SimInput::MasterGone);
                    });
                }
                SimInput::Registered(Ok(id)) => {
                    agent_id = Some(id.clone());
                    connected = true;
                    self.registered.send_modify(|ids| {
                        if let Some(slot) = ids.get_mut(self.index) {
                            *slot = Some(id);
                        }
                    });
                    actions.extend(sum.resume());
                }
                SimInput::Registered(Err(_)) | SimInput::MasterGone => {
                    connected = false;
                    sum.pause();
                    let tx = tx.clone();
                    let backoff = self.backoff;
                    helpers.spawn(async move {
                        tokio::time::sleep(backoff).await;
                        let _ = tx.send(SimInput::Register);
                    });
                }
                SimInput::Running {
                    framework_id,
                    executor_id,
                    task_id,
                } => {
                    let key = (framework_id.value.clone(), task_id.value.clone());
                    if let Some(task) = tasks.get_mut(&key) {
                        if task.state == TaskState::TaskStaging {
                            task.state = TaskState::TaskRunning;
                            self.notify(&task_id, TaskState::TaskRunning, &task.labels);
                            let status = status(
                                &task_id,
                                &executor_id,
                                agent_id.as_ref(),
                                TaskState::TaskRunning,
                                None,
                            );
                            if let Received::Accepted(a) = sum.update(&framework_id, status) {
                                actions.extend(a);
                            }
                        }
                    }
                }
                SimInput::Retry { key, uuid } => actions.extend(sum.retry(&key, &uuid)),
                SimInput::Master(message) => match *message {
                    MasterMessage::RunTasks {
                        framework,
                        executor,
                        tasks: infos,
                        ..
                    } => {
                        let fw_id = framework.id.clone().unwrap_or_default();
                        frameworks.insert(fw_id.value.clone(), framework);
                        let mut executor_info = executor.clone();
                        executor_info
                            .framework_id
                            .get_or_insert_with(|| fw_id.clone());
                        executors.insert(
                            (fw_id.value.clone(), executor.executor_id.value.clone()),
                            executor_info,
                        );
                        for info in infos {
                            tasks.insert(
                                (fw_id.value.clone(), info.task_id.value.clone()),
                                SimTask {
                                    name: info.name.clone(),
                                    executor_id: executor.executor_id.clone(),
                                    resources: info.resources.clone(),
                                    state: TaskState::TaskStaging,
                                    labels: match (&self.sim.on_task, &info.labels) {
                                        (Some(_), Some(l)) => l.labels.clone(),
                                        _ => Vec::new(),
                                    },
                                },
                            );
                            let tx = tx.clone();
                            let delay = self.sim.running_delay;
                            let input = SimInput::Running {
                                framework_id: fw_id.clone(),
                                executor_id: executor.executor_id.clone(),
                                task_id: info.task_id,
                            };
                            helpers.spawn(async move {
                                tokio::time::sleep(delay).await;
                                let _ = tx.send(input);
                            });
                        }
                    }
                    MasterMessage::KillTask {
                        framework_id,
                        task_id,
                        ..
                    } => {
                        let key = (framework_id.value.clone(), task_id.value.clone());
                        let killed = tasks.get_mut(&key).and_then(|task| {
                            if matches!(task.state, TaskState::TaskStaging | TaskState::TaskRunning)
                            {
                                task.state = TaskState::TaskKilled;
                                self.notify(&task_id, TaskState::TaskKilled, &task.labels);
                                Some(task.executor_id.clone())
                            } else {
                                None
                            }
                        });
                        let status = match killed {
                            Some(executor_id) => status(
                                &task_id,
                                &executor_id,
                                agent_id.as_ref(),
                                TaskState::TaskKilled,
                                None,
                            ),
                            None if !tasks.contains_key(&key) => status(
                                &task_id,
                                &ExecutorId::default(),
                                agent_id.as_ref(),
                                TaskState::TaskLost,
                                Some(task_status::Reason::ExecutorTerminated),
                            ),
                            None => continue,
                        };
                        if let Received::Accepted(a) = sum.update(&framework_id, status) {
                            actions.extend(a);
                        }
                    }
                    MasterMessage::ShutdownExecutor {
                        framework_id,
                        executor_id,
                    } => {
                        executors.remove(&(framework_id.value.clone(), executor_id.value.clone()));
                        let keys: Vec<(String, String)> = tasks
                            .iter()
                            .filter(|((fw, _), t)| {
                                *fw == framework_id.value
                                    && t.executor_id == executor_id
                                    && matches!(
                                        t.state,
                                        TaskState::TaskStaging | TaskState::TaskRunning
                                    )
                            })
                            .map(|(k, _)| k.clone())
                            .collect();
                        for key in keys {
                            if let Some(task) = tasks.get_mut(&key) {
                                task.state = TaskState::TaskKilled;
                            }
                            let task_id = TaskId {
                                value: key.1.clone(),
                            };
                            let status = status(
                                &task_id,
                                &executor_id,
                                agent_id.as_ref(),
                                TaskState::TaskKilled,
                                None,
                            );
                            if let Received::Accepted(a) = sum.update(&framework_id, status) {
                                actions.extend(a);
                            }
                        }
                    }
                    MasterMessage::UpdateFramework { framework } => {
                        let id = framework.id.clone().unwrap_or_default().value;
                        if let Some(known) = frameworks.get_mut(&id) {
                            *known = framework;
                            actions.extend(sum.resend_all());
                        }
                    }
                    MasterMessage::ShutdownFramework { framework_id } => {
                        tasks.retain(|(fw, _), _| *fw != framework_id.value);
                        executors.retain(|(fw, _), _| *fw != framework_id.value);
                        frameworks.remove(&framework_id.value);
                        sum.remove_framework(&framework_id.value);
                    }
                    MasterMessage::StatusUpdateAcknowledged {
                        framework_id,
                        task_id,
                        uuid,
                    } => {
                        if let Ok(acked) =
                            sum.acknowledge(&framework_id.value, &task_id.value, &uuid)
                        {
                            if acked.terminal {
                                tasks.remove(&(framework_id.value, task_id.value));
                            }
                            actions.extend(acked.actions);
                        }
                    }
                    MasterMessage::FrameworkMessage { .. } => {}
                    MasterMessage::Shutdown { .. } => return,
                },
            }
            for action in actions {
                match action {
                    Action::Forward {
                        framework_id,
                        status,
                    } => {
                        if connected {
                            let _ = self.master.send(AgentMessage::StatusUpdate {
                                agent_id: agent_id.clone().unwrap_or_default(),
                                framework_id,
                                status,
                            });
                        }
                    }
                    Action::ArmRetry { key, uuid, after } => {
                        let tx = tx.clone();
                        helpers.spawn(async move {
                            tokio::time::sleep(after).await;
                            let _ = tx.send(SimInput::Retry { key, uuid });
                        });
                    }
                }
            }
        }
    }
}

fn status(
    task_id: &TaskId,
    executor_id: &ExecutorId,
    agent_id: Option<&AgentId>,
    state: TaskState,
    reason: Option<task_status::Reason>,
) -> TaskStatus {
    let from_executor = reason.is_none();
    TaskStatus {
        task_id: task_id.clone(),
        state: state as i32,
        source: Some(if from_executor {
            task_status::Source::Executor as i32
        } else {
            task_status::Source::Agent as i32
        }),
        reason: reason.map(|r| r as i32),
        agent_id: agent_id.cloned(),
        executor_id: (!executor_id.value.is_empty()).then(|| executor_id.clone()),
        timestamp: Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        ),
        uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
        ..Default::default()
    }
}
