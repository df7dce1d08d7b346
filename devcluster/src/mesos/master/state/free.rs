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

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use fnv::{FnvBuildHasher, FnvHasher};
use kube_mesos_proto::v1::ExecutorInfo;

use super::super::resources::Resources;

/// A count and a wrapping sum of hashes: the same whatever order the
/// members are visited in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tally(usize, u64);

impl Tally {
    /// Counts one member with hash `h`.
    pub(super) fn add(&mut self, h: u64) {
        self.0 += 1;
        self.1 = self.1.wrapping_add(h);
    }
}

/// Everything an agent's free resources are worked out from, but its total
/// (compared in full).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Print {
    /// Its live tasks (`usage.rs`' fingerprint).
    pub tasks: Option<(usize, u64)>,
    pub executors: Tally,
    /// The outstanding offers on it, by ID (an offer never changes).
    pub offers: Tally,
}

/// The hash of an offer's ID.
pub(super) fn offer_hash(offer_id: &str) -> u64 {
    let mut h = FnvHasher::default();
    offer_id.hash(&mut h);
    h.finish()
}

/// The fingerprint of an agent's executors: who runs them and with how
/// much.
pub(super) fn executors_tally<'a>(
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

/// The per-agent cache (see the module docs).
#[derive(Debug, Default)]
pub(super) struct FreeResources {
    agents: HashMap<String, Entry, FnvBuildHasher>,
}

impl FreeResources {
    /// Whether `agent`'s kept result still holds for `print` and `total`.
    pub(super) fn is_fresh(&self, agent: &str, print: &Print, total: &Resources) -> bool {
        self.agents
            .get(agent)
            .is_some_and(|e| e.print == *print && e.total == *total)
    }

    /// Keeps `free` as what `agent` has free while `print` and `total`
    /// hold.
    pub(super) fn keep(&mut self, agent: &str, print: Print, total: &Resources, free: Resources) {
        let entry = Entry {
            print,
            total: total.clone(),
            free,
        };
        match self.agents.get_mut(agent) {
            Some(e) => *e = entry,
            None => {
                self.agents.insert(agent.to_owned(), entry);
            }
        }
    }

    /// Forgets the agents `keep` says no to (removed or disconnected).
    pub(super) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.agents.retain(|agent, _| keep(agent));
    }

    /// What `agent` has free, as last kept.
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

    #[test]
    fn a_kept_result_holds_until_an_input_changes() {
        let mut c = FreeResources::default();
        let mut print = Print::default();
        print.offers.add(offer_hash("O1"));
        assert!(!c.is_fresh("a", &print, &cpus(8.0)));
        c.keep("a", print, &cpus(8.0), cpus(6.0));
        assert!(c.is_fresh("a", &print, &cpus(8.0)));
        assert_eq!(c.get("a"), Some(&cpus(6.0)));
        // Another total, another offer, one offer fewer: all stale.
        assert!(!c.is_fresh("a", &print, &cpus(16.0)));
        let mut two = print;
        two.offers.add(offer_hash("O2"));
        assert!(!c.is_fresh("a", &two, &cpus(8.0)));
        assert!(!c.is_fresh("a", &Print::default(), &cpus(8.0)));
        c.retain(|agent| agent != "a");
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn the_executors_tally_sees_who_and_how_much() {
        let key = ("f".to_owned(), "e".to_owned());
        let small = ExecutorInfo {
            resources: cpus(0.1).into_protos(),
            ..Default::default()
        };
        let large = ExecutorInfo {
            resources: cpus(0.5).into_protos(),
            ..Default::default()
        };
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
