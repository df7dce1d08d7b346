//! What the core and placement read of a pod, whichever form it is kept
//! in: a whole `Pod` (a pod just received from the API server) or a
//! [`super::stored_pod::StoredPod`], so the helpers that read a pod take
//! either.

use k8s_openapi::api::core::v1::{Affinity, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::placement::selector::Labels;
use crate::placement::snapshot::PodView;

/// The fields of a pod the core reads.
pub trait PodRead {
    fn name(&self) -> Option<&str>;
    fn namespace(&self) -> Option<&str>;
    fn uid(&self) -> Option<&str>;
    fn labels(&self) -> Labels<'_>;
    /// The value of annotation `key` (a stored pod whose task runs keeps
    /// only the ones read of such a pod).
    fn annotation(&self, key: &str) -> Option<&str>;
    /// The UID of the controller (ReplicaSet, Job, ...) that owns the pod.
    fn controller_uid(&self) -> Option<&str>;
    fn creation_timestamp(&self) -> Option<&Time>;
    fn deletion_timestamp(&self) -> Option<&Time>;
    fn deletion_grace_period_seconds(&self) -> Option<i64>;
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
    /// `status.conditions` (of a stored pod, only those the core reads).
    fn conditions(&self) -> &[PodCondition];

    /// The pod as placement reads a pod already on a node.
    fn view(&self) -> PodView<'_> {
        PodView {
            name: self.name(),
            namespace: self.namespace(),
            uid: self.uid(),
            labels: self.labels(),
            creation_timestamp: self.creation_timestamp(),
            deletion_timestamp: self.deletion_timestamp(),
            priority: self.priority().unwrap_or(0),
            affinity: self.affinity(),
            start_time: self.start_time(),
        }
    }
}

impl PodRead for Pod {
    fn name(&self) -> Option<&str> {
        self.metadata.name.as_deref()
    }
    fn namespace(&self) -> Option<&str> {
        self.metadata.namespace.as_deref()
    }
    fn uid(&self) -> Option<&str> {
        self.metadata.uid.as_deref()
    }
    fn labels(&self) -> Labels<'_> {
        Labels::of(self.metadata.labels.as_ref())
    }
    fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }
    fn controller_uid(&self) -> Option<&str> {
        self.metadata
            .owner_references
            .as_ref()?
            .iter()
            .find(|o| o.controller == Some(true))
            .map(|o| o.uid.as_str())
    }
    fn creation_timestamp(&self) -> Option<&Time> {
        self.metadata.creation_timestamp.as_ref()
    }
    fn deletion_timestamp(&self) -> Option<&Time> {
        self.metadata.deletion_timestamp.as_ref()
    }
    fn deletion_grace_period_seconds(&self) -> Option<i64> {
        self.metadata.deletion_grace_period_seconds
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
    /// Placement's own view of a whole pod, so there is one.
    fn view(&self) -> PodView<'_> {
        PodView::of(self)
    }
}
