//! The node registry: one Kubernetes Node per Mesos agent, kept in step with
//! the master, and the node leases of agents without a running executor.
//!
//! Agents come from the Mesos operator API ([`operator`]: GET_AGENTS, then
//! SUBSCRIBE for AGENT_ADDED / AGENT_REMOVED). When the master does not offer
//! it (an older or locked-down master), the registry falls back to agents seen
//! in offers (their offered resources stand in for capacity until the
//! operator API answers) and keeps retrying the operator API.
//!
//! On AGENT_REMOVED (or an agent missing from a new master's snapshot, as
//! after a failover before it re-registered) the core hears
//! `AgentUnreachable`, and the Node turns Ready=Unknown (`NodeStatusUnknown`)
//! once nothing has been heard of it for a lease duration, as the node
//! lifecycle controller would: an executor that still renews the lease is a
//! live kubelet, and its Node stays Ready. Mesos sends the same operator event for a removed, gone and
//! unreachable agent, so the registry does not guess; the fate of the pods
//! follows the task updates Mesos sends for them, which the core maps to pod
//! status (`crate::task_status`).
//!
//! The translation itself is pure ([`agent_node`]); this module only writes.

pub mod agent_node;
pub mod operator;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube_mesos_proto::v1::{AgentId, Offer};
use tokio::sync::mpsc;

use self::agent_node::{
    absent_agent_nodes, node_for_agent, node_name, node_silent, ready_condition,
    should_renew_node_lease, AgentHealth, FRAMEWORK_LEASE_HOLDER, NODE_LEASE_DURATION_SECONDS,
    NODE_LEASE_RENEW_INTERVAL,
};
use self::operator::{AgentRecord, OperatorClient, OperatorEvent};
use crate::core::Input;

/// Namespace of node leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// Pause before retrying the operator API after it failed.
pub const OPERATOR_RETRY: Duration = Duration::from_secs(10);

/// A failed Node or node-lease write (logged and retried on the next change
/// or lease round).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Creating or patching a Node failed.
    #[error("writing Node {name} failed")]
    WriteNodeFailed {
        /// Node name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Renewing a node lease failed.
    #[error("renewing node lease {name} failed")]
    RenewLeaseFailed {
        /// Lease name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

#[derive(Debug, Clone)]
struct AgentEntry {
    record: AgentRecord,
    health: AgentHealth,
    from_offer: bool,
    /// Ready=Unknown was written (the agent is lost and its lease expired).
    marked_not_ready: bool,
}

/// Writes Nodes and node leases for the agents it is told about.
pub struct NodeRegistry {
    client: kube::Client,
    agents: BTreeMap<String, AgentEntry>,
}

impl NodeRegistry {
    /// An empty registry.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            agents: BTreeMap::new(),
        }
    }

    /// Agents known and registered.
    pub fn registered(&self) -> Vec<String> {
        self.agents
            .iter()
            .filter(|(_, e)| e.health == AgentHealth::Registered)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Applies an operator event; returns the core inputs it implies.
    pub async fn apply(&mut self, event: OperatorEvent) -> Vec<Input> {
        match event {
            OperatorEvent::Snapshot { agents, executors } => {
                let present: Vec<String> = agents.iter().filter_map(agent_id_of).collect();
                let mut out = Vec::new();
                let gone: Vec<String> = self
                    .agents
                    .iter()
                    .filter(|(id, e)| e.health == AgentHealth::Registered && !present.contains(id))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in gone {
                    out.extend(self.lost(&id).await);
                }
                for agent in agents {
                    self.upsert(agent, false).await;
                }
                out.extend(self.hold_absent_nodes(&present).await);
                out.push(Input::ExecutorsRunning(executors));
                out
            }
            OperatorEvent::AgentAdded(agent) => {
                self.upsert(agent, false).await;
                Vec::new()
            }
            OperatorEvent::AgentRemoved(id) => self.lost(&id.value).await,
        }
    }

    /// Offer fallback: registers an agent first seen in an offer.
    pub async fn saw_offer(&mut self, offer: &Offer) {
        if self.agents.contains_key(&offer.agent_id.value) {
            return;
        }
        let record = AgentRecord {
            info: kube_mesos_proto::v1::AgentInfo {
                hostname: offer.hostname.clone(),
                id: Some(offer.agent_id.clone()),
                attributes: offer.attributes.clone(),
                domain: offer.domain.clone(),
                resources: offer.resources.clone(),
                ..Default::default()
            },
            total_resources: offer.resources.clone(),
        };
        self.upsert(record, true).await;
    }

    async fn upsert(&mut self, record: AgentRecord, from_offer: bool) {
        let Some(id) = agent_id_of(&record) else {
            return;
        };
        if let Some(old) = self.agents.get(&id) {
            if old.health == AgentHealth::Registered
                && old.record == record
                && old.from_offer == from_offer
            {
                return;
            }
        }
        let node = node_for_agent(
            &record.info,
            &record.total_resources,
            jiff::Timestamp::now(),
        );
        match write_node(&self.client, node).await {
            Ok(()) => {
                tracing::info!(agent = %id, hostname = %record.info.hostname, "node registered")
            }
            Err(error) => tracing::warn!(%error, agent = %id, "writing node failed"),
        }
        self.agents.insert(
            id,
            AgentEntry {
                record,
                health: AgentHealth::Registered,
                from_offer,
                marked_not_ready: false,
            },
        );
    }

    async fn lost(&mut self, id: &str) -> Vec<Input> {
        if let Some(entry) = self.agents.get_mut(id) {
            if entry.health == AgentHealth::Registered {
                tracing::info!(agent = %id, "agent not registered with the master; its Node turns NotReady once its lease is not renewed");
                entry.health = AgentHealth::Lost;
                entry.marked_not_ready = false;
            }
            self.mark_not_ready_if_silent(id).await;
        }
        vec![Input::AgentUnreachable(AgentId {
            value: id.to_string(),
        })]
    }

    /// Holds as lost the agents of Ready Nodes that the master no longer
    /// lists and this registry never heard of (an agent that became
    /// unreachable before this framework process started), so that their
    /// Nodes turn NotReady once silent like any lost agent's.
    async fn hold_absent_nodes(&mut self, present: &[String]) -> Vec<Input> {
        let api: Api<Node> = Api::all(self.client.clone());
        let nodes = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(error) => {
                tracing::debug!(%error, "listing nodes failed; absent agents are not looked for");
                return Vec::new();
            }
        };
        let absent = absent_agent_nodes(&nodes, present, &|id| self.agents.contains_key(id));
        let mut out = Vec::new();
        for (id, name) in absent {
            tracing::info!(agent = %id, node = %name, "the master does not list the agent of a Ready node; held as lost");
            let agent_id = AgentId { value: id.clone() };
            self.agents.insert(
                id.clone(),
                AgentEntry {
                    record: AgentRecord {
                        info: kube_mesos_proto::v1::AgentInfo {
                            hostname: name,
                            id: Some(agent_id.clone()),
                            ..Default::default()
                        },
                        total_resources: Vec::new(),
                    },
                    health: AgentHealth::Lost,
                    from_offer: false,
                    marked_not_ready: false,
                },
            );
            self.mark_not_ready_if_silent(&id).await;
            out.push(Input::AgentUnreachable(agent_id));
        }
        out
    }

    /// Writes Ready=Unknown on a lost agent's Node once nothing has been
    /// heard of it for a lease duration (the node lifecycle controller's
    /// rule).
    async fn mark_not_ready_if_silent(&mut self, id: &str) {
        let Some(entry) = self.agents.get(id) else {
            return;
        };
        if entry.health != AgentHealth::Lost || entry.marked_not_ready {
            return;
        }
        let name = node_name(&entry.record.info.hostname);
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), NODE_LEASE_NAMESPACE);
        let lease = match leases.get_opt(&name).await {
            Ok(lease) => lease,
            Err(error) => {
                tracing::debug!(%error, lease = %name, "reading node lease failed");
                return;
            }
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let heartbeat = match api.get_opt(&name).await {
            Ok(node) => node.and_then(|n| ready_heartbeat(&n)),
            Err(error) => {
                tracing::debug!(%error, node = %name, "reading node failed");
                return;
            }
        };
        let now = jiff::Timestamp::now();
        if !node_silent(lease.as_ref().and_then(|l| l.spec.as_ref()), heartbeat, now) {
            return;
        }
        let condition = ready_condition(id, AgentHealth::Lost, now);
        let patch = serde_json::json!({ "status": { "conditions": [condition] } });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!(agent = %id, node = %name, "node silent for a lease duration; node marked NotReady");
                if let Some(entry) = self.agents.get_mut(id) {
                    entry.marked_not_ready = true;
                }
            }
            Err(error) => tracing::warn!(%error, node = %name, "marking node NotReady failed"),
        }
    }

    /// Renews the node leases of registered agents where the lease rule says
    /// the framework should, and marks lost agents' Nodes NotReady once
    /// they went silent.
    pub async fn renew_leases(&mut self) {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), NODE_LEASE_NAMESPACE);
        for entry in self
            .agents
            .values()
            .filter(|e| e.health == AgentHealth::Registered)
        {
            let name = node_name(&entry.record.info.hostname);
            if let Err(error) = renew_lease(&api, &name).await {
                tracing::debug!(%error, lease = %name, "node lease renewal failed");
            }
        }
        let lost: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, e)| e.health == AgentHealth::Lost && !e.marked_not_ready)
            .map(|(id, _)| id.clone())
            .collect();
        for id in lost {
            self.mark_not_ready_if_silent(&id).await;
        }
    }
}

/// `lastHeartbeatTime` of the Node's Ready condition.
fn ready_heartbeat(node: &Node) -> Option<jiff::Timestamp> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?
        .last_heartbeat_time
        .as_ref()
        .map(|t| t.0)
}

fn agent_id_of(record: &AgentRecord) -> Option<String> {
    record
        .info
        .id
        .as_ref()
        .map(|a| a.value.clone())
        .filter(|v| !v.is_empty())
}

async fn write_node(client: &kube::Client, node: Node) -> Result<(), NodeError> {
    let api: Api<Node> = Api::all(client.clone());
    let name = node.metadata.name.clone().unwrap_or_default();
    let err = |source| NodeError::WriteNodeFailed {
        name: name.clone(),
        source,
    };
    match api.get_opt(&name).await.map_err(err)? {
        None => {
            api.create(&PostParams::default(), &node)
                .await
                .map_err(err)?;
        }
        Some(_) => {
            let meta = serde_json::json!({ "metadata": {
                "labels": node.metadata.labels,
                "annotations": node.metadata.annotations,
            }});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&meta))
                .await
                .map_err(err)?;
        }
    }
    // Nodes accept status on create, but write it explicitly too: an
    // existing Node needs it and a server may drop status on create.
    let status = serde_json::json!({ "status": node.status });
    api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&status))
        .await
        .map_err(err)?;
    Ok(())
}

async fn renew_lease(api: &Api<Lease>, name: &str) -> Result<(), NodeError> {
    let err = |source| NodeError::RenewLeaseFailed {
        name: name.to_string(),
        source,
    };
    let now = jiff::Timestamp::now();
    let current = api.get_opt(name).await.map_err(err)?;
    if !should_renew_node_lease(current.as_ref().and_then(|l| l.spec.as_ref()), now) {
        return Ok(());
    }
    let spec = LeaseSpec {
        holder_identity: Some(FRAMEWORK_LEASE_HOLDER.to_string()),
        lease_duration_seconds: Some(NODE_LEASE_DURATION_SECONDS),
        renew_time: Some(MicroTime(now)),
        ..LeaseSpec::default()
    };
    match current {
        Some(mut lease) => {
            lease.spec = Some(spec);
            api.replace(name, &PostParams::default(), &lease)
                .await
                .map_err(err)?;
        }
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: Some(NODE_LEASE_NAMESPACE.to_string()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            api.create(&PostParams::default(), &lease)
                .await
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Runs the registry until `shutdown`: follows the operator API (retrying
/// every [`OPERATOR_RETRY`] while it fails), takes agents from `offers` as a
/// fallback, renews node leases, and sends the implied inputs to `core`.
pub async fn run(
    mut registry: NodeRegistry,
    operator: OperatorClient,
    mut offers: mpsc::Receiver<Offer>,
    core: mpsc::Sender<Input>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut lease_timer = tokio::time::interval(NODE_LEASE_RENEW_INTERVAL);
    lease_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let subscription = match operator.subscribe().await {
            Ok(stream) => Some(stream.boxed()),
            Err(error) => {
                tracing::warn!(%error, "Mesos operator API unavailable; taking agents from offers");
                None
            }
        };
        let retry = tokio::time::sleep(OPERATOR_RETRY);
        tokio::pin!(retry);
        let mut subscription = subscription;
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = lease_timer.tick() => registry.renew_leases().await,
                Some(offer) = offers.recv() => registry.saw_offer(&offer).await,
                event = next_event(&mut subscription) => match event {
                    Some(Ok(event)) => {
                        for input in registry.apply(event).await {
                            if core.send(input).await.is_err() {
                                return;
                            }
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, "operator event stream failed; resubscribing");
                        break;
                    }
                    None => {
                        tracing::info!("operator event stream ended; resubscribing");
                        break;
                    }
                },
                _ = &mut retry, if subscription.is_none() => break,
            }
        }
        // Pause before resubscribing so a failing master is not hammered.
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn next_event(
    subscription: &mut Option<
        futures::stream::BoxStream<'static, Result<OperatorEvent, operator::OperatorError>>,
    >,
) -> Option<Result<OperatorEvent, operator::OperatorError>> {
    match subscription {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}
