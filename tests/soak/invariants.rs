//! What the soak checks, as pure functions of three snapshots: the pods the
//! API server holds, the tasks the Mesos master lists, and the pods the load
//! deleted. The product's promise is that a pod is neither lost nor
//! duplicated, whatever dies. A pod runs in one task at a time but not
//! always the same one: when its executor dies the framework relaunches it
//! as its next task generation (`pod.<uid>`, then `pod.<uid>.<n>`, see
//! `kube_mesos_node::task`), so tasks are grouped by the pod UID they name:
//!
//! - **duplicated**: more than one non-terminal task for one pod (any
//!   generations, on any agents, unreachable ones included: a partition
//!   that heals brings them back) — never allowed, not even for a moment;
//! - **lost**: a pod that is not terminal (not `Succeeded`/`Failed`), is
//!   bound to a node, and has no non-terminal task — allowed only while the
//!   cluster is converging (a relaunch, a restarted executor re-adopting or
//!   restarting it), an error once it has converged;
//! - **deleted but alive**: a pod the load deleted whose task still runs
//!   once it has converged (and, checked by the caller, whose processes or
//!   sandbox are still on the host);
//! - **phase disagrees**: a pod `Running` whose tasks all ended, or a
//!   terminal pod whose task still runs, once converged.
//!
//! A task `TASK_UNREACHABLE` (its agent partitioned or lost) is not
//! running as far as anyone can tell: a pod the framework failed because
//! its agent stayed unreachable, or deleted meanwhile, may keep such a task
//! (the framework kills it should it come back). Its pod is not lost while
//! it waits either: it keeps its phase until the task is back or the
//! framework gives up (`--unreachable-timeout`) and fails it.
//!
//! A pod that ends `Failed` with a reason because its agent was lost, or
//! because its executor died under `restartPolicy: Never`, is not lost:
//! Kubernetes users see it and controllers replace it.

use std::collections::{BTreeMap, BTreeSet};

/// One pod as the API server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub uid: String,
    pub phase: String,
    pub node: Option<String>,
    pub deleting: bool,
    pub restart_policy: String,
}

/// One task as the master lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub id: String,
    pub state: String,
    pub agent: String,
    pub executor: String,
}

impl TaskView {
    /// The pod UID and task generation of a task of ours.
    pub fn pod(&self) -> Option<(&str, u32)> {
        kube_mesos_node::task::parse(&self.id)
    }

    /// Not terminal: it runs, or may come back running (unreachable).
    pub fn live(&self) -> bool {
        !task_terminal(&self.state)
    }

    /// Known to run (not terminal, not unreachable).
    pub fn running(&self) -> bool {
        self.live() && self.state != "TASK_UNREACHABLE"
    }
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

/// The non-terminal tasks of each pod, by pod UID.
pub fn live_tasks(tasks: &[TaskView]) -> BTreeMap<&str, Vec<&TaskView>> {
    let mut live: BTreeMap<&str, Vec<&TaskView>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.live()) {
        if let Some((uid, _)) = t.pod() {
            live.entry(uid).or_default().push(t);
        }
    }
    live
}

/// Checks the snapshots. `deleted` holds the UIDs the load deleted.
pub fn check(pods: &[PodView], tasks: &[TaskView], deleted: &BTreeSet<String>) -> Findings {
    let live = live_tasks(tasks);
    let mut any_task: BTreeMap<&str, Vec<&TaskView>> = BTreeMap::new();
    for t in tasks {
        if let Some((uid, _)) = t.pod() {
            any_task.entry(uid).or_default().push(t);
        }
    }
    let running = |uid: &str| {
        live.get(uid)
            .is_some_and(|ts| ts.iter().any(|t| t.running()))
    };
    let mut f = Findings::default();
    for (uid, ts) in &live {
        if ts.len() > 1 {
            let ids: Vec<String> = ts
                .iter()
                .map(|t| format!("{} {} on {}", t.id, t.state, t.agent))
                .collect();
            f.duplicated.push(format!("{uid}: {ids:?}"));
        }
    }
    let by_uid: BTreeMap<&str, &PodView> = pods.iter().map(|p| (p.uid.as_str(), p)).collect();
    for p in pods {
        if p.deleting || deleted.contains(&p.uid) {
            continue;
        }
        let has_live = live.contains_key(p.uid.as_str());
        if !pod_terminal(&p.phase) && p.node.is_some() && !has_live {
            f.lost.push(format!(
                "{} ({}) {} on {:?}",
                p.name, p.uid, p.phase, p.node
            ));
        }
        if pod_terminal(&p.phase) && running(&p.uid) {
            f.phase_disagrees
                .push(format!("{} is {} but its task runs", p.name, p.phase));
        }
        if p.phase == "Running" {
            let ended = any_task
                .get(p.uid.as_str())
                .is_some_and(|ts| ts.iter().all(|t| !t.live()));
            if ended {
                f.phase_disagrees
                    .push(format!("{} is Running but its tasks ended", p.name));
            }
        }
    }
    for uid in deleted {
        if running(uid) && !by_uid.contains_key(uid.as_str()) {
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
            restart_policy: "Always".into(),
        }
    }

    fn task(uid: &str, state: &str, agent: &str) -> TaskView {
        generation(uid, 0, state, agent)
    }

    fn generation(uid: &str, n: u32, state: &str, agent: &str) -> TaskView {
        TaskView {
            id: kube_mesos_node::task::task_id(uid, n),
            state: state.into(),
            agent: agent.into(),
            executor: "e".into(),
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

    #[test]
    fn a_relaunched_pod_is_one_pod_with_one_live_generation() {
        let none = BTreeSet::new();
        let relaunched = [
            generation("a", 0, "TASK_FAILED", "x"),
            generation("a", 1, "TASK_RUNNING", "x"),
        ];
        assert!(check(&[pod("a", "Running")], &relaunched, &none).clean());
        // Waiting for its relaunch: lost until it converged.
        let waiting = check(
            &[pod("a", "Running")],
            &[generation("a", 0, "TASK_FAILED", "x")],
            &none,
        );
        assert_eq!(waiting.lost.len(), 1);
        // Two generations live at once, even on one agent: duplicated.
        let twice = check(
            &[pod("a", "Running")],
            &[
                generation("a", 1, "TASK_RUNNING", "x"),
                generation("a", 2, "TASK_STAGING", "x"),
            ],
            &none,
        );
        assert_eq!(twice.duplicated.len(), 1);
        // A Never pod failed with its executor: its old task ended.
        assert!(check(
            &[pod("n", "Failed")],
            &[generation("n", 0, "TASK_FAILED", "x")],
            &none
        )
        .clean());
    }

    #[test]
    fn an_unreachable_task_waits_but_runs_nowhere_anyone_can_see() {
        let none = BTreeSet::new();
        let unreachable = [task("a", "TASK_UNREACHABLE", "x")];
        // The pod waits for its agent: neither lost nor disagreeing.
        assert!(check(&[pod("a", "Running")], &unreachable, &none).clean());
        // The framework gave up on the agent and failed the pod.
        assert!(check(&[pod("a", "Failed")], &unreachable, &none).clean());
        // Deleted while its agent was away: nothing runs that anyone can kill
        // until the agent is back, when it is running again and killed.
        let deleted = BTreeSet::from(["a".to_string()]);
        assert!(check(&[], &unreachable, &deleted).clean());
        assert_eq!(
            check(&[], &[task("a", "TASK_RUNNING", "x")], &deleted).deleted_alive,
            ["a"]
        );
        // Relaunched elsewhere while the old one may come back: duplicated.
        let both = check(
            &[pod("a", "Running")],
            &[
                task("a", "TASK_UNREACHABLE", "x"),
                generation("a", 1, "TASK_RUNNING", "y"),
            ],
            &none,
        );
        assert_eq!(both.duplicated.len(), 1);
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
            executor: "e".into(),
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
