//! The master's read-only endpoints and metrics beyond the captured story
//! (`mesos_endpoints_fixtures.rs`): query parameters, jsonp, redirects, and
//! the counting rules of `/metrics/snapshot` on paths the story does not
//! take (invalid calls, refused tasks, unreachable agents, teardown).

mod mesos_master_support;

use std::collections::BTreeMap;

use kube_mesos_devcluster::mesos::link::{AgentMessage, MasterMessage};
use kube_mesos_proto::v1::scheduler::{call, event, Call};
use kube_mesos_proto::v1::{self as v1, AgentId, FrameworkId, TaskState, TaskStatus};
use mesos_master_support::*;
use serde_json::Value;

async fn get(master: &TestMaster, path: &str) -> Value {
    let r = client().get(master.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

async fn metrics(master: &TestMaster) -> BTreeMap<String, f64> {
    serde_json::from_value(get(master, "/metrics/snapshot").await).unwrap()
}

/// The framework's metric named `suffix`.
fn fw_metric(m: &BTreeMap<String, f64>, name: &str, fid: &str, suffix: &str) -> Option<f64> {
    m.get(&format!("master/frameworks/{name}/{fid}/{suffix}"))
        .copied()
}

/// A status update from `agent` with a timestamp, as its manager sends it.
fn update_at(agent: &FakeAgent, fid: &str, task: &str, state: TaskState, timestamp: f64) {
    agent
        .link
        .send(AgentMessage::StatusUpdate {
            agent_id: AgentId {
                value: agent.id.clone(),
            },
            framework_id: FrameworkId { value: fid.into() },
            status: TaskStatus {
                task_id: v1::TaskId { value: task.into() },
                state: state as i32,
                source: Some(v1::task_status::Source::Executor as i32),
                timestamp: Some(timestamp),
                uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
                ..Default::default()
            },
        })
        .unwrap();
}

/// Status, content type and body of a request.
async fn send(req: reqwest::RequestBuilder) -> (u16, String, String) {
    let r = req.send().await.unwrap();
    let ct = r
        .headers()
        .get("Content-Type")
        .map_or("", |v| v.to_str().unwrap())
        .to_owned();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

fn ids(v: &Value) -> Vec<String> {
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tasks_are_filtered_sorted_and_paged_like_mesos() {
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let offers = s.next_offers().await;
    let tasks = ["early", "late", "quiet"]
        .iter()
        .map(|id| task(id, &offers[0], 0.5))
        .collect();
    post(&master, &s, launch(&offers, tasks)).await;
    assert!(matches!(agent.recv().await, MasterMessage::RunTasks { .. }));
    update_at(
        &agent,
        &s.framework_id,
        "late",
        TaskState::TaskRunning,
        20.0,
    );
    update_at(
        &agent,
        &s.framework_id,
        "early",
        TaskState::TaskRunning,
        10.0,
    );
    s.next_update().await;
    s.next_update().await;

    // Descending by the first status' timestamp; tasks without statuses last.
    let all = get(&master, "/master/tasks").await;
    assert_eq!(ids(&all), ["late", "early", "quiet"]);
    let asc = get(&master, "/master/tasks?order=asc").await;
    assert_eq!(ids(&asc), ["quiet", "early", "late"]);
    let page = get(&master, "/master/tasks?limit=1&offset=1").await;
    assert_eq!(ids(&page), ["early"]);
    // numify<int> into size_t: negative limits are no limit, negative
    // offsets start past the end, garbage is the default.
    assert_eq!(ids(&get(&master, "/master/tasks?limit=-1").await).len(), 3);
    assert!(ids(&get(&master, "/master/tasks?offset=-1").await).is_empty());
    assert_eq!(ids(&get(&master, "/master/tasks?limit=x").await).len(), 3);
    let one = get(&master, "/master/tasks?task_id=quiet").await;
    assert_eq!(ids(&one), ["quiet"]);
    assert_eq!(one["tasks"][0]["state"], "TASK_STAGING");
    assert_eq!(one["tasks"][0]["statuses"], serde_json::json!([]));
    let other = get(&master, "/master/tasks?framework_id=nope").await;
    assert!(ids(&other).is_empty());
    let mine = format!("/tasks?framework_id={}", s.framework_id);
    assert_eq!(ids(&get(&master, &mine).await).len(), 3);
    master.stop().await;
}

#[tokio::test]
async fn frameworks_and_slaves_filter_by_id_and_answer_jsonp() {
    let master = TestMaster::fast().await;
    let agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let s = subscribe(&master, framework_info("fw"), PROTOBUF).await;

    let path = format!("/master/frameworks?framework_id={}", s.framework_id);
    let f = get(&master, &path).await;
    assert_eq!(f["frameworks"][0]["id"], s.framework_id.as_str());
    assert_eq!(f["frameworks"][0]["role"], "*");
    assert!(f["frameworks"][0].get("roles").is_none());
    assert_eq!(f["unregistered_frameworks"], serde_json::json!([]));
    let none = get(&master, "/frameworks?framework_id=nope").await;
    assert_eq!(none["frameworks"], serde_json::json!([]));

    let path = format!("/master/slaves?slave_id={}", agent.id);
    let sl = get(&master, &path).await;
    assert_eq!(sl["slaves"][0]["id"], agent.id.as_str());
    assert_eq!(sl["slaves"][0]["resources"]["ports"], "[31000-32000]");
    assert!(sl["slaves"][0]["unreserved_resources_full"].is_array());
    let none = get(&master, "/slaves?slave_id=nope").await;
    assert_eq!(none["slaves"], serde_json::json!([]));

    // libprocess' OK(json, jsonp), for any method.
    let (code, ct, body) = send(client().post(master.url("/master/state?jsonp=cb"))).await;
    assert_eq!((code, ct.as_str()), (200, "text/javascript"));
    assert!(body.starts_with("cb({") && body.ends_with("})"), "{body}");
    let (code, _, body) =
        send(client().get(master.url("/metrics/snapshot?timeout=5parsecs"))).await;
    assert_eq!(code, 400);
    assert!(body.starts_with("Invalid timeout '5parsecs'"), "{body}");
    let (code, _, _) = send(client().get(master.url("/metrics/snapshot?timeout=5secs"))).await;
    assert_eq!(code, 200);
    master.stop().await;
}

/// What each agent uses and has offered, in every view that shows it
/// (`/master/slaves`, `/master/state`, GET_AGENTS, the metrics' sums): a
/// running task and its executor on one agent, an outstanding offer of
/// the other, nothing of either on the wrong agent.
#[tokio::test]
async fn each_view_puts_used_and_offered_resources_on_their_agent() {
    let master = TestMaster::fast().await;
    let a1 = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let a2 = FakeAgent::register(master.handle.link(), "a2", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let mut offers = Vec::new();
    while !offers.iter().any(|o: &v1::Offer| o.agent_id.value == a2.id)
        || !offers.iter().any(|o: &v1::Offer| o.agent_id.value == a1.id)
    {
        offers.extend(s.next_offers().await);
    }
    let on_a1: Vec<v1::Offer> = offers
        .iter()
        .filter(|o| o.agent_id.value == a1.id)
        .cloned()
        .collect();
    post(
        &master,
        &s,
        launch(&on_a1, vec![task("t1", &on_a1[0], 1.0)]),
    )
    .await;
    // The task (1 cpu, 64 MiB) and its executor (0.1 cpu, 32 MiB) on a1;
    // a2's whole offer (4 cpus) outstanding.
    let (used, offered) = (1.1, 4.0);

    let cpus = |v: &Value| v["cpus"].as_f64().unwrap_or(0.0);
    for path in ["/master/slaves", "/master/state"] {
        let v = get(&master, path).await;
        let slave = |id: &str| {
            v["slaves"]
                .as_array()
                .and_then(|a| a.iter().find(|s| s["id"] == id))
                .cloned()
                .unwrap_or_else(|| panic!("{id} in {path}"))
        };
        let (s1, s2) = (slave(&a1.id), slave(&a2.id));
        assert_eq!(cpus(&s1["used_resources"]), used, "{path}");
        assert_eq!(cpus(&s1["offered_resources"]), 0.0, "{path}");
        assert_eq!(cpus(&s2["used_resources"]), 0.0, "{path}");
        assert_eq!(cpus(&s2["offered_resources"]), offered, "{path}");
    }

    let r = operator_call(
        &master,
        kube_mesos_proto::v1::master::call::Type::GetAgents,
        PROTOBUF,
    )
    .await;
    let agents = r.get_agents.expect("agents").agents;
    let proto_cpus = |rs: &[v1::Resource]| -> f64 {
        rs.iter()
            .filter(|r| r.name == "cpus")
            .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
            .sum()
    };
    for a in &agents {
        let id = &a.agent_info.id.as_ref().expect("id").value;
        let (want_used, want_offered) = if *id == a1.id {
            (used, 0.0)
        } else {
            (0.0, offered)
        };
        assert_eq!(proto_cpus(&a.allocated_resources), want_used, "{id}");
        assert_eq!(proto_cpus(&a.offered_resources), want_offered, "{id}");
    }

    let m = metrics(&master).await;
    assert_eq!(m["master/cpus_used"], used);
    assert_eq!(m["master/cpus_total"], 8.0);
    assert_eq!(
        m["allocator/mesos/resources/cpus/offered_or_allocated"],
        used + offered
    );
    master.stop().await;
}

#[tokio::test]
async fn a_master_that_does_not_lead_redirects_but_still_has_metrics() {
    let master = TestMaster::fast().await;
    master.handle.step_down("leader.example:5050");
    let r = client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(master.url("/master/tasks?limit=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["Location"],
        "//leader.example:5050/master/tasks?limit=1"
    );
    let m = metrics(&master).await;
    assert_eq!(m["master/elected"], 0.0);
    master.stop().await;
}

#[tokio::test]
async fn calls_are_counted_before_they_are_checked() {
    let master = TestMaster::fast().await;
    let mut s = subscribe(&master, framework_info("my fw"), PROTOBUF).await;
    // The first heartbeat follows SUBSCRIBED at once and is counted.
    assert_eq!(s.next().await.unwrap().r#type(), event::Type::Heartbeat);
    let fid = s.framework_id.clone();

    let mut c = all_roles_suppress();
    c.framework_id = Some(FrameworkId { value: fid.clone() });
    let r = client()
        .post(master.url("/api/v1/scheduler"))
        .header("Content-Type", PROTOBUF)
        .header("Mesos-Stream-Id", "not-the-stream")
        .body(encode(PROTOBUF, &c))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let bad_ack = Call {
        acknowledge: Some(call::Acknowledge {
            agent_id: AgentId { value: "a".into() },
            task_id: v1::TaskId { value: "t".into() },
            uuid: vec![1, 2, 3],
        }),
        ..call_of(call::Type::Acknowledge)
    };
    assert_eq!(post(&master, &s, bad_ack).await.0, 400);
    assert_eq!(post(&master, &s, reconcile(&[])).await.0, 202);
    let kill_unknown = kill("ghost", None);
    assert_eq!(post(&master, &s, kill_unknown).await.0, 202);
    let request = Call {
        request: Some(call::Request { requests: vec![] }),
        ..call_of(call::Type::Request)
    };
    assert_eq!(post(&master, &s, request).await.0, 202);
    let message = Call {
        message: Some(call::Message {
            agent_id: AgentId {
                value: "nowhere".into(),
            },
            executor_id: v1::ExecutorId { value: "e".into() },
            data: b"hi".to_vec(),
        }),
        ..call_of(call::Type::Message)
    };
    assert_eq!(post(&master, &s, message).await.0, 202);

    let m = metrics(&master).await;
    let name = "my%20fw";
    assert_eq!(fw_metric(&m, name, &fid, "calls/suppress"), Some(1.0));
    assert_eq!(fw_metric(&m, name, &fid, "calls/subscribe"), Some(1.0));
    // An invalid call fails validation before the framework is looked up.
    assert_eq!(fw_metric(&m, name, &fid, "calls/acknowledge"), Some(0.0));
    assert_eq!(fw_metric(&m, name, &fid, "calls"), Some(6.0));
    assert_eq!(fw_metric(&m, name, &fid, "events/heartbeat"), Some(1.0));
    assert_eq!(fw_metric(&m, name, &fid, "events/subscribed"), Some(1.0));
    // The refused SUPPRESS was never processed.
    assert_eq!(m["master/messages_suppress_offers"], 0.0);
    assert_eq!(m["master/invalid_status_update_acknowledgements"], 1.0);
    assert_eq!(m["master/messages_status_update_acknowledgement"], 0.0);
    // KILL of an unknown task reconciles without counting a RECONCILE.
    assert_eq!(m["master/messages_reconcile_tasks"], 1.0);
    assert_eq!(m["master/messages_kill_task"], 1.0);
    assert_eq!(m["master/messages_resource_request"], 1.0);
    assert_eq!(m["master/messages_framework_to_executor"], 1.0);
    assert_eq!(m["master/invalid_framework_to_executor_messages"], 1.0);
    assert_eq!(m["master/messages_register_framework"], 1.0);
    assert_eq!(m["master/frameworks_active"], 1.0);
    master.stop().await;
}

fn all_roles_suppress() -> Call {
    Call {
        suppress: Some(call::Suppress { roles: vec![] }),
        ..call_of(call::Type::Suppress)
    }
}

#[tokio::test]
async fn refused_tasks_unreachable_agents_and_teardown_are_counted() {
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let info = multi_role(partition_aware(framework_info("fw")), &["web"]);
    let mut s = subscribe(&master, info, PROTOBUF).await;
    let fid = s.framework_id.clone();
    let offers = s.next_offers().await;
    let mut no_resources = task("empty", &offers[0], 0.5);
    no_resources.resources.clear();
    let tasks = vec![task("t1", &offers[0], 0.5), no_resources];
    post(&master, &s, launch(&offers, tasks)).await;
    assert_eq!(s.next_update().await.state(), TaskState::TaskError);
    assert!(matches!(agent.recv().await, MasterMessage::RunTasks { .. }));
    agent.update(&fid, "t1", TaskState::TaskRunning);
    assert_eq!(s.next_update().await.state(), TaskState::TaskRunning);

    let m = metrics(&master).await;
    assert_eq!(m["master/tasks_error"], 1.0);
    assert_eq!(
        m["master/task_error/source_master/reason_task_invalid"],
        1.0
    );
    assert_eq!(m["master/messages_launch_tasks"], 1.0);
    assert_eq!(fw_metric(&m, "fw", &fid, "operations/launch"), Some(1.0));
    assert_eq!(fw_metric(&m, "fw", &fid, "operations"), Some(1.0));
    assert_eq!(fw_metric(&m, "fw", &fid, "offers/accepted"), Some(1.0));
    assert_eq!(
        fw_metric(&m, "fw", &fid, "tasks/active/task_running"),
        Some(1.0)
    );
    assert_eq!(fw_metric(&m, "fw", &fid, "roles/web/suppressed"), Some(0.0));
    assert_eq!(m["master/tasks_running"], 1.0);
    assert!(m["allocator/mesos/roles/web/shares/dominant"] > 0.0);
    // Executor (0.1 cpus) and task (0.5 cpus) are used.
    assert!((m["master/cpus_used"] - 0.6).abs() < 1e-9, "{m:?}");

    // The remaining offer is rescinded when the agent goes unreachable.
    let _ = s.next_offers().await;
    master.handle.mark_agent_unreachable(&agent.id);
    assert_eq!(s.next_update().await.state(), TaskState::TaskUnreachable);
    let m = metrics(&master).await;
    assert_eq!(fw_metric(&m, "fw", &fid, "offers/rescinded"), Some(1.0));
    assert_eq!(
        fw_metric(&m, "fw", &fid, "tasks/active/task_running"),
        Some(0.0)
    );
    assert_eq!(
        fw_metric(&m, "fw", &fid, "tasks/active/task_unreachable"),
        Some(1.0)
    );
    assert_eq!(m["master/tasks_unreachable"], 1.0);
    assert_eq!(m["master/slaves_unreachable"], 1.0);
    assert_eq!(m["master/slave_removals"], 1.0);
    assert_eq!(m["master/slave_removals/reason_unhealthy"], 1.0);
    assert_eq!(m["master/slave_unreachable_completed"], 1.0);
    assert_eq!(
        m["master/task_unreachable/source_master/reason_slave_removed"],
        1.0
    );
    assert_eq!(m["master/tasks_lost"], 0.0);

    assert_eq!(
        post(&master, &s, call_of(call::Type::Teardown)).await.0,
        202
    );
    let m = metrics(&master).await;
    // A completed framework keeps its counters; the allocator's role gauge
    // goes with the framework.
    assert_eq!(fw_metric(&m, "fw", &fid, "subscribed"), Some(0.0));
    assert_eq!(fw_metric(&m, "fw", &fid, "calls/teardown"), Some(1.0));
    assert_eq!(fw_metric(&m, "fw", &fid, "roles/web/suppressed"), None);
    assert_eq!(m["master/frameworks_active"], 0.0);
    let done = get(&master, "/master/frameworks").await;
    assert_eq!(done["completed_frameworks"][0]["id"], fid.as_str());
    assert_eq!(done["completed_frameworks"][0]["roles"][0], "web");
    master.stop().await;
}
