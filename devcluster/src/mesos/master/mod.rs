//! The devcluster's Mesos master.
//!
//! It serves the v1 scheduler API (`/api/v1/scheduler`) and the operator API
//! (`/api/v1`) with the status codes, headers and event shapes of Apache
//! Mesos 1.11, the read-only JSON endpoints (`/master/state`,
//! `/master/frameworks`, `/master/slaves`, `/master/tasks`) and
//! `/metrics/snapshot` with Mesos' JSON shapes and counting rules (the
//! counters live in the state where inputs are handled, `state/metrics.rs`;
//! the views are pure, `state/readonly.rs` and `state/snapshot.rs`, which
//! also lists the metrics the devcluster leaves out), offers agents'
//! resources with a DRF allocator, and drives
//! agents through the in-process [`link`](crate::mesos::link). Real Mesos
//! cannot run on the build machines; this master is what the framework is
//! developed and tested against, so it follows `src/master/master.cpp` and
//! `src/master/http.cpp` rather than inventing behaviour.
//!
//! Shape: [`State`](state::State) holds everything behind one mutex and
//! applies one input at a time; [`http`] is the thin HTTP shell; a single
//! event loop task owns the link receiver and the timers (allocation,
//! failover and offer timeouts). [`resources`] and [`allocator`] are pure.
//!
//! Fault hooks for tests live on [`MasterHandle`]: remove an agent, mark one
//! unreachable, restart the master, step down as leader.

pub mod allocator;
pub mod auth;
pub mod codec;
pub mod http;
mod http_maintenance;
pub mod maintenance;
pub mod registry;
pub mod resources;
pub mod state;
pub mod validation;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube_mesos_proto::v1::{master_info, Address, MasterInfo};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::mesos::link::{AgentMessage, MasterLink};
use state::{Removal, State};

/// Errors of the master. None is worth retrying with the same input.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// The listener's local address could not be read.
    #[error("reading the listener's address failed")]
    ListenerAddressFailed(#[source] std::io::Error),
    /// The HTTP server stopped with an error.
    #[error("serving HTTP failed")]
    ServeFailed(#[source] std::io::Error),
    /// The replicated-log registry could not be read at start (Mesos exits
    /// when its registrar cannot recover).
    #[error("recovering the registry failed")]
    RegistryRecoveryFailed(#[source] registry::RegistryError),
    /// A master task panicked (the panic is re-raised by [`MasterHandle::join`]).
    #[error("a master task failed")]
    TaskFailed(#[source] tokio::task::JoinError),
}

/// Result alias of this module.
pub type Result<T, E = MasterError> = std::result::Result<T, E>;

/// Where the master keeps its registry (Mesos `--registry`), which decides
/// what a restarted master knows about agents (`Master::_recover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registry {
    /// `replicated_log` (Mesos' default): admitted agents survive a restart
    /// as *recovered* until they re-register or `agent_reregister_timeout`
    /// marks them unreachable; unreachable and gone agents stay so. An
    /// explicit reconciliation of a task on a recovered agent gets no
    /// answer, and its re-registration sends frameworks no update.
    #[default]
    ReplicatedLog,
    /// `in_memory`: a restarted master knows no agent. A task on an agent
    /// that has not re-registered reconciles as TASK_UNKNOWN, and when the
    /// agent re-registers its tasks are sent to frameworks with
    /// REASON_AGENT_REREGISTERED ("Unknown agent reregistered").
    InMemory,
}

/// How the master behaves. Tests build it directly.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Master ID; default a random UUID, as Mesos makes one per start.
    pub master_id: Option<String>,
    /// Hostname in `MasterInfo` (default `localhost`).
    pub hostname: String,
    /// Heartbeat interval of event streams (Mesos: 15 s).
    pub heartbeat_interval: Duration,
    /// Batch allocation interval (Mesos `--allocation_interval`, 1 s).
    pub allocation_interval: Duration,
    /// Role whitelist (Mesos `--roles`); `None` accepts every valid role.
    pub roles: Option<BTreeSet<String>>,
    /// Role weights (default 1.0 each).
    pub weights: BTreeMap<String, f64>,
    /// Rescind offers held longer than this (Mesos `--offer_timeout`, off by default).
    pub offer_timeout: Option<Duration>,
    /// Largest accepted request body; larger ones get 413. Mesos has no such
    /// limit; this keeps a garbled client from exhausting memory.
    pub max_request_body: usize,
    /// What survives a restart ([`MasterHandle::restart`]); Mesos
    /// `--registry`, default `replicated_log`.
    pub registry: Registry,
    /// Where the replicated-log registry is kept on disk (Mesos keeps its
    /// log under `--work_dir`), so that a master started again on it
    /// recovers its agents. `None` (default): kept in this process only,
    /// which [`MasterHandle::restart`] still recovers from.
    pub registry_dir: Option<std::path::PathBuf>,
    /// After a master restart, agents that do not come back in this time are
    /// marked unreachable (Mesos `--agent_reregister_timeout`, 10 min).
    pub agent_reregister_timeout: Duration,
    /// An agent whose inbox closed is marked unreachable after this long
    /// (Mesos: `--agent_ping_timeout` 15 s × `--max_agent_ping_timeouts` 5).
    pub agent_ping_timeout: Duration,
    /// `Some("host:port")` makes this master a non-leader redirecting there.
    pub leader: Option<String>,
    /// Version reported by `/version` and GET_VERSION.
    pub version: String,
    /// `Some` requires HTTP Basic authentication of schedulers against
    /// these credentials (Mesos `--authenticate_http_frameworks` with the
    /// `basic` authenticator and `--credentials`). Default off.
    pub framework_credentials: Option<auth::Credentials>,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            master_id: None,
            hostname: "localhost".into(),
            heartbeat_interval: Duration::from_secs(15),
            allocation_interval: Duration::from_secs(1),
            roles: None,
            weights: BTreeMap::new(),
            offer_timeout: None,
            max_request_body: 16 * 1024 * 1024,
            registry: Registry::default(),
            registry_dir: None,
            agent_reregister_timeout: Duration::from_secs(600),
            agent_ping_timeout: Duration::from_secs(75),
            leader: None,
            version: http::MESOS_VERSION.into(),
            framework_credentials: None,
        }
    }
}

/// What the HTTP handlers and the event loop share.
pub struct Shared {
    state: Mutex<State>,
    /// Wakes the event loop for an allocation soon.
    wake: Notify,
    /// Streams that ended: (framework ID, stream ID).
    closed_tx: mpsc::UnboundedSender<(String, String)>,
}

/// A running master: its address, its link for agents, and fault hooks.
pub struct MasterHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    link: MasterLink,
    server: JoinHandle<Result<()>>,
    event_loop: JoinHandle<()>,
}

fn master_info(id: &str, hostname: &str, addr: SocketAddr) -> MasterInfo {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
        std::net::IpAddr::V6(_) => 0,
    };
    MasterInfo {
        id: id.to_owned(),
        ip,
        port: u32::from(addr.port()),
        pid: Some(format!("master@{}:{}", addr.ip(), addr.port())),
        hostname: Some(hostname.to_owned()),
        version: Some(http::MESOS_VERSION.into()),
        address: Some(Address {
            hostname: Some(hostname.to_owned()),
            ip: Some(addr.ip().to_string()),
            port: i32::from(addr.port()),
        }),
        domain: None,
        capabilities: [
            master_info::capability::Type::AgentUpdate,
            master_info::capability::Type::AgentDraining,
            master_info::capability::Type::QuotaV2,
        ]
        .into_iter()
        .map(|t| master_info::Capability {
            r#type: Some(t as i32),
        })
        .collect(),
    }
}

/// Starts a master on `listener`; it stops when `shutdown` completes.
pub async fn start(
    listener: TcpListener,
    config: MasterConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<MasterHandle> {
    let addr = listener
        .local_addr()
        .map_err(MasterError::ListenerAddressFailed)?;
    let id = config
        .master_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let info = master_info(&id, &config.hostname, addr);
    let max_body = config.max_request_body;
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel();
    let (link, mut link_rx) = mpsc::unbounded_channel::<AgentMessage>();
    let allocation_interval = config.allocation_interval;
    let mut state = State::new(config, info);
    state
        .recover_registry(tokio::time::Instant::now())
        .map_err(MasterError::RegistryRecoveryFailed)?;
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        wake: Notify::new(),
        closed_tx,
    });
    let (stop_tx, mut stop_rx) = watch::channel(false);

    let loop_shared = shared.clone();
    let event_loop = tokio::spawn(async move {
        let shared = loop_shared;
        let mut ticker = tokio::time::interval(allocation_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(msg) = link_rx.recv() => {
                    let mut st = lock(&shared);
                    st.agent_message(msg);
                    if st.allocation_wanted {
                        shared.wake.notify_one();
                    }
                }
                Some((fid, sid)) = closed_rx.recv() => {
                    let mut st = lock(&shared);
                    st.stream_closed(&fid, &sid, tokio::time::Instant::now());
                    if st.allocation_wanted {
                        shared.wake.notify_one();
                    }
                }
                _ = ticker.tick() => {
                    let now = tokio::time::Instant::now();
                    let mut st = lock(&shared);
                    st.tick(now);
                    st.allocate(now);
                }
                _ = shared.wake.notified() => {
                    let mut st = lock(&shared);
                    if st.allocation_wanted {
                        st.allocate(tokio::time::Instant::now());
                    }
                }
            }
        }
        // Close every stream so that graceful HTTP shutdown can finish.
        let mut st = lock(&shared);
        let id = st.master_info.id.clone();
        st.restart(id, tokio::time::Instant::now());
        drop(st);
        let _ = stop_tx.send(true);
    });

    let router = http::router(shared.clone(), max_body);
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stopped| *stopped).await;
            })
            .await
            .map_err(MasterError::ServeFailed)
    });
    tracing::info!(%addr, master_id = %id, "devcluster Mesos master listening");
    Ok(MasterHandle {
        addr,
        shared,
        link,
        server,
        event_loop,
    })
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MasterHandle {
    /// The address the master listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr` — the base URL for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The link an agent registers through.
    pub fn link(&self) -> MasterLink {
        self.link.clone()
    }

    /// The current master ID.
    pub fn master_id(&self) -> String {
        lock(&self.shared).master_info.id.clone()
    }

    /// Fault hook: the operator removes the agent (marks it gone). Its tasks
    /// become TASK_GONE_BY_OPERATOR (TASK_LOST for frameworks that are not
    /// partition aware), the agent gets `Shutdown`, operator subscribers get
    /// AGENT_REMOVED. Returns false for an unknown agent.
    pub fn remove_agent(&self, agent_id: &str) -> bool {
        let done = lock(&self.shared).remove_agent(agent_id, Removal::Gone, true);
        self.shared.wake.notify_one();
        done
    }

    /// Fault hook: the agent stopped answering health checks. Its tasks
    /// become TASK_UNREACHABLE (TASK_LOST if not partition aware), its
    /// offers are rescinded; it may re-register later.
    pub fn mark_agent_unreachable(&self, agent_id: &str) -> bool {
        let done = lock(&self.shared).remove_agent(
            agent_id,
            Removal::Unreachable("health check timed out".into()),
            false,
        );
        self.shared.wake.notify_one();
        done
    }

    /// Fault hook: the master fails over to a fresh instance at the same
    /// address. Every stream is closed and every agent inbox dropped; agents
    /// must re-register (with their ID) and frameworks resubscribe. What the
    /// new instance knows of the agents follows [`MasterConfig::registry`].
    pub fn restart(&self) {
        let new_id = uuid::Uuid::new_v4().to_string();
        lock(&self.shared).restart(new_id, tokio::time::Instant::now());
    }

    /// Fault hook: agents' (re-)registrations wait until
    /// [`MasterHandle::release_agents`] — say, to have a framework reconcile
    /// after a restart before its agents are back, as happens when a master
    /// recovers faster than its agents re-register.
    pub fn hold_agents(&self) {
        lock(&self.shared).hold_registrations(true);
    }

    /// Ends [`MasterHandle::hold_agents`]: the waiting registrations are
    /// handled in the order they came.
    pub fn release_agents(&self) {
        let mut st = lock(&self.shared);
        st.hold_registrations(false);
        if st.allocation_wanted {
            self.shared.wake.notify_one();
        }
    }

    /// Fault hook: this master stops being the leader; requests are
    /// redirected (307) to `leader` (`host:port`) and streams close.
    pub fn step_down(&self, leader: &str) {
        let mut st = lock(&self.shared);
        let id = st.master_info.id.clone();
        st.leader = Some(leader.to_owned());
        st.restart(id, tokio::time::Instant::now());
    }

    /// Fault hook: this master is elected again (state rebuilt from
    /// re-registering agents and resubscribing frameworks).
    pub fn become_leader(&self) {
        let mut st = lock(&self.shared);
        st.leader = None;
        let new_id = uuid::Uuid::new_v4().to_string();
        st.restart(new_id, tokio::time::Instant::now());
    }

    /// Waits for the master to stop (after its shutdown future completed),
    /// re-raising a panic from inside it.
    pub async fn join(self) -> Result<()> {
        let loop_result = self.event_loop.await;
        if let Err(e) = loop_result {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
            return Err(MasterError::TaskFailed(e));
        }
        match self.server.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(MasterError::TaskFailed(e)),
        }
    }
}
