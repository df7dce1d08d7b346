//! A process-runtime pod whose executor died (issue 19): the Mesos agent
//! destroyed the executor's container and the pod's processes with it. The
//! relaunched task's worker (told why by the task, `lost_with_executor`)
//! finds the container lost and reports it honestly: `ExecutorLost` with
//! Mesos' words, restarted with its restart count up and an event under
//! `Always`/`OnFailure`, the pod `Failed` with nothing running or ready
//! under `Never`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::runner::env::StaticObjects;
use kube_mesos_executor::runner::pod::worker::{PodReport, PodWorker, WorkerConfig};
use kube_mesos_executor::runner::process::{ProcessConfig, ProcessRuntime, LOST_REASON};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

#[path = "support/worker.rs"]
mod worker;
use worker::{until, Events};

const WHY: &str = "Mesos reported TASK_FAILED (REASON_EXECUTOR_TERMINATED from SOURCE_AGENT): Executor terminated";

fn config(root: &Path, events: Arc<Events>, lost: Option<&str>) -> WorkerConfig {
    WorkerConfig {
        runtime: Arc::new(ProcessRuntime::new(ProcessConfig::new(root.join("rt")))),
        objects: Arc::new(StaticObjects::default()),
        host_ip: Some("127.0.0.1".into()),
        node_allocatable: BTreeMap::new(),
        log_root: root.join("logs"),
        cluster_dns: None,
        events,
        lost_with_executor: lost.map(str::to_owned),
    }
}

fn pod(uid: &str, policy: &str) -> core::Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": uid},
        "spec": {"restartPolicy": policy, "containers": [{"name": "app", "command": ["sleep", "1000"]}]}
    }))
    .unwrap()
}

fn app(r: &PodReport) -> core::ContainerStatus {
    r.status.container_statuses.as_ref().unwrap()[0].clone()
}

/// Runs the pod, then does what a Mesos agent does when the executor dies:
/// the executor is gone (the worker detached) and the pod's processes are
/// killed. Returns the pod's first container ID.
async fn run_then_lose_the_executor(root: &Path, p: &core::Pod) -> String {
    let first = PodWorker::spawn(p.clone(), config(root, Arc::default(), None));
    let r = until(&first, "running", |r| {
        r.status.phase.as_deref() == Some("Running")
    })
    .await;
    let id = app(&r).container_id.unwrap();
    first.detach();
    let uid = p.metadata.uid.as_deref().unwrap();
    let sandbox = root.join("rt/pods").join(uid);
    let pids = processes_with_cwd_under(&sandbox);
    assert!(!pids.is_empty(), "the pod's process runs in {sandbox:?}");
    for pid in pids {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    id
}

fn processes_with_cwd_under(dir: &Path) -> Vec<u32> {
    let dir = std::fs::canonicalize(dir).unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            cwd.starts_with(&dir).then_some(pid)
        })
        .collect()
}

#[tokio::test]
async fn an_always_pod_lost_with_its_executor_restarts_with_its_count_up_and_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod("uid-always", "Always");
    let old = run_then_lose_the_executor(dir.path(), &p).await;

    let events = Arc::new(Events::default());
    let second = PodWorker::spawn(p, config(dir.path(), events.clone(), Some(WHY)));
    let r = until(&second, "restarted", |r| {
        let c = app(r);
        c.restart_count == 1 && c.state.as_ref().is_some_and(|s| s.running.is_some())
    })
    .await;
    assert_eq!(r.status.phase.as_deref(), Some("Running"));
    let c = app(&r);
    assert_ne!(c.container_id.as_ref(), Some(&old), "a new process");
    let last = c.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.reason.as_deref(), Some("ExecutorLost"));
    assert!(
        last.message.as_deref().unwrap_or_default().contains(WHY),
        "{last:?}"
    );
    assert_eq!(last.container_id.as_ref(), Some(&old));
    assert_eq!(
        events.of("ExecutorLost"),
        [format!(
            "Container app was lost with the pod's executor ({WHY}); restarting it"
        )]
    );
    second.kill(Duration::from_secs(1));
    tokio::time::timeout(Duration::from_secs(30), second.wait())
        .await
        .expect("stops");
}

#[tokio::test]
async fn a_never_pod_lost_with_its_executor_fails_with_nothing_ready() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod("uid-never", "Never");
    run_then_lose_the_executor(dir.path(), &p).await;

    let events = Arc::new(Events::default());
    let second = PodWorker::spawn(p, config(dir.path(), events.clone(), Some(WHY)));
    let r = tokio::time::timeout(Duration::from_secs(30), second.wait())
        .await
        .expect("the pod ends");
    assert_eq!(r.status.phase.as_deref(), Some("Failed"), "{:?}", r.status);
    let c = app(&r);
    assert!(!c.ready);
    let t = c.state.unwrap().terminated.unwrap();
    assert_eq!(t.reason.as_deref(), Some("ExecutorLost"));
    assert!(
        t.message.as_deref().unwrap_or_default().contains(WHY),
        "{t:?}"
    );
    assert_eq!(c.restart_count, 0);
    for cond in r.status.conditions.iter().flatten() {
        if cond.type_ == "Ready" || cond.type_ == "ContainersReady" {
            assert_eq!(cond.status, "False", "{cond:?}");
        }
    }
    assert_eq!(
        events.of("ExecutorLost"),
        [format!(
            "Container app was lost with the pod's executor ({WHY}); not restarted (restartPolicy Never)"
        )]
    );
}

#[tokio::test]
async fn without_a_lost_executor_a_lost_container_keeps_the_kubelets_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = pod("uid-plain", "Never");
    run_then_lose_the_executor(dir.path(), &p).await;
    let events = Arc::new(Events::default());
    let second = PodWorker::spawn(p, config(dir.path(), events.clone(), None));
    let r = tokio::time::timeout(Duration::from_secs(30), second.wait())
        .await
        .expect("the pod ends");
    let t = app(&r).state.unwrap().terminated.unwrap();
    assert_eq!(t.reason.as_deref(), Some(LOST_REASON));
    assert!(events.of("ExecutorLost").is_empty());
}
