//! An agent restart with `--recover=reconnect` (issue 19): the agent
//! recovers its executors from its checkpoints and waits for them to
//! resubscribe; the executors reconnect (within `MESOS_RECOVERY_TIMEOUT`)
//! and their pods never notice. The whole Mesos process (master and agent,
//! `mesos-local`) is killed with SIGKILL and started again on its work dir,
//! under the replicated-log registry so that the master knows the agent
//! when it comes back; the same on both flavors and both runtimes.

use serde_json::Value;

use crate::cluster::{Cluster, FrameworkSpec, WAIT};
use crate::cri::Cri;
use crate::executor_death::assert_consistent;
use crate::mesos::Flavor;
use crate::scenarios::{hello, state_history};
use crate::support::{uid_of, wait_for};

/// The pod runtime a scenario runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Host processes in the executor's container.
    Process,
    /// A private containerd.
    Cri,
}

/// The pod keeps running across an agent restart: the same executor
/// process (the agent did not destroy it: it resubscribed in time), the
/// same containers (same processes, or the same containerd tasks), no
/// restart, one task with nothing but STARTING and RUNNING in its history,
/// and the pod `Running` on every look.
pub fn agent_restart_keeps_pods_running(flavor: Flavor, runtime: Runtime) {
    let cri = (runtime == Runtime::Cri).then(Cri::start);
    let mut cluster = Cluster::start(
        flavor,
        |mut spec| {
            spec.registry = "replicated_log";
            spec.flag("recover", "reconnect")
        },
        FrameworkSpec {
            executor_env: cri.as_ref().map(Cri::executor_env).unwrap_or_default(),
            ..FrameworkSpec::default()
        },
    );
    cluster.wait_framework_subscribed();
    cluster.apply(&hello("keeper"));
    let before = cluster.wait_running("keeper");
    let uid = uid_of(&before);
    let executors = cluster.executor_processes();
    assert_eq!(executors.len(), 1, "one executor: {executors:?}");
    let containers_before = containers(&cluster, cri.as_ref());

    cluster.mesos.restart();
    let running = |pod: &Value| {
        assert_consistent(pod, &|| cluster.diagnostics());
        assert_eq!(
            pod["status"]["phase"],
            "Running",
            "the pod stays Running\n{}",
            cluster.diagnostics()
        );
    };
    wait_for(
        "the agent back and the task running",
        WAIT,
        || {
            running(&cluster.pod("keeper")?);
            let agents = cluster.mesos.try_operator("GET_AGENTS")?;
            let active = agents["get_agents"]["agents"]
                .as_array()?
                .iter()
                .any(|a| a["active"] == true);
            let task = cluster.task_of(&uid, 0)?;
            (active && task["state"] == "TASK_RUNNING").then_some(())
        },
        || cluster.diagnostics(),
    );
    // The agent has decided about its executors by now (it re-registers
    // once they resubscribed or their re-registration timed out).
    assert_eq!(
        cluster.executor_processes(),
        executors,
        "the same executor, resubscribed\n{}",
        cluster.diagnostics()
    );
    assert_eq!(
        containers(&cluster, cri.as_ref()),
        containers_before,
        "the same containers"
    );
    let after = cluster.wait_running("keeper");
    running(&after);
    let container = |pod: &Value| pod["status"]["containerStatuses"][0].clone();
    assert_eq!(container(&after)["restartCount"], 0, "{after:#}");
    assert_eq!(container(&after)["state"], container(&before)["state"]);
    let tasks = cluster.tasks_of(&uid);
    assert_eq!(tasks.len(), 1, "no relaunch: {tasks:#?}");
    assert_eq!(state_history(&tasks[0]), ["TASK_STARTING", "TASK_RUNNING"]);
    let log = cluster.framework_log_text();
    assert!(
        !log.contains("killing it") && !log.contains("failing pod") && !log.contains("relaunching"),
        "the framework neither killed, failed nor relaunched anything:\n{}",
        cluster.diagnostics()
    );
    drop(cluster);
    drop(cri);
}

/// What identifies the pod's running containers: containerd's tasks (ids
/// and pids) or the process runtime's shells.
fn containers(cluster: &Cluster, cri: Option<&Cri>) -> String {
    match cri {
        Some(cri) => format!("{:?}", cri.tasks()),
        None => format!("{:?}", cluster.pod_shells()),
    }
}
