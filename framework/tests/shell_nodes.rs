//! The node registry against the embedded API server: the offer fallback
//! (no operator API), NotReady after removal once the Node went silent, and
//! the node-lease rule with an executor holding the lease.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube_mesos_devcluster::apiserver::{ApiServer, ApiServerConfig};
use kube_mesos_framework::nodes::operator::{AgentRecord, OperatorEvent};
use kube_mesos_framework::nodes::NodeRegistry;
use kube_mesos_proto::v1::{
    value, AgentId, AgentInfo, Attribute, FrameworkId, Offer, OfferId, Resource,
};

async fn api_server() -> (tempfile::TempDir, ApiServer, kube::Client) {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = ApiServer::start(ApiServerConfig::new(dir.path(), "t"), listener)
        .await
        .unwrap();
    let client = kube_mesos_framework::kube::client_from_yaml(&api.kubeconfig())
        .await
        .unwrap();
    (dir, api, client)
}

fn offer(agent: &str, hostname: &str) -> Offer {
    let scalar = |name: &str, v: f64| Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Resource::default()
    };
    Offer {
        id: OfferId { value: "o1".into() },
        framework_id: FrameworkId { value: "f".into() },
        agent_id: AgentId {
            value: agent.into(),
        },
        hostname: hostname.into(),
        resources: vec![scalar("cpus", 1.5), scalar("mem", 1024.0)],
        attributes: vec![Attribute {
            name: "rack".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text { value: "r9".into() }),
            ..Attribute::default()
        }],
        ..Offer::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_fallback_registers_a_node_and_a_removed_agents_node_turns_not_ready_once_silent() {
    let (_dir, api, client) = api_server().await;
    let mut registry = NodeRegistry::new(client.clone());
    registry.saw_offer(&offer("S9", "host-9")).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get("host-9").await.unwrap();
    let labels = node.metadata.labels.unwrap();
    assert_eq!(labels["rack"], "r9");
    assert_eq!(labels["kubernetes.io/hostname"], "host-9");
    let status = node.status.unwrap();
    assert_eq!(status.capacity.unwrap()["cpu"].0, "1500m");
    assert_eq!(registry.registered(), vec!["S9".to_string()]);

    let inputs = registry
        .apply(OperatorEvent::AgentRemoved(AgentId { value: "S9".into() }))
        .await;
    assert!(matches!(
        &inputs[..],
        [kube_mesos_framework::core::Input::AgentUnreachable(a)] if a.value == "S9"
    ));
    assert!(registry.registered().is_empty());
    let ready = || async {
        nodes
            .get("host-9")
            .await
            .unwrap()
            .status
            .unwrap()
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
    };
    // Heard of moments ago (its Ready heartbeat): still Ready, as the node
    // lifecycle controller would leave it within its grace period.
    assert_eq!(ready().await.status, "True");

    // Silent for longer than a lease duration: an executor that renews the
    // lease keeps it Ready; once the lease is stale too, the next round
    // turns it Unknown.
    let long_ago = jiff::Timestamp::now() - Duration::from_secs(120);
    let heartbeat = serde_json::json!({ "status": { "conditions": [{
        "type": "Ready",
        "lastHeartbeatTime": long_ago.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }]}});
    nodes
        .patch_status(
            "host-9",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Strategic(&heartbeat),
        )
        .await
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = |renewed: jiff::Timestamp| Lease {
        metadata: ObjectMeta {
            name: Some("host-9".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("host-9".into()),
            lease_duration_seconds: Some(40),
            renew_time: Some(MicroTime(renewed)),
            ..LeaseSpec::default()
        }),
    };
    leases
        .create(&PostParams::default(), &lease(jiff::Timestamp::now()))
        .await
        .unwrap();
    registry.renew_leases().await;
    assert_eq!(ready().await.status, "True", "a live kubelet's lease");
    let mut stale = leases.get("host-9").await.unwrap();
    stale.spec = lease(long_ago).spec;
    leases
        .replace("host-9", &PostParams::default(), &stale)
        .await
        .unwrap();
    registry.renew_leases().await;
    let condition = ready().await;
    assert_eq!(condition.status, "Unknown");
    assert_eq!(condition.reason.as_deref(), Some("NodeStatusUnknown"));
    api.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_renews_node_leases_except_where_an_executor_holds_them() {
    let (_dir, api, client) = api_server().await;
    let mut registry = NodeRegistry::new(client.clone());
    registry.saw_offer(&offer("S1", "free")).await;
    registry.saw_offer(&offer("S2", "busy")).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    // An executor renews the lease of "busy".
    let fresh = jiff::Timestamp::now();
    leases
        .create(
            &PostParams::default(),
            &Lease {
                metadata: ObjectMeta {
                    name: Some("busy".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some("busy".into()),
                    lease_duration_seconds: Some(40),
                    renew_time: Some(MicroTime(fresh)),
                    ..LeaseSpec::default()
                }),
            },
        )
        .await
        .unwrap();
    registry.renew_leases().await;
    let free = leases.get("free").await.unwrap().spec.unwrap();
    assert_eq!(
        free.holder_identity.as_deref(),
        Some("kube-mesos-framework")
    );
    let busy = leases.get("busy").await.unwrap().spec.unwrap();
    assert_eq!(
        busy.holder_identity.as_deref(),
        Some("busy"),
        "a live executor lease is left alone"
    );

    // The executor stops renewing: once stale, the framework takes over.
    let mut stale = leases.get("busy").await.unwrap();
    stale.spec.as_mut().unwrap().renew_time = Some(MicroTime(fresh - Duration::from_secs(120)));
    leases
        .replace("busy", &PostParams::default(), &stale)
        .await
        .unwrap();
    registry.renew_leases().await;
    let busy = leases.get("busy").await.unwrap().spec.unwrap();
    assert_eq!(
        busy.holder_identity.as_deref(),
        Some("kube-mesos-framework")
    );
    api.abort();
}

fn record(agent: &str, hostname: &str, cpus: f64) -> AgentRecord {
    let o = offer(agent, hostname);
    let mut resources = o.resources;
    resources[0].scalar = Some(value::Scalar { value: cpus });
    AgentRecord {
        info: AgentInfo {
            id: Some(o.agent_id),
            hostname: hostname.into(),
            attributes: o.attributes,
            resources: resources.clone(),
            ..AgentInfo::default()
        },
        total_resources: resources,
    }
}

/// A framework restart registers every agent again: the Nodes that already
/// say what the agent is are not written again (one LIST, no PATCH), and a
/// Node whose agent changed is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_registry_writes_only_the_nodes_that_changed() {
    let (_dir, api, client) = api_server().await;
    let snapshot = |cpus_b: f64| OperatorEvent::Snapshot {
        agents: vec![record("SA", "host-a", 2.0), record("SB", "host-b", cpus_b)],
        executors: vec![],
    };
    let mut first = NodeRegistry::new(client.clone());
    first.apply(snapshot(2.0)).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let version = |n: Node| n.metadata.resource_version.unwrap();
    let a = version(nodes.get("host-a").await.unwrap());
    let b = version(nodes.get("host-b").await.unwrap());

    // The restart: a new registry, the same agents but B has more CPUs.
    let mut second = NodeRegistry::new(client.clone());
    second.apply(snapshot(4.0)).await;
    assert_eq!(
        version(nodes.get("host-a").await.unwrap()),
        a,
        "host-a untouched"
    );
    let node_b = nodes.get("host-b").await.unwrap();
    assert_ne!(version(node_b.clone()), b, "host-b rewritten");
    assert_eq!(node_b.status.unwrap().capacity.unwrap()["cpu"].0, "4");
    // The same registry told of a change again writes it: what it keeps of
    // the record it wrote from tells the two apart.
    second.apply(snapshot(8.0)).await;
    let cpu = |n: Node| n.status.unwrap().capacity.unwrap()["cpu"].0.clone();
    assert_eq!(cpu(nodes.get("host-b").await.unwrap()), "8");
    second.apply(snapshot(8.0)).await;
    assert_eq!(cpu(nodes.get("host-b").await.unwrap()), "8");
    let mut registered = second.registered();
    registered.sort();
    assert_eq!(registered, ["SA", "SB"]);
    api.abort();
}

/// A round renews every agent's lease, however many more agents than
/// writes in flight there are: each is created on the first round and
/// renewed (a later renewTime) on the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_round_covers_every_agent() {
    let (_dir, api, client) = api_server().await;
    let mut registry = NodeRegistry::new(client.clone());
    let agents: Vec<String> = (0..50).map(|i| format!("host-{i}")).collect();
    for (i, host) in agents.iter().enumerate() {
        registry.saw_offer(&offer(&format!("S{i}"), host)).await;
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renewed = |list: &[Lease]| -> std::collections::BTreeMap<String, jiff::Timestamp> {
        list.iter()
            .filter_map(|l| {
                let spec = l.spec.as_ref()?;
                assert_eq!(
                    spec.holder_identity.as_deref(),
                    Some("kube-mesos-framework")
                );
                Some((l.metadata.name.clone()?, spec.renew_time.as_ref()?.0))
            })
            .collect()
    };
    registry.renew_leases().await;
    let first = renewed(&leases.list(&Default::default()).await.unwrap().items);
    assert_eq!(first.len(), agents.len());
    tokio::time::sleep(Duration::from_millis(20)).await;
    registry.renew_leases().await;
    let second = renewed(&leases.list(&Default::default()).await.unwrap().items);
    assert_eq!(second.len(), agents.len());
    for (name, at) in &second {
        assert!(*at > first[name], "{name} renewed");
    }
    api.abort();
}
