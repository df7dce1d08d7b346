//! The scenarios, each a function of the flavor. Expectations are what
//! Apache Mesos 1.11 does; the devcluster must do the same.

use serde_json::Value;

use crate::cluster::{Cluster, FrameworkSpec};
use crate::mesos::Flavor;
use crate::support::{uid_of, wait_for};

/// A pod like `examples/hello.yaml`: greets, then ticks; exits on TERM.
fn hello(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c"]
    args:
    - |
      trap 'echo bye; exit 0' TERM
      echo "hello from {name}"
      while true; do sleep 1 & wait $!; done
    resources:
      requests:
        cpu: 100m
        memory: 32Mi
"#
    )
}

/// The states of a v1 `Task`'s status history.
fn state_history(task: &Value) -> Vec<String> {
    task["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["state"].as_str().map(str::to_owned))
        .collect()
}

fn the_task(cluster: &Cluster, uid: &str) -> Value {
    let tasks = cluster.tasks_of(uid);
    assert_eq!(
        tasks.len(),
        1,
        "exactly one Mesos task for pod {uid} on {}: {tasks:#?}\n{}",
        cluster.flavor.name(),
        cluster.diagnostics()
    );
    tasks.into_iter().next().expect("one task")
}

/// Subscribe, offer, ACCEPT with LAUNCH, executor SUBSCRIBE, TASK_STARTING
/// and TASK_RUNNING, a Running pod whose logs kubectl reads; then delete:
/// KILL, TASK_KILLING, TASK_KILLED, and the pod's processes gone.
pub fn pod_runs_logs_and_is_killed(flavor: Flavor) {
    let cluster = Cluster::start(flavor, None, FrameworkSpec::default());
    let framework_id = cluster.wait_framework_subscribed();
    cluster.apply(&hello("hello"));
    let pod = cluster.wait_running("hello");
    let uid = uid_of(&pod);
    assert_eq!(pod["spec"]["nodeName"], "127.0.0.1");

    let logs = wait_for(
        "kubectl logs hello",
        crate::cluster::WAIT,
        || {
            let (ok, out, _) = cluster.kubectl(&["logs", "hello"]);
            (ok && out.contains("hello from hello")).then_some(out)
        },
        || cluster.diagnostics(),
    );
    assert!(logs.starts_with("hello from hello"), "{logs}");

    let task = the_task(&cluster, &uid);
    assert_eq!(task["state"], "TASK_RUNNING");
    assert_eq!(task["framework_id"]["value"], framework_id.as_str());
    assert_eq!(
        state_history(&task),
        ["TASK_STARTING", "TASK_RUNNING"],
        "{task:#}"
    );
    let executor = task["executor_id"]["value"].as_str().unwrap_or_default();
    assert!(executor.starts_with("kube-mesos-"), "{task:#}");
    assert!(
        !cluster.pod_processes().is_empty(),
        "the pod's processes run\n{}",
        cluster.diagnostics()
    );

    cluster.kubectl_ok(&["delete", "pod", "hello", "--wait=false"]);
    cluster.wait_gone("hello");
    let task = wait_for(
        "the task to be killed",
        crate::cluster::WAIT,
        || {
            let task = the_task(&cluster, &uid);
            (task["state"] == "TASK_KILLED").then_some(task)
        },
        || cluster.diagnostics(),
    );
    assert_eq!(
        state_history(&task),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"],
        "{task:#}"
    );
    wait_for(
        "the pod's processes to be gone",
        crate::cluster::WAIT,
        || cluster.pod_processes().is_empty().then_some(()),
        || cluster.diagnostics(),
    );
}
