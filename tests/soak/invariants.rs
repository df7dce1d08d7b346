//! What the soak checks, as pure functions of three snapshots: the pods the
//! API server holds, the tasks the Mesos master lists, and the pods the load
//! deleted. The product's promise is that a pod is neither lost nor
//! duplicated, whatever dies:
//!
//! - **duplicated**: two non-terminal tasks for one pod (`pod.<uid>` listed
//!   twice, on two agents) — never allowed, not even for a moment;
//! - **lost**: a pod that is not terminal (not `Succeeded`/`Failed`), is
//!   bound to a node, and has no non-terminal task — allowed only while the
//!   cluster is converging (a relaunch, a restarted executor re-adopting or
//!   restarting it), an error once it has converged;
//! - **deleted but alive**: a pod the load deleted whose task is still not
//!   terminal once it has converged (and, checked by the caller, whose
//!   processes or sandbox are still on the host);
//! - **phase disagrees**: a pod `Running` whose task is terminal, or a
//!   terminal pod whose task still runs, once converged.
//!
//! A pod that ends `Failed` with a reason because its agent was lost is not
//! lost: Kubernetes users see it and controllers replace it.

use std::collections::{BTreeMap, BTreeSet};

/// One pod as the API server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub uid: String,
    pub phase: String,
    pub node: Option<String>,
    pub deleting: bool,
}

/// One task as the master lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub id: String,
    pub state: String,
    pub agent: String,
}

/// Mesos' terminal task states.
pub fn task_terminal(state: &str) -> bool {
    matches!(
        state,
        "TASK_FINISHED"
            | "TASK_FAILED"
            | "TASK_KILLED"
            | "TASK_ERROR"
            | "TASK_LOST"
            | "TASK_DROPPED"
            | "TASK_GONE"
            | "TASK_GONE_BY_OPERATOR"
    )
}

fn pod_terminal(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed")
}

/// What a check found, by kind; each entry names the pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub duplicated: Vec<String>,
    pub lost: Vec<String>,
    pub deleted_alive: Vec<String>,
    pub phase_disagrees: Vec<String>,
}

impl Findings {
    /// Nothing found.
    pub fn clean(&self) -> bool {
        self.duplicated.is_empty()
            && self.lost.is_empty()
            && self.deleted_alive.is_empty()
            && self.phase_disagrees.is_empty()
    }
}

/// Checks the snapshots. `deleted` holds the UIDs the load deleted.
pub fn check(pods: &[PodView], tasks: &[TaskView], deleted: &BTreeSet<String>) -> Findings {
    let mut live_tasks: BTreeMap<&str, Vec<&TaskView>> = BTreeMap::new();
    let mut any_task: BTreeMap<&str, Vec<&TaskView>> = BTreeMap::new();
    for t in tasks {
        // Every generation of a pod's task (`pod.<uid>`, `pod.<uid>.<n>`
        // after a relaunch) counts for that pod.
        let Some((uid, _generation)) = kube_mesos_node::task::parse(&t.id) else {
            continue;
        };
        any_task.entry(uid).or_default().push(t);
        if !task_terminal(&t.state) {
            live_tasks.entry(uid).or_default().push(t);
        }
    }
    let mut f = Findings::default();
    for (uid, ts) in &live_tasks {
        let agents: BTreeSet<&str> = ts.iter().map(|t| t.agent.as_str()).collect();
        let ids: BTreeSet<&str> = ts.iter().map(|t| t.id.as_str()).collect();
        if agents.len() > 1 || ids.len() > 1 {
            f.duplicated.push(format!("{uid}: {ids:?} on {agents:?}"));
        }
    }
    let by_uid: BTreeMap<&str, &PodView> = pods.iter().map(|p| (p.uid.as_str(), p)).collect();
    for p in pods {
        if p.deleting || deleted.contains(&p.uid) {
            continue;
        }
        let running_task = live_tasks.contains_key(p.uid.as_str());
        if !pod_terminal(&p.phase) && p.node.is_some() && !running_task {
            f.lost.push(format!(
                "{} ({}) {} on {:?}",
                p.name, p.uid, p.phase, p.node
            ));
        }
        if pod_terminal(&p.phase) && running_task {
            f.phase_disagrees
                .push(format!("{} is {} but its task runs", p.name, p.phase));
        }
        if p.phase == "Running" {
            let ended = any_task
                .get(p.uid.as_str())
                .is_some_and(|ts| ts.iter().all(|t| task_terminal(&t.state)));
            if ended {
                f.phase_disagrees
                    .push(format!("{} is Running but its task ended", p.name));
            }
        }
    }
    for uid in deleted {
        if live_tasks.contains_key(uid.as_str()) && !by_uid.contains_key(uid.as_str()) {
            f.deleted_alive.push(uid.clone());
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, phase: &str) -> PodView {
        PodView {
            name: format!("p-{uid}"),
            uid: uid.into(),
            phase: phase.into(),
            node: Some("n".into()),
            deleting: false,
        }
    }

    fn task(uid: &str, state: &str, agent: &str) -> TaskView {
        TaskView {
            id: format!("pod.{uid}"),
            state: state.into(),
            agent: agent.into(),
        }
    }

    #[test]
    fn each_kind_of_finding_is_found_and_a_healthy_cluster_is_clean() {
        let none = BTreeSet::new();
        assert!(check(
            &[pod("a", "Running")],
            &[task("a", "TASK_RUNNING", "x")],
            &none
        )
        .clean());
        let dup = check(
            &[pod("a", "Running")],
            &[
                task("a", "TASK_RUNNING", "x"),
                task("a", "TASK_STAGING", "y"),
            ],
            &none,
        );
        assert_eq!(dup.duplicated.len(), 1);
        let lost = check(&[pod("a", "Running")], &[], &none);
        assert_eq!(lost.lost.len(), 1);
        let ended = check(
            &[pod("a", "Running")],
            &[task("a", "TASK_FAILED", "x")],
            &none,
        );
        assert_eq!((ended.lost.len(), ended.phase_disagrees.len()), (1, 1));
        let zombie = check(
            &[pod("a", "Failed")],
            &[task("a", "TASK_RUNNING", "x")],
            &none,
        );
        assert_eq!(zombie.phase_disagrees.len(), 1);
        let deleted = BTreeSet::from(["d".to_string()]);
        let alive = check(&[], &[task("d", "TASK_RUNNING", "x")], &deleted);
        assert_eq!(alive.deleted_alive, ["d"]);
        assert!(check(&[], &[task("d", "TASK_KILLED", "x")], &deleted).clean());
        assert!(check(&[pod("f", "Failed")], &[task("f", "TASK_LOST", "x")], &none).clean());
    }

    /// A pod relaunched after its executor died runs as `pod.<uid>.<n>`:
    /// that task is the pod's, and two live generations are a duplicate.
    #[test]
    fn every_generation_of_a_pods_task_is_that_pods() {
        let none = BTreeSet::new();
        let generation = |uid: &str, n: u32, state: &str| TaskView {
            id: kube_mesos_node::task::task_id(uid, n),
            state: state.into(),
            agent: "x".into(),
        };
        assert!(check(
            &[pod("a", "Running")],
            &[
                task("a", "TASK_FAILED", "x"),
                generation("a", 1, "TASK_RUNNING")
            ],
            &none
        )
        .clean());
        let dup = check(
            &[pod("a", "Running")],
            &[
                generation("a", 1, "TASK_RUNNING"),
                generation("a", 2, "TASK_STAGING"),
            ],
            &none,
        );
        assert_eq!(dup.duplicated.len(), 1);
        let deleted = BTreeSet::from(["d".to_string()]);
        let alive = check(&[], &[generation("d", 3, "TASK_RUNNING")], &deleted);
        assert_eq!(alive.deleted_alive, ["d"]);
    }
}
