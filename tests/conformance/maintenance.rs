//! Mesos maintenance drains an agent (issue 18): a window posted to the
//! master for the agent's machine cordons its Node, evicts the pod of a
//! ReplicaSet (its replacement cannot go there: "node(s) were
//! unschedulable"), names the bare pod in a Warning on the Node and
//! declines the inverse offer; once the bare pod is deleted the inverse
//! offer is accepted; removing the schedule uncordons the Node and the
//! replacement runs.
//!
//! One agent: real Mesos' `mesos-local` gives every agent the same
//! hostname and IP, i.e. one machine, so a second agent would be drained
//! with the first.

use serde_json::{json, Value};

use crate::cluster::{Cluster, FrameworkSpec, WAIT};
use crate::mesos::Flavor;
use crate::scenarios::hello;
use crate::support::{http_request, uid_of, wait_for};

const NODE: &str = "127.0.0.1";

/// A budget over [`replica_set`]'s pod that allows no disruption.
pub const WEB_PDB: &str = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web-pdb
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: web
";

/// The Warning a refused eviction leaves (the drain's and the kept pods'
/// alike: retried every 5 s), once there is one — on the pod with `uid`
/// when given.
pub fn eviction_blocked(cluster: &Cluster, uid: Option<&Value>) -> Option<Value> {
    let out = cluster.kubectl_ok(&["get", "events", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).ok()?;
    list["items"]
        .as_array()?
        .iter()
        .find(|e| {
            e["reason"] == "EvictionBlocked"
                && e["type"] == "Warning"
                && uid.is_none_or(|uid| e["involvedObject"]["uid"] == *uid)
                && e["message"].as_str().is_some_and(|m| {
                    m.contains("will retry after 5s")
                        && m.contains("would violate the pod's disruption budget")
                })
        })
        .cloned()
}

pub fn replica_set() -> String {
    let pod = hello("web");
    // The pod template is the hello pod's spec, indented under template.
    let spec: String = pod
        .split_once("spec:\n")
        .map(|(_, s)| s)
        .unwrap_or_default()
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    format!(
        "apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
{spec}"
    )
}

fn post(cluster: &Cluster, path: &str, body: &Value) {
    let (code, answer) = http_request(
        &cluster.mesos.url(),
        "POST",
        path,
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
    .unwrap_or_else(|| panic!("POST {path} failed\n{}", cluster.diagnostics()));
    assert_eq!(code, 200, "POST {path}: {answer}");
}

fn web_pods(cluster: &Cluster) -> Vec<Value> {
    let out = cluster.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap_or_default();
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The one pod of the ReplicaSet, if there is exactly one.
fn web_pod(cluster: &Cluster) -> Option<Value> {
    let pods = web_pods(cluster);
    let [pod] = pods.as_slice() else {
        return None;
    };
    Some(pod.clone())
}

/// Posts a maintenance window for `machine` starting in ten minutes (within
/// the default horizon), for `duration_nanos` or without end.
fn post_window(cluster: &Cluster, machine: &Value, duration_nanos: Option<i64>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    let mut unavailability = json!({"start": {"nanoseconds": now + 600_000_000_000i64}});
    if let Some(d) = duration_nanos {
        unavailability["duration"] = json!({ "nanoseconds": d });
    }
    post(
        cluster,
        "/master/maintenance/schedule",
        &json!({"windows": [{"machine_ids": [machine], "unavailability": unavailability}]}),
    );
}

fn node(cluster: &Cluster) -> Value {
    serde_json::from_str(&cluster.kubectl_ok(&["get", "node", NODE, "-o", "json"]))
        .unwrap_or_default()
}

fn cordoned(node: &Value) -> bool {
    node["spec"]["unschedulable"] == true
        && !node["metadata"]["annotations"]["kube-mesos.io/maintenance-cordoned"].is_null()
        && node["spec"]["taints"].as_array().is_some_and(|ts| {
            ts.iter()
                .any(|t| t["key"] == "node.kubernetes.io/unschedulable")
        })
}

/// The answers in `GET_MAINTENANCE_STATUS` (and `/master/maintenance/status`,
/// which must agree).
fn answers(cluster: &Cluster) -> Vec<String> {
    let v1 = cluster.mesos.operator("GET_MAINTENANCE_STATUS");
    let old = cluster.mesos.get("/master/maintenance/status");
    assert_eq!(
        v1["get_maintenance_status"]["status"], old,
        "the two status endpoints agree"
    );
    old["draining_machines"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["statuses"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["status"].as_str().map(str::to_owned))
        .collect()
}

pub fn maintenance_drains_the_agent(flavor: Flavor) {
    let cluster = Cluster::start(flavor, |spec| spec, FrameworkSpec::default());
    cluster.wait_framework_subscribed();
    cluster.apply(&replica_set());
    cluster.apply(&hello("bare"));
    cluster.wait_running("bare");
    let first = wait_for(
        "the ReplicaSet's pod Running",
        WAIT,
        || {
            let pods = web_pods(&cluster);
            let pod = pods.first()?;
            (pod["status"]["phase"] == "Running").then(|| uid_of(pod))
        },
        || cluster.diagnostics(),
    );

    // A window in ten minutes, for an hour: within the default horizon.
    let machine = json!({"hostname": NODE, "ip": "127.0.0.1"});
    post_window(&cluster, &machine, Some(3_600_000_000_000));

    wait_for(
        "the Node cordoned",
        WAIT,
        || cordoned(&node(&cluster)).then_some(()),
        || cluster.diagnostics(),
    );
    // The ReplicaSet's pod is evicted; its replacement cannot go to the
    // cordoned Node.
    wait_for(
        "the ReplicaSet's pod replaced and unschedulable",
        WAIT,
        || {
            let pod = web_pod(&cluster)?;
            let scheduled = pod["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "PodScheduled")?;
            (uid_of(&pod) != first
                && scheduled["status"] == "False"
                && scheduled["message"]
                    .as_str()?
                    .contains("node(s) were unschedulable"))
            .then_some(())
        },
        || cluster.diagnostics(),
    );
    let events = |reason: &str| -> Vec<Value> {
        let out = cluster.kubectl_ok(&["get", "events", "-A", "-o", "json"]);
        let list: Value = serde_json::from_str(&out).unwrap_or_default();
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["reason"] == reason)
            .cloned()
            .collect()
    };
    // The status page shows the agent draining, with the pod that cannot
    // move.
    wait_for(
        "the status page showing the agent draining",
        WAIT,
        || {
            let status = cluster.framework_status()?;
            let agent = status["core"]["agents"]
                .as_array()?
                .iter()
                .find(|a| a["node"] == NODE)?
                .clone();
            let state = agent["maintenance"].as_str()?.to_owned();
            (state.starts_with("draining") && state.contains("1 cannot move yet")).then_some(())
        },
        || {
            format!(
                "{:#}\n{}",
                cluster.framework_status().unwrap_or_default(),
                cluster.diagnostics()
            )
        },
    );
    let declined = wait_for(
        "a Warning on the Node naming the bare pod",
        WAIT,
        || {
            events("MaintenanceDeclined").into_iter().find(|e| {
                e["involvedObject"]["kind"] == "Node"
                    && e["involvedObject"]["name"] == NODE
                    && e["type"] == "Warning"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("default/bare"))
            })
        },
        || cluster.diagnostics(),
    );
    assert!(
        !declined["message"].as_str().unwrap_or("").contains("web-"),
        "the evicted pod is not named: {declined:#}"
    );
    wait_for(
        "the inverse offer declined in the maintenance status",
        WAIT,
        || {
            answers(&cluster)
                .contains(&"DECLINE".to_owned())
                .then_some(())
        },
        || cluster.diagnostics(),
    );
    assert!(
        !events("Evicted").is_empty(),
        "an Evicted event on the ReplicaSet's pod"
    );

    // Nothing of ours left: the next inverse offer is accepted.
    cluster.kubectl_ok(&["delete", "pod", "bare", "--wait=false"]);
    cluster.wait_gone("bare");
    wait_for(
        "the inverse offer accepted",
        WAIT,
        || (answers(&cluster) == ["ACCEPT"]).then_some(()),
        || cluster.diagnostics(),
    );

    // The schedule removed: uncordoned, and the replacement runs there.
    post(
        &cluster,
        "/master/maintenance/schedule",
        &json!({"windows": []}),
    );
    wait_for(
        "the Node uncordoned",
        WAIT,
        || {
            let n = node(&cluster);
            (n["spec"]["unschedulable"] != true
                && n["metadata"]["annotations"]["kube-mesos.io/maintenance-cordoned"].is_null()
                && !n["spec"]["taints"].as_array().is_some_and(|ts| {
                    ts.iter()
                        .any(|t| t["key"] == "node.kubernetes.io/unschedulable")
                }))
            .then_some(())
        },
        || cluster.diagnostics(),
    );
    wait_for(
        "the replacement Running",
        WAIT,
        || {
            let pod = web_pod(&cluster)?;
            (uid_of(&pod) != first && pod["status"]["phase"] == "Running").then_some(())
        },
        || cluster.diagnostics(),
    );
    assert!(
        cluster.mesos.get("/master/maintenance/status")["draining_machines"].is_null(),
        "no machine left in maintenance"
    );
}

/// Two machines (devcluster agents with hostnames of their own): the pods
/// on agent-a's machine move to agent-b when agent-a's maintenance is
/// posted, and START/STOP_MAINTENANCE take agent-a down and up again.
pub fn maintenance_moves_pods_to_another_agent(flavor: Flavor) {
    let cluster = Cluster::start(
        flavor,
        |mut spec| {
            // This cluster's range for agent-a; agent-b takes the next
            // hundred (agent_ports' layout), so the two executors' kubelet
            // ports differ.
            let range = spec
                .resources
                .split("ports:[")
                .nth(1)
                .and_then(|r| r.trim_end_matches(']').split_once('-'))
                .and_then(|(f, l)| Some((f.parse::<u32>().ok()?, l.parse::<u32>().ok()?)))
                .expect("the agent's port range");
            let (a, b) = (range, (range.0 + 100, range.1 + 100));
            spec.agents = 2;
            spec.flags.insert(
                "KUBE_MESOS_AGENT_HOSTNAMES".into(),
                "agent-a,agent-b".into(),
            );
            spec.flags.insert(
                "KUBE_MESOS_AGENT_RESOURCES".into(),
                format!(
                    "cpus:2;mem:2048;disk:4096;ports:[{}-{}]|cpus:2;mem:2048;disk:4096;ports:[{}-{}]",
                    a.0, a.1, b.0, b.1
                ),
            );
            spec.flags.insert(
                "KUBE_MESOS_AGENT_EXECUTOR_ROOTS".into(),
                "executor-roots".into(),
            );
            spec
        },
        FrameworkSpec {
            executor_root_per_agent: true,
            ..FrameworkSpec::default()
        },
    );
    cluster.wait_framework_subscribed();
    wait_for(
        "both Nodes",
        WAIT,
        || {
            let (ok, _, _) = cluster.kubectl(&["get", "node", "agent-b"]);
            ok.then_some(())
        },
        || cluster.diagnostics(),
    );
    // The operator keeps agent-b free while the pods start on agent-a.
    cluster.kubectl_ok(&["cordon", "agent-b"]);
    cluster.apply(&replica_set());
    let first = wait_for(
        "the ReplicaSet's pod Running on agent-a",
        WAIT,
        || {
            let pods = web_pods(&cluster);
            let pod = pods.first()?;
            (pod["status"]["phase"] == "Running" && pod["spec"]["nodeName"] == "agent-a")
                .then(|| uid_of(pod))
        },
        || cluster.diagnostics(),
    );
    cluster.kubectl_ok(&["uncordon", "agent-b"]);

    // A budget that allows no disruption holds the eviction back (429,
    // retried every 5 s) until the operator deletes it.
    cluster.apply(WEB_PDB);
    let machine = json!({"hostname": "agent-a", "ip": "127.0.0.1"});
    post_window(&cluster, &machine, None);
    wait_for(
        "the eviction blocked by the disruption budget, said on the pod",
        WAIT,
        || eviction_blocked(&cluster, None),
        || cluster.diagnostics(),
    );
    let still = web_pod(&cluster).expect("the ReplicaSet's pod");
    assert_eq!(uid_of(&still), first, "not evicted while the budget holds");
    // kubectl describe lists only the events whose involvedObject has the
    // pod's UID.
    let described = cluster.kubectl_ok(&[
        "describe",
        "pod",
        still["metadata"]["name"].as_str().unwrap_or_default(),
    ]);
    assert!(
        described.contains("EvictionBlocked"),
        "the drain's events show in kubectl describe pod:\n{described}"
    );
    cluster.kubectl_ok(&["delete", "pdb", "web-pdb"]);
    wait_for(
        "the replacement Running on agent-b and the inverse offer accepted",
        WAIT,
        || {
            let pod = web_pod(&cluster)?;
            (uid_of(&pod) != first
                && pod["spec"]["nodeName"] == "agent-b"
                && pod["status"]["phase"] == "Running"
                && answers(&cluster) == ["ACCEPT"])
            .then_some(())
        },
        || cluster.diagnostics(),
    );
    let a: Value =
        serde_json::from_str(&cluster.kubectl_ok(&["get", "node", "agent-a", "-o", "json"]))
            .unwrap_or_default();
    assert!(cordoned(&a), "agent-a cordoned: {a:#}");

    // The schedule removed: agent-a uncordoned.
    post(
        &cluster,
        "/master/maintenance/schedule",
        &json!({"windows": []}),
    );
    wait_for(
        "agent-a uncordoned",
        WAIT,
        || {
            let (ok, out, _) = cluster.kubectl(&["get", "node", "agent-a", "-o", "json"]);
            let n: Value = serde_json::from_str(&out).ok()?;
            (ok && n["spec"]["unschedulable"] != true).then_some(())
        },
        || cluster.diagnostics(),
    );

    // Scheduled again, then down and up: the machine's agent is shut down
    // and removed (the master lists one agent), STOP takes the machine out
    // of the schedule.
    post_window(&cluster, &machine, None);
    let call = |ty: &str| json!({"type": ty, ty.to_ascii_lowercase(): {"machines": [machine]}});
    post(&cluster, "/api/v1", &call("START_MAINTENANCE"));
    let status = cluster.mesos.get("/master/maintenance/status");
    assert_eq!(status["down_machines"][0]["hostname"], "agent-a");
    let agents = cluster.mesos.operator("GET_AGENTS");
    assert_eq!(
        agents["get_agents"]["agents"].as_array().map(Vec::len),
        Some(1),
        "{agents:#}"
    );
    post(&cluster, "/api/v1", &call("STOP_MAINTENANCE"));
    assert_eq!(
        cluster.mesos.operator("GET_MAINTENANCE_SCHEDULE")["get_maintenance_schedule"]["schedule"],
        json!({})
    );
}
