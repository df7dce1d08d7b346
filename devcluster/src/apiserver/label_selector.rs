//! `metav1.LabelSelector` objects (`matchLabels` + `matchExpressions`), as
//! workloads carry them in `spec.selector`: matching a label map, and the
//! string form (`LabelSelectorAsSelector(...).String()`) that kubectl's
//! tables and the Scale subresource show.
//!
//! The query-string selectors of list and watch live in `selector.rs`; this
//! is the structured form, with apimachinery's rule that an empty selector
//! matches everything and a missing one nothing.

use serde_json::Value;

fn values(req: &Value) -> Vec<&str> {
    req["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether `labels` (a JSON map) satisfies `selector`. A null selector
/// selects nothing; `{}` selects everything.
pub fn matches(selector: &Value, labels: &Value) -> bool {
    if !selector.is_object() {
        return false;
    }
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let labels_ok = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let exprs_ok = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|req| {
            let key = req["key"].as_str().unwrap_or_default();
            let have = label(key);
            match req["operator"].as_str().unwrap_or_default() {
                "In" => have.is_some_and(|h| values(req).contains(&h)),
                "NotIn" => have.is_none_or(|h| !values(req).contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        });
    labels_ok && exprs_ok
}

/// Whether the selector has no requirement (and so matches everything).
pub fn is_empty(selector: &Value) -> bool {
    let none = |k: &str| {
        selector[k].is_null()
            || selector[k].as_object().is_some_and(|m| m.is_empty())
            || selector[k].as_array().is_some_and(|a| a.is_empty())
    };
    none("matchLabels") && none("matchExpressions")
}

/// The selector as a string (`app=web,tier in (a,b)`), requirements sorted
/// by key as apimachinery's `internalSelector.String()` does; "" for none.
pub fn to_string(selector: &Value) -> String {
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in selector["matchLabels"].as_object().into_iter().flatten() {
        reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
    }
    for req in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = req["key"].as_str().unwrap_or_default().to_string();
        let mut vals = values(req);
        vals.sort_unstable();
        let text = match req["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        reqs.push((key, text));
    }
    reqs.sort();
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn match_labels_and_expressions() {
        let sel = json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]});
        assert!(matches(&sel, &json!({"app": "web", "tier": "b"})));
        assert!(!matches(&sel, &json!({"app": "web", "tier": "c"})));
        assert!(!matches(
            &sel,
            &json!({"app": "web", "tier": "a", "canary": "1"})
        ));
        assert!(matches(&json!({}), &json!({"x": "y"})));
        assert!(!matches(&Value::Null, &json!({"x": "y"})));
        assert_eq!(to_string(&sel), "app=web,!canary,tier in (a,b)");
        assert!(is_empty(&json!({"matchLabels": {}})));
    }
}
