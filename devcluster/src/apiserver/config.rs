//! Server configuration, passed as a value (tests build it directly).

use std::path::PathBuf;
use std::time::Duration;

/// How to reach kubelets for `pods/log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KubeletScheme {
    /// TLS without verifying the kubelet's certificate (kube-apiserver's
    /// default when no kubelet CA is configured).
    #[default]
    Https,
    /// Plain HTTP, for tests.
    Http,
}

/// Configuration of the embedded API server.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// Where the store keeps `snapshot.json` and `wal.jsonl`.
    pub data_dir: PathBuf,
    /// The bearer token every client must present.
    pub token: String,
    /// Bearer token sent to kubelets when proxying logs. Default none.
    pub kubelet_client_token: Option<String>,
    /// Scheme for kubelet connections. Default https.
    pub kubelet_scheme: KubeletScheme,
    /// Changes kept for watches that resume from an older resourceVersion.
    /// Default 5000; older resourceVersions get 410 Expired.
    pub history_size: usize,
    /// Log records between snapshots. Default 1000.
    pub compact_every: usize,
    /// Largest accepted request body. Default 3 MiB, as kube-apiserver.
    pub max_body_bytes: usize,
    /// Interval of watch bookmarks when a client allows them. Default 60 s.
    pub bookmark_interval: Duration,
    /// Watch duration when the client gives no `timeoutSeconds`. Default 30 min
    /// (kube-apiserver's `--min-request-timeout`).
    pub default_watch_timeout: Duration,
    /// Where to write a kubeconfig for this server once it listens (https,
    /// its CA, the token). Default none.
    pub kubeconfig_path: Option<PathBuf>,
    /// Whether the workload controllers and the garbage collector run
    /// (Deployments, ReplicaSets, Jobs, ownerReferences). Default true:
    /// what kube-controller-manager does next to a real API server.
    pub controllers: bool,
}

impl ApiServerConfig {
    /// A configuration with the defaults above.
    pub fn new(data_dir: impl Into<PathBuf>, token: impl Into<String>) -> Self {
        Self {
            data_dir: data_dir.into(),
            token: token.into(),
            kubelet_client_token: None,
            kubelet_scheme: KubeletScheme::Https,
            history_size: 5000,
            compact_every: 1000,
            max_body_bytes: 3 * 1024 * 1024,
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            kubeconfig_path: None,
            controllers: true,
        }
    }
}
