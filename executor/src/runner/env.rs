//! Container environment resolution, as the kubelet's
//! `makeEnvironmentVariables` (`pkg/kubelet/kubelet_pods.go`).
//!
//! Order of work, as the kubelet: `envFrom` sources first (later ones
//! override earlier ones), then `env` entries in order; a literal `value` has
//! its `$(VAR)` references expanded against the variables defined so far
//! (`$$` escapes, unknown references stay as written: the forked Go
//! `expansion` package); `valueFrom` values are never expanded.
//!
//! ConfigMaps and Secrets come through [`ObjectSource`] so tests fake it and
//! the API client plugs in later. A missing non-optional reference is an
//! [`EnvError`] whose message is the kubelet's; the container then waits with
//! reason `CreateContainerConfigError`.
//!
//! Not done: service links (`enableServiceLinks` variables) — there is no
//! service registry on this side yet.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use kube_mesos_node::quantity;

/// The kubelet's waiting reason for env/config failures.
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";

/// An error of the object source itself (network, permissions). Retryable.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Where ConfigMaps and Secrets come from. `Ok(None)` means not found.
#[async_trait]
pub trait ObjectSource: Send + Sync {
    /// Gets a ConfigMap.
    async fn get_config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<core::ConfigMap>, SourceError>;
    /// Gets a Secret.
    async fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<core::Secret>, SourceError>;
}

/// Why a container's environment could not be built. Display strings are
/// the kubelet's messages.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A referenced ConfigMap does not exist.
    #[error("configmap {0:?} not found")]
    ConfigMapNotFound(String),
    /// A referenced Secret does not exist.
    #[error("secret {0:?} not found")]
    SecretNotFound(String),
    /// A ConfigMap lacks the key.
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        /// Key.
        key: String,
        /// Namespace.
        namespace: String,
        /// ConfigMap name.
        name: String,
    },
    /// A Secret lacks the key.
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        /// Key.
        key: String,
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
    },
    /// A `fieldRef` path we do not support.
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    /// A `resourceFieldRef` resource we do not support.
    #[error("unsupported container resource : {0}")]
    UnsupportedResource(String),
    /// A `resourceFieldRef.containerName` that is not in the pod.
    #[error("container {0} not found")]
    ContainerNotFound(String),
    /// Fetching an object failed (retryable).
    #[error("fetching {kind} {namespace}/{name}: {source}")]
    FetchFailed {
        /// `configmap` / `secret`.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: SourceError,
    },
}

/// Facts about the pod's placement the env (and downward API) can refer to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodFacts {
    /// Node IP (`status.hostIP`).
    pub host_ip: Option<String>,
    /// Pod IPs (`status.podIP(s)`).
    pub pod_ips: Vec<String>,
    /// Node allocatable, the default for unset limits (kubelet's
    /// `defaultPodLimitsForDownwardAPI`).
    pub node_allocatable: BTreeMap<String, Quantity>,
}

/// `$(VAR)` expansion exactly as k8s `third_party/forked/golang/expansion`.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let Some(next) = after.chars().next() else {
            // A trailing `$` is kept.
            out.push('$');
            rest = after;
            break;
        };
        match next {
            '$' => {
                out.push('$');
                rest = &after[1..];
            }
            '(' => match after.find(')') {
                Some(close) => {
                    let name = &after[1..close];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            c => {
                out.push('$');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Kubernetes `IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
pub fn is_env_var_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || "-._".contains(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    m.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of a `fieldRef` path (env and downward API volumes).
pub fn field_value(pod: &core::Pod, facts: &PodFacts, path: &str) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
    };
    if let Some(k) = subscript("metadata.labels") {
        return Ok(meta
            .labels
            .as_ref()
            .and_then(|m| m.get(k))
            .cloned()
            .unwrap_or_default());
    }
    if let Some(k) = subscript("metadata.annotations") {
        return Ok(meta
            .annotations
            .as_ref()
            .and_then(|m| m.get(k))
            .cloned()
            .unwrap_or_default());
    }
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        // `spec.host` is the old v1 name the API still converts
        // (`ConvertDownwardAPIFieldLabel`).
        "spec.nodeName" | "spec.host" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "spec.terminationGracePeriodSeconds" => spec
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
            .to_string(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone().unwrap_or_default(),
        "status.podIP" => facts.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => facts.pod_ips.join(","),
        other => return Err(EnvError::UnsupportedFieldPath(other.to_string())),
    })
}

/// The value of a `resourceFieldRef` for `container` (kubelet
/// `ExtractContainerResourceValue`, limits defaulted to node allocatable).
pub fn resource_value(
    pod: &core::Pod,
    container: &core::Container,
    facts: &PodFacts,
    sel: &core::ResourceFieldSelector,
) -> Result<String, EnvError> {
    let container = match sel.container_name.as_deref().filter(|n| !n.is_empty()) {
        None => container,
        Some(name) => pod
            .spec
            .iter()
            .flat_map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
            .find(|c| c.name == name)
            .ok_or_else(|| EnvError::ContainerNotFound(name.to_string()))?,
    };
    let divisor = sel
        .divisor
        .as_ref()
        .and_then(|d| quantity::parse(&d.0))
        .filter(|d| *d != 0)
        .unwrap_or(1_000_000_000);
    let res = container.resources.as_ref();
    let (kind, name) = sel
        .resource
        .split_once('.')
        .ok_or_else(|| EnvError::UnsupportedResource(sel.resource.clone()))?;
    let map = match kind {
        "limits" => res.and_then(|r| r.limits.as_ref()),
        "requests" => res.and_then(|r| r.requests.as_ref()),
        _ => return Err(EnvError::UnsupportedResource(sel.resource.clone())),
    };
    if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !name.starts_with("hugepages-") {
        return Err(EnvError::UnsupportedResource(sel.resource.clone()));
    }
    let mut value = map
        .and_then(|m| m.get(name))
        .and_then(|q| quantity::parse(&q.0));
    if kind == "limits" && value.is_none() {
        value = facts
            .node_allocatable
            .get(name)
            .and_then(|q| quantity::parse(&q.0));
    }
    let value = value.unwrap_or(0);
    let out = if name == "cpu" {
        quantity::ceil_div(quantity::milli(value), quantity::milli(divisor).max(1))
    } else {
        quantity::ceil_div(quantity::units(value), quantity::units(divisor).max(1))
    };
    Ok(out.to_string())
}

/// An ordered map: first insertion fixes the position, later ones override.
#[derive(Default)]
struct EnvMap {
    order: Vec<String>,
    values: HashMap<String, String>,
}

impl EnvMap {
    fn set(&mut self, k: String, v: String) {
        if !self.values.contains_key(&k) {
            self.order.push(k.clone());
        }
        self.values.insert(k, v);
    }
    fn into_vec(mut self) -> Vec<(String, String)> {
        self.order
            .into_iter()
            .map(|k| {
                let v = self.values.remove(&k).unwrap_or_default();
                (k, v)
            })
            .collect()
    }
}

#[derive(Default)]
struct Cache {
    config_maps: HashMap<String, Option<core::ConfigMap>>,
    secrets: HashMap<String, Option<core::Secret>>,
}

impl Cache {
    async fn config_map(
        &mut self,
        src: &dyn ObjectSource,
        ns: &str,
        name: &str,
    ) -> Result<Option<core::ConfigMap>, EnvError> {
        if let Some(c) = self.config_maps.get(name) {
            return Ok(c.clone());
        }
        let c = src
            .get_config_map(ns, name)
            .await
            .map_err(|source| EnvError::FetchFailed {
                kind: "configmap",
                namespace: ns.into(),
                name: name.into(),
                source,
            })?;
        self.config_maps.insert(name.into(), c.clone());
        Ok(c)
    }

    async fn secret(
        &mut self,
        src: &dyn ObjectSource,
        ns: &str,
        name: &str,
    ) -> Result<Option<core::Secret>, EnvError> {
        if let Some(s) = self.secrets.get(name) {
            return Ok(s.clone());
        }
        let s = src
            .get_secret(ns, name)
            .await
            .map_err(|source| EnvError::FetchFailed {
                kind: "secret",
                namespace: ns.into(),
                name: name.into(),
                source,
            })?;
        self.secrets.insert(name.into(), s.clone());
        Ok(s)
    }
}

/// Builds the environment of `container` in `pod`.
pub async fn resolve_env(
    pod: &core::Pod,
    container: &core::Container,
    facts: &PodFacts,
    source: &dyn ObjectSource,
) -> Result<Vec<(String, String)>, EnvError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut cache = Cache::default();
    let mut env = EnvMap::default();

    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let mut invalid = Vec::new();
        let mut put = |k: String, v: String| {
            let k = format!("{prefix}{k}");
            if is_env_var_name(&k) {
                env.set(k, v);
            } else {
                invalid.push(k);
            }
        };
        if let Some(r) = &from.config_map_ref {
            match cache.config_map(source, &ns, &r.name).await? {
                Some(cm) => {
                    for (k, v) in cm.data.unwrap_or_default() {
                        put(k, v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
            }
        } else if let Some(r) = &from.secret_ref {
            match cache.secret(source, &ns, &r.name).await? {
                Some(s) => {
                    for (k, v) in s.data.unwrap_or_default() {
                        put(k, String::from_utf8_lossy(&v.0).into_owned());
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(EnvError::SecretNotFound(r.name.clone())),
            }
        }
        if !invalid.is_empty() {
            invalid.sort();
            tracing::warn!(container = %container.name, keys = ?invalid, "envFrom keys skipped: invalid environment variable names");
        }
    }

    for var in container.env.iter().flatten() {
        let literal = var.value.clone().unwrap_or_default();
        let value = if !literal.is_empty() {
            expand(&literal, |name| env.values.get(name).cloned())
        } else if let Some(from) = &var.value_from {
            if let Some(f) = &from.field_ref {
                field_value(pod, facts, &f.field_path)?
            } else if let Some(r) = &from.resource_field_ref {
                resource_value(pod, container, facts, r)?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional == Some(true);
                match cache.config_map(source, &ns, &r.name).await? {
                    None if optional => continue,
                    None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
                    Some(cm) => match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                        Some(v) => v.clone(),
                        None if optional => continue,
                        None => {
                            return Err(EnvError::ConfigMapKeyNotFound {
                                key: r.key.clone(),
                                namespace: ns.clone(),
                                name: r.name.clone(),
                            })
                        }
                    },
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional == Some(true);
                match cache.secret(source, &ns, &r.name).await? {
                    None if optional => continue,
                    None => return Err(EnvError::SecretNotFound(r.name.clone())),
                    Some(s) => match s.data.as_ref().and_then(|d| d.get(&r.key)) {
                        Some(v) => String::from_utf8_lossy(&v.0).into_owned(),
                        None if optional => continue,
                        None => {
                            return Err(EnvError::SecretKeyNotFound {
                                key: r.key.clone(),
                                namespace: ns.clone(),
                                name: r.name.clone(),
                            })
                        }
                    },
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        env.set(var.name.clone(), value);
    }
    Ok(env.into_vec())
}

/// Expands `$(VAR)` in a container's command or args with its resolved
/// env, as the kubelet's `ExpandContainerCommandAndArgs`.
pub fn expand_all(items: &[String], env: &[(String, String)]) -> Vec<String> {
    let map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    items
        .iter()
        .map(|i| expand(i, |name| map.get(name).map(|v| v.to_string())))
        .collect()
}

/// A fixed in-memory [`ObjectSource`], for tests and for pods whose objects
/// were fetched up front.
#[derive(Debug, Clone, Default)]
pub struct StaticObjects {
    /// ConfigMaps by `(namespace, name)`.
    pub config_maps: BTreeMap<(String, String), core::ConfigMap>,
    /// Secrets by `(namespace, name)`.
    pub secrets: BTreeMap<(String, String), core::Secret>,
}

#[async_trait]
impl ObjectSource for StaticObjects {
    async fn get_config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<core::ConfigMap>, SourceError> {
        Ok(self
            .config_maps
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }
    async fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<core::Secret>, SourceError> {
        Ok(self
            .secrets
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;
    use serde_json::json;

    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_matches_the_go_package() {
        for (input, want) in [
            ("$(A)", "a"),
            ("x$(A)y$(A)", "xaya"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$a"),
            ("$$$$(A)", "$$(A)"),
            ("$(UNKNOWN)", "$(UNKNOWN)"),
            ("$(EMPTY)!", "!"),
            ("$(A", "$(A"),
            ("$A", "$A"),
            ("trailing$", "trailing$"),
            ("$", "$"),
            ("$(", "$("),
            ("$()", "$()"),
            ("é$é", "é$é"),
            ("$(A)$(A", "a$(A"),
        ] {
            assert_eq!(expand(input, lookup), want, "input {input:?}");
        }
    }

    fn objects() -> StaticObjects {
        let mut o = StaticObjects::default();
        o.config_maps.insert(
            ("ns".into(), "cfg".into()),
            serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"MODE": "fast", "bad key": "x", "LEVEL": "3"}})).unwrap(),
        );
        let mut s: core::Secret =
            serde_json::from_value(json!({"metadata": {"name": "sec"}})).unwrap();
        s.data = Some(BTreeMap::from([(
            "TOKEN".to_string(),
            ByteString(b"s3cret".to_vec()),
        )]));
        o.secrets.insert(("ns".into(), "sec".into()), s);
        o
    }

    fn pod_with(env: serde_json::Value, env_from: serde_json::Value) -> core::Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}, "annotations": {"team": "a"}},
            "spec": {"nodeName": "node1", "serviceAccountName": "sa", "containers": [{
                "name": "c", "command": ["x"], "env": env, "envFrom": env_from,
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
            }]}
        }))
        .unwrap()
    }

    async fn resolve(p: &core::Pod) -> Result<Vec<(String, String)>, EnvError> {
        let facts = PodFacts {
            host_ip: Some("10.0.0.5".into()),
            pod_ips: vec!["10.1.0.7".into(), "fd00::7".into()],
            node_allocatable: BTreeMap::from([("cpu".to_string(), Quantity("4".into()))]),
        };
        resolve_env(
            p,
            &p.spec.as_ref().unwrap().containers[0],
            &facts,
            &objects(),
        )
        .await
    }

    #[tokio::test]
    async fn resolves_all_sources_in_kubelet_order() {
        let p = pod_with(
            json!([
                {"name": "GREETING", "value": "mode=$(MODE) cfg_MODE=$(cfg_MODE) $$(MODE) $(NOPE)"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['team']"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "spec.host"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                {"name": "CPU_REQ_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                {"name": "CPU_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
                {"name": "CPU_LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "MEM_LIM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "LEVEL"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "TOKEN"}}},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k", "optional": true}}},
                {"name": "OPT_KEY", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "nope", "optional": true}}},
                {"name": "FROM_REF", "value": "$(POD)/$(LEVEL)"}
            ]),
            json!([{"configMapRef": {"name": "cfg"}}, {"configMapRef": {"name": "cfg"}, "prefix": "cfg_"},
                   {"secretRef": {"name": "absent", "optional": true}}]),
        );
        let env: BTreeMap<String, String> = resolve(&p).await.unwrap().into_iter().collect();
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("MODE"), Some("fast"));
        assert_eq!(get("cfg_LEVEL"), Some("3"));
        assert_eq!(get("bad key"), None, "invalid envFrom keys are skipped");
        assert_eq!(
            get("GREETING"),
            Some("mode=fast cfg_MODE=fast $(MODE) $(NOPE)")
        );
        assert_eq!(get("POD"), Some("web"));
        assert_eq!(get("NS"), Some("ns"));
        assert_eq!(get("UID"), Some("u1"));
        assert_eq!(get("APP"), Some("web"));
        assert_eq!(get("TEAM"), Some("a"));
        assert_eq!(get("NODE"), Some("node1"));
        assert_eq!(get("HOST"), Some("node1"));
        assert_eq!(get("SA"), Some("sa"));
        assert_eq!(get("HOST_IP"), Some("10.0.0.5"));
        assert_eq!(get("POD_IP"), Some("10.1.0.7"));
        assert_eq!(get("POD_IPS"), Some("10.1.0.7,fd00::7"));
        assert_eq!(get("CPU_REQ_M"), Some("250"));
        assert_eq!(get("CPU_REQ"), Some("1"), "ceil(250m / 1)");
        assert_eq!(
            get("CPU_LIM"),
            Some("4"),
            "unset limit defaults to allocatable"
        );
        assert_eq!(get("MEM_LIM_MI"), Some("128"));
        assert_eq!(get("LEVEL"), Some("3"));
        assert_eq!(get("TOKEN"), Some("s3cret"));
        assert_eq!(get("OPT"), None);
        assert_eq!(get("OPT_KEY"), None);
        assert_eq!(get("FROM_REF"), Some("web/3"));
    }

    #[tokio::test]
    async fn missing_references_give_kubelet_messages() {
        let cases = [
            (
                json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]),
                json!([]),
                "configmap \"x\" not found",
            ),
            (
                json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]),
                json!([]),
                "couldn't find key k in ConfigMap ns/cfg",
            ),
            (
                json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
                json!([]),
                "secret \"s\" not found",
            ),
            (
                json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k"}}}]),
                json!([]),
                "couldn't find key k in Secret ns/sec",
            ),
            (
                json!([]),
                json!([{"configMapRef": {"name": "gone"}}]),
                "configmap \"gone\" not found",
            ),
            (
                json!([{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]),
                json!([]),
                "unsupported fieldPath: spec.bogus",
            ),
        ];
        for (env, from, want) in cases {
            let err = resolve(&pod_with(env, from)).await.unwrap_err();
            assert_eq!(err.to_string(), want);
        }
    }
}
