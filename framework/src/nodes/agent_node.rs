//! `AgentNode`: the pure translation of a Mesos agent into its Kubernetes
//! Node, and the node-lease rule.
//!
//! One Node per agent, named after the agent's hostname. Labels come from the
//! same derivation placement uses ([`kube_mesos_node::labels::node_labels`]:
//! hostname, os, attributes, topology region/zone from the fault domain, and
//! `kubernetes.io/arch` only from an agent's `arch` attribute: this process
//! does not run on the agent, so it cannot know its architecture otherwise;
//! the executor writes its host's). Capacity and allocatable come from the
//! agent's total resources (all roles), in Kubernetes quantities.
//!
//! **Lease rule.** The Node's Lease in `kube-node-lease` is renewed by the
//! executor while one runs on the agent, and by the framework otherwise. Both
//! write the same object, so the framework marks its own writes with
//! holderIdentity [`FRAMEWORK_LEASE_HOLDER`] and renews only when
//! [`should_renew_node_lease`] says so: the lease is missing, or the
//! framework holds it, or it is stale (its renewTime is older than its
//! duration — nobody renews it). An executor that starts writes its own
//! holder and the framework backs off; an executor that dies lets the lease
//! go stale and the framework picks it up again, keeping a registered agent's
//! Node alive in the eyes of the node lifecycle controller.
//!
//! **Readiness.** An agent the master no longer has registered (removed,
//! unreachable, or not re-registered after a master failover) turns its
//! Node `Ready=Unknown` only once nothing has been heard of the Node for a
//! lease duration — neither a lease renewal nor a Ready heartbeat — as the
//! node lifecycle controller does with a silent kubelet ([`node_silent`]).
//! While an executor still renews the lease, the kubelet side of the Node is
//! alive and it stays Ready: a master failover does not flap the Nodes of
//! agents whose pods keep running.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube_mesos_node::capacity::node_resources;
use kube_mesos_node::info::KUBELET_VERSION;
use kube_mesos_node::labels::{node_arch, node_labels};
use kube_mesos_proto::v1::{AgentInfo, Resource};

/// Annotation on a Node: the Mesos agent ID behind it.
pub use kube_mesos_node::annotations::ANNOTATION_AGENT_ID as ANNOTATION_NODE_AGENT_ID;
pub use kube_mesos_node::lease::{FRAMEWORK_LEASE_HOLDER, NODE_LEASE_DURATION_SECONDS};

/// Whether an agent's Node is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentHealth {
    /// Registered with the master.
    Registered,
    /// Not registered with the master (removed, unreachable, or not yet
    /// re-registered): Ready=Unknown once the node lease expired.
    Lost,
}

/// The Node for an agent (metadata and status; `spec` left empty so an
/// operator's cordon or taints are not overwritten). `executor` is what the
/// kube-mesos executor is launched with, set aside from allocatable.
pub fn node_for_agent(
    agent: &AgentInfo,
    total_resources: &[Resource],
    executor: &[Resource],
    now: jiff::Timestamp,
) -> Node {
    let name = node_name(&agent.hostname);
    let labels = node_labels(&agent.hostname, &agent.attributes, agent.domain.as_ref());
    // Unknown (empty) unless the agent has an `arch` attribute: the
    // executor, running on the agent, writes its host's (node_arch).
    let arch = node_arch(&agent.attributes, None).unwrap_or_default();
    let agent_id = agent
        .id
        .as_ref()
        .map(|a| a.value.clone())
        .unwrap_or_default();
    let resources = if total_resources.is_empty() {
        &agent.resources[..]
    } else {
        total_resources
    };
    let (capacity, allocatable) = node_resources(resources, executor).into_maps(Quantity);
    Node {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                ANNOTATION_NODE_AGENT_ID.to_string(),
                agent_id.clone(),
            )])),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(NodeStatus {
            capacity: Some(capacity),
            allocatable: Some(allocatable),
            conditions: Some(vec![ready_condition(
                &agent_id,
                AgentHealth::Registered,
                now,
            )]),
            addresses: Some(vec![NodeAddress {
                type_: "Hostname".into(),
                address: agent.hostname.clone(),
            }]),
            node_info: Some(NodeSystemInfo {
                architecture: arch,
                operating_system: "linux".into(),
                kubelet_version: KUBELET_VERSION.to_owned(),
                kube_proxy_version: String::new(),
                ..NodeSystemInfo::default()
            }),
            ..NodeStatus::default()
        }),
    }
}

/// The Node name of an agent hostname (Node names are lower-case DNS names).
pub fn node_name(hostname: &str) -> String {
    hostname.to_ascii_lowercase()
}

/// The `Ready` condition for an agent in `health`.
pub fn ready_condition(agent_id: &str, health: AgentHealth, now: jiff::Timestamp) -> NodeCondition {
    let (status, reason, message) = match health {
        AgentHealth::Registered => (
            "True",
            "MesosAgentRegistered",
            format!("Mesos agent {agent_id} is registered with the master"),
        ),
        AgentHealth::Lost => (
            "Unknown",
            "NodeStatusUnknown",
            format!(
                "Mesos agent {agent_id} is not registered with the master and its kubelet stopped posting node status"
            ),
        ),
    };
    NodeCondition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Keeps each condition's `lastTransitionTime` from `previous` where its
/// status did not change, as the kubelet's setters do: a framework restart
/// or a re-registration rewrites the Node, and must not make `kubectl
/// describe node` say the Node just turned Ready.
pub fn keep_transition_times(conditions: &mut [NodeCondition], previous: Option<&NodeStatus>) {
    let old = previous
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    for condition in conditions {
        let kept = old
            .iter()
            .find(|o| o.type_ == condition.type_ && o.status == condition.status)
            .and_then(|o| o.last_transition_time.clone());
        if let Some(time) = kept {
            condition.last_transition_time = Some(time);
        }
    }
}

/// How long an unchanged Node's status may go unwritten: the kubelet's
/// default `nodeStatusReportFrequency`. Liveness is the node lease's job.
pub const NODE_STATUS_REPORT_FREQUENCY: std::time::Duration = std::time::Duration::from_secs(300);

/// Whether writing `desired` would change nothing on `existing` that anyone
/// reads: our labels and annotations are there with our values; capacity,
/// allocatable and addresses are the same; the nodeInfo fields we know
/// (non-empty) are the same; every condition we write has the same status,
/// reason and message; and the Ready heartbeat is younger than
/// [`NODE_STATUS_REPORT_FREQUENCY`]. A framework restart registers every
/// agent again: at 5,000 agents rewriting each Node (three calls, one at a
/// time) took minutes and competed with the first placements.
pub fn node_up_to_date(desired: &Node, existing: &Node, now: jiff::Timestamp) -> bool {
    fn subset(
        ours: Option<&BTreeMap<String, String>>,
        theirs: Option<&BTreeMap<String, String>>,
    ) -> bool {
        ours.into_iter()
            .flatten()
            .all(|(k, v)| theirs.and_then(|t| t.get(k)) == Some(v))
    }
    if !subset(
        desired.metadata.labels.as_ref(),
        existing.metadata.labels.as_ref(),
    ) || !subset(
        desired.metadata.annotations.as_ref(),
        existing.metadata.annotations.as_ref(),
    ) {
        return false;
    }
    let (Some(want), Some(have)) = (desired.status.as_ref(), existing.status.as_ref()) else {
        return desired.status.is_none();
    };
    if want.capacity != have.capacity
        || want.allocatable != have.allocatable
        || want.addresses != have.addresses
    {
        return false;
    }
    if let Some(info) = &want.node_info {
        let unknown = NodeSystemInfo::default();
        let theirs = have.node_info.as_ref().unwrap_or(&unknown);
        let known = |ours: &str, theirs: &str| ours.is_empty() || ours == theirs;
        if !known(&info.architecture, &theirs.architecture)
            || !known(&info.operating_system, &theirs.operating_system)
            || !known(&info.kubelet_version, &theirs.kubelet_version)
            || !known(&info.kube_proxy_version, &theirs.kube_proxy_version)
        {
            return false;
        }
    }
    let fresh_after = now - NODE_STATUS_REPORT_FREQUENCY;
    want.conditions.iter().flatten().all(|c| {
        have.conditions.iter().flatten().any(|h| {
            h.type_ == c.type_
                && h.status == c.status
                && h.reason == c.reason
                && h.message == c.message
                && h.last_heartbeat_time
                    .as_ref()
                    .is_some_and(|t| t.0 > fresh_after)
        })
    })
}

/// Whether the framework should renew a node lease now (the module's rule).
pub fn should_renew_node_lease(current: Option<&LeaseSpec>, now: jiff::Timestamp) -> bool {
    let Some(spec) = current else { return true };
    spec.holder_identity.as_deref() == Some(FRAMEWORK_LEASE_HOLDER)
        || node_silent(Some(spec), None, now)
}

/// Whether nothing has been heard of a Node for a lease duration: neither
/// its lease renewed nor its Ready condition's heartbeat written (the node
/// lifecycle controller's probe, with its grace period the lease duration).
pub fn node_silent(
    lease: Option<&LeaseSpec>,
    ready_heartbeat: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> bool {
    let duration = i64::from(
        lease
            .and_then(|l| l.lease_duration_seconds)
            .unwrap_or(NODE_LEASE_DURATION_SECONDS),
    );
    let renewed = lease.and_then(|l| l.renew_time.as_ref()).map(|t| t.0);
    match renewed.into_iter().chain(ready_heartbeat).max() {
        None => true,
        Some(last) => now.as_second() - last.as_second() > duration,
    }
}

/// Nodes of agents that are neither among the master's agents (`present`)
/// nor `known` to the registry, yet still Ready: (agent ID, Node name).
/// Such an agent went away before this framework process heard of it (say,
/// it became unreachable and the framework restarted since); nobody else
/// would ever turn its Node NotReady.
pub fn absent_agent_nodes(
    nodes: &[Node],
    present: &HashSet<String>,
    known: &dyn Fn(&str) -> bool,
) -> Vec<(String, String)> {
    nodes
        .iter()
        .filter_map(|n| {
            let id = n
                .metadata
                .annotations
                .as_ref()?
                .get(ANNOTATION_NODE_AGENT_ID)?;
            let name = n.metadata.name.clone()?;
            let ready = n
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            (ready && !present.contains(id) && !known(id)).then(|| (id.clone(), name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::{domain_info, value, AgentId, Attribute, DomainInfo};

    #[test]
    fn ready_nodes_of_agents_nobody_lists_are_absent() {
        let node = |name: &str, id: &str, health: AgentHealth| {
            let mut n = node_for_agent(
                &AgentInfo {
                    hostname: name.into(),
                    id: Some(AgentId { value: id.into() }),
                    ..AgentInfo::default()
                },
                &[],
                &[],
                jiff::Timestamp::UNIX_EPOCH,
            );
            if let Some(c) = n
                .status
                .as_mut()
                .and_then(|s| s.conditions.as_mut())
                .and_then(|c| c.iter_mut().find(|c| c.type_ == "Ready"))
            {
                *c = ready_condition(id, health, jiff::Timestamp::UNIX_EPOCH);
            }
            n
        };
        let nodes = [
            node("listed", "S1", AgentHealth::Registered),
            node("known", "S2", AgentHealth::Registered),
            node("gone", "S3", AgentHealth::Registered),
            node("gone-and-marked", "S4", AgentHealth::Lost),
            Node::default(),
        ];
        let absent =
            absent_agent_nodes(&nodes, &HashSet::from(["S1".to_string()]), &|id| id == "S2");
        assert_eq!(absent, [("S3".to_string(), "gone".to_string())]);
    }

    fn scalar(name: &str, v: f64, role: Option<&str>) -> Resource {
        Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(kube_mesos_proto::v1::value::Scalar { value: v }),
            allocation_info: role.map(|r| kube_mesos_proto::v1::resource::AllocationInfo {
                role: Some(r.to_string()),
            }),
            ..Resource::default()
        }
    }

    fn agent() -> AgentInfo {
        AgentInfo {
            hostname: "Agent-1.example".into(),
            id: Some(AgentId { value: "S1".into() }),
            attributes: vec![
                Attribute {
                    name: "rack".into(),
                    r#type: value::Type::Text as i32,
                    text: Some(value::Text { value: "r1".into() }),
                    ..Attribute::default()
                },
                Attribute {
                    name: "gpus".into(),
                    r#type: value::Type::Scalar as i32,
                    scalar: Some(value::Scalar { value: 2.0 }),
                    ..Attribute::default()
                },
                Attribute {
                    name: "bad key!".into(),
                    r#type: value::Type::Text as i32,
                    text: Some(value::Text { value: "x".into() }),
                    ..Attribute::default()
                },
            ],
            domain: Some(DomainInfo {
                fault_domain: Some(domain_info::FaultDomain {
                    region: domain_info::fault_domain::RegionInfo { name: "eu".into() },
                    zone: domain_info::fault_domain::ZoneInfo {
                        name: "eu-1a".into(),
                    },
                }),
            }),
            ..AgentInfo::default()
        }
    }

    #[test]
    fn node_carries_labels_annotation_capacity_and_ready() {
        let resources = vec![
            scalar("cpus", 3.0, None),
            scalar("cpus", 0.5, Some("web")),
            scalar("mem", 4096.0, None),
            scalar("disk", 10240.5, None),
        ];
        let now = jiff::Timestamp::from_second(100).unwrap();
        let executor = vec![scalar("cpus", 0.1, None), scalar("mem", 64.0, None)];
        let node = node_for_agent(&agent(), &resources, &executor, now);
        assert_eq!(node.metadata.name.as_deref(), Some("agent-1.example"));
        let labels = node.metadata.labels.unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], "Agent-1.example");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert!(
            !labels.contains_key("kubernetes.io/arch"),
            "no arch attribute: unknown to the framework, the executor writes its host's"
        );
        assert_eq!(labels["rack"], "r1");
        assert_eq!(labels["gpus"], "2");
        assert_eq!(labels["topology.kubernetes.io/region"], "eu");
        assert_eq!(labels["topology.kubernetes.io/zone"], "eu-1a");
        assert!(!labels.contains_key("bad key!"));
        assert_eq!(
            node.metadata.annotations.unwrap()[ANNOTATION_NODE_AGENT_ID],
            "S1"
        );
        let status = node.status.unwrap();
        let cap = status.capacity.unwrap();
        assert_eq!(cap["cpu"].0, "3500m");
        assert_eq!(cap["memory"].0, "4096Mi");
        assert_eq!(cap["ephemeral-storage"].0, "10486272Ki");
        assert_eq!(cap["pods"].0, "110");
        let alloc = status.allocatable.unwrap();
        assert_eq!(alloc["cpu"].0, "3290m", "less the executor and 110 x 1m");
        assert_eq!(alloc["memory"].0, "4032Mi", "less the executor");
        assert_eq!(alloc["pods"].0, "110");
        let ready = &status.conditions.unwrap()[0];
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            ("Ready", "True")
        );
    }

    #[test]
    fn lost_agent_is_ready_unknown() {
        let c = ready_condition("S1", AgentHealth::Lost, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(c.status, "Unknown");
        assert_eq!(c.reason.as_deref(), Some("NodeStatusUnknown"));
    }

    #[test]
    fn lease_rule_defers_to_a_live_executor() {
        let now = jiff::Timestamp::from_second(1_000).unwrap();
        let lease = |holder: &str, renewed: i64| LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(40),
            renew_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                jiff::Timestamp::from_second(renewed).unwrap(),
            )),
            ..LeaseSpec::default()
        };
        assert!(should_renew_node_lease(None, now));
        assert!(should_renew_node_lease(
            Some(&lease(FRAMEWORK_LEASE_HOLDER, 999)),
            now
        ));
        assert!(!should_renew_node_lease(Some(&lease("agent-1", 990)), now));
        assert!(should_renew_node_lease(Some(&lease("agent-1", 950)), now));
    }

    #[test]
    fn a_node_is_up_to_date_while_it_says_what_we_would_write_and_its_status_is_recent() {
        let t0 = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let desired = |now| node_for_agent(&agent(), &[], &[], now);
        let mut existing = desired(t0);
        // Labels and annotations of others, and nodeInfo the executor
        // wrote, do not count.
        existing
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("team".into(), "a".into());
        existing
            .status
            .as_mut()
            .unwrap()
            .node_info
            .as_mut()
            .unwrap()
            .machine_id = "m".into();
        let later = t0 + std::time::Duration::from_secs(60);
        assert!(node_up_to_date(&desired(later), &existing, later));
        // Our Ready heartbeat older than the kubelet's report frequency.
        let stale = t0 + NODE_STATUS_REPORT_FREQUENCY + std::time::Duration::from_secs(1);
        assert!(!node_up_to_date(&desired(stale), &existing, stale));
        // Not Ready (the agent was lost) while it is registered again.
        let mut lost = existing.clone();
        lost.status.as_mut().unwrap().conditions =
            Some(vec![ready_condition("S1", AgentHealth::Lost, t0)]);
        assert!(!node_up_to_date(&desired(later), &lost, later));
        // One of our labels changed or gone.
        let mut relabelled = existing.clone();
        relabelled.metadata.labels.as_mut().unwrap().remove("rack");
        assert!(!node_up_to_date(&desired(later), &relabelled, later));
        // Other capacity.
        let mut resized = existing;
        resized.status.as_mut().unwrap().capacity = Some(BTreeMap::new());
        assert!(!node_up_to_date(&desired(later), &resized, later));
    }

    #[test]
    fn a_node_is_silent_once_neither_lease_nor_heartbeat_is_fresh() {
        let at = |s: i64| jiff::Timestamp::from_second(s).unwrap();
        let now = at(1_000);
        let lease = |renewed: Option<i64>| LeaseSpec {
            holder_identity: Some("agent-1".into()),
            lease_duration_seconds: Some(40),
            renew_time: renewed
                .map(|s| k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(at(s))),
            ..LeaseSpec::default()
        };
        assert!(node_silent(None, None, now));
        assert!(node_silent(Some(&lease(None)), None, now));
        assert!(!node_silent(Some(&lease(Some(960))), None, now));
        assert!(node_silent(Some(&lease(Some(959))), None, now));
        // A fresh heartbeat of the Node's Ready condition counts too (a
        // Node registered moments ago, before any lease was written).
        assert!(!node_silent(None, Some(at(990)), now));
        assert!(!node_silent(Some(&lease(Some(900))), Some(at(990)), now));
        assert!(node_silent(Some(&lease(Some(900))), Some(at(950)), now));
    }

    #[test]
    fn a_rewritten_condition_keeps_its_transition_time_while_its_status_holds() {
        let t0 = jiff::Timestamp::from_second(1_000).unwrap();
        let t1 = jiff::Timestamp::from_second(2_000).unwrap();
        let previous = NodeStatus {
            conditions: Some(vec![ready_condition("S1", AgentHealth::Registered, t0)]),
            ..NodeStatus::default()
        };
        let mut same = [ready_condition("S1", AgentHealth::Registered, t1)];
        keep_transition_times(&mut same, Some(&previous));
        assert_eq!(same[0].last_transition_time, Some(Time(t0)));
        assert_eq!(same[0].last_heartbeat_time, Some(Time(t1)));

        let mut changed = [ready_condition("S1", AgentHealth::Lost, t1)];
        keep_transition_times(&mut changed, Some(&previous));
        assert_eq!(changed[0].last_transition_time, Some(Time(t1)));

        let mut first = [ready_condition("S1", AgentHealth::Registered, t1)];
        keep_transition_times(&mut first, None);
        assert_eq!(first[0].last_transition_time, Some(Time(t1)));
    }
}
