//! The Kubernetes side of the framework shell: everything it reads from and
//! writes to the API server, through kube-rs.
//!
//! - [`watch`]: pod and Node watches, turned into core inputs (with the
//!   relist bookkeeping a watcher needs to notice pods deleted while it was
//!   away);
//! - [`binder`]: the pod writes the core asks for (annotations + Binding,
//!   `pods/status` patches) and [`events`] (core/v1 Events);
//! - [`framework_id`]: the ConfigMap that keeps the Mesos framework ID across
//!   restarts and failovers, so the framework keeps no state of its own.
//!
//! Each function does one request (or one short sequence) and reports a
//! typed [`KubeError`]; retries are the caller's policy ([`retry`] holds
//! the one for writes a restarted framework depends on).

pub mod best_effort;
pub mod binder;
pub mod events;
pub mod framework_id;
pub mod pod_order;
pub mod retry;
pub mod watch;

use std::path::Path;

/// Result alias of the Kubernetes side.
pub type Result<T, E = KubeError> = std::result::Result<T, E>;

/// A failed Kubernetes request. All variants are retryable unless the API
/// server keeps answering the same 4xx; callers log, count and move on.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// Reading or inferring the client configuration failed. Not retryable.
    #[error("loading the Kubernetes client configuration failed")]
    ClientConfigFailed(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Building the client failed. Not retryable.
    #[error("building the Kubernetes client failed")]
    ClientBuildFailed(#[source] kube::Error),
    /// Patching a pod's annotations failed.
    #[error("patching annotations of pod {namespace}/{name} failed")]
    AnnotatePodFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Creating a pod's Binding failed (other than 409).
    #[error("binding pod {namespace}/{name} failed")]
    BindPodFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Reading a pod failed.
    #[error("reading pod {namespace}/{name} failed")]
    GetPodFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Patching `pods/status` failed.
    #[error("patching status of pod {namespace}/{name} failed")]
    PatchPodStatusFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Deleting a pod (a preemption's victim) failed.
    #[error("deleting pod {namespace}/{name} failed")]
    DeletePodFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Creating an Event failed.
    #[error("recording event {reason} for {namespace}/{name} failed")]
    RecordEventFailed {
        /// Namespace.
        namespace: String,
        /// Involved object name.
        name: String,
        /// Event reason.
        reason: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Reading the framework-ID ConfigMap failed.
    #[error("reading framework ID from ConfigMap {namespace}/{name} failed")]
    LoadFrameworkIdFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Writing the framework-ID ConfigMap failed.
    #[error("storing framework ID in ConfigMap {namespace}/{name} failed")]
    StoreFrameworkIdFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

/// A client from `kubeconfig` when given, else kube-rs' inference
/// (in-cluster service account, then `$KUBECONFIG` / `~/.kube/config`).
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| KubeError::ClientConfigFailed(Box::new(e)))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| KubeError::ClientConfigFailed(Box::new(e)))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| KubeError::ClientConfigFailed(Box::new(e)))?,
    };
    kube::Client::try_from(without_retry(config)).map_err(KubeError::ClientBuildFailed)
}

/// The client of a config, without kube-rs' default retry of 429, 503 and
/// 504 (up to 15 times, backing off to 1000 s, whatever the answer means):
/// the framework retries on its own terms — a PodDisruptionBudget's 429 to
/// an eviction must reach the drain, which tries again after 5 s and says
/// so as `kubectl drain` does, instead of stalling for minutes.
fn without_retry(mut config: kube::Config) -> kube::Config {
    config.default_retry = false;
    config
}

/// A client from kubeconfig YAML text (tests and `kube-mesos local`).
pub async fn client_from_yaml(yaml: &str) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(yaml)
        .map_err(|e| KubeError::ClientConfigFailed(Box::new(e)))?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| KubeError::ClientConfigFailed(Box::new(e)))?;
    kube::Client::try_from(without_retry(config)).map_err(KubeError::ClientBuildFailed)
}

/// Whether a kube-rs error is an API answer with this HTTP status.
pub fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}
