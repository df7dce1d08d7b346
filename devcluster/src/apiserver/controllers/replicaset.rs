//! The ReplicaSet controller (`pkg/controller/replicaset`): claims the pods
//! its selector matches (adopting orphans, releasing pods that no longer
//! match), creates or deletes pods until the active ones number
//! `spec.replicas`, and reports `status` (replicas, fullyLabeledReplicas,
//! readyReplicas, availableReplicas, observedGeneration).

use serde_json::{json, Value};

use super::super::label_selector;
use super::client::Action;
use super::meta::{self, Clock};
use super::pods;
use crate::apiserver::propagation::Policy;

/// Most pods created or deleted in one pass (`BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// The objects `owner` controls after claiming among `candidates`: its own
/// that still match its selector plus the orphans it adopts; and the
/// adopt/release actions. `owner` being deleted neither adopts nor
/// releases (`ClaimPods`, `ClaimReplicaSets`).
pub fn claim<'a>(
    owner: &Value,
    selector: &Value,
    candidates: impl IntoIterator<Item = &'a Value>,
) -> (Vec<&'a Value>, Vec<Action>) {
    let owner_uid = meta::uid(owner);
    let ns = meta::namespace(owner);
    let may_change = !meta::deleting(owner);
    let mut owned = Vec::new();
    let mut actions = Vec::new();
    for pod in candidates.into_iter().filter(|p| meta::namespace(p) == ns) {
        let matches = label_selector::matches(selector, &pod["metadata"]["labels"]);
        match meta::controller_of(pod) {
            Some(r) if r["uid"] == owner_uid => {
                if matches || !may_change {
                    owned.push(pod);
                } else {
                    actions.push(Action::Update(meta::without_owner(pod, owner_uid)));
                }
            }
            Some(_) => {}
            None => {
                if matches && may_change && !meta::deleting(pod) {
                    actions.push(Action::Update(meta::adopted(pod, owner)));
                    owned.push(pod);
                }
            }
        }
    }
    (owned, actions)
}

/// One pass over one ReplicaSet; `pods` may hold other namespaces' pods.
pub fn reconcile(rs: &Value, all_pods: &[Value], clock: &Clock) -> Vec<Action> {
    let selector = &rs["spec"]["selector"];
    // Only active pods are claimed: a finished or terminating pod is
    // neither adopted nor released (`FilterActivePods` before `claimPods`).
    let candidates = all_pods.iter().filter(|p| pods::is_active(p));
    let (owned, mut actions) = claim(rs, selector, candidates);
    let mut active = owned.clone();
    let want = meta::int(&rs["spec"]["replicas"]).max(0) as usize;
    if !meta::deleting(rs) {
        if active.len() < want {
            let n = (want - active.len()).min(BURST_REPLICAS);
            for _ in 0..n {
                actions.push(Action::Create(pods::from_template(
                    &rs["spec"]["template"],
                    rs,
                    meta::name(rs),
                )));
            }
        } else if active.len() > want {
            let n = (active.len() - want).min(BURST_REPLICAS);
            active.sort_by(|a, b| pods::deletion_order(a, b));
            for pod in &active[..n] {
                actions.push(Action::delete(pod, Policy::Background));
            }
        }
    }
    let status = status(rs, &owned, clock);
    if status != rs["status"] {
        let mut next = rs.clone();
        next["status"] = status;
        actions.push(Action::UpdateStatus(next));
    }
    actions
}

/// `calculateStatus`: counts over the active pods it owns.
fn status(rs: &Value, owned: &[&Value], clock: &Clock) -> Value {
    let min_ready = meta::int(&rs["spec"]["minReadySeconds"]);
    let template_labels = &rs["spec"]["template"]["metadata"]["labels"];
    let active: Vec<&&Value> = owned.iter().filter(|p| pods::is_active(p)).collect();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            template_labels
                .as_object()
                .into_iter()
                .flatten()
                .all(|(k, v)| p["metadata"]["labels"][k] == *v)
        })
        .count();
    let ready = active.iter().filter(|p| pods::is_ready(p)).count();
    let available = active
        .iter()
        .filter(|p| pods::is_available(p, min_ready, clock.secs))
        .count();
    let mut out = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": meta::int(&rs["metadata"]["generation"]),
    });
    if let Some(c) = rs["status"].get("conditions").filter(|c| !c.is_null()) {
        out["conditions"] = c.clone();
    }
    // The API server drops zero counts (omitempty), so compare like for like.
    if let Some(m) = out.as_object_mut() {
        m.retain(|k, v| k == "replicas" || v != &json!(0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(replicas: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "namespace": "default", "uid": "rs1", "generation": 2},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"replicas": 0}})
    }

    fn pod(name: &str, owner: Option<&str>, ready: bool) -> Value {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}"), "labels": {"app": "web"},
                         "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"nodeName": "agent-0"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}});
        if let Some(o) = owner {
            p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": o, "controller": true}]);
        }
        p
    }

    fn count(actions: &[Action], f: impl Fn(&Action) -> bool) -> usize {
        actions.iter().filter(|a| f(a)).count()
    }

    #[test]
    fn creates_missing_pods_with_a_controller_reference() {
        let actions = reconcile(&rs(3), &[pod("a", Some("rs1"), true)], &Clock::at(0));
        let creates: Vec<&Value> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Create(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(creates.len(), 2);
        assert_eq!(creates[0]["metadata"]["generateName"], "web-1-");
        assert_eq!(creates[0]["metadata"]["ownerReferences"][0]["uid"], "rs1");
        assert_eq!(creates[0]["metadata"]["labels"]["app"], "web");
        let status = actions
            .iter()
            .find_map(|a| match a {
                Action::UpdateStatus(o) => Some(o["status"].clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            status,
            json!({"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 2})
        );
    }

    #[test]
    fn deletes_unready_surplus_first_and_adopts_orphans() {
        let pods = [
            pod("ready", Some("rs1"), true),
            pod("unready", Some("rs1"), false),
            pod("orphan", None, true),
        ];
        let actions = reconcile(&rs(1), &pods, &Clock::at(0));
        assert_eq!(
            count(
                &actions,
                |a| matches!(a, Action::Update(p) if meta::name(p) == "orphan")
            ),
            1
        );
        let deleted: Vec<String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Delete { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted.len(), 2);
        assert_eq!(deleted[0], "unready");
    }

    #[test]
    fn a_pod_that_stops_matching_is_released() {
        let mut p = pod("relabelled", Some("rs1"), true);
        p["metadata"]["labels"] = json!({"app": "debug"});
        let actions = reconcile(&rs(0), &[p], &Clock::at(0));
        assert!(actions.iter().any(|a| matches!(a, Action::Update(p) if p["metadata"]["ownerReferences"].as_array().is_some_and(|r| r.is_empty()))));
        assert_eq!(count(&actions, |a| matches!(a, Action::Delete { .. })), 0);
    }
}
