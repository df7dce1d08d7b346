//! The three patch formats kube-apiserver accepts on core types:
//! JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge
//! patch, whose list-merge keys come from the Go types' `patchStrategy` /
//! `patchMergeKey` tags (here a table keyed by field path, see
//! [`list_strategy`]), with the directives kubectl sends: `$patch`
//! (replace/delete), `$retainKeys`, `$setElementOrder/<field>` and
//! `$deleteFromPrimitiveList/<field>`.
//!
//! The two RFC formats are the `json-patch` crate's; the strategic merge
//! patch is Kubernetes-only and ours. All functions are pure and return a
//! message on failure; the HTTP layer turns it into a Status.

use serde_json::{Map, Value};

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch; all operations apply or none does.
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), String> {
    if !patch.is_array() {
        // kube-apiserver's (Go's) words for a patch that is not a list.
        return Err(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch".to_string(),
        );
    }
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| e.to_string())?;
    json_patch::patch(doc, &ops).map_err(|e| e.to_string())
}

/// How a list field merges in a strategic merge patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// No patch strategy: the patch's list replaces the original.
    Replace,
    /// `patchStrategy:"merge"` on a list of scalars: union.
    MergePrimitive,
    /// `patchStrategy:"merge"` with `patchMergeKey`.
    MergeKey(&'static str),
}

/// The patch strategy of the list at `path` (field names, no indices), from
/// the core/v1, meta/v1 and coordination/v1 Go type tags.
pub fn list_strategy(path: &[String]) -> ListStrategy {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let ends = |suffix: &[&str]| p.ends_with(suffix);
    let container_lists = ["containers", "initContainers", "ephemeralContainers"];
    let in_container = p.len() >= 2 && container_lists.contains(&p[p.len() - 2]);
    match p.last().copied() {
        Some("finalizers") if ends(&["metadata", "finalizers"]) => ListStrategy::MergePrimitive,
        Some("ownerReferences") if ends(&["metadata", "ownerReferences"]) => {
            ListStrategy::MergeKey("uid")
        }
        Some(l) if container_lists.contains(&l) && ends(&["spec", l]) => {
            ListStrategy::MergeKey("name")
        }
        Some("ports") if in_container => ListStrategy::MergeKey("containerPort"),
        Some("env") if in_container => ListStrategy::MergeKey("name"),
        Some("volumeMounts") if in_container => ListStrategy::MergeKey("mountPath"),
        Some("volumeDevices") if in_container => ListStrategy::MergeKey("devicePath"),
        Some("resizePolicy") if in_container => ListStrategy::Replace,
        Some("volumes") if ends(&["spec", "volumes"]) => ListStrategy::MergeKey("name"),
        Some("imagePullSecrets") if ends(&["spec", "imagePullSecrets"]) || p.len() == 1 => {
            ListStrategy::MergeKey("name")
        }
        Some("hostAliases") if ends(&["spec", "hostAliases"]) => ListStrategy::MergeKey("ip"),
        Some("schedulingGates") if ends(&["spec", "schedulingGates"]) => {
            ListStrategy::MergeKey("name")
        }
        Some("resourceClaims") if ends(&["spec", "resourceClaims"]) => {
            ListStrategy::MergeKey("name")
        }
        Some("conditions") if ends(&["status", "conditions"]) => ListStrategy::MergeKey("type"),
        Some("addresses") if ends(&["status", "addresses"]) => ListStrategy::MergeKey("type"),
        Some("podIPs") if ends(&["status", "podIPs"]) => ListStrategy::MergeKey("ip"),
        Some("hostIPs") if ends(&["status", "hostIPs"]) => ListStrategy::MergeKey("ip"),
        Some("podCIDRs") if ends(&["spec", "podCIDRs"]) => ListStrategy::MergePrimitive,
        Some("secrets") if p.len() == 1 => ListStrategy::MergeKey("name"),
        _ => ListStrategy::Replace,
    }
}

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

fn is_directive(k: &str) -> bool {
    k == "$patch"
        || k == "$retainKeys"
        || k.starts_with(SET_ORDER)
        || k.starts_with(DELETE_PRIMITIVE)
}

/// Applies a strategic merge patch to `original` (an object).
pub fn strategic_merge_patch(original: &mut Value, patch: &Value) -> Result<(), String> {
    let p = patch
        .as_object()
        .ok_or_else(|| "strategic merge patch must be a JSON object".to_string())?;
    if !original.is_object() {
        *original = Value::Object(Map::new());
    }
    let mut path = Vec::new();
    if let Value::Object(o) = original {
        merge_map(o, p, &mut path)?;
    }
    Ok(())
}

fn fresh(value: &Value, path: &mut Vec<String>) -> Result<Value, String> {
    match value {
        Value::Object(p) => {
            let mut m = Map::new();
            merge_map(&mut m, p, path)?;
            Ok(Value::Object(m))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            merge_list(&mut out, items, path)?;
            Ok(Value::Array(out))
        }
        other => Ok(other.clone()),
    }
}

fn merge_map(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<(), String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            orig.clear();
            for (k, v) in patch.iter().filter(|(k, _)| !is_directive(k)) {
                path.push(k.clone());
                let v = fresh(v, path)?;
                path.pop();
                orig.insert(k.clone(), v);
            }
            return Ok(());
        }
        Some("delete") => {
            orig.clear();
            return Ok(());
        }
        Some(other) if other != "merge" => return Err(format!("Unknown patch type: {other}")),
        _ => {}
    }
    for (k, pv) in patch {
        if is_directive(k) {
            continue;
        }
        path.push(k.clone());
        let res = (|| -> Result<(), String> {
            if pv.is_null() {
                orig.remove(k);
                return Ok(());
            }
            if pv.get("$patch").and_then(Value::as_str) == Some("delete") {
                orig.remove(k);
                return Ok(());
            }
            match (orig.get_mut(k), pv) {
                (Some(Value::Object(o)), Value::Object(p)) => merge_map(o, p, path)?,
                (Some(Value::Array(o)), Value::Array(p)) => merge_list(o, p, path)?,
                (_, v) => {
                    let v = fresh(v, path)?;
                    orig.insert(k.clone(), v);
                }
            }
            Ok(())
        })();
        path.pop();
        res?;
    }
    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE) {
            if let (Some(Value::Array(list)), Some(del)) = (orig.get_mut(field), pv.as_array()) {
                list.retain(|v| !del.contains(v));
            }
        }
    }
    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix(SET_ORDER) {
            path.push(field.to_string());
            let strategy = list_strategy(path);
            path.pop();
            if let (Some(Value::Array(list)), Some(order)) = (orig.get_mut(field), pv.as_array()) {
                reorder(list, order, strategy);
            }
        }
    }
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        orig.retain(|k, _| retain.iter().any(|r| r.as_str() == Some(k.as_str())));
    }
    Ok(())
}

fn same_key(a: &Value, b: &Value, key: &str) -> bool {
    a.get(key).is_some() && a.get(key) == b.get(key)
}

fn reorder(list: &mut Vec<Value>, order: &[Value], strategy: ListStrategy) {
    let mut rest: Vec<Value> = std::mem::take(list);
    for o in order {
        let pos = match strategy {
            ListStrategy::MergeKey(key) => rest.iter().position(|v| same_key(v, o, key)),
            _ => rest.iter().position(|v| v == o),
        };
        if let Some(i) = pos {
            list.push(rest.remove(i));
        }
    }
    list.extend(rest);
}

fn merge_list(
    orig: &mut Vec<Value>,
    patch: &[Value],
    path: &mut Vec<String>,
) -> Result<(), String> {
    match list_strategy(path) {
        ListStrategy::Replace => {
            let mut out = Vec::with_capacity(patch.len());
            for v in patch {
                out.push(fresh(v, path)?);
            }
            *orig = out;
        }
        ListStrategy::MergePrimitive => {
            for v in patch {
                if !orig.contains(v) {
                    orig.push(v.clone());
                }
            }
        }
        ListStrategy::MergeKey(key) => {
            if patch
                .iter()
                .any(|v| v.get("$patch").and_then(Value::as_str) == Some("replace"))
            {
                let mut out = Vec::new();
                for v in patch.iter().filter(|v| v.get("$patch").is_none()) {
                    out.push(fresh(v, path)?);
                }
                *orig = out;
                return Ok(());
            }
            for pe in patch {
                let Some(pm) = pe.as_object() else {
                    return Err(format!(
                        "element of a list with merge key {key:?} is not an object"
                    ));
                };
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    orig.retain(|o| !same_key(o, pe, key));
                    continue;
                }
                match orig.iter_mut().find(|o| same_key(o, pe, key)) {
                    Some(Value::Object(om)) => merge_map(om, pm, path)?,
                    _ => orig.push(fresh(pe, path)?),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_nulls() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 5}}));
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}}));
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"a": [1, 2], "b": "x"});
        json_patch(
            &mut t,
            &json!([{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b", "value": "y"},
                    {"op": "remove", "path": "/a/0"}, {"op": "test", "path": "/b", "value": "y"}]),
        )
        .expect("applies");
        assert_eq!(t, json!({"a": [2, 3], "b": "y"}));
        assert!(json_patch(&mut t, &json!([{"op": "test", "path": "/b", "value": "z"}])).is_err());
        // A failing operation leaves the document as it was.
        let before = t.clone();
        let failing = json!([{"op": "remove", "path": "/a/0"}, {"op": "remove", "path": "/nope"}]);
        assert!(json_patch(&mut t, &failing).is_err());
        assert_eq!(t, before);
        assert!(json_patch(&mut t, &json!({"op": "add"})).is_err());
        assert!(json_patch(&mut t, &json!([{"op": "frobnicate", "path": "/b"}])).is_err());
    }

    #[test]
    fn strategic_merge_by_name_and_directives() {
        let mut pod = json!({"metadata": {"labels": {"a": "1"}, "finalizers": ["x"]},
            "spec": {"containers": [{"name": "c1", "image": "i1", "env": [{"name": "A", "value": "1"}]}, {"name": "c2", "image": "i2"}],
                     "tolerations": [{"key": "k"}]}});
        let patch = json!({"metadata": {"finalizers": ["y"]},
            "spec": {"$setElementOrder/containers": [{"name": "c2"}, {"name": "c1"}],
                     "containers": [{"name": "c1", "image": "new", "env": [{"name": "B", "value": "2"}]}, {"name": "c3", "$patch": "delete"}],
                     "tolerations": [{"key": "t"}]}});
        strategic_merge_patch(&mut pod, &patch).expect("applies");
        assert_eq!(pod["metadata"]["finalizers"], json!(["x", "y"]));
        assert_eq!(pod["spec"]["containers"][0]["name"], "c2");
        assert_eq!(pod["spec"]["containers"][1]["image"], "new");
        assert_eq!(
            pod["spec"]["containers"][1]["env"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(pod["spec"]["tolerations"], json!([{"key": "t"}]));
        let del = json!({"spec": {"containers": [{"name": "c2", "$patch": "delete"}]}});
        strategic_merge_patch(&mut pod, &del).expect("applies");
        assert_eq!(pod["spec"]["containers"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn strategic_conditions_merge_by_type_and_retain_keys() {
        let mut st = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]},
                            "spec": {"volumes": [{"name": "v", "emptyDir": {}}]}});
        strategic_merge_patch(
            &mut st,
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]},
                    "spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}, "$retainKeys": ["name", "hostPath"]}]}}),
        )
        .expect("applies");
        assert_eq!(st["status"]["conditions"][0]["status"], "True");
        assert_eq!(st["status"]["conditions"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            st["spec"]["volumes"][0],
            json!({"name": "v", "hostPath": {"path": "/x"}})
        );
    }
}
