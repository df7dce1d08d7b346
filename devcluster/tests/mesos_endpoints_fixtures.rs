//! The devcluster's read-only Mesos endpoints against captures of a real
//! Mesos 1.11 (`tests/fixtures/mesos-1.11/`).
//!
//! The test replays the captured story on a devcluster master and agent: a
//! scheduler subscribes (with the kube-mesos framework's info), declines a
//! first offer, suppresses, revives, launches one task on a custom executor
//! from the second offer, suppresses again, and acknowledges TASK_STARTING
//! and TASK_RUNNING; later it kills the task and acknowledges TASK_KILLING
//! and TASK_KILLED. An operator API subscriber is open throughout, as it was
//! in the capture. The executor is `mesos_endpoints/executor.py`, launched
//! by the agent as a real process. Master and agent use the IDs of the
//! capture (master ID, task, executor and label values), so that IDs compare
//! equal too.
//!
//! At both points every key path of Mesos' `/master/state`,
//! `/master/frameworks`, `/master/tasks`, `/master/slaves`,
//! `/metrics/snapshot` and the agent's `/slave(1)/state` must be in ours
//! with the same JSON type and the same values, except what the rules below
//! explain.

#[path = "mesos_endpoints/compare.rs"]
mod compare;
mod mesos_master_support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use compare::{compare, same_key, KeyFn, Rule, Rules};
use kube_mesos_devcluster::mesos::agent::{AgentConfig, AgentHandle};
use kube_mesos_proto::v1::scheduler::call;
use kube_mesos_proto::v1::{
    self as v1, environment, executor_info, framework_info, ExecutorId, Label, Labels, TaskId,
    TaskState, TaskStatus,
};
use mesos_master_support::*;
use serde_json::Value;

const MASTER_ID: &str = "e5b94c4e-3b48-488f-8142-f8d823144e30";
const TASK_ID: &str = "pod.925d3915-5a46-4450-aed6-e5180965c183";
const EXECUTOR_ID: &str = "kube-mesos-198eca0de610";

/// What differs in the read-only JSON documents.
const STATE_RULES: Rules = Rules {
    absent: &[
        (
            "git_sha",
            "written only by a Mesos built from a git checkout",
        ),
        (
            "git_tag",
            "written only by a Mesos built from a git checkout",
        ),
        (
            "master_hostname",
            "the agent reaches its master in-process, not by address",
        ),
        ("flags.*", "the devcluster honours a few flags only"),
        (
            "*statuses[].container_status*",
            "known gap: the devcluster agent does not add the executor's container status \
             (container ID, agent IP) to executor updates as Mesos' Slave::_statusUpdate does",
        ),
    ],
    differ: &[
        ("build_*", "build information"),
        (
            "version",
            "the same; listed for the build information it goes with",
        ),
        ("start_time", "time"),
        ("elected_time", "time"),
        ("*registered_time", "time"),
        ("*.timestamp", "time"),
        ("pid", "carries the port"),
        ("leader", "carries the port"),
        ("*.pid", "carries the port"),
        ("*.port", "port picked by the test"),
        ("*.container", "container IDs are random"),
        ("*.directory", "sandbox under the test's work dir"),
        ("*.command.value", "the test's executor command"),
        (
            "slaves[].capabilities[]",
            "devcluster agents claim only what they implement",
        ),
        (
            "capabilities[]",
            "the agent document: devcluster agents claim what they implement",
        ),
        (
            "frameworks[].executors[].tasks[].statuses[].*",
            "the devcluster agent keeps only a task's latest status",
        ),
    ],
    extra: &[(
        "*tasks[].user",
        "known gap: the devcluster master sets Task.user to the framework's user; Mesos' \
         createTask copies only the task's or executor's CommandInfo.user",
    )],
};

/// What differs in `/metrics/snapshot`.
const METRICS_RULES: Rules = Rules {
    absent: &[
        (
            "master/event_queue_*",
            "libprocess queue lengths; there is no such queue",
        ),
        (
            "allocator/event_queue_dispatches",
            "libprocess queue length",
        ),
        (
            "allocator/mesos/event_queue_dispatches",
            "libprocess queue length",
        ),
        (
            "master/http_cache_hits",
            "the devcluster batches no read-only requests",
        ),
        (
            "allocator/mesos/allocation_run_latency_ms*",
            "the wait from a wanted allocation to its run is not timed",
        ),
        ("allocator/mesos/quota/*", "quota is not implemented"),
        ("registrar/*", "there is no registry"),
        (
            "master/operations/*",
            "no offer operations besides LAUNCH(_GROUP)",
        ),
        (
            "master/messages_reconcile_operations",
            "operation feedback is not implemented",
        ),
        (
            "master/messages_operation_status_update*",
            "operation feedback is not implemented",
        ),
        (
            "master/valid_operation_status_update*",
            "operation feedback is not implemented",
        ),
        (
            "master/invalid_operation_status_update*",
            "operation feedback is not implemented",
        ),
        (
            "master/frameworks/*/operations/create*",
            "only LAUNCH(_GROUP) are applied",
        ),
        (
            "master/frameworks/*/operations/destroy*",
            "only LAUNCH(_GROUP) are applied",
        ),
        (
            "master/frameworks/*/operations/*_volume",
            "only LAUNCH(_GROUP) are applied",
        ),
        (
            "master/frameworks/*/operations/*reserve",
            "only LAUNCH(_GROUP) are applied",
        ),
        (
            "slave/*",
            "the agent's metrics: mesos-local serves them from the master's process",
        ),
        ("containerizer/*", "the agent's metrics (mesos-local)"),
        ("gc/*", "the agent's metrics (mesos-local)"),
        (
            "resource_provider_manager/*",
            "the agent's metrics (mesos-local)",
        ),
    ],
    differ: &[
        ("system/*", "the machine"),
        ("master/uptime_secs", "time"),
        ("allocator/mesos/allocation_runs", "allocation timing"),
        ("allocator/mesos/allocation_run_ms*", "allocation timing"),
        (
            "allocator/mesos/offer_filters/roles/*/active",
            "filters expire with time",
        ),
        (
            "master/frameworks/*/events/heartbeat",
            "one per 15 s of the test's duration",
        ),
        ("master/frameworks/*/events", "includes the heartbeats"),
        (
            "master/messages_update_slave",
            "devcluster agents send no UpdateSlaveMessage",
        ),
    ],
    extra: &[],
};

/// `master/frameworks/<name>/<id>/...` → `.../<id>/...`.
fn metric_key(k: &str) -> String {
    let mut parts: Vec<&str> = k.split('/').collect();
    if parts.len() > 3 && parts[0] == "master" && parts[1] == "frameworks" {
        parts[3] = "<id>";
    }
    parts.join("/")
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mesos-1.11")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

async fn get(url: String) -> Value {
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(r.headers()["Content-Type"], "application/json", "{url}");
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Option<Labels> {
    Some(Labels {
        labels: pairs
            .iter()
            .map(|(k, v)| Label {
                key: k.to_string(),
                value: Some(v.to_string()),
            })
            .collect(),
    })
}

/// The kube-mesos framework's info, as in the capture.
fn kube_mesos_framework() -> v1::FrameworkInfo {
    use framework_info::capability::Type as C;
    v1::FrameworkInfo {
        user: "root".into(),
        name: "kube-mesos".into(),
        failover_timeout: Some(604800.0),
        checkpoint: Some(true),
        hostname: Some("vm".into()),
        webui_url: Some("http://vm:33815/".into()),
        roles: vec!["*".into()],
        capabilities: [
            C::MultiRole,
            C::PartitionAware,
            C::TaskKillingState,
            C::RegionAware,
            C::ReservationRefinement,
        ]
        .into_iter()
        .map(|t| framework_info::Capability {
            r#type: Some(t as i32),
        })
        .collect(),
        ..Default::default()
    }
}

/// The pod's task on the shared executor, as in the capture; the executor
/// command is the test's.
fn pod_task(offer: &v1::Offer) -> v1::TaskInfo {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mesos_endpoints/executor.py");
    let env = [
        ("KUBE_MESOS_API_CA_FILE", "/tmp/man/api/ca.crt"),
        ("KUBE_MESOS_API_SERVER", "https://127.0.0.1:16443"),
        ("KUBE_MESOS_KUBELET_ADDRESS", "127.0.0.1"),
        ("KUBE_MESOS_KUBELET_TOKEN", "kt"),
        ("KUBE_MESOS_NODE_IP", "127.0.0.1"),
        ("KUBE_MESOS_ROOT_DIR", "/tmp/man/exec"),
        ("KUBE_MESOS_TOKEN", "tok"),
    ];
    let executor = v1::ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: ExecutorId {
            value: EXECUTOR_ID.into(),
        },
        name: Some("kube-mesos executor".into()),
        command: Some(v1::CommandInfo {
            shell: Some(true),
            value: Some(format!("python3 {}", script.display())),
            environment: Some(v1::Environment {
                variables: env
                    .iter()
                    .map(|(k, v)| environment::Variable {
                        name: k.to_string(),
                        r#type: Some(environment::variable::Type::Value as i32),
                        value: Some(v.to_string()),
                        secret: None,
                    })
                    .collect(),
            }),
            ..Default::default()
        }),
        resources: vec![
            scalar("cpus", 0.1),
            scalar("mem", 64.0),
            kube_mesos_devcluster::mesos::master::resources::ranges("ports", &[(31000, 31000)]),
        ],
        labels: labels(&[("kube-mesos.io/executor-version", "0.1.0")]),
        ..Default::default()
    };
    v1::TaskInfo {
        name: "default/hello".into(),
        task_id: TaskId {
            value: TASK_ID.into(),
        },
        agent_id: offer.agent_id.clone(),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        executor: Some(executor),
        labels: labels(&[
            ("kube-mesos.io/namespace", "default"),
            ("kube-mesos.io/name", "hello"),
            ("kube-mesos.io/uid", "925d3915-5a46-4450-aed6-e5180965c183"),
        ]),
        ..Default::default()
    }
}

/// SUPPRESS or REVIVE of all the framework's roles.
fn all_roles(ty: call::Type) -> kube_mesos_proto::v1::scheduler::Call {
    let mut c = call_of(ty);
    match ty {
        call::Type::Suppress => c.suppress = Some(call::Suppress { roles: vec![] }),
        _ => c.revive = Some(call::Revive { roles: vec![] }),
    }
    c
}

fn acknowledge(status: &TaskStatus) -> kube_mesos_proto::v1::scheduler::Call {
    kube_mesos_proto::v1::scheduler::Call {
        acknowledge: Some(call::Acknowledge {
            agent_id: status.agent_id.clone().unwrap(),
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone().unwrap(),
        }),
        ..call_of(call::Type::Acknowledge)
    }
}

async fn post_ok(master: &TestMaster, s: &Stream, c: kube_mesos_proto::v1::scheduler::Call) {
    let (status, body) = post(master, s, c).await;
    assert_eq!(status, 202, "{body}");
}

/// Receives the next two updates, checks their states and acknowledges them.
async fn updates(master: &TestMaster, s: &mut Stream, states: [TaskState; 2]) {
    for state in states {
        let u = s.next_update().await;
        assert_eq!(u.state(), state, "{u:?}");
        post_ok(master, s, acknowledge(&u)).await;
    }
}

/// Compares our documents with the captured ones named `names` (fixture
/// file, our URL path, rules).
async fn compare_all(
    master: &TestMaster,
    agent_url: &str,
    prefix: &str,
    names: &[&str],
    used: &mut BTreeSet<&'static str>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for name in names {
        let (url, rules, key): (String, &Rules, &KeyFn) = match *name {
            "master_state" => (master.url("/master/state"), &STATE_RULES, &same_key),
            "master_frameworks" => (master.url("/master/frameworks"), &STATE_RULES, &same_key),
            "master_tasks" => (master.url("/master/tasks"), &STATE_RULES, &same_key),
            "master_slaves" => (master.url("/master/slaves"), &STATE_RULES, &same_key),
            "metrics_snapshot" => (master.url("/metrics/snapshot"), &METRICS_RULES, &metric_key),
            "slave_1__state" => (
                format!("{agent_url}/slave(1)/state"),
                &STATE_RULES,
                &same_key,
            ),
            other => panic!("no document {other}"),
        };
        let file = format!("{prefix}{name}");
        let theirs = fixture(&format!("{file}.json"));
        let ours = get(url).await;
        problems.extend(compare(&file, &theirs, &ours, rules, key, used));
    }
    problems
}

#[tokio::test]
async fn endpoints_match_mesos_1_11_through_a_pod_lifecycle() {
    let mut config = fast_config();
    config.master_id = Some(MASTER_ID.into());
    config.hostname = "127.0.0.1".into();
    let master = TestMaster::start(config).await;
    let work = tempfile::tempdir().unwrap();
    let agent_config = AgentConfig::new("127.0.0.1", work.path())
        .with_resources("cpus:2;mem:2048;disk:4096;ports:[31000-31999]")
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent = AgentHandle::start(
        agent_config,
        listener,
        master.handle.link(),
        std::future::pending(),
    )
    .await
    .unwrap();
    let agent_id = agent.registered().await.unwrap();
    let agent_url = format!("http://{}", agent.addr());

    // An operator API subscriber, as in the capture.
    let operator = client()
        .post(master.url("/api/v1"))
        .header("Content-Type", JSON)
        .header("Accept", JSON)
        .body(r#"{"type":"SUBSCRIBE"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(operator.status(), 200);

    let mut s = subscribe(&master, kube_mesos_framework(), PROTOBUF).await;
    let first = s.next_offers().await;
    post_ok(&master, &s, decline(&first, 3600.0)).await;
    post_ok(&master, &s, all_roles(call::Type::Suppress)).await;
    post_ok(&master, &s, all_roles(call::Type::Revive)).await;
    let second = s.next_offers().await;
    post_ok(&master, &s, launch(&second, vec![pod_task(&second[0])])).await;
    post_ok(&master, &s, all_roles(call::Type::Suppress)).await;
    updates(
        &master,
        &mut s,
        [TaskState::TaskStarting, TaskState::TaskRunning],
    )
    .await;

    let mut used = BTreeSet::new();
    let mut problems = compare_all(
        &master,
        &agent_url,
        "",
        &[
            "master_state",
            "master_frameworks",
            "master_tasks",
            "master_slaves",
            "metrics_snapshot",
            "slave_1__state",
        ],
        &mut used,
    )
    .await;

    // A real agent is also its process' delegate: `/state` answers too.
    let bare = get(format!("{agent_url}/state")).await;
    assert_eq!(bare["id"], agent_id.value.as_str());

    post_ok(&master, &s, kill(TASK_ID, Some(&agent_id.value))).await;
    updates(
        &master,
        &mut s,
        [TaskState::TaskKilling, TaskState::TaskKilled],
    )
    .await;
    problems.extend(
        compare_all(
            &master,
            &agent_url,
            "after-delete-",
            &[
                "master_state",
                "master_frameworks",
                "master_tasks",
                "metrics_snapshot",
            ],
            &mut used,
        )
        .await,
    );

    let all: Vec<&Rule> = [&STATE_RULES, &METRICS_RULES]
        .iter()
        .flat_map(|r| r.absent.iter().chain(r.differ).chain(r.extra))
        .collect();
    for (pattern, _) in all {
        if !used.contains(pattern) {
            problems.push(format!("rule `{pattern}` explains nothing any more"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    drop(operator);
    drop(s);
    agent.shutdown().await.unwrap();
    master.stop().await;
}
