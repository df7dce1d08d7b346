//! One soak run: the cluster, the load, the fault schedule, the checks and
//! the report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::aftermath::{self, KilledTask};
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
/// The devcluster Mesos' faults directory, below its work dir (see
/// `kube_mesos_devcluster::mesos::faults`).
const FAULTS_DIR: &str = "faults";
/// How long the devcluster master waits for an agent's pings before it
/// marks the agent unreachable: 5 × 1 s (Mesos' default is 5 × 15 s).
const AGENT_PING_TIMEOUT: &str = "1secs";
/// How long the framework waits for an unreachable agent's tasks before it
/// fails their pods (its default is 5 minutes); a partition shorter than
/// this keeps its pods.
const UNREACHABLE_TIMEOUT: &str = "30s";
/// How long a bound pod waits for a relaunch on its node before the
/// framework fails it (its default is 5 minutes): a lost agent's pods that
/// a restarted framework never saw run wait for this after the timeout
/// above.
const RELAUNCH_DEADLINE: &str = "30s";

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
    /// Simulated agents lost for good (devcluster only).
    pub agent_losses: usize,
    /// Real agents partitioned from the master, healed after `partition`
    /// (devcluster only: mesos-local's agents share its process).
    pub partitions: usize,
    pub partition: Duration,
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
    /// `AGENT_LOSSES`, `PARTITIONS`, `PARTITION_SECONDS`,
    /// `CONVERGE_SECONDS`, `RESULTS`). On a real Mesos, agents are neither
    /// lost nor partitioned: mesos-local runs them in its own process.
    pub fn from_env() -> Self {
        let flavor = match var("FLAVOR", "devcluster".to_string()).as_str() {
            "real" => Flavor::Real,
            _ => Flavor::Devcluster,
        };
        SoakSpec {
            flavor,
            // mesos-local has no simulated agents.
            simulated_agents: match flavor {
                Flavor::Devcluster => var("SIMULATED_AGENTS", 200),
                Flavor::Real => 0,
            },
            real_agents: var("REAL_AGENTS", 2),
            duration: Duration::from_secs(var("SECONDS", 600)),
            rate: var("RATE", 20.0),
            live: var("LIVE", 1000),
            framework_kills: var("FRAMEWORK_KILLS", 10),
            executor_kills: var("EXECUTOR_KILLS", 5),
            mesos_restarts: var("MESOS_RESTARTS", 3),
            api_outages: var("API_OUTAGES", 1),
            api_outage: Duration::from_secs(var("API_OUTAGE_SECONDS", 20)),
            agent_losses: match flavor {
                Flavor::Devcluster => var("AGENT_LOSSES", 1),
                Flavor::Real => 0,
            },
            partitions: match flavor {
                Flavor::Devcluster => var("PARTITIONS", 1),
                Flavor::Real => 0,
            },
            partition: Duration::from_secs(var("PARTITION_SECONDS", 15)),
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
    AgentLost,
    AgentPartition,
}

impl Fault {
    fn name(self, flavor: Flavor) -> &'static str {
        match self {
            Fault::FrameworkKill => "kill -9 framework",
            Fault::ExecutorKill => "kill -9 executor",
            // The devcluster restarts its master alone, as a supervisor
            // restarts a master process: the agents keep running. The real
            // Mesos harness restarts its one process, master and agent.
            Fault::MesosRestart if flavor == Flavor::Devcluster => "restart the master",
            Fault::MesosRestart => "restart Mesos (master and agents)",
            Fault::ApiOutage => "API server stopped",
            Fault::AgentLost => "agent lost for good",
            Fault::AgentPartition => "agent partitioned, then healed",
        }
    }
}

/// The faults of `spec`, interleaved and spread over the middle 80% of the
/// run: (offset from the start, fault).
fn schedule(spec: &SoakSpec) -> Vec<(Duration, Fault)> {
    let mut faults = Vec::new();
    for (kind, (n, f)) in [
        (spec.framework_kills, Fault::FrameworkKill),
        (spec.executor_kills, Fault::ExecutorKill),
        (spec.mesos_restarts, Fault::MesosRestart),
        (spec.api_outages, Fault::ApiOutage),
        (spec.agent_losses, Fault::AgentLost),
        (spec.partitions, Fault::AgentPartition),
    ]
    .into_iter()
    .enumerate()
    {
        for i in 0..n {
            // Position in [0, 1) of this fault among its kind, each kind
            // shifted a little so that faults of different kinds do not
            // all start at the same moment in small runs: they overlap
            // (an outage during a relaunch's back-off, a framework kill
            // during a partition) without all hitting one instant.
            let at = (i as f64 + 0.5) / n as f64 + kind as f64 * 0.04;
            faults.push((at.min(0.99), f));
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
    /// Pods of killed executors that were neither relaunched nor failed
    /// as their restart policy says.
    pub executor_kill_unmet: Vec<String>,
    /// Lost agents' Nodes still Ready, or their pods not Failed.
    pub agent_lost_unmet: Vec<String>,
    /// Pods of killed executors checked, and their relaunches seen.
    pub executor_killed_pods: usize,
    /// The lost agents' Nodes and the pods they had.
    pub lost_nodes: Vec<String>,
    pub lost_node_pods: usize,
    pub converged_after: Option<Duration>,
    /// When the lost agents' Nodes and pods were as they must be, after the
    /// load stopped.
    pub lost_agent_settled_after: Option<Duration>,
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
            "pods of a killed executor not relaunched nor failed as their policy says",
            &self.executor_kill_unmet,
            self.executor_kill_unmet.is_empty(),
        );
        say(
            "a lost agent's Node or pods",
            &self.agent_lost_unmet,
            self.agent_lost_unmet.is_empty(),
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
            "executor_killed_pods": self.executor_killed_pods,
            "executor_kill_outcomes_unmet": self.executor_kill_unmet.len(),
            "lost_nodes": self.lost_nodes,
            "lost_node_pods": self.lost_node_pods,
            "lost_node_outcomes_unmet": self.agent_lost_unmet.len(),
            "converge_seconds": self.converged_after.map(|d| d.as_secs_f64()),
            "lost_agent_settled_seconds": self.lost_agent_settled_after.map(|d| d.as_secs_f64()),
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
                restart_policy: p
                    .spec
                    .as_ref()
                    .and_then(|s| s.restart_policy.clone())
                    .unwrap_or_else(|| "Always".into()),
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
                executor: t["executor_id"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            });
        }
    }
    Some(out)
}

/// Whether Node `name` is Ready (`None`: no such Node or condition).
fn node_ready(rt: &tokio::runtime::Runtime, client: &kube::Client, name: &str) -> Option<bool> {
    let api: Api<Node> = Api::all(client.clone());
    let node = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), api.get_opt(name)).await })
        .ok()?
        .ok()??;
    node.status?
        .conditions?
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status == "True")
}

/// A variable of process `pid`'s environment.
fn environ(pid: u32, name: &str) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    raw.split(|b| *b == 0).find_map(|kv| {
        let kv = String::from_utf8_lossy(kv);
        kv.strip_prefix(name)?.strip_prefix('=').map(str::to_owned)
    })
}

/// What the faults left to check once the cluster converged.
#[derive(Debug, Default)]
struct Aftermath {
    killed: Vec<KilledTask>,
    lost_nodes: Vec<String>,
    /// Master restarts asked of the devcluster so far (each fault file
    /// is named by its number).
    master_restarts: usize,
}

/// Everything a fault needs.
struct Ctx<'a> {
    cluster: &'a mut Cluster,
    rt: &'a tokio::runtime::Runtime,
    client: &'a kube::Client,
    spec: &'a SoakSpec,
    real_names: &'a [String],
    after: &'a mut Aftermath,
}

/// Writes or removes a fault file of the devcluster Mesos.
fn fault_file(cluster: &Cluster, kind: &str, host: &str, present: bool) {
    let dir = cluster.mesos.work_dir.join(FAULTS_DIR).join(kind);
    std::fs::create_dir_all(&dir).expect("faults dir");
    if present {
        std::fs::write(dir.join(host), "").expect("writing a fault file");
    } else {
        let _ = std::fs::remove_file(dir.join(host));
    }
}

/// Kills an executor that runs tasks (the first one found when none
/// does), remembering the tasks it ran.
fn kill_an_executor(ctx: &mut Ctx) {
    let tasks = tasks_now(ctx.cluster).unwrap_or_default();
    let of = |pid: u32| -> Vec<KilledTask> {
        let (Some(agent), Some(executor)) = (
            environ(pid, "MESOS_SLAVE_ID"),
            environ(pid, "MESOS_EXECUTOR_ID"),
        ) else {
            return Vec::new();
        };
        tasks
            .iter()
            .filter(|t| t.running() && t.agent == agent && t.executor == executor)
            .filter_map(|t| t.pod())
            .map(|(uid, generation)| KilledTask {
                uid: uid.to_owned(),
                generation,
            })
            .collect()
    };
    let pids = ctx.cluster.executor_processes();
    let Some((pid, ran)) = pids
        .iter()
        .map(|p| (*p, of(*p)))
        .max_by_key(|(_, ran)| ran.len())
    else {
        return;
    };
    eprintln!(
        "soak: killing executor {pid}, which runs {} pods",
        ran.len()
    );
    kill_pid(pid);
    ctx.after.killed.extend(ran);
}

/// Loses the simulated agent with the most pods bound to it, for good.
fn lose_an_agent(ctx: &mut Ctx) {
    let pods = pods_now(ctx.rt, ctx.client).unwrap_or_default();
    let mut bound: BTreeMap<String, usize> = BTreeMap::new();
    for p in &pods {
        if let Some(node) = &p.node {
            let lost = ctx.after.lost_nodes.contains(node);
            if !ctx.real_names.contains(node) && !lost && !pod_done(&p.phase) {
                *bound.entry(node.clone()).or_default() += 1;
            }
        }
    }
    let Some((node, n)) = bound.into_iter().max_by_key(|(_, n)| *n) else {
        eprintln!("soak: no simulated agent runs a pod; none lost");
        return;
    };
    eprintln!("soak: losing agent {node} with {n} pods");
    fault_file(ctx.cluster, "lost", &node, true);
    ctx.after.lost_nodes.push(node);
}

fn pod_done(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed")
}

fn inject(ctx: &mut Ctx, fault: Fault) {
    match fault {
        Fault::FrameworkKill => {
            ctx.cluster.kill_framework();
            ctx.cluster.start_framework();
        }
        Fault::ExecutorKill => kill_an_executor(ctx),
        Fault::MesosRestart if ctx.spec.flavor == Flavor::Devcluster => {
            ctx.after.master_restarts += 1;
            let name = ctx.after.master_restarts.to_string();
            fault_file(ctx.cluster, "restart-master", &name, true);
        }
        Fault::MesosRestart => ctx.cluster.mesos.restart(),
        Fault::ApiOutage => {
            ctx.cluster.stop_api_server();
            std::thread::sleep(ctx.spec.api_outage);
            ctx.cluster.start_api_server();
        }
        Fault::AgentLost => lose_an_agent(ctx),
        Fault::AgentPartition => {
            let host = &ctx.real_names[0];
            fault_file(ctx.cluster, "partition", host, true);
            std::thread::sleep(ctx.spec.partition);
            fault_file(ctx.cluster, "partition", host, false);
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

/// A port slot (see `agent_ports`) whose agents' first ports nobody holds
/// now: an executor listens on its agent's first port, and a soak of
/// another checkout running at the same time on slot 7 made every executor
/// of one agent exit at start.
fn free_slot(agents: usize) -> u32 {
    (7..16)
        .find(|slot| {
            (0..agents as u32).all(|i| {
                let port = agent_ports(*slot, i).0 as u16;
                std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            })
        })
        .unwrap_or(7)
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
    let slot = free_slot(real_agents);
    let mut cluster = Cluster::start(
        spec.flavor,
        |_| {
            let mut m = MesosSpec::agents(real_agents, agent_ports(slot, 0));
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
                m.flags
                    .insert("KUBE_MESOS_FAULTS_DIR".into(), FAULTS_DIR.into());
                m = m
                    .flag("agent_ping_timeout", AGENT_PING_TIMEOUT)
                    .flag("max_agent_ping_timeouts", "5");
                // One host, so port ranges of their own: an executor's
                // kubelet endpoint listens on its first port, and two
                // agents offering the same range made the second agent's
                // executors exit at start ("every port ... failed to bind").
                let per_agent: Vec<String> = (0..real_agents as u32)
                    .map(|i| {
                        let (first, last) = agent_ports(slot, i);
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
            args: [
                "--unreachable-timeout",
                UNREACHABLE_TIMEOUT,
                "--relaunch-deadline",
                RELAUNCH_DEADLINE,
            ]
            .map(String::from)
            .to_vec(),
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
    let mut after = Aftermath::default();
    let start = Instant::now();
    let mut plan = schedule(spec).into_iter().peekable();
    while start.elapsed() < spec.duration {
        if let Some((at, fault)) = plan.peek().copied() {
            if start.elapsed() >= at {
                plan.next();
                let name = fault.name(spec.flavor);
                eprintln!("soak: {:>6.1}s {name}", start.elapsed().as_secs_f64());
                inject(
                    &mut Ctx {
                        cluster: &mut cluster,
                        rt: &rt,
                        client: &client,
                        spec,
                        real_names: &real_names,
                        after: &mut after,
                    },
                    fault,
                );
                out.faults.push((start.elapsed().as_secs_f64(), name));
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
    let mut kill_unmet = Vec::new();
    let mut lost_unmet: Vec<String> = Vec::new();
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
            let tasks_ok = tasks_now(&cluster).unwrap_or_default();
            kill_unmet = aftermath::executor_kill(&pods, &tasks_ok, &after.killed);
            lost_unmet = after
                .lost_nodes
                .iter()
                .flat_map(|n| aftermath::agent_lost(&pods, n, node_ready(&rt, &client, n)))
                .collect();
            let converged = last.clean() && vanished.is_empty() && kill_unmet.is_empty();
            if converged && out.converged_after.is_none() {
                out.converged_after = Some(load_stopped.elapsed());
            }
            // A lost agent's pods fail on timeouts of their own
            // (`--unreachable-timeout`, then `--relaunch-deadline` for pods
            // a restarted framework never saw run), restarted with every
            // framework kill: they settle apart from the convergence.
            if converged && lost_unmet.is_empty() {
                out.lost_agent_settled_after = Some(load_stopped.elapsed());
                break;
            }
            if out.checks.is_multiple_of(10) {
                eprintln!(
                    "soak: converging {:>5.1}s: {} lost, {} deleted alive, {} phase, {} vanished, {} killed-executor pods, {} lost-agent",
                    load_stopped.elapsed().as_secs_f64(),
                    last.lost.len(),
                    last.deleted_alive.len(),
                    last.phase_disagrees.len(),
                    vanished.len(),
                    kill_unmet.len(),
                    lost_unmet.len()
                );
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    out.lost = last.lost.clone();
    out.deleted_alive = last.deleted_alive.clone();
    out.phase_disagrees = last.phase_disagrees.clone();
    out.vanished = vanished;
    out.executor_kill_unmet = kill_unmet;
    out.agent_lost_unmet = lost_unmet;
    out.executor_killed_pods = after.killed.len();
    {
        let pods = pods_now(&rt, &client).unwrap_or_default();
        out.lost_node_pods = pods
            .iter()
            .filter(|p| {
                p.node
                    .as_ref()
                    .is_some_and(|n| after.lost_nodes.contains(n))
            })
            .count();
    }
    out.lost_nodes = after.lost_nodes.clone();
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
