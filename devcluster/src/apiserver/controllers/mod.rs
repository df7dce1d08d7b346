//! The workload controllers of the embedded API server — what
//! kube-controller-manager does on a real cluster for Deployments,
//! ReplicaSets and Jobs, and its garbage collector for ownerReferences —
//! so that `kube-mesos local` runs Deployments and Jobs, and the framework
//! sees the pod churn they cause, while staying a plain scheduler that
//! knows nothing of them.
//!
//! Each controller is a pure function from a snapshot of objects (and the
//! time) to [`Action`]s: creates, updates, status updates and deletes. The
//! runner here is the thin shell: it reads snapshots from the store, and
//! performs the actions through the same verb handlers the HTTP API uses
//! (defaulting, validation, resourceVersion preconditions, graceful pod
//! deletion, watch events), never by writing storage directly. The store's
//! reads are consistent with its writes, so a controller never acts on a
//! stale cache and needs no "expectations" as client-go controllers do.
//!
//! The runner reconciles everything when a relevant object changes (after a
//! short batching pause) and once a second anyway, for what depends on time
//! alone (minReadySeconds, progress deadlines, Job back-off and deadlines).
//! Conflicts (409) are left for the next pass, as a requeue.
//!
//! The certificate controllers (`csr`: approving and signing kubelet
//! client certificates) and the disruption controller (`disruption`:
//! PodDisruptionBudget status) run in the same passes.
//!
//! Modules: [`client`] (actions performed through the handlers), [`csr`],
//! [`disruption`], [`pods`]
//! (pod predicates and templates), [`replicaset`], [`deployment`], [`job`],
//! [`gc`], [`meta`] (owner references, conditions, the clock).

pub mod client;
pub mod csr;
pub mod deployment;
pub mod disruption;
pub mod gc;
pub mod job;
pub mod meta;
pub mod pods;
pub mod replicaset;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::auth::{self, Attributes, UserInfo};
use super::certificates::Signer;
use super::store::Store;
pub use client::Action;
pub use meta::Clock;

/// Store buckets whose changes wake the controllers.
const WATCHED: &[&str] = &[
    "pods",
    "replicasets",
    "deployments",
    "jobs",
    "poddisruptionbudgets.policy",
    "certificatesigningrequests.certificates.k8s.io",
];

/// Pause after a change before reconciling, so a burst of changes (a
/// rollout's pod updates) is handled in one pass.
const BATCH: Duration = Duration::from_millis(50);

/// Reconcile at least this often (time-driven transitions).
const RESYNC: Duration = Duration::from_secs(1);

/// How long the controllers wait after a pass before the next: the
/// batching pause, or four times what the pass took when that is longer. A
/// pass reads what the controllers own under the store's lock (the garbage
/// collector and the Job finalizer check visit only the objects the store
/// indexes as owned or finalized); with many ReplicaSet or Job pods one can
/// take a large part of a second, and passes back to back would hold up
/// every write of the API server. The controllers so take at most a fifth
/// of the store's time, and react later on a large store, as
/// kube-controller-manager's queues do under load.
fn pause_after(pass: Duration) -> Duration {
    BATCH.max(pass.saturating_mul(4))
}

/// One pass of every controller over the current state, each acting on a
/// fresh snapshot that includes what the previous one did.
pub fn reconcile_all(store: &Store, clock: &Clock, signer: Option<&Signer>) {
    let run = |name: &str, actions: Vec<Action>| {
        for action in actions {
            if let Err(e) = client::perform(store, &action) {
                tracing::debug!(controller = name, action = %action, code = e.code, error = %e.message, "controller action not applied; retried on the next pass");
            }
        }
    };
    run("garbagecollector", gc::reconcile(&gc::snapshot(store)));
    // Each controller lists the pods only when it has objects to reconcile:
    // a cluster of bare pods (the benchmarks') costs no pod list per pass.
    let pods = || store.list("pods", None).0;
    let (replicasets, _) = store.list("replicasets", None);
    if !replicasets.is_empty() {
        let pods = pods();
        let mut actions = Vec::new();
        for rs in &replicasets {
            actions.extend(replicaset::reconcile(rs, &pods, clock));
        }
        run("replicaset", actions);
    }
    let (deployments, _) = store.list("deployments", None);
    if !deployments.is_empty() {
        let pods = pods();
        let (replicasets, _) = store.list("replicasets", None);
        let mut actions = Vec::new();
        for d in &deployments {
            actions.extend(deployment::reconcile(d, &replicasets, &pods, clock));
        }
        run("deployment", actions);
    }
    let (jobs, _) = store.list("jobs", None);
    // Pods with the Job tracking finalizer outlive their Job until released.
    let mut any_tracked = false;
    store.scan_owned_or_finalized("pods", |p| {
        any_tracked |= job::has_tracking_finalizer(p);
    });
    if !jobs.is_empty() || any_tracked {
        let pods = pods();
        let mut actions = job::release_orphans(&pods, &jobs);
        for j in &jobs {
            actions.extend(job::reconcile(j, &pods, clock));
        }
        run("job", actions);
    }
    let (pdbs, _) = store.list("poddisruptionbudgets.policy", None);
    if !pdbs.is_empty() {
        let pods = pods();
        let actions = pdbs
            .iter()
            .filter_map(|b| disruption::reconcile(b, &pods, clock))
            .collect();
        run("disruption", actions);
    }
    let (csrs, _) = store.list("certificatesigningrequests.certificates.k8s.io", None);
    let allowed = |user: &UserInfo, attrs: &Attributes| auth::authorize(store, user, attrs).is_ok();
    let actions = csrs
        .iter()
        .filter_map(|c| csr::reconcile(c, &allowed, signer, clock))
        .collect();
    run("csrapproving/csrsigning", actions);
}

/// Runs the controllers until `stop` changes.
pub async fn run(
    store: Arc<Store>,
    signer: Option<Signer>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let signer = signer.map(Arc::new);
    let mut changes = store.subscribe();
    tracing::info!("workload controllers started");
    loop {
        // The store's lock is held briefly per call; a pass is synchronous
        // work, so it runs on the blocking pool.
        let s = store.clone();
        let signer = signer.clone();
        let started = tokio::time::Instant::now();
        let pass = tokio::task::spawn_blocking(move || {
            reconcile_all(&s, &Clock::now(), signer.as_deref())
        });
        if let Err(e) = pass.await {
            if e.is_panic() {
                tracing::error!("a controller pass panicked; continuing");
            }
        }
        let pause = pause_after(started.elapsed());
        let resync = tokio::time::sleep(RESYNC.max(pause));
        tokio::pin!(resync);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = &mut resync => break,
                change = changes.recv() => match change {
                    Ok(c) if !WATCHED.contains(&c.storage.as_str()) => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        tokio::time::sleep(pause).await;
                        // Everything queued meanwhile is covered by this pass.
                        while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) = changes.try_recv() {}
                        break;
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_pass_spaces_out_the_next() {
        assert_eq!(pause_after(Duration::from_millis(1)), BATCH);
        assert_eq!(
            pause_after(Duration::from_millis(200)),
            Duration::from_millis(800)
        );
    }
}
