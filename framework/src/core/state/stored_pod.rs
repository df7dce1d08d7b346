//! A pod as the core keeps it: the fields the core and placement read, and
//! the rest packed as JSON.
//!
//! The core tracks every pod of the cluster (100,000 at the scale the
//! project aims for). A deserialized `Pod` is kilobytes of inline struct
//! before any string — every container alone is 2 KiB inline (probes,
//! lifecycle hooks, security context), every container status 750 bytes,
//! every volume 3 KiB — and most of it is read only when the pod's task is
//! launched (the executor gets the whole pod in `TaskInfo.data`) or when
//! the pod is failed (its containers' statuses). So the core keeps a pruned
//! `Pod` for what it reads on every round (metadata, scheduling fields of
//! the spec, phase) and what pruning took out as JSON bytes,
//! decoded only for those two. Only what was taken out is packed: the
//! metadata and status are already in the pruned pod, and packing them a
//! second time doubled what a bound pod cost.
//!
//! The packed part is kept only while the pod may still be launched (queued,
//! or waiting to be relaunched): a pod whose task runs is stored without it
//! ([`StoredPod::slim`]), as most of a large cluster's pods are, and should
//! it need launching again the core fetches the pod and fills the part in
//! ([`StoredPod::fill`]). A failure of such a pod is written from the pod
//! as the API server has it (`kube::binder`).
//!
//! What the pruned pod lacks: containers, init and ephemeral containers,
//! volumes, container statuses, the conditions the core does not read
//! ([`KEPT_CONDITIONS`]), two long annotations ([`PRUNED_ANNOTATIONS`])
//! and the other fields the `spec_fields!`, `status_fields!` and
//! `metadata_fields!` lists below name; neither form keeps managed fields. What
//! placement needs of the containers (requests, host ports) is worked out
//! from the whole pod before pruning
//! ([`crate::placement::requests::PodRequests`]).

use std::ops::Deref;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use tracing::error;

use crate::core::ANNOTATION_EXECUTOR_RESOURCES;

/// A pod: pruned for reading, with what pruning took packed beside it.
#[derive(Clone, Debug)]
pub struct StoredPod {
    pruned: Pod,
    /// [`Taken`] as JSON (boxed slice: no spare capacity); `None` for a
    /// slim pod.
    taken: Option<Box<[u8]>>,
}

/// What pruning takes out of a pod, to be put back for a launch or a
/// failure: in the pod's own types, holding only the fields taken.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Taken {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    annotations: Vec<(String, String)>,
    metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<PodSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<PodStatus>,
}

/// Moves the named fields (each `Default`: an `Option` or a `Vec`) from
/// one struct to another.
macro_rules! move_fields {
    ($from:expr => $to:expr; $($field:ident),+ $(,)?) => {
        $( $to.$field = std::mem::take(&mut $from.$field); )+
    };
}

/// The fields taken, read by neither the core nor placement (checked by
/// name against `core` and `placement`): the executor's parts of the pod,
/// and strings that would each cost an allocation per pod. Reading one of
/// them through the pruned pod finds it empty: a field the core comes to
/// read leaves these lists.
macro_rules! metadata_fields {
    ($m:ident, $from:expr => $to:expr) => {
        $m!($from => $to; generate_name, resource_version)
    };
}
macro_rules! spec_fields {
    ($m:ident, $from:expr => $to:expr) => {
        $m!($from => $to;
            containers, init_containers, ephemeral_containers, volumes,
            dns_policy, dns_config, service_account_name, service_account,
            automount_service_account_token, enable_service_links,
            image_pull_secrets, security_context, readiness_gates, host_aliases,
            os, subdomain)
    };
}
macro_rules! status_fields {
    ($m:ident, $from:expr => $to:expr) => {
        $m!($from => $to;
            conditions, container_statuses, init_container_statuses,
            ephemeral_container_statuses, host_ip, host_ips, pod_ip, pod_ips,
            qos_class)
    };
}

impl StoredPod {
    /// Packs `pod`. Its managed fields go: the API server's bookkeeping of
    /// field owners, often the largest part of a pod, read by neither the
    /// core nor the executor.
    pub fn new(mut pod: Pod) -> Self {
        pod.metadata.managed_fields = None;
        let taken = pack(take(&mut pod), &pod);
        StoredPod {
            pruned: pod,
            taken: Some(taken),
        }
    }

    /// `pod` pruned, without what pruning took: for a pod that is not to
    /// be launched ([`StoredPod::whole`] then lacks its containers).
    pub fn slim(mut pod: Pod) -> Self {
        pod.metadata.managed_fields = None;
        take(&mut pod);
        StoredPod {
            pruned: pod,
            taken: None,
        }
    }

    /// Whether [`StoredPod::whole`] is the whole pod (not slim).
    pub fn has_whole(&self) -> bool {
        self.taken.is_some()
    }

    /// Lets go of what pruning took: the pod's task is launched.
    pub fn make_slim(&mut self) {
        self.taken = None;
    }

    /// Keeps what pruning takes out of `fetched` (the same pod as the API
    /// server has it now) beside the pruned pod, which stays as the pod's
    /// events made it: containers and volumes do not change once a pod is
    /// created, and a fetched copy may be older than the last event.
    pub fn fill(&mut self, mut fetched: Pod) {
        let taken = take(&mut fetched);
        self.taken = Some(pack(taken, &self.pruned));
    }

    /// The whole pod, put together again. The bytes are our own
    /// serialization, so decoding them cannot fail short of a bug; should
    /// it, the pruned pod is returned and the failure logged. A slim pod
    /// comes back pruned.
    pub fn whole(&self) -> Pod {
        let mut pod = self.pruned.clone();
        let Some(taken) = &self.taken else {
            return pod;
        };
        match serde_json::from_slice::<Taken>(taken) {
            Ok(taken) => put_back(&mut pod, taken),
            Err(e) => error!(error = %e, pod = ?self.pruned.metadata.name, "unpacking a pod"),
        }
        pod
    }
}

/// [`Taken`] as JSON. Serializing k8s-openapi types cannot fail: every map
/// has string keys. Were it to, the pruned pod is all a launch would get.
fn pack(taken: Taken, pod: &Pod) -> Box<[u8]> {
    match serde_json::to_vec(&taken) {
        Ok(bytes) => bytes.into_boxed_slice(),
        Err(e) => {
            error!(error = %e, pod = ?pod.metadata.name, "packing a pod");
            Box::default()
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

/// The pod conditions the core reads: a preemption's mark on its victims.
/// A running pod carries four others (PodScheduled, Initialized,
/// ContainersReady, Ready) that only the executor's status writes use.
const KEPT_CONDITIONS: &[&str] = &["DisruptionTarget"];

/// Takes out of `pod` what only a launch or a failure reads.
fn take(pod: &mut Pod) -> Taken {
    let mut taken = Taken::default();
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        for key in PRUNED_ANNOTATIONS {
            if let Some(value) = annotations.remove(*key) {
                taken.annotations.push((key.to_string(), value));
            }
        }
    }
    metadata_fields!(move_fields, pod.metadata => taken.metadata);
    if let Some(spec) = pod.spec.as_mut() {
        let mut t = PodSpec::default();
        spec_fields!(move_fields, spec => t);
        taken.spec = Some(t);
    }
    if let Some(status) = pod.status.as_mut() {
        let mut t = PodStatus::default();
        status_fields!(move_fields, status => t);
        // All conditions are packed, in their order; the pruned pod keeps
        // those the core reads.
        let kept: Vec<PodCondition> = t
            .conditions
            .iter()
            .flatten()
            .filter(|c| KEPT_CONDITIONS.contains(&c.type_.as_str()))
            .cloned()
            .collect();
        status.conditions = (!kept.is_empty()).then_some(kept);
        taken.status = Some(t);
    }
    taken
}

/// The inverse of [`take`].
fn put_back(pod: &mut Pod, mut taken: Taken) {
    if !taken.annotations.is_empty() {
        pod.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .extend(taken.annotations);
    }
    metadata_fields!(move_fields, taken.metadata => pod.metadata);
    if let (Some(spec), Some(mut t)) = (pod.spec.as_mut(), taken.spec) {
        spec_fields!(move_fields, t => spec);
    }
    if let (Some(status), Some(mut t)) = (pod.status.as_mut(), taken.status) {
        status_fields!(move_fields, t => status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web", "namespace": "default", "uid": "u1",
                "generateName": "web-", "resourceVersion": "42",
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
                "serviceAccountName": "default", "dnsPolicy": "ClusterFirst",
                "securityContext": {"runAsUser": 1000},
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
                "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}], "qosClass": "BestEffort",
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"},
                ],
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
        let conditions = status.conditions.as_ref().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].type_, "DisruptionTarget");
        assert!(spec.containers.is_empty());
        assert!(spec.volumes.is_none() && spec.init_containers.is_none());
        assert!(status.container_statuses.is_none());
        assert!(stored.metadata.managed_fields.is_none());
        assert!(stored.metadata.resource_version.is_none());
        assert!(spec.service_account_name.is_none() && spec.security_context.is_none());
        assert!(status.pod_ips.is_none() && status.qos_class.is_none());
        let annotations = stored.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["kube-mesos.io/task-id"]
        );

        let mut expected = original;
        expected.metadata.managed_fields = None;
        assert_eq!(stored.whole(), expected);
        let taken = stored.taken.as_deref().unwrap();
        assert!(!taken.is_empty());
        // What the pruned pod keeps is not packed a second time.
        let taken = String::from_utf8(taken.to_vec()).unwrap();
        assert!(!taken.contains("\"u1\"") && !taken.contains("task-id"));
    }

    #[test]
    fn pods_without_spec_status_or_other_annotations_come_back_as_they_were() {
        let bare = Pod::default();
        assert_eq!(StoredPod::new(bare.clone()).whole(), bare);

        let mut only_pruned = Pod::default();
        only_pruned.metadata.annotations = Some(
            [(ANNOTATION_EXECUTOR_RESOURCES.to_string(), "{}".to_string())]
                .into_iter()
                .collect(),
        );
        let stored = StoredPod::new(only_pruned.clone());
        assert_eq!(
            stored.metadata.annotations.as_ref().map(|a| a.len()),
            Some(0)
        );
        assert_eq!(stored.whole(), only_pruned);
    }

    #[test]
    fn a_slim_pod_reads_the_same_and_is_made_whole_by_a_fetched_copy() {
        let original = pod();
        let mut expected = original.clone();
        expected.metadata.managed_fields = None;
        let whole = StoredPod::new(original.clone());
        let mut slim = StoredPod::slim(original.clone());
        assert!(whole.has_whole() && !slim.has_whole());
        assert_eq!(*slim, *whole);
        assert!(slim.whole().spec.unwrap().containers.is_empty());

        // The fetched copy is older: its labels are not taken, its
        // containers are.
        let mut fetched = original;
        fetched.metadata.labels = Some([("app".to_string(), "old".to_string())].into());
        slim.fill(fetched);
        assert!(slim.has_whole());
        assert_eq!(slim.whole(), expected);

        let mut launched = whole;
        launched.make_slim();
        assert!(!launched.has_whole());
        assert_eq!(*launched, *slim);
    }
}
