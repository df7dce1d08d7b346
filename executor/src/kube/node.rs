//! The Node's status as this executor's kubelet role keeps it.
//!
//! The framework creates one Node per agent; the executor running on the
//! agent patches its `status` like a kubelet (`pkg/kubelet/nodestatus`):
//! the Ready condition (`KubeletReady`, "kubelet is posting ready status"),
//! capacity and allocatable from the agent's resources, nodeInfo from the
//! host, addresses (InternalIP, Hostname) and the kubelet endpoint's port,
//! which is where the API server sends `pods/log`.
//!
//! [`node_status`] is pure (facts in, status out); [`HostFacts::read`]
//! collects the host's facts once; [`run_node_status`] re-patches
//! periodically and retries on errors.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube_mesos_node::capacity::node_resources;
use kube_mesos_node::info::KUBELET_VERSION;
use kube_mesos_node::labels::{go_arch, node_arch, LABEL_ARCH};
use kube_mesos_proto::v1::{Attribute, Resource};

use super::{api_error, Backoff, KubeError};

/// Ready reason of a healthy kubelet.
pub const KUBELET_READY: &str = "KubeletReady";
/// Ready message of a healthy kubelet.
pub const KUBELET_READY_MESSAGE: &str = "kubelet is posting ready status";

/// Facts about the host, read once at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// `/sys/class/dmi/id/product_uuid` when readable.
    pub system_uuid: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
    /// `/proc/sys/kernel/osrelease` (uname -r).
    pub kernel_version: String,
    /// PRETTY_NAME of `/etc/os-release`.
    pub os_image: String,
    /// GOARCH spelling of this host's architecture (the Node's, unless the
    /// agent's `arch` attribute says otherwise: [`node_arch`]).
    pub architecture: String,
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `PRETTY_NAME` of an os-release file's text (quotes removed); "Linux"
/// when missing, as the kubelet's cadvisor fallback.
pub fn os_image(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "Linux".into())
}

impl HostFacts {
    /// Reads the facts of this host.
    pub fn read() -> Self {
        let os_release = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .unwrap_or_default();
        Self {
            machine_id: read_trimmed(Path::new("/etc/machine-id")),
            system_uuid: read_trimmed(Path::new("/sys/class/dmi/id/product_uuid")),
            boot_id: read_trimmed(Path::new("/proc/sys/kernel/random/boot_id")),
            kernel_version: read_trimmed(Path::new("/proc/sys/kernel/osrelease")),
            os_image: os_image(&os_release),
            architecture: go_arch(std::env::consts::ARCH).to_string(),
        }
    }
}

/// Everything the Node status is derived from.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    /// The node name.
    pub node_name: String,
    /// The agent's hostname.
    pub hostname: String,
    /// The node IP.
    pub internal_ip: Option<String>,
    /// The agent's total resources (SUBSCRIBED.agent_info.resources).
    pub resources: Vec<Resource>,
    /// The agent's attributes (SUBSCRIBED.agent_info.attributes): an `arch`
    /// attribute names the Node's architecture for both writers.
    pub attributes: Vec<Attribute>,
    /// This executor's own resources (SUBSCRIBED.executor_info.resources),
    /// set aside from allocatable.
    pub executor_resources: Vec<Resource>,
    /// The kubelet endpoint's port.
    pub kubelet_port: u16,
    /// `containerRuntimeVersion` (`process://0.1.0`, `containerd://1.7`).
    pub container_runtime_version: String,
    /// Host facts.
    pub host: HostFacts,
}

/// The Ready condition at `now`; its transition time stays when the
/// previous Ready condition was already True.
pub fn ready_condition(
    previous: Option<&core::NodeCondition>,
    now: Timestamp,
) -> core::NodeCondition {
    let transition = previous
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    core::NodeCondition {
        type_: "Ready".into(),
        status: "True".into(),
        reason: Some(KUBELET_READY.into()),
        message: Some(KUBELET_READY_MESSAGE.into()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(transition),
    }
}

/// The Node status this executor writes. `previous` is the Node's current
/// status (for the Ready transition time).
pub fn node_status(
    facts: &NodeFacts,
    previous: Option<&core::NodeStatus>,
    now: Timestamp,
) -> core::NodeStatus {
    let prev_ready = previous
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    let (capacity, allocatable) =
        node_resources(&facts.resources, &facts.executor_resources).into_maps(Quantity);
    let mut addresses = Vec::new();
    if let Some(ip) = &facts.internal_ip {
        addresses.push(core::NodeAddress {
            type_: "InternalIP".into(),
            address: ip.clone(),
        });
    }
    addresses.push(core::NodeAddress {
        type_: "Hostname".into(),
        address: facts.hostname.clone(),
    });
    let h = &facts.host;
    core::NodeStatus {
        capacity: Some(capacity),
        allocatable: Some(allocatable),
        conditions: Some(vec![ready_condition(prev_ready, now)]),
        addresses: Some(addresses),
        daemon_endpoints: Some(core::NodeDaemonEndpoints {
            kubelet_endpoint: Some(core::DaemonEndpoint {
                port: i32::from(facts.kubelet_port),
            }),
        }),
        node_info: Some(core::NodeSystemInfo {
            architecture: arch(facts),
            boot_id: h.boot_id.clone(),
            container_runtime_version: facts.container_runtime_version.clone(),
            kernel_version: h.kernel_version.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.to_owned(),
            machine_id: h.machine_id.clone(),
            operating_system: "linux".into(),
            os_image: h.os_image.clone(),
            system_uuid: h.system_uuid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Node's architecture: the agent's `arch` attribute, else this host's
/// (the rule the framework follows too: [`node_arch`]).
fn arch(facts: &NodeFacts) -> String {
    node_arch(&facts.attributes, Some(&facts.host.architecture)).unwrap_or_default()
}

/// The merge patch that sets the Node's `kubernetes.io/arch` label, as the
/// kubelet labels its Node with its GOARCH; `None` when the label already
/// says so or the architecture is unknown. The framework sets the label
/// only from an `arch` attribute, which this reads the same way.
pub fn arch_label_patch(
    labels: Option<&std::collections::BTreeMap<String, String>>,
    facts: &NodeFacts,
) -> Option<serde_json::Value> {
    let arch = arch(facts);
    let current = labels.and_then(|l| l.get(LABEL_ARCH));
    (!arch.is_empty() && current != Some(&arch))
        .then(|| serde_json::json!({ "metadata": { "labels": { LABEL_ARCH: arch } } }))
}

/// The kubelet's `nodeStatusReportFrequency` with node leases on: an
/// unchanged status is still posted this often.
pub const NODE_STATUS_REPORT_FREQUENCY: Duration = Duration::from_secs(300);

fn without_heartbeats(s: &core::NodeStatus) -> core::NodeStatus {
    let mut s = core::NodeStatus {
        capacity: s.capacity.clone(),
        allocatable: s.allocatable.clone(),
        conditions: s.conditions.clone(),
        addresses: s.addresses.clone(),
        daemon_endpoints: s.daemon_endpoints.clone(),
        node_info: s.node_info.clone(),
        ..Default::default()
    };
    for c in s.conditions.iter_mut().flatten() {
        c.last_heartbeat_time = None;
    }
    s
}

/// Whether to post `new` over `old` (kubelet `tryUpdateNodeStatus`): when
/// anything but heartbeat times changed, or when the last post is
/// `report_every` old (or there was none).
pub fn needs_report(
    old: Option<&core::NodeStatus>,
    new: &core::NodeStatus,
    since_last: Option<Duration>,
    report_every: Duration,
) -> bool {
    let changed = old.is_none_or(|o| without_heartbeats(o) != without_heartbeats(new));
    changed || since_last.is_none_or(|d| d >= report_every)
}

/// Reads the Node and patches its status if [`needs_report`] says so
/// (`since_last`: time since our last post). Returns whether it posted.
pub async fn update_node_status(
    client: &kube::Client,
    facts: &NodeFacts,
    since_last: Option<Duration>,
) -> Result<bool, KubeError> {
    let api: kube::Api<core::Node> = kube::Api::all(client.clone());
    let node = api
        .get_opt(&facts.node_name)
        .await
        .map_err(api_error("get node", facts.node_name.clone()))?;
    let Some(node) = node else {
        return Err(KubeError::NodeMissing {
            node: facts.node_name.clone(),
        });
    };
    if let Some(patch) = arch_label_patch(node.metadata.labels.as_ref(), facts) {
        api.patch(
            &facts.node_name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(api_error("label node", facts.node_name.clone()))?;
    }
    let status = node_status(facts, node.status.as_ref(), Timestamp::now());
    if !needs_report(
        node.status.as_ref(),
        &status,
        since_last,
        NODE_STATUS_REPORT_FREQUENCY,
    ) {
        return Ok(false);
    }
    let patch = serde_json::json!({ "status": status });
    api.patch_status(
        &facts.node_name,
        &PatchParams::default(),
        &Patch::Strategic(&patch),
    )
    .await
    .map_err(api_error("patch status of node", facts.node_name.clone()))?;
    Ok(true)
}

/// Checks the Node status every `interval` until `shutdown` and posts it
/// when it changed or every [`NODE_STATUS_REPORT_FREQUENCY`] (liveness is
/// the Lease's job, as with the kubelet's node leases), retrying failures
/// with backoff.
pub async fn run_node_status(
    client: kube::Client,
    facts: NodeFacts,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut backoff = Backoff::default();
    let mut first = true;
    let mut last_post: Option<tokio::time::Instant> = None;
    loop {
        let since = last_post.map(|t| t.elapsed());
        let delay = match update_node_status(&client, &facts, since).await {
            Ok(posted) => {
                if posted {
                    last_post = Some(tokio::time::Instant::now());
                }
                if first {
                    tracing::info!(node = %facts.node_name, kubelet_port = facts.kubelet_port, "node status posted: Ready");
                    first = false;
                }
                backoff.reset();
                interval
            }
            Err(e) => {
                let d = backoff.next_delay().min(interval);
                tracing::warn!(node = %facts.node_name, error = %e, delay = ?d, "updating node status failed");
                d
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use kube_mesos_proto::v1::value::{self, Scalar};

    use super::*;

    fn scalar(name: &str, v: f64) -> Resource {
        Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(Scalar { value: v }),
            ..Default::default()
        }
    }

    #[test]
    fn node_status_is_posted_on_change_or_every_five_minutes() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let old = node_status(&facts(), None, t);
        let later = Timestamp::from_second(1_700_000_010).unwrap();
        let same = node_status(&facts(), Some(&old), later);
        let every = NODE_STATUS_REPORT_FREQUENCY;
        let ten = Some(Duration::from_secs(10));
        assert!(needs_report(None, &same, ten, every), "no status yet");
        assert!(
            !needs_report(Some(&old), &same, ten, every),
            "only heartbeats moved"
        );
        assert!(
            needs_report(Some(&old), &same, None, every),
            "never posted by us"
        );
        assert!(
            needs_report(Some(&old), &same, Some(every), every),
            "report frequency"
        );
        let mut f = facts();
        f.kubelet_port = 31001;
        let changed = node_status(&f, Some(&old), later);
        assert!(
            needs_report(Some(&old), &changed, ten, every),
            "port changed"
        );
    }

    fn facts() -> NodeFacts {
        NodeFacts {
            node_name: "agent-1".into(),
            hostname: "agent-1".into(),
            internal_ip: Some("127.0.0.1".into()),
            resources: vec![
                scalar("cpus", 3.5),
                scalar("mem", 4096.0),
                scalar("disk", 100.5),
            ],
            executor_resources: vec![scalar("cpus", 0.1), scalar("mem", 64.0)],
            attributes: Vec::new(),
            kubelet_port: 31000,
            container_runtime_version: "process://0.1.0".into(),
            host: HostFacts {
                machine_id: "m".into(),
                boot_id: "b".into(),
                kernel_version: "6.1.0".into(),
                os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                architecture: "amd64".into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn status_is_derived_from_the_agent_and_host() {
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let s = node_status(&facts(), None, now);
        let cap = s.capacity.clone().unwrap();
        assert_eq!(cap["cpu"].0, "3500m");
        assert_eq!(cap["memory"].0, "4Gi".replace("4Gi", "4096Mi"));
        assert_eq!(cap["ephemeral-storage"].0, "102912Ki");
        assert_eq!(cap["pods"].0, "110");
        let alloc = s.allocatable.clone().unwrap();
        assert_eq!(alloc["cpu"].0, "3290m", "less the executor and 110 x 1m");
        assert_eq!(alloc["memory"].0, "4032Mi", "less the executor");
        assert_eq!(alloc["ephemeral-storage"].0, "102912Ki");
        assert_eq!(alloc["pods"].0, "110");
        let ready = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            ("Ready", "True")
        );
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("kubelet is posting ready status")
        );
        let addrs: Vec<_> = s
            .addresses
            .unwrap()
            .into_iter()
            .map(|a| (a.type_, a.address))
            .collect();
        assert_eq!(
            addrs,
            vec![
                ("InternalIP".to_string(), "127.0.0.1".to_string()),
                ("Hostname".to_string(), "agent-1".to_string())
            ]
        );
        assert_eq!(
            s.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port,
            31000
        );
        let info = s.node_info.unwrap();
        assert_eq!(info.container_runtime_version, "process://0.1.0");
        assert_eq!(info.kubelet_version, KUBELET_VERSION);
        assert_eq!(info.operating_system, "linux");
        assert_eq!(info.os_image, "Debian GNU/Linux 12 (bookworm)");
    }

    #[test]
    fn ready_transition_time_stays_while_ready() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2024-01-01T00:00:10Z".parse().unwrap();
        let first = node_status(&facts(), None, t0);
        let second = node_status(&facts(), Some(&first), t1);
        let c = &second.conditions.unwrap()[0];
        assert_eq!(c.last_transition_time, Some(Time(t0)));
        assert_eq!(c.last_heartbeat_time, Some(Time(t1)));
        // From NotReady, the transition is now.
        let mut not_ready = first.clone();
        not_ready.conditions.as_mut().unwrap()[0].status = "Unknown".into();
        let c = &node_status(&facts(), Some(&not_ready), t1)
            .conditions
            .unwrap()[0];
        assert_eq!(c.last_transition_time, Some(Time(t1)));
    }

    #[test]
    fn the_node_is_labelled_with_the_agents_arch_or_this_hosts() {
        let f = facts();
        assert_eq!(
            node_status(&f, None, Timestamp::UNIX_EPOCH)
                .node_info
                .unwrap()
                .architecture,
            "amd64"
        );
        let patch = arch_label_patch(None, &f).expect("no label yet");
        assert_eq!(patch["metadata"]["labels"][LABEL_ARCH], "amd64");
        let labelled =
            std::collections::BTreeMap::from([(LABEL_ARCH.to_owned(), "amd64".to_owned())]);
        assert_eq!(arch_label_patch(Some(&labelled), &f), None);
        let mut arm = facts();
        arm.attributes = vec![Attribute {
            name: "arch".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text {
                value: "arm64".into(),
            }),
            ..Default::default()
        }];
        let patch = arch_label_patch(Some(&labelled), &arm).expect("attribute wins");
        assert_eq!(patch["metadata"]["labels"][LABEL_ARCH], "arm64");
        let mut unknown = facts();
        unknown.host.architecture.clear();
        assert_eq!(arch_label_patch(None, &unknown), None);
    }

    #[test]
    fn os_image_comes_from_pretty_name() {
        assert_eq!(
            os_image("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert_eq!(os_image(""), "Linux");
    }
}
