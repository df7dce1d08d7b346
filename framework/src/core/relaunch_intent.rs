//! A relaunch the core has decided on, recorded on the pod so that a
//! restarted framework resumes it.
//!
//! Between a task's end (its executor died, its launch failed, an outdated
//! executor let go of it) and the launch of the pod's next generation, the
//! only trace of the relaunch is the core's memory: Mesos forgets a
//! terminal task once its update is acknowledged, and explicit
//! reconciliation of it then answers `TASK_GONE` ("unknown to the agent"),
//! which for a pod that ran means lost (`NodeLost`). A framework killed
//! during the agent's back-off would so fail an `Always` pod that only
//! waited for its relaunch. The core therefore writes the intent into the
//! pod's annotations when it schedules the relaunch: which task it
//! replaces, why, and what Mesos said.
//!
//! The intent names the task it replaces rather than being cleared once the
//! next generation runs: it holds only while the pod's task annotation
//! still names that task. The next generation's annotation makes it stale
//! by itself, so no write has to remove it and writes that land out of
//! order cannot revive it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube_mesos_node::relaunch::Reason;
use kube_mesos_proto::v1::TaskId;

/// Annotation: the task a scheduled relaunch replaces.
pub const ANNOTATION_RELAUNCH_OF: &str = "kube-mesos.io/relaunch-of";
/// Annotation: the relaunch's reason ([`Reason`]).
pub const ANNOTATION_RELAUNCH_REASON: &str = "kube-mesos.io/relaunch-reason";
/// Annotation: what Mesos said about the task it replaces.
pub const ANNOTATION_RELAUNCH_MESSAGE: &str = "kube-mesos.io/relaunch-message";

/// Longest message kept (bytes): Mesos messages are short, but an
/// annotation is not the place for an unbounded one.
const MESSAGE_MAX: usize = 1024;

/// A relaunch recorded on a pod and still due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaunchIntent {
    /// Why: a pod `status.reason` ([`Reason::as_str`]).
    pub reason: &'static str,
    /// What Mesos said about the replaced task.
    pub message: String,
}

/// The annotations recording that `replaced` is to be relaunched.
pub fn annotations(replaced: &TaskId, reason: &str, message: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ANNOTATION_RELAUNCH_OF.to_owned(), replaced.value.clone()),
        (ANNOTATION_RELAUNCH_REASON.to_owned(), reason.to_owned()),
        (
            ANNOTATION_RELAUNCH_MESSAGE.to_owned(),
            truncate(message, MESSAGE_MAX).to_owned(),
        ),
    ])
}

/// The relaunch recorded on `pod` for its task `current`, if there is one:
/// the intent names `current` and a reason the core knows.
pub fn of_pod(pod: &Pod, current: &TaskId) -> Option<RelaunchIntent> {
    let annotations = pod.metadata.annotations.as_ref()?;
    if annotations.get(ANNOTATION_RELAUNCH_OF) != Some(&current.value) {
        return None;
    }
    let reason = Reason::parse(annotations.get(ANNOTATION_RELAUNCH_REASON)?)?;
    Some(RelaunchIntent {
        reason: reason.as_str(),
        message: annotations
            .get(ANNOTATION_RELAUNCH_MESSAGE)
            .cloned()
            .unwrap_or_default(),
    })
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(v: &str) -> TaskId {
        TaskId { value: v.into() }
    }

    fn pod_with(annotations: BTreeMap<String, String>) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.annotations = Some(annotations);
        pod
    }

    #[test]
    fn an_intent_holds_while_the_pod_still_names_the_task_it_replaces() {
        let pod = pod_with(annotations(
            &task("pod.u"),
            "ExecutorLost",
            "Executor terminated",
        ));
        assert_eq!(
            of_pod(&pod, &task("pod.u")),
            Some(RelaunchIntent {
                reason: "ExecutorLost",
                message: "Executor terminated".into()
            })
        );
        // The next generation was launched: the intent is spent.
        assert_eq!(of_pod(&pod, &task("pod.u.1")), None);
    }

    #[test]
    fn an_unknown_reason_or_no_annotation_is_no_intent() {
        let pod = pod_with(annotations(&task("pod.u"), "Rebooted", "?"));
        assert_eq!(of_pod(&pod, &task("pod.u")), None);
        assert_eq!(of_pod(&Pod::default(), &task("pod.u")), None);
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let message = "é".repeat(MESSAGE_MAX);
        let a = annotations(&task("pod.u"), "LaunchFailed", &message);
        let kept = &a[ANNOTATION_RELAUNCH_MESSAGE];
        assert!(kept.len() <= MESSAGE_MAX && kept.len() >= MESSAGE_MAX - 1);
        assert!(message.starts_with(kept.as_str()));
    }
}
