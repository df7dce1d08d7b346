//! The workload controllers of the embedded API server, driven by kubectl
//! as a user drives them: Deployments (create, scale subresource, rollout
//! status, rolling update, undo, cascading delete), Jobs (completions and
//! parallelism, `kubectl wait --for=condition=complete`) and deletion
//! propagation (orphan, foreground).
//!
//! No Mesos here: the test plays a kubelet that makes every pod Running and
//! Ready, finishes Job pods, and removes pods being deleted (grace 0), so
//! the controllers' logic is checked on its own and fast.

mod apiserver_common;

use std::time::Duration;

use apiserver_common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

/// A kubelet stand-in: runs until the returned handle is aborted.
fn fake_node(client: kube::Client) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::all(client.clone());
        loop {
            let list = pods.list(&ListParams::default()).await.map(|l| l.items);
            for pod in list.unwrap_or_default() {
                let name = pod.metadata.name.clone().unwrap_or_default();
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                if pod.metadata.deletion_timestamp.is_some() {
                    let _ = api
                        .delete(&name, &DeleteParams::default().grace_period(0))
                        .await;
                    continue;
                }
                let phase = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default();
                let is_job = pod
                    .metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key("batch.kubernetes.io/job-name"));
                let status = if is_job && phase == "Running" {
                    json!({"status": {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False"}],
                        "containerStatuses": [{"name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
                            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": "2025-01-01T00:00:00Z"}}}]}})
                } else if phase == "Pending" {
                    json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}})
                } else {
                    continue;
                };
                let _ = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// A server with its controllers and a client.
async fn setup() -> (TestServer, kube::Client) {
    require_kubectl();
    let ts = start(|_| {}).await;
    let client = client(&ts).await;
    (ts, client)
}

async fn pods_with(client: &kube::Client, selector: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    api.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

fn images(pods: &[Pod]) -> Vec<String> {
    let mut out: Vec<String> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.spec.as_ref()?.containers.first()?.image.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

async fn ok(ts: &TestServer, args: &[&str]) -> String {
    let out = kubectl(ts, args).await;
    assert!(out.ok, "kubectl {args:?}: {}{}", out.stdout, out.stderr);
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_scales_rolls_undoes_and_cascades() {
    let (ts, client) = setup().await;
    let node = fake_node(client.clone());

    ok(
        &ts,
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox:1",
            "--",
            "sleep",
            "3600",
        ],
    )
    .await;
    ok(
        &ts,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    )
    .await;
    ok(&ts, &["scale", "deployment/web", "--replicas=5"]).await;
    let out = ok(
        &ts,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    )
    .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    eventually(30, || async {
        (pods_with(&client, "app=web").await.len() == 5).then_some(())
    })
    .await;
    let table = ok(&ts, &["get", "deployment", "web"]).await;
    assert!(
        table.lines().nth(1).is_some_and(
            |l| l.split_whitespace().collect::<Vec<_>>()[..4] == ["web", "5/5", "5", "5"]
        ),
        "{table}"
    );
    let rs = ok(
        &ts,
        &[
            "get",
            "rs",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ],
    )
    .await;
    assert_eq!(rs, "1");

    ok(
        &ts,
        &["set", "image", "deployment/web", "busybox=busybox:2"],
    )
    .await;
    ok(
        &ts,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    )
    .await;
    eventually(30, || async {
        let pods = pods_with(&client, "app=web").await;
        (images(&pods) == ["busybox:2"] && pods.len() == 5).then_some(())
    })
    .await;
    let described = ok(&ts, &["describe", "deployment", "web"]).await;
    assert!(
        described.contains("ScalingReplicaSet") && described.contains("Scaled up replica set web-"),
        "{described}"
    );
    let history = ok(&ts, &["rollout", "history", "deployment/web"]).await;
    assert!(history.contains('1') && history.contains('2'), "{history}");

    ok(&ts, &["rollout", "undo", "deployment/web"]).await;
    ok(
        &ts,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    )
    .await;
    eventually(30, || async {
        let pods = pods_with(&client, "app=web").await;
        (images(&pods) == ["busybox:1"] && pods.len() == 5).then_some(())
    })
    .await;
    let revision = ok(
        &ts,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ],
    )
    .await;
    assert_eq!(
        revision, "3",
        "undo makes the first template the newest revision"
    );
    let replicasets = ok(&ts, &["get", "rs", "-l", "app=web", "-o", "name"]).await;
    assert_eq!(replicasets.lines().count(), 2, "{replicasets}");

    ok(&ts, &["rollout", "restart", "deployment/web"]).await;
    ok(
        &ts,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    )
    .await;

    ok(&ts, &["delete", "deployment", "web"]).await;
    eventually(30, || async {
        let rs = kubectl(&ts, &["get", "rs", "-o", "name"]).await;
        (pods_with(&client, "app=web").await.is_empty() && rs.stdout.trim().is_empty())
            .then_some(())
    })
    .await;
    node.abort();
    ts.server.shutdown().await.expect("shutdown");
}

const JOB: &str = "apiVersion: batch/v1
kind: Job
metadata:
  name: count
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        command: [\"sh\", \"-c\", \"echo done\"]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_to_completion_with_parallelism() {
    let (ts, client) = setup().await;
    let path = ts.dir.path().join("job.yaml");
    std::fs::write(&path, JOB).expect("write job");
    ok(&ts, &["apply", "-f", path.to_str().expect("utf-8")]).await;
    // Before any pod finishes, `parallelism` pods run, and no more.
    eventually(10, || async {
        let p = pods_with(&client, "batch.kubernetes.io/job-name=count").await;
        (p.len() >= 2).then_some(())
    })
    .await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let p = pods_with(&client, "batch.kubernetes.io/job-name=count").await;
        assert_eq!(p.len(), 2, "parallelism 2");
    }
    let node = fake_node(client.clone());
    ok(
        &ts,
        &[
            "wait",
            "--for=condition=complete",
            "job/count",
            "--timeout=60s",
        ],
    )
    .await;
    let job = ok(&ts, &["get", "job", "count", "-o", "json"]).await;
    let job: serde_json::Value = serde_json::from_str(&job).expect("json");
    assert_eq!(job["status"]["succeeded"], 3, "{job}");
    assert!(job["status"]["completionTime"].is_string());
    let described = ok(&ts, &["describe", "job", "count"]).await;
    assert!(
        described.contains("Completed") && described.contains("Job completed"),
        "{described}"
    );
    let pods = pods_with(&client, "batch.kubernetes.io/job-name=count").await;
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| p.metadata.finalizers.as_ref().is_none_or(|f| f.is_empty())),
        "tracking finalizers removed"
    );
    let table = ok(&ts, &["get", "job", "count", "--no-headers"]).await;
    assert!(
        table.split_whitespace().collect::<Vec<_>>()[..3] == ["count", "Complete", "3/3"],
        "{table}"
    );
    ok(&ts, &["delete", "job", "count"]).await;
    eventually(30, || async {
        pods_with(&client, "batch.kubernetes.io/job-name=count")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    node.abort();
    ts.server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_and_foreground_deletion() {
    let (ts, client) = setup().await;
    let node = fake_node(client.clone());
    ok(
        &ts,
        &[
            "create",
            "deployment",
            "keep",
            "--image=busybox",
            "--replicas=2",
            "--",
            "sleep",
            "3600",
        ],
    )
    .await;
    ok(
        &ts,
        &["rollout", "status", "deployment/keep", "--timeout=60s"],
    )
    .await;
    ok(&ts, &["delete", "deployment", "keep", "--cascade=orphan"]).await;
    // The ReplicaSet stays, without its owner, and keeps its pods.
    let rs = eventually(30, || async {
        let out = kubectl(&ts, &["get", "rs", "-l", "app=keep", "-o", "json"]).await;
        let v: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        let item = v["items"][0].clone();
        (item["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(|r| r.is_empty())
            && item.is_object())
        .then_some(item)
    })
    .await;
    assert_eq!(pods_with(&client, "app=keep").await.len(), 2);
    let rs_name = rs["metadata"]["name"].as_str().expect("name").to_string();
    ok(
        &ts,
        &[
            "delete",
            "rs",
            &rs_name,
            "--cascade=foreground",
            "--wait=false",
        ],
    )
    .await;
    // Foreground: the ReplicaSet is visible (deleting) until its pods are gone.
    eventually(30, || async {
        let pods_gone = pods_with(&client, "app=keep").await.is_empty();
        let rs_gone = !kubectl(&ts, &["get", "rs", &rs_name]).await.ok;
        (pods_gone && rs_gone).then_some(())
    })
    .await;
    node.abort();
    ts.server.shutdown().await.expect("shutdown");
}
