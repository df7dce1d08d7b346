//! Pod predicates the controllers count with (`controller.FilterActivePods`,
//! `podutil.IsPodReady` / `IsPodAvailable`), the order in which surplus pods
//! are deleted (`controller.ActivePods`' ranking), and a pod built from a
//! template (`controller.GetPodFromTemplate`).

use std::cmp::Ordering;

use serde_json::{json, Value};

use super::meta::{self, condition, secs_of};

/// Succeeded or Failed.
pub fn is_terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

/// Neither terminal nor being deleted: it counts towards replicas.
pub fn is_active(pod: &Value) -> bool {
    !is_terminal(pod) && !meta::deleting(pod)
}

/// The pod's Ready condition is True.
pub fn is_ready(pod: &Value) -> bool {
    condition(&pod["status"], "Ready").is_some_and(|c| c["status"] == "True")
}

/// Ready for at least `min_ready_secs` at `now`.
pub fn is_available(pod: &Value, min_ready_secs: i64, now: i64) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_secs <= 0 {
        return true;
    }
    let since = condition(&pod["status"], "Ready").and_then(|c| secs_of(&c["lastTransitionTime"]));
    since.is_some_and(|t| t + min_ready_secs <= now)
}

fn phase_rank(pod: &Value) -> u8 {
    match pod["status"]["phase"].as_str() {
        Some("Pending") => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

fn restarts(pod: &Value) -> i64 {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| meta::int(&c["restartCount"]))
        .max()
        .unwrap_or(0)
}

/// `ActivePods.Less`: the pod to delete first sorts first — unassigned
/// before assigned, Pending before Unknown before Running, not ready before
/// ready, ready for less time before longer, more restarts before fewer,
/// newer before older.
pub fn deletion_order(a: &Value, b: &Value) -> Ordering {
    let assigned = |p: &Value| {
        !p["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    };
    let ready_since = |p: &Value| {
        condition(&p["status"], "Ready").and_then(|c| secs_of(&c["lastTransitionTime"]))
    };
    assigned(a)
        .cmp(&assigned(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(is_ready(a).cmp(&is_ready(b)))
        .then_with(|| {
            if is_ready(a) && is_ready(b) {
                // Later transition = ready for less time = first.
                ready_since(b).cmp(&ready_since(a))
            } else {
                Ordering::Equal
            }
        })
        .then(restarts(b).cmp(&restarts(a)))
        .then_with(|| meta::by_creation(b, a))
}

/// A new pod from `template` controlled by `owner`, named
/// `<prefix>-<random>` by the server (`generateName`).
pub fn from_template(template: &Value, owner: &Value, prefix: &str) -> Value {
    let tm = &template["metadata"];
    let mut md = json!({
        "generateName": format!("{prefix}-"),
        "namespace": meta::namespace(owner),
        "ownerReferences": [meta::controller_ref(owner)],
    });
    for key in ["labels", "annotations", "finalizers"] {
        if !tm[key].is_null() {
            md[key] = tm[key].clone();
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template["spec"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: &str, phase: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name, "creationTimestamp": "2025-01-01T00:00:00Z"},
               "spec": {"nodeName": node},
               "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}, "lastTransitionTime": "2025-01-01T00:00:10Z"}]}})
    }

    #[test]
    fn unassigned_pending_and_unready_pods_go_first() {
        let mut pods = [
            pod("running", "n", "Running", true),
            pod("unready", "n", "Running", false),
            pod("pending", "n", "Pending", false),
            pod("unassigned", "", "Pending", false),
        ];
        pods.sort_by(deletion_order);
        let names: Vec<&str> = pods.iter().map(meta::name).collect();
        assert_eq!(names, ["unassigned", "pending", "unready", "running"]);
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let p = pod("p", "n", "Running", true);
        let ready_at = secs_of(&json!("2025-01-01T00:00:10Z")).unwrap();
        assert!(is_available(&p, 0, ready_at));
        assert!(!is_available(&p, 5, ready_at + 4));
        assert!(is_available(&p, 5, ready_at + 5));
        assert!(!is_active(&json!({"status": {"phase": "Succeeded"}})));
    }
}
