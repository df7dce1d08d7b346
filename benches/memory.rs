//! Scenario 3, memory: the framework's resident memory while it tracks
//! many pods on thousands of simulated agents (the placement cluster, grown
//! to the target count), and the executor's, idle and with running pods.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::pods::{self, PodClock};
use crate::sim::{FrameworkProcess, SimCluster};
use crate::stats::proc_stats;
use crate::targets::{Kind, Target};

#[derive(Debug, Clone, Serialize)]
pub struct FrameworkMemory {
    pub agents: usize,
    pub pods: usize,
    /// Resident memory with every pod Running and the framework settled
    /// (10 s later), and its peak.
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    pub running: usize,
    pub launched_twice: usize,
    /// Seconds to create the extra pods and until all ran.
    pub grow_seconds: f64,
}

/// Grows the placement cluster to `target` pods (small requests) with the
/// framework running, then reads the framework's memory.
pub async fn framework(
    cluster: &SimCluster,
    framework: &FrameworkProcess,
    clock: &PodClock,
    agents: usize,
    placed: usize,
    target: usize,
    timeout: Duration,
) -> Result<FrameworkMemory> {
    eprintln!("bench: memory: growing to {target} pods");
    let api = cluster.pods("default");
    let start = Instant::now();
    let pods: Vec<_> = (placed..target)
        .map(|i| pods::pod(&format!("p{i}"), &pods::mixed_shape(i, "kube-mesos", true)))
        .collect();
    pods::create_all(&api, pods, 64, Some(clock)).await?;
    let ok = clock
        .wait(timeout, |m| {
            m.running.len() >= target && m.bound.len() >= target
        })
        .await;
    let running = clock.with(|m| m.running.len());
    anyhow::ensure!(
        ok,
        "only {running} of {target} pods Running after {timeout:?}"
    );
    let grow_seconds = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let stats = framework.stats().context("the framework exited")?;
    let (_, launched_twice) = cluster.launches.counts();
    let m = FrameworkMemory {
        agents,
        pods: target,
        rss_mib: stats.rss_bytes as f64 / 1048576.0,
        peak_rss_mib: stats.peak_rss_bytes as f64 / 1048576.0,
        running,
        launched_twice,
        grow_seconds,
    };
    eprintln!(
        "bench: framework at {target} pods: {:.0} MiB (peak {:.0} MiB)",
        m.rss_mib, m.peak_rss_mib
    );
    Ok(m)
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecutorMemory {
    pub idle_rss_mib: f64,
    pub pods: usize,
    pub with_pods_rss_mib: f64,
    pub per_pod_mib: f64,
}

/// `kube-mesos local` with one agent: the executor's memory once its first
/// pod is gone (idle), then with `n` pods Running.
pub fn executor(n: usize) -> Result<ExecutorMemory> {
    eprintln!("bench: executor memory");
    let target = Target::start(Kind::Local(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let client = pods::client(&target.kubeconfig()).await?;
        let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(client, "default");
        let mut tasks = JoinSet::new();
        let clock = PodClock::start(api.clone(), &mut tasks).await;
        let shape = pods::PodShape {
            scheduler: "default-scheduler".into(),
            ..Default::default()
        };
        pods::create_all(&api, vec![pods::pod("first", &shape)], 1, None).await?;
        anyhow::ensure!(
            clock
                .wait(Duration::from_secs(120), |m| m
                    .running
                    .contains_key("first"))
                .await,
            "the first pod did not run"
        );
        pods::delete_all(&api, vec!["first".into()], 1, true).await;
        clock
            .wait(Duration::from_secs(60), |m| m.gone.contains_key("first"))
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let pid = *target
            .executor_pids()
            .first()
            .context("no executor process")?;
        let idle = proc_stats(pid).context("executor gone")?.rss_bytes;
        let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        pods::create_all(
            &api,
            names.iter().map(|p| pods::pod(p, &shape)).collect(),
            8,
            None,
        )
        .await?;
        anyhow::ensure!(
            clock
                .wait(Duration::from_secs(180), |m| names
                    .iter()
                    .all(|p| m.running.contains_key(p)))
                .await,
            "not all {n} pods ran"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        let with = proc_stats(pid).context("executor gone")?.rss_bytes;
        pods::delete_all(&api, names, 16, false).await;
        tasks.abort_all();
        let mib = |b: u64| b as f64 / 1048576.0;
        Ok(ExecutorMemory {
            idle_rss_mib: mib(idle),
            pods: n,
            with_pods_rss_mib: mib(with),
            per_pod_mib: (mib(with) - mib(idle)) / n as f64,
        })
    });
    drop(runtime);
    drop(target);
    if let Ok(m) = &result {
        eprintln!(
            "bench: executor: idle {:.1} MiB, {} pods {:.1} MiB",
            m.idle_rss_mib, m.pods, m.with_pods_rss_mib
        );
    }
    result
}
