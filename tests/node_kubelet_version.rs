//! The Node's `kubeletVersion` is written by two parties: the framework
//! when it creates an agent's Node, and the executor when it posts the
//! Node's status as its kubelet. Both must write the same value, else the
//! Node's version flips with every writer (a real Mesos run showed
//! `v0.0.0-kube-mesos-0.1.0` replaced by `kube-mesos/v0.1.0`).

use k8s_openapi::jiff::Timestamp;
use kube_mesos_executor::kube::node::{node_status, NodeFacts};
use kube_mesos_framework::nodes::agent_node::node_for_agent;
use kube_mesos_proto::contract::KUBELET_VERSION;
use kube_mesos_proto::v1::{AgentId, AgentInfo};

// The Kubernetes minor we implement is k8s-openapi's enabled feature; a
// change of that feature must change KUBELET_VERSION too (this fails to
// compile until the `k8s_if_1_NN!` below is updated with it).
k8s_openapi::k8s_if_1_33! {
    const IMPLEMENTED_MINOR: &str = "v1.33.";
}

#[test]
fn framework_and_executor_write_the_same_kubelet_version() {
    let agent = AgentInfo {
        hostname: "agent-1".into(),
        id: Some(AgentId { value: "S1".into() }),
        ..Default::default()
    };
    let from_framework = node_for_agent(&agent, &[], Timestamp::now())
        .status
        .and_then(|s| s.node_info)
        .map(|i| i.kubelet_version);
    let facts = NodeFacts {
        node_name: "agent-1".into(),
        hostname: "agent-1".into(),
        internal_ip: None,
        resources: Vec::new(),
        kubelet_port: 10250,
        container_runtime_version: "process://0.1.0".into(),
        host: Default::default(),
    };
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
