//! The scenarios, each a function of the flavor. Expectations are what
//! Apache Mesos 1.11 does; the devcluster must do the same.

use serde_json::Value;

use crate::cluster::{Cluster, FrameworkSpec};
use crate::mesos::Flavor;
use crate::support::{uid_of, wait_for};

pub use crate::agent_restart::agent_restart_keeps_pods_running;
pub use crate::executor_death::*;
pub use crate::maintenance::{
    maintenance_drains_the_agent, maintenance_moves_pods_to_another_agent,
};
pub use crate::upgrade::{upgrade_evicts_kept_process_pods, upgrade_retires_the_old_executor};

/// A pod like `examples/hello.yaml`: greets, then ticks; exits on TERM.
pub fn hello(name: &str) -> String {
    hello_with(name, "Always")
}

/// [`hello`] with a `restartPolicy`.
pub fn hello_with(name: &str, restart_policy: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 10
  restartPolicy: {restart_policy}
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
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
pub fn state_history(task: &Value) -> Vec<String> {
    task["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["state"].as_str().map(str::to_owned))
        .collect()
}

pub fn the_task(cluster: &Cluster, uid: &str) -> Value {
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
    let cluster = Cluster::plain(flavor);
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
        [
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_KILLING",
            "TASK_KILLED"
        ],
        "{task:#}"
    );
    wait_for(
        "the pod's processes to be gone",
        crate::cluster::WAIT,
        || cluster.pod_processes().is_empty().then_some(()),
        || cluster.diagnostics(),
    );
}

/// The framework killed with SIGKILL and started again: it resubscribes
/// with its framework ID, reconciles, and neither loses nor doubles the
/// running pod's task.
pub fn framework_restart_keeps_its_id_and_tasks(flavor: Flavor) {
    let mut cluster = Cluster::plain(flavor);
    let framework_id = cluster.wait_framework_subscribed();
    cluster.apply(&hello("steady"));
    let uid = uid_of(&cluster.wait_running("steady"));
    let before = the_task(&cluster, &uid);

    let reconcile_calls = format!("master/frameworks/kube-mesos/{framework_id}/calls/reconcile");
    let reconciled_before = cluster.mesos.metric(&reconcile_calls);
    cluster.kill_framework();
    // Mesos keeps the framework's tasks while it is away (failover_timeout).
    let away = the_task(&cluster, &uid);
    assert_eq!(away["state"], "TASK_RUNNING", "{away:#}");
    cluster.start_framework();
    let again = cluster.wait_framework_subscribed();
    assert_eq!(again, framework_id, "the framework ID is reused");

    // The master counts the restarted framework's RECONCILE calls; the
    // pod's one task is unchanged and nothing new was launched.
    wait_for(
        "the restarted framework to reconcile",
        crate::cluster::WAIT,
        || (cluster.mesos.metric(&reconcile_calls) > reconciled_before).then_some(()),
        || cluster.diagnostics(),
    );
    let pod = cluster.wait_running("steady");
    assert_eq!(uid_of(&pod), uid);
    let after = the_task(&cluster, &uid);
    assert_eq!(after["state"], "TASK_RUNNING");
    assert_eq!(state_history(&after), state_history(&before));
    assert_eq!(cluster.tasks().len(), 1, "no other task was launched");
}

/// Framework authentication with HTTP Basic credentials: the right secret
/// subscribes (with its principal in `FrameworkInfo`) and runs pods; a
/// wrong one is refused with 401 and the framework stops with an error
/// that says so.
pub fn framework_authenticates_with_its_secret(flavor: Flavor) {
    let secrets = tempfile::tempdir().expect("secrets dir");
    let credentials = secrets.path().join("credentials.json");
    std::fs::write(
        &credentials,
        r#"{"credentials":[{"principal":"kube-mesos","secret":"s3cret-for-tests"}]}"#,
    )
    .expect("credentials");
    let right = secrets.path().join("right");
    std::fs::write(&right, "s3cret-for-tests\n").expect("secret");
    let wrong = secrets.path().join("wrong");
    std::fs::write(&wrong, "not-the-secret\n").expect("secret");

    let with_auth = |spec: crate::mesos::MesosSpec| {
        spec.flag("authenticate_http_frameworks", "true")
            .flag("http_framework_authenticators", "basic")
            .flag("credentials", &credentials.display().to_string())
    };
    let framework = |secret: &std::path::Path| FrameworkSpec {
        args: vec![
            "--mesos-principal".into(),
            "kube-mesos".into(),
            "--mesos-secret-file".into(),
            secret.display().to_string(),
        ],
        ..FrameworkSpec::default()
    };
    let mut cluster = Cluster::start(flavor, with_auth, framework(&right));
    cluster.wait_framework_subscribed();
    let frameworks = cluster.mesos.operator("GET_FRAMEWORKS");
    assert_eq!(
        frameworks["get_frameworks"]["frameworks"][0]["framework_info"]["principal"],
        "kube-mesos"
    );
    cluster.apply(&hello("authed"));
    cluster.wait_running("authed");

    cluster.kill_framework();
    cluster.set_framework_spec(framework(&wrong));
    cluster.start_framework();
    let status = wait_for(
        "the framework with a wrong secret to stop",
        crate::cluster::WAIT,
        || cluster.framework_exit(),
        || cluster.diagnostics(),
    );
    assert!(!status.success(), "{status}");
    let log = cluster.framework_log_text();
    let last_start = log.rsplit("starting").next().unwrap_or(&log).to_string();
    assert!(
        last_start.contains("401"),
        "the error names the refusal:\n{last_start}"
    );
}

/// The whole Mesos process (master and agent) killed with SIGKILL and
/// started again on its work dir, with the given registry. Executors and
/// pods outlive it; the agent recovers them (`--recover=reconnect`) and
/// re-registers. The pod stays Running on the same processes, with exactly
/// one task, and nothing kills it.
pub fn mesos_restart_keeps_pods_running(flavor: Flavor, registry: &'static str) {
    let mut cluster = Cluster::start(
        flavor,
        |mut spec| {
            spec.registry = registry;
            spec
        },
        FrameworkSpec::default(),
    );
    cluster.wait_framework_subscribed();
    cluster.apply(&hello("survivor"));
    let before = cluster.wait_running("survivor");
    let uid = uid_of(&before);
    let shells = cluster.pod_shells();
    assert_eq!(shells.len(), 1, "the pod's shell runs: {shells:?}");

    cluster.mesos.restart();
    // Throughout — while the master may not know the task (in_memory: it
    // answers TASK_UNKNOWN until the agent re-registers; replicated_log: it
    // answers nothing) — the pod stays Running.
    let task = wait_for(
        "the task to be known and running again",
        crate::cluster::WAIT,
        || {
            let pod = cluster.pod("survivor");
            assert_eq!(
                pod.as_ref().map(|p| p["status"]["phase"].clone()),
                Some(serde_json::json!("Running")),
                "the pod stays Running\n{}",
                cluster.diagnostics()
            );
            cluster
                .tasks_of(&uid)
                .into_iter()
                .find(|t| t["state"] == "TASK_RUNNING")
        },
        || cluster.diagnostics(),
    );
    cluster.mesos.wait_agents(1);
    assert_eq!(cluster.tasks_of(&uid).len(), 1, "{task:#}");
    let after = cluster.wait_running("survivor");
    assert_eq!(
        after["status"]["containerStatuses"][0]["restartCount"], 0,
        "{after:#}"
    );
    assert_eq!(
        after["status"]["containerStatuses"][0]["state"],
        before["status"]["containerStatuses"][0]["state"],
        "the same container runs"
    );
    assert_eq!(
        cluster.pod_shells(),
        shells,
        "the pod's shell is the one that ran before\n{}",
        cluster.diagnostics()
    );
    let log = cluster.framework_log_text();
    assert!(
        !log.contains("killing it") && !log.contains("failing pod"),
        "the framework neither killed nor failed anything:\n{}",
        cluster.diagnostics()
    );
    // And the new master got no KILL at all (its counter starts at 0).
    assert_eq!(
        cluster.mesos.metric("master/messages_kill_task"),
        0.0,
        "KILL calls after the restart\n{}",
        cluster.diagnostics()
    );
}

/// A static reservation for role `kubernetes` beside an unreserved pool:
/// the framework subscribes with MULTI_ROLE to `kubernetes`, and a pod of
/// that role is launched on the reserved resources first.
pub fn reserved_resources_are_used_first(flavor: Flavor) {
    let cluster = Cluster::start(
        flavor,
        |mut spec| {
            let ports = spec
                .resources
                .split(';')
                .find(|r| r.starts_with("ports"))
                .unwrap_or_default()
                .to_string();
            spec.resources =
                format!("cpus(kubernetes):1;mem(kubernetes):512;cpus:1;mem:1536;disk:4096;{ports}");
            spec
        },
        FrameworkSpec {
            args: vec!["--roles".into(), "kubernetes".into()],
            ..FrameworkSpec::default()
        },
    );
    cluster.wait_framework_subscribed();
    let frameworks = cluster.mesos.operator("GET_FRAMEWORKS");
    let info = &frameworks["get_frameworks"]["frameworks"][0]["framework_info"];
    assert_eq!(info["roles"], serde_json::json!(["kubernetes"]), "{info:#}");
    assert!(
        info["capabilities"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "MULTI_ROLE"),
        "{info:#}"
    );
    cluster.apply(&hello("reserved"));
    let uid = uid_of(&cluster.wait_running("reserved"));
    let task = the_task(&cluster, &uid);
    for resource in task["resources"].as_array().into_iter().flatten() {
        assert_eq!(
            resource["allocation_info"]["role"], "kubernetes",
            "{task:#}"
        );
        if resource["name"] == "cpus" || resource["name"] == "mem" {
            assert_eq!(
                resource["reservations"][0]["role"], "kubernetes",
                "cpus and mem come from the reservation: {task:#}"
            );
        }
    }
}

/// SUPPRESS and REVIVE as the master itself reports them: suppressed when
/// nothing is pending, revived when a pod arrives, suppressed again once it
/// is placed, and no offer held meanwhile.
pub fn suppress_and_revive_as_the_master_sees_them(flavor: Flavor) {
    let cluster = Cluster::plain(flavor);
    let id = cluster.wait_framework_subscribed();
    let metric = |name: &str| format!("master/frameworks/kube-mesos/{id}/{name}");
    let suppressed = metric("roles/*/suppressed");
    wait_for(
        "the idle framework to suppress",
        crate::cluster::WAIT,
        || (cluster.mesos.metric(&suppressed) == 1.0).then_some(()),
        || cluster.diagnostics(),
    );
    let revives = cluster.mesos.metric(&metric("calls/revive"));
    cluster.apply(&hello("wakeup"));
    cluster.wait_running("wakeup");
    assert!(
        cluster.mesos.metric(&metric("calls/revive")) > revives,
        "a pending pod revives offers"
    );
    wait_for(
        "the framework to suppress again and hold no offer",
        crate::cluster::WAIT,
        || {
            let m = cluster.mesos.metrics();
            let value = |k: &str| m.get(k).copied().unwrap_or(-1.0);
            (value(&suppressed) == 1.0 && value("master/outstanding_offers") == 0.0).then_some(())
        },
        || cluster.diagnostics(),
    );
}

/// The executor ID of a v1 `Task`.
fn executor_of(task: &Value) -> String {
    task["executor_id"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The kubelet port a Node version advertises.
fn kubelet_port(node: &Value) -> Option<u64> {
    node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"].as_u64()
}

/// Waits until Node `node` advertises kubelet port `port`.
fn wait_node_port(cluster: &Cluster, node: &str, port: u64) {
    wait_for(
        &format!("Node {node} to advertise kubelet port {port}"),
        crate::cluster::WAIT,
        || {
            let (ok, out, _) = cluster.kubectl(&["get", "node", node, "-o", "json"]);
            let n: Value = serde_json::from_str(&out).ok().filter(|_| ok)?;
            (kubelet_port(&n) == Some(port)).then_some(())
        },
        || cluster.diagnostics(),
    );
}

/// `kubectl logs` of `pod` until it shows its greeting.
fn logs_of(cluster: &Cluster, pod: &str) -> String {
    wait_for(
        &format!("kubectl logs {pod}"),
        crate::cluster::WAIT,
        || {
            let (ok, out, _) = cluster.kubectl(&["logs", pod]);
            (ok && out.contains(&format!("hello from {pod}"))).then_some(out)
        },
        || cluster.diagnostics(),
    )
}

/// An upgrade as an operator makes one: the framework restarted with one
/// more `--executor-env` while a pod runs. New pods get a new executor on
/// the same agent while the old pod stays on the old one; the Node's one
/// kubelet endpoint moves to the new executor and serves both pods (logs,
/// and exec into the old pod through the new executor); the framework's
/// metrics count two executor generations on the agent; and a watch on the
/// Node throughout sees it Ready, with the same addresses and capacity,
/// and its kubelet port move once, from the old executor to the new one.
pub fn upgrade_keeps_one_working_node(flavor: Flavor) {
    let mut cluster = Cluster::plain(flavor);
    cluster.wait_framework_subscribed();
    let node = "127.0.0.1";
    cluster.apply(&hello("ua"));
    let ua = cluster.wait_running("ua");
    let ua_uid = uid_of(&ua);
    let old_executor = executor_of(&the_task(&cluster, &ua_uid));
    let old_port = cluster
        .executor_port(&old_executor)
        .expect("old executor's port");
    logs_of(&cluster, "ua");
    wait_node_port(&cluster, node, old_port);
    let watch = cluster.watch_node(node);

    cluster.kill_framework();
    // One more executor setting than before: a new executor ID.
    cluster.set_framework_spec(FrameworkSpec::with_args(&[
        "--executor-env",
        "KUBE_MESOS_CONFORMANCE_UPGRADE=2",
    ]));
    cluster.start_framework();
    cluster.wait_framework_subscribed();
    cluster.apply(&hello("ub"));
    let ub_uid = uid_of(&cluster.wait_running("ub"));
    let new_executor = executor_of(&the_task(&cluster, &ub_uid));
    assert_ne!(new_executor, old_executor, "a new executor configuration");
    let new_port = cluster
        .executor_port(&new_executor)
        .expect("new executor's port");
    assert_eq!(
        cluster.executor_processes().len(),
        2,
        "both generations run on the agent\n{}",
        cluster.diagnostics()
    );

    // The newest generation takes the Node's kubelet endpoint, and answers
    // for the old generation's pod as well as its own.
    wait_node_port(&cluster, node, new_port);
    for pod in ["ua", "ub"] {
        let logs = logs_of(&cluster, pod);
        assert!(logs.starts_with(&format!("hello from {pod}")), "{logs}");
    }
    let out = cluster.kubectl_ok(&["exec", "ua", "--", "echo", "through the new executor"]);
    assert_eq!(out.trim(), "through the new executor");

    let metrics = wait_for(
        "the framework to count two executor generations",
        crate::cluster::WAIT,
        || {
            let m = cluster.framework_metrics()?;
            m.lines()
                .any(|l| l.starts_with("kube_mesos_executor_generations{") && l.ends_with(" 2"))
                .then_some(m)
        },
        || cluster.diagnostics(),
    );
    assert!(
        metrics.contains(&format!("node=\"{node}\"}} 2")),
        "{metrics}"
    );

    // The old pod never moved or restarted.
    let task = the_task(&cluster, &ua_uid);
    assert_eq!(task["state"], "TASK_RUNNING", "{task:#}");
    assert_eq!(executor_of(&task), old_executor);
    let ua_now = cluster.wait_running("ua");
    assert_eq!(ua_now["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(
        ua_now["status"]["containerStatuses"][0]["containerID"],
        ua["status"]["containerStatuses"][0]["containerID"]
    );

    // The Node, version by version, while all this happened.
    let versions = watch.stop();
    assert!(!versions.is_empty(), "the watch saw the Node");
    let ready = |n: &Value| {
        n["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .map(|c| c["status"].clone())
    };
    let addresses = |n: &Value| {
        let mut a: Vec<String> = n["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| format!("{}={}", a["type"], a["address"]))
            .collect();
        a.sort();
        a
    };
    let first = &versions[0];
    for (i, v) in versions.iter().enumerate() {
        assert_eq!(
            ready(v),
            Some(serde_json::json!("True")),
            "Node version {i} is not Ready: {v:#}"
        );
        assert_eq!(addresses(v), addresses(first), "addresses of version {i}");
        assert_eq!(
            v["status"]["capacity"], first["status"]["capacity"],
            "capacity of version {i}"
        );
    }
    let mut ports: Vec<Option<u64>> = versions.iter().map(kubelet_port).collect();
    ports.dedup();
    assert_eq!(
        ports,
        [Some(old_port), Some(new_port)],
        "the kubelet port moved once, to the new executor"
    );
}
