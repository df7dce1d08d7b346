//! The operator API (`/api/v1`) and the plain endpoints of the master.

mod mesos_master_support;

use std::time::Duration;

use futures::StreamExt;
use kube_mesos_proto::recordio::Decoder;
use kube_mesos_proto::v1::master::{call, event, response, Call, Event};
use kube_mesos_proto::v1::TaskState;
use mesos_master_support::*;
use prost::Message;

struct OperatorStream {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: Decoder,
}

impl OperatorStream {
    async fn open(master: &TestMaster) -> OperatorStream {
        let c = Call {
            r#type: Some(call::Type::Subscribe as i32),
            ..Default::default()
        };
        let r = client()
            .post(master.url("/api/v1"))
            .header("Content-Type", PROTOBUF)
            .header("Accept", PROTOBUF)
            .body(c.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        OperatorStream {
            body: r.bytes_stream().boxed(),
            decoder: Decoder::new(),
        }
    }

    async fn next(&mut self) -> Event {
        loop {
            if let Some(rec) = self.decoder.next_record().unwrap() {
                return Event::decode(rec).unwrap();
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("an event in time")
                .expect("stream open")
                .unwrap();
            self.decoder.push(&chunk);
        }
    }

    async fn next_of(&mut self, ty: event::Type) -> Event {
        loop {
            let ev = self.next().await;
            if ev.r#type() == ty {
                return ev;
            }
        }
    }
}

#[tokio::test]
async fn get_calls_answer_in_both_media_types() {
    let master = TestMaster::fast().await;
    let agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let _s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    for ct in [PROTOBUF, JSON] {
        let r = operator_call(&master, call::Type::GetAgents, ct).await;
        assert_eq!(r.r#type(), response::Type::GetAgents);
        let agents = r.get_agents.unwrap().agents;
        assert_eq!(agents.len(), 1);
        assert_eq!(agents[0].agent_info.id.as_ref().unwrap().value, agent.id);
        assert!(agents[0].active);
        assert_eq!(agents[0].agent_info.hostname, "a1");

        let r = operator_call(&master, call::Type::GetVersion, ct).await;
        assert_eq!(r.get_version.unwrap().version_info.version, "1.11.0");

        let r = operator_call(&master, call::Type::GetHealth, ct).await;
        assert!(r.get_health.unwrap().healthy);

        let r = operator_call(&master, call::Type::GetFrameworks, ct).await;
        assert_eq!(r.get_frameworks.unwrap().frameworks.len(), 1);

        let r = operator_call(&master, call::Type::GetState, ct).await;
        let state = r.get_state.unwrap();
        assert_eq!(state.get_agents.unwrap().agents.len(), 1);
        assert!(state.get_tasks.unwrap().tasks.is_empty());
    }
    master.stop().await;
}

#[tokio::test]
async fn subscribe_streams_agent_framework_and_task_events() {
    let master = TestMaster::fast().await;
    let mut ops = OperatorStream::open(&master).await;
    let ev = ops.next().await;
    assert_eq!(ev.r#type(), event::Type::Subscribed);
    let sub = ev.subscribed.unwrap();
    assert!(sub.get_state.is_some());
    assert_eq!(sub.heartbeat_interval_seconds, Some(15.0));
    assert_eq!(ops.next().await.r#type(), event::Type::Heartbeat);

    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let added = ops.next_of(event::Type::AgentAdded).await;
    assert_eq!(
        added
            .agent_added
            .unwrap()
            .agent
            .agent_info
            .id
            .unwrap()
            .value,
        agent.id
    );

    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let fw = ops.next_of(event::Type::FrameworkAdded).await;
    assert_eq!(
        fw.framework_added.unwrap().framework.framework_info.name,
        "fw"
    );

    let offers = s.next_offers().await;
    post(
        &master,
        &s,
        launch(&offers, vec![task("t1", &offers[0], 1.0)]),
    )
    .await;
    let t = ops
        .next_of(event::Type::TaskAdded)
        .await
        .task_added
        .unwrap()
        .task;
    assert_eq!(t.task_id.value, "t1");
    assert_eq!(t.state(), TaskState::TaskStaging);
    agent.recv().await;
    agent.update(&s.framework_id, "t1", TaskState::TaskRunning);
    let u = ops
        .next_of(event::Type::TaskUpdated)
        .await
        .task_updated
        .unwrap();
    assert_eq!(u.state(), TaskState::TaskRunning);
    assert_eq!(u.framework_id.value, s.framework_id);

    let r = operator_call(&master, call::Type::GetTasks, PROTOBUF).await;
    let tasks = r.get_tasks.unwrap().tasks;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state(), TaskState::TaskRunning);

    assert!(master.handle.remove_agent(&agent.id));
    let removed = ops.next_of(event::Type::AgentRemoved).await;
    assert_eq!(removed.agent_removed.unwrap().agent_id.value, agent.id);

    assert_eq!(
        post(
            &master,
            &s,
            call_of(kube_mesos_proto::v1::scheduler::call::Type::Teardown)
        )
        .await
        .0,
        202
    );
    let gone = ops.next_of(event::Type::FrameworkRemoved).await;
    assert_eq!(gone.framework_removed.unwrap().framework_info.name, "fw");
    master.stop().await;
}

#[tokio::test]
async fn plain_endpoints_and_bad_operator_requests() {
    let master = TestMaster::fast().await;
    let c = client();
    let r = c.get(master.url("/version")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["version"], "1.11.0");
    assert!(v["build_date"].is_string());

    assert_eq!(
        c.get(master.url("/health")).send().await.unwrap().status(),
        200
    );

    let r = c.get(master.url("/master/state")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["id"], "m1");

    let r = c.get(master.url("/api/v1")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = c
        .post(master.url("/api/v1"))
        .header("Content-Type", "text/xml")
        .body("<x/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = c
        .post(master.url("/api/v1"))
        .header("Content-Type", PROTOBUF)
        .body(vec![0xffu8, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(master.url("/api/v1"))
        .header("Content-Type", JSON)
        .body(r#"{"type":"NOT_A_CALL"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Still serving after all that.
    let r = operator_call(&master, call::Type::GetHealth, JSON).await;
    assert!(r.get_health.unwrap().healthy);
    master.stop().await;
}

#[tokio::test]
async fn garbage_never_crashes_the_master() {
    use rand::{Rng, SeedableRng};
    let master = TestMaster::fast().await;
    let c = client();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for i in 0..60 {
        let len = rng.random_range(0..300);
        let body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let path = if i % 2 == 0 {
            "/api/v1/scheduler"
        } else {
            "/api/v1"
        };
        let ct = if i % 3 == 0 { JSON } else { PROTOBUF };
        let r = c
            .post(master.url(path))
            .header("Content-Type", ct)
            .header("Mesos-Stream-Id", "x")
            .body(body)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        assert!(
            (400..600).contains(&code) || code == 200 || code == 202,
            "{code}"
        );
    }
    let r = operator_call(&master, call::Type::GetHealth, PROTOBUF).await;
    assert!(r.get_health.unwrap().healthy);
    master.stop().await;
}
