//! The `cri` runtime: pods in real containers through a CRI v1 runtime
//! (containerd, CRI-O) over its unix socket — the kubelet's own path, so
//! images, isolation, resource limits and pod networking (CNI) are the
//! runtime's.
//!
//! How the [`Runtime`] calls map onto CRI, and what is ours:
//! - One sandbox per pod (`RunPodSandbox`), labelled with the kubelet's pod
//!   keys and [`spec::LABEL_MANAGED`]; `prepare_pod` finds a ready sandbox of
//!   the pod before creating one, which is how a restarted executor
//!   re-adopts its pods (nothing is killed on restart).
//! - Containers: image per `imagePullPolicy` with the kubelet's reasons
//!   ([`image`]), then `CreateContainer` + `StartContainer`; a container
//!   that fails to start is removed again so that the retry may reuse its
//!   name and attempt.
//! - `wait` polls `ContainerStatus` (every [`CriConfig::wait_poll`]); it
//!   works the same for containers created by an earlier executor.
//! - Logs are written by the runtime in the CRI log format at
//!   `<log_directory>/<log_path>`, the layout the process runtime uses.
//! - [`Runtime::cleanup_orphans`] stops and removes every managed sandbox of
//!   a pod not in the keep list, with its containers.
//! - `kubectl exec`, `attach` and `port-forward` are served by the runtime's
//!   stream server: `Exec`, `Attach` and `PortForward` return its URL
//!   ([`streaming`]) and the kubelet endpoint proxies to it.
//!
//! Every call has a deadline ([`CriConfig::request_timeout`], plus the grace
//! period for `StopContainer` and the timeout for `ExecSync`); the
//! connection is lazy, so a missing socket is an error of the call that
//! needed it (mapped to the kubelet reason of that step), never a panic.

pub mod client;
pub mod image;
pub mod proto;
pub mod spec;
pub mod streaming;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tonic::{Code, Status};

use self::client::CriClient;
use self::image::{PullBackOff, PullDecision};
use super::runtime::{
    ContainerConfig, ContainerExit, ContainerRuntimeSpec, ContainerStateKind, ContainerStatus,
    ExecOutput, PodRuntimeSpec, Result, Runtime, RuntimeError, SandboxConfig, SandboxInfo,
    StdioRequest, StreamingEndpoint, LABEL_POD_UID,
};

/// Exec/probe output kept, as the kubelet's `maxProbeOutput` (10 KiB).
const MAX_EXEC_OUTPUT: usize = 10 * 1024;

/// Reason and exit code reported for a container the runtime lost track of
/// (kubelet's wording).
pub const LOST_REASON: &str = "ContainerStatusUnknown";

/// Settings of the CRI runtime.
#[derive(Debug, Clone)]
pub struct CriConfig {
    /// The runtime's socket (`/run/containerd/containerd.sock`).
    pub endpoint: PathBuf,
    /// Our directory; pod dirs (volumes) are `<root>/pods/<uid>/`.
    pub root: PathBuf,
    /// Cgroup parent of the sandboxes (cgroupfs syntax); empty keeps the
    /// runtime's default.
    pub cgroup_parent: String,
    /// CRI runtime handler (RuntimeClass); empty is the default handler.
    pub runtime_handler: String,
    /// Deadline of one CRI call. Default 2 min (kubelet
    /// `--runtime-request-timeout`).
    pub request_timeout: Duration,
    /// Deadline of one image pull. Default 10 min.
    pub pull_timeout: Duration,
    /// How often `wait` polls `ContainerStatus`. Default 1 s, the kubelet's
    /// PLEG relist period (containerd 1.6 has no `GetContainerEvents`).
    pub wait_poll: Duration,
    /// First image pull back-off. Default 10 s (kubelet `backOffPeriod`).
    pub pull_back_off: Duration,
    /// Maximum image pull back-off. Default 300 s (kubelet `MaxContainerBackOff`).
    pub pull_back_off_max: Duration,
}

impl CriConfig {
    /// Defaults for a runtime at `endpoint`, with our state under `root`.
    pub fn new(endpoint: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        Self {
            endpoint: endpoint.into(),
            root: root.into(),
            cgroup_parent: String::new(),
            runtime_handler: String::new(),
            request_timeout: Duration::from_secs(120),
            pull_timeout: Duration::from_secs(600),
            wait_poll: Duration::from_secs(1),
            pull_back_off: Duration::from_secs(10),
            pull_back_off_max: Duration::from_secs(300),
        }
    }
}

/// What we remember of a sandbox we run: the exact config (CRI wants it
/// again with every `CreateContainer` and `PullImage`) and pull credentials.
#[derive(Debug, Clone)]
struct SandboxRecord {
    config: proto::PodSandboxConfig,
    pod: PodRuntimeSpec,
}

/// The CRI runtime. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct CriRuntime {
    config: CriConfig,
    client: CriClient,
    scheme: &'static str,
    sandboxes: Mutex<HashMap<String, SandboxRecord>>,
    back_off: Mutex<PullBackOff>,
}

/// The Go gRPC error text (`rpc error: code = X desc = Y`), which is what the
/// kubelet puts in messages built from runtime errors.
pub fn status_text(s: &Status) -> String {
    format!("rpc error: code = {:?} desc = {}", s.code(), s.message())
}

fn nanos(ts: i64) -> Option<Timestamp> {
    (ts > 0)
        .then(|| Timestamp::from_nanosecond(i128::from(ts)).ok())
        .flatten()
}

/// CRI `ContainerStatus` → ours. Exited containers without a reason get the
/// kubelet's `Completed` / `Error`.
pub fn container_status(s: proto::ContainerStatus) -> ContainerStatus {
    let state = match proto::ContainerState::try_from(s.state) {
        Ok(proto::ContainerState::ContainerCreated) => ContainerStateKind::Created,
        Ok(proto::ContainerState::ContainerRunning) => ContainerStateKind::Running,
        Ok(proto::ContainerState::ContainerExited) => ContainerStateKind::Exited,
        _ => ContainerStateKind::Unknown,
    };
    let exit = match state {
        ContainerStateKind::Exited => Some(ContainerExit {
            exit_code: s.exit_code,
            reason: if !s.reason.is_empty() {
                s.reason.clone()
            } else if s.exit_code == 0 {
                "Completed".into()
            } else {
                "Error".into()
            },
            message: (!s.message.is_empty()).then(|| s.message.clone()),
            finished_at: nanos(s.finished_at).unwrap_or_else(Timestamp::now),
        }),
        ContainerStateKind::Unknown => Some(ContainerExit {
            exit_code: 137,
            reason: LOST_REASON.into(),
            message: Some("The container could not be located when the pod was terminated".into()),
            finished_at: nanos(s.finished_at).unwrap_or_else(Timestamp::now),
        }),
        _ => None,
    };
    let (name, attempt) = s.metadata.map(|m| (m.name, m.attempt)).unwrap_or_default();
    ContainerStatus {
        id: s.id,
        name,
        attempt,
        state,
        started_at: nanos(s.started_at),
        exit,
        log_path: PathBuf::from(s.log_path),
        labels: s.labels,
    }
}

fn call_failed(call: &'static str, s: &Status) -> RuntimeError {
    RuntimeError::CallFailed {
        call,
        message: status_text(s),
    }
}

fn not_found_or(id: &str, call: &'static str, s: &Status) -> RuntimeError {
    if s.code() == Code::NotFound {
        RuntimeError::ContainerNotFound(id.to_string())
    } else {
        call_failed(call, s)
    }
}

fn managed_selector(pod_uid: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(spec::LABEL_MANAGED.to_string(), "true".to_string())]);
    if let Some(uid) = pod_uid {
        labels.insert(LABEL_POD_UID.to_string(), uid.to_string());
    }
    labels
}

fn secs_ceil(d: Duration) -> i64 {
    i64::try_from(d.as_secs() + u64::from(d.subsec_nanos() > 0)).unwrap_or(i64::MAX)
}

impl CriRuntime {
    /// A runtime for the CRI socket in `config`. Does not connect: the first
    /// call does (see [`CriRuntime::connect`] to check the runtime up front).
    pub fn new(config: CriConfig) -> Self {
        let back_off = PullBackOff::new(config.pull_back_off, config.pull_back_off_max);
        Self {
            client: CriClient::new(&config.endpoint),
            config,
            scheme: "containerd",
            sandboxes: Mutex::new(HashMap::new()),
            back_off: Mutex::new(back_off),
        }
    }

    /// Like [`CriRuntime::new`], then asks the runtime's `Version` (which
    /// also names the container ID scheme: `containerd://`, `cri-o://`).
    pub async fn connect(config: CriConfig) -> Result<Self> {
        let mut rt = Self::new(config);
        let version = rt.version().await?;
        rt.scheme = match version.runtime_name.as_str() {
            "containerd" => "containerd",
            "cri-o" => "cri-o",
            _ => "cri",
        };
        tracing::info!(
            runtime = %version.runtime_name,
            version = %version.runtime_version,
            api = %version.runtime_api_version,
            endpoint = %rt.config.endpoint.display(),
            "connected to the CRI runtime"
        );
        Ok(rt)
    }

    /// The underlying gRPC client (for callers that need more of CRI).
    pub fn client(&self) -> &CriClient {
        &self.client
    }

    /// Runs one CRI call under a deadline (gRPC `grpc-timeout` is also sent
    /// by the caller through the request).
    async fn timed<T>(
        &self,
        limit: Duration,
        fut: impl Future<Output = std::result::Result<tonic::Response<T>, Status>>,
    ) -> std::result::Result<T, Status> {
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r.map(tonic::Response::into_inner),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no answer from the CRI runtime within {limit:?}"
            ))),
        }
    }

    fn request<T>(&self, msg: T, limit: Duration) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.set_timeout(limit);
        r
    }

    /// CRI `Version`.
    pub async fn version(&self) -> Result<proto::VersionResponse> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::VersionRequest {
                version: "v1".into(),
            },
            t,
        );
        self.timed(t, self.client.runtime.clone().version(req))
            .await
            .map_err(|s| call_failed("Version", &s))
    }

    /// CRI `ImageStatus`: the image's ID if present.
    pub async fn image_status(&self, image: &str) -> std::result::Result<Option<String>, Status> {
        Ok(self.image(image).await?.map(|i| i.id))
    }

    /// CRI `ImageStatus`: the image, if present.
    async fn image(&self, image: &str) -> std::result::Result<Option<proto::Image>, Status> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::ImageStatusRequest {
                image: Some(proto::ImageSpec {
                    image: image.to_string(),
                    ..Default::default()
                }),
                verbose: false,
            },
            t,
        );
        let resp = self
            .timed(t, self.client.image.clone().image_status(req))
            .await?;
        Ok(resp.image)
    }

    /// Who an image runs as without `runAsUser`: its numeric uid, or its
    /// user name when that is not numeric (CRI `Image.uid`, `username`);
    /// an image that sets neither runs as root (the kubelet's
    /// `getImageUser`, and containerd reports neither for an image without
    /// `USER`).
    async fn image_user(&self, image: &str) -> Result<(Option<i64>, String)> {
        let found = self
            .image(image)
            .await
            .map_err(|s| RuntimeError::ImagePullFailed {
                image: image.to_string(),
                reason: image::IMAGE_INSPECT_ERROR,
                message: image::inspect_message(image, &status_text(&s)),
            })?
            .unwrap_or_default();
        Ok(match (found.uid, found.username) {
            (Some(uid), _) => (Some(uid.value), String::new()),
            (None, user) if !user.is_empty() => (None, user),
            (None, _) => (Some(0), String::new()),
        })
    }

    /// The kubelet's `EnsureImageExists`: returns the image ID to create the
    /// container from, or the kubelet's reason and message.
    pub async fn ensure_image(
        &self,
        image: &str,
        policy: super::runtime::ImagePullPolicy,
        pod_uid: &str,
        auths: &[super::runtime::RegistryAuth],
        sandbox_config: Option<&proto::PodSandboxConfig>,
    ) -> Result<String> {
        let fail = |reason: &'static str, message: String| RuntimeError::ImagePullFailed {
            image: image.to_string(),
            reason,
            message,
        };
        let Some(tagged) = image::with_default_tag(image) else {
            return Err(fail(
                image::INVALID_IMAGE_NAME,
                format!("Failed to apply default image tag {image:?}: couldn't parse image reference {image:?}"),
            ));
        };
        let present = self.image_status(&tagged).await.map_err(|s| {
            fail(
                image::IMAGE_INSPECT_ERROR,
                image::inspect_message(image, &status_text(&s)),
            )
        })?;
        match image::decide(policy, present.as_deref()) {
            PullDecision::UsePresent(id) => return Ok(id),
            PullDecision::NeverPullAbsent => {
                return Err(fail(
                    image::ERR_IMAGE_NEVER_PULL,
                    image::never_pull_message(image),
                ))
            }
            PullDecision::Pull => {}
        }
        let key = PullBackOff::key(pod_uid, image);
        let now = tokio::time::Instant::now();
        if self
            .back_off
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .in_back_off(&key, now)
        {
            return Err(fail(
                image::IMAGE_PULL_BACK_OFF,
                image::back_off_message(image),
            ));
        }
        tracing::info!(%image, pod_uid, "pulling image");
        let auths: Vec<Option<proto::AuthConfig>> = {
            let matching = image::auths_for(&tagged, auths);
            if matching.is_empty() {
                vec![None]
            } else {
                matching
                    .into_iter()
                    .map(|a| {
                        Some(proto::AuthConfig {
                            username: a.username.clone(),
                            password: a.password.clone(),
                            auth: a.auth.clone(),
                            // Empty as the kubelet sends it: containerd
                            // drops credentials whose address does not
                            // parse to the pulled host; we matched already.
                            server_address: String::new(),
                            identity_token: a.identity_token.clone(),
                            registry_token: a.registry_token.clone(),
                        })
                    })
                    .collect()
            }
        };
        let mut last = String::new();
        for auth in auths {
            let t = self.config.pull_timeout;
            let req = self.request(
                proto::PullImageRequest {
                    image: Some(proto::ImageSpec {
                        image: tagged.clone(),
                        ..Default::default()
                    }),
                    auth,
                    sandbox_config: sandbox_config.cloned(),
                },
                t,
            );
            match self
                .timed(t, self.client.image.clone().pull_image(req))
                .await
            {
                Ok(resp) => {
                    self.back_off
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .succeeded(&key);
                    return Ok(resp.image_ref);
                }
                Err(s) => last = status_text(&s),
            }
        }
        tracing::warn!(%image, pod_uid, error = %last, "image pull failed");
        self.back_off
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(&key, tokio::time::Instant::now());
        Err(fail(image::ERR_IMAGE_PULL, last))
    }

    async fn list_sandboxes(
        &self,
        pod_uid: Option<&str>,
    ) -> std::result::Result<Vec<proto::PodSandbox>, Status> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::ListPodSandboxRequest {
                filter: Some(proto::PodSandboxFilter {
                    label_selector: managed_selector(pod_uid),
                    ..Default::default()
                }),
            },
            t,
        );
        Ok(self
            .timed(t, self.client.runtime.clone().list_pod_sandbox(req))
            .await?
            .items)
    }

    async fn sandbox_status(
        &self,
        id: &str,
    ) -> std::result::Result<proto::PodSandboxStatus, Status> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::PodSandboxStatusRequest {
                pod_sandbox_id: id.to_string(),
                verbose: false,
            },
            t,
        );
        self.timed(t, self.client.runtime.clone().pod_sandbox_status(req))
            .await?
            .status
            .ok_or_else(|| Status::internal("PodSandboxStatus without a status"))
    }

    async fn stop_and_remove_sandbox(&self, id: &str) -> std::result::Result<(), Status> {
        let t = self.config.request_timeout;
        let stop = self.request(
            proto::StopPodSandboxRequest {
                pod_sandbox_id: id.to_string(),
            },
            t,
        );
        match self
            .timed(t, self.client.runtime.clone().stop_pod_sandbox(stop))
            .await
        {
            Ok(_) => {}
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => return Err(s),
        }
        let remove = self.request(
            proto::RemovePodSandboxRequest {
                pod_sandbox_id: id.to_string(),
            },
            t,
        );
        match self
            .timed(t, self.client.runtime.clone().remove_pod_sandbox(remove))
            .await
        {
            Ok(_) => {}
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => return Err(s),
        }
        self.sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        Ok(())
    }

    fn sandbox_dir(&self, pod_uid: &str) -> PathBuf {
        self.config.root.join("pods").join(pod_uid)
    }

    fn info(
        &self,
        id: String,
        config: &SandboxConfig,
        status: &proto::PodSandboxStatus,
        host_network: bool,
    ) -> SandboxInfo {
        let pod_ips = if host_network {
            Vec::new()
        } else {
            status
                .network
                .iter()
                .flat_map(|n| {
                    std::iter::once(n.ip.clone())
                        .chain(n.additional_ips.iter().map(|i| i.ip.clone()))
                })
                .filter(|ip| !ip.is_empty())
                .collect()
        };
        SandboxInfo {
            id,
            pod_uid: config.uid.clone(),
            dir: self.sandbox_dir(&config.uid),
            log_directory: config.log_directory.clone(),
            pod_ips,
        }
    }

    async fn container_status_of(&self, id: &str) -> Result<ContainerStatus> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::ContainerStatusRequest {
                container_id: id.to_string(),
                verbose: false,
            },
            t,
        );
        let resp = self
            .timed(t, self.client.runtime.clone().container_status(req))
            .await
            .map_err(|s| not_found_or(id, "ContainerStatus", &s))?;
        resp.status
            .map(container_status)
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_string()))
    }

    async fn record_for(&self, sandbox: &SandboxInfo) -> SandboxRecord {
        if let Some(r) = self
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sandbox.id)
        {
            return r.clone();
        }
        // A sandbox from an earlier executor that was not prepared again:
        // rebuild what CRI needs from its status.
        let status = self.sandbox_status(&sandbox.id).await.ok();
        let config = proto::PodSandboxConfig {
            metadata: status.as_ref().and_then(|s| s.metadata.clone()),
            log_directory: sandbox.log_directory.display().to_string(),
            labels: status
                .as_ref()
                .map(|s| s.labels.clone())
                .unwrap_or_default(),
            annotations: status
                .as_ref()
                .map(|s| s.annotations.clone())
                .unwrap_or_default(),
            ..Default::default()
        };
        SandboxRecord {
            config,
            pod: PodRuntimeSpec::default(),
        }
    }
}

#[async_trait]
impl Runtime for CriRuntime {
    fn describe(&self) -> String {
        format!(
            "cri runtime: pods run as containers of the CRI runtime at {} (images, isolation, resource limits and CNI pod networking are the runtime's)",
            self.config.endpoint.display()
        )
    }

    fn id_scheme(&self) -> &'static str {
        self.scheme
    }

    /// Containers run under the CRI runtime's daemon, outside the
    /// executor's container.
    fn containers_outlive_executor(&self) -> bool {
        true
    }

    async fn prepare_pod(&self, config: &SandboxConfig) -> Result<SandboxInfo> {
        self.prepare_pod_with(config, &PodRuntimeSpec::default())
            .await
    }

    async fn prepare_pod_with(
        &self,
        config: &SandboxConfig,
        spec: &PodRuntimeSpec,
    ) -> Result<SandboxInfo> {
        let failed =
            |message: String, source: Option<std::io::Error>| RuntimeError::PrepareSandboxFailed {
                pod_uid: config.uid.clone(),
                message,
                source,
            };
        let dir = self.sandbox_dir(&config.uid);
        for d in [dir.join("volumes"), config.log_directory.clone()] {
            std::fs::create_dir_all(&d)
                .map_err(|e| failed(format!("create {}", d.display()), Some(e)))?;
        }
        // The pods' volumes (Secrets among them) are for their containers,
        // which reach them through their mounts, not for the host's users:
        // the pod dirs are root's, 0750, as the kubelet's pods dir is.
        for d in [self.config.root.join("pods"), dir.clone()] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o750))
                .map_err(|e| failed(format!("chmod {}", d.display()), Some(e)))?;
        }
        let existing = self.list_sandboxes(Some(&config.uid)).await.map_err(|s| {
            failed(
                format!("Failed to create pod sandbox: {}", status_text(&s)),
                None,
            )
        })?;
        let mut attempt = 0;
        for sb in &existing {
            let sb_attempt = sb.metadata.as_ref().map_or(0, |m| m.attempt);
            attempt = attempt.max(sb_attempt + 1);
            if sb.state == proto::PodSandboxState::SandboxReady as i32 {
                let status = self
                    .sandbox_status(&sb.id)
                    .await
                    .map_err(|s| failed(status_text(&s), None))?;
                let cfg =
                    spec::sandbox_config(config, spec, sb_attempt, &self.config.cgroup_parent);
                self.sandboxes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        sb.id.clone(),
                        SandboxRecord {
                            config: cfg,
                            pod: spec.clone(),
                        },
                    );
                tracing::info!(pod_uid = %config.uid, sandbox = %sb.id, "re-adopted pod sandbox");
                return Ok(self.info(sb.id.clone(), config, &status, spec.host_network));
            }
        }
        // Not-ready sandboxes of the pod are dead ends: the kubelet makes a
        // new attempt and lets them go.
        for sb in existing {
            if let Err(s) = self.stop_and_remove_sandbox(&sb.id).await {
                tracing::warn!(sandbox = %sb.id, error = %status_text(&s), "removing a dead sandbox failed");
            }
        }
        let cfg = spec::sandbox_config(config, spec, attempt, &self.config.cgroup_parent);
        let t = self.config.request_timeout;
        let req = self.request(
            proto::RunPodSandboxRequest {
                config: Some(cfg.clone()),
                runtime_handler: self.config.runtime_handler.clone(),
            },
            t,
        );
        let id = self
            .timed(t, self.client.runtime.clone().run_pod_sandbox(req))
            .await
            .map_err(|s| {
                failed(
                    format!("Failed to create pod sandbox: {}", status_text(&s)),
                    None,
                )
            })?
            .pod_sandbox_id;
        self.sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.clone(),
                SandboxRecord {
                    config: cfg,
                    pod: spec.clone(),
                },
            );
        let status = self
            .sandbox_status(&id)
            .await
            .map_err(|s| failed(status_text(&s), None))?;
        let info = self.info(id, config, &status, spec.host_network);
        tracing::info!(pod_uid = %config.uid, sandbox = %info.id, ips = ?info.pod_ips, "pod sandbox running");
        Ok(info)
    }

    async fn create_and_start(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
    ) -> Result<String> {
        self.create_and_start_with(sandbox, config, &ContainerRuntimeSpec::default())
            .await
    }

    async fn create_and_start_with(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
        spec: &ContainerRuntimeSpec,
    ) -> Result<String> {
        let record = self.record_for(sandbox).await;
        let image_ref = self
            .ensure_image(
                &config.image,
                spec.pull_policy,
                &sandbox.pod_uid,
                &record.pod.registry_auths,
                Some(&record.config),
            )
            .await?;
        // runAsNonRoot without runAsUser: the image's user decides.
        let (uid, user) = if spec.run_as_non_root && spec.run_as_user.is_none() {
            self.image_user(&image_ref).await?
        } else {
            (None, String::new())
        };
        crate::runner::security::verify_run_as_non_root(
            spec.run_as_non_root,
            spec.run_as_user,
            uid,
            &user,
            &crate::runner::security::pod_label(&config.labels),
            &config.name,
        )
        .map_err(|message| RuntimeError::InvalidContainerConfig {
            container: config.name.clone(),
            message,
        })?;
        let log_file = sandbox.log_directory.join(&config.log_path);
        if let Some(parent) = log_file.parent() {
            std::fs::create_dir_all(parent).map_err(|source| RuntimeError::StateFailed {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let container = spec::container_config(config, spec, &record.pod, &image_ref);
        let t = self.config.request_timeout;
        let req = self.request(
            proto::CreateContainerRequest {
                pod_sandbox_id: sandbox.id.clone(),
                config: Some(container),
                sandbox_config: Some(record.config.clone()),
            },
            t,
        );
        let id = self
            .timed(t, self.client.runtime.clone().create_container(req))
            .await
            .map_err(|s| RuntimeError::CreateContainerFailed {
                container: config.name.clone(),
                message: status_text(&s),
            })?
            .container_id;
        let req = self.request(
            proto::StartContainerRequest {
                container_id: id.clone(),
            },
            t,
        );
        if let Err(s) = self
            .timed(t, self.client.runtime.clone().start_container(req))
            .await
        {
            let message = status_text(&s);
            tracing::warn!(container = %config.name, id = %id, error = %message, "start failed; removing the container");
            let _ = self.remove_container(&id).await;
            return Err(RuntimeError::StartContainerFailed {
                container: config.name.clone(),
                source: std::io::Error::other(message),
            });
        }
        tracing::info!(pod_uid = %sandbox.pod_uid, container = %config.name, id = %id, "container started");
        Ok(id)
    }

    async fn wait(&self, id: &str) -> Result<ContainerExit> {
        loop {
            let status = self.container_status_of(id).await?;
            if let Some(exit) = status.exit {
                return Ok(exit);
            }
            tokio::time::sleep(self.config.wait_poll).await;
        }
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        self.container_status_of(id).await
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        let t = self.config.request_timeout + grace;
        let req = self.request(
            proto::StopContainerRequest {
                container_id: id.to_string(),
                timeout: secs_ceil(grace),
            },
            t,
        );
        self.timed(t, self.client.runtime.clone().stop_container(req))
            .await
            .map_err(|s| match s.code() {
                Code::NotFound => RuntimeError::ContainerNotFound(id.to_string()),
                _ => RuntimeError::StopContainerFailed {
                    id: id.to_string(),
                    message: status_text(&s),
                },
            })?;
        Ok(())
    }

    async fn exec(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecOutput> {
        let t = self.config.request_timeout + timeout;
        let req = self.request(
            proto::ExecSyncRequest {
                container_id: id.to_string(),
                cmd: cmd.to_vec(),
                timeout: secs_ceil(timeout).max(1),
            },
            t,
        );
        match self
            .timed(t, self.client.runtime.clone().exec_sync(req))
            .await
        {
            Ok(resp) => {
                let mut output = resp.stdout;
                output.extend_from_slice(&resp.stderr);
                output.truncate(MAX_EXEC_OUTPUT);
                Ok(ExecOutput {
                    exit_code: resp.exit_code,
                    timed_out: false,
                    output: String::from_utf8_lossy(&output).into_owned(),
                })
            }
            Err(s) if s.code() == Code::NotFound => {
                Err(RuntimeError::ContainerNotFound(id.to_string()))
            }
            Err(s)
                if s.code() == Code::DeadlineExceeded
                    || (s.message().contains("timeout") && s.message().contains("exceeded")) =>
            {
                Ok(ExecOutput {
                    exit_code: 137,
                    timed_out: true,
                    output: String::new(),
                })
            }
            Err(s) => Err(RuntimeError::ExecFailed {
                id: id.to_string(),
                source: std::io::Error::other(status_text(&s)),
            }),
        }
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::RemoveContainerRequest {
                container_id: id.to_string(),
            },
            t,
        );
        match self
            .timed(t, self.client.runtime.clone().remove_container(req))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == Code::NotFound => Ok(()),
            Err(s) => Err(call_failed("RemoveContainer", &s)),
        }
    }

    async fn stop_pod(&self, sandbox: &SandboxInfo) -> Result<()> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::StopPodSandboxRequest {
                pod_sandbox_id: sandbox.id.clone(),
            },
            t,
        );
        match self
            .timed(t, self.client.runtime.clone().stop_pod_sandbox(req))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == Code::NotFound => Ok(()),
            Err(s) => Err(call_failed("StopPodSandbox", &s)),
        }
    }

    async fn remove_pod(&self, sandbox: &SandboxInfo) -> Result<()> {
        self.stop_and_remove_sandbox(&sandbox.id)
            .await
            .map_err(|s| call_failed("RemovePodSandbox", &s))?;
        let dir = self.sandbox_dir(&sandbox.pod_uid);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(RuntimeError::StateFailed { path: dir, source }),
        }
    }

    async fn list_containers(&self, pod_uid: &str) -> Result<Vec<ContainerStatus>> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::ListContainersRequest {
                filter: Some(proto::ContainerFilter {
                    label_selector: managed_selector(Some(pod_uid)),
                    ..Default::default()
                }),
            },
            t,
        );
        let listed = self
            .timed(t, self.client.runtime.clone().list_containers(req))
            .await
            .map_err(|s| call_failed("ListContainers", &s))?
            .containers;
        let mut out = Vec::with_capacity(listed.len());
        for c in listed {
            match self.container_status_of(&c.id).await {
                Ok(s) => out.push(s),
                // Removed between the list and the status: not there any more.
                Err(RuntimeError::ContainerNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| (&a.name, a.attempt).cmp(&(&b.name, b.attempt)));
        Ok(out)
    }

    async fn exec_endpoint(
        &self,
        id: &str,
        cmd: &[String],
        request: StdioRequest,
    ) -> Result<StreamingEndpoint> {
        self.exec_url(id, cmd, request)
            .await
            .map(StreamingEndpoint::Url)
    }

    async fn attach_endpoint(&self, id: &str, request: StdioRequest) -> Result<StreamingEndpoint> {
        self.attach_url(id, request)
            .await
            .map(StreamingEndpoint::Url)
    }

    async fn port_forward_endpoint(
        &self,
        pod_uid: &str,
        ports: &[u16],
    ) -> Result<StreamingEndpoint> {
        self.port_forward_url(pod_uid, ports)
            .await
            .map(StreamingEndpoint::Url)
    }

    async fn cleanup_orphans(&self, keep: &[String]) -> Result<Vec<String>> {
        let sandboxes = self
            .list_sandboxes(None)
            .await
            .map_err(|s| call_failed("ListPodSandbox", &s))?;
        let mut cleaned = Vec::new();
        for sb in sandboxes {
            let uid = sb
                .labels
                .get(LABEL_POD_UID)
                .cloned()
                .or_else(|| sb.metadata.as_ref().map(|m| m.uid.clone()))
                .unwrap_or_default();
            if keep.contains(&uid) {
                continue;
            }
            tracing::info!(pod_uid = %uid, sandbox = %sb.id, "removing orphaned pod sandbox");
            self.stop_and_remove_sandbox(&sb.id)
                .await
                .map_err(|s| call_failed("RemovePodSandbox", &s))?;
            let dir = self.sandbox_dir(&uid);
            if !uid.is_empty() {
                let _ = tokio::fs::remove_dir_all(dir).await;
            }
            if !cleaned.contains(&uid) {
                cleaned.push(uid);
            }
        }
        Ok(cleaned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cri_status(state: proto::ContainerState, code: i32, reason: &str) -> proto::ContainerStatus {
        proto::ContainerStatus {
            id: "abc".into(),
            metadata: Some(proto::ContainerMetadata {
                name: "app".into(),
                attempt: 3,
            }),
            state: state as i32,
            started_at: 1_700_000_000_000_000_000,
            finished_at: 1_700_000_001_000_000_000,
            exit_code: code,
            reason: reason.into(),
            log_path: "/logs/app/3.log".into(),
            ..Default::default()
        }
    }

    #[test]
    fn container_statuses_convert_with_kubelet_reasons() {
        let s = container_status(cri_status(proto::ContainerState::ContainerRunning, 0, ""));
        assert_eq!(
            (s.name.as_str(), s.attempt, s.state),
            ("app", 3, ContainerStateKind::Running)
        );
        assert!(s.exit.is_none());
        assert_eq!(s.started_at.map(|t| t.as_second()), Some(1_700_000_000));

        let s = container_status(cri_status(proto::ContainerState::ContainerExited, 0, ""));
        assert_eq!(
            s.exit.as_ref().map(|e| e.reason.as_str()),
            Some("Completed")
        );
        let s = container_status(cri_status(proto::ContainerState::ContainerExited, 2, ""));
        assert_eq!(s.exit.as_ref().map(|e| e.reason.as_str()), Some("Error"));
        let s = container_status(cri_status(
            proto::ContainerState::ContainerExited,
            137,
            "OOMKilled",
        ));
        let e = s.exit.expect("exit");
        assert_eq!((e.exit_code, e.reason.as_str()), (137, "OOMKilled"));
        assert_eq!(e.finished_at.as_second(), 1_700_000_001);

        let s = container_status(cri_status(proto::ContainerState::ContainerUnknown, 0, ""));
        assert_eq!(s.exit.map(|e| e.reason), Some(LOST_REASON.to_string()));
    }

    #[test]
    fn grpc_errors_read_like_the_kubelets() {
        let s = Status::not_found("no such image");
        assert_eq!(
            status_text(&s),
            "rpc error: code = NotFound desc = no such image"
        );
        assert!(matches!(
            not_found_or("c1", "ContainerStatus", &s),
            RuntimeError::ContainerNotFound(id) if id == "c1"
        ));
        let e = not_found_or("c1", "ContainerStatus", &Status::unavailable("down"));
        assert_eq!(
            e.to_string(),
            "runtime call ContainerStatus: rpc error: code = Unavailable desc = down"
        );
        assert_eq!(secs_ceil(Duration::from_millis(1500)), 2);
        assert_eq!(secs_ceil(Duration::ZERO), 0);
    }

    #[tokio::test]
    async fn a_missing_socket_is_an_error_of_the_step_not_a_panic() {
        let dir = std::env::temp_dir().join("kube-mesos-cri-no-socket");
        let mut config = CriConfig::new(dir.join("none.sock"), &dir);
        config.request_timeout = Duration::from_secs(5);
        let rt = CriRuntime::new(config);
        assert!(rt.status("x").await.is_err());
        let err = rt
            .ensure_image(
                "busybox",
                crate::runner::runtime::ImagePullPolicy::IfNotPresent,
                "u",
                &[],
                None,
            )
            .await
            .expect_err("no runtime");
        assert_eq!(err.waiting_reason(), Some(image::IMAGE_INSPECT_ERROR));
        assert!(
            CriRuntime::connect(CriConfig::new(dir.join("none.sock"), &dir))
                .await
                .is_err()
        );
    }
}
