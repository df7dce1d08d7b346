//! End-to-end: a pod's life on `kube-mesos local`, seen through kubectl.
//!
//! Each test starts its own `kube-mesos local` (a second or two) on a temp
//! data dir with free ports, so tests do not see each other's pods.

mod support;

use std::time::Duration;

use support::{example, wait_for, Local, WAIT};

#[test]
fn hello_pod_runs_shows_its_logs_and_its_node() {
    let local = Local::start(1, &[]);
    local.kubectl_ok(&["apply", "-f", example("hello.yaml").to_str().unwrap()]);
    local.wait_status("hello", "Running", WAIT);
    let logs = wait_for(
        "kubectl logs hello to show the greeting",
        WAIT,
        || {
            let (ok, out, _) = local.kubectl(&["logs", "hello"]);
            (ok && out.contains("hello from kube-mesos")).then_some(out)
        },
        || local.diagnostics_for("hello"),
    );
    assert!(logs.starts_with("hello from kube-mesos"), "{logs}");
    let row = local.pod_row("hello").expect("hello listed");
    assert!(
        row.split_whitespace().any(|c| c == "agent-0"),
        "kubectl get pods -o wide shows no node: {row}"
    );
    let node = local.kubectl_ok(&["get", "pod", "hello", "-o", "jsonpath={.spec.nodeName}"]);
    assert_eq!(node, "agent-0");
}

#[test]
fn init_containers_run_first_and_exit_codes_end_pods() {
    let local = Local::start(1, &[]);
    local.kubectl_ok(&[
        "apply",
        "-f",
        example("init-containers.yaml").to_str().unwrap(),
    ]);
    local.apply_yaml(
        "exits",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: exits-1
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo failing; exit 1"]
---
apiVersion: v1
kind: Pod
metadata:
  name: exits-0
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo done; exit 0"]
"#,
    );
    local.wait_status("init-demo", "Running", WAIT);
    let logs = local.kubectl_ok(&["logs", "init-demo", "-c", "app"]);
    assert!(
        logs.starts_with("first init ran\nsecond init ran\napp started"),
        "init containers did not run in order before the app: {logs:?}"
    );
    let pod = local.pod_json("init-demo").expect("init-demo");
    let inits = pod["status"]["initContainerStatuses"]
        .as_array()
        .expect("initContainerStatuses");
    assert_eq!(inits.len(), 2);
    for s in inits {
        assert_eq!(s["state"]["terminated"]["exitCode"], 0, "{s}");
        assert_eq!(s["state"]["terminated"]["reason"], "Completed", "{s}");
    }

    local.wait_status("exits-1", "Error", WAIT);
    let pod = local.pod_json("exits-1").expect("exits-1");
    assert_eq!(pod["status"]["phase"], "Failed");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        1
    );
    local.wait_status("exits-0", "Completed", WAIT);
    let pod = local.pod_json("exits-0").expect("exits-0");
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(local.kubectl_ok(&["logs", "exits-0"]), "done\n");
}

#[test]
fn a_crashing_container_shows_crash_loop_back_off_and_rising_restarts() {
    let local = Local::start(1, &[]);
    local.apply_yaml(
        "crasher",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo crashing; exit 3"]
"#,
    );
    // The kubelet's back-off: restart after 10 s, then 20 s, ...
    local.wait_status("crasher", "CrashLoopBackOff", WAIT);
    let first = wait_for(
        "crasher to restart once",
        WAIT,
        || local.pod_restarts("crasher").filter(|r| *r >= 1),
        || local.diagnostics_for("crasher"),
    );
    wait_for(
        "crasher's restarts to rise",
        WAIT,
        || local.pod_restarts("crasher").filter(|r| *r > first),
        || local.diagnostics_for("crasher"),
    );
    let pod = local.pod_json("crasher").expect("crasher");
    let last = &pod["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!(last["exitCode"], 3, "{pod}");
    assert!(local.describe("crasher").contains("BackOff"));
}

#[test]
fn deleting_a_pod_stops_its_process_and_the_pod_disappears() {
    let local = Local::start(1, &[]);
    local.kubectl_ok(&["apply", "-f", example("hello.yaml").to_str().unwrap()]);
    local.wait_status("hello", "Running", WAIT);
    let uid = support::uid_of(&local.pod_json("hello").expect("hello"));
    let sandbox = local.pod_sandbox(&uid);
    let running = wait_for(
        "hello's processes in its sandbox",
        WAIT,
        || Some(local.processes_under(&sandbox)).filter(|p| !p.is_empty()),
        || local.diagnostics_for("hello"),
    );
    assert!(!running.is_empty());
    let task = format!("pod.{uid}");
    let tasks = local.mesos_tasks();
    assert!(
        tasks
            .iter()
            .any(|t| t.id == task && t.active && t.state == "TASK_RUNNING"),
        "Mesos does not run {task}: {tasks:?}"
    );
    local.kubectl_ok(&["delete", "pod", "hello", "--timeout=60s"]);
    local.wait_gone("hello", Duration::from_secs(60));
    wait_for(
        "hello's processes to be gone",
        Duration::from_secs(30),
        || local.processes_under(&sandbox).is_empty().then_some(()),
        || local.diagnostics(),
    );
    wait_for(
        "Mesos to list the task as killed",
        Duration::from_secs(30),
        || {
            let tasks = local.mesos_tasks();
            tasks
                .iter()
                .any(|t| t.id == task && !t.active && t.state == "TASK_KILLED")
                .then_some(())
        },
        || format!("{:?}\n{}", local.mesos_tasks(), local.diagnostics()),
    );
}

#[test]
fn a_pod_that_fits_nowhere_gets_a_failed_scheduling_event() {
    let local = Local::start(1, &[]);
    local.kubectl_ok(&["apply", "-f", example("cannot-fit.yaml").to_str().unwrap()]);
    let described = wait_for(
        "a FailedScheduling event on cannot-fit",
        WAIT,
        || {
            let d = local.describe("cannot-fit");
            d.contains("FailedScheduling").then_some(d)
        },
        || local.diagnostics_for("cannot-fit"),
    );
    assert!(
        described.contains("cpu"),
        "the event should say what is missing: {described}"
    );
    assert_eq!(
        local.pod_status_column("cannot-fit").as_deref(),
        Some("Pending")
    );
}

/// Regression: `fieldRef: spec.nodeName` printed an empty value. Every
/// downward API field the kubelet resolves (env: `podFieldSelectorRuntimeValue`;
/// volume: `fieldpath.ExtractFieldPathAsString`) must read what the pod object
/// says once the pod runs.
#[test]
fn downward_api_env_and_volume_read_the_bound_pod() {
    let local = Local::start(1, &[]);
    local.apply_yaml(
        "dapi",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: dapi
  labels: {app: demo}
  annotations: {team: core}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 7
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "env | grep '^F_' | sort; for f in podinfo/*; do echo \"V_${f#podinfo/}=$(tr '\\n' ' ' < $f)\"; done"]
    env:
    - {name: F_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: F_HOST, valueFrom: {fieldRef: {fieldPath: spec.host}}}
    - {name: F_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: F_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: F_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: F_SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
    - {name: F_HOSTIP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    - {name: F_HOSTIPS, valueFrom: {fieldRef: {fieldPath: status.hostIPs}}}
    - {name: F_PODIP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: F_PODIPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}
    - {name: F_GRACE, valueFrom: {fieldRef: {fieldPath: spec.terminationGracePeriodSeconds}}}
    - {name: F_LABEL, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: F_ANN, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['team']"}}}
    volumeMounts:
    - {name: podinfo, mountPath: /podinfo}
  volumes:
  - name: podinfo
    downwardAPI:
      items:
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: namespace, fieldRef: {fieldPath: metadata.namespace}}
      - {path: uid, fieldRef: {fieldPath: metadata.uid}}
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: app, fieldRef: {fieldPath: "metadata.labels['app']"}}
      - {path: team, fieldRef: {fieldPath: "metadata.annotations['team']"}}
"#,
    );
    local.wait_status("dapi", "Completed", WAIT);
    let logs = local.kubectl_ok(&["logs", "dapi"]);
    let got: std::collections::BTreeMap<&str, &str> = logs
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.trim_end()))
        .collect();
    let pod = local.pod_json("dapi").expect("dapi");
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let node = s(&pod["spec"]["nodeName"]);
    assert_eq!(node, "agent-0");
    let uid = s(&pod["metadata"]["uid"]);
    let ips = |list: &serde_json::Value| {
        let ips: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .map(|ip| s(&ip["ip"]))
            .collect();
        ips.join(",")
    };
    let want = [
        ("F_NODE", node.clone()),
        ("F_HOST", node),
        ("F_NAME", "dapi".into()),
        ("F_NS", "default".into()),
        ("F_UID", uid.clone()),
        ("F_SA", s(&pod["spec"]["serviceAccountName"])),
        ("F_HOSTIP", s(&pod["status"]["hostIP"])),
        ("F_HOSTIPS", ips(&pod["status"]["hostIPs"])),
        ("F_PODIP", s(&pod["status"]["podIP"])),
        ("F_PODIPS", ips(&pod["status"]["podIPs"])),
        ("F_GRACE", "7".into()),
        ("F_LABEL", "demo".into()),
        ("F_ANN", "core".into()),
        ("V_name", "dapi".into()),
        ("V_namespace", "default".into()),
        ("V_uid", uid),
        ("V_labels", r#"app="demo""#.into()),
        ("V_app", "demo".into()),
        ("V_team", "core".into()),
    ];
    for (key, value) in want {
        assert!(!value.is_empty(), "{key}: the pod object has no value");
        assert_eq!(got.get(key).copied(), Some(value.as_str()), "{key}\n{logs}");
    }
}
