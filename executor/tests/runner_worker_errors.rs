//! The pod worker against a scripted fake runtime whose starts fail: the
//! kubelet's waiting reasons and back-off in the pod status, the kubelet's
//! events, and the runtime settings (pod and container specs, pull
//! secrets) the worker hands to the runtime; and panics, in a runtime call
//! or in the worker's own loop, that the worker survives. Paused time.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::runner::env::StaticObjects;
use kube_mesos_executor::runner::events::EventType;
use kube_mesos_executor::runner::pod::worker::{PodReport, PodWorker, WorkerConfig};
use kube_mesos_executor::runner::runtime::{
    ContainerConfig, ContainerExit, ContainerRuntimeSpec, ContainerStateKind, ContainerStatus,
    ExecOutput, PodRuntimeSpec, Result, Runtime, RuntimeError, SandboxConfig, SandboxInfo,
};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

#[path = "support/worker.rs"]
mod worker;
use worker::Events;

/// What a start does: fail with an error, or run until stopped.
type Script = Box<dyn Fn() -> Option<RuntimeError> + Send + Sync>;

struct Fake {
    t0: Instant,
    /// Outcomes of successive starts; an empty queue starts the container.
    script: Mutex<VecDeque<Script>>,
    pod_specs: Mutex<Vec<PodRuntimeSpec>>,
    container_specs: Mutex<Vec<(String, ContainerRuntimeSpec)>>,
    starts: Mutex<Vec<Duration>>,
    exits: Mutex<BTreeMap<String, watch::Sender<Option<i32>>>>,
    /// Makes the next `id_scheme` panic: it is called while the worker
    /// builds the pod's status, in its own loop.
    panic_in_status: std::sync::atomic::AtomicBool,
}

impl Fake {
    fn new(script: Vec<Script>) -> Arc<Self> {
        Arc::new(Self {
            t0: Instant::now(),
            script: Mutex::new(script.into()),
            pod_specs: Mutex::new(Vec::new()),
            container_specs: Mutex::new(Vec::new()),
            starts: Mutex::new(Vec::new()),
            exits: Mutex::new(BTreeMap::new()),
            panic_in_status: Default::default(),
        })
    }
}

struct FakeRt(Arc<Fake>);

#[async_trait]
impl Runtime for FakeRt {
    fn describe(&self) -> String {
        "fake".into()
    }
    fn id_scheme(&self) -> &'static str {
        if self
            .0
            .panic_in_status
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("a bug while building the status");
        }
        "fake"
    }
    async fn prepare_pod(&self, _: &SandboxConfig) -> Result<SandboxInfo> {
        unreachable!("the worker calls prepare_pod_with")
    }
    async fn prepare_pod_with(
        &self,
        c: &SandboxConfig,
        spec: &PodRuntimeSpec,
    ) -> Result<SandboxInfo> {
        self.0.pod_specs.lock().unwrap().push(spec.clone());
        Ok(SandboxInfo {
            id: c.uid.clone(),
            pod_uid: c.uid.clone(),
            dir: std::env::temp_dir().join(format!("kube-mesos-worker-errors-{}", c.uid)),
            log_directory: c.log_directory.clone(),
            pod_ips: vec!["10.0.0.9".into()],
        })
    }
    async fn create_and_start(&self, _: &SandboxInfo, _: &ContainerConfig) -> Result<String> {
        unreachable!("the worker calls create_and_start_with")
    }
    async fn create_and_start_with(
        &self,
        _: &SandboxInfo,
        c: &ContainerConfig,
        spec: &ContainerRuntimeSpec,
    ) -> Result<String> {
        self.0.starts.lock().unwrap().push(self.0.t0.elapsed());
        self.0
            .container_specs
            .lock()
            .unwrap()
            .push((c.name.clone(), spec.clone()));
        let next = self.0.script.lock().unwrap().pop_front();
        if let Some(err) = next.and_then(|f| f()) {
            return Err(err);
        }
        let id = format!("{}-{}", c.name, c.attempt);
        let (tx, _) = watch::channel(None);
        self.0.exits.lock().unwrap().insert(id.clone(), tx);
        Ok(id)
    }
    async fn wait(&self, id: &str) -> Result<ContainerExit> {
        let mut rx = self
            .0
            .exits
            .lock()
            .unwrap()
            .get(id)
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.into()))?
            .subscribe();
        let code = rx
            .wait_for(|c| c.is_some())
            .await
            .map_err(|_| RuntimeError::ContainerNotFound(id.into()))?
            .unwrap_or(255);
        Ok(ContainerExit {
            exit_code: code,
            reason: "Error".into(),
            message: None,
            finished_at: Timestamp::now(),
        })
    }
    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        Ok(ContainerStatus {
            id: id.into(),
            name: id.into(),
            attempt: 0,
            state: ContainerStateKind::Running,
            started_at: None,
            exit: None,
            log_path: PathBuf::new(),
            labels: BTreeMap::new(),
        })
    }
    async fn stop(&self, id: &str, _: Duration) -> Result<()> {
        if let Some(tx) = self.0.exits.lock().unwrap().get(id) {
            let _ = tx.send(Some(143));
        }
        Ok(())
    }
    async fn exec(&self, _: &str, _: &[String], _: Duration) -> Result<ExecOutput> {
        Ok(ExecOutput {
            exit_code: 1,
            timed_out: false,
            output: "not healthy".into(),
        })
    }
    async fn remove_container(&self, _: &str) -> Result<()> {
        Ok(())
    }
    async fn stop_pod(&self, _: &SandboxInfo) -> Result<()> {
        Ok(())
    }
    async fn remove_pod(&self, _: &SandboxInfo) -> Result<()> {
        Ok(())
    }
    /// The containers started and not ended (their IDs are `name-attempt`).
    async fn list_containers(&self, _: &str) -> Result<Vec<ContainerStatus>> {
        let exits = self.0.exits.lock().unwrap();
        Ok(exits
            .iter()
            .filter(|(_, tx)| tx.borrow().is_none())
            .filter_map(|(id, _)| {
                let (name, attempt) = id.rsplit_once('-')?;
                Some(ContainerStatus {
                    id: id.clone(),
                    name: name.into(),
                    attempt: attempt.parse().ok()?,
                    state: ContainerStateKind::Running,
                    started_at: None,
                    exit: None,
                    log_path: PathBuf::new(),
                    labels: BTreeMap::new(),
                })
            })
            .collect())
    }
}

fn config(rt: Arc<Fake>, events: Arc<Events>) -> WorkerConfig {
    let mut objects = StaticObjects::default();
    objects.secrets.insert(
        ("ns".into(), "regcred".into()),
        serde_json::from_value(json!({
            "metadata": {"name": "regcred", "namespace": "ns"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson":
                // {"auths":{"registry.example.com":{"username":"u","password":"p"}}}
                "eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifX19"}
        }))
        .unwrap(),
    );
    let mut c = WorkerConfig::new(
        Arc::new(FakeRt(rt)),
        Arc::new(objects),
        PathBuf::from("/nonexistent/logs"),
    );
    c.host_ip = Some("10.0.0.1".into());
    c.events = events;
    c
}

fn pod(spec: serde_json::Value) -> core::Pod {
    serde_json::from_value(
        json!({"metadata": {"name": "web", "namespace": "ns", "uid": "u1"}, "spec": spec}),
    )
    .unwrap()
}

fn waiting(r: &PodReport) -> Option<(String, String)> {
    let s = r.status.container_statuses.as_ref()?.first()?;
    let w = s.state.as_ref()?.waiting.as_ref()?;
    Some((
        w.reason.clone().unwrap_or_default(),
        w.message.clone().unwrap_or_default(),
    ))
}

async fn until(w: &PodWorker, what: &str, f: impl Fn(&PodReport) -> bool) -> PodReport {
    let mut rx = w.subscribe();
    let r = tokio::time::timeout(Duration::from_secs(3600), rx.wait_for(|r| f(r)))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap()
        .clone();
    r
}

fn pull_failed(reason: &'static str, message: &'static str) -> Script {
    Box::new(move || {
        Some(RuntimeError::ImagePullFailed {
            image: "registry.example.com/app:1".into(),
            reason,
            message: message.into(),
        })
    })
}

#[tokio::test(start_paused = true)]
async fn image_errors_wait_with_kubelet_reasons_and_retry_every_ten_seconds() {
    let fake = Fake::new(vec![
        pull_failed(
            "ErrImagePull",
            "rpc error: code = NotFound desc = not found",
        ),
        pull_failed(
            "ImagePullBackOff",
            "Back-off pulling image \"registry.example.com/app:1\"",
        ),
    ]);
    let events = Arc::new(Events::default());
    let w = PodWorker::spawn(
        pod(json!({
            "hostNetwork": true,
            "imagePullSecrets": [{"name": "regcred"}],
            "containers": [{"name": "app", "image": "registry.example.com/app:1",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "hostPort": 8080}],
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}]
        })),
        config(fake.clone(), events.clone()),
    );
    let r = until(&w, "ErrImagePull", |r| {
        waiting(r).is_some_and(|(reason, _)| reason == "ErrImagePull")
    })
    .await;
    assert_eq!(
        waiting(&r).unwrap().1,
        "rpc error: code = NotFound desc = not found"
    );
    assert_eq!(r.status.phase.as_deref(), Some("Pending"));
    until(&w, "ImagePullBackOff", |r| {
        waiting(r).is_some_and(|(reason, _)| reason == "ImagePullBackOff")
    })
    .await;
    let r = until(&w, "running", |r| {
        r.status
            .container_statuses
            .as_ref()
            .is_some_and(|c| c[0].state.as_ref().is_some_and(|s| s.running.is_some()))
    })
    .await;
    assert_eq!(r.status.container_statuses.unwrap()[0].restart_count, 0);
    let starts: Vec<u64> = fake
        .starts
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(starts, [0, 10, 20], "the kubelet's pod worker back-off");

    // The settings the runtime got.
    let pod_spec = fake.pod_specs.lock().unwrap()[0].clone();
    assert!(pod_spec.host_network);
    assert_eq!(pod_spec.port_mappings[0].host_port, 8080);
    assert_eq!(pod_spec.registry_auths.len(), 1);
    assert_eq!(pod_spec.registry_auths[0].server, "registry.example.com");
    assert_eq!(pod_spec.registry_auths[0].username, "u");
    let (name, c) = fake.container_specs.lock().unwrap()[0].clone();
    assert_eq!(name, "app");
    assert_eq!((c.cpu_limit_milli, c.memory_limit_bytes), (500, 64 << 20));

    // The kubelet's events, in order.
    let got = events.messages();
    let expect = [
        ("Failed", "Failed to pull image \"registry.example.com/app:1\": rpc error: code = NotFound desc = not found"),
        ("Failed", "Error: ErrImagePull"),
        ("BackOff", "Back-off pulling image \"registry.example.com/app:1\""),
        ("Failed", "Error: ImagePullBackOff"),
        ("Created", "Container created"),
        ("Started", "Container started"),
    ];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, expect);
    w.kill(Duration::from_secs(1));
    w.wait().await;
    let got = events.messages();
    assert_eq!(
        got.last().unwrap(),
        &("Killing".to_string(), "Stopping container app".to_string())
    );
}

#[tokio::test(start_paused = true)]
async fn create_and_config_errors_wait_and_a_failed_start_is_a_start_error() {
    let fake = Fake::new(vec![
        Box::new(|| {
            Some(RuntimeError::CreateContainerFailed {
                container: "app".into(),
                message: "bad mount".into(),
            })
        }),
        Box::new(|| {
            Some(RuntimeError::StartContainerFailed {
                container: "app".into(),
                source: std::io::Error::other("exec: \"nope\": executable file not found"),
            })
        }),
    ]);
    let events = Arc::new(Events::default());
    let w = PodWorker::spawn(
        pod(json!({"restartPolicy": "Never",
            "containers": [{"name": "app", "image": "busybox:1", "command": ["nope"]}]})),
        config(fake.clone(), events.clone()),
    );
    let r = until(&w, "CreateContainerError", |r| {
        waiting(r).is_some_and(|(reason, _)| reason == "CreateContainerError")
    })
    .await;
    assert_eq!(waiting(&r).unwrap().1, "bad mount");
    let r = w.wait().await;
    assert_eq!(r.status.phase.as_deref(), Some("Failed"));
    let t = r.status.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (128, Some("StartError"))
    );
    assert!(t.message.unwrap().contains("executable file not found"));
    let got = events.messages();
    assert_eq!(got[0], ("Failed".into(), "Error: bad mount".into()));
    assert_eq!(got[1].0, "Failed");
    assert!(got[1].1.starts_with("Error: exec: \"nope\""), "{got:?}");
}

#[tokio::test(start_paused = true)]
async fn probe_failures_and_crash_loops_are_reported_as_events() {
    let fake = Fake::new(vec![]);
    let events = Arc::new(Events::default());
    let w = PodWorker::spawn(
        pod(json!({"containers": [{"name": "app", "image": "busybox:1",
            "livenessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 2}}]})),
        config(fake.clone(), events.clone()),
    );
    until(&w, "two restarts", |r| {
        r.status
            .container_statuses
            .as_ref()
            .is_some_and(|c| c[0].restart_count >= 2)
    })
    .await;
    w.kill(Duration::from_secs(1));
    w.wait().await;
    let all = events.0.lock().unwrap().clone();
    let unhealthy = all
        .iter()
        .find(|e| e.reason == "Unhealthy")
        .expect("Unhealthy");
    assert_eq!(unhealthy.message, "Liveness probe failed: not healthy");
    assert_eq!(unhealthy.event_type, EventType::Warning);
    assert_eq!(unhealthy.field_path, "spec.containers{app}");
    assert!(all.iter().any(|e| e.reason == "Killing"
        && e.message == "Container app failed liveness probe, will be restarted"));
    assert!(all.iter().any(|e| e.reason == "BackOff"
        && e.message == "Back-off restarting failed container app in pod web_ns(u1)"));
}

fn running_id(r: &PodReport) -> Option<String> {
    let s = r.status.container_statuses.as_ref()?.first()?;
    s.state.as_ref()?.running.as_ref()?;
    s.container_id.clone()
}

/// A panic in a runtime call (here: starting the container) is that
/// call's failure: the container waits `CreateContainerError` with the
/// panic's message and is started again after the kubelet's 10 s, and the
/// worker (and so the executor) carries on.
#[tokio::test(start_paused = true)]
async fn a_panic_while_starting_a_container_is_a_start_error_that_is_retried() {
    let fake = Fake::new(vec![Box::new(|| panic!("boom in the runtime client"))]);
    let events = Arc::new(Events::default());
    let w = PodWorker::spawn(
        pod(json!({"containers": [{"name": "app", "image": "busybox"}]})),
        config(fake.clone(), events.clone()),
    );
    let r = until(&w, "CreateContainerError", |r| {
        waiting(r).is_some_and(|(reason, _)| reason == "CreateContainerError")
    })
    .await;
    assert_eq!(
        waiting(&r).unwrap().1,
        "the executor failed starting a container: boom in the runtime client"
    );
    let r = until(&w, "the container running", |r| running_id(r).is_some()).await;
    assert_eq!(r.status.phase.as_deref(), Some("Running"));
    let starts = fake.starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert!(
        starts[1] - starts[0] >= Duration::from_secs(10),
        "{starts:?}"
    );
}

/// A panic in the worker's own loop (a bug in the pod's state machine or
/// status) does not end the worker: it takes the pod over again, as a new
/// executor would — the running container re-adopted, not restarted — and
/// says so in an event; a later kill still stops the pod.
#[tokio::test(start_paused = true)]
async fn a_panicking_pod_worker_takes_its_pod_over_again() {
    let fake = Fake::new(vec![]);
    let events = Arc::new(Events::default());
    let w = PodWorker::spawn(
        pod(json!({"containers": [{"name": "app", "image": "busybox",
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}]})),
        config(fake.clone(), events.clone()),
    );
    let r = until(&w, "the container running", |r| running_id(r).is_some()).await;
    let id = running_id(&r).unwrap();

    fake.panic_in_status
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut seen = w.subscribe();
    tokio::time::timeout(Duration::from_secs(3600), async {
        while events.of("PodWorkerFailed").is_empty() {
            let _ = tokio::time::timeout(Duration::from_secs(1), seen.changed()).await;
        }
    })
    .await
    .expect("the worker's failure is reported");
    assert_eq!(
        events.of("PodWorkerFailed"),
        ["The executor's worker for this pod failed (a bug while building the status); it takes the pod over again in 1s, its containers left running"]
    );
    // Taken over: the same container, never started again.
    let before = fake.starts.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        fake.starts.lock().unwrap().len(),
        before,
        "not started again"
    );
    let r = w.subscribe().borrow().clone();
    assert_eq!(running_id(&r).as_deref(), Some(id.as_str()));
    assert_eq!(
        r.status.container_statuses.as_ref().unwrap()[0].restart_count,
        0
    );

    w.kill(Duration::from_secs(1));
    let last = tokio::time::timeout(Duration::from_secs(3600), w.wait())
        .await
        .expect("the pod stops");
    assert!(last.finished());
    // The re-adopted container is the one the kill stopped.
    let c = &last.status.container_statuses.as_ref().unwrap()[0];
    let t = c.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(
        (t.exit_code, t.container_id.as_deref()),
        (143, Some(id.as_str()))
    );
}
