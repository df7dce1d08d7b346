//! A pod's effective resource request, computed as kube-scheduler does.
//!
//! kube-scheduler's `NodeResourcesFit` uses `resourcehelper.PodRequests`
//! (k8s.io/component-helpers/resource): the sum of the app containers'
//! requests plus restartable (sidecar) init containers, and at least the
//! largest regular init container (plus the sidecars started before it);
//! then `spec.overhead` is added. CPU is compared in millicores and memory
//! and ephemeral storage in bytes, rounded up. Pod-level `spec.resources`
//! (alpha, off by default in Kubernetes 1.33) is not used.
//!
//! Mesos counts memory and disk in MB (2^20 bytes), so bytes become
//! thousandths of a MB, rounded up. Extended resources (`example.com/x`)
//! keep their Kubernetes name, which is also the Mesos scalar's name.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use kube_mesos_node::capacity::is_extended_resource_name;
use kube_mesos_node::quantity::parse_milli;

use crate::resources::{Milli, Scalars};

/// kube-scheduler's request of a container that names no cpu request, for
/// scoring only (`schedutil.DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The same for memory, in bytes (`schedutil.DefaultMemoryRequest`).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Requests in Kubernetes units: millicores, bytes, bytes, and extended
/// resources in thousandths of a unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequest {
    /// Millicores.
    pub milli_cpu: i64,
    /// Bytes of memory.
    pub memory: i64,
    /// Bytes of ephemeral storage.
    pub ephemeral_storage: i64,
    /// Extended resources (`example.com/dongle`), thousandths of a unit.
    pub extended: BTreeMap<String, i64>,
}

impl PodRequest {
    fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let milli = |q: &Quantity| -> i64 {
            parse_milli(&q.0)
                .unwrap_or(0)
                .clamp(0, i128::from(i64::MAX)) as i64
        };
        let get = |k: &str| list.and_then(|l| l.get(k)).map(milli).unwrap_or(0);
        let bytes = |m: i64| m / 1000 + i64::from(m % 1000 != 0);
        let extended = list
            .into_iter()
            .flatten()
            .filter(|(k, _)| is_extended_resource_name(k))
            .map(|(k, q)| (k.clone(), milli(q)))
            .filter(|(_, v)| *v > 0)
            .collect();
        PodRequest {
            milli_cpu: get("cpu"),
            memory: bytes(get("memory")),
            ephemeral_storage: bytes(get("ephemeral-storage")),
            extended,
        }
    }

    /// Add `o` to this request.
    pub fn add(&mut self, o: &PodRequest) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
        for (k, v) in &o.extended {
            *self.extended.entry(k.clone()).or_default() += v;
        }
    }

    /// Take `o` from this request (a pod leaving a node).
    pub fn sub(&mut self, o: &PodRequest) {
        self.milli_cpu -= o.milli_cpu;
        self.memory -= o.memory;
        self.ephemeral_storage -= o.ephemeral_storage;
        for (k, v) in &o.extended {
            *self.extended.entry(k.clone()).or_default() -= v;
        }
    }

    fn max(&mut self, o: &PodRequest) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (k, v) in &o.extended {
            let e = self.extended.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// Whether nothing at all is requested (a BestEffort pod's request).
    pub fn is_empty(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.extended.values().all(|v| *v == 0)
    }

    /// The cpu, memory and disk of this request in Mesos units
    /// (thousandths of cpus and of MB), rounded up.
    pub fn to_scalars(&self) -> Scalars {
        const MB: i128 = 1 << 20;
        let mb_milli =
            |bytes: i64| -> Milli { ((i128::from(bytes) * 1000 + MB - 1) / MB) as Milli };
        Scalars {
            cpus: self.milli_cpu,
            mem: mb_milli(self.memory),
            disk: mb_milli(self.ephemeral_storage),
        }
    }
}

/// A pod's requests as kube-scheduler keeps them: the effective request
/// (what NodeResourcesFit filters on) and the non-zero request of cpu and
/// memory (what scoring counts: containers that name no cpu or memory
/// request count [`DEFAULT_MILLI_CPU_REQUEST`] and
/// [`DEFAULT_MEMORY_REQUEST`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// The effective request.
    pub request: PodRequest,
    /// Non-zero millicores.
    pub non_zero_milli_cpu: i64,
    /// Non-zero bytes of memory.
    pub non_zero_memory: i64,
    /// Its hostPorts ([`host_ports`]): worked out with the requests, as the
    /// core keeps pods without their containers.
    pub host_ports: Vec<u64>,
}

impl PodRequests {
    /// Both requests of a pod.
    pub fn of(pod: &Pod) -> Self {
        let non_zero = aggregate(pod, true);
        PodRequests {
            request: aggregate(pod, false),
            non_zero_milli_cpu: non_zero.milli_cpu,
            non_zero_memory: non_zero.memory,
            host_ports: host_ports(pod),
        }
    }
}

fn container_request(c: &Container, non_missing: bool) -> PodRequest {
    let list = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    let mut r = PodRequest::from_list(list);
    if non_missing {
        let named = |k: &str| list.is_some_and(|l| l.contains_key(k));
        if !named("cpu") {
            r.milli_cpu += DEFAULT_MILLI_CPU_REQUEST;
        }
        if !named("memory") {
            r.memory += DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// kube-scheduler's effective request of a pod (see the module docs).
pub fn pod_request(pod: &Pod) -> PodRequest {
    aggregate(pod, false)
}

/// `resourcehelper.PodRequests`, with `NonMissingContainerRequests` when
/// `non_missing` is set.
fn aggregate(pod: &Pod, non_missing: bool) -> PodRequest {
    let Some(spec) = pod.spec.as_ref() else {
        return PodRequest::default();
    };
    let mut reqs = PodRequest::default();
    for c in &spec.containers {
        reqs.add(&container_request(c, non_missing));
    }
    let mut restartable = PodRequest::default();
    let mut init_max = PodRequest::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_request(c, non_missing);
        let this = if c.restart_policy.as_deref() == Some("Always") {
            reqs.add(&r);
            restartable.add(&r);
            restartable.clone()
        } else {
            let mut t = r;
            t.add(&restartable);
            t
        };
        init_max.max(&this);
    }
    reqs.max(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add(&PodRequest::from_list(Some(overhead)));
    }
    reqs
}

/// The hostPorts a pod asks for (deduplicated; port numbers only — Mesos
/// offers a port number regardless of protocol and host IP).
pub fn host_ports(pod: &Pod) -> Vec<u64> {
    let mut out: Vec<u64> = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| p.host_port)
        .filter(|&p| p > 0)
        .map(|p| p as u64)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod request_tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    fn c(reqs: &[(&str, &str)]) -> Container {
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some(
                    reqs.iter()
                        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn non_zero_requests_fill_in_missing_cpu_and_memory_per_container() {
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![
                    c(&[("cpu", "250m")]),
                    c(&[("memory", "1Gi"), ("example.com/dongle", "2")]),
                    c(&[("cpu", "0")]),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = PodRequests::of(&pod);
        assert_eq!(r.request.milli_cpu, 250);
        assert_eq!(r.request.memory, 1 << 30);
        assert_eq!(r.request.extended["example.com/dongle"], 2000);
        // 250m + 100m (missing) + 0 (named zero); memory 200Mi + 1Gi + 200Mi.
        assert_eq!(r.non_zero_milli_cpu, 350);
        assert_eq!(r.non_zero_memory, (1 << 30) + 2 * DEFAULT_MEMORY_REQUEST);
        assert!(!r.request.is_empty());
        assert!(PodRequests::of(&Pod::default()).request.is_empty());
    }
}
