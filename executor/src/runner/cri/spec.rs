//! Pure translations into CRI messages, as the kubelet's `kuberuntime`
//! makes them: the pod's settings ([`pod_runtime_spec`], after
//! `generatePodSandboxConfig` in `kuberuntime_sandbox.go`), a container's
//! settings ([`container_runtime_spec`], after `generateLinuxContainerConfig`
//! in `kuberuntime_container_linux.go`), the CPU and memory arithmetic of
//! `pkg/kubelet/cm/helpers_linux.go` and the OOM score of
//! `pkg/kubelet/qos/policy.go`, and the runtime-neutral configs into
//! `PodSandboxConfig` / `ContainerConfig`.
//!
//! Everything here is a function of its arguments, so it is tested without
//! containerd; the runtime in `super` only adds the calls.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;

use super::proto;
use crate::runner::quantity;
use crate::runner::runtime::{
    ContainerConfig, ContainerRuntimeSpec, DnsSettings, ImagePullPolicy, PodRuntimeSpec,
    PortMapping, SandboxConfig, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID,
};

/// Label on every sandbox and container this executor creates, so that
/// listing, re-adoption and cleanup never touch anyone else's.
pub const LABEL_MANAGED: &str = "kube-mesos.io/managed";

/// `cm.MinShares`: the kernel's floor, also used for "no request".
pub const MIN_SHARES: i64 = 2;
/// `cm.MaxShares`: the kernel's ceiling.
pub const MAX_SHARES: i64 = 262_144;
/// `cm.SharesPerCPU`.
pub const SHARES_PER_CPU: i64 = 1024;
/// `cm.QuotaPeriod`: 100 ms in µs.
pub const QUOTA_PERIOD: i64 = 100_000;
/// `cm.MinQuotaPeriod`: quota floor, 1 ms in µs.
pub const MIN_QUOTA_PERIOD: i64 = 1000;

/// `qos.guaranteedOOMScoreAdj`.
pub const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
/// `qos.besteffortOOMScoreAdj`.
pub const BESTEFFORT_OOM_SCORE_ADJ: i64 = 1000;

/// `cm.MilliCPUToShares`.
pub fn milli_cpu_to_shares(milli_cpu: i64) -> i64 {
    if milli_cpu == 0 {
        return MIN_SHARES;
    }
    (milli_cpu * SHARES_PER_CPU / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// `cm.MilliCPUToQuota`: 0 (no quota) without a limit.
pub fn milli_cpu_to_quota(milli_cpu: i64, period: i64) -> i64 {
    if milli_cpu == 0 {
        return 0;
    }
    (milli_cpu * period / 1000).max(MIN_QUOTA_PERIOD)
}

/// `qos.GetContainerOOMScoreAdjust` for a container of a pod of class `qos`.
pub fn oom_score_adj(qos: &str, memory_request: i64, memory_capacity: i64) -> i64 {
    match qos {
        "Guaranteed" => GUARANTEED_OOM_SCORE_ADJ,
        "BestEffort" => BESTEFFORT_OOM_SCORE_ADJ,
        _ => {
            if memory_capacity <= 0 {
                return BESTEFFORT_OOM_SCORE_ADJ - 1;
            }
            let adj = 1000 - (1000 * memory_request) / memory_capacity;
            if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ {
                1000 + GUARANTEED_OOM_SCORE_ADJ
            } else if adj == BESTEFFORT_OOM_SCORE_ADJ {
                adj - 1
            } else {
                adj
            }
        }
    }
}

/// CPU and memory of a container as the kubelet's
/// `calculateLinuxResources`: shares from the request (from the limit when
/// only a limit is set), CFS quota from the limit over a 100 ms period,
/// memory limit as is.
pub fn linux_resources(spec: &ContainerRuntimeSpec) -> proto::LinuxContainerResources {
    let shares = if spec.cpu_request_milli == 0 && spec.cpu_limit_milli != 0 {
        milli_cpu_to_shares(spec.cpu_limit_milli)
    } else {
        milli_cpu_to_shares(spec.cpu_request_milli)
    };
    proto::LinuxContainerResources {
        cpu_shares: shares,
        cpu_period: QUOTA_PERIOD,
        cpu_quota: milli_cpu_to_quota(spec.cpu_limit_milli, QUOTA_PERIOD),
        memory_limit_in_bytes: spec.memory_limit_bytes,
        oom_score_adj: spec.oom_score_adj.unwrap_or(0),
        ..Default::default()
    }
}

fn mode(on: bool, yes: proto::NamespaceMode, no: proto::NamespaceMode) -> i32 {
    if on {
        yes as i32
    } else {
        no as i32
    }
}

/// Namespace options of the pod (and of its containers): host network →
/// `NODE`, else `POD`; PID per container unless `hostPID`; IPC per pod
/// unless `hostIPC`.
pub fn namespace_options(pod: &PodRuntimeSpec) -> proto::NamespaceOption {
    use proto::NamespaceMode::{Container, Node, Pod};
    proto::NamespaceOption {
        network: mode(pod.host_network, Node, Pod),
        pid: mode(pod.host_pid, Node, Container),
        ipc: mode(pod.host_ipc, Node, Pod),
        target_id: String::new(),
    }
}

fn protocol(p: &str) -> i32 {
    match p {
        "UDP" => proto::Protocol::Udp as i32,
        "SCTP" => proto::Protocol::Sctp as i32,
        _ => proto::Protocol::Tcp as i32,
    }
}

/// Labels of a sandbox: the caller's, the kubelet's pod keys and ours.
pub fn sandbox_labels(config: &SandboxConfig) -> BTreeMap<String, String> {
    let mut labels = config.labels.clone();
    labels.insert(LABEL_POD_NAME.into(), config.name.clone());
    labels.insert(LABEL_POD_NAMESPACE.into(), config.namespace.clone());
    labels.insert(LABEL_POD_UID.into(), config.uid.clone());
    labels.insert(LABEL_MANAGED.into(), "true".into());
    labels
}

/// The CRI `PodSandboxConfig` for a pod.
pub fn sandbox_config(
    config: &SandboxConfig,
    spec: &PodRuntimeSpec,
    attempt: u32,
    cgroup_parent: &str,
) -> proto::PodSandboxConfig {
    let hostname = if spec.host_network {
        String::new()
    } else if spec.hostname.is_empty() {
        config.name.chars().take(63).collect()
    } else {
        spec.hostname.clone()
    };
    proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: config.name.clone(),
            uid: config.uid.clone(),
            namespace: config.namespace.clone(),
            attempt,
        }),
        hostname,
        log_directory: config.log_directory.display().to_string(),
        dns_config: spec.dns.as_ref().map(|d| proto::DnsConfig {
            servers: d.servers.clone(),
            searches: d.searches.clone(),
            options: d.options.clone(),
        }),
        port_mappings: spec
            .port_mappings
            .iter()
            .filter(|p| p.host_port > 0)
            .map(|p| proto::PortMapping {
                protocol: protocol(&p.protocol),
                container_port: p.container_port,
                host_port: p.host_port,
                host_ip: p.host_ip.clone(),
            })
            .collect(),
        labels: sandbox_labels(config),
        annotations: spec.annotations.clone(),
        linux: Some(proto::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.to_string(),
            security_context: Some(proto::LinuxSandboxSecurityContext {
                namespace_options: Some(namespace_options(spec)),
                run_as_user: spec.run_as_user.map(|value| proto::Int64Value { value }),
                run_as_group: spec.run_as_group.map(|value| proto::Int64Value { value }),
                readonly_rootfs: false,
                supplemental_groups: spec.supplemental_groups.clone(),
                privileged: spec.privileged,
            }),
            sysctls: BTreeMap::new(),
        }),
    }
}

/// The CRI `ContainerConfig` for a container; `image_ref` is what the image
/// service resolved (the kubelet passes the image ID and keeps the user's
/// reference in `user_specified_image`).
pub fn container_config(
    config: &ContainerConfig,
    spec: &ContainerRuntimeSpec,
    pod: &PodRuntimeSpec,
    image_ref: &str,
) -> proto::ContainerConfig {
    let mut labels = config.labels.clone();
    labels.insert(LABEL_MANAGED.into(), "true".into());
    let capabilities =
        (!spec.cap_add.is_empty() || !spec.cap_drop.is_empty()).then(|| proto::Capability {
            add_capabilities: spec.cap_add.clone(),
            drop_capabilities: spec.cap_drop.clone(),
        });
    proto::ContainerConfig {
        metadata: Some(proto::ContainerMetadata {
            name: config.name.clone(),
            attempt: config.attempt,
        }),
        image: Some(proto::ImageSpec {
            image: image_ref.to_string(),
            annotations: BTreeMap::new(),
            user_specified_image: config.image.clone(),
        }),
        command: config.command.clone(),
        args: config.args.clone(),
        working_dir: config.working_dir.clone(),
        envs: config
            .envs
            .iter()
            .map(|(key, value)| proto::KeyValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        mounts: config
            .mounts
            .iter()
            .map(|m| proto::Mount {
                container_path: m.container_path.clone(),
                host_path: m.host_path.display().to_string(),
                readonly: m.readonly,
                selinux_relabel: false,
                propagation: proto::MountPropagation::PropagationPrivate as i32,
            })
            .collect(),
        labels,
        annotations: spec.annotations.clone(),
        log_path: config.log_path.display().to_string(),
        stdin: false,
        stdin_once: false,
        tty: false,
        linux: Some(proto::LinuxContainerConfig {
            resources: Some(linux_resources(spec)),
            security_context: Some(proto::LinuxContainerSecurityContext {
                capabilities,
                privileged: spec.privileged,
                namespace_options: Some(namespace_options(pod)),
                run_as_user: spec.run_as_user.map(|value| proto::Int64Value { value }),
                run_as_group: spec.run_as_group.map(|value| proto::Int64Value { value }),
                run_as_username: String::new(),
                readonly_rootfs: spec.read_only_root_fs,
                supplemental_groups: pod.supplemental_groups.clone(),
                no_new_privs: spec.no_new_privs,
            }),
        }),
    }
}

fn quantity_of(
    list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    key: &str,
) -> Option<quantity::Nanos> {
    list.and_then(|l| l.get(key))
        .and_then(|q| quantity::parse(&q.0))
}

fn to_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Cluster DNS of the node (kubelet `--cluster-dns`, `--cluster-domain`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterDns {
    /// Nameservers of the cluster DNS service.
    pub servers: Vec<String>,
    /// Cluster domain (`cluster.local`).
    pub domain: String,
}

/// The sandbox DNS for a pod per its `dnsPolicy` (kubelet
/// `pkg/kubelet/network/dns`): `None` keeps the node's resolv.conf
/// (`Default`, host network without `ClusterFirstWithHostNet`, or no cluster
/// DNS configured); `ClusterFirst` uses the cluster's servers and search
/// path with `ndots:5`; `None` takes `dnsConfig` alone; `dnsConfig` is
/// merged into the others.
pub fn pod_dns(pod: &core::Pod, cluster: Option<&ClusterDns>) -> Option<DnsSettings> {
    let spec = pod.spec.as_ref()?;
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let host_network = spec.host_network.unwrap_or(false);
    // `ClusterFirst` on the host network falls back to `Default`.
    let cluster_first =
        policy == "ClusterFirstWithHostNet" || (policy == "ClusterFirst" && !host_network);
    let mut dns = match (policy, cluster) {
        ("None", _) => Some(DnsSettings::default()),
        (_, Some(c)) if cluster_first && !c.servers.is_empty() => {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            Some(DnsSettings {
                servers: c.servers.clone(),
                searches: vec![
                    format!("{ns}.svc.{}", c.domain),
                    format!("svc.{}", c.domain),
                    c.domain.clone(),
                ],
                options: vec!["ndots:5".into()],
            })
        }
        _ => None,
    };
    if let Some(extra) = &spec.dns_config {
        let d = dns.get_or_insert_with(DnsSettings::default);
        d.servers
            .extend(extra.nameservers.iter().flatten().cloned());
        d.searches.extend(extra.searches.iter().flatten().cloned());
        for o in extra.options.iter().flatten() {
            let Some(name) = &o.name else { continue };
            d.options
                .retain(|x| x.split(':').next() != Some(name.as_str()));
            d.options.push(match &o.value {
                Some(v) => format!("{name}:{v}"),
                None => name.clone(),
            });
        }
    }
    dns
}

/// The pod-level runtime settings of a pod. `registry_auths` are the
/// resolved `imagePullSecrets` (see `super::image::registry_auths`).
pub fn pod_runtime_spec(
    pod: &core::Pod,
    cluster_dns: Option<&ClusterDns>,
    registry_auths: Vec<crate::runner::runtime::RegistryAuth>,
) -> PodRuntimeSpec {
    let spec = pod.spec.clone().unwrap_or_default();
    let sc = spec.security_context.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let mut supplemental_groups = sc.supplemental_groups.clone().unwrap_or_default();
    if let Some(fs_group) = sc.fs_group {
        supplemental_groups.push(fs_group);
    }
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    let mut privileged = false;
    let mut port_mappings = Vec::new();
    for c in containers {
        privileged |= c
            .security_context
            .as_ref()
            .and_then(|s| s.privileged)
            .unwrap_or(false);
        for p in c.ports.iter().flatten() {
            port_mappings.push(PortMapping {
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                container_port: p.container_port,
                host_port: p.host_port.unwrap_or(0),
                host_ip: p.host_ip.clone().unwrap_or_default(),
            });
        }
    }
    PodRuntimeSpec {
        hostname: spec
            .hostname
            .clone()
            .unwrap_or_else(|| name.chars().take(63).collect()),
        host_network: spec.host_network.unwrap_or(false),
        host_pid: spec.host_pid.unwrap_or(false),
        host_ipc: spec.host_ipc.unwrap_or(false),
        dns: pod_dns(pod, cluster_dns),
        port_mappings,
        annotations: pod.metadata.annotations.clone().unwrap_or_default(),
        run_as_user: sc.run_as_user,
        run_as_group: sc.run_as_group,
        supplemental_groups,
        privileged,
        registry_auths,
    }
}

/// The container-level runtime settings of `container` in `pod`;
/// `memory_capacity` (bytes of the node) feeds the burstable OOM score.
pub fn container_runtime_spec(
    pod: &core::Pod,
    container: &core::Container,
    memory_capacity: i64,
) -> ContainerRuntimeSpec {
    let pod_sc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let sc = container.security_context.clone().unwrap_or_default();
    let res = container.resources.clone().unwrap_or_default();
    let req = res.requests.as_ref();
    let lim = res.limits.as_ref();
    let milli = |q: Option<quantity::Nanos>| q.map(|n| to_i64(quantity::milli(n))).unwrap_or(0);
    let units = |q: Option<quantity::Nanos>| q.map(|n| to_i64(quantity::units(n))).unwrap_or(0);
    let pull_policy = match container.image_pull_policy.as_deref() {
        Some("Always") => ImagePullPolicy::Always,
        Some("Never") => ImagePullPolicy::Never,
        Some(_) => ImagePullPolicy::IfNotPresent,
        // The API server's default: Always for `:latest` or untagged images.
        None => {
            let image = container.image.as_deref().unwrap_or("");
            let last = image.rsplit('/').next().unwrap_or(image);
            if image.contains('@') || (last.contains(':') && !last.ends_with(":latest")) {
                ImagePullPolicy::IfNotPresent
            } else {
                ImagePullPolicy::Always
            }
        }
    };
    let memory_request = units(quantity_of(req, "memory"));
    let caps = sc.capabilities.clone().unwrap_or_default();
    ContainerRuntimeSpec {
        pull_policy,
        cpu_request_milli: milli(quantity_of(req, "cpu")),
        cpu_limit_milli: milli(quantity_of(lim, "cpu")),
        memory_limit_bytes: units(quantity_of(lim, "memory")),
        oom_score_adj: Some(oom_score_adj(
            crate::runner::status::qos_class(pod),
            memory_request,
            memory_capacity,
        )),
        run_as_user: sc.run_as_user.or(pod_sc.run_as_user),
        run_as_group: sc.run_as_group.or(pod_sc.run_as_group),
        read_only_root_fs: sc.read_only_root_filesystem.unwrap_or(false),
        privileged: sc.privileged.unwrap_or(false),
        cap_add: caps.add.unwrap_or_default(),
        cap_drop: caps.drop.unwrap_or_default(),
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        annotations: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_shares_and_quota_match_the_kubelet() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(100), 102);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_shares(1_000_000), MAX_SHARES);
        assert_eq!(milli_cpu_to_quota(0, QUOTA_PERIOD), 0);
        assert_eq!(milli_cpu_to_quota(5, QUOTA_PERIOD), 1000);
        assert_eq!(milli_cpu_to_quota(250, QUOTA_PERIOD), 25_000);
        assert_eq!(milli_cpu_to_quota(2000, QUOTA_PERIOD), 200_000);
    }

    #[test]
    fn shares_come_from_the_limit_when_only_a_limit_is_set() {
        let r = linux_resources(&ContainerRuntimeSpec {
            cpu_limit_milli: 500,
            memory_limit_bytes: 64 << 20,
            ..Default::default()
        });
        assert_eq!(r.cpu_shares, 512);
        assert_eq!(r.cpu_quota, 50_000);
        assert_eq!(r.cpu_period, 100_000);
        assert_eq!(r.memory_limit_in_bytes, 64 << 20);
    }

    #[test]
    fn oom_scores_by_qos() {
        assert_eq!(oom_score_adj("Guaranteed", 0, 1000), -997);
        assert_eq!(oom_score_adj("BestEffort", 0, 1000), 1000);
        assert_eq!(oom_score_adj("Burstable", 0, 1000), 999);
        assert_eq!(oom_score_adj("Burstable", 500, 1000), 500);
        assert_eq!(oom_score_adj("Burstable", 999, 1000), 3);
    }

    fn pod(json: serde_json::Value) -> core::Pod {
        serde_json::from_value(json).expect("pod")
    }

    #[test]
    fn pod_spec_maps_host_network_ports_security_and_dns() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1",
                         "annotations": {"a": "b"}},
            "spec": {
                "hostNetwork": true,
                "dnsPolicy": "ClusterFirstWithHostNet",
                "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
                "containers": [{"name": "c", "image": "nginx:1",
                    "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 9090}],
                    "securityContext": {"privileged": true}}]
            }
        }));
        let dns = ClusterDns {
            servers: vec!["10.0.0.10".into()],
            domain: "cluster.local".into(),
        };
        let s = pod_runtime_spec(&p, Some(&dns), vec![]);
        assert!(s.host_network && s.privileged);
        assert_eq!(s.hostname, "web");
        assert_eq!(s.run_as_user, Some(1000));
        assert_eq!(s.supplemental_groups, vec![2000]);
        assert_eq!(s.port_mappings.len(), 2);
        let d = s.dns.clone().expect("dns");
        assert_eq!(d.searches[0], "shop.svc.cluster.local");
        assert_eq!(d.options, vec!["ndots:5".to_string()]);
        let cfg = SandboxConfig {
            name: "web".into(),
            namespace: "shop".into(),
            uid: "u1".into(),
            log_directory: "/logs/shop_web_u1".into(),
            labels: BTreeMap::new(),
        };
        let sb = sandbox_config(&cfg, &s, 0, "/kube-mesos");
        assert_eq!(sb.hostname, "", "host network keeps the node's hostname");
        assert_eq!(sb.port_mappings.len(), 1, "only hostPorts are mapped");
        assert_eq!(sb.labels[LABEL_MANAGED], "true");
        assert_eq!(sb.labels[LABEL_POD_UID], "u1");
        let ns = sb
            .linux
            .unwrap()
            .security_context
            .unwrap()
            .namespace_options
            .unwrap();
        assert_eq!(ns.network, proto::NamespaceMode::Node as i32);
        assert_eq!(ns.pid, proto::NamespaceMode::Container as i32);
    }

    #[test]
    fn default_dns_policy_on_host_network_keeps_the_node_resolv_conf() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "x"},
            "spec": {"hostNetwork": true, "containers": []}
        }));
        let dns = ClusterDns {
            servers: vec!["10.0.0.10".into()],
            domain: "cluster.local".into(),
        };
        assert_eq!(pod_dns(&p, Some(&dns)), None);
    }

    #[test]
    fn container_spec_maps_resources_security_and_pull_policy() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "x"},
            "spec": {"securityContext": {"runAsGroup": 7},
                "containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                              "limits": {"cpu": "0.5", "memory": "128Mi"}},
                "securityContext": {"runAsUser": 1001, "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}}]}
        }));
        let c = &p.spec.as_ref().unwrap().containers[0];
        let s = container_runtime_spec(&p, c, 1 << 30);
        assert_eq!(
            s.pull_policy,
            ImagePullPolicy::Always,
            "untagged means :latest"
        );
        assert_eq!((s.cpu_request_milli, s.cpu_limit_milli), (250, 500));
        assert_eq!(s.memory_limit_bytes, 128 << 20);
        assert_eq!((s.run_as_user, s.run_as_group), (Some(1001), Some(7)));
        assert!(s.read_only_root_fs && s.no_new_privs);
        assert_eq!(s.cap_add, vec!["NET_ADMIN".to_string()]);
        assert_eq!(s.oom_score_adj, Some(1000 - 1000 * (64 << 20) / (1 << 30)));
        let r = linux_resources(&s);
        assert_eq!((r.cpu_shares, r.cpu_quota), (256, 50_000));
    }
}
