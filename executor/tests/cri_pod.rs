//! The pod runner (PodWorker) driving the CRI runtime against a real
//! containerd: init and app containers, a pod IP in `status.podIP`, env
//! from a configMap and a configMap volume, an exec liveness probe that
//! fails and restarts the container, an executor restart that re-adopts the
//! running pod, and a graceful kill.

#[path = "support/containerd.rs"]
mod containerd;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use containerd::{Containerd, BUSYBOX_IMAGE};
use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::runner::cri::{CriConfig, CriRuntime};
use kube_mesos_executor::runner::env::StaticObjects;
use kube_mesos_executor::runner::pod::worker::{PodReport, PodWorker, WorkerConfig};
use kube_mesos_executor::runner::runtime::Runtime;
use serde_json::json;

async fn runtime(cd: &Containerd) -> Arc<CriRuntime> {
    let mut c = CriConfig::new(cd.socket(), cd.dir().join("kube"));
    c.cgroup_parent = cd.cgroup_parent.clone();
    c.wait_poll = Duration::from_millis(100);
    Arc::new(
        CriRuntime::connect(c)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}\n{}", cd.diagnostics())),
    )
}

fn worker_config(cd: &Containerd, rt: Arc<CriRuntime>) -> WorkerConfig {
    let mut objects = StaticObjects::default();
    objects.config_maps.insert(
        ("ns".into(), "cfg".into()),
        serde_json::from_value(json!({
            "metadata": {"name": "cfg", "namespace": "ns"},
            "data": {"MSG": "hello from env", "file.txt": "hello from volume"}
        }))
        .expect("configmap"),
    );
    WorkerConfig {
        runtime: rt,
        objects: Arc::new(objects),
        host_ip: Some("127.0.0.1".into()),
        node_allocatable: BTreeMap::new(),
        log_root: cd.dir().join("logs"),
        cluster_dns: None,
        events: Arc::new(kube_mesos_executor::runner::events::NoEvents),
        lost_with_executor: None,
    }
}

fn pod() -> core::Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "uid-runner"},
        "spec": {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 10,
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
            "initContainers": [{
                "name": "init", "image": BUSYBOX_IMAGE, "imagePullPolicy": "Never",
                "command": ["sh", "-c", "echo init ran"]
            }],
            "containers": [{
                "name": "app", "image": BUSYBOX_IMAGE, "imagePullPolicy": "Never",
                "command": ["sh", "-c",
                    "cat /etc/cfg/file.txt; echo; echo \"$MSG\"; touch /tmp/healthy; trap 'echo bye; exit 0' TERM; while true; do sleep 1; done"],
                "env": [{"name": "MSG", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MSG"}}}],
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true}],
                "livenessProbe": {
                    "exec": {"command": ["test", "-f", "/tmp/healthy"]},
                    "periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 2
                }
            }]
        }
    }))
    .expect("pod")
}

async fn until(
    w: &PodWorker,
    cd: &Containerd,
    what: &str,
    f: impl Fn(&PodReport) -> bool,
) -> PodReport {
    let mut rx = w.subscribe();
    let found = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|r| f(r)))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|r| r.clone());
    match found {
        Some(r) => r,
        None => panic!(
            "timed out waiting for {what}; last report: {:#?}\n{}",
            rx.borrow().status,
            cd.diagnostics()
        ),
    }
}

fn app(r: &PodReport) -> Option<&core::ContainerStatus> {
    r.status
        .container_statuses
        .as_ref()
        .and_then(|s| s.iter().find(|c| c.name == "app"))
}

fn running(c: &core::ContainerStatus) -> bool {
    c.state.as_ref().is_some_and(|s| s.running.is_some())
}

fn bare_id(c: &core::ContainerStatus) -> String {
    let id = c.container_id.clone().unwrap_or_default();
    id.strip_prefix("containerd://").unwrap_or(&id).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_runs_is_restarted_by_its_liveness_probe_survives_an_executor_restart_and_stops() {
    let cd = Containerd::start().await;
    let rt = runtime(&cd).await;
    let worker = PodWorker::spawn(pod(), worker_config(&cd, rt.clone()));

    let r = until(&worker, &cd, "the app running", |r| {
        r.status.phase.as_deref() == Some("Running") && app(r).is_some_and(running)
    })
    .await;
    let pod_ip = r.status.pod_ip.clone().unwrap_or_default();
    assert!(
        pod_ip.starts_with(cd.subnet.trim_end_matches("0/24")),
        "podIP {pod_ip} from CNI"
    );
    let init = &r
        .status
        .init_container_statuses
        .as_ref()
        .expect("init statuses")[0];
    let done = init
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("init done");
    assert_eq!(
        (done.exit_code, done.reason.as_deref()),
        (0, Some("Completed"))
    );
    let first = app(&r).expect("app");
    assert!(first
        .container_id
        .as_deref()
        .unwrap_or("")
        .starts_with("containerd://"));
    let first_id = bare_id(first);

    let log_file = cd.dir().join("logs/ns_web_uid-runner/app/0.log");
    let mut log = String::new();
    for _ in 0..50 {
        log = std::fs::read_to_string(&log_file).unwrap_or_default();
        if log.contains("hello from env") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(log.contains("stdout F hello from volume"), "{log}");
    assert!(log.contains("stdout F hello from env"), "{log}");

    // Break the liveness probe: the runner kills and restarts the container.
    let out = rt
        .exec(
            &first_id,
            &["rm".into(), "/tmp/healthy".into()],
            Duration::from_secs(5),
        )
        .await
        .expect("exec");
    assert_eq!(out.exit_code, 0, "{out:?}");
    let r = until(&worker, &cd, "a restart by the liveness probe", |r| {
        app(r).is_some_and(|c| c.restart_count >= 1 && running(c))
    })
    .await;
    let second = app(&r).expect("app");
    let second_id = bare_id(second);
    assert_ne!(second_id, first_id);
    let last = second
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("lastState.terminated");
    assert_eq!(
        last.container_id.as_deref().map(|s| s.ends_with(&first_id)),
        Some(true)
    );

    // The executor restarts: the worker lets go, a new runtime and worker
    // take the pod over without killing anything.
    worker.detach();
    drop(rt);
    let rt = runtime(&cd).await;
    let worker = PodWorker::spawn(pod(), worker_config(&cd, rt.clone()));
    let r = until(&worker, &cd, "the re-adopted app running", |r| {
        app(r).is_some_and(|c| running(c) && bare_id(c) == second_id)
    })
    .await;
    assert_eq!(
        app(&r).expect("app").restart_count,
        1,
        "re-adoption is not a restart"
    );
    assert_eq!(r.status.pod_ip.as_deref(), Some(pod_ip.as_str()));

    // Graceful kill: TERM reaches the app, which exits 0 within the grace.
    worker.kill(Duration::from_secs(10));
    let report = tokio::time::timeout(Duration::from_secs(60), worker.wait())
        .await
        .expect("pod stops");
    assert!(report.finished());
    let c = app(&report).expect("app");
    let t = c
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("terminated");
    assert_eq!(t.exit_code, 0, "{t:?}");
    let log = std::fs::read_to_string(cd.dir().join("logs/ns_web_uid-runner/app/1.log"))
        .unwrap_or_default();
    assert!(log.contains("stdout F bye"), "{log}");

    // SHUTDOWN: nothing of the pod is left in containerd.
    assert_eq!(
        rt.cleanup_orphans(&[]).await.expect("cleanup"),
        ["uid-runner"]
    );
    assert!(rt
        .list_containers("uid-runner")
        .await
        .expect("list")
        .is_empty());
}
