//! The pod worker hands the pod's settings to the CRI runtime, against a
//! real containerd: a hostPort (CNI portmap) reaches the pod, CPU and
//! memory limits land in the container's cgroup, an image present on the
//! node is used under `IfNotPresent`, an absent one under `Never` waits as
//! `ErrImageNeverPull` with the kubelet's events, and once the pod is
//! killed its sandbox (from the last report) is removed without leaks.

#[path = "support/containerd.rs"]
mod containerd;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use containerd::{Containerd, BUSYBOX_IMAGE};
use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::runner::cri::{CriConfig, CriRuntime};
use kube_mesos_executor::runner::env::StaticObjects;
use kube_mesos_executor::runner::events::{EventRecorder, PodEvent};
use kube_mesos_executor::runner::pod::worker::{PodReport, PodWorker, WorkerConfig};
use kube_mesos_executor::runner::runtime::Runtime;
use serde_json::json;

#[derive(Default)]
struct Events(Mutex<Vec<PodEvent>>);

impl EventRecorder for Events {
    fn record(&self, _: &core::Pod, event: PodEvent) {
        self.0.lock().unwrap().push(event);
    }
}

async fn until(
    w: &PodWorker,
    cd: &Containerd,
    what: &str,
    f: impl Fn(&PodReport) -> bool,
) -> PodReport {
    let mut rx = w.subscribe();
    let found = tokio::time::timeout(Duration::from_secs(90), rx.wait_for(|r| f(r)))
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

fn status<'a>(r: &'a PodReport, name: &str) -> Option<&'a core::ContainerStatus> {
    r.status
        .container_statuses
        .as_ref()
        .and_then(|s| s.iter().find(|c| c.name == name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_passes_host_ports_resources_and_pull_policy_to_containerd() {
    let cd = Containerd::start().await;
    let mut c = CriConfig::new(cd.socket(), cd.dir().join("kube"));
    c.cgroup_parent = cd.cgroup_parent.clone();
    c.wait_poll = Duration::from_millis(100);
    let rt = Arc::new(
        CriRuntime::connect(c)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}\n{}", cd.diagnostics())),
    );
    let host_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let pod: core::Pod = serde_json::from_value(json!({
        "metadata": {"name": "settings", "namespace": "ns", "uid": "uid-settings"},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {"name": "server", "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent",
                 "command": ["sh", "-c", "exec nc -ll -p 8080 -e /bin/echo hello-from-pod"],
                 "ports": [{"containerPort": 8080, "hostPort": host_port, "hostIP": "127.0.0.1"}],
                 "resources": {"requests": {"cpu": "250m", "memory": "32Mi"},
                               "limits": {"cpu": "500m", "memory": "64Mi"}}},
                {"name": "absent", "image": "kube-mesos-test/absent:1", "imagePullPolicy": "Never",
                 "command": ["true"]}
            ]
        }
    }))
    .expect("pod");
    let events = Arc::new(Events::default());
    let mut config = WorkerConfig::new(
        rt.clone(),
        Arc::new(StaticObjects::default()),
        cd.dir().join("logs"),
    );
    config.host_ip = Some("127.0.0.1".into());
    config.events = events.clone();
    let w = PodWorker::spawn(pod, config);

    let r = until(&w, &cd, "server running and absent waiting", |r| {
        let running = status(r, "server")
            .and_then(|c| c.state.as_ref())
            .is_some_and(|s| s.running.is_some());
        let never = status(r, "absent")
            .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .is_some_and(|r| r == "ErrImageNeverPull");
        running && never
    })
    .await;
    let msg = status(&r, "absent")
        .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.message.clone())
        .unwrap_or_default();
    assert_eq!(
        msg,
        "Container image \"kube-mesos-test/absent:1\" is not present with pull policy of Never"
    );
    // The kubelet's getPhase: a container never started keeps the pod Pending.
    assert_eq!(r.status.phase.as_deref(), Some("Pending"));

    // Resources as the kubelet maps them (cgroup v1 inside the container).
    let id = status(&r, "server")
        .and_then(|c| c.container_id.clone())
        .unwrap_or_default();
    let id = id.strip_prefix("containerd://").unwrap_or(&id).to_string();
    let out = rt
        .exec(
            &id,
            &[
                "cat".into(),
                "/sys/fs/cgroup/cpu/cpu.shares".into(),
                "/sys/fs/cgroup/cpu/cpu.cfs_quota_us".into(),
                "/sys/fs/cgroup/memory/memory.limit_in_bytes".into(),
            ],
            Duration::from_secs(10),
        )
        .await
        .expect("exec");
    assert_eq!(out.output, "256\n50000\n67108864\n", "cgroup settings");

    // The hostPort reaches the pod through CNI portmap.
    let mut answer = String::new();
    for _ in 0..50 {
        use tokio::io::AsyncReadExt;
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", host_port)).await {
            answer.clear();
            let _ =
                tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut answer)).await;
            if answer.contains("hello-from-pod") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        answer,
        "hello-from-pod\n",
        "hostPort {host_port}\n{}",
        cd.diagnostics()
    );

    let got: Vec<(String, String, String)> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e.field_path.clone(),
                e.reason.to_string(),
                e.message.clone(),
            )
        })
        .collect();
    for want in [
        ("spec.containers{server}", "Created", "Container created"),
        ("spec.containers{server}", "Started", "Container started"),
        ("spec.containers{absent}", "ErrImageNeverPull", msg.as_str()),
        (
            "spec.containers{absent}",
            "Failed",
            "Error: ErrImageNeverPull",
        ),
    ] {
        let want = (want.0.to_string(), want.1.to_string(), want.2.to_string());
        assert!(got.contains(&want), "missing {want:?} in {got:?}");
    }

    // Kill, then remove the sandbox the last report names: nothing is left.
    w.kill(Duration::from_secs(2));
    let done = w.wait().await;
    assert!(done.finished());
    let sb = done.sandbox.clone().expect("the report names the sandbox");
    rt.remove_pod(&sb).await.expect("remove pod");
    assert!(rt
        .list_containers("uid-settings")
        .await
        .expect("list")
        .is_empty());
    assert!(
        rt.cleanup_orphans(&[]).await.expect("cleanup").is_empty(),
        "nothing left to clean up"
    );
}
