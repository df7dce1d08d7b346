//! A Node's `capacity` and `allocatable` from its agent's resources,
//! written the same by the framework (when it creates the agent's Node) and
//! the executor (when it posts the Node's status as its kubelet): if they
//! differed, the Node would flip between the two writers.

use std::collections::BTreeMap;

use kube_mesos_proto::v1::Resource;

use crate::quantity::{cpu_quantity, mib_quantity};

/// Pod capacity of a Node (the kubelet's default `maxPods`): the Node's
/// `pods` capacity and allocatable, enforced by placement as
/// kube-scheduler's NodeResourcesFit does ("Too many pods").
pub const DEFAULT_MAX_PODS: u32 = 110;

/// The least cpu a pod's Mesos task carries, in thousandths of a cpu, when
/// the pod requests nothing at all. Mesos refuses a task without resources
/// ("Task uses no resources"); 0.001 cpu is the smallest amount it counts
/// (scalars are fixed-point with three decimals). Pods that request
/// anything carry exactly their requests. The Node's allocatable sets aside
/// this much per pod slot ([`node_resources`]) so that what the user sees
/// add up: requests within allocatable always fit the agent.
pub const MIN_TASK_CPUS_MILLI: i64 = 1;

/// A Node's `capacity` and `allocatable` as quantity strings, keyed by
/// Kubernetes resource name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeResources {
    /// Everything the agent has.
    pub capacity: BTreeMap<String, String>,
    /// What pods' requests may add up to.
    pub allocatable: BTreeMap<String, String>,
}

impl NodeResources {
    /// Capacity and allocatable with each quantity string wrapped by `q`
    /// (the writers' `Quantity`).
    pub fn into_maps<Q>(
        self,
        q: impl Fn(String) -> Q,
    ) -> (BTreeMap<String, Q>, BTreeMap<String, Q>) {
        let wrap = |m: BTreeMap<String, String>| m.into_iter().map(|(k, v)| (k, q(v))).collect();
        (wrap(self.capacity), wrap(self.allocatable))
    }
}

/// The Node resources of an agent, written the same by the framework (when
/// it creates the Node) and the executor (when it posts the Node's status
/// as its kubelet).
///
/// - capacity: `cpus` → `cpu`, `mem` → `memory` and `disk` →
///   `ephemeral-storage` (Mesos counts MB = MiB), `pods` =
///   [`DEFAULT_MAX_PODS`], and every other scalar whose name is a
///   Kubernetes extended resource name (`example.com/dongle`) as whole
///   units. Scalars of all roles add up.
/// - allocatable: capacity minus what Mesos needs beside the pods'
///   requests, like the kubelet's system-reserved: the executor's own
///   resources (`executor`, the `ExecutorInfo` resources it is launched
///   with) and [`MIN_TASK_CPUS_MILLI`] per pod slot.
pub fn node_resources(agent: &[Resource], executor: &[Resource]) -> NodeResources {
    let agent = scalar_sums(agent);
    let executor = scalar_sums(executor);
    let get = |m: &BTreeMap<String, i64>, k: &str| m.get(k).copied().unwrap_or(0);
    let mut capacity = BTreeMap::new();
    let mut allocatable = BTreeMap::new();
    let reserved_cpu = get(&executor, "cpus") + i64::from(DEFAULT_MAX_PODS) * MIN_TASK_CPUS_MILLI;
    for (mesos, kube, reserved) in [
        ("cpus", "cpu", reserved_cpu),
        ("mem", "memory", get(&executor, "mem")),
        ("disk", "ephemeral-storage", get(&executor, "disk")),
    ] {
        let have = get(&agent, mesos);
        let format = if mesos == "cpus" {
            cpu_quantity
        } else {
            mib_quantity
        };
        capacity.insert(kube.to_owned(), format(have));
        allocatable.insert(kube.to_owned(), format((have - reserved).max(0)));
    }
    let pods = DEFAULT_MAX_PODS.to_string();
    capacity.insert("pods".to_owned(), pods.clone());
    allocatable.insert("pods".to_owned(), pods);
    for (name, milli) in &agent {
        if is_extended_resource_name(name) {
            let units = (milli / 1000).to_string();
            capacity.insert(name.clone(), units.clone());
            allocatable.insert(name.clone(), units);
        }
    }
    NodeResources {
        capacity,
        allocatable,
    }
}

/// Positive scalar resources summed by name, in thousandths (Mesos'
/// fixed-point precision, so sums are exact).
fn scalar_sums(resources: &[Resource]) -> BTreeMap<String, i64> {
    let mut sums = BTreeMap::new();
    for r in resources {
        if r.r#type != kube_mesos_proto::v1::value::Type::Scalar as i32 {
            continue;
        }
        let Some(s) = r.scalar else { continue };
        if s.value.is_finite() && s.value > 0.0 {
            *sums.entry(r.name.clone()).or_default() += (s.value * 1000.0).round() as i64;
        }
    }
    sums
}

/// Kubernetes' `IsExtendedResourceName`: a domain-prefixed name outside
/// `kubernetes.io/` (and not `requests.`-prefixed) that is a qualified name
/// once prefixed with `requests.`, e.g. `example.com/dongle`.
pub fn is_extended_resource_name(name: &str) -> bool {
    let Some((prefix, local)) = name.split_once('/') else {
        return false;
    };
    if name.contains("kubernetes.io/") || name.starts_with("requests.") {
        return false;
    }
    let dns_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let quota_prefix = format!("requests.{prefix}");
    let prefix_ok = quota_prefix.len() <= 253 && quota_prefix.split('.').all(dns_label);
    let local_ok = !local.is_empty()
        && local.len() <= 63
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && local.as_bytes()[0].is_ascii_alphanumeric()
        && local.as_bytes()[local.len() - 1].is_ascii_alphanumeric();
    prefix_ok && local_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::value;

    fn scalar(name: &str, v: f64) -> Resource {
        Resource {
            name: name.to_owned(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: v }),
            ..Default::default()
        }
    }

    #[test]
    fn allocatable_sets_aside_the_executor_and_the_task_floor() {
        let r = node_resources(
            &[
                scalar("cpus", 2.0),
                scalar("mem", 2048.0),
                scalar("disk", 100.5),
                scalar("example.com/dongle", 3.0),
                scalar("gpus", 1.0),
            ],
            &[scalar("cpus", 0.1), scalar("mem", 64.0)],
        );
        let get = |m: &BTreeMap<String, String>, k: &str| m[k].clone();
        assert_eq!(get(&r.capacity, "cpu"), "2");
        assert_eq!(get(&r.capacity, "memory"), "2048Mi");
        assert_eq!(get(&r.capacity, "ephemeral-storage"), "102912Ki");
        assert_eq!(get(&r.capacity, "pods"), "110");
        assert_eq!(get(&r.capacity, "example.com/dongle"), "3");
        assert!(!r.capacity.contains_key("gpus"), "not a Kubernetes name");
        // 2 cpus - 0.1 (executor) - 110 x 0.001 (one floor per pod slot).
        assert_eq!(get(&r.allocatable, "cpu"), "1790m");
        assert_eq!(get(&r.allocatable, "memory"), "1984Mi");
        assert_eq!(get(&r.allocatable, "ephemeral-storage"), "102912Ki");
        assert_eq!(get(&r.allocatable, "pods"), "110");
        assert_eq!(get(&r.allocatable, "example.com/dongle"), "3");
        let tiny = node_resources(&[scalar("cpus", 0.05)], &[scalar("cpus", 0.1)]);
        assert_eq!(tiny.allocatable["cpu"], "0", "never negative");
    }

    #[test]
    fn extended_resource_names_are_kubernetes_own_rule() {
        for ok in ["example.com/dongle", "nvidia.com/gpu", "a.b/c_d.e"] {
            assert!(is_extended_resource_name(ok), "{ok}");
        }
        for bad in [
            "cpus",
            "kubernetes.io/foo",
            "node.kubernetes.io/foo",
            "requests.example.com/x",
            "Example.com/x",
            "example.com/-x",
            "example.com/",
            "/x",
        ] {
            assert!(!is_extended_resource_name(bad), "{bad}");
        }
    }
}
