//! `kube-mesos local` flags and the plan they describe.
//!
//! clap parses the flags once into [`LocalArgs`]; [`LocalArgs::into_plan`]
//! validates them into a [`LocalPlan`]: one [`AgentSpec`] per agent with its
//! hostname, Mesos resources and attributes in Mesos' own text forms. The
//! plan is a plain value so tests check it without starting anything.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use kube_mesos_devcluster::mesos::agent::resources::{parse_attributes, parse_resources};

use super::error::LocalError;

/// First port of agent 0's `ports` range; agent `i` gets
/// `[PORTS_BASE + i*PORTS_PER_AGENT, PORTS_BASE + (i+1)*PORTS_PER_AGENT - 1]`.
/// Mesos' own default is `[31000-32000]`. The ranges are disjoint because
/// all agents share one host: with the process runtime, a hostPort is a
/// real port of this machine, so it may be offered by one agent only.
pub const PORTS_BASE: u32 = 31000;
/// Size of each agent's default port range.
pub const PORTS_PER_AGENT: u32 = 1000;
/// Most agents `--agents` accepts (their port ranges must stay below 65536).
pub const MAX_AGENTS: usize = 32;

/// Which runtime the executors run pods with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LocalRuntime {
    /// Containers run as host processes in a sandbox directory: no images,
    /// no isolation, no dependencies.
    #[default]
    Process,
    /// Containers run under a CRI runtime (containerd) at `--cri-socket`.
    Cri,
}

impl LocalRuntime {
    /// The value of the executor's `KUBE_MESOS_RUNTIME`.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalRuntime::Process => "process",
            LocalRuntime::Cri => "cri",
        }
    }
}

/// `kube-mesos local`: the cluster flags, run in the foreground, or one of
/// the lifecycle subcommands (`up`, `down`, `status`, `delete`).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "local",
    args_conflicts_with_subcommands = true,
    about = "Start a whole kube-mesos cluster on this machine: Mesos master and agents, \
             a Kubernetes API server and the framework",
    long_about = "Start a whole kube-mesos cluster on this machine: an embedded Mesos master, \
N Mesos agents (whose executor is this very binary, `kube-mesos executor`), an embedded \
Kubernetes API server and the kube-mesos framework. kubectl works against it through \
<data-dir>/kubeconfig. No kube-scheduler runs, so the framework also schedules pods of \
`default-scheduler`: manifests need no change. Deployments, ReplicaSets and Jobs work: the API server runs their controllers and the garbage collector.

`kube-mesos local up` starts it in the background and returns once it is ready, merging a `kube-mesos` context into your kubeconfig; `status`, `down` and `delete` follow (see `kube-mesos local up --help`). Without a subcommand it runs in the foreground.

It prints the kubeconfig path, the API server and Mesos master URLs, and the line \
`kube-mesos local is ready` once a pod can be scheduled.

Stopping (Ctrl-C or SIGTERM) shuts the whole machine down: the framework stops without \
tearing down (its framework ID stays), the agents shut their executors down, which stop \
the pods gracefully (grace periods up to 35 s are honoured), then the master and the API \
server stop. A second signal exits at \
once. Pod objects, Nodes and the framework ID stay in the data dir; on the next start the \
framework reconciles the pods with Mesos: a pod whose containers were stopped ends \
Failed, it is not restarted. Only a crash (kill -9) leaves pods running: a restart on the \
same data dir within 15 minutes (the agents' recovery timeout) finds them again.",
    after_help = "Examples:
  kube-mesos local up && kubectl --context kube-mesos get nodes
  kube-mesos local status
  kube-mesos local down
  kube-mesos local delete
  kube-mesos local
  kube-mesos local --agents 2 --agent-attributes '0=rack:r1;zone:a' --agent-attributes '1=rack:r2;zone:b'
  kube-mesos local --agent-resources '0=cpus:2;mem:2048;disk:4096;ports:[31000-31999]'
  kube-mesos local --runtime cri --cri-socket /run/containerd/containerd.sock"
)]
pub struct LocalArgs {
    /// The cluster, when run in the foreground.
    #[command(flatten)]
    pub flags: ClusterFlags,

    /// A lifecycle command instead of running in the foreground.
    #[command(subcommand)]
    pub action: Option<LocalAction>,
}

/// What `kube-mesos local` does besides running in the foreground.
#[derive(Debug, Clone, Subcommand)]
pub enum LocalAction {
    /// Start the cluster in the background and return once it is ready
    /// (like `kind create cluster` / `minikube start`); on a data dir that
    /// holds a stopped cluster, resume it.
    Up(UpArgs),
    /// Stop the cluster gracefully (pods are stopped, their objects kept);
    /// `up` resumes it.
    Down(DataDirArg),
    /// Say what runs (API server, Mesos master and agents, framework,
    /// Nodes, pods) and whether it is healthy. Exit code 0: running and
    /// healthy; 1: running but not healthy; 3: not running.
    Status(DataDirArg),
    /// Stop the cluster if it runs, and remove its data dir and its
    /// kubeconfig context.
    Delete(DataDirArg),
}

/// `--data-dir` alone.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDirArg {
    /// The cluster's data dir.
    #[arg(long, default_value = "./.kube-mesos")]
    pub data_dir: PathBuf,
}

/// `kube-mesos local up` flags.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  kube-mesos local up
  kube-mesos local up --agents 2
  kube-mesos local up --no-kubeconfig-merge && export KUBECONFIG=.kube-mesos/kubeconfig")]
pub struct UpArgs {
    /// The cluster. On a data dir that holds a cluster already, give no
    /// flags (its own are reused) or the same ones.
    #[command(flatten)]
    pub flags: ClusterFlags,

    /// Longest wait for the cluster to become ready, in seconds.
    #[arg(long, default_value_t = 300)]
    pub wait: u64,

    /// Do not merge a `kube-mesos` context into $KUBECONFIG (its first
    /// file) or ~/.kube/config; use <data-dir>/kubeconfig instead.
    #[arg(long)]
    pub no_kubeconfig_merge: bool,
}

/// The flags that describe a cluster.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ClusterFlags {
    /// Directory for all state: API server objects, agent work dirs and
    /// checkpoints, executor state, kubeconfig. Restarting on the same
    /// directory resumes the cluster.
    #[arg(long, default_value = "./.kube-mesos")]
    pub data_dir: PathBuf,

    /// Number of Mesos agents, named agent-0, agent-1, ... (one Kubernetes
    /// Node each).
    #[arg(long, default_value_t = 1)]
    pub agents: usize,

    /// Mesos attributes of one agent, INDEX=ATTRIBUTES in Mesos' text form
    /// (`0=rack:r1;zone:a`). Repeatable. Each attribute becomes a Node label
    /// (`rack=r1`).
    #[arg(long, value_name = "INDEX=ATTRIBUTES")]
    pub agent_attributes: Vec<String>,

    /// Mesos resources of one agent, INDEX=RESOURCES in Mesos' text form
    /// (`0=cpus:2;mem:2048;disk:4096;ports:[31000-31999]`). Repeatable.
    /// Default: this machine's cpus, half its memory (at least 1024 MiB),
    /// 10240 MB disk, and ports [31000+1000*INDEX - 31999+1000*INDEX].
    #[arg(long, value_name = "INDEX=RESOURCES")]
    pub agent_resources: Vec<String>,

    /// How the executors run containers: `process` (host processes, no
    /// images, no isolation) or `cri` (a containerd at --cri-socket).
    #[arg(long, value_enum, default_value = "process")]
    pub runtime: LocalRuntime,

    /// containerd's CRI socket, for --runtime cri.
    #[arg(long, default_value = "/run/containerd/containerd.sock")]
    pub cri_socket: PathBuf,

    /// Port of the Kubernetes API server on 127.0.0.1. 0 picks a free port
    /// on the first start and the same one again on restarts (executors
    /// that kept running still reach it). The kubeconfig is written either
    /// way.
    #[arg(long, default_value_t = 0)]
    pub api_port: u16,

    /// Port of the Mesos master on 127.0.0.1; 0 picks one as --api-port does.
    #[arg(long, default_value_t = 0)]
    pub mesos_port: u16,
}

/// One agent to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// Its index (work dir `agents/<index>`, remembered port).
    pub index: usize,
    /// Hostname, and so the Node name: `agent-<index>`.
    pub hostname: String,
    /// Mesos resources text.
    pub resources: String,
    /// Mesos attributes text (may be empty).
    pub attributes: String,
}

/// What `kube-mesos local` will start: validated flags.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPlan {
    /// As given (made absolute when the cluster starts).
    pub data_dir: PathBuf,
    /// The agents, by index.
    pub agents: Vec<AgentSpec>,
    /// The executors' runtime.
    pub runtime: LocalRuntime,
    /// CRI socket for `cri`.
    pub cri_socket: PathBuf,
    /// Requested API server port (0: remembered or free).
    pub api_port: u16,
    /// Requested Mesos master port (0: remembered or free).
    pub mesos_port: u16,
}

/// This machine's size, for the default agent resources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostSize {
    /// CPUs.
    pub cpus: usize,
    /// Memory in MiB.
    pub mem_mib: u64,
}

impl HostSize {
    /// Reads the CPU count and `/proc/meminfo`; falls back to 1 cpu and
    /// 2 GiB when they cannot be read.
    pub fn detect() -> Self {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let mem_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| mem_total_mib(&text))
            .unwrap_or(2048);
        HostSize { cpus, mem_mib }
    }
}

/// `MemTotal` of `/proc/meminfo` in MiB.
pub fn mem_total_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Default resources of agent `index` on a host of `size`.
pub fn default_resources(index: usize, size: HostSize) -> String {
    let first = PORTS_BASE + PORTS_PER_AGENT * index as u32;
    let last = first + PORTS_PER_AGENT - 1;
    let mem = (size.mem_mib / 2).max(1024);
    format!(
        "cpus:{};mem:{mem};disk:10240;ports:[{first}-{last}]",
        size.cpus.max(1)
    )
}

impl ClusterFlags {
    /// The flags as command-line arguments (without `--data-dir`), to
    /// start the same cluster again.
    pub fn to_argv(&self) -> Vec<String> {
        let mut argv = vec!["--agents".to_string(), self.agents.to_string()];
        for a in &self.agent_attributes {
            argv.extend(["--agent-attributes".to_string(), a.clone()]);
        }
        for r in &self.agent_resources {
            argv.extend(["--agent-resources".to_string(), r.clone()]);
        }
        argv.extend([
            "--runtime".to_string(),
            self.runtime.as_str().to_string(),
            "--cri-socket".to_string(),
            self.cri_socket.display().to_string(),
            "--api-port".to_string(),
            self.api_port.to_string(),
            "--mesos-port".to_string(),
            self.mesos_port.to_string(),
        ]);
        argv
    }

    /// Parses flags given as `to_argv` wrote them, for `data_dir`.
    pub fn from_argv(data_dir: &std::path::Path, argv: &[String]) -> Result<Self, LocalError> {
        let mut full = vec!["local".to_string(), "--data-dir".to_string()];
        full.push(data_dir.display().to_string());
        full.extend(argv.iter().cloned());
        LocalArgs::try_parse_from(full)
            .map(|a| a.flags)
            .map_err(|e| LocalError::ArgsInvalid(e.to_string()))
    }

    /// Whether every flag but `--data-dir` has its default value.
    pub fn is_default(&self) -> bool {
        Self::from_argv(&self.data_dir, &[]).is_ok_and(|d| &d == self)
    }

    /// Validates the flags into a plan for a host of `size`.
    pub fn into_plan(self, size: HostSize) -> Result<LocalPlan, LocalError> {
        if self.agents == 0 || self.agents > MAX_AGENTS {
            return Err(LocalError::ArgsInvalid(format!(
                "--agents must be between 1 and {MAX_AGENTS}, got {}",
                self.agents
            )));
        }
        if self.runtime == LocalRuntime::Cri && self.agents > 1 {
            // Every executor cleans up the CRI sandboxes it does not run; on
            // one shared containerd that would be the other agents' pods.
            return Err(LocalError::ArgsInvalid(
                "--runtime cri supports one agent: all agents would share one containerd".into(),
            ));
        }
        let mut agents: Vec<AgentSpec> = (0..self.agents)
            .map(|index| AgentSpec {
                index,
                hostname: format!("agent-{index}"),
                resources: default_resources(index, size),
                attributes: String::new(),
            })
            .collect();
        for given in &self.agent_attributes {
            let (index, text) = indexed("--agent-attributes", given, self.agents)?;
            parse_attributes(text).map_err(|e| {
                LocalError::ArgsInvalid(format!("--agent-attributes {given:?}: {e}"))
            })?;
            agents[index].attributes = text.to_string();
        }
        for given in &self.agent_resources {
            let (index, text) = indexed("--agent-resources", given, self.agents)?;
            parse_resources(text).map_err(|e| {
                LocalError::ArgsInvalid(format!("--agent-resources {given:?}: {e}"))
            })?;
            agents[index].resources = text.to_string();
        }
        Ok(LocalPlan {
            data_dir: self.data_dir,
            agents,
            runtime: self.runtime,
            cri_socket: self.cri_socket,
            api_port: self.api_port,
            mesos_port: self.mesos_port,
        })
    }
}

/// Splits `INDEX=TEXT` and checks the index.
fn indexed<'a>(flag: &str, given: &'a str, agents: usize) -> Result<(usize, &'a str), LocalError> {
    let (index, text) = given.split_once('=').ok_or_else(|| {
        LocalError::ArgsInvalid(format!("{flag} expects INDEX=VALUE, got {given:?}"))
    })?;
    let index: usize = index.trim().parse().map_err(|_| {
        LocalError::ArgsInvalid(format!("{flag} {given:?}: {index:?} is not an agent index"))
    })?;
    if index >= agents {
        return Err(LocalError::ArgsInvalid(format!(
            "{flag} {given:?}: there are only {agents} agent(s) (indices from 0)"
        )));
    }
    Ok((index, text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: HostSize = HostSize {
        cpus: 4,
        mem_mib: 8192,
    };

    fn plan(argv: &[&str]) -> Result<LocalPlan, LocalError> {
        let mut full = vec!["local"];
        full.extend_from_slice(argv);
        LocalArgs::try_parse_from(full)
            .map_err(|e| LocalError::ArgsInvalid(e.to_string()))?
            .flags
            .into_plan(SIZE)
    }

    #[test]
    fn flags_round_trip_through_argv_and_subcommands_parse() {
        let flags = LocalArgs::try_parse_from([
            "local",
            "--agents",
            "2",
            "--agent-attributes",
            "1=rack:r2",
        ])
        .unwrap()
        .flags;
        assert!(!flags.is_default());
        let again = ClusterFlags::from_argv(&flags.data_dir, &flags.to_argv()).unwrap();
        assert_eq!(again, flags);
        let up =
            LocalArgs::try_parse_from(["local", "up", "--agents", "2", "--wait", "10"]).unwrap();
        let Some(LocalAction::Up(up)) = up.action else {
            panic!("not up");
        };
        assert_eq!(
            (up.flags.agents, up.wait, up.no_kubeconfig_merge),
            (2, 10, false)
        );
        assert!(matches!(
            LocalArgs::try_parse_from(["local", "down", "--data-dir", "/x"])
                .unwrap()
                .action,
            Some(LocalAction::Down(DataDirArg { .. }))
        ));
        let plain = LocalArgs::try_parse_from(["local"]).unwrap();
        assert!(plain.action.is_none() && plain.flags.is_default());
    }

    #[test]
    fn defaults_are_one_process_agent_in_dot_kube_mesos() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.data_dir, PathBuf::from("./.kube-mesos"));
        assert_eq!(p.runtime, LocalRuntime::Process);
        assert_eq!((p.api_port, p.mesos_port), (0, 0));
        assert_eq!(
            p.agents,
            vec![AgentSpec {
                index: 0,
                hostname: "agent-0".into(),
                resources: "cpus:4;mem:4096;disk:10240;ports:[31000-31999]".into(),
                attributes: String::new(),
            }]
        );
    }

    #[test]
    fn agents_get_disjoint_port_ranges_and_their_own_attributes() {
        let p = plan(&[
            "--agents",
            "2",
            "--agent-attributes",
            "1=rack:r2;zone:b",
            "--agent-resources",
            "0=cpus:1;mem:512",
        ])
        .unwrap();
        assert_eq!(p.agents[0].resources, "cpus:1;mem:512");
        assert_eq!(p.agents[0].attributes, "");
        assert_eq!(p.agents[1].hostname, "agent-1");
        assert_eq!(p.agents[1].attributes, "rack:r2;zone:b");
        assert!(p.agents[1].resources.ends_with("ports:[32000-32999]"));
    }

    #[test]
    fn bad_agent_flags_are_refused_with_the_flag_named() {
        for argv in [
            &["--agents", "0"][..],
            &["--agent-attributes", "rack:r1"],
            &["--agent-attributes", "1=rack:r1"],
            &["--agent-attributes", "x=rack:r1"],
            &["--agent-resources", "0=cpus"],
            &["--runtime", "cri", "--agents", "2"],
        ] {
            let err = plan(argv).expect_err(&format!("{argv:?} must be refused"));
            assert!(matches!(err, LocalError::ArgsInvalid(_)), "{argv:?}: {err}");
        }
    }

    #[test]
    fn small_hosts_still_get_an_agent_of_1024_mib() {
        let r = default_resources(
            0,
            HostSize {
                cpus: 1,
                mem_mib: 1500,
            },
        );
        assert!(r.contains("mem:1024;"), "{r}");
    }

    #[test]
    fn meminfo_total_is_read_in_mib() {
        let text = "MemTotal:       24682416 kB\nMemFree: 1 kB\n";
        assert_eq!(mem_total_mib(text), Some(24103));
        assert_eq!(mem_total_mib("nothing"), None);
    }
}
