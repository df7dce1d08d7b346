//! The Mesos under test, as one process: the devcluster's master and agents
//! (this test binary re-run as a child, see [`run_devcluster_child`]) or a
//! real Apache Mesos 1.11 (`target/real-mesos/bin/mesos-local`, built by
//! `tests/real_mesos/build.sh`). Both take the same `MESOS_*` environment,
//! listen on one chosen port, keep everything in one work dir, and can be
//! killed with SIGKILL and started again on that work dir.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{http_get, http_post_json, processes_with_cwd_under, wait_for};

/// Which implementation of Mesos runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `kube_mesos_devcluster::mesos::standalone`.
    Devcluster,
    /// Apache Mesos 1.11.0 (libmesos from PyPI's mesos.scheduler wheel).
    Real,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Devcluster => "devcluster",
            Flavor::Real => "real Mesos 1.11",
        }
    }
}

/// The environment variable that makes this test binary a devcluster Mesos.
pub const CHILD_ENV: &str = "KUBE_MESOS_CONFORMANCE_DEVCLUSTER";

/// What a scenario asks of Mesos; the same for both flavors.
#[derive(Debug, Clone)]
pub struct MesosSpec {
    pub agents: usize,
    /// `--resources` of every agent.
    pub resources: String,
    /// `--registry`: `in_memory` or `replicated_log`.
    pub registry: &'static str,
    /// Further master/agent flags, as `MESOS_<FLAG>` variables.
    pub flags: BTreeMap<String, String>,
}

impl MesosSpec {
    /// One agent with 2 cpus, 2 GiB and the port range `ports`.
    pub fn one_agent(ports: (u32, u32)) -> Self {
        Self::agents(1, ports)
    }

    /// `n` agents with the same resources (as mesos-local gives them).
    pub fn agents(n: usize, ports: (u32, u32)) -> Self {
        MesosSpec {
            agents: n,
            resources: format!("cpus:2;mem:2048;disk:4096;ports:[{}-{}]", ports.0, ports.1),
            registry: "in_memory",
            flags: BTreeMap::new(),
        }
    }

    pub fn flag(mut self, name: &str, value: &str) -> Self {
        self.flags
            .insert(format!("MESOS_{}", name.to_ascii_uppercase()), value.into());
        self
    }
}

/// A running (or killed) Mesos process.
pub struct Mesos {
    pub flavor: Flavor,
    pub port: u16,
    pub work_dir: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    starts: u32,
    child: Option<Child>,
    spec: MesosSpec,
}

impl Mesos {
    /// Starts Mesos in `dir/mesos` on a free port and waits until every
    /// agent is registered.
    pub fn start(flavor: Flavor, dir: &Path, spec: MesosSpec) -> Mesos {
        let work_dir = dir.join("mesos");
        std::fs::create_dir_all(&work_dir).expect("mesos work dir");
        let port = free_port();
        let mut env: Vec<(String, String)> = vec![
            ("LIBPROCESS_IP".into(), "127.0.0.1".into()),
            ("LIBPROCESS_PORT".into(), port.to_string()),
            ("MESOS_WORK_DIR".into(), work_dir.display().to_string()),
            ("MESOS_NUM_SLAVES".into(), spec.agents.to_string()),
            ("MESOS_HOSTNAME".into(), "127.0.0.1".into()),
            ("MESOS_RESOURCES".into(), spec.resources.clone()),
            ("MESOS_REGISTRY".into(), spec.registry.into()),
        ];
        if flavor == Flavor::Real {
            env.extend(
                [
                    ("MESOS_LAUNCHER", "posix"),
                    ("MESOS_ISOLATION", "posix/cpu,posix/mem"),
                    ("MESOS_SYSTEMD_ENABLE_SUPPORT", "false"),
                    ("MESOS_SWITCH_USER", "false"),
                    // libprocess answers /metrics/snapshot at most twice a
                    // second unless told otherwise (empty: no limit), so a
                    // harness polling the master's counters waited up to
                    // 0.5 s per poll, and the bench's "new pod → REVIVE"
                    // measured that. Mesos' own test suite lifts it too.
                    ("LIBPROCESS_METRICS_SNAPSHOT_ENDPOINT_RATE_LIMIT", ""),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            env.push((
                "MESOS_LAUNCHER_DIR".into(),
                real_mesos_dir().join("bin").display().to_string(),
            ));
        }
        env.extend(spec.flags.clone());
        let mut mesos = Mesos {
            flavor,
            port,
            log: dir.join(format!("mesos-{}.log", flavor_slug(flavor))),
            work_dir,
            env,
            starts: 0,
            child: None,
            spec,
        };
        mesos.spawn();
        mesos.wait_agents(mesos.spec.agents);
        mesos
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("mesos log");
        let mut command = match self.flavor {
            Flavor::Devcluster => {
                let mut c = Command::new(std::env::current_exe().expect("test exe"));
                c.args([
                    "--exact",
                    "devcluster_mesos_child",
                    "--ignored",
                    "--nocapture",
                ]);
                c.env(CHILD_ENV, "1");
                c
            }
            Flavor::Real => Command::new(real_mesos_dir().join("bin").join("mesos-local")),
        };
        // Nothing of the test's own environment leaks into Mesos' flags.
        for (key, _) in std::env::vars() {
            if key.starts_with("MESOS_") || key.starts_with("LIBPROCESS_") {
                command.env_remove(key);
            }
        }
        command
            .envs(self.env.iter().cloned())
            .current_dir(&self.work_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        let mut child = command.spawn().expect("start mesos");
        wait_for(
            "the Mesos master to answer",
            Duration::from_secs(60),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "{} exited at start ({status})\n{}",
                        self.flavor.name(),
                        self.diagnostics()
                    );
                }
                self.try_operator("GET_HEALTH").map(|_| ())
            },
            || self.diagnostics(),
        );
        self.child = Some(child);
    }

    /// Waits until the master lists `n` active agents.
    pub fn wait_agents(&self, n: usize) {
        wait_for(
            &format!("{n} agent(s) registered with {}", self.flavor.name()),
            Duration::from_secs(120),
            || {
                let agents = self.try_operator("GET_AGENTS")?;
                let active = agents["get_agents"]["agents"]
                    .as_array()?
                    .iter()
                    .filter(|a| a["active"].as_bool() == Some(true))
                    .count();
                (active >= n).then_some(())
            },
            || self.diagnostics(),
        );
    }

    /// `http://127.0.0.1:port` — the master (scheduler API at `/api/v1/scheduler`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL of the whole Mesos process (master and agents). Executors
    /// and their pods are separate processes and live on.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Mesos again on the same work dir and port (agents recover
    /// from their checkpoints, as with `--recover=reconnect`).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// `GET path` on the master as JSON, `None` if it fails.
    pub fn try_get(&self, path: &str) -> Option<Value> {
        let body = http_get(&self.url(), path)?;
        serde_json::from_str(&body).ok()
    }

    /// `GET path`, panicking with diagnostics if it fails.
    pub fn get(&self, path: &str) -> Value {
        self.try_get(path)
            .unwrap_or_else(|| panic!("GET {path} failed\n{}", self.diagnostics()))
    }

    /// A v1 operator call without arguments (`{"type": call}`), answered
    /// in JSON; `None` if it fails.
    pub fn try_operator(&self, call: &str) -> Option<Value> {
        let body = http_post_json(&self.url(), "/api/v1", &format!(r#"{{"type":"{call}"}}"#))?;
        serde_json::from_str(&body).ok()
    }

    /// A v1 operator call, panicking with diagnostics if it fails.
    pub fn operator(&self, call: &str) -> Value {
        self.try_operator(call)
            .unwrap_or_else(|| panic!("operator call {call} failed\n{}", self.diagnostics()))
    }

    /// The master's metrics (`/metrics/snapshot`).
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let value = self.get("/metrics/snapshot");
        value
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
            .collect()
    }

    /// One metric, 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        self.metrics().get(name).copied().unwrap_or(0.0)
    }

    /// Processes started under the work dir: executors and, under the
    /// process runtime, nothing else (pods run in the executor's root dir).
    pub fn processes(&self) -> Vec<u32> {
        processes_with_cwd_under(&self.work_dir)
    }

    /// The tail of Mesos' own log.
    pub fn diagnostics(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} log (last 60 lines of {}, {} start(s)) ---\n{}",
            self.flavor.name(),
            self.log.display(),
            self.starts,
            lines[lines.len().saturating_sub(60)..].join("\n")
        )
    }
}

impl Drop for Mesos {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn flavor_slug(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Devcluster => "devcluster",
        Flavor::Real => "real",
    }
}

/// Where `tests/real_mesos/build.sh` puts the real Mesos; built on first
/// use (serialised between test processes by flock).
pub fn real_mesos_dir() -> PathBuf {
    let root = crate::support::repo_root();
    let out = root.join("target").join("real-mesos");
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        std::fs::create_dir_all(&out).expect("target/real-mesos");
        let status = Command::new("flock")
            .arg(out.join(".lock"))
            .arg(root.join("tests").join("real_mesos").join("build.sh"))
            .arg(&out)
            .status()
            .expect("run tests/real_mesos/build.sh");
        assert!(
            status.success(),
            "building the real Mesos 1.11 failed ({status}); see tests/real_mesos/build.sh"
        );
    });
    out
}

/// A port nobody listens on now, below the ephemeral range's usual users.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind :0");
    listener.local_addr().expect("addr").port()
}

/// The body of the devcluster child: runs the standalone devcluster Mesos
/// from the `MESOS_*` environment until killed.
pub fn run_devcluster_child() {
    use kube_mesos_devcluster::mesos::standalone;
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let config = match standalone::StandaloneConfig::from_vars(&vars) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("devcluster Mesos: {e}");
            std::process::exit(2);
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if let Err(e) = runtime.block_on(standalone::run(config, std::future::pending())) {
        eprintln!("devcluster Mesos: {e}");
        std::process::exit(1);
    }
}
