//! `pods/status` as the kubelet writes it, and the final pod deletion.
//!
//! One writer task per pod follows the pod worker's status snapshots (a
//! `watch` channel, so a slow API server only ever sees the latest one and
//! the worker never waits). A snapshot is written only when it differs from
//! what was last written, as a strategic merge patch carrying the pod's UID
//! (the kubelet's `PatchPodStatus`): conditions merge by type, so
//! conditions the kubelet does not own (PodScheduled, readiness gates,
//! DisruptionTarget) stay; fields that disappeared are sent as `null`.
//! Failures are retried with [`Backoff`]; a 404 or a UID mismatch (409)
//! ends the writer: the pod is gone.
//!
//! After a pod has terminated and its final status is written, a pod that
//! is being deleted (`deletionTimestamp` set) is removed with grace period
//! 0 and a UID precondition, exactly as the kubelet's status manager does,
//! so the API server never removes a newer pod of the same name.

use k8s_openapi::api::core::v1 as core;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::Value;
use tokio::sync::watch;

use super::{api_error, Backoff, KubeError};
use crate::runner::pod::worker::PodReport;

/// The strategic merge patch that turns `previous` into `next`, with the
/// pod's UID as a precondition.
pub fn status_patch(
    uid: &str,
    previous: Option<&core::PodStatus>,
    next: &core::PodStatus,
) -> Value {
    let mut status =
        serde_json::to_value(next).unwrap_or_else(|_| Value::Object(Default::default()));
    if let (Some(prev), Value::Object(map)) = (previous, &mut status) {
        if let Ok(Value::Object(old)) = serde_json::to_value(prev) {
            for key in old.keys() {
                if !map.contains_key(key) {
                    map.insert(key.clone(), Value::Null);
                }
            }
        }
    }
    serde_json::json!({
        "metadata": { "uid": uid },
        "status": status,
    })
}

/// Where a pod lives in the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

impl PodRef {
    /// The reference of `pod`.
    pub fn of(pod: &core::Pod) -> Self {
        Self {
            namespace: pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// How a writer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterEnd {
    /// The final (terminated) status is in the API.
    FinalStatusWritten,
    /// The pod no longer exists (or is another pod now).
    PodGone,
}

/// Patches one pod's status.
pub async fn patch_status(
    client: &kube::Client,
    pod: &PodRef,
    previous: Option<&core::PodStatus>,
    next: &core::PodStatus,
) -> Result<(), KubeError> {
    let api: kube::Api<core::Pod> = kube::Api::namespaced(client.clone(), &pod.namespace);
    let patch = status_patch(&pod.uid, previous, next);
    api.patch_status(
        &pod.name,
        &PatchParams::default(),
        &Patch::Strategic(&patch),
    )
    .await
    .map_err(api_error("patch status of pod", pod.to_string()))?;
    Ok(())
}

/// Follows `reports` and writes each new status until the final one is in
/// the API (or the pod is gone). `initial` is the status the API had when
/// the pod was launched.
pub async fn write_statuses(
    client: kube::Client,
    pod: PodRef,
    initial: Option<core::PodStatus>,
    mut reports: watch::Receiver<PodReport>,
) -> WriterEnd {
    let mut written = initial;
    let mut backoff = Backoff::default();
    let mut sender_gone = false;
    loop {
        let report = reports.borrow_and_update().clone();
        if written.as_ref() != Some(&report.status) {
            match patch_status(&client, &pod, written.as_ref(), &report.status).await {
                Ok(()) => {
                    tracing::debug!(pod = %pod, phase = ?report.status.phase, "pod status written");
                    written = Some(report.status.clone());
                    backoff.reset();
                }
                Err(e) if matches!(e.status_code(), Some(404) | Some(409)) => {
                    tracing::info!(pod = %pod, error = %e, "pod is gone; no more status updates");
                    return WriterEnd::PodGone;
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(pod = %pod, error = %e, ?delay, "writing pod status failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        r = reports.changed(), if !sender_gone => { sender_gone = r.is_err(); }
                    }
                    continue;
                }
            }
        }
        if report.finished() {
            return WriterEnd::FinalStatusWritten;
        }
        if sender_gone {
            // The worker is gone without finishing (detached): nothing more comes.
            return WriterEnd::FinalStatusWritten;
        }
        if reports.changed().await.is_err() {
            sender_gone = true;
        }
    }
}

/// Deletes a terminated pod that is being deleted, with grace 0 and a UID
/// precondition; does nothing for a pod without `deletionTimestamp` (it
/// stays with its terminal status, as with a kubelet). Returns whether it
/// deleted.
pub async fn delete_if_terminating(client: &kube::Client, pod: &PodRef) -> Result<bool, KubeError> {
    let api: kube::Api<core::Pod> = kube::Api::namespaced(client.clone(), &pod.namespace);
    let Some(current) = api
        .get_opt(&pod.name)
        .await
        .map_err(api_error("get pod", pod.to_string()))?
    else {
        return Ok(false);
    };
    if current.metadata.uid.as_deref() != Some(pod.uid.as_str())
        || current.metadata.deletion_timestamp.is_none()
    {
        return Ok(false);
    }
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(pod.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&pod.name, &params).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(false),
        Err(e) => Err(api_error("delete pod", pod.to_string())(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_carries_the_uid_and_nulls_vanished_fields() {
        let prev = core::PodStatus {
            phase: Some("Pending".into()),
            message: Some("old".into()),
            ..Default::default()
        };
        let next = core::PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some("127.0.0.1".into()),
            ..Default::default()
        };
        let p = status_patch("u-1", Some(&prev), &next);
        assert_eq!(p["metadata"]["uid"], "u-1");
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(p["status"]["podIP"], "127.0.0.1");
        assert!(p["status"].get("message").is_some_and(Value::is_null));
        let first = status_patch("u-1", None, &next);
        assert!(first["status"].get("message").is_none());
    }
}
