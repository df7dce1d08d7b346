//! The devcluster agent driven by an in-test fake master and a real
//! executor process.
//!
//! The executor is this very test binary re-executed in "child executor"
//! mode (see [`child_executor`]): a small HTTP executor written with reqwest
//! that subscribes, answers LAUNCH with TASK_STARTING + TASK_RUNNING, KILL
//! with TASK_KILLED, exits on SHUTDOWN, and resubscribes with its
//! unacknowledged updates when the agent restarts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt as _;
use kube_mesos_devcluster::mesos::agent::{AgentConfig, AgentHandle, SimulatedAgents};
use kube_mesos_devcluster::mesos::link::{AgentMessage, MasterLink, MasterMessage};
use kube_mesos_proto::v1::executor::{call, event, Call, Event};
use kube_mesos_proto::v1::{
    command_info, environment, framework_info, task_status, AgentId, CommandInfo, Environment,
    ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};
use kube_mesos_proto::{json, recordio};
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

// ----- fake master ---------------------------------------------------------

struct FakeMaster {
    rx: mpsc::UnboundedReceiver<AgentMessage>,
    inbox: Option<mpsc::UnboundedSender<MasterMessage>>,
    registrations: Vec<(Option<AgentId>, usize, Vec<i32>)>,
}

impl FakeMaster {
    fn new() -> (FakeMaster, MasterLink) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            FakeMaster {
                rx,
                inbox: None,
                registrations: Vec::new(),
            },
            tx,
        )
    }

    /// Next message that is not a registration (registrations are answered).
    async fn next(&mut self) -> AgentMessage {
        loop {
            let message = tokio::time::timeout(WAIT, self.rx.recv())
                .await
                .expect("agent message in time")
                .expect("link open");
            match message {
                AgentMessage::Register {
                    info,
                    executors,
                    tasks,
                    inbox,
                    reply,
                    ..
                } => {
                    self.registrations.push((
                        info.id.clone(),
                        executors.len(),
                        tasks.iter().map(|t| t.state).collect(),
                    ));
                    let id = info.id.unwrap_or(AgentId {
                        value: "M-S0".to_owned(),
                    });
                    self.inbox = Some(inbox);
                    let _ = reply.send(Ok(id));
                }
                other => return other,
            }
        }
    }

    async fn next_update(&mut self) -> TaskStatus {
        loop {
            if let AgentMessage::StatusUpdate { status, .. } = self.next().await {
                return status;
            }
        }
    }

    async fn next_exit(&mut self) -> Option<i32> {
        loop {
            if let AgentMessage::ExecutorExited { status, .. } = self.next().await {
                return status;
            }
        }
    }

    fn send(&self, message: MasterMessage) {
        self.inbox
            .as_ref()
            .expect("registered")
            .send(message)
            .expect("agent inbox open");
    }

    fn ack(&self, status: &TaskStatus) {
        self.send(MasterMessage::StatusUpdateAcknowledged {
            framework_id: fw_id(),
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone().expect("uuid"),
        });
    }

    async fn registered(&mut self) {
        // Registration is answered inside `next`; poll until it happened.
        while self.inbox.is_none() {
            let message = tokio::time::timeout(WAIT, self.rx.recv())
                .await
                .expect("registration")
                .expect("link");
            if let AgentMessage::Register {
                info,
                executors,
                tasks,
                inbox,
                reply,
                ..
            } = message
            {
                self.registrations.push((
                    info.id.clone(),
                    executors.len(),
                    tasks.iter().map(|t| t.state).collect(),
                ));
                self.inbox = Some(inbox);
                let _ = reply.send(Ok(info.id.unwrap_or(AgentId {
                    value: "M-S0".to_owned(),
                })));
            }
        }
    }
}

fn fw_id() -> FrameworkId {
    FrameworkId {
        value: "M-0000".to_owned(),
    }
}

fn framework(checkpoint: bool) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".to_owned(),
        name: "test".to_owned(),
        id: Some(fw_id()),
        checkpoint: Some(checkpoint),
        capabilities: vec![framework_info::Capability {
            r#type: Some(framework_info::capability::Type::PartitionAware as i32),
        }],
        ..Default::default()
    }
}

/// The executor command re-running this binary as the child executor.
fn child_command(mode: &str) -> CommandInfo {
    let exe = std::env::current_exe().expect("current exe");
    CommandInfo {
        shell: Some(false),
        value: Some(exe.display().to_string()),
        arguments: vec![
            exe.display().to_string(),
            "--exact".to_owned(),
            "child_executor".to_owned(),
            "--nocapture".to_owned(),
        ],
        environment: Some(Environment {
            variables: vec![
                environment::Variable {
                    name: "AGENT_TEST_CHILD_EXECUTOR".to_owned(),
                    value: Some(mode.to_owned()),
                    ..Default::default()
                },
                environment::Variable {
                    name: "CUSTOM_VAR".to_owned(),
                    value: Some("custom".to_owned()),
                    ..Default::default()
                },
            ],
        }),
        ..Default::default()
    }
}

fn shell_command(value: &str) -> CommandInfo {
    CommandInfo {
        value: Some(value.to_owned()),
        ..Default::default()
    }
}

fn executor_info(command: CommandInfo) -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(kube_mesos_proto::v1::executor_info::Type::Custom as i32),
        executor_id: ExecutorId {
            value: "ex1".to_owned(),
        },
        framework_id: Some(fw_id()),
        command: Some(command),
        ..Default::default()
    }
}

fn task(id: &str, data: &str) -> TaskInfo {
    TaskInfo {
        name: id.to_owned(),
        task_id: TaskId {
            value: id.to_owned(),
        },
        agent_id: AgentId {
            value: "M-S0".to_owned(),
        },
        data: Some(data.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn run(master: &FakeMaster, command: CommandInfo, checkpoint: bool, tasks: Vec<TaskInfo>) {
    master.send(MasterMessage::RunTasks {
        framework: framework(checkpoint),
        executor: executor_info(command),
        tasks,
        group: false,
    });
}

async fn start_agent(
    work_dir: &Path,
    tweak: impl FnOnce(&mut AgentConfig),
) -> (AgentHandle, FakeMaster) {
    let (mut master, link) = FakeMaster::new();
    let mut config = AgentConfig::new("agent-1", work_dir)
        .with_resources("cpus:4;mem:4096;ports:[31000-32000]")
        .expect("resources");
    config.status_update_retry_min = Duration::from_millis(300);
    config.executor_liveness_poll = Duration::from_millis(50);
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let agent = AgentHandle::start(config, listener, link, std::future::pending())
        .await
        .expect("start");
    master.registered().await;
    agent.registered().await.expect("agent id");
    (agent, master)
}

fn state(status: &TaskStatus) -> TaskState {
    TaskState::try_from(status.state).expect("known state")
}

async fn wait_for_file(path: &Path) {
    for _ in 0..400 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never appeared", path.display());
}

fn sandbox_runs(work_dir: &Path) -> PathBuf {
    work_dir.join("slaves/M-S0/frameworks/M-0000/executors/ex1/runs")
}

async fn only_run(work_dir: &Path) -> PathBuf {
    let runs = sandbox_runs(work_dir);
    wait_for_file(&runs).await;
    let mut entries = std::fs::read_dir(&runs).expect("runs").flatten();
    entries.next().expect("one run").path()
}

fn install_crypto() {
    // reqwest is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

// ----- tests -----------------------------------------------------------------

#[tokio::test]
async fn launch_subscribe_update_retry_ack_kill_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent, mut master) = start_agent(dir.path(), |_| {}).await;
    run(
        &master,
        child_command("normal"),
        false,
        vec![task("t1", "")],
    );

    // One outstanding update at a time: STARTING first, retried until acked.
    let starting = master.next_update().await;
    assert_eq!(state(&starting), TaskState::TaskStarting);
    assert_eq!(starting.source, Some(task_status::Source::Executor as i32));
    assert_eq!(
        starting.agent_id.as_ref().map(|a| a.value.as_str()),
        Some("M-S0")
    );
    assert_eq!(
        starting.executor_id.as_ref().map(|e| e.value.as_str()),
        Some("ex1")
    );
    assert_eq!(starting.uuid.as_ref().map(Vec::len), Some(16));
    let retried = master.next_update().await;
    assert_eq!(
        retried.uuid, starting.uuid,
        "the same update is retried, not the next one"
    );
    master.ack(&starting);
    let running = loop {
        let s = master.next_update().await;
        if s.uuid != starting.uuid {
            break s;
        }
    };
    assert_eq!(state(&running), TaskState::TaskRunning);
    master.ack(&running);

    // The executor runs as a real process in Mesos' sandbox with Mesos' env.
    let sandbox = only_run(dir.path()).await;
    assert!(sandbox.join("stdout").exists() && sandbox.join("stderr").exists());
    let env_file = sandbox.join("env.txt");
    wait_for_file(&env_file).await;
    let env: HashMap<String, String> = std::fs::read_to_string(&env_file)
        .expect("env")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let sandbox_str = sandbox.display().to_string();
    assert_eq!(
        env.get("MESOS_FRAMEWORK_ID").map(String::as_str),
        Some("M-0000")
    );
    assert_eq!(
        env.get("MESOS_EXECUTOR_ID").map(String::as_str),
        Some("ex1")
    );
    assert_eq!(env.get("MESOS_DIRECTORY"), Some(&sandbox_str));
    assert_eq!(env.get("MESOS_SANDBOX"), Some(&sandbox_str));
    assert_eq!(
        env.get("MESOS_AGENT_ENDPOINT"),
        Some(&agent.addr().to_string())
    );
    assert_eq!(
        env.get("MESOS_SLAVE_PID"),
        Some(&format!("slave(1)@{}", agent.addr()))
    );
    assert_eq!(env.get("MESOS_CHECKPOINT").map(String::as_str), Some("0"));
    assert_eq!(
        env.get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")
            .map(String::as_str),
        Some("5secs")
    );
    assert_eq!(
        env.get("MESOS_HTTP_COMMAND_EXECUTOR").map(String::as_str),
        Some("0")
    );
    assert_eq!(env.get("CUSTOM_VAR").map(String::as_str), Some("custom"));
    let cwd = std::fs::read_to_string(sandbox.join("cwd.txt")).expect("cwd");
    assert_eq!(cwd.trim(), sandbox_str);

    // KILL goes to the executor, which answers TASK_KILLED.
    master.send(MasterMessage::KillTask {
        framework_id: fw_id(),
        task_id: TaskId { value: "t1".into() },
        kill_policy: None,
    });
    let killed = master.next_update().await;
    assert_eq!(state(&killed), TaskState::TaskKilled);
    master.ack(&killed);

    // SHUTDOWN: the executor exits on its own; the master hears of it.
    master.send(MasterMessage::ShutdownExecutor {
        framework_id: fw_id(),
        executor_id: ExecutorId {
            value: "ex1".into(),
        },
    });
    assert_eq!(master.next_exit().await, Some(0));
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn executor_exit_fails_its_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent, mut master) = start_agent(dir.path(), |c| {
        c.status_update_retry_min = Duration::from_secs(10);
    })
    .await;
    run(
        &master,
        child_command("normal"),
        false,
        vec![task("t1", "exit")],
    );
    let mut exit = None;
    let failed = loop {
        match master.next().await {
            AgentMessage::StatusUpdate { status, .. } => {
                master.ack(&status);
                if state(&status) == TaskState::TaskFailed {
                    break status;
                }
            }
            AgentMessage::ExecutorExited { status, .. } => exit = Some(status),
            _ => {}
        }
    };
    assert_eq!(failed.source, Some(task_status::Source::Agent as i32));
    assert_eq!(
        failed.reason,
        Some(task_status::Reason::ExecutorTerminated as i32)
    );
    assert_eq!(failed.message.as_deref(), Some("Executor terminated"));
    let exit = match exit {
        Some(e) => e,
        None => master.next_exit().await,
    };
    assert_eq!(exit, Some(3 << 8), "raw wait status of exit code 3");
    agent.shutdown().await.expect("shutdown");
}

/// The soak found it (issue 14): after a partition healed, the master
/// listed a task `TASK_STARTING` whose executor had died. The executor's
/// TASK_STARTING reached the agent after the agent had failed the task
/// (the executor was killed with the update in flight); the agent dropped
/// the update but wrote its state into the task, and re-registering it
/// reported the dead task as starting. Mesos' `Executor::updateTaskState`
/// refuses any update of a terminated task ("Task is already terminated"),
/// and the agent acknowledges it to the executor without forwarding it.
#[tokio::test]
async fn an_update_after_the_agent_failed_the_task_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent, mut master) = start_agent(dir.path(), |c| {
        c.status_update_retry_min = Duration::from_secs(30);
    })
    .await;
    run(
        &master,
        shell_command("while [ ! -e stop ]; do sleep 0.05; done"),
        false,
        vec![task("t1", "")],
    );
    let url = format!("http://{}/api/v1/executor", agent.addr());
    install_crypto();
    let client = reqwest::Client::new();
    let json_call = |kind: &str, extra: &str| {
        format!(
            r#"{{"type":"{kind}","executor_id":{{"value":"ex1"}},"framework_id":{{"value":"M-0000"}}{extra}}}"#
        )
        .into_bytes()
    };
    let update = |state: &str| {
        use base64::Engine as _;
        let uuid =
            base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
        json_call(
            "UPDATE",
            &format!(
                r#","update":{{"status":{{"task_id":{{"value":"t1"}},"state":"{state}","source":"SOURCE_EXECUTOR","uuid":"{uuid}"}}}}"#
            ),
        )
    };
    let post = |body: Vec<u8>| {
        client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(body)
            .send()
    };
    // The test is the executor: it subscribes and gets the task.
    let subscription = post(json_call("SUBSCRIBE", r#","subscribe":{}"#))
        .await
        .expect("subscribe");
    assert_eq!(subscription.status(), 200);
    let r = post(update("TASK_RUNNING")).await.expect("update");
    assert_eq!(r.status(), 202);
    let running = master.next_update().await;
    assert_eq!(state(&running), TaskState::TaskRunning);
    master.ack(&running);

    // The executor's process exits: the agent fails the task (its update
    // left unacknowledged, as when the framework is away).
    std::fs::write(only_run(dir.path()).await.join("stop"), "").expect("stop");
    let failed = master.next_update().await;
    assert_eq!(state(&failed), TaskState::TaskFailed);
    // A late update of the dead executor.
    let r = post(update("TASK_STARTING")).await.expect("late update");
    assert_eq!(r.status(), 202);

    // The agent re-registers (a partition heals): the task it reports is
    // the failed one.
    agent.disconnect();
    agent.reconnect();
    let before = master.registrations.len();
    master.inbox = None;
    master.registered().await;
    assert_eq!(master.registrations.len(), before + 1);
    let (_, _, states) = master.registrations.last().expect("registration");
    assert_eq!(states, &[TaskState::TaskFailed as i32]);
    // The only update forwarded after it is the failure, again.
    let again = master.next_update().await;
    assert_eq!(state(&again), TaskState::TaskFailed);
    assert_eq!(again.uuid, failed.uuid);
    drop(subscription);
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn registration_timeout_and_kill_before_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent, mut master) = start_agent(dir.path(), |c| {
        c.executor_registration_timeout = Duration::from_millis(1500);
        c.status_update_retry_min = Duration::from_secs(10);
    })
    .await;
    run(
        &master,
        shell_command("sleep 30"),
        false,
        vec![task("t1", ""), task("t2", "")],
    );
    master.send(MasterMessage::KillTask {
        framework_id: fw_id(),
        task_id: TaskId { value: "t2".into() },
        kill_policy: None,
    });
    let killed = master.next_update().await;
    assert_eq!(state(&killed), TaskState::TaskKilled);
    assert_eq!(
        killed.reason,
        Some(task_status::Reason::TaskKilledDuringLaunch as i32)
    );
    assert_eq!(killed.source, Some(task_status::Source::Agent as i32));
    master.ack(&killed);
    let failed = master.next_update().await;
    assert_eq!(failed.task_id.value, "t1");
    assert_eq!(state(&failed), TaskState::TaskFailed);
    assert_eq!(
        failed.reason,
        Some(task_status::Reason::ExecutorRegistrationTimeout as i32)
    );
    assert_eq!(
        failed.message.as_deref(),
        Some("Executor did not register within 1.5secs")
    );
    master.ack(&failed);
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn fetches_file_uris_executable_and_tar_gz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let assets = tempfile::tempdir().expect("assets");
    let script = assets.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho ran > ran.txt\nexec sleep 30\n").expect("script");
    // A .tar.gz with one file.
    let tgz = assets.path().join("bundle.tar.gz");
    {
        let file = std::fs::File::create(&tgz).expect("tgz");
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let mut builder = tar::Builder::new(gz);
        let data = b"hello from the bundle\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "bundle/hello.txt", &data[..])
            .expect("append");
        builder.into_inner().expect("tar").finish().expect("gz");
    }
    let (agent, _master) = start_agent(dir.path(), |_| {}).await;
    let mut command = shell_command("./run.sh");
    command.uris = vec![
        command_info::Uri {
            value: format!("file://{}", script.display()),
            executable: Some(true),
            ..Default::default()
        },
        command_info::Uri {
            value: tgz.display().to_string(),
            ..Default::default()
        },
    ];
    run(&_master, command, false, vec![task("t1", "")]);
    let sandbox = only_run(dir.path()).await;
    wait_for_file(&sandbox.join("ran.txt")).await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sandbox.join("run.sh"))
        .expect("run.sh")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read_to_string(sandbox.join("bundle/hello.txt")).expect("extracted"),
        "hello from the bundle\n"
    );
    agent.shutdown().await.expect("shutdown");
}

/// Raw HTTP checks of every status code of the executor API, plus a JSON
/// SUBSCRIBE stream driven by hand for a launched (sleeping) executor.
#[tokio::test]
async fn executor_api_status_codes_and_json_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent, mut master) = start_agent(dir.path(), |c| {
        c.max_request_body_bytes = 64 * 1024;
        c.status_update_retry_min = Duration::from_secs(10);
    })
    .await;
    run(
        &master,
        shell_command("sleep 30"),
        false,
        vec![task("t1", "")],
    );
    let url = format!("http://{}/api/v1/executor", agent.addr());
    install_crypto();
    let client = reqwest::Client::new();
    let post = |ct: Option<&str>, body: Vec<u8>| {
        let mut req = client.post(&url).body(body);
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        req.send()
    };
    let json_call = |kind: &str, extra: &str| {
        format!(
            r#"{{"type":"{kind}","executor_id":{{"value":"ex1"}},"framework_id":{{"value":"M-0000"}}{extra}}}"#
        )
        .into_bytes()
    };

    let r = client.get(&url).send().await.expect("get");
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.headers().get("allow").map(|v| v.to_str().unwrap_or("")),
        Some("POST")
    );
    let r = post(None, b"{}".to_vec()).await.expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap_or_default(),
        "Expecting 'Content-Type' to be present"
    );
    assert_eq!(
        post(Some("text/plain"), b"x".to_vec())
            .await
            .expect("post")
            .status(),
        415
    );
    let r = post(Some("application/x-protobuf"), b"\x0a\xff\xff".to_vec())
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap_or_default(),
        "Failed to parse body into Call protobuf"
    );
    assert_eq!(
        post(Some("application/json"), b"{nope".to_vec())
            .await
            .expect("post")
            .status(),
        400
    );
    assert_eq!(
        post(Some("application/json"), vec![b' '; 100 * 1024])
            .await
            .expect("post")
            .status(),
        413
    );
    let r = post(
        Some("application/json"),
        br#"{"type":"MESSAGE","executor_id":{"value":"ex1"},"framework_id":{"value":"nope"},"message":{"data":""}}"#.to_vec(),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap_or_default(),
        "Framework cannot be found"
    );
    let r = post(
        Some("application/json"),
        br#"{"type":"MESSAGE","executor_id":{"value":"nope"},"framework_id":{"value":"M-0000"},"message":{"data":""}}"#.to_vec(),
    )
    .await
    .expect("post");
    assert_eq!(
        r.text().await.unwrap_or_default(),
        "Executor cannot be found"
    );
    // Not subscribed yet: 403.
    let r = post(
        Some("application/json"),
        json_call("MESSAGE", r#","message":{"data":""}"#),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 403);
    // SUBSCRIBE refusing both media types: 406.
    let r = client
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "text/html")
        .body(json_call("SUBSCRIBE", r#","subscribe":{}"#))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 406);

    // SUBSCRIBE in JSON: 200, chunked RecordIO, SUBSCRIBED then LAUNCH.
    let r = client
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(json_call("SUBSCRIBE", r#","subscribe":{}"#))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("")),
        Some("application/json")
    );
    assert_eq!(
        r.headers()
            .get("transfer-encoding")
            .map(|v| v.to_str().unwrap_or("")),
        Some("chunked")
    );
    let mut body = r.bytes_stream();
    let mut decoder = recordio::Decoder::new();
    let mut events: Vec<serde_json::Value> = Vec::new();
    let mut next_event = async || -> serde_json::Value {
        loop {
            if let Some(record) = decoder.next_record().expect("recordio") {
                return serde_json::from_slice(&record).expect("json event");
            }
            let chunk = tokio::time::timeout(WAIT, body.next())
                .await
                .expect("event in time")
                .expect("stream open")
                .expect("chunk");
            decoder.push(&chunk);
        }
    };
    events.push(next_event().await);
    events.push(next_event().await);
    assert_eq!(events[0]["type"], "SUBSCRIBED");
    let subscribed = &events[0]["subscribed"];
    assert_eq!(subscribed["executor_info"]["executor_id"]["value"], "ex1");
    assert_eq!(subscribed["framework_info"]["id"]["value"], "M-0000");
    assert_eq!(subscribed["agent_info"]["id"]["value"], "M-S0");
    assert_eq!(subscribed["agent_info"]["hostname"], "agent-1");
    assert!(subscribed["container_id"]["value"].is_string());
    assert_eq!(events[1]["type"], "LAUNCH");
    assert_eq!(events[1]["launch"]["task"]["task_id"]["value"], "t1");
    // Also valid as protobuf Event through the JSON mapping.
    let _: Event = json::from_json_value(events[1].clone()).expect("event");

    // UPDATE: bad uuid and wrong source are 400; a good one is 202 and
    // ACKNOWLEDGED comes back once the agent has handled it.
    let update = |uuid: &[u8], source: &str| {
        use base64::Engine as _;
        let uuid = base64::engine::general_purpose::STANDARD.encode(uuid);
        json_call(
            "UPDATE",
            &format!(
                r#","update":{{"status":{{"task_id":{{"value":"t1"}},"state":"TASK_RUNNING","source":"{source}","uuid":"{uuid}"}}}}"#
            ),
        )
    };
    let r = post(
        Some("application/json"),
        update(&[1, 2, 3], "SOURCE_EXECUTOR"),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap_or_default(),
        "Failed to validate Executor::Call: Not a valid UUID"
    );
    let good = uuid::Uuid::new_v4().as_bytes().to_vec();
    let r = post(Some("application/json"), update(&good, "SOURCE_AGENT"))
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let r = post(Some("application/json"), update(&good, "SOURCE_EXECUTOR"))
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let ack = next_event().await;
    assert_eq!(ack["type"], "ACKNOWLEDGED");
    assert_eq!(ack["acknowledged"]["task_id"]["value"], "t1");
    let update = master.next_update().await;
    assert_eq!(state(&update), TaskState::TaskRunning);
    assert_eq!(update.uuid.as_deref(), Some(good.as_slice()));
    // MESSAGE goes to the master; UNKNOWN is 501 once subscribed.
    let r = post(
        Some("application/json"),
        json_call("MESSAGE", r#","message":{"data":"aGk="}"#),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 202);
    loop {
        if let AgentMessage::FrameworkMessage { data, .. } = master.next().await {
            assert_eq!(data, b"hi");
            break;
        }
    }
    let r = post(Some("application/json"), json_call("UNKNOWN", ""))
        .await
        .expect("post");
    assert_eq!(r.status(), 501);
    // A scheduler MESSAGE reaches the executor's stream.
    master.send(MasterMessage::FrameworkMessage {
        framework_id: fw_id(),
        executor_id: ExecutorId {
            value: "ex1".into(),
        },
        data: b"yo".to_vec(),
    });
    let message = next_event().await;
    assert_eq!(message["type"], "MESSAGE");
    assert_eq!(message["message"]["data"], "eW8=");
    // Protobuf calls work too, and the agent survived all of the above.
    let call = Call {
        executor_id: ExecutorId {
            value: "ex1".into(),
        },
        framework_id: fw_id(),
        r#type: Some(call::Type::Message as i32),
        message: Some(call::Message {
            data: b"pb".to_vec(),
        }),
        ..Default::default()
    };
    let r = post(Some("application/x-protobuf"), call.encode_to_vec())
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn agent_restart_recovers_checkpointed_executor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent, mut master) = start_agent(dir.path(), |c| {
        c.executor_reregistration_timeout = Duration::from_secs(15);
        c.status_update_retry_min = Duration::from_secs(10);
    })
    .await;
    run(&master, child_command("normal"), true, vec![task("t1", "")]);
    let mut running = false;
    while !running {
        let status = master.next_update().await;
        master.ack(&status);
        running = state(&status) == TaskState::TaskRunning;
    }
    let sandbox = only_run(dir.path()).await;
    let pid = std::fs::read_to_string(sandbox.join("pid.txt")).expect("pid");
    assert!(dir.path().join("meta/slaves/latest").exists());

    // Crash and restart on the same port and work dir.
    let addr = agent.addr();
    let agent = agent.restart().await.expect("restart");
    assert_eq!(agent.addr(), addr);
    master.inbox = None;
    master.registered().await;
    let (id, executors, states) = master
        .registrations
        .last()
        .cloned()
        .expect("re-registration");
    assert_eq!(id.map(|i| i.value), Some("M-S0".to_owned()));
    assert_eq!(executors, 1);
    assert_eq!(states, vec![TaskState::TaskRunning as i32]);

    // The executor resubscribes; KILL reaches the same process.
    let resubscribed = sandbox.join("subscribed-2.txt");
    wait_for_file(&resubscribed).await;
    master.send(MasterMessage::KillTask {
        framework_id: fw_id(),
        task_id: TaskId { value: "t1".into() },
        kill_policy: None,
    });
    // An update whose acknowledgement the crash lost is sent again first.
    let killed = loop {
        let status = master.next_update().await;
        master.ack(&status);
        if state(&status) != TaskState::TaskRunning {
            break status;
        }
    };
    assert_eq!(state(&killed), TaskState::TaskKilled);
    assert_eq!(
        std::fs::read_to_string(sandbox.join("pid.txt")).expect("pid"),
        pid,
        "same executor process"
    );
    assert_eq!(
        std::fs::read_dir(sandbox_runs(dir.path()))
            .expect("runs")
            .count(),
        1
    );
    agent.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn simulated_agents_register_run_and_kill() {
    let (tx, mut rx) = mpsc::unbounded_channel::<AgentMessage>();
    let template = AgentConfig::new("sim", "/nonexistent")
        .with_resources("cpus:8;mem:16384")
        .expect("resources");
    let agents = SimulatedAgents::start(500, &template, tx);
    let mut inboxes = Vec::new();
    for i in 0..500 {
        match rx.recv().await.expect("register") {
            AgentMessage::Register {
                info, inbox, reply, ..
            } => {
                assert!(info.hostname.starts_with("sim-"));
                inboxes.push(inbox);
                let _ = reply.send(Ok(AgentId {
                    value: format!("S{i}"),
                }));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(agents.wait_registered().await.len(), 500);
    let inbox = &inboxes[7];
    inbox
        .send(MasterMessage::RunTasks {
            framework: framework(false),
            executor: executor_info(shell_command("unused")),
            tasks: vec![task("t1", "")],
            group: false,
        })
        .expect("send");
    let status = match rx.recv().await.expect("update") {
        AgentMessage::StatusUpdate { status, .. } => status,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(state(&status), TaskState::TaskRunning);
    inbox
        .send(MasterMessage::StatusUpdateAcknowledged {
            framework_id: fw_id(),
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone().expect("uuid"),
        })
        .expect("ack");
    inbox
        .send(MasterMessage::KillTask {
            framework_id: fw_id(),
            task_id: TaskId { value: "t1".into() },
            kill_policy: None,
        })
        .expect("kill");
    let killed = match rx.recv().await.expect("update") {
        AgentMessage::StatusUpdate { status, .. } => status,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(state(&killed), TaskState::TaskKilled);
    // Unacknowledged: retried after the (paused) retry interval.
    let again = match rx.recv().await.expect("retry") {
        AgentMessage::StatusUpdate { status, .. } => status,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(again.uuid, killed.uuid);
    // Lost for good: its link to the master drops at once, and it never
    // registers again (the others do not notice).
    assert!(!agents.lose("nobody"));
    assert!(agents.lose("sim-3"));
    tokio::time::timeout(WAIT, inboxes[3].closed())
        .await
        .expect("the lost agent's inbox closes");
    assert!(!inboxes[4].is_closed());
    tokio::time::sleep(Duration::from_secs(120)).await;
    while let Ok(message) = rx.try_recv() {
        if let AgentMessage::Register { info, .. } = message {
            assert_ne!(info.hostname, "sim-3", "a lost agent came back");
        }
    }
    agents.stop().await;
}

// ----- the child executor ----------------------------------------------------

/// Runs only when re-executed by the agent (AGENT_TEST_CHILD_EXECUTOR set).
#[test]
fn child_executor() {
    let Ok(mode) = std::env::var("AGENT_TEST_CHILD_EXECUTOR") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let code = runtime.block_on(child_main(mode));
    std::process::exit(code);
}

struct Child {
    client: reqwest::Client,
    url: String,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    unacked_updates: HashMap<Vec<u8>, TaskStatus>,
    unacked_tasks: HashMap<String, TaskInfo>,
    exit_after_ack: Option<Vec<u8>>,
}

impl Child {
    fn call(&self, kind: call::Type) -> Call {
        Call {
            executor_id: self.executor_id.clone(),
            framework_id: self.framework_id.clone(),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    async fn update(&mut self, task_id: &TaskId, state: TaskState) -> Vec<u8> {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        let status = TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            source: Some(task_status::Source::Executor as i32),
            uuid: Some(uuid.clone()),
            ..Default::default()
        };
        self.unacked_updates.insert(uuid.clone(), status.clone());
        let mut call = self.call(call::Type::Update);
        call.update = Some(call::Update { status });
        let _ = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/x-protobuf")
            .body(call.encode_to_vec())
            .send()
            .await;
        uuid
    }
}

async fn child_main(mode: String) -> i32 {
    install_crypto();
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let sandbox = PathBuf::from(env("MESOS_SANDBOX"));
    let mut dump: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("MESOS_") || k == "CUSTOM_VAR")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    dump.sort();
    let _ = std::fs::write(sandbox.join("env.txt"), dump.join("\n"));
    let _ = std::fs::write(
        sandbox.join("cwd.txt"),
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    );
    let _ = std::fs::write(sandbox.join("pid.txt"), std::process::id().to_string());
    if mode == "never" {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return 0;
    }
    let checkpoint = env("MESOS_CHECKPOINT") == "1";
    let mut child = Child {
        client: reqwest::Client::new(),
        // As Mesos' executor library: the agent process' path from its PID
        // (`slave(1)@ip:port`); the status-code test uses the bare path
        // that `MESOS_AGENT_ENDPOINT` clients (pymesos) post to.
        url: {
            let pid = env("MESOS_SLAVE_PID");
            let (process, addr) = pid.split_once('@').unwrap_or(("", ""));
            format!("http://{addr}/{process}/api/v1/executor")
        },
        framework_id: FrameworkId {
            value: env("MESOS_FRAMEWORK_ID"),
        },
        executor_id: ExecutorId {
            value: env("MESOS_EXECUTOR_ID"),
        },
        unacked_updates: HashMap::new(),
        unacked_tasks: HashMap::new(),
        exit_after_ack: None,
    };
    let mut subscriptions = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut call = child.call(call::Type::Subscribe);
        call.subscribe = Some(call::Subscribe {
            unacknowledged_tasks: child.unacked_tasks.values().cloned().collect(),
            unacknowledged_updates: child
                .unacked_updates
                .values()
                .map(|s| call::Update { status: s.clone() })
                .collect(),
        });
        let response = child
            .client
            .post(&child.url)
            .header("Content-Type", "application/x-protobuf")
            .header("Accept", "application/x-protobuf")
            .body(call.encode_to_vec())
            .send()
            .await;
        let response = match response {
            Ok(r) if r.status() == 200 => r,
            _ => {
                if !checkpoint || tokio::time::Instant::now() > deadline {
                    return 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        subscriptions += 1;
        let _ = std::fs::write(sandbox.join(format!("subscribed-{subscriptions}.txt")), "");
        let mut body = response.bytes_stream();
        let mut decoder = recordio::Decoder::new();
        while let Some(Ok(chunk)) = body.next().await {
            decoder.push(&chunk);
            while let Ok(Some(record)) = decoder.next_record() {
                let Ok(event) = Event::decode(record) else {
                    continue;
                };
                match event.r#type.and_then(|t| event::Type::try_from(t).ok()) {
                    Some(event::Type::Launch) => {
                        let Some(task) = event.launch.map(|l| l.task) else {
                            continue;
                        };
                        child
                            .unacked_tasks
                            .insert(task.task_id.value.clone(), task.clone());
                        child.update(&task.task_id, TaskState::TaskStarting).await;
                        let running = child.update(&task.task_id, TaskState::TaskRunning).await;
                        if task.data.as_deref() == Some(b"exit".as_slice()) {
                            child.exit_after_ack = Some(running);
                        }
                    }
                    Some(event::Type::Acknowledged) => {
                        let Some(ack) = event.acknowledged else {
                            continue;
                        };
                        child.unacked_updates.remove(&ack.uuid);
                        child.unacked_tasks.remove(&ack.task_id.value);
                        if child.exit_after_ack.as_deref() == Some(ack.uuid.as_slice()) {
                            return 3;
                        }
                    }
                    Some(event::Type::Kill) => {
                        if let Some(kill) = event.kill {
                            child.update(&kill.task_id, TaskState::TaskKilled).await;
                        }
                    }
                    Some(event::Type::Shutdown) => return 0,
                    _ => {}
                }
            }
        }
        if !checkpoint || tokio::time::Instant::now() > deadline {
            return 0;
        }
        // Agent went away: resubscribe (recovery) after a short backoff.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
