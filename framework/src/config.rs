//! The framework's configuration: command-line flags, their environment
//! fallbacks, and the plain value they are parsed into.
//!
//! Flags and `KUBE_MESOS_*` variables are parsed exactly once, by clap, into
//! [`FrameworkArgs`], which [`FrameworkArgs::into_config`] validates into a
//! [`FrameworkConfig`]. Everything below `main` takes that value and never
//! reads the process environment, so tests build a [`FrameworkConfig`]
//! directly and two frameworks can run in one test process (STYLE.md 7).
//!
//! Precedence is flag, then environment variable, then default — clap's rule.
//! [`FrameworkArgs::try_parse_with_env`] parses with an injected environment so
//! that rule is testable without touching the real process environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};
use url::Url;

/// Default scheduler name: pods with `spec.schedulerName: kube-mesos` are ours.
pub const DEFAULT_SCHEDULER_NAME: &str = "kube-mesos";
/// The name kube-scheduler answers to; taken too with `--also-default-scheduler`.
pub const KUBE_DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// Default name of the leader-election Lease and of the framework-ID ConfigMap.
pub const DEFAULT_OBJECT_NAME: &str = "kube-mesos-framework";

/// A configuration that could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// clap rejected the command line (also used for `--help`/`--version`).
    #[error(transparent)]
    ArgsInvalid(#[from] clap::Error),
    /// A `--master` entry is not a URL.
    #[error("invalid --master URL {url:?}")]
    MasterUrlInvalid {
        /// The text given.
        url: String,
        /// The parser's complaint.
        #[source]
        source: url::ParseError,
    },
    /// A `--master` entry is not `http(s)://host[:port]`.
    #[error("--master {url:?} must be http:// or https:// with a host")]
    MasterUrlUnsupported {
        /// The text given.
        url: String,
    },
    /// No master was given.
    #[error("no Mesos master given (--master or KUBE_MESOS_MASTER)")]
    MasterMissing,
    /// A `key=value` flag lacks the `=` or the key.
    #[error("{flag} expects KEY=VALUE, got {value:?}")]
    KeyValueInvalid {
        /// The flag.
        flag: &'static str,
        /// The text given.
        value: String,
    },
    /// A duration did not parse.
    #[error("{flag}: invalid duration {value:?} (use e.g. 500ms, 5s, 2m, 168h)")]
    DurationInvalid {
        /// The flag.
        flag: &'static str,
        /// The text given.
        value: String,
    },
    /// A number is out of its allowed range.
    #[error("{flag}: {reason}")]
    ValueOutOfRange {
        /// The flag.
        flag: &'static str,
        /// Why.
        reason: String,
    },
    /// `--roles` is empty.
    #[error("--roles must name at least one role")]
    RolesMissing,
    /// `--role-for-namespace` names a role not in `--roles`.
    #[error("--role-for-namespace {namespace}={role}: role is not in --roles")]
    NamespaceRoleUnknown {
        /// The namespace.
        namespace: String,
        /// The role given.
        role: String,
    },
    /// Leader-election timings violate client-go's rules.
    #[error("leader election: {0}")]
    LeaderElectionInvalid(String),
}

/// How placement scores agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlacementPolicy {
    /// Prefer the agent with the least free resources after placement, leaving
    /// whole agents free for other frameworks.
    #[default]
    Binpack,
    /// Prefer the agent with the most free resources.
    Spread,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The framework process's memory allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Allocator {
    /// mimalloc: gives back to the system the pages it frees, such as
    /// those a burst of pods touched while queued.
    #[default]
    Mimalloc,
    /// The C library's (glibc, one arena): keeps freed pages until a trim.
    Glibc,
}

/// `kube-mesos framework` flags. Every flag has a `KUBE_MESOS_*` environment
/// fallback; a flag given on the command line wins over the variable.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "framework",
    about = "Run the Mesos framework scheduler that places Kubernetes pods on Mesos offers"
)]
pub struct FrameworkArgs {
    /// Mesos master URLs, comma-separated (http://host:5050). Any master will
    /// do; a non-leading one redirects to the leader.
    #[arg(long, env = "KUBE_MESOS_MASTER", value_delimiter = ',')]
    pub master: Vec<String>,

    /// Principal to authenticate to Mesos with (also FrameworkInfo.principal).
    #[arg(long, env = "KUBE_MESOS_MESOS_PRINCIPAL")]
    pub mesos_principal: Option<String>,

    /// File holding the Mesos secret for --mesos-principal (HTTP Basic).
    #[arg(long, env = "KUBE_MESOS_MESOS_SECRET_FILE")]
    pub mesos_secret_file: Option<PathBuf>,

    /// Unix user the executor and the pods run as on the agents
    /// (FrameworkInfo.user).
    #[arg(long, env = "KUBE_MESOS_MESOS_USER", default_value = "root")]
    pub mesos_user: String,

    /// Framework name shown by Mesos.
    #[arg(long, env = "KUBE_MESOS_FRAMEWORK_NAME", default_value = "kube-mesos")]
    pub framework_name: String,

    /// Hostname reported in FrameworkInfo and the web UI URL (default: this
    /// machine's hostname).
    #[arg(long, env = "KUBE_MESOS_HOSTNAME")]
    pub hostname: Option<String>,

    /// Kubeconfig file. Without it: in-cluster config, then the default
    /// kubeconfig ($KUBECONFIG, ~/.kube/config).
    #[arg(long, env = "KUBE_MESOS_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace of the framework's own objects (leader Lease, framework-ID
    /// ConfigMap).
    #[arg(long, env = "KUBE_MESOS_NAMESPACE", default_value = "kube-system")]
    pub namespace: String,

    /// spec.schedulerName of the pods this framework places.
    #[arg(long, env = "KUBE_MESOS_SCHEDULER_NAME", default_value = DEFAULT_SCHEDULER_NAME)]
    pub scheduler_name: String,

    /// Also place pods of `default-scheduler` (when kube-mesos replaces
    /// kube-scheduler outright). Accepts true/false.
    #[arg(
        long,
        env = "KUBE_MESOS_ALSO_DEFAULT_SCHEDULER",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub also_default_scheduler: bool,

    /// Mesos roles to subscribe with (MULTI_ROLE), comma-separated; the first
    /// is the default role of a pod.
    #[arg(
        long,
        env = "KUBE_MESOS_ROLES",
        value_delimiter = ',',
        default_value = "*"
    )]
    pub roles: Vec<String>,

    /// Default Mesos role of a namespace's pods, NAMESPACE=ROLE (repeatable;
    /// comma-separated in the environment variable). The annotation
    /// kube-mesos.io/role on a pod overrides it.
    #[arg(long, env = "KUBE_MESOS_ROLE_FOR_NAMESPACE", value_delimiter = ',')]
    pub role_for_namespace: Vec<String>,

    /// URI the Mesos fetcher downloads for the executor (repeatable;
    /// comma-separated in the environment variable). Archives are extracted.
    #[arg(long, env = "KUBE_MESOS_EXECUTOR_URI", value_delimiter = ',')]
    pub executor_uri: Vec<String>,

    /// Shell command that starts the executor in its sandbox.
    #[arg(
        long,
        env = "KUBE_MESOS_EXECUTOR_COMMAND",
        default_value = "./kube-mesos executor"
    )]
    pub executor_command: String,

    /// CPUs reserved for the executor itself on each agent.
    #[arg(long, env = "KUBE_MESOS_EXECUTOR_CPUS", default_value_t = 0.1)]
    pub executor_cpus: f64,

    /// Memory in MiB reserved for the executor itself on each agent.
    #[arg(long, env = "KUBE_MESOS_EXECUTOR_MEM", default_value_t = 64.0)]
    pub executor_mem: f64,

    /// Environment of the executor, KEY=VALUE (repeatable; comma-separated in
    /// the environment variable): what it needs to reach Kubernetes.
    #[arg(long, env = "KUBE_MESOS_EXECUTOR_ENV", value_delimiter = ',')]
    pub executor_env: Vec<String>,

    /// How placement picks among fitting agents.
    #[arg(
        long,
        env = "KUBE_MESOS_PLACEMENT_POLICY",
        value_enum,
        default_value = "binpack"
    )]
    pub placement_policy: PlacementPolicy,

    /// Longest time an offer is held to batch pods into it (e.g. 1s, 500ms).
    #[arg(long, env = "KUBE_MESOS_BATCH_WINDOW", default_value = "1s")]
    pub batch_window: String,

    /// Shortest time between two REVIVE calls (e.g. 250ms, 1s; at least
    /// 100ms). A pod that finds no offer in hand REVIVEs, which makes the
    /// master allocate at once; shorter starts pods sooner while they keep
    /// arriving, at the price of more allocation runs on the master (each
    /// offers again what no framework holds).
    #[arg(long, env = "KUBE_MESOS_REVIVE_MIN_INTERVAL", default_value = "250ms")]
    pub revive_min_interval: String,

    /// Refuse filter, in seconds, on offers declined while nothing is pending.
    #[arg(long, env = "KUBE_MESOS_REFUSE_SECONDS", default_value_t = 120.0)]
    pub refuse_seconds: f64,

    /// How long Mesos keeps the framework's tasks after it disconnects
    /// (FrameworkInfo.failover_timeout).
    #[arg(long, env = "KUBE_MESOS_FAILOVER_TIMEOUT", default_value = "168h")]
    pub failover_timeout: String,

    /// How long a pod waits for a task Mesos reports TASK_UNREACHABLE or
    /// TASK_UNKNOWN (agent partitioned, or not re-registered after a master
    /// failover) before it is failed NodeLost or relaunched on its node.
    /// The pod keeps its phase meanwhile, and a task that comes back is
    /// never killed. The default matches Kubernetes' node eviction timeout.
    #[arg(long, env = "KUBE_MESOS_UNREACHABLE_TIMEOUT", default_value = "5m")]
    pub unreachable_timeout: String,

    /// How long a bound pod whose task ended without running it (a failed
    /// launch, a dead executor, an agent lost before the pod ran) may wait
    /// for a relaunch on its node before it is failed NodeLost: a bound pod
    /// never moves, as on a kubelet.
    #[arg(long, env = "KUBE_MESOS_RELAUNCH_DEADLINE", default_value = "5m")]
    pub relaunch_deadline: String,

    /// Mesos maintenance: agents whose unavailability (from a maintenance
    /// schedule posted to the master) starts within this horizon get no new
    /// pods; their Nodes are cordoned and their pods with a controller
    /// evicted (PodDisruptionBudgets honoured), then the inverse offer is
    /// accepted, or declined with a Warning on the Node naming the pods
    /// that cannot move.
    #[arg(long, env = "KUBE_MESOS_MAINTENANCE_HORIZON", default_value = "1h")]
    pub maintenance_horizon: String,

    /// Move running pods off executors of an older configuration (after an
    /// upgrade or a changed executor setting) onto the current executor.
    /// CRI pods are handed over without a restart and the old executor
    /// exits once empty; process-runtime pods cannot move and stay on the
    /// old executor until they end. Accepts true/false.
    #[arg(
        long,
        env = "KUBE_MESOS_RETIRE_OLD_EXECUTORS",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value = "true",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub retire_old_executors: bool,

    /// Evict process-runtime pods that an outdated executor keeps (they
    /// cannot be handed over) when they have a controller, through the
    /// Eviction API (PodDisruptionBudgets honoured), one agent at a time,
    /// so their controllers recreate them on the current executor. Pods
    /// without a controller stay. Accepts true/false; default off.
    #[arg(
        long,
        env = "KUBE_MESOS_EVICT_KEPT_PODS",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub evict_kept_pods: bool,

    /// Address of the HTTP endpoint (/healthz, /readyz, /metrics, and the
    /// status page at /).
    #[arg(long, env = "KUBE_MESOS_HTTP_ADDR", default_value = "0.0.0.0:10251")]
    pub http_addr: SocketAddr,

    /// Host in FrameworkInfo.webui_url, the status page link of the Mesos
    /// and DC/OS UIs: set it to what browsers reach behind a proxy (e.g.
    /// DC/OS Admin Router). Default: the --http-addr IP, or --hostname when
    /// it listens on every address.
    #[arg(long, env = "KUBE_MESOS_WEBUI_HOST")]
    pub webui_host: Option<String>,

    /// Port in FrameworkInfo.webui_url (default: the --http-addr port).
    #[arg(long, env = "KUBE_MESOS_WEBUI_PORT")]
    pub webui_port: Option<u16>,

    /// Run leader election so only one replica schedules. Accepts true/false.
    #[arg(
        long,
        env = "KUBE_MESOS_LEADER_ELECTION",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value = "true",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub leader_election: bool,

    /// Name of the leader-election Lease in --namespace.
    #[arg(long, env = "KUBE_MESOS_LEADER_ELECTION_LEASE", default_value = DEFAULT_OBJECT_NAME)]
    pub leader_election_lease: String,

    /// Identity written to the Lease (default: hostname_random).
    #[arg(long, env = "KUBE_MESOS_LEADER_ELECTION_IDENTITY")]
    pub leader_election_identity: Option<String>,

    /// Name of the ConfigMap in --namespace that stores the framework ID.
    #[arg(long, env = "KUBE_MESOS_FRAMEWORK_ID_CONFIGMAP", default_value = DEFAULT_OBJECT_NAME)]
    pub framework_id_configmap: String,

    /// Longest drain after SIGTERM (decline held offers, release the lease)
    /// before the process exits anyway; a second signal exits at once.
    #[arg(long, env = "KUBE_MESOS_DRAIN_DEADLINE", default_value = "30s")]
    pub drain_deadline: String,

    /// Log format.
    #[arg(
        long,
        env = "KUBE_MESOS_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Memory allocator of the framework process (read at start-up).
    #[arg(
        long,
        env = "KUBE_MESOS_ALLOCATOR",
        value_enum,
        default_value = "mimalloc"
    )]
    pub allocator: Allocator,

    /// Validate the configuration, print it, and exit 0.
    #[arg(long)]
    pub check_config: bool,
}

impl FrameworkArgs {
    /// Parses `argv` (program name first) taking environment fallbacks from
    /// `env` instead of the process environment. Production parses through
    /// clap directly; this exists so tests can check precedence.
    pub fn try_parse_with_env<I, T>(
        argv: I,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Self::command();
        let env_args: Vec<(String, String, Option<char>)> = command
            .get_arguments()
            .filter_map(|a| {
                a.get_env().map(|e| {
                    (
                        a.get_id().to_string(),
                        e.to_string_lossy().into_owned(),
                        a.get_value_delimiter(),
                    )
                })
            })
            .collect();
        for (id, var, delimiter) in env_args {
            let value = env(&var);
            command = command.mut_arg(id, |arg| {
                let arg = arg.env(None::<&str>);
                match (value, delimiter) {
                    (None, _) => arg,
                    (Some(v), Some(d)) => {
                        arg.default_values(v.split(d).map(str::to_string).collect::<Vec<_>>())
                    }
                    (Some(v), None) => arg.default_value(v),
                }
            });
        }
        let matches = command.try_get_matches_from(argv)?;
        Ok(Self::from_arg_matches(&matches)?)
    }

    /// Validates the flags into a [`FrameworkConfig`].
    pub fn into_config(self) -> Result<FrameworkConfig, ConfigError> {
        let masters = parse_masters(&self.master)?;
        let roles: Vec<String> = self
            .roles
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        if roles.is_empty() {
            return Err(ConfigError::RolesMissing);
        }
        let role_for_namespace =
            parse_key_values("--role-for-namespace", &self.role_for_namespace)?;
        for (namespace, role) in &role_for_namespace {
            if !roles.contains(role) {
                return Err(ConfigError::NamespaceRoleUnknown {
                    namespace: namespace.clone(),
                    role: role.clone(),
                });
            }
        }
        let executor_env = parse_key_values("--executor-env", &self.executor_env)?;
        if !(self.executor_cpus.is_finite() && self.executor_cpus > 0.0) {
            return Err(ConfigError::ValueOutOfRange {
                flag: "--executor-cpus",
                reason: "must be a positive number".into(),
            });
        }
        if !(self.executor_mem.is_finite() && self.executor_mem > 0.0) {
            return Err(ConfigError::ValueOutOfRange {
                flag: "--executor-mem",
                reason: "must be a positive number of MiB".into(),
            });
        }
        if !(self.refuse_seconds.is_finite() && self.refuse_seconds >= 0.0) {
            return Err(ConfigError::ValueOutOfRange {
                flag: "--refuse-seconds",
                reason: "must be zero or more".into(),
            });
        }
        let batch_window = parse_duration("--batch-window", &self.batch_window)?;
        let revive_min_interval =
            parse_duration("--revive-min-interval", &self.revive_min_interval)?;
        if revive_min_interval < MIN_REVIVE_INTERVAL {
            // Each REVIVE is an allocation run on the master for everyone
            // sharing the pool: a floor keeps a flood of pods from becoming
            // a REVIVE storm.
            return Err(ConfigError::ValueOutOfRange {
                flag: "--revive-min-interval",
                reason: format!("must be at least {MIN_REVIVE_INTERVAL:?}"),
            });
        }
        let failover_timeout = parse_duration("--failover-timeout", &self.failover_timeout)?;
        let unreachable_timeout =
            parse_duration("--unreachable-timeout", &self.unreachable_timeout)?;
        let relaunch_deadline = parse_duration("--relaunch-deadline", &self.relaunch_deadline)?;
        let maintenance_horizon =
            parse_duration("--maintenance-horizon", &self.maintenance_horizon)?;
        let drain_deadline = parse_duration("--drain-deadline", &self.drain_deadline)?;
        let leader_election = LeaderElectionConfig {
            enabled: self.leader_election,
            lease_name: self.leader_election_lease,
            identity: self.leader_election_identity,
            ..LeaderElectionConfig::default()
        };
        leader_election.validate()?;
        Ok(FrameworkConfig {
            masters,
            mesos_principal: self.mesos_principal,
            mesos_secret_file: self.mesos_secret_file,
            mesos_user: self.mesos_user,
            framework_name: self.framework_name,
            hostname: self.hostname,
            kubeconfig: self.kubeconfig,
            namespace: self.namespace,
            scheduler_name: self.scheduler_name,
            also_default_scheduler: self.also_default_scheduler,
            roles,
            role_for_namespace,
            executor: ExecutorSettings {
                uris: self.executor_uri,
                command: self.executor_command,
                cpus: self.executor_cpus,
                mem_mib: self.executor_mem,
                env: executor_env,
            },
            placement_policy: self.placement_policy,
            batch_window,
            revive_min_interval,
            refuse_seconds: self.refuse_seconds,
            failover_timeout,
            unreachable_timeout,
            relaunch_deadline,
            maintenance_horizon,
            retire_old_executors: self.retire_old_executors,
            evict_kept_pods: self.evict_kept_pods,
            http_addr: self.http_addr,
            webui_host: self.webui_host,
            webui_port: self.webui_port,
            leader_election,
            framework_id_configmap: self.framework_id_configmap,
            drain_deadline,
            log_format: self.log_format,
        })
    }
}

/// What the executor on each agent is and needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorSettings {
    /// URIs the Mesos fetcher downloads into the sandbox. Default none (the
    /// binary is expected on the agent, e.g. in `kube-mesos local`).
    pub uris: Vec<String>,
    /// Command run in the sandbox. Default `./kube-mesos executor`.
    pub command: String,
    /// CPUs for the executor itself. Default 0.1.
    pub cpus: f64,
    /// Memory for the executor itself in MiB. Default 64.
    pub mem_mib: f64,
    /// Environment handed to the executor (Kubernetes endpoint, credentials).
    pub env: BTreeMap<String, String>,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            uris: Vec::new(),
            command: "./kube-mesos executor".into(),
            cpus: 0.1,
            mem_mib: 64.0,
            env: BTreeMap::new(),
        }
    }
}

/// Leader election on a `coordination.k8s.io/v1` Lease, with client-go's
/// timings (kube-scheduler's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// Run election. Default true; false makes this replica lead at once
    /// (single replica, tests).
    pub enabled: bool,
    /// Lease name in the framework namespace. Default `kube-mesos-framework`.
    pub lease_name: String,
    /// Holder identity. Default `<hostname>_<uuid>`, as kube-scheduler does.
    pub identity: Option<String>,
    /// How long a non-leader waits after the last observed renewal before it
    /// may take the lease. Default 15 s.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leading.
    /// Default 10 s.
    pub renew_deadline: Duration,
    /// Time between attempts. Default 2 s.
    pub retry_period: Duration,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            lease_name: DEFAULT_OBJECT_NAME.into(),
            identity: None,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl LeaderElectionConfig {
    /// client-go's checks: leaseDuration > renewDeadline > retryPeriod * 1.2.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lease_duration <= self.renew_deadline {
            return Err(ConfigError::LeaderElectionInvalid(
                "lease duration must be greater than renew deadline".into(),
            ));
        }
        if self.renew_deadline.as_secs_f64() <= self.retry_period.as_secs_f64() * 1.2 {
            return Err(ConfigError::LeaderElectionInvalid(
                "renew deadline must be greater than 1.2 x retry period".into(),
            ));
        }
        if self.retry_period.is_zero() {
            return Err(ConfigError::LeaderElectionInvalid(
                "retry period must be positive".into(),
            ));
        }
        if self.lease_name.is_empty() {
            return Err(ConfigError::LeaderElectionInvalid(
                "lease name must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// The framework's whole configuration, parsed once and passed down.
#[derive(Debug, Clone)]
pub struct FrameworkConfig {
    /// Mesos master URLs.
    pub masters: Vec<Url>,
    /// Mesos principal. Default none.
    pub mesos_principal: Option<String>,
    /// File with the Mesos secret; read when the framework starts.
    pub mesos_secret_file: Option<PathBuf>,
    /// FrameworkInfo.user. Default `root`.
    pub mesos_user: String,
    /// FrameworkInfo.name. Default `kube-mesos`.
    pub framework_name: String,
    /// FrameworkInfo.hostname; default this machine's hostname.
    pub hostname: Option<String>,
    /// Kubeconfig path; none = in-cluster or default inference.
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of the framework's own objects. Default `kube-system`.
    pub namespace: String,
    /// Our schedulerName. Default `kube-mesos`.
    pub scheduler_name: String,
    /// Also take `default-scheduler` pods. Default false.
    pub also_default_scheduler: bool,
    /// Roles subscribed with (MULTI_ROLE), never empty. Default `*`.
    pub roles: Vec<String>,
    /// Default role per namespace.
    pub role_for_namespace: BTreeMap<String, String>,
    /// The executor.
    pub executor: ExecutorSettings,
    /// Placement scoring. Default binpack.
    pub placement_policy: PlacementPolicy,
    /// Offer batching window. Default 1 s.
    pub batch_window: Duration,
    /// Shortest time between two REVIVEs. Default 250 ms.
    pub revive_min_interval: Duration,
    /// Long refuse filter for declines, seconds. Default 120.
    pub refuse_seconds: f64,
    /// FrameworkInfo.failover_timeout. Default one week.
    pub failover_timeout: Duration,
    /// How long a pod waits for an unreachable or unknown task before it is
    /// lost. Default 5 min.
    pub unreachable_timeout: Duration,
    /// How long a bound pod may wait for a relaunch on its node before it
    /// is failed. Default 5 min.
    pub relaunch_deadline: Duration,
    /// Agents whose maintenance window starts within this are drained.
    /// Default 1 h ([`crate::core::maintenance::DEFAULT_HORIZON`]).
    pub maintenance_horizon: Duration,
    /// Hand running pods over from executors of an older configuration to
    /// the current one. Default true.
    pub retire_old_executors: bool,
    /// Evict kept process-runtime pods with a controller, one agent at a
    /// time. Default false.
    pub evict_kept_pods: bool,
    /// HTTP endpoint address. Default `0.0.0.0:10251`.
    pub http_addr: SocketAddr,
    /// Host advertised in `webui_url`. Default none: see
    /// [`crate::status::webui_url`].
    pub webui_host: Option<String>,
    /// Port advertised in `webui_url`. Default none: the listening port.
    pub webui_port: Option<u16>,
    /// Leader election.
    pub leader_election: LeaderElectionConfig,
    /// ConfigMap holding the framework ID. Default `kube-mesos-framework`.
    pub framework_id_configmap: String,
    /// Longest drain after the first signal. Default 30 s.
    pub drain_deadline: Duration,
    /// Log format. Default text.
    pub log_format: LogFormat,
}

impl FrameworkConfig {
    /// Defaults for the given masters, as the flags' defaults would give.
    pub fn new(masters: Vec<Url>) -> Self {
        Self {
            masters,
            mesos_principal: None,
            mesos_secret_file: None,
            mesos_user: "root".into(),
            framework_name: "kube-mesos".into(),
            hostname: None,
            kubeconfig: None,
            namespace: "kube-system".into(),
            scheduler_name: DEFAULT_SCHEDULER_NAME.into(),
            also_default_scheduler: false,
            roles: vec!["*".into()],
            role_for_namespace: BTreeMap::new(),
            executor: ExecutorSettings::default(),
            placement_policy: PlacementPolicy::Binpack,
            batch_window: Duration::from_secs(1),
            revive_min_interval: Duration::from_millis(250),
            refuse_seconds: 120.0,
            failover_timeout: Duration::from_secs(7 * 24 * 3600),
            unreachable_timeout: Duration::from_secs(300),
            relaunch_deadline: Duration::from_secs(300),
            maintenance_horizon: crate::core::maintenance::DEFAULT_HORIZON,
            retire_old_executors: true,
            evict_kept_pods: false,
            http_addr: SocketAddr::from(([0, 0, 0, 0], 10251)),
            webui_host: None,
            webui_port: None,
            leader_election: LeaderElectionConfig::default(),
            framework_id_configmap: DEFAULT_OBJECT_NAME.into(),
            drain_deadline: Duration::from_secs(30),
            log_format: LogFormat::Text,
        }
    }

    /// The schedulerNames whose pods are ours.
    pub fn scheduler_names(&self) -> Vec<String> {
        let mut names = vec![self.scheduler_name.clone()];
        if self.also_default_scheduler && self.scheduler_name != KUBE_DEFAULT_SCHEDULER_NAME {
            names.push(KUBE_DEFAULT_SCHEDULER_NAME.into());
        }
        names
    }
}

/// A readable listing for `--check-config` (the secret file's path only,
/// never its contents).
impl std::fmt::Display for FrameworkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masters: Vec<&str> = self.masters.iter().map(Url::as_str).collect();
        writeln!(f, "masters: {}", masters.join(","))?;
        writeln!(f, "mesos_principal: {}", opt(&self.mesos_principal))?;
        writeln!(
            f,
            "mesos_secret_file: {}",
            opt(&self
                .mesos_secret_file
                .as_ref()
                .map(|p| p.display().to_string()))
        )?;
        writeln!(f, "mesos_user: {}", self.mesos_user)?;
        writeln!(f, "framework_name: {}", self.framework_name)?;
        writeln!(f, "hostname: {}", opt(&self.hostname))?;
        writeln!(
            f,
            "kubeconfig: {}",
            opt(&self.kubeconfig.as_ref().map(|p| p.display().to_string()))
        )?;
        writeln!(f, "namespace: {}", self.namespace)?;
        writeln!(f, "scheduler_names: {}", self.scheduler_names().join(","))?;
        writeln!(f, "roles: {}", self.roles.join(","))?;
        for (ns, role) in &self.role_for_namespace {
            writeln!(f, "role_for_namespace.{ns}: {role}")?;
        }
        writeln!(f, "executor.uris: {}", self.executor.uris.join(","))?;
        writeln!(f, "executor.command: {}", self.executor.command)?;
        writeln!(f, "executor.cpus: {}", self.executor.cpus)?;
        writeln!(f, "executor.mem_mib: {}", self.executor.mem_mib)?;
        for key in self.executor.env.keys() {
            // Values may be credentials: print the names only.
            writeln!(f, "executor.env.{key}: <set>")?;
        }
        writeln!(f, "placement_policy: {:?}", self.placement_policy)?;
        writeln!(f, "batch_window: {:?}", self.batch_window)?;
        writeln!(f, "revive_min_interval: {:?}", self.revive_min_interval)?;
        writeln!(f, "refuse_seconds: {}", self.refuse_seconds)?;
        writeln!(f, "failover_timeout: {:?}", self.failover_timeout)?;
        writeln!(f, "unreachable_timeout: {:?}", self.unreachable_timeout)?;
        writeln!(f, "relaunch_deadline: {:?}", self.relaunch_deadline)?;
        writeln!(f, "maintenance_horizon: {:?}", self.maintenance_horizon)?;
        writeln!(f, "retire_old_executors: {}", self.retire_old_executors)?;
        writeln!(f, "evict_kept_pods: {}", self.evict_kept_pods)?;
        writeln!(f, "http_addr: {}", self.http_addr)?;
        writeln!(f, "webui_host: {}", opt(&self.webui_host))?;
        writeln!(
            f,
            "webui_port: {}",
            opt(&self.webui_port.map(|p| p.to_string()))
        )?;
        writeln!(
            f,
            "leader_election.enabled: {}",
            self.leader_election.enabled
        )?;
        writeln!(
            f,
            "leader_election.lease: {}",
            self.leader_election.lease_name
        )?;
        writeln!(f, "framework_id_configmap: {}", self.framework_id_configmap)?;
        writeln!(f, "drain_deadline: {:?}", self.drain_deadline)?;
        write!(f, "log_format: {:?}", self.log_format)
    }
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("<none>")
}

fn parse_masters(given: &[String]) -> Result<Vec<Url>, ConfigError> {
    let mut masters = Vec::new();
    for text in given.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
        let url = Url::parse(text).map_err(|source| ConfigError::MasterUrlInvalid {
            url: text.to_string(),
            source,
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConfigError::MasterUrlUnsupported {
                url: text.to_string(),
            });
        }
        masters.push(url);
    }
    if masters.is_empty() {
        return Err(ConfigError::MasterMissing);
    }
    Ok(masters)
}

fn parse_key_values(
    flag: &'static str,
    given: &[String],
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for item in given.iter().filter(|i| !i.is_empty()) {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.insert(k.trim().to_string(), v.to_string());
            }
            _ => {
                return Err(ConfigError::KeyValueInvalid {
                    flag,
                    value: item.clone(),
                })
            }
        }
    }
    Ok(out)
}

/// Parses `500ms`, `5s`, `2m`, `168h`, `7d` or a bare number of seconds.
/// The shortest `--revive-min-interval` accepted.
pub const MIN_REVIVE_INTERVAL: Duration = Duration::from_millis(100);

pub fn parse_duration(flag: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let invalid = || ConfigError::DurationInvalid {
        flag,
        value: text.to_string(),
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return Err(invalid()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str], env: &[(&str, &str)]) -> Result<FrameworkConfig, ConfigError> {
        parse_args(argv, env)?.into_config()
    }

    fn parse_args(argv: &[&str], env: &[(&str, &str)]) -> Result<FrameworkArgs, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut full = vec!["framework"];
        full.extend_from_slice(argv);
        FrameworkArgs::try_parse_with_env(full, |k| env.get(k).cloned())
    }

    #[test]
    fn the_allocator_is_mimalloc_unless_glibc_is_asked_for() {
        let args = |argv: &[&str], env: &[(&str, &str)]| {
            let mut full = vec!["--master", "http://m:5050"];
            full.extend_from_slice(argv);
            parse_args(&full, env).map(|a| a.allocator)
        };
        assert_eq!(args(&[], &[]).unwrap(), Allocator::Mimalloc);
        assert_eq!(
            args(&[], &[("KUBE_MESOS_ALLOCATOR", "glibc")]).unwrap(),
            Allocator::Glibc
        );
        assert_eq!(
            args(
                &["--allocator", "mimalloc"],
                &[("KUBE_MESOS_ALLOCATOR", "glibc")]
            )
            .unwrap(),
            Allocator::Mimalloc
        );
        assert!(args(&["--allocator", "tcmalloc"], &[]).is_err());
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = parse(&["--master", "http://m:5050"], &[]).unwrap();
        let d = FrameworkConfig::new(c.masters.clone());
        assert_eq!(c.scheduler_name, "kube-mesos");
        assert_eq!(c.roles, vec!["*"]);
        assert_eq!(c.batch_window, Duration::from_secs(1));
        assert_eq!(c.failover_timeout, Duration::from_secs(604800));
        assert_eq!(c.unreachable_timeout, Duration::from_secs(300));
        assert_eq!(c.relaunch_deadline, Duration::from_secs(300));
        assert_eq!(c.relaunch_deadline, d.relaunch_deadline);
        assert_eq!(c.maintenance_horizon, d.maintenance_horizon);
        assert_eq!(
            c.maintenance_horizon,
            crate::core::maintenance::DEFAULT_HORIZON
        );
        assert_eq!(c.unreachable_timeout, d.unreachable_timeout);
        assert_eq!(c.revive_min_interval, d.revive_min_interval);
        assert!(c.retire_old_executors && d.retire_old_executors);
        assert!(!c.evict_kept_pods && !d.evict_kept_pods);
        assert_eq!(c.http_addr, d.http_addr);
        assert_eq!(c.executor, d.executor);
        assert_eq!(c.leader_election, d.leader_election);
        assert_eq!(c.namespace, d.namespace);
        assert!(!c.also_default_scheduler);
        assert_eq!(c.scheduler_names(), vec!["kube-mesos"]);
    }

    #[test]
    fn flag_beats_env_beats_default() {
        let env = [
            ("KUBE_MESOS_MASTER", "http://env1:5050,http://env2:5050"),
            ("KUBE_MESOS_SCHEDULER_NAME", "from-env"),
            ("KUBE_MESOS_BATCH_WINDOW", "250ms"),
            ("KUBE_MESOS_REVIVE_MIN_INTERVAL", "300ms"),
            ("KUBE_MESOS_ROLES", "a,b"),
            ("KUBE_MESOS_ALSO_DEFAULT_SCHEDULER", "true"),
            ("KUBE_MESOS_UNREACHABLE_TIMEOUT", "90s"),
            ("KUBE_MESOS_RELAUNCH_DEADLINE", "45s"),
            ("KUBE_MESOS_MAINTENANCE_HORIZON", "10m"),
            ("KUBE_MESOS_EVICT_KEPT_PODS", "true"),
            ("KUBE_MESOS_RETIRE_OLD_EXECUTORS", "false"),
        ];
        let c = parse(&[], &env).unwrap();
        assert_eq!(c.unreachable_timeout, Duration::from_secs(90));
        assert_eq!(c.relaunch_deadline, Duration::from_secs(45));
        assert_eq!(c.maintenance_horizon, Duration::from_secs(600));
        assert!(c.evict_kept_pods);
        assert!(!c.retire_old_executors);
        assert_eq!(c.masters.len(), 2);
        assert_eq!(c.scheduler_name, "from-env");
        assert_eq!(c.batch_window, Duration::from_millis(250));
        assert_eq!(c.revive_min_interval, Duration::from_millis(300));
        assert_eq!(c.roles, vec!["a", "b"]);
        assert_eq!(
            c.scheduler_names(),
            vec!["from-env".to_string(), "default-scheduler".to_string()]
        );

        let c = parse(
            &[
                "--master",
                "http://flag:5050",
                "--scheduler-name",
                "from-flag",
                "--roles",
                "c",
                "--also-default-scheduler=false",
                "--unreachable-timeout",
                "10m",
                "--retire-old-executors",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(c.unreachable_timeout, Duration::from_secs(600));
        assert!(c.retire_old_executors, "the flag beats the environment");
        assert_eq!(c.masters.len(), 1);
        assert_eq!(c.masters[0].host_str(), Some("flag"));
        assert_eq!(c.scheduler_name, "from-flag");
        assert_eq!(c.roles, vec!["c"]);
        assert!(!c.also_default_scheduler);
        // Not given as a flag: the environment still applies.
        assert_eq!(c.batch_window, Duration::from_millis(250));
    }

    #[test]
    fn repeatable_flags_and_key_values() {
        let c = parse(
            &[
                "--master=http://m:5050",
                "--roles=web,batch",
                "--role-for-namespace",
                "team-a=web",
                "--role-for-namespace",
                "team-b=batch",
                "--executor-uri",
                "http://x/kube-mesos.tgz",
                "--executor-uri",
                "http://x/cfg",
                "--executor-env",
                "KUBERNETES_SERVICE_HOST=10.0.0.1",
                "--executor-env=TOKEN=a=b",
                "--also-default-scheduler",
                "--leader-election=false",
                "--placement-policy=spread",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(c.role_for_namespace["team-a"], "web");
        assert_eq!(c.role_for_namespace["team-b"], "batch");
        assert_eq!(c.executor.uris.len(), 2);
        assert_eq!(c.executor.env["TOKEN"], "a=b");
        assert!(c.also_default_scheduler);
        assert!(!c.leader_election.enabled);
        assert_eq!(c.placement_policy, PlacementPolicy::Spread);
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        assert!(matches!(parse(&[], &[]), Err(ConfigError::MasterMissing)));
        assert!(matches!(
            parse(&["--master", "zk://z:2181/mesos"], &[]),
            Err(ConfigError::MasterUrlUnsupported { .. })
        ));
        assert!(matches!(
            parse(
                &["--master", "http://m", "--role-for-namespace", "ns=nope"],
                &[]
            ),
            Err(ConfigError::NamespaceRoleUnknown { .. })
        ));
        assert!(matches!(
            parse(
                &["--master", "http://m", "--revive-min-interval", "10ms"],
                &[]
            ),
            Err(ConfigError::ValueOutOfRange {
                flag: "--revive-min-interval",
                ..
            })
        ));
        assert!(matches!(
            parse(&["--master", "http://m", "--executor-env", "NOEQUALS"], &[]),
            Err(ConfigError::KeyValueInvalid { .. })
        ));
        assert!(matches!(
            parse(&["--master", "http://m", "--batch-window", "soon"], &[]),
            Err(ConfigError::DurationInvalid { .. })
        ));
        assert!(matches!(
            parse(&["--master", "http://m", "--executor-cpus", "0"], &[]),
            Err(ConfigError::ValueOutOfRange { .. })
        ));
        assert!(matches!(
            parse(
                &["--master", "http://m", "--placement-policy", "random"],
                &[]
            ),
            Err(ConfigError::ArgsInvalid(_))
        ));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("f", "5").unwrap(), Duration::from_secs(5));
        assert_eq!(
            parse_duration("f", "1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("f", "2m").unwrap(), Duration::from_secs(120));
        assert_eq!(
            parse_duration("f", "7d").unwrap(),
            Duration::from_secs(604800)
        );
        assert!(parse_duration("f", "-1s").is_err());
        assert!(parse_duration("f", "").is_err());
    }

    #[test]
    fn help_documents_every_env_variable() {
        let help = FrameworkArgs::command().render_long_help().to_string();
        for arg in FrameworkArgs::command().get_arguments() {
            if let Some(env) = arg.get_env() {
                assert!(help.contains(&*env.to_string_lossy()), "{env:?} missing");
            }
        }
    }

    #[test]
    fn leader_election_timings_follow_client_go_rules() {
        let mut le = LeaderElectionConfig::default();
        assert!(le.validate().is_ok());
        le.renew_deadline = le.lease_duration;
        assert!(le.validate().is_err());
    }
}
