//! An agent's Node is written by two parties: the framework when it creates
//! the Node, and the executor when it posts the Node's status as its
//! kubelet. From the same agent both must compute the same Node (kubelet
//! version, capacity, allocatable, architecture), else the Node flips with
//! every writer (a real Mesos run showed `v0.0.0-kube-mesos-0.1.0` replaced
//! by `kube-mesos/v0.1.0`). The values come from kube-mesos-node; these
//! tests check that both writers use them the same way.

use k8s_openapi::jiff::Timestamp;
use kube_mesos_executor::kube::node::{arch_label_patch, node_status, HostFacts, NodeFacts};
use kube_mesos_framework::nodes::agent_node::node_for_agent;
use kube_mesos_node::info::KUBELET_VERSION;
use kube_mesos_proto::v1::{AgentId, AgentInfo};

// The Kubernetes minor we implement is k8s-openapi's enabled feature; a
// change of that feature must change KUBELET_VERSION too (this fails to
// compile until the `k8s_if_1_NN!` below is updated with it).
k8s_openapi::k8s_if_1_33! {
    const IMPLEMENTED_MINOR: &str = "v1.33.";
}

/// What the executor on an amd64 agent knows of its Node.
fn executor_facts(
    resources: Vec<kube_mesos_proto::v1::Resource>,
    executor_resources: Vec<kube_mesos_proto::v1::Resource>,
    attributes: Vec<kube_mesos_proto::v1::Attribute>,
) -> NodeFacts {
    NodeFacts {
        node_name: "agent-1".into(),
        hostname: "agent-1".into(),
        internal_ip: None,
        resources,
        executor_resources,
        attributes,
        kubelet_port: 10250,
        container_runtime_version: "process://0.1.0".into(),
        host: HostFacts {
            architecture: "amd64".into(),
            ..Default::default()
        },
    }
}

#[test]
fn framework_and_executor_write_the_same_kubelet_version() {
    let agent = AgentInfo {
        hostname: "agent-1".into(),
        id: Some(AgentId { value: "S1".into() }),
        ..Default::default()
    };
    let from_framework = node_for_agent(&agent, &[], &[], Timestamp::now())
        .status
        .and_then(|s| s.node_info)
        .map(|i| i.kubelet_version);
    let facts = executor_facts(Vec::new(), Vec::new(), Vec::new());
    let from_executor = node_status(&facts, None, Timestamp::now())
        .node_info
        .map(|i| i.kubelet_version);
    assert_eq!(from_framework.as_deref(), Some(KUBELET_VERSION));
    assert_eq!(from_executor, from_framework);
}

#[test]
fn kubelet_version_names_the_kubernetes_minor_we_implement() {
    assert!(
        KUBELET_VERSION.starts_with(IMPLEMENTED_MINOR),
        "{KUBELET_VERSION} vs k8s-openapi {IMPLEMENTED_MINOR}"
    );
}

/// Capacity and allocatable are written by the same two parties; both
/// set aside the executor's resources and the per-task floor the same way.
#[test]
fn framework_and_executor_write_the_same_capacity_and_allocatable() {
    use kube_mesos_proto::v1::{value, Resource};
    let scalar = |name: &str, v: f64| Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    };
    let agent_resources = vec![
        scalar("cpus", 2.0),
        scalar("mem", 2048.0),
        scalar("disk", 4096.0),
        scalar("example.com/dongle", 2.0),
    ];
    let executor = vec![scalar("cpus", 0.1), scalar("mem", 64.0)];
    let agent = AgentInfo {
        hostname: "agent-1".into(),
        id: Some(AgentId { value: "S1".into() }),
        resources: agent_resources.clone(),
        ..Default::default()
    };
    let framework = node_for_agent(&agent, &agent_resources, &executor, Timestamp::now())
        .status
        .expect("status");
    let facts = executor_facts(agent_resources, executor, Vec::new());
    let executor_status = node_status(&facts, None, Timestamp::now());
    assert_eq!(framework.capacity, executor_status.capacity);
    assert_eq!(framework.allocatable, executor_status.allocatable);
    let alloc = framework.allocatable.expect("allocatable");
    assert_eq!(alloc["cpu"].0, "1790m");
    assert_eq!(alloc["memory"].0, "1984Mi");
    assert_eq!(alloc["example.com/dongle"].0, "2");
}

/// The Node's architecture: the framework does not run on the agent and
/// writes it only from the agent's `arch` attribute; the executor writes
/// the same attribute's value, or its own host's when there is none. They
/// never write different values. Regression: the framework labelled every
/// agent without the attribute with the framework host's architecture.
#[test]
fn framework_and_executor_agree_on_the_nodes_architecture() {
    use kube_mesos_proto::v1::{value, Attribute};
    let arch_attribute = Attribute {
        name: "arch".into(),
        r#type: value::Type::Text as i32,
        text: Some(value::Text {
            value: "arm64".into(),
        }),
        ..Default::default()
    };
    // The executor runs on an amd64 host in both cases.
    for (attributes, want_framework, want_executor) in [
        (vec![arch_attribute], Some("arm64"), "arm64"),
        (Vec::new(), None, "amd64"),
    ] {
        let agent = AgentInfo {
            hostname: "agent-1".into(),
            id: Some(AgentId { value: "S1".into() }),
            attributes: attributes.clone(),
            ..Default::default()
        };
        let node = node_for_agent(&agent, &[], &[], Timestamp::now());
        let framework_label = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/arch"))
            .cloned();
        let framework_info = node.status.and_then(|s| s.node_info).expect("nodeInfo");
        assert_eq!(framework_label.as_deref(), want_framework);
        assert_eq!(framework_info.architecture, want_framework.unwrap_or(""));
        let facts = executor_facts(Vec::new(), Vec::new(), attributes);
        let executor_info = node_status(&facts, None, Timestamp::now())
            .node_info
            .expect("nodeInfo");
        assert_eq!(executor_info.architecture, want_executor);
        // The executor labels the Node it finds (the framework's) with the
        // same value, and has nothing to add once the label agrees.
        let patch = arch_label_patch(node.metadata.labels.as_ref(), &facts);
        match framework_label {
            Some(_) => assert_eq!(patch, None, "the framework's label already agrees"),
            None => assert_eq!(
                patch.expect("label the Node")["metadata"]["labels"]["kubernetes.io/arch"],
                want_executor
            ),
        }
    }
}
