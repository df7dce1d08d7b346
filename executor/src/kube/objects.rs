//! ConfigMaps and Secrets for container env and volumes, read from the API
//! server as the kubelet does (a plain GET; the kubelet's watch-based cache
//! is an optimisation we do not need at one executor per agent).

use async_trait::async_trait;
use k8s_openapi::api::core::v1 as core;

use super::api_error;
use crate::runner::env::{ObjectSource, SourceError};

/// [`ObjectSource`] over the API.
#[derive(Clone)]
pub struct ApiObjects {
    client: kube::Client,
}

impl ApiObjects {
    /// Reads through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl ObjectSource for ApiObjects {
    async fn get_config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<core::ConfigMap>, SourceError> {
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
        let api: kube::Api<core::Secret> = kube::Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.map_err(|e| {
            Box::new(api_error("get", format!("secret {namespace}/{name}"))(e)) as SourceError
        })
    }
}
