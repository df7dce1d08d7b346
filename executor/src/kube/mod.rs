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

mod backoff;
pub mod events;
pub mod identity;
pub mod lease;
pub mod node;
pub mod objects;
pub mod pod_status;

pub use backoff::Backoff;

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

/// A kubeconfig of one cluster and one user, both named `name`, current
/// (also the bootstrap kubeconfig `kube-mesos local` writes for executors).
pub fn kubeconfig(
    name: &str,
    cluster: kube::config::Cluster,
    user: kube::config::AuthInfo,
) -> kube::config::Kubeconfig {
    use kube::config::{Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};
    Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![NamedCluster {
            name: name.into(),
            cluster: Some(cluster),
            ..Default::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.into(),
            auth_info: Some(user),
            ..Default::default()
        }],
        contexts: vec![NamedContext {
            name: name.into(),
            context: Some(Context {
                cluster: name.into(),
                user: Some(name.into()),
                ..Default::default()
            }),
            ..Default::default()
        }],
        current_context: Some(name.into()),
        ..Default::default()
    }
}

/// A kubeconfig for a server URL and token.
fn token_kubeconfig(
    server: &str,
    token: &str,
    ca_file: Option<&std::path::Path>,
) -> kube::config::Kubeconfig {
    let cluster = kube::config::Cluster {
        server: Some(server.into()),
        certificate_authority: ca_file.map(|ca| ca.display().to_string()),
        ..Default::default()
    };
    let user = kube::config::AuthInfo {
        token: Some(token.to_string().into()),
        ..Default::default()
    };
    kubeconfig("k", cluster, user)
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
            let kc = token_kubeconfig(server, token, ca_file.as_deref());
            kube::Config::from_custom_kubeconfig(kc, &options)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_kubeconfig_round_trips_as_yaml() {
        let kc = token_kubeconfig(
            "https://h:6443",
            "to\"k",
            Some(std::path::Path::new("/ca.pem")),
        );
        // What kubectl would read back: the same entries, the token intact.
        let text = serde_json::to_string(&kc).unwrap();
        let back = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(back.current_context.as_deref(), Some("k"));
        let cluster = back.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://h:6443"));
        assert_eq!(cluster.certificate_authority.as_deref(), Some("/ca.pem"));
        let user = serde_json::to_value(&back.auth_infos[0].auth_info).unwrap();
        assert_eq!(user["token"], "to\"k");
    }
}
