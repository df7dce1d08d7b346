//! The load: pods created and deleted at a steady rate through the API
//! server (kube-rs, as a controller would), about `live` at a time, a mix of
//! long-running pods, pods that exit, and pods that crash and restart.
//! Pods of the real agents are pinned there by node affinity; the others
//! keep off them, so the simulated agents carry the bulk.
//!
//! API errors (an outage, a restart) are counted and the step is skipped,
//! as a client would retry later; the load never waits on the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use rand::Rng;
use serde_json::json;

/// What the load did, shared with the checker.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Live pods it created: name → UID.
    pub live: BTreeMap<String, String>,
    /// UIDs of the pods it deleted.
    pub deleted: BTreeSet<String>,
    pub created: u64,
    pub deletions: u64,
    pub api_errors: u64,
}

/// Settings of the load.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Creations plus deletions per second.
    pub rate: f64,
    /// Live pods to hover around.
    pub live: usize,
    /// Hostnames of the agents with real executors.
    pub real_agents: Vec<String>,
    /// Share of the pods pinned to the real agents.
    pub real_share: f64,
}

fn manifest(name: &str, kind: u32, real: Option<&str>, avoid: &[String]) -> Pod {
    let (command, policy) = match kind {
        0 => ("echo up; exec sleep 100000", "Always"),
        1 => ("echo up; sleep 5; exit 0", "Never"),
        _ => ("echo up; sleep 3; exit 1", "Always"),
    };
    let affinity = match real {
        Some(host) => json!({"key": "kubernetes.io/hostname", "operator": "In", "values": [host]}),
        None => json!({"key": "kubernetes.io/hostname", "operator": "NotIn", "values": avoid}),
    };
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"soak": "1"}},
        "spec": {
            "restartPolicy": policy,
            "terminationGracePeriodSeconds": 2,
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchExpressions": [affinity]}]}}},
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", command],
                "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}}}]
        }
    }))
    .expect("a pod manifest")
}

/// Runs the load until `stop`; returns when stopped.
pub async fn run(
    client: kube::Client,
    spec: LoadSpec,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let period = Duration::from_secs_f64(1.0 / spec.rate.max(0.1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        let (live, pick) = {
            let l = ledger.lock().expect("ledger");
            let victim = if l.live.is_empty() {
                None
            } else {
                let i = rand::rng().random_range(0..l.live.len());
                l.live.iter().nth(i).map(|(k, v)| (k.clone(), v.clone()))
            };
            (l.live.len(), victim)
        };
        // Below the target: mostly create; above: mostly delete.
        let create_odds = if live < spec.live { 0.8 } else { 0.2 };
        let create = rand::rng().random_bool(create_odds) || pick.is_none();
        if create {
            n += 1;
            let name = format!("soak-{n}");
            let kind = (n % 10) as u32 % 3;
            let real = rand::rng()
                .random_bool(spec.real_share)
                .then(|| spec.real_agents[(n as usize) % spec.real_agents.len()].clone());
            let pod = manifest(&name, kind, real.as_deref(), &spec.real_agents);
            match pods.create(&PostParams::default(), &pod).await {
                Ok(p) => {
                    let mut l = ledger.lock().expect("ledger");
                    l.created += 1;
                    l.live.insert(name, p.metadata.uid.unwrap_or_default());
                }
                Err(_) => ledger.lock().expect("ledger").api_errors += 1,
            }
        } else if let Some((name, uid)) = pick {
            match pods.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    let mut l = ledger.lock().expect("ledger");
                    l.deletions += 1;
                    l.live.remove(&name);
                    l.deleted.insert(uid);
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    // Gone already (a pod the executor deleted after it
                    // ended while being deleted): it counts as deleted.
                    let mut l = ledger.lock().expect("ledger");
                    l.live.remove(&name);
                    l.deleted.insert(uid);
                }
                Err(_) => ledger.lock().expect("ledger").api_errors += 1,
            }
        }
    }
}
