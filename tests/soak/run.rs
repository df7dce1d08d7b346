//! One soak run: the cluster, the load, the fault schedule, the checks and
//! the report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::cluster::{agent_ports, Cluster, FrameworkSpec};
use crate::invariants::{self, Findings, PodView, TaskView};
use crate::load::{self, Ledger, LoadSpec};
use crate::mesos::{Flavor, MesosSpec};
use crate::support::{kill_pid, processes_with_cwd_under};

/// Longest wait for the cluster to converge: a hang guard, not the figure
/// (`convergence_limit` is the promise checked at full size).
const CONVERGE_GUARD: Duration = Duration::from_secs(300);
/// The devcluster agents' executor state roots, below the Mesos work dir
/// (one per agent: `<i>`); the real Mesos' one agent uses the cluster's.
const EXECUTOR_ROOTS: &str = "executor-roots";
/// Each agent's cpus, mem and disk (ports are per agent).
const AGENT_RESOURCES: &str = "cpus:4;mem:8192;disk:8192";
/// How often the invariants are checked while the load runs.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// How big a soak is and what it injects.
#[derive(Debug, Clone)]
pub struct SoakSpec {
    pub flavor: Flavor,
    pub simulated_agents: usize,
    pub real_agents: usize,
    pub duration: Duration,
    /// Creations plus deletions per second.
    pub rate: f64,
    /// Live pods to hover around.
    pub live: usize,
    pub framework_kills: usize,
    pub executor_kills: usize,
    pub mesos_restarts: usize,
    pub api_outages: usize,
    pub api_outage: Duration,
    /// When set, convergence after the last fault must take at most this.
    pub convergence_limit: Option<Duration>,
    /// Where the report goes (JSON), when set.
    pub results: Option<PathBuf>,
}

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(format!("KUBE_MESOS_SOAK_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl SoakSpec {
    /// The full size, each figure overridable by `KUBE_MESOS_SOAK_<NAME>`
    /// (`FLAVOR` = `devcluster`|`real`, `SIMULATED_AGENTS`, `REAL_AGENTS`,
    /// `SECONDS`, `RATE`, `LIVE`, `FRAMEWORK_KILLS`, `EXECUTOR_KILLS`,
    /// `MESOS_RESTARTS`, `API_OUTAGES`, `API_OUTAGE_SECONDS`,
    /// `CONVERGE_SECONDS`, `RESULTS`).
    pub fn from_env() -> Self {
        let flavor = match var("FLAVOR", "devcluster".to_string()).as_str() {
            "real" => Flavor::Real,
            _ => Flavor::Devcluster,
        };
        SoakSpec {
            flavor,
            simulated_agents: var("SIMULATED_AGENTS", 200),
            real_agents: var("REAL_AGENTS", 2),
            duration: Duration::from_secs(var("SECONDS", 600)),
            rate: var("RATE", 20.0),
            live: var("LIVE", 1000),
            framework_kills: var("FRAMEWORK_KILLS", 10),
            executor_kills: var("EXECUTOR_KILLS", 5),
            mesos_restarts: var("MESOS_RESTARTS", 3),
            api_outages: var("API_OUTAGES", 1),
            api_outage: Duration::from_secs(var("API_OUTAGE_SECONDS", 20)),
            convergence_limit: Some(Duration::from_secs(var("CONVERGE_SECONDS", 30))),
            results: std::env::var("KUBE_MESOS_SOAK_RESULTS")
                .ok()
                .map(PathBuf::from),
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    FrameworkKill,
    ExecutorKill,
    MesosRestart,
    ApiOutage,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::FrameworkKill => "kill -9 framework",
            Fault::ExecutorKill => "kill -9 executor",
            Fault::MesosRestart => "restart Mesos (master and agents)",
            Fault::ApiOutage => "API server stopped",
        }
    }
}

/// The faults of `spec`, interleaved and spread over the middle 80% of the
/// run: (offset from the start, fault).
fn schedule(spec: &SoakSpec) -> Vec<(Duration, Fault)> {
    let mut faults = Vec::new();
    for (n, f) in [
        (spec.framework_kills, Fault::FrameworkKill),
        (spec.executor_kills, Fault::ExecutorKill),
        (spec.mesos_restarts, Fault::MesosRestart),
        (spec.api_outages, Fault::ApiOutage),
    ] {
        for i in 0..n {
            // Position in [0, 1) of this fault among its kind.
            faults.push(((i as f64 + 0.5) / n as f64, f));
        }
    }
    faults.sort_by(|a, b| a.0.total_cmp(&b.0));
    let span = spec.duration.as_secs_f64() * 0.8;
    let start = spec.duration.as_secs_f64() * 0.1;
    faults
        .into_iter()
        .map(|(at, f)| (Duration::from_secs_f64(start + at * span), f))
        .collect()
}

/// What a run observed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub flavor: String,
    pub faults: Vec<(f64, &'static str)>,
    pub duplicated: BTreeSet<String>,
    pub lost: Vec<String>,
    pub deleted_alive: Vec<String>,
    pub phase_disagrees: Vec<String>,
    pub vanished: Vec<String>,
    pub leaked_processes: Vec<u32>,
    pub leaked_sandboxes: Vec<String>,
    pub leaked_mounts: Vec<String>,
    pub converged_after: Option<Duration>,
    pub convergence_limit: Option<Duration>,
    pub created: u64,
    pub deleted: u64,
    pub api_errors: u64,
    pub checks: u64,
    pub transient_lost_max: usize,
    pub diagnostics: String,
}

impl Outcome {
    /// Panics with everything found, unless the run kept every promise.
    pub fn assert_correct(&self) {
        let mut problems = Vec::new();
        let mut say = |what: &str, items: &dyn std::fmt::Debug, empty: bool| {
            if !empty {
                problems.push(format!("{what}: {items:?}"));
            }
        };
        say(
            "duplicated pods",
            &self.duplicated,
            self.duplicated.is_empty(),
        );
        say("lost pods", &self.lost, self.lost.is_empty());
        say(
            "pods gone from the API without a delete",
            &self.vanished,
            self.vanished.is_empty(),
        );
        say(
            "deleted pods still running",
            &self.deleted_alive,
            self.deleted_alive.is_empty(),
        );
        say(
            "phase disagrees with the task",
            &self.phase_disagrees,
            self.phase_disagrees.is_empty(),
        );
        say(
            "leaked processes",
            &self.leaked_processes,
            self.leaked_processes.is_empty(),
        );
        say(
            "leaked sandboxes",
            &self.leaked_sandboxes,
            self.leaked_sandboxes.is_empty(),
        );
        say(
            "leaked mounts",
            &self.leaked_mounts,
            self.leaked_mounts.is_empty(),
        );
        match (self.converged_after, self.convergence_limit) {
            (None, _) => problems.push(format!("no convergence within {CONVERGE_GUARD:?}")),
            (Some(took), Some(limit)) if took > limit => {
                problems.push(format!("converged after {took:?}, above {limit:?}"))
            }
            _ => {}
        }
        assert!(
            problems.is_empty(),
            "the soak on {} broke its promises:\n{}\n{}",
            self.flavor,
            problems.join("\n"),
            self.diagnostics
        );
    }

    fn report(&self, spec: &SoakSpec) -> serde_json::Value {
        json!({
            "flavor": self.flavor,
            "simulated_agents": spec.simulated_agents,
            "real_agents": spec.real_agents,
            "seconds": spec.duration.as_secs(),
            "rate_per_second": spec.rate,
            "live_target": spec.live,
            "pods_created": self.created,
            "pods_deleted": self.deleted,
            "api_errors_during_faults": self.api_errors,
            "faults_survived": self.faults.len(),
            "faults": self.faults.iter().map(|(at, f)| json!({"at_seconds": at, "fault": f})).collect::<Vec<_>>(),
            "pods_lost": self.lost.len() + self.vanished.len(),
            "pods_duplicated": self.duplicated.len(),
            "deleted_pods_left_running": self.deleted_alive.len(),
            "leaks": self.leaked_processes.len() + self.leaked_sandboxes.len() + self.leaked_mounts.len(),
            "converge_seconds": self.converged_after.map(|d| d.as_secs_f64()),
            "invariant_checks": self.checks,
            "most_pods_converging_at_once": self.transient_lost_max,
        })
    }
}

fn kube_client(rt: &tokio::runtime::Runtime, kubeconfig: &Path) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    rt.block_on(async {
        let config = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
            .await
            .expect("client config");
        kube::Client::try_from(config).expect("client")
    })
}

fn pods_now(rt: &tokio::runtime::Runtime, client: &kube::Client) -> Option<Vec<PodView>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let list = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(20),
                api.list(&ListParams::default().labels("soak=1")),
            )
            .await
        })
        .ok()?
        .ok()?;
    Some(
        list.items
            .into_iter()
            .map(|p| PodView {
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                phase: p
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default(),
                node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
                deleting: p.metadata.deletion_timestamp.is_some(),
            })
            .collect(),
    )
}

fn tasks_now(cluster: &Cluster) -> Option<Vec<TaskView>> {
    let answer = cluster.mesos.try_operator("GET_TASKS")?;
    let mut out = Vec::new();
    for list in ["tasks", "unreachable_tasks", "completed_tasks"] {
        for t in answer["get_tasks"][list].as_array().into_iter().flatten() {
            out.push(TaskView {
                id: t["task_id"]["value"].as_str().unwrap_or_default().into(),
                state: t["state"].as_str().unwrap_or_default().into(),
                agent: t["agent_id"]["value"].as_str().unwrap_or_default().into(),
            });
        }
    }
    Some(out)
}

fn inject(cluster: &mut Cluster, fault: Fault, spec: &SoakSpec) {
    match fault {
        Fault::FrameworkKill => {
            cluster.kill_framework();
            cluster.start_framework();
        }
        Fault::ExecutorKill => {
            if let Some(pid) = cluster.executor_processes().first() {
                kill_pid(*pid);
            }
        }
        Fault::MesosRestart => cluster.mesos.restart(),
        Fault::ApiOutage => {
            cluster.stop_api_server();
            std::thread::sleep(spec.api_outage);
            cluster.start_api_server();
        }
    }
}

/// Directories named like a pod UID below `root`: pod sandboxes.
fn sandboxes(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if !path.is_dir() || path.is_symlink() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let uuid_like = name.len() == 36 && name.matches('-').count() == 4;
            if uuid_like {
                found.push(path.display().to_string());
            } else if entry.file_name() != "pod-logs" {
                stack.push(path);
            }
        }
    }
    found
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| m.starts_with(&dir))
        .map(str::to_owned)
        .collect()
}

/// Runs one soak.
pub fn soak(spec: &SoakSpec) -> Outcome {
    let real_names: Vec<String> = match spec.flavor {
        // The devcluster gives each agent its own hostname (Node).
        Flavor::Devcluster => (0..spec.real_agents)
            .map(|i| format!("soak-real-{i}"))
            .collect(),
        // mesos-local's agents share the machine's hostname: one real agent.
        Flavor::Real => vec!["127.0.0.1".to_string()],
    };
    let real_agents = real_names.len();
    let mut cluster = Cluster::start(
        spec.flavor,
        |_| {
            let mut m = MesosSpec::agents(real_agents, agent_ports(7, 0));
            m.resources = format!("{AGENT_RESOURCES};ports:[31000-31999]");
            if spec.flavor == Flavor::Devcluster {
                m.flags.insert(
                    "KUBE_MESOS_SIMULATED_AGENTS".into(),
                    spec.simulated_agents.to_string(),
                );
                m.flags
                    .insert("KUBE_MESOS_AGENT_HOSTNAMES".into(), real_names.join(","));
                m.flags.insert(
                    "KUBE_MESOS_AGENT_EXECUTOR_ROOTS".into(),
                    EXECUTOR_ROOTS.into(),
                );
                // One host, so port ranges of their own: an executor's
                // kubelet endpoint listens on its first port, and two
                // agents offering the same range made the second agent's
                // executors exit at start ("every port ... failed to bind").
                let per_agent: Vec<String> = (0..real_agents as u32)
                    .map(|i| {
                        let (first, last) = agent_ports(7, i);
                        format!("{AGENT_RESOURCES};ports:[{first}-{last}]")
                    })
                    .collect();
                m.flags
                    .insert("KUBE_MESOS_AGENT_RESOURCES".into(), per_agent.join("|"));
            }
            m
        },
        FrameworkSpec {
            executor_root_per_agent: spec.flavor == Flavor::Devcluster,
            ..FrameworkSpec::default()
        },
    );
    cluster.wait_framework_subscribed();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = kube_client(&rt, &cluster.kubeconfig);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let load = rt.spawn(load::run(
        client.clone(),
        LoadSpec {
            rate: spec.rate,
            live: spec.live,
            real_agents: real_names.clone(),
            real_share: 0.1,
        },
        ledger.clone(),
        stop.clone(),
    ));

    let mut out = Outcome {
        flavor: spec.flavor.name().to_string(),
        convergence_limit: spec.convergence_limit,
        ..Outcome::default()
    };
    let start = Instant::now();
    let mut plan = schedule(spec).into_iter().peekable();
    while start.elapsed() < spec.duration {
        if let Some((at, fault)) = plan.peek().copied() {
            if start.elapsed() >= at {
                plan.next();
                eprintln!(
                    "soak: {:>6.1}s {}",
                    start.elapsed().as_secs_f64(),
                    fault.name()
                );
                inject(&mut cluster, fault, spec);
                out.faults
                    .push((start.elapsed().as_secs_f64(), fault.name()));
                continue;
            }
        }
        // Continuously: duplicates are never allowed.
        let deleted = ledger.lock().expect("ledger").deleted.clone();
        if let (Some(pods), Some(tasks)) = (pods_now(&rt, &client), tasks_now(&cluster)) {
            let f = invariants::check(&pods, &tasks, &deleted);
            out.checks += 1;
            out.duplicated.extend(f.duplicated.iter().cloned());
            out.transient_lost_max = out.transient_lost_max.max(f.lost.len());
        }
        std::thread::sleep(CHECK_EVERY);
    }
    stop.store(true, Ordering::SeqCst);
    let _ = rt.block_on(load);
    let load_stopped = Instant::now();

    // Convergence: every promise holds at once.
    let mut last = Findings::default();
    let mut vanished = Vec::new();
    while load_stopped.elapsed() < CONVERGE_GUARD {
        let (live, deleted) = {
            let l = ledger.lock().expect("ledger");
            (l.live.clone(), l.deleted.clone())
        };
        if let (Some(pods), Some(tasks)) = (pods_now(&rt, &client), tasks_now(&cluster)) {
            last = invariants::check(&pods, &tasks, &deleted);
            out.checks += 1;
            out.duplicated.extend(last.duplicated.iter().cloned());
            let uids: BTreeSet<&str> = pods.iter().map(|p| p.uid.as_str()).collect();
            vanished = live
                .iter()
                .filter(|(_, uid)| !uids.contains(uid.as_str()))
                .map(|(name, uid)| format!("{name} ({uid})"))
                .collect();
            if last.clean() && vanished.is_empty() {
                out.converged_after = Some(load_stopped.elapsed());
                break;
            }
            if out.checks.is_multiple_of(10) {
                eprintln!(
                    "soak: converging {:>5.1}s: {} lost, {} deleted alive, {} phase, {} vanished",
                    load_stopped.elapsed().as_secs_f64(),
                    last.lost.len(),
                    last.deleted_alive.len(),
                    last.phase_disagrees.len(),
                    vanished.len()
                );
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    out.lost = last.lost.clone();
    out.deleted_alive = last.deleted_alive.clone();
    out.phase_disagrees = last.phase_disagrees.clone();
    out.vanished = vanished;
    {
        let l = ledger.lock().expect("ledger");
        out.created = l.created;
        out.deleted = l.deletions;
        out.api_errors = l.api_errors;
    }

    // The host after: delete every pod, then nothing of them may remain.
    // Forcibly: pods of simulated agents have no kubelet to finish their
    // deletion (they stay Terminating, as on a real node without one), and
    // a forced deletion must still leave no task, process or sandbox.
    let _ = cluster.kubectl(&[
        "delete",
        "pods",
        "-l",
        "soak=1",
        "--grace-period=0",
        "--force",
        "--wait=false",
    ]);
    let guard = Instant::now();
    let roots = [
        cluster.executor_root(),
        cluster.mesos.work_dir.join(EXECUTOR_ROOTS),
    ];
    let leftovers = || -> (Vec<u32>, Vec<String>) {
        let procs: BTreeSet<u32> = roots
            .iter()
            .flat_map(|r| processes_with_cwd_under(r))
            .collect();
        let sbs: Vec<String> = roots.iter().flat_map(|r| sandboxes(r)).collect();
        (procs.into_iter().collect(), sbs)
    };
    loop {
        let pods_left = pods_now(&rt, &client).map(|p| p.len()).unwrap_or(1);
        let (procs, sbs) = leftovers();
        if pods_left == 0 && procs.is_empty() && sbs.is_empty() {
            break;
        }
        if guard.elapsed() > CONVERGE_GUARD {
            out.leaked_processes = procs;
            out.leaked_sandboxes = sbs;
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    out.leaked_mounts = mounts_under(cluster.dir());
    eprintln!(
        "soak: {} faults, {} pods created, {} deleted, converged after {:?}, {} duplicated, {} lost",
        out.faults.len(),
        out.created,
        out.deleted,
        out.converged_after,
        out.duplicated.len(),
        out.lost.len() + out.vanished.len()
    );
    if !last.clean() || out.converged_after.is_none() {
        out.diagnostics = format!("last findings: {last:?}\n{}", cluster.diagnostics());
    }
    if let Some(path) = &spec.results {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let report = out.report(spec);
        std::fs::write(
            path,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        )
        .expect("writing the soak report");
        eprintln!("soak: report in {}", path.display());
    }
    out
}
