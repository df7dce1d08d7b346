//! Scenario 1, placement at scale: the devcluster master with thousands of
//! simulated agents, the devcluster API server and the framework. Pods are
//! created while the framework is stopped (a pending queue), then the
//! framework starts and places them all. In the same run, before the
//! framework ever starts, the API server's own Binding rate is measured
//! (concurrent Bindings of pre-created pods, no scheduler): the ceiling any
//! scheduler's bind rate meets on this API server and machine. So is its
//! rate for the Running status a kubelet then writes to each of them: a
//! pod placed and run costs the API server both, on the same cores.
//!
//! The cluster is left running afterwards so that the memory scenario can
//! go on to 100,000 pods on it.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::pods::{self, PodClock};
use crate::sim::{FrameworkProcess, SimCluster, SimSpec};
use crate::stats::{per_second, proc_stats, summarize, Summary};

/// Pods are created with this many requests in flight.
const CREATE_CONCURRENCY: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub struct BindingBaseline {
    pub concurrency: usize,
    pub bindings: usize,
    pub per_second: f64,
}

/// The API server's rate for the Running status patch of bound pods.
#[derive(Debug, Clone, Serialize)]
pub struct PatchBaseline {
    pub concurrency: usize,
    pub patches: usize,
    pub per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlacementRun {
    pub agents: usize,
    pub pods: usize,
    /// Pod creations per second (API server, no scheduler running).
    pub create_per_second: f64,
    /// The API server's own Binding rate at each concurrency, and the best.
    pub apiserver_bindings: Vec<BindingBaseline>,
    pub apiserver_binding_rate: f64,
    /// Its rate for the hollow kubelet's Running status patch of the same
    /// pods once bound, at each concurrency, and the best.
    pub apiserver_running_patches: Vec<PatchBaseline>,
    pub apiserver_running_patch_rate: f64,
    /// Pods per second the API server alone takes through one Binding and
    /// one Running status each (`1 / (1/bindings + 1/patches)`, the best
    /// of each): what placing and running pods costs it, with no master,
    /// framework or watch on the machine.
    pub apiserver_pod_rate: f64,
    /// First framework start: seconds until every agent had its Node.
    pub node_registration_seconds: f64,
    /// Seconds from the framework's start to its first and last Binding
    /// (as the watch saw them), and to every pod Running.
    pub first_bind_seconds: f64,
    pub last_bind_seconds: f64,
    pub all_running_seconds: f64,
    /// Pods bound per second between the first and the last Binding, and
    /// over the whole run (from the framework's start).
    pub bound_per_second: f64,
    pub bound_per_second_overall: f64,
    /// `bound_per_second` as a fraction of `apiserver_binding_rate`.
    pub fraction_of_apiserver: f64,
    /// The framework process: CPU seconds until every pod ran, per pod, and
    /// its peak resident memory.
    pub framework_cpu_seconds: f64,
    pub framework_cpu_ms_per_pod: f64,
    pub framework_peak_rss_mib: f64,
    /// This process — the API server, the master, the agents, the hollow
    /// kubelet and the watch that times the pods — from the framework's
    /// start until every pod ran, per pod. With the framework's figure it
    /// is what the machine spends on a pod: the two share its cores.
    pub harness_cpu_ms_per_pod: f64,
    /// Pod creation → bound, as the watch saw it (the queue wait included).
    pub create_to_bound: Summary,
    /// Neighbourliness once everything is placed: seconds from the last
    /// Binding to the framework's SUPPRESS (as the master counts it), and
    /// the offers it holds 5 s after the last Binding.
    pub suppress_after_seconds: Option<f64>,
    pub offers_held_after_5s: f64,
    /// Correctness: every pod Running, none launched twice.
    pub running: usize,
    pub launched_twice: usize,
    /// The devcluster master's allocation passes during the run
    /// (`allocator/mesos/allocation_run_ms`, the pass holds the master's
    /// state): median, p90 and longest, in ms.
    pub master_allocation_run_ms: [f64; 3],
    /// Bound and Running pods per second since the framework's start.
    pub bound_series: Vec<u64>,
    pub running_series: Vec<u64>,
}

/// One placement run on a fresh cluster; returns the cluster (still
/// running, framework included) for the memory scenario.
pub async fn run(
    agents: usize,
    n: usize,
    baseline_pods: usize,
    concurrency: &[usize],
    timeout: Duration,
) -> Result<(
    PlacementRun,
    SimCluster,
    FrameworkProcess,
    PodClock,
    JoinSet<()>,
)> {
    eprintln!("bench: placement: {agents} agents, {n} pods");
    let mut cluster = SimCluster::start(&SimSpec::standard(agents)).await?;

    // First start: every agent gets its Node.
    let started = Instant::now();
    let framework = cluster.start_framework()?;
    let mut registered = false;
    for _ in 0..1200 {
        if cluster.node_count().await >= agents {
            registered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::ensure!(registered, "the framework did not register {agents} Nodes");
    let node_registration_seconds = started.elapsed().as_secs_f64();
    eprintln!("bench: {agents} Nodes after {node_registration_seconds:.1} s");
    let reserved = cluster.reserve_attributed_nodes().await?;
    eprintln!("bench: {reserved} disk=ssd Nodes reserved for their selector pods");

    // The API server's own Binding rate, with the cluster as it is while
    // the framework idles (it renews the node leases of agents without an
    // executor) and no scheduler binding anything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (apiserver_bindings, apiserver_running_patches) =
        binding_baseline(&cluster, baseline_pods, concurrency, agents).await?;
    let apiserver_binding_rate = best(apiserver_bindings.iter().map(|b| b.per_second));
    let apiserver_running_patch_rate = best(apiserver_running_patches.iter().map(|b| b.per_second));
    let apiserver_pod_rate = 1.0
        / (1.0 / apiserver_binding_rate.max(1e-9) + 1.0 / apiserver_running_patch_rate.max(1e-9));
    eprintln!("bench: API server Bindings: {apiserver_bindings:?}");
    eprintln!(
        "bench: API server Running status patches: {apiserver_running_patches:?}; a Binding and a Running status per pod: {apiserver_pod_rate:.0} pods/s"
    );
    framework.stop().await;

    // The pending queue.
    let api = cluster.pods("default");
    let mut tasks = JoinSet::new();
    let clock = PodClock::start(api.clone(), &mut tasks).await;
    let pods: Vec<_> = (0..n)
        .map(|i| pods::pod(&format!("p{i}"), &pods::mixed_shape(i, "kube-mesos", false)))
        .collect();
    let t = Instant::now();
    pods::create_all(&api, pods, CREATE_CONCURRENCY, Some(&clock)).await?;
    let create_per_second = n as f64 / t.elapsed().as_secs_f64();
    eprintln!("bench: {n} pods created ({create_per_second:.0}/s)");

    // The measured part.
    let start = Instant::now();
    let harness_before = proc_stats(std::process::id()).map_or(0.0, |s| s.cpu_seconds);
    let framework = cluster.start_framework()?;
    // Done when every pod is both bound and Running: the framework launches
    // and binds at once, so a (hollow) kubelet may report Running first.
    let ok = clock
        .wait(timeout, |m| m.running.len() >= n && m.bound.len() >= n)
        .await;
    let stats = framework.stats().context("the framework exited")?;
    let harness_cpu_seconds =
        proc_stats(std::process::id()).map_or(0.0, |s| s.cpu_seconds) - harness_before;
    let (bound, running, create_to_bound, first_bind, last_bind) = clock.with(|m| {
        let offsets = pods::offsets(&m.bound, start);
        (
            per_second(&offsets),
            per_second(&pods::offsets(&m.running, start)),
            summarize(pods::latencies(&m.created, &m.bound)),
            offsets.iter().copied().fold(f64::INFINITY, f64::min),
            offsets.iter().copied().fold(0.0, f64::max),
        )
    });
    let all_running_seconds = start.elapsed().as_secs_f64();
    let master_allocation_run_ms = {
        let m = cluster.master_metrics();
        ["p50", "p90", "max"].map(|s| {
            m[format!("allocator/mesos/allocation_run_ms/{s}")]
                .as_f64()
                .unwrap_or(0.0)
        })
    };
    let (running_count, bound_count) = clock.with(|m| (m.running.len(), m.bound.len()));
    if !ok {
        // CI keeps no files: what is needed to tell why goes to stderr.
        let stuck = clock.with(|m| {
            let mut v: Vec<String> = m
                .created
                .keys()
                .filter(|name| !m.bound.contains_key(*name) || !m.running.contains_key(*name))
                .cloned()
                .collect();
            v.sort();
            v
        });
        explain_stuck(&api, &stuck, &framework.log).await;
    }
    anyhow::ensure!(
        ok,
        "only {running_count} of {n} pods Running ({bound_count} bound) after {timeout:?}; framework log: {}",
        framework.log.display()
    );
    let (_, launched_twice) = cluster.launches.counts();

    // Once the queue is empty: SUPPRESS, and no offer held.
    let suppress_key = "calls/suppress";
    let suppresses = |c: &SimCluster| {
        pods::framework_metrics(&c.master_metrics(), "kube-mesos")
            .get(suppress_key)
            .copied()
            .unwrap_or(0.0)
    };
    let before = suppresses(&cluster);
    let last_bind_at = start + Duration::from_secs_f64(last_bind);
    let mut suppress_after_seconds = None;
    while last_bind_at.elapsed() < Duration::from_secs(5) {
        if suppress_after_seconds.is_none() && suppresses(&cluster) > before {
            suppress_after_seconds = Some(last_bind_at.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let offers_held_after_5s = cluster.master_metrics()["master/outstanding_offers"]
        .as_f64()
        .unwrap_or(0.0);
    if suppress_after_seconds.is_none()
        && cluster.master_metrics().as_object().is_some_and(|m| {
            m.iter()
                .any(|(k, v)| k.ends_with("/roles/*/suppressed") && v == 1.0)
        })
    {
        // Suppressed before the watch saw the last Binding.
        suppress_after_seconds = Some(0.0);
    }

    let bound_per_second = n as f64 / (last_bind - first_bind).max(1e-3);
    let figures = PlacementRun {
        agents,
        pods: n,
        create_per_second,
        apiserver_bindings,
        apiserver_binding_rate,
        apiserver_running_patches,
        apiserver_running_patch_rate,
        apiserver_pod_rate,
        node_registration_seconds,
        first_bind_seconds: first_bind,
        last_bind_seconds: last_bind,
        all_running_seconds,
        bound_per_second,
        bound_per_second_overall: n as f64 / last_bind.max(1e-3),
        fraction_of_apiserver: bound_per_second / apiserver_binding_rate.max(1e-9),
        framework_cpu_seconds: stats.cpu_seconds,
        framework_cpu_ms_per_pod: stats.cpu_seconds * 1000.0 / n as f64,
        framework_peak_rss_mib: stats.peak_rss_bytes as f64 / 1048576.0,
        harness_cpu_ms_per_pod: harness_cpu_seconds * 1000.0 / n as f64,
        create_to_bound,
        suppress_after_seconds,
        offers_held_after_5s,
        running: running_count,
        launched_twice,
        master_allocation_run_ms,
        bound_series: bound,
        running_series: running,
    };
    eprintln!(
        "bench: placement {n}: {:.0} bound/s ({:.0} % of the API server's {:.0}/s), all Running after {:.1} s, {:.2} ms CPU/pod (harness {:.2}), peak {:.0} MiB; master's allocation pass p50/p90/max {:.0}/{:.0}/{:.0} ms",
        figures.bound_per_second,
        figures.fraction_of_apiserver * 100.0,
        apiserver_binding_rate,
        all_running_seconds,
        figures.framework_cpu_ms_per_pod,
        figures.harness_cpu_ms_per_pod,
        figures.framework_peak_rss_mib,
        master_allocation_run_ms[0],
        master_allocation_run_ms[1],
        master_allocation_run_ms[2]
    );
    Ok((figures, cluster, framework, clock, tasks))
}

/// Prints, for at most five pods that did not get bound and Running, the
/// pod as the API server has it and what the framework logged about it.
async fn explain_stuck(
    api: &Api<k8s_openapi::api::core::v1::Pod>,
    stuck: &[String],
    log: &std::path::Path,
) {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    for name in stuck.iter().take(5) {
        let uid = match api.get(name).await {
            Ok(pod) => {
                eprintln!(
                    "bench: stuck pod {name}: uid {:?} node {:?} status {}",
                    pod.metadata.uid,
                    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
                    serde_json::to_string(&pod.status).unwrap_or_default()
                );
                pod.metadata.uid
            }
            Err(e) => {
                eprintln!("bench: stuck pod {name}: {e}");
                None
            }
        };
        let uid = uid.unwrap_or_else(|| name.clone());
        let needle = format!("/{name} ");
        for line in log
            .lines()
            .filter(|l| l.contains(&needle) || l.contains(&uid))
            .take(30)
        {
            eprintln!("bench:   {line}");
        }
    }
}

/// The best of the rates measured at each concurrency.
fn best(rates: impl Iterator<Item = f64>) -> f64 {
    rates.fold(0.0, f64::max)
}

/// Creates `pods` pods in their own namespace, then binds them (no
/// scheduler) and writes their Running status, with each concurrency in
/// turn; deletes them again.
async fn binding_baseline(
    cluster: &SimCluster,
    pods_total: usize,
    concurrency: &[usize],
    agents: usize,
) -> Result<(Vec<BindingBaseline>, Vec<PatchBaseline>)> {
    let ns = "bench-baseline";
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))?;
    namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    let api = cluster.pods(ns);
    let shape = pods::PodShape {
        scheduler: "no-scheduler".into(),
        cpu: Some("100m".into()),
        memory: Some("128Mi".into()),
        ..Default::default()
    };
    let names: Vec<String> = (0..pods_total).map(|i| format!("b{i}")).collect();
    pods::create_all(
        &api,
        names.iter().map(|n| pods::pod(n, &shape)).collect(),
        CREATE_CONCURRENCY,
        None,
    )
    .await?;
    let per_level = pods_total / concurrency.len().max(1);
    let mut out = Vec::new();
    let mut patches = Vec::new();
    for (level, chunk) in concurrency.iter().zip(names.chunks(per_level.max(1))) {
        let bindings: Vec<(String, String)> = chunk
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), format!("agent-{}", i % agents)))
            .collect();
        let count = bindings.len();
        let t = Instant::now();
        let failed = pods::bind_all(&api, bindings, *level).await;
        anyhow::ensure!(failed == 0, "{failed} baseline Bindings failed");
        out.push(BindingBaseline {
            concurrency: *level,
            bindings: count,
            per_second: count as f64 / t.elapsed().as_secs_f64(),
        });
        let t = Instant::now();
        let failed = pods::mark_running_all(&api, chunk.to_vec(), *level).await;
        anyhow::ensure!(failed == 0, "{failed} baseline Running statuses failed");
        patches.push(PatchBaseline {
            concurrency: *level,
            patches: count,
            per_second: count as f64 / t.elapsed().as_secs_f64(),
        });
    }
    let failed = pods::delete_all(&api, names, CREATE_CONCURRENCY, false).await;
    anyhow::ensure!(failed == 0, "{failed} baseline pods could not be deleted");
    Ok((out, patches))
}
