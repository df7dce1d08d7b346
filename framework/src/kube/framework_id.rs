//! The framework ID store: a ConfigMap in the framework's namespace.
//!
//! Mesos hands out the framework ID on the first SUBSCRIBED; every later
//! subscription (restart, failover to another replica, master failover) must
//! present it again, or Mesos treats us as a new framework and our running
//! tasks as orphans of the old one. Keeping it in a Kubernetes object keeps
//! the framework stateless, as DESIGN.md asks.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};

use super::{is_status, KubeError, Result};

/// Data key holding the framework ID.
pub const FRAMEWORK_ID_KEY: &str = "frameworkId";

/// Reads and writes the framework ID ConfigMap.
#[derive(Clone)]
pub struct FrameworkIdStore {
    api: Api<ConfigMap>,
    namespace: String,
    name: String,
}

impl FrameworkIdStore {
    /// The store for ConfigMap `namespace/name`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The stored framework ID; `None` when the ConfigMap or key is absent.
    pub async fn load(&self) -> Result<Option<String>> {
        match self.api.get_opt(&self.name).await {
            Ok(cm) => Ok(cm
                .and_then(|cm| cm.data)
                .and_then(|mut d| d.remove(FRAMEWORK_ID_KEY))
                .filter(|id| !id.is_empty())),
            Err(source) => Err(KubeError::LoadFrameworkIdFailed {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source,
            }),
        }
    }

    /// Stores `framework_id` (server-side apply; creates the ConfigMap when
    /// missing).
    pub async fn store(&self, framework_id: &str) -> Result<()> {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                FRAMEWORK_ID_KEY.to_string(),
                framework_id.to_string(),
            )])),
            ..ConfigMap::default()
        };
        let err = |source| KubeError::StoreFrameworkIdFailed {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        };
        // A merge patch on a missing object is a 404: create it then.
        let patch = serde_json::json!({ "data": { FRAMEWORK_ID_KEY: framework_id } });
        match self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => self
                .api
                .create(&Default::default(), &cm)
                .await
                .map(drop)
                .map_err(err),
            Err(e) => Err(err(e)),
        }
    }
}
