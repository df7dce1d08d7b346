//! The runtime settings of a pod and its containers, built from the pod
//! as the kubelet's `kuberuntime` builds them: the pod's ([`pod_runtime_spec`],
//! after `generatePodSandboxConfig` in `kuberuntime_sandbox.go`, with the
//! DNS rules of `pkg/kubelet/network/dns`), a container's
//! ([`container_runtime_spec`], after `generateLinuxContainerConfig` in
//! `kuberuntime_container_linux.go`, with the OOM score of
//! `pkg/kubelet/qos/policy.go`), and registry credentials from
//! `imagePullSecrets` ([`registry_auths`], [`resolve_pull_secrets`]).
//!
//! It lives beside the runtimes, not inside the CRI one, because the pod
//! worker builds these for every runtime: the CRI runtime honours them, the
//! process runtime ignores what it cannot (it has no images, namespaces or
//! cgroups). Everything but [`resolve_pull_secrets`] is a pure function.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::core::v1 as core;

use crate::runner::env::ObjectSource;
use crate::runner::runtime::{
    ContainerRuntimeSpec, DnsSettings, ImagePullPolicy, PodRuntimeSpec, PortMapping, RegistryAuth,
};
use kube_mesos_node::quantity;

/// `qos.guaranteedOOMScoreAdj`.
pub const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
/// `qos.besteffortOOMScoreAdj`.
pub const BESTEFFORT_OOM_SCORE_ADJ: i64 = 1000;

/// `qos.GetContainerOOMScoreAdjust` for a container of a pod of class `qos`.
pub fn oom_score_adj(qos: &str, memory_request: i64, memory_capacity: i64) -> i64 {
    match qos {
        "Guaranteed" => GUARANTEED_OOM_SCORE_ADJ,
        "BestEffort" => BESTEFFORT_OOM_SCORE_ADJ,
        _ => {
            if memory_capacity <= 0 {
                return BESTEFFORT_OOM_SCORE_ADJ - 1;
            }
            // In i128: a hostile request (100P) overflowed 1000 × bytes in i64.
            let adj = 1000
                - (1000 * i128::from(memory_request) / i128::from(memory_capacity)).clamp(0, 2000)
                    as i64;
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
        fs_group: sc.fs_group,
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
        run_as_non_root: sc.run_as_non_root.or(pod_sc.run_as_non_root) == Some(true),
        supplemental_groups: pod_sc
            .supplemental_groups
            .iter()
            .flatten()
            .copied()
            .chain(pod_sc.fs_group)
            .collect(),
        read_only_root_fs: sc.read_only_root_filesystem.unwrap_or(false),
        privileged: sc.privileged.unwrap_or(false),
        cap_add: caps.add.unwrap_or_default(),
        cap_drop: caps.drop.unwrap_or_default(),
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        annotations: BTreeMap::new(),
    }
}

/// Errors reading a pull secret.
#[derive(Debug, thiserror::Error)]
pub enum PullSecretError {
    /// Not JSON of the docker config shape.
    #[error("pull secret is not a docker config: {0}")]
    ParseFailed(#[from] serde_json::Error),
}

#[derive(serde::Deserialize)]
struct DockerConfigEntry {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
    #[serde(default, rename = "identitytoken")]
    identity_token: String,
    #[serde(default, rename = "registrytoken")]
    registry_token: String,
}

/// Credentials from a `kubernetes.io/dockerconfigjson` secret's
/// `.dockerconfigjson` (`{"auths": {server: {...}}}`) or a legacy
/// `kubernetes.io/dockercfg` secret's `.dockercfg` (`{server: {...}}`).
/// An `auth` of base64 `user:password` fills a missing user and password.
pub fn registry_auths(data: &[u8]) -> Result<Vec<RegistryAuth>, PullSecretError> {
    let value: serde_json::Value = serde_json::from_slice(data)?;
    let entries = value.get("auths").cloned().unwrap_or(value);
    let entries: std::collections::BTreeMap<String, DockerConfigEntry> =
        serde_json::from_value(entries)?;
    Ok(entries
        .into_iter()
        .map(|(server, e)| {
            let mut auth = RegistryAuth {
                server,
                username: e.username,
                password: e.password,
                auth: e.auth,
                identity_token: e.identity_token,
                registry_token: e.registry_token,
            };
            if auth.username.is_empty() && !auth.auth.is_empty() {
                if let Some((user, pass)) = base64::engine::general_purpose::STANDARD
                    .decode(auth.auth.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| {
                        s.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    })
                {
                    auth.username = user;
                    auth.password = pass;
                }
            }
            auth
        })
        .collect())
}

/// Secret types whose data is a docker config with registry credentials.
const DOCKER_CONFIG_JSON: (&str, &str) = ("kubernetes.io/dockerconfigjson", ".dockerconfigjson");
const DOCKER_CFG: (&str, &str) = ("kubernetes.io/dockercfg", ".dockercfg");

/// The registry credentials of a pod's `imagePullSecrets`, fetched through
/// `objects`, in the order the pod lists them. As the kubelet
/// (`kubelet_pods.go` getPullSecretsForPod), a secret that cannot be
/// fetched or parsed is skipped with a warning, and the pull is attempted
/// with what is left (it may then fail with `ErrImagePull`).
pub async fn resolve_pull_secrets(
    pod: &core::Pod,
    objects: &dyn ObjectSource,
) -> Vec<RegistryAuth> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let names = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .into_iter()
        .flatten()
        .map(|r| r.name.as_str())
        .filter(|n| !n.is_empty());
    let mut out = Vec::new();
    for name in names {
        let secret = match objects.get_secret(namespace, name).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                tracing::warn!(
                    namespace,
                    secret = name,
                    "image pull secret not found; the image pull may not succeed"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!(namespace, secret = name, error = %e, "unable to retrieve image pull secret; the image pull may not succeed");
                continue;
            }
        };
        out.extend(secret_auths(&secret, name));
    }
    out
}

/// Credentials of one `dockerconfigjson` / `dockercfg` secret (empty for
/// other types or unparsable data, with a warning).
pub fn secret_auths(secret: &core::Secret, name: &str) -> Vec<RegistryAuth> {
    let kind = secret.type_.as_deref().unwrap_or_default();
    let key = match kind {
        k if k == DOCKER_CONFIG_JSON.0 => DOCKER_CONFIG_JSON.1,
        k if k == DOCKER_CFG.0 => DOCKER_CFG.1,
        other => {
            tracing::warn!(
                secret = name,
                r#type = other,
                "image pull secret is not of a docker config type; ignored"
            );
            return Vec::new();
        }
    };
    let Some(data) = secret.data.as_ref().and_then(|d| d.get(key)) else {
        tracing::warn!(
            secret = name,
            key,
            "image pull secret has no docker config; ignored"
        );
        return Vec::new();
    };
    match registry_auths(&data.0) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(secret = name, error = %e, "image pull secret unreadable; ignored");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_scores_by_qos() {
        assert_eq!(oom_score_adj("Guaranteed", 0, 1000), -997);
        assert_eq!(oom_score_adj("BestEffort", 0, 1000), 1000);
        assert_eq!(oom_score_adj("Burstable", 0, 1000), 999);
        assert_eq!(oom_score_adj("Burstable", 500, 1000), 500);
        assert_eq!(oom_score_adj("Burstable", 999, 1000), 3);
    }

    /// Regression (found by the executor_event fuzz target): a huge memory
    /// request overflowed `1000 * request` and panicked the executor.
    #[test]
    fn huge_memory_requests_do_not_overflow() {
        assert_eq!(oom_score_adj("Burstable", i64::MAX, 8 << 30), 3);
        assert_eq!(oom_score_adj("Burstable", -5, 1000), 999);
    }

    fn pod(json: serde_json::Value) -> core::Pod {
        serde_json::from_value(json).expect("pod")
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
    }

    #[test]
    fn docker_config_json_with_auth_only_fills_user_and_password() {
        let json = br#"{"auths": {"https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"}}}"#;
        let auths = registry_auths(json).expect("parse");
        assert_eq!(
            (auths[0].username.as_str(), auths[0].password.as_str()),
            ("user", "pass")
        );
        let legacy = registry_auths(br#"{"quay.io": {"auth": "YTpi"}}"#).expect("dockercfg");
        assert_eq!(legacy[0].username, "a");
        assert!(registry_auths(b"[]").is_err());
    }

    struct Secrets(Vec<core::Secret>);

    #[async_trait::async_trait]
    impl ObjectSource for Secrets {
        async fn get_config_map(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Option<core::ConfigMap>, crate::runner::env::SourceError> {
            Ok(None)
        }
        async fn get_secret(
            &self,
            namespace: &str,
            name: &str,
        ) -> Result<Option<core::Secret>, crate::runner::env::SourceError> {
            Ok(self
                .0
                .iter()
                .find(|s| {
                    s.metadata.namespace.as_deref() == Some(namespace)
                        && s.metadata.name.as_deref() == Some(name)
                })
                .cloned())
        }
    }

    #[tokio::test]
    async fn pull_secrets_resolve_in_order_and_skip_missing_or_foreign_ones() {
        let secret = |name: &str, kind: &str, key: &str, data: &str| -> core::Secret {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "ns"},
                "type": kind,
                "data": {key: base64::engine::general_purpose::STANDARD.encode(data)}
            }))
            .expect("secret")
        };
        let objects = Secrets(vec![
            secret(
                "reg",
                "kubernetes.io/dockerconfigjson",
                ".dockerconfigjson",
                r#"{"auths": {"registry.example.com": {"username": "u", "password": "p"}}}"#,
            ),
            secret("opaque", "Opaque", "x", "y"),
            secret(
                "bad",
                "kubernetes.io/dockerconfigjson",
                ".dockerconfigjson",
                "not json",
            ),
        ]);
        let p = pod(serde_json::json!({
            "metadata": {"name": "x", "namespace": "ns"},
            "spec": {"containers": [], "imagePullSecrets": [
                {"name": "missing"}, {"name": "opaque"}, {"name": "bad"}, {"name": "reg"}]}
        }));
        let auths = resolve_pull_secrets(&p, &objects).await;
        assert_eq!(auths.len(), 1);
        assert_eq!(auths[0].server, "registry.example.com");
        assert_eq!(auths[0].username, "u");
    }
}
