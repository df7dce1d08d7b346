//! The authenticated user of a request (`user.Info`), and the well-known
//! names kube-apiserver gives users and groups.

use std::collections::BTreeMap;

/// Everyone who authenticated.
pub const AUTHENTICATED: &str = "system:authenticated";
/// Cluster admins: every request is allowed (kube-apiserver's privileged group).
pub const MASTERS: &str = "system:masters";
/// Kubelets (here: executors) identified as `system:node:<name>`.
pub const NODES: &str = "system:nodes";
/// Prefix of a node's user name.
pub const NODE_PREFIX: &str = "system:node:";
/// Users of bootstrap tokens.
pub const BOOTSTRAPPERS: &str = "system:bootstrappers";
/// Every service account.
pub const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    /// User name (`system:node:n1`, `system:serviceaccount:ns:sa`, ...).
    pub name: String,
    /// UID, when the authenticator knows one.
    pub uid: String,
    /// Groups, `system:authenticated` included once authenticated.
    pub groups: Vec<String>,
    /// Extra attributes (kept for SubjectAccessReviews and CSRs).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with these groups (`system:authenticated` is added).
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        let mut u = Self {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Self::default()
        };
        u.add_group(AUTHENTICATED);
        u
    }

    /// The user of a ServiceAccount token (`serviceaccount.UserInfo`).
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self::new(
            service_account_user(namespace, name),
            &[SERVICE_ACCOUNTS, &format!("{SERVICE_ACCOUNTS}:{namespace}")],
        )
    }

    /// The user of a node's client certificate.
    pub fn node(name: &str) -> Self {
        Self::new(format!("{NODE_PREFIX}{name}"), &[NODES])
    }

    /// Adds a group once.
    pub fn add_group(&mut self, group: &str) {
        if !self.in_group(group) {
            self.groups.push(group.to_string());
        }
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// `nodeidentifier.NodeIdentity`: `None` for a non-node; `Some("")` for
    /// a member of `system:nodes` whose name does not say which node.
    pub fn node_identity(&self) -> Option<&str> {
        if !self.in_group(NODES) {
            return None;
        }
        Some(self.name.strip_prefix(NODE_PREFIX).unwrap_or_default())
    }
}

/// The user a review or a CSR spec names: `<name_key>`, `uid`, `groups`
/// and `extra` (a SubjectAccessReview's `user`, a CSR's `username`).
pub fn from_spec(spec: &serde_json::Value, name_key: &str) -> UserInfo {
    use super::rbac::strings;
    let mut extra = BTreeMap::new();
    if let Some(m) = spec["extra"].as_object() {
        for (k, v) in m {
            extra.insert(k.clone(), strings(v));
        }
    }
    UserInfo {
        name: spec[name_key].as_str().unwrap_or_default().to_string(),
        uid: spec["uid"].as_str().unwrap_or_default().to_string(),
        groups: strings(&spec["groups"]),
        extra,
    }
}

/// `system:serviceaccount:<namespace>:<name>`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_carry_their_groups() {
        let sa = UserInfo::service_account("kube-mesos", "fw");
        assert_eq!(sa.name, "system:serviceaccount:kube-mesos:fw");
        assert!(sa.in_group("system:serviceaccounts:kube-mesos"));
        assert!(sa.in_group(AUTHENTICATED));
        assert_eq!(sa.node_identity(), None);
        assert_eq!(UserInfo::node("n1").node_identity(), Some("n1"));
        assert_eq!(UserInfo::new("mallory", &[NODES]).node_identity(), Some(""));
    }
}
