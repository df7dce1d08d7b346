//! Recovery and HA end-to-end: a framework killed mid-churn restarts with its
//! framework ID and loses or doubles no pod; leader failover between two
//! replicas; agent removal fails pods and turns the Node NotReady.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, Patch, PatchParams};
use kube_mesos_proto::v1::TaskState;

async fn stored_framework_id(cluster: &Cluster) -> Option<String> {
    let cms: Api<ConfigMap> = Api::namespaced(cluster.kube.clone(), "default");
    cms.get_opt("kube-mesos-framework")
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data)
        .and_then(|mut d| d.remove("frameworkId"))
}

async fn all_running(cluster: &Cluster, names: &[String]) -> bool {
    let tasks = cluster.master_tasks().await;
    let pods = cluster.pods();
    for name in names {
        let Ok(pod) = pods.get(name).await else {
            return false;
        };
        let id = task_id(&pod);
        let running = tasks
            .tasks
            .iter()
            .any(|t| t.task_id.value == id && t.state == TaskState::TaskRunning as i32);
        if !running {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_framework_restarts_with_its_id_and_loses_or_doubles_no_pod() {
    let cluster = Cluster::start(2).await;
    let fw = Framework::start(&cluster, cluster.framework_config()).await;
    let mut names = Vec::new();
    create_pod(&cluster, "p0", "100m").await;
    bound(&cluster, "p0").await;
    let id_before = stored_framework_id(&cluster)
        .await
        .expect("framework ID stored");
    names.push("p0".to_string());
    // Churn: pods arrive while the framework dies without any cleanup.
    for i in 1..4 {
        let name = format!("p{i}");
        create_pod(&cluster, &name, "100m").await;
        names.push(name);
    }
    fw.kill().await;
    for i in 4..8 {
        let name = format!("p{i}");
        create_pod(&cluster, &name, "100m").await;
        names.push(name);
    }
    let fw = Framework::start(&cluster, cluster.framework_config()).await;
    for name in &names {
        bound(&cluster, name).await;
    }
    eventually("every pod's task running", || async {
        all_running(&cluster, &names).await.then_some(())
    })
    .await;
    assert_eq!(
        stored_framework_id(&cluster).await.as_deref(),
        Some(id_before.as_str())
    );
    // One task per pod, no stray or duplicate task, all of one framework.
    let tasks = cluster.master_tasks().await;
    let live: Vec<_> = tasks
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::TaskRunning as i32)
        .collect();
    assert_eq!(live.len(), names.len(), "{live:#?}");
    let ids: BTreeSet<_> = live.iter().map(|t| t.task_id.value.clone()).collect();
    assert_eq!(ids.len(), names.len());
    assert!(live.iter().all(|t| t.framework_id.value == id_before));
    fw.drain().await.unwrap();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_between_two_replicas() {
    let cluster = Cluster::start(1).await;
    let replica = |identity: &str| {
        let mut c = cluster.framework_config();
        c.leader_election.enabled = true;
        c.leader_election.identity = Some(identity.into());
        c.leader_election.lease_duration = Duration::from_secs(3);
        c.leader_election.renew_deadline = Duration::from_secs(2);
        c.leader_election.retry_period = Duration::from_millis(300);
        c
    };
    let a = Framework::start(&cluster, replica("a")).await;
    eventually("a leads and is subscribed", || async {
        a.get("/readyz").await.contains("ok (leader)").then_some(())
    })
    .await;
    let b = Framework::start(&cluster, replica("b")).await;
    eventually("b is a ready standby", || async {
        b.get("/readyz")
            .await
            .contains("ok (standby)")
            .then_some(())
    })
    .await;
    create_pod(&cluster, "first", "100m").await;
    let first = bound(&cluster, "first").await;
    let id = stored_framework_id(&cluster).await.expect("framework ID");

    // The leader drains: it releases the lease and b takes over at once.
    a.drain().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(cluster.kube.clone(), "default");
    eventually("b leads", || async {
        b.get("/readyz").await.contains("ok (leader)").then_some(())
    })
    .await;
    let lease = leases.get("kube-mesos-framework").await.unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert!(spec.lease_transitions.unwrap_or(0) >= 1);
    create_pod(&cluster, "second", "100m").await;
    let second = bound(&cluster, "second").await;
    let fid = |p: &k8s_openapi::api::core::v1::Pod| {
        p.metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .get("kube-mesos.io/framework-id")
            .cloned()
    };
    assert_eq!(fid(&first), Some(id.clone()));
    assert_eq!(fid(&second), Some(id.clone()));
    assert_eq!(stored_framework_id(&cluster).await, Some(id));

    // Someone else takes the lease: b stops scheduling within the renew
    // deadline and goes back to standby.
    let steal = serde_json::json!({ "spec": {
        "holderIdentity": "intruder",
        "leaseDurationSeconds": 3600,
        "renewTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string(),
    }});
    leases
        .patch(
            "kube-mesos-framework",
            &PatchParams::default(),
            &Patch::Merge(&steal),
        )
        .await
        .unwrap();
    eventually("b steps down", || async {
        b.get("/readyz").await.contains("(standby").then_some(())
    })
    .await;
    b.drain().await.unwrap();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_removal_fails_its_pods_and_turns_the_node_not_ready() {
    let cluster = Cluster::start(1).await;
    let fw = Framework::start(&cluster, cluster.framework_config()).await;
    create_pod(&cluster, "doomed", "100m").await;
    let pod = bound(&cluster, "doomed").await;
    eventually("task running", || async {
        all_running(&cluster, &["doomed".to_string()])
            .await
            .then_some(())
    })
    .await;
    let agent_id = pod
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .get("kube-mesos.io/agent-id")
        .cloned()
        .expect("agent annotation");
    assert!(cluster.master.remove_agent(&agent_id));
    // Nothing is heard of the Node any more: its lease and Ready heartbeat
    // age past the lease duration (40 s), set back here instead of waited.
    let long_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let leases: Api<Lease> = Api::namespaced(cluster.kube.clone(), "kube-node-lease");
    if leases.get_opt("agent-0").await.unwrap().is_some() {
        let lease_patch = serde_json::json!({ "spec": {
            "renewTime": (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120))
                .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
                .to_string()
        }});
        leases
            .patch(
                "agent-0",
                &PatchParams::default(),
                &Patch::Merge(&lease_patch),
            )
            .await
            .unwrap();
    }
    let nodes: Api<Node> = Api::all(cluster.kube.clone());
    let heartbeat = serde_json::json!({ "status": { "conditions": [
        { "type": "Ready", "lastHeartbeatTime": long_ago }
    ]}});
    nodes
        .patch_status(
            "agent-0",
            &PatchParams::default(),
            &Patch::Strategic(&heartbeat),
        )
        .await
        .unwrap();
    let ready = eventually("node not ready", || {
        let nodes = nodes.clone();
        async move {
            let node = nodes.get("agent-0").await.ok()?;
            let ready = node
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            (ready.status != "True").then_some(ready)
        }
    })
    .await;
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    let failed = eventually("pod failed", || async {
        let p = cluster.pods().get("doomed").await.ok()?;
        let status = p.status?;
        (status.phase.as_deref() == Some("Failed")).then_some(status)
    })
    .await;
    assert!(failed.reason.is_some(), "{failed:?}");
    fw.drain().await.unwrap();
    cluster.stop().await;
}
