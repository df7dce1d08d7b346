//! The resource types this server serves, as one static table.
//!
//! Discovery, OpenAPI, routing and storage all read this table, so a resource
//! is added in one place. `storage` names the store bucket: both Event
//! versions (`v1` and `events.k8s.io/v1`) share the `events` bucket, as they
//! share one etcd prefix in kube-apiserver, and are converted at the edge.

/// One served group/version/resource.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group, "" for core.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural resource name as in URLs.
    pub plural: &'static str,
    /// Singular name, for discovery.
    pub singular: &'static str,
    /// Kind of the objects.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names.
    pub short_names: &'static [&'static str],
    /// Subresources served (`status`, `binding`, `log`, `exec`, ...).
    pub subresources: &'static [&'static str],
    /// Store bucket.
    pub storage: &'static str,
}

impl ResourceType {
    /// `apiVersion` of the objects.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this is the events.k8s.io/v1 view of events.
    pub fn is_events_v1(&self) -> bool {
        self.group == "events.k8s.io"
    }
}

const fn core(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    subresources: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group: "",
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        subresources,
        storage: plural,
    }
}

/// Every served resource.
pub static RESOURCES: &[ResourceType] = &[
    core("configmaps", "configmap", "ConfigMap", true, &["cm"], &[]),
    core("events", "event", "Event", true, &["ev"], &[]),
    core(
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &["status"],
    ),
    core("nodes", "node", "Node", false, &["no"], &["status"]),
    core(
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        &[
            "attach",
            "binding",
            "eviction",
            "exec",
            "log",
            "portforward",
            "status",
        ],
    ),
    core("secrets", "secret", "Secret", true, &[], &[]),
    core(
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
    ),
    ResourceType {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        short_names: &[],
        subresources: &[],
        storage: "leases.coordination.k8s.io",
    },
    ResourceType {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        subresources: &[],
        storage: "events",
    },
    workload(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        &["deploy"],
    ),
    workload("apps", "replicasets", "replicaset", "ReplicaSet", &["rs"]),
    ResourceType {
        subresources: &["status"],
        ..workload("batch", "jobs", "job", "Job", &[])
    },
    ResourceType {
        group: "policy",
        version: "v1",
        plural: "poddisruptionbudgets",
        singular: "poddisruptionbudget",
        kind: "PodDisruptionBudget",
        namespaced: true,
        short_names: &["pdb"],
        subresources: &["status"],
        storage: "poddisruptionbudgets.policy",
    },
    rbac("roles", "role", "Role", true),
    rbac("rolebindings", "rolebinding", "RoleBinding", true),
    rbac("clusterroles", "clusterrole", "ClusterRole", false),
    rbac(
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
    ),
    ResourceType {
        group: "certificates.k8s.io",
        version: "v1",
        plural: "certificatesigningrequests",
        singular: "certificatesigningrequest",
        kind: "CertificateSigningRequest",
        namespaced: false,
        short_names: &["csr"],
        subresources: &["approval", "status"],
        storage: "certificatesigningrequests.certificates.k8s.io",
    },
    review(
        "authentication.k8s.io",
        "tokenreviews",
        "TokenReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        true,
    ),
    ResourceType {
        group: "scheduling.k8s.io",
        version: "v1",
        plural: "priorityclasses",
        singular: "priorityclass",
        kind: "PriorityClass",
        namespaced: false,
        short_names: &["pc"],
        subresources: &[],
        storage: "priorityclasses.scheduling.k8s.io",
    },
];

/// An rbac.authorization.k8s.io/v1 kind.
const fn rbac(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceType {
    ResourceType {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names: &[],
        subresources: &[],
        storage: plural,
    }
}

/// A review: created (POST) and answered, never stored.
const fn review(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular: "",
        kind,
        namespaced,
        short_names: &[],
        subresources: &[],
        storage: "",
    }
}

impl ResourceType {
    /// Whether this is a review (TokenReview, SubjectAccessReview, ...):
    /// POST answers it, nothing is stored.
    pub fn is_review(&self) -> bool {
        self.storage.is_empty()
    }
}

/// An apps/v1 or batch/v1 workload: namespaced, with `status` and `scale`
/// subresources (Jobs override: no `scale`); its plural names its bucket.
const fn workload(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    short_names: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced: true,
        short_names,
        subresources: &["scale", "status"],
        storage: plural,
    }
}

/// kubectl categories of a resource (`kubectl get all`).
pub fn categories(rt: &ResourceType) -> &'static [&'static str] {
    match rt.kind {
        "Pod" | "Deployment" | "ReplicaSet" | "Job" => &["all"],
        _ => &[],
    }
}

/// Finds the resource whose objects have this `apiVersion` and `kind` (an
/// owner reference's target), preferring the core form of Events.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// Groups other than core, with their one version, in discovery order.
pub static GROUPS: &[(&str, &str)] = &[
    ("apps", "v1"),
    ("authentication.k8s.io", "v1"),
    ("authorization.k8s.io", "v1"),
    ("batch", "v1"),
    ("certificates.k8s.io", "v1"),
    ("coordination.k8s.io", "v1"),
    ("events.k8s.io", "v1"),
    ("policy", "v1"),
    ("rbac.authorization.k8s.io", "v1"),
    ("scheduling.k8s.io", "v1"),
];

/// Looks a resource up by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resources of one group/version.
pub fn of_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceType> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// The core/v1 pods resource.
pub fn pods() -> &'static ResourceType {
    &RESOURCES[4]
}

/// The core/v1 namespaces resource.
pub fn namespaces() -> &'static ResourceType {
    &RESOURCES[2]
}

/// The core/v1 nodes resource.
pub fn nodes() -> &'static ResourceType {
    &RESOURCES[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_point_at_the_right_rows() {
        assert_eq!(pods().plural, "pods");
        assert_eq!(namespaces().plural, "namespaces");
        assert_eq!(nodes().plural, "nodes");
    }
}
