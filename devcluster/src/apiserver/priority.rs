//! Pod priority as kube-apiserver serves it: the Priority admission plugin
//! (`plugin/pkg/admission/priority`) resolving a new pod's `spec.priority`
//! and `spec.preemptionPolicy` from its PriorityClass, the PriorityClass
//! registry's defaulting and validation (`pkg/apis/scheduling`), and the two
//! system classes the scheduling storage's post-start hook creates.
//!
//! kube-scheduler (here, the framework) only reads `spec.priority`; without
//! this a pod's `priorityClassName` would be ignored.

use serde_json::{json, Value};

use super::error::{ApiResult, FieldError, StatusError};
use super::handlers;
use super::resources::{self, ResourceType};
use super::store::Store;

/// `scheduling.HighestUserDefinablePriority`.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;

/// `scheduling.SystemPriorityClassPrefix`.
const SYSTEM_PREFIX: &str = "system-";

/// The system classes (`scheduling.SystemPriorityClasses()`): name, value,
/// description.
pub const SYSTEM_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";
const PREEMPTION_POLICIES: [&str; 2] = ["Never", PREEMPT_LOWER_PRIORITY];

fn classes() -> &'static ResourceType {
    resources::find("scheduling.k8s.io", "v1", "priorityclasses")
        .expect("priorityclasses is in the resource table")
}

fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// Admission of a create or update of `obj` (in storage form): pods are
/// given their priority, PriorityClasses checked for a second default.
pub fn admit(store: &Store, rt: &ResourceType, obj: &mut Value, creating: bool) -> ApiResult<()> {
    match (rt.group, rt.kind) {
        ("", "Pod") if creating => admit_pod(store, rt, obj),
        ("scheduling.k8s.io", "PriorityClass") => admit_class(store, rt, obj, creating),
        _ => Ok(()),
    }
}

/// The global default class: the one with the lowest value if a race let
/// several in (`getDefaultPriorityClass`).
fn default_class(store: &Store) -> Option<Value> {
    store
        .list(classes().storage, None)
        .0
        .into_iter()
        .filter(|c| c["globalDefault"].as_bool() == Some(true))
        .min_by_key(|c| c["value"].as_i64().unwrap_or_default())
}

/// `admitPod`: resolves the class (or the default: none means priority 0
/// and PreemptLowerPriority), refuses a pod whose own priority or
/// preemption policy disagrees, and fills both in.
fn admit_pod(store: &Store, rt: &ResourceType, pod: &mut Value) -> ApiResult<()> {
    let forbidden = |why: String| StatusError::forbidden(rt, name_of(pod), &why);
    let class_name = pod["spec"]["priorityClassName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let class = if class_name.is_empty() {
        default_class(store)
    } else {
        let found = store.get(classes().storage, "", &class_name);
        if found.is_none() {
            return Err(forbidden(format!(
                "no PriorityClass with name {class_name} was found"
            )));
        }
        found
    };
    let (class_name, priority, policy) = match &class {
        Some(c) => (
            name_of(c).to_string(),
            c["value"].as_i64().unwrap_or_default(),
            c["preemptionPolicy"].as_str().map(str::to_string),
        ),
        None => (String::new(), 0, Some(PREEMPT_LOWER_PRIORITY.to_string())),
    };
    if let Some(given) = pod["spec"]["priority"].as_i64() {
        if given != priority {
            return Err(forbidden(format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
            )));
        }
    }
    if let (Some(given), Some(computed)) = (pod["spec"]["preemptionPolicy"].as_str(), &policy) {
        if given != computed {
            return Err(forbidden(format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {computed} from the given PriorityClass name"
            )));
        }
    }
    if !pod["spec"].is_object() {
        pod["spec"] = json!({});
    }
    let spec = &mut pod["spec"];
    if !class_name.is_empty() {
        spec["priorityClassName"] = json!(class_name);
    }
    spec["priority"] = json!(priority);
    if let Some(p) = policy {
        spec["preemptionPolicy"] = json!(p);
    }
    Ok(())
}

/// `validatePriorityClass`: only one class may be the global default.
fn admit_class(store: &Store, rt: &ResourceType, class: &Value, creating: bool) -> ApiResult<()> {
    if class["globalDefault"].as_bool() != Some(true) {
        return Ok(());
    }
    match default_class(store) {
        Some(d) if creating || name_of(&d) != name_of(class) => Err(StatusError::forbidden(
            rt,
            name_of(class),
            &format!(
                "PriorityClass {} is already marked as default. Only one default can exist",
                name_of(&d)
            ),
        )),
        _ => Ok(()),
    }
}

/// scheduling/v1 defaulting: `preemptionPolicy` PreemptLowerPriority.
pub fn default_priority_class(class: &mut Value) {
    if class["preemptionPolicy"].as_str().is_none_or(str::is_empty) {
        class["preemptionPolicy"] = json!(PREEMPT_LOWER_PRIORITY);
    }
}

/// `ValidatePriorityClass`.
pub fn validate_priority_class(class: &Value, errs: &mut Vec<FieldError>) {
    let name = name_of(class);
    let value = class["value"].as_i64().unwrap_or_default();
    let global_default = class["globalDefault"].as_bool().unwrap_or_default();
    if name.starts_with(SYSTEM_PREFIX) {
        if let Err(why) = known_system_class(name, value, global_default) {
            errs.push(FieldError::forbidden(
                "metadata.name",
                format!("priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system use only. error: {why}"),
            ));
        }
    } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
        errs.push(FieldError::forbidden(
            "value",
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"),
        ));
    }
    if let Some(p) = class["preemptionPolicy"].as_str() {
        if !PREEMPTION_POLICIES.contains(&p) {
            errs.push(FieldError::not_supported(
                "preemptionPolicy",
                json!(p),
                &PREEMPTION_POLICIES,
            ));
        }
    }
}

/// `IsKnownSystemPriorityClass`.
fn known_system_class(name: &str, value: i64, global_default: bool) -> Result<(), String> {
    let Some(&(_, want, _)) = SYSTEM_CLASSES.iter().find(|(n, _, _)| *n == name) else {
        return Err(format!("{name} is not a known system priority class"));
    };
    if value != want {
        return Err(format!("value of {name} PriorityClass must be {want}"));
    }
    if global_default {
        return Err(format!(
            "globalDefault of {name} PriorityClass must be false"
        ));
    }
    Ok(())
}

/// `ValidatePriorityClassUpdate`: value and preemption policy are fixed.
pub fn validate_priority_class_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    if old["value"] != new["value"] {
        errs.push(FieldError::forbidden(
            "value",
            "may not be changed in an update.",
        ));
    }
    if old["preemptionPolicy"] != new["preemptionPolicy"] {
        errs.push(FieldError::invalid(
            "preemptionPolicy",
            new["preemptionPolicy"].clone(),
            "field is immutable",
        ));
    }
}

/// Creates the system classes if missing, as the scheduling storage's
/// post-start hook does.
pub fn bootstrap(store: &Store) -> ApiResult<()> {
    for (name, value, description) in SYSTEM_CLASSES {
        if store.get(classes().storage, "", name).is_some() {
            continue;
        }
        let class = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
        });
        handlers::ensure_created(store, classes(), &class)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(classes: &[Value]) -> Store {
        let s = Store::in_memory(100);
        for c in classes {
            handlers::create_object(&s, super::classes(), c).expect("class created");
        }
        s
    }

    fn class(name: &str, value: i64, extra: Value) -> Value {
        let mut c = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    }

    fn pod(spec: Value) -> Value {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c", "image": "busybox"}]);
        json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    }

    fn admit_new_pod(s: &Store, p: &mut Value) -> ApiResult<()> {
        admit(s, resources::pods(), p, true)
    }

    #[test]
    fn a_pods_class_gives_its_priority_and_preemption_policy() {
        let s = store_with(&[class("high", 1000, json!({"preemptionPolicy": "Never"}))]);
        let mut p = pod(json!({"priorityClassName": "high"}));
        admit_new_pod(&s, &mut p).expect("admitted");
        assert_eq!(p["spec"]["priority"], 1000);
        assert_eq!(p["spec"]["preemptionPolicy"], "Never");
    }

    #[test]
    fn without_a_class_the_global_default_or_zero_applies() {
        let s = store_with(&[]);
        let mut p = pod(json!({}));
        admit_new_pod(&s, &mut p).expect("admitted");
        assert_eq!(p["spec"]["priority"], 0);
        assert_eq!(p["spec"]["preemptionPolicy"], PREEMPT_LOWER_PRIORITY);
        assert!(p["spec"]["priorityClassName"].is_null());

        let s = store_with(&[class("everyone", 7, json!({"globalDefault": true}))]);
        let mut p = pod(json!({}));
        admit_new_pod(&s, &mut p).expect("admitted");
        assert_eq!(p["spec"]["priority"], 7);
        assert_eq!(p["spec"]["priorityClassName"], "everyone");
    }

    #[test]
    fn unknown_classes_and_contradicting_values_are_forbidden_in_kube_apiservers_words() {
        let s = store_with(&[class("high", 1000, json!({}))]);
        let mut p = pod(json!({"priorityClassName": "nope"}));
        let e = admit_new_pod(&s, &mut p).expect_err("no such class");
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: no PriorityClass with name nope was found"
        );
        let mut p = pod(json!({"priorityClassName": "high", "priority": 5}));
        let e = admit_new_pod(&s, &mut p).expect_err("priority given");
        assert_eq!(e.message, "pods \"p\" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name");
        let mut p = pod(json!({"priorityClassName": "high", "priority": 1000}));
        admit_new_pod(&s, &mut p).expect("the same value is accepted");
        let mut p = pod(json!({"priorityClassName": "high", "preemptionPolicy": "Never"}));
        let e = admit_new_pod(&s, &mut p).expect_err("policy given");
        assert_eq!(e.message, "pods \"p\" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name");
    }

    #[test]
    fn system_classes_exist_and_resolve() {
        let s = store_with(&[]);
        bootstrap(&s).expect("bootstrapped");
        bootstrap(&s).expect("idempotent");
        let mut p = pod(json!({"priorityClassName": "system-node-critical"}));
        admit_new_pod(&s, &mut p).expect("admitted");
        assert_eq!(p["spec"]["priority"], 2_000_001_000);
    }

    #[test]
    fn class_validation_follows_the_scheduling_registry() {
        let s = store_with(&[class("first", 1, json!({"globalDefault": true}))]);
        let create = |c: Value| handlers::create_object(&s, super::classes(), &c);
        let e =
            create(class("second", 2, json!({"globalDefault": true}))).expect_err("two defaults");
        assert_eq!(e.code, 403);
        assert!(
            e.message.ends_with(
                "PriorityClass first is already marked as default. Only one default can exist"
            ),
            "{}",
            e.message
        );
        let e = create(class("huge", 1_000_000_001, json!({}))).expect_err("too high");
        assert_eq!(e.code, 422);
        assert!(
            e.message.contains(
                "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
            ),
            "{}",
            e.message
        );
        let e = create(class("system-mine", 5, json!({}))).expect_err("reserved");
        assert!(
            e.message.contains("priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"),
            "{}",
            e.message
        );
        let made = create(class("plain", 5, json!({}))).expect("created");
        assert_eq!(made.body["preemptionPolicy"], PREEMPT_LOWER_PRIORITY);

        let mut errs = Vec::new();
        validate_priority_class_update(&made.body, &class("plain", 6, json!({})), &mut errs);
        assert_eq!(errs.len(), 2, "value and preemptionPolicy are immutable");
    }
}
