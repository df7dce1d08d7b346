//! The executor's Kubernetes side, through kube-rs: what a kubelet writes
//! and reads on the API server.
//!
//! - [`objects`]: ConfigMaps and Secrets for env and volumes
//!   ([`crate::runner::env::ObjectSource`]).
//! - [`pod_status`]: `pods/status` patches following the runner's status
//!   snapshots, and the final deletion (grace 0, UID precondition).
//! - [`node`]: the Node's status (Ready, capacity, nodeInfo, addresses,
//!   kubelet endpoint), derived purely from the agent and the host.
//! - [`events`]: pod Events as the kubelet records them (counted, throttled).
//! - [`lease`]: the Node's Lease in `kube-node-lease`, renewed like the
//!   kubelet's node lease controller.
//! - [`identity`]: the node's own client certificate (TLS bootstrapping
//!   and rotation).
//!
//! Every writer runs in its own task and retries with backoff, so a slow
//! or unavailable API server never stalls a pod.

pub mod events;
pub mod identity;
pub mod lease;
pub mod node;
pub mod objects;
pub mod pod_status;

use std::time::Duration;

use crate::config::KubeCredentials;

/// Errors of the Kubernetes side. Calls that fail with [`KubeError::ApiFailed`]
/// are retried by their writers; configuration errors are fatal at start.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The kubeconfig could not be read or used.
    #[error("loading the Kubernetes client configuration failed")]
    ConfigFailed(#[source] kube::config::KubeconfigError),
    /// No configuration could be inferred.
    #[error("inferring the Kubernetes client configuration failed")]
    InferFailed(#[source] kube::config::InferConfigError),
    /// The client could not be built.
    #[error("building the Kubernetes client failed")]
    ClientFailed(#[source] kube::Error),
    /// The Node does not exist yet (the framework creates it). Retried.
    #[error("node {node:?} does not exist yet (the framework creates it)")]
    NodeMissing {
        /// Node name.
        node: String,
    },
    /// An API call failed.
    #[error("{verb} {what} failed")]
    ApiFailed {
        /// `patch`, `get`, ...
        verb: &'static str,
        /// The object.
        what: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

impl KubeError {
    /// The HTTP status of an API error, if the server answered.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            KubeError::ApiFailed {
                source: kube::Error::Api(s),
                ..
            } => Some(s.code),
            _ => None,
        }
    }
}

/// Wraps a kube-rs error of `verb` on `what`.
pub(crate) fn api_error(
    verb: &'static str,
    what: impl Into<String>,
) -> impl FnOnce(kube::Error) -> KubeError {
    let what = what.into();
    move |source| KubeError::ApiFailed { verb, what, source }
}

/// A kubeconfig for a server URL and token (JSON is YAML).
fn token_kubeconfig(server: &str, token: &str, ca_file: Option<&std::path::Path>) -> String {
    let mut cluster = serde_json::json!({ "server": server });
    if let Some(ca) = ca_file {
        cluster["certificate-authority"] = serde_json::json!(ca.display().to_string());
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "k", "user": {"token": token}}],
        "contexts": [{"name": "k", "context": {"cluster": "k", "user": "k"}}],
        "current-context": "k",
    })
    .to_string()
}

/// Builds the API client. reqwest/hyper-rustls need a process-wide rustls
/// provider: ring's is installed if none is.
pub async fn client(credentials: &KubeCredentials) -> Result<kube::Client, KubeError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let options = kube::config::KubeConfigOptions::default();
    let from_yaml =
        |text: &str| kube::config::Kubeconfig::from_yaml(text).map_err(KubeError::ConfigFailed);
    let mut config = match credentials {
        KubeCredentials::KubeconfigFile(path) | KubeCredentials::Bootstrap(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(KubeError::ConfigFailed)?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(KubeError::ConfigFailed)?
        }
        KubeCredentials::KubeconfigData(text) => {
            kube::Config::from_custom_kubeconfig(from_yaml(text)?, &options)
                .await
                .map_err(KubeError::ConfigFailed)?
        }
        KubeCredentials::Token {
            server,
            token,
            ca_file,
        } => {
            let text = token_kubeconfig(server, token, ca_file.as_deref());
            kube::Config::from_custom_kubeconfig(from_yaml(&text)?, &options)
                .await
                .map_err(KubeError::ConfigFailed)?
        }
        KubeCredentials::Infer => kube::Config::infer()
            .await
            .map_err(KubeError::InferFailed)?,
    };
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    kube::Client::try_from(config).map_err(KubeError::ClientFailed)
}

/// Exponential backoff for API retries: 500 ms doubling up to 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Backoff {
    /// First delay.
    pub const FIRST: Duration = Duration::from_millis(500);
    /// Largest delay.
    pub const MAX: Duration = Duration::from_secs(30);

    /// The delay to wait now; the following one doubles.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(
            delays,
            vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn token_kubeconfig_parses() {
        let text = token_kubeconfig(
            "https://h:6443",
            "to\"k",
            Some(std::path::Path::new("/ca.pem")),
        );
        let kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("k"));
    }
}
