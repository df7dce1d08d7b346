//! The Node's Lease in `kube-node-lease`, kept fresh like the kubelet's node
//! lease controller (`pkg/kubelet/nodelease`, `component-helpers/apimachinery/lease`):
//! name and holderIdentity = the node name, `leaseDurationSeconds` 40,
//! `renewTime` set every 10 s (a quarter of the duration), the Node as
//! owner. A failed renewal is retried sooner (200 ms doubling up to 7 s, as
//! the controller's `maxBackoff`), a conflict re-reads the lease.
//!
//! The framework backs off from a lease someone else holds and renews it
//! only when it goes stale, so while an executor runs on the agent it is
//! the holder — one executor at a time, the one holding the node role
//! ([`crate::node_role`]), under the same holder identity.
//!
//! The store is a trait so that the renewal timing is tested on a paused
//! clock without an API server.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::PostParams;

use super::{api_error, KubeError};

pub use kube_mesos_node::lease::{
    NODE_LEASE_DURATION_SECONDS, NODE_LEASE_NAMESPACE, NODE_LEASE_RENEW_INTERVAL,
};
/// Largest retry delay after a failed renewal.
pub const MAX_RETRY: Duration = Duration::from_secs(7);
const FIRST_RETRY: Duration = Duration::from_millis(200);

/// Where leases are read and written.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// The lease, if it exists.
    async fn get(&self, name: &str) -> Result<Option<Lease>, KubeError>;
    /// Creates it.
    async fn create(&self, lease: &Lease) -> Result<Lease, KubeError>;
    /// Replaces it (optimistic concurrency on its resourceVersion).
    async fn replace(&self, lease: &Lease) -> Result<Lease, KubeError>;
}

/// [`LeaseStore`] over the API.
#[derive(Clone)]
pub struct ApiLeases {
    api: kube::Api<Lease>,
}

impl ApiLeases {
    /// Leases in `kube-node-lease`.
    pub fn new(client: kube::Client) -> Self {
        Self {
            api: kube::Api::namespaced(client, NODE_LEASE_NAMESPACE),
        }
    }
}

#[async_trait]
impl LeaseStore for ApiLeases {
    async fn get(&self, name: &str) -> Result<Option<Lease>, KubeError> {
        self.api
            .get_opt(name)
            .await
            .map_err(api_error("get lease", name))
    }
    async fn create(&self, lease: &Lease) -> Result<Lease, KubeError> {
        let name = lease.metadata.name.clone().unwrap_or_default();
        self.api
            .create(&PostParams::default(), lease)
            .await
            .map_err(api_error("create lease", name))
    }
    async fn replace(&self, lease: &Lease) -> Result<Lease, KubeError> {
        let name = lease.metadata.name.clone().unwrap_or_default();
        self.api
            .replace(&name, &PostParams::default(), lease)
            .await
            .map_err(api_error("renew lease", name))
    }
}

/// The lease for `node` renewed at `now`, starting from `existing` (whose
/// resourceVersion, transitions and acquire time are kept when we already
/// held it). `node_uid` makes the Node its owner, so it goes with the Node.
pub fn renewed_lease(
    existing: Option<&Lease>,
    node: &str,
    node_uid: Option<&str>,
    now: Timestamp,
) -> Lease {
    let mut lease = existing.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(node.to_string()),
            namespace: Some(NODE_LEASE_NAMESPACE.to_string()),
            ..Default::default()
        },
        spec: None,
    });
    let mut spec = lease.spec.take().unwrap_or_default();
    let held = spec.holder_identity.as_deref() == Some(node);
    if !held {
        spec.acquire_time = Some(MicroTime(now));
        if existing.is_some() && spec.holder_identity.is_some() {
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
    }
    spec.holder_identity = Some(node.to_string());
    spec.lease_duration_seconds = Some(NODE_LEASE_DURATION_SECONDS);
    spec.renew_time = Some(MicroTime(now));
    lease.spec = Some(LeaseSpec { ..spec });
    if let Some(uid) = node_uid {
        let owners = lease.metadata.owner_references.get_or_insert_with(Vec::new);
        if !owners.iter().any(|o| o.kind == "Node" && o.name == node) {
            owners.push(OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: node.to_string(),
                uid: uid.to_string(),
                ..Default::default()
            });
        }
    }
    lease
}

/// Renews once: get, then create or replace.
pub async fn renew_once(
    store: &dyn LeaseStore,
    node: &str,
    node_uid: Option<&str>,
) -> Result<Lease, KubeError> {
    let existing = store.get(node).await?;
    let lease = renewed_lease(existing.as_ref(), node, node_uid, Timestamp::now());
    match existing {
        None => store.create(&lease).await,
        Some(_) => store.replace(&lease).await,
    }
}

/// Renews the node lease every `interval` until `shutdown`.
pub async fn run_node_lease(
    store: &dyn LeaseStore,
    node: &str,
    node_uid: Option<&str>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut retry = super::Backoff::new(FIRST_RETRY, MAX_RETRY);
    loop {
        let delay = match renew_once(store, node, node_uid).await {
            Ok(_) => {
                retry.reset();
                interval
            }
            Err(e) => {
                let d = retry.next_delay();
                tracing::warn!(node, error = %e, delay = ?d, "renewing the node lease failed");
                d
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::time::Instant;

    use super::*;

    #[derive(Default)]
    struct FakeStore {
        lease: Mutex<Option<Lease>>,
        renewals: Mutex<Vec<Instant>>,
        fail_next: Mutex<u32>,
    }

    #[async_trait]
    impl LeaseStore for FakeStore {
        async fn get(&self, _: &str) -> Result<Option<Lease>, KubeError> {
            Ok(self.lease.lock().unwrap().clone())
        }
        async fn create(&self, lease: &Lease) -> Result<Lease, KubeError> {
            self.replace(lease).await
        }
        async fn replace(&self, lease: &Lease) -> Result<Lease, KubeError> {
            {
                let mut fail = self.fail_next.lock().unwrap();
                if *fail > 0 {
                    *fail -= 1;
                    return Err(KubeError::NodeMissing { node: "x".into() });
                }
            }
            *self.lease.lock().unwrap() = Some(lease.clone());
            self.renewals.lock().unwrap().push(Instant::now());
            Ok(lease.clone())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lease_is_renewed_every_ten_seconds() {
        let store = Arc::new(FakeStore::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let s = store.clone();
        let task = tokio::spawn(async move {
            run_node_lease(
                &*s,
                "node-a",
                Some("uid-1"),
                NODE_LEASE_RENEW_INTERVAL,
                async {
                    let _ = stopped.await;
                },
            )
            .await
        });
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(35)).await;
        let gaps: Vec<Duration> = store
            .renewals
            .lock()
            .unwrap()
            .iter()
            .map(|t| *t - start)
            .collect();
        assert_eq!(gaps, [0, 10, 20, 30].map(Duration::from_secs).to_vec());
        let lease = store.lease.lock().unwrap().clone().unwrap();
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("node-a"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(lease.metadata.namespace.as_deref(), Some("kube-node-lease"));
        assert_eq!(lease.metadata.owner_references.unwrap()[0].kind, "Node");
        let _ = stop.send(());
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn failed_renewals_are_retried_sooner() {
        let store = Arc::new(FakeStore::default());
        *store.fail_next.lock().unwrap() = 3;
        let s = store.clone();
        let task = tokio::spawn(async move {
            run_node_lease(
                &*s,
                "n",
                None,
                NODE_LEASE_RENEW_INTERVAL,
                std::future::pending(),
            )
            .await
        });
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Failures at 0, 0.2, 0.6; success at 1.4 s.
        let first = store.renewals.lock().unwrap()[0] - start;
        assert_eq!(first, Duration::from_millis(1400));
        task.abort();
    }

    #[test]
    fn taking_over_a_lease_counts_a_transition() {
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let framework_held = renewed_lease(None, "kube-mesos-framework", None, now);
        let mut theirs = framework_held.clone();
        theirs.metadata.name = Some("n".into());
        let ours = renewed_lease(Some(&theirs), "n", None, now);
        let spec = ours.spec.unwrap();
        assert_eq!(spec.lease_transitions, Some(1));
        assert_eq!(spec.holder_identity.as_deref(), Some("n"));
        assert_eq!(spec.acquire_time, Some(MicroTime(now)));
    }
}
