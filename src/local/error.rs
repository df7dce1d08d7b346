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
    /// A second signal or the stop deadline cut the shutdown short.
    #[error("forced exit before everything stopped")]
    ForcedExit,
}

/// Result alias of `kube-mesos local`.
pub type Result<T, E = LocalError> = std::result::Result<T, E>;
