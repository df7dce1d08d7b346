//! What each fault must have led to once the cluster converged, beyond the
//! invariants every pod keeps (see [`crate::invariants`]), as pure
//! functions of snapshots:
//!
//! - **executor killed** (`kill -9`): the agent kills its process tree and
//!   fails its tasks; every pod it ran is relaunched on its agent as its
//!   next task generation (process pods restart under `Always`/`OnFailure`)
//!   or, under `restartPolicy: Never`, ends `Failed` — never left waiting,
//!   and never `Failed` when it could restart;
//! - **agent lost for good**: its Node is not Ready, and every pod bound to
//!   it that nobody deleted ends `Failed` (controllers would replace it),
//!   none left `Running` or `Pending` on a machine that is gone.

use std::collections::BTreeMap;

use crate::invariants::{PodView, TaskView};

/// A task an executor ran when it was killed: the pod and its generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KilledTask {
    pub uid: String,
    pub generation: u32,
}

/// The pods of a killed executor that did not end as they should.
pub fn executor_kill(pods: &[PodView], tasks: &[TaskView], killed: &[KilledTask]) -> Vec<String> {
    let by_uid: BTreeMap<&str, &PodView> = pods.iter().map(|p| (p.uid.as_str(), p)).collect();
    let mut problems = Vec::new();
    for k in killed {
        let Some(p) = by_uid.get(k.uid.as_str()) else {
            continue; // deleted since: the invariants cover it
        };
        if p.deleting {
            continue;
        }
        match p.phase.as_str() {
            "Succeeded" => {}
            "Failed" if p.restart_policy == "Never" => {}
            "Failed" => problems.push(format!(
                "{} failed with its executor although restartPolicy is {}",
                p.name, p.restart_policy
            )),
            phase => {
                let relaunched = tasks.iter().any(|t| {
                    t.running()
                        && t.pod()
                            .is_some_and(|(uid, g)| uid == k.uid && g > k.generation)
                });
                if !relaunched {
                    problems.push(format!(
                        "{} is {phase} without a task of a generation after {}",
                        p.name, k.generation
                    ));
                }
            }
        }
    }
    problems
}

/// What is wrong with a lost agent's Node (`ready`: its Ready condition is
/// True) and the pods bound to it.
pub fn agent_lost(pods: &[PodView], node: &str, ready: Option<bool>) -> Vec<String> {
    let mut problems = Vec::new();
    match ready {
        Some(false) => {}
        Some(true) => problems.push(format!("Node {node} is still Ready")),
        None => problems.push(format!("Node {node} has no Ready condition or is gone")),
    }
    for p in pods {
        if p.node.as_deref() == Some(node)
            && !p.deleting
            && !matches!(p.phase.as_str(), "Failed" | "Succeeded")
        {
            problems.push(format!("{} is {} on the lost node", p.name, p.phase));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, phase: &str, policy: &str, node: &str) -> PodView {
        PodView {
            name: format!("p-{uid}"),
            uid: uid.into(),
            phase: phase.into(),
            node: Some(node.into()),
            deleting: false,
            restart_policy: policy.into(),
        }
    }

    fn task(uid: &str, generation: u32, state: &str) -> TaskView {
        TaskView {
            id: kube_mesos_node::task::task_id(uid, generation),
            state: state.into(),
            agent: "a".into(),
            executor: "e".into(),
        }
    }

    fn killed(uid: &str, generation: u32) -> KilledTask {
        KilledTask {
            uid: uid.into(),
            generation,
        }
    }

    #[test]
    fn a_killed_executors_pods_are_relaunched_or_failed_as_their_policy_says() {
        let tasks = [
            task("r", 0, "TASK_FAILED"),
            task("r", 1, "TASK_RUNNING"),
            task("n", 0, "TASK_FAILED"),
            task("w", 0, "TASK_FAILED"),
        ];
        let pods = [
            pod("r", "Running", "Always", "x"),
            pod("n", "Failed", "Never", "x"),
        ];
        let ok = executor_kill(&pods, &tasks, &[killed("r", 0), killed("n", 0)]);
        assert!(ok.is_empty(), "{ok:?}");
        // Left waiting without a new generation.
        let waiting = executor_kill(
            &[pod("w", "Running", "Always", "x")],
            &tasks,
            &[killed("w", 0)],
        );
        assert_eq!(waiting.len(), 1);
        // Failed although it could restart.
        let failed = executor_kill(
            &[pod("w", "Failed", "Always", "x")],
            &tasks,
            &[killed("w", 0)],
        );
        assert_eq!(failed.len(), 1);
        // Deleted since: nothing to say here.
        assert!(executor_kill(&[], &tasks, &[killed("w", 0)]).is_empty());
    }

    #[test]
    fn a_lost_agents_node_is_not_ready_and_its_pods_failed() {
        let pods = [
            pod("a", "Failed", "Always", "gone"),
            pod("b", "Running", "Always", "other"),
        ];
        assert!(agent_lost(&pods, "gone", Some(false)).is_empty());
        assert_eq!(agent_lost(&pods, "gone", Some(true)).len(), 1);
        assert_eq!(agent_lost(&pods, "gone", None).len(), 1);
        let running = [pod("c", "Running", "Always", "gone")];
        assert_eq!(agent_lost(&running, "gone", Some(false)).len(), 1);
    }
}
