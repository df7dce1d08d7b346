//! Test harness for the framework's integration tests: an embedded API
//! server, an embedded Mesos master with simulated agents (an in-process fake
//! executor answers LAUNCH with TASK_RUNNING and KILL with TASK_KILLED), all
//! on 127.0.0.1 with port 0, and the framework run in-process with a
//! `FrameworkConfig` built directly.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube_mesos_devcluster::apiserver::{ApiServer, ApiServerConfig};
use kube_mesos_devcluster::mesos::agent::config::AgentConfig;
use kube_mesos_devcluster::mesos::agent::simulated::SimulatedAgents;
use kube_mesos_devcluster::mesos::master::{self, MasterConfig, MasterHandle, Registry};
use kube_mesos_framework::config::FrameworkConfig;
use kube_mesos_framework::run::{self, RunError, Shutdown};
use kube_mesos_proto::v1::master as operator;
use prost::Message;
use tokio::net::TcpListener;

/// Longest wait for any condition; a deadlock guard, not a performance bound.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub api: Option<ApiServer>,
    pub kube: kube::Client,
    pub master: MasterHandle,
    pub agents: Option<SimulatedAgents>,
    /// What the simulated agents were started from.
    template: AgentConfig,
    master_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Cluster {
    /// API server, master, and `agents` simulated agents named `agent-<i>`
    /// with 2 cpus, 4 GiB, ports 31000-31100 and attribute rack:r1.
    pub async fn start(agents: usize) -> Cluster {
        Self::start_with_registry(agents, Registry::default()).await
    }

    /// Like [`Cluster::start`], with the master's registry mode (what its
    /// restart keeps).
    pub async fn start_with_registry(agents: usize, registry: Registry) -> Cluster {
        install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = ApiServer::start(
            ApiServerConfig::new(dir.path().join("kube"), "test-token"),
            listener,
        )
        .await
        .unwrap();
        let kube = kube_mesos_framework::kube::client_from_yaml(&api.kubeconfig())
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let master = master::start(
            listener,
            MasterConfig {
                allocation_interval: Duration::from_millis(100),
                registry,
                ..MasterConfig::default()
            },
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
        let template = AgentConfig::new("agent", dir.path().join("agents"))
            .with_resources("cpus:2;mem:4096;disk:10000;ports:[31000-31100]")
            .unwrap()
            .with_attributes("rack:r1")
            .unwrap();
        let sim = SimulatedAgents::start(agents, &template, master.link());
        sim.wait_registered().await;
        Cluster {
            dir,
            api: Some(api),
            kube,
            master,
            agents: Some(sim),
            template,
            master_stop: Some(stop),
        }
    }

    /// A framework configuration for this cluster: fast batching, no leader
    /// election, HTTP on loopback.
    pub fn framework_config(&self) -> FrameworkConfig {
        let mut c = FrameworkConfig::new(vec![url::Url::parse(&self.master.url()).unwrap()]);
        c.namespace = "default".into();
        c.batch_window = Duration::from_millis(200);
        c.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        c.leader_election.enabled = false;
        c.hostname = Some("localhost".into());
        c
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.kube.clone(), "default")
    }

    /// Tasks the master knows (GET_TASKS over the operator API).
    pub async fn master_tasks(&self) -> operator::response::GetTasks {
        let call = operator::Call {
            r#type: Some(operator::call::Type::GetTasks as i32),
            ..Default::default()
        };
        let body = reqwest::Client::new()
            .post(format!("{}/api/v1", self.master.url()))
            .header("Content-Type", "application/x-protobuf")
            .header("Accept", "application/x-protobuf")
            .body(call.encode_to_vec())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        operator::Response::decode(body)
            .unwrap()
            .get_tasks
            .unwrap_or_default()
    }

    /// The state of a task as the master has it.
    pub async fn task_state(&self, task_id: &str) -> Option<i32> {
        let tasks = self.master_tasks().await;
        tasks
            .tasks
            .iter()
            .chain(tasks.completed_tasks.iter())
            .chain(tasks.unreachable_tasks.iter())
            .chain(tasks.pending_tasks.iter())
            .find(|t| t.task_id.value == task_id)
            .map(|t| t.state)
    }

    /// The simulated agents die and `n` come back on the same hosts with
    /// nothing kept: new agent IDs, no tasks (a machine whose agent work
    /// dir was wiped, or a simulated agent after a restart). A hold on
    /// registrations is released only once the old agents are gone, so
    /// none of them re-registers first. Returns the new agent IDs.
    pub async fn replace_agents_wiped(&mut self, n: usize) -> Vec<String> {
        if let Some(a) = self.agents.take() {
            a.stop().await;
        }
        self.master.release_agents();
        let sim = SimulatedAgents::start(n, &self.template, self.master.link());
        let ids = sim.wait_registered().await;
        self.agents = Some(sim);
        ids.into_iter().map(|id| id.value).collect()
    }

    pub async fn stop(mut self) {
        if let Some(a) = self.agents.take() {
            a.stop().await;
        }
        if let Some(s) = self.master_stop.take() {
            let _ = s.send(());
        }
        if let Some(api) = self.api.take() {
            api.abort();
        }
    }
}

/// A framework running in-process.
pub struct Framework {
    pub http: SocketAddr,
    pub shutdown: Shutdown,
    pub task: tokio::task::JoinHandle<Result<(), RunError>>,
}

impl Framework {
    pub async fn start(cluster: &Cluster, config: FrameworkConfig) -> Framework {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let task = tokio::spawn(run::run(
            config,
            cluster.kube.clone(),
            listener,
            shutdown.clone(),
        ));
        Framework {
            http,
            shutdown,
            task,
        }
    }

    /// First signal: drain; waits for the exit.
    pub async fn drain(self) -> Result<(), RunError> {
        self.shutdown.drain();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("drain hangs")
            .unwrap()
    }

    /// `kill -9`: the task is dropped mid-flight, nothing is cleaned up.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    pub async fn get(&self, path: &str) -> String {
        http_get(self.http, path).await
    }

    /// One sample of the framework's `/metrics`, if exported.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        metric(&self.get("/metrics").await, name)
    }
}

/// A sample (without labels) of a Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse().ok())
}

pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response
}

/// Polls `check` until it returns `Some`, failing after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn pod(name: &str, cpu: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "namespace": "default" },
        "spec": {
            "schedulerName": "kube-mesos",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "c",
                "image": "busybox",
                "command": ["sleep", "3600"],
                "resources": { "requests": { "cpu": cpu, "memory": "64Mi" } }
            }]
        }
    }))
    .unwrap()
}

pub async fn create_pod(cluster: &Cluster, name: &str, cpu: &str) -> Pod {
    cluster
        .pods()
        .create(&PostParams::default(), &pod(name, cpu))
        .await
        .unwrap()
}

/// Waits until the pod is bound; returns it.
pub async fn bound(cluster: &Cluster, name: &str) -> Pod {
    let pods = cluster.pods();
    eventually(&format!("pod {name} bound"), || {
        let pods = pods.clone();
        async move {
            let p = pods.get(name).await.ok()?;
            p.spec.as_ref()?.node_name.as_ref()?;
            Some(p)
        }
    })
    .await
}

/// Events about a pod.
pub async fn pod_events(cluster: &Cluster, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(cluster.kube.clone(), "default");
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect()
}

pub fn install_crypto() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

pub fn task_id(pod: &Pod) -> String {
    format!("pod.{}", pod.metadata.uid.clone().unwrap_or_default())
}
