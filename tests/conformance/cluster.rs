//! One conformance cluster: a Mesos of either flavor, the devcluster's API
//! server (in this process, on its own runtime), and the `kube-mesos
//! framework` binary as a child process whose executors the Mesos agents
//! launch as `kube-mesos executor` — exactly the production wiring, with
//! kubectl as the only client of the Kubernetes side.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::mesos::{Flavor, Mesos, MesosSpec};
use crate::support::{kubectl, processes_with_cwd_under, wait_for};

const TOKEN: &str = "conformance-admin-token";
const KUBELET_TOKEN: &str = "conformance-kubelet-token";
/// A hang guard, not a benchmark.
pub const WAIT: Duration = Duration::from_secs(90);

static SLOTS: AtomicU32 = AtomicU32::new(0);

/// Agent port ranges of this test process' clusters: 100 ports per agent
/// from 12000 up, apart from the e2e suite's (20000+) and the kernel's
/// ephemeral ports.
pub fn agent_ports(slot: u32, agent: u32) -> (u32, u32) {
    let first = 12000 + (slot % 16) * 400 + agent * 100;
    (first, first + 99)
}

/// The Kubernetes side: the devcluster API server on its own runtime.
struct Kube {
    runtime: tokio::runtime::Runtime,
    server: Option<kube_mesos_devcluster::apiserver::ApiServer>,
    url: String,
}

/// The devcluster API server on `addr` (`127.0.0.1:0` for a free port),
/// its store and CA in `dir`.
fn serve(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    addr: &str,
) -> kube_mesos_devcluster::apiserver::ApiServer {
    use kube_mesos_devcluster::apiserver::{ApiServer, ApiServerConfig};
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind API server");
        let mut config = ApiServerConfig::new(dir.join("apiserver"), TOKEN);
        config.kubelet_client_token = Some(KUBELET_TOKEN.into());
        config.kubeconfig_path = Some(dir.join("kubeconfig"));
        ApiServer::start(config, listener)
            .await
            .expect("start API server")
    })
}

impl Kube {
    fn start(dir: &Path) -> Kube {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = serve(&runtime, dir, "127.0.0.1:0");
        std::fs::write(dir.join("ca.crt"), server.ca_pem()).expect("write CA");
        let url = server.url();
        Kube {
            runtime,
            server: Some(server),
            url,
        }
    }
}

#[allow(dead_code)] // the soak's API server outage (tests/soak)
impl Kube {
    /// Stops the API server: clients get connection refused until
    /// [`Kube::start_again`]. Its store stays on disk.
    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(5), server.shutdown()).await;
            });
        }
    }

    /// Starts the API server again on the same port and store (same CA).
    fn start_again(&mut self, dir: &Path) {
        let addr = self
            .url
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string();
        self.server = Some(serve(&self.runtime, dir, &addr));
    }
}

impl Drop for Kube {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(5), server.shutdown()).await;
            });
        }
    }
}

/// How a scenario wants the framework run.
#[derive(Debug, Clone, Default)]
pub struct FrameworkSpec {
    /// Further `kube-mesos framework` flags.
    pub args: Vec<String>,
    /// Leave `KUBE_MESOS_ROOT_DIR` to the agents (one root per agent, see
    /// the devcluster's `KUBE_MESOS_AGENT_EXECUTOR_ROOTS`) instead of one
    /// root for every executor.
    pub executor_root_per_agent: bool,
    /// Executor settings (`--executor-env`) over the defaults (process
    /// runtime), e.g. `KUBE_MESOS_RUNTIME=cri`.
    pub executor_env: Vec<(String, String)>,
}

impl FrameworkSpec {
    /// The defaults with further flags `args`.
    // Built from the defaults, so fields added later keep theirs.
    #[allow(clippy::field_reassign_with_default)]
    pub fn with_args(args: &[&str]) -> FrameworkSpec {
        let mut spec = FrameworkSpec::default();
        spec.args = args.iter().map(|a| a.to_string()).collect();
        spec
    }
}

/// A whole conformance cluster.
pub struct Cluster {
    pub flavor: Flavor,
    dir: tempfile::TempDir,
    pub mesos: Mesos,
    kube: Kube,
    pub kubeconfig: PathBuf,
    framework: std::sync::Mutex<Option<Child>>,
    framework_spec: FrameworkSpec,
    framework_starts: u32,
}

impl Cluster {
    /// One agent, default framework flags.
    pub fn plain(flavor: Flavor) -> Cluster {
        Cluster::start(flavor, |spec| spec, FrameworkSpec::default())
    }

    /// Mesos as `customize` makes it from one agent on this cluster's own
    /// port range, the API server, and the framework.
    pub fn start(
        flavor: Flavor,
        customize: impl FnOnce(MesosSpec) -> MesosSpec,
        framework: FrameworkSpec,
    ) -> Cluster {
        let slot = SLOTS.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new()
            .prefix(&format!("kube-mesos-conformance-{}-", slot))
            .tempdir()
            .expect("temp dir");
        let spec = customize(MesosSpec::one_agent(agent_ports(slot, 0)));
        let kube = Kube::start(dir.path());
        let mesos = Mesos::start(flavor, dir.path(), spec);
        let mut cluster = Cluster {
            flavor,
            kubeconfig: dir.path().join("kubeconfig"),
            dir,
            mesos,
            kube,
            framework: std::sync::Mutex::new(None),
            framework_spec: framework,
            framework_starts: 0,
        };
        cluster.start_framework();
        cluster
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the API server (an outage) until [`Cluster::start_api_server`].
    #[allow(dead_code)] // a fault of the soak (tests/soak)
    pub fn stop_api_server(&mut self) {
        self.kube.stop();
    }

    /// Starts the stopped API server again on the same port and store.
    #[allow(dead_code)] // a fault of the soak (tests/soak)
    pub fn start_api_server(&mut self) {
        let dir = self.dir().to_path_buf();
        self.kube.start_again(&dir);
    }

    fn framework_log(&self) -> PathBuf {
        self.dir().join("framework.log")
    }

    /// The executors' state root (pod sandboxes and logs).
    pub fn executor_root(&self) -> PathBuf {
        self.dir().join("executor")
    }

    /// Starts `kube-mesos framework` against this Mesos and API server.
    pub fn start_framework(&mut self) {
        assert!(
            self.framework_child().is_none(),
            "framework already running"
        );
        self.framework_starts += 1;
        let exe = env!("CARGO_BIN_EXE_kube-mesos");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.framework_log())
            .expect("framework log");
        let dir = self.dir().to_path_buf();
        let mut env: BTreeMap<&str, String> = [
            ("KUBE_MESOS_API_SERVER", self.kube.url.clone()),
            ("KUBE_MESOS_TOKEN", TOKEN.to_string()),
            (
                "KUBE_MESOS_API_CA_FILE",
                dir.join("ca.crt").display().to_string(),
            ),
            ("KUBE_MESOS_KUBELET_TOKEN", KUBELET_TOKEN.to_string()),
            ("KUBE_MESOS_KUBELET_ADDRESS", "127.0.0.1".to_string()),
            ("KUBE_MESOS_NODE_IP", "127.0.0.1".to_string()),
            ("KUBE_MESOS_RUNTIME", "process".to_string()),
            (
                "KUBE_MESOS_ROOT_DIR",
                self.executor_root().display().to_string(),
            ),
            ("RUST_LOG", "info".to_string()),
        ]
        .into_iter()
        .collect();
        if self.framework_spec.executor_root_per_agent {
            env.remove("KUBE_MESOS_ROOT_DIR");
        }
        for (k, v) in &self.framework_spec.executor_env {
            env.insert(k.as_str(), v.clone());
        }
        let mut command = Command::new(exe);
        command
            .arg("framework")
            .args(["--master", &self.mesos.url()])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--namespace", "default"])
            .args(["--also-default-scheduler"])
            .args(["--leader-election=false"])
            .args(["--http-addr", "127.0.0.1:0"])
            .args(["--batch-window", "250ms"])
            .args(["--executor-command", &format!("{exe} executor")]);
        for (k, v) in &env {
            command.args(["--executor-env", &format!("{k}={v}")]);
        }
        command
            .args(&self.framework_spec.args)
            // A run to debug can ask for more of the framework's log.
            .env(
                "RUST_LOG",
                std::env::var("KUBE_MESOS_TEST_FRAMEWORK_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        *self.framework_child() = Some(command.spawn().expect("start framework"));
    }

    /// The flags the next [`Cluster::start_framework`] uses.
    pub fn set_framework_spec(&mut self, spec: FrameworkSpec) {
        self.framework_spec = spec;
    }

    /// SIGKILL of the framework: no teardown, no goodbye.
    pub fn kill_framework(&mut self) {
        if let Some(mut child) = self.framework_child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the framework process has exited, and how.
    pub fn framework_exit(&self) -> Option<std::process::ExitStatus> {
        self.framework_child().as_mut()?.try_wait().ok().flatten()
    }

    fn framework_child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.framework
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The framework's whole log so far.
    pub fn framework_log_text(&self) -> String {
        std::fs::read_to_string(self.framework_log()).unwrap_or_default()
    }

    /// Waits until the master lists an active framework and returns its ID.
    pub fn wait_framework_subscribed(&self) -> String {
        wait_for(
            "the framework to subscribe",
            WAIT,
            || {
                let answer = self.mesos.try_operator("GET_FRAMEWORKS")?;
                answer["get_frameworks"]["frameworks"]
                    .as_array()?
                    .iter()
                    .find(|f| f["active"].as_bool() == Some(true))
                    .and_then(|f| {
                        f["framework_info"]["id"]["value"]
                            .as_str()
                            .map(str::to_owned)
                    })
            },
            || self.diagnostics(),
        )
    }

    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        kubectl(&self.kubeconfig, args)
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(
            ok,
            "kubectl {args:?} failed: {err}\n{out}\n{}",
            self.diagnostics()
        );
        out
    }

    /// `kubectl apply` of a manifest given inline.
    pub fn apply(&self, yaml: &str) {
        let file = self.dir().join(format!("manifest-{}.yaml", rand_suffix()));
        std::fs::write(&file, yaml).expect("manifest");
        self.kubectl_ok(&["apply", "-f", &file.display().to_string()]);
    }

    pub fn pod(&self, name: &str) -> Option<Value> {
        let (ok, out, _) = self.kubectl(&["get", "pod", name, "-o", "json"]);
        ok.then(|| serde_json::from_str(&out).ok()).flatten()
    }

    /// Waits until pod `name` is Running with every container ready.
    pub fn wait_running(&self, name: &str) -> Value {
        wait_for(
            &format!("pod {name} Running and ready"),
            WAIT,
            || {
                let pod = self.pod(name)?;
                let ready = pod["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True");
                (pod["status"]["phase"] == "Running" && ready).then_some(pod)
            },
            || self.diagnostics(),
        )
    }

    pub fn wait_gone(&self, name: &str) {
        wait_for(
            &format!("pod {name} deleted"),
            WAIT,
            || self.pod(name).is_none().then_some(()),
            || self.diagnostics(),
        )
    }

    /// The master's tasks (operator `GET_TASKS`): active ones first, then
    /// completed ones, each a v1 `Task` in JSON.
    pub fn tasks(&self) -> Vec<Value> {
        let answer = self.mesos.operator("GET_TASKS");
        let mut tasks = Vec::new();
        for list in ["tasks", "unreachable_tasks", "completed_tasks"] {
            tasks.extend(
                answer["get_tasks"][list]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        tasks
    }

    /// The tasks of pod `uid` (`pod.<uid>`, and `pod.<uid>.<n>` once
    /// relaunched), as the master lists them.
    pub fn tasks_of(&self, uid: &str) -> Vec<Value> {
        self.tasks()
            .into_iter()
            .filter(|t| {
                t["task_id"]["value"]
                    .as_str()
                    .and_then(kube_mesos_node::task::parse)
                    .is_some_and(|(of, _)| of == uid)
            })
            .collect()
    }

    /// The task `pod.<uid>` of generation `generation` (see
    /// `kube_mesos_node::task`), if the master lists it.
    pub fn task_of(&self, uid: &str, generation: u32) -> Option<Value> {
        let id = kube_mesos_node::task::task_id(uid, generation);
        self.tasks()
            .into_iter()
            .find(|t| t["task_id"]["value"] == id.as_str())
    }

    /// The `kube-mesos executor` processes the agents started.
    pub fn executor_processes(&self) -> Vec<u32> {
        with_command_line(self.mesos.processes(), |args| {
            args.first().is_some_and(|a| a.ends_with("kube-mesos"))
                && args.iter().any(|a| a == "executor")
        })
    }

    /// The long-lived shells of the pods (`sh -c ...`) under the process
    /// runtime, without the short-lived children they fork.
    pub fn pod_shells(&self) -> Vec<u32> {
        let mut shells = with_command_line(self.pod_processes(), |args| {
            args.first().is_some_and(|a| a == "sh")
        });
        shells.sort_unstable();
        shells
    }

    /// Live processes whose working directory is in the executors' root:
    /// the pods' processes under the process runtime.
    pub fn pod_processes(&self) -> Vec<u32> {
        processes_with_cwd_under(&self.executor_root())
    }

    /// Starts recording every version of Node `name` (a kubectl watch,
    /// re-established if the server ends it) until [`NodeWatch::stop`].
    pub fn watch_node(&self, name: &str) -> NodeWatch {
        NodeWatch::start(&self.kubeconfig, name)
    }

    /// The framework's Prometheus metrics, from the port its web UI URL
    /// (`FrameworkInfo.webui_url`) names.
    pub fn framework_metrics(&self) -> Option<String> {
        self.framework_get("/metrics")
    }

    /// The framework's status page as JSON (`/status.json`), found as
    /// [`Cluster::framework_metrics`] is.
    pub fn framework_status(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.framework_get("/status.json")?).ok()
    }

    /// A GET of `path` on the framework's HTTP address, the one its web UI
    /// URL names.
    fn framework_get(&self, path: &str) -> Option<String> {
        let answer = self.mesos.try_operator("GET_FRAMEWORKS")?;
        let url = answer["get_frameworks"]["frameworks"]
            .as_array()?
            .iter()
            .find(|f| f["active"].as_bool() == Some(true))?["framework_info"]["webui_url"]
            .as_str()?
            .to_string();
        let port = url::Url::parse(&url).ok()?.port()?;
        crate::support::http_get(&format!("http://127.0.0.1:{port}"), path)
    }

    /// The first port of executor `id`'s `ports` resource (its kubelet
    /// endpoint), as the master's GET_EXECUTORS lists it.
    pub fn executor_port(&self, id: &str) -> Option<u64> {
        let answer = self.mesos.try_operator("GET_EXECUTORS")?;
        let executor = answer["get_executors"]["executors"]
            .as_array()?
            .iter()
            .find(|e| e["executor_info"]["executor_id"]["value"] == id)?
            .clone();
        executor["executor_info"]["resources"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == "ports")?["ranges"]["range"][0]["begin"]
            .as_u64()
    }

    pub fn diagnostics(&self) -> String {
        let fw = self.framework_log_text();
        let lines: Vec<&str> = fw.lines().collect();
        let (_, pods, _) = self.kubectl(&["get", "pods", "-o", "wide"]);
        let (_, events, _) = self.kubectl(&["get", "events"]);
        format!(
            "=== {} (cluster dir {}) ===\n--- pods ---\n{pods}\n--- events ---\n{events}\n\
             --- framework log (last 40 lines, {} start(s)) ---\n{}\n{}",
            self.flavor.name(),
            self.dir().display(),
            self.framework_starts,
            lines[lines.len().saturating_sub(40)..].join("\n"),
            self.mesos.diagnostics()
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
        self.kill_framework();
        self.mesos.kill9();
        // Executors and pods run in their own sessions: kill whatever has
        // its working directory in this cluster's temp dir.
        for _ in 0..5 {
            let left = processes_with_cwd_under(self.dir.path());
            if left.is_empty() {
                break;
            }
            for pid in left {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The processes among `pids` whose command line satisfies `keep`.
fn with_command_line(pids: Vec<u32>, keep: impl Fn(&[String]) -> bool) -> Vec<u32> {
    pids.into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| {
                    let args: Vec<String> = raw
                        .split(|b| *b == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect();
                    keep(&args)
                })
                .unwrap_or(false)
        })
        .collect()
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst) as u64;
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ n
}

/// Every version of one Node a kubectl watch delivered.
pub struct NodeWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    child: std::sync::Arc<std::sync::Mutex<Option<Child>>>,
    thread: std::thread::JoinHandle<Vec<Value>>,
}

impl NodeWatch {
    fn start(kubeconfig: &Path, name: &str) -> NodeWatch {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let stop = Arc::new(AtomicBool::new(false));
        let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
        let (kubeconfig, name) = (kubeconfig.to_path_buf(), name.to_string());
        let (stopping, current) = (stop.clone(), child.clone());
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stopping.load(Ordering::SeqCst) {
                let mut watch = Command::new("kubectl")
                    .args(["get", "node", &name, "--watch", "-o", "json"])
                    .env("KUBECONFIG", &kubeconfig)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("kubectl is installed");
                let stdout = watch.stdout.take().expect("piped");
                {
                    // Checked under the lock `stop` kills under: a watch
                    // started as the stop came is killed here.
                    let mut slot = current.lock().unwrap_or_else(|p| p.into_inner());
                    if stopping.load(Ordering::SeqCst) {
                        let _ = watch.kill();
                    }
                    *slot = Some(watch);
                }
                for node in serde_json::Deserializer::from_reader(stdout).into_iter::<Value>() {
                    match node {
                        Ok(node) => seen.push(node),
                        Err(_) => break,
                    }
                }
                if let Some(mut watch) = current.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = watch.kill();
                    let _ = watch.wait();
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            seen
        });
        NodeWatch {
            stop,
            child,
            thread,
        }
    }

    /// Ends the watch; every version seen, oldest first.
    pub fn stop(self) -> Vec<Value> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(watch) = self
            .child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            let _ = watch.kill();
        }
        self.thread.join().expect("node watch thread")
    }
}
