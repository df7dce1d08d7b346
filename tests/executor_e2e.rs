//! `kube-mesos executor` end to end: the real binary, launched by the
//! devcluster Mesos agent (driven by an in-test master over the link),
//! writing to the devcluster API server, checked with kubectl.
//!
//! One test walks a pod through its life, because each stage needs the
//! executor, agent and API server that the previous one set up:
//! running pod as `kubectl get -o wide` shows it, `kubectl logs` through
//! the API server and the executor's kubelet endpoint, a crashing container
//! in CrashLoopBackOff with growing restarts, deletion through preStop and
//! grace with TASK_KILLING/TASK_KILLED and the pod object removed, and an
//! executor killed with SIGKILL: the agent destroys its container (the
//! process runtime's pod processes with it) and fails its tasks, and the
//! relaunched task's new executor restarts the lost container.
//!
//! Further tests show the executor hard to kill by accident: with pods
//! running it outlives its API server, its agent (within Mesos' recovery
//! timeout) and a full disk, and catches up afterwards.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube_mesos_devcluster::apiserver::{ApiServer, ApiServerConfig};
use kube_mesos_devcluster::mesos::agent::{AgentConfig, AgentHandle, StoppedAgent};
use kube_mesos_devcluster::mesos::link::{AgentInbox, AgentMessage, MasterMessage};
use kube_mesos_proto::v1::{
    environment, executor_info, framework_info, value, AgentId, CommandInfo, DurationInfo,
    Environment, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, Resource,
    TaskId, TaskInfo, TaskState,
};
use tokio::sync::mpsc;

const KUBELET_TOKEN: &str = "e2e-kubelet-client-token";
const NODE: &str = "e2e-node";
const EXECUTOR_ID: &str = "kube-mesos-e2e";

/// What the in-test master saw.
#[derive(Default)]
struct Master {
    inbox: Mutex<Option<AgentInbox>>,
    updates: Mutex<Vec<(String, TaskState, String)>>,
}

impl Master {
    fn states(&self, task: &str) -> Vec<TaskState> {
        self.updates
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t == task)
            .map(|(_, s, _)| *s)
            .collect()
    }

    /// Launches `task` on `executor` (RunTasks to the agent).
    fn run(&self, executor: ExecutorInfo, task: TaskInfo) {
        self.send(MasterMessage::RunTasks {
            framework: framework(),
            executor,
            tasks: vec![task],
            group: false,
        });
    }

    /// Waits until `task` reported `state`.
    async fn reached(&self, task: &str, state: TaskState) {
        eventually(&format!("{task} in {state:?}"), 60, || {
            self.states(task).contains(&state).then_some(())
        })
        .await;
    }

    fn send(&self, m: MasterMessage) {
        let inbox = self
            .inbox
            .lock()
            .unwrap()
            .clone()
            .expect("agent registered");
        inbox.send(m).expect("agent inbox open");
    }
}

fn fake_master(master: Arc<Master>) -> mpsc::UnboundedSender<AgentMessage> {
    let (tx, mut rx) = mpsc::unbounded_channel::<AgentMessage>();
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            match m {
                AgentMessage::Register { inbox, reply, .. } => {
                    *master.inbox.lock().unwrap() = Some(inbox);
                    let _ = reply.send(Ok(AgentId {
                        value: "agent-e2e".into(),
                    }));
                }
                AgentMessage::StatusUpdate {
                    framework_id,
                    status,
                    ..
                } => {
                    master.updates.lock().unwrap().push((
                        status.task_id.value.clone(),
                        status.state(),
                        status.message.clone().unwrap_or_default(),
                    ));
                    if let Some(uuid) = status.uuid.clone() {
                        if let Some(inbox) = master.inbox.lock().unwrap().clone() {
                            let _ = inbox.send(MasterMessage::StatusUpdateAcknowledged {
                                framework_id,
                                task_id: status.task_id.clone(),
                                uuid,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    });
    tx
}

struct Kubectl {
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run(args);
        assert!(ok, "kubectl {args:?} failed: {text}");
        text
    }

    fn apply(&self, dir: &Path, name: &str, yaml: &str) {
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        self.ok(&["apply", "-f", file.to_str().unwrap()]);
    }

    /// The pod's row of `kubectl get pod -o wide`, split in columns.
    fn wide(&self, pod: &str) -> Vec<String> {
        let text = self.ok(&["get", "pod", pod, "-o", "wide", "--no-headers"]);
        text.split_whitespace().map(str::to_string).collect()
    }
}

async fn eventually<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn executor_info(dir: &Path, kubeconfig: &Path, port: u16) -> ExecutorInfo {
    executor_info_with(dir, kubeconfig, EXECUTOR_ID, &[port])
}

/// An executor `id` owning `ports` (each a one-port range, in this order).
fn executor_info_with(dir: &Path, kubeconfig: &Path, id: &str, ports: &[u16]) -> ExecutorInfo {
    let env = [
        ("KUBE_MESOS_KUBECONFIG", kubeconfig.display().to_string()),
        ("KUBE_MESOS_KUBELET_TOKEN", KUBELET_TOKEN.to_string()),
        (
            "KUBE_MESOS_ROOT_DIR",
            dir.join("root").display().to_string(),
        ),
        ("KUBE_MESOS_KUBELET_ADDRESS", "127.0.0.1".to_string()),
        ("KUBE_MESOS_RUNTIME", "process".to_string()),
        ("RUST_LOG", "info".to_string()),
    ];
    let command = CommandInfo {
        shell: Some(true),
        value: Some(format!("{} executor", env!("CARGO_BIN_EXE_kube-mesos"))),
        environment: Some(Environment {
            variables: env
                .into_iter()
                .map(|(k, v)| environment::Variable {
                    name: k.into(),
                    r#type: Some(environment::variable::Type::Value as i32),
                    value: Some(v),
                    secret: None,
                })
                .collect(),
        }),
        ..Default::default()
    };
    ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: ExecutorId { value: id.into() },
        framework_id: Some(FrameworkId {
            value: "fw-e2e".into(),
        }),
        command: Some(command),
        resources: vec![
            scalar("cpus", 0.1),
            scalar("mem", 64.0),
            Resource {
                name: "ports".into(),
                r#type: value::Type::Ranges as i32,
                ranges: Some(value::Ranges {
                    range: ports
                        .iter()
                        .map(|&p| value::Range {
                            begin: u64::from(p),
                            end: u64::from(p),
                        })
                        .collect(),
                }),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

fn framework() -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "kube-mesos-e2e".into(),
        id: Some(FrameworkId {
            value: "fw-e2e".into(),
        }),
        checkpoint: Some(true),
        capabilities: vec![framework_info::Capability {
            r#type: Some(framework_info::capability::Type::TaskKillingState as i32),
        }],
        ..Default::default()
    }
}

fn task_for(kubectl: &Kubectl, pod: &str) -> (TaskInfo, String) {
    let json = kubectl.ok(&["get", "pod", pod, "-o", "json"]);
    let uid = kubectl.ok(&["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"]);
    let task = TaskInfo {
        name: pod.into(),
        task_id: TaskId {
            value: format!("pod.{uid}"),
        },
        agent_id: AgentId {
            value: "agent-e2e".into(),
        },
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        data: Some(json.into_bytes()),
        ..Default::default()
    };
    (task, format!("pod.{uid}"))
}

fn pod_yaml(name: &str, script: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: busybox
    command: [\"sh\", \"-c\", {script:?}]
{extra}"
    )
}

/// PIDs of `kube-mesos executor` processes of our executor ID.
fn executor_pids() -> Vec<i32> {
    executor_pids_of(EXECUTOR_ID)
}

/// PIDs of `kube-mesos executor` processes of executor `id` running this
/// build's binary (the same test of another checkout runs its own).
fn executor_pids_of(id: &str) -> Vec<i32> {
    let marker = format!("MESOS_EXECUTOR_ID={id}\0");
    let ours = std::fs::canonicalize(env!("CARGO_BIN_EXE_kube-mesos")).ok();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline);
        if cmd.contains("kube-mesos")
            && cmd.contains("executor")
            && !cmd.contains("sh\0-c")
            && String::from_utf8_lossy(&environ).contains(&marker)
            && std::fs::read_link(entry.path().join("exe")).ok() == ours
        {
            pids.push(pid);
        }
    }
    pids
}

/// What every test here starts: an API server (with a kubelet client
/// token for pods/log), the Node (the framework would create it), and an
/// agent registered with the in-test master.
struct Cluster {
    dir: PathBuf,
    /// `None` while the API server is away ([`Cluster::api_down`]).
    api: Option<ApiServer>,
    kubeconfig: PathBuf,
    kubectl: Kubectl,
    master: Arc<Master>,
    /// `None` while the agent is away ([`Cluster::agent_down`]).
    agent: Option<AgentHandle>,
}

impl Cluster {
    async fn start(name: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "km-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = ApiServer::start(Self::api_config(&dir), listener)
            .await
            .unwrap();
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, api.kubeconfig()).unwrap();
        let kubectl = Kubectl {
            kubeconfig: kubeconfig.clone(),
        };
        kubectl.apply(
            &dir,
            "node",
            &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {NODE}\n  labels:\n    kubernetes.io/hostname: {NODE}\n"),
        );
        let master = Arc::new(Master::default());
        let link = fake_master(master.clone());
        let agent_config = AgentConfig::new(NODE, dir.join("agent"))
            .with_resources("cpus:4;mem:4096;disk:10000;ports:[31000-32000]")
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let agent = AgentHandle::start(agent_config, listener, link, std::future::pending())
            .await
            .unwrap();
        agent.registered().await.unwrap();
        Cluster {
            dir,
            api: Some(api),
            kubeconfig,
            kubectl,
            master,
            agent: Some(agent),
        }
    }

    fn api_config(dir: &Path) -> ApiServerConfig {
        let mut api_config = ApiServerConfig::new(dir.join("api"), "e2e-admin-token");
        api_config.kubelet_client_token = Some(KUBELET_TOKEN.into());
        api_config
    }

    /// Fault: the API server goes away; returns its address.
    async fn api_down(&mut self) -> std::net::SocketAddr {
        let api = self.api.take().expect("the API server runs");
        let addr = api.addr();
        api.shutdown().await.unwrap();
        addr
    }

    /// The API server comes back at `addr` with its data (and CA).
    async fn api_up(&mut self, addr: std::net::SocketAddr) {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let api = ApiServer::start(Self::api_config(&self.dir), listener)
            .await
            .unwrap();
        self.api = Some(api);
    }

    /// Fault: the agent dies as after `kill -9` (executors keep running).
    async fn agent_down(&mut self) -> StoppedAgent {
        self.agent.take().expect("the agent runs").crash().await
    }

    /// The agent comes back on its port and work dir and recovers.
    async fn agent_up(&mut self, stopped: StoppedAgent) {
        let agent = stopped.restart().await.unwrap();
        agent.registered().await.unwrap();
        self.agent = Some(agent);
    }

    async fn stop(mut self) {
        if let Some(agent) = self.agent.take() {
            let _ = agent.shutdown().await;
        }
        if let Some(api) = self.api.take() {
            api.shutdown().await.unwrap();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A test that failed leaves no executor or pod running: whatever has its
/// working directory in the cluster's dir is killed (executors and pods run
/// in sessions of their own, as under a real agent).
impl Drop for Cluster {
    fn drop(&mut self) {
        for _ in 0..5 {
            let left = support::processes_with_cwd_under(&self.dir);
            if left.is_empty() {
                break;
            }
            for pid in left {
                support::kill_pid(pid);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executor_runs_pods_like_a_kubelet() {
    let cluster = Cluster::start("executor-e2e").await;
    let (dir, kubeconfig, kubectl, master) = (
        cluster.dir.clone(),
        cluster.kubeconfig.clone(),
        &cluster.kubectl,
        cluster.master.clone(),
    );
    let port = free_port();
    let executor = executor_info(&dir, &kubeconfig, port);

    // 1. A pod runs; kubectl shows it as for a kubelet-run pod.
    kubectl.apply(
        &dir,
        "web",
        &pod_yaml(
            "web",
            "echo hello from web; trap 'exit 0' TERM; while true; do sleep 0.2; done",
            &format!(
                "    lifecycle:\n      preStop:\n        exec:\n          command: [\"sh\", \"-c\", \"echo prestop >> {}\"]\n",
                dir.join("prestop.txt").display()
            ),
        ),
    );
    let (web_task, web_id) = task_for(kubectl, "web");
    master.send(MasterMessage::RunTasks {
        framework: framework(),
        executor: executor.clone(),
        tasks: vec![web_task.clone()],
        group: false,
    });
    eventually("TASK_RUNNING for web", 60, || {
        master
            .states(&web_id)
            .contains(&TaskState::TaskRunning)
            .then_some(())
    })
    .await;
    assert_eq!(master.states(&web_id)[0], TaskState::TaskStarting);
    let row = eventually("web Running 1/1 in kubectl", 30, || {
        let row = kubectl.wide("web");
        (row[1] == "1/1" && row[2] == "Running").then_some(row)
    })
    .await;
    // NAME READY STATUS RESTARTS AGE IP NODE ...
    assert_eq!(row[3], "0", "{row:?}");
    assert_eq!(row[5], "127.0.0.1", "{row:?}");
    assert_eq!(row[6], NODE, "{row:?}");

    // Node: Ready by the kubelet role, kubelet port, and a lease.
    let ready = eventually("node Ready", 30, || {
        let r = kubectl.ok(&[
            "get",
            "node",
            NODE,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason} {.status.daemonEndpoints.kubeletEndpoint.Port}",
        ]);
        r.starts_with("KubeletReady").then_some(r)
    })
    .await;
    assert_eq!(ready.trim(), format!("KubeletReady {port}"));
    let holder = eventually("node lease", 30, || {
        let (ok, t) = kubectl.run(&[
            "get",
            "lease",
            NODE,
            "-n",
            "kube-node-lease",
            "-o",
            "jsonpath={.spec.holderIdentity} {.spec.leaseDurationSeconds}",
        ]);
        ok.then_some(t)
    })
    .await;
    assert_eq!(holder.trim(), format!("{NODE} 40"));

    // 2. kubectl logs through the API server and the kubelet endpoint.
    let logs = eventually("kubectl logs", 30, || {
        let (ok, t) = kubectl.run(&["logs", "web"]);
        (ok && t.contains("hello from web")).then_some(t)
    })
    .await;
    assert_eq!(logs, "hello from web\n");

    // 3. A crashing container: CrashLoopBackOff with growing restarts.
    kubectl.apply(
        &dir,
        "crash",
        &pod_yaml("crash", "echo crashing; exit 3", ""),
    );
    let (crash_task, crash_id) = task_for(kubectl, "crash");
    master.send(MasterMessage::RunTasks {
        framework: framework(),
        executor: executor.clone(),
        tasks: vec![crash_task],
        group: false,
    });
    eventually("crash in CrashLoopBackOff with 1 restart", 60, || {
        let row = kubectl.wide("crash");
        (row[2] == "CrashLoopBackOff" && row[3].starts_with('1')).then_some(())
    })
    .await;
    eventually("crash restarted twice", 60, || {
        let row = kubectl.wide("crash");
        row[3].starts_with('2').then_some(())
    })
    .await;
    let (ok, previous) = kubectl.run(&["logs", "crash", "--previous"]);
    assert!(ok && previous.contains("crashing"), "{previous}");
    // The kubelet's events, from the executor: Started, and the crash
    // loop's BackOff counted up on one Event.
    let events = eventually("crash's BackOff event", 30, || {
        let out = kubectl.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=crash",
            "-o",
            "jsonpath={range .items[*]}{.reason}|{.source.component}|{.source.host}|{.message}{\"\\n\"}{end}",
        ]);
        out.contains("BackOff|kubelet|").then_some(out)
    })
    .await;
    assert!(
        events.contains("Started|kubelet|")
            && events.contains("Back-off restarting failed container main in pod crash_default("),
        "{events}"
    );
    assert!(!master.states(&crash_id).contains(&TaskState::TaskFailed));

    // 4. The executor dies (SIGKILL). The agent destroys its container as
    // Mesos' POSIX launcher does, and the process runtime's pod processes
    // with it; the agent fails the executor's tasks. The relaunched task's
    // new executor finds the container lost and restarts it.
    let pids = executor_pids();
    assert_eq!(pids.len(), 1, "one executor process: {pids:?}");
    let shells_before = pod_processes(&dir, &web_id);
    assert!(!shells_before.is_empty(), "web's shell runs");
    nix_kill(pids[0]);
    eventually("TASK_FAILED for web from the agent", 30, || {
        master
            .states(&web_id)
            .contains(&TaskState::TaskFailed)
            .then_some(())
    })
    .await;
    assert!(executor_pids().is_empty(), "the executor is gone");
    // Killed before the agent reported the task (zombies aside).
    eventually(
        "the pod's processes killed with the executor's container",
        10,
        || pod_processes(&dir, &web_id).is_empty().then_some(()),
    )
    .await;
    let before = master.states(&web_id).len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    master.send(MasterMessage::RunTasks {
        framework: framework(),
        executor: executor.clone(),
        tasks: vec![web_task.clone()],
        group: false,
    });
    eventually("web RUNNING again from the new executor", 60, || {
        master.states(&web_id)[before..]
            .contains(&TaskState::TaskRunning)
            .then_some(())
    })
    .await;
    let row = eventually("web restarted once", 30, || {
        let row = kubectl.wide("web");
        (row[1] == "1/1" && row[2] == "Running" && row[3] == "1").then_some(row)
    })
    .await;
    assert!(
        pod_processes(&dir, &web_id)
            .iter()
            .all(|p| !shells_before.contains(p)),
        "a new process runs: {row:?}"
    );
    // kubectl exec reaches the restarted container through the new
    // executor, and attach joins it (the new executor started it, so its
    // stdio is this executor's): the session stays open until cut.
    let (ok, out) = kubectl.run(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "echo exec after re-adoption",
    ]);
    assert!(ok && out == "exec after re-adoption\n", "{out}");
    let attach = Command::new("timeout")
        .args(["5", "kubectl", "attach", "web"])
        .env("KUBECONFIG", &kubectl.kubeconfig)
        .output()
        .expect("timeout runs");
    let out = String::from_utf8_lossy(&attach.stderr);
    assert_eq!(
        attach.status.code(),
        Some(124),
        "attach still open when cut: {out}"
    );
    assert!(!out.contains("cannot be attached"), "{out}");

    // 5. Deletion: preStop, grace, TASK_KILLING → TASK_KILLED, object gone.
    kubectl.ok(&["delete", "pod", "web", "--wait=false"]);
    master.send(MasterMessage::KillTask {
        framework_id: FrameworkId {
            value: "fw-e2e".into(),
        },
        task_id: TaskId {
            value: web_id.clone(),
        },
        kill_policy: Some(KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: 5_000_000_000,
            }),
        }),
    });
    eventually("TASK_KILLED for web", 30, || {
        master
            .states(&web_id)
            .contains(&TaskState::TaskKilled)
            .then_some(())
    })
    .await;
    let states = master.states(&web_id);
    let killing = states.iter().position(|s| *s == TaskState::TaskKilling);
    let killed = states.iter().position(|s| *s == TaskState::TaskKilled);
    assert!(killing.is_some() && killing < killed, "{states:?}");
    eventually("web deleted from the API", 30, || {
        let (ok, _) = kubectl.run(&["get", "pod", "web"]);
        (!ok).then_some(())
    })
    .await;
    // Deleted after its kill: its sandbox is removed.
    let web_uid = web_id.trim_start_matches("pod.").to_string();
    eventually("web's sandbox removed", 30, || {
        (!dir.join("root/process/pods").join(&web_uid).exists()).then_some(())
    })
    .await;
    let prestop = std::fs::read_to_string(dir.join("prestop.txt")).unwrap_or_default();
    assert_eq!(prestop, "prestop\n", "preStop ran once");

    // SHUTDOWN: the executor stops its pods and exits. (The crashing pod
    // belonged to the executor killed above; the agent failed its task.)
    master.send(MasterMessage::ShutdownExecutor {
        framework_id: FrameworkId {
            value: "fw-e2e".into(),
        },
        executor_id: executor.executor_id.clone(),
    });
    eventually("executor exits after SHUTDOWN", 30, || {
        executor_pids().is_empty().then_some(())
    })
    .await;
    cluster.stop().await;
}

/// The processes running in the process-runtime sandbox of the pod whose
/// task is `task_id` (`pod.<uid>`), found by their working directory.
fn pod_processes(dir: &Path, task_id: &str) -> Vec<u32> {
    let uid = task_id.trim_start_matches("pod.");
    support::processes_with_cwd_under(&dir.join("root/process/pods").join(uid))
}

fn nix_kill(pid: i32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The `stderr` of executor `id`'s sandbox(es) under the agent's work dir.
fn executor_stderr(dir: &Path, id: &str) -> String {
    fn walk(path: &Path, id: &str, out: &mut String) {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, id, out);
            } else if p.file_name().is_some_and(|n| n == "stderr")
                && p.components().any(|c| c.as_os_str() == id)
            {
                out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut out = String::new();
    walk(&dir.join("agent"), id, &mut out);
    out
}

fn advertised_kubelet_port(kubectl: &Kubectl) -> String {
    kubectl.ok(&[
        "get",
        "node",
        NODE,
        "-o",
        "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
    ])
}

/// Regression (real Mesos run): the executor logged that binding the
/// kubelet endpoint on its port failed, posted the Node with that port
/// anyway, and `kubectl logs` reached another process. An occupied port is
/// never advertised: the executor takes the next port it owns, or exits
/// with a clear error when it owns no free one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executor_never_advertises_a_kubelet_port_it_could_not_bind() {
    let cluster = Cluster::start("executor-port").await;
    let kubectl = &cluster.kubectl;
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();

    // 1. Its only port is taken: the executor exits, saying why; the agent
    //    fails the task; the Node gets no kubelet port.
    kubectl.apply(&cluster.dir, "p1", &pod_yaml("p1", "sleep 300", ""));
    let (task, p1) = task_for(kubectl, "p1");
    let only = executor_info_with(&cluster.dir, &cluster.kubeconfig, "km-port-1", &[taken]);
    cluster.master.run(only, task);
    cluster.master.reached(&p1, TaskState::TaskFailed).await;
    assert!(!cluster.master.states(&p1).contains(&TaskState::TaskRunning));
    assert!(executor_pids_of("km-port-1").is_empty());
    let stderr = executor_stderr(&cluster.dir, "km-port-1");
    assert!(
        stderr.contains("every port the executor owns failed to bind")
            && stderr.contains(&taken.to_string()),
        "{stderr}"
    );
    assert_ne!(advertised_kubelet_port(kubectl), taken.to_string());

    // 2. It owns another, free port: that one is served and advertised.
    let free = free_port();
    kubectl.apply(&cluster.dir, "p2", &pod_yaml("p2", "sleep 300", ""));
    let (task, p2) = task_for(kubectl, "p2");
    let two = executor_info_with(
        &cluster.dir,
        &cluster.kubeconfig,
        "km-port-2",
        &[taken, free],
    );
    cluster.master.run(two.clone(), task);
    cluster.master.reached(&p2, TaskState::TaskRunning).await;
    eventually("the Node advertises the port that was bound", 30, || {
        (advertised_kubelet_port(kubectl) == free.to_string()).then_some(())
    })
    .await;
    drop(squatter);
    shut_down(&cluster.master, &two).await;
    cluster.stop().await;
}

/// SHUTDOWN of `executor`; returns once its process is gone.
async fn shut_down(master: &Master, executor: &ExecutorInfo) {
    master.send(MasterMessage::ShutdownExecutor {
        framework_id: FrameworkId {
            value: "fw-e2e".into(),
        },
        executor_id: executor.executor_id.clone(),
    });
    let id = executor.executor_id.value.clone();
    eventually("executor exits after SHUTDOWN", 30, || {
        executor_pids_of(&id).is_empty().then_some(())
    })
    .await;
}

/// A task launched again under the same ID after its kill (what the
/// framework does with a pod whose binding failed: kill, then launch it
/// anew once TASK_KILLED is acknowledged) runs again on the same executor.
/// It used to be ignored as "already running", and stayed STAGING for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_launched_again_after_its_kill_runs_again() {
    let cluster = Cluster::start("executor-again").await;
    let kubectl = &cluster.kubectl;
    let executor = executor_info_with(
        &cluster.dir,
        &cluster.kubeconfig,
        "km-again",
        &[free_port()],
    );
    kubectl.apply(&cluster.dir, "again", &pod_yaml("again", "sleep 300", ""));
    let (task, id) = task_for(kubectl, "again");
    cluster.master.run(executor.clone(), task.clone());
    cluster.master.reached(&id, TaskState::TaskRunning).await;
    cluster.master.send(MasterMessage::KillTask {
        framework_id: FrameworkId {
            value: "fw-e2e".into(),
        },
        task_id: task.task_id.clone(),
        kill_policy: None,
    });
    cluster.master.reached(&id, TaskState::TaskKilled).await;

    cluster.master.run(executor.clone(), task);
    eventually("a second TASK_RUNNING", 60, || {
        let states = cluster.master.states(&id);
        let running = states.iter().filter(|s| **s == TaskState::TaskRunning);
        (running.count() == 2).then_some(())
    })
    .await;
    let states = cluster.master.states(&id);
    assert_eq!(
        states.last(),
        Some(&TaskState::TaskRunning),
        "the new run is not ended by the old one: {states:?}"
    );
    shut_down(&cluster.master, &executor).await;
    cluster.stop().await;
}

// ----- The executor is hard to kill by accident (issue 19) -----------------
//
// Whatever fails around it, an executor with pods neither exits nor stops
// them: it keeps running its pods, catches up once the failure is over, and
// the pods see nothing but what really happened to them. (A panic in one
// pod's worker is covered by the worker's own tests,
// `executor/tests/runner_worker_errors.rs`.)

/// A pod whose shell ticks until TERM, launched on `executor`; returns its
/// task ID once RUNNING.
async fn run_ticking_pod(cluster: &Cluster, executor: &ExecutorInfo, name: &str) -> String {
    cluster.kubectl.apply(
        &cluster.dir,
        name,
        &pod_yaml(
            name,
            "trap 'exit 0' TERM; while true; do echo tick; sleep 0.2; done",
            "",
        ),
    );
    let (task, id) = task_for(&cluster.kubectl, name);
    cluster.master.run(executor.clone(), task);
    cluster.master.reached(&id, TaskState::TaskRunning).await;
    id
}

/// The pod's shells (its container's main processes, not the `sleep`s they
/// fork).
fn pod_shells(dir: &Path, task_id: &str) -> Vec<u32> {
    let mut shells: Vec<u32> = pod_processes(dir, task_id)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).next() == Some(b"sh"))
        })
        .collect();
    shells.sort_unstable();
    shells
}

/// A cluster whose executor `executor_id` runs a ticking pod `name`: the
/// cluster, the executor, the pod's task ID and the executor's pid.
async fn cluster_with_a_pod(
    test: &str,
    executor_id: &str,
    name: &str,
) -> (Cluster, ExecutorInfo, String, Vec<i32>) {
    let cluster = Cluster::start(test).await;
    let executor = executor_info_with(
        &cluster.dir,
        &cluster.kubeconfig,
        executor_id,
        &[free_port()],
    );
    let id = run_ticking_pod(&cluster, &executor, name).await;
    let executors = executor_pids_of(executor_id);
    assert_eq!(executors.len(), 1, "one executor: {executors:?}");
    (cluster, executor, id, executors)
}

/// Kills the pod's processes (its container "crashes"); returns the pids.
/// A ticking pod's short-lived `sleep` may exit between the listing and the
/// kill, so a process already gone is fine; at least one must be killed.
fn crash_the_pod(dir: &Path, task_id: &str) -> Vec<u32> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let pids = pod_processes(dir, task_id);
    assert!(!pids.is_empty(), "the pod runs");
    let mut killed = 0;
    for &pid in &pids {
        match kill(Pid::from_raw(pid as i32), Signal::SIGKILL) {
            Ok(()) => killed += 1,
            Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => panic!("kill {pid}: {e}"),
        }
    }
    assert!(
        killed > 0,
        "none of the pod's processes {pids:?} was left to kill"
    );
    pids
}

/// Waits for executor `id`'s log (its sandbox's stderr) to say `what`.
async fn executor_logged(dir: &Path, id: &str, what: &str) {
    eventually(&format!("the executor to log {what:?}"), 60, || {
        executor_stderr(dir, id).contains(what).then_some(())
    })
    .await;
}

fn no_terminal_update(master: &Master, task_id: &str) {
    let states = master.states(task_id);
    assert!(
        !states.iter().any(|s| matches!(
            s,
            TaskState::TaskFailed | TaskState::TaskKilled | TaskState::TaskFinished
        )),
        "{task_id}: {states:?}"
    );
}

/// The API server goes away while a pod runs, and its container crashes
/// meanwhile: the executor restarts it as usual, keeps retrying the status
/// write, and writes it once the API server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executor_keeps_its_pods_while_the_api_server_is_away() {
    let (mut cluster, executor, id, executors) =
        cluster_with_a_pod("executor-api-away", "km-api-away", "steady").await;

    let addr = cluster.api_down().await;
    let crashed = crash_the_pod(&cluster.dir, &id);
    executor_logged(
        &cluster.dir,
        "km-api-away",
        "writing pod status failed; retrying",
    )
    .await;
    eventually("the pod restarted without the API server", 60, || {
        let now = pod_processes(&cluster.dir, &id);
        (!now.is_empty() && now.iter().all(|p| !crashed.contains(p))).then_some(())
    })
    .await;
    assert_eq!(
        executor_pids_of("km-api-away"),
        executors,
        "the executor runs on"
    );
    no_terminal_update(&cluster.master, &id);

    cluster.api_up(addr).await;
    eventually("the status written once the API server is back", 60, || {
        let row = cluster.kubectl.wide("steady");
        (row[1] == "1/1" && row[2] == "Running" && row[3] == "1").then_some(())
    })
    .await;
    assert_eq!(executor_pids_of("km-api-away"), executors);
    shut_down(&cluster.master, &executor).await;
    cluster.stop().await;
}

/// The agent dies (as after `kill -9`) while a pod runs, and its container
/// crashes meanwhile: the executor, within Mesos' recovery timeout, keeps
/// the pod running (restarting its container), queues its updates, and
/// resubscribes to the restarted agent; the task never fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executor_keeps_its_pods_while_the_agent_is_away() {
    let (mut cluster, _executor, id, executors) =
        cluster_with_a_pod("executor-agent-away", "km-agent-away", "steady").await;

    let stopped = cluster.agent_down().await;
    executor_logged(
        &cluster.dir,
        "km-agent-away",
        "disconnected from the agent; pods keep running",
    )
    .await;
    let crashed = crash_the_pod(&cluster.dir, &id);
    eventually("the pod restarted without the agent", 60, || {
        let row = cluster.kubectl.wide("steady");
        (row[2] == "Running" && row[3] == "1").then_some(())
    })
    .await;
    assert!(pod_processes(&cluster.dir, &id)
        .iter()
        .all(|p| !crashed.contains(p)));
    assert_eq!(
        executor_pids_of("km-agent-away"),
        executors,
        "the executor runs on"
    );

    cluster.agent_up(stopped).await;
    executor_logged(&cluster.dir, "km-agent-away", "resubscribed to the agent").await;
    let row = cluster.kubectl.wide("steady");
    assert_eq!((row[1].as_str(), row[2].as_str()), ("1/1", "Running"));
    assert_eq!(
        executor_pids_of("km-agent-away"),
        executors,
        "the same executor"
    );
    assert!(!pod_processes(&cluster.dir, &id).is_empty());
    no_terminal_update(&cluster.master, &id);
    cluster.stop().await;
}

/// A tmpfs of `size` mounted on `path` for one test, unmounted when
/// dropped. Mounting needs root, as the containerd tests do.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs on {path:?} failed (the full-disk test needs root)"
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }

    /// Fills it up; returns the filler's path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0u8; 512]);
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The disk of the executor's root dir (sandboxes, container logs) fills
/// up while a pod runs: the pod runs on (its output dropped, said once),
/// a new pod waits with the error instead of failing, and both run once
/// there is room again; the executor never exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executor_keeps_its_pods_on_a_full_disk() {
    let cluster = Cluster::start("executor-full-disk").await;
    let disk = Tmpfs::mount(&cluster.dir.join("root"), "8m");
    let executor = executor_info_with(
        &cluster.dir,
        &cluster.kubeconfig,
        "km-full-disk",
        &[free_port()],
    );
    let first = run_ticking_pod(&cluster, &executor, "first").await;
    let executors = executor_pids_of("km-full-disk");
    assert_eq!(executors.len(), 1);
    let first_shell = pod_shells(&cluster.dir, &first);

    let filler = disk.fill();
    executor_logged(
        &cluster.dir,
        "km-full-disk",
        "writing container log failed; its output is dropped until it works again",
    )
    .await;
    cluster.kubectl.apply(
        &cluster.dir,
        "second",
        &pod_yaml(
            "second",
            "trap 'exit 0' TERM; while true; do sleep 0.2; done",
            "",
        ),
    );
    let (task, second) = task_for(&cluster.kubectl, "second");
    cluster.master.run(executor.clone(), task);
    let waiting = eventually("the second pod to wait on the full disk", 60, || {
        let out = cluster.kubectl.ok(&[
            "get",
            "pod",
            "second",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.message}{.status.conditions}",
        ]);
        out.contains("No space left on device").then_some(out)
    })
    .await;
    assert_eq!(
        executor_pids_of("km-full-disk"),
        executors,
        "the executor runs on: {waiting}"
    );
    assert_eq!(
        pod_shells(&cluster.dir, &first),
        first_shell,
        "the first pod runs on"
    );
    no_terminal_update(&cluster.master, &first);
    no_terminal_update(&cluster.master, &second);

    std::fs::remove_file(filler).unwrap();
    cluster
        .master
        .reached(&second, TaskState::TaskRunning)
        .await;
    executor_logged(
        &cluster.dir,
        "km-full-disk",
        "writing container log works again",
    )
    .await;
    let (ok, logs) = cluster.kubectl.run(&["logs", "first", "--tail", "1"]);
    assert!(ok && logs.contains("tick"), "{logs}");
    assert_eq!(executor_pids_of("km-full-disk"), executors);
    shut_down(&cluster.master, &executor).await;
    drop(disk);
    cluster.stop().await;
}
