//! Scenario 2, pod start latency at churn, and scenario 4, neighbourliness,
//! on clusters with real executors (process runtime).
//!
//! Churn: a pod is created every `1/rate` s for `seconds`, and each pod is
//! deleted `lifetime` s after its creation, so pods are created and deleted
//! at the same rate. A watch times create → Running and delete → gone.
//! The master's own counters tell how many REVIVE, SUPPRESS, ACCEPT and
//! DECLINE calls the framework made meanwhile.
//!
//! Neighbourliness, on the same cluster once the churn is over: a burst of
//! pods, then, from the master's `/metrics/snapshot`, how long after the
//! queue emptied (the last Binding the watch saw) the framework SUPPRESSed
//! and how many offers it holds 5 s later; then one new pod, and how long
//! until the framework REVIVEd and until the pod was bound.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::pods::{self, PodClock, PodShape};
use crate::stats::{summarize, Summary};
use crate::targets::{Kind, Target};

#[derive(Debug, Clone, Serialize)]
pub struct ChurnRun {
    pub cluster: String,
    pub slug: String,
    pub rate: f64,
    pub seconds: f64,
    pub pods: usize,
    pub create_to_running: Summary,
    /// create → Running split where the watch saw the pod bound: placement
    /// (create → bound) and the start on the agent (bound → Running).
    pub create_to_bound: Summary,
    pub bound_to_running: Summary,
    pub delete_to_gone: Summary,
    /// Every create → Running latency, for the CDF.
    pub latencies: Vec<f64>,
    /// The framework's calls during the churn, as the master counted them.
    pub revives: f64,
    pub suppresses: f64,
    pub accepts: f64,
    pub declines: f64,
    pub offers_received: f64,
    /// Correctness: pods that never ran, and pods with more than one task.
    pub never_running: usize,
    pub launched_twice: usize,
    pub neighbour: Option<Neighbour>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Neighbour {
    pub burst: usize,
    /// Seconds from the burst's last Binding to SUPPRESS (0 when it was
    /// suppressed before the watch saw the last Binding).
    pub suppress_after_seconds: Option<f64>,
    /// Offers outstanding at the master (all held by this framework, the
    /// only one) 5 s after the last Binding.
    pub offers_held_after_5s: f64,
    /// A new pod on an idle, suppressed framework: seconds to REVIVE and
    /// to its Binding.
    pub new_pod_to_revive_seconds: Option<f64>,
    pub new_pod_to_bound_seconds: f64,
}

fn shape() -> PodShape {
    PodShape {
        scheduler: "default-scheduler".into(),
        ..PodShape::default()
    }
}

/// Starts a cluster of `kind`, runs the churn (and the neighbourliness
/// probe) on it, and stops it.
pub fn run(kind: Kind, rate: f64, seconds: f64, lifetime: f64, burst: usize) -> Result<ChurnRun> {
    eprintln!("bench: churn on {}", kind.label());
    let target = Target::start(kind);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(load(&target, kind, rate, seconds, lifetime, burst));
    drop(runtime);
    drop(target);
    result
}

async fn load(
    target: &Target,
    kind: Kind,
    rate: f64,
    seconds: f64,
    lifetime: f64,
    burst: usize,
) -> Result<ChurnRun> {
    let client = pods::client(&target.kubeconfig()).await?;
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, "default");
    let master = target.master_url();
    let counters = || {
        let snapshot = crate::support::http_get(&master, "/metrics/snapshot")
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default();
        pods::framework_metrics(&snapshot, "kube-mesos")
    };
    let mut tasks = JoinSet::new();
    let clock = PodClock::start(api.clone(), &mut tasks).await;

    // Warm-up: the first pod starts the executor; it is not timed.
    pods::create_all(&api, vec![pods::pod("warmup", &shape())], 1, None).await?;
    anyhow::ensure!(
        clock
            .wait(Duration::from_secs(120), |m| m
                .running
                .contains_key("warmup"))
            .await,
        "the warm-up pod did not run"
    );
    pods::delete_all(&api, vec!["warmup".into()], 1, true).await;
    clock
        .wait(Duration::from_secs(60), |m| m.gone.contains_key("warmup"))
        .await;

    // The churn.
    let before = counters();
    let n = (rate * seconds).round() as usize;
    let keep = (rate * lifetime).round() as usize;
    let start = Instant::now();
    let mut requests = JoinSet::new();
    for i in 0..n {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
        let (a, c) = (api.clone(), clock.clone());
        requests.spawn(async move {
            let pod = pods::pod(&format!("churn-{i}"), &shape());
            let _ = pods::create_all(&a, vec![pod], 1, Some(&c)).await;
        });
        if i >= keep {
            let name = format!("churn-{}", i - keep);
            let (a, c) = (api.clone(), clock.clone());
            requests.spawn(async move {
                // Deleted once it ran, as on a fast machine: a pod deleted
                // before it started would count as never Running and end
                // the run on a slow one. A pod still not Running 30 s after
                // its turn is deleted anyway, and counted.
                c.wait(Duration::from_secs(30), |m| m.running.contains_key(&name))
                    .await;
                c.delete_requested(&name);
                pods::delete_all(&a, vec![name], 1, true).await;
            });
        }
    }
    while requests.join_next().await.is_some() {}
    let after = counters();
    let names: Vec<String> = (0..n).map(|i| format!("churn-{i}")).collect();
    // Let the last pods start, then delete the rest (not timed).
    clock
        .wait(Duration::from_secs(30), |m| {
            names.iter().all(|p| m.running.contains_key(p))
        })
        .await;
    let rest: Vec<String> = names[n.saturating_sub(keep)..].to_vec();
    pods::delete_all(&api, rest, 16, true).await;
    clock
        .wait(Duration::from_secs(120), |m| {
            names.iter().all(|p| m.gone.contains_key(p))
        })
        .await;

    let (latencies, create_to_bound, bound_to_running, delete_to_gone, never_running) =
        clock.with(|m| {
            let churned: std::collections::HashMap<String, Instant> = m
                .delete_requested
                .iter()
                .filter(|(k, _)| names[..n.saturating_sub(keep)].contains(k))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            (
                pods::latencies(&m.created, &m.running),
                summarize(pods::latencies(&m.created, &m.bound)),
                summarize(pods::latencies(&m.bound, &m.running)),
                summarize(pods::latencies(&churned, &m.gone)),
                names.iter().filter(|p| !m.running.contains_key(*p)).count(),
            )
        });
    let uids: Vec<String> =
        clock.with(|m| names.iter().filter_map(|p| m.uid.get(p).cloned()).collect());
    let launched_twice = tasks_launched_twice(&master, &uids);
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let neighbour = neighbour(&api, &clock, &counters, burst).await.ok();
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let run = ChurnRun {
        cluster: kind.label(),
        slug: kind.slug(),
        rate,
        seconds,
        pods: n,
        create_to_running: summarize(latencies),
        create_to_bound,
        bound_to_running,
        delete_to_gone,
        latencies: sorted,
        revives: delta("calls/revive"),
        suppresses: delta("calls/suppress"),
        accepts: delta("calls/accept"),
        declines: delta("calls/decline"),
        offers_received: delta("offers/sent"),
        never_running,
        launched_twice,
        neighbour,
    };
    eprintln!(
        "bench: churn on {}: create→Running p50 {:.2} s p99 {:.2} s max {:.2} s (create→bound p50 {:.2} s p99 {:.2} s, bound→Running p50 {:.2} s p99 {:.2} s); delete→gone p50 {:.2} s; {} REVIVEs",
        run.cluster, run.create_to_running.p50, run.create_to_running.p99, run.create_to_running.max,
        run.create_to_bound.p50, run.create_to_bound.p99, run.bound_to_running.p50, run.bound_to_running.p99,
        run.delete_to_gone.p50, run.revives
    );
    tasks.abort_all();
    Ok(run)
}

/// Tasks per pod UID as the master lists them (active and completed); the
/// number of pods with more than one.
fn tasks_launched_twice(master: &str, uids: &[String]) -> usize {
    let Some(body) = crate::support::http_post_json(master, "/api/v1", r#"{"type":"GET_TASKS"}"#)
    else {
        return 0;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) else {
        return 0;
    };
    let mut per_uid: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for list in ["tasks", "completed_tasks", "unreachable_tasks"] {
        for t in v["get_tasks"][list].as_array().into_iter().flatten() {
            if let Some(uid) = t["task_id"]["value"]
                .as_str()
                .and_then(|s| s.strip_prefix("pod."))
            {
                *per_uid.entry(uid).or_insert(0) += 1;
            }
        }
    }
    uids.iter()
        .filter(|u| per_uid.get(u.as_str()).copied().unwrap_or(0) > 1)
        .count()
}

async fn neighbour(
    api: &kube::Api<k8s_openapi::api::core::v1::Pod>,
    clock: &PodClock,
    counters: &impl Fn() -> std::collections::BTreeMap<String, f64>,
    burst: usize,
) -> Result<Neighbour> {
    let metric = |k: &str| counters().get(k).copied().unwrap_or(0.0);
    let names: Vec<String> = (0..burst).map(|i| format!("burst-{i}")).collect();
    let suppresses = metric("calls/suppress");
    pods::create_all(
        api,
        names.iter().map(|n| pods::pod(n, &shape())).collect(),
        burst,
        Some(clock),
    )
    .await?;
    anyhow::ensure!(
        clock
            .wait(Duration::from_secs(60), |m| names
                .iter()
                .all(|p| m.bound.contains_key(p)))
            .await,
        "the burst was not bound"
    );
    let last_bind = clock
        .with(|m| names.iter().filter_map(|p| m.bound.get(p).copied()).max())
        .context("no Binding")?;
    let mut suppress_after_seconds = None;
    while last_bind.elapsed() < Duration::from_secs(5) {
        if suppress_after_seconds.is_none() && metric("calls/suppress") > suppresses {
            suppress_after_seconds = Some(last_bind.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counters_now = counters();
    let offers_held_after_5s = counters_now
        .get("master/outstanding_offers")
        .copied()
        .unwrap_or(0.0);
    if suppress_after_seconds.is_none() && metric("calls/suppress") > suppresses {
        suppress_after_seconds = Some(last_bind.elapsed().as_secs_f64());
    }

    // One new pod on the idle framework.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let revives = metric("calls/revive");
    let t = Instant::now();
    pods::create_all(api, vec![pods::pod("newcomer", &shape())], 1, Some(clock)).await?;
    let mut new_pod_to_revive_seconds = None;
    let bound = loop {
        if new_pod_to_revive_seconds.is_none() && metric("calls/revive") > revives {
            new_pod_to_revive_seconds = Some(t.elapsed().as_secs_f64());
        }
        if let Some(b) = clock.with(|m| m.bound.get("newcomer").copied()) {
            break b;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(60),
            "the new pod was not bound"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if new_pod_to_revive_seconds.is_none() && metric("calls/revive") > revives {
        new_pod_to_revive_seconds = Some(t.elapsed().as_secs_f64());
    }
    let mut all = names;
    all.push("newcomer".into());
    pods::delete_all(api, all.clone(), 16, true).await;
    clock
        .wait(Duration::from_secs(60), |m| {
            all.iter().all(|p| m.gone.contains_key(p))
        })
        .await;
    Ok(Neighbour {
        burst,
        suppress_after_seconds,
        offers_held_after_5s,
        new_pod_to_revive_seconds,
        new_pod_to_bound_seconds: bound.saturating_duration_since(t).as_secs_f64(),
    })
}
