//! ConfigMaps and Secrets for container env and volumes, read from the API
//! server as the kubelet does (a plain GET; the kubelet's watch-based cache
//! is an optimisation we do not need at one executor per agent).
//!
//! Under the Node authorizer a node may read only the objects of pods bound
//! to it. The framework launches a pod before its Binding is written, so a
//! LAUNCH can reach the executor first: the first read of a pod's objects
//! waits (briefly, bounded) until the pod is seen bound to this node, as a
//! kubelet only ever acts on bound pods.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1 as core;
use kube::api::ListParams;

use super::api_error;
use super::pod_status::PodRef;
use crate::runner::env::{ObjectSource, SourceError};

/// Longest wait for a launched pod's Binding before reading anyway.
const BINDING_WAIT: Duration = Duration::from_secs(30);

/// [`ObjectSource`] over the API.
#[derive(Clone)]
pub struct ApiObjects {
    client: kube::Client,
    /// The pod whose objects are read and the node it must be bound to.
    bound: Option<Arc<BindingGate>>,
}

/// Waits once until a pod is bound to a node.
struct BindingGate {
    pod: PodRef,
    node: String,
    seen: tokio::sync::OnceCell<()>,
}

impl ApiObjects {
    /// Reads through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            bound: None,
        }
    }

    /// Reads `pod`'s objects through `client` once `pod` is bound to `node`.
    pub fn for_pod(client: kube::Client, pod: PodRef, node: String) -> Self {
        Self {
            client,
            bound: Some(Arc::new(BindingGate {
                pod,
                node,
                seen: tokio::sync::OnceCell::new(),
            })),
        }
    }

    async fn wait_bound(&self) {
        let Some(gate) = &self.bound else { return };
        gate.seen
            .get_or_init(|| async {
                // A list with the node's field selector is what a node may
                // always ask; it shows the pod once its Binding is stored.
                let api: kube::Api<core::Pod> =
                    kube::Api::namespaced(self.client.clone(), &gate.pod.namespace);
                let params = ListParams::default().fields(&format!(
                    "metadata.name={},spec.nodeName={}",
                    gate.pod.name, gate.node
                ));
                let deadline = tokio::time::Instant::now() + BINDING_WAIT;
                let mut pauses =
                    super::Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
                loop {
                    if let Ok(list) = api.list(&params).await {
                        if list
                            .items
                            .iter()
                            .any(|p| p.metadata.uid.as_deref() == Some(gate.pod.uid.as_str()))
                        {
                            return;
                        }
                    }
                    if tokio::time::Instant::now() >= deadline {
                        tracing::warn!(pod = %gate.pod, node = %gate.node, "the pod is still not bound to this node; reading its objects anyway");
                        return;
                    }
                    tokio::time::sleep(pauses.next_delay()).await;
                }
            })
            .await;
    }
}

#[async_trait]
impl ObjectSource for ApiObjects {
    async fn get_config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<core::ConfigMap>, SourceError> {
        self.wait_bound().await;
        let api: kube::Api<core::ConfigMap> = kube::Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.map_err(|e| {
            Box::new(api_error("get", format!("configmap {namespace}/{name}"))(e)) as SourceError
        })
    }

    async fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<core::Secret>, SourceError> {
        self.wait_bound().await;
        let api: kube::Api<core::Secret> = kube::Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.map_err(|e| {
            Box::new(api_error("get", format!("secret {namespace}/{name}"))(e)) as SourceError
        })
    }
}
