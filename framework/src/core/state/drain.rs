//! What the maintenance drain ([`crate::core::maintenance`]) needs of the
//! core: our pods on an agent, and the agents it keeps new pods away from.
//! Nothing else of the core knows about maintenance.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::{Handover, PodEntry, PodRead, PodState, SchedulerCore};
use crate::core::maintenance::{PodKey, PodOnAgent};
use crate::placement::snapshot::NodeFacts;

/// A pod of ours as the maintenance drain and the kept-pod eviction see it.
fn pod_on_agent(e: &PodEntry) -> PodOnAgent {
    let pod = &e.pod;
    PodOnAgent {
        key: PodKey {
            namespace: pod.namespace().unwrap_or_default().to_owned(),
            name: pod.name().unwrap_or_default().to_owned(),
            uid: pod.uid().unwrap_or_default().to_owned(),
        },
        has_controller: e.pod.controller_uid().is_some(),
    }
}

impl SchedulerCore {
    /// Our pods whose live task is on each of `agents` (every
    /// one has an entry), in one pass over the pods (deleting ones too: they
    /// are there until their task ends).
    pub fn pods_on_agents(&self, agents: &BTreeSet<String>) -> BTreeMap<String, Vec<PodOnAgent>> {
        let mut out: BTreeMap<String, Vec<PodOnAgent>> =
            agents.iter().map(|a| (a.clone(), Vec::new())).collect();
        if agents.is_empty() {
            return out;
        }
        for e in self.pods.values() {
            let agent = match &e.state {
                PodState::Task(t) if t.is_live() => t.agent_id.as_ref(),
                PodState::Relaunch { agent_id, .. } => Some(agent_id),
                _ => None,
            };
            let Some(list) = agent.and_then(|a| out.get_mut(&a.value)) else {
                continue;
            };
            list.push(pod_on_agent(e));
        }
        for pods in out.values_mut() {
            pods.sort_by(|a, b| a.key.cmp(&b.key));
        }
        out
    }

    /// Pods an outdated executor keeps (`kube-mesos.io/handover=kept`), by
    /// agent, for `--evict-kept-pods` ([`crate::core::kept`]).
    pub fn kept_pods(&self) -> BTreeMap<String, Vec<PodOnAgent>> {
        let mut out: BTreeMap<String, Vec<PodOnAgent>> = BTreeMap::new();
        for e in self.pods.values() {
            let PodState::Task(t) = &e.state else {
                continue;
            };
            let Some(agent) = t.agent_id.as_ref().filter(|_| t.is_live()) else {
                continue;
            };
            if t.handover != Handover::Kept {
                continue;
            }
            out.entry(agent.value.clone())
                .or_default()
                .push(pod_on_agent(e));
        }
        for pods in out.values_mut() {
            pods.sort_by(|a, b| a.key.cmp(&b.key));
        }
        out
    }

    /// A Node as placement sees it: a draining agent's Node is taken as
    /// unschedulable (kube-scheduler's NodeUnschedulable then says "node(s)
    /// were unschedulable"), whether or not its cordon has landed yet.
    pub(super) fn placement_facts(&self, node: &str) -> Cow<'_, NodeFacts> {
        let facts = &self.nodes[node].facts;
        let draining = self
            .avoided_agents
            .iter()
            .any(|a| self.agent_hosts.get(a).is_some_and(|h| h == node));
        if draining && !facts.unschedulable {
            let mut f = facts.clone();
            f.unschedulable = true;
            Cow::Owned(f)
        } else {
            Cow::Borrowed(facts)
        }
    }

    /// The agents no new pod may go to (draining for maintenance): their
    /// Nodes are taken as unschedulable by placement.
    pub fn set_avoided_agents(&mut self, agents: BTreeSet<String>) {
        self.avoided_agents = agents;
    }

    /// Each scheduled agent's maintenance state, by agent ID, as the status
    /// page shows it.
    pub fn set_maintenance_states(&mut self, states: BTreeMap<String, String>) {
        self.maintenance_states = states;
    }
}
