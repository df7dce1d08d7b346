//! The node filters, in kube-scheduler's order and words.
//!
//! kube-scheduler runs its filter plugins per node in profile order and stops
//! at the first that rejects: NodeUnschedulable, NodeName, TaintToleration,
//! NodeAffinity, NodePorts, NodeResourcesFit. Each rejection carries the
//! plugin's reason string, which ends up in the FailedScheduling message, so
//! the strings here are kube-scheduler's own (v1.33).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm, Taint,
    Toleration,
};

/// NodeUnschedulable's reason.
pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// NodeName's reason.
pub const REASON_NODE_NAME: &str = "node(s) didn't match the requested node name";
/// NodeAffinity's reason (nodeSelector and required affinity).
pub const REASON_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
/// NodePorts' reason.
pub const REASON_NODE_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
/// NodeResourcesFit's reason for CPU.
pub const REASON_INSUFFICIENT_CPU: &str = "Insufficient cpu";
/// NodeResourcesFit's reason for memory.
pub const REASON_INSUFFICIENT_MEMORY: &str = "Insufficient memory";
/// NodeResourcesFit's reason for ephemeral storage.
pub const REASON_INSUFFICIENT_EPHEMERAL: &str = "Insufficient ephemeral-storage";

/// Taint key kube adds for `spec.unschedulable` Nodes.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// TaintToleration's reason for the first untolerated taint.
pub fn reason_untolerated_taint(taint: &Taint) -> String {
    format!(
        "node(s) had untolerated taint {{{}: {}}}",
        taint.key,
        taint.value.as_deref().unwrap_or("")
    )
}

/// `v1.Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    if let Some(key) = t.key.as_deref().filter(|k| !k.is_empty()) {
        if key != taint.key {
            return false;
        }
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

/// NodeUnschedulable: `spec.unschedulable` blocks pods that do not tolerate
/// `node.kubernetes.io/unschedulable:NoSchedule`.
pub fn unschedulable_ok(pod: &Pod, node_unschedulable: bool) -> bool {
    if !node_unschedulable {
        return true;
    }
    let taint = Taint {
        key: TAINT_UNSCHEDULABLE.to_owned(),
        effect: "NoSchedule".to_owned(),
        ..Default::default()
    };
    tolerations(pod).iter().any(|t| tolerates(t, &taint))
}

/// TaintToleration: the first NoSchedule/NoExecute taint no toleration
/// tolerates (PreferNoSchedule never filters).
pub fn first_untolerated_taint<'a>(pod: &Pod, taints: &'a [Taint]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|taint| !tolerations(pod).iter().any(|t| tolerates(t, taint)))
}

fn requirement_matches(req: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    let label = labels.get(&req.key);
    match req.operator.as_str() {
        "In" => label.is_some_and(|v| values.contains(v)),
        "NotIn" => label.is_none_or(|v| !values.contains(v)),
        "Exists" => label.is_some(),
        "DoesNotExist" => label.is_none(),
        "Gt" | "Lt" => {
            let (Some(label), [bound]) = (label, values) else {
                return false;
            };
            let (Ok(l), Ok(b)) = (label.parse::<i64>(), bound.parse::<i64>()) else {
                return false;
            };
            if req.operator == "Gt" {
                l > b
            } else {
                l < b
            }
        }
        _ => false,
    }
}

fn field_matches(req: &NodeSelectorRequirement, node_name: &str) -> bool {
    if req.key != "metadata.name" {
        return false;
    }
    let values = req.values.as_deref().unwrap_or(&[]);
    match req.operator.as_str() {
        "In" => values.iter().any(|v| v == node_name),
        "NotIn" => !values.iter().any(|v| v == node_name),
        _ => false,
    }
}

fn term_matches(
    term: &NodeSelectorTerm,
    labels: &BTreeMap<String, String>,
    node_name: &str,
) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        // An empty term matches no objects.
        return false;
    }
    exprs.iter().all(|r| requirement_matches(r, labels))
        && fields.iter().all(|r| field_matches(r, node_name))
}

/// What NodeAffinity filters on: `spec.nodeSelector` and the required node
/// affinity.
pub type NodeSelection<'a> = (
    Option<&'a BTreeMap<String, String>>,
    Option<&'a NodeSelector>,
);

/// The pod's [`NodeSelection`]; `None` when it has neither, and every node
/// passes.
pub fn node_selection(pod: &Pod) -> Option<NodeSelection<'_>> {
    let spec = pod.spec.as_ref()?;
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let selector = spec.node_selector.as_ref();
    (selector.is_some() || required.is_some()).then_some((selector, required))
}

/// NodeAffinity: `spec.nodeSelector` (all labels equal) and required node
/// affinity (terms ORed, requirements within a term ANDed).
pub fn node_affinity_ok(pod: &Pod, labels: &BTreeMap<String, String>, node_name: &str) -> bool {
    node_selection(pod).is_none_or(|sel| selection_matches(sel, labels, node_name))
}

/// Whether a node passes a [`NodeSelection`].
pub fn selection_matches(
    (selector, required): NodeSelection<'_>,
    labels: &BTreeMap<String, String>,
    node_name: &str,
) -> bool {
    selector.is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
        && required.is_none_or(|sel| {
            sel.node_selector_terms
                .iter()
                .any(|t| term_matches(t, labels, node_name))
        })
}

/// NodeAffinity's score: the summed weights of the pod's preferred node
/// affinity terms the node matches (an empty term matches nothing).
pub fn preferred_node_affinity_score(
    pod: &Pod,
    labels: &BTreeMap<String, String>,
    node_name: &str,
) -> i64 {
    preferred_node_affinity(pod)
        .iter()
        .filter(|t| t.weight != 0 && term_matches(&t.preference, labels, node_name))
        .map(|t| i64::from(t.weight))
        .sum()
}

/// Whether the pod has preferred node affinity terms.
pub fn has_preferred_node_affinity(pod: &Pod) -> bool {
    !preferred_node_affinity(pod).is_empty()
}

fn preferred_node_affinity(pod: &Pod) -> &[PreferredSchedulingTerm] {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

/// TaintToleration's score: how many PreferNoSchedule taints of the node
/// the pod does not tolerate (fewer is better), counting only tolerations
/// whose effect is PreferNoSchedule or empty.
pub fn intolerable_prefer_no_schedule(pod: &Pod, taints: &[Taint]) -> i64 {
    let counts = |t: &&Toleration| {
        t.effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == "PreferNoSchedule")
    };
    taints
        .iter()
        .filter(|t| {
            t.effect == "PreferNoSchedule"
                && !tolerations(pod)
                    .iter()
                    .filter(counts)
                    .any(|tol| tolerates(tol, t))
        })
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_labels as labels;
    use k8s_openapi::api::core::v1::{Affinity, NodeAffinity, NodeSelector, PodSpec};

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn pod_with_terms(terms: Vec<NodeSelectorTerm>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                affinity: Some(Affinity {
                    node_affinity: Some(NodeAffinity {
                        required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                            node_selector_terms: terms,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn exprs(e: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(e),
            match_fields: None,
        }
    }

    #[test]
    fn affinity_operators() {
        let l = labels(&[("zone", "a"), ("gen", "5")]);
        let case = |r: NodeSelectorRequirement| {
            node_affinity_ok(&pod_with_terms(vec![exprs(vec![r])]), &l, "n1")
        };
        assert!(case(req("zone", "In", &["a", "b"])));
        assert!(!case(req("zone", "In", &["b"])));
        assert!(!case(req("missing", "In", &["a"])));
        assert!(case(req("zone", "NotIn", &["b"])));
        assert!(!case(req("zone", "NotIn", &["a"])));
        assert!(case(req("missing", "NotIn", &["a"])));
        assert!(case(req("zone", "Exists", &[])));
        assert!(!case(req("missing", "Exists", &[])));
        assert!(case(req("missing", "DoesNotExist", &[])));
        assert!(!case(req("zone", "DoesNotExist", &[])));
        assert!(case(req("gen", "Gt", &["4"])));
        assert!(!case(req("gen", "Gt", &["5"])));
        assert!(case(req("gen", "Lt", &["6"])));
        assert!(!case(req("zone", "Lt", &["6"])), "non-integer label");
        assert!(!case(req("gen", "Bogus", &["6"])));
    }

    #[test]
    fn terms_are_ored_and_fields_match_the_name() {
        let l = labels(&[("zone", "a")]);
        let p = pod_with_terms(vec![
            exprs(vec![req("zone", "In", &["b"])]),
            NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(vec![req("metadata.name", "In", &["n1"])]),
            },
        ]);
        assert!(node_affinity_ok(&p, &l, "n1"));
        assert!(!node_affinity_ok(&p, &l, "n2"));
        let empty = pod_with_terms(vec![NodeSelectorTerm::default()]);
        assert!(
            !node_affinity_ok(&empty, &l, "n1"),
            "empty term matches nothing"
        );
    }

    #[test]
    fn node_selector_needs_all_labels() {
        let p = Pod {
            spec: Some(PodSpec {
                node_selector: Some(labels(&[("zone", "a"), ("disk", "ssd")])),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(node_affinity_ok(
            &p,
            &labels(&[("zone", "a"), ("disk", "ssd"), ("x", "y")]),
            "n"
        ));
        assert!(!node_affinity_ok(&p, &labels(&[("zone", "a")]), "n"));
    }

    fn tol(
        key: Option<&str>,
        op: Option<&str>,
        value: Option<&str>,
        effect: Option<&str>,
    ) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        }
    }

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: effect.into(),
            time_added: None,
        }
    }

    #[test]
    fn toleration_rules() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        assert!(tolerates(
            &tol(
                Some("dedicated"),
                Some("Equal"),
                Some("gpu"),
                Some("NoSchedule")
            ),
            &t
        ));
        assert!(tolerates(
            &tol(Some("dedicated"), None, Some("gpu"), None),
            &t
        ));
        assert!(!tolerates(
            &tol(Some("dedicated"), Some("Equal"), Some("cpu"), None),
            &t
        ));
        assert!(tolerates(
            &tol(Some("dedicated"), Some("Exists"), None, None),
            &t
        ));
        assert!(!tolerates(
            &tol(Some("dedicated"), Some("Exists"), None, Some("NoExecute")),
            &t
        ));
        assert!(
            tolerates(&tol(None, Some("Exists"), None, None), &t),
            "empty key + Exists tolerates all"
        );
        assert!(!tolerates(
            &tol(Some("other"), Some("Exists"), None, None),
            &t
        ));
    }

    #[test]
    fn prefer_no_schedule_never_filters_and_reason_text() {
        let taints = vec![
            taint("soft", "x", "PreferNoSchedule"),
            taint("dedicated", "gpu", "NoSchedule"),
        ];
        let pod = Pod::default();
        let t = first_untolerated_taint(&pod, &taints).expect("untolerated");
        assert_eq!(
            reason_untolerated_taint(t),
            "node(s) had untolerated taint {dedicated: gpu}"
        );
        let tolerant = Pod {
            spec: Some(PodSpec {
                tolerations: Some(vec![tol(Some("dedicated"), Some("Exists"), None, None)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(first_untolerated_taint(&tolerant, &taints).is_none());
    }

    #[test]
    fn unschedulable_node_needs_the_toleration() {
        assert!(unschedulable_ok(&Pod::default(), false));
        assert!(!unschedulable_ok(&Pod::default(), true));
        let p = Pod {
            spec: Some(PodSpec {
                tolerations: Some(vec![tol(
                    Some(TAINT_UNSCHEDULABLE),
                    Some("Exists"),
                    None,
                    Some("NoSchedule"),
                )]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(unschedulable_ok(&p, true));
    }
}
