//! What each agent has free for an offer, kept from one allocation pass to
//! the next.
//!
//! Free is the agent's total less what its live tasks, its executors and
//! the outstanding offers on it hold. Working that out with resource
//! arithmetic for every agent on every pass cost 100 ms and more per pass at
//! 5,000 agents, all of it under the master's state lock, so ACCEPTs and
//! status updates waited. Between two passes only the agents where a task
//! started or ended, or an offer was made, used or declined, change. As for
//! task usage (`usage.rs`), each agent's result is kept with a fingerprint
//! of its inputs, taken afresh on every pass, so no code that changes a
//! task, an executor or an offer has to remember to invalidate anything.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use fnv::{FnvBuildHasher, FnvHasher};
use kube_mesos_proto::v1::ExecutorInfo;

use super::super::resources::Resources;

/// A count and a wrapping sum of hashes: the same whatever order the
/// members are visited in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally(usize, u64);

impl Tally {
    /// Counts one member with hash `h`.
    fn add(&mut self, h: u64) {
        self.0 += 1;
        self.1 = self.1.wrapping_add(h);
    }
}

/// Everything an agent's free resources are worked out from, but its total
/// (compared in full).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Print {
    /// Its live tasks (`usage.rs`' fingerprint).
    tasks: Option<(usize, u64)>,
    executors: Tally,
    /// The outstanding offers on it, by ID (an offer never changes).
    offers: Tally,
}

/// The hash of an offer's ID.
fn offer_hash(offer_id: &str) -> u64 {
    let mut h = FnvHasher::default();
    offer_id.hash(&mut h);
    h.finish()
}

/// The fingerprint of an agent's executors: who runs them and with how
/// much.
fn executors_tally<'a>(
    executors: impl Iterator<Item = (&'a (String, String), &'a ExecutorInfo)>,
) -> Tally {
    let mut t = Tally::default();
    for ((framework_id, executor_id), e) in executors {
        let mut h = FnvHasher::default();
        framework_id.hash(&mut h);
        executor_id.hash(&mut h);
        for r in &e.resources {
            r.name.hash(&mut h);
            if let Some(s) = &r.scalar {
                s.value.to_bits().hash(&mut h);
            }
            if let Some(rs) = &r.ranges {
                for range in &rs.range {
                    (range.begin, range.end).hash(&mut h);
                }
            }
        }
        t.add(h.finish());
    }
    t
}

#[derive(Debug)]
struct Entry {
    print: Print,
    total: Resources,
    free: Resources,
}

/// One connected agent as a refresh sees it.
pub(super) struct AgentInputs<'a> {
    pub id: &'a str,
    pub total: &'a Resources,
    pub executors: &'a BTreeMap<(String, String), ExecutorInfo>,
    /// Its live tasks' fingerprint and what they use (`usage.rs`).
    pub tasks: Option<((usize, u64), &'a Resources)>,
}

/// One outstanding offer as a refresh sees it.
pub(super) struct OfferInputs<'a> {
    pub id: &'a str,
    pub agent: &'a str,
    /// Its resources without allocation info.
    pub unallocated: &'a Resources,
}

/// An agent whose kept result no longer holds, while it is worked out.
struct Stale<'a> {
    print: Print,
    total: &'a Resources,
    tasks: Option<&'a Resources>,
    /// Its executors' and offers' resources.
    held: Resources,
}

/// The per-agent cache (see the module docs).
#[derive(Debug, Default)]
pub(super) struct FreeResources {
    agents: HashMap<String, Entry, FnvBuildHasher>,
}

impl FreeResources {
    /// Brings the cache up to date with the connected `agents` and the
    /// outstanding offers (`offers` is walked once, or twice when some
    /// agent changed); agents not among them are forgotten.
    pub(super) fn refresh<'a, I>(
        &mut self,
        agents: impl Iterator<Item = AgentInputs<'a>>,
        offers: impl Fn() -> I,
    ) where
        I: Iterator<Item = OfferInputs<'a>>,
    {
        let mut tallies: HashMap<&str, Tally, FnvBuildHasher> = HashMap::default();
        for o in offers() {
            tallies.entry(o.agent).or_default().add(offer_hash(o.id));
        }
        let mut seen: HashSet<&str, FnvBuildHasher> = HashSet::default();
        let mut stale: HashMap<&str, Stale<'a>, FnvBuildHasher> = HashMap::default();
        for a in agents {
            seen.insert(a.id);
            let print = Print {
                tasks: a.tasks.map(|(print, _)| print),
                executors: executors_tally(a.executors.iter()),
                offers: tallies.get(a.id).copied().unwrap_or_default(),
            };
            let fresh = self
                .agents
                .get(a.id)
                .is_some_and(|e| e.print == print && e.total == *a.total);
            if fresh {
                continue;
            }
            let mut held = Resources::new();
            for e in a.executors.values() {
                held.add_all(&Resources::from_protos(&e.resources).unallocated());
            }
            stale.insert(
                a.id,
                Stale {
                    print,
                    total: a.total,
                    tasks: a.tasks.map(|(_, used)| used),
                    held,
                },
            );
        }
        if !stale.is_empty() {
            for o in offers() {
                if let Some(s) = stale.get_mut(o.agent) {
                    s.held.add_all(o.unallocated);
                }
            }
        }
        self.agents.retain(|agent, _| seen.contains(agent.as_str()));
        for (agent, s) in stale {
            let free = match s.tasks {
                Some(used) => s.total.minus(used).minus(&s.held),
                None => s.total.minus(&s.held),
            };
            let entry = Entry {
                print: s.print,
                total: s.total.clone(),
                free,
            };
            match self.agents.get_mut(agent) {
                Some(e) => *e = entry,
                None => {
                    self.agents.insert(agent.to_owned(), entry);
                }
            }
        }
    }

    /// What `agent` has free, as of the last refresh.
    pub(super) fn get(&self, agent: &str) -> Option<&Resources> {
        self.agents.get(agent).map(|e| &e.free)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::resources::scalar;
    use super::*;

    fn cpus(v: f64) -> Resources {
        Resources::from_protos(&[scalar("cpus", v)])
    }

    fn executor(v: f64) -> ExecutorInfo {
        ExecutorInfo {
            resources: cpus(v).into_protos(),
            ..Default::default()
        }
    }

    /// The cache's answers against the sums worked out from scratch, as
    /// tasks, executors and offers come and go.
    #[test]
    fn free_follows_tasks_executors_and_offers() {
        let total = cpus(8.0);
        let mut executors = BTreeMap::new();
        let (used_1, used_2) = (cpus(1.0), cpus(3.0));
        let mut c = FreeResources::default();
        let mut step = |tasks: Option<((usize, u64), &Resources)>,
                        executors: &BTreeMap<(String, String), ExecutorInfo>,
                        offers: &[(&str, Resources)]| {
            let agents = [AgentInputs {
                id: "a",
                total: &total,
                executors,
                tasks,
            }];
            c.refresh(agents.into_iter(), || {
                offers.iter().map(|(id, r)| OfferInputs {
                    id,
                    agent: "a",
                    unallocated: r,
                })
            });
            c.get("a").map(|r| r.scalar("cpus"))
        };
        assert_eq!(step(None, &executors, &[]), Some(8.0));
        assert_eq!(step(None, &executors, &[("O1", cpus(2.0))]), Some(6.0));
        assert_eq!(
            step(Some(((1, 7), &used_1)), &executors, &[("O1", cpus(2.0))]),
            Some(5.0)
        );
        // Another offer in the same count, then the task set changed.
        assert_eq!(
            step(Some(((1, 7), &used_1)), &executors, &[("O2", cpus(1.0))]),
            Some(6.0)
        );
        assert_eq!(
            step(Some(((2, 9), &used_2)), &executors, &[("O2", cpus(1.0))]),
            Some(4.0)
        );
        executors.insert(("f".into(), "e".into()), executor(0.5));
        assert_eq!(step(Some(((2, 9), &used_2)), &executors, &[]), Some(4.5));
        executors.insert(("f".into(), "e".into()), executor(1.5));
        assert_eq!(step(Some(((2, 9), &used_2)), &executors, &[]), Some(3.5));
    }

    #[test]
    fn an_agent_left_out_of_a_refresh_is_forgotten() {
        let (total, executors) = (cpus(4.0), BTreeMap::new());
        let mut c = FreeResources::default();
        let agent = |id| AgentInputs {
            id,
            total: &total,
            executors: &executors,
            tasks: None,
        };
        c.refresh([agent("a"), agent("b")].into_iter(), std::iter::empty);
        assert!(c.get("a").is_some() && c.get("b").is_some());
        c.refresh([agent("b")].into_iter(), std::iter::empty);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("b").map(|r| r.scalar("cpus")), Some(4.0));
    }

    #[test]
    fn the_executors_tally_sees_who_and_how_much() {
        let key = ("f".to_owned(), "e".to_owned());
        let (small, large) = (executor(0.1), executor(0.5));
        let other = ("f".to_owned(), "e2".to_owned());
        let t = |e: Vec<(&(String, String), &ExecutorInfo)>| executors_tally(e.into_iter());
        assert_eq!(t(vec![(&key, &small)]), t(vec![(&key, &small)]));
        assert_ne!(t(vec![(&key, &small)]), t(vec![(&key, &large)]));
        assert_ne!(t(vec![(&key, &small)]), t(vec![(&other, &small)]));
        assert_eq!(
            t(vec![(&key, &small), (&other, &large)]),
            t(vec![(&other, &large), (&key, &small)])
        );
    }
}
