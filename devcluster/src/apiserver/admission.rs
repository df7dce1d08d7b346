//! The admission rules that depend on who asks, run by the verb handlers
//! on the object as it is about to be stored:
//!
//! - NodeRestriction (`plugin/pkg/admission/noderestriction`): a node may
//!   change only its own Node (not its taints, and no labels outside the
//!   kubelet's set, so it cannot label itself into another node's place),
//!   only its own Lease, the status of pods bound to it, delete only pods
//!   bound to it, and create only mirror pods of itself.
//! - CertificateSigningRequests record their requester (`spec.username`,
//!   `uid`, `groups`, `extra`), as the CSR strategy does from the request's
//!   user, so the approver knows whom it approves for.
//!
//! The controllers act as kube-controller-manager would with its own
//! identity; they pass [`Requester::SYSTEM`], to which neither applies.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::auth::UserInfo;
use super::error::{ApiResult, StatusError};
use super::resources::ResourceType;

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// Who makes a write: an authenticated user, or the server's own
/// controllers.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a>(pub Option<&'a UserInfo>);

impl Requester<'_> {
    /// The server's controllers.
    pub const SYSTEM: Requester<'static> = Requester(None);
}

/// One write about to happen.
pub struct Write<'a> {
    pub op: Operation,
    pub rt: &'static ResourceType,
    pub sub: Option<&'a str>,
    pub old: Option<&'a Value>,
}

impl<'a> Write<'a> {
    /// A create (of the resource, or of its `sub` on update-or-create).
    pub fn create(rt: &'static ResourceType, sub: Option<&'a str>) -> Self {
        Self {
            op: Operation::Create,
            rt,
            sub,
            old: None,
        }
    }

    /// An update of `old`.
    pub fn update(rt: &'static ResourceType, sub: Option<&'a str>, old: &'a Value) -> Self {
        Self {
            op: Operation::Update,
            rt,
            sub,
            old: Some(old),
        }
    }

    /// A delete of `old`.
    pub fn delete(rt: &'static ResourceType, old: &'a Value) -> Self {
        Self {
            op: Operation::Delete,
            rt,
            sub: None,
            old: Some(old),
        }
    }
}

/// Runs the admission rules; may fill in fields of `new` (CSR requester).
pub fn admit(who: Requester, w: &Write, new: Option<&mut Value>) -> ApiResult<()> {
    let Some(user) = who.0 else {
        return Ok(());
    };
    if let Some(obj) = new {
        if w.op == Operation::Create && w.rt.kind == "CertificateSigningRequest" && w.sub.is_none()
        {
            record_requester(user, obj);
        }
        if let Some(node) = user.node_identity() {
            return node_restriction(user, node, w, Some(obj));
        }
        return Ok(());
    }
    match user.node_identity() {
        Some(node) => node_restriction(user, node, w, None),
        None => Ok(()),
    }
}

fn record_requester(user: &UserInfo, csr: &mut Value) {
    let spec = &mut csr["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    spec["username"] = json!(user.name);
    spec["groups"] = json!(user.groups);
    if user.uid.is_empty() {
        if let Some(m) = spec.as_object_mut() {
            m.remove("uid");
        }
    } else {
        spec["uid"] = json!(user.uid);
    }
    if user.extra.is_empty() {
        if let Some(m) = spec.as_object_mut() {
            m.remove("extra");
        }
    } else {
        spec["extra"] = json!(user.extra);
    }
}

fn name_of(w: &Write, new: Option<&Value>) -> String {
    new.or(w.old)
        .and_then(|o| o["metadata"]["name"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn labels(obj: Option<&Value>) -> Vec<(String, String)> {
    obj.and_then(|o| o["metadata"]["labels"].as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Keys added, removed or changed between two label sets.
fn modified_labels(a: &[(String, String)], b: &[(String, String)]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (k, v) in a {
        if !b.iter().any(|(k2, v2)| k2 == k && v2 == v) {
            out.insert(k.clone());
        }
    }
    for (k, v) in b {
        if !a.iter().any(|(k2, v2)| k2 == k && v2 == v) {
            out.insert(k.clone());
        }
    }
    out
}

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map(|(ns, _)| ns).unwrap_or_default()
}

fn in_namespace(ns: &str, domain: &str) -> bool {
    ns == domain || ns.ends_with(&format!(".{domain}"))
}

/// `kubeletapis.IsKubeletLabel`: the labels a kubelet may set on itself.
fn is_kubelet_label(key: &str) -> bool {
    const LABELS: &[&str] = &[
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    ];
    let ns = label_namespace(key);
    LABELS.contains(&key)
        || in_namespace(ns, "kubelet.kubernetes.io")
        || in_namespace(ns, "node.kubernetes.io")
}

/// `getForbiddenLabels`.
fn forbidden_labels(modified: &BTreeSet<String>) -> Vec<String> {
    modified
        .iter()
        .filter(|k| {
            let ns = label_namespace(k);
            let kubernetes = in_namespace(ns, "kubernetes.io") || in_namespace(ns, "k8s.io");
            in_namespace(ns, "node-restriction.kubernetes.io")
                || (kubernetes && !is_kubelet_label(k))
        })
        .cloned()
        .collect()
}

fn node_restriction(
    user: &UserInfo,
    node: &str,
    w: &Write,
    new: Option<&mut Value>,
) -> ApiResult<()> {
    let new = new.map(|v| &*v);
    let name = name_of(w, new);
    let deny = |why: String| Err(StatusError::forbidden(w.rt, &name, &why));
    if node.is_empty() {
        return deny(format!(
            "could not determine node from user {:?}",
            user.name
        ));
    }
    match (w.rt.group, w.rt.plural) {
        ("", "pods") => match (w.sub, w.op) {
            (None, Operation::Delete) => {
                if w.old.and_then(|p| p["spec"]["nodeName"].as_str()) != Some(node) {
                    return deny(format!(
                        "node {node:?} can only delete pods with spec.nodeName set to itself"
                    ));
                }
                Ok(())
            }
            (None, Operation::Create) => {
                let pod = new.cloned().unwrap_or_default();
                if pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_null() {
                    return deny(format!(
                        "pod does not have \"kubernetes.io/config.mirror\" annotation, node {node:?} can only create mirror pods"
                    ));
                }
                if pod["spec"]["nodeName"].as_str() != Some(node) {
                    return deny(format!(
                        "node {node:?} can only create pods with spec.nodeName set to itself"
                    ));
                }
                Ok(())
            }
            (None, op) => deny(format!(
                "unexpected operation {op:?}, node {node:?} can only create and delete mirror pods"
            )),
            (Some("status"), Operation::Update) => {
                if w.old.and_then(|p| p["spec"]["nodeName"].as_str()) != Some(node) {
                    return deny(format!(
                        "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
                    ));
                }
                if !modified_labels(&labels(w.old), &labels(new)).is_empty() {
                    return deny(format!(
                        "node {node:?} cannot update labels through pod status"
                    ));
                }
                Ok(())
            }
            (Some(sub), _) => deny(format!(
                "unexpected pod subresource {sub:?}, only 'status' and 'eviction' are allowed"
            )),
        },
        ("", "nodes") => {
            if name != node {
                return deny(format!(
                    "node {node:?} is not allowed to modify node {name:?}"
                ));
            }
            match w.op {
                Operation::Create => {
                    let bad = forbidden_labels(&modified_labels(&labels(new), &[]));
                    if !bad.is_empty() {
                        return deny(format!(
                            "node {node:?} is not allowed to set the following labels: {}",
                            bad.join(", ")
                        ));
                    }
                }
                Operation::Update => {
                    let taints = |o: Option<&Value>| {
                        o.map(|o| o["spec"]["taints"].clone())
                            .filter(|t| !t.is_null() && t.as_array().is_none_or(|a| !a.is_empty()))
                    };
                    if taints(new) != taints(w.old) {
                        return deny(format!("node {node:?} is not allowed to modify taints"));
                    }
                    let bad = forbidden_labels(&modified_labels(&labels(new), &labels(w.old)));
                    if !bad.is_empty() {
                        return deny(format!(
                            "is not allowed to modify labels: {}",
                            bad.join(", ")
                        ));
                    }
                }
                Operation::Delete => {}
            }
            Ok(())
        }
        ("coordination.k8s.io", "leases") => {
            let ns = new
                .or(w.old)
                .and_then(|o| o["metadata"]["namespace"].as_str())
                .unwrap_or_default();
            if ns != "kube-node-lease" {
                return deny(
                    "can only access leases in the \"kube-node-lease\" system namespace".into(),
                );
            }
            if name != node {
                return deny(
                    "can only access node lease with the same name as the requesting node".into(),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;

    fn write<'a>(
        op: Operation,
        rt: &'static ResourceType,
        sub: Option<&'a str>,
        old: Option<&'a Value>,
    ) -> Write<'a> {
        Write { op, rt, sub, old }
    }

    #[test]
    fn a_node_cannot_label_itself_into_another_nodes_place() {
        let n1 = UserInfo::node("n1");
        let who = Requester(Some(&n1));
        let old = json!({"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1", "rack": "r1"}}});
        let mut ok = old.clone();
        ok["metadata"]["labels"]["node.kubernetes.io/exclude-from-external-load-balancers"] =
            json!("true");
        ok["metadata"]["labels"]["rack"] = json!("r2");
        let w = write(Operation::Update, resources::nodes(), None, Some(&old));
        assert!(admit(who, &w, Some(&mut ok)).is_ok());
        let mut bad = old.clone();
        bad["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = json!("");
        bad["metadata"]["labels"]["node-restriction.kubernetes.io/secure"] = json!("yes");
        let e = admit(who, &w, Some(&mut bad)).unwrap_err();
        assert_eq!(e.code, 403);
        assert!(
            e.message.contains("node-restriction.kubernetes.io/secure"),
            "{}",
            e.message
        );
        let mut tainted = old.clone();
        tainted["spec"] = json!({"taints": [{"key": "k", "effect": "NoSchedule"}]});
        assert!(admit(who, &w, Some(&mut tainted)).is_err());
        let other = json!({"metadata": {"name": "n2"}});
        let w2 = write(
            Operation::Update,
            resources::nodes(),
            Some("status"),
            Some(&other),
        );
        let e = admit(who, &w2, Some(&mut other.clone())).unwrap_err();
        assert!(
            e.message.contains("is not allowed to modify node \"n2\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_node_writes_only_its_own_pods() {
        let n1 = UserInfo::node("n1");
        let who = Requester(Some(&n1));
        let mine = json!({"metadata": {"name": "p", "namespace": "a"}, "spec": {"nodeName": "n1"}});
        let theirs =
            json!({"metadata": {"name": "q", "namespace": "a"}, "spec": {"nodeName": "n2"}});
        let pods = resources::pods();
        assert!(admit(
            who,
            &write(Operation::Delete, pods, None, Some(&mine)),
            None
        )
        .is_ok());
        assert!(admit(
            who,
            &write(Operation::Delete, pods, None, Some(&theirs)),
            None
        )
        .is_err());
        assert!(admit(
            who,
            &write(Operation::Update, pods, Some("status"), Some(&mine)),
            Some(&mut mine.clone())
        )
        .is_ok());
        assert!(admit(
            who,
            &write(Operation::Update, pods, Some("status"), Some(&theirs)),
            Some(&mut theirs.clone())
        )
        .is_err());
        assert!(admit(
            who,
            &write(Operation::Update, pods, None, Some(&mine)),
            Some(&mut mine.clone())
        )
        .is_err());
        let mut relabel = mine.clone();
        relabel["metadata"]["labels"] = json!({"app": "x"});
        assert!(admit(
            who,
            &write(Operation::Update, pods, Some("status"), Some(&mine)),
            Some(&mut relabel)
        )
        .is_err());
        // Not a node: no restriction.
        let bob = UserInfo::new("bob", &[]);
        assert!(admit(
            Requester(Some(&bob)),
            &write(Operation::Delete, pods, None, Some(&theirs)),
            None
        )
        .is_ok());
        assert!(admit(
            Requester::SYSTEM,
            &write(Operation::Delete, pods, None, Some(&theirs)),
            None
        )
        .is_ok());
    }

    #[test]
    fn a_csr_records_who_asked() {
        let n1 = UserInfo::node("n1");
        let csr_rt =
            resources::find("certificates.k8s.io", "v1", "certificatesigningrequests").unwrap();
        let mut csr = json!({"metadata": {"name": "c"}, "spec": {"username": "forged", "groups": ["system:masters"]}});
        admit(
            Requester(Some(&n1)),
            &write(Operation::Create, csr_rt, None, None),
            Some(&mut csr),
        )
        .unwrap();
        assert_eq!(csr["spec"]["username"], "system:node:n1");
        assert_eq!(
            csr["spec"]["groups"],
            json!(["system:nodes", "system:authenticated"])
        );
    }
}
