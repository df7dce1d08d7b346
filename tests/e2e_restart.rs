//! End-to-end: `kube-mesos local` restarted on the same data dir.
//!
//! - after `kill -9` the executors and pods keep running; the restart
//!   re-registers the agent (from its checkpoint), resubscribes the
//!   framework with its stored ID and reconciles: the same pods, the same
//!   processes, none duplicated, and new pods still schedule;
//! - after a graceful stop (SIGTERM) nothing keeps running; the restart
//!   finds the Nodes, the framework ID and the pod objects, and reconciles
//!   the stopped pods (they end Failed, not Running).

mod support;

use std::path::Path;
use std::time::Duration;

use support::{example, uid_of, wait_for, Local, Signal, WAIT};

/// Pids of the pod's main `sh` processes (its `sleep` children come and go).
fn shells(local: &Local, sandbox: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = local
        .processes_under(sandbox)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == "sh")
                .unwrap_or(false)
        })
        .collect();
    pids.sort();
    pids
}

/// The framework-ID ConfigMap, in the framework's own namespace
/// (`kube-mesos`, as packaging/kubernetes/ grants it).
fn framework_id(local: &Local) -> String {
    local.kubectl_ok(&[
        "get",
        "configmap",
        "-n",
        "kube-mesos",
        "kube-mesos-framework",
        "-o",
        "json",
    ])
}

#[test]
fn kill_9_and_restart_reconciles_running_pods_without_duplicates() {
    let mut local = Local::start(1, &[]);
    local.kubectl_ok(&["apply", "-f", example("hello.yaml").to_str().unwrap()]);
    local.apply_yaml(
        "second",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: second
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo second; while true; do sleep 5; done"]
"#,
    );
    local.wait_status("hello", "Running", WAIT);
    local.wait_status("second", "Running", WAIT);
    let before_id = framework_id(&local);
    let ready_since = ready_transition(&local);
    let mut sandboxes = Vec::new();
    for name in ["hello", "second"] {
        let uid = uid_of(&local.pod_json(name).expect("pod"));
        let sandbox = local.pod_sandbox(&uid);
        let sh = wait_for(
            &format!("{name}'s shell process"),
            WAIT,
            || Some(shells(&local, &sandbox)).filter(|p| p.len() == 1),
            || local.diagnostics_for(name),
        );
        sandboxes.push((name, uid, sandbox, sh));
    }

    local.kill9();
    // The pods outlive the crash, as they outlive a Mesos agent's.
    for (name, _, sandbox, sh) in &sandboxes {
        assert_eq!(
            &shells(&local, sandbox),
            sh,
            "{name} died with kube-mesos local"
        );
    }
    local.restart();

    assert_eq!(framework_id(&local), before_id, "the framework ID changed");
    // Give reconciliation time to act, then check nothing moved.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        ready_transition(&local),
        ready_since,
        "the Node was Ready throughout; a restart must not say it just turned Ready"
    );
    for (name, uid, sandbox, sh) in &sandboxes {
        local.wait_status(name, "Running", WAIT);
        let pod = local.pod_json(name).expect("pod");
        assert_eq!(&uid_of(&pod), uid);
        assert_eq!(local.pod_restarts(name), Some(0), "{name} was restarted");
        assert_eq!(
            &shells(&local, sandbox),
            sh,
            "{name}'s process was replaced or duplicated"
        );
    }
    let pods = local.kubectl_ok(&["get", "pods", "--no-headers"]);
    assert_eq!(pods.lines().count(), 2, "{pods}");
    // The master rebuilt its task table from the re-registered agent: one
    // running task per pod, nothing launched twice.
    let mut active: Vec<String> = local
        .mesos_tasks()
        .into_iter()
        .filter(|t| t.active)
        .map(|t| format!("{} {}", t.id, t.state))
        .collect();
    active.sort();
    let mut expected: Vec<String> = sandboxes
        .iter()
        .map(|(_, uid, _, _)| format!("pod.{uid} TASK_RUNNING"))
        .collect();
    expected.sort();
    assert_eq!(active, expected);
    let logs = local.kubectl_ok(&["logs", "hello"]);
    assert!(logs.starts_with("hello from kube-mesos"), "{logs}");

    // New pods still schedule.
    local.apply_yaml(
        "after",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: after
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo after the restart; while true; do sleep 5; done"]
"#,
    );
    local.wait_status("after", "Running", WAIT);
}

#[test]
fn a_graceful_stop_leaves_nothing_running_and_a_restart_resumes_the_cluster() {
    let mut local = Local::start(1, &[]);
    local.kubectl_ok(&["apply", "-f", example("hello.yaml").to_str().unwrap()]);
    local.wait_status("hello", "Running", WAIT);
    let uid = uid_of(&local.pod_json("hello").expect("hello"));
    let before_id = framework_id(&local);

    assert!(local.stop(), "kube-mesos local did not exit 0 on SIGTERM");
    let left = local.processes_under(&local.data_dir.clone());
    assert!(left.is_empty(), "processes left after a stop: {left:?}");

    local.restart();
    assert_eq!(framework_id(&local), before_id, "the framework ID changed");
    let nodes = local.kubectl_ok(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.trim(), "node/agent-0");
    // The pod object is still there; its stopped containers are reported,
    // not silently shown as Running.
    let pod = local.pod_json("hello").expect("hello survives a stop");
    assert_eq!(uid_of(&pod), uid);
    wait_for(
        "hello to be reconciled as not running",
        WAIT,
        || {
            let p = local.pod_json("hello")?;
            (p["status"]["phase"] != "Running").then_some(())
        },
        || local.diagnostics_for("hello"),
    );
    local.apply_yaml(
        "after",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: after
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "while true; do sleep 5; done"]
"#,
    );
    local.wait_status("after", "Running", WAIT);
}

#[test]
fn a_second_signal_exits_at_once_and_the_pods_are_found_again() {
    let mut local = Local::start(1, &[]);
    // A pod that ignores TERM keeps the graceful stop busy for its grace
    // period, so the second signal surely comes in the middle of it.
    local.apply_yaml(
        "stubborn",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
"#,
    );
    local.wait_status("hello", "Running", WAIT);
    let uid = uid_of(&local.pod_json("hello").expect("hello"));
    let sandbox = local.pod_sandbox(&uid);
    let sh = wait_for(
        "hello's shell process",
        WAIT,
        || Some(shells(&local, &sandbox)).filter(|p| p.len() == 1),
        || local.diagnostics_for("hello"),
    );

    local.signal(Signal::SIGINT);
    local.wait_line("stopping", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    local.signal(Signal::SIGINT);
    let status = local
        .wait_exit(Duration::from_secs(10))
        .expect("a second Ctrl-C must exit at once");
    assert!(!status.success(), "a forced exit reports failure: {status}");

    // Whatever the interrupted stop had reached (the executor may already
    // have been told to stop its pods), the restart reconciles hello: it
    // runs on in its original process, or it is reported as no longer
    // running — never started a second time.
    local.restart();
    let phase = wait_for(
        "hello to be reconciled",
        WAIT,
        || {
            let pod = local.pod_json("hello")?;
            let phase = pod["status"]["phase"].as_str()?.to_string();
            let running = shells(&local, &sandbox);
            match phase.as_str() {
                "Running" if running == sh => Some(phase),
                "Failed" | "Succeeded" if running.is_empty() => Some(phase),
                _ => None,
            }
        },
        || local.diagnostics_for("hello"),
    );
    std::thread::sleep(Duration::from_secs(3));
    let still = local.pod_json("hello").expect("hello");
    assert_eq!(still["status"]["phase"].as_str(), Some(phase.as_str()));
    let now = shells(&local, &sandbox);
    assert!(
        now.is_empty() || now == sh,
        "hello runs twice: {now:?} (was {sh:?})"
    );
    local.apply_yaml(
        "after",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: after
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "while true; do sleep 5; done"]
"#,
    );
    local.wait_status("after", "Running", WAIT);
}

/// When the Node's Ready condition last changed status.
fn ready_transition(local: &Local) -> String {
    let out = local.kubectl_ok(&[
        "get",
        "node",
        "agent-0",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}",
    ]);
    assert!(!out.trim().is_empty(), "agent-0 has no Ready condition");
    out.trim().to_owned()
}
