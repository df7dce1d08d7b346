//! Errors of `kube-mesos local`, one variant per step that can fail. None is
//! worth retrying as is: each needs the user to change a flag, free a port
//! or repair the data dir.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why `kube-mesos local` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A flag is invalid.
    #[error("{0}")]
    ArgsInvalid(String),
    /// The data dir could not be created or resolved.
    #[error("preparing the data dir {path} failed")]
    DataDirFailed {
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Another `kube-mesos local` runs on this data dir.
    #[error("another kube-mesos local is running on {path} (it holds {path}/local.lock)")]
    DataDirInUse {
        /// The data dir.
        path: PathBuf,
    },
    /// `local.json` could not be read or written.
    #[error("reading or writing {path} failed")]
    StateIoFailed {
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `local.json` is not what we wrote.
    #[error("{path} is not a kube-mesos local state file")]
    StateInvalid {
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A port could not be bound.
    #[error("binding {what} on {addr} failed (is another kube-mesos local running?)")]
    BindFailed {
        /// Which server.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Finding this binary (the executor) failed.
    #[error("locating the kube-mesos binary failed")]
    CurrentExeFailed(#[source] std::io::Error),
    /// The API server did not start.
    #[error("starting the API server failed")]
    ApiServerFailed(#[source] kube_mesos_devcluster::apiserver::ApiServerError),
    /// Writing the kubeconfig or the CA file failed.
    #[error("writing {path} failed")]
    KubeconfigWriteFailed {
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The Kubernetes client for the framework could not be built.
    #[error("building the Kubernetes client failed")]
    KubeClientFailed(#[source] Box<kube_mesos_framework::kube::KubeError>),
    /// A compiled-in manifest of `packaging/kubernetes/` does not parse.
    #[error("packaging/kubernetes/{file} is not valid YAML: {reason}")]
    ManifestInvalid {
        /// The file.
        file: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// Loading the RBAC manifests into the API server failed.
    #[error("applying {what} of packaging/kubernetes/ failed")]
    RbacApplyFailed {
        /// The object.
        what: String,
        /// Cause.
        #[source]
        source: Box<kube::Error>,
    },
    /// The Mesos master did not start or failed.
    #[error("the Mesos master failed")]
    MasterFailed(#[source] kube_mesos_devcluster::mesos::master::MasterError),
    /// An agent's configuration was refused.
    #[error("agent {index}: invalid resources or attributes")]
    AgentConfigInvalid {
        /// The agent index.
        index: usize,
        /// Cause.
        #[source]
        source: kube_mesos_devcluster::mesos::agent::resources::ParseError,
    },
    /// An agent did not start or failed.
    #[error("agent {index} failed")]
    AgentFailed {
        /// The agent index.
        index: usize,
        /// Cause.
        #[source]
        source: kube_mesos_devcluster::mesos::agent::AgentError,
    },
    /// The framework's configuration was refused.
    #[error("the framework configuration is invalid")]
    FrameworkConfigInvalid(#[source] kube_mesos_framework::config::ConfigError),
    /// The framework stopped with an error.
    #[error("the framework failed")]
    FrameworkFailed(#[source] kube_mesos_framework::run::RunError),
    /// Installing the signal handlers failed.
    #[error("installing signal handlers failed")]
    SignalSetupFailed(#[source] std::io::Error),
    /// The tokio runtime could not be built.
    #[error("starting the async runtime failed")]
    RuntimeFailed(#[source] std::io::Error),
    /// The data dir holds a cluster started with other flags.
    #[error(
        "{path} holds another cluster, started with: {saved}\n\
         run `kube-mesos local up --data-dir {path}` without cluster flags to resume it, \
         `kube-mesos local delete --data-dir {path}` to remove it, or choose another --data-dir"
    )]
    OtherCluster {
        /// The data dir.
        path: PathBuf,
        /// Its flags.
        saved: String,
    },
    /// `up` or `delete` was pointed at a directory that is no kube-mesos data dir.
    #[error("{path} is not a kube-mesos data dir (it holds other files, but no local.json or local.lock); kube-mesos local leaves it alone: choose another --data-dir")]
    NotADataDir {
        /// The directory.
        path: PathBuf,
    },
    /// A port asked for is taken.
    #[error("port {port} ({what}) is taken on 127.0.0.1: another program or another kube-mesos local uses it; choose another port or stop that one")]
    PortTaken {
        /// Which server.
        what: &'static str,
        /// The port.
        port: u16,
    },
    /// The background instance could not be started.
    #[error("starting kube-mesos local in the background failed")]
    SpawnFailed(#[source] std::io::Error),
    /// The background instance exited before it was ready.
    #[error("kube-mesos local stopped before it was ready; its output ({log}):\n{tail}")]
    StartFailed {
        /// Where its output is.
        log: PathBuf,
        /// The last lines of it.
        tail: String,
    },
    /// The background instance was not ready in time (it keeps starting).
    #[error("kube-mesos local is not ready after {secs} s; it keeps starting in the background (pid {pid}): see {log}, `kube-mesos local status`, or stop it with `kube-mesos local down`")]
    StartTimedOut {
        /// The wait.
        secs: u64,
        /// Its pid.
        pid: u32,
        /// Its output.
        log: PathBuf,
    },
    /// The running instance did not stop.
    #[error("kube-mesos local (pid {pid}) did not stop; see {log}")]
    StopTimedOut {
        /// Its pid.
        pid: i32,
        /// Its log.
        log: PathBuf,
    },
    /// The running instance left no pid to signal.
    #[error("kube-mesos local runs on {path} but left no pid in {path}/local.pid; stop it with Ctrl-C where it runs")]
    PidUnknown {
        /// The data dir.
        path: PathBuf,
    },
    /// Signalling the instance failed.
    #[error("signalling kube-mesos local (pid {pid}) failed")]
    SignalFailed {
        /// Its pid.
        pid: i32,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// kubectl could not merge or remove the context.
    #[error("kubectl config {what} failed: {stderr}")]
    KubeconfigMergeFailed {
        /// The kubectl config subcommand.
        what: String,
        /// What kubectl said.
        stderr: String,
    },
    /// The data dir could not be removed.
    #[error("removing {path} failed")]
    RemoveFailed {
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A second signal or the stop deadline cut the shutdown short.
    #[error("forced exit before everything stopped")]
    ForcedExit,
}

/// Result alias of `kube-mesos local`.
pub type Result<T, E = LocalError> = std::result::Result<T, E>;
