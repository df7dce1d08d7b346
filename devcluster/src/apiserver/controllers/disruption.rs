//! The disruption controller (`pkg/controller/disruption`): keeps each
//! PodDisruptionBudget's `status` current as its pods come, go and turn
//! Ready — `expectedPods`, `desiredHealthy`, `currentHealthy`,
//! `disruptionsAllowed`, `observedGeneration` and the `DisruptionAllowed`
//! condition (`SufficientPods` / `InsufficientPods`).
//!
//! A real cluster's readers depend on it: `kubectl get pdb` shows
//! "ALLOWED DISRUPTIONS" from it, and kube-scheduler's preemption (the
//! framework's too) prefers victims by `status.disruptionsAllowed`. The
//! counting is the eviction subresource's ([`crate::apiserver::eviction`]),
//! so that both agree; its simplification (the expected count is the pods
//! selected, not the controllers' scale) holds here as well. The
//! controller does not track `disruptedPods`: the devcluster's evictions
//! delete at once, so an evicted pod is already not healthy.

use serde_json::{json, Value};

use super::super::eviction::{budget, selected};
use super::client::Action;
use super::meta::{self, Clock};

/// The condition type kube-controller-manager writes.
pub const CONDITION_DISRUPTION_ALLOWED: &str = "DisruptionAllowed";

/// One pass over one budget; `pods` may hold other namespaces' pods. A
/// status update when what it says has changed.
pub fn reconcile(pdb: &Value, pods: &[Value], clock: &Clock) -> Option<Action> {
    if meta::deleting(pdb) {
        return None;
    }
    let b = budget(pdb, &selected(pdb, pods));
    let generation = meta::int(&pdb["metadata"]["generation"]);
    let cur = &pdb["status"];
    let (status, reason) = if b.disruptions_allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let old = meta::condition(cur, CONDITION_DISRUPTION_ALLOWED);
    // `apimeta.SetStatusCondition`: the transition time moves only when
    // the status does.
    let since = old
        .filter(|c| c["status"] == status)
        .map(|c| c["lastTransitionTime"].clone())
        .unwrap_or_else(|| json!(clock.text));
    let condition = json!({
        "type": CONDITION_DISRUPTION_ALLOWED,
        "status": status,
        "reason": reason,
        "message": "",
        "observedGeneration": generation,
        "lastTransitionTime": since,
    });
    let unchanged = meta::int(&cur["expectedPods"]) == b.expected
        && meta::int(&cur["desiredHealthy"]) == b.desired_healthy
        && meta::int(&cur["currentHealthy"]) == b.current_healthy
        && meta::int(&cur["disruptionsAllowed"]) == b.disruptions_allowed
        && meta::int(&cur["observedGeneration"]) == generation
        && !cur["disruptionsAllowed"].is_null()
        && old == Some(&condition);
    if unchanged {
        return None;
    }
    let mut next = pdb.clone();
    let mut conditions: Vec<Value> = cur["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] != CONDITION_DISRUPTION_ALLOWED)
        .cloned()
        .collect();
    conditions.push(condition);
    next["status"] = json!({
        "expectedPods": b.expected,
        "desiredHealthy": b.desired_healthy,
        "currentHealthy": b.current_healthy,
        "disruptionsAllowed": b.disruptions_allowed,
        "observedGeneration": generation,
        "conditions": conditions,
    });
    Some(Action::UpdateStatus(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, app: &str, ready: bool) -> Value {
        json!({
            "metadata": {"namespace": ns, "labels": {"app": app}},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}],
            },
        })
    }

    fn pdb(min_available: i64) -> Value {
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"namespace": "ns", "name": "web", "generation": 1},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "web"}}},
        })
    }

    fn status_of(action: Option<Action>) -> Value {
        match action {
            Some(Action::UpdateStatus(obj)) => obj["status"].clone(),
            other => panic!("want a status update, got {other:?}"),
        }
    }

    #[test]
    fn counts_the_selected_pods_of_the_namespace() {
        let pods = vec![
            pod("ns", "web", true),
            pod("ns", "web", true),
            pod("ns", "web", false),
            pod("ns", "db", true),
            pod("other", "web", true),
        ];
        let s = status_of(reconcile(&pdb(1), &pods, &Clock::at(100)));
        assert_eq!(s["expectedPods"], 3);
        assert_eq!(s["desiredHealthy"], 1);
        assert_eq!(s["currentHealthy"], 2);
        assert_eq!(s["disruptionsAllowed"], 1);
        assert_eq!(s["observedGeneration"], 1);
        let c = &s["conditions"][0];
        assert_eq!(
            (&c["type"], &c["status"], &c["reason"]),
            (
                &json!("DisruptionAllowed"),
                &json!("True"),
                &json!("SufficientPods")
            )
        );
        assert_eq!(c["lastTransitionTime"], "1970-01-01T00:01:40Z");
    }

    #[test]
    fn writes_only_when_something_changed_and_keeps_the_transition_time() {
        let pods = vec![pod("ns", "web", true), pod("ns", "web", true)];
        let mut b = pdb(2);
        b["status"] = status_of(reconcile(&b, &pods, &Clock::at(100)));
        assert_eq!(b["status"]["disruptionsAllowed"], 0);
        assert_eq!(b["status"]["conditions"][0]["reason"], "InsufficientPods");
        assert_eq!(reconcile(&b, &pods, &Clock::at(200)), None);
        // One more Ready pod: a disruption is allowed, the condition flips.
        let more = vec![pods[0].clone(), pods[1].clone(), pod("ns", "web", true)];
        let s = status_of(reconcile(&b, &more, &Clock::at(300)));
        assert_eq!(s["disruptionsAllowed"], 1);
        assert_eq!(
            s["conditions"][0]["lastTransitionTime"],
            "1970-01-01T00:05:00Z"
        );
        // A new generation is observed without a transition.
        b["status"] = s;
        b["metadata"]["generation"] = json!(2);
        let s = status_of(reconcile(&b, &more, &Clock::at(400)));
        assert_eq!(s["observedGeneration"], 2);
        assert_eq!(
            s["conditions"][0]["lastTransitionTime"],
            "1970-01-01T00:05:00Z"
        );
    }

    #[test]
    fn a_budget_without_pods_allows_nothing() {
        let s = status_of(reconcile(&pdb(0), &[], &Clock::at(100)));
        assert_eq!(s["expectedPods"], 0);
        assert_eq!(s["disruptionsAllowed"], 0);
    }

    #[test]
    fn deleted_and_terminal_pods_are_not_healthy() {
        let mut deleting = pod("ns", "web", true);
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let mut done = pod("ns", "web", true);
        done["status"]["phase"] = json!("Succeeded");
        let pods = vec![pod("ns", "web", true), deleting, done];
        let s = status_of(reconcile(&pdb(1), &pods, &Clock::at(100)));
        assert_eq!(s["expectedPods"], 2);
        assert_eq!(s["currentHealthy"], 1);
        assert_eq!(s["disruptionsAllowed"], 0);
    }
}
