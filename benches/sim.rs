//! A scale cluster in this process: the devcluster API server, the
//! devcluster Mesos master and thousands of simulated agents, plus a hollow
//! kubelet — and the framework as a child process (`kube-mesos framework`,
//! exactly as deployed), so that its CPU time and memory are its own.
//!
//! Simulated agents answer LAUNCH with TASK_RUNNING (devcluster
//! `SimulatedAgents`). The hollow kubelet (kubemark's idea) writes the pod
//! status a real executor writes once a task runs, so a pod watch sees
//! `Running` just as with real executors; it also counts the launches of
//! every task, so a pod launched twice would show.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube_mesos_devcluster::apiserver::{ApiServer, ApiServerConfig};
use kube_mesos_devcluster::mesos::agent::config::AgentConfig;
use kube_mesos_devcluster::mesos::agent::{
    SimTaskEvent, SimulatedAgents, SimulationConfig, TaskHook,
};
use kube_mesos_devcluster::mesos::master::{self, MasterConfig, MasterHandle};
use kube_mesos_proto::v1::TaskState;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::stats::{proc_stats, ProcStats};

const TOKEN: &str = "bench-token";
/// Label keys the framework puts on every task (`build_task_info`).
const LABEL_NAMESPACE: &str = "kube-mesos.io/namespace";
const LABEL_NAME: &str = "kube-mesos.io/name";

/// The agents of a scale cluster.
#[derive(Debug, Clone)]
pub struct SimSpec {
    pub agents: usize,
    /// One agent in `attribute_every` carries `disk:ssd` (and is named
    /// `ssd-<i>`); the others are `agent-<i>`.
    pub attribute_every: usize,
    /// Mesos resources of every agent.
    pub resources: String,
}

impl SimSpec {
    /// `n` agents with 8 cpus, 32 GiB and a port range each; a tenth
    /// carry attributes.
    pub fn standard(n: usize) -> Self {
        SimSpec {
            agents: n,
            attribute_every: 10,
            resources: "cpus:8;mem:32768;disk:100000;ports:[31000-32000]".into(),
        }
    }
}

/// Launches seen by the hollow kubelet, per task ID.
#[derive(Clone, Default)]
pub struct Launches(Arc<Mutex<HashMap<String, u32>>>);

impl Launches {
    fn add(&self, task: &str) {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(task.to_string())
            .or_insert(0) += 1;
    }

    /// (distinct tasks that ran, tasks that ran more than once).
    pub fn counts(&self) -> (usize, usize) {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (m.len(), m.values().filter(|n| **n > 1).count())
    }
}

/// The framework child process.
pub struct FrameworkProcess {
    child: Child,
    pub log: PathBuf,
}

impl FrameworkProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stats(&self) -> Option<ProcStats> {
        proc_stats(self.pid())
    }

    /// SIGTERM (drain) and wait for the exit; SIGKILL after 60 s.
    pub async fn stop(mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        for _ in 0..600 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for FrameworkProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running scale cluster.
pub struct SimCluster {
    pub dir: tempfile::TempDir,
    api: Option<ApiServer>,
    pub kubeconfig: PathBuf,
    pub client: kube::Client,
    pub master: MasterHandle,
    master_stop: Option<tokio::sync::oneshot::Sender<()>>,
    fleets: Vec<SimulatedAgents>,
    pub launches: Launches,
    tasks: JoinSet<()>,
    framework_starts: u32,
}

impl SimCluster {
    /// Starts the API server, the master and the agents; returns once every
    /// agent is registered.
    pub async fn start(spec: &SimSpec) -> Result<SimCluster> {
        // KUBE_MESOS_BENCH_KEEP=1 keeps the cluster's dir (logs) afterwards.
        let dir = tempfile::Builder::new()
            .prefix("kube-mesos-bench-")
            .disable_cleanup(std::env::var_os("KUBE_MESOS_BENCH_KEEP").is_some())
            .tempdir()?;
        eprintln!("bench: cluster dir {}", dir.path().display());
        let kubeconfig = dir.path().join("kubeconfig");
        let mut config = ApiServerConfig::new(dir.path().join("apiserver"), TOKEN);
        config.kubeconfig_path = Some(kubeconfig.clone());
        // Snapshots of the whole store every 1000 writes would dominate at
        // tens of thousands of pods; the write-ahead log stays on.
        config.compact_every = 1_000_000;
        // kube-apiserver's watch cache keeps up to ~100k events per
        // resource; a watcher that falls behind resumes from it.
        config.history_size = 100_000;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = ApiServer::start(config, listener)
            .await
            .context("starting the API server")?;
        let client = crate::pods::client(&kubeconfig).await?;

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let master = master::start(listener, MasterConfig::default(), async {
            let _ = stopped.await;
        })
        .await
        .context("starting the master")?;

        let launches = Launches::default();
        let mut tasks = JoinSet::new();
        let hook = hollow_kubelet(client.clone(), launches.clone(), &mut tasks);
        let sim = SimulationConfig {
            running_delay: Duration::from_millis(100),
            on_task: Some(hook),
        };
        let plain = spec.agents - spec.agents / spec.attribute_every.max(1);
        let mut fleets = Vec::new();
        for (name, n, attributes) in [
            ("agent", plain, None),
            ("ssd", spec.agents - plain, Some("disk:ssd;rack:r1")),
        ] {
            if n == 0 {
                continue;
            }
            let mut template = AgentConfig::new(name, dir.path().join("agents"))
                .with_resources(&spec.resources)
                .map_err(|e| anyhow::anyhow!("agent resources: {e}"))?;
            if let Some(a) = attributes {
                template = template
                    .with_attributes(a)
                    .map_err(|e| anyhow::anyhow!("agent attributes: {e}"))?;
            }
            fleets.push(SimulatedAgents::start_with(
                n,
                &template,
                master.link(),
                sim.clone(),
            ));
        }
        for fleet in &fleets {
            fleet.wait_registered().await;
        }
        Ok(SimCluster {
            dir,
            api: Some(api),
            kubeconfig,
            client,
            master,
            master_stop: Some(stop),
            fleets,
            launches,
            tasks,
            framework_starts: 0,
        })
    }

    pub fn pods(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Starts `kube-mesos framework` with its default policy (batch window,
    /// refuse filters, revive interval) against this cluster.
    pub fn start_framework(&mut self) -> Result<FrameworkProcess> {
        self.framework_starts += 1;
        let log = self
            .dir
            .path()
            .join(format!("framework-{}.log", self.framework_starts));
        let out = std::fs::File::create(&log)?;
        let exe = env!("CARGO_BIN_EXE_kube-mesos");
        // A profiler to run the framework under (e.g. `heaptrack -o
        // /tmp/fw`): its words come first, then the framework's command.
        let mut command = match std::env::var("KUBE_MESOS_BENCH_FRAMEWORK_WRAPPER") {
            Ok(wrapper) if !wrapper.trim().is_empty() => {
                let mut words = wrapper.split_whitespace();
                let mut c = Command::new(words.next().unwrap_or_default());
                c.args(words).arg(exe);
                c
            }
            _ => Command::new(exe),
        };
        // The framework logs at its default level unless asked otherwise.
        match std::env::var("KUBE_MESOS_BENCH_FRAMEWORK_LOG") {
            Ok(filter) => command.env("RUST_LOG", filter),
            Err(_) => command.env_remove("RUST_LOG"),
        };
        // Killed with the bench: a bench stopped by a signal runs no Drop,
        // and an orphaned framework would go on answering offers of a
        // cluster that is gone (the kernel's parent-death signal; a wrapper
        // such as heaptrack passes it on only if it execs the framework).
        // SAFETY: prctl is async-signal-safe; nothing else runs between
        // fork and exec.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let child = command
            .arg("framework")
            .args(["--master", &self.master.url()])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--namespace", "default"])
            .args(["--leader-election=false"])
            .args(["--http-addr", "127.0.0.1:0"])
            .args(["--executor-command", &format!("{exe} executor")])
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting the framework")?;
        Ok(FrameworkProcess { child, log })
    }

    /// Reserves the `disk=ssd` agents for the pods that ask for them, as an
    /// operator keeps special hardware for its workloads: a NoSchedule taint
    /// that only the selector pods tolerate (`pods::pod`). Without it binpack
    /// packs generic pods onto the agents the selector pods started to fill,
    /// and a run may leave a selector pod no room at all — an outcome of the
    /// load, not of the scheduler. Returns how many Nodes were tainted.
    pub async fn reserve_attributed_nodes(&self) -> Result<usize> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let ssd = nodes
            .list(&ListParams::default().labels("disk=ssd"))
            .await
            .context("listing the disk=ssd Nodes")?;
        let patch = serde_json::json!({ "spec": { "taints": [crate::pods::ssd_taint()] } });
        for node in &ssd.items {
            let name = node.metadata.name.as_deref().unwrap_or_default();
            nodes
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .with_context(|| format!("tainting Node {name}"))?;
        }
        Ok(ssd.items.len())
    }

    /// Number of Nodes in the API server.
    pub async fn node_count(&self) -> usize {
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .list(&ListParams::default())
            .await
            .map(|l| l.items.len())
            .unwrap_or(0)
    }

    /// The master's `/metrics/snapshot`; `Null` (and a line on stderr)
    /// when three tries a tenth of a second apart all failed.
    pub fn master_metrics(&self) -> serde_json::Value {
        for attempt in 0..3 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100));
            }
            let got = crate::support::http_get(&self.master.url(), "/metrics/snapshot")
                .and_then(|b| serde_json::from_str(&b).ok());
            if let Some(v) = got {
                return v;
            }
        }
        eprintln!("bench: the master's /metrics/snapshot did not answer");
        serde_json::Value::Null
    }

    pub async fn stop(mut self) {
        for fleet in self.fleets.drain(..) {
            fleet.stop().await;
        }
        if let Some(s) = self.master_stop.take() {
            let _ = s.send(());
        }
        if let Some(api) = self.api.take() {
            api.abort();
        }
        self.tasks.abort_all();
    }
}

/// The hook that turns a simulated TASK_RUNNING into the pod status an
/// executor would write (phase Running, the kubelet's conditions, a running
/// container), written by a pool of 16 concurrent requests.
fn hollow_kubelet(client: kube::Client, launches: Launches, tasks: &mut JoinSet<()>) -> TaskHook {
    let (tx, mut rx) = mpsc::unbounded_channel::<SimTaskEvent>();
    tasks.spawn(async move {
        let permits = Arc::new(Semaphore::new(16));
        while let Some(event) = rx.recv().await {
            if event.state != TaskState::TaskRunning {
                continue;
            }
            launches.add(&event.task_id.value);
            let label = |key: &str| {
                event
                    .labels
                    .iter()
                    .find(|l| l.key == key)
                    .and_then(|l| l.value.clone())
                    .unwrap_or_default()
            };
            let (namespace, name) = (label(LABEL_NAMESPACE), label(LABEL_NAME));
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
            tokio::spawn(async move {
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let status = crate::pods::running_status(&now);
                if let Err(e) = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                {
                    eprintln!("bench: hollow kubelet: status of {namespace}/{name}: {e}");
                }
                drop(permit);
            });
        }
    });
    TaskHook(Arc::new(move |event| {
        let _ = tx.send(event);
    }))
}
