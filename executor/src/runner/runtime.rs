//! The `Runtime` trait: what the pod runner needs from whatever runs containers.
//!
//! The trait is shaped after the CRI v1 `RuntimeService` (k8s.io/cri-api
//! `pkg/apis/runtime/v1/api.proto`) so that a CRI runtime talking to
//! containerd maps onto it call for call, while the `process` runtime
//! implements the same calls with host processes:
//!
//! | trait method        | CRI call                                   |
//! |---------------------|--------------------------------------------|
//! | `prepare_pod`       | `RunPodSandbox`                            |
//! | `create_and_start`  | `CreateContainer` + `StartContainer`       |
//! | `status`            | `ContainerStatus`                          |
//! | `wait`              | (polling `ContainerStatus` / `GetContainerEvents`) |
//! | `stop`              | `StopContainer(timeout)`                   |
//! | `exec`              | `ExecSync(cmd, timeout)`                   |
//! | `remove_container`  | `RemoveContainer`                          |
//! | `stop_pod`          | `StopPodSandbox`                           |
//! | `remove_pod`        | `RemovePodSandbox`                         |
//! | `list_containers`   | `ListContainers` filtered by the pod-uid label |
//!
//! Containers carry the kubelet's labels (`io.kubernetes.pod.uid`,
//! `io.kubernetes.container.name`, ...) so that a restarted executor can find
//! and re-adopt what it started before, exactly as the kubelet does with CRI.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

/// Kubelet label keys, as in `pkg/kubelet/types/labels.go`.
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
/// Pod namespace label.
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Pod UID label: the key `list_containers` filters on.
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
/// Container name label.
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// Errors of a runtime call. Every variant is specific to one call so the
/// caller can tell the kubelet reason to report (`RunContainerError`, ...).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The pod sandbox could not be prepared (CRI `RunPodSandbox`).
    #[error("prepare sandbox for pod {pod_uid}: {message}")]
    PrepareSandboxFailed {
        /// Pod UID.
        pod_uid: String,
        /// Why.
        message: String,
        /// Cause, if an I/O error.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The container configuration cannot be run by this runtime (no command, ...).
    #[error("invalid container config for {container}: {message}")]
    InvalidContainerConfig {
        /// Container name.
        container: String,
        /// Why.
        message: String,
    },
    /// Creating or starting the container failed.
    #[error("start container {container}: {source}")]
    StartContainerFailed {
        /// Container name.
        container: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The container ID is unknown to the runtime.
    #[error("container {0} not found")]
    ContainerNotFound(String),
    /// Signalling or stopping the container failed.
    #[error("stop container {id}: {message}")]
    StopContainerFailed {
        /// Container ID.
        id: String,
        /// Why.
        message: String,
    },
    /// Running an exec command failed before it produced an exit code.
    #[error("exec in container {id}: {source}")]
    ExecFailed {
        /// Container ID.
        id: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the runtime's own state failed.
    #[error("runtime state {path}: {source}")]
    StateFailed {
        /// File concerned.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for runtime calls.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// CRI `PodSandboxConfig`, reduced to what we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
    /// Pod UID.
    pub uid: String,
    /// Directory under which container logs are written
    /// (kubelet: `/var/log/pods/<ns>_<name>_<uid>`).
    pub log_directory: PathBuf,
    /// Labels put on the sandbox.
    pub labels: BTreeMap<String, String>,
}

/// What `prepare_pod` returns: the sandbox's identity and network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfo {
    /// Runtime's sandbox ID.
    pub id: String,
    /// Pod UID.
    pub pod_uid: String,
    /// Sandbox directory on the host (process runtime) or runtime-specific.
    pub dir: PathBuf,
    /// Log directory, copied from the config.
    pub log_directory: PathBuf,
    /// Pod IPs; empty when the pod shares the host network.
    pub pod_ips: Vec<String>,
}

/// CRI `Mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Path inside the container (`volumeMounts[].mountPath`).
    pub container_path: String,
    /// Path on the host that backs it.
    pub host_path: PathBuf,
    /// Read-only mount.
    pub readonly: bool,
}

/// CRI `ContainerConfig`, reduced to what we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Container name.
    pub name: String,
    /// Restart attempt (the container's `restartCount` when it starts).
    pub attempt: u32,
    /// Image reference (informational for the process runtime).
    pub image: String,
    /// Entrypoint (`command`).
    pub command: Vec<String>,
    /// Arguments (`args`).
    pub args: Vec<String>,
    /// Fully resolved environment, in order.
    pub envs: Vec<(String, String)>,
    /// Working directory; empty means the runtime's default.
    pub working_dir: String,
    /// Volume mounts.
    pub mounts: Vec<Mount>,
    /// Log path relative to the sandbox's log directory.
    pub log_path: PathBuf,
    /// Labels (kubelet's `io.kubernetes.*` keys).
    pub labels: BTreeMap<String, String>,
}

/// CRI `ContainerState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerStateKind {
    /// Created but not started.
    Created,
    /// Running.
    Running,
    /// Exited.
    Exited,
    /// Unknown (for example lost across a restart).
    Unknown,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerExit {
    /// Exit code; a process killed by signal N reports 128+N.
    pub exit_code: i32,
    /// Runtime reason (`Completed`, `Error`, `OOMKilled`, `ContainerStatusUnknown`).
    pub reason: String,
    /// Message, if any.
    pub message: Option<String>,
    /// When it finished.
    pub finished_at: Timestamp,
}

/// CRI `ContainerStatus`, reduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    /// Runtime container ID (without the `process://` scheme).
    pub id: String,
    /// Container name.
    pub name: String,
    /// Restart attempt it was created with.
    pub attempt: u32,
    /// State.
    pub state: ContainerStateKind,
    /// Start time.
    pub started_at: Option<Timestamp>,
    /// Exit, when exited (or lost).
    pub exit: Option<ContainerExit>,
    /// Absolute log path.
    pub log_path: PathBuf,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// Result of an exec (CRI `ExecSyncResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code (128+N for a signal; the runtime kills the command at timeout).
    pub exit_code: i32,
    /// Whether the timeout expired.
    pub timed_out: bool,
    /// Combined stdout and stderr, truncated.
    pub output: String,
}

/// The container runtime interface of the pod runner. See the module docs
/// for the mapping onto CRI. Implementations must be cheap to share
/// (`Arc<dyn Runtime>`) and safe to call from many pod workers at once.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// One line saying what this runtime is and what it does not provide,
    /// printed by the executor at startup.
    fn describe(&self) -> String;

    /// The URI scheme of container IDs in pod status (`process`, `containerd`).
    fn id_scheme(&self) -> &'static str;

    /// CRI `RunPodSandbox`: create the pod's sandbox (directory, network).
    /// Idempotent: preparing an existing sandbox returns it.
    async fn prepare_pod(&self, config: &SandboxConfig) -> Result<SandboxInfo>;

    /// CRI `CreateContainer` + `StartContainer`. Returns the container ID.
    async fn create_and_start(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
    ) -> Result<String>;

    /// Resolves when the container has exited. Works for re-adopted containers.
    async fn wait(&self, id: &str) -> Result<ContainerExit>;

    /// CRI `ContainerStatus`.
    async fn status(&self, id: &str) -> Result<ContainerStatus>;

    /// CRI `StopContainer`: TERM, wait up to `grace`, then KILL; resolves once
    /// the container has exited. Stopping an exited container is a no-op.
    async fn stop(&self, id: &str, grace: Duration) -> Result<()>;

    /// CRI `ExecSync`: run `cmd` in the container's context, for exec probes
    /// and exec hooks.
    async fn exec(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecOutput>;

    /// CRI `RemoveContainer`: forget an exited container (its log stays).
    async fn remove_container(&self, id: &str) -> Result<()>;

    /// CRI `StopPodSandbox`: stop whatever is left of the pod.
    async fn stop_pod(&self, sandbox: &SandboxInfo) -> Result<()>;

    /// CRI `RemovePodSandbox`: delete the sandbox.
    async fn remove_pod(&self, sandbox: &SandboxInfo) -> Result<()>;

    /// CRI `ListContainers` filtered on the pod UID label: what this runtime
    /// created for the pod, including containers started by a previous
    /// executor process (re-adopted if still alive, reported `Unknown` with a
    /// `ContainerStatusUnknown` exit if lost).
    async fn list_containers(&self, pod_uid: &str) -> Result<Vec<ContainerStatus>>;
}
