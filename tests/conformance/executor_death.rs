//! What a pod goes through when its executor dies (issue 19), the same on
//! both flavors. The Mesos agent destroys an exited executor's container —
//! the POSIX launcher kills its process tree, groups and sessions — and
//! fails its tasks from `SOURCE_AGENT` with `REASON_EXECUTOR_TERMINATED`.
//! The framework relaunches each pod as the next generation of its task
//! (`pod.<uid>.1`) on the same agent, and the new executor reports what the
//! pod went through:
//! - process runtime, `restartPolicy: Always`: the processes died with the
//!   executor; the container is restarted (restart count 1, last state
//!   `ExecutorLost`) with an `ExecutorLost` event;
//! - process runtime, `Never`: the pod ends `Failed`, its container
//!   terminated `ExecutorLost`, nothing ready;
//! - CRI: the containers live on under containerd; the new executor takes
//!   them over, nothing restarts.
//!
//! Throughout, every poll checks the pod against the kubelet's invariants
//! ([`assert_consistent`]): never a `Failed` pod with a ready or running
//! container.

use serde_json::Value;

use crate::cluster::{Cluster, FrameworkSpec, WAIT};
use crate::cri::Cri;
use crate::mesos::Flavor;
use crate::scenarios::{hello, hello_with, state_history};
use crate::support::{kill_pid, uid_of, wait_for};

/// The status invariants the kubelet's status manager keeps: a terminal
/// pod has `Ready` false and no container ready or running; a `Ready` pod
/// has every container ready and running.
pub fn assert_consistent(pod: &Value, context: &dyn Fn() -> String) {
    let status = &pod["status"];
    let phase = status["phase"].as_str().unwrap_or_default();
    let containers: Vec<&Value> = status["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let condition = |t: &str| {
        status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == t)
            .and_then(|c| c["status"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    if matches!(phase, "Failed" | "Succeeded") {
        for c in &containers {
            assert!(
                c["ready"] != true && c["state"].get("running").is_none(),
                "a {phase} pod with a ready or running container: {c:#}\n{}",
                context()
            );
        }
        assert_ne!(
            condition("Ready"),
            "True",
            "a {phase} pod that is Ready\n{}",
            context()
        );
    }
    if condition("Ready") == "True" {
        assert_eq!(
            phase,
            "Running",
            "a Ready pod that is {phase}\n{}",
            context()
        );
        for c in &containers {
            assert!(
                c["ready"] == true && c["state"].get("running").is_some(),
                "a Ready pod with a container not ready or not running: {c:#}\n{}",
                context()
            );
        }
    }
}

/// The pod, checked for consistency.
fn checked_pod(cluster: &Cluster, name: &str) -> Option<Value> {
    let pod = cluster.pod(name)?;
    assert_consistent(&pod, &|| cluster.diagnostics());
    Some(pod)
}

fn container(pod: &Value) -> &Value {
    &pod["status"]["containerStatuses"][0]
}

/// The last status of a v1 `Task`.
fn last_status(task: &Value) -> Value {
    task["statuses"]
        .as_array()
        .and_then(|s| s.last())
        .cloned()
        .unwrap_or_default()
}

/// Events of pod `name`: (type, reason, message).
fn events_of(cluster: &Cluster, name: &str) -> Vec<(String, String, String)> {
    let out = cluster.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_str(&out).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("type"), s("reason"), s("message"))
        })
        .collect()
}

/// Kills the only executor with SIGKILL and waits until the agent failed
/// the pod's first task as a real Mesos agent does; returns that task.
fn kill_the_executor(cluster: &Cluster, name: &str, uid: &str) -> Value {
    let executors = cluster.executor_processes();
    assert_eq!(executors.len(), 1, "one executor runs: {executors:?}");
    kill_pid(executors[0]);
    let task = wait_for(
        "the pod's task to fail",
        WAIT,
        || {
            checked_pod(cluster, name);
            cluster
                .task_of(uid, 0)
                .filter(|t| t["state"] == "TASK_FAILED")
        },
        || cluster.diagnostics(),
    );
    let last = last_status(&task);
    assert_eq!(last["source"], "SOURCE_AGENT", "{task:#}");
    assert_eq!(last["reason"], "REASON_EXECUTOR_TERMINATED", "{task:#}");
    assert_eq!(last["message"], "Executor terminated", "{task:#}");
    task
}

/// Waits for the pod's relaunched task (`pod.<uid>.1`) to reach `state`.
fn relaunched_task(cluster: &Cluster, name: &str, uid: &str, state: &str) -> Value {
    wait_for(
        &format!("the pod's relaunched task to be {state}"),
        WAIT,
        || {
            checked_pod(cluster, name);
            cluster.task_of(uid, 1).filter(|t| t["state"] == state)
        },
        || cluster.diagnostics(),
    )
}

/// The pod's executor killed with SIGKILL while its (process-runtime,
/// `restartPolicy: Always`) pod runs. The agent destroys the executor's
/// container — its whole process tree, the pod's processes included — and
/// fails the task from `SOURCE_AGENT` with `REASON_EXECUTOR_TERMINATED`.
/// The pod is relaunched on a new executor of the same agent, which
/// restarts its lost container and says why.
pub fn executor_killed_fails_its_tasks_from_the_agent(flavor: Flavor) {
    let cluster = Cluster::plain(flavor);
    cluster.wait_framework_subscribed();
    cluster.apply(&hello("victim"));
    let before = cluster.wait_running("victim");
    let uid = uid_of(&before);
    let shells = cluster.pod_shells();
    assert_eq!(shells.len(), 1, "the pod's shell runs: {shells:?}");

    let failed = kill_the_executor(&cluster, "victim", &uid);
    wait_for(
        "the killed executor's pod processes to be gone",
        WAIT,
        || {
            let left = cluster.pod_processes();
            shells.iter().all(|p| !left.contains(p)).then_some(())
        },
        || cluster.diagnostics(),
    );

    let task = relaunched_task(&cluster, "victim", &uid, "TASK_RUNNING");
    assert_eq!(
        task["executor_id"], failed["executor_id"],
        "the same executor configuration, relaunched"
    );
    let pod = wait_for(
        "victim to run again, restarted once",
        WAIT,
        || {
            let pod = checked_pod(&cluster, "victim")?;
            let ready = container(&pod)["ready"] == true;
            (container(&pod)["restartCount"] == 1 && ready).then_some(pod)
        },
        || cluster.diagnostics(),
    );
    assert_eq!(pod["status"]["phase"], "Running", "{pod:#}");
    let last = &container(&pod)["lastState"]["terminated"];
    assert_eq!(last["reason"], "ExecutorLost", "{pod:#}");
    assert!(
        last["message"]
            .as_str()
            .unwrap_or_default()
            .contains("REASON_EXECUTOR_TERMINATED"),
        "{pod:#}"
    );
    let now = cluster.pod_shells();
    assert!(
        !now.is_empty() && now.iter().all(|p| !shells.contains(p)),
        "a new shell runs: {now:?} (was {shells:?})"
    );
    let events = events_of(&cluster, "victim");
    assert!(
        events.iter().any(|(t, r, m)| t == "Warning"
            && r == "ExecutorLost"
            && m.contains("Container main was lost with the pod's executor")
            && m.ends_with("restarting it")),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|(_, r, m)| r == "Relaunched"
            && m.contains(&format!("pod.{uid}.1"))
            && m.contains("after its executor was lost")),
        "{events:#?}"
    );
    // Two tasks: the failed one and its relaunch; no other.
    assert_eq!(cluster.tasks_of(&uid).len(), 2, "{:#?}", cluster.tasks());
}

/// The same kill with `restartPolicy: Never`: the pod cannot restart its
/// container, so it ends `Failed` with the container terminated
/// `ExecutorLost` and nothing ready, reported by the relaunched executor.
pub fn executor_killed_fails_a_never_pod_honestly(flavor: Flavor) {
    let cluster = Cluster::plain(flavor);
    cluster.wait_framework_subscribed();
    cluster.apply(&hello_with("once", "Never"));
    let uid = uid_of(&cluster.wait_running("once"));

    kill_the_executor(&cluster, "once", &uid);
    let pod = wait_for(
        "once to fail",
        WAIT,
        || checked_pod(&cluster, "once").filter(|p| p["status"]["phase"] == "Failed"),
        || cluster.diagnostics(),
    );
    let c = container(&pod);
    assert_eq!(c["ready"], false, "{pod:#}");
    assert_eq!(c["restartCount"], 0, "{pod:#}");
    let t = &c["state"]["terminated"];
    assert_eq!(t["reason"], "ExecutorLost", "{pod:#}");
    assert!(
        t["message"]
            .as_str()
            .unwrap_or_default()
            .contains("REASON_EXECUTOR_TERMINATED"),
        "{pod:#}"
    );
    let task = relaunched_task(&cluster, "once", &uid, "TASK_FAILED");
    assert_eq!(last_status(&task)["source"], "SOURCE_EXECUTOR", "{task:#}");
    // What a user sees.
    let row = cluster.kubectl_ok(&["get", "pod", "once", "--no-headers"]);
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols.get(1..3), Some(&["0/1", "ExecutorLost"][..]), "{row}");
}

/// The same kill under the CRI runtime: the containers run under
/// containerd, outside the executor's container, and outlive it. The pod
/// stays Running throughout; the relaunched executor takes the very same
/// containers over, and nothing restarts.
pub fn executor_killed_leaves_cri_pods_running(flavor: Flavor) {
    let cri = Cri::start();
    let cluster = Cluster::start(
        flavor,
        |spec| spec,
        FrameworkSpec {
            executor_env: cri.executor_env(),
            ..FrameworkSpec::default()
        },
    );
    let diagnostics = || {
        format!(
            "{}\n--- containerd ---\n{}",
            cluster.diagnostics(),
            cri.diagnostics()
        )
    };
    cluster.wait_framework_subscribed();
    cluster.apply(&hello("steady"));
    let before = cluster.wait_running("steady");
    let uid = uid_of(&before);
    let tasks_before = cri.tasks();
    assert!(
        tasks_before
            .values()
            .filter(|(_, s)| s == "RUNNING")
            .count()
            >= 2,
        "the sandbox and the container run: {tasks_before:?}"
    );

    kill_the_executor(&cluster, "steady", &uid);
    assert_eq!(cri.tasks(), tasks_before, "containerd's tasks live on");
    let running_throughout = |pod: &Value| {
        assert_eq!(
            pod["status"]["phase"],
            "Running",
            "{pod:#}\n{}",
            diagnostics()
        );
        assert_eq!(
            container(pod)["containerID"],
            container(&before)["containerID"],
            "{pod:#}"
        );
    };
    wait_for(
        "the relaunched task to run",
        WAIT,
        || {
            running_throughout(&checked_pod(&cluster, "steady")?);
            cluster
                .task_of(&uid, 1)
                .filter(|t| t["state"] == "TASK_RUNNING")
        },
        diagnostics,
    );
    let after = cluster.wait_running("steady");
    running_throughout(&after);
    assert_eq!(container(&after)["restartCount"], 0, "{after:#}");
    assert_eq!(
        container(&after)["state"],
        container(&before)["state"],
        "the same container, started at the same time"
    );
    assert_eq!(
        cri.tasks(),
        tasks_before,
        "the same containerd tasks, same pids"
    );
    let logs = cluster.kubectl_ok(&["logs", "steady"]);
    assert!(logs.starts_with("hello from steady"), "{logs}");
    let history = state_history(&cluster.task_of(&uid, 1).expect("the relaunched task"));
    assert_eq!(history, ["TASK_STARTING", "TASK_RUNNING"]);
}

/// Whether the master lists the task among its completed tasks: its
/// terminal update was acknowledged, and the agent has forgotten it.
fn completed(cluster: &Cluster, id: &str) -> bool {
    cluster.mesos.operator("GET_TASKS")["get_tasks"]["completed_tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["task_id"]["value"] == id)
}

/// The framework killed during the agent's back-off, after it had
/// acknowledged the failure of the pod's task (issue 14, found by the
/// soak): Mesos has forgotten the task, and the restarted framework's
/// reconciliation of it answers TASK_GONE. The pod, `restartPolicy:
/// Always`, only waited for its relaunch, which the first framework had
/// recorded on it: the restarted framework relaunches it, it does not fail
/// it `NodeLost`.
pub fn framework_killed_during_a_relaunch_back_off_resumes_it(flavor: Flavor) {
    let mut cluster = Cluster::plain(flavor);
    cluster.wait_framework_subscribed();
    cluster.apply(&hello("victim"));
    let uid = uid_of(&cluster.wait_running("victim"));
    kill_the_executor(&cluster, "victim", &uid);
    let first = kube_mesos_node::task::task_id(&uid, 0);
    wait_for(
        "the failure to be acknowledged",
        WAIT,
        || completed(&cluster, &first).then_some(()),
        || cluster.diagnostics(),
    );
    wait_for(
        "the relaunch to be recorded on the pod",
        WAIT,
        || {
            let pod = cluster.pod("victim")?;
            (pod["metadata"]["annotations"]["kube-mesos.io/relaunch-of"] == first.as_str())
                .then_some(())
        },
        || cluster.diagnostics(),
    );
    cluster.kill_framework();
    assert!(
        cluster.task_of(&uid, 1).is_none(),
        "killed within the 10 s back-off, before the relaunch: {:#?}",
        cluster.tasks_of(&uid)
    );
    cluster.start_framework();
    cluster.wait_framework_subscribed();
    relaunched_task(&cluster, "victim", &uid, "TASK_RUNNING");
    let pod = wait_for(
        "victim to run again",
        WAIT,
        || {
            let pod = checked_pod(&cluster, "victim")?;
            (container(&pod)["ready"] == true).then_some(pod)
        },
        || cluster.diagnostics(),
    );
    assert_eq!(pod["status"]["phase"], "Running", "{pod:#}");
    let events = events_of(&cluster, "victim");
    assert!(
        !events.iter().any(|(_, r, _)| r == "NodeLost"),
        "{events:#?}"
    );
    assert_eq!(cluster.tasks_of(&uid).len(), 2, "{:#?}", cluster.tasks());
}
