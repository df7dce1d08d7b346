//! What the controllers share about objects: the clock they act at, owner
//! references (`metav1.GetControllerOf`, `NewControllerRef`), conditions
//! set as apimachinery's helpers set them, and small accessors.

use serde_json::{json, Value};

/// The time a pass runs at, as seconds and as a `metav1.Time` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// Unix seconds.
    pub secs: i64,
    /// The same instant, RFC 3339 (`2025-01-01T00:00:00Z`).
    pub text: String,
}

impl Clock {
    /// Now.
    pub fn now() -> Self {
        Self::at(jiff::Timestamp::now().as_second())
    }

    /// A given instant (tests).
    pub fn at(secs: i64) -> Self {
        let text = jiff::Timestamp::from_second(secs)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        Self { secs, text }
    }
}

/// A `metav1.Time` string as Unix seconds.
pub fn secs_of(ts: &Value) -> Option<i64> {
    let t: jiff::Timestamp = ts.as_str()?.parse().ok()?;
    Some(t.as_second())
}

/// `metadata.uid`.
pub fn uid(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or_default()
}

/// `metadata.name`.
pub fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// `metadata.namespace`.
pub fn namespace(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// Whether the object has a deletionTimestamp.
pub fn deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// An integer field, 0 when absent.
pub fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The owner reference marked `controller: true`, if any.
pub fn controller_of(obj: &Value) -> Option<&Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
}

/// Whether `obj`'s controller is the object with uid `owner_uid`.
pub fn controlled_by(obj: &Value, owner_uid: &str) -> bool {
    controller_of(obj).is_some_and(|r| r["uid"] == owner_uid)
}

/// A controller reference to `owner` (`metav1.NewControllerRef`).
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// `obj` with `owner` as its controller (adoption).
pub fn adopted(obj: &Value, owner: &Value) -> Value {
    let mut out = obj.clone();
    let refs = &mut out["metadata"]["ownerReferences"];
    if !refs.is_array() {
        *refs = json!([]);
    }
    if let Some(list) = refs.as_array_mut() {
        list.push(controller_ref(owner));
    }
    out
}

/// `obj` without owner references to `owner_uid` (release, orphaning).
pub fn without_owner(obj: &Value, owner_uid: &str) -> Value {
    let mut out = obj.clone();
    if let Some(list) = out["metadata"]["ownerReferences"].as_array_mut() {
        list.retain(|r| r["uid"] != owner_uid);
    }
    out
}

/// The condition of `type` in `status.conditions`.
pub fn condition<'a>(status: &'a Value, ty: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

/// Whether `status` has condition `ty` with status "True".
pub fn has_true_condition(status: &Value, ty: &str) -> bool {
    condition(status, ty).is_some_and(|c| c["status"] == "True")
}

/// Sets a condition as `SetDeploymentCondition` does: an identical
/// status and reason leaves it as is; a new reason with the same status
/// keeps its lastTransitionTime; otherwise it is replaced.
pub fn set_condition(status: &mut Value, new: Value) {
    let ty = new["type"].clone();
    if let Some(cur) = condition(status, ty.as_str().unwrap_or_default()) {
        if cur["status"] == new["status"] && cur["reason"] == new["reason"] {
            return;
        }
    }
    let mut new = new;
    if let Some(cur) = condition(status, ty.as_str().unwrap_or_default()) {
        if cur["status"] == new["status"] && !cur["lastTransitionTime"].is_null() {
            new["lastTransitionTime"] = cur["lastTransitionTime"].clone();
        }
    }
    remove_condition(status, ty.as_str().unwrap_or_default());
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    if let Some(list) = status["conditions"].as_array_mut() {
        list.push(new);
    }
}

/// Removes the condition of `ty`.
pub fn remove_condition(status: &mut Value, ty: &str) {
    if let Some(list) = status["conditions"].as_array_mut() {
        list.retain(|c| c["type"] != ty);
    }
}

/// An annotation's value.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][key].as_str()
}

/// Sets an annotation.
pub fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    obj["metadata"]["annotations"][key] = json!(value);
}

/// A core/v1 Event about `obj` from `component`, as client-go's recorder
/// writes one (`kubectl describe` lists them).
pub fn event(
    obj: &Value,
    clock: &Clock,
    component: &str,
    ty: &str,
    reason: &str,
    message: &str,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": format!("{}.", name(obj)), "namespace": namespace(obj)},
        "involvedObject": {
            "apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": name(obj),
            "namespace": namespace(obj), "uid": uid(obj), "resourceVersion": obj["metadata"]["resourceVersion"],
        },
        "reason": reason,
        "message": message,
        "type": ty,
        "source": {"component": component},
        "firstTimestamp": clock.text,
        "lastTimestamp": clock.text,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": "",
    })
}

/// Sorts by creationTimestamp, then name (`ByCreationTimestamp`).
pub fn by_creation(a: &Value, b: &Value) -> std::cmp::Ordering {
    let ka = (secs_of(&a["metadata"]["creationTimestamp"]), name(a));
    let kb = (secs_of(&b["metadata"]["creationTimestamp"]), name(b));
    ka.cmp(&kb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_transition_times_on_reason_changes() {
        let mut st = json!({});
        set_condition(
            &mut st,
            json!({"type": "Progressing", "status": "True", "reason": "A", "lastTransitionTime": "t1", "lastUpdateTime": "t1"}),
        );
        set_condition(
            &mut st,
            json!({"type": "Progressing", "status": "True", "reason": "A", "lastTransitionTime": "t2", "lastUpdateTime": "t2"}),
        );
        assert_eq!(
            condition(&st, "Progressing").unwrap()["lastUpdateTime"],
            "t1"
        );
        set_condition(
            &mut st,
            json!({"type": "Progressing", "status": "True", "reason": "B", "lastTransitionTime": "t3", "lastUpdateTime": "t3"}),
        );
        let c = condition(&st, "Progressing").unwrap();
        assert_eq!(
            (c["reason"].as_str(), c["lastTransitionTime"].as_str()),
            (Some("B"), Some("t1"))
        );
        assert_eq!(Clock::at(0).text, "1970-01-01T00:00:00Z");
    }

    #[test]
    fn owner_references() {
        let owner = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "uid": "u1"}});
        let pod = adopted(&json!({"metadata": {"name": "p"}}), &owner);
        assert!(controlled_by(&pod, "u1"));
        assert!(!controlled_by(&without_owner(&pod, "u1"), "u1"));
    }
}
