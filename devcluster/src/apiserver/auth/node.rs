//! The Node authorizer (`plugin/pkg/auth/authorizer/node`), as in
//! kube-apiserver 1.33 with `AuthorizeNodeWithSelectors` on: a node
//! (`system:node:<name>` in `system:nodes`) reads only the Secrets,
//! ConfigMaps and ServiceAccounts (tokens) of pods bound to it, reads its
//! own Node and its own pods, lists pods only with `spec.nodeName=<self>`,
//! and uses its own Lease; everything else is judged by the static node
//! rules (`bootstrappolicy.NodeRules`). Writes it is allowed here
//! (its Node, pods' status, mirror pods) are narrowed by the NodeRestriction
//! admission (`admission.rs`).
//!
//! kube-apiserver keeps a graph of pod → node edges fed by informers; here
//! the pods are read from the store on each request, which answers the
//! same question: is there a pod bound to this node that references the
//! object?

use serde_json::Value;

use super::attributes::Attributes;
use super::rbac::{rules_allow, PolicyRule};
use crate::apiserver::store::Store;

/// The verdict with kube-apiserver's reason text for a denial.
pub type Verdict = Result<(), String>;

/// The node rules (`bootstrappolicy.NodeRules`) for what the authorizer
/// does not subdivide.
pub fn node_rules() -> Vec<PolicyRule> {
    let r = |verbs: &[&str], groups: &[&str], resources: &[&str]| PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        api_groups: groups.iter().map(|s| s.to_string()).collect(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
        ..PolicyRule::default()
    };
    let read = ["get", "list", "watch"];
    vec![
        r(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        r(
            &["create"],
            &["authorization.k8s.io"],
            &["subjectaccessreviews", "localsubjectaccessreviews"],
        ),
        r(&read, &[""], &["services"]),
        r(&["create", "get", "list", "watch"], &[""], &["nodes"]),
        r(&["update", "patch"], &[""], &["nodes/status"]),
        r(&["update", "patch"], &[""], &["nodes"]),
        r(
            &["create", "update", "patch"],
            &["", "events.k8s.io"],
            &["events"],
        ),
        r(&read, &[""], &["pods"]),
        r(&["create", "delete"], &[""], &["pods"]),
        r(&["update", "patch"], &[""], &["pods/status"]),
        r(&["create"], &[""], &["pods/eviction"]),
        r(&read, &[""], &["secrets", "configmaps"]),
        r(
            &["get"],
            &[""],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        r(&["get"], &[""], &["endpoints"]),
        r(
            &["create", "get", "list", "watch"],
            &["certificates.k8s.io"],
            &["certificatesigningrequests"],
        ),
        r(
            &["get", "create", "update", "patch", "delete"],
            &["coordination.k8s.io"],
            &["leases"],
        ),
        r(&["create"], &[""], &["serviceaccounts/token"]),
    ]
}

/// Which objects of a pod an edge leads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Referenced {
    Secret,
    ConfigMap,
    ServiceAccount,
}

fn names_in<'a>(out: &mut Vec<&'a str>, v: &'a Value) {
    if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
        out.push(s);
    }
}

/// The names of the objects of one kind a pod references
/// (`podutil.VisitPodSecretNames`, `VisitPodConfigmapNames`, and the
/// service account).
pub fn pod_references(pod: &Value, kind: Referenced) -> Vec<&str> {
    let spec = &pod["spec"];
    let mut out = Vec::new();
    if kind == Referenced::ServiceAccount {
        names_in(&mut out, &spec["serviceAccountName"]);
        return out;
    }
    let (ref_key, key_ref, volume_key, volume_name) = match kind {
        Referenced::Secret => ("secretRef", "secretKeyRef", "secret", "secretName"),
        _ => ("configMapRef", "configMapKeyRef", "configMap", "name"),
    };
    if kind == Referenced::Secret {
        for s in spec["imagePullSecrets"].as_array().into_iter().flatten() {
            names_in(&mut out, &s["name"]);
        }
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec[list].as_array().into_iter().flatten() {
            for e in c["envFrom"].as_array().into_iter().flatten() {
                names_in(&mut out, &e[ref_key]["name"]);
            }
            for e in c["env"].as_array().into_iter().flatten() {
                names_in(&mut out, &e["valueFrom"][key_ref]["name"]);
            }
        }
    }
    for v in spec["volumes"].as_array().into_iter().flatten() {
        names_in(&mut out, &v[volume_key][volume_name]);
        for s in v["projected"]["sources"].as_array().into_iter().flatten() {
            names_in(&mut out, &s[volume_key]["name"]);
        }
        if kind == Referenced::Secret {
            for (source, field) in [
                ("csi", "nodePublishSecretRef"),
                ("cephfs", "secretRef"),
                ("rbd", "secretRef"),
                ("iscsi", "secretRef"),
                ("flexVolume", "secretRef"),
                ("scaleIO", "secretRef"),
                ("storageos", "secretRef"),
                ("cinder", "secretRef"),
            ] {
                names_in(&mut out, &v[source][field]["name"]);
            }
            names_in(&mut out, &v["azureFile"]["secretName"]);
        }
    }
    out
}

/// The pods bound to `node` in `namespace`.
fn bound_pods(store: &Store, node: &str, namespace: &str) -> Vec<Value> {
    let (pods, _) = store.list("pods", Some(namespace));
    pods.into_iter()
        .filter(|p| p["spec"]["nodeName"].as_str() == Some(node))
        .collect()
}

fn no_relationship(node: &str) -> String {
    format!("no relationship found between node '{node}' and this object")
}

/// `hasPathFrom` for an object a pod references.
fn related(store: &Store, node: &str, kind: Referenced, a: &Attributes) -> Verdict {
    if a.name.is_empty() {
        return Err("No Object name found".into());
    }
    let found = bound_pods(store, node, &a.namespace)
        .iter()
        .any(|p| pod_references(p, kind).contains(&a.name.as_str()));
    if found {
        Ok(())
    } else {
        Err(no_relationship(node))
    }
}

fn authorize_read_namespaced(
    store: &Store,
    node: &str,
    kind: Referenced,
    a: &Attributes,
) -> Verdict {
    if !matches!(a.verb.as_str(), "get" | "list" | "watch") {
        return Err("can only read resources of this type".into());
    }
    if !a.subresource.is_empty() {
        return Err("cannot read subresource".into());
    }
    if a.namespace.is_empty() {
        return Err("can only read namespaced object of this type".into());
    }
    related(store, node, kind, a)
}

fn authorize_create_token(store: &Store, node: &str, a: &Attributes) -> Verdict {
    if a.verb != "create" || a.name.is_empty() {
        return Err("can only create tokens for individual service accounts".into());
    }
    if a.subresource != "token" {
        return Err("can only create token subresource of serviceaccount".into());
    }
    related(store, node, Referenced::ServiceAccount, a)
}

fn authorize_lease(node: &str, a: &Attributes) -> Verdict {
    if !matches!(
        a.verb.as_str(),
        "get" | "create" | "update" | "patch" | "delete"
    ) {
        return Err("can only get, create, update, patch, or delete a node lease".into());
    }
    if a.namespace != "kube-node-lease" {
        return Err("can only access leases in the \"kube-node-lease\" system namespace".into());
    }
    if a.verb != "create" && a.name != node {
        return Err("can only access node lease with the same name as the requesting node".into());
    }
    Ok(())
}

fn authorize_node(node: &str, a: &Attributes) -> Verdict {
    match (a.subresource.as_str(), a.verb.as_str()) {
        ("", "create" | "update" | "patch") | ("status", "update" | "patch") => Ok(()),
        ("", "get" | "list" | "watch") => match a.name.as_str() {
            n if n == node => Ok(()),
            "" => Err(format!(
                "node '{node}' cannot read all nodes, only its own Node object"
            )),
            other => Err(format!(
                "node '{node}' cannot read '{other}', only its own Node object"
            )),
        },
        _ => Err(String::new()),
    }
}

fn authorize_pod(store: &Store, node: &str, a: &Attributes) -> Verdict {
    let bound = |a: &Attributes| -> Verdict {
        if a.name.is_empty() {
            return Err("No Object name found".into());
        }
        match store.get("pods", &a.namespace, &a.name) {
            Some(p) if p["spec"]["nodeName"].as_str() == Some(node) => Ok(()),
            _ => Err(no_relationship(node)),
        }
    };
    match (a.subresource.as_str(), a.verb.as_str()) {
        ("", "get") => bound(a),
        ("", "list" | "watch") => {
            if a.selects("spec.nodeName", node) {
                Ok(())
            } else if !a.name.is_empty() {
                bound(a)
            } else {
                Err("can only list/watch pods with spec.nodeName field selector".into())
            }
        }
        ("", "create" | "delete") | ("status", "update" | "patch") | ("eviction", "create") => {
            Ok(())
        }
        _ => Err(String::new()),
    }
}

/// `NodeAuthorizer.Authorize` for a request of node `node`; `Err` is
/// "no opinion" with its reason.
pub fn authorize(store: &Store, node: &str, a: &Attributes) -> Verdict {
    if node.is_empty() {
        return Err("unknown node".into());
    }
    if a.resource_request {
        match (a.api_group.as_str(), a.resource.as_str()) {
            ("", "secrets") => {
                return authorize_read_namespaced(store, node, Referenced::Secret, a)
            }
            ("", "configmaps") => {
                return authorize_read_namespaced(store, node, Referenced::ConfigMap, a)
            }
            ("", "serviceaccounts") => return authorize_create_token(store, node, a),
            ("coordination.k8s.io", "leases") => return authorize_lease(node, a),
            ("", "nodes") => return authorize_node(node, a),
            ("", "pods") => return authorize_pod(store, node, a),
            _ => {}
        }
    }
    if rules_allow(a, &node_rules()) {
        Ok(())
    } else {
        Err(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::store::Mutation;
    use serde_json::json;
    use std::collections::HashMap;

    fn attrs(method: &str, path: &str) -> Attributes {
        let (path, q) = path.split_once('?').unwrap_or((path, ""));
        let query: HashMap<String, String> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        Attributes::from_request(method, path, &query)
    }

    fn store_with_pod() -> Store {
        let store = Store::in_memory(10);
        let pod = json!({"metadata": {"name": "p", "namespace": "a"}, "spec": {
            "nodeName": "n1", "serviceAccountName": "sa",
            "imagePullSecrets": [{"name": "pull"}],
            "containers": [{"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}}],
                            "envFrom": [{"configMapRef": {"name": "env-cm"}}]}],
            "volumes": [{"name": "v", "secret": {"secretName": "vol-secret"}},
                        {"name": "w", "projected": {"sources": [{"configMap": {"name": "proj-cm"}}]}}]}});
        store
            .mutate("pods", "a", "p", |_| Ok(Mutation::Put(pod)))
            .expect("put");
        store
    }

    #[test]
    fn a_node_reads_only_what_its_pods_reference() {
        let store = store_with_pod();
        for path in [
            "/api/v1/namespaces/a/secrets/env-secret",
            "/api/v1/namespaces/a/secrets/vol-secret",
            "/api/v1/namespaces/a/secrets/pull",
            "/api/v1/namespaces/a/configmaps/env-cm",
            "/api/v1/namespaces/a/configmaps/proj-cm",
        ] {
            assert_eq!(
                authorize(&store, "n1", &attrs("GET", path)),
                Ok(()),
                "{path}"
            );
            assert!(
                authorize(&store, "n2", &attrs("GET", path)).is_err(),
                "{path}"
            );
        }
        assert!(authorize(
            &store,
            "n1",
            &attrs("GET", "/api/v1/namespaces/a/secrets/other")
        )
        .is_err());
        assert!(authorize(
            &store,
            "n1",
            &attrs("GET", "/api/v1/namespaces/b/secrets/env-secret")
        )
        .is_err());
        assert!(authorize(&store, "n1", &attrs("GET", "/api/v1/namespaces/a/secrets")).is_err());
        assert!(authorize(
            &store,
            "n1",
            &attrs("PUT", "/api/v1/namespaces/a/secrets/env-secret")
        )
        .is_err());
        assert_eq!(
            authorize(
                &store,
                "n1",
                &attrs("POST", "/api/v1/namespaces/a/serviceaccounts/sa/token")
            ),
            Ok(())
        );
        assert!(authorize(
            &store,
            "n2",
            &attrs("POST", "/api/v1/namespaces/a/serviceaccounts/sa/token")
        )
        .is_err());
    }

    #[test]
    fn a_node_sees_its_own_node_lease_and_pods() {
        let store = store_with_pod();
        assert_eq!(
            authorize(&store, "n1", &attrs("GET", "/api/v1/nodes/n1")),
            Ok(())
        );
        assert!(authorize(&store, "n1", &attrs("GET", "/api/v1/nodes/n2")).is_err());
        assert!(authorize(&store, "n1", &attrs("GET", "/api/v1/nodes")).is_err());
        assert_eq!(
            authorize(&store, "n1", &attrs("PATCH", "/api/v1/nodes/n1/status")),
            Ok(())
        );
        assert_eq!(
            authorize(&store, "n1", &attrs("GET", "/api/v1/namespaces/a/pods/p")),
            Ok(())
        );
        assert!(authorize(&store, "n2", &attrs("GET", "/api/v1/namespaces/a/pods/p")).is_err());
        assert_eq!(
            authorize(
                &store,
                "n1",
                &attrs("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")
            ),
            Ok(())
        );
        assert!(authorize(
            &store,
            "n1",
            &attrs("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn2")
        )
        .is_err());
        assert!(authorize(&store, "n1", &attrs("GET", "/api/v1/pods")).is_err());
        let lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
        assert_eq!(
            authorize(&store, "n1", &attrs("PUT", &format!("{lease}/n1"))),
            Ok(())
        );
        assert!(authorize(&store, "n1", &attrs("PUT", &format!("{lease}/n2"))).is_err());
        assert_eq!(authorize(&store, "n1", &attrs("POST", lease)), Ok(()));
        assert!(authorize(
            &store,
            "n1",
            &attrs(
                "GET",
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/n1"
            )
        )
        .is_err());
        assert_eq!(
            authorize(&store, "n1", &attrs("POST", "/api/v1/namespaces/a/events")),
            Ok(())
        );
        assert!(authorize(&store, "n1", &attrs("GET", "/apis/apps/v1/deployments")).is_err());
        assert!(authorize(&store, "", &attrs("POST", "/api/v1/namespaces/a/events")).is_err());
    }
}
