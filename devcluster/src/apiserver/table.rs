//! Server-side printing: `meta.k8s.io/v1` Table responses, as kubectl asks
//! for them (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! Pods and nodes port kube-apiserver's printers
//! (`pkg/printers/internalversion/printers.go`: `printPod`, `printNode`), so
//! `kubectl get` shows the same STATUS strings it shows against a real
//! cluster. Other kinds use their registered columns where cheap, else the
//! default convertor (Name, Created At).

use serde_json::{json, Value};

use super::meta::age;
use super::resources::ResourceType;
use super::{workload_table, workloads};

/// What each row carries in `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses the query parameter (default Metadata).
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

fn col(name: &str, ty: &str, format: &str, priority: i32, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// Column definitions for a resource.
pub fn columns(rt: &ResourceType) -> Vec<Value> {
    let name = col("Name", "string", "name", 0, NAME_DOC);
    let age_col = col("Age", "string", "", 0, AGE_DOC);
    match (rt.group, rt.kind) {
        ("", "Pod") => vec![
            name,
            col("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
            col("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
            col("Restarts", "string", "", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
            age_col,
            col("IP", "string", "", 1, "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
            col("Node", "string", "", 1, "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"),
            col("Nominated Node", "string", "", 1, "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled."),
            col("Readiness Gates", "string", "", 1, "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"),
        ],
        ("", "Node") => vec![
            name,
            col("Status", "string", "", 0, "The status of the node"),
            col("Roles", "string", "", 0, "The roles of the node"),
            age_col,
            col("Version", "string", "", 0, "Kubelet Version reported by the node."),
            col("Internal-IP", "string", "", 1, "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP)."),
            col("External-IP", "string", "", 1, "List of addresses reachable to the node. Queried from cloud provider, if available."),
            col("OS-Image", "string", "", 1, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
            col("Kernel-Version", "string", "", 1, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
            col("Container-Runtime", "string", "", 1, "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
        ],
        (group, kind) if workloads::handles(group, kind) => {
            workload_table::columns(kind, name, age_col)
        }
        ("", "Namespace") => vec![
            name,
            col("Status", "string", "", 0, "The status of the namespace"),
            age_col,
        ],
        ("", "ConfigMap") => vec![
            name,
            col("Data", "string", "", 0, "Data contains the configuration data."),
            age_col,
        ],
        ("", "Secret") => vec![
            name,
            col("Type", "string", "", 0, "Used to facilitate programmatic handling of secret data."),
            col("Data", "string", "", 0, "Data contains the secret data."),
            age_col,
        ],
        ("", "ServiceAccount") => vec![
            name,
            col("Secrets", "string", "", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
            age_col,
        ],
        ("coordination.k8s.io", "Lease") => vec![
            name,
            col("Holder", "string", "", 0, "HolderIdentity contains the identity of the holder of a current lease."),
            age_col,
        ],
        ("scheduling.k8s.io", "PriorityClass") => vec![
            name,
            col("Value", "integer", "", 0, "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec."),
            col("Global-Default", "boolean", "", 0, "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority."),
            age_col,
            col("PreemptionPolicy", "string", "", 0, "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset."),
        ],
        ("policy", "PodDisruptionBudget") => vec![
            name,
            col("Min Available", "string", "", 0, "The minimum number of pods that must be available."),
            col("Max Unavailable", "string", "", 0, "The maximum number of pods that may be unavailable."),
            col("Allowed Disruptions", "integer", "", 0, "Calculated number of pods that may be disrupted at this time."),
            age_col,
        ],
        (_, "Event") => vec![
            col("Last Seen", "string", "", 0, "Time when this Event was last seen"),
            col("Type", "string", "", 0, "Type of this event (Normal, Warning), new types could be added in the future."),
            col("Reason", "string", "", 0, "This should be a short, machine understandable string that gives the reason for this event being generated."),
            col("Object", "string", "", 0, "The object that this event is about."),
            col("Subobject", "string", "", 1, "The subobject that this event is about."),
            col("Source", "string", "", 1, "The component reporting this event. Should be a short machine understandable string."),
            col("Message", "string", "", 0, "A human-readable description of the status of this operation."),
            col("First Seen", "string", "", 1, "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
            col("Count", "string", "", 1, "The number of times this event has occurred."),
            col("Name", "string", "name", 1, NAME_DOC),
        ],
        _ => vec![
            name,
            col("Created At", "date", "", 0, AGE_DOC),
        ],
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn or_none(v: &str) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v.to_string()
    }
}

fn is_restartable_init(c: Option<&Value>) -> bool {
    c.is_some_and(|c| c["restartPolicy"] == "Always")
}

/// `printPod`: the pod's row cells (all columns, wide included).
pub fn pod_cells(pod: &Value) -> Vec<Value> {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let empty = vec![];
    let containers = spec["containers"].as_array().unwrap_or(&empty);
    let init_containers = spec["initContainers"].as_array().unwrap_or(&empty);
    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let mut total = containers.len();
    let mut ready = 0;
    let mut last_restart: Option<String> = None;
    let mut reason = s(&status["phase"]).to_string();
    if !s(&status["reason"]).is_empty() {
        reason = s(&status["reason"]).to_string();
    }
    for c in status["conditions"].as_array().into_iter().flatten() {
        if c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated" {
            reason = "SchedulingGated".into();
        }
    }
    let find_init = |name: &Value| init_containers.iter().find(|c| &c["name"] == name);
    total += init_containers
        .iter()
        .filter(|c| is_restartable_init(Some(c)))
        .count();
    let note_restart = |cs: &Value, last: &mut Option<String>| {
        if let Some(t) = cs["lastState"]["terminated"]["finishedAt"].as_str() {
            if last.as_deref().is_none_or(|l| l < t) {
                *last = Some(t.to_string());
            }
        }
    };
    let mut initializing = false;
    let init_statuses = status["initContainerStatuses"].as_array().unwrap_or(&empty);
    for (i, cs) in init_statuses.iter().enumerate() {
        restarts += cs["restartCount"].as_i64().unwrap_or(0);
        note_restart(cs, &mut last_restart);
        let restartable = is_restartable_init(find_init(&cs["name"]));
        if restartable {
            restartable_init_restarts += cs["restartCount"].as_i64().unwrap_or(0);
        }
        let term = &cs["state"]["terminated"];
        let waiting = &cs["state"]["waiting"];
        if term.is_object() && term["exitCode"].as_i64().unwrap_or(0) == 0 {
            continue;
        }
        if restartable && cs["started"] == true {
            if cs["ready"] == true {
                ready += 1;
            }
            continue;
        }
        if term.is_object() {
            reason = if s(&term["reason"]).is_empty() {
                let sig = term["signal"].as_i64().unwrap_or(0);
                if sig != 0 {
                    format!("Init:Signal:{sig}")
                } else {
                    format!("Init:ExitCode:{}", term["exitCode"].as_i64().unwrap_or(0))
                }
            } else {
                format!("Init:{}", s(&term["reason"]))
            };
        } else if waiting.is_object()
            && !s(&waiting["reason"]).is_empty()
            && s(&waiting["reason"]) != "PodInitializing"
        {
            reason = format!("Init:{}", s(&waiting["reason"]));
        } else {
            reason = format!("Init:{}/{}", i, init_containers.len());
        }
        initializing = true;
        break;
    }
    let initialized = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Initialized" && c["status"] == "True");
    if !initializing || initialized {
        restarts = restartable_init_restarts;
        last_restart = None;
        let mut has_running = false;
        let statuses = status["containerStatuses"].as_array().unwrap_or(&empty);
        for cs in statuses.iter().rev() {
            restarts += cs["restartCount"].as_i64().unwrap_or(0);
            note_restart(cs, &mut last_restart);
            let term = &cs["state"]["terminated"];
            let waiting = &cs["state"]["waiting"];
            if waiting.is_object() && !s(&waiting["reason"]).is_empty() {
                reason = s(&waiting["reason"]).to_string();
            } else if term.is_object() && !s(&term["reason"]).is_empty() {
                reason = s(&term["reason"]).to_string();
            } else if term.is_object() {
                let sig = term["signal"].as_i64().unwrap_or(0);
                reason = if sig != 0 {
                    format!("Signal:{sig}")
                } else {
                    format!("ExitCode:{}", term["exitCode"].as_i64().unwrap_or(0))
                };
            } else if cs["ready"] == true && cs["state"]["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            reason = if pod_ready {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    let deleting = !pod["metadata"]["deletionTimestamp"].is_null();
    let phase = s(&status["phase"]);
    if deleting && s(&status["reason"]) == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }
    let mut restarts_str = restarts.to_string();
    if restarts != 0 {
        if let Some(t) = last_restart {
            restarts_str = format!("{restarts} ({} ago)", age(&json!(t)));
        }
    }
    let pod_ip = status["podIPs"][0]["ip"].as_str().unwrap_or_default();
    let readiness_gates = match spec["readinessGates"].as_array() {
        Some(gates) if !gates.is_empty() => {
            let conds = status["conditions"].as_array().unwrap_or(&empty);
            let true_count = gates
                .iter()
                .filter(|g| {
                    conds
                        .iter()
                        .find(|c| c["type"] == g["conditionType"])
                        .is_some_and(|c| c["status"] == "True")
                })
                .count();
            format!("{}/{}", true_count, gates.len())
        }
        _ => "<none>".into(),
    };
    vec![
        json!(s(&pod["metadata"]["name"])),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_str),
        json!(age(&pod["metadata"]["creationTimestamp"])),
        json!(or_none(pod_ip)),
        json!(or_none(s(&spec["nodeName"]))),
        json!(or_none(s(&status["nominatedNodeName"]))),
        json!(readiness_gates),
    ]
}

fn node_address(node: &Value, ty: &str) -> String {
    node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == ty)
        .map(|a| s(&a["address"]).to_string())
        .unwrap_or_else(|| "<none>".into())
}

/// `printNode`.
pub fn node_cells(node: &Value) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    if let Some(c) = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
    {
        status.push(if c["status"] == "True" {
            "Ready".into()
        } else {
            "NotReady".into()
        });
    }
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if node["spec"]["unschedulable"] == true {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = Vec::new();
    for (k, v) in node["metadata"]["labels"].as_object().into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role.to_string());
            }
        } else if k == "kubernetes.io/role" && !s(v).is_empty() {
            roles.push(s(v).to_string());
        }
    }
    roles.sort();
    roles.dedup();
    let info = &node["status"]["nodeInfo"];
    let unknown = |v: &Value| {
        if s(v).is_empty() {
            "<unknown>".to_string()
        } else {
            s(v).to_string()
        }
    };
    vec![
        json!(s(&node["metadata"]["name"])),
        json!(status.join(",")),
        json!(if roles.is_empty() {
            "<none>".into()
        } else {
            roles.join(",")
        }),
        json!(age(&node["metadata"]["creationTimestamp"])),
        json!(s(&info["kubeletVersion"])),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(unknown(&info["osImage"])),
        json!(unknown(&info["kernelVersion"])),
        json!(unknown(&info["containerRuntimeVersion"])),
    ]
}

fn event_cells(ev: &Value) -> Vec<Value> {
    let io = &ev["involvedObject"];
    let first = if ev["firstTimestamp"].is_string() {
        &ev["firstTimestamp"]
    } else {
        &ev["eventTime"]
    };
    let last = if ev["lastTimestamp"].is_string() {
        &ev["lastTimestamp"]
    } else if ev["series"]["lastObservedTime"].is_string() {
        &ev["series"]["lastObservedTime"]
    } else {
        first
    };
    let count = ev["series"]["count"]
        .as_i64()
        .or_else(|| ev["count"].as_i64())
        .unwrap_or(1);
    let source = if s(&ev["source"]["component"]).is_empty() {
        s(&ev["reportingComponent"]).to_string()
    } else if s(&ev["source"]["host"]).is_empty() {
        s(&ev["source"]["component"]).to_string()
    } else {
        format!(
            "{}, {}",
            s(&ev["source"]["component"]),
            s(&ev["source"]["host"])
        )
    };
    vec![
        json!(age(last)),
        json!(s(&ev["type"])),
        json!(s(&ev["reason"])),
        json!(format!(
            "{}/{}",
            s(&io["kind"]).to_lowercase(),
            s(&io["name"])
        )),
        json!(s(&io["fieldPath"])),
        json!(source),
        json!(s(&ev["message"]).trim()),
        json!(age(first)),
        json!(count),
        json!(s(&ev["metadata"]["name"])),
    ]
}

/// The cells of one object's row (the object is in stored, core form).
pub fn cells(rt: &ResourceType, obj: &Value) -> Vec<Value> {
    let name = json!(s(&obj["metadata"]["name"]));
    let created = &obj["metadata"]["creationTimestamp"];
    let len = |v: &Value| v.as_object().map(|m| m.len()).unwrap_or(0);
    match (rt.group, rt.kind) {
        ("", "Pod") => pod_cells(obj),
        ("", "Node") => node_cells(obj),
        ("", "Namespace") => vec![name, json!(s(&obj["status"]["phase"])), json!(age(created))],
        ("", "ConfigMap") => vec![
            name,
            json!(len(&obj["data"]) + len(&obj["binaryData"])),
            json!(age(created)),
        ],
        ("", "Secret") => vec![
            name,
            json!(s(&obj["type"])),
            json!(len(&obj["data"])),
            json!(age(created)),
        ],
        ("", "ServiceAccount") => vec![
            name,
            json!(obj["secrets"].as_array().map(Vec::len).unwrap_or(0)),
            json!(age(created)),
        ],
        ("coordination.k8s.io", "Lease") => vec![
            name,
            json!(s(&obj["spec"]["holderIdentity"])),
            json!(age(created)),
        ],
        ("scheduling.k8s.io", "PriorityClass") => vec![
            name,
            json!(obj["value"].as_i64().unwrap_or_default()),
            json!(obj["globalDefault"].as_bool().unwrap_or_default()),
            json!(age(created)),
            json!(s(&obj["preemptionPolicy"])),
        ],
        ("policy", "PodDisruptionBudget") => {
            // printPodDisruptionBudget: an int-or-string as given, else N/A.
            let bound = |v: &Value| match v {
                Value::Null => "N/A".to_owned(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            vec![
                name,
                json!(bound(&obj["spec"]["minAvailable"])),
                json!(bound(&obj["spec"]["maxUnavailable"])),
                json!(obj["status"]["disruptionsAllowed"].as_i64().unwrap_or(0)),
                json!(age(created)),
            ]
        }
        (_, "Event") => event_cells(obj),
        (group, kind) if workloads::handles(group, kind) => workload_table::cells(kind, obj),
        _ => vec![name, created.clone()],
    }
}

/// One table row; `shown` is the object in the client's version.
pub fn row(rt: &ResourceType, stored: &Value, shown: &Value, include: IncludeObject) -> Value {
    let mut r = json!({"cells": cells(rt, stored)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            r["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": shown["metadata"],
            });
        }
        IncludeObject::Object => r["object"] = shown.clone(),
    }
    if rt.kind == "Pod" {
        let phase = s(&stored["status"]["phase"]);
        if phase == "Succeeded" || phase == "Failed" {
            r["conditions"] = json!([{"type": "Completed", "status": "True", "reason": phase, "message": format!("The pod has {}", if phase == "Succeeded" { "completed successfully." } else { "failed." })}]);
        }
    }
    r
}

/// A whole Table.
pub fn table(rows: Vec<Value>, columns: Vec<Value>, rv: &str, cont: Option<&str>) -> Value {
    let mut md = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        md["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": md,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_status_strings() {
        let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}});
        assert_eq!(pod_cells(&pending)[2], "Pending");
        let creating = json!({"spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert_eq!(pod_cells(&creating)[2], "ContainerCreating");
        let running = json!({"spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running",
            "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2, "state": {"running": {}}}]}});
        let cells = pod_cells(&running);
        assert_eq!(cells[1], "1/1");
        assert_eq!(cells[2], "Running");
        assert_eq!(cells[3], "2");
        let init = json!({"spec": {"initContainers": [{"name": "i"}, {"name": "j"}], "containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i", "state": {"terminated": {"exitCode": 0}}},
                {"name": "j", "state": {"running": {}}}]}});
        assert_eq!(pod_cells(&init)[2], "Init:1/2");
        let init_err = json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}});
        assert_eq!(pod_cells(&init_err)[2], "Init:Error");
        let terminating = json!({"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}, "spec": {"containers": []}, "status": {"phase": "Running"}});
        assert_eq!(pod_cells(&terminating)[2], "Terminating");
        let crash = json!({"spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running",
            "containerStatuses": [{"name": "c", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(pod_cells(&crash)[2], "CrashLoopBackOff");
        let done = json!({"spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Succeeded",
            "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert_eq!(pod_cells(&done)[2], "Completed");
        let evicted = json!({"spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Failed", "reason": "Evicted"}});
        assert_eq!(pod_cells(&evicted)[2], "Evicted");
    }

    #[test]
    fn node_status_strings() {
        let n = json!({"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.33.0"}}});
        let c = node_cells(&n);
        assert_eq!(c[1], "Ready,SchedulingDisabled");
        assert_eq!(c[2], "control-plane");
        assert_eq!(c[5], "<none>");
        let unknown = json!({"metadata": {"name": "n"}});
        assert_eq!(node_cells(&unknown)[1], "Unknown");
    }
}
