//! Create/update behaviour of the workload kinds — apps/v1 Deployments and
//! ReplicaSets, batch/v1 Jobs — as kube-apiserver's registries give it:
//! `SetDefaults_*` of the v1 groups, the validation users meet first
//! (selector required and matching the template's labels, restart
//! policies, container basics) and the strategies' rules (status reset on
//! create, `generation` bumped on spec changes, immutable selectors, a Job's
//! generated `controller-uid` selector and labels).
//!
//! `strategy.rs` calls in here for these kinds; the controllers that act on
//! the objects live in `controllers/`.

use serde_json::{json, Value};

use super::error::FieldError;
use super::label_selector;
use super::strategy::{self, default, obj_mut};

/// The label (and selector key) of a Job's pods that ties them to the Job's
/// uid (`batch.kubernetes.io/controller-uid`), and its legacy twin.
pub const JOB_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
const JOB_UID_LABEL_LEGACY: &str = "controller-uid";
/// The label of a Job's pods with the Job's name, and its legacy twin.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const JOB_NAME_LABEL_LEGACY: &str = "job-name";

/// Whether `kind` is one of the workloads handled here.
pub fn handles(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("apps", "Deployment") | ("apps", "ReplicaSet") | ("batch", "Job")
    )
}

/// `SetDefaults_PodSpec` on a pod template (no admission: templates get no
/// service account or tolerations, only pods do).
fn default_template(template: &mut Value) {
    let spec = obj_mut(template, "spec");
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    for key in ["containers", "initContainers"] {
        for c in spec
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(m) = c.as_object_mut() {
                let image = m
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                default(
                    m,
                    "imagePullPolicy",
                    json!(strategy::default_pull_policy(&image)),
                );
                default(m, "terminationMessagePath", json!("/dev/termination-log"));
                default(m, "terminationMessagePolicy", json!("File"));
                default(m, "resources", json!({}));
            }
        }
    }
}

/// apps/v1 and batch/v1 defaulting.
fn default_spec(kind: &str, obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    match kind {
        "Deployment" => {
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
            if let Some(st) = strategy.as_object_mut() {
                default(st, "type", json!("RollingUpdate"));
                if st.get("type") == Some(&json!("RollingUpdate")) {
                    let ru = st.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(ru) = ru.as_object_mut() {
                        default(ru, "maxUnavailable", json!("25%"));
                        default(ru, "maxSurge", json!("25%"));
                    }
                }
            }
        }
        "ReplicaSet" => default(spec, "replicas", json!(1)),
        "Job" => {
            if spec.get("completions").is_none_or(Value::is_null)
                && spec.get("parallelism").is_none_or(Value::is_null)
            {
                spec.insert("completions".into(), json!(1));
            }
            default(spec, "parallelism", json!(1));
            default(spec, "backoffLimit", json!(6));
            default(spec, "completionMode", json!("NonIndexed"));
            default(spec, "suspend", json!(false));
            default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            default(spec, "manualSelector", Value::Null);
            spec.remove("manualSelector");
        }
        _ => {}
    }
    default_template(&mut obj["spec"]["template"]);
}

/// A Job's generated selector and the labels its template gets
/// (`jobStrategy.PrepareForCreate` → `generateSelector`), unless the user
/// asked for `manualSelector`. Runs once the new object has its uid; any
/// other object is left alone.
pub fn generate_job_selector(job: &mut Value) {
    if job["kind"] != "Job"
        || job["apiVersion"] != "batch/v1"
        || job["spec"]["manualSelector"] == true
    {
        return;
    }
    let uid = job["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = job["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let template = &mut job["spec"]["template"];
    let labels = obj_mut(obj_mut_value(template, "metadata"), "labels");
    for (k, v) in [
        (JOB_UID_LABEL, &uid),
        (JOB_UID_LABEL_LEGACY, &uid),
        (JOB_NAME_LABEL, &name),
        (JOB_NAME_LABEL_LEGACY, &name),
    ] {
        labels.entry(k).or_insert_with(|| json!(v));
    }
    job["spec"]["selector"] = json!({"matchLabels": {JOB_UID_LABEL: uid}});
}

fn obj_mut_value<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    obj_mut(v, key);
    &mut v[key]
}

/// Validation both create and update run.
fn validate(kind: &str, obj: &Value, creating: bool, errs: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    let selector = &spec["selector"];
    let template = &spec["template"];
    let generated = kind == "Job" && spec["manualSelector"] != true;
    if generated && creating && !selector.is_null() {
        errs.push(FieldError::invalid(
            "spec.selector",
            selector.clone(),
            "`selector` will be auto-generated",
        ));
    }
    if !generated {
        if selector.is_null() {
            errs.push(FieldError::required("spec.selector", ""));
        } else if label_selector::is_empty(selector) {
            errs.push(FieldError::invalid(
                "spec.selector",
                selector.clone(),
                "empty selector is invalid for deployment",
            ));
        }
    }
    let labels = &template["metadata"]["labels"];
    if !selector.is_null()
        && !label_selector::is_empty(selector)
        && !label_selector::matches(selector, labels)
    {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            labels.clone(),
            "`selector` does not match template `labels`",
        ));
    }
    for key in ["replicas", "parallelism", "completions", "backoffLimit"] {
        if let Some(n) = spec[key].as_i64() {
            if n < 0 {
                errs.push(FieldError::invalid(
                    format!("spec.{key}"),
                    json!(n),
                    "must be greater than or equal to 0",
                ));
            }
        }
    }
    let restart = template["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or_default();
    let allowed: &[&str] = if kind == "Job" {
        &["OnFailure", "Never"]
    } else {
        &["Always"]
    };
    if !allowed.contains(&restart) {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            json!(restart),
            allowed,
        ));
    }
    let mut pod_errs = Vec::new();
    strategy::validate_containers(&template["spec"], "containers", true, &mut pod_errs);
    strategy::validate_containers(&template["spec"], "initContainers", false, &mut pod_errs);
    for mut e in pod_errs {
        e.field = format!("spec.template.{}", e.field);
        errs.push(e);
    }
    if kind == "Deployment" && spec["strategy"]["type"] == "RollingUpdate" {
        let ru = &spec["strategy"]["rollingUpdate"];
        let zero = |v: &Value| v == &json!(0) || v == &json!("0%");
        if zero(&ru["maxSurge"]) && zero(&ru["maxUnavailable"]) {
            errs.push(FieldError::invalid(
                "spec.strategy.rollingUpdate.maxUnavailable",
                ru["maxUnavailable"].clone(),
                "may not be 0 when `maxSurge` is 0",
            ));
        }
    }
}

/// `PrepareForCreate` + defaults + validation of a new workload; a Job's
/// selector follows once it has a uid ([`generate_job_selector`]).
pub fn prepare_create(kind: &str, obj: &mut Value, errs: &mut Vec<FieldError>) {
    obj["status"] = json!({});
    obj_mut(obj, "metadata").insert("generation".into(), json!(1));
    default_spec(kind, obj);
    validate(kind, obj, true, errs);
}

/// `PrepareForUpdate` + validation of an update to the main resource (the
/// caller has carried status and server-owned metadata over).
pub fn prepare_update(kind: &str, old: &Value, new: &mut Value, errs: &mut Vec<FieldError>) {
    default_spec(kind, new);
    if kind == "Job" && new["spec"]["manualSelector"] != true {
        // The generated selector and labels are the server's.
        new["spec"]["selector"] = old["spec"]["selector"].clone();
        for k in [
            JOB_UID_LABEL,
            JOB_UID_LABEL_LEGACY,
            JOB_NAME_LABEL,
            JOB_NAME_LABEL_LEGACY,
        ] {
            if let Some(v) = old["spec"]["template"]["metadata"]["labels"].get(k) {
                obj_mut(
                    obj_mut_value(&mut new["spec"]["template"], "metadata"),
                    "labels",
                )
                .insert(k.into(), v.clone());
            }
        }
    }
    if new["spec"] != old["spec"] {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
        obj_mut(new, "metadata").insert("generation".into(), json!(g + 1));
    }
    validate(kind, new, false, errs);
    if new["spec"]["selector"] != old["spec"]["selector"] {
        errs.push(FieldError::invalid(
            "spec.selector",
            new["spec"]["selector"].clone(),
            "field is immutable",
        ));
    }
    if kind == "Job" {
        for key in ["completions", "completionMode"] {
            if new["spec"][key] != old["spec"][key] {
                errs.push(FieldError::invalid(
                    format!("spec.{key}"),
                    new["spec"][key].clone(),
                    "field is immutable",
                ));
            }
        }
        if new["spec"]["template"] != old["spec"]["template"] {
            errs.push(FieldError::invalid(
                "spec.template",
                new["spec"]["template"].clone(),
                "field is immutable",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({"metadata": {"name": "web", "uid": "u1"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    }

    #[test]
    fn deployment_defaults_as_apps_v1() {
        let mut d = deployment();
        let mut errs = Vec::new();
        prepare_create("Deployment", &mut d, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(d["metadata"]["generation"], 1);
    }

    #[test]
    fn selectors_must_match_and_are_immutable() {
        let mut d = deployment();
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "db"});
        let mut errs = Vec::new();
        prepare_create("Deployment", &mut d, &mut errs);
        assert_eq!(errs[0].field, "spec.template.metadata.labels");
        let mut old = deployment();
        prepare_create("Deployment", &mut old, &mut Vec::new());
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        let mut errs = Vec::new();
        prepare_update("Deployment", &old, &mut new, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(new["metadata"]["generation"], 2);
        new["spec"]["selector"] = json!({"matchLabels": {"app": "x"}});
        new["spec"]["template"]["metadata"]["labels"] = json!({"app": "x"});
        let mut errs = Vec::new();
        prepare_update("Deployment", &old, &mut new, &mut errs);
        assert_eq!(
            errs[0].body(),
            "Invalid value: {\"matchLabels\":{\"app\":\"x\"}}: field is immutable"
        );
    }

    #[test]
    fn jobs_get_a_uid_selector_and_batch_defaults() {
        let mut j = json!({"metadata": {"name": "pi", "uid": "u9"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
        j["kind"] = json!("Job");
        j["apiVersion"] = json!("batch/v1");
        let mut errs = Vec::new();
        prepare_create("Job", &mut j, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        generate_job_selector(&mut j);
        assert_eq!(j["spec"]["selector"]["matchLabels"][JOB_UID_LABEL], "u9");
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"][JOB_NAME_LABEL],
            "pi"
        );
        assert_eq!(
            (
                j["spec"]["completions"].clone(),
                j["spec"]["parallelism"].clone(),
                j["spec"]["backoffLimit"].clone()
            ),
            (json!(1), json!(1), json!(6))
        );
        let mut bad = j.clone();
        bad["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        let mut errs = Vec::new();
        prepare_update("Job", &j, &mut bad, &mut errs);
        assert!(errs
            .iter()
            .any(|e| e.field == "spec.template.spec.restartPolicy"));
    }
}
