//! A pod as the core keeps it: whole while it may be launched, and only
//! what the core and placement read once its task runs.
//!
//! The core tracks every pod of the cluster (100,000 at the scale the
//! project aims for). A deserialized `Pod` is kilobytes of inline struct
//! before any string — 2 KiB even with every container, volume and status
//! taken out, nearly all of it the spec's and the status's optional fields
//! — and most of it is read only when the pod's task is launched (the
//! executor gets the whole pod in `TaskInfo.data`) or when the pod is
//! failed (its containers' statuses).
//!
//! So a pod that may still be launched (queued, or waiting to be
//! relaunched) is kept whole: a pruned `Pod` for what placement reads of a
//! pod to place (metadata, the spec's scheduling fields, phase) and what
//! pruning took out as JSON bytes, decoded only for a launch. Only what was
//! taken out is packed: the metadata and status are already in the pruned
//! pod, and packing them a second time doubled what a pod cost.
//!
//! A pod whose task runs, as most of a large cluster's pods are, is kept
//! slim: what [`PodRead`] reads (names, labels, a few fields of the spec
//! and status; placement reads no more of a pod already on a node, see
//! [`crate::placement::snapshot::PodView`]) in a few hundred bytes, not the
//! pruned pod's 2 KiB, each string to its length and the labels as pairs.
//! Should it need launching again, the core fetches the pod and makes it
//! whole ([`StoredPod::fill`]). A failure of such a pod is written from the
//! pod as the API server has it (`kube::binder`).
//!
//! What the pruned pod lacks: containers, init and ephemeral containers,
//! volumes, container statuses, the conditions the core does not read
//! ([`KEPT_CONDITIONS`]), two long annotations ([`PRUNED_ANNOTATIONS`])
//! and the other fields the `spec_fields!`, `status_fields!` and
//! `metadata_fields!` lists below name; neither form keeps managed fields. What
//! placement needs of the containers (requests, host ports) is worked out
//! from the whole pod before pruning
//! ([`crate::placement::requests::PodRequests`]).

use k8s_openapi::api::core::v1::{Affinity, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::{Deserialize, Serialize};
use tracing::error;

use super::pod_read::PodRead;
use crate::core::{ANNOTATION_EXECUTOR_RESOURCES, ANNOTATION_ROLE};
use crate::placement::selector::Labels;
use crate::placement::snapshot::PodView;

/// A pod as the core keeps it: whole (pruned, with what pruning took packed
/// beside it) while it may be launched, else only what [`PodRead`] reads.
/// Either form is one pointer (the pod table holds many).
#[derive(Clone, Debug)]
pub struct StoredPod(Form);

#[derive(Clone, Debug)]
enum Form {
    Whole(Box<Whole>),
    Slim(Box<Slim>),
}

#[derive(Clone, Debug)]
struct Whole {
    pruned: Pod,
    /// [`Taken`] as JSON (boxed slice: no spare capacity).
    taken: Box<[u8]>,
}

/// A pod whose task runs: what [`PodRead`] reads, in a few hundred bytes
/// instead of a pruned `Pod`'s 2 KiB inline (nearly all of it the spec's
/// and status's fields no one reads here), each string allocated to its
/// length and the labels as pairs (a map allocates a node of eleven entries
/// for one).
#[derive(Clone, Debug, Default)]
struct Slim {
    name: Option<Box<str>>,
    namespace: Option<Box<str>>,
    uid: Option<Box<str>>,
    labels: Box<[(Box<str>, Box<str>)]>,
    /// The one annotation read of a running pod ([`ANNOTATION_ROLE`]): a
    /// relaunch's candidacy is checked before the pod is fetched.
    role: Option<Box<str>>,
    controller_uid: Option<Box<str>>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    node_name: Option<Box<str>>,
    scheduler_name: Option<Box<str>>,
    priority: Option<i32>,
    preemption_policy: Option<Box<str>>,
    termination_grace_period_seconds: Option<i64>,
    affinity: Option<Box<Affinity>>,
    phase: Option<Box<str>>,
    start_time: Option<Time>,
    conditions: Box<[PodCondition]>,
}

fn boxed(s: Option<String>) -> Option<Box<str>> {
    s.map(String::into_boxed_str)
}

fn unboxed(s: &Option<Box<str>>) -> Option<String> {
    s.as_deref().map(str::to_owned)
}

impl Slim {
    /// What [`PodRead`] reads of `pod`, moved out of it.
    fn of(pod: Pod) -> Self {
        let controller_uid = pod.controller_uid().map(str::to_owned);
        let meta = pod.metadata;
        let spec = pod.spec.unwrap_or_default();
        let status = pod.status.unwrap_or_default();
        Slim {
            name: boxed(meta.name),
            namespace: boxed(meta.namespace),
            uid: boxed(meta.uid),
            labels: meta
                .labels
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
                .collect(),
            role: boxed(meta.annotations.and_then(|mut a| a.remove(ANNOTATION_ROLE))),
            controller_uid: boxed(controller_uid),
            creation_timestamp: meta.creation_timestamp,
            deletion_timestamp: meta.deletion_timestamp,
            deletion_grace_period_seconds: meta.deletion_grace_period_seconds,
            node_name: boxed(spec.node_name),
            scheduler_name: boxed(spec.scheduler_name),
            priority: spec.priority,
            preemption_policy: boxed(spec.preemption_policy),
            termination_grace_period_seconds: spec.termination_grace_period_seconds,
            affinity: spec.affinity.map(Box::new),
            phase: boxed(status.phase),
            start_time: status.start_time,
            conditions: status.conditions.unwrap_or_default().into_boxed_slice(),
        }
    }

    /// The metadata it keeps, as a pod's.
    fn metadata(&self) -> ObjectMeta {
        ObjectMeta {
            name: unboxed(&self.name),
            namespace: unboxed(&self.namespace),
            uid: unboxed(&self.uid),
            labels: (!self.labels.is_empty()).then(|| {
                self.labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
            annotations: self
                .role
                .as_ref()
                .map(|r| [(ANNOTATION_ROLE.to_owned(), r.to_string())].into()),
            owner_references: self.controller_uid.as_ref().map(|uid| {
                vec![OwnerReference {
                    controller: Some(true),
                    uid: uid.to_string(),
                    ..Default::default()
                }]
            }),
            creation_timestamp: self.creation_timestamp.clone(),
            deletion_timestamp: self.deletion_timestamp.clone(),
            deletion_grace_period_seconds: self.deletion_grace_period_seconds,
            ..Default::default()
        }
    }

    /// The pod it was made of, without what was not kept.
    fn to_pod(&self) -> Pod {
        Pod {
            metadata: self.metadata(),
            spec: Some(self.spec_onto(PodSpec::default())),
            status: Some(self.status_onto(PodStatus::default())),
        }
    }

    /// `spec` with the fields kept here set as they are here.
    fn spec_onto(&self, spec: PodSpec) -> PodSpec {
        PodSpec {
            node_name: unboxed(&self.node_name),
            scheduler_name: unboxed(&self.scheduler_name),
            priority: self.priority,
            preemption_policy: unboxed(&self.preemption_policy),
            termination_grace_period_seconds: self.termination_grace_period_seconds,
            affinity: self.affinity.as_deref().cloned(),
            ..spec
        }
    }

    /// `status` with the fields kept here set as they are here.
    fn status_onto(&self, status: PodStatus) -> PodStatus {
        PodStatus {
            phase: unboxed(&self.phase),
            start_time: self.start_time.clone(),
            conditions: (!self.conditions.is_empty()).then(|| self.conditions.to_vec()),
            ..status
        }
    }
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
        StoredPod(Form::Whole(Box::new(Whole { pruned: pod, taken })))
    }

    /// What [`PodRead`] reads of `pod`, and no more: for a pod that is not
    /// to be launched ([`StoredPod::whole`] then lacks its containers).
    pub fn slim(mut pod: Pod) -> Self {
        pod.metadata.managed_fields = None;
        take(&mut pod);
        StoredPod(Form::Slim(Box::new(Slim::of(pod))))
    }

    /// Whether [`StoredPod::whole`] is the whole pod (not slim).
    pub fn has_whole(&self) -> bool {
        matches!(self.0, Form::Whole(_))
    }

    /// The pruned pod, for placing it; `None` for a slim pod.
    pub fn to_place(&self) -> Option<&Pod> {
        match &self.0 {
            Form::Whole(w) => Some(&w.pruned),
            Form::Slim(_) => None,
        }
    }

    /// Keeps only what [`PodRead`] reads: the pod's task is launched.
    pub fn make_slim(&mut self) {
        if let Form::Whole(w) = &mut self.0 {
            let pruned = std::mem::take(&mut w.pruned);
            self.0 = Form::Slim(Box::new(Slim::of(pruned)));
        }
    }

    /// Makes a slim pod whole again from `fetched` (the same pod as the API
    /// server has it now). What the slim pod keeps stays as the pod's events
    /// made it, as a fetched copy may be older than the last event; the
    /// rest (containers, volumes, the spec's scheduling fields) does not
    /// change once a pod is created.
    pub fn fill(&mut self, mut fetched: Pod) {
        fetched.metadata.managed_fields = None;
        let taken = take(&mut fetched);
        let pruned = match &self.0 {
            Form::Whole(w) => w.pruned.clone(),
            Form::Slim(s) => {
                // What the slim pod keeps is as the pod's events made it;
                // the rest of the metadata (its annotations, all of which
                // a launch sends) is the fetched copy's.
                let mut metadata = fetched.metadata;
                let kept = s.metadata();
                metadata.labels = kept.labels;
                if kept.deletion_timestamp.is_some() {
                    metadata.deletion_timestamp = kept.deletion_timestamp;
                    metadata.deletion_grace_period_seconds = kept.deletion_grace_period_seconds;
                }
                Pod {
                    metadata,
                    spec: Some(s.spec_onto(fetched.spec.unwrap_or_default())),
                    status: Some(s.status_onto(fetched.status.unwrap_or_default())),
                }
            }
        };
        // The conditions as packed are the fetched ones, as for any pod.
        let taken = pack(taken, &pruned);
        self.0 = Form::Whole(Box::new(Whole { pruned, taken }));
    }

    /// The whole pod, put together again. The bytes are our own
    /// serialization, so decoding them cannot fail short of a bug; should
    /// it, the pruned pod is returned and the failure logged. A slim pod
    /// comes back as what it keeps.
    pub fn whole(&self) -> Pod {
        let w = match &self.0 {
            Form::Whole(w) => w,
            Form::Slim(s) => return s.to_pod(),
        };
        let mut pod = w.pruned.clone();
        match serde_json::from_slice::<Taken>(&w.taken) {
            Ok(taken) => put_back(&mut pod, taken),
            Err(e) => error!(error = %e, pod = ?pod.metadata.name, "unpacking a pod"),
        }
        pod
    }

    fn read(&self) -> &dyn PodRead {
        match &self.0 {
            Form::Whole(w) => &w.pruned,
            Form::Slim(s) => s.as_ref(),
        }
    }
}

impl PodRead for Slim {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
    fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }
    fn labels(&self) -> Labels<'_> {
        Labels::Pairs(&self.labels)
    }
    fn annotation(&self, key: &str) -> Option<&str> {
        (key == ANNOTATION_ROLE).then_some(self.role.as_deref())?
    }
    fn controller_uid(&self) -> Option<&str> {
        self.controller_uid.as_deref()
    }
    fn creation_timestamp(&self) -> Option<&Time> {
        self.creation_timestamp.as_ref()
    }
    fn deletion_timestamp(&self) -> Option<&Time> {
        self.deletion_timestamp.as_ref()
    }
    fn deletion_grace_period_seconds(&self) -> Option<i64> {
        self.deletion_grace_period_seconds
    }
    fn node_name(&self) -> Option<&str> {
        self.node_name.as_deref()
    }
    fn scheduler_name(&self) -> Option<&str> {
        self.scheduler_name.as_deref()
    }
    fn priority(&self) -> Option<i32> {
        self.priority
    }
    fn preemption_policy(&self) -> Option<&str> {
        self.preemption_policy.as_deref()
    }
    fn termination_grace_period_seconds(&self) -> Option<i64> {
        self.termination_grace_period_seconds
    }
    fn affinity(&self) -> Option<&Affinity> {
        self.affinity.as_deref()
    }
    fn phase(&self) -> Option<&str> {
        self.phase.as_deref()
    }
    fn start_time(&self) -> Option<&Time> {
        self.start_time.as_ref()
    }
    fn conditions(&self) -> &[PodCondition] {
        &self.conditions
    }
}

/// Reads whichever form the pod is in: one match per call, so the view a
/// round takes of every running pod is one too, not one per field.
macro_rules! delegate {
    ($($f:ident($($arg:ident: $t:ty),*) -> $r:ty;)+) => {
        impl PodRead for StoredPod {
            $(fn $f(&self, $($arg: $t),*) -> $r {
                self.read().$f($($arg),*)
            })+
        }
    };
}

delegate! {
    name() -> Option<&str>;
    namespace() -> Option<&str>;
    uid() -> Option<&str>;
    labels() -> Labels<'_>;
    annotation(key: &str) -> Option<&str>;
    controller_uid() -> Option<&str>;
    creation_timestamp() -> Option<&Time>;
    deletion_timestamp() -> Option<&Time>;
    deletion_grace_period_seconds() -> Option<i64>;
    node_name() -> Option<&str>;
    scheduler_name() -> Option<&str>;
    priority() -> Option<i32>;
    preemption_policy() -> Option<&str>;
    termination_grace_period_seconds() -> Option<i64>;
    affinity() -> Option<&Affinity>;
    phase() -> Option<&str>;
    start_time() -> Option<&Time>;
    conditions() -> &[PodCondition];
    view() -> PodView<'_>;
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
                    "kube-mesos.io/role": "analytics",
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
        let pruned = stored.to_place().unwrap();
        let spec = pruned.spec.as_ref().unwrap();
        assert_eq!(stored.priority(), Some(7));
        assert_eq!(stored.scheduler_name(), Some("kube-mesos"));
        assert_eq!(spec.node_selector.as_ref().unwrap()["disk"], "ssd");
        assert_eq!(stored.labels().get("app"), Some("web"));
        assert_eq!(stored.phase(), Some("Running"));
        let conditions = stored.conditions();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].type_, "DisruptionTarget");
        assert!(spec.containers.is_empty());
        assert!(spec.volumes.is_none() && spec.init_containers.is_none());
        let status = pruned.status.as_ref().unwrap();
        assert!(status.container_statuses.is_none());
        assert!(pruned.metadata.managed_fields.is_none());
        assert!(pruned.metadata.resource_version.is_none());
        assert!(spec.service_account_name.is_none() && spec.security_context.is_none());
        assert!(status.pod_ips.is_none() && status.qos_class.is_none());
        let annotations = pruned.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["kube-mesos.io/role", "kube-mesos.io/task-id"]
        );

        let mut expected = original;
        expected.metadata.managed_fields = None;
        assert_eq!(stored.whole(), expected);
        let Form::Whole(w) = &stored.0 else {
            panic!("not whole")
        };
        assert!(!w.taken.is_empty());
        // What the pruned pod keeps is not packed a second time.
        let taken = String::from_utf8(w.taken.to_vec()).unwrap();
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
            stored
                .to_place()
                .unwrap()
                .metadata
                .annotations
                .as_ref()
                .map(|a| a.len()),
            Some(0)
        );
        assert_eq!(stored.whole(), only_pruned);
    }

    /// Every field [`PodRead`] gives, as one value to compare; of the
    /// annotations the one a slim pod keeps.
    fn reads(p: &impl PodRead) -> String {
        let labels: Vec<(String, String)> = match p.labels() {
            Labels::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Labels::Pairs(l) => l
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        format!(
            "{:?}",
            (
                (p.name(), p.namespace(), p.uid(), labels),
                (p.annotation(ANNOTATION_ROLE), p.controller_uid()),
                (
                    p.creation_timestamp(),
                    p.deletion_timestamp(),
                    p.deletion_grace_period_seconds(),
                ),
                p.node_name(),
                p.scheduler_name(),
                p.priority(),
                p.preemption_policy(),
                p.termination_grace_period_seconds(),
                p.affinity(),
                p.phase(),
                p.start_time(),
                p.conditions(),
            )
        )
    }

    #[test]
    fn a_slim_pod_reads_the_same_and_is_made_whole_by_a_fetched_copy() {
        let mut original = pod();
        let spec = original.spec.as_mut().unwrap();
        spec.node_name = Some("node-1".into());
        spec.termination_grace_period_seconds = Some(5);
        spec.preemption_policy = Some("Never".into());
        spec.affinity = Some(
            serde_json::from_value(serde_json::json!({
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "web"}}}
                ]}
            }))
            .unwrap(),
        );
        original.status.as_mut().unwrap().start_time = Some(Time(Default::default()));
        let meta = &mut original.metadata;
        meta.creation_timestamp = Some(Time(Default::default()));
        meta.deletion_timestamp = Some(Time(Default::default()));
        meta.deletion_grace_period_seconds = Some(3);
        meta.owner_references = Some(vec![
            OwnerReference {
                uid: "other".into(),
                ..Default::default()
            },
            OwnerReference {
                controller: Some(true),
                kind: "ReplicaSet".into(),
                uid: "rs-1".into(),
                ..Default::default()
            },
        ]);
        let mut expected = original.clone();
        expected.metadata.managed_fields = None;
        let whole = StoredPod::new(original.clone());
        let mut slim = StoredPod::slim(original.clone());
        assert!(whole.has_whole() && !slim.has_whole());
        assert!(slim.to_place().is_none());
        assert_eq!(reads(&slim), reads(&whole));
        for wanted in ["node-1", "zone", "rs-1", "analytics", "\"app\", \"web\""] {
            assert!(reads(&whole).contains(wanted), "{wanted}");
        }
        assert_eq!(whole.annotation("kube-mesos.io/task-id"), Some("pod.u1"));
        assert_eq!(
            slim.annotation("kube-mesos.io/task-id"),
            None,
            "a slim pod keeps only the annotation read of a running pod"
        );
        assert!(slim.whole().spec.unwrap().containers.is_empty());

        // The fetched copy is older: its labels and phase are not taken,
        // its containers and node selector are.
        let mut fetched = original;
        fetched.metadata.labels = Some([("app".to_string(), "old".to_string())].into());
        fetched.status.as_mut().unwrap().phase = Some("Pending".into());
        slim.fill(fetched);
        assert!(slim.has_whole());
        assert_eq!(slim.whole(), expected);
        assert_eq!(slim.to_place(), whole.to_place());

        let mut launched = whole;
        launched.make_slim();
        assert!(!launched.has_whole());
        assert_eq!(reads(&launched), reads(&StoredPod::slim(expected)));
    }
}
