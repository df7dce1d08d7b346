//! Evicting pods an outdated executor keeps (issue 23, opt-in).
//!
//! A process-runtime pod cannot be handed over to the current executor
//! ([`super::generations`]): its executor keeps it (`kube-mesos.io/handover=kept`)
//! and the old executor stays until the pod ends. With
//! `--evict-kept-pods`, pods kept that have a controller are evicted
//! through the Eviction API — the same evictor as maintenance, so
//! PodDisruptionBudgets hold — and their controllers recreate them on the
//! current executor. One agent at a time: the next agent's pods are
//! evicted once none of the current agent's remain, so an upgrade never
//! takes a service's pods down everywhere at once. Pods without a
//! controller stay (nothing would recreate them).
//!
//! Pure: the shell feeds the kept pods per agent (from the core) and the
//! eviction answers, with the wall-clock time, and performs the
//! [`Action`]s (the maintenance drain's).

use std::collections::BTreeMap;

use super::maintenance::{
    Action, EventObject, EventType, EvictionOutcome, PodKey, PodOnAgent, Wall, EVICTION_RETRY,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    InFlight,
    RetryAt(Wall),
    Done,
}

/// Which agent's kept pods are being evicted, and how each eviction stands.
#[derive(Clone, Debug, Default)]
pub struct KeptEvictions {
    agent: Option<String>,
    asked: BTreeMap<PodKey, Asked>,
    /// Pods whose refusal was reported (one Warning each).
    reported: Vec<PodKey>,
}

fn movable(pods: Option<&Vec<PodOnAgent>>) -> Vec<PodKey> {
    pods.into_iter()
        .flatten()
        .filter(|p| p.has_controller)
        .map(|p| p.key.clone())
        .collect()
}

impl KeptEvictions {
    /// The agent whose pods are being evicted now.
    pub fn agent(&self) -> Option<&str> {
        self.agent.as_deref()
    }

    /// When [`KeptEvictions::step`] is next due (a refused eviction).
    pub fn next_deadline(&self) -> Option<Wall> {
        self.asked
            .values()
            .filter_map(|a| match a {
                Asked::RetryAt(at) => Some(*at),
                _ => None,
            })
            .min()
    }

    /// With the kept pods per agent now: evictions due on the current agent,
    /// or on the next agent once the current one has none left.
    pub fn step(&mut self, kept: &BTreeMap<String, Vec<PodOnAgent>>, now: Wall) -> Vec<Action> {
        let current = self
            .agent
            .clone()
            .filter(|a| !movable(kept.get(a)).is_empty());
        let agent = match current {
            Some(a) => a,
            None => {
                self.asked.clear();
                self.reported.clear();
                match kept
                    .iter()
                    .find(|(_, pods)| pods.iter().any(|p| p.has_controller))
                {
                    Some((a, _)) => a.clone(),
                    None => {
                        self.agent = None;
                        return Vec::new();
                    }
                }
            }
        };
        self.agent = Some(agent.clone());
        let mut actions = Vec::new();
        for key in movable(kept.get(&agent)) {
            let due = match self.asked.get(&key) {
                None => {
                    actions.push(Action::Event {
                        object: EventObject::Pod(key.clone()),
                        kind: EventType::Normal,
                        reason: "Evicting",
                        message: format!(
                            "evicting pod {}: its executor on Mesos agent {agent} is of an older configuration and keeps it (process runtime pods cannot be handed over)",
                            key.display()
                        ),
                    });
                    true
                }
                Some(Asked::RetryAt(at)) => *at <= now,
                Some(Asked::InFlight | Asked::Done) => false,
            };
            if due {
                self.asked.insert(key.clone(), Asked::InFlight);
                actions.push(Action::Evict { pod: key });
            }
        }
        actions
    }

    /// An eviction's answer (ignored for pods not evicted here).
    pub fn evicted(&mut self, pod: &PodKey, outcome: &EvictionOutcome, now: Wall) -> Vec<Action> {
        let Some(asked) = self.asked.get_mut(pod) else {
            return Vec::new();
        };
        match outcome {
            EvictionOutcome::Evicted | EvictionOutcome::NotFound => {
                *asked = Asked::Done;
                Vec::new()
            }
            EvictionOutcome::TooManyRequests(msg) | EvictionOutcome::Failed(msg) => {
                *asked = Asked::RetryAt(now + EVICTION_RETRY);
                if self.reported.contains(pod) {
                    return Vec::new();
                }
                self.reported.push(pod.clone());
                vec![Action::Event {
                    object: EventObject::Pod(pod.clone()),
                    kind: EventType::Warning,
                    reason: "EvictionBlocked",
                    message: format!(
                        "error when evicting pods/{:?} -n {:?} (will retry after {}s): {msg}",
                        pod.name,
                        pod.namespace,
                        EVICTION_RETRY.as_secs()
                    ),
                }]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(name: &str) -> PodKey {
        PodKey {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        }
    }

    fn kept(pods: &[(&str, &[(&str, bool)])]) -> BTreeMap<String, Vec<PodOnAgent>> {
        pods.iter()
            .map(|(agent, ps)| {
                (
                    agent.to_string(),
                    ps.iter()
                        .map(|(n, c)| PodOnAgent {
                            key: key(n),
                            has_controller: *c,
                        })
                        .collect(),
                )
            })
            .collect()
    }

    fn evicts(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Evict { pod } => Some(pod.name.clone()),
                _ => None,
            })
            .collect()
    }

    const T0: Wall = Duration::from_secs(1_000);

    #[test]
    fn one_agent_at_a_time_and_only_pods_with_a_controller() {
        let mut k = KeptEvictions::default();
        let both = kept(&[
            ("a1", &[("web-1", true), ("bare", false)]),
            ("a2", &[("web-2", true)]),
        ]);
        assert_eq!(evicts(&k.step(&both, T0)), ["web-1"]);
        assert_eq!(k.agent(), Some("a1"));
        // Asked once; nothing again while in flight or once evicted.
        assert!(evicts(&k.step(&both, T0)).is_empty());
        k.evicted(&key("web-1"), &EvictionOutcome::Evicted, T0);
        assert!(evicts(&k.step(&both, T0)).is_empty());
        // web-1 gone from a1 (only the bare pod stays): a2's turn.
        let after = kept(&[("a1", &[("bare", false)]), ("a2", &[("web-2", true)])]);
        assert_eq!(evicts(&k.step(&after, T0)), ["web-2"]);
        assert_eq!(k.agent(), Some("a2"));
        // Nothing movable left anywhere.
        let done = kept(&[("a1", &[("bare", false)])]);
        assert!(k.step(&done, T0).is_empty());
        assert_eq!(k.agent(), None);
    }

    #[test]
    fn a_budget_refusal_is_retried_after_five_seconds_and_said_once() {
        let mut k = KeptEvictions::default();
        let pods = kept(&[("a1", &[("web-1", true)])]);
        k.step(&pods, T0);
        let refused = EvictionOutcome::TooManyRequests(
            "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        );
        let warn = k.evicted(&key("web-1"), &refused, T0);
        assert!(matches!(
            &warn[..],
            [Action::Event {
                reason: "EvictionBlocked",
                ..
            }]
        ));
        assert_eq!(k.next_deadline(), Some(T0 + EVICTION_RETRY));
        assert!(evicts(&k.step(&pods, T0 + Duration::from_secs(4))).is_empty());
        assert_eq!(
            evicts(&k.step(&pods, T0 + EVICTION_RETRY)),
            ["web-1"],
            "asked again"
        );
        assert!(
            k.evicted(&key("web-1"), &refused, T0).is_empty(),
            "said once"
        );
        // Not ours: ignored.
        assert!(k.evicted(&key("other"), &refused, T0).is_empty());
    }
}
