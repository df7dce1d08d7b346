//! The devcluster's Mesos as one process — a master and N agents — started
//! the way Apache Mesos' own `mesos-local` is: configured by `MESOS_*`
//! environment variables and `LIBPROCESS_IP`/`LIBPROCESS_PORT`, with
//! everything under one work dir.
//!
//! It exists so that the conformance suite can run the same scenario against
//! this double and against a real Mesos 1.11 by changing only the program it
//! starts, and so that "kill -9 the Mesos process and start it again on the
//! same work dir" means the same thing on both sides. A variable this double
//! does not implement is an error, never silently ignored: a scenario that
//! needs a missing feature must fail loudly.
//!
//! Layout under the work dir (as `mesos-local`'s): `master/` (with the
//! registry for `MESOS_REGISTRY=replicated_log`, Mesos' default) and
//! `agents/<i>/work`. Unlike real Mesos, whose agents share the master's
//! libprocess port, each agent here has its own listener; its port is
//! remembered in `agents/<i>/port` so that a restart keeps the executor API
//! address that running executors were given.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;

use kube_mesos_proto::v1::Resource;

use super::agent::resources::{parse_resources, ParseError};
use super::agent::simulated::SimulatedAgents;
use super::agent::{AgentConfig, AgentError, AgentHandle};
use super::faults;
use super::master::{self, MasterConfig, MasterError, MasterHandle, Registry};

/// What went wrong starting the standalone Mesos.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    #[error("{name}={value:?} is not valid: {reason}")]
    InvalidVariable {
        name: String,
        value: String,
        reason: String,
    },
    #[error("{name} is not implemented by the devcluster's Mesos (set: {value:?})")]
    Unsupported { name: String, value: String },
    #[error("agent resources or attributes are invalid")]
    AgentConfigInvalid(#[source] ParseError),
    #[error("creating or reading {path}")]
    WorkDirFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("binding {addr}")]
    BindFailed {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the master")]
    MasterFailed(#[source] MasterError),
    #[error("starting agent {index}")]
    AgentFailed {
        index: usize,
        #[source]
        source: AgentError,
    },
}

pub type Result<T, E = StandaloneError> = std::result::Result<T, E>;

/// The `MESOS_*` variables this double reads; every other `MESOS_` variable
/// is refused. The names are Mesos' flag names (master, agent and
/// `local::Flags`), upper-cased.
const KNOWN: &[&str] = &[
    "MESOS_WORK_DIR",
    "MESOS_NUM_SLAVES",
    "MESOS_HOSTNAME",
    "MESOS_RESOURCES",
    "MESOS_ATTRIBUTES",
    "MESOS_REGISTRY",
    "MESOS_RECOVER",
    "MESOS_ALLOCATION_INTERVAL",
    "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
    "MESOS_EXECUTOR_ENVIRONMENT_VARIABLES",
    "MESOS_AGENT_REREGISTER_TIMEOUT",
    "MESOS_AGENT_PING_TIMEOUT",
    "MESOS_MAX_AGENT_PING_TIMEOUTS",
    "MESOS_AUTHENTICATE_HTTP_FRAMEWORKS",
    "MESOS_HTTP_FRAMEWORK_AUTHENTICATORS",
    "MESOS_CREDENTIALS",
];

/// Variables that only tune the real Mesos' containerizer or logging and
/// have no meaning for this double; accepted and ignored so that one
/// environment can start either implementation.
const IGNORED: &[&str] = &[
    "MESOS_LAUNCHER",
    "MESOS_LAUNCHER_DIR",
    "MESOS_ISOLATION",
    "MESOS_SYSTEMD_ENABLE_SUPPORT",
    "MESOS_SWITCH_USER",
    "MESOS_LOGGING_LEVEL",
    "MESOS_QUIET",
];

/// Variables of this double only (no Mesos flag has their meaning), for the
/// soak (`tests/soak`): agents in the hundreds without processes, and real
/// agents with hostnames of their own (mesos-local gives every agent the
/// machine's, so their Nodes would be one).
///
/// - `KUBE_MESOS_SIMULATED_AGENTS=<n>`: also start `n` simulated agents
///   (`agent::simulated`) named `<MESOS_HOSTNAME>-sim-<i>`, with the agents'
///   resources. They keep no checkpoint: a restart of this process brings
///   them back as new agents, and their tasks are gone.
/// - `KUBE_MESOS_AGENT_HOSTNAMES=<a>,<b>,...`: the hostname of agent `i` is
///   the `i`-th name (the others keep `MESOS_HOSTNAME`).
/// - `KUBE_MESOS_AGENT_EXECUTOR_ROOTS=<dir>` (relative to `MESOS_WORK_DIR`
///   unless absolute): agent `i`'s executors get
///   `KUBE_MESOS_ROOT_DIR=<dir>/<i>` in their environment (as `kube-mesos
///   local` gives each agent its own executor state root: executors of two
///   agents sharing one would take each other's pods for orphans).
/// - `KUBE_MESOS_AGENT_RESOURCES=<r0>|<r1>|...`: agent `i`'s resources are
///   the `i`-th (Mesos' text form; the others keep `MESOS_RESOURCES`). Agents
///   of one host need port ranges of their own: an executor listens on the
///   ports it is given (mesos-local gives every agent the same).
/// - `KUBE_MESOS_FAULTS_DIR=<dir>` (relative to `MESOS_WORK_DIR` unless
///   absolute): watched for faults a test injects — an agent partitioned
///   from the master and healed, a simulated agent lost for good (see
///   [`super::faults`]).
pub const SIMULATED_AGENTS_VAR: &str = "KUBE_MESOS_SIMULATED_AGENTS";
/// See [`SIMULATED_AGENTS_VAR`].
pub const AGENT_HOSTNAMES_VAR: &str = "KUBE_MESOS_AGENT_HOSTNAMES";
/// See [`SIMULATED_AGENTS_VAR`].
pub const AGENT_EXECUTOR_ROOTS_VAR: &str = "KUBE_MESOS_AGENT_EXECUTOR_ROOTS";
/// See [`SIMULATED_AGENTS_VAR`].
pub const AGENT_RESOURCES_VAR: &str = "KUBE_MESOS_AGENT_RESOURCES";
/// See [`SIMULATED_AGENTS_VAR`].
pub const FAULTS_DIR_VAR: &str = "KUBE_MESOS_FAULTS_DIR";
/// How often the faults directory is read.
const FAULTS_POLL: Duration = Duration::from_millis(250);

/// The standalone Mesos' configuration, parsed from the environment.
#[derive(Debug, Clone)]
pub struct StandaloneConfig {
    /// `LIBPROCESS_IP` (default 127.0.0.1).
    pub ip: IpAddr,
    /// `LIBPROCESS_PORT`: the master's port (default 5050).
    pub port: u16,
    /// `MESOS_WORK_DIR` (required here; Mesos defaults to `$TMPDIR/mesos/work`).
    pub work_dir: PathBuf,
    /// `MESOS_NUM_SLAVES` (default 1).
    pub num_agents: usize,
    /// The master as configured.
    pub master: MasterConfig,
    /// Agent `i`'s configuration is this template with its own work dir.
    pub agent: AgentConfig,
    /// [`SIMULATED_AGENTS_VAR`] (default 0).
    pub simulated_agents: usize,
    /// [`AGENT_HOSTNAMES_VAR`]: per-agent hostnames, by index.
    pub agent_hostnames: Vec<String>,
    /// [`AGENT_EXECUTOR_ROOTS_VAR`].
    pub agent_executor_roots: Option<PathBuf>,
    /// [`AGENT_RESOURCES_VAR`]: per-agent resources, by index.
    pub agent_resources: Vec<Vec<Resource>>,
    /// [`FAULTS_DIR_VAR`].
    pub faults_dir: Option<PathBuf>,
}

impl StandaloneConfig {
    /// Parses the configuration from `vars` (all of the process'
    /// environment, or a test's map).
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Self> {
        for (name, value) in vars {
            if name.starts_with("MESOS_")
                && !KNOWN.contains(&name.as_str())
                && !IGNORED.contains(&name.as_str())
            {
                return Err(StandaloneError::Unsupported {
                    name: name.clone(),
                    value: value.clone(),
                });
            }
        }
        let get = |name: &str| vars.get(name).map(String::as_str);
        let invalid = |name: &str, value: &str, reason: String| StandaloneError::InvalidVariable {
            name: name.to_owned(),
            value: value.to_owned(),
            reason,
        };
        let ip = match get("LIBPROCESS_IP") {
            Some(v) => v.parse().map_err(|e: std::net::AddrParseError| {
                invalid("LIBPROCESS_IP", v, e.to_string())
            })?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        let port = match get("LIBPROCESS_PORT") {
            Some(v) => v.parse().map_err(|e: std::num::ParseIntError| {
                invalid("LIBPROCESS_PORT", v, e.to_string())
            })?,
            None => 5050,
        };
        let work_dir = PathBuf::from(get("MESOS_WORK_DIR").ok_or_else(|| {
            invalid(
                "MESOS_WORK_DIR",
                "",
                "required by the devcluster's Mesos".into(),
            )
        })?);
        let num_agents = match get("MESOS_NUM_SLAVES") {
            Some(v) => v.parse().map_err(|e: std::num::ParseIntError| {
                invalid("MESOS_NUM_SLAVES", v, e.to_string())
            })?,
            None => 1,
        };
        // `--registry`, Mesos' default `replicated_log`: kept on disk under
        // the master's work dir, so that a restart on it recovers agents.
        let registry = match get("MESOS_REGISTRY").unwrap_or("replicated_log") {
            "replicated_log" => Registry::ReplicatedLog,
            "in_memory" => Registry::InMemory,
            other => {
                return Err(invalid(
                    "MESOS_REGISTRY",
                    other,
                    "must be in_memory or replicated_log".into(),
                ))
            }
        };
        if let Some(v) = get("MESOS_RECOVER") {
            if v != "reconnect" {
                return Err(StandaloneError::Unsupported {
                    name: "MESOS_RECOVER".into(),
                    value: v.into(),
                });
            }
        }
        let duration = |name: &str| -> Result<Option<Duration>> {
            get(name)
                .map(|v| parse_mesos_duration(v).map_err(|reason| invalid(name, v, reason)))
                .transpose()
        };

        // The master's hostname is the machine's (Mesos resolves its IP);
        // `--hostname` is what the agents report, as in mesos-local where
        // the variable reaches both.
        let hostname = get("MESOS_HOSTNAME").unwrap_or("localhost").to_owned();
        let mut master = MasterConfig {
            hostname: hostname.clone(),
            registry,
            registry_dir: Some(work_dir.join("master")),
            ..MasterConfig::default()
        };
        if let Some(d) = duration("MESOS_ALLOCATION_INTERVAL")? {
            master.allocation_interval = d;
        }
        if let Some(d) = duration("MESOS_AGENT_REREGISTER_TIMEOUT")? {
            master.agent_reregister_timeout = d;
        }
        // Mesos marks an agent unreachable after `--max_agent_ping_timeouts`
        // (default 5) missed pings of `--agent_ping_timeout` (default 15secs).
        let ping = duration("MESOS_AGENT_PING_TIMEOUT")?.unwrap_or(Duration::from_secs(15));
        let pings = match get("MESOS_MAX_AGENT_PING_TIMEOUTS") {
            Some(v) => v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid(
                    "MESOS_MAX_AGENT_PING_TIMEOUTS",
                    v,
                    "must be a positive integer".into(),
                )
            })?,
            None => 5,
        };
        master.agent_ping_timeout = ping * pings;
        if get("MESOS_AUTHENTICATE_HTTP_FRAMEWORKS") == Some("true") {
            let authenticators = get("MESOS_HTTP_FRAMEWORK_AUTHENTICATORS").unwrap_or_default();
            if authenticators != "basic" {
                return Err(StandaloneError::Unsupported {
                    name: "MESOS_HTTP_FRAMEWORK_AUTHENTICATORS".into(),
                    value: authenticators.into(),
                });
            }
            let file = get("MESOS_CREDENTIALS").ok_or_else(|| {
                invalid(
                    "MESOS_CREDENTIALS",
                    "",
                    "required with MESOS_AUTHENTICATE_HTTP_FRAMEWORKS".into(),
                )
            })?;
            master.framework_credentials = Some(
                super::master::auth::read_credentials(file)
                    .map_err(|reason| invalid("MESOS_CREDENTIALS", file, reason))?,
            );
        }

        let mut agent = AgentConfig::new(hostname, PathBuf::new());
        agent = agent
            .with_resources(get("MESOS_RESOURCES").unwrap_or(DEFAULT_RESOURCES))
            .map_err(StandaloneError::AgentConfigInvalid)?;
        if let Some(attributes) = get("MESOS_ATTRIBUTES") {
            agent = agent
                .with_attributes(attributes)
                .map_err(StandaloneError::AgentConfigInvalid)?;
        }
        if let Some(d) = duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")? {
            agent.executor_shutdown_grace_period = d;
        }
        if let Some(v) = get("MESOS_EXECUTOR_ENVIRONMENT_VARIABLES") {
            agent.executor_environment = parse_environment(v)
                .map_err(|reason| invalid("MESOS_EXECUTOR_ENVIRONMENT_VARIABLES", v, reason))?;
        }
        let simulated_agents = match get(SIMULATED_AGENTS_VAR) {
            Some(v) => v.parse().map_err(|e: std::num::ParseIntError| {
                invalid(SIMULATED_AGENTS_VAR, v, e.to_string())
            })?,
            None => 0,
        };
        let agent_hostnames = get(AGENT_HOSTNAMES_VAR)
            .map(|v| v.split(',').map(str::trim).map(str::to_owned).collect())
            .unwrap_or_default();
        let agent_executor_roots = get(AGENT_EXECUTOR_ROOTS_VAR).map(|d| work_dir.join(d));
        let agent_resources = match get(AGENT_RESOURCES_VAR) {
            Some(v) => v
                .split('|')
                .map(|r| parse_resources(r.trim()).map_err(StandaloneError::AgentConfigInvalid))
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let faults_dir = get(FAULTS_DIR_VAR).map(|d| work_dir.join(d));
        Ok(StandaloneConfig {
            ip,
            port,
            work_dir,
            num_agents,
            master,
            agent,
            simulated_agents,
            agent_hostnames,
            agent_executor_roots,
            agent_resources,
            faults_dir,
        })
    }

    /// Agent `index`'s own directory (`agents/<i>`, as mesos-local's).
    pub fn agent_dir(&self, index: usize) -> PathBuf {
        self.work_dir.join("agents").join(index.to_string())
    }
}

/// Mesos' default agent resources are detected from the machine; a fixed
/// small set keeps tests independent of it.
const DEFAULT_RESOURCES: &str = "cpus:2;mem:2048;disk:4096;ports:[31000-31999]";

/// Runs the master and its agents until `shutdown` completes.
pub async fn run(
    config: StandaloneConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let master_dir = config.work_dir.join("master");
    create_dir(&master_dir)?;
    let master_addr = SocketAddr::new(config.ip, config.port);
    let listener =
        TcpListener::bind(master_addr)
            .await
            .map_err(|source| StandaloneError::BindFailed {
                addr: master_addr,
                source,
            })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let master_stop = {
        let mut rx = stop_rx;
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let master = master::start(listener, config.master.clone(), master_stop)
        .await
        .map_err(StandaloneError::MasterFailed)?;
    let mut agents = Vec::new();
    for index in 0..config.num_agents {
        let dir = config.agent_dir(index);
        create_dir(&dir)?;
        let listener = bind_remembered(config.ip, &dir.join("port")).await?;
        let mut agent_config = config.agent.clone();
        agent_config.work_dir = dir.join("work");
        if let Some(name) = config.agent_hostnames.get(index) {
            agent_config.hostname = name.clone();
        }
        if let Some(resources) = config.agent_resources.get(index) {
            agent_config.resources = resources.clone();
        }
        if let Some(root) = &config.agent_executor_roots {
            agent_config.executor_environment.push((
                "KUBE_MESOS_ROOT_DIR".into(),
                root.join(index.to_string()).display().to_string(),
            ));
        }
        let agent = AgentHandle::start(
            agent_config,
            listener,
            master.link(),
            std::future::pending(),
        )
        .await
        .map_err(|source| StandaloneError::AgentFailed { index, source })?;
        agents.push(agent);
    }
    let simulated = (config.simulated_agents > 0).then(|| {
        let mut template = config.agent.clone();
        template.hostname = format!("{}-sim", config.agent.hostname);
        SimulatedAgents::start(config.simulated_agents, &template, master.link())
    });
    tracing::info!(master = %master.url(), agents = agents.len(), simulated = config.simulated_agents, "devcluster Mesos running");
    match &config.faults_dir {
        Some(dir) => {
            let hostnames: Vec<String> = (0..agents.len())
                .map(|i| {
                    config
                        .agent_hostnames
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| config.agent.hostname.clone())
                })
                .collect();
            let mut applied = faults::Faults::default();
            let mut poll = tokio::time::interval(FAULTS_POLL);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    _ = poll.tick() => {
                        for change in faults::changes(&mut applied, &faults::read(dir)) {
                            apply_fault(&change, &master, &hostnames, &agents, simulated.as_ref());
                        }
                    }
                }
            }
        }
        None => shutdown.await,
    }
    if let Some(fleet) = simulated {
        fleet.stop().await;
    }
    // Agents first, so that their executors' last updates reach a master.
    for agent in agents {
        let _ = agent.shutdown().await;
    }
    let _ = stop_tx.send(true);
    let _ = master.join().await;
    Ok(())
}

/// Applies one fault to the agents named by it (every agent of that
/// hostname: agents of one host share it unless given their own).
fn apply_fault(
    change: &faults::Change,
    master: &MasterHandle,
    hostnames: &[String],
    agents: &[AgentHandle],
    simulated: Option<&SimulatedAgents>,
) {
    let real = |host: &str| -> Vec<&AgentHandle> {
        hostnames
            .iter()
            .zip(agents)
            .filter(|(h, _)| h.as_str() == host)
            .map(|(_, a)| a)
            .collect()
    };
    match change {
        faults::Change::Partition(host) => {
            tracing::info!(%host, "fault: partitioning the agent from the master");
            real(host).into_iter().for_each(AgentHandle::disconnect);
        }
        faults::Change::Heal(host) => {
            tracing::info!(%host, "fault: healing the agent's partition");
            real(host).into_iter().for_each(AgentHandle::reconnect);
        }
        faults::Change::Lose(host) => {
            if !simulated.is_some_and(|s| s.lose(host)) {
                tracing::warn!(%host, "fault: only a simulated agent can be lost; no such one");
            }
        }
        faults::Change::RestartMaster(name) => {
            tracing::info!(%name, "fault: restarting the master; the agents stay");
            master.restart();
        }
    }
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| StandaloneError::WorkDirFailed {
        path: path.to_owned(),
        source,
    })
}

/// Binds the port remembered in `file`, or a fresh one that is then
/// remembered: executors keep the agent address they were launched with.
async fn bind_remembered(ip: IpAddr, file: &Path) -> Result<TcpListener> {
    let remembered = std::fs::read_to_string(file)
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .unwrap_or(0);
    let addr = SocketAddr::new(ip, remembered);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StandaloneError::BindFailed { addr, source })?;
    let port = listener
        .local_addr()
        .map_err(|source| StandaloneError::BindFailed { addr, source })?
        .port();
    std::fs::write(file, port.to_string()).map_err(|source| StandaloneError::WorkDirFailed {
        path: file.to_owned(),
        source,
    })?;
    Ok(listener)
}

/// stout's Duration text: a number and a unit (`ns`, `us`, `ms`, `secs`,
/// `mins`, `hrs`, `days`, `weeks`).
pub fn parse_mesos_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} has no unit"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{number:?} is not a number"))?;
    let nanos_per_unit = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "secs" => 1e9,
        "mins" => 60e9,
        "hrs" => 3600e9,
        "days" => 86400e9,
        "weeks" => 7.0 * 86400e9,
        other => return Err(format!("unknown unit {other:?}")),
    };
    let nanos = number * nanos_per_unit;
    if !nanos.is_finite() || nanos < 0.0 || nanos > u64::MAX as f64 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// `--executor_environment_variables`: a JSON object of strings.
fn parse_environment(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let map: BTreeMap<String, String> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object of strings: {e}"))?;
    Ok(map.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn mesos_local_variables_configure_master_and_agents() {
        let c = StandaloneConfig::from_vars(&vars(&[
            ("MESOS_WORK_DIR", "/w"),
            ("LIBPROCESS_PORT", "15050"),
            ("MESOS_NUM_SLAVES", "2"),
            ("MESOS_HOSTNAME", "127.0.0.1"),
            ("MESOS_RESOURCES", "cpus:4;mem:1024"),
            ("MESOS_ATTRIBUTES", "rack:r1"),
            ("MESOS_ALLOCATION_INTERVAL", "500ms"),
            ("MESOS_LAUNCHER", "posix"),
            ("MESOS_EXECUTOR_ENVIRONMENT_VARIABLES", r#"{"A":"b"}"#),
        ]))
        .expect("valid");
        assert_eq!(c.port, 15050);
        assert_eq!(c.num_agents, 2);
        assert_eq!(c.agent.hostname, "127.0.0.1");
        assert_eq!(c.agent.resources.len(), 2);
        assert_eq!(c.agent.attributes.len(), 1);
        assert_eq!(c.master.allocation_interval, Duration::from_millis(500));
        // Mesos' default registry, kept under the master's work dir.
        assert_eq!(c.master.registry, Registry::ReplicatedLog);
        assert_eq!(c.master.registry_dir, Some(PathBuf::from("/w/master")));
        assert_eq!(c.agent.executor_environment, vec![("A".into(), "b".into())]);
        assert_eq!(c.agent_dir(1), PathBuf::from("/w/agents/1"));
        // Mesos' defaults: 5 missed pings of 15 s.
        assert_eq!(c.master.agent_ping_timeout, Duration::from_secs(75));
        assert_eq!(c.faults_dir, None);
    }

    #[test]
    fn ping_timeouts_and_the_faults_dir_are_configurable() {
        let c = StandaloneConfig::from_vars(&vars(&[
            ("MESOS_WORK_DIR", "/w"),
            ("MESOS_AGENT_PING_TIMEOUT", "2secs"),
            ("MESOS_MAX_AGENT_PING_TIMEOUTS", "3"),
            (FAULTS_DIR_VAR, "faults"),
        ]))
        .expect("valid");
        assert_eq!(c.master.agent_ping_timeout, Duration::from_secs(6));
        assert_eq!(c.faults_dir, Some(PathBuf::from("/w/faults")));
        let zero = StandaloneConfig::from_vars(&vars(&[
            ("MESOS_WORK_DIR", "/w"),
            ("MESOS_MAX_AGENT_PING_TIMEOUTS", "0"),
        ]));
        assert!(matches!(zero, Err(StandaloneError::InvalidVariable { .. })));
    }

    #[test]
    fn agents_of_one_host_can_have_resources_of_their_own() {
        let c = StandaloneConfig::from_vars(&vars(&[
            ("MESOS_WORK_DIR", "/w"),
            ("MESOS_NUM_SLAVES", "2"),
            ("MESOS_RESOURCES", "cpus:4;ports:[31000-31999]"),
            (
                AGENT_RESOURCES_VAR,
                "cpus:1;ports:[12000-12099] | cpus:2;ports:[12100-12199]",
            ),
        ]))
        .expect("valid");
        let ports = |rs: &[Resource]| {
            rs.iter()
                .find(|r| r.name == "ports")
                .and_then(|r| r.ranges.as_ref())
                .map(|r| r.range[0].begin)
        };
        assert_eq!(ports(&c.agent_resources[0]), Some(12000));
        assert_eq!(ports(&c.agent_resources[1]), Some(12100));
        assert_eq!(ports(&c.agent.resources), Some(31000), "the template's");
        let bad = StandaloneConfig::from_vars(&vars(&[
            ("MESOS_WORK_DIR", "/w"),
            (AGENT_RESOURCES_VAR, "cpus:1|ports:[5-1]"),
        ]));
        assert!(matches!(bad, Err(StandaloneError::AgentConfigInvalid(_))));
    }

    #[test]
    fn the_registry_is_in_memory_or_replicated_log() {
        let with = |v: &str| {
            StandaloneConfig::from_vars(&vars(&[("MESOS_WORK_DIR", "/w"), ("MESOS_REGISTRY", v)]))
        };
        assert_eq!(
            with("in_memory").unwrap().master.registry,
            Registry::InMemory
        );
        assert_eq!(
            with("replicated_log").unwrap().master.registry,
            Registry::ReplicatedLog
        );
        assert!(with("zookeeper").is_err());
    }

    #[test]
    fn an_unimplemented_variable_is_refused_by_name() {
        let err = StandaloneConfig::from_vars(&vars(&[
            ("MESOS_WORK_DIR", "/w"),
            ("MESOS_FANCY_FLAG", "1"),
        ]))
        .expect_err("refused");
        assert!(err.to_string().contains("MESOS_FANCY_FLAG"), "{err}");
    }

    #[test]
    fn stout_durations_parse() {
        assert_eq!(parse_mesos_duration("5secs"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_mesos_duration("1.5mins"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_mesos_duration("200ms"),
            Ok(Duration::from_millis(200))
        );
        assert!(parse_mesos_duration("5").is_err());
        assert!(parse_mesos_duration("5parsecs").is_err());
        assert!(parse_mesos_duration("1e400secs").is_err());
    }
}
