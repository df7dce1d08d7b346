//! A pod as the core keeps it: whole while it may be launched, and only
//! what the core and placement read once its task runs.
//!
//! The core tracks every pod of the cluster (100,000 at the scale the
//! project aims for). A deserialized `Pod` is kilobytes of inline struct
//! before any string — 2 KiB even with every container, volume and status
//! taken out, nearly all of it the spec's and the status's optional fields
//! — and most of it is read only when the pod is placed or its task is
//! launched (the executor gets the whole pod in `TaskInfo.data`).
//!
//! So every pod is kept as [`Slim`]: what [`PodRead`] reads (names, labels,
//! a few fields of the spec and status; placement reads no more of a pod
//! already on a node, see [`crate::placement::snapshot::PodView`]) in a few
//! hundred bytes, each string to its length and the labels as pairs. A pod
//! that may still be launched (queued, or waiting to be relaunched) also
//! keeps the whole pod as JSON bytes, decoded when a round considers it and
//! for its launch. A burst of pods created at once is queued that way: one
//! allocation of about the pod's size each instead of a decoded `Pod`
//! (2 KiB inline plus an allocation per string, map node and list), which
//! left glibc holding the pages the burst touched long after it was placed.
//!
//! A pod whose task runs, as most of a large cluster's pods are, drops the
//! bytes. Should it need launching again, the core fetches the pod and makes
//! it whole ([`StoredPod::fill`]). A failure of such a pod is written from
//! the pod as the API server has it (`kube::binder`).
//!
//! Neither form keeps managed fields. What placement needs of the containers
//! (requests, host ports) is worked out from the whole pod when it arrives
//! ([`crate::placement::requests::PodRequests`]).

use k8s_openapi::api::core::v1::{Affinity, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use tracing::error;

use super::pod_read::PodRead;
use crate::core::ANNOTATION_ROLE;
use crate::placement::selector::Labels;
use crate::placement::snapshot::PodView;
use crate::texts::Texts;

/// A pod as the core keeps it: what [`PodRead`] reads, and while it may be
/// launched the whole pod as JSON. Either form is one pointer (the pod
/// table holds many).
#[derive(Clone, Debug)]
pub struct StoredPod(Form);

#[derive(Clone, Debug)]
enum Form {
    Whole(Box<Whole>),
    Slim(Box<Slim>),
}

#[derive(Clone, Debug)]
struct Whole {
    read: Slim,
    /// The pod as JSON (boxed slice: no spare capacity).
    json: Box<[u8]>,
}

/// What [`PodRead`] reads of a pod, in two hundred bytes and two heap
/// blocks instead of a `Pod`'s 2 KiB inline (nearly all of it the spec's
/// and status's fields no one reads here) and a block per string: the
/// strings are spans of one text ([`Texts`]), the labels' keys and values
/// among them.
#[derive(Clone, Debug, Default)]
struct Slim {
    /// The strings at the indices below, then the labels' keys and values
    /// alternating from [`LABELS`] on.
    texts: Texts,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
    start_time: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    termination_grace_period_seconds: Option<i64>,
    priority: Option<i32>,
    affinity: Option<Box<Affinity>>,
    conditions: Box<[PodCondition]>,
}

const NAME: usize = 0;
const NAMESPACE: usize = 1;
const UID: usize = 2;
/// The one annotation read of a stored pod ([`ANNOTATION_ROLE`]): a
/// relaunch's candidacy is checked before the pod is fetched.
const ROLE: usize = 3;
const CONTROLLER_UID: usize = 4;
const NODE_NAME: usize = 5;
const SCHEDULER_NAME: usize = 6;
const PREEMPTION_POLICY: usize = 7;
const PHASE: usize = 8;
const LABELS: usize = 9;

impl Slim {
    /// What [`PodRead`] reads of `pod`, moved out of it.
    fn of(pod: Pod) -> Self {
        // Read as the core reads a whole pod, so both forms read alike.
        let fixed = [
            pod.name(),
            pod.namespace(),
            pod.uid(),
            pod.annotation(ANNOTATION_ROLE),
            pod.controller_uid(),
            pod.node_name(),
            pod.scheduler_name(),
            pod.preemption_policy(),
            pod.phase(),
        ];
        let labels = pod.labels();
        let labels = labels.pairs().flat_map(|(k, v)| [Some(k), Some(v)]);
        let texts = Texts::new(fixed.into_iter().chain(labels));
        let meta = pod.metadata;
        let spec = pod.spec.unwrap_or_default();
        let status = pod.status.unwrap_or_default();
        Slim {
            texts,
            creation_timestamp: meta.creation_timestamp,
            deletion_timestamp: meta.deletion_timestamp,
            start_time: status.start_time,
            deletion_grace_period_seconds: meta.deletion_grace_period_seconds,
            termination_grace_period_seconds: spec.termination_grace_period_seconds,
            priority: spec.priority,
            affinity: spec.affinity.map(Box::new),
            conditions: status
                .conditions
                .into_iter()
                .flatten()
                .filter(|c| KEPT_CONDITIONS.contains(&c.type_.as_str()))
                .collect(),
        }
    }

    fn text(&self, i: usize) -> Option<&str> {
        self.texts.get(i)
    }

    fn owned(&self, i: usize) -> Option<String> {
        self.text(i).map(str::to_owned)
    }

    /// The metadata it keeps, as a pod's.
    fn metadata(&self) -> ObjectMeta {
        let labels = self.labels();
        ObjectMeta {
            name: self.owned(NAME),
            namespace: self.owned(NAMESPACE),
            uid: self.owned(UID),
            labels: (!labels.is_empty()).then(|| {
                labels
                    .pairs()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            }),
            annotations: self
                .text(ROLE)
                .map(|r| [(ANNOTATION_ROLE.to_owned(), r.to_owned())].into()),
            owner_references: self.text(CONTROLLER_UID).map(|uid| {
                vec![OwnerReference {
                    controller: Some(true),
                    uid: uid.to_owned(),
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
            node_name: self.owned(NODE_NAME),
            scheduler_name: self.owned(SCHEDULER_NAME),
            priority: self.priority,
            preemption_policy: self.owned(PREEMPTION_POLICY),
            termination_grace_period_seconds: self.termination_grace_period_seconds,
            affinity: self.affinity.as_deref().cloned(),
            ..spec
        }
    }

    /// `status` with the fields kept here set as they are here.
    fn status_onto(&self, status: PodStatus) -> PodStatus {
        PodStatus {
            phase: self.owned(PHASE),
            start_time: self.start_time.clone(),
            conditions: (!self.conditions.is_empty()).then(|| self.conditions.to_vec()),
            ..status
        }
    }
}

impl StoredPod {
    /// The pod, whole: it may be launched. Its managed fields go: the API
    /// server's bookkeeping of field owners, often the largest part of a
    /// pod, read by neither the core nor the executor.
    pub fn new(mut pod: Pod) -> Self {
        pod.metadata.managed_fields = None;
        let json = encode(&pod);
        StoredPod(Form::Whole(Box::new(Whole {
            read: Slim::of(pod),
            json,
        })))
    }

    /// What [`PodRead`] reads of `pod`, and no more: for a pod that is not
    /// to be launched ([`StoredPod::whole`] then lacks its containers).
    pub fn slim(pod: Pod) -> Self {
        StoredPod(Form::Slim(Box::new(Slim::of(pod))))
    }

    /// Whether [`StoredPod::whole`] is the whole pod (not slim).
    pub fn has_whole(&self) -> bool {
        matches!(self.0, Form::Whole(_))
    }

    /// The whole pod, for placing it; `None` for a slim pod (and, logged,
    /// should its bytes not decode).
    pub fn to_place(&self) -> Option<Pod> {
        match &self.0 {
            Form::Whole(w) => w.decode(),
            Form::Slim(_) => None,
        }
    }

    /// Keeps only what [`PodRead`] reads: the pod's task is launched.
    pub fn make_slim(&mut self) {
        if let Form::Whole(w) = &mut self.0 {
            let read = std::mem::take(&mut w.read);
            self.0 = Form::Slim(Box::new(read));
        }
    }

    /// Makes the pod whole (again) from `fetched` (the same pod as the API
    /// server has it now). What [`PodRead`] reads stays as the pod's events
    /// made it, as a fetched copy may be older than the last event; the
    /// rest (containers, volumes, annotations, the spec's scheduling fields)
    /// is the fetched copy's.
    pub fn fill(&mut self, mut fetched: Pod) {
        let kept = self.read_kept();
        let conditions = kept.conditions.clone();
        let meta = kept.metadata();
        fetched.metadata.labels = meta.labels;
        if meta.deletion_timestamp.is_some() {
            fetched.metadata.deletion_timestamp = meta.deletion_timestamp;
            fetched.metadata.deletion_grace_period_seconds = meta.deletion_grace_period_seconds;
        }
        fetched.spec = Some(kept.spec_onto(fetched.spec.unwrap_or_default()));
        // The whole pod keeps the fetched copy's conditions, as for any
        // pod; those read here stay as the events made them.
        let mut status = fetched.status.unwrap_or_default();
        let fetched_conditions = status.conditions.take();
        let mut status = kept.status_onto(status);
        status.conditions = fetched_conditions;
        fetched.status = Some(status);
        let mut whole = StoredPod::new(fetched);
        if let Form::Whole(w) = &mut whole.0 {
            w.read.conditions = conditions;
        }
        *self = whole;
    }

    /// The whole pod, decoded. The bytes are our own serialization, so
    /// decoding them cannot fail short of a bug; should it, what
    /// [`PodRead`] reads is returned and the failure logged. A slim pod
    /// comes back as what it keeps.
    pub fn whole(&self) -> Pod {
        match &self.0 {
            Form::Whole(w) => w.decode().unwrap_or_else(|| w.read.to_pod()),
            Form::Slim(s) => s.to_pod(),
        }
    }

    fn read_kept(&self) -> &Slim {
        match &self.0 {
            Form::Whole(w) => &w.read,
            Form::Slim(s) => s,
        }
    }

    fn read(&self) -> &dyn PodRead {
        self.read_kept()
    }
}

impl Whole {
    fn decode(&self) -> Option<Pod> {
        serde_json::from_slice(&self.json)
            .inspect_err(|e| error!(error = %e, pod = ?self.read.name(), "decoding a stored pod"))
            .ok()
    }
}

impl PodRead for Slim {
    fn name(&self) -> Option<&str> {
        self.text(NAME)
    }
    fn namespace(&self) -> Option<&str> {
        self.text(NAMESPACE)
    }
    fn uid(&self) -> Option<&str> {
        self.text(UID)
    }
    fn labels(&self) -> Labels<'_> {
        Labels::Packed {
            texts: &self.texts,
            from: LABELS,
        }
    }
    fn annotation(&self, key: &str) -> Option<&str> {
        (key == ANNOTATION_ROLE).then(|| self.text(ROLE))?
    }
    fn controller_uid(&self) -> Option<&str> {
        self.text(CONTROLLER_UID)
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
        self.text(NODE_NAME)
    }
    fn scheduler_name(&self) -> Option<&str> {
        self.text(SCHEDULER_NAME)
    }
    fn priority(&self) -> Option<i32> {
        self.priority
    }
    fn preemption_policy(&self) -> Option<&str> {
        self.text(PREEMPTION_POLICY)
    }
    fn termination_grace_period_seconds(&self) -> Option<i64> {
        self.termination_grace_period_seconds
    }
    fn affinity(&self) -> Option<&Affinity> {
        self.affinity.as_deref()
    }
    fn phase(&self) -> Option<&str> {
        self.text(PHASE)
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

/// The pod as JSON. Serializing k8s-openapi types cannot fail: every map
/// has string keys. Were it to, the failure is logged and the pod is not
/// placed.
fn encode(pod: &Pod) -> Box<[u8]> {
    match serde_json::to_vec(pod) {
        Ok(bytes) => bytes.into_boxed_slice(),
        Err(e) => {
            error!(error = %e, pod = ?pod.metadata.name, "encoding a pod");
            Box::default()
        }
    }
}

/// The pod conditions the core reads: a preemption's mark on its victims.
/// A running pod carries four others (PodScheduled, Initialized,
/// ContainersReady, Ready) that only the executor's status writes use.
const KEPT_CONDITIONS: &[&str] = &["DisruptionTarget"];

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
        assert_eq!(stored.priority(), Some(7));
        assert_eq!(stored.scheduler_name(), Some("kube-mesos"));
        assert_eq!(stored.labels().get("app"), Some("web"));
        assert_eq!(stored.phase(), Some("Running"));
        assert_eq!(stored.annotation(ANNOTATION_ROLE), Some("analytics"));
        let conditions = stored.conditions();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].type_, "DisruptionTarget");

        let mut expected = original;
        expected.metadata.managed_fields = None;
        assert_eq!(stored.whole(), expected);
        assert_eq!(stored.to_place(), Some(expected));
        let Form::Whole(w) = &stored.0 else {
            panic!("not whole")
        };
        let json = String::from_utf8(w.json.to_vec()).unwrap();
        assert!(!json.contains("managedFields") && json.contains("containers"));
    }

    #[test]
    fn pods_without_spec_status_or_annotations_come_back_as_they_were() {
        let bare = Pod::default();
        let stored = StoredPod::new(bare.clone());
        assert_eq!(stored.whole(), bare);
        assert_eq!(stored.to_place(), Some(bare));
    }

    #[test]
    fn bytes_that_do_not_decode_leave_the_pod_unplaced_not_the_core_down() {
        let mut stored = StoredPod::new(pod());
        if let Form::Whole(w) = &mut stored.0 {
            w.json = b"{garbled".to_vec().into_boxed_slice();
        }
        assert_eq!(stored.to_place(), None);
        let kept = stored.whole();
        assert_eq!(kept.metadata.name.as_deref(), Some("web"));
        assert!(kept.spec.unwrap().containers.is_empty());
    }

    /// Every field [`PodRead`] gives, as one value to compare; of the
    /// annotations the one a slim pod keeps.
    fn reads(p: &impl PodRead) -> String {
        let labels: Vec<(String, String)> = p
            .labels()
            .pairs()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
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
        for p in [&whole, &slim] {
            assert_eq!(
                p.annotation("kube-mesos.io/task-id"),
                None,
                "a stored pod reads only the annotation read of a stored pod"
            );
        }
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
