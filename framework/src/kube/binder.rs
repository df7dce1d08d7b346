//! The pod writes the core asks for.
//!
//! - Bind: one POST of `pods/{name}/binding` as kube-scheduler does, with
//!   the placement annotations in the Binding's metadata and the pod's UID
//!   as precondition: kube-apiserver sets `nodeName` and merges the
//!   annotations in one atomic update (`BindingREST.setPodNodeAndMetadata`),
//!   so a bound pod always names its task and a restarted framework can find
//!   it — with one request per pod instead of a patch and a Binding. A 409
//!   means the pod is bound already (or was replaced):
//!   [`BindOutcome::Conflict`].
//! - SetPodUnschedulable / FailPod: strategic-merge patches of `pods/status`,
//!   the patch type kube-scheduler's `PatchPodStatus` uses, so the
//!   `conditions` list merges by `type` instead of being replaced. A failed
//!   pod's status is made whole as the kubelet's status manager keeps it:
//!   no ready condition and no container left running or ready in a
//!   `Failed` pod (`failed_patch`).
//!
//! - EvictPod: the `DisruptionTarget` condition, then a DELETE, as
//!   kube-scheduler's preemption does; NominatePod: `nominatedNodeName`.
//!
//! Every write names the pod's UID, so a pod deleted and recreated under the
//! same name is never touched by decisions made for its predecessor.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Binding, Container, ContainerState, ContainerStateTerminated, ContainerStatus, ObjectReference,
    Pod,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;

use super::{is_status, KubeError, Result};
use crate::core::{BindOutcome, PodRef};

/// Writes to pods on behalf of the core.
#[derive(Clone)]
pub struct PodWriter {
    client: kube::Client,
}

impl PodWriter {
    /// A writer over `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    fn pods(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Patches annotations onto the pod (merge patch with a UID check).
    pub async fn annotate(
        &self,
        pod: &PodRef,
        annotations: &BTreeMap<String, String>,
    ) -> Result<()> {
        let patch = json!({ "metadata": { "uid": pod.uid, "annotations": annotations } });
        self.pods(&pod.namespace)
            .patch(&pod.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(|source| KubeError::AnnotatePodFailed {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                source,
            })
    }

    /// Binds the pod to `node_name` with `annotations` (one atomic update);
    /// the outcome for `Input::BindResult`.
    pub async fn bind(
        &self,
        pod: &PodRef,
        node_name: &str,
        annotations: &BTreeMap<String, String>,
    ) -> BindOutcome {
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(pod.name.clone()),
                namespace: Some(pod.namespace.clone()),
                uid: Some(pod.uid.clone()),
                annotations: Some(annotations.clone()),
                ..ObjectMeta::default()
            },
            target: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node_name.to_string()),
                ..ObjectReference::default()
            },
        };
        let result: std::result::Result<serde_json::Value, kube::Error> = self
            .pods(&pod.namespace)
            .create_subresource("binding", &pod.name, &PostParams::default(), &binding)
            .await;
        match result {
            Ok(_) => BindOutcome::Bound,
            Err(source) => outcome_of(KubeError::BindPodFailed {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                source,
            }),
        }
    }

    /// Sets `PodScheduled=False`, reason `Unschedulable`, as kube-scheduler
    /// does for a pod that fits nowhere.
    pub async fn set_unschedulable(
        &self,
        pod: &PodRef,
        message: &str,
        now: jiff::Timestamp,
    ) -> Result<()> {
        self.patch_status(pod, unschedulable_patch(&pod.uid, message, now))
            .await
    }

    /// The pod as the API server has it now; `None` when it is gone or was
    /// replaced (another UID under its name).
    pub async fn get(&self, pod: &PodRef) -> Result<Option<Pod>> {
        let found = self
            .pods(&pod.namespace)
            .get_opt(&pod.name)
            .await
            .map_err(|source| KubeError::GetPodFailed {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                source,
            })?;
        Ok(found.filter(|p| p.metadata.uid.as_deref() == Some(pod.uid.as_str())))
    }

    /// Fails the pod (`status.phase=Failed` with reason and message, the
    /// rest of its status consistent with it). The containers whose
    /// statuses are made consistent are read from the pod as the API
    /// server has it; `last_known` (the pod as last seen, which the core
    /// may keep without its containers) stands in when that read fails.
    pub async fn fail(
        &self,
        pod: &PodRef,
        reason: &str,
        message: &str,
        last_known: &Pod,
        now: jiff::Timestamp,
    ) -> Result<()> {
        let current = match self.get(pod).await {
            Ok(current) => current,
            Err(error) => {
                tracing::info!(%error, "failing a pod from its last known state");
                None
            }
        };
        let seen = current.as_ref().unwrap_or(last_known);
        self.patch_status(pod, failed_patch(&pod.uid, seen, reason, message, now))
            .await
    }

    /// Sets one pod condition.
    pub async fn set_condition(
        &self,
        pod: &PodRef,
        condition: &Condition<'_>,
        now: jiff::Timestamp,
    ) -> Result<()> {
        self.patch_status(pod, condition_patch(&pod.uid, condition, now))
            .await
    }

    /// Undoes [`PodWriter::fail`]: the pod's task is back.
    pub async fn recover(
        &self,
        pod: &PodRef,
        phase: &str,
        message: &str,
        now: jiff::Timestamp,
    ) -> Result<()> {
        self.patch_status(pod, recovered_patch(&pod.uid, phase, message, now))
            .await
    }

    /// Evicts a pod for a preemption as kube-scheduler does: the
    /// `DisruptionTarget` condition first, then a DELETE with the pod's own
    /// grace period and its UID as precondition. A pod already gone is not
    /// an error.
    pub async fn preempt_victim(
        &self,
        pod: &PodRef,
        message: &str,
        now: jiff::Timestamp,
    ) -> Result<()> {
        self.patch_status(pod, disruption_patch(&pod.uid, message, now))
            .await?;
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(pod.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.pods(&pod.namespace).delete(&pod.name, &params).await {
            Ok(_) => Ok(()),
            Err(source) if is_status(&source, 404) => Ok(()),
            Err(source) => Err(KubeError::DeletePodFailed {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                source,
            }),
        }
    }

    /// Sets `status.nominatedNodeName`.
    pub async fn nominate(&self, pod: &PodRef, node_name: &str) -> Result<()> {
        let patch =
            json!({ "metadata": { "uid": pod.uid }, "status": { "nominatedNodeName": node_name } });
        self.patch_status(pod, patch).await
    }

    async fn patch_status(&self, pod: &PodRef, patch: serde_json::Value) -> Result<()> {
        self.pods(&pod.namespace)
            .patch_status(
                &pod.name,
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
            .map(drop)
            .map_err(|source| KubeError::PatchPodStatusFailed {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                source,
            })
    }
}

/// Maps a failed bind to the core's outcome: 409 is a conflict, anything
/// else a failure with the error's text.
pub fn outcome_of(error: KubeError) -> BindOutcome {
    let conflict = match &error {
        KubeError::AnnotatePodFailed { source, .. } | KubeError::BindPodFailed { source, .. } => {
            is_status(source, 409)
        }
        _ => false,
    };
    if conflict {
        BindOutcome::Conflict
    } else {
        let mut text = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        BindOutcome::Failed(text)
    }
}

/// The `pods/status` patch of an unschedulable pod (kube-scheduler's
/// condition: type PodScheduled, status False, reason Unschedulable).
pub fn unschedulable_patch(uid: &str, message: &str, now: jiff::Timestamp) -> serde_json::Value {
    json!({
        "metadata": { "uid": uid },
        "status": {
            "conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": null,
                "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            }]
        }
    })
}

/// The `pods/status` patch of a preemption's victim (kube-scheduler's
/// condition: type DisruptionTarget, status True, reason
/// PreemptionByScheduler).
pub fn disruption_patch(uid: &str, message: &str, now: jiff::Timestamp) -> serde_json::Value {
    condition_patch(
        uid,
        &Condition {
            type_: "DisruptionTarget",
            status: true,
            reason: "PreemptionByScheduler",
            message,
        },
        now,
    )
}

/// One pod condition the framework writes.
#[derive(Debug, Clone, Copy)]
pub struct Condition<'a> {
    /// `type`.
    pub type_: &'a str,
    /// `True` or `False`.
    pub status: bool,
    /// `reason`.
    pub reason: &'a str,
    /// `message`.
    pub message: &'a str,
}

fn condition_json(c: &Condition<'_>, now: jiff::Timestamp) -> serde_json::Value {
    json!({
        "type": c.type_,
        "status": if c.status { "True" } else { "False" },
        "reason": c.reason,
        "message": c.message,
        "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

/// The `pods/status` patch that sets one condition (merged by `type`).
pub fn condition_patch(uid: &str, c: &Condition<'_>, now: jiff::Timestamp) -> serde_json::Value {
    json!({
        "metadata": { "uid": uid },
        "status": { "conditions": [condition_json(c, now)] }
    })
}

/// The `pods/status` patch that takes a failed pod back: its phase from its
/// task, the failure's reason and message removed, `NodeReachable=True`.
pub fn recovered_patch(
    uid: &str,
    phase: &str,
    message: &str,
    now: jiff::Timestamp,
) -> serde_json::Value {
    let condition = Condition {
        type_: crate::task_status::CONDITION_NODE_REACHABLE,
        status: true,
        reason: crate::task_status::REASON_TASK_RECOVERED,
        message,
    };
    json!({
        "metadata": { "uid": uid },
        "status": {
            "phase": phase,
            "reason": null,
            "message": null,
            "conditions": [condition_json(&condition, now)],
        }
    })
}

/// Kubelet's reason of `Ready`/`ContainersReady` in a failed pod.
const POD_FAILED: &str = "PodFailed";
/// Exit code of a container the kubelet could not see end (kubelet's 137
/// for `ContainerStatusUnknown`).
const UNKNOWN_EXIT_CODE: i32 = 137;

/// The `pods/status` patch of a pod the framework fails: phase `Failed`
/// with reason and message, `Ready` and `ContainersReady` false (reason
/// `PodFailed`, as the kubelet writes them for a failed pod), and every
/// container of `pod` that is not terminated yet terminated with the same
/// reason and message (exit code 137, not ready, not started), as the
/// kubelet does for containers it cannot see end. Container status lists
/// have no merge key: they are sent whole.
pub fn failed_patch(
    uid: &str,
    pod: &Pod,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> serde_json::Value {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let terminated = |containers: &[Container], statuses: Option<&Vec<ContainerStatus>>| {
        containers
            .iter()
            .map(|c| {
                let last = statuses.and_then(|s| s.iter().find(|s| s.name == c.name));
                terminated_status(c, last, reason, message, now)
            })
            .collect::<Vec<_>>()
    };
    let mut body = json!({
        "phase": "Failed",
        "reason": reason,
        "message": message,
        "conditions": [
            condition_json(&Condition { type_: "Ready", status: false, reason: POD_FAILED, message: "" }, now),
            condition_json(&Condition { type_: "ContainersReady", status: false, reason: POD_FAILED, message: "" }, now),
        ],
        "containerStatuses": terminated(&spec.containers, status.container_statuses.as_ref()),
    });
    if let Some(init) = spec.init_containers.as_ref().filter(|i| !i.is_empty()) {
        body["initContainerStatuses"] =
            json!(terminated(init, status.init_container_statuses.as_ref()));
    }
    json!({ "metadata": { "uid": uid }, "status": body })
}

/// A container's status in a failed pod: as it was if it had terminated,
/// else terminated now with the pod's failure.
fn terminated_status(
    container: &Container,
    last: Option<&ContainerStatus>,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> ContainerStatus {
    let mut status = last.cloned().unwrap_or_else(|| ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        ..ContainerStatus::default()
    });
    let state = status.state.clone().unwrap_or_default();
    if state.terminated.is_none() {
        status.state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: UNKNOWN_EXIT_CODE,
                reason: Some(reason.to_owned()),
                message: Some(message.to_owned()),
                started_at: state.running.and_then(|r| r.started_at),
                finished_at: Some(Time(now)),
                container_id: status.container_id.clone(),
                signal: None,
            }),
            ..ContainerState::default()
        });
    }
    status.ready = false;
    status.started = Some(false);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unschedulable_patch_has_kube_scheduler_condition() {
        let now: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let p = unschedulable_patch("u1", "0/1 nodes are available: 1 Insufficient cpu.", now);
        let c = &p["status"]["conditions"][0];
        assert_eq!(c["type"], "PodScheduled");
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "Unschedulable");
        assert_eq!(c["lastTransitionTime"], "2026-01-02T03:04:05Z");
        assert_eq!(p["metadata"]["uid"], "u1");
    }

    #[test]
    fn condition_patch_merges_one_condition_by_type() {
        let now: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let c = Condition {
            type_: "kube-mesos.io/NodeReachable",
            status: false,
            reason: "NodeUnknown",
            message: "Mesos reported TASK_UNKNOWN",
        };
        let p = condition_patch("u1", &c, now);
        let c = &p["status"]["conditions"][0];
        assert_eq!(c["type"], "kube-mesos.io/NodeReachable");
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "NodeUnknown");
        assert_eq!(c["lastTransitionTime"], "2026-01-02T03:04:05Z");
        assert_eq!(p["metadata"]["uid"], "u1");
        assert!(p["status"].get("phase").is_none());
    }

    #[test]
    fn recovered_patch_restores_the_phase_and_clears_the_failure() {
        let now: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let p = recovered_patch("u1", "Running", "back", now);
        assert_eq!(p["status"]["phase"], "Running");
        assert!(p["status"]["reason"].is_null());
        assert!(p["status"]["message"].is_null());
        let c = &p["status"]["conditions"][0];
        assert_eq!(
            (c["type"].as_str(), c["status"].as_str()),
            (Some("kube-mesos.io/NodeReachable"), Some("True"))
        );
    }

    fn running_pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": { "name": "p", "uid": "u1" },
            "spec": {
                "initContainers": [{ "name": "init", "image": "busybox" }],
                "containers": [
                    { "name": "main", "image": "busybox" },
                    { "name": "side", "image": "busybox" },
                    { "name": "new", "image": "busybox" },
                ],
            },
            "status": {
                "phase": "Running",
                "conditions": [{ "type": "Ready", "status": "True" }],
                "initContainerStatuses": [{
                    "name": "init", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
                    "state": { "terminated": { "exitCode": 0, "reason": "Completed" } },
                }],
                "containerStatuses": [
                    {
                        "name": "main", "image": "busybox", "imageID": "i", "ready": true, "started": true,
                        "restartCount": 2, "containerID": "process://c1",
                        "state": { "running": { "startedAt": "2026-01-02T03:00:00Z" } },
                    },
                    {
                        "name": "side", "image": "busybox", "imageID": "i", "ready": false, "restartCount": 0,
                        "state": { "terminated": { "exitCode": 3, "reason": "Error" } },
                    },
                ],
            },
        }))
        .unwrap()
    }

    #[test]
    fn failed_patch_leaves_nothing_running_or_ready() {
        let now: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let p = failed_patch(
            "u1",
            &running_pod(),
            "ExecutorLost",
            "Mesos reported TASK_FAILED",
            now,
        );
        assert_eq!(p["metadata"]["uid"], "u1");
        let s = &p["status"];
        assert_eq!(s["phase"], "Failed");
        assert_eq!(s["reason"], "ExecutorLost");
        assert_eq!(s["message"], "Mesos reported TASK_FAILED");
        for c in s["conditions"].as_array().unwrap() {
            assert_eq!(
                (c["status"].as_str(), c["reason"].as_str()),
                (Some("False"), Some("PodFailed")),
                "{c}"
            );
        }
        let types: Vec<&str> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(types, ["Ready", "ContainersReady"]);
        let containers = s["containerStatuses"].as_array().unwrap();
        assert_eq!(containers.len(), 3);
        let main = &containers[0];
        assert_eq!(main["name"], "main");
        assert_eq!(main["ready"], false);
        assert_eq!(main["started"], false);
        assert_eq!(main["restartCount"], 2);
        assert!(main["state"].get("running").is_none(), "{main}");
        let t = &main["state"]["terminated"];
        assert_eq!(t["exitCode"], 137);
        assert_eq!(t["reason"], "ExecutorLost");
        assert_eq!(t["message"], "Mesos reported TASK_FAILED");
        assert_eq!(t["startedAt"], "2026-01-02T03:00:00Z");
        assert_eq!(t["finishedAt"], "2026-01-02T03:04:05Z");
        assert_eq!(t["containerID"], "process://c1");
        // A container that had ended keeps its own termination.
        assert_eq!(containers[1]["state"]["terminated"]["reason"], "Error");
        // One the pod never reported is terminated all the same.
        assert_eq!(containers[2]["name"], "new");
        assert_eq!(
            containers[2]["state"]["terminated"]["reason"],
            "ExecutorLost"
        );
        assert_eq!(
            s["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
    }

    #[test]
    fn disruption_patch_is_kube_schedulers_preemption_condition() {
        let now: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let p = disruption_patch("u1", "kube-mesos: preempting", now);
        let c = &p["status"]["conditions"][0];
        assert_eq!(c["type"], "DisruptionTarget");
        assert_eq!(c["status"], "True");
        assert_eq!(c["reason"], "PreemptionByScheduler");
        assert_eq!(p["metadata"]["uid"], "u1");
    }
}
