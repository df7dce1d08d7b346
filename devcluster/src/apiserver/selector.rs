//! Label and field selectors, parsed and matched as kube-apiserver does
//! (`k8s.io/apimachinery/pkg/labels` and `.../fields`, plus each resource's
//! registered field-label set).

use serde_json::Value;

use super::error::{ApiResult, StatusError};
use super::resources::ResourceType;

#[derive(Debug, Clone, PartialEq)]
enum LabelOp {
    Exists,
    NotExists,
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Gt(i64),
    Lt(i64),
}

/// A parsed label selector: all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<(String, LabelOp)>);

fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(rest: &str, whole: &str) -> ApiResult<Vec<String>> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad_label(whole))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn bad_label(s: &str) -> StatusError {
    StatusError::bad_request(format!(
        "unable to parse requirement: found '{s}', expected: identifier"
    ))
}

impl LabelSelector {
    /// Parses `labelSelector`.
    pub fn parse(s: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let req = if let Some(k) = part.strip_prefix('!') {
                (k.trim().to_string(), LabelOp::NotExists)
            } else if let Some((k, v)) = part.split_once("!=") {
                (k.trim().to_string(), LabelOp::NotEq(v.trim().to_string()))
            } else if let Some((k, v)) = part.split_once("==") {
                (k.trim().to_string(), LabelOp::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = part.split_once('=') {
                (k.trim().to_string(), LabelOp::Eq(v.trim().to_string()))
            } else if let Some(idx) = part.find(" notin ") {
                let set = parse_set(&part[idx + 7..], &part)?;
                (part[..idx].trim().to_string(), LabelOp::NotIn(set))
            } else if let Some(idx) = part.find(" in ") {
                let set = parse_set(&part[idx + 4..], &part)?;
                (part[..idx].trim().to_string(), LabelOp::In(set))
            } else if let Some((k, v)) = part.split_once('>') {
                let n = v.trim().parse().map_err(|_| bad_label(&part))?;
                (k.trim().to_string(), LabelOp::Gt(n))
            } else if let Some((k, v)) = part.split_once('<') {
                let n = v.trim().parse().map_err(|_| bad_label(&part))?;
                (k.trim().to_string(), LabelOp::Lt(n))
            } else {
                (part.clone(), LabelOp::Exists)
            };
            if req.0.is_empty() || req.0.contains(char::is_whitespace) {
                return Err(bad_label(&part));
            }
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether the object's labels satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.0.iter().all(|(k, op)| {
            let v = labels.get(k).and_then(Value::as_str);
            match op {
                LabelOp::Exists => v.is_some(),
                LabelOp::NotExists => v.is_none(),
                LabelOp::Eq(x) => v == Some(x.as_str()),
                LabelOp::NotEq(x) => v != Some(x.as_str()),
                LabelOp::In(set) => v.is_some_and(|v| set.iter().any(|s| s == v)),
                LabelOp::NotIn(set) => v.is_none_or(|v| !set.iter().any(|s| s == v)),
                LabelOp::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                LabelOp::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

/// A parsed field selector: `field=value`, `field==value`, `field!=value`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

fn supported_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.storage, rt.is_events_v1()) {
        ("pods", _) => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("events", false) => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events", true) => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("nodes", _) => &["spec.unschedulable"],
        ("namespaces", _) => &["status.phase"],
        ("secrets", _) => &["type"],
        _ => &[],
    }
}

/// The value of a supported field label on a stored (core-form) object.
fn field_value(obj: &Value, field: &str) -> String {
    let path: Vec<&str> = match field {
        "source" => vec!["source", "component"],
        "reportingController" => vec!["reportingComponent"],
        f => {
            let f = f
                .strip_prefix("regarding.")
                .map(|rest| ("involvedObject", rest));
            match f {
                Some((head, rest)) => vec![head, rest],
                None => field.split('.').collect(),
            }
        }
    };
    let mut cur = obj;
    for p in path {
        cur = &cur[p];
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => match field {
            "spec.unschedulable" | "spec.hostNetwork" => "false".into(),
            _ => String::new(),
        },
        other => other.to_string(),
    }
}

impl FieldSelector {
    /// Parses `fieldSelector` for a resource; unknown fields are a 400.
    pub fn parse(s: &str, rt: &ResourceType) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(StatusError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let k = k.trim();
            let known = k == "metadata.name"
                || (k == "metadata.namespace" && rt.namespaced)
                || supported_fields(rt).contains(&k);
            if !known {
                return Err(StatusError::bad_request(format!(
                    "field label not supported: {k}"
                )));
            }
            reqs.push((k.to_string(), eq, v.trim().to_string()));
        }
        Ok(Self(reqs))
    }

    /// Whether the object satisfies every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0
            .iter()
            .all(|(k, eq, v)| (field_value(obj, k) == *v) == *eq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;
    use serde_json::json;

    #[test]
    fn label_operators() {
        let o = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
        let ok = |s: &str| LabelSelector::parse(s).expect("parses").matches(&o);
        assert!(ok("app=web"));
        assert!(ok("app==web,tier"));
        assert!(!ok("app!=web"));
        assert!(ok("app in (web, db)"));
        assert!(!ok("app notin (web)"));
        assert!(ok("!missing"));
        assert!(!ok("missing"));
        assert!(ok(""));
    }

    #[test]
    fn field_selectors_for_pods() {
        let p = json!({"metadata": {"name": "a", "namespace": "d"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let sel = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed", resources::pods())
            .expect("parses");
        assert!(sel.matches(&p));
        assert!(FieldSelector::parse("spec.foo=1", resources::pods()).is_err());
        let unbound = FieldSelector::parse("spec.nodeName=", resources::pods()).expect("parses");
        assert!(unbound.matches(&json!({"spec": {}})));
    }
}
