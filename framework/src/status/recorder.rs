//! What the shell saw lately, for the status page: a bounded ring of recent
//! placements, task state changes and pod events, and the last offer of
//! each agent. It is fed the core's inputs and actions as the run loop
//! handles and performs them, so it tells what really happened; the core's
//! own state is read separately (`SchedulerCore::status`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use jiff::Timestamp;
use kube_mesos_proto::v1::{task_status, TaskState};

use super::model::{AgentStatus, Amounts, CoreStatus, RecentEvent};
use crate::core::{pod_uid_from_task_id, Action, Input, Instant};
use crate::resources::{scalar_sum, Scalars};

/// Entries the ring keeps by default.
pub const DEFAULT_CAPACITY: usize = 200;
/// Pod names remembered for naming task updates (a bound, not a cache of
/// every pod: the oldest names go first).
const NAMES_KEPT: usize = 10_000;

/// The last offer seen from an agent.
#[derive(Clone, Debug)]
struct LastOffer {
    hostname: String,
    resources: Amounts,
    at: Instant,
}

/// See the module docs.
#[derive(Debug)]
pub struct Recorder {
    capacity: usize,
    ring: VecDeque<RecentEvent>,
    /// Pod UID → `namespace/name`, with the insertion order to bound it.
    names: HashMap<String, String>,
    name_order: VecDeque<String>,
    last_offers: BTreeMap<String, LastOffer>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

fn wall(at: Timestamp) -> String {
    Timestamp::from_second(at.as_second())
        .unwrap_or(at)
        .to_string()
}

fn event(at: Timestamp, kind: &str) -> RecentEvent {
    RecentEvent {
        at: wall(at),
        kind: kind.to_owned(),
        pod: None,
        node: None,
        task_id: None,
        state: None,
        detail: String::new(),
    }
}

impl Recorder {
    /// A recorder keeping the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            ring: VecDeque::new(),
            names: HashMap::new(),
            name_order: VecDeque::new(),
            last_offers: BTreeMap::new(),
        }
    }

    fn push(&mut self, e: RecentEvent) {
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back(e);
    }

    fn remember_name(&mut self, uid: &str, name: String) {
        if self.names.insert(uid.to_owned(), name).is_none() {
            self.name_order.push_back(uid.to_owned());
            if self.name_order.len() > NAMES_KEPT {
                if let Some(old) = self.name_order.pop_front() {
                    self.names.remove(&old);
                }
            }
        }
    }

    fn hostname_of(&self, agent_id: &str) -> String {
        self.last_offers
            .get(agent_id)
            .map_or_else(|| agent_id.to_owned(), |o| o.hostname.clone())
    }

    /// Notes an input the core is about to handle.
    pub fn observe_input(&mut self, input: &Input, now: Instant, at: Timestamp) {
        match input {
            Input::PodUpserted(pod) => {
                let m = &pod.metadata;
                if let (Some(uid), Some(name)) = (&m.uid, &m.name) {
                    let ns = m.namespace.as_deref().unwrap_or_default();
                    self.remember_name(uid, format!("{ns}/{name}"));
                }
            }
            Input::Offers(offers) => {
                for offer in offers {
                    let r = &offer.resources;
                    self.last_offers.insert(
                        offer.agent_id.value.clone(),
                        LastOffer {
                            hostname: offer.hostname.clone(),
                            resources: Scalars {
                                cpus: scalar_sum(r, "cpus"),
                                mem: scalar_sum(r, "mem"),
                                disk: scalar_sum(r, "disk"),
                            }
                            .into(),
                            at: now,
                        },
                    );
                }
            }
            Input::TaskUpdate(status) => {
                let mut e = event(at, "Task");
                e.pod = pod_uid_from_task_id(&status.task_id)
                    .and_then(|uid| self.names.get(uid))
                    .cloned();
                e.node = status.agent_id.as_ref().map(|a| self.hostname_of(&a.value));
                e.task_id = Some(status.task_id.value.clone());
                e.state = Some(
                    TaskState::try_from(status.state)
                        .map_or_else(|_| status.state.to_string(), |s| s.as_str_name().into()),
                );
                let reason = status
                    .reason
                    .and_then(|r| task_status::Reason::try_from(r).ok())
                    .map(|r| r.as_str_name());
                e.detail = [reason, status.message.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(": ");
                self.push(e);
            }
            Input::AgentRemoved(agent) | Input::AgentUnreachable(agent) => {
                let kind = if matches!(input, Input::AgentRemoved(_)) {
                    "AgentRemoved"
                } else {
                    "AgentUnreachable"
                };
                let mut e = event(at, kind);
                e.node = Some(self.hostname_of(&agent.value));
                self.push(e);
            }
            _ => {}
        }
    }

    /// Notes an action the shell performs.
    pub fn observe_action(&mut self, action: &Action, at: Timestamp) {
        let pod_name = |p: &crate::core::PodRef| format!("{}/{}", p.namespace, p.name);
        let e = match action {
            Action::Bind { pod, node_name, .. } => {
                let mut e = event(at, "Placed");
                e.pod = Some(pod_name(pod));
                e.node = Some(node_name.clone());
                e
            }
            Action::Annotate { pod, .. } => {
                let mut e = event(at, "Placed");
                e.pod = Some(pod_name(pod));
                e.detail = "on the Node its spec names".into();
                e
            }
            // A placement is shown once, as `Placed`.
            Action::RecordEvent { reason, .. } if reason == "Scheduled" => return,
            Action::RecordEvent {
                pod,
                type_,
                reason,
                message,
            } => {
                let mut e = event(at, reason);
                e.pod = Some(pod_name(pod));
                e.state = Some(type_.as_str().into());
                e.detail = message.clone();
                e
            }
            Action::FailPod {
                pod,
                reason,
                message,
                ..
            } => {
                let mut e = event(at, "PodFailed");
                e.pod = Some(pod_name(pod));
                e.detail = format!("{reason}: {message}");
                e
            }
            Action::Kill {
                task_id, agent_id, ..
            } => {
                let mut e = event(at, "Kill");
                e.pod = pod_uid_from_task_id(task_id)
                    .and_then(|uid| self.names.get(uid))
                    .cloned();
                e.node = agent_id.as_ref().map(|a| self.hostname_of(&a.value));
                e.task_id = Some(task_id.value.clone());
                e
            }
            _ => return,
        };
        self.push(e);
    }

    /// Recent events, newest first.
    pub fn recent(&self) -> Vec<RecentEvent> {
        self.ring.iter().rev().cloned().collect()
    }

    /// Adds the last offer of each agent to the core's agent rows, and a
    /// row for an agent known only by its offers.
    pub fn fill_last_offers(&self, core: &mut CoreStatus, now: Instant) {
        for (agent_id, offer) in &self.last_offers {
            let ago = now.saturating_duration_since(offer.at).as_secs_f64();
            let row = core.agents.iter_mut().find(|a| {
                a.agent_id.as_deref() == Some(agent_id.as_str()) || a.node == offer.hostname
            });
            match row {
                Some(row) => {
                    row.agent_id.get_or_insert_with(|| agent_id.clone());
                    row.last_offer = Some((offer.resources, ago));
                }
                None => core.agents.push(AgentStatus {
                    node: offer.hostname.clone(),
                    agent_id: Some(agent_id.clone()),
                    pods: 0,
                    allocated: Amounts::default(),
                    offered_now: Amounts::default(),
                    offers_held: 0,
                    last_offer: Some((offer.resources, ago)),
                    cordoned: false,
                    maintenance: None,
                    executors: Vec::new(),
                }),
            }
        }
        core.agents.sort_by(|a, b| a.node.cmp(&b.node));
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube_mesos_proto::v1::{AgentId, Offer, OfferId, TaskId, TaskStatus};

    use super::*;
    use crate::core::{task_id_for_pod, PodRef};
    use crate::resources::build::scalar;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn pod_ref(name: &str) -> PodRef {
        PodRef {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_events_first_and_is_bounded() {
        let mut r = Recorder::new(3);
        for i in 0..5 {
            r.observe_action(
                &Action::Bind {
                    pod: pod_ref(&format!("p{i}")),
                    node_name: "h".into(),
                    annotations: Default::default(),
                },
                t(i),
            );
        }
        let recent = r.recent();
        let pods: Vec<_> = recent.iter().filter_map(|e| e.pod.as_deref()).collect();
        assert_eq!(pods, ["ns/p4", "ns/p3", "ns/p2"]);
        assert_eq!(recent[0].kind, "Placed");
        assert_eq!(recent[0].at, "2023-11-14T22:13:24Z");
    }

    #[test]
    fn a_task_update_is_named_after_its_pod_and_agent() {
        let mut r = Recorder::default();
        let now = Instant::now();
        let pod = Pod {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: Some("web".into()),
                uid: Some("u1".into()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        };
        r.observe_input(&Input::PodUpserted(Box::new(pod)), now, t(0));
        let offer = Offer {
            id: OfferId { value: "o".into() },
            agent_id: AgentId { value: "a1".into() },
            hostname: "host-1".into(),
            resources: vec![scalar("cpus", 2.0, "*"), scalar("mem", 512.0, "*")],
            ..Offer::default()
        };
        r.observe_input(&Input::Offers(vec![offer]), now, t(0));
        let status = TaskStatus {
            task_id: task_id_for_pod("u1", 0),
            state: TaskState::TaskFailed as i32,
            reason: Some(task_status::Reason::ExecutorTerminated as i32),
            message: Some("exit 1".into()),
            agent_id: Some(AgentId { value: "a1".into() }),
            ..TaskStatus::default()
        };
        r.observe_input(&Input::TaskUpdate(Box::new(status)), now, t(1));
        r.observe_action(
            &Action::RecordEvent {
                pod: pod_ref("web"),
                type_: crate::core::EventType::Normal,
                reason: "Scheduled".into(),
                message: "assigned".into(),
            },
            t(2),
        );
        r.observe_action(
            &Action::Kill {
                task_id: TaskId {
                    value: "not-ours".into(),
                },
                agent_id: None,
                kill_policy: None,
            },
            t(3),
        );
        let recent = r.recent();
        assert_eq!(recent.len(), 2, "Scheduled is not repeated: {recent:?}");
        assert_eq!(recent[0].kind, "Kill");
        assert_eq!(recent[0].pod, None);
        let task = &recent[1];
        assert_eq!(task.pod.as_deref(), Some("ns/web"));
        assert_eq!(task.node.as_deref(), Some("host-1"));
        assert_eq!(task.state.as_deref(), Some("TASK_FAILED"));
        assert_eq!(
            task.detail, "REASON_EXECUTOR_TERMINATED: exit 1",
            "{task:?}"
        );

        let mut core = CoreStatus::default();
        r.fill_last_offers(&mut core, now);
        assert_eq!(core.agents.len(), 1);
        assert_eq!(core.agents[0].node, "host-1");
        let (amounts, _) = core.agents[0].last_offer.expect("last offer");
        assert_eq!((amounts.cpus, amounts.mem), (2.0, 512.0));
    }
}
