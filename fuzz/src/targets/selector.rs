//! Selectors: the API server's `labelSelector` parser (what `kubectl get
//! -l` sends) over the whole input, and the framework's node-affinity
//! matching of a requirement read from the input's lines (key, operator,
//! then values), against a fixed Node.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec,
};
use kube_mesos_devcluster::apiserver::selector::LabelSelector;
use kube_mesos_framework::placement::predicates::node_affinity_ok;
use serde_json::json;

fn affinity_pod(req: NodeSelectorRequirement, field: bool) -> Pod {
    let term = if field {
        NodeSelectorTerm {
            match_fields: Some(vec![req]),
            ..Default::default()
        }
    } else {
        NodeSelectorTerm {
            match_expressions: Some(vec![req]),
            ..Default::default()
        }
    };
    Pod {
        spec: Some(PodSpec {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![term],
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

/// The target.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(selector) = LabelSelector::parse(&text) {
        let node = json!({"metadata": {"labels": {"app": "web", "rack": "r1", "gen": "5"}}});
        let _ = selector.matches(&node);
        let _ = selector.matches(&json!({"metadata": {}}));
    }
    let mut lines = text.split('\n');
    let key = lines.next().unwrap_or_default().to_owned();
    let operator = lines.next().unwrap_or_default().to_owned();
    let values: Vec<String> = lines.map(str::to_owned).collect();
    let labels = BTreeMap::from([
        ("app".to_owned(), "web".to_owned()),
        ("gen".to_owned(), "5".to_owned()),
        ("kubernetes.io/hostname".to_owned(), "node-a".to_owned()),
    ]);
    for field in [false, true] {
        let req = NodeSelectorRequirement {
            key: key.clone(),
            operator: operator.clone(),
            values: (!values.is_empty()).then(|| values.clone()),
        };
        let _ = node_affinity_ok(&affinity_pod(req, field), &labels, "node-a");
    }
}
