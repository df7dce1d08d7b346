//! What live tasks hold, per agent, kept from one allocation pass to the
//! next.
//!
//! A pass needs what each agent's live tasks use and what each framework's
//! roles are allocated. Summing every task's resources on every pass costs
//! a few resource merges and clones per task: seconds at 100,000 tasks, all
//! of it under the state lock, so status updates and ACCEPTs wait and
//! offers stop flowing. Between two passes only a few agents' task sets
//! change (Mesos' allocator tracks allocations incrementally for the same
//! reason). Each agent's sums are cached with a fingerprint of its live
//! tasks, and only agents whose fingerprint changed are summed again. The
//! fingerprint is taken from the tasks themselves on every pass, so no
//! place that changes a task has to remember to invalidate anything.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use fnv::{FnvBuildHasher, FnvHasher};
use kube_mesos_proto::v1::Task;

use super::super::resources::Resources;

/// One live task as a pass sees it.
pub(super) struct LiveTask<'a> {
    pub framework_id: &'a str,
    /// The framework's first role: the task's role when its resources
    /// carry no allocation info.
    pub first_role: &'a str,
    pub task: &'a Task,
}

/// What one agent's live tasks hold.
#[derive(Debug, Default)]
struct AgentUsage {
    /// Number of live tasks and the sum of their hashes.
    fingerprint: (usize, u64),
    /// Their resources, without allocation info (the agent's view).
    used: Resources,
    /// Their resources per framework and role, allocated to a placeholder
    /// role (only the sums matter to the allocator's sorter).
    allocated: BTreeMap<(String, String), Resources>,
}

/// The per-agent cache (see the module docs).
#[derive(Debug, Default)]
pub(super) struct TaskUsage {
    agents: HashMap<String, AgentUsage>,
}

/// The hash of what makes a task count: who runs it, for which role, with
/// how much. A pass hashes every live task, so the hash is a cheap one
/// (FNV) over the identity and the scalar amounts.
fn task_hash(t: &LiveTask<'_>) -> u64 {
    let mut h = FnvHasher::default();
    t.framework_id.hash(&mut h);
    t.first_role.hash(&mut h);
    t.task.task_id.value.hash(&mut h);
    for r in &t.task.resources {
        if let Some(s) = &r.scalar {
            s.value.to_bits().hash(&mut h);
        }
        if let Some(rs) = &r.ranges {
            for range in &rs.range {
                (range.begin, range.end).hash(&mut h);
            }
        }
    }
    h.finish()
}

impl TaskUsage {
    /// Brings the cache up to date with the live tasks (every task that is
    /// not terminal, of every framework); `tasks` is walked once, or twice
    /// when some agent's tasks changed.
    pub(super) fn refresh<'a, I>(&mut self, tasks: impl Fn() -> I)
    where
        I: Iterator<Item = LiveTask<'a>>,
    {
        let mut prints: HashMap<&'a str, (usize, u64), FnvBuildHasher> = HashMap::default();
        for t in tasks() {
            let h = task_hash(&t);
            let e = prints
                .entry(t.task.agent_id.value.as_str())
                .or_insert((0, 0));
            e.0 += 1;
            e.1 = e.1.wrapping_add(h);
        }
        self.agents
            .retain(|agent, _| prints.contains_key(agent.as_str()));
        // The agents whose live tasks changed, each summed again from zero.
        let mut fresh: HashMap<&str, AgentUsage, FnvBuildHasher> = prints
            .iter()
            .filter(|(agent, print)| {
                self.agents
                    .get(**agent)
                    .is_none_or(|u| u.fingerprint != **print)
            })
            .map(|(agent, print)| {
                (
                    *agent,
                    AgentUsage {
                        fingerprint: *print,
                        ..Default::default()
                    },
                )
            })
            .collect();
        if fresh.is_empty() {
            return;
        }
        for t in tasks() {
            let Some(usage) = fresh.get_mut(t.task.agent_id.value.as_str()) else {
                continue;
            };
            let r = Resources::from_protos(&t.task.resources);
            let role = r
                .protos()
                .first()
                .and_then(|x| x.allocation_info.as_ref())
                .and_then(|a| a.role.as_deref())
                .unwrap_or(t.first_role)
                .to_owned();
            let r = r.unallocated();
            usage.used.add_all(&r);
            usage
                .allocated
                .entry((t.framework_id.to_owned(), role))
                .or_default()
                .add_all(&r.allocate("x"));
        }
        for (agent, usage) in fresh {
            self.agents.insert(agent.to_owned(), usage);
        }
    }

    /// The fingerprint of the live tasks on `agent` (`None` without any).
    pub(super) fn print(&self, agent: &str) -> Option<(usize, u64)> {
        self.agents.get(agent).map(|u| u.fingerprint)
    }

    /// What the live tasks on `agent` use (`None` without any).
    pub(super) fn used(&self, agent: &str) -> Option<&Resources> {
        self.agents.get(agent).map(|u| &u.used)
    }

    /// What the live tasks of every framework hold, per role.
    pub(super) fn allocated(&self) -> BTreeMap<String, BTreeMap<String, Resources>> {
        let mut out: BTreeMap<String, BTreeMap<String, Resources>> = BTreeMap::new();
        for u in self.agents.values() {
            for ((fid, role), r) in &u.allocated {
                out.entry(fid.clone())
                    .or_default()
                    .entry(role.clone())
                    .or_default()
                    .add_all(r);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::{value, AgentId, FrameworkId, Resource, TaskId};

    fn task(id: &str, agent: &str, cpus: f64) -> Task {
        Task {
            task_id: TaskId { value: id.into() },
            framework_id: FrameworkId { value: "f".into() },
            agent_id: AgentId {
                value: agent.into(),
            },
            resources: vec![Resource {
                name: "cpus".into(),
                r#type: value::Type::Scalar as i32,
                scalar: Some(kube_mesos_proto::v1::value::Scalar { value: cpus }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn live(tasks: &[Task]) -> Vec<LiveTask<'_>> {
        tasks
            .iter()
            .map(|task| LiveTask {
                framework_id: "f",
                first_role: "*",
                task,
            })
            .collect()
    }

    fn cpus(r: Option<&Resources>) -> f64 {
        r.into_iter()
            .flat_map(|r| r.protos())
            .filter(|p| p.name == "cpus")
            .filter_map(|p| p.scalar.as_ref().map(|s| s.value))
            .sum()
    }

    #[test]
    fn sums_follow_the_live_tasks_of_each_agent() {
        let mut u = TaskUsage::default();
        let mut tasks = vec![
            task("a", "s1", 1.0),
            task("b", "s1", 0.5),
            task("c", "s2", 2.0),
        ];
        u.refresh(|| live(&tasks).into_iter());
        assert_eq!(cpus(u.used("s1")), 1.5);
        assert_eq!(cpus(u.used("s2")), 2.0);

        // A task ends on s1, another starts on s2 with the same count.
        tasks.remove(1);
        tasks.push(task("d", "s2", 0.25));
        u.refresh(|| live(&tasks).into_iter());
        assert_eq!(cpus(u.used("s1")), 1.0);
        assert_eq!(cpus(u.used("s2")), 2.25);

        // Same task ID and count, other resources: summed again.
        tasks[0] = task("a", "s1", 3.0);
        u.refresh(|| live(&tasks).into_iter());
        assert_eq!(cpus(u.used("s1")), 3.0);

        let all = u.allocated();
        assert_eq!(cpus(all["f"].get("*")), 5.25);

        // No live tasks left on s1: it drops out.
        tasks.remove(0);
        u.refresh(|| live(&tasks).into_iter());
        assert!(u.used("s1").is_none());
        assert_eq!(u.agents.len(), 1);
    }
}
