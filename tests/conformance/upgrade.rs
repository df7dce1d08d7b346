//! Retiring executors of an older configuration (issue 23): the framework
//! is restarted with one more executor setting, so new pods go to a new
//! executor ID (`kube-mesos-<config hash>`) on the same agent. With
//! `--retire-old-executors` (the default) the framework asks the old
//! executor to hand its pods over:
//! - CRI: the old executor lets go of the pod without stopping its
//!   containers (TASK_FINISHED labelled `kube-mesos.io/handover=released`),
//!   the framework relaunches it as `pod.<uid>.1` on the new executor,
//!   which takes the very same containers over; the old executor, empty,
//!   exits;
//! - process runtime: the pod cannot move; it stays on the old executor,
//!   which exits once the pod is gone.
//!
//! The framework's `/metrics` show the generations per agent.

use serde_json::Value;

use crate::agent_restart::Runtime;
use crate::cluster::{Cluster, FrameworkSpec, WAIT};
use crate::cri::Cri;
use crate::executor_death::assert_consistent;
use crate::mesos::Flavor;
use crate::scenarios::{hello, state_history};
use crate::support::{http_get, uid_of, wait_for};

/// The executor setting that makes the "upgrade".
const UPGRADE: (&str, &str) = ("KUBE_MESOS_UPGRADE_MARKER", "2");

fn executor_of(task: &Value) -> String {
    task["executor_id"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The framework's `/metrics` (its port is in the web UI URL it gives Mesos).
fn framework_metrics(cluster: &Cluster) -> Option<String> {
    let frameworks = cluster.mesos.try_operator("GET_FRAMEWORKS")?;
    let url = frameworks["get_frameworks"]["frameworks"]
        .as_array()?
        .iter()
        .find(|f| f["active"] == true)?["framework_info"]["webui_url"]
        .as_str()?
        .to_owned();
    let port = url.trim_end_matches('/').rsplit(':').next()?.to_owned();
    http_get(&format!("http://127.0.0.1:{port}"), "/metrics")
}

/// Waits until the only executor left is not one of `old` (the old one
/// exited once empty).
fn old_executor_exits(cluster: &Cluster, old: &[u32]) {
    wait_for(
        "the old executor to exit once empty",
        WAIT,
        || {
            let now = cluster.executor_processes();
            (now.len() == 1 && !old.contains(&now[0])).then_some(())
        },
        || cluster.diagnostics(),
    );
}

/// The framework restarted with a changed executor setting while pod
/// `old` runs; a new pod `new` then lands on the new executor.
fn upgrade(cluster: &mut Cluster, base: &FrameworkSpec) {
    cluster.kill_framework();
    let mut spec = base.clone();
    spec.executor_env
        .push((UPGRADE.0.to_owned(), UPGRADE.1.to_owned()));
    cluster.set_framework_spec(spec);
    cluster.start_framework();
    cluster.wait_framework_subscribed();
}

pub fn upgrade_retires_the_old_executor(flavor: Flavor, runtime: Runtime) {
    let cri = (runtime == Runtime::Cri).then(Cri::start);
    let base = FrameworkSpec {
        executor_env: cri.as_ref().map(Cri::executor_env).unwrap_or_default(),
        ..FrameworkSpec::default()
    };
    let mut cluster = Cluster::start(flavor, |spec| spec, base.clone());
    cluster.wait_framework_subscribed();
    cluster.apply(&hello("old"));
    let before = cluster.wait_running("old");
    let uid = uid_of(&before);
    let old_executor = executor_of(&cluster.task_of(&uid, 0).expect("the pod's task"));
    let old_pids = cluster.executor_processes();
    assert_eq!(old_pids.len(), 1, "{old_pids:?}");
    let containers_before = cri.as_ref().map(Cri::tasks);
    let shells_before = cluster.pod_shells();

    upgrade(&mut cluster, &base);
    cluster.apply(&hello("new"));
    let new_pod = cluster.wait_running("new");
    let new_task = cluster
        .task_of(&uid_of(&new_pod), 0)
        .expect("the new pod's task");
    let new_executor = executor_of(&new_task);
    assert_ne!(new_executor, old_executor, "a new executor ID");
    let container = |pod: &Value| pod["status"]["containerStatuses"][0].clone();

    match runtime {
        Runtime::Cri => {
            // Handed over: the old task finished as a handover, the pod
            // runs on as its next task on the new executor, untouched.
            let moved = wait_for(
                "the pod to run on the new executor",
                WAIT,
                || {
                    let pod = cluster.pod("old")?;
                    assert_consistent(&pod, &|| cluster.diagnostics());
                    assert_eq!(pod["status"]["phase"], "Running", "{pod:#}");
                    cluster
                        .task_of(&uid, 1)
                        .filter(|t| t["state"] == "TASK_RUNNING")
                },
                || cluster.diagnostics(),
            );
            assert_eq!(executor_of(&moved), new_executor, "{moved:#}");
            assert_eq!(state_history(&moved), ["TASK_STARTING", "TASK_RUNNING"]);
            let handed = cluster.task_of(&uid, 0).expect("the old task");
            assert_eq!(handed["state"], "TASK_FINISHED", "{handed:#}");
            let last = handed["statuses"]
                .as_array()
                .and_then(|s| s.last())
                .cloned();
            assert_eq!(
                last.as_ref().map(|s| s["source"].clone()),
                Some(serde_json::json!("SOURCE_EXECUTOR")),
                "{handed:#}"
            );
            let after = cluster.wait_running("old");
            assert_eq!(container(&after)["restartCount"], 0, "{after:#}");
            assert_eq!(container(&after)["state"], container(&before)["state"]);
            assert_eq!(
                cri.as_ref().map(Cri::tasks).map(|t| t.len()),
                containers_before.as_ref().map(|t| t.len() + 2),
                "the old pod's containerd tasks live on beside the new pod's"
            );
            let tasks_now = cri.as_ref().map(Cri::tasks).unwrap_or_default();
            for (id, (pid, _)) in containers_before.iter().flatten() {
                assert_eq!(tasks_now.get(id).map(|t| t.0), Some(*pid), "{id} runs on");
            }
            // The old executor, empty, exits; the new one runs both pods.
            old_executor_exits(&cluster, &old_pids);
            let metrics = wait_for(
                "the metrics to show one generation",
                WAIT,
                || {
                    let text = framework_metrics(&cluster)?;
                    text.contains(&format!("executor=\"{new_executor}\",current=\"true\"}} 2"))
                        .then_some(text)
                },
                || cluster.diagnostics(),
            );
            assert!(!metrics.contains(&old_executor), "{metrics}");
            assert!(
                metrics.contains("kube_mesos_pods_handed_over_total 1"),
                "{metrics}"
            );
            let events = cluster.kubectl_ok(&[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=old",
            ]);
            assert!(events.contains("HandedOver"), "{events}");
        }
        Runtime::Process => {
            // Kept: it cannot move. Both generations run, side by side.
            let metrics = wait_for(
                "the metrics to show both generations",
                WAIT,
                || {
                    let text = framework_metrics(&cluster)?;
                    (text.contains(&format!(
                        "executor=\"{old_executor}\",current=\"false\"}} 1"
                    )) && text
                        .contains(&format!("executor=\"{new_executor}\",current=\"true\"}} 1")))
                    .then_some(text)
                },
                || cluster.diagnostics(),
            );
            assert!(
                metrics.contains("kube_mesos_executor_generations{"),
                "{metrics}"
            );
            wait_for(
                "the old executor to say the pod stays",
                WAIT,
                || {
                    let task = cluster.task_of(&uid, 0)?;
                    let said = task["statuses"].as_array()?.iter().any(|s| {
                        s["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("cannot move"))
                    });
                    said.then_some(())
                },
                || cluster.diagnostics(),
            );
            let task = cluster.task_of(&uid, 0).expect("the pod's task");
            assert_eq!(task["state"], "TASK_RUNNING", "{task:#}");
            assert!(cluster.task_of(&uid, 1).is_none(), "not relaunched");
            assert_eq!(
                cluster.executor_processes().len(),
                2,
                "both generations run"
            );
            let still = cluster.wait_running("old");
            assert_eq!(container(&still)["restartCount"], 0);
            assert!(
                cluster
                    .pod_shells()
                    .iter()
                    .any(|p| shells_before.contains(p)),
                "the old pod's shell runs on"
            );
            // Once its pod is gone, the old executor exits.
            cluster.kubectl_ok(&["delete", "pod", "old", "--wait=false"]);
            cluster.wait_gone("old");
            old_executor_exits(&cluster, &old_pids);
        }
    }
    drop(cluster);
    drop(cri);
}

/// `--evict-kept-pods` (issue 23): after the upgrade, the process pod of a
/// ReplicaSet that the old executor keeps is evicted and its replacement
/// runs on the new executor; a bare pod stays on the old executor. A
/// disruption budget holds the eviction back (a Warning on the pod, retried
/// every 5 s) until the operator deletes it.
pub fn upgrade_evicts_kept_process_pods(flavor: Flavor) {
    let base = FrameworkSpec::with_args(&["--evict-kept-pods"]);
    let mut cluster = Cluster::start(flavor, |spec| spec, base.clone());
    cluster.wait_framework_subscribed();
    cluster.apply(&crate::maintenance::replica_set());
    cluster.apply(&hello("bare"));
    let bare = uid_of(&cluster.wait_running("bare"));
    let web_running = |cluster: &Cluster| -> Option<Value> {
        let out = cluster.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "json"]);
        let list: Value = serde_json::from_str(&out).ok()?;
        let items = list["items"].as_array()?;
        let [pod] = items.as_slice() else {
            return None;
        };
        (pod["status"]["phase"] == "Running").then(|| pod.clone())
    };
    let first = wait_for(
        "the ReplicaSet's pod Running",
        WAIT,
        || web_running(&cluster),
        || cluster.diagnostics(),
    );
    let old_executor = executor_of(&cluster.task_of(&uid_of(&first), 0).expect("its task"));
    cluster.apply(crate::maintenance::WEB_PDB);

    upgrade(&mut cluster, &base);
    wait_for(
        "the kept pod's eviction refused by the budget, said on the pod",
        WAIT,
        || crate::maintenance::eviction_blocked(&cluster, Some(&first["metadata"]["uid"])),
        || cluster.diagnostics(),
    );
    let still = web_running(&cluster).expect("the ReplicaSet's pod");
    assert_eq!(
        uid_of(&still),
        uid_of(&first),
        "kept while the budget holds"
    );
    // Retried once the budget is gone.
    cluster.kubectl_ok(&["delete", "pdb", "web-pdb"]);
    let replacement = wait_for(
        "the ReplicaSet's pod replaced on the new executor",
        WAIT,
        || {
            let pod = web_running(&cluster)?;
            let task = cluster.task_of(&uid_of(&pod), 0)?;
            (uid_of(&pod) != uid_of(&first)
                && task["state"] == "TASK_RUNNING"
                && executor_of(&task) != old_executor)
                .then_some(pod)
        },
        || cluster.diagnostics(),
    );
    assert_ne!(uid_of(&replacement), uid_of(&first));
    // The bare pod has no controller: kept where it is.
    let bare_task = cluster.task_of(&bare, 0).expect("the bare pod's task");
    assert_eq!(bare_task["state"], "TASK_RUNNING", "{bare_task:#}");
    assert_eq!(executor_of(&bare_task), old_executor);
    cluster.wait_running("bare");
}
