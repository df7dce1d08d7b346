//! Per-resource behaviour on create and update: defaulting, admission
//! defaults, validation and which parts of an object an update may touch
//! (kube-apiserver's `rest.RESTCreateStrategy` / `RESTUpdateStrategy` for
//! each registry, plus the admission plugins a default cluster runs on pods:
//! DefaultTolerationSeconds, ServiceAccount's name default; Priority, which
//! reads PriorityClasses from the store, is in `priority`).
//!
//! Everything here is a pure function on `serde_json::Value`, so it is tested
//! without a server.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::certificates;
use super::error::{ApiResult, FieldError, StatusError};
use super::meta;
use super::priority;
use super::resources::ResourceType;
use super::workloads;

pub(super) fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    match v.get_mut(key) {
        Some(Value::Object(m)) => m,
        _ => unreachable!("just set to an object"),
    }
}

/// Sets `key` unless it holds a value; like Go defaulting, "" counts as unset.
pub(super) fn default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key)
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
    {
        m.insert(key.to_string(), value);
    }
}

/// Sets server-owned metadata on a new object.
pub fn init_meta(obj: &mut Value) {
    let m = obj_mut(obj, "metadata");
    m.insert("uid".into(), json!(meta::new_uid()));
    m.insert("creationTimestamp".into(), json!(meta::now()));
    for k in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
        "selfLink",
    ] {
        m.remove(k);
    }
    workloads::generate_job_selector(obj);
}

/// Defaults and validates a new object; `obj` has its final name.
pub fn prepare_create(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut errs = Vec::new();
    validate_name(rt, &name, &mut errs);
    super::pod_checks::annotations_size(&obj["metadata"], &mut errs);
    match (rt.group, rt.kind) {
        ("", "Pod") => {
            // PrepareForCreate: a new pod's status is the server's, not the
            // client's, and its generation starts at 1.
            obj["status"] = json!({});
            obj_mut(obj, "metadata").insert("generation".into(), json!(1));
            default_pod(obj);
            validate_pod_spec(&obj["spec"], &mut errs);
            super::pod_checks::validate_pod(obj, &mut errs);
        }
        ("", "Namespace") => {
            let n = name.clone();
            default(obj_mut(obj, "spec"), "finalizers", json!(["kubernetes"]));
            obj_mut(obj, "status").insert("phase".into(), json!("Active"));
            obj_mut(obj, "metadata");
            let labels = obj_mut(&mut obj["metadata"], "labels");
            labels.insert("kubernetes.io/metadata.name".into(), json!(n));
        }
        ("", "Secret") => fold_string_data(obj, &mut errs),
        ("", "Event") => default_event(obj),
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            // A new CSR has no status: approval and signing are others' job.
            obj["status"] = json!({});
            for (field, msg) in certificates::validate_create(&obj["spec"]) {
                errs.push(if msg == "Required value" {
                    FieldError::required(field, "")
                } else {
                    FieldError::invalid(field, json!("<value>"), msg)
                });
            }
        }
        (group, kind) if workloads::handles(group, kind) => {
            workloads::prepare_create(kind, obj, &mut errs)
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            priority::default_priority_class(obj);
            priority::validate_priority_class(obj, &mut errs);
        }
        ("policy", "PodDisruptionBudget") => {
            // PrepareForCreate: the status is the disruption controller's,
            // its counts start at zero (they are not omitempty), and the
            // generation it observes starts at 1.
            obj["status"] = json!({
                "disruptionsAllowed": 0,
                "currentHealthy": 0,
                "desiredHealthy": 0,
                "expectedPods": 0,
            });
            obj_mut(obj, "metadata").insert("generation".into(), json!(1));
        }
        _ => {}
    }
    if !errs.is_empty() {
        return Err(StatusError::invalid(rt, &name, &errs));
    }
    Ok(())
}

fn validate_name(rt: &ResourceType, name: &str, errs: &mut Vec<FieldError>) {
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else if rt.kind == "Namespace" {
        meta::check_label("metadata.name", name, errs);
    } else if rt.group == "rbac.authorization.k8s.io" {
        // `ValidateRBACName` is `path.IsValidPathSegmentName`: `system:…` is fine.
        if name == "." || name == ".." || name.contains('/') || name.contains('%') {
            errs.push(FieldError::invalid(
                "metadata.name",
                json!(name),
                "may not contain '/' or '%', and may not be '.' or '..'",
            ));
        }
    } else {
        meta::check_subdomain("metadata.name", name, errs);
    }
}

fn has_tag(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    let last = last.split('@').next().unwrap_or(last);
    last.contains(':')
}

/// Image pull policy default: Always for `:latest` or no tag, else IfNotPresent.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    if !has_tag(image) || image.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

fn default_container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    let image = m
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    default(m, "imagePullPolicy", json!(default_pull_policy(&image)));
    default(m, "terminationMessagePath", json!("/dev/termination-log"));
    default(m, "terminationMessagePolicy", json!("File"));
    default(m, "resources", json!({}));
    if let Some(Value::Array(ports)) = m.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", json!("TCP"));
        }
    }
    // Requests default to limits (SetDefaults_Pod).
    if let Some(res) = m.get_mut("resources").and_then(Value::as_object_mut) {
        if let Some(Value::Object(limits)) = res.get("limits").cloned() {
            let req = res.entry("requests").or_insert_with(|| json!({}));
            if let Some(req) = req.as_object_mut() {
                for (k, v) in limits {
                    req.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// kube-apiserver's pod defaults and the default admission plugins' changes.
pub fn default_pod(pod: &mut Value) {
    let spec = obj_mut(pod, "spec");
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "enableServiceLinks", json!(true));
    default(spec, "serviceAccountName", json!("default"));
    let sa = spec["serviceAccountName"].clone();
    default(spec, "serviceAccount", sa);
    default(spec, "priority", json!(0));
    default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(key) {
            cs.iter_mut().for_each(default_container);
        }
    }
    // DefaultTolerationSeconds admission.
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Value::Array(ts) = tolerations {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let present = ts.iter().any(|t| {
                (t["key"] == key || (t["key"].is_null() && t["operator"] == "Exists"))
                    && (t["effect"] == "NoExecute" || t["effect"].is_null())
            });
            if !present {
                ts.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
    let qos = qos_class(&pod["spec"]);
    let status = obj_mut(pod, "status");
    default(status, "phase", json!("Pending"));
    status.insert("qosClass".into(), json!(qos));
}

/// Parses a resource quantity into a number (enough to compare values).
pub fn parse_quantity(q: &Value) -> Option<f64> {
    let s = match q {
        Value::String(s) => s.as_str(),
        Value::Number(n) => return n.as_f64(),
        _ => return None,
    };
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suf, mul) in SUFFIXES {
        if let Some(num) = s.strip_suffix(suf) {
            return num.parse::<f64>().ok().map(|n| n * mul);
        }
    }
    s.parse().ok()
}

/// `qos.GetPodQOS`.
pub fn qos_class(spec: &Value) -> &'static str {
    let mut requests: Map<String, Value> = Map::new();
    let mut limits: Map<String, Value> = Map::new();
    let mut all_limited = true;
    let empty = vec![];
    let containers = spec["containers"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .chain(spec["initContainers"].as_array().unwrap_or(&empty));
    for c in containers {
        let res = &c["resources"];
        for (k, v) in res["requests"].as_object().into_iter().flatten() {
            if (k == "cpu" || k == "memory") && parse_quantity(v).is_some_and(|n| n != 0.0) {
                requests.insert(k.clone(), v.clone());
            }
        }
        let mut lim_count = 0;
        for (k, v) in res["limits"].as_object().into_iter().flatten() {
            if (k == "cpu" || k == "memory") && parse_quantity(v).is_some_and(|n| n != 0.0) {
                lim_count += 1;
                limits.insert(k.clone(), v.clone());
            }
        }
        if lim_count < 2 {
            all_limited = false;
        }
        // Guaranteed needs requests == limits for every container.
        for k in ["cpu", "memory"] {
            let r = res["requests"].get(k).and_then(parse_quantity);
            let l = res["limits"].get(k).and_then(parse_quantity);
            if r.is_some() && r != l {
                all_limited = false;
            }
        }
    }
    if requests.is_empty() && limits.is_empty() {
        "BestEffort"
    } else if all_limited {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

pub(super) fn validate_containers(
    spec: &Value,
    key: &str,
    required: bool,
    errs: &mut Vec<FieldError>,
) {
    let path = format!("spec.{key}");
    let list = spec[key].as_array();
    if required && list.is_none_or(|l| l.is_empty()) {
        errs.push(FieldError::required(&path, ""));
        return;
    }
    let mut seen = Vec::new();
    for (i, c) in list.into_iter().flatten().enumerate() {
        let cpath = format!("{path}[{i}]");
        let name = c["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(format!("{cpath}.name"), ""));
        } else {
            meta::check_label(&format!("{cpath}.name"), name, errs);
            if seen.contains(&name) {
                errs.push(FieldError::duplicate(format!("{cpath}.name"), json!(name)));
            }
            seen.push(name);
        }
        if c["image"].as_str().is_none_or(|s| s.trim().is_empty()) {
            errs.push(FieldError::required(format!("{cpath}.image"), ""));
        }
        for (j, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
            let port = p["containerPort"].as_i64().unwrap_or(0);
            if !(1..=65535).contains(&port) {
                errs.push(FieldError::invalid(
                    format!("{cpath}.ports[{j}].containerPort"),
                    json!(port),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
    }
}

fn validate_pod_spec(spec: &Value, errs: &mut Vec<FieldError>) {
    validate_containers(spec, "containers", true, errs);
    validate_containers(spec, "initContainers", false, errs);
    let rp = spec["restartPolicy"].as_str().unwrap_or_default();
    if !["Always", "OnFailure", "Never"].contains(&rp) {
        errs.push(FieldError::not_supported(
            "spec.restartPolicy",
            json!(rp),
            &["Always", "OnFailure", "Never"],
        ));
    }
    if let Some(n) = spec["nodeName"].as_str().filter(|n| !n.is_empty()) {
        meta::check_subdomain("spec.nodeName", n, errs);
    }
}

const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn pod_spec_update_allowed(old: &Value, new: &Value) -> bool {
    let mut a = old.clone();
    let mut b = new.clone();
    for spec in [&mut a, &mut b] {
        for key in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = spec.get_mut(key) {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove("image");
                }
            }
        }
        if let Some(m) = spec.as_object_mut() {
            m.remove("activeDeadlineSeconds");
            m.remove("tolerations");
            m.remove("schedulingGates");
        }
    }
    if a != b {
        return false;
    }
    // Tolerations may only be added.
    let empty = vec![];
    let old_t = old["tolerations"].as_array().unwrap_or(&empty);
    let new_t = new["tolerations"].as_array().unwrap_or(&empty);
    old_t.iter().all(|t| new_t.contains(t))
}

/// Builds the stored object for an update of `old` with `new`, for the main
/// resource (`sub` = None) or the `status` subresource.
pub fn prepare_update(
    rt: &ResourceType,
    old: &Value,
    mut new: Value,
    sub: Option<&str>,
) -> ApiResult<Value> {
    let name = old["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let has_status = rt.subresources.contains(&"status");
    if sub == Some("approval") {
        // The approval subresource changes the conditions only.
        let mut out = old.clone();
        out["status"]["conditions"] = new["status"]["conditions"].clone();
        return Ok(out);
    }
    if sub == Some("status") {
        // ResetObjectMetaForStatus: only the status changes.
        let mut out = old.clone();
        out["status"] = new.get("status").cloned().unwrap_or(json!({}));
        return Ok(out);
    }
    // Server-owned metadata is carried over from the stored object.
    {
        let old_meta = old["metadata"].clone();
        let m = obj_mut(&mut new, "metadata");
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
            "generation",
        ] {
            match old_meta.get(k) {
                Some(v) => {
                    m.insert(k.into(), v.clone());
                }
                None => {
                    m.remove(k);
                }
            }
        }
    }
    if has_status {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    let mut errs = Vec::new();
    super::pod_checks::annotations_size(&new["metadata"], &mut errs);
    match (rt.group, rt.kind) {
        ("", "Pod") => {
            default_pod(&mut new);
            if new["spec"] != old["spec"] {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
                obj_mut(&mut new, "metadata").insert("generation".into(), json!(g + 1));
            }
            validate_pod_spec(&new["spec"], &mut errs);
            if errs.is_empty() && !pod_spec_update_allowed(&old["spec"], &new["spec"]) {
                let diff = spec_diff(&old["spec"], &new["spec"]);
                errs.push(FieldError::forbidden(
                    "spec",
                    format!("{POD_UPDATE_FORBIDDEN}\n{diff}"),
                ));
            }
        }
        ("", "Namespace") => {
            new["spec"] = old["spec"].clone();
            if let Some(l) = new["metadata"]["labels"].as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name.clone()));
            } else {
                new["metadata"]["labels"] = json!({"kubernetes.io/metadata.name": name.clone()});
            }
        }
        (group, kind) if workloads::handles(group, kind) => {
            workloads::prepare_update(kind, old, &mut new, &mut errs)
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            // spec is immutable; status moves through its subresources.
            new["spec"] = old["spec"].clone();
        }
        ("", "Secret") => {
            fold_string_data(&mut new, &mut errs);
            if old.get("type") != new.get("type") {
                errs.push(FieldError::invalid(
                    "type",
                    new["type"].clone(),
                    "field is immutable",
                ));
            }
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            priority::default_priority_class(&mut new);
            priority::validate_priority_class(&new, &mut errs);
            priority::validate_priority_class_update(old, &new, &mut errs);
        }
        ("policy", "PodDisruptionBudget") if new["spec"] != old["spec"] => {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
            obj_mut(&mut new, "metadata").insert("generation".into(), json!(g + 1));
        }
        _ => {}
    }
    if !errs.is_empty() {
        return Err(StatusError::invalid(rt, &name, &errs));
    }
    Ok(new)
}

fn spec_diff(old: &Value, new: &Value) -> String {
    let mut lines = vec!["  core.PodSpec{".to_string()];
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return String::new();
    };
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        if o.get(k) != n.get(k) {
            if let Some(v) = o.get(k) {
                lines.push(format!("- \t{k}: {v},"));
            }
            if let Some(v) = n.get(k) {
                lines.push(format!("+ \t{k}: {v},"));
            }
        }
    }
    lines.push("  }".into());
    lines.join("\n")
}

/// Secret `stringData` is write-only: it is merged into `data` (base64).
fn fold_string_data(secret: &mut Value, errs: &mut Vec<FieldError>) {
    let sd = secret.as_object_mut().and_then(|m| m.remove("stringData"));
    if let Some(Value::Object(sd)) = sd {
        let data = obj_mut(secret, "data");
        for (k, v) in sd {
            let s = v.as_str().unwrap_or_default();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(s)),
            );
        }
    }
    if let Some(m) = secret.as_object_mut() {
        default(m, "type", json!("Opaque"));
    }
    for (k, _) in secret["data"].as_object().into_iter().flatten() {
        let ok = !k.is_empty()
            && k.len() <= 253
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
        if !ok {
            errs.push(FieldError::invalid(
                format!("data[{k}]"),
                json!(k),
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            ));
        }
    }
}

fn default_event(ev: &mut Value) {
    if let Some(m) = ev.as_object_mut() {
        default(m, "type", json!("Normal"));
    }
}

/// Converts an events.k8s.io/v1 Event to the stored core/v1 form.
pub fn event_v1_to_core(ev: &Value) -> Value {
    let mut out = json!({"apiVersion": "v1", "kind": "Event"});
    let map = [
        ("metadata", "metadata"),
        ("eventTime", "eventTime"),
        ("series", "series"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
        ("action", "action"),
        ("reason", "reason"),
        ("regarding", "involvedObject"),
        ("related", "related"),
        ("note", "message"),
        ("type", "type"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
    ];
    for (from, to) in map {
        if let Some(v) = ev.get(from).filter(|v| !v.is_null()) {
            out[to] = v.clone();
        }
    }
    if out.get("involvedObject").is_none() {
        out["involvedObject"] = json!({});
    }
    out
}

/// Converts a stored core/v1 Event to the events.k8s.io/v1 form.
pub fn event_core_to_v1(ev: &Value) -> Value {
    let mut out = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event"});
    let map = [
        ("metadata", "metadata"),
        ("eventTime", "eventTime"),
        ("series", "series"),
        ("reportingComponent", "reportingController"),
        ("reportingInstance", "reportingInstance"),
        ("action", "action"),
        ("reason", "reason"),
        ("involvedObject", "regarding"),
        ("related", "related"),
        ("message", "note"),
        ("type", "type"),
        ("source", "deprecatedSource"),
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
    ];
    for (from, to) in map {
        if let Some(v) = ev.get(from).filter(|v| !v.is_null()) {
            out[to] = v.clone();
        }
    }
    if out.get("eventTime").is_none() {
        out["eventTime"] = Value::Null;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;

    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    }

    #[test]
    fn pod_defaults() {
        let mut p = pod();
        prepare_create(resources::pods(), &mut p).expect("valid");
        assert_eq!(p["spec"]["schedulerName"], "default-scheduler");
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(p["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["status"]["qosClass"], "BestEffort");
    }

    #[test]
    fn pull_policy() {
        assert_eq!(default_pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/nginx"), "Always");
    }

    #[test]
    fn qos() {
        let g = json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}}]});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"containers": [{"resources": {"requests": {"cpu": "100m"}}}]});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn pod_validation_messages() {
        let mut p =
            json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}});
        let e = prepare_create(resources::pods(), &mut p).expect_err("invalid");
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("Pod \"Bad_Name\" is invalid: [metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
        assert!(e
            .message
            .contains("spec.containers[0].image: Required value"));
    }

    #[test]
    fn pod_spec_is_immutable_except_images() {
        let mut old = pod();
        prepare_create(resources::pods(), &mut old).expect("valid");
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        let updated =
            prepare_update(resources::pods(), &old, new, None).expect("image change allowed");
        assert_eq!(old["metadata"]["generation"], 1);
        assert_eq!(updated["metadata"]["generation"], 2);
        let mut bad = old.clone();
        bad["spec"]["restartPolicy"] = json!("Never");
        let e = prepare_update(resources::pods(), &old, bad, None).expect_err("forbidden");
        assert!(e
            .message
            .contains("spec: Forbidden: pod updates may not change fields other than"));
    }

    #[test]
    fn events_convert_both_ways() {
        let v1 = json!({"metadata": {"name": "e"}, "regarding": {"kind": "Pod", "name": "p"}, "note": "hi", "reportingController": "x"});
        let core = event_v1_to_core(&v1);
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "hi");
        assert_eq!(event_core_to_v1(&core)["note"], "hi");
    }
}
