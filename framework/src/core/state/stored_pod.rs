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
//! slim: what [`PodRead`] reads (its metadata and a few fields of its spec
//! and status; placement reads no more of a pod already on a node, see
//! [`PodView`]), a quarter of the pruned pod's size. Should it need launching
//! again, the core fetches the pod and makes it whole
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

use k8s_openapi::api::core::v1::{Affinity, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Serialize};
use tracing::error;

use crate::core::{ANNOTATION_EXECUTOR_RESOURCES, ANNOTATION_ROLE};
use crate::placement::snapshot::PodView;

/// What the core and placement read of a pod, whichever form it is kept
/// in: implemented by a whole `Pod` (a pod just received) and by
/// [`StoredPod`], so the helpers that read a pod take either.
pub trait PodRead {
    fn metadata(&self) -> &ObjectMeta;
    /// `spec.nodeName` as written (possibly empty).
    fn node_name(&self) -> Option<&str>;
    fn scheduler_name(&self) -> Option<&str>;
    /// `spec.priority`.
    fn priority(&self) -> Option<i32>;
    fn preemption_policy(&self) -> Option<&str>;
    fn termination_grace_period_seconds(&self) -> Option<i64>;
    fn affinity(&self) -> Option<&Affinity>;
    /// `status.phase`.
    fn phase(&self) -> Option<&str>;
    fn start_time(&self) -> Option<&Time>;
    /// `status.conditions` (of a stored pod, only [`KEPT_CONDITIONS`]).
    fn conditions(&self) -> &[PodCondition];

    /// The pod as placement reads a pod already on a node.
    fn view(&self) -> PodView<'_> {
        PodView {
            metadata: self.metadata(),
            priority: self.priority().unwrap_or(0),
            affinity: self.affinity(),
            start_time: self.start_time(),
        }
    }
}

impl PodRead for Pod {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn node_name(&self) -> Option<&str> {
        self.spec.as_ref().and_then(|s| s.node_name.as_deref())
    }
    fn scheduler_name(&self) -> Option<&str> {
        self.spec.as_ref().and_then(|s| s.scheduler_name.as_deref())
    }
    fn priority(&self) -> Option<i32> {
        self.spec.as_ref().and_then(|s| s.priority)
    }
    fn preemption_policy(&self) -> Option<&str> {
        self.spec
            .as_ref()
            .and_then(|s| s.preemption_policy.as_deref())
    }
    fn termination_grace_period_seconds(&self) -> Option<i64> {
        self.spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
    }
    fn affinity(&self) -> Option<&Affinity> {
        self.spec.as_ref().and_then(|s| s.affinity.as_ref())
    }
    fn phase(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| s.phase.as_deref())
    }
    fn start_time(&self) -> Option<&Time> {
        self.status.as_ref().and_then(|s| s.start_time.as_ref())
    }
    fn conditions(&self) -> &[PodCondition] {
        self.status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default()
    }
}

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

/// A pod whose task runs: a quarter of a pruned `Pod`'s inline size (2 KiB,
/// nearly all of it the spec's and status's fields no one reads here).
#[derive(Clone, Debug, Default)]
struct Slim {
    metadata: ObjectMeta,
    node_name: Option<String>,
    scheduler_name: Option<String>,
    priority: Option<i32>,
    preemption_policy: Option<String>,
    termination_grace_period_seconds: Option<i64>,
    affinity: Option<Box<Affinity>>,
    phase: Option<String>,
    start_time: Option<Time>,
    conditions: Vec<PodCondition>,
}

impl Slim {
    /// What [`PodRead`] reads of `pruned`, moved out of it.
    fn of(mut pruned: Pod) -> Self {
        if let Some(annotations) = pruned.metadata.annotations.as_mut() {
            annotations.retain(|k, _| SLIM_ANNOTATIONS.contains(&k.as_str()));
        }
        if pruned
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.is_empty())
        {
            pruned.metadata.annotations = None;
        }
        let spec = pruned.spec.unwrap_or_default();
        let status = pruned.status.unwrap_or_default();
        Slim {
            metadata: pruned.metadata,
            node_name: spec.node_name,
            scheduler_name: spec.scheduler_name,
            priority: spec.priority,
            preemption_policy: spec.preemption_policy,
            termination_grace_period_seconds: spec.termination_grace_period_seconds,
            affinity: spec.affinity.map(Box::new),
            phase: status.phase,
            start_time: status.start_time,
            conditions: status.conditions.unwrap_or_default(),
        }
    }

    /// The pod it was made of, without what was not kept.
    fn to_pod(&self) -> Pod {
        Pod {
            metadata: self.metadata.clone(),
            spec: Some(PodSpec {
                node_name: self.node_name.clone(),
                scheduler_name: self.scheduler_name.clone(),
                priority: self.priority,
                preemption_policy: self.preemption_policy.clone(),
                termination_grace_period_seconds: self.termination_grace_period_seconds,
                affinity: self.affinity.as_deref().cloned(),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: self.phase.clone(),
                start_time: self.start_time.clone(),
                conditions: (!self.conditions.is_empty()).then(|| self.conditions.clone()),
                ..Default::default()
            }),
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
        let mut pruned = match &self.0 {
            Form::Whole(w) => w.pruned.clone(),
            Form::Slim(s) => {
                let kept = s.to_pod();
                let mut spec = fetched.spec.unwrap_or_default();
                let kept_spec = kept.spec.unwrap_or_default();
                spec.node_name = kept_spec.node_name;
                spec.scheduler_name = kept_spec.scheduler_name;
                spec.priority = kept_spec.priority;
                spec.preemption_policy = kept_spec.preemption_policy;
                spec.termination_grace_period_seconds = kept_spec.termination_grace_period_seconds;
                spec.affinity = kept_spec.affinity;
                let mut status = fetched.status.unwrap_or_default();
                let kept_status = kept.status.unwrap_or_default();
                status.phase = kept_status.phase;
                status.start_time = kept_status.start_time;
                status.conditions = kept_status.conditions;
                // The slim pod kept only the annotations read of a pod
                // whose task runs; a launch sends them all.
                let mut metadata = kept.metadata;
                metadata.annotations = fetched.metadata.annotations;
                Pod {
                    metadata,
                    spec: Some(spec),
                    status: Some(status),
                }
            }
        };
        // The conditions as packed are the fetched ones, as for any pod.
        let taken = pack(taken, &pruned);
        pruned.metadata.managed_fields = None;
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
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
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

impl PodRead for StoredPod {
    fn metadata(&self) -> &ObjectMeta {
        self.read().metadata()
    }
    fn node_name(&self) -> Option<&str> {
        self.read().node_name()
    }
    fn scheduler_name(&self) -> Option<&str> {
        self.read().scheduler_name()
    }
    fn priority(&self) -> Option<i32> {
        self.read().priority()
    }
    fn preemption_policy(&self) -> Option<&str> {
        self.read().preemption_policy()
    }
    fn termination_grace_period_seconds(&self) -> Option<i64> {
        self.read().termination_grace_period_seconds()
    }
    fn affinity(&self) -> Option<&Affinity> {
        self.read().affinity()
    }
    fn phase(&self) -> Option<&str> {
        self.read().phase()
    }
    fn start_time(&self) -> Option<&Time> {
        self.read().start_time()
    }
    fn conditions(&self) -> &[PodCondition] {
        self.read().conditions()
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

/// Annotations the core reads only on a pod it sees for the first time
/// (before it is stored), or never, and that are long: the executor's
/// resources as launched (a JSON `ExecutorInfo`), and kubectl's copy of
/// the whole object it applied.
const PRUNED_ANNOTATIONS: &[&str] = &[
    ANNOTATION_EXECUTOR_RESOURCES,
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// The annotations the core reads of a pod whose task runs: its Mesos role
/// (a relaunch's candidacy is checked before the pod is fetched). The
/// others (the framework's own, about the task, and any the user set) are
/// an allocation each for nothing, and a fetched copy brings them back.
const SLIM_ANNOTATIONS: &[&str] = &[ANNOTATION_ROLE];

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
        assert_eq!(stored.metadata().labels.as_ref().unwrap()["app"], "web");
        assert_eq!(stored.phase(), Some("Running"));
        let conditions = stored.conditions();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].type_, "DisruptionTarget");
        assert!(spec.containers.is_empty());
        assert!(spec.volumes.is_none() && spec.init_containers.is_none());
        let status = pruned.status.as_ref().unwrap();
        assert!(status.container_statuses.is_none());
        assert!(stored.metadata().managed_fields.is_none());
        assert!(stored.metadata().resource_version.is_none());
        assert!(spec.service_account_name.is_none() && spec.security_context.is_none());
        assert!(status.pod_ips.is_none() && status.qos_class.is_none());
        let annotations = stored.metadata().annotations.as_ref().unwrap();
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
            stored.metadata().annotations.as_ref().map(|a| a.len()),
            Some(0)
        );
        assert_eq!(stored.whole(), only_pruned);
    }

    /// Every field [`PodRead`] gives, as one value to compare; of the
    /// annotations those a slim pod keeps.
    fn reads(p: &impl PodRead) -> String {
        let mut meta = p.metadata().clone();
        if let Some(a) = meta.annotations.as_mut() {
            a.retain(|k, _| SLIM_ANNOTATIONS.contains(&k.as_str()));
        }
        format!(
            "{:?}",
            (
                meta,
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
        let mut expected = original.clone();
        expected.metadata.managed_fields = None;
        let whole = StoredPod::new(original.clone());
        let mut slim = StoredPod::slim(original.clone());
        assert!(whole.has_whole() && !slim.has_whole());
        assert!(slim.to_place().is_none());
        assert_eq!(reads(&slim), reads(&whole));
        let annotations = slim.metadata().annotations.as_ref().unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            [ANNOTATION_ROLE],
            "a slim pod keeps only the annotations read of a running pod"
        );
        assert!(reads(&whole).contains("node-1") && reads(&whole).contains("zone"));
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
