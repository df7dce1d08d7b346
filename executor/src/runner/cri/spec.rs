//! Pure translations into CRI messages, as the kubelet's `kuberuntime`
//! makes them: the CPU and memory arithmetic of
//! `pkg/kubelet/cm/helpers_linux.go`, and the runtime-neutral configs and
//! specs (built from the pod by `crate::runner::spec`) into
//! `PodSandboxConfig` / `ContainerConfig`.
//!
//! Everything here is a function of its arguments, so it is tested without
//! containerd; the runtime in `super` only adds the calls.

use std::collections::BTreeMap;

use super::proto;
use crate::runner::runtime::{
    ContainerConfig, ContainerRuntimeSpec, PodRuntimeSpec, SandboxConfig, LABEL_POD_NAME,
    LABEL_POD_NAMESPACE, LABEL_POD_UID,
};
// The runtime-independent part moved to `runner::spec`; re-exported here
// for callers that know it under `cri::spec`.
pub use crate::runner::spec::{
    container_runtime_spec, oom_score_adj, pod_dns, pod_runtime_spec, ClusterDns,
    BESTEFFORT_OOM_SCORE_ADJ, GUARANTEED_OOM_SCORE_ADJ,
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
        stdin: config.stdin,
        stdin_once: config.stdin_once,
        tty: config.tty,
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

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1 as core;

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

    /// The sandbox config of pod `shop/web` (uid `u1`).
    fn shop_web() -> SandboxConfig {
        SandboxConfig {
            name: "web".into(),
            namespace: "shop".into(),
            uid: "u1".into(),
            log_directory: "/logs/shop_web_u1".into(),
            labels: BTreeMap::new(),
        }
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
        let cfg = shop_web();
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

    /// The top-level fields of an encoded message: (field number, payload)
    /// for varints (the value) and length-delimited fields (their bytes).
    fn wire_fields(mut buf: &[u8]) -> BTreeMap<u64, Result<u64, Vec<u8>>> {
        fn varint(buf: &mut &[u8]) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = buf[0];
                *buf = &buf[1..];
                v |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    return v;
                }
                shift += 7;
            }
        }
        let mut out = BTreeMap::new();
        while !buf.is_empty() {
            let key = varint(&mut buf);
            match key & 7 {
                0 => {
                    out.insert(key >> 3, Ok(varint(&mut buf)));
                }
                2 => {
                    let len = varint(&mut buf) as usize;
                    out.insert(key >> 3, Err(buf[..len].to_vec()));
                    buf = &buf[len..];
                }
                other => panic!("unexpected wire type {other}"),
            }
        }
        out
    }

    /// The pod's and container's security context reaches the runtime in
    /// the field numbers of k8s.io/cri-api `api.proto`
    /// (LinuxContainerSecurityContext: run_as_user = 5, run_as_group = 12,
    /// supplemental_groups = 8; LinuxSandboxSecurityContext: run_as_user =
    /// 3, run_as_group = 8, supplemental_groups = 5), with `fsGroup` among
    /// the supplemental groups as the kubelet adds it. `runAsNonRoot` has
    /// no CRI field: the runtime verifies it before CreateContainer.
    #[test]
    fn the_security_context_is_encoded_with_cri_api_field_numbers() {
        use prost::Message;
        let p = pod(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": {
                "securityContext": {"runAsUser": 1000, "runAsGroup": 3000,
                                    "supplementalGroups": [4000], "fsGroup": 2000,
                                    "runAsNonRoot": true},
                "containers": [{"name": "c", "image": "busybox",
                                "securityContext": {"runAsUser": 1001}}]
            }
        }));
        let pod_spec = pod_runtime_spec(&p, None, vec![]);
        let c = &p.spec.as_ref().unwrap().containers[0];
        let spec = container_runtime_spec(&p, c, 1 << 30);
        assert!(spec.run_as_non_root);
        let config = ContainerConfig {
            name: "c".into(),
            image: "busybox".into(),
            log_path: "c/0.log".into(),
            ..Default::default()
        };
        let int64 = |v: i64| Err(proto::Int64Value { value: v }.encode_to_vec());
        let groups = |gs: &[u64]| {
            let mut packed = Vec::new();
            for g in gs {
                prost::encoding::encode_varint(*g, &mut packed);
            }
            Err(packed)
        };
        let container = container_config(&config, &spec, &pod_spec, "sha256:x")
            .linux
            .and_then(|l| l.security_context)
            .expect("container security context");
        let cfg = shop_web();
        let sandbox = sandbox_config(&cfg, &pod_spec, 0, "/kube-mesos")
            .linux
            .and_then(|l| l.security_context)
            .expect("sandbox security context");
        let (container, sandbox) = (
            wire_fields(&container.encode_to_vec()),
            wire_fields(&sandbox.encode_to_vec()),
        );
        for (fields, number, want, what) in [
            (&container, 5, int64(1001), "run_as_user: the container's"),
            (&container, 12, int64(3000), "run_as_group: the pod's"),
            (&container, 8, groups(&[4000, 2000]), "supplemental_groups"),
            (&sandbox, 3, int64(1000), "sandbox run_as_user"),
            (&sandbox, 8, int64(3000), "sandbox run_as_group"),
            (
                &sandbox,
                5,
                groups(&[4000, 2000]),
                "sandbox supplemental_groups",
            ),
        ] {
            assert_eq!(fields.get(&number), Some(&want), "{what} = {number}");
        }
    }
}
