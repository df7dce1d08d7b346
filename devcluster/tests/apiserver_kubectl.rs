//! The issue's kubectl acceptance script, driven from Rust: the real kubectl
//! against the embedded API server with nothing but a kubeconfig.
//! The test plays scheduler (Binding), kubelet (status, logs, final delete)
//! and an event recorder (kube-rs `Recorder`, events.k8s.io/v1).

mod apiserver_common;

use std::time::Duration;

use apiserver_common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Resource;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
  - name: nginx
    image: nginx:1.25
    ports:
    - containerPort: 80
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_end_to_end() {
    require_kubectl();
    let ts = start(|_| {}).await;
    let client = client(&ts).await;
    let dir = ts.dir.path().to_path_buf();

    let out = kubectl(&ts, &["version"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("Server Version: v1.33.0"));

    let out = kubectl(&ts, &["api-resources"]).await;
    assert!(out.ok, "{}", out.stderr);
    for line in [
        "pods                po           v1",
        "leases                           coordination.k8s.io/v1",
        "events              ev           events.k8s.io/v1",
    ] {
        let want: Vec<&str> = line.split_whitespace().collect();
        assert!(
            out.stdout.lines().any(|l| l
                .split_whitespace()
                .take(want.len())
                .eq(want.iter().copied())
                || l.split_whitespace()
                    .take(want.len() - 1)
                    .eq(want.iter().copied().filter(|w| *w != "po" && *w != "ev"))),
            "api-resources lacks {line}"
        );
    }

    // kubectl's generators send protobuf bodies.
    for args in [
        &["create", "namespace", "team-a"][..],
        &[
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=b",
            "-n",
            "team-a",
        ][..],
        &[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=x=y",
            "-n",
            "team-a",
        ][..],
        &["create", "serviceaccount", "bot", "-n", "team-a"][..],
    ] {
        let out = kubectl(&ts, args).await;
        assert!(out.ok, "{}", out.stderr);
    }
    let out = kubectl(&ts, &["get", "secret", "s", "-n", "team-a"]).await;
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], &["s", "Opaque", "1"]);
    let out = kubectl(
        &ts,
        &["get", "serviceaccounts", "-n", "team-a", "-o", "name"],
    )
    .await;
    assert_eq!(out.stdout, "serviceaccount/bot\nserviceaccount/default\n");
    let out = kubectl(&ts, &["delete", "namespace", "team-a"]).await;
    assert!(out.ok, "{}", out.stderr);

    let pod_file = dir.join("pod.yaml");
    std::fs::write(&pod_file, POD).expect("write");
    let pod_path = pod_file.to_string_lossy().to_string();
    let out = kubectl(&ts, &["apply", "-f", &pod_path]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "pod/web created");
    std::fs::write(
        &pod_file,
        POD.replace("    app: web\n", "    app: web\n    tier: frontend\n"),
    )
    .expect("write");
    let out = kubectl(&ts, &["apply", "-f", &pod_path]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "pod/web configured");
    let out = kubectl(
        &ts,
        &[
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.metadata.labels.tier}",
        ],
    )
    .await;
    assert_eq!(out.stdout, "frontend");

    // Server-side strict field validation.
    let bad_file = dir.join("bad.yaml");
    std::fs::write(
        &bad_file,
        POD.replace("name: web", "name: web2")
            .replace("image:", "imagee:"),
    )
    .expect("write");
    let bad_path = bad_file.to_string_lossy().to_string();
    let out = kubectl(&ts, &["apply", "-f", &bad_path]).await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains(&format!(
            "Error from server (BadRequest): error when creating \"{bad_path}\": Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].imagee\""
        )),
        "{}",
        out.stderr
    );

    // A node whose kubelet is the fake one.
    let kubelet = fake_kubelet().await;
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "agent1", "labels": {"kubernetes.io/hostname": "agent1"}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready", "lastHeartbeatTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"}],
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "agent1"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port()}},
                   "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0", "containerRuntimeVersion": "process://0.1.0",
                                "machineID": "m", "systemUUID": "s", "bootID": "b", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}});
    let node_file = dir.join("node.json");
    std::fs::write(&node_file, node.to_string()).expect("write");
    let out = kubectl(&ts, &["create", "-f", &node_file.to_string_lossy()]).await;
    assert!(out.ok, "{}", out.stderr);
    let out = kubectl(&ts, &["get", "nodes"]).await;
    assert!(out.stdout.lines().next().is_some_and(|h| h
        .split_whitespace()
        .eq(["NAME", "STATUS", "ROLES", "AGE", "VERSION"])));
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("agent1") && l.contains(" Ready ") && l.contains("v1.33.0")),
        "{}",
        out.stdout
    );

    // Scheduler: bind. Kubelet: report running.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {"kind": "Node", "name": "agent1"}});
    let _: serde_json::Value = pods
        .create_subresource("binding", "web", &PostParams::default(), &binding)
        .await
        .expect("bind");
    let status = json!({"status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0, "image": "nginx:1.25", "imageID": "", "started": true,
                               "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}]}});
    pods.patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");

    let out = kubectl(&ts, &["get", "pods"]).await;
    let mut lines = out.stdout.lines();
    assert!(
        lines.next().is_some_and(|h| h
            .split_whitespace()
            .eq(["NAME", "READY", "STATUS", "RESTARTS", "AGE"])),
        "{}",
        out.stdout
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..4], &["web", "1/1", "Running", "0"]);
    let out = kubectl(&ts, &["get", "pods", "-o", "wide"]).await;
    assert!(out.stdout.lines().next().is_some_and(|h| h.contains("IP")
        && h.contains("NODE")
        && h.contains("NOMINATED NODE")
        && h.contains("READINESS GATES")));
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[5..], &["10.0.0.5", "agent1", "<none>", "<none>"]);

    // get -w shows the update.
    let mut watch = kubectl_cmd(&ts, &["get", "pods", "-w"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn watch");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        let mut seen = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            seen.push(l.clone());
            if l.starts_with("web") {
                break;
            }
        }
        seen
    })
    .await
    .expect("initial watch rows");
    assert!(first.last().is_some_and(|l| l.contains("Running")));
    let terminated = json!({"status": {"phase": "Running", "containerStatuses": [{"name": "nginx", "ready": false, "restartCount": 1, "image": "nginx:1.25", "imageID": "",
        "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2025-01-01T00:00:00Z"}}}]}});
    pods.patch_status("web", &PatchParams::default(), &Patch::Merge(&terminated))
        .await
        .expect("status");
    let update = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("watch update")
        .expect("read")
        .unwrap_or_default();
    eprintln!("watch update: {update}");
    assert!(
        update.starts_with("web") && update.contains("CrashLoopBackOff") && update.contains("0/1"),
        "{update}"
    );
    let _ = watch.kill().await;

    // Events via kube-rs Recorder (events.k8s.io/v1) show in describe.
    let pod = pods.get("web").await.expect("get");
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "kube-mesos".into(),
            instance: Some("test".into()),
        },
    );
    recorder
        .publish(
            &Event {
                type_: EventType::Normal,
                reason: "Scheduled".into(),
                note: Some("Successfully assigned default/web to agent1".into()),
                action: "Binding".into(),
                secondary: None,
            },
            &pod.object_ref(&()),
        )
        .await
        .expect("publish");
    let out = kubectl(&ts, &["describe", "pod", "web"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("Node:             agent1/127.0.0.1") || out.stdout.contains("agent1")
    );
    let events = out.stdout.split("Events:").nth(1).unwrap_or_default();
    assert!(
        events.contains("Scheduled")
            && events.contains("Successfully assigned default/web to agent1")
            && events.contains("kube-mesos"),
        "{}",
        out.stdout
    );

    // Logs through the kubelet proxy.
    let out = kubectl(&ts, &["logs", "web", "--tail=5"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("hello from nginx\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("tailLines=5"));

    // Graceful delete: kubectl waits while the "kubelet" finishes the pod.
    let uid = pod.metadata.uid.clone().expect("uid");
    let deleting = kubectl_cmd(&ts, &["delete", "pod", "web"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn delete");
    let pods2 = pods.clone();
    eventually(30, || {
        let pods = pods2.clone();
        async move {
            let p = pods.get("web").await.ok()?;
            p.metadata.deletion_timestamp.map(|_| ())
        }
    })
    .await;
    let wrong = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let err = pods.delete("web", &wrong).await.expect_err("wrong uid");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );
    let right = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    pods.delete("web", &right).await.expect("final delete");
    let out = tokio::time::timeout(Duration::from_secs(30), deleting.wait_with_output())
        .await
        .expect("kubectl delete returns")
        .expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "pod \"web\" deleted"
    );
    let out = kubectl(&ts, &["get", "pods"]).await;
    assert!(out
        .stderr
        .contains("No resources found in default namespace."));

    ts.server.shutdown().await.expect("shutdown");
}

/// Regression: `kubectl apply -f` of a `kind: List` file (what `kubectl get
/// -o json` writes) failed with "error validating data: the server could not
/// find the requested resource": kubectl validates a List client side and
/// loads `/openapi/v2` for it. A real API server accepts both a List and a
/// multi-document YAML; unknown fields in a List item are still rejected
/// (each item is sent with `fieldValidation=Strict`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_a_list_file_as_it_does_a_multi_document_yaml() {
    require_kubectl();
    let ts = start(|_| {}).await;
    let dir = ts.dir.path().to_path_buf();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "l1"},
         "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1"}, "data": {"a": "b"}},
    ]});
    let list_path = dir.join("list.json");
    std::fs::write(&list_path, list.to_string()).expect("write");
    let list_path = list_path.to_string_lossy().to_string();
    let out = kubectl(&ts, &["apply", "-f", &list_path]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout, "pod/l1 created\nconfigmap/cm1 created\n");
    let out = kubectl(&ts, &["create", "-f", &list_path, "--dry-run=server"]).await;
    assert!(!out.ok, "a second create must conflict: {}", out.stdout);
    assert!(out.stderr.contains("AlreadyExists"), "{}", out.stderr);

    // What `kubectl get -o json` writes goes back in as it came out.
    let out = kubectl(&ts, &["get", "pods,configmaps", "-o", "json"]).await;
    assert!(out.ok, "{}", out.stderr);
    let dump = dir.join("dump.json");
    std::fs::write(&dump, &out.stdout).expect("write");
    let out = kubectl(&ts, &["apply", "-f", &dump.to_string_lossy()]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("pod/l1 configured") && out.stdout.contains("configmap/cm1 configured"),
        "{}",
        out.stdout
    );

    // The same objects as a multi-document YAML, for comparison.
    let yaml = dir.join("multi.yaml");
    std::fs::write(
        &yaml,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm2\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm3\n",
    )
    .expect("write");
    let out = kubectl(&ts, &["apply", "-f", &yaml.to_string_lossy()]).await;
    assert!(out.ok, "{}", out.stderr);

    // Strict field validation still applies to a List's items.
    let bad = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "l2"},
         "spec": {"bogusField": 1, "containers": [{"name": "c", "image": "busybox"}]}},
    ]});
    let bad_path = dir.join("bad.json");
    std::fs::write(&bad_path, bad.to_string()).expect("write");
    let out = kubectl(&ts, &["apply", "-f", &bad_path.to_string_lossy()]).await;
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stderr.contains(r#"unknown field "spec.bogusField""#),
        "{}",
        out.stderr
    );
}

/// PriorityClasses and the Priority admission plugin through kubectl: the
/// class resolves a pod's priority; an unknown class is refused in
/// kube-apiserver's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_priority_classes() {
    require_kubectl();
    let ts = start(|_| {}).await;
    let dir = ts.dir.path().to_path_buf();
    let file = dir.join("priority.yaml");
    std::fs::write(
        &file,
        "apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: batch
value: 100
preemptionPolicy: Never
---
apiVersion: v1
kind: Pod
metadata:
  name: job
spec:
  priorityClassName: batch
  containers:
  - name: main
    image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: lost
spec:
  priorityClassName: nope
  containers:
  - name: main
    image: busybox
",
    )
    .expect("write");
    let out = kubectl(&ts, &["apply", "-f", &file.to_string_lossy()]).await;
    assert!(!out.ok, "the pod of an unknown class is refused");
    assert!(
        out.stderr
            .contains("pods \"lost\" is forbidden: no PriorityClass with name nope was found"),
        "{}",
        out.stderr
    );
    assert!(out
        .stdout
        .contains("priorityclass.scheduling.k8s.io/batch created"));
    assert!(out.stdout.contains("pod/job created"));

    let out = kubectl(
        &ts,
        &[
            "get",
            "pod",
            "job",
            "-o",
            "jsonpath={.spec.priority} {.spec.preemptionPolicy}",
        ],
    )
    .await;
    assert_eq!(out.stdout, "100 Never");

    let out = kubectl(&ts, &["get", "pc", "--no-headers"]).await;
    assert!(out.ok, "{}", out.stderr);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let pick = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .map(|r| (r[1], r[2], r[4]))
    };
    assert_eq!(pick("batch"), Some(("100", "false", "Never")));
    assert_eq!(
        pick("system-node-critical"),
        Some(("2000001000", "false", "PreemptLowerPriority"))
    );
    assert!(pick("system-cluster-critical").is_some());
}
