//! The read-only view of the core for the status page
//! ([`crate::status`]): what it holds now, taken from its own state so the
//! page never guesses. Nothing here changes the core.

use std::collections::BTreeMap;

use super::{node_name, PodRead, PodState, SchedulerCore};
use crate::core::Instant;
use crate::resources::{scalar_sum, Scalars};
use crate::status::model::{
    AgentStatus, CoreStatus, ExecutorStatus, HeldOfferStatus, OfferInterest, PendingPod,
    RelaunchingPod, PENDING_LISTED,
};

fn offered(resources: &[kube_mesos_proto::v1::Resource]) -> Scalars {
    Scalars {
        cpus: scalar_sum(resources, "cpus"),
        mem: scalar_sum(resources, "mem"),
        disk: scalar_sum(resources, "disk"),
    }
}

/// An agent's row while it is being gathered.
#[derive(Default)]
struct AgentRow {
    agent_id: Option<String>,
    pods: usize,
    allocated: Scalars,
    offered: Scalars,
    offers: usize,
    executors: BTreeMap<String, usize>,
}

impl SchedulerCore {
    /// What the status page shows of the core at `now`.
    pub fn status(&self, now: Instant) -> CoreStatus {
        let seconds = |d: std::time::Duration| d.as_secs_f64();
        let pending = self
            .queue
            .first(PENDING_LISTED)
            .into_iter()
            .filter_map(|uid| {
                let entry = self.pods.get(uid)?;
                let queued = self.queue.get(uid)?;
                let pod = &entry.pod;
                let last = match &entry.state {
                    PodState::Queued { last_event } => last_event.as_ref().map(|(m, _)| m.clone()),
                    _ => None,
                };
                Some(PendingPod {
                    namespace: pod.namespace().unwrap_or_default().to_owned(),
                    name: pod.name().unwrap_or_default().to_owned(),
                    uid: uid.to_owned(),
                    priority: queued.priority,
                    attempts: queued.attempts,
                    queued_seconds: seconds(now.saturating_duration_since(queued.queued_at)),
                    backoff_seconds: queued
                        .backoff_until
                        .filter(|until| *until > now)
                        .map(|until| seconds(until - now)),
                    last_failed_scheduling: last,
                })
            })
            .collect();

        // A pod just placed has no nodeName until the watch shows its
        // binding: name its agent as other pods and the offers do.
        let mut hostnames: BTreeMap<&str, &str> = BTreeMap::new();
        for held in &self.held {
            hostnames.insert(&held.offer.agent_id.value, &held.offer.hostname);
        }
        for entry in self.pods.values() {
            if let (PodState::Task(track), Some(node)) = (&entry.state, node_name(&entry.pod)) {
                if let Some(agent) = &track.agent_id {
                    hostnames.insert(&agent.value, node);
                }
            }
        }
        let mut agents: BTreeMap<String, AgentRow> = BTreeMap::new();
        let mut relaunching = Vec::new();
        for entry in self.pods.values() {
            let pod = &entry.pod;
            match &entry.state {
                PodState::Task(track) if track.is_live() => {
                    let agent = track.agent_id.as_ref().map(|a| a.value.as_str());
                    let Some(node) = node_name(&entry.pod)
                        .or_else(|| hostnames.get(agent?).copied())
                        .or(agent)
                    else {
                        continue;
                    };
                    let row = agents.entry(node.to_owned()).or_default();
                    if let Some(agent) = &track.agent_id {
                        row.agent_id.get_or_insert_with(|| agent.value.clone());
                    }
                    row.pods += 1;
                    row.allocated = row.allocated.plus(entry.requests.request.to_scalars());
                    if let Some(executor) = &track.executor_id {
                        *row.executors.entry(executor.value.clone()).or_default() += 1;
                    }
                }
                PodState::Relaunch {
                    agent_id,
                    reason,
                    message,
                    ..
                } => relaunching.push(RelaunchingPod {
                    namespace: pod.namespace().unwrap_or_default().to_owned(),
                    name: pod.name().unwrap_or_default().to_owned(),
                    agent_id: agent_id.value.clone(),
                    reason: (*reason).to_owned(),
                    message: message.clone(),
                }),
                _ => {}
            }
        }
        relaunching.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

        let mut offers = Vec::new();
        for held in &self.held {
            let offer = &held.offer;
            let scalars = offered(&offer.resources);
            let row = agents.entry(offer.hostname.clone()).or_default();
            row.agent_id = Some(offer.agent_id.value.clone());
            row.offered = row.offered.plus(scalars);
            row.offers += 1;
            offers.push(HeldOfferStatus {
                offer_id: offer.id.value.clone(),
                agent_id: offer.agent_id.value.clone(),
                hostname: offer.hostname.clone(),
                resources: scalars.into(),
                unavailable_from: offer
                    .unavailability
                    .as_ref()
                    .map(|u| u.start.nanoseconds.div_euclid(1_000_000_000)),
            });
        }
        for name in self.nodes.keys() {
            agents.entry(name.clone()).or_default();
        }
        let agents = agents
            .into_iter()
            .map(|(node, row)| {
                let maintenance = row
                    .agent_id
                    .as_ref()
                    .and_then(|a| self.maintenance_states.get(a).cloned());
                AgentStatus {
                    cordoned: self.nodes.get(&node).is_some_and(|n| n.facts.unschedulable),
                    node,
                    agent_id: row.agent_id,
                    pods: row.pods,
                    allocated: row.allocated.into(),
                    offered_now: row.offered.into(),
                    offers_held: row.offers,
                    last_offer: None,
                    maintenance,
                    executors: row
                        .executors
                        .into_iter()
                        .map(|(executor_id, pods)| ExecutorStatus {
                            current: executor_id == self.executor_id.value,
                            executor_id,
                            pods,
                        })
                        .collect(),
                }
            })
            .collect();

        CoreStatus {
            framework_id: self.framework_id.as_ref().map(|id| id.value.clone()),
            connected: self.connected,
            synced: self.synced,
            current_executor: self.executor_id.value.clone(),
            pending,
            pending_total: self.queue.len(),
            relaunching,
            agents,
            offers,
            offer_interest: OfferInterest {
                suppressed: self.suppressed,
                revive_wanted: self.revive_wanted,
                last_revive_seconds: self
                    .last_revive
                    .map(|t| seconds(now.saturating_duration_since(t))),
                refuse_filters_active: self.filters_active,
                revives: self.metrics.revives,
                suppresses: self.metrics.suppresses,
                offers_received: self.metrics.offers_received,
                offers_used: self.metrics.offers_used,
                offers_declined: self.metrics.offers_declined,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use k8s_openapi::api::core::v1::{
        Container, Node, NodeSpec, Pod, PodSpec, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube_mesos_proto::v1::{AgentId, FrameworkId, Offer, OfferId};

    use crate::core::{CoreConfig, Input, SchedulerCore};
    use crate::resources::build::{ports, scalar};

    use super::*;

    fn pod(name: &str, cpu: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                scheduler_name: Some("kube-mesos".into()),
                containers: vec![Container {
                    name: "c".into(),
                    resources: Some(ResourceRequirements {
                        requests: Some([("cpu".to_owned(), Quantity(cpu.into()))].into()),
                        ..ResourceRequirements::default()
                    }),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn offer(id: &str, host: &str, cpus: f64) -> Offer {
        Offer {
            id: OfferId { value: id.into() },
            agent_id: AgentId {
                value: format!("agent-{host}"),
            },
            hostname: host.into(),
            resources: vec![
                scalar("cpus", cpus, "*"),
                scalar("mem", 1024.0, "*"),
                scalar("disk", 1024.0, "*"),
                ports(&[(31000, 31099)], "*"),
            ],
            ..Offer::default()
        }
    }

    fn subscribed_core(now: Instant) -> SchedulerCore {
        let mut core = SchedulerCore::new(CoreConfig::default());
        core.handle(Input::PodsSynced, now);
        let asked = core.handle(
            Input::Subscribed {
                framework_id: FrameworkId {
                    value: "fw-1".into(),
                },
            },
            now,
        );
        for answer in crate::core::reconcile_gate::master_answers(&asked) {
            core.handle(Input::TaskUpdate(Box::new(answer)), now);
        }
        core
    }

    #[test]
    fn a_long_queue_lists_its_first_pods_and_counts_them_all() {
        let t0 = Instant::now();
        let mut core = subscribed_core(t0);
        let n = PENDING_LISTED + 20;
        for i in 0..n {
            core.handle(
                Input::PodUpserted(Box::new(pod(&format!("p{i:04}"), "1"))),
                t0,
            );
        }
        let s = core.status(t0);
        assert_eq!(s.pending_total, n);
        assert_eq!(s.pending.len(), PENDING_LISTED);
        // Queue order: equal priority and no creation time, so by key.
        let names: Vec<&str> = s.pending.iter().map(|p| p.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(names[0], "p0000");
    }

    #[test]
    fn a_pod_that_fits_nowhere_is_pending_with_its_failed_scheduling_reason() {
        let t0 = Instant::now();
        let mut core = subscribed_core(t0);
        core.handle(Input::PodUpserted(Box::new(pod("huge", "64"))), t0);
        core.handle(Input::Offers(vec![offer("o1", "h1", 2.0)]), t0);
        let before = core.status(t0);
        assert_eq!(before.framework_id.as_deref(), Some("fw-1"));
        assert_eq!(before.offers.len(), 1, "held during the batching window");
        assert_eq!(before.offers[0].resources.cpus, 2.0);
        assert_eq!(before.agents[0].offers_held, 1);
        assert_eq!(before.agents[0].offered_now.cpus, 2.0);

        let later = t0 + Duration::from_secs(2);
        core.handle(Input::Tick, later);
        let s = core.status(later);
        assert_eq!(s.pending.len(), 1);
        assert_eq!(s.pending_total, 1);
        let p = &s.pending[0];
        assert_eq!((p.namespace.as_str(), p.name.as_str()), ("default", "huge"));
        assert!(p.attempts >= 1);
        let reason = p.last_failed_scheduling.as_deref().unwrap_or_default();
        assert!(reason.contains("Insufficient cpu"), "{reason}");
        assert!(s.offers.is_empty(), "declined after the window");
        // Its agent is not the core's any more (no offer, pod or Node):
        // the shell's recorder keeps its last offer.
        assert!(s.agents.is_empty(), "{:?}", s.agents);
    }

    #[test]
    fn a_placed_pod_counts_on_its_agent_with_its_executor() {
        let t0 = Instant::now();
        let mut core = subscribed_core(t0);
        core.handle(
            Input::NodeUpserted(Box::new(Node {
                metadata: ObjectMeta {
                    name: Some("h2".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(NodeSpec {
                    unschedulable: Some(true),
                    ..NodeSpec::default()
                }),
                ..Node::default()
            })),
            t0,
        );
        core.handle(Input::PodUpserted(Box::new(pod("small", "500m"))), t0);
        core.handle(Input::Offers(vec![offer("o1", "h1", 2.0)]), t0);
        let later = t0 + Duration::from_secs(2);
        let actions = core.handle(Input::Tick, later);
        assert!(actions
            .iter()
            .any(|a| matches!(a, crate::core::Action::Bind { .. })));
        // The shell writes the binding; the watch then shows the pod bound.
        let mut bound = pod("small", "500m");
        if let Some(spec) = bound.spec.as_mut() {
            spec.node_name = Some("h1".into());
        }
        core.handle(Input::PodUpserted(Box::new(bound)), later);
        let s = core.status(later);
        assert!(s.pending.is_empty());
        let h1 = s.agents.iter().find(|a| a.node == "h1").expect("h1");
        assert_eq!(h1.agent_id.as_deref(), Some("agent-h1"));
        assert_eq!(h1.pods, 1);
        assert_eq!(h1.allocated.cpus, 0.5);
        assert_eq!(h1.executors.len(), 1);
        assert!(h1.executors[0].current);
        assert_eq!(h1.executors[0].executor_id, s.current_executor);
        assert!(!h1.cordoned);
        let h2 = s.agents.iter().find(|a| a.node == "h2").expect("h2");
        assert!(h2.cordoned);
        assert_eq!(h2.pods, 0);
        assert_eq!(h2.maintenance, None);
    }
}
