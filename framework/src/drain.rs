//! The shell of the maintenance drain ([`crate::core::maintenance`]): feeds
//! it what the Mesos stream, the Node watch and the core show, and performs
//! its actions — the Node patches of `kubectl cordon`/`uncordon`, the
//! policy/v1 Eviction POSTs, ACCEPT/DECLINE_INVERSE_OFFERS and the Events.
//!
//! It lives beside the core in the framework's loop (`run.rs`): the loop
//! hands it every Mesos event and Node, calls [`Drain::sync`] after each
//! step of the core (our pods per agent, the agents to avoid), and feeds
//! eviction answers back from [`Drain::results`]. Mesos windows are
//! wall-clock, so this shell reads the system clock; the machine does not.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, EvictParams, Patch, PatchParams};
use kube_mesos_proto::v1::scheduler::{call, event, Call, Event};
use kube_mesos_proto::v1::{Filters, Offer, OfferId, Unavailability};
use serde_json::json;
use tokio::sync::mpsc;

use crate::core::kept::KeptEvictions;
use crate::core::maintenance::{
    Action, EventObject, EvictionOutcome, Input, Maintenance, PodKey, Wall, Window,
    ANNOTATION_CORDONED,
};
use crate::core::{PodRef, SchedulerCore};
use crate::kube::events::EventRecorder;
use crate::mesos::SchedulerHandle;
use crate::nodes::agent_node::node_name;
use crate::placement::predicates::TAINT_UNSCHEDULABLE;
use crate::status::throttle::Throttle;

/// How long an answered inverse offer keeps others away: Mesos' default
/// refusal, so the drain is asked again soon after pods move.
const INVERSE_OFFER_REFUSE_SECONDS: f64 = 5.0;

/// How often, at most, the kept pods are looked for (`--evict-kept-pods`):
/// a look walks every pod the core tracks. Looked for after every step of
/// the core, they cost 2.25 ms of CPU per pod placing 30,000 pods (512
/// bound/s; PERF_REPORT session 24); evictions go one agent at a time and
/// wait for controllers, so a second is nothing to them.
const KEPT_LOOK_EVERY: Duration = Duration::from_secs(1);

/// The drain and what it performs with.
pub struct Drain {
    machine: Maintenance,
    /// `--evict-kept-pods`: kept process pods evicted ([`KeptEvictions`]).
    kept: Option<KeptEvictions>,
    /// When the kept pods are looked for: at most every
    /// [`KEPT_LOOK_EVERY`], and once more after the steps since the last
    /// look (which may have changed them) — the status page's throttle.
    kept_looks: Throttle,
    client: kube::Client,
    events: EventRecorder,
    results_tx: mpsc::UnboundedSender<(PodKey, EvictionOutcome)>,
    results_rx: mpsc::UnboundedReceiver<(PodKey, EvictionOutcome)>,
}

/// Now, as the drain takes time: since the Unix epoch.
pub fn wall_now() -> Wall {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

fn window(u: &Unavailability) -> Window {
    Window::from_nanos(u.start.nanoseconds, u.duration.map(|d| d.nanoseconds))
}

impl Drain {
    /// A drain of agents whose window starts within `horizon`; with
    /// `evict_kept`, also of the pods outdated executors keep.
    pub fn new(
        horizon: Duration,
        evict_kept: bool,
        client: kube::Client,
        events: EventRecorder,
    ) -> Drain {
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        Drain {
            machine: Maintenance::new(horizon),
            kept: evict_kept.then(KeptEvictions::default),
            kept_looks: Throttle::new(KEPT_LOOK_EVERY),
            client,
            events,
            results_tx,
            results_rx,
        }
    }

    /// Eviction answers, to be fed back with [`Drain::evicted`].
    pub async fn results(&mut self) -> Option<(PodKey, EvictionOutcome)> {
        self.results_rx.recv().await
    }

    /// When the drain next needs a [`Drain::sync`]: its state machine's next
    /// timer, that of the kept pods' evictions, or an owed look for them.
    pub fn next_deadline(&self) -> Option<tokio::time::Instant> {
        let now = wall_now();
        let kept = self.kept.as_ref().and_then(KeptEvictions::next_deadline);
        let timers = self
            .machine
            .next_deadline(now)
            .into_iter()
            .chain(kept)
            .min()
            .map(|d| tokio::time::Instant::now() + d.saturating_sub(now));
        let look = self.kept.as_ref().and(self.kept_looks.due());
        timers.into_iter().chain(look).min()
    }

    /// The inputs of one Mesos event.
    pub fn inputs_of_event(event: &Event) -> Vec<Input> {
        match event.r#type() {
            event::Type::Offers => event
                .offers
                .as_ref()
                .map(|o| Self::inputs_of_offers(&o.offers))
                .unwrap_or_default(),
            event::Type::InverseOffers => event
                .inverse_offers
                .iter()
                .flat_map(|i| &i.inverse_offers)
                .filter_map(|io| {
                    let agent = io.agent_id.as_ref()?.value.clone();
                    let host = io.url.as_ref()?.address.hostname.clone()?;
                    Some(Input::InverseOffer {
                        id: io.id.value.clone(),
                        agent,
                        node: node_name(&host),
                        window: window(&io.unavailability),
                    })
                })
                .collect(),
            event::Type::RescindInverseOffer => event
                .rescind_inverse_offer
                .iter()
                .map(|r| Input::InverseOfferRescinded {
                    id: r.inverse_offer_id.value.clone(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Each offer says whether its agent is scheduled for maintenance.
    fn inputs_of_offers(offers: &[Offer]) -> Vec<Input> {
        let mut by_agent: BTreeMap<String, Input> = BTreeMap::new();
        for o in offers {
            by_agent.insert(
                o.agent_id.value.clone(),
                Input::Unavailability {
                    agent: o.agent_id.value.clone(),
                    node: node_name(&o.hostname),
                    window: o.unavailability.as_ref().map(window),
                },
            );
        }
        by_agent.into_values().collect()
    }

    /// The input of a Node as the watch sees it.
    pub fn input_of_node(node: &Node) -> Input {
        Input::Node {
            node: node.metadata.name.clone().unwrap_or_default(),
            unschedulable: node
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false),
            cordoned_by_us: node
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(ANNOTATION_CORDONED)),
        }
    }

    /// Takes one input and performs what follows.
    pub async fn handle(&mut self, input: Input, mesos: &SchedulerHandle) {
        let actions = self.machine.handle(wall_now(), input);
        for action in actions {
            self.perform(action, mesos).await;
        }
    }

    /// After a step of the core: our pods on every agent the drain knows,
    /// then a tick; the core is told which agents to avoid.
    pub async fn sync(&mut self, core: &mut SchedulerCore, mesos: &SchedulerHandle) {
        let agents: BTreeSet<String> = self.machine.agents().into_iter().collect();
        for (agent, pods) in core.pods_on_agents(&agents) {
            if self.machine.pods_changed(&agent, &pods) {
                self.handle(Input::Pods { agent, pods }, mesos).await;
            }
        }
        let now = wall_now();
        if self.machine.next_deadline(now).is_some_and(|d| d <= now) {
            self.handle(Input::Tick, mesos).await;
        }
        let avoided: BTreeSet<String> = self
            .machine
            .agents()
            .into_iter()
            .filter(|a| self.machine.avoids(a, now))
            .collect();
        core.set_avoided_agents(avoided);
        core.set_maintenance_states(
            self.machine
                .agents()
                .into_iter()
                .filter_map(|a| Some((a.clone(), self.machine.describe(&a, now)?)))
                .collect(),
        );
        let kept_actions = match &mut self.kept {
            Some(kept) if self.kept_looks.ready(tokio::time::Instant::now()) => {
                kept.step(&core.kept_pods(), now)
            }
            _ => Vec::new(),
        };
        for action in kept_actions {
            self.perform(action, mesos).await;
        }
    }

    async fn perform(&self, action: Action, mesos: &SchedulerHandle) {
        match action {
            Action::Cordon { node, agent } => {
                let nodes: Api<Node> = Api::all(self.client.clone());
                tokio::spawn(async move {
                    if let Err(error) = cordon(&nodes, &node, Some(&agent)).await {
                        tracing::warn!(%node, %error, "cordoning the Node for maintenance failed");
                    }
                });
            }
            Action::Uncordon { node } => {
                let nodes: Api<Node> = Api::all(self.client.clone());
                tokio::spawn(async move {
                    if let Err(error) = cordon(&nodes, &node, None).await {
                        tracing::warn!(%node, %error, "uncordoning the Node after maintenance failed");
                    }
                });
            }
            Action::Evict { pod } => {
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
                let tx = self.results_tx.clone();
                tokio::spawn(async move {
                    let outcome = match pods.evict(&pod.name, &EvictParams::default()).await {
                        Ok(_) => EvictionOutcome::Evicted,
                        Err(kube::Error::Api(s)) if s.code == 404 => EvictionOutcome::NotFound,
                        Err(kube::Error::Api(s)) if s.code == 429 => {
                            EvictionOutcome::TooManyRequests(s.message.clone())
                        }
                        Err(e) => EvictionOutcome::Failed(e.to_string()),
                    };
                    tracing::info!(pod = %pod.display(), ?outcome, "eviction for maintenance");
                    let _ = tx.send((pod, outcome));
                });
            }
            Action::AcceptInverseOffers { ids } => {
                tracing::info!(?ids, "accepting inverse offers");
                let call = inverse_call(call::Type::AcceptInverseOffers, ids);
                if let Err(error) = mesos.call(call).await {
                    tracing::warn!(%error, "ACCEPT_INVERSE_OFFERS failed");
                }
            }
            Action::DeclineInverseOffers { ids } => {
                tracing::info!(?ids, "declining inverse offers");
                let call = inverse_call(call::Type::DeclineInverseOffers, ids);
                if let Err(error) = mesos.call(call).await {
                    tracing::warn!(%error, "DECLINE_INVERSE_OFFERS failed");
                }
            }
            Action::Event {
                object,
                kind,
                reason,
                message,
            } => {
                let events = self.events.clone();
                let type_ = kind;
                tokio::spawn(async move {
                    let now = jiff::Timestamp::now();
                    let result = match &object {
                        EventObject::Node(node) => {
                            events
                                .record_on_node(node, type_, reason, &message, now)
                                .await
                        }
                        EventObject::Pod(pod) => {
                            let target = PodRef {
                                namespace: pod.namespace.clone(),
                                name: pod.name.clone(),
                                uid: pod.uid.clone(),
                            };
                            events.record(&target, type_, reason, &message, now).await
                        }
                    };
                    if let Err(error) = result {
                        tracing::debug!(%error, "recording a maintenance event failed");
                    }
                });
            }
        }
    }

    /// Feeds an eviction's answer back, to the drain and to the kept pods'
    /// evictions (each ignores the pods it did not evict): a refused
    /// eviction of a kept pod is retried, and told once as a Warning.
    pub async fn evicted(
        &mut self,
        pod: PodKey,
        outcome: EvictionOutcome,
        mesos: &SchedulerHandle,
    ) {
        let kept_actions = match &mut self.kept {
            Some(kept) => kept.evicted(&pod, &outcome, wall_now()),
            None => Vec::new(),
        };
        for action in kept_actions {
            self.perform(action, mesos).await;
        }
        self.handle(Input::Evicted { pod, outcome }, mesos).await;
    }
}

fn inverse_call(ty: call::Type, ids: Vec<String>) -> Call {
    let inverse_offer_ids: Vec<OfferId> = ids.into_iter().map(|value| OfferId { value }).collect();
    let filters = Some(Filters {
        refuse_seconds: Some(INVERSE_OFFER_REFUSE_SECONDS),
    });
    let mut c = Call {
        r#type: Some(ty as i32),
        ..Default::default()
    };
    if ty == call::Type::AcceptInverseOffers {
        c.accept_inverse_offers = Some(call::AcceptInverseOffers {
            inverse_offer_ids,
            filters,
        });
    } else {
        c.decline_inverse_offers = Some(call::DeclineInverseOffers {
            inverse_offer_ids,
            filters,
        });
    }
    c
}

/// The taints of a Node with the unschedulable taint added or removed.
pub fn taints_with(taints: &[Taint], cordoned: bool) -> Vec<Taint> {
    let mut out: Vec<Taint> = taints
        .iter()
        .filter(|t| !(t.key == TAINT_UNSCHEDULABLE && t.effect == "NoSchedule"))
        .cloned()
        .collect();
    if cordoned {
        out.push(Taint {
            key: TAINT_UNSCHEDULABLE.into(),
            effect: "NoSchedule".into(),
            value: None,
            time_added: None,
        });
    }
    out
}

/// The merge patch of a cordon (`agent` set: `kubectl cordon` plus the
/// unschedulable taint and our annotation) or of an uncordon.
pub fn cordon_patch(node: &Node, agent: Option<&str>) -> serde_json::Value {
    let taints = taints_with(
        node.spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[]),
        agent.is_some(),
    );
    json!({
        "metadata": {
            "resourceVersion": node.metadata.resource_version,
            "annotations": { ANNOTATION_CORDONED: agent },
        },
        "spec": {
            "unschedulable": agent.map(|_| true),
            "taints": taints,
        },
    })
}

async fn cordon(nodes: &Api<Node>, name: &str, agent: Option<&str>) -> Result<(), kube::Error> {
    // Read, then patch with the resourceVersion read: taints are a list a
    // merge patch replaces whole; a conflict is tried again.
    for _ in 0..5 {
        let node = nodes.get(name).await?;
        let patch = cordon_patch(&node, agent);
        match nodes
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cordon_adds_the_taint_and_annotation_and_uncordon_takes_them_away() {
        let mut node = Node::default();
        node.metadata.resource_version = Some("7".into());
        node.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            taints: Some(vec![Taint {
                key: "dedicated".into(),
                effect: "NoSchedule".into(),
                value: Some("x".into()),
                time_added: None,
            }]),
            ..Default::default()
        });
        let p = cordon_patch(&node, Some("S1"));
        assert_eq!(p["spec"]["unschedulable"], true);
        assert_eq!(p["metadata"]["annotations"][ANNOTATION_CORDONED], "S1");
        assert_eq!(p["metadata"]["resourceVersion"], "7");
        assert_eq!(p["spec"]["taints"].as_array().unwrap().len(), 2);
        assert_eq!(p["spec"]["taints"][1]["key"], TAINT_UNSCHEDULABLE);
        let mut cordoned = node.clone();
        cordoned.spec.as_mut().unwrap().taints = Some(taints_with(
            node.spec.as_ref().unwrap().taints.as_ref().unwrap(),
            true,
        ));
        let p = cordon_patch(&cordoned, None);
        assert_eq!(p["spec"]["unschedulable"], serde_json::Value::Null);
        assert_eq!(
            p["metadata"]["annotations"][ANNOTATION_CORDONED],
            serde_json::Value::Null
        );
        assert_eq!(p["spec"]["taints"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn offers_and_inverse_offers_become_drain_inputs() {
        let mut offer = Offer::default();
        offer.agent_id.value = "S1".into();
        offer.hostname = "Host-A".into();
        offer.unavailability = Some(Unavailability {
            start: kube_mesos_proto::v1::TimeInfo { nanoseconds: 5 },
            duration: None,
        });
        let ev = Event {
            r#type: Some(event::Type::Offers as i32),
            offers: Some(event::Offers {
                offers: vec![offer],
            }),
            ..Default::default()
        };
        assert_eq!(
            Drain::inputs_of_event(&ev),
            vec![Input::Unavailability {
                agent: "S1".into(),
                node: "host-a".into(),
                window: Some(Window::from_nanos(5, None)),
            }]
        );
    }
}
