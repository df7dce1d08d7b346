//! The benchmark suite of kube-mesos (`scripts/bench`, i.e. `cargo bench
//! --bench scenarios`): placement at scale, pod start latency at churn,
//! memory, and neighbourliness on a shared Mesos pool. Results go to
//! `benches/results/*.json` with the machine and commit, pictures to
//! `benches/results/*.svg`, and the README's Performance section is
//! rewritten from them.
//!
//! `cargo test` runs this target at a small size (100 agents, 300 pods, a
//! short churn): it proves that the harness works and asserts correctness
//! only — every pod Running, none launched twice — never a time.
//!
//! Flags after `--`: `--only placement,churn,memory`, `--small`,
//! `--agents N`, `--pods 10000,30000`, `--memory-pods N`,
//! `--churn-seconds S`, `--out DIR`, `--no-readme`, `--no-real-mesos`,
//! `--report-only` (no scenario: the README's section from the results).

#[path = "../tests/conformance/cluster.rs"]
#[allow(dead_code)]
mod cluster;
#[path = "../tests/conformance/mesos.rs"]
#[allow(dead_code)]
mod mesos;
#[path = "../tests/support/mod.rs"]
mod support;

mod churn;
mod config;
mod memory;
mod placement;
mod plot;
mod pods;
mod report;
mod sim;
mod stats;
mod targets;

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use config::Options;
use kube_mesos_framework::memory::allocator;
use targets::Kind;

// The harness runs the devcluster's servers as `kube-mesos local` runs
// them, on mimalloc: on glibc's malloc a fifth of the harness's samples
// were the allocator's (session 23's profile), CPU taken from the
// framework it measures on the same two cores.
#[global_allocator]
static ALLOCATOR: allocator::Chosen = allocator::Chosen;

fn main() {
    allocator::use_mimalloc();
    // The conformance harness re-runs this binary as the devcluster Mesos.
    if std::env::var_os(mesos::CHILD_ENV).is_some() {
        mesos::run_devcluster_child();
        return;
    }
    // The in-process devcluster servers log when asked to.
    if let Ok(filter) = std::env::var("KUBE_MESOS_BENCH_TRACE") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("scenarios: test");
        return;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", config::USAGE);
        return;
    }
    let options = match Options::from_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&options) {
        eprintln!("bench failed: {e:#}");
        std::process::exit(1);
    }
}

#[derive(Serialize)]
struct Runs<T> {
    runs: Vec<T>,
}

#[derive(Serialize, Default)]
struct MemoryFigures {
    framework: Option<memory::FrameworkMemory>,
    executor: Option<memory::ExecutorMemory>,
}

/// The placement results so far: their JSON and the throughput picture.
fn write_placement(
    o: &Options,
    since: &report::Started,
    runs: &[placement::PlacementRun],
) -> Result<()> {
    report::write(
        &o.out,
        "placement",
        o.full,
        since,
        &Runs {
            runs: runs.to_vec(),
        },
    )?;
    let series: Vec<(String, Vec<u64>)> = runs
        .iter()
        .map(|r| {
            (
                format!("{} pods, {} agents", r.pods, r.agents),
                r.bound_series.clone(),
            )
        })
        .collect();
    let references: Vec<(String, f64)> = runs
        .iter()
        .flat_map(|r| {
            [
                (
                    format!("API server's own Bindings/s ({} pods run)", r.pods),
                    r.apiserver_binding_rate,
                ),
                (
                    format!(
                        "API server alone, Binding + Running status per pod ({} pods run)",
                        r.pods
                    ),
                    r.apiserver_pod_rate,
                ),
            ]
        })
        .collect();
    plot::throughput(
        &o.out.join("placement-throughput.svg"),
        "Pods bound per second (framework started with a pending queue)",
        "pods bound per second",
        &series,
        &references,
    )
}

fn run(o: &Options) -> Result<()> {
    stats::self_check();
    let sizes = &o.sizes;
    eprintln!(
        "bench: {} run, results in {}, load average {:?}",
        if o.full {
            "full"
        } else {
            "small (correctness only)"
        },
        o.out.display(),
        stats::loadavg()
    );
    std::fs::create_dir_all(&o.out)?;
    let timeout = if o.full {
        Duration::from_secs(1800)
    } else {
        Duration::from_secs(300)
    };

    let mut memory_figures = MemoryFigures::default();
    let memory_since = report::started();
    if o.wants("placement") {
        let since = report::started();
        let runtime = tokio::runtime::Runtime::new()?;
        let mut runs = Vec::new();
        let sizes_n = sizes.placement_pods.clone();
        for (i, &n) in sizes_n.iter().enumerate() {
            let last = i + 1 == sizes_n.len();
            let (figures, cluster, framework, clock, mut tasks) =
                runtime.block_on(placement::run(
                    sizes.agents,
                    n,
                    sizes.baseline_pods,
                    &sizes.baseline_concurrency,
                    timeout,
                ))?;
            anyhow::ensure!(
                figures.running == n && figures.launched_twice == 0,
                "placement of {n} pods: {} Running, {} launched twice",
                figures.running,
                figures.launched_twice
            );
            // Written before the memory run grows this cluster: a memory
            // run that fails or is stopped keeps the placement results.
            runs.push(figures);
            write_placement(o, &since, &runs)?;
            if last && o.wants("memory") && sizes.memory_pods > n {
                let m = runtime.block_on(memory::framework(
                    &cluster,
                    &framework,
                    &clock,
                    sizes.agents,
                    n,
                    sizes.memory_pods,
                    timeout,
                ))?;
                anyhow::ensure!(
                    m.running == sizes.memory_pods && m.launched_twice == 0,
                    "memory run: {} Running, {} launched twice",
                    m.running,
                    m.launched_twice
                );
                memory_figures.framework = Some(m);
            }
            runtime.block_on(async {
                framework.stop().await;
                tasks.abort_all();
                cluster.stop().await;
            });
        }
        drop(runtime);
    }

    if o.wants("churn") {
        let since = report::started();
        let mut kinds: Vec<Kind> = sizes.churn_agents.iter().map(|n| Kind::Local(*n)).collect();
        if o.full {
            kinds.push(Kind::Devcluster);
        }
        if o.real_mesos {
            kinds.push(Kind::RealMesos);
        }
        let mut runs = Vec::new();
        for kind in kinds {
            let run = churn::run(
                kind,
                sizes.churn_rate,
                sizes.churn_seconds,
                sizes.churn_lifetime,
                sizes.burst,
            )
            .with_context(|| format!("churn on {}", kind.label()))?;
            anyhow::ensure!(
                run.never_running == 0 && run.launched_twice == 0,
                "churn on {}: {} pods never ran, {} launched twice",
                run.cluster,
                run.never_running,
                run.launched_twice
            );
            runs.push(run);
        }
        report::write(
            &o.out,
            "churn",
            o.full,
            &since,
            &Runs { runs: runs.clone() },
        )?;
        let series: Vec<(String, Vec<f64>)> = runs
            .iter()
            .map(|r| (r.cluster.clone(), r.latencies.clone()))
            .collect();
        plot::cdf(
            &o.out.join("churn-cdf.svg"),
            &format!(
                "Pod create → Running at {} pods/s (process runtime)",
                sizes.churn_rate
            ),
            &series,
        )?;
    }

    if o.wants("memory") {
        memory_figures.executor = Some(memory::executor(sizes.executor_pods)?);
        report::write(&o.out, "memory", o.full, &memory_since, &memory_figures)?;
    }

    let section = report::section(&o.out, "benches/results");
    anyhow::ensure!(!section.is_empty(), "no results to report");
    if let Some(readme) = &o.readme {
        report::update_readme(readme, &o.out)?;
        eprintln!("bench: {} updated", readme.display());
    } else {
        eprintln!("{section}");
    }
    Ok(())
}
