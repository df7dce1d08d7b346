//! The RBAC authorizer, evaluated as kube-apiserver's
//! (`plugin/pkg/auth/authorizer/rbac`): a request is allowed when one rule
//! of a role bound to the user allows it. ClusterRoleBindings apply in
//! every namespace and at the cluster scope; RoleBindings only in their
//! namespace, to a Role of that namespace or a ClusterRole. Rules only
//! allow; nothing denies.
//!
//! Roles and bindings are read from the store on every request, so a
//! `kubectl apply` of a binding takes effect at once (kube-apiserver reads
//! them from an informer cache).

use serde_json::Value;

use super::attributes::Attributes;
use super::user::UserInfo;
use crate::apiserver::store::Store;

/// One `PolicyRule`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

/// The strings of a JSON array (others skipped).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl PolicyRule {
    /// Reads a rule of a stored Role or ClusterRole.
    pub fn from_json(v: &Value) -> Self {
        Self {
            verbs: strings(&v["verbs"]),
            api_groups: strings(&v["apiGroups"]),
            resources: strings(&v["resources"]),
            resource_names: strings(&v["resourceNames"]),
            non_resource_urls: strings(&v["nonResourceURLs"]),
        }
    }

    /// `RuleAllows`.
    pub fn allows(&self, a: &Attributes) -> bool {
        let verb = self.verbs.iter().any(|v| v == "*" || *v == a.verb);
        if !a.resource_request {
            return verb
                && self.non_resource_urls.iter().any(|u| {
                    u == "*"
                        || *u == a.path
                        || u.strip_suffix('*')
                            .is_some_and(|prefix| a.path.starts_with(prefix))
                });
        }
        let combined = a.combined_resource();
        verb && self
            .api_groups
            .iter()
            .any(|g| g == "*" || *g == a.api_group)
            && self.resources.iter().any(|r| {
                r == "*"
                    || *r == combined
                    || (!a.subresource.is_empty()
                        && r.strip_prefix("*/") == Some(a.subresource.as_str()))
            })
            && (self.resource_names.is_empty() || self.resource_names.contains(&a.name))
    }
}

/// Whether any of `rules` allows the request (`rbac.RulesAllow`).
pub fn rules_allow(a: &Attributes, rules: &[PolicyRule]) -> bool {
    rules.iter().any(|r| r.allows(a))
}

/// `appliesToUser` for one binding subject; `namespace` is the binding's
/// (a ServiceAccount subject without a namespace means that one).
fn subject_applies(user: &UserInfo, subject: &Value, namespace: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str().unwrap_or_default() {
        "User" => user.name == name,
        "Group" => user.in_group(name),
        "ServiceAccount" => {
            let ns = subject["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            !ns.is_empty() && user.name == super::user::service_account_user(ns, name)
        }
        _ => false,
    }
}

fn binding_applies(user: &UserInfo, binding: &Value, namespace: &str) -> bool {
    binding["subjects"]
        .as_array()
        .is_some_and(|subjects| subjects.iter().any(|s| subject_applies(user, s, namespace)))
}

/// The rules a role reference grants (`GetRoleReferenceRules`); a missing
/// role grants nothing.
fn role_rules(store: &Store, role_ref: &Value, namespace: &str) -> Vec<PolicyRule> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    let role = match role_ref["kind"].as_str().unwrap_or_default() {
        "Role" if !namespace.is_empty() => store.get("roles", namespace, name),
        "ClusterRole" => store.get("clusterroles", "", name),
        _ => None,
    };
    role.and_then(|r| r["rules"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(PolicyRule::from_json)
        .collect()
}

/// Where an allowing rule came from, for the audit-style log line.
pub fn allowed_by(store: &Store, user: &UserInfo, a: &Attributes) -> Option<String> {
    let (bindings, _) = store.list("clusterrolebindings", None);
    for b in &bindings {
        if binding_applies(user, b, "") && rules_allow(a, &role_rules(store, &b["roleRef"], "")) {
            return Some(format!(
                "ClusterRoleBinding {:?}",
                b["metadata"]["name"].as_str().unwrap_or_default()
            ));
        }
    }
    if a.namespace.is_empty() {
        return None;
    }
    let (bindings, _) = store.list("rolebindings", Some(&a.namespace));
    for b in &bindings {
        if binding_applies(user, b, &a.namespace)
            && rules_allow(a, &role_rules(store, &b["roleRef"], &a.namespace))
        {
            return Some(format!(
                "RoleBinding {:?}",
                format!(
                    "{}/{}",
                    a.namespace,
                    b["metadata"]["name"].as_str().unwrap_or_default()
                )
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn attrs(method: &str, path: &str) -> Attributes {
        Attributes::from_request(method, path, &HashMap::new())
    }

    fn rule(v: Value) -> PolicyRule {
        PolicyRule::from_json(&v)
    }

    #[test]
    fn rules_match_as_kube_apiserver() {
        let r = rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}));
        assert!(r.allows(&attrs("GET", "/api/v1/namespaces/a/pods/p")));
        assert!(!r.allows(&attrs("GET", "/api/v1/namespaces/a/pods")));
        assert!(!r.allows(&attrs("GET", "/api/v1/namespaces/a/pods/p/log")));
        assert!(!r.allows(&attrs("GET", "/apis/apps/v1/namespaces/a/deployments/d")));
        let sub = rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/status"]}));
        assert!(sub.allows(&attrs("PUT", "/api/v1/nodes/n/status")));
        assert!(!sub.allows(&attrs("PUT", "/api/v1/nodes/n")));
        let named = rule(
            json!({"verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["fw"]}),
        );
        assert!(named.allows(&attrs("GET", "/api/v1/namespaces/a/configmaps/fw")));
        assert!(!named.allows(&attrs("GET", "/api/v1/namespaces/a/configmaps/other")));
        assert!(!named.allows(&attrs("POST", "/api/v1/namespaces/a/configmaps")));
        let urls =
            rule(json!({"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/version"]}));
        assert!(urls.allows(&attrs("GET", "/api/v1")));
        assert!(urls.allows(&attrs("GET", "/version")));
        assert!(!urls.allows(&attrs("GET", "/apis")));
        assert!(!urls.allows(&attrs("POST", "/version")));
    }

    #[test]
    fn bindings_apply_to_users_groups_and_service_accounts() {
        let sa = UserInfo::service_account("kube-mesos", "fw");
        let b = json!({"subjects": [{"kind": "ServiceAccount", "name": "fw"}]});
        assert!(binding_applies(&sa, &b, "kube-mesos"));
        assert!(!binding_applies(&sa, &b, "default"));
        assert!(!binding_applies(&sa, &b, ""));
        let g =
            json!({"subjects": [{"kind": "Group", "name": "system:serviceaccounts:kube-mesos"}]});
        assert!(binding_applies(&sa, &g, ""));
        let u =
            json!({"subjects": [{"kind": "User", "name": "system:serviceaccount:kube-mesos:fw"}]});
        assert!(binding_applies(&sa, &u, ""));
    }
}
