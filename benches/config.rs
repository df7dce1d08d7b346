//! What a run measures and at which size. `cargo bench` (what
//! `scripts/bench` runs) takes the full sizes of issue 13; `cargo test`
//! runs the small ones, which only prove that the harness works.

use std::path::PathBuf;

/// The scenarios, by the names `--only` takes.
pub const SCENARIOS: &[&str] = &["placement", "churn", "memory"];

#[derive(Debug, Clone)]
pub struct Sizes {
    /// Simulated agents of the scale scenarios.
    pub agents: usize,
    /// Pending pods of each placement run.
    pub placement_pods: Vec<usize>,
    /// Pods created before the API server's own Binding rate is measured
    /// (split over the concurrency levels).
    pub baseline_pods: usize,
    /// Concurrent Bindings tried for the API server's own rate.
    pub baseline_concurrency: Vec<usize>,
    /// Pods the framework tracks when its memory is read.
    pub memory_pods: usize,
    /// Churn: pods created (and deleted) per second, for how long, and how
    /// long each pod lives.
    pub churn_rate: f64,
    pub churn_seconds: f64,
    pub churn_lifetime: f64,
    /// Agents of the churn runs on the devcluster.
    pub churn_agents: Vec<usize>,
    /// Running pods the executor's memory is read with.
    pub executor_pods: usize,
    /// The burst of the neighbourliness runs.
    pub burst: usize,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            agents: 5000,
            placement_pods: vec![10_000, 30_000],
            baseline_pods: 6000,
            baseline_concurrency: vec![8, 32, 128],
            memory_pods: 100_000,
            churn_rate: 20.0,
            churn_seconds: 60.0,
            // 20 pods/s × 5 s: about 100 pods live on one agent; a test agent
            // (2 cpus) holds 190 at the framework's 0.01-cpu minimum per pod
            // plus its executor's 0.1, so 10 s would overfill it.
            churn_lifetime: 5.0,
            churn_agents: vec![1, 3],
            executor_pods: 50,
            burst: 50,
        }
    }

    pub fn small() -> Sizes {
        Sizes {
            agents: 100,
            placement_pods: vec![300],
            baseline_pods: 150,
            baseline_concurrency: vec![8, 32],
            memory_pods: 600,
            churn_rate: 5.0,
            churn_seconds: 6.0,
            churn_lifetime: 2.0,
            churn_agents: vec![1],
            executor_pods: 5,
            burst: 5,
        }
    }
}

/// A run's options.
#[derive(Debug, Clone)]
pub struct Options {
    pub sizes: Sizes,
    /// Full sizes (`cargo bench`) or the small CI check (`cargo test`).
    pub full: bool,
    pub only: Vec<String>,
    /// Where results JSON and SVGs go.
    pub out: PathBuf,
    /// The README whose Performance section is rewritten, if any.
    pub readme: Option<PathBuf>,
    /// Also run against the real Mesos 1.11 (built on first use).
    pub real_mesos: bool,
}

/// What `scripts/bench --help` prints.
pub const USAGE: &str = "\
usage: scripts/bench [flags]   (full size; writes benches/results and the README)
  --only LIST          scenarios to run, comma-separated: placement, churn, memory
  --small              the small CI size; results to a temporary directory
  --out DIR            where results JSON and SVGs go (default benches/results)
  --no-readme          do not rewrite the README's Performance section
  --no-real-mesos      skip Apache Mesos 1.11 in the churn scenario
  --agents N           simulated agents (placement, memory)
  --pods N[,N...]      pending pods per placement run
  --memory-pods N      pods tracked in the memory scenario
  --churn-seconds S    churn duration
  --churn-rate R       pods created (and deleted) per second
  --churn-lifetime S   how long a pod lives before it is deleted
  --report-only        rewrite the README's section from the results there are
  --help               this text";

impl Options {
    /// From the command line: `cargo bench` passes `--bench`; anything
    /// else is the small CI run (libtest's own flags are ignored).
    pub fn from_args(args: &[String]) -> Result<Options, String> {
        let root = crate::support::repo_root();
        let full = args.iter().any(|a| a == "--bench");
        let mut o = Options {
            sizes: if full { Sizes::full() } else { Sizes::small() },
            full,
            only: SCENARIOS.iter().map(|s| s.to_string()).collect(),
            out: root.join("benches").join("results"),
            readme: full.then(|| root.join("README.md")),
            real_mesos: true,
        };
        let mut small = !full;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--small" => {
                    o.sizes = Sizes::small();
                    small = true;
                }
                "--only" => {
                    let v = it.next().ok_or("--only needs a list")?;
                    o.only = v.split(',').map(str::to_string).collect();
                    if let Some(bad) = o.only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
                        return Err(format!("unknown scenario {bad} (known: {SCENARIOS:?})"));
                    }
                }
                // No scenario: the README's section again from the results
                // there are (after a change to the report's layout).
                "--report-only" => o.only.clear(),
                "--out" => o.out = PathBuf::from(it.next().ok_or("--out needs a dir")?),
                "--no-readme" => o.readme = None,
                "--no-real-mesos" => o.real_mesos = false,
                "--agents" => {
                    o.sizes.agents = it
                        .next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--agents needs a number")?
                }
                "--pods" => {
                    o.sizes.placement_pods = it
                        .next()
                        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
                        .ok_or("--pods needs a list")?
                }
                "--memory-pods" => {
                    o.sizes.memory_pods = it
                        .next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--memory-pods needs a number")?
                }
                "--churn-seconds" => o.sizes.churn_seconds = number(it.next(), a)?,
                "--churn-rate" => o.sizes.churn_rate = number(it.next(), a)?,
                "--churn-lifetime" => o.sizes.churn_lifetime = number(it.next(), a)?,
                // `cargo bench` passes only `--bench` and what follows
                // `--`: a flag not known here is a typo, which would
                // otherwise start the full run and rewrite the results.
                "--bench" => {}
                other if full => return Err(format!("unknown flag {other}\n\n{USAGE}")),
                _ => {}
            }
        }
        if small {
            // Small runs write where they cannot disturb committed results.
            o.readme = None;
            o.out = std::env::temp_dir().join(format!("kube-mesos-bench-{}", std::process::id()));
        }
        Ok(o)
    }

    pub fn wants(&self, scenario: &str) -> bool {
        self.only.iter().any(|s| s == scenario)
    }
}

/// A flag's positive number.
fn number(value: Option<&String>, flag: &str) -> Result<f64, String> {
    value
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n > 0.0)
        .ok_or_else(|| format!("{flag} needs a positive number"))
}
