//! End-to-end tests of the pod worker with the `process` runtime: real
//! processes, real volumes, the kubelet's status at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::runner::env::StaticObjects;
use kube_mesos_executor::runner::pod::machine::Stage;
use kube_mesos_executor::runner::pod::worker::{PodReport, PodWorker, WorkerConfig};
use kube_mesos_executor::runner::process::{ProcessConfig, ProcessRuntime};
use serde_json::json;

#[path = "support/worker.rs"]
mod worker;
use worker::until;

fn config(root: &std::path::Path) -> WorkerConfig {
    let mut objects = StaticObjects::default();
    objects.config_maps.insert(
        ("ns".into(), "cfg".into()),
        serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"MSG": "hello", "file.txt": "from-volume"}}))
            .unwrap(),
    );
    WorkerConfig {
        runtime: Arc::new(ProcessRuntime::new(ProcessConfig::new(root.join("rt")))),
        objects: Arc::new(objects),
        host_ip: Some("127.0.0.1".into()),
        node_allocatable: BTreeMap::new(),
        log_root: root.join("logs"),
        cluster_dns: None,
        events: Arc::new(kube_mesos_executor::runner::events::NoEvents),
        lost_with_executor: None,
    }
}

fn pod(uid: &str, spec: serde_json::Value) -> core::Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": uid},
        "spec": spec
    }))
    .unwrap()
}

async fn finish(w: PodWorker) -> PodReport {
    tokio::time::timeout(Duration::from_secs(30), w.wait())
        .await
        .expect("pod did not finish in time")
}

fn app_status(r: &PodReport) -> &core::ContainerStatus {
    &r.status.container_statuses.as_ref().unwrap()[0]
}

#[tokio::test]
async fn init_then_app_with_env_and_volume_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod(
        "uid-ok",
        json!({
            "restartPolicy": "Never",
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "work", "emptyDir": {}}],
            "initContainers": [{"name": "init", "command": ["sh", "-c", "echo ready > work/flag"],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
            "containers": [{
                "name": "app", "image": "busybox",
                "command": ["sh", "-c"], "args": ["cat work/flag; cat /dev/null; cat etc/cfg/file.txt; echo; echo $(MSG_COPY) $POD"],
                "env": [{"name": "MSG_COPY", "value": "$(MSG)!"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "envFrom": [{"configMapRef": {"name": "cfg"}}],
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "work", "mountPath": "/work"}]
            }]
        }),
    );
    let w = PodWorker::spawn(p, config(dir.path()));
    let r = finish(w).await;
    assert_eq!(r.stage, Stage::Terminated);
    assert_eq!(
        r.status.phase.as_deref(),
        Some("Succeeded"),
        "{:?}",
        r.status
    );
    let t = app_status(&r)
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert!(t.container_id.unwrap().starts_with("process://"));
    let log = std::fs::read_to_string(dir.path().join("logs/ns_web_uid-ok/app/0.log")).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.splitn(4, ' ').nth(3).unwrap())
        .collect();
    assert_eq!(lines, vec!["ready", "from-volume", "hello! web"], "{log}");
}

#[tokio::test]
async fn failing_container_fails_the_pod_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod(
        "uid-fail",
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "command": ["sh", "-c", "echo hi; exit 3"]}]}),
    );
    let r = finish(PodWorker::spawn(p, config(dir.path()))).await;
    assert_eq!(r.status.phase.as_deref(), Some("Failed"));
    let t = app_status(&r)
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
}

#[tokio::test]
async fn missing_config_waits_with_create_container_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod(
        "uid-cfg",
        json!({"containers": [{"name": "app", "command": ["true"],
            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope"}}}]}]}),
    );
    let w = PodWorker::spawn(p, config(dir.path()));
    let r = until(&w, "config error", |r| {
        r.status
            .container_statuses
            .as_ref()
            .and_then(|c| c[0].state.as_ref()?.waiting.as_ref()?.reason.clone())
            .as_deref()
            == Some("CreateContainerConfigError")
    })
    .await;
    let waiting = app_status(&r)
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(
        waiting.message.as_deref(),
        Some("couldn't find key nope in ConfigMap ns/cfg")
    );
    assert_eq!(r.status.phase.as_deref(), Some("Pending"));
    w.kill(Duration::from_secs(1));
    assert_eq!(finish(w).await.stage, Stage::Terminated);
}

#[tokio::test]
async fn kill_runs_pre_stop_then_term() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod(
        "uid-kill",
        json!({"containers": [{"name": "app",
            "command": ["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo up; while :; do sleep 0.1; done"],
            "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "echo prestop > prestop.out"]}}}}]}),
    );
    let w = PodWorker::spawn(p, config(dir.path()));
    let r = until(&w, "running", |r| {
        r.status.phase.as_deref() == Some("Running")
    })
    .await;
    assert!(r
        .status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True"));
    w.kill(Duration::from_secs(5));
    let r = finish(w).await;
    assert!(
        dir.path().join("rt/pods/uid-kill/prestop.out").exists(),
        "preStop ran"
    );
    let t = app_status(&r)
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(t.exit_code, 0, "the TERM trap ran");
    assert_eq!(r.status.phase.as_deref(), Some("Succeeded"));
    let log = std::fs::read_to_string(dir.path().join("logs/ns_web_uid-kill/app/0.log")).unwrap();
    assert!(log.contains("stdout F got-term"), "{log}");
}

#[tokio::test]
async fn liveness_failure_restarts_the_container() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod(
        "uid-live",
        json!({"containers": [{"name": "app", "command": ["sleep", "1000"],
            "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1},
            "readinessProbe": {"tcpSocket": {"port": 1}, "periodSeconds": 1}}],
            "terminationGracePeriodSeconds": 1}),
    );
    let w = PodWorker::spawn(p, config(dir.path()));
    let r = until(&w, "a restart", |r| {
        r.status
            .container_statuses
            .as_ref()
            .is_some_and(|c| c[0].restart_count >= 1)
    })
    .await;
    let cs = app_status(&r);
    assert!(!cs.ready);
    let last = cs.last_state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!(last.exit_code, 143, "killed by TERM after the failed probe");
    w.kill(Duration::from_secs(1));
    finish(w).await;
}

#[tokio::test]
async fn a_new_worker_readopts_the_running_container() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod(
        "uid-adopt",
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "command": ["sleep", "1000"]}]}),
    );
    let first = PodWorker::spawn(p.clone(), config(dir.path()));
    let r = until(&first, "running", |r| {
        r.status.phase.as_deref() == Some("Running")
    })
    .await;
    let id = app_status(&r).container_id.clone().unwrap();
    // The executor goes away; its pods keep running.
    first.detach();

    // A new executor process: fresh runtime over the same root.
    let second = PodWorker::spawn(p, config(dir.path()));
    let r = until(&second, "running again", |r| {
        r.status.phase.as_deref() == Some("Running")
    })
    .await;
    let cs = app_status(&r);
    assert_eq!(
        cs.container_id.as_ref(),
        Some(&id),
        "same process, not a new one"
    );
    assert_eq!(cs.restart_count, 0);
    second.kill(Duration::from_secs(1));
    let r = finish(second).await;
    let t = app_status(&r)
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(t.container_id.as_ref(), Some(&id));
}

#[tokio::test]
async fn unrunnable_command_is_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod(
        "uid-start",
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "command": ["/nonexistent/bin/app"]}]}),
    );
    let r = finish(PodWorker::spawn(p, config(dir.path()))).await;
    assert_eq!(r.status.phase.as_deref(), Some("Failed"));
    let t = app_status(&r)
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (128, Some("StartError"))
    );
    assert!(t.message.unwrap().contains("No such file"));

    // No command and no args: the process runtime cannot run it.
    let p = pod(
        "uid-nocmd",
        json!({"containers": [{"name": "app", "image": "nginx"}]}),
    );
    let w = PodWorker::spawn(p, config(dir.path()));
    let r = until(&w, "CreateContainerConfigError", |r| {
        r.status
            .container_statuses
            .as_ref()
            .and_then(|c| c[0].state.as_ref()?.waiting.as_ref()?.reason.clone())
            .as_deref()
            == Some("CreateContainerConfigError")
    })
    .await;
    let msg = app_status(&r)
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap()
        .message
        .unwrap();
    assert!(msg.contains("needs a `command`"), "{msg}");
    w.kill(Duration::from_secs(1));
    finish(w).await;
}

#[tokio::test]
async fn missing_config_map_volume_keeps_the_pod_container_creating() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod(
        "uid-vol",
        json!({"volumes": [{"name": "conf", "configMap": {"name": "absent"}}],
               "containers": [{"name": "app", "command": ["true"],
                               "volumeMounts": [{"name": "conf", "mountPath": "/conf"}]}]}),
    );
    let w = PodWorker::spawn(p, config(dir.path()));
    let r = until(&w, "FailedMount", |r| r.sandbox_error.is_some()).await;
    assert_eq!(
        r.sandbox_error.as_deref(),
        Some("MountVolume.SetUp failed for volume \"conf\" : configmap \"absent\" not found")
    );
    assert_eq!(r.status.phase.as_deref(), Some("Pending"));
    let waiting = app_status(&r)
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("ContainerCreating"));
    let ready_to_start = r
        .status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "PodReadyToStartContainers")
        .unwrap();
    assert_eq!(ready_to_start.status, "False");
    w.kill(Duration::from_secs(1));
    assert_eq!(finish(w).await.stage, Stage::Terminated);
}
