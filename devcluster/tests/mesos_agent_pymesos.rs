//! A third-party executor against the devcluster agent: the pymesos
//! executor in `tests/pymesos/executor.py`, launched by the agent as a real
//! process (`CommandInfo.value = "python3 <path>"`) and driven by an
//! in-test fake master. pymesos speaks JSON and expects chunked streams.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use kube_mesos_devcluster::mesos::agent::{AgentConfig, AgentHandle};
use kube_mesos_devcluster::mesos::link::{AgentMessage, MasterMessage};
use kube_mesos_proto::v1::{
    task_status, AgentId, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    TaskId, TaskInfo, TaskState, TaskStatus,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(30);

/// Installs pymesos from PyPI when it is missing. Its dependency
/// http-parser 0.9.0 has a C extension that no longer builds on Python
/// 3.11; when the plain install fails, http-parser is installed from its
/// PyPI sdist without the extension (it ships a pure-Python parser).
fn ensure_pymesos() {
    let has = || {
        Command::new("python3")
            .args(["-c", "import pymesos"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has() {
        return;
    }
    let _ = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "pymesos"])
        .status();
    if has() {
        return;
    }
    let script = r#"set -e
d=$(mktemp -d)
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$d" http-parser==0.9.0
tar xzf "$d"/http-parser-0.9.0.tar.gz -C "$d"
sed -i 's/run_setup(not IS_PYPY)/run_setup(False)/' "$d"/http-parser-0.9.0/setup.py
python3 -m pip install --quiet "$d"/http-parser-0.9.0
python3 -m pip install --quiet pymesos
rm -rf "$d""#;
    let status = Command::new("sh").args(["-c", script]).status();
    assert!(
        status.is_ok_and(|s| s.success()) && has(),
        "installing pymesos failed"
    );
}

fn fw_id() -> FrameworkId {
    FrameworkId {
        value: "M-0001".to_owned(),
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<AgentMessage>) -> AgentMessage {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("agent message in time")
        .expect("link open")
}

async fn next_update(rx: &mut mpsc::UnboundedReceiver<AgentMessage>) -> TaskStatus {
    loop {
        if let AgentMessage::StatusUpdate { status, .. } = next(rx).await {
            return status;
        }
    }
}

#[tokio::test]
async fn pymesos_executor_runs_under_the_agent() {
    ensure_pymesos();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pymesos/executor.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let (link, mut rx) = mpsc::unbounded_channel();
    let mut config = AgentConfig::new("pymesos-agent", dir.path())
        .with_resources("cpus:2;mem:1024")
        .expect("resources");
    config.status_update_retry_min = Duration::from_secs(10);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let agent = AgentHandle::start(config, listener, link, std::future::pending())
        .await
        .expect("start");
    let inbox = match next(&mut rx).await {
        AgentMessage::Register { inbox, reply, .. } => {
            let _ = reply.send(Ok(AgentId {
                value: "M-S1".to_owned(),
            }));
            inbox
        }
        other => panic!("expected registration, got {other:?}"),
    };
    let framework = FrameworkInfo {
        user: "root".to_owned(),
        name: "pymesos-test".to_owned(),
        id: Some(fw_id()),
        ..Default::default()
    };
    let executor = ExecutorInfo {
        executor_id: ExecutorId {
            value: "pymesos-ex".to_owned(),
        },
        framework_id: Some(fw_id()),
        command: Some(CommandInfo {
            value: Some(format!("python3 {}", script.display())),
            ..Default::default()
        }),
        ..Default::default()
    };
    let task = TaskInfo {
        name: "py".to_owned(),
        task_id: TaskId {
            value: "py-1".to_owned(),
        },
        agent_id: AgentId {
            value: "M-S1".to_owned(),
        },
        ..Default::default()
    };
    inbox
        .send(MasterMessage::RunTasks {
            framework,
            executor,
            tasks: vec![task],
            group: false,
        })
        .expect("run");

    let running = next_update(&mut rx).await;
    assert_eq!(running.state, TaskState::TaskRunning as i32);
    assert_eq!(running.source, Some(task_status::Source::Executor as i32));
    assert_eq!(running.message.as_deref(), Some("running under pymesos"));
    assert_eq!(running.uuid.as_ref().map(Vec::len), Some(16));
    let ack = |status: &TaskStatus| {
        inbox
            .send(MasterMessage::StatusUpdateAcknowledged {
                framework_id: fw_id(),
                task_id: status.task_id.clone(),
                uuid: status.uuid.clone().expect("uuid"),
            })
            .expect("ack");
    };
    ack(&running);

    // A scheduler message reaches pymesos, which echoes it back.
    inbox
        .send(MasterMessage::FrameworkMessage {
            framework_id: fw_id(),
            executor_id: ExecutorId {
                value: "pymesos-ex".to_owned(),
            },
            data: b"ping".to_vec(),
        })
        .expect("message");
    loop {
        if let AgentMessage::FrameworkMessage { data, .. } = next(&mut rx).await {
            assert_eq!(data, b"echo:ping");
            break;
        }
    }

    inbox
        .send(MasterMessage::KillTask {
            framework_id: fw_id(),
            task_id: TaskId {
                value: "py-1".to_owned(),
            },
            kill_policy: None,
        })
        .expect("kill");
    let killed = next_update(&mut rx).await;
    assert_eq!(killed.state, TaskState::TaskKilled as i32);
    ack(&killed);

    inbox
        .send(MasterMessage::ShutdownExecutor {
            framework_id: fw_id(),
            executor_id: ExecutorId {
                value: "pymesos-ex".to_owned(),
            },
        })
        .expect("shutdown");
    loop {
        if let AgentMessage::ExecutorExited { .. } = next(&mut rx).await {
            break;
        }
    }
    agent.shutdown().await.expect("shutdown");
}
