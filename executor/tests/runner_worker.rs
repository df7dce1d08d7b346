//! The pod worker's async shell under paused time, with a scripted fake
//! runtime: timers, backoff and grace periods as the worker really runs them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::runner::env::StaticObjects;
use kube_mesos_executor::runner::pod::worker::{PodWorker, WorkerConfig};
use kube_mesos_executor::runner::runtime::{
    ContainerConfig, ContainerExit, ContainerStateKind, ContainerStatus, ExecOutput, Result,
    Runtime, RuntimeError, SandboxConfig, SandboxInfo,
};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Start(String, u32),
    Exec(Vec<String>),
    Stop(String, Duration),
    StopPod,
}

/// Containers run for `run_for` then exit with `code`, unless stopped.
struct Fake {
    t0: Instant,
    run_for: Duration,
    code: i32,
    exec_takes: Duration,
    calls: Mutex<Vec<(Duration, Call)>>,
    exits: Mutex<BTreeMap<String, watch::Sender<Option<i32>>>>,
}

impl Fake {
    fn new(run_for: Duration, code: i32) -> Arc<Self> {
        Arc::new(Self {
            t0: Instant::now(),
            run_for,
            code,
            exec_takes: Duration::ZERO,
            calls: Mutex::new(Vec::new()),
            exits: Mutex::new(BTreeMap::new()),
        })
    }
    fn log(&self, c: Call) {
        self.calls.lock().unwrap().push((self.t0.elapsed(), c));
    }
    fn calls(&self) -> Vec<(Duration, Call)> {
        self.calls.lock().unwrap().clone()
    }
    fn exit(&self, id: &str, code: i32) {
        if let Some(tx) = self.exits.lock().unwrap().get(id) {
            tx.send_if_modified(|c| {
                if c.is_none() {
                    *c = Some(code);
                    true
                } else {
                    false
                }
            });
        }
    }
}

struct FakeRt(Arc<Fake>);

#[async_trait]
impl Runtime for FakeRt {
    fn describe(&self) -> String {
        "fake".into()
    }
    fn id_scheme(&self) -> &'static str {
        "fake"
    }
    async fn prepare_pod(&self, c: &SandboxConfig) -> Result<SandboxInfo> {
        Ok(SandboxInfo {
            id: c.uid.clone(),
            pod_uid: c.uid.clone(),
            dir: PathBuf::from("/nonexistent"),
            log_directory: c.log_directory.clone(),
            pod_ips: vec!["10.0.0.9".into()],
        })
    }
    async fn create_and_start(&self, _: &SandboxInfo, c: &ContainerConfig) -> Result<String> {
        self.0.log(Call::Start(c.name.clone(), c.attempt));
        let id = format!("{}-{}", c.name, c.attempt);
        let (tx, _) = watch::channel(None);
        self.0.exits.lock().unwrap().insert(id.clone(), tx);
        let me = self.0.clone();
        let id2 = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(me.run_for).await;
            me.exit(&id2, me.code);
        });
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
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
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
    async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        self.0.log(Call::Stop(id.into(), grace));
        self.0.exit(id, 143);
        Ok(())
    }
    async fn exec(&self, _: &str, cmd: &[String], _: Duration) -> Result<ExecOutput> {
        self.0.log(Call::Exec(cmd.to_vec()));
        tokio::time::sleep(self.0.exec_takes).await;
        Ok(ExecOutput {
            exit_code: 0,
            timed_out: false,
            output: String::new(),
        })
    }
    async fn remove_container(&self, _: &str) -> Result<()> {
        Ok(())
    }
    async fn stop_pod(&self, _: &SandboxInfo) -> Result<()> {
        self.0.log(Call::StopPod);
        Ok(())
    }
    async fn remove_pod(&self, _: &SandboxInfo) -> Result<()> {
        Ok(())
    }
    async fn list_containers(&self, _: &str) -> Result<Vec<ContainerStatus>> {
        Ok(Vec::new())
    }
}

fn config(rt: Arc<Fake>) -> WorkerConfig {
    WorkerConfig {
        runtime: Arc::new(FakeRt(rt)),
        objects: Arc::new(StaticObjects::default()),
        host_ip: Some("10.0.0.1".into()),
        node_allocatable: BTreeMap::new(),
        log_root: PathBuf::from("/nonexistent/logs"),
        cluster_dns: None,
        events: Arc::new(kube_mesos_executor::runner::events::NoEvents),
        lost_with_executor: None,
    }
}

fn pod(spec: serde_json::Value) -> core::Pod {
    serde_json::from_value(
        json!({"metadata": {"name": "web", "namespace": "ns", "uid": "u1"}, "spec": spec}),
    )
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn worker_restarts_with_crash_loop_back_off_timing() {
    let fake = Fake::new(Duration::from_secs(1), 1);
    let w = PodWorker::spawn(
        pod(json!({"containers": [{"name": "c", "command": ["false"]}]})),
        config(fake.clone()),
    );
    let mut rx = w.subscribe();
    tokio::time::timeout(
        Duration::from_secs(3600),
        rx.wait_for(|r| {
            r.status
                .container_statuses
                .as_ref()
                .is_some_and(|c| c[0].restart_count >= 6)
        }),
    )
    .await
    .expect("six restarts within the hour")
    .unwrap();
    let starts: Vec<u64> = fake
        .calls()
        .into_iter()
        .filter_map(|(t, c)| matches!(c, Call::Start(..)).then_some(t.as_secs()))
        .collect();
    // Each run lasts 1 s; the waits between exit and restart are 0, 10, 20, 40, 80, 160.
    let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0] - 1).collect();
    assert_eq!(gaps[..6], [0, 10, 20, 40, 80, 160]);
    let r = w.subscribe().borrow().clone();
    let c = &r.status.container_statuses.as_ref().unwrap()[0];
    assert!(
        c.state.as_ref().unwrap().running.is_some() || c.state.as_ref().unwrap().waiting.is_some()
    );
    w.kill(Duration::from_secs(5));
    let done = w.wait().await;
    assert!(done.finished());
}

#[tokio::test(start_paused = true)]
async fn worker_kill_runs_pre_stop_then_stops_with_the_rest_of_the_grace() {
    let fake = Arc::new(Fake {
        exec_takes: Duration::from_secs(5),
        ..Arc::try_unwrap(Fake::new(Duration::from_secs(100_000), 0))
            .ok()
            .unwrap()
    });
    let w = PodWorker::spawn(
        pod(json!({"containers": [
            {"name": "a", "command": ["sleep"], "lifecycle": {"preStop": {"exec": {"command": ["drain"]}}}},
            {"name": "b", "command": ["sleep"]}
        ]})),
        config(fake.clone()),
    );
    let mut rx = w.subscribe();
    rx.wait_for(|r| r.status.phase.as_deref() == Some("Running"))
        .await
        .unwrap();
    assert_eq!(
        rx.borrow().status.pod_ip.as_deref(),
        Some("10.0.0.9"),
        "pod IP from the sandbox"
    );
    let t_kill = fake.t0.elapsed();
    w.kill(Duration::from_secs(30));
    let done = w.wait().await;
    assert_eq!(done.status.phase.as_deref(), Some("Failed"));
    let calls: Vec<(Duration, Call)> = fake
        .calls()
        .into_iter()
        .filter(|(_, c)| !matches!(c, Call::Start(..)))
        .map(|(t, c)| (t - t_kill, c))
        .collect();
    assert_eq!(
        calls,
        vec![
            (Duration::ZERO, Call::Exec(vec!["drain".into()])),
            (
                Duration::ZERO,
                Call::Stop("b-0".into(), Duration::from_secs(30))
            ),
            (
                Duration::from_secs(5),
                Call::Stop("a-0".into(), Duration::from_secs(25))
            ),
            (Duration::from_secs(5), Call::StopPod),
        ]
    );
}
