//! A third-party client agrees: the pymesos scheduler library, speaking
//! JSON over chunked streams, drives the devcluster master through
//! subscribe, offers, launch, updates + acknowledgements, reconcile and kill.
//! The agent side is an in-test fake on the link that answers like a real
//! agent's status update manager (one uuid per update, waits for the ack).

mod mesos_master_support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kube_mesos_devcluster::mesos::link::MasterMessage;
use kube_mesos_proto::v1::TaskState;
use mesos_master_support::*;

/// Installs pymesos from PyPI when it is missing, through
/// `tests/pymesos/install_pymesos.sh` (a plain `pip install pymesos` fails on
/// Python 3.11; the script says why).
fn ensure_pymesos() {
    let has = || {
        std::process::Command::new("python3")
            .args(["-c", "import pymesos"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has() {
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pymesos/install_pymesos.sh");
    let status = std::process::Command::new("sh").arg(&script).status();
    assert!(
        status.is_ok_and(|s| s.success()) && has(),
        "installing pymesos failed ({})",
        script.display()
    );
}

#[tokio::test]
async fn pymesos_scheduler_subscribes_launches_acknowledges_reconciles_and_kills() {
    ensure_pymesos();
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "localhost", agent_resources()).await;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pymesos/scheduler.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(master.handle.addr().to_string())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The fake agent: RUNNING after launch, KILLED after kill; both with a
    // uuid the scheduler must acknowledge.
    let mut framework_id = String::new();
    let mut acked = Vec::new();
    let mut expecting: Option<Vec<u8>> = None;
    let run = async {
        loop {
            match agent.recv().await {
                MasterMessage::RunTasks {
                    framework, tasks, ..
                } => {
                    framework_id = framework.id.unwrap().value;
                    assert_eq!(tasks[0].task_id.value, "pymesos-task-1");
                    expecting =
                        Some(agent.update(&framework_id, "pymesos-task-1", TaskState::TaskRunning));
                }
                MasterMessage::StatusUpdateAcknowledged { task_id, uuid, .. } => {
                    assert_eq!(task_id.value, "pymesos-task-1");
                    assert_eq!(Some(&uuid), expecting.as_ref(), "acks the update it got");
                    acked.push(uuid);
                    if acked.len() == 2 {
                        return;
                    }
                }
                MasterMessage::KillTask { task_id, .. } => {
                    assert_eq!(task_id.value, "pymesos-task-1");
                    expecting =
                        Some(agent.update(&framework_id, "pymesos-task-1", TaskState::TaskKilled));
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("pymesos drove the whole flow in time");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the script exits")
        .unwrap();
    assert!(status.success(), "pymesos scheduler failed: {status}");
    master.stop().await;
}

/// The full flow with both halves: pymesos scheduler → devcluster master →
/// devcluster agent → pymesos executor (a real process speaking the executor
/// API over JSON), and back.
#[tokio::test]
async fn pymesos_scheduler_and_executor_through_the_devcluster_master_and_agent() {
    use kube_mesos_devcluster::mesos::agent::{AgentConfig, AgentHandle};

    ensure_pymesos();
    let master = TestMaster::fast().await;
    let work_dir = tempfile::tempdir().unwrap();
    let config = AgentConfig::new("localhost", work_dir.path())
        .with_resources("cpus:4;mem:4096;disk:10000;ports:[31000-32000]")
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop_agent, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = AgentHandle::start(config, listener, master.handle.link(), async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), agent.registered())
        .await
        .expect("agent registers in time")
        .unwrap();

    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let executor = format!(
        "python3 {}",
        manifest.join("tests/pymesos/executor.py").display()
    );
    let mut child = tokio::process::Command::new("python3")
        .arg(manifest.join("tests/pymesos/scheduler.py"))
        .arg(master.handle.addr().to_string())
        .arg(&executor)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(90), child.wait())
        .await
        .expect("the pymesos scheduler finishes in time")
        .unwrap();
    assert!(status.success(), "pymesos scheduler failed: {status}");
    let _ = stop_agent.send(());
    drop(agent);
    master.stop().await;
}
