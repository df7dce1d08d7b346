//! POST pods/{name}/eviction (policy/v1 Eviction), as kube-apiserver's
//! `pkg/registry/core/pod/storage/eviction.go` answers it: a graceful
//! delete, unless the pod's PodDisruptionBudget allows no disruption now —
//! then 429 TooManyRequests with the `DisruptionBudget` cause.
//!
//! A budget's `disruptionsAllowed` is computed at the eviction from the
//! pods it selects ([`selected`], [`budget`]), as `pkg/controller/disruption`
//! would: healthy pods are Ready and not being deleted; the expected count
//! is the number of pods the budget selects (the controller takes its
//! controllers' scale — the same for a ReplicaSet whose pods all exist);
//! `minAvailable` and `maxUnavailable` percentages round up. The result is
//! written to the budget's status. The devcluster's disruption controller
//! (`controllers::disruption`) keeps that status current between
//! evictions with the same two functions, so that readers of the status
//! (`kubectl get pdb`, the framework's preemption) see what a real
//! cluster's controller would write; computing again here means an
//! eviction never acts on a status the controller has not caught up with.

use serde_json::{json, Value};

use super::error::{ApiResult, StatusError};
use super::handlers::{self, DeleteOptions, Reply};
use super::label_selector;
use super::request;
use super::resources;
use super::store::{Mutation, Store};

/// kube-apiserver's message when a budget forbids the eviction.
pub const MESSAGE_VIOLATES: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";

/// The budget's numbers (`status` of a PodDisruptionBudget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Pods selected.
    pub expected: i64,
    /// Healthy pods needed.
    pub desired_healthy: i64,
    /// Healthy pods now.
    pub current_healthy: i64,
    /// `current_healthy - desired_healthy`, at least 0.
    pub disruptions_allowed: i64,
}

/// `intstr.GetScaledValueFromIntOrPercent(v, total, roundUp=true)`.
fn scaled(v: &Value, total: i64) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    let p: i64 = v.as_str()?.strip_suffix('%')?.parse().ok()?;
    Some((p * total + 99) / 100)
}

fn healthy(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The budget of `pdb` over the pods it selects.
pub fn budget(pdb: &Value, pods: &[&Value]) -> Budget {
    let expected = pods.len() as i64;
    let current_healthy = pods.iter().filter(|p| healthy(p)).count() as i64;
    let spec = &pdb["spec"];
    let desired_healthy = if !spec["maxUnavailable"].is_null() {
        (expected - scaled(&spec["maxUnavailable"], expected).unwrap_or(0)).max(0)
    } else if !spec["minAvailable"].is_null() {
        scaled(&spec["minAvailable"], expected).unwrap_or(0)
    } else {
        0
    };
    // `updatePdbStatus`: a budget that selects no pod allows nothing, so
    // its first pods are safe before the controller has counted them.
    let disruptions_allowed = if expected > 0 {
        (current_healthy - desired_healthy).max(0)
    } else {
        0
    };
    Budget {
        expected,
        desired_healthy,
        current_healthy,
        disruptions_allowed,
    }
}

/// The pods of `pdb`'s namespace that its selector selects, terminal pods
/// left out. `pods` may hold other namespaces' pods.
pub fn selected<'a>(pdb: &Value, pods: &'a [Value]) -> Vec<&'a Value> {
    let ns = pdb["metadata"]["namespace"].as_str().unwrap_or_default();
    let selector = &pdb["spec"]["selector"];
    pods.iter()
        .filter(|p| p["metadata"]["namespace"].as_str().unwrap_or_default() == ns)
        .filter(|p| label_selector::matches(selector, &p["metadata"]["labels"]))
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .collect()
}

fn ignores_budgets(pod: &Value) -> bool {
    // `canIgnorePDB`: terminal, pending, or already being deleted.
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed" | "Pending")
    ) || !pod["metadata"]["deletionTimestamp"].is_null()
}

/// POST pods/{name}/eviction.
pub fn evict(
    store: &Store,
    ns: &str,
    name: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> ApiResult<Reply> {
    let pods_rt = resources::pods();
    let eviction = request::decode_object(body, content_type)?;
    let kind = eviction["kind"].as_str().unwrap_or("Eviction");
    if kind != "Eviction" {
        return Err(StatusError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a Eviction"
        )));
    }
    let Some(pod) = store.get("pods", ns, name) else {
        return Err(StatusError::not_found(pods_rt, name));
    };
    if !ignores_budgets(&pod) {
        check_budgets(store, ns, &pod)?;
    }
    let mut opts = DeleteOptions::default();
    if let Some(g) = eviction["deleteOptions"]["gracePeriodSeconds"].as_i64() {
        opts.grace = Some(g);
    }
    opts.uid = eviction["deleteOptions"]["preconditions"]["uid"]
        .as_str()
        .map(str::to_string);
    handlers::delete(store, pods_rt, Some(ns), name, &opts)?;
    Ok(Reply {
        code: 201,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        warnings: Vec::new(),
    })
}

fn check_budgets(store: &Store, ns: &str, pod: &Value) -> ApiResult<()> {
    let labels = &pod["metadata"]["labels"];
    let (pdbs, _) = store.list("poddisruptionbudgets.policy", Some(ns));
    let matching: Vec<&Value> = pdbs
        .iter()
        .filter(|p| {
            let sel = &p["spec"]["selector"];
            !sel.is_null() && !label_selector::is_empty(sel) && label_selector::matches(sel, labels)
        })
        .collect();
    let pdb = match matching.as_slice() {
        [] => return Ok(()),
        [one] => *one,
        _ => {
            return Err(StatusError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ))
        }
    };
    let (pods, _) = store.list("pods", Some(ns));
    let b = budget(pdb, &selected(pdb, &pods));
    let pdb_name = pdb["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    write_status(store, ns, &pdb_name, b, b.disruptions_allowed > 0);
    if b.disruptions_allowed <= 0 {
        return Err(StatusError::too_many_requests(
            MESSAGE_VIOLATES,
            json!({"causes": [{
                "reason": "DisruptionBudget",
                "message": format!(
                    "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                    b.desired_healthy, b.current_healthy
                ),
            }]}),
        ));
    }
    Ok(())
}

/// The budget's status after this eviction (one disruption used when it
/// goes ahead); a failed write only leaves the status stale.
fn write_status(store: &Store, ns: &str, name: &str, b: Budget, evicting: bool) {
    let allowed = if evicting {
        b.disruptions_allowed - 1
    } else {
        b.disruptions_allowed
    };
    let _ = store.mutate("poddisruptionbudgets.policy", ns, name, |cur| {
        let Some(cur) = cur else {
            return Err(StatusError::internal("budget gone"));
        };
        let mut next = cur.clone();
        next["status"]["expectedPods"] = json!(b.expected);
        next["status"]["desiredHealthy"] = json!(b.desired_healthy);
        next["status"]["currentHealthy"] = json!(b.current_healthy);
        next["status"]["disruptionsAllowed"] = json!(allowed);
        next["status"]["observedGeneration"] = cur["metadata"]["generation"].clone();
        Ok(Mutation::Put(next))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ready: bool) -> Value {
        json!({"metadata": {}, "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    #[test]
    fn budgets_follow_the_disruption_controller() {
        let pods = [pod(true), pod(true), pod(false)];
        let refs: Vec<&Value> = pods.iter().collect();
        let b = budget(&json!({"spec": {"minAvailable": 2}}), &refs);
        assert_eq!(
            (b.expected, b.desired_healthy, b.current_healthy),
            (3, 2, 2)
        );
        assert_eq!(b.disruptions_allowed, 0);
        let b = budget(&json!({"spec": {"maxUnavailable": 1}}), &refs);
        assert_eq!((b.desired_healthy, b.disruptions_allowed), (2, 0));
        // Percentages round up: 50 % of 3 is 2.
        let b = budget(&json!({"spec": {"minAvailable": "50%"}}), &refs);
        assert_eq!((b.desired_healthy, b.disruptions_allowed), (2, 0));
        let b = budget(&json!({"spec": {"maxUnavailable": "50%"}}), &refs);
        assert_eq!((b.desired_healthy, b.disruptions_allowed), (1, 1));
        let b = budget(&json!({"spec": {"minAvailable": 0}}), &refs);
        assert_eq!(b.disruptions_allowed, 2);
        let mut deleting = pod(true);
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(!healthy(&deleting));
        assert!(ignores_budgets(&deleting));
    }
}
