//! Client of the Mesos v1 executor HTTP API (`POST /slave(1)/api/v1/executor`
//! on the agent named by `MESOS_SLAVE_PID`, see [`agent_address`]).
//!
//! The executor subscribes to its agent and receives LAUNCH / KILL /
//! ACKNOWLEDGED / SHUTDOWN events on one long-lived stream; status updates go
//! back as UPDATE calls, each with a fresh uuid that the agent acknowledges.
//! The client keeps what is not acknowledged yet (see [`ledger`]) and hands it
//! back on every resubscribe, and implements Mesos' recovery rules (see
//! [`subscription`]) so pods survive an agent restart when the framework
//! checkpoints.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use futures::StreamExt;
//! use kube_mesos_executor::mesos::{ExecutorClient, ExecutorEnv, ExecutorEvent};
//!
//! let env = ExecutorEnv::from_vars(std::env::vars())?;
//! let client = ExecutorClient::new(env)?;
//! let mut events = client.events();
//! while let Some(event) = events.next().await {
//!     match event? {
//!         ExecutorEvent::Connected { .. } => {}
//!         ExecutorEvent::Disconnected { .. } => {}
//!         ExecutorEvent::Event(_event) => { /* LAUNCH, KILL, SHUTDOWN, ... */ }
//!     }
//! }
//! // The stream ended with an error: exit so the agent can clean up.
//! # Ok(()) }
//! ```

pub mod agent_address;
mod connection;
mod driver;
pub mod duration;
pub mod env;
pub mod error;
pub mod ledger;
pub mod subscription;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{BoxStream, StreamExt};
use kube_mesos_proto::v1::executor::{call, event, Call, Event};
use kube_mesos_proto::v1::{task_status, TaskInfo, TaskStatus};
use uuid::Uuid;

pub use duration::{parse_duration, DurationParseError};
pub use env::{EnvError, ExecutorEnv};
pub use error::{Error, Result};
pub use ledger::Ledger;
pub use subscription::ExecutorEvent;

use connection::Agent;
use driver::{Driver, HttpTransport};
use subscription::Policy;

/// Settings that do not come from the agent's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Limit for connecting and for a response head. Default 10 s.
    pub request_timeout: Duration,
    /// Delay between SUBSCRIBE attempts while the agent answers 503/404 to the
    /// first one. Default 1 s, as Mesos' own executors.
    pub subscribe_retry_interval: Duration,
    /// Largest event accepted. Default 16 MiB (a LAUNCH carries the pod).
    pub max_record_size: usize,
    /// Backoff bound when the environment does not give one. Only used with
    /// checkpointing, where Mesos always sets `MESOS_SUBSCRIPTION_BACKOFF_MAX`;
    /// default 2 s.
    pub default_backoff_max: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            subscribe_retry_interval: Duration::from_secs(1),
            max_record_size: kube_mesos_proto::recordio::DEFAULT_MAX_RECORD_SIZE,
            default_backoff_max: Duration::from_secs(2),
        }
    }
}

/// The events stream (boxed, so it is `Unpin` and nameable).
pub type ExecutorEvents = BoxStream<'static, Result<ExecutorEvent>>;

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub ledger: Ledger,
    pub connected: bool,
}

#[derive(Debug)]
struct Inner {
    env: ExecutorEnv,
    options: ClientOptions,
    agent: Agent,
    shared: Mutex<Shared>,
}

/// The executor's connection to its agent. Cheap to clone; clones share the
/// subscription and the unacknowledged updates.
#[derive(Debug, Clone)]
pub struct ExecutorClient {
    inner: Arc<Inner>,
}

impl ExecutorClient {
    /// A client with default [`ClientOptions`].
    pub fn new(env: ExecutorEnv) -> Result<Self> {
        Self::with_options(env, ClientOptions::default())
    }

    /// A client with explicit options.
    pub fn with_options(env: ExecutorEnv, options: ClientOptions) -> Result<Self> {
        let url = env.agent_url().map_err(Error::EnvInvalid)?;
        if let Some(socket) = &env.domain_socket {
            tracing::warn!(socket = %socket.display(), %url, "MESOS_DOMAIN_SOCKET is not supported; using the agent's TCP address");
        }
        tracing::info!(%url, "using the agent's executor API");
        let agent = Agent::new(
            url,
            env.agent_tls.as_ref(),
            env.authentication_token.clone(),
            options.request_timeout,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                env,
                options,
                agent,
                shared: Mutex::new(Shared::default()),
            }),
        })
    }

    /// The environment this client was built from.
    pub fn env(&self) -> &ExecutorEnv {
        &self.inner.env
    }

    pub(crate) fn shared(&self) -> MutexGuard<'_, Shared> {
        self.inner
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the unacknowledged tasks and updates.
    pub fn ledger(&self) -> Ledger {
        self.shared().ledger.clone()
    }

    /// Whether the executor is currently subscribed.
    pub fn is_connected(&self) -> bool {
        self.shared().connected
    }

    /// Subscribes and returns the event stream. It reconnects by itself when
    /// the rules allow; it ends with an `Err` when the executor should exit.
    /// Poll one stream per client at a time.
    pub fn events(&self) -> ExecutorEvents {
        let transport = HttpTransport {
            agent: self.inner.agent.clone(),
            max_record_size: self.inner.options.max_record_size,
        };
        let driver = Driver::new(self.clone(), self.policy(), transport);
        futures::stream::unfold(driver, |mut driver| async move {
            driver.next().await.map(|item| (item, driver))
        })
        .boxed()
    }

    fn policy(&self) -> Policy {
        let env = &self.inner.env;
        Policy {
            checkpoint: env.checkpoint,
            recovery_timeout: env.recovery_timeout.unwrap_or(Duration::ZERO),
            backoff_max: env
                .subscription_backoff_max
                .unwrap_or(self.inner.options.default_backoff_max),
            subscribe_retry_interval: self.inner.options.subscribe_retry_interval,
        }
    }

    /// Sends a status update. The client sets a fresh uuid, `source =
    /// SOURCE_EXECUTOR`, the executor ID and the timestamp, and keeps the
    /// update until the agent acknowledges it. While disconnected (or if the
    /// send fails in a retryable way) the update is kept and delivered in the
    /// next SUBSCRIBE, and `Ok` is returned; only a refusal by the agent is an
    /// error. Returns the update's uuid.
    pub async fn update(&self, mut status: TaskStatus) -> Result<Uuid> {
        if status.task_id.value.is_empty() {
            return Err(Error::UpdateInvalid);
        }
        let uuid = Uuid::new_v4();
        status.uuid = Some(uuid.as_bytes().to_vec());
        status.set_source(task_status::Source::Executor);
        status.executor_id = Some(self.inner.env.executor_id.clone());
        status.timestamp = Some(unix_now());
        let task_id = status.task_id.clone();
        let update = call::Update { status };
        let connected = {
            let mut shared = self.shared();
            shared.ledger.sent(update.clone());
            shared.connected
        };
        if !connected {
            tracing::info!(task_id = %task_id.value, %uuid, "not subscribed; update queued for the next SUBSCRIBE");
            return Ok(uuid);
        }
        let mut call = self.call_base(call::Type::Update);
        call.update = Some(update);
        match self.inner.agent.call("UPDATE", &call).await {
            Ok(()) => Ok(uuid),
            Err(error) if error.is_retryable() => {
                tracing::warn!(task_id = %task_id.value, %uuid, error = %error, "sending UPDATE failed; it will be resent on resubscribe");
                Ok(uuid)
            }
            Err(error) => {
                self.shared().ledger.forget(&task_id, uuid.as_bytes());
                Err(error)
            }
        }
    }

    /// Sends opaque bytes to the framework (MESSAGE).
    pub async fn message(&self, data: Vec<u8>) -> Result<()> {
        if !self.is_connected() {
            return Err(Error::NotConnected {
                call_type: "MESSAGE",
            });
        }
        let mut call = self.call_base(call::Type::Message);
        call.message = Some(call::Message { data });
        self.inner.agent.call("MESSAGE", &call).await
    }

    fn call_base(&self, kind: call::Type) -> Call {
        let mut call = Call {
            executor_id: self.inner.env.executor_id.clone(),
            framework_id: self.inner.env.framework_id.clone(),
            ..Default::default()
        };
        call.set_type(kind);
        call
    }

    /// SUBSCRIBE carrying everything not acknowledged yet.
    pub(crate) fn subscribe_call(&self) -> Call {
        let mut call = self.call_base(call::Type::Subscribe);
        let shared = self.shared();
        call.subscribe = Some(call::Subscribe {
            unacknowledged_tasks: shared.ledger.unacknowledged_tasks(),
            unacknowledged_updates: shared.ledger.unacknowledged_updates(),
        });
        call
    }

    /// Bookkeeping for events that change the ledger.
    pub(crate) fn observe(&self, event: &Event) {
        let mut shared = self.shared();
        match event.r#type() {
            event::Type::Launch => {
                if let Some(launch) = &event.launch {
                    shared.ledger.launched(launch.task.clone());
                }
            }
            event::Type::LaunchGroup => {
                if let Some(group) = &event.launch_group {
                    for task in &group.task_group.tasks {
                        shared.ledger.launched(TaskInfo::clone(task));
                    }
                }
            }
            event::Type::Acknowledged => {
                if let Some(ack) = &event.acknowledged {
                    if !shared.ledger.acknowledged(&ack.task_id, &ack.uuid) {
                        tracing::warn!(task_id = %ack.task_id.value, "acknowledgement for an unknown status update");
                    }
                }
            }
            _ => {}
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
