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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube_mesos_client::backoff::{random_unit, Backoff, BackoffConfig};
use kube_mesos_proto::v1::{AgentId, Offer};
use tokio::sync::mpsc;

use self::agent_node::{
    absent_agent_nodes, keep_transition_times, node_for_agent, node_name, node_silent,
    node_up_to_date, ready_condition, should_renew_node_lease, AgentHealth,
};
use self::operator::{AgentRecord, OperatorClient, OperatorEvent};
use crate::core::Input;

pub use kube_mesos_node::lease::NODE_LEASE_NAMESPACE;
use kube_mesos_node::lease::{
    FRAMEWORK_LEASE_HOLDER, NODE_LEASE_DURATION_SECONDS, NODE_LEASE_RENEW_INTERVAL,
};
/// Longest pause before retrying the operator API after it failed.
pub const OPERATOR_RETRY: Duration = Duration::from_secs(10);
/// Back-off between operator subscriptions: from 1 s (as the old fixed
/// pause) up to [`OPERATOR_RETRY`], jittered so that replicas and restarts
/// do not come back in step; reset by a SUBSCRIBED snapshot.
const OPERATOR_BACKOFF: BackoffConfig = BackoffConfig {
    initial: Duration::from_secs(1),
    max: OPERATOR_RETRY,
};

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
    hostname: String,
    /// The record the agent's Node was last written from, encoded: an
    /// unchanged record is not written again. Kept as bytes, not as the
    /// decoded protobuf (4 KiB an agent, most of it the inline size of
    /// `Resource` and `AgentInfo` fields nobody reads again).
    written: Box<[u8]>,
    health: AgentHealth,
    from_offer: bool,
    /// Ready=Unknown was written (the agent is lost and its lease expired).
    marked_not_ready: bool,
}

/// Writes Nodes and node leases for the agents it is told about.
pub struct NodeRegistry {
    client: kube::Client,
    agents: BTreeMap<String, AgentEntry>,
    /// What the executor is launched with: set aside from each Node's
    /// allocatable. Default none.
    executor_resources: Vec<kube_mesos_proto::v1::Resource>,
}

impl NodeRegistry {
    /// An empty registry.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            agents: BTreeMap::new(),
            executor_resources: Vec::new(),
        }
    }

    /// Sets aside the executor's resources from every Node's allocatable
    /// (as the executor does when it posts the Node's status).
    pub fn with_executor_resources(
        mut self,
        resources: Vec<kube_mesos_proto::v1::Resource>,
    ) -> Self {
        self.executor_resources = resources;
        self
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
                // A set: at 5,000 agents, looking each Node's agent up in
                // a list was 25 million string comparisons per snapshot.
                let present: HashSet<String> = agents.iter().filter_map(agent_id_of).collect();
                let mut out = Vec::new();
                let gone: Vec<String> = self
                    .agents
                    .iter()
                    .filter(|(id, e)| e.health == AgentHealth::Registered && !present.contains(*id))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in gone {
                    out.extend(self.lost(&id).await);
                }
                // One LIST instead of a GET per agent (a restart registers
                // every agent again); without it, each Node is read alone.
                let mut listed = list_nodes(&self.client).await;
                for agent in agents {
                    self.upsert(agent, false, listed.as_mut()).await;
                }
                out.extend(self.hold_absent_nodes(&present).await);
                out.push(Input::ExecutorsRunning(executors));
                out
            }
            OperatorEvent::AgentAdded(agent) => {
                self.upsert(agent, false, None).await;
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
        self.upsert(record, true, None).await;
    }

    /// `listed`: the Nodes by name, if they were just listed (kept up to
    /// date with what is written).
    async fn upsert(
        &mut self,
        record: AgentRecord,
        from_offer: bool,
        listed: Option<&mut HashMap<String, Node>>,
    ) {
        let Some(id) = agent_id_of(&record) else {
            return;
        };
        let written = encoded(&record);
        if let Some(old) = self.agents.get(&id) {
            if old.health == AgentHealth::Registered
                && old.written == written
                && old.from_offer == from_offer
            {
                return;
            }
        }
        let node = node_for_agent(
            &record.info,
            &record.total_resources,
            &self.executor_resources,
            jiff::Timestamp::now(),
        );
        match write_node(&self.client, node, listed).await {
            Ok(Written::Yes) => {
                tracing::info!(agent = %id, hostname = %record.info.hostname, "node registered")
            }
            Ok(Written::UpToDate) => {
                tracing::debug!(agent = %id, hostname = %record.info.hostname, "node up to date")
            }
            Err(error) => tracing::warn!(%error, agent = %id, "writing node failed"),
        }
        self.agents.insert(
            id,
            AgentEntry {
                hostname: record.info.hostname,
                written,
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
    async fn hold_absent_nodes(&mut self, present: &HashSet<String>) -> Vec<Input> {
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
                    hostname: name,
                    written: Box::default(),
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
        let name = node_name(&entry.hostname);
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), NODE_LEASE_NAMESPACE);
        let lease = match leases.get_opt(&name).await {
            Ok(lease) => lease,
            Err(error) => {
                tracing::debug!(%error, lease = %name, "reading node lease failed");
                return;
            }
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let node = match api.get_opt(&name).await {
            Ok(node) => node,
            Err(error) => {
                tracing::debug!(%error, node = %name, "reading node failed");
                return;
            }
        };
        let heartbeat = node.as_ref().and_then(ready_heartbeat);
        let now = jiff::Timestamp::now();
        if !node_silent(lease.as_ref().and_then(|l| l.spec.as_ref()), heartbeat, now) {
            return;
        }
        let mut condition = [ready_condition(id, AgentHealth::Lost, now)];
        keep_transition_times(
            &mut condition,
            node.as_ref().and_then(|n| n.status.as_ref()),
        );
        let [condition] = condition;
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
    /// they went silent. The leases are read with one LIST per round (not
    /// one GET per agent: thousands of agents without an executor would
    /// double the requests of every round); a lease the LIST could not tell
    /// about is read on its own. The writes go [`LEASE_WRITES_IN_FLIGHT`]
    /// at a time.
    pub async fn renew_leases(&mut self) {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), NODE_LEASE_NAMESPACE);
        let listed: Option<BTreeMap<String, Lease>> = match list_by_name(&api).await {
            Ok(leases) => Some(leases),
            Err(error) => {
                tracing::debug!(%error, "listing node leases failed; reading them one by one");
                None
            }
        };
        let names: Vec<String> = self
            .agents
            .values()
            .filter(|e| e.health == AgentHealth::Registered)
            .map(|e| node_name(&e.hostname))
            .collect();
        let (api, listed) = (&api, &listed);
        futures::stream::iter(names)
            .for_each_concurrent(LEASE_WRITES_IN_FLIGHT, |name| async move {
                let current = match listed {
                    Some(leases) => Ok(leases.get(&name).cloned()),
                    None => api.get_opt(&name).await,
                };
                let result = match current {
                    Ok(current) => renew_lease(api, &name, current).await,
                    Err(source) => Err(NodeError::RenewLeaseFailed {
                        name: name.clone(),
                        source,
                    }),
                };
                if let Err(error) = result {
                    tracing::debug!(%error, lease = %name, "node lease renewal failed");
                }
            })
            .await;
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

/// `record` as protobuf bytes, to tell whether it changed.
fn encoded(record: &AgentRecord) -> Box<[u8]> {
    use prost::Message;
    let mut bytes = record.info.encode_length_delimited_to_vec();
    for r in &record.total_resources {
        bytes.extend(r.encode_length_delimited_to_vec());
    }
    bytes.into_boxed_slice()
}

fn agent_id_of(record: &AgentRecord) -> Option<String> {
    record
        .info
        .id
        .as_ref()
        .map(|a| a.value.clone())
        .filter(|v| !v.is_empty())
}

/// Whether [`write_node`] wrote.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    Yes,
    /// The Node already said all of it ([`node_up_to_date`]).
    UpToDate,
}

/// Every Node by name, or `None` if they cannot be listed (each is then
/// read alone).
async fn list_nodes(client: &kube::Client) -> Option<HashMap<String, Node>> {
    let api: Api<Node> = Api::all(client.clone());
    match list_by_name::<Node, HashMap<String, Node>>(&api).await {
        // Held while every agent is registered: without what
        // `node_up_to_date` does not read and can be large (a Node's
        // image list, the API server's field owners).
        Ok(mut nodes) => {
            for node in nodes.values_mut() {
                node.metadata.managed_fields = None;
                if let Some(status) = node.status.as_mut() {
                    status.images = None;
                }
            }
            Some(nodes)
        }
        Err(error) => {
            tracing::warn!(%error, "listing nodes failed; reading each alone");
            None
        }
    }
}

/// Every object `api` lists, by name.
async fn list_by_name<K, C>(api: &Api<K>) -> Result<C, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    C: FromIterator<(String, K)>,
{
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|o| Some((o.meta().name.clone()?, o)))
        .collect())
}

async fn write_node(
    client: &kube::Client,
    mut node: Node,
    listed: Option<&mut HashMap<String, Node>>,
) -> Result<Written, NodeError> {
    let api: Api<Node> = Api::all(client.clone());
    let name = node.metadata.name.clone().unwrap_or_default();
    let err = |source| NodeError::WriteNodeFailed {
        name: name.clone(),
        source,
    };
    let existing = match listed.as_deref() {
        Some(nodes) => nodes.get(&name).cloned(),
        None => api.get_opt(&name).await.map_err(err)?,
    };
    if existing
        .as_ref()
        .is_some_and(|e| node_up_to_date(&node, e, jiff::Timestamp::now()))
    {
        return Ok(Written::UpToDate);
    }
    match existing {
        None => {
            api.create(&PostParams::default(), &node)
                .await
                .map_err(err)?;
        }
        Some(existing) => {
            if let Some(conditions) = node.status.as_mut().and_then(|s| s.conditions.as_mut()) {
                keep_transition_times(conditions, existing.status.as_ref());
            }
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
    let mut status = serde_json::json!({ "status": node.status });
    without_unknown_node_info(&mut status);
    api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&status))
        .await
        .map_err(err)?;
    // Two agents of one host in a snapshot (an agent back with a new ID):
    // the second compares with what the first wrote.
    if let Some(nodes) = listed {
        nodes.insert(name, node);
    }
    Ok(Written::Yes)
}

/// Drops the `status.nodeInfo` fields this framework leaves empty (the
/// architecture of an agent without an `arch` attribute, the boot and
/// machine IDs, ...): the executor, the Node's kubelet, writes them from its
/// host, and a strategic merge of an empty string would erase them.
fn without_unknown_node_info(status: &mut serde_json::Value) {
    if let Some(info) = status
        .pointer_mut("/status/nodeInfo")
        .and_then(serde_json::Value::as_object_mut)
    {
        info.retain(|_, v| v.as_str() != Some(""));
    }
}

/// Renews one lease, given its current state (`None`: it does not exist).
async fn renew_lease(
    api: &Api<Lease>,
    name: &str,
    current: Option<Lease>,
) -> Result<(), NodeError> {
    let err = |source| NodeError::RenewLeaseFailed {
        name: name.to_string(),
        source,
    };
    let now = jiff::Timestamp::now();
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

/// Lease writes of a renewal round in flight at once. One after another,
/// a round over thousands of agents takes a request's round trip per
/// agent — 5,000 agents at 8 ms, 40 s, a whole lease duration — while the
/// registry follows no operator event; kubelets renew side by side.
const LEASE_WRITES_IN_FLIGHT: usize = 16;

/// Runs the registry until `shutdown`: follows the operator API
/// (resubscribing with the shared jittered back-off, up to
/// [`OPERATOR_RETRY`] apart, while it fails), takes agents from `offers` as
/// a fallback, renews node leases, and sends the implied inputs to `core`.
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
    let mut backoff = Backoff::new(OPERATOR_BACKOFF);
    let mut subscription = None;
    let mut resubscribe_at = Some(tokio::time::Instant::now());
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = sleep_until(resubscribe_at), if subscription.is_none() => {
                match operator.subscribe().await {
                    Ok(stream) => {
                        subscription = Some(stream.boxed());
                        resubscribe_at = None;
                    }
                    Err(error) => {
                        let delay = backoff.next_delay(random_unit());
                        tracing::warn!(%error, retry_in = ?delay, "Mesos operator API unavailable; taking agents from offers");
                        resubscribe_at = Some(tokio::time::Instant::now() + delay);
                    }
                }
            }
            _ = lease_timer.tick() => registry.renew_leases().await,
            Some(offer) = offers.recv() => registry.saw_offer(&offer).await,
            event = next_event(&mut subscription) => match event {
                Some(Ok(event)) => {
                    if matches!(event, OperatorEvent::Snapshot { .. }) {
                        backoff.reset();
                    }
                    for input in registry.apply(event).await {
                        if core.send(input).await.is_err() {
                            return;
                        }
                    }
                }
                lost => {
                    // Pause before resubscribing so a failing master is not
                    // hammered.
                    let delay = backoff.next_delay(random_unit());
                    match lost {
                        Some(Err(error)) => tracing::warn!(%error, retry_in = ?delay, "operator event stream failed; resubscribing"),
                        _ => tracing::info!(retry_in = ?delay, "operator event stream ended; resubscribing"),
                    }
                    subscription = None;
                    resubscribe_at = Some(tokio::time::Instant::now() + delay);
                }
            },
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the framework's status patch wrote `architecture: ""`
    /// (and empty boot/machine IDs) over what the executor had posted.
    #[test]
    fn the_status_patch_leaves_unknown_node_info_to_the_executor() {
        let agent = kube_mesos_proto::v1::AgentInfo {
            hostname: "a".into(),
            ..Default::default()
        };
        let node = node_for_agent(&agent, &[], &[], jiff::Timestamp::UNIX_EPOCH);
        let mut status = serde_json::json!({ "status": node.status });
        without_unknown_node_info(&mut status);
        let info = &status["status"]["nodeInfo"];
        assert_eq!(info["operatingSystem"], "linux");
        assert!(info["kubeletVersion"].is_string());
        for unknown in ["architecture", "bootID", "machineID", "kernelVersion"] {
            assert!(info.get(unknown).is_none(), "{unknown} written: {info}");
        }
    }
}
