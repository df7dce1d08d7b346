use super::*;

fn deployment(replicas: i64, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "d1", "generation": 1},
        "spec": {"replicas": replicas, "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]}}},
        "status": {}})
}

/// The ReplicaSet the controller would create for `d`, as stored, with
/// `replicas` all available.
fn stored_rs(d: &Value, replicas: i64, revision: i64, created: &str) -> Value {
    let mut pass_d = d.clone();
    pass_d["spec"]["replicas"] = json!(replicas);
    let created_rs = reconcile(&pass_d, &[], &[], &Clock::at(0))
        .into_iter()
        .find_map(|a| match a {
            Action::Create(rs) => Some(rs),
            _ => None,
        })
        .expect("creates a ReplicaSet");
    let mut rs = created_rs;
    rs["metadata"]["uid"] = json!(format!("rs-{revision}"));
    rs["metadata"]["creationTimestamp"] = json!(created);
    rs["metadata"]["annotations"][REVISION] = json!(revision.to_string());
    rs["spec"]["replicas"] = json!(replicas);
    rs["status"] =
        json!({"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas});
    rs
}

fn scaled(actions: &[Action]) -> Vec<(String, i64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Update(o) if o["kind"] == "ReplicaSet" => {
                Some((meta::name(o).to_string(), replicas(o)))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_deployment_gets_a_hashed_replicaset_with_revision_1() {
    let d = deployment(4, "busybox:1");
    let actions = reconcile(&d, &[], &[], &Clock::at(0));
    let rs = actions
        .iter()
        .find_map(|a| match a {
            Action::Create(rs) => Some(rs.clone()),
            _ => None,
        })
        .expect("a ReplicaSet");
    let hash = template_hash(&d["spec"]["template"], None);
    assert_eq!(meta::name(&rs), format!("web-{hash}"));
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"][POD_TEMPLATE_HASH],
        hash
    );
    assert_eq!(
        rs["spec"]["template"]["metadata"]["labels"][POD_TEMPLATE_HASH],
        hash
    );
    assert_eq!(meta::annotation(&rs, REVISION), Some("1"));
    // maxSurge 25% of 4 = 1: all 4 at once, nothing old to surge past.
    assert_eq!(replicas(&rs), 4);
    assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], "d1");
    // The Deployment learns its revision.
    assert!(actions.iter().any(|a| matches!(a, Action::Update(o) if o["kind"] == "Deployment" && meta::annotation(o, REVISION) == Some("1"))));
    assert!(hash
        .chars()
        .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
}

#[test]
fn a_rolling_update_surges_then_scales_old_down_within_max_unavailable() {
    let old_d = deployment(4, "busybox:1");
    let old_rs = stored_rs(&old_d, 4, 1, "2025-01-01T00:00:00Z");
    let d = deployment(4, "busybox:2");
    let actions = reconcile(&d, std::slice::from_ref(&old_rs), &[], &Clock::at(0));
    let new_rs = actions
        .iter()
        .find_map(|a| match a {
            Action::Create(rs) => Some(rs.clone()),
            _ => None,
        })
        .expect("a new ReplicaSet");
    // 4 + maxSurge 1 = 5 pods at most: the new one starts with 1.
    assert_eq!(replicas(&new_rs), 1);
    assert_eq!(meta::annotation(&new_rs, REVISION), Some("2"));
    // Next pass: the new pod is not available yet; minAvailable 3 lets
    // one old pod go.
    let mut new_stored = new_rs.clone();
    new_stored["metadata"]["uid"] = json!("rs-2");
    new_stored["metadata"]["creationTimestamp"] = json!("2025-01-01T00:01:00Z");
    new_stored["status"] = json!({"replicas": 1});
    let actions = reconcile(
        &d,
        &[old_rs.clone(), new_stored.clone()],
        &[],
        &Clock::at(0),
    );
    assert_eq!(scaled(&actions), vec![(meta::name(&old_rs).to_string(), 3)]);
}

#[test]
fn rollout_status_fields_and_conditions_when_complete() {
    let d = deployment(2, "busybox:1");
    let mut rs = stored_rs(&d, 2, 1, "2025-01-01T00:00:00Z");
    rs["metadata"]["annotations"][DESIRED_REPLICAS] = json!("2");
    rs["metadata"]["annotations"][MAX_REPLICAS] = json!("3");
    let mut d_rev = d.clone();
    d_rev["metadata"]["annotations"] = json!({REVISION: "1"});
    let actions = reconcile(&d_rev, &[rs], &[], &Clock::at(100));
    let status = actions
        .iter()
        .find_map(|a| match a {
            Action::UpdateStatus(o) => Some(o["status"].clone()),
            _ => None,
        })
        .expect("a status update");
    assert_eq!(
        (
            status["observedGeneration"].clone(),
            status["replicas"].clone(),
            status["updatedReplicas"].clone(),
            status["availableReplicas"].clone()
        ),
        (json!(1), json!(2), json!(2), json!(2))
    );
    let progressing = meta::condition(&status, "Progressing").expect("Progressing");
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    assert_eq!(
        meta::condition(&status, "Available").unwrap()["status"],
        "True"
    );
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    // 10 replicas, maxSurge 3 (25% up), old 8 and new 5 (13 = 10 + 3).
    let mut d = deployment(10, "busybox:2");
    let mut old = stored_rs(&deployment(10, "busybox:1"), 8, 1, "2025-01-01T00:00:00Z");
    let mut new = stored_rs(&d, 5, 2, "2025-01-01T00:01:00Z");
    for rs in [&mut old, &mut new] {
        rs["metadata"]["annotations"][DESIRED_REPLICAS] = json!("10");
        rs["metadata"]["annotations"][MAX_REPLICAS] = json!("13");
    }
    // Scale to 20: allowed 20 + 5 = 25, 12 more split 8:5 of 13.
    d["spec"]["replicas"] = json!(20);
    let actions = reconcile(&d, &[old.clone(), new.clone()], &[], &Clock::at(0));
    let mut got = scaled(&actions);
    got.sort();
    let mut want = vec![
        (meta::name(&old).to_string(), 15),
        (meta::name(&new).to_string(), 10),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn old_replicasets_beyond_the_history_limit_are_deleted() {
    let mut d = deployment(1, "busybox:9");
    d["spec"]["revisionHistoryLimit"] = json!(1);
    let mut current = stored_rs(&d, 1, 3, "2025-01-01T00:03:00Z");
    current["metadata"]["annotations"][DESIRED_REPLICAS] = json!("1");
    let mut olds = Vec::new();
    for (i, image) in ["busybox:1", "busybox:2"].into_iter().enumerate() {
        let mut rs = stored_rs(
            &deployment(1, image),
            0,
            i as i64 + 1,
            &format!("2025-01-01T00:0{i}:00Z"),
        );
        rs["status"] = json!({"replicas": 0});
        olds.push(rs);
    }
    let mut all = olds.clone();
    all.push(current);
    let actions = reconcile(&d, &all, &[], &Clock::at(0));
    let deleted: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, vec![meta::name(&olds[0])]);
}

#[test]
fn recreate_empties_the_old_replicaset_before_the_new_one_exists() {
    let mut d = deployment(3, "busybox:2");
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    let mut old = stored_rs(&deployment(3, "busybox:1"), 3, 1, "2025-01-01T00:00:00Z");
    old["metadata"]["annotations"][DESIRED_REPLICAS] = json!("3");
    let actions = reconcile(&d, std::slice::from_ref(&old), &[], &Clock::at(0));
    assert_eq!(scaled(&actions), vec![(meta::name(&old).to_string(), 0)]);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::Create(o) if o["kind"] == "ReplicaSet")));
    // Scaled to 0 but a pod still terminating: still no new ReplicaSet.
    old["spec"]["replicas"] = json!(0);
    old["status"] = json!({"replicas": 0});
    let terminating = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "deletionTimestamp": "2025-01-01T00:00:00Z",
            "ownerReferences": [{"uid": old["metadata"]["uid"], "controller": true}]},
        "status": {"phase": "Running"}});
    let actions = reconcile(
        &d,
        std::slice::from_ref(&old),
        std::slice::from_ref(&terminating),
        &Clock::at(0),
    );
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::Create(o) if o["kind"] == "ReplicaSet")));
    // Once it is gone, the new ReplicaSet starts with all replicas.
    let actions = reconcile(&d, &[old], &[], &Clock::at(0));
    let new_rs = actions.iter().find_map(|a| match a {
        Action::Create(o) if o["kind"] == "ReplicaSet" => Some(o.clone()),
        _ => None,
    });
    assert_eq!(new_rs.map(|r| replicas(&r)), Some(3));
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll() {
    let mut d = deployment(2, "busybox:2");
    d["spec"]["paused"] = json!(true);
    let mut old = stored_rs(&deployment(2, "busybox:1"), 2, 1, "2025-01-01T00:00:00Z");
    old["metadata"]["annotations"][DESIRED_REPLICAS] = json!("2");
    let actions = reconcile(&d, std::slice::from_ref(&old), &[], &Clock::at(0));
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::Create(o) if o["kind"] == "ReplicaSet")));
    let status = actions.iter().find_map(|a| match a {
        Action::UpdateStatus(o) => Some(o["status"].clone()),
        _ => None,
    });
    let progressing = status
        .as_ref()
        .and_then(|s| meta::condition(s, "Progressing").cloned());
    assert_eq!(
        progressing.map(|c| c["reason"].clone()),
        Some(json!("DeploymentPaused"))
    );
    d["spec"]["replicas"] = json!(4);
    let actions = reconcile(&d, &[old.clone()], &[], &Clock::at(0));
    assert_eq!(scaled(&actions), vec![(meta::name(&old).to_string(), 4)]);
}
