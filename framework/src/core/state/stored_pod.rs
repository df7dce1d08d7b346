//! A pod as the core keeps it: the fields the core and placement read, and
//! the whole object packed as its JSON.
//!
//! The core tracks every pod of the cluster (100,000 at the scale the
//! project aims for). A deserialized `Pod` is kilobytes of inline struct
//! before any string — every container alone is 2 KiB inline (probes,
//! lifecycle hooks, security context), every container status 750 bytes,
//! every volume 3 KiB — and most of it is read only when the pod's task is
//! launched (the executor gets the whole pod in `TaskInfo.data`) or when
//! the pod is failed (its containers' statuses). So the core keeps a pruned
//! `Pod` for what it reads on every round (metadata, scheduling fields of
//! the spec, phase and conditions) and the whole pod as JSON bytes, decoded
//! only for those two.
//!
//! What the pruned pod lacks: containers, init and ephemeral containers,
//! volumes, container statuses and two long annotations
//! ([`PRUNED_ANNOTATIONS`]); neither form keeps managed fields. What
//! placement needs of the containers (requests, host ports) is worked out
//! from the whole pod before pruning
//! ([`crate::placement::requests::PodRequests`]).

use std::ops::Deref;

use k8s_openapi::api::core::v1::Pod;
use tracing::error;

use crate::core::ANNOTATION_EXECUTOR_RESOURCES;

/// A pod: pruned for reading, whole as JSON.
#[derive(Clone, Debug)]
pub struct StoredPod {
    pruned: Pod,
    /// The pod as received, as JSON. Boxed slice: no spare capacity.
    whole: Box<[u8]>,
}

impl StoredPod {
    /// Packs `pod`. Its managed fields go: the API server's bookkeeping of
    /// field owners, often the largest part of a pod, read by neither the
    /// core nor the executor.
    pub fn new(mut pod: Pod) -> Self {
        pod.metadata.managed_fields = None;
        // Serializing a k8s-openapi Pod cannot fail: every map has string
        // keys. Were it to, the pruned pod is all the launch would get.
        let whole = match serde_json::to_vec(&pod) {
            Ok(bytes) => bytes.into_boxed_slice(),
            Err(e) => {
                error!(error = %e, pod = ?pod.metadata.name, "packing a pod");
                Box::default()
            }
        };
        StoredPod {
            pruned: prune(pod),
            whole,
        }
    }

    /// The whole pod, decoded again. The bytes are our own serialization of
    /// a `Pod`, so decoding them cannot fail short of a bug; should it, the
    /// pruned pod is returned and the failure logged.
    pub fn whole(&self) -> Pod {
        match serde_json::from_slice(&self.whole) {
            Ok(pod) => pod,
            Err(e) => {
                error!(error = %e, pod = ?self.pruned.metadata.name, "unpacking a pod");
                self.pruned.clone()
            }
        }
    }
}

impl Deref for StoredPod {
    type Target = Pod;
    fn deref(&self) -> &Pod {
        &self.pruned
    }
}

/// Annotations the core reads only on a pod it sees for the first time
/// (before it is stored), or never, and that are long: the executor's
/// resources as launched (a JSON `ExecutorInfo`), and kubectl's copy of
/// the whole object it applied.
const PRUNED_ANNOTATIONS: &[&str] = &[
    ANNOTATION_EXECUTOR_RESOURCES,
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// `pod` without what only a launch or a failure reads.
fn prune(mut pod: Pod) -> Pod {
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        for key in PRUNED_ANNOTATIONS {
            annotations.remove(*key);
        }
    }
    if let Some(spec) = pod.spec.as_mut() {
        spec.containers = Vec::new();
        spec.init_containers = None;
        spec.ephemeral_containers = None;
        spec.volumes = None;
    }
    if let Some(status) = pod.status.as_mut() {
        status.container_statuses = None;
        status.init_container_statuses = None;
        status.ephemeral_container_statuses = None;
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web", "namespace": "default", "uid": "u1",
                "labels": {"app": "web"},
                "annotations": {
                    "kube-mesos.io/executor-resources": "{\"resources\": []}",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "kube-mesos.io/task-id": "pod.u1",
                },
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            },
            "spec": {
                "schedulerName": "kube-mesos",
                "nodeSelector": {"disk": "ssd"},
                "priority": 7,
                "containers": [{
                    "name": "c", "image": "busybox", "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "250m"}},
                    "ports": [{"containerPort": 80, "hostPort": 8080}],
                    "livenessProbe": {"exec": {"command": ["true"]}},
                }],
                "initContainers": [{"name": "init", "image": "busybox"}],
                "volumes": [{"name": "v", "emptyDir": {}}],
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{
                    "name": "c", "image": "busybox", "imageID": "", "ready": true,
                    "restartCount": 2,
                }],
            },
        }))
        .unwrap()
    }

    #[test]
    fn reads_see_the_scheduling_fields_and_the_whole_pod_comes_back_intact() {
        let original = pod();
        let stored = StoredPod::new(original.clone());
        let spec = stored.spec.as_ref().unwrap();
        assert_eq!(spec.priority, Some(7));
        assert_eq!(spec.scheduler_name.as_deref(), Some("kube-mesos"));
        assert_eq!(spec.node_selector.as_ref().unwrap()["disk"], "ssd");
        assert_eq!(stored.metadata.labels.as_ref().unwrap()["app"], "web");
        let status = stored.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.conditions.as_ref().unwrap().len(), 1);
        assert!(spec.containers.is_empty());
        assert!(spec.volumes.is_none() && spec.init_containers.is_none());
        assert!(status.container_statuses.is_none());
        assert!(stored.metadata.managed_fields.is_none());
        let annotations = stored.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["kube-mesos.io/task-id"]
        );

        let mut expected = original;
        expected.metadata.managed_fields = None;
        assert_eq!(stored.whole(), expected);
        assert!(!stored.whole.is_empty());
    }
}
