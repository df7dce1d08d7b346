//! End-to-end tests of the framework against the devcluster: embedded API
//! server, embedded Mesos master, simulated agents with an in-process fake
//! executor. Everything on 127.0.0.1:0.

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, DeleteParams};
use kube_mesos_proto::v1::TaskState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_registered_pods_bound_and_launched_impossible_pod_unschedulable() {
    let cluster = Cluster::start(2).await;
    let fw = Framework::start(&cluster, cluster.framework_config()).await;

    // One Node per agent, from the operator API.
    let nodes: Api<Node> = Api::all(cluster.kube.clone());
    let node = eventually("node agent-0", || {
        let nodes = nodes.clone();
        async move { nodes.get_opt("agent-0").await.ok().flatten() }
    })
    .await;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("kubernetes.io/hostname").map(String::as_str),
        Some("agent-0")
    );
    assert_eq!(labels.get("rack").map(String::as_str), Some("r1"));
    let node = eventually("node agent-0 status", || {
        let nodes = nodes.clone();
        async move {
            let n = nodes.get("agent-0").await.ok()?;
            n.status.as_ref()?.capacity.as_ref()?;
            Some(n)
        }
    })
    .await;
    let capacity = node.status.unwrap().capacity.unwrap();
    assert_eq!(capacity["cpu"].0, "2");
    assert_eq!(capacity["memory"].0, "4096Mi");

    // The framework keeps the node lease of an agent without executor fresh.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(cluster.kube.clone(), "kube-node-lease");
    let lease = eventually("node lease of agent-0", || {
        let leases = leases.clone();
        async move { leases.get_opt("agent-0").await.ok().flatten() }
    })
    .await;
    let spec = lease.spec.unwrap();
    assert_eq!(
        spec.holder_identity.as_deref(),
        Some("kube-mesos-framework")
    );
    assert_eq!(spec.lease_duration_seconds, Some(40));

    // A pod is bound, annotated and launched.
    create_pod(&cluster, "web", "500m").await;
    let pod = bound(&cluster, "web").await;
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations.get("kube-mesos.io/task-id"),
        Some(&task_id(&pod))
    );
    assert!(annotations.contains_key("kube-mesos.io/framework-id"));
    let id = task_id(&pod);
    eventually("task running", || {
        let id = id.clone();
        let cluster = &cluster;
        async move {
            (cluster.task_state(&id).await == Some(TaskState::TaskRunning as i32)).then_some(())
        }
    })
    .await;
    eventually("Scheduled event", || async {
        pod_events(&cluster, "web")
            .await
            .iter()
            .any(|e| e.reason.as_deref() == Some("Scheduled"))
            .then_some(())
    })
    .await;

    // The framework ID is stored for restarts.
    let cms: Api<ConfigMap> = Api::namespaced(cluster.kube.clone(), "default");
    let cm = cms.get("kube-mesos-framework").await.unwrap();
    assert_eq!(
        cm.data.unwrap().get("frameworkId"),
        annotations.get("kube-mesos.io/framework-id")
    );

    // An impossible pod: Unschedulable condition and FailedScheduling event.
    create_pod(&cluster, "huge", "64").await;
    let message = eventually("FailedScheduling event", || async {
        pod_events(&cluster, "huge")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
            .and_then(|e| e.message)
    })
    .await;
    assert!(message.starts_with("0/2 nodes are available"), "{message}");
    assert!(message.contains("Insufficient cpu"), "{message}");
    let huge = cluster.pods().get("huge").await.unwrap();
    let condition = huge
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .expect("PodScheduled condition");
    assert_eq!(condition.status, "False");
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));

    // Deleting the running pod kills its task.
    cluster
        .pods()
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("task killed", || {
        let id = id.clone();
        let cluster = &cluster;
        async move {
            (cluster.task_state(&id).await == Some(TaskState::TaskKilled as i32)).then_some(())
        }
    })
    .await;

    fw.drain().await.unwrap();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppresses_when_idle_and_revives_for_new_pods() {
    let cluster = Cluster::start(1).await;
    let fw = Framework::start(&cluster, cluster.framework_config()).await;
    create_pod(&cluster, "a", "100m").await;
    bound(&cluster, "a").await;
    eventually("suppressed when idle", || async {
        let text = fw.get("/metrics").await;
        (metric(&text, "kube_mesos_offers_suppressed") == Some(1.0)).then_some(())
    })
    .await;
    let revives_before =
        metric(&fw.get("/metrics").await, "kube_mesos_revives_total").unwrap_or(0.0);
    create_pod(&cluster, "b", "100m").await;
    bound(&cluster, "b").await;
    // The core's counters are published at most `PUBLISH_EVERY` late.
    eventually("the REVIVE counted", || async {
        let text = fw.get("/metrics").await;
        (metric(&text, "kube_mesos_revives_total").unwrap_or(0.0) > revives_before
            && metric(&text, "kube_mesos_offers_received_total").unwrap_or(0.0) >= 2.0)
            .then_some(())
    })
    .await;
    assert!(fw.get("/readyz").await.starts_with("HTTP/1.1 200"));
    fw.drain().await.unwrap();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_subscription_ends_the_framework_with_an_error() {
    let cluster = Cluster::start(0).await;
    let mut config = cluster.framework_config();
    config.roles = vec![".".into()]; // Mesos refuses the role name "."
    let fw = Framework::start(&cluster, config).await;
    let result = tokio::time::timeout(WAIT, fw.task)
        .await
        .expect("a refused framework must stop")
        .unwrap();
    assert!(
        matches!(
            result,
            Err(kube_mesos_framework::run::RunError::SubscriptionFailed(_))
        ),
        "{result:?}"
    );
    cluster.stop().await;
}
