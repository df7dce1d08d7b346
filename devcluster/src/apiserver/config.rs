//! Server configuration, passed as a value (tests build it directly).

use std::path::PathBuf;
use std::time::Duration;

use super::auth::StaticToken;

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
#[derive(Clone)]
pub struct ApiServerConfig {
    /// Where the store keeps `snapshot.json` and `wal.jsonl`.
    pub data_dir: PathBuf,
    /// The admin's bearer token: user `kube-mesos-admin` in
    /// `system:masters`, who may do anything (kubectl's, the tests').
    pub token: String,
    /// More bearer tokens and their users (kube-apiserver's
    /// `--token-auth-file`), e.g. the framework's ServiceAccount. Default
    /// none. Client certificates signed by the server's CA and bootstrap
    /// tokens (Secrets in `kube-system`) authenticate as well.
    pub tokens: Vec<StaticToken>,
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
    /// Longest validity of a certificate signed for an approved CSR
    /// (kube-controller-manager's `--cluster-signing-duration`). Default
    /// 365 days; a CSR's `expirationSeconds` may ask for less.
    pub csr_signing_duration: Duration,
}

impl ApiServerConfig {
    /// A configuration with the defaults above.
    pub fn new(data_dir: impl Into<PathBuf>, token: impl Into<String>) -> Self {
        Self {
            data_dir: data_dir.into(),
            token: token.into(),
            tokens: Vec::new(),
            kubelet_client_token: None,
            kubelet_scheme: KubeletScheme::Https,
            history_size: 5000,
            compact_every: 1000,
            max_body_bytes: 3 * 1024 * 1024,
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            kubeconfig_path: None,
            controllers: true,
            csr_signing_duration: Duration::from_secs(365 * 24 * 3600),
        }
    }
}

/// Tokens stay out of logs and `--check-config`-style dumps.
impl std::fmt::Debug for ApiServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerConfig")
            .field("data_dir", &self.data_dir)
            .field("token", &"<redacted>")
            .field("tokens", &self.tokens)
            .field(
                "kubelet_client_token",
                &self.kubelet_client_token.as_ref().map(|_| "<redacted>"),
            )
            .field("kubelet_scheme", &self.kubelet_scheme)
            .field("history_size", &self.history_size)
            .field("compact_every", &self.compact_every)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("bookmark_interval", &self.bookmark_interval)
            .field("default_watch_timeout", &self.default_watch_timeout)
            .field("kubeconfig_path", &self.kubeconfig_path)
            .field("controllers", &self.controllers)
            .field("csr_signing_duration", &self.csr_signing_duration)
            .finish()
    }
}
