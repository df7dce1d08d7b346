//! The agent's core: frameworks, executors, tasks, and the async shell that
//! feeds them inputs.
//!
//! One task owns all state and handles one [`Input`] at a time: master
//! messages from the link, executor API calls from the HTTP server, process
//! exits and timer firings from helper tasks. Timers never cancel; each one
//! carries the container ID (or uuid) it was armed for and is ignored when the
//! state moved on, so the step logic needs no handles. The behaviour follows
//! apache/mesos `src/slave/slave.cpp` (`run`, `killTask`, `subscribe`,
//! `statusUpdate`, `executorTerminated`, `registerExecutorTimeout`,
//! `shutdownExecutor`, `recover`); the status update streams are the pure
//! [`StatusUpdateManager`].

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use kube_mesos_proto::v1::executor::{call, event, Call, Event};
use kube_mesos_proto::v1::{
    framework_info, task_status, AgentId, AgentInfo, ContainerId, ExecutorId, ExecutorInfo,
    FrameworkId, FrameworkInfo, KillPolicy, Task, TaskGroupInfo, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::checkpoint;
use super::config::{from_duration_info, mesos_duration, AgentConfig};
use super::killtree;
use super::launcher;
use super::state_view::{AgentSnapshot, ExecutorSnapshot, FrameworkSnapshot};
use super::status_update::{is_terminal, Action, Received, StatusUpdateManager, StreamKey};
use crate::mesos::link::{AgentMessage, MasterLink, MasterMessage};

/// An executor API call rejected with a Mesos status code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    pub message: String,
}

impl Rejection {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Rejection {
            status,
            message: message.into(),
        }
    }
}

/// What the core answers an executor call: the event stream for SUBSCRIBE,
/// nothing for the others (202).
pub type CallReply = Result<Option<mpsc::UnboundedReceiver<Event>>, Rejection>;

/// Key of an executor: (framework ID, executor ID).
type ExecKey = (String, String);

/// Faults and lifecycle requests from the handle.
#[derive(Debug)]
pub enum Control {
    /// Stop talking to the master (drop our inbox).
    Disconnect,
    /// Register again after [`Control::Disconnect`].
    Reconnect,
    /// Kill executors, unregister, stop; answer when done.
    Shutdown(oneshot::Sender<()>),
}

/// Everything the core reacts to.
#[derive(Debug)]
pub enum Input {
    /// A master message on link generation `generation`.
    Master {
        generation: u64,
        message: Box<MasterMessage>,
    },
    /// The master dropped our inbox.
    MasterGone { generation: u64 },
    /// The master answered our (re)registration.
    Registered {
        generation: u64,
        result: Result<AgentId, String>,
    },
    /// Time to try registering again.
    RegisterRetry { generation: u64 },
    /// An executor API call (already parsed and validated).
    Call {
        call: Box<Call>,
        reply: oneshot::Sender<CallReply>,
    },
    /// The executor process was started (pid) or could not be.
    Launched {
        key: ExecKey,
        container: String,
        result: Result<u32, String>,
    },
    /// The executor process exited (raw wait status, if known).
    Exited {
        key: ExecKey,
        container: String,
        status: Option<i32>,
    },
    /// `executor_registration_timeout` elapsed.
    RegistrationTimeout { key: ExecKey, container: String },
    /// `executor_reregistration_timeout` after recovery elapsed.
    ReregistrationTimeout,
    /// The shutdown grace period elapsed.
    ShutdownTimeout { key: ExecKey, container: String },
    /// A status update retry timer fired.
    StatusRetry { key: StreamKey, uuid: Vec<u8> },
    /// An executor's event stream was closed by the executor.
    StreamClosed {
        key: ExecKey,
        container: String,
        stream: u64,
    },
    /// A fault hook or lifecycle request.
    Control(Control),
    /// `/state` asks for a snapshot.
    Snapshot(oneshot::Sender<AgentSnapshot>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExecState {
    /// Launched (or launching), not subscribed yet.
    Registering,
    /// Subscribed at least once (or recovered alive).
    Running,
    /// Being shut down or killed.
    Terminating,
    /// The process is gone; kept until its tasks' terminal updates are acknowledged.
    Terminated,
}

#[derive(Debug, Clone)]
struct TaskEntry {
    info: TaskInfo,
    state: i32,
    /// The task's status history as the agent keeps it
    /// (`Executor::updateTaskState`): each update appended, replacing the
    /// last one when it has the same state. The master rebuilds a
    /// re-registering agent's tasks from it.
    statuses: Vec<TaskStatus>,
    /// Sent to the executor (LAUNCH / LAUNCH_GROUP).
    launched: bool,
}

#[derive(Debug, Clone)]
struct Queued {
    task_ids: Vec<String>,
    group: bool,
}

/// Why the agent is terminating an executor (ContainerTermination).
#[derive(Debug, Clone)]
struct Termination {
    state: TaskState,
    reason: task_status::Reason,
    message: String,
}

#[derive(Debug)]
struct Executor {
    info: ExecutorInfo,
    container: String,
    directory: PathBuf,
    state: ExecState,
    pid: Option<u32>,
    stream: Option<mpsc::UnboundedSender<Event>>,
    stream_seq: u64,
    tasks: BTreeMap<String, TaskEntry>,
    queue: Vec<Queued>,
    pending_termination: Option<Termination>,
    /// Recovered after an agent restart and not resubscribed yet.
    awaiting_resubscribe: bool,
}

#[derive(Debug)]
struct Framework {
    info: FrameworkInfo,
    executors: BTreeMap<String, Executor>,
    terminating: bool,
}

impl Framework {
    fn checkpointed(&self, config: &AgentConfig) -> bool {
        config.checkpoint && self.info.checkpoint.unwrap_or(false)
    }

    fn partition_aware(&self) -> bool {
        self.info
            .capabilities
            .iter()
            .any(|c| c.r#type == Some(framework_info::capability::Type::PartitionAware as i32))
    }

    fn executor_of(&self, task_id: &str) -> Option<String> {
        self.executors
            .iter()
            .find(|(_, e)| e.tasks.contains_key(task_id))
            .map(|(id, _)| id.clone())
    }
}

/// The core's state.
pub struct Core {
    config: Arc<AgentConfig>,
    addr: SocketAddr,
    master: MasterLink,
    info: AgentInfo,
    frameworks: BTreeMap<String, Framework>,
    sum: StatusUpdateManager,
    tx: mpsc::UnboundedSender<Input>,
    helpers: JoinSet<()>,
    generation: u64,
    connected: bool,
    fault_disconnected: bool,
    inbox_task: Option<AbortHandle>,
    agent_id_tx: watch::Sender<Option<AgentId>>,
    stream_seq: u64,
    shutting_down: Option<Vec<oneshot::Sender<()>>>,
    finished: bool,
    dirty: bool,
    /// ACKNOWLEDGED events owed to executors, sent once the checkpoint
    /// holding their updates is written.
    acks: Vec<(ExecKey, Event)>,
}

/// Inputs handled before one checkpoint covers them all.
const MAX_BATCH: usize = 256;

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn reject(status: StatusCode, message: &str) -> CallReply {
    Err(Rejection::new(status, message))
}

impl Core {
    /// Builds the core, recovering checkpointed state from the work dir.
    pub fn new(
        config: Arc<AgentConfig>,
        addr: SocketAddr,
        master: MasterLink,
        tx: mpsc::UnboundedSender<Input>,
        agent_id_tx: watch::Sender<Option<AgentId>>,
        recovered: Option<checkpoint::AgentState>,
    ) -> Self {
        let info = AgentInfo {
            hostname: config.hostname.clone(),
            port: Some(i32::from(addr.port())),
            resources: config.resources.clone(),
            attributes: config.attributes.clone(),
            id: None,
            domain: config.domain.clone(),
        };
        let sum = StatusUpdateManager::new(
            config.status_update_retry_min,
            config.status_update_retry_max,
        );
        let mut core = Core {
            config,
            addr,
            master,
            info,
            frameworks: BTreeMap::new(),
            sum,
            tx,
            helpers: JoinSet::new(),
            generation: 0,
            connected: false,
            fault_disconnected: false,
            inbox_task: None,
            agent_id_tx,
            stream_seq: 0,
            shutting_down: None,
            finished: false,
            dirty: false,
            acks: Vec::new(),
        };
        if let Some(state) = recovered {
            core.recover(state);
        }
        core
    }

    /// Runs until shut down. Dropping this future (a crash) leaves the
    /// executors running.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>) {
        self.register();
        while let Some(input) = rx.recv().await {
            // A group commit: the inputs already waiting are handled before
            // one checkpoint covers them all. The checkpoint is the whole
            // agent, so writing it after every input costs O(tasks) each
            // time and, under a churn of pods, most of a CPU.
            self.handle(input);
            let mut dirty = self.dirty;
            for _ in 1..MAX_BATCH {
                if self.finished {
                    break;
                }
                let Ok(input) = rx.try_recv() else {
                    break;
                };
                self.handle(input);
                dirty |= self.dirty;
            }
            while self.helpers.try_join_next().is_some() {}
            if dirty {
                self.write_checkpoint();
            }
            self.send_acks();
            if self.finished {
                break;
            }
        }
        tracing::info!(agent = %self.agent_id_str(), "agent stopped");
    }

    fn agent_id_str(&self) -> String {
        self.info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default()
    }

    fn agent_id(&self) -> AgentId {
        self.info.id.clone().unwrap_or_default()
    }

    fn after(&mut self, delay: Duration, input: Input) {
        let tx = self.tx.clone();
        self.helpers.spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(input);
        });
    }

    fn handle(&mut self, input: Input) {
        self.dirty = true;
        match input {
            Input::Master {
                generation,
                message,
            } => {
                if generation == self.generation && self.connected {
                    self.master_message(*message);
                }
            }
            Input::MasterGone { generation } => {
                if generation == self.generation && self.connected {
                    tracing::warn!(agent = %self.agent_id_str(), "master dropped the link; re-registering");
                    self.connected = false;
                    self.sum.pause();
                    let backoff = self.config.registration_backoff;
                    self.after(backoff, Input::RegisterRetry { generation });
                }
            }
            Input::Registered { generation, result } => self.registered(generation, result),
            Input::RegisterRetry { generation } => {
                if generation == self.generation && !self.connected && !self.fault_disconnected {
                    self.register();
                }
            }
            Input::Call { call, reply } => {
                let answer = self.executor_call(*call);
                let _ = reply.send(answer);
            }
            Input::Launched {
                key,
                container,
                result,
            } => self.launched(key, container, result),
            Input::Exited {
                key,
                container,
                status,
            } => {
                if self.is_current(&key, &container) {
                    self.executor_terminated(&key, status);
                }
            }
            Input::RegistrationTimeout { key, container } => {
                self.registration_timeout(key, container)
            }
            Input::ReregistrationTimeout => self.reregistration_timeout(),
            Input::ShutdownTimeout { key, container } => {
                if self.is_current(&key, &container) {
                    self.destroy(&key);
                }
            }
            Input::StatusRetry { key, uuid } => {
                self.dirty = false;
                let actions = self.sum.retry(&key, &uuid);
                self.perform(actions);
            }
            Input::StreamClosed {
                key,
                container,
                stream,
            } => {
                if let Some(ex) = self.executor_mut(&key) {
                    if ex.container == container && ex.stream_seq == stream {
                        tracing::info!(executor = %key.1, "executor closed its event stream");
                        ex.stream = None;
                    }
                }
            }
            Input::Control(control) => self.control(control),
            Input::Snapshot(reply) => {
                self.dirty = false;
                let _ = reply.send(self.snapshot());
            }
        }
    }

    /// What `/state` shows (see [`state_view`](super::state_view)).
    fn snapshot(&self) -> AgentSnapshot {
        let frameworks = self
            .frameworks
            .values()
            .map(|fw| FrameworkSnapshot {
                info: fw.info.clone(),
                executors: fw
                    .executors
                    .values()
                    .map(|ex| ExecutorSnapshot {
                        info: ex.info.clone(),
                        container: ex.container.clone(),
                        directory: ex.directory.display().to_string(),
                        tasks: ex
                            .tasks
                            .values()
                            .filter(|t| t.launched)
                            .map(|t| self.task_proto(&fw.info, ex, t))
                            .collect(),
                        queued: ex
                            .tasks
                            .values()
                            .filter(|t| !t.launched)
                            .map(|t| t.info.clone())
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        AgentSnapshot {
            info: self.info.clone(),
            frameworks,
        }
    }

    // ----- master link -------------------------------------------------

    fn register(&mut self) {
        self.generation += 1;
        let generation = self.generation;
        let (inbox, mut inbox_rx) = mpsc::unbounded_channel();
        let (reply, reply_rx) = oneshot::channel();
        let mut executors = Vec::new();
        let mut tasks = Vec::new();
        let mut frameworks = Vec::new();
        for fw in self.frameworks.values() {
            let mut any = false;
            for ex in fw.executors.values() {
                if ex.state != ExecState::Terminated {
                    executors.push(ex.info.clone());
                    any = true;
                }
                for task in ex.tasks.values() {
                    tasks.push(self.task_proto(&fw.info, ex, task));
                    any = true;
                }
            }
            if any {
                frameworks.push(fw.info.clone());
            }
        }
        let message = AgentMessage::Register {
            info: self.info.clone(),
            executors,
            tasks,
            frameworks,
            inbox,
            reply,
        };
        if self.master.send(message).is_err() {
            tracing::warn!("master link closed; will retry registration");
            let backoff = self.config.registration_backoff;
            self.after(backoff, Input::RegisterRetry { generation });
            return;
        }
        let tx = self.tx.clone();
        let handle = self.helpers.spawn(async move {
            let result = reply_rx
                .await
                .unwrap_or_else(|_| Err("master dropped the registration".to_owned()));
            let ok = result.is_ok();
            let _ = tx.send(Input::Registered { generation, result });
            if !ok {
                return;
            }
            while let Some(message) = inbox_rx.recv().await {
                if tx
                    .send(Input::Master {
                        generation,
                        message: Box::new(message),
                    })
                    .is_err()
                {
                    return;
                }
            }
            let _ = tx.send(Input::MasterGone { generation });
        });
        self.inbox_task = Some(handle);
    }

    fn registered(&mut self, generation: u64, result: Result<AgentId, String>) {
        if generation != self.generation || self.fault_disconnected {
            return;
        }
        match result {
            Ok(id) => {
                tracing::info!(agent_id = %id.value, "registered with the master");
                self.info.id = Some(id.clone());
                self.agent_id_tx.send_replace(Some(id));
                self.connected = true;
                let actions = self.sum.resume();
                self.perform(actions);
            }
            Err(message) => {
                tracing::warn!(%message, "master refused registration; retrying");
                let backoff = self.config.registration_backoff;
                self.after(backoff, Input::RegisterRetry { generation });
            }
        }
    }

    fn to_master(&self, message: AgentMessage) {
        if !self.connected {
            tracing::debug!(?message, "not connected to the master; dropping message");
            return;
        }
        if self.master.send(message).is_err() {
            tracing::warn!("master link closed");
        }
    }

    fn perform(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Forward {
                    framework_id,
                    status,
                } => {
                    let message = AgentMessage::StatusUpdate {
                        agent_id: self.agent_id(),
                        framework_id,
                        status,
                    };
                    self.to_master(message);
                }
                Action::ArmRetry { key, uuid, after } => {
                    self.after(after, Input::StatusRetry { key, uuid })
                }
            }
        }
    }

    fn master_message(&mut self, message: MasterMessage) {
        match message {
            MasterMessage::RunTasks {
                framework,
                executor,
                tasks,
                group,
            } => self.run_tasks(framework, executor, tasks, group),
            MasterMessage::KillTask {
                framework_id,
                task_id,
                kill_policy,
            } => self.kill_task(&framework_id.value, task_id, kill_policy),
            MasterMessage::ShutdownExecutor {
                framework_id,
                executor_id,
            } => self.shutdown_executor(&(framework_id.value, executor_id.value)),
            MasterMessage::ShutdownFramework { framework_id } => {
                self.shutdown_framework(&framework_id.value)
            }
            MasterMessage::UpdateFramework { framework } => self.update_framework(framework),
            MasterMessage::StatusUpdateAcknowledged {
                framework_id,
                task_id,
                uuid,
            } => self.acknowledged(&framework_id.value, &task_id.value, &uuid),
            MasterMessage::FrameworkMessage {
                framework_id,
                executor_id,
                data,
            } => {
                let key = (framework_id.value, executor_id.value);
                let event = Event {
                    r#type: Some(event::Type::Message as i32),
                    message: Some(event::Message { data }),
                    ..Default::default()
                };
                if let Some(ex) = self.executor_mut(&key) {
                    if ex.state == ExecState::Running {
                        send(ex, event);
                    }
                }
            }
            MasterMessage::Shutdown { message } => {
                tracing::warn!(%message, "master asked the agent to shut down");
                if let Err(err) = checkpoint::forget(&self.config.work_dir) {
                    tracing::warn!(%err, "forgetting the checkpoint failed");
                }
                self.begin_shutdown(None, false);
            }
        }
    }

    // ----- tasks and executors -----------------------------------------

    fn executor(&self, key: &ExecKey) -> Option<&Executor> {
        self.frameworks.get(&key.0)?.executors.get(&key.1)
    }

    fn executor_mut(&mut self, key: &ExecKey) -> Option<&mut Executor> {
        self.frameworks.get_mut(&key.0)?.executors.get_mut(&key.1)
    }

    fn is_current(&self, key: &ExecKey, container: &str) -> bool {
        self.executor(key)
            .is_some_and(|e| e.container == container && e.state != ExecState::Terminated)
    }

    fn task_proto(&self, fw: &FrameworkInfo, ex: &Executor, task: &TaskEntry) -> Task {
        Task {
            name: task.info.name.clone(),
            task_id: task.info.task_id.clone(),
            framework_id: fw.id.clone().unwrap_or_default(),
            executor_id: Some(ex.info.executor_id.clone()),
            agent_id: self.agent_id(),
            state: task.state,
            resources: task.info.resources.clone(),
            statuses: task.statuses.clone(),
            status_update_state: task.statuses.last().map(|s| s.state),
            status_update_uuid: task.statuses.last().and_then(|s| s.uuid.clone()),
            labels: task.info.labels.clone(),
            discovery: task.info.discovery.clone(),
            health_check: task.info.health_check.clone(),
            kill_policy: task.info.kill_policy,
            user: None,
            limits: task.info.limits.clone(),
        }
    }

    fn run_tasks(
        &mut self,
        framework: FrameworkInfo,
        mut executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
        group: bool,
    ) {
        let fw_id = framework.id.clone().unwrap_or_default();
        if executor.framework_id.is_none() {
            executor.framework_id = Some(fw_id.clone());
        }
        let key = (fw_id.value.clone(), executor.executor_id.value.clone());
        let agent_id = self.agent_id_str();
        let fw = self
            .frameworks
            .entry(key.0.clone())
            .or_insert_with(|| Framework {
                info: framework.clone(),
                executors: BTreeMap::new(),
                terminating: false,
            });
        fw.info = framework;
        if fw.terminating {
            tracing::warn!(framework = %key.0, "ignoring tasks of a terminating framework");
            return;
        }
        let partition_aware = fw.partition_aware();
        let state = fw.executors.get(&key.1).map(|e| e.state);
        match state {
            Some(s @ (ExecState::Terminating | ExecState::Terminated)) => {
                let lost = if partition_aware {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                };
                // `Slave::__run`'s words: a terminated executor is kept
                // until its tasks' terminal updates are acknowledged.
                let message = if s == ExecState::Terminating {
                    "Executor terminating"
                } else {
                    "Executor terminated"
                };
                for task in tasks {
                    self.agent_update(
                        &fw_id,
                        Some(&executor.executor_id),
                        &task.task_id,
                        lost,
                        task_status::Reason::ExecutorTerminated,
                        message,
                    );
                }
            }
            Some(ExecState::Running) => {
                let Some(ex) = fw.executors.get_mut(&key.1) else {
                    return;
                };
                let ids = add_tasks(ex, &tasks, true);
                deliver(ex, &ids, group);
            }
            Some(ExecState::Registering) => {
                let Some(ex) = fw.executors.get_mut(&key.1) else {
                    return;
                };
                let ids = add_tasks(ex, &tasks, false);
                ex.queue.push(Queued {
                    task_ids: ids,
                    group,
                });
            }
            None => {
                let container = uuid::Uuid::new_v4().to_string();
                let directory = launcher::sandbox_dir(
                    &self.config.work_dir,
                    &agent_id,
                    &key.0,
                    &key.1,
                    &container,
                );
                let env = launcher::executor_environment(
                    &self.config,
                    self.addr,
                    &agent_id,
                    &fw.info,
                    &executor,
                    &directory,
                );
                let mut ex = Executor {
                    info: executor.clone(),
                    container: container.clone(),
                    directory: directory.clone(),
                    state: ExecState::Registering,
                    pid: None,
                    stream: None,
                    stream_seq: 0,
                    tasks: BTreeMap::new(),
                    queue: Vec::new(),
                    pending_termination: None,
                    awaiting_resubscribe: false,
                };
                let ids = add_tasks(&mut ex, &tasks, false);
                ex.queue.push(Queued {
                    task_ids: ids,
                    group,
                });
                fw.executors.insert(key.1.clone(), ex);
                tracing::info!(framework = %key.0, executor = %key.1, %container, dir = %directory.display(), "launching executor");
                self.spawn_executor(key.clone(), container.clone(), executor, env, directory);
                let timeout = self.config.executor_registration_timeout;
                self.after(timeout, Input::RegistrationTimeout { key, container });
            }
        }
    }

    fn spawn_executor(
        &mut self,
        key: ExecKey,
        container: String,
        executor: ExecutorInfo,
        env: Vec<(String, String)>,
        directory: PathBuf,
    ) {
        let tx = self.tx.clone();
        self.helpers.spawn(async move {
            let command = executor.command.clone().unwrap_or_default();
            let launched = if executor.command.is_none() {
                Err(launcher::LaunchError::CommandMissing)
            } else {
                launcher::launch(&command, &env, &directory).await
            };
            let mut child = match launched {
                Ok(child) => child,
                Err(err) => {
                    let message = error_chain(&err);
                    let _ = tx.send(Input::Launched {
                        key,
                        container,
                        result: Err(message),
                    });
                    return;
                }
            };
            let pid = child.id().unwrap_or(0);
            let _ = tx.send(Input::Launched {
                key: key.clone(),
                container: container.clone(),
                result: Ok(pid),
            });
            let status = child.wait().await.ok().map(|s| {
                use std::os::unix::process::ExitStatusExt;
                s.into_raw()
            });
            // The containerizer destroys the container before the agent
            // learns of the termination: what the executor left running in
            // its session dies with it.
            let _ = tokio::task::spawn_blocking(move || killtree::destroy(pid)).await;
            let _ = tx.send(Input::Exited {
                key,
                container,
                status,
            });
        });
    }

    fn watch_recovered(&mut self, key: ExecKey, container: String, pid: u32) {
        let tx = self.tx.clone();
        let poll = self.config.executor_liveness_poll;
        self.helpers.spawn(async move {
            while launcher::is_alive(pid) {
                tokio::time::sleep(poll).await;
            }
            let _ = tokio::task::spawn_blocking(move || killtree::destroy(pid)).await;
            let _ = tx.send(Input::Exited {
                key,
                container,
                status: None,
            });
        });
    }

    fn launched(&mut self, key: ExecKey, container: String, result: Result<u32, String>) {
        if !self.is_current(&key, &container) {
            return;
        }
        match result {
            Ok(pid) => {
                let terminating = self.executor_mut(&key).is_some_and(|ex| {
                    ex.pid = Some(pid);
                    ex.state == ExecState::Terminating
                });
                if terminating {
                    self.destroy(&key);
                }
            }
            Err(message) => {
                tracing::warn!(executor = %key.1, %message, "executor launch failed");
                if let Some(ex) = self.executor_mut(&key) {
                    ex.pending_termination.get_or_insert(Termination {
                        state: TaskState::TaskFailed,
                        reason: task_status::Reason::ContainerLaunchFailed,
                        message: format!("Failed to launch container: {message}"),
                    });
                }
                self.executor_terminated(&key, None);
            }
        }
    }

    fn registration_timeout(&mut self, key: ExecKey, container: String) {
        if !self.is_current(&key, &container) {
            return;
        }
        let timeout = mesos_duration(self.config.executor_registration_timeout);
        let Some(ex) = self.executor_mut(&key) else {
            return;
        };
        if ex.state != ExecState::Registering {
            return;
        }
        tracing::warn!(executor = %key.1, "executor did not register in time; killing it");
        ex.state = ExecState::Terminating;
        ex.pending_termination = Some(Termination {
            state: TaskState::TaskFailed,
            reason: task_status::Reason::ExecutorRegistrationTimeout,
            message: format!("Executor did not register within {timeout}"),
        });
        self.destroy(&key);
    }

    fn reregistration_timeout(&mut self) {
        let timeout = mesos_duration(self.config.executor_reregistration_timeout);
        let keys: Vec<ExecKey> = self
            .frameworks
            .iter()
            .flat_map(|(fw, f)| {
                f.executors
                    .iter()
                    .filter(|(_, e)| e.awaiting_resubscribe && e.state == ExecState::Running)
                    .map(move |(ex, _)| (fw.clone(), ex.clone()))
            })
            .collect();
        for key in keys {
            if let Some(ex) = self.executor_mut(&key) {
                tracing::warn!(executor = %key.1, "recovered executor did not resubscribe; killing it");
                ex.state = ExecState::Terminating;
                ex.pending_termination = Some(Termination {
                    state: TaskState::TaskFailed,
                    reason: task_status::Reason::ExecutorReregistrationTimeout,
                    message: format!("Executor did not reregister within {timeout}"),
                });
            }
            self.destroy(&key);
        }
    }

    /// Destroys the executor's container, as the POSIX launcher does:
    /// SIGKILL to its process tree, groups and sessions ([`killtree`]). Its
    /// exit then arrives as [`Input::Exited`].
    fn destroy(&mut self, key: &ExecKey) {
        let Some(ex) = self.executor_mut(key) else {
            return;
        };
        if ex.state != ExecState::Terminated {
            ex.state = ExecState::Terminating;
        }
        if let Some(pid) = ex.pid {
            self.helpers.spawn_blocking(move || {
                killtree::destroy(pid);
            });
        }
    }

    fn executor_terminated(&mut self, key: &ExecKey, status: Option<i32>) {
        let agent_id = self.agent_id();
        let Some(fw) = self.frameworks.get_mut(&key.0) else {
            return;
        };
        let fw_terminating = fw.terminating;
        let fw_id = fw.info.id.clone().unwrap_or_default();
        let Some(ex) = fw.executors.get_mut(&key.1) else {
            return;
        };
        tracing::info!(executor = %key.1, ?status, "executor terminated");
        ex.state = ExecState::Terminated;
        ex.stream = None;
        ex.awaiting_resubscribe = false;
        let termination = ex.pending_termination.clone().unwrap_or(Termination {
            state: TaskState::TaskFailed,
            reason: task_status::Reason::ExecutorTerminated,
            message: "Executor terminated".to_owned(),
        });
        let live: Vec<TaskId> = ex
            .tasks
            .values()
            .filter(|t| !is_terminal(t.state))
            .map(|t| t.info.task_id.clone())
            .collect();
        let executor_id = ex.info.executor_id.clone();
        let resources = ex.info.resources.clone();
        ex.queue.clear();
        if fw_terminating {
            ex.tasks.clear();
        } else {
            for task_id in live {
                self.agent_update(
                    &fw_id,
                    Some(&executor_id),
                    &task_id,
                    termination.state,
                    termination.reason,
                    &termination.message,
                );
            }
        }
        self.to_master(AgentMessage::ExecutorExited {
            agent_id: agent_id.clone(),
            framework_id: fw_id.clone(),
            executor_id,
            status,
        });
        if !resources.is_empty() {
            self.to_master(AgentMessage::ResourcesRecovered {
                agent_id,
                framework_id: fw_id,
                resources,
            });
        }
        self.maybe_remove(key);
    }

    /// Forgets a terminated executor without tasks, and an empty framework.
    fn maybe_remove(&mut self, key: &ExecKey) {
        if let Some(fw) = self.frameworks.get_mut(&key.0) {
            let done = fw
                .executors
                .get(&key.1)
                .is_some_and(|e| e.state == ExecState::Terminated && e.tasks.is_empty());
            if done {
                fw.executors.remove(&key.1);
            }
            if fw.executors.is_empty() {
                self.frameworks.remove(&key.0);
            }
        }
        self.check_finished();
    }

    /// Creates, records and hands to the status update manager an update
    /// generated by the agent itself (source SOURCE_AGENT).
    fn agent_update(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: Option<&ExecutorId>,
        task_id: &TaskId,
        state: TaskState,
        reason: task_status::Reason,
        message: &str,
    ) {
        let status = TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            message: Some(message.to_owned()),
            source: Some(task_status::Source::Agent as i32),
            reason: Some(reason as i32),
            agent_id: self.info.id.clone(),
            executor_id: executor_id.cloned(),
            timestamp: Some(now_secs()),
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            ..Default::default()
        };
        tracing::info!(task = %task_id.value, state = ?state, ?reason, "agent-generated status update");
        if !self.record(&framework_id.value, &status) {
            tracing::warn!(task = %task_id.value, state = ?state, "task already terminated; update dropped");
            return;
        }
        if let Received::Accepted(actions) = self.sum.update(framework_id, status) {
            self.perform(actions);
        }
    }

    /// Records a task's latest status in the agent's task table, as
    /// `Executor::updateTaskState` does. A task already terminated keeps
    /// its state: the update is refused (`false`), e.g. an update the
    /// executor sent before it died that arrives after the agent failed
    /// the task ("Task is already terminated"). Recording it would have a
    /// re-registration report the dead task as live.
    fn record(&mut self, framework_id: &str, status: &TaskStatus) -> bool {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return true;
        };
        let Some(ex_id) = fw.executor_of(&status.task_id.value) else {
            return true;
        };
        if let Some(task) = fw
            .executors
            .get_mut(&ex_id)
            .and_then(|e| e.tasks.get_mut(&status.task_id.value))
        {
            if is_terminal(task.state) {
                return false;
            }
            task.state = status.state;
            if task
                .statuses
                .last()
                .is_some_and(|s| s.state == status.state)
            {
                task.statuses.pop();
            }
            task.statuses.push(status.clone());
        }
        true
    }

    fn acknowledged(&mut self, framework_id: &str, task_id: &str, uuid: &[u8]) {
        match self.sum.acknowledge(framework_id, task_id, uuid) {
            Ok(acked) => {
                if acked.terminal {
                    let removed = self.frameworks.get_mut(framework_id).and_then(|fw| {
                        let ex_id = fw.executor_of(task_id)?;
                        fw.executors.get_mut(&ex_id)?.tasks.remove(task_id);
                        Some(ex_id)
                    });
                    if let Some(ex_id) = removed {
                        self.maybe_remove(&(framework_id.to_owned(), ex_id));
                    }
                }
                self.perform(acked.actions);
            }
            Err(err) => tracing::warn!(%err, "ignoring status update acknowledgement"),
        }
    }

    fn kill_task(&mut self, framework_id: &str, task_id: TaskId, kill_policy: Option<KillPolicy>) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            tracing::warn!(
                framework = framework_id,
                "ignoring kill of a task of an unknown framework"
            );
            return;
        };
        if fw.terminating {
            return;
        }
        let fw_id = fw.info.id.clone().unwrap_or_default();
        let Some(ex_id) = fw.executor_of(&task_id.value) else {
            let state = if fw.partition_aware() {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            self.agent_update(
                &fw_id,
                None,
                &task_id,
                state,
                task_status::Reason::ExecutorTerminated,
                "Cannot find executor",
            );
            return;
        };
        let Some(ex) = fw.executors.get_mut(&ex_id) else {
            return;
        };
        match ex.state {
            ExecState::Registering => {
                // Not delivered yet: drop the task (its whole group) and
                // answer TASK_KILLED ourselves.
                let position = ex
                    .queue
                    .iter()
                    .position(|q| q.task_ids.contains(&task_id.value));
                // A task group is killed whole; a plain task alone.
                let ids = match position {
                    Some(i) if ex.queue[i].group => ex.queue.remove(i).task_ids,
                    Some(i) => {
                        ex.queue[i].task_ids.retain(|id| *id != task_id.value);
                        if ex.queue[i].task_ids.is_empty() {
                            ex.queue.remove(i);
                        }
                        vec![task_id.value.clone()]
                    }
                    None => vec![task_id.value.clone()],
                };
                let executor_id = ex.info.executor_id.clone();
                let killed: Vec<TaskId> = ids
                    .iter()
                    .filter_map(|id| ex.tasks.get(id).map(|t| t.info.task_id.clone()))
                    .collect();
                for id in killed {
                    self.agent_update(
                        &fw_id,
                        Some(&executor_id),
                        &id,
                        TaskState::TaskKilled,
                        task_status::Reason::TaskKilledDuringLaunch,
                        "Killed before delivery to the executor",
                    );
                }
            }
            ExecState::Running => {
                let event = Event {
                    r#type: Some(event::Type::Kill as i32),
                    kill: Some(event::Kill {
                        task_id,
                        kill_policy,
                    }),
                    ..Default::default()
                };
                send(ex, event);
            }
            ExecState::Terminating | ExecState::Terminated => {
                tracing::warn!(task = %task_id.value, "ignoring kill: executor is terminating");
            }
        }
    }

    fn shutdown_executor(&mut self, key: &ExecKey) {
        let default_grace = self.config.executor_shutdown_grace_period;
        let Some(ex) = self.executor_mut(key) else {
            return;
        };
        match ex.state {
            ExecState::Registering => {
                ex.state = ExecState::Terminating;
                self.destroy(key);
            }
            ExecState::Running => {
                ex.state = ExecState::Terminating;
                let grace = ex
                    .info
                    .shutdown_grace_period
                    .as_ref()
                    .map(|d| from_duration_info(d.nanoseconds))
                    .unwrap_or(default_grace);
                let container = ex.container.clone();
                if ex.stream.is_some() {
                    send(
                        ex,
                        Event {
                            r#type: Some(event::Type::Shutdown as i32),
                            ..Default::default()
                        },
                    );
                    self.after(
                        grace,
                        Input::ShutdownTimeout {
                            key: key.clone(),
                            container,
                        },
                    );
                } else {
                    self.destroy(key);
                }
            }
            ExecState::Terminating | ExecState::Terminated => {}
        }
    }

    /// `Slave::updateFramework`: a known, running framework takes the new
    /// info, and every pending status update is resent now.
    fn update_framework(&mut self, framework: FrameworkInfo) {
        let id = framework
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default();
        let Some(fw) = self.frameworks.get_mut(&id) else {
            return;
        };
        if fw.terminating {
            return;
        }
        tracing::info!(framework = %id, "framework resubscribed; resending pending status updates");
        fw.info = framework;
        let actions = self.sum.resend_all();
        self.perform(actions);
    }

    fn shutdown_framework(&mut self, framework_id: &str) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        tracing::info!(framework = framework_id, "shutting down framework");
        fw.terminating = true;
        let ids: Vec<String> = fw.executors.keys().cloned().collect();
        self.sum.remove_framework(framework_id);
        for ex_id in ids {
            let key = (framework_id.to_owned(), ex_id);
            self.shutdown_executor(&key);
            if let Some(ex) = self.executor_mut(&key) {
                ex.tasks.clear();
            }
            self.maybe_remove(&key);
        }
    }

    // ----- executor API ------------------------------------------------

    fn executor_call(&mut self, call: Call) -> CallReply {
        let key = (
            call.framework_id.value.clone(),
            call.executor_id.value.clone(),
        );
        let Some(fw) = self.frameworks.get(&key.0) else {
            return reject(StatusCode::BAD_REQUEST, "Framework cannot be found");
        };
        let Some(ex) = fw.executors.get(&key.1) else {
            return reject(StatusCode::BAD_REQUEST, "Executor cannot be found");
        };
        let kind = call.r#type.and_then(|t| call::Type::try_from(t).ok());
        if ex.state == ExecState::Registering && kind != Some(call::Type::Subscribe) {
            return reject(StatusCode::FORBIDDEN, "Executor is not subscribed");
        }
        match kind {
            Some(call::Type::Subscribe) => {
                let subscribe = call.subscribe.unwrap_or_default();
                Ok(Some(self.subscribe(&key, subscribe)))
            }
            Some(call::Type::Update) => {
                let status = call.update.map(|u| u.status).unwrap_or_default();
                self.executor_update(&key, status);
                Ok(None)
            }
            Some(call::Type::Message) => {
                let data = call.message.map(|m| m.data).unwrap_or_default();
                self.to_master(AgentMessage::FrameworkMessage {
                    agent_id: self.agent_id(),
                    framework_id: call.framework_id,
                    executor_id: call.executor_id,
                    data,
                });
                Ok(None)
            }
            _ => reject(StatusCode::NOT_IMPLEMENTED, ""),
        }
    }

    fn subscribe(
        &mut self,
        key: &ExecKey,
        subscribe: call::Subscribe,
    ) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        let agent_info = self.info.clone();
        self.stream_seq += 1;
        let stream_id = self.stream_seq;
        let Some(fw) = self.frameworks.get_mut(&key.0) else {
            return rx;
        };
        let fw_info = fw.info.clone();
        let fw_terminating = fw.terminating;
        let partition_aware = fw.partition_aware();
        let Some(ex) = fw.executors.get_mut(&key.1) else {
            return rx;
        };
        if fw_terminating || matches!(ex.state, ExecState::Terminating | ExecState::Terminated) {
            let _ = tx.send(Event {
                r#type: Some(event::Type::Shutdown as i32),
                ..Default::default()
            });
            return rx;
        }
        let first = ex.state == ExecState::Registering;
        tracing::info!(executor = %key.1, first, "executor subscribed");
        ex.state = ExecState::Running;
        ex.awaiting_resubscribe = false;
        ex.stream = Some(tx.clone());
        ex.stream_seq = stream_id;
        let container = ex.container.clone();
        let _ = tx.send(Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                executor_info: ex.info.clone(),
                framework_info: fw_info,
                agent_info,
                container_id: Some(ContainerId {
                    value: container.clone(),
                    parent: None,
                }),
            }),
            ..Default::default()
        });
        // Tell the core when the executor goes away.
        let core_tx = self.tx.clone();
        let watched = key.clone();
        self.helpers.spawn(async move {
            tx.closed().await;
            let _ = core_tx.send(Input::StreamClosed {
                key: watched,
                container,
                stream: stream_id,
            });
        });
        for update in subscribe.unacknowledged_updates {
            self.executor_update(key, update.status);
        }
        // Tasks we think were delivered but the executor never saw: the
        // agent died before the executor got them.
        let unacked: HashSet<String> = subscribe
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect();
        let (fw_id, executor_id, dropped) = match self.executor(key) {
            Some(ex) => (
                ex.info.framework_id.clone().unwrap_or_else(|| FrameworkId {
                    value: key.0.clone(),
                }),
                ex.info.executor_id.clone(),
                ex.tasks
                    .values()
                    .filter(|t| {
                        t.launched
                            && t.state == TaskState::TaskStaging as i32
                            && !unacked.contains(&t.info.task_id.value)
                    })
                    .map(|t| t.info.task_id.clone())
                    .collect::<Vec<_>>(),
            ),
            None => return rx,
        };
        let lost = if partition_aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        for task_id in dropped {
            self.agent_update(
                &fw_id,
                Some(&executor_id),
                &task_id,
                lost,
                task_status::Reason::AgentRestarted,
                "Task launched during agent restart",
            );
        }
        if first {
            if let Some(ex) = self.executor_mut(key) {
                let queue = std::mem::take(&mut ex.queue);
                for queued in queue {
                    deliver(ex, &queued.task_ids, queued.group);
                }
            }
        }
        rx
    }

    fn executor_update(&mut self, key: &ExecKey, mut status: TaskStatus) {
        let Some(fw) = self.frameworks.get(&key.0) else {
            return;
        };
        let fw_id = fw.info.id.clone().unwrap_or_else(|| FrameworkId {
            value: key.0.clone(),
        });
        status.agent_id = self.info.id.clone();
        status.source = Some(task_status::Source::Executor as i32);
        if status.executor_id.is_none() {
            status.executor_id = Some(ExecutorId {
                value: key.1.clone(),
            });
        }
        if status.timestamp.is_none() {
            status.timestamp = Some(now_secs());
        }
        let task_id = status.task_id.clone();
        let uuid = status.uuid.clone().unwrap_or_default();
        if !self.record(&key.0, &status) {
            // `Slave::_statusUpdate`: dropped, but acknowledged so that
            // the executor does not retry it.
            tracing::warn!(task = %task_id.value, state = status.state, "task already terminated; status update dropped");
        } else {
            match self.sum.update(&fw_id, status) {
                Received::Accepted(actions) => self.perform(actions),
                Received::Duplicate => {
                    tracing::debug!(task = %task_id.value, "duplicate status update")
                }
                Received::AfterTerminal => {
                    tracing::warn!(task = %task_id.value, "status update after a terminal one; ignored");
                    return;
                }
            }
        }
        // Persist before acknowledging, as Mesos' status update manager
        // does: the ACKNOWLEDGED goes out after this batch's checkpoint.
        self.acks.push((
            key.clone(),
            Event {
                r#type: Some(event::Type::Acknowledged as i32),
                acknowledged: Some(event::Acknowledged { task_id, uuid }),
                ..Default::default()
            },
        ));
    }

    fn send_acks(&mut self) {
        for (key, ack) in std::mem::take(&mut self.acks) {
            if let Some(ex) = self.executor_mut(&key) {
                send(ex, ack);
            }
        }
    }

    // ----- lifecycle ---------------------------------------------------

    fn control(&mut self, control: Control) {
        match control {
            Control::Disconnect => {
                tracing::info!(agent = %self.agent_id_str(), "fault: disconnecting from the master");
                self.fault_disconnected = true;
                self.connected = false;
                self.generation += 1;
                self.sum.pause();
                if let Some(task) = self.inbox_task.take() {
                    task.abort();
                }
            }
            Control::Reconnect => {
                if self.fault_disconnected {
                    tracing::info!(agent = %self.agent_id_str(), "fault: reconnecting to the master");
                    self.fault_disconnected = false;
                    self.register();
                }
            }
            Control::Shutdown(reply) => self.begin_shutdown(Some(reply), true),
        }
    }

    fn begin_shutdown(&mut self, reply: Option<oneshot::Sender<()>>, unregister: bool) {
        if unregister && self.info.id.is_some() {
            self.to_master(AgentMessage::Unregister {
                agent_id: self.agent_id(),
            });
        }
        self.connected = false;
        self.sum.pause();
        let waiters = self.shutting_down.get_or_insert_with(Vec::new);
        waiters.extend(reply);
        let ids: Vec<String> = self.frameworks.keys().cloned().collect();
        for fw in ids {
            self.shutdown_framework(&fw);
        }
        self.check_finished();
    }

    fn check_finished(&mut self) {
        let Some(waiters) = self.shutting_down.as_mut() else {
            return;
        };
        let live = self
            .frameworks
            .values()
            .flat_map(|f| f.executors.values())
            .any(|e| e.state != ExecState::Terminated);
        if !live {
            for waiter in waiters.drain(..) {
                let _ = waiter.send(());
            }
            self.finished = true;
        }
    }

    // ----- checkpoint and recovery -------------------------------------

    fn write_checkpoint(&mut self) {
        self.dirty = false;
        let Some(agent_id) = self.info.id.as_ref().map(|i| i.value.clone()) else {
            return;
        };
        if !self.config.checkpoint || self.finished {
            return;
        }
        let mut state = checkpoint::AgentState {
            agent_id,
            frameworks: Vec::new(),
        };
        for (fw_id, fw) in &self.frameworks {
            if !fw.checkpointed(&self.config) || fw.terminating {
                continue;
            }
            let mut fs = checkpoint::FrameworkState {
                info: checkpoint::encode(&fw.info),
                executors: Vec::new(),
            };
            for ex in fw.executors.values() {
                let mut es = checkpoint::ExecutorState {
                    info: checkpoint::encode(&ex.info),
                    container_id: ex.container.clone(),
                    directory: ex.directory.clone(),
                    pid: ex.pid,
                    terminated: ex.state == ExecState::Terminated,
                    tasks: Vec::new(),
                };
                for (task_id, task) in &ex.tasks {
                    let stream = self.sum.stream(fw_id, task_id);
                    es.tasks.push(checkpoint::TaskState {
                        info: checkpoint::encode(&task.info),
                        state: task.state,
                        latest: None,
                        statuses: task.statuses.iter().map(checkpoint::encode).collect(),
                        pending: stream
                            .map(|s| s.pending.iter().map(checkpoint::encode).collect())
                            .unwrap_or_default(),
                        received: stream
                            .map(|s| {
                                s.received
                                    .iter()
                                    .map(|u| checkpoint::encode_bytes(u))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        stream_terminated: stream.is_some_and(|s| s.terminated),
                    });
                }
                fs.executors.push(es);
            }
            state.frameworks.push(fs);
        }
        if let Err(err) = checkpoint::store(&self.config.work_dir, &state) {
            tracing::warn!(%err, "writing the agent checkpoint failed");
        }
    }

    fn recover(&mut self, state: checkpoint::AgentState) {
        tracing::info!(agent_id = %state.agent_id, "recovering from checkpoint");
        self.info.id = Some(AgentId {
            value: state.agent_id.clone(),
        });
        let mut alive = Vec::new();
        let mut dead = Vec::new();
        for fs in state.frameworks {
            let Some(info) = checkpoint::decode::<FrameworkInfo>(&fs.info) else {
                continue;
            };
            let fw_id = info.id.clone().unwrap_or_default();
            let mut fw = Framework {
                info,
                executors: BTreeMap::new(),
                terminating: false,
            };
            for es in fs.executors {
                let Some(info) = checkpoint::decode::<ExecutorInfo>(&es.info) else {
                    continue;
                };
                let mut ex = Executor {
                    info,
                    container: es.container_id,
                    directory: es.directory,
                    state: ExecState::Running,
                    pid: es.pid,
                    stream: None,
                    stream_seq: 0,
                    tasks: BTreeMap::new(),
                    queue: Vec::new(),
                    pending_termination: None,
                    awaiting_resubscribe: true,
                };
                for ts in es.tasks {
                    let Some(info) = checkpoint::decode::<TaskInfo>(&ts.info) else {
                        continue;
                    };
                    let pending: Vec<TaskStatus> = ts
                        .pending
                        .iter()
                        .filter_map(|p| checkpoint::decode(p))
                        .collect();
                    let received: HashSet<Vec<u8>> = ts
                        .received
                        .iter()
                        .filter_map(|r| checkpoint::decode_bytes(r))
                        .collect();
                    if !received.is_empty() {
                        self.sum.restore(
                            fw_id.clone(),
                            &info.task_id,
                            pending,
                            received,
                            ts.stream_terminated,
                        );
                    }
                    ex.tasks.insert(
                        info.task_id.value.clone(),
                        TaskEntry {
                            // Checkpoints of older agents kept the latest
                            // status only.
                            statuses: if ts.statuses.is_empty() {
                                ts.latest
                                    .as_deref()
                                    .and_then(checkpoint::decode)
                                    .into_iter()
                                    .collect()
                            } else {
                                ts.statuses
                                    .iter()
                                    .filter_map(|s| checkpoint::decode(s))
                                    .collect()
                            },
                            info,
                            state: ts.state,
                            launched: true,
                        },
                    );
                }
                let key = (fw_id.value.clone(), ex.info.executor_id.value.clone());
                match ex.pid {
                    Some(pid) if !es.terminated && launcher::is_alive(pid) => {
                        alive.push((key, ex.container.clone(), pid))
                    }
                    _ if es.terminated => ex.state = ExecState::Terminated,
                    _ => dead.push(key),
                }
                fw.executors.insert(ex.info.executor_id.value.clone(), ex);
            }
            self.frameworks.insert(fw_id.value.clone(), fw);
        }
        for key in dead {
            // Recovered dead: its container is destroyed (what is left of
            // its session) before its tasks are reported.
            if let Some(pid) = self.executor(&key).and_then(|e| e.pid) {
                killtree::destroy(pid);
            }
            self.executor_terminated(&key, None);
        }
        let any_alive = !alive.is_empty();
        for (key, container, pid) in alive {
            tracing::info!(executor = %key.1, pid, "recovered live executor; waiting for it to resubscribe");
            self.watch_recovered(key, container, pid);
        }
        if any_alive {
            let timeout = self.config.executor_reregistration_timeout;
            self.after(timeout, Input::ReregistrationTimeout);
        }
    }
}

/// Adds tasks to an executor's table (state STAGING).
fn add_tasks(ex: &mut Executor, tasks: &[TaskInfo], launched: bool) -> Vec<String> {
    let mut ids = Vec::with_capacity(tasks.len());
    for task in tasks {
        ids.push(task.task_id.value.clone());
        ex.tasks.insert(
            task.task_id.value.clone(),
            TaskEntry {
                info: task.clone(),
                state: TaskState::TaskStaging as i32,
                statuses: Vec::new(),
                launched,
            },
        );
    }
    ids
}

/// Sends LAUNCH (one per task) or LAUNCH_GROUP for tasks in the table.
fn deliver(ex: &mut Executor, ids: &[String], group: bool) {
    let mut infos = Vec::new();
    for id in ids {
        if let Some(task) = ex.tasks.get_mut(id) {
            task.launched = true;
            infos.push(task.info.clone());
        }
    }
    if infos.is_empty() {
        return;
    }
    if group {
        send(
            ex,
            Event {
                r#type: Some(event::Type::LaunchGroup as i32),
                launch_group: Some(event::LaunchGroup {
                    task_group: TaskGroupInfo { tasks: infos },
                }),
                ..Default::default()
            },
        );
    } else {
        for task in infos {
            send(
                ex,
                Event {
                    r#type: Some(event::Type::Launch as i32),
                    launch: Some(event::Launch { task }),
                    ..Default::default()
                },
            );
        }
    }
}

/// Sends an event on the executor's stream, forgetting a closed stream.
fn send(ex: &mut Executor, event: Event) {
    let closed = match &ex.stream {
        Some(stream) => stream.send(event).is_err(),
        None => {
            tracing::debug!(executor = %ex.info.executor_id.value, "executor not connected; event dropped");
            false
        }
    };
    if closed {
        ex.stream = None;
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
