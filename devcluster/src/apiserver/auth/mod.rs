//! Who is asking, and whether they may: kube-apiserver's authentication
//! (`authn`: client certificates, the admin and static tokens, bootstrap
//! tokens) and its authorization with `--authorization-mode=Node,RBAC`
//! (members of `system:masters` may do anything, then the Node authorizer
//! for kubelets, then RBAC), with the forbidden messages kube-apiserver
//! gives. The default roles and bindings are in `policy`; request
//! attributes (verb, resource, ...) in `attributes`. The identity-bound
//! admission rules (NodeRestriction) live in `admission.rs`, next to the
//! handlers that call them.
//!
//! Authorization is always on: the framework and the executor run under
//! exactly the rules of `packaging/kubernetes/`, so a missing grant shows
//! in the devcluster as it would on a real cluster.

pub mod attributes;
pub mod authn;
pub mod node;
pub mod policy;
pub mod rbac;
pub mod user;

use serde_json::json;

pub use attributes::Attributes;
pub use authn::StaticToken;
pub use user::UserInfo;

use super::error::StatusError;
use super::store::Store;

/// Allows the request or says why not (the reason may be empty, as
/// kube-apiserver's RBAC gives none).
pub fn authorize(store: &Store, user: &UserInfo, a: &Attributes) -> Result<(), String> {
    if user.in_group(user::MASTERS) {
        return Ok(());
    }
    let mut reason = String::new();
    if let Some(node) = user.node_identity() {
        match node::authorize(store, node, a) {
            Ok(()) => return Ok(()),
            Err(r) => reason = r,
        }
    }
    if rbac::allowed_by(store, user, a).is_some() {
        return Ok(());
    }
    Err(reason)
}

/// `responsewriters.forbiddenMessage`.
fn forbidden_message(user: &UserInfo, a: &Attributes) -> String {
    if !a.resource_request {
        return format!("User {:?} cannot {} path {:?}", user.name, a.verb, a.path);
    }
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {:?}", a.namespace)
    };
    format!(
        "User {:?} cannot {} resource {:?} in API group {:?} {scope}",
        user.name,
        a.verb,
        a.combined_resource(),
        a.api_group
    )
}

/// The 403 kube-apiserver answers a denied request with
/// (`responsewriters.Forbidden` → `errors.NewForbidden`).
pub fn forbidden(user: &UserInfo, a: &Attributes, reason: &str) -> StatusError {
    let mut msg = forbidden_message(user, a);
    if !reason.is_empty() {
        msg = format!("{msg}: {reason}");
    }
    let resource = if a.api_group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    };
    let message = if resource.is_empty() {
        format!("forbidden: {msg}")
    } else if a.name.is_empty() {
        format!("{resource} is forbidden: {msg}")
    } else {
        format!("{resource} {:?} is forbidden: {msg}", a.name)
    };
    let mut details = json!({"kind": a.resource});
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    if !a.api_group.is_empty() {
        details["group"] = json!(a.api_group);
    }
    StatusError {
        code: 403,
        reason: "Forbidden",
        message,
        details: Some(details),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::store::Mutation;
    use std::collections::HashMap;

    fn attrs(method: &str, path: &str) -> Attributes {
        Attributes::from_request(method, path, &HashMap::new())
    }

    #[test]
    fn messages_are_kube_apiservers() {
        let u = UserInfo::new("bob", &[]);
        let e = forbidden(&u, &attrs("GET", "/api/v1/namespaces/a/pods"), "");
        assert_eq!(
            e.message,
            "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"a\""
        );
        let e = forbidden(&u, &attrs("GET", "/apis/apps/v1/deployments/d"), "why");
        assert_eq!(
            e.message,
            "deployments.apps \"d\" is forbidden: User \"bob\" cannot get resource \"deployments\" in API group \"apps\" at the cluster scope: why"
        );
        let e = forbidden(&u, &attrs("GET", "/metrics"), "");
        assert_eq!(
            e.message,
            "forbidden: User \"bob\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn masters_rbac_and_nodes_are_asked_in_order() {
        let store = Store::in_memory(10);
        for obj in policy::bootstrap_objects() {
            let storage = match obj["kind"].as_str() {
                Some("ClusterRole") => "clusterroles",
                _ => "clusterrolebindings",
            };
            let name = obj["metadata"]["name"].as_str().unwrap().to_string();
            store
                .mutate(storage, "", &name, |_| Ok(Mutation::Put(obj)))
                .unwrap();
        }
        let pods = attrs("GET", "/api/v1/namespaces/a/pods");
        assert!(authorize(&store, &authn::admin(), &pods).is_ok());
        let bob = UserInfo::new("bob", &[]);
        assert!(authorize(&store, &bob, &pods).is_err());
        assert!(authorize(&store, &bob, &attrs("GET", "/api/v1")).is_ok());
        assert!(authorize(&store, &bob, &attrs("GET", "/version")).is_ok());
        let node = UserInfo::node("n1");
        assert!(authorize(&store, &node, &attrs("POST", "/api/v1/namespaces/a/events")).is_ok());
        assert_eq!(
            authorize(
                &store,
                &node,
                &attrs("GET", "/api/v1/namespaces/a/secrets/s")
            ),
            Err("no relationship found between node 'n1' and this object".into())
        );
    }
}
