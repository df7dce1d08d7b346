//! The devcluster Mesos agent.
//!
//! A real Mesos agent cannot be installed on our build machines, yet the
//! kube-mesos executor must be developed against one. This agent behaves
//! like apache/mesos' on everything an executor or the master can observe:
//! it registers with the master over [`crate::mesos::link`], launches custom
//! executors as real processes in Mesos' sandbox layout with Mesos'
//! environment, serves the executor HTTP API (`POST /api/v1/executor`) on its
//! own port, delivers task status updates reliably through a status update
//! manager, checkpoints what it needs to survive a restart (even `kill -9`),
//! and offers fault hooks (crash, restart, disconnect) to tests.
//!
//! Layout: [`config`] and [`resources`] describe an agent; [`core`] owns its
//! state and handles one input at a time; [`status_update`] is the pure
//! status update manager; [`http`] the executor API, [`endpoints`] the
//! read-only `/state` rendered by [`state_view`]; [`launcher`] and
//! [`fetcher`] start executors, [`killtree`] destroys their containers
//! (the executor's process tree, groups and sessions, as Mesos' POSIX
//! launcher); [`checkpoint`] persists; [`simulated`] runs thousands of
//! process-less agents for scale tests.

pub mod checkpoint;
pub mod config;
pub mod core;
pub mod endpoints;
pub mod error;
pub mod fetcher;
pub mod http;
pub mod killtree;
pub mod launcher;
pub mod resources;
pub mod simulated;
pub mod state_view;
pub mod status_update;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use kube_mesos_proto::v1::AgentId;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use config::AgentConfig;
pub use error::{AgentError, Result};
pub use simulated::{SimTaskEvent, SimulatedAgents, SimulationConfig, TaskHook};

use self::core::{Control, Core, Input};
use crate::mesos::link::MasterLink;

/// A running agent: its address, its ID once registered, and fault hooks.
#[derive(Debug)]
pub struct AgentHandle {
    addr: SocketAddr,
    config: Arc<AgentConfig>,
    master: MasterLink,
    control: mpsc::UnboundedSender<Input>,
    agent_id: watch::Receiver<Option<AgentId>>,
    core: JoinHandle<()>,
    server: JoinHandle<()>,
}

/// An agent that was stopped without shutting its executors down (see
/// [`AgentHandle::crash`]); [`StoppedAgent::restart`] brings it back on the
/// same port and work dir.
#[derive(Debug)]
pub struct StoppedAgent {
    /// The port it listened on.
    pub addr: SocketAddr,
    config: Arc<AgentConfig>,
    master: MasterLink,
}

impl AgentHandle {
    /// Starts an agent serving the executor API on `listener` and
    /// registering with the master through `master`. It recovers from a
    /// checkpoint in the work dir if there is one. When `shutdown`
    /// completes the agent shuts down gracefully (executors killed, agent
    /// unregistered).
    pub async fn start(
        config: AgentConfig,
        listener: TcpListener,
        master: MasterLink,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<AgentHandle> {
        let handle = Self::start_arc(Arc::new(config), listener, master).await?;
        let control = handle.control.clone();
        tokio::spawn(async move {
            shutdown.await;
            let (reply, _done) = oneshot::channel();
            let _ = control.send(Input::Control(Control::Shutdown(reply)));
        });
        Ok(handle)
    }

    async fn start_arc(
        config: Arc<AgentConfig>,
        listener: TcpListener,
        master: MasterLink,
    ) -> Result<AgentHandle> {
        let addr = listener
            .local_addr()
            .map_err(AgentError::ListenerAddrFailed)?;
        let recovered = if config.checkpoint {
            checkpoint::load(&config.work_dir)?
        } else {
            None
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (agent_id_tx, agent_id) = watch::channel(None);
        let core = Core::new(
            Arc::clone(&config),
            addr,
            master.clone(),
            tx.clone(),
            agent_id_tx,
            recovered,
        );
        let core = tokio::spawn(core.run(rx));
        let context = state_view::AgentContext {
            config: Arc::clone(&config),
            addr,
            start_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        };
        let app = http::router(tx.clone(), config.max_request_body_bytes)
            .merge(endpoints::router(tx.clone(), context));
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::warn!(%err, "agent HTTP server failed");
            }
        });
        tracing::info!(%addr, hostname = %config.hostname, "agent started");
        Ok(AgentHandle {
            addr,
            config,
            master,
            control: tx,
            agent_id,
            core,
            server,
        })
    }

    /// The executor API's address (`MESOS_AGENT_ENDPOINT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The agent ID, once registered.
    pub fn agent_id(&self) -> Option<AgentId> {
        self.agent_id.borrow().clone()
    }

    /// Waits until the master has given the agent its ID.
    pub async fn registered(&self) -> Result<AgentId> {
        let mut rx = self.agent_id.clone();
        let id = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| AgentError::AgentStopped)?;
        id.clone().ok_or(AgentError::AgentStopped)
    }

    /// Fault hook: stop talking to the master (it sees our inbox dropped and
    /// marks the agent unreachable). Executors keep running; status updates
    /// queue up.
    pub fn disconnect(&self) {
        let _ = self.control.send(Input::Control(Control::Disconnect));
    }

    /// Fault hook: re-register after [`AgentHandle::disconnect`].
    pub fn reconnect(&self) {
        let _ = self.control.send(Input::Control(Control::Reconnect));
    }

    /// Fault hook: the agent dies without shutting its executors down, as
    /// after `kill -9`. The port is released; the checkpoint stays.
    pub async fn crash(self) -> StoppedAgent {
        self.core.abort();
        self.server.abort();
        let _ = self.core.await;
        let _ = self.server.await;
        tracing::info!(addr = %self.addr, "agent crashed (fault hook)");
        StoppedAgent {
            addr: self.addr,
            config: self.config,
            master: self.master,
        }
    }

    /// Fault hook: crash and start again on the same port and work dir.
    pub async fn restart(self) -> Result<AgentHandle> {
        self.crash().await.restart().await
    }

    /// Graceful shutdown: executors get SHUTDOWN and are killed after their
    /// grace period, the agent unregisters, and the server stops.
    pub async fn shutdown(self) -> Result<()> {
        let (reply, done) = oneshot::channel();
        if self
            .control
            .send(Input::Control(Control::Shutdown(reply)))
            .is_ok()
        {
            let _ = done.await;
        }
        self.server.abort();
        let _ = self.server.await;
        match self.core.await {
            Err(err) if err.is_panic() => Err(AgentError::AgentPanicked(err)),
            _ => Ok(()),
        }
    }
}

impl StoppedAgent {
    /// Starts the agent again on its old port and work dir; it recovers its
    /// checkpointed executors and re-registers with what it still has.
    pub async fn restart(self) -> Result<AgentHandle> {
        let listener =
            TcpListener::bind(self.addr)
                .await
                .map_err(|source| AgentError::BindFailed {
                    addr: self.addr,
                    source,
                })?;
        AgentHandle::start_arc(self.config, listener, self.master).await
    }
}
