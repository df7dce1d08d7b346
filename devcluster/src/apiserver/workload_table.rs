//! Table columns and cells of the workload kinds, ported from
//! kube-apiserver's printers (`printDeployment`, `printReplicaSet`,
//! `printJob` in `pkg/printers/internalversion/printers.go`), so `kubectl
//! get deploy,rs,jobs` reads as on any cluster.

use serde_json::{json, Value};

use super::label_selector;
use super::meta::{age, age_secs, human_duration};

fn col(name: &str, ty: &str, format: &str, priority: i32, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn wide_columns() -> Vec<Value> {
    vec![
        col("Containers", "string", "", 1, "Names of each container in the template."),
        col("Images", "string", "", 1, "Images referenced by each container in the template."),
        col("Selector", "string", "", 1, "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
    ]
}

/// Column definitions for `kind` (Deployment, ReplicaSet or Job).
pub fn columns(kind: &str, name: Value, age_col: Value) -> Vec<Value> {
    let mut cols = vec![name];
    match kind {
        "Deployment" => cols.extend([
            col("Ready", "string", "", 0, "Number of the pod with ready state"),
            col("Up-to-date", "string", "", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            col("Available", "string", "", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
        ]),
        "ReplicaSet" => cols.extend([
            col("Desired", "integer", "", 0, "Replicas is the number of desired pods."),
            col("Current", "integer", "", 0, "Replicas is the most recently observed number of replicas."),
            col("Ready", "integer", "", 0, "The number of ready replicas for this replica set."),
        ]),
        _ => cols.extend([
            col("Status", "string", "", 0, "Status of the job."),
            col("Completions", "string", "", 0, "The completion status of the job."),
            col("Duration", "string", "", 0, "Time required to complete the job."),
        ]),
    }
    cols.push(age_col);
    cols.extend(wide_columns());
    cols
}

fn has_condition(obj: &Value, ty: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == ty && c["status"] == "True")
}

fn job_status(job: &Value) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if !job["metadata"]["deletionTimestamp"].is_null() {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job_completions(job: &Value) -> String {
    let succeeded = int(&job["status"]["succeeded"]);
    match job["spec"]["completions"].as_i64() {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int(&job["spec"]["parallelism"]);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    }
}

fn job_duration(job: &Value) -> String {
    let start = &job["status"]["startTime"];
    let Some(since_start) = age_secs(start) else {
        return String::new();
    };
    match age_secs(&job["status"]["completionTime"]) {
        None => human_duration(since_start),
        Some(since_end) => human_duration(since_start - since_end),
    }
}

/// The cells of one workload row.
pub fn cells(kind: &str, obj: &Value) -> Vec<Value> {
    let spec = &obj["spec"];
    let status = &obj["status"];
    let mut row = vec![json!(obj["metadata"]["name"].as_str().unwrap_or_default())];
    match kind {
        "Deployment" => row.extend([
            json!(format!(
                "{}/{}",
                int(&status["readyReplicas"]),
                int(&spec["replicas"])
            )),
            json!(int(&status["updatedReplicas"])),
            json!(int(&status["availableReplicas"])),
        ]),
        "ReplicaSet" => row.extend([
            json!(int(&spec["replicas"])),
            json!(int(&status["replicas"])),
            json!(int(&status["readyReplicas"])),
        ]),
        _ => row.extend([
            json!(job_status(obj)),
            json!(job_completions(obj)),
            json!(job_duration(obj)),
        ]),
    }
    row.push(json!(age(&obj["metadata"]["creationTimestamp"])));
    let containers = spec["template"]["spec"]["containers"].as_array();
    let field = |key: &str| {
        containers
            .into_iter()
            .flatten()
            .map(|c| c[key].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    };
    let selector = match label_selector::to_string(&spec["selector"]) {
        s if s.is_empty() => "<none>".to_string(),
        s => s,
    };
    row.extend([json!(field("name")), json!(field("image")), json!(selector)]);
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_like_kubectl() {
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "busybox", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let c = cells("Deployment", &d);
        assert_eq!(&c[..4], &[json!("web"), json!("2/3"), json!(3), json!(2)]);
        assert_eq!(c[7], "app=web");
        let j = json!({"metadata": {"name": "pi"}, "spec": {"completions": 3},
            "status": {"succeeded": 3, "conditions": [{"type": "Complete", "status": "True"}]}});
        let c = cells("Job", &j);
        assert_eq!(&c[..3], &[json!("pi"), json!("Complete"), json!("3/3")]);
        assert_eq!(columns("Job", json!("n"), json!("a")).len(), c.len());
    }
}
