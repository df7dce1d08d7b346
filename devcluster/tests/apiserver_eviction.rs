//! The pods/eviction subresource honouring PodDisruptionBudgets created
//! with kubectl, as kube-apiserver answers: 429 with the DisruptionBudget
//! cause while the budget allows no disruption, a graceful delete when it
//! does.

mod apiserver_common;

use apiserver_common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use serde_json::json;

const PDB: &str = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web-pdb
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: web
";

async fn ready_pod(pods: &Api<Pod>, name: &str) {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// A server and a client for its `default` pods (without kube-rs' retry
/// of 429s). Fails without kubectl, which `scripts/test` installs.
async fn server() -> (TestServer, Api<Pod>) {
    require_kubectl();
    let ts = start(|_| {}).await;
    let client = client_without_retry(&ts).await;
    (ts, Api::namespaced(client, "default"))
}

/// `kubectl create` of [`PDB`].
async fn create_budget(ts: &TestServer) {
    let file = ts.dir.path().join("pdb.yaml");
    std::fs::write(&file, PDB).unwrap();
    let out = kubectl(ts, &["create", "-f", file.to_str().unwrap()]).await;
    assert!(out.ok, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_honours_a_disruption_budget_then_deletes_gracefully() {
    let (ts, pods) = server().await;
    ready_pod(&pods, "web-1").await;
    create_budget(&ts).await;

    // One healthy pod, one needed: no disruption allowed.
    let err = pods
        .evict("web-1", &EvictParams::default())
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code, 429);
    assert_eq!(status.reason, "TooManyRequests");
    assert_eq!(
        status.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let out = kubectl(&ts, &["get", "pdb", "web-pdb", "-o", "json"]).await;
    assert!(out.ok, "{}", out.stderr);
    let pdb: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert_eq!(pdb["status"]["currentHealthy"], 1);

    // A second healthy pod: one may go, gracefully.
    ready_pod(&pods, "web-2").await;
    pods.evict("web-1", &EvictParams::default()).await.unwrap();
    let pod = pods.get("web-1").await.unwrap();
    assert!(pod.metadata.deletion_timestamp.is_some());
    // web-1 is going: web-2 is the last healthy one and stays.
    let err = pods
        .evict("web-2", &EvictParams::default())
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 429));
    let err = pods
        .evict("nope", &EvictParams::default())
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 404));
}

/// The budget's status read through kubectl, once `done` holds for it
/// (the disruption controller runs after each change).
async fn budget_when(
    ts: &TestServer,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = kubectl(ts, &["get", "pdb", "web-pdb", "-o", "json"]).await;
        assert!(out.ok, "{}", out.stderr);
        let pdb: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        if done(&pdb) {
            return pdb;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "budget never got there: {pdb}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disruption_controller_keeps_the_budget_status() {
    let (ts, pods) = server().await;
    create_budget(&ts).await;

    // No pod yet: nothing may be disrupted.
    let pdb = budget_when(&ts, |p| p["status"]["conditions"].is_array()).await;
    assert_eq!(pdb["metadata"]["generation"], 1);
    assert_eq!(pdb["status"]["observedGeneration"], 1);
    assert_eq!(pdb["status"]["expectedPods"], 0);
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert_eq!(pdb["status"]["conditions"][0]["type"], "DisruptionAllowed");
    assert_eq!(pdb["status"]["conditions"][0]["reason"], "InsufficientPods");

    // Two Ready pods, one needed: one may go.
    ready_pod(&pods, "web-1").await;
    ready_pod(&pods, "web-2").await;
    let pdb = budget_when(&ts, |p| p["status"]["currentHealthy"] == 2).await;
    let s = &pdb["status"];
    assert_eq!(
        (
            &s["expectedPods"],
            &s["desiredHealthy"],
            &s["disruptionsAllowed"]
        ),
        (&json!(2), &json!(1), &json!(1))
    );
    assert_eq!(s["observedGeneration"], pdb["metadata"]["generation"]);
    assert_eq!(s["conditions"][0]["status"], "True");
    assert_eq!(s["conditions"][0]["reason"], "SufficientPods");
    // `kubectl get pdb` prints kube-apiserver's columns.
    let table = kubectl(&ts, &["get", "pdb", "web-pdb"]).await;
    assert!(table.ok, "{}", table.stderr);
    let lines: Vec<Vec<&str>> = table
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "NAME",
            "MIN",
            "AVAILABLE",
            "MAX",
            "UNAVAILABLE",
            "ALLOWED",
            "DISRUPTIONS",
            "AGE"
        ]
    );
    assert_eq!(lines[1][..4], ["web-pdb", "1", "N/A", "1"]);

    // Steady: no pass rewrites an unchanged status (a write would wake the
    // controllers again, for ever). Passes run at least once a second.
    let rv = pdb["metadata"]["resourceVersion"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let again = budget_when(&ts, |_| true).await;
    assert_eq!(again["metadata"]["resourceVersion"], rv);

    // One pod stops being Ready: the budget is spent.
    let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
    pods.patch_status("web-2", &PatchParams::default(), &Patch::Merge(&not_ready))
        .await
        .unwrap();
    let pdb = budget_when(&ts, |p| p["status"]["currentHealthy"] == 1).await;
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert_eq!(pdb["status"]["conditions"][0]["reason"], "InsufficientPods");

    // A new spec is a new generation, which the controller observes.
    let out = kubectl(
        &ts,
        &[
            "patch",
            "pdb",
            "web-pdb",
            "--type=merge",
            "-p",
            r#"{"spec":{"minAvailable":0}}"#,
        ],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    let pdb = budget_when(&ts, |p| p["status"]["observedGeneration"] == 2).await;
    assert_eq!(pdb["metadata"]["generation"], 2);
    assert_eq!(pdb["status"]["disruptionsAllowed"], 1);
}
