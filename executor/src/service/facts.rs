//! Pure readings of Mesos messages the service needs: the kubelet ports from
//! the executor's `ports` resource, the node name and IP, whether the
//! framework understands TASK_KILLING, the kill grace period, the pod in
//! `TaskInfo.data`, and why a task is a relaunch (its labels).

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use kube_mesos_proto::v1::{framework_info, value, FrameworkInfo, KillPolicy, Resource, TaskInfo};

use crate::mesos::agent_address::AgentPid;

/// The ports of the executor's `ports` resource (`ExecutorInfo.resources`),
/// in order: the kubelet endpoint listens on the first that binds. The
/// framework gives one; more are tried if given. At most 64 are listed.
pub fn kubelet_ports(executor_resources: &[Resource]) -> Vec<u16> {
    executor_resources
        .iter()
        .filter(|r| r.name == "ports" && r.r#type == value::Type::Ranges as i32)
        .filter_map(|r| r.ranges.as_ref())
        .flat_map(|r| r.range.iter())
        .flat_map(|r| r.begin..=r.end.min(r.begin.saturating_add(63)))
        .filter_map(|p| u16::try_from(p).ok().filter(|p| *p > 0))
        .take(64)
        .collect()
}

/// The node name: configured, else the agent's hostname lower-cased (the
/// framework names the Node the same way).
pub fn node_name(configured: Option<&str>, agent_hostname: &str) -> String {
    configured
        .map(str::to_string)
        .unwrap_or_else(|| agent_hostname.to_ascii_lowercase())
}

/// The IP of the agent's libprocess PID (`MESOS_SLAVE_PID`), if its host
/// is an IP rather than a name.
pub fn agent_ip(pid: &AgentPid) -> Option<IpAddr> {
    pid.host.parse().ok()
}

/// Whether the framework has the TASK_KILLING_STATE capability.
pub fn killing_capable(framework: &FrameworkInfo) -> bool {
    framework
        .capabilities
        .iter()
        .any(|c| c.r#type == Some(framework_info::capability::Type::TaskKillingState as i32))
}

/// The kill grace period: the KILL's policy, else the task's, else the
/// pod's `terminationGracePeriodSeconds` (default 30 s).
pub fn kill_grace(
    kill_policy: Option<&KillPolicy>,
    task_policy: Option<&KillPolicy>,
    pod: &core::Pod,
) -> Duration {
    let from_policy = |p: Option<&KillPolicy>| {
        p.and_then(|p| p.grace_period.as_ref())
            .map(|d| Duration::from_nanos(u64::try_from(d.nanoseconds).unwrap_or(0)))
    };
    from_policy(kill_policy)
        .or_else(|| from_policy(task_policy))
        .unwrap_or_else(|| {
            let secs = pod
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(30);
            Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        })
}

/// Why the framework relaunched this pod's task, and what Mesos said about
/// the task it replaces (labels of [`kube_mesos_node::relaunch`]); `None`
/// for a first launch.
pub fn relaunch(task: &TaskInfo) -> Option<(kube_mesos_node::relaunch::Reason, String)> {
    use kube_mesos_node::relaunch::{Reason, LABEL_MESSAGE, LABEL_REASON};
    let labels = &task.labels.as_ref()?.labels;
    let value = |key: &str| {
        labels
            .iter()
            .find(|l| l.key == key)
            .and_then(|l| l.value.clone())
    };
    let reason = Reason::parse(&value(LABEL_REASON)?)?;
    Some((reason, value(LABEL_MESSAGE).unwrap_or_default()))
}

/// Why a LAUNCH cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PodDecodeError {
    /// No data.
    #[error("TaskInfo.data is empty: kube-mesos tasks carry their pod as JSON")]
    Missing,
    /// Not a pod.
    #[error("TaskInfo.data is not a JSON Pod")]
    Invalid(#[source] serde_json::Error),
    /// A pod without the identity the executor keys on.
    #[error("the pod in TaskInfo.data has no {0}")]
    Incomplete(&'static str),
}

/// The pod carried by a LAUNCH.
pub fn decode_pod(task: &TaskInfo) -> Result<core::Pod, PodDecodeError> {
    let data = task
        .data
        .as_deref()
        .filter(|d| !d.is_empty())
        .ok_or(PodDecodeError::Missing)?;
    let pod: core::Pod = serde_json::from_slice(data).map_err(PodDecodeError::Invalid)?;
    if pod.metadata.name.as_deref().is_none_or(str::is_empty) {
        return Err(PodDecodeError::Incomplete("metadata.name"));
    }
    if pod.metadata.uid.as_deref().is_none_or(str::is_empty) {
        return Err(PodDecodeError::Incomplete("metadata.uid"));
    }
    if pod.spec.is_none() {
        return Err(PodDecodeError::Incomplete("spec"));
    }
    Ok(pod)
}

/// The pod's IPs as a TaskStatus `container_status` (one NetworkInfo with
/// every IP, as Mesos' network isolators report a container's addresses),
/// so Mesos tools and the framework see them; `None` without IPs.
pub fn container_status(pod_ips: &[String]) -> Option<kube_mesos_proto::v1::ContainerStatus> {
    use kube_mesos_proto::v1::network_info::{IpAddress, Protocol};
    if pod_ips.is_empty() {
        return None;
    }
    let ip_addresses = pod_ips
        .iter()
        .map(|ip| {
            let mut a = IpAddress {
                ip_address: Some(ip.clone()),
                ..Default::default()
            };
            a.set_protocol(if ip.contains(':') {
                Protocol::IPv6
            } else {
                Protocol::IPv4
            });
            a
        })
        .collect();
    Some(kube_mesos_proto::v1::ContainerStatus {
        network_infos: vec![kube_mesos_proto::v1::NetworkInfo {
            ip_addresses,
            ..Default::default()
        }],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use kube_mesos_proto::v1::{value::Range, value::Ranges, DurationInfo, TaskId};

    use super::*;

    #[test]
    fn a_relaunch_says_why_in_its_labels() {
        use kube_mesos_node::relaunch::{Reason, LABEL_MESSAGE, LABEL_REASON};
        use kube_mesos_proto::v1::{Label, Labels};
        let label = |k: &str, v: &str| Label {
            key: k.into(),
            value: Some(v.into()),
        };
        let mut task = TaskInfo::default();
        assert_eq!(relaunch(&task), None, "a first launch");
        task.labels = Some(Labels {
            labels: vec![
                label("kube-mesos.io/uid", "u"),
                label(LABEL_REASON, "ExecutorLost"),
                label(LABEL_MESSAGE, "Mesos reported TASK_FAILED"),
            ],
        });
        assert_eq!(
            relaunch(&task),
            Some((Reason::ExecutorLost, "Mesos reported TASK_FAILED".into()))
        );
        task.labels = Some(Labels {
            labels: vec![label(LABEL_REASON, "SomethingNew")],
        });
        assert_eq!(relaunch(&task), None, "a reason it does not know");
    }

    #[test]
    fn pod_ips_go_into_the_task_status() {
        use kube_mesos_proto::v1::network_info::Protocol;
        assert!(container_status(&[]).is_none());
        let cs = container_status(&["10.88.0.5".into(), "fd00::5".into()]).expect("status");
        let ips: Vec<_> = cs.network_infos[0]
            .ip_addresses
            .iter()
            .map(|a| (a.ip_address.clone().unwrap_or_default(), a.protocol()))
            .collect();
        assert_eq!(
            ips,
            [
                ("10.88.0.5".to_string(), Protocol::IPv4),
                ("fd00::5".to_string(), Protocol::IPv6)
            ]
        );
    }

    #[test]
    fn port_comes_from_the_ports_resource() {
        let ports = Resource {
            name: "ports".into(),
            r#type: value::Type::Ranges as i32,
            ranges: Some(Ranges {
                range: vec![Range {
                    begin: 31005,
                    end: 31005,
                }],
            }),
            ..Default::default()
        };
        assert_eq!(kubelet_ports(&[ports]), vec![31005]);
        assert_eq!(kubelet_ports(&[]), Vec::<u16>::new());
        let several = Resource {
            name: "ports".into(),
            r#type: value::Type::Ranges as i32,
            ranges: Some(Ranges {
                range: vec![
                    Range {
                        begin: 31010,
                        end: 31011,
                    },
                    Range {
                        begin: 31000,
                        end: 31000,
                    },
                ],
            }),
            ..Default::default()
        };
        assert_eq!(kubelet_ports(&[several]), vec![31010, 31011, 31000]);
    }

    #[test]
    fn node_identity() {
        assert_eq!(node_name(None, "Agent-1.Example"), "agent-1.example");
        assert_eq!(node_name(Some("n"), "h"), "n");
        let pid = |s: &str| AgentPid::parse(s).unwrap();
        assert_eq!(
            agent_ip(&pid("slave(1)@127.0.0.1:5051")),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            agent_ip(&pid("slave(1)@[::1]:5051")),
            Some("::1".parse().unwrap())
        );
        assert_eq!(agent_ip(&pid("slave(1)@agent.example:5051")), None);
    }

    #[test]
    fn grace_prefers_the_kill_policy_then_the_pod() {
        let pod: core::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [], "terminationGracePeriodSeconds": 7}
        }))
        .unwrap();
        let policy = KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: 2_000_000_000,
            }),
        };
        assert_eq!(
            kill_grace(Some(&policy), None, &pod),
            Duration::from_secs(2)
        );
        assert_eq!(
            kill_grace(None, Some(&policy), &pod),
            Duration::from_secs(2)
        );
        assert_eq!(kill_grace(None, None, &pod), Duration::from_secs(7));
        assert_eq!(
            kill_grace(None, None, &core::Pod::default()),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn bad_payloads_are_explained() {
        let mut task = TaskInfo {
            task_id: TaskId { value: "t".into() },
            ..Default::default()
        };
        assert!(matches!(decode_pod(&task), Err(PodDecodeError::Missing)));
        task.data = Some(b"not json".to_vec());
        assert!(matches!(decode_pod(&task), Err(PodDecodeError::Invalid(_))));
        task.data = Some(br#"{"metadata":{"name":"p"},"spec":{"containers":[]}}"#.to_vec());
        assert_eq!(
            decode_pod(&task).unwrap_err().to_string(),
            "the pod in TaskInfo.data has no metadata.uid"
        );
    }
}
