//! The RBAC of `packaging/kubernetes/`, loaded into the local cluster's API
//! server at every start, so that the framework and the executors run
//! under exactly the rules an operator applies to a real cluster: a grant
//! missing there is a denied call here (logged by the API server as
//! `authorization denied`, which fails the end-to-end suite).
//!
//! The manifests are compiled in, so the binary needs no checkout. Each
//! object is server-side applied: created when missing, merged when an
//! earlier start created it.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};

use super::error::{LocalError, Result};

/// The manifests, in the order `kubectl apply -f packaging/kubernetes/`
/// takes them (file names sort the Namespace first).
pub const MANIFESTS: &[(&str, &str)] = &[
    (
        "00-namespace.yaml",
        include_str!("../../packaging/kubernetes/00-namespace.yaml"),
    ),
    (
        "executor-rbac.yaml",
        include_str!("../../packaging/kubernetes/executor-rbac.yaml"),
    ),
    (
        "framework-rbac.yaml",
        include_str!("../../packaging/kubernetes/framework-rbac.yaml"),
    ),
];

/// The namespace of kube-mesos' own objects in the manifests.
pub const NAMESPACE: &str = "kube-mesos";
/// The framework's ServiceAccount in the manifests.
pub const FRAMEWORK_ACCOUNT: &str = "kube-mesos-framework";
/// The extra group of the executors' bootstrap token, bound by
/// `executor-rbac.yaml`.
pub const BOOTSTRAP_GROUP: &str = "system:bootstrappers:kube-mesos";
/// The framework-ID ConfigMap (`--framework-id-configmap`'s default).
const FRAMEWORK_ID_CONFIGMAP: &str = "kube-mesos-framework";

/// Every object of the manifests.
pub fn objects() -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for (file, text) in MANIFESTS {
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(text).map_err(|e| LocalError::ManifestInvalid {
                file,
                reason: e.to_string(),
            })?;
        out.extend(docs.into_iter().filter(|d| d.is_object()));
    }
    Ok(out)
}

/// Applies every object with the admin's client.
pub async fn apply(admin: &kube::Client) -> Result<()> {
    for obj in objects()? {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(admin.clone(), ns, &ar),
            None => Api::all_with(admin.clone(), &ar),
        };
        let params = PatchParams::apply("kube-mesos-local").force();
        api.patch(&name, &params, &Patch::Apply(&obj))
            .await
            .map_err(|source| LocalError::RbacApplyFailed {
                what: format!("{kind} {name}"),
                source: Box::new(source),
            })?;
    }
    Ok(())
}

/// Data dirs from before the framework ran in its own namespace keep the
/// framework ID in `kube-system`: it is copied over once, so a restart
/// reuses it (a new framework ID would orphan the running tasks).
pub async fn adopt_framework_id(admin: &kube::Client) {
    use k8s_openapi::api::core::v1::ConfigMap;
    let ours: Api<ConfigMap> = Api::namespaced(admin.clone(), NAMESPACE);
    let old: Api<ConfigMap> = Api::namespaced(admin.clone(), "kube-system");
    if !matches!(ours.get_opt(FRAMEWORK_ID_CONFIGMAP).await, Ok(None)) {
        return;
    }
    let Ok(Some(found)) = old.get_opt(FRAMEWORK_ID_CONFIGMAP).await else {
        return;
    };
    let copy = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(FRAMEWORK_ID_CONFIGMAP.into()),
            namespace: Some(NAMESPACE.into()),
            ..Default::default()
        },
        data: found.data,
        ..Default::default()
    };
    if let Err(e) = ours.create(&Default::default(), &copy).await {
        tracing::warn!(error = %e, "copying the framework ID to the kube-mesos namespace failed");
    }
}

/// A bootstrap token (`<id>.<secret>`) for the executors.
pub struct BootstrapToken {
    /// The public part: Secret `kube-system/bootstrap-token-<id>`.
    pub id: String,
    secret: String,
}

fn token_part(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Creates a new bootstrap token for the executors (authentication only,
/// in [`BOOTSTRAP_GROUP`]) and deletes the one of the previous start.
///
/// It does not expire: an agent may start its first executor any time
/// while the cluster runs. Its rights are what `executor-rbac.yaml` binds
/// to the group — create and read CSRs — and the token never leaves the
/// data dir (executors get the path of the bootstrap kubeconfig).
pub async fn mint_bootstrap_token(admin: &kube::Client, previous: &str) -> Result<BootstrapToken> {
    use k8s_openapi::api::core::v1::Secret;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "kube-system");
    if !previous.is_empty() {
        let _ = secrets
            .delete(&format!("bootstrap-token-{previous}"), &Default::default())
            .await;
    }
    let token = BootstrapToken {
        id: token_part(6),
        secret: token_part(16),
    };
    let data = [
        ("token-id", token.id.as_str()),
        ("token-secret", token.secret.as_str()),
        ("usage-bootstrap-authentication", "true"),
        ("auth-extra-groups", BOOTSTRAP_GROUP),
        (
            "description",
            "kube-mesos local: executors bootstrap their node's client certificate",
        ),
    ];
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("bootstrap-token-{}", token.id)),
            namespace: Some("kube-system".into()),
            ..Default::default()
        },
        type_: Some("bootstrap.kubernetes.io/token".into()),
        string_data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    };
    secrets
        .create(&Default::default(), &secret)
        .await
        .map_err(|source| LocalError::RbacApplyFailed {
            what: "the executors' bootstrap token".into(),
            source: Box::new(source),
        })?;
    Ok(token)
}

impl BootstrapToken {
    /// Writes the executors' bootstrap kubeconfig (mode 0600): the API
    /// server, its CA file, and this token.
    pub fn write_kubeconfig(
        &self,
        path: &std::path::Path,
        server: &str,
        ca_file: &std::path::Path,
    ) -> std::io::Result<()> {
        let cluster = kube::config::Cluster {
            server: Some(server.to_owned()),
            certificate_authority: Some(ca_file.display().to_string()),
            ..Default::default()
        };
        let user = kube::config::AuthInfo {
            token: Some(format!("{}.{}", self.id, self.secret).into()),
            ..Default::default()
        };
        let doc = kube_mesos_executor::kube::kubeconfig("bootstrap", cluster, user);
        let text = serde_json::to_string(&doc).map_err(std::io::Error::other)?;
        super::state::write_private(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifests_hold_the_framework_and_executor_accounts() {
        let objs = objects().expect("manifests parse");
        let names: Vec<(String, String)> = objs
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap_or_default().to_string(),
                    o["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect();
        assert_eq!(names[0], ("Namespace".to_string(), NAMESPACE.to_string()));
        assert!(names.contains(&("ServiceAccount".into(), FRAMEWORK_ACCOUNT.into())));
        assert!(names.iter().any(|(k, _)| k == "ClusterRoleBinding"));
    }

    #[test]
    fn the_bootstrap_kubeconfig_reads_back_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bootstrap-kubeconfig");
        let token = BootstrapToken {
            id: "abcdef".into(),
            secret: "0123456789abcdef".into(),
        };
        let ca = std::path::Path::new("/data/ca.crt");
        token
            .write_kubeconfig(&path, "https://127.0.0.1:6443", ca)
            .expect("written");
        let kc = kube::config::Kubeconfig::read_from(&path).expect("a kubeconfig");
        assert_eq!(kc.current_context.as_deref(), Some("bootstrap"));
        let cluster = kc.clusters[0].cluster.as_ref().expect("cluster");
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some("/data/ca.crt")
        );
        let user = serde_json::to_value(&kc.auth_infos[0].auth_info).expect("json");
        assert_eq!(user["token"], "abcdef.0123456789abcdef");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
