//! Mesos maintenance: draining an agent before its unavailability window.
//!
//! An operator posts a maintenance schedule to the master
//! (`UPDATE_MAINTENANCE_SCHEDULE`); from then on every offer of an agent
//! in the schedule carries `Offer.unavailability`, and the master sends
//! the framework inverse offers for it (`Event.offers.inverse_offers`).
//! The framework answers with `ACCEPT_INVERSE_OFFERS` (it will be off the
//! agent in time) or `DECLINE_INVERSE_OFFERS` (it cannot); the master only
//! reports the answer in `GET_MAINTENANCE_STATUS` — it never forces
//! anything until `START_MAINTENANCE` (Mesos 1.11,
//! `src/master/maintenance.cpp`, `Master::inverseOffer`).
//!
//! For an agent whose window starts within the horizon, this machine does
//! what `kubectl drain` does to its Node, then answers Mesos:
//! - cordon the Node (`spec.unschedulable` and the
//!   `node.kubernetes.io/unschedulable:NoSchedule` taint), recording with
//!   [`ANNOTATION_CORDONED`] that the framework did it, so that only such
//!   Nodes are uncordoned afterwards (a Node an operator cordoned stays);
//! - evict our pods there through the Eviction API; a pod without a
//!   controller is not evicted (`kubectl drain`: "cannot delete Pods that
//!   declare no controller"), and a 429 (a PodDisruptionBudget) is tried
//!   again after [`EVICTION_RETRY`], as `kubectl drain` does;
//! - accept the inverse offers once the agent has no pods of ours; decline
//!   them, with a Warning event on the Node naming the pods that cannot
//!   move, when a pod has no controller or the window has started with pods
//!   still there;
//! - uncordon when the agent leaves the schedule or its window is no longer
//!   within the horizon.
//!
//! The placement side asks [`Maintenance::avoids`] so no new pod lands on a
//! draining agent. Everything here is pure: the shell feeds [`Input`]s with
//! the wall-clock time (Mesos windows are wall-clock: `TimeInfo` is
//! nanoseconds since the epoch) and performs the returned [`Action`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Annotation on a Node the framework cordoned for maintenance (value: the
/// Mesos agent ID). Only Nodes carrying it are uncordoned by the framework.
pub const ANNOTATION_CORDONED: &str = "kube-mesos.io/maintenance-cordoned";

/// How long an eviction refused with 429 waits before it is tried again
/// (`kubectl drain`: "will retry after 5s").
pub const EVICTION_RETRY: Duration = Duration::from_secs(5);

/// Default horizon: agents whose window starts within it are drained.
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(3600);

/// Wall-clock time as a duration since the Unix epoch.
pub type Wall = Duration;

/// An unavailability window (`mesos.v1.Unavailability`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// `start`, since the epoch.
    pub start: Wall,
    /// `duration`; `None` is infinite, as in Mesos.
    pub duration: Option<Duration>,
}

impl Window {
    /// From `Unavailability.start.nanoseconds` and
    /// `Unavailability.duration.nanoseconds`; a start before the epoch is
    /// the epoch, a negative duration is none.
    pub fn from_nanos(start: i64, duration: Option<i64>) -> Window {
        let nanos = |n: i64| Duration::from_nanos(u64::try_from(n).unwrap_or(0));
        Window {
            start: nanos(start),
            duration: duration.map(nanos),
        }
    }
}

/// A pod of ours, by namespace and name, and its UID (for the
/// `involvedObject` of its Events: `kubectl describe pod` shows only the
/// events whose UID is the pod's).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodKey {
    /// metadata.namespace
    pub namespace: String,
    /// metadata.name
    pub name: String,
    /// metadata.uid
    pub uid: String,
}

impl PodKey {
    /// `namespace/name`, as kubectl prints it.
    pub fn display(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A pod of ours on an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodOnAgent {
    /// The pod.
    pub key: PodKey,
    /// Whether an ownerReference with `controller: true` names it; only
    /// such pods are evicted (something recreates them elsewhere).
    pub has_controller: bool,
}

/// The answer to one eviction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvictionOutcome {
    /// 201: the pod is being deleted gracefully.
    Evicted,
    /// 404: the pod is already gone.
    NotFound,
    /// 429: a PodDisruptionBudget forbids it now; the server's message.
    TooManyRequests(String),
    /// Anything else (the API server away, 500 for overlapping budgets):
    /// tried again after [`EVICTION_RETRY`] too.
    Failed(String),
}

/// What the shell saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The agent's current unavailability, from its offers or inverse
    /// offers; `None` once the agent has left the schedule (an offer
    /// without `unavailability`, or its inverse offers rescinded).
    Unavailability {
        /// Mesos agent ID.
        agent: String,
        /// Its Node's name (the agent's hostname).
        node: String,
        /// The window.
        window: Option<Window>,
    },
    /// An inverse offer for the agent.
    InverseOffer {
        /// InverseOffer.id
        id: String,
        /// InverseOffer.agent_id
        agent: String,
        /// The agent's Node.
        node: String,
        /// InverseOffer.unavailability
        window: Window,
    },
    /// `RESCIND_INVERSE_OFFER`.
    InverseOfferRescinded {
        /// The inverse offer.
        id: String,
    },
    /// The Node as the API server has it.
    Node {
        /// Node name.
        node: String,
        /// `spec.unschedulable`.
        unschedulable: bool,
        /// Whether it carries [`ANNOTATION_CORDONED`].
        cordoned_by_us: bool,
    },
    /// All our pods on the agent, now.
    Pods {
        /// Mesos agent ID.
        agent: String,
        /// The pods.
        pods: Vec<PodOnAgent>,
    },
    /// An eviction the shell made.
    Evicted {
        /// The pod.
        pod: PodKey,
        /// Its result.
        outcome: EvictionOutcome,
    },
    /// Time passed; see [`Maintenance::next_deadline`].
    Tick,
}

pub use kube_mesos_node::events::EventType;

/// The object an event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventObject {
    /// A Node.
    Node(String),
    /// A pod.
    Pod(PodKey),
}

/// What the shell does, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Patch the Node as `kubectl cordon` does, and add
    /// [`ANNOTATION_CORDONED`] with the agent ID.
    Cordon {
        /// Node name.
        node: String,
        /// Mesos agent ID (the annotation's value).
        agent: String,
    },
    /// Undo [`Action::Cordon`]: `spec.unschedulable` false, the taint and
    /// the annotation removed.
    Uncordon {
        /// Node name.
        node: String,
    },
    /// POST pods/<name>/eviction (policy/v1) and report with
    /// [`Input::Evicted`].
    Evict {
        /// The pod.
        pod: PodKey,
    },
    /// ACCEPT_INVERSE_OFFERS.
    AcceptInverseOffers {
        /// The inverse offers.
        ids: Vec<String>,
    },
    /// DECLINE_INVERSE_OFFERS.
    DeclineInverseOffers {
        /// The inverse offers.
        ids: Vec<String>,
    },
    /// Record a core/v1 Event.
    Event {
        /// About what.
        object: EventObject,
        /// Normal or Warning.
        kind: EventType,
        /// Reason (CamelCase).
        reason: &'static str,
        /// Message, in kubectl's words where kubectl has some.
        message: String,
    },
}

/// Where one pod's eviction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Eviction {
    /// Not asked yet.
    NotAsked,
    /// Asked; no answer yet.
    InFlight,
    /// Refused; try again at this time.
    RetryAt(Wall),
    /// Accepted: the pod is going.
    Done,
}

#[derive(Clone, Debug)]
struct PodState {
    has_controller: bool,
    eviction: Eviction,
    /// A refusal was reported already (one Warning per pod per drain).
    refusal_reported: bool,
}

#[derive(Clone, Debug, Default)]
struct AgentState {
    node: String,
    window: Option<Window>,
    inverse_offers: BTreeSet<String>,
    pods: BTreeMap<PodKey, PodState>,
    /// A Cordon was issued and the Node has not been seen cordoned since.
    cordon_issued: bool,
    /// An Uncordon was issued and the Node has not been seen since.
    uncordon_issued: bool,
    /// Pods named in the last decline's Warning (not said again unchanged).
    last_declined: Vec<PodKey>,
}

/// The maintenance drain of every agent, by agent ID.
#[derive(Clone, Debug)]
pub struct Maintenance {
    horizon: Duration,
    agents: BTreeMap<String, AgentState>,
    /// Nodes as last seen, by name: (unschedulable, cordoned_by_us). Kept
    /// apart from agents: the Node may be seen before its agent's offers.
    nodes: BTreeMap<String, (bool, bool)>,
}

impl Maintenance {
    /// Drains agents whose window starts within `horizon`.
    pub fn new(horizon: Duration) -> Maintenance {
        Maintenance {
            horizon,
            agents: BTreeMap::new(),
            nodes: BTreeMap::new(),
        }
    }

    /// The agents it has heard of (scheduled or once scheduled).
    pub fn agents(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }

    /// Whether `pods` differ from the agent's pods as last fed, so the
    /// shell feeds [`Input::Pods`] only on a change.
    pub fn pods_changed(&self, agent: &str, pods: &[PodOnAgent]) -> bool {
        let Some(a) = self.agents.get(agent) else {
            return !pods.is_empty();
        };
        a.pods.len() != pods.len()
            || pods.iter().any(|p| {
                a.pods
                    .get(&p.key)
                    .is_none_or(|s| s.has_controller != p.has_controller)
            })
    }

    /// Whether new pods must not go to the agent (it is draining).
    pub fn avoids(&self, agent: &str, now: Wall) -> bool {
        self.agents
            .get(agent)
            .is_some_and(|a| self.draining(a, now))
    }

    /// When [`Input::Tick`] is next needed: an eviction to retry, or a
    /// window entering the horizon or starting.
    pub fn next_deadline(&self, now: Wall) -> Option<Wall> {
        let mut deadlines = Vec::new();
        for a in self.agents.values() {
            if let Some(w) = a.window {
                deadlines.push(w.start.saturating_sub(self.horizon));
                deadlines.push(w.start);
            }
            deadlines.extend(a.pods.values().filter_map(|p| match p.eviction {
                Eviction::RetryAt(at) => Some(at),
                _ => None,
            }));
        }
        deadlines.into_iter().filter(|d| *d > now).min()
    }

    /// The agent's maintenance state in an operator's words, for the
    /// status page; `None` when no window is scheduled for it.
    pub fn describe(&self, agent: &str, now: Wall) -> Option<String> {
        let a = self.agents.get(agent)?;
        let w = a.window?;
        let at = w.start.as_secs();
        if now >= w.start {
            return Some(format!("in maintenance since {at} (unix s)"));
        }
        if !self.draining(a, now) {
            return Some(format!(
                "scheduled for {at} (unix s), outside the {}s horizon",
                self.horizon.as_secs()
            ));
        }
        let left = a.pods.len();
        if left == 0 {
            return Some(format!("drained, window at {at} (unix s)"));
        }
        let blocked = a
            .pods
            .values()
            .filter(|p| !p.has_controller || matches!(p.eviction, Eviction::RetryAt(_)))
            .count();
        Some(format!(
            "draining, window at {at} (unix s): {left} pod(s) left, {blocked} cannot move yet"
        ))
    }

    fn draining(&self, a: &AgentState, now: Wall) -> bool {
        a.window
            .is_some_and(|w| w.start.saturating_sub(self.horizon) <= now)
    }

    /// The agent's state, its Node's name updated.
    fn agent(&mut self, agent: &str, node: String) -> &mut AgentState {
        let a = self.agents.entry(agent.to_owned()).or_default();
        a.node = node;
        a
    }

    /// Takes one input at wall-clock `now`; returns the actions to perform.
    pub fn handle(&mut self, now: Wall, input: Input) -> Vec<Action> {
        let touched: Vec<String> = match input {
            Input::Unavailability {
                agent,
                node,
                window,
            } => {
                // Every offer says this of its agent; one never scheduled
                // whose Node we did not cordon is not tracked, so the
                // drain's work stays proportional to the agents in
                // maintenance, not to the pool.
                let cordoned_by_us = self.nodes.get(&node).is_some_and(|n| n.1);
                if window.is_none() && !cordoned_by_us && !self.agents.contains_key(&agent) {
                    return Vec::new();
                }
                self.agent(&agent, node).window = window;
                vec![agent]
            }
            Input::InverseOffer {
                id,
                agent,
                node,
                window,
            } => {
                let a = self.agent(&agent, node);
                a.window = Some(window);
                a.inverse_offers.insert(id);
                vec![agent]
            }
            Input::InverseOfferRescinded { id } => {
                let mut touched = Vec::new();
                for (agent, a) in &mut self.agents {
                    if a.inverse_offers.remove(&id) {
                        touched.push(agent.clone());
                    }
                }
                touched
            }
            Input::Node {
                node,
                unschedulable,
                cordoned_by_us,
            } => {
                let mut touched = Vec::new();
                self.nodes
                    .insert(node.clone(), (unschedulable, cordoned_by_us));
                for (agent, a) in &mut self.agents {
                    if a.node == node {
                        a.cordon_issued &= !unschedulable;
                        a.uncordon_issued = false;
                        touched.push(agent.clone());
                    }
                }
                touched
            }
            Input::Pods { agent, pods } => {
                let a = self.agents.entry(agent.clone()).or_default();
                let mut old = std::mem::take(&mut a.pods);
                for p in pods {
                    let state = old.remove(&p.key).unwrap_or(PodState {
                        has_controller: p.has_controller,
                        eviction: Eviction::NotAsked,
                        refusal_reported: false,
                    });
                    a.pods.insert(
                        p.key,
                        PodState {
                            has_controller: p.has_controller,
                            ..state
                        },
                    );
                }
                vec![agent]
            }
            Input::Evicted { pod, outcome } => {
                let mut actions = Vec::new();
                let mut touched = Vec::new();
                for (agent, a) in &mut self.agents {
                    let Some(p) = a.pods.get_mut(&pod) else {
                        continue;
                    };
                    touched.push(agent.clone());
                    match &outcome {
                        EvictionOutcome::Evicted => {
                            p.eviction = Eviction::Done;
                            actions.push(event(
                                EventObject::Pod(pod.clone()),
                                EventType::Normal,
                                "Evicted",
                                format!("pod/{} evicted", pod.name),
                            ));
                        }
                        EvictionOutcome::NotFound => {
                            a.pods.remove(&pod);
                        }
                        EvictionOutcome::TooManyRequests(msg) | EvictionOutcome::Failed(msg) => {
                            p.eviction = Eviction::RetryAt(now + EVICTION_RETRY);
                            if !p.refusal_reported {
                                p.refusal_reported = true;
                                actions.push(event(EventObject::Pod(pod.clone()),
                                    EventType::Warning,
                                    "EvictionBlocked",
                                    format!(
                                        "error when evicting pods/{:?} -n {:?} (will retry after {}s): {msg}",
                                        pod.name,
                                        pod.namespace,
                                        EVICTION_RETRY.as_secs()
                                    ),
                                ));
                            }
                        }
                    }
                }
                for agent in touched {
                    actions.extend(self.step(&agent, now));
                }
                return actions;
            }
            Input::Tick => self.agents.keys().cloned().collect(),
        };
        touched
            .iter()
            .flat_map(|agent| self.step(agent, now))
            .collect()
    }

    /// Brings one agent's drain forward.
    fn step(&mut self, agent: &str, now: Wall) -> Vec<Action> {
        let draining = match self.agents.get(agent) {
            Some(a) => self.draining(a, now),
            None => return Vec::new(),
        };
        let Some(a) = self.agents.get_mut(agent) else {
            return Vec::new();
        };
        let seen = self.nodes.get(&a.node).copied();
        let mut actions = Vec::new();
        if !draining {
            for p in a.pods.values_mut() {
                p.eviction = Eviction::NotAsked;
                p.refusal_reported = false;
            }
            a.last_declined.clear();
            a.cordon_issued = false;
            if seen.is_some_and(|(_, ours)| ours) && !a.uncordon_issued {
                a.uncordon_issued = true;
                actions.push(Action::Uncordon {
                    node: a.node.clone(),
                });
                actions.push(event(EventObject::Node(a.node.clone()),
                    EventType::Normal,
                    "Uncordoned",
                    format!("node/{} uncordoned: Mesos agent {agent} is no longer scheduled for maintenance", a.node),
                ));
            }
            // Nothing of ours to move: say so at once; otherwise the
            // inverse offers wait for the horizon.
            if a.pods.is_empty() && !a.inverse_offers.is_empty() {
                actions.push(Action::AcceptInverseOffers {
                    ids: std::mem::take(&mut a.inverse_offers).into_iter().collect(),
                });
            }
            return actions;
        }
        let window = a.window.unwrap_or(Window {
            start: now,
            duration: None,
        });
        // Cordon, unless the Node is unschedulable already (an operator's
        // cordon is left as it is, and not recorded as ours).
        if let Some((unschedulable, _)) = seen {
            if !unschedulable && !a.cordon_issued {
                a.cordon_issued = true;
                actions.push(Action::Cordon {
                    node: a.node.clone(),
                    agent: agent.to_owned(),
                });
                actions.push(event(
                    EventObject::Node(a.node.clone()),
                    EventType::Normal,
                    "Cordoned",
                    format!(
                        "node/{} cordoned: Mesos agent {agent} is scheduled for maintenance in {}s",
                        a.node,
                        window.start.saturating_sub(now).as_secs()
                    ),
                ));
            }
        }
        for (key, p) in &mut a.pods {
            if !p.has_controller {
                continue;
            }
            let due = match p.eviction {
                Eviction::NotAsked => true,
                Eviction::RetryAt(at) => at <= now,
                Eviction::InFlight | Eviction::Done => false,
            };
            if due {
                if p.eviction == Eviction::NotAsked {
                    actions.push(event(
                        EventObject::Pod(key.clone()),
                        EventType::Normal,
                        "Evicting",
                        format!(
                            "evicting pod {}: Mesos agent {agent} is scheduled for maintenance",
                            key.display()
                        ),
                    ));
                }
                p.eviction = Eviction::InFlight;
                actions.push(Action::Evict { pod: key.clone() });
            }
        }
        if a.inverse_offers.is_empty() {
            return actions;
        }
        if a.pods.is_empty() {
            a.last_declined.clear();
            actions.push(Action::AcceptInverseOffers {
                ids: std::mem::take(&mut a.inverse_offers).into_iter().collect(),
            });
            return actions;
        }
        let started = window.start <= now;
        let stuck: Vec<PodKey> = a
            .pods
            .iter()
            .filter(|(_, p)| started || !p.has_controller)
            .map(|(k, _)| k.clone())
            .collect();
        if !stuck.is_empty() {
            actions.push(Action::DeclineInverseOffers {
                ids: std::mem::take(&mut a.inverse_offers).into_iter().collect(),
            });
            if stuck != a.last_declined {
                let names: Vec<String> = stuck.iter().map(PodKey::display).collect();
                actions.push(event(
                    EventObject::Node(a.node.clone()),
                    EventType::Warning,
                    "MaintenanceDeclined",
                    format!(
                        "declined the maintenance of Mesos agent {agent}: pods cannot be moved: {}",
                        names.join(", ")
                    ),
                ));
                a.last_declined = stuck;
            }
        }
        actions
    }
}

fn event(object: EventObject, kind: EventType, reason: &'static str, message: String) -> Action {
    Action::Event {
        object,
        kind,
        reason,
        message,
    }
}

#[cfg(test)]
mod tests;
