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
//! | `prepare_pod_with`  | `RunPodSandbox` with hostname, DNS, ports, security |
//! | `create_and_start_with` | `PullImage` (per policy) + `CreateContainer` (resources, security) + `StartContainer` |
//! | `cleanup_orphans`   | `ListPodSandbox` + `StopPodSandbox` + `RemovePodSandbox` |
//! | `exec_endpoint`, `attach_endpoint`, `port_forward_endpoint` | `Exec`, `Attach`, `PortForward` (stream server URL) |
//! | `exec_session`, `attach_session`, `dial_port` | what a CRI stream server does behind that URL |
//!
//! Streaming (`kubectl exec`, `attach`, `port-forward`) has two shapes. A
//! CRI runtime has its own stream server: the `*_endpoint` calls return its
//! URL and the kubelet endpoint proxies the client's upgrade there, as the
//! kubelet does. A runtime without one (the process runtime) answers
//! [`StreamingEndpoint::InProcess`]: the kubelet endpoint speaks the
//! protocol itself and asks the runtime for the process's stdio
//! ([`Runtime::exec_session`], [`Runtime::attach_session`]) or a connection
//! to a pod port ([`Runtime::dial_port`]).
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
    /// The container's image could not be made present (CRI `PullImage` /
    /// `ImageStatus`, or the pull policy forbids pulling). `reason` is the
    /// kubelet's: `ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull`,
    /// `InvalidImageName` or `ImageInspectError`; `message` its wording.
    #[error("{reason}: {message}")]
    ImagePullFailed {
        /// Image as written in the pod spec.
        image: String,
        /// Kubelet waiting reason.
        reason: &'static str,
        /// Kubelet message.
        message: String,
    },
    /// The runtime refused to create the container (CRI `CreateContainer`;
    /// kubelet reason `CreateContainerError`).
    #[error("create container {container}: {message}")]
    CreateContainerFailed {
        /// Container name.
        container: String,
        /// Runtime's message.
        message: String,
    },
    /// The runtime refused to prepare a streaming session (CRI `Exec`,
    /// `Attach`, `PortForward`). `message` is its error as the kubelet
    /// answers it (the gRPC error text), `refusal` picks the HTTP status.
    #[error("{message}")]
    StreamingRefused {
        /// CRI call.
        call: &'static str,
        /// What kind of refusal.
        refusal: StreamingRefusal,
        /// Runtime's message.
        message: String,
    },
    /// Any other runtime call failed (listing, status, removal...), including
    /// a runtime that cannot be reached. Retry later.
    #[error("runtime call {call}: {message}")]
    CallFailed {
        /// CRI call (`ListContainers`, ...).
        call: &'static str,
        /// Runtime's message.
        message: String,
    },
}

impl RuntimeError {
    /// The kubelet's waiting reason for a container whose start failed with
    /// this error (`pkg/kubelet/images/types.go`,
    /// `pkg/kubelet/kuberuntime/kuberuntime_container.go`,
    /// `pkg/kubelet/container/sync_result.go`); `None` for errors that do
    /// not belong to starting a container.
    pub fn waiting_reason(&self) -> Option<&'static str> {
        match self {
            Self::PrepareSandboxFailed { .. } => Some("CreatePodSandboxError"),
            Self::InvalidContainerConfig { .. } => Some("CreateContainerConfigError"),
            Self::CreateContainerFailed { .. } => Some("CreateContainerError"),
            Self::StartContainerFailed { .. } => Some("RunContainerError"),
            Self::ImagePullFailed { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Why a runtime refused a streaming session, as the kubelet's
/// `streaming.WriteError` tells them apart (gRPC code to HTTP status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamingRefusal {
    /// The container or sandbox is unknown (gRPC `NotFound`; HTTP 404).
    NotFound,
    /// Too many sessions are being prepared (gRPC `ResourceExhausted`;
    /// HTTP 429, retry later).
    Busy,
    /// Anything else (HTTP 500).
    Failed,
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// `stdin`: the container's stdin stays open for `kubectl attach`.
    pub stdin: bool,
    /// `stdinOnce`: stdin closes after the first attach session ends.
    pub stdin_once: bool,
    /// `tty`: the container runs on a terminal.
    pub tty: bool,
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

/// A terminal size (columns, rows), from a client's resize stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// Where a streaming request is served (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamingEndpoint {
    /// A runtime stream server URL (CRI `ExecResponse.url`, ...): the
    /// kubelet endpoint proxies the upgrade request there.
    Url(String),
    /// The kubelet endpoint serves the protocol and calls the runtime's
    /// session methods.
    InProcess,
}

/// What an exec or attach session wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdioRequest {
    /// Client input.
    pub stdin: bool,
    /// stdout.
    pub stdout: bool,
    /// stderr (not with `tty`).
    pub stderr: bool,
    /// A terminal.
    pub tty: bool,
}

/// The stdio of an exec'd command or an attached container, as channels:
/// dropping `stdin` closes the command's input; the outputs end at EOF.
pub struct StdioSession {
    /// Input.
    pub stdin: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
    /// Output.
    pub stdout: Option<tokio::sync::mpsc::Receiver<bytes::Bytes>>,
    /// Error output.
    pub stderr: Option<tokio::sync::mpsc::Receiver<bytes::Bytes>>,
    /// Terminal resizes (TTY sessions).
    pub resize: Option<tokio::sync::mpsc::Sender<TerminalSize>>,
    /// Resolves when the session ends: the command's exit code (exec), or
    /// `None` when an attached container exits or its client leaves.
    pub done: futures::future::BoxFuture<'static, Result<Option<i32>>>,
}

impl std::fmt::Debug for StdioSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioSession")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("tty", &self.resize.is_some())
            .finish_non_exhaustive()
    }
}

fn streaming_unsupported(call: &'static str) -> RuntimeError {
    RuntimeError::CallFailed {
        call,
        message: "this runtime does not serve streaming sessions".into(),
    }
}

/// Pod settings beyond [`SandboxConfig`] that a runtime with images,
/// isolation and pod networking (CRI) needs; the process runtime ignores
/// them. Passed with [`Runtime::prepare_pod_with`]; `runner::cri::spec`
/// builds it from the pod as the kubelet's `generatePodSandboxConfig` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRuntimeSpec {
    /// Sandbox hostname (`spec.hostname`, else the pod name); ignored with
    /// the host network.
    pub hostname: String,
    /// `spec.hostNetwork`: the sandbox uses the node's network namespace.
    pub host_network: bool,
    /// `spec.hostPID`.
    pub host_pid: bool,
    /// `spec.hostIPC`.
    pub host_ipc: bool,
    /// DNS for the sandbox's resolv.conf; `None` keeps the runtime's default
    /// (the node's).
    pub dns: Option<DnsSettings>,
    /// hostPort mappings of all containers.
    pub port_mappings: Vec<PortMapping>,
    /// Pod annotations, passed through to the runtime.
    pub annotations: BTreeMap<String, String>,
    /// Pod security context: `runAsUser`.
    pub run_as_user: Option<i64>,
    /// Pod security context: `runAsGroup`.
    pub run_as_group: Option<i64>,
    /// Pod security context: `supplementalGroups` (+ `fsGroup`).
    pub supplemental_groups: Vec<i64>,
    /// Pod security context: `fsGroup` (owner group of the pod's volumes).
    pub fs_group: Option<i64>,
    /// Whether any container is privileged (the sandbox must know).
    pub privileged: bool,
    /// Registry credentials resolved from `imagePullSecrets`, tried in order
    /// for images of a matching registry.
    pub registry_auths: Vec<RegistryAuth>,
}

/// DNS settings of a sandbox (CRI `DNSConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsSettings {
    /// Nameservers.
    pub servers: Vec<String>,
    /// Search domains.
    pub searches: Vec<String>,
    /// resolv.conf options (`ndots:5`, ...).
    pub options: Vec<String>,
}

/// A hostPort mapping (CRI `PortMapping`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMapping {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// Port in the pod.
    pub container_port: i32,
    /// Port on the node.
    pub host_port: i32,
    /// Node address to bind; empty means all.
    pub host_ip: String,
}

/// Credentials for one registry (CRI `AuthConfig`), from a
/// `kubernetes.io/dockerconfigjson` secret. `Debug` hides the secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    /// Registry host (and optional path prefix) the credentials are for.
    pub server: String,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// base64 `user:password`, when the secret only has that.
    pub auth: String,
    /// Identity token.
    pub identity_token: String,
    /// Registry bearer token.
    pub registry_token: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `imagePullPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImagePullPolicy {
    /// Pull before every start.
    Always,
    /// Pull when the image is not on the node (the API default for tagged images).
    #[default]
    IfNotPresent,
    /// Never pull; fail with `ErrImageNeverPull` if absent.
    Never,
}

/// Container settings beyond [`ContainerConfig`] for runtimes with images
/// and isolation (CRI); passed with [`Runtime::create_and_start_with`].
/// Resources are the container's requests and limits, which the CRI runtime
/// maps to Linux resources as the kubelet does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRuntimeSpec {
    /// `imagePullPolicy`.
    pub pull_policy: ImagePullPolicy,
    /// CPU request in millicores (0 = none).
    pub cpu_request_milli: i64,
    /// CPU limit in millicores (0 = none).
    pub cpu_limit_milli: i64,
    /// Memory limit in bytes (0 = none).
    pub memory_limit_bytes: i64,
    /// OOM score adjustment from the pod's QoS class; `None` leaves the runtime's.
    pub oom_score_adj: Option<i64>,
    /// `securityContext.runAsUser` (container, else pod).
    pub run_as_user: Option<i64>,
    /// `securityContext.runAsGroup` (container, else pod).
    pub run_as_group: Option<i64>,
    /// `securityContext.runAsNonRoot` (container, else pod).
    pub run_as_non_root: bool,
    /// The pod's `supplementalGroups`, and its `fsGroup` (the groups every
    /// container's processes get, besides their own).
    pub supplemental_groups: Vec<i64>,
    /// `securityContext.readOnlyRootFilesystem`.
    pub read_only_root_fs: bool,
    /// `securityContext.privileged`.
    pub privileged: bool,
    /// `securityContext.capabilities.add`.
    pub cap_add: Vec<String>,
    /// `securityContext.capabilities.drop`.
    pub cap_drop: Vec<String>,
    /// `securityContext.allowPrivilegeEscalation == false`.
    pub no_new_privs: bool,
    /// Container annotations passed to the runtime.
    pub annotations: BTreeMap<String, String>,
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

    /// Whether containers live on when the executor's own container is
    /// destroyed: true for a container runtime daemon (CRI), whose
    /// containers are not processes of the executor. Only then can a pod
    /// survive its executor, or be handed over to another one. Default
    /// false.
    fn containers_outlive_executor(&self) -> bool {
        false
    }

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

    /// `prepare_pod` with the pod settings a CRI runtime needs (hostname,
    /// DNS, ports, host network, security, pull secrets). The default ignores
    /// `spec`: runtimes without isolation have no use for it.
    async fn prepare_pod_with(
        &self,
        config: &SandboxConfig,
        spec: &PodRuntimeSpec,
    ) -> Result<SandboxInfo> {
        let _ = spec;
        self.prepare_pod(config).await
    }

    /// `create_and_start` with image pull policy, resources and security
    /// context. The default ignores `spec`.
    async fn create_and_start_with(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
        spec: &ContainerRuntimeSpec,
    ) -> Result<String> {
        let _ = spec;
        self.create_and_start(sandbox, config).await
    }

    /// Stop and remove every sandbox and container this runtime created for
    /// pods whose UID is not in `keep` (after an executor restart, and at
    /// shutdown with an empty `keep`). Returns the pod UIDs cleaned up. The
    /// default does nothing.
    async fn cleanup_orphans(&self, keep: &[String]) -> Result<Vec<String>> {
        let _ = keep;
        Ok(Vec::new())
    }

    /// CRI `Exec`: where `cmd` in container `id` is served. The default
    /// serves it in process.
    async fn exec_endpoint(
        &self,
        id: &str,
        cmd: &[String],
        request: StdioRequest,
    ) -> Result<StreamingEndpoint> {
        let _ = (id, cmd, request);
        Ok(StreamingEndpoint::InProcess)
    }

    /// CRI `Attach`: where an attach to container `id` is served.
    async fn attach_endpoint(&self, id: &str, request: StdioRequest) -> Result<StreamingEndpoint> {
        let _ = (id, request);
        Ok(StreamingEndpoint::InProcess)
    }

    /// CRI `PortForward`: where forwarding into the pod's network is served.
    async fn port_forward_endpoint(
        &self,
        pod_uid: &str,
        ports: &[u16],
    ) -> Result<StreamingEndpoint> {
        let _ = (pod_uid, ports);
        Ok(StreamingEndpoint::InProcess)
    }

    /// Runs `cmd` in the context of running container `id` (its
    /// environment, working directory and user), with a terminal when
    /// `request.tty`.
    async fn exec_session(
        &self,
        id: &str,
        cmd: &[String],
        request: StdioRequest,
    ) -> Result<StdioSession> {
        let _ = (id, cmd, request);
        Err(streaming_unsupported("Exec"))
    }

    /// Connects to running container `id`'s stdio.
    async fn attach_session(&self, id: &str, request: StdioRequest) -> Result<StdioSession> {
        let _ = (id, request);
        Err(streaming_unsupported("Attach"))
    }

    /// A connection to `port` on the pod's network.
    async fn dial_port(&self, pod_uid: &str, port: u16) -> Result<tokio::net::TcpStream> {
        let _ = (pod_uid, port);
        Err(streaming_unsupported("PortForward"))
    }
}
