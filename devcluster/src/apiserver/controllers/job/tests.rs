use super::*;

fn job(completions: i64, parallelism: i64) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "count", "namespace": "default", "uid": "j1"},
        "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "j1"}},
            "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "j1"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
        "status": {}})
}

fn pod(name: &str, phase: &str, tracked: bool) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}"),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "count", "uid": "j1", "controller": true}]},
        "spec": {}, "status": {"phase": phase}});
    if tracked {
        p["metadata"]["finalizers"] = json!([TRACKING_FINALIZER]);
    }
    p
}

fn creates(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Create(_)))
        .count()
}

fn status(actions: &[Action]) -> Value {
    actions
        .iter()
        .find_map(|a| match a {
            Action::UpdateStatus(o) => Some(o["status"].clone()),
            _ => None,
        })
        .expect("a status update")
}

#[test]
fn starts_parallelism_pods_with_the_tracking_finalizer() {
    let actions = reconcile(&job(3, 2), &[], &Clock::at(0));
    assert_eq!(creates(&actions), 2);
    let Some(Action::Create(p)) = actions.iter().find(|a| matches!(a, Action::Create(_))) else {
        unreachable!()
    };
    assert_eq!(p["metadata"]["finalizers"], json!([TRACKING_FINALIZER]));
    assert_eq!(p["metadata"]["generateName"], "count-");
    assert!(status(&actions)["startTime"].is_string());
}

#[test]
fn finished_pods_are_counted_once_through_uncounted_uids() {
    let mut j = job(3, 2);
    j["status"] = json!({"startTime": "2025-01-01T00:00:00Z", "active": 2});
    let pods = [pod("a", "Succeeded", true), pod("b", "Running", true)];
    let actions = reconcile(&j, &pods, &Clock::at(0));
    let st = status(&actions);
    assert_eq!(st["uncountedTerminatedPods"]["succeeded"], json!(["u-a"]));
    assert!(st["succeeded"].is_null());
    assert!(actions.iter().any(|a| matches!(a, Action::Update(p) if meta::name(p) == "a" && p["metadata"]["finalizers"] == json!([]))));
    // One more pod keeps two running (3 - 1 succeeded = 2 wanted).
    assert_eq!(creates(&actions), 1);
    // Next pass: the finalizer is gone, so the pod moves into the count.
    j["status"] = st;
    let pods = [
        pod("a", "Succeeded", false),
        pod("b", "Running", true),
        pod("c", "Running", true),
    ];
    let st = status(&reconcile(&j, &pods, &Clock::at(1)));
    assert_eq!(st["succeeded"], 1);
    assert_eq!(st["uncountedTerminatedPods"], json!({}));
}

#[test]
fn completes_when_completions_succeeded_and_nothing_runs() {
    let mut j = job(2, 2);
    j["status"] = json!({"startTime": "2025-01-01T00:00:00Z", "succeeded": 2});
    let pods = [pod("a", "Succeeded", false), pod("b", "Succeeded", false)];
    let st = status(&reconcile(&j, &pods, &Clock::at(10)));
    assert!(meta::has_true_condition(&st, "SuccessCriteriaMet"));
    assert!(meta::has_true_condition(&st, "Complete"));
    assert!(st["completionTime"].is_string());
}

#[test]
fn fails_past_the_backoff_limit() {
    let mut j = job(3, 1);
    j["status"] = json!({"startTime": "2025-01-01T00:00:00Z", "failed": 2});
    let st = status(&reconcile(&j, &[], &Clock::at(10)));
    let failed = meta::condition(&st, "Failed").expect("Failed");
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert!(meta::has_true_condition(&st, "FailureTarget"));
}

#[test]
fn a_failed_pod_is_replaced_after_the_back_off() {
    let mut j = job(1, 1);
    j["spec"]["backoffLimit"] = json!(6);
    j["status"] = json!({"startTime": "2025-01-01T00:00:00Z", "failed": 1});
    let mut failed = pod("a", "Failed", false);
    failed["status"]["containerStatuses"] =
        json!([{"state": {"terminated": {"finishedAt": "2025-01-01T00:00:00Z"}}}]);
    let t0 = meta::secs_of(&json!("2025-01-01T00:00:00Z")).unwrap();
    assert_eq!(
        creates(&reconcile(
            &j,
            std::slice::from_ref(&failed),
            &Clock::at(t0 + 9)
        )),
        0
    );
    assert_eq!(creates(&reconcile(&j, &[failed], &Clock::at(t0 + 10))), 1);
}

#[test]
fn orphaned_tracked_pods_lose_the_finalizer() {
    let actions = release_orphans(&[pod("a", "Running", true)], &[]);
    assert!(
        matches!(&actions[..], [Action::Update(p)] if p["metadata"]["finalizers"] == json!([]))
    );
    assert!(release_orphans(&[pod("a", "Running", true)], &[job(1, 1)]).is_empty());
}
