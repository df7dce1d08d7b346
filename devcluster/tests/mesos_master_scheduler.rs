//! The scheduler API of the devcluster master, driven over HTTP with raw
//! reqwest calls and a fake agent on the link.

mod mesos_master_support;

use std::time::Duration;

use kube_mesos_devcluster::mesos::link::{AgentMessage, MasterMessage};
use kube_mesos_devcluster::mesos::master::{resources, MasterConfig};
use kube_mesos_proto::v1::scheduler::{call, event, Call};
use kube_mesos_proto::v1::{self as v1, task_status, FrameworkId, TaskState};
use mesos_master_support::*;

#[tokio::test]
async fn subscribe_answers_a_stream_id_subscribed_and_an_immediate_heartbeat() {
    let master = TestMaster::fast().await;
    for ct in [PROTOBUF, JSON] {
        let mut s = open_stream(&master, &subscribe_call(framework_info("fw")), ct).await;
        assert!(
            uuid::Uuid::parse_str(&s.stream_id).is_ok(),
            "{}",
            s.stream_id
        );
        assert_eq!(s.content_type, ct);
        let ev = s.next().await.unwrap();
        assert_eq!(ev.r#type(), event::Type::Subscribed);
        let sub = ev.subscribed.unwrap();
        assert!(
            sub.framework_id.value.starts_with("m1-00"),
            "{:?}",
            sub.framework_id
        );
        assert_eq!(sub.heartbeat_interval_seconds, Some(15.0));
        assert_eq!(sub.master_info.unwrap().id, "m1");
        assert_eq!(s.next().await.unwrap().r#type(), event::Type::Heartbeat);
    }
    master.stop().await;
}

#[tokio::test]
async fn heartbeats_repeat_at_the_configured_interval() {
    let master = TestMaster::start(MasterConfig {
        heartbeat_interval: Duration::from_millis(100),
        ..fast_config()
    })
    .await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    for _ in 0..3 {
        s.next_of(event::Type::Heartbeat).await;
    }
    master.stop().await;
}

#[tokio::test]
#[allow(deprecated)]
async fn json_error_event_has_the_mesos_shape() {
    let master = TestMaster::fast().await;
    let mut info = framework_info("fw");
    info.role = Some("-bad".into());
    let mut s = open_stream(&master, &subscribe_call(info), JSON).await;
    let raw = s.next_raw().await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["type"], "ERROR");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("'FrameworkInfo.role' is not a valid role"));
    assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    assert!(s.next_raw().await.is_none(), "stream closes after ERROR");
    master.stop().await;
}

#[tokio::test]
async fn status_codes_match_mesos() {
    let master = TestMaster::fast().await;
    let url = master.url("/api/v1/scheduler");
    let c = client();

    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["Allow"], "POST");

    let r = c
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    let r = c.post(&url).body("x").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        "Expecting 'Content-Type' to be present"
    );

    let r = c
        .post(&url)
        .header("Content-Type", PROTOBUF)
        .body(vec![0xffu8; 7])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        "Failed to parse body into Call protobuf"
    );

    let r = c
        .post(&url)
        .header("Content-Type", JSON)
        .body("{\"type\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .starts_with("Failed to parse body into JSON"));

    let r = c
        .post(&url)
        .header("Content-Type", JSON)
        .body(r#"{"type":"NO_SUCH_CALL","framework_id":{"value":"x"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        "Failed to validate scheduler::Call: Expecting 'type' to be present"
    );

    let r = c
        .post(&url)
        .header("Content-Type", JSON)
        .header("Accept", "text/html")
        .body(encode(JSON, &subscribe_call(framework_info("fw"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);

    let r = c
        .post(&url)
        .header("Content-Type", PROTOBUF)
        .body(vec![0u8; 17 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    // Unknown framework, missing and wrong stream IDs, unsubscribed framework.
    let s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let mut teardown = call_of(call::Type::Teardown);
    teardown.framework_id = Some(FrameworkId {
        value: "nope".into(),
    });
    let r = c
        .post(&url)
        .header("Content-Type", PROTOBUF)
        .body(encode(PROTOBUF, &teardown))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), "Framework cannot be found");

    let mut revive = call_of(call::Type::Revive);
    revive.framework_id = Some(FrameworkId {
        value: s.framework_id.clone(),
    });
    let r = c
        .post(&url)
        .header("Content-Type", PROTOBUF)
        .body(encode(PROTOBUF, &revive))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
    );
    let r = c
        .post(&url)
        .header("Content-Type", PROTOBUF)
        .header("Mesos-Stream-Id", "not-it")
        .body(encode(PROTOBUF, &revive))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .starts_with("The stream ID 'not-it' included in this request didn't match"));

    let (code, _) = post(&master, &s, call_of(call::Type::Revive)).await;
    assert_eq!(code, 202);

    let id = s.framework_id.clone();
    let stream_id = s.stream_id.clone();
    drop(s);
    // The master notices the closed stream; the framework is then known
    // but not subscribed: 403.
    let mut code = 0;
    for _ in 0..250 {
        let r = c
            .post(&url)
            .header("Content-Type", PROTOBUF)
            .header("Mesos-Stream-Id", &stream_id)
            .body(encode(
                PROTOBUF,
                &Call {
                    framework_id: Some(FrameworkId { value: id.clone() }),
                    ..call_of(call::Type::Revive)
                },
            ))
            .send()
            .await
            .unwrap();
        code = r.status().as_u16();
        if code == 403 {
            assert_eq!(r.text().await.unwrap(), "Framework is not subscribed");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(code, 403);
    master.stop().await;
}

#[tokio::test]
async fn a_non_leading_master_redirects() {
    let master = TestMaster::start(MasterConfig {
        leader: Some("leader.example:5050".into()),
        ..fast_config()
    })
    .await;
    let c = client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .post(master.url("/api/v1/scheduler"))
        .header("Content-Type", JSON)
        .body(encode(JSON, &subscribe_call(framework_info("fw"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["Location"],
        "//leader.example:5050/api/v1/scheduler"
    );
    master.stop().await;
}

#[tokio::test]
async fn offers_carry_ranges_reservations_and_allocation_info() {
    let master = TestMaster::fast().await;
    let mut res = agent_resources();
    res.push(resources::reserved_static(scalar("cpus", 2.0), "spark"));
    let _agent = FakeAgent::register(master.handle.link(), "a1", res).await;

    let mut s = subscribe(
        &master,
        multi_role(framework_info("spark"), &["spark"]),
        PROTOBUF,
    )
    .await;
    let offers = s.next_offers().await;
    assert_eq!(offers.len(), 1);
    let o = &offers[0];
    assert_eq!(o.hostname, "a1");
    assert_eq!(o.allocation_info.as_ref().unwrap().role(), "spark");
    assert!(o
        .resources
        .iter()
        .all(|r| r.allocation_info.as_ref().unwrap().role() == "spark"));
    let reserved: Vec<_> = o
        .resources
        .iter()
        .filter(|r| !r.reservations.is_empty())
        .collect();
    assert_eq!(reserved.len(), 1);
    assert_eq!(reserved[0].reservations[0].role(), "spark");
    assert_eq!(
        reserved[0].reservations[0].r#type(),
        v1::resource::reservation_info::Type::Static
    );
    let ports = o.resources.iter().find(|r| r.name == "ports").unwrap();
    assert_eq!(ports.ranges.as_ref().unwrap().range[0].begin, 31000);
    assert_eq!(ports.ranges.as_ref().unwrap().range[0].end, 32000);

    // A framework of another role never sees the reservation.
    let mut web = subscribe(&master, framework_info("web"), PROTOBUF).await;
    let (code, _) = post(&master, &s, decline(&offers, 3600.0)).await;
    assert_eq!(code, 202);
    let web_offers = web.next_offers().await;
    assert!(web_offers[0].allocation_info.is_none());
    assert!(web_offers[0]
        .resources
        .iter()
        .all(|r| r.reservations.is_empty()));
    assert!(web_offers[0]
        .resources
        .iter()
        .all(|r| r.allocation_info.is_none()));
    assert_eq!(
        web_offers[0]
            .resources
            .iter()
            .find(|r| r.name == "cpus")
            .unwrap()
            .scalar
            .unwrap()
            .value,
        4.0
    );
    master.stop().await;
}

#[tokio::test]
async fn launch_update_acknowledge_kill_through_the_agent() {
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), JSON).await;
    let offers = s.next_offers().await;
    let (code, _) = post(
        &master,
        &s,
        launch(&offers, vec![task("t1", &offers[0], 1.0)]),
    )
    .await;
    assert_eq!(code, 202);
    match agent.recv().await {
        MasterMessage::RunTasks {
            framework,
            executor,
            tasks,
            group,
        } => {
            assert_eq!(framework.id.unwrap().value, s.framework_id);
            assert_eq!(executor.executor_id.value, "ex");
            assert_eq!(executor.framework_id.unwrap().value, s.framework_id);
            assert_eq!(tasks.len(), 1);
            assert!(!group);
        }
        other => panic!("unexpected {other:?}"),
    }

    let uuid = agent.update(&s.framework_id, "t1", TaskState::TaskRunning);
    let st = s.next_update().await;
    assert_eq!(st.state(), TaskState::TaskRunning);
    assert_eq!(st.agent_id.unwrap().value, agent.id);
    assert_eq!(st.executor_id.unwrap().value, "ex");
    assert_eq!(st.uuid.as_deref(), Some(uuid.as_slice()));

    let ack = |uuid: Vec<u8>| Call {
        acknowledge: Some(call::Acknowledge {
            agent_id: v1::AgentId {
                value: agent.id.clone(),
            },
            task_id: v1::TaskId { value: "t1".into() },
            uuid,
        }),
        ..call_of(call::Type::Acknowledge)
    };
    let (code, body) = post(&master, &s, ack(vec![1, 2, 3])).await;
    assert_eq!(code, 400);
    assert_eq!(body, "Failed to validate scheduler::Call: Not a valid UUID");
    let (code, _) = post(&master, &s, ack(uuid.clone())).await;
    assert_eq!(code, 202);
    match agent.recv().await {
        MasterMessage::StatusUpdateAcknowledged {
            task_id, uuid: u, ..
        } => {
            assert_eq!(task_id.value, "t1");
            assert_eq!(u, uuid);
        }
        other => panic!("unexpected {other:?}"),
    }

    let kill = Call {
        kill: Some(call::Kill {
            task_id: v1::TaskId { value: "t1".into() },
            agent_id: None,
            kill_policy: None,
        }),
        ..call_of(call::Type::Kill)
    };
    assert_eq!(post(&master, &s, kill).await.0, 202);
    match agent.recv().await {
        MasterMessage::KillTask { task_id, .. } => assert_eq!(task_id.value, "t1"),
        other => panic!("unexpected {other:?}"),
    }

    // Killing an unknown task answers like an explicit reconciliation.
    let kill = Call {
        kill: Some(call::Kill {
            task_id: v1::TaskId {
                value: "ghost".into(),
            },
            agent_id: None,
            kill_policy: None,
        }),
        ..call_of(call::Type::Kill)
    };
    assert_eq!(post(&master, &s, kill).await.0, 202);
    let st = s.next_update().await;
    assert_eq!(st.task_id.value, "ghost");
    assert_eq!(st.state(), TaskState::TaskLost);
    assert_eq!(st.reason(), task_status::Reason::Reconciliation);
    master.stop().await;
}

#[tokio::test]
async fn invalid_offers_lose_or_drop_tasks() {
    let master = TestMaster::fast().await;
    let _agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    for (info, want) in [
        (framework_info("plain"), TaskState::TaskLost),
        (
            partition_aware(framework_info("pa")),
            TaskState::TaskDropped,
        ),
    ] {
        let mut s = subscribe(&master, info, PROTOBUF).await;
        let offers = s.next_offers().await;
        let mut bogus = offers.clone();
        bogus[0].id.value = "no-such-offer".into();
        let (code, _) = post(
            &master,
            &s,
            launch(&bogus, vec![task("t", &offers[0], 1.0)]),
        )
        .await;
        assert_eq!(code, 202);
        let st = s.next_update().await;
        assert_eq!(st.state(), want);
        assert_eq!(st.reason(), task_status::Reason::InvalidOffers);
        assert_eq!(st.source(), task_status::Source::Master);
        assert!(st.uuid.is_none());
        assert_eq!(
            st.message(),
            "Task launched with invalid offers: Offer no-such-offer is no longer valid"
        );
        let (code, _) = post(&master, &s, call_of(call::Type::Teardown)).await;
        assert_eq!(code, 202);
    }
    master.stop().await;
}

#[tokio::test]
async fn task_errors_for_duplicate_ids_and_too_many_resources() {
    let master = TestMaster::fast().await;
    let _agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let offers = s.next_offers().await;
    let tasks = vec![
        task("a", &offers[0], 1.0),
        task("a", &offers[0], 1.0),
        task("big", &offers[0], 64.0),
    ];
    assert_eq!(post(&master, &s, launch(&offers, tasks)).await.0, 202);
    let mut errors = vec![];
    for _ in 0..2 {
        let st = s.next_update().await;
        assert_eq!(st.state(), TaskState::TaskError);
        assert_eq!(st.reason(), task_status::Reason::TaskInvalid);
        errors.push((st.task_id.value.clone(), st.message().to_owned()));
    }
    assert!(
        errors.contains(&("a".into(), "Task has duplicate ID: a".into())),
        "{errors:?}"
    );
    assert!(errors
        .iter()
        .any(|(t, m)| t == "big" && m.starts_with("Task uses more resources")));
    master.stop().await;
}

/// As `validateUniqueTaskID`: the ID of a task that ended is taken until
/// its terminal update is acknowledged (the task is the framework's until
/// then), and free again after.
#[tokio::test]
async fn an_ended_tasks_id_is_free_once_its_end_is_acknowledged() {
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    // Launches task `t` on the next offers.
    async fn launch_t(master: &TestMaster, s: &mut Stream) {
        let offers = s.next_offers().await;
        let launched = post(master, s, launch(&offers, vec![task("t", &offers[0], 1.0)])).await;
        assert_eq!(launched.0, 202);
    }
    launch_t(&master, &mut s).await;
    assert!(matches!(agent.recv().await, MasterMessage::RunTasks { .. }));
    let uuid = agent.update(&s.framework_id, "t", TaskState::TaskKilled);
    assert_eq!(s.next_update().await.state(), TaskState::TaskKilled);

    launch_t(&master, &mut s).await;
    let st = s.next_update().await;
    assert_eq!(
        (st.state(), st.message()),
        (TaskState::TaskError, "Task has duplicate ID: t")
    );

    let ack = Call {
        acknowledge: Some(call::Acknowledge {
            agent_id: v1::AgentId {
                value: agent.id.clone(),
            },
            task_id: v1::TaskId { value: "t".into() },
            uuid,
        }),
        ..call_of(call::Type::Acknowledge)
    };
    assert_eq!(post(&master, &s, ack).await.0, 202);
    launch_t(&master, &mut s).await;
    loop {
        match agent.recv().await {
            MasterMessage::RunTasks { tasks, .. } => {
                assert_eq!(tasks[0].task_id.value, "t");
                break;
            }
            MasterMessage::StatusUpdateAcknowledged { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    master.stop().await;
}

/// `Master::statusUpdate` and `Master::acknowledge` look the task up on
/// the agent that sent the update (`slave->getTask`): when a task ID is
/// used again on another agent once its first task ended, a late update
/// of the first (its agent resending) and its acknowledgement leave the
/// new task alone, and a KILL still reaches it.
#[tokio::test]
async fn a_late_update_of_an_ended_task_leaves_its_id_on_another_agent_alone() {
    let master = TestMaster::fast().await;
    let mut a1 = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut a2 = FakeAgent::register(master.handle.link(), "a2", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let mut offers = Vec::new();
    while !(offers.iter().any(|o: &v1::Offer| o.agent_id.value == a1.id)
        && offers.iter().any(|o: &v1::Offer| o.agent_id.value == a2.id))
    {
        offers.extend(s.next_offers().await);
    }
    let on = |id: &str| -> v1::Offer {
        offers
            .iter()
            .find(|o| o.agent_id.value == id)
            .cloned()
            .expect("an offer")
    };
    let ack = |agent: &str, uuid: Vec<u8>| Call {
        acknowledge: Some(call::Acknowledge {
            agent_id: v1::AgentId {
                value: agent.into(),
            },
            task_id: v1::TaskId { value: "t".into() },
            uuid,
        }),
        ..call_of(call::Type::Acknowledge)
    };
    let first = on(&a1.id);
    let second = on(&a2.id);
    let fw = s.framework_id.clone();

    let sent = post(
        &master,
        &s,
        launch(std::slice::from_ref(&first), vec![task("t", &first, 1.0)]),
    )
    .await;
    assert_eq!(sent.0, 202);
    assert!(matches!(a1.recv().await, MasterMessage::RunTasks { .. }));
    let uuid = a1.update(&fw, "t", TaskState::TaskKilled);
    assert_eq!(s.next_update().await.state(), TaskState::TaskKilled);
    assert_eq!(post(&master, &s, ack(&a1.id, uuid)).await.0, 202);

    let sent = post(
        &master,
        &s,
        launch(std::slice::from_ref(&second), vec![task("t", &second, 1.0)]),
    )
    .await;
    assert_eq!(sent.0, 202);
    assert!(matches!(a2.recv().await, MasterMessage::RunTasks { .. }));
    a2.update(&fw, "t", TaskState::TaskRunning);
    assert_eq!(s.next_update().await.state(), TaskState::TaskRunning);

    // The first agent resends its end; the scheduler acknowledges it.
    let late = a1.update(&fw, "t", TaskState::TaskKilled);
    let st = s.next_update().await;
    assert_eq!(
        (st.state(), st.agent_id.map(|a| a.value)),
        (TaskState::TaskKilled, Some(a1.id.clone()))
    );
    assert_eq!(post(&master, &s, ack(&a1.id, late)).await.0, 202);

    assert_eq!(post(&master, &s, kill("t", Some(&a2.id))).await.0, 202);
    loop {
        match a2.recv().await {
            MasterMessage::KillTask { task_id, .. } => {
                assert_eq!(task_id.value, "t");
                break;
            }
            MasterMessage::StatusUpdateAcknowledged { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    master.stop().await;
}

#[tokio::test]
async fn decline_filters_hold_until_revive() {
    let master = TestMaster::fast().await;
    let _agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let offers = s.next_offers().await;
    assert_eq!(post(&master, &s, decline(&offers, 3600.0)).await.0, 202);
    s.expect_none_of(event::Type::Offers, Duration::from_millis(400))
        .await;
    assert_eq!(post(&master, &s, call_of(call::Type::Revive)).await.0, 202);
    let offers = s.next_offers().await;
    assert_eq!(offers.len(), 1);

    // A zero filter does not hold the resources back.
    assert_eq!(post(&master, &s, decline(&offers, 0.0)).await.0, 202);
    assert_eq!(s.next_offers().await.len(), 1);
    master.stop().await;
}

/// `deactivateFramework` clears the framework's filters: a scheduler that
/// crashed and comes back gets agents it declined for an hour offered at
/// once.
#[tokio::test]
async fn a_framework_that_comes_back_is_offered_what_it_declined_before() {
    let master = TestMaster::fast().await;
    let _agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let offers = s.next_offers().await;
    assert_eq!(post(&master, &s, decline(&offers, 3600.0)).await.0, 202);
    s.expect_none_of(event::Type::Offers, Duration::from_millis(300))
        .await;
    let id = s.framework_id.clone();
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut info = framework_info("fw");
    info.id = Some(FrameworkId { value: id });
    let mut again = subscribe(&master, info, PROTOBUF).await;
    assert_eq!(again.next_offers().await.len(), 1);
    master.stop().await;
}

/// The next UpdateFramework the agent gets (`recv` fails the test after
/// 10 s without a message).
async fn told(agent: &mut FakeAgent) -> v1::FrameworkInfo {
    loop {
        if let MasterMessage::UpdateFramework { framework } = agent.recv_any().await {
            return framework;
        }
    }
}

/// `Master::sendFrameworkUpdates`: every SUBSCRIBE of a known framework
/// reaches the agents, which resend their pending updates at once.
#[tokio::test]
async fn resubscribing_tells_every_agent() {
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    // Mesos broadcasts on the first SUBSCRIBE too (agents that do not
    // know the framework ignore it).
    assert_eq!(
        told(&mut agent).await.id.map(|i| i.value),
        Some(s.framework_id.clone())
    );
    let mut info = framework_info("fw");
    info.id = Some(FrameworkId {
        value: s.framework_id.clone(),
    });
    info.hostname = Some("elsewhere".into());
    let _new = subscribe(&master, info, PROTOBUF).await;
    let framework = told(&mut agent).await;
    assert_eq!(framework.id.map(|i| i.value), Some(s.framework_id.clone()));
    assert_eq!(framework.hostname.as_deref(), Some("elsewhere"));
    master.stop().await;
}

#[tokio::test]
async fn suppress_stops_offers_and_revive_resumes_them() {
    let master = TestMaster::fast().await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    assert_eq!(
        post(&master, &s, call_of(call::Type::Suppress)).await.0,
        202
    );
    let _agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    s.expect_none_of(event::Type::Offers, Duration::from_millis(400))
        .await;
    assert_eq!(post(&master, &s, call_of(call::Type::Revive)).await.0, 202);
    assert_eq!(s.next_offers().await.len(), 1);
    master.stop().await;
}

#[tokio::test]
async fn drf_gives_two_frameworks_fair_shares() {
    let master = TestMaster::fast().await;
    let mut a = subscribe(&master, framework_info("a"), PROTOBUF).await;
    let mut b = subscribe(&master, framework_info("b"), PROTOBUF).await;
    let _a1 = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let _a2 = FakeAgent::register(master.handle.link(), "a2", agent_resources()).await;
    let oa = a.next_offers().await;
    let ob = b.next_offers().await;
    assert_eq!(oa.len(), 1);
    assert_eq!(ob.len(), 1);
    assert_ne!(oa[0].agent_id, ob[0].agent_id);
    master.stop().await;
}

#[tokio::test]
async fn reconcile_answers_like_mesos() {
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, partition_aware(framework_info("fw")), PROTOBUF).await;
    let offers = s.next_offers().await;
    post(
        &master,
        &s,
        launch(&offers, vec![task("t1", &offers[0], 1.0)]),
    )
    .await;
    agent.recv().await;
    agent.update(&s.framework_id, "t1", TaskState::TaskRunning);
    s.next_update().await;

    // Implicit: every known task with its latest state.
    assert_eq!(post(&master, &s, reconcile(&[])).await.0, 202);
    let st = s.next_update().await;
    assert_eq!(
        (st.task_id.value.as_str(), st.state()),
        ("t1", TaskState::TaskRunning)
    );
    assert_eq!(st.reason(), task_status::Reason::Reconciliation);
    assert_eq!(st.source(), task_status::Source::Master);
    assert!(st.uuid.is_none());

    // Explicit.
    let aid = agent.id.clone();
    post(
        &master,
        &s,
        reconcile(&[
            ("t1", None),
            ("x", Some(&aid)),
            ("y", Some("unknown-agent")),
            ("z", None),
        ]),
    )
    .await;
    let mut got = vec![];
    for _ in 0..4 {
        let st = s.next_update().await;
        got.push((st.task_id.value.clone(), st.state()));
    }
    assert_eq!(
        got,
        vec![
            ("t1".into(), TaskState::TaskRunning),
            ("x".into(), TaskState::TaskGone),
            ("y".into(), TaskState::TaskUnknown),
            ("z".into(), TaskState::TaskUnknown),
        ]
    );
    master.stop().await;
}

#[tokio::test]
async fn resubscribing_fails_the_old_stream_over() {
    let master = TestMaster::fast().await;
    let mut old = subscribe(&master, framework_info("fw"), JSON).await;
    let mut info = framework_info("fw");
    info.id = Some(FrameworkId {
        value: old.framework_id.clone(),
    });
    let new = subscribe(&master, info, JSON).await;
    assert_eq!(new.framework_id, old.framework_id);
    let err = old.next_of(event::Type::Error).await;
    assert_eq!(err.error.unwrap().message, "Framework failed over");
    assert!(old.next().await.is_none());
    // Calls with the old stream ID are refused.
    let (code, _) = post(&master, &old, call_of(call::Type::Revive)).await;
    assert_eq!(code, 400);
    assert_eq!(
        post(&master, &new, call_of(call::Type::Revive)).await.0,
        202
    );

    // A torn-down framework cannot come back.
    assert_eq!(
        post(&master, &new, call_of(call::Type::Teardown)).await.0,
        202
    );
    let mut info = framework_info("fw");
    info.id = Some(FrameworkId {
        value: new.framework_id.clone(),
    });
    let mut again = open_stream(&master, &subscribe_call(info), JSON).await;
    let err = again.next().await.unwrap();
    assert_eq!(err.error.unwrap().message, "Framework has been removed");
    master.stop().await;
}

#[tokio::test]
async fn a_framework_id_mismatch_in_subscribe_is_a_bad_request() {
    let master = TestMaster::fast().await;
    let mut c = subscribe_call(framework_info("fw"));
    c.framework_id = Some(FrameworkId {
        value: "other".into(),
    });
    let r = client()
        .post(master.url("/api/v1/scheduler"))
        .header("Content-Type", PROTOBUF)
        .body(encode(PROTOBUF, &c))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'"
    );
    master.stop().await;
}

#[tokio::test]
async fn launch_group_reaches_the_agent_as_one_group() {
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let offers = s.next_offers().await;
    let mut t1 = task("g1", &offers[0], 0.5);
    let mut t2 = task("g2", &offers[0], 0.5);
    t1.executor = None;
    t2.executor = None;
    let accept = Call {
        accept: Some(call::Accept {
            offer_ids: vec![offers[0].id.clone()],
            operations: vec![v1::offer::Operation {
                r#type: Some(v1::offer::operation::Type::LaunchGroup as i32),
                launch_group: Some(v1::offer::operation::LaunchGroup {
                    executor: executor("group-ex"),
                    task_group: v1::TaskGroupInfo {
                        tasks: vec![t1, t2],
                    },
                }),
                ..Default::default()
            }],
            filters: None,
        }),
        ..call_of(call::Type::Accept)
    };
    assert_eq!(post(&master, &s, accept).await.0, 202);
    match agent.recv().await {
        MasterMessage::RunTasks {
            executor,
            tasks,
            group,
            ..
        } => {
            assert!(group);
            assert_eq!(executor.executor_id.value, "group-ex");
            assert_eq!(tasks.len(), 2);
        }
        other => panic!("unexpected {other:?}"),
    }
    master.stop().await;
}

#[tokio::test]
async fn update_framework_changes_the_framework_info() {
    let master = TestMaster::fast().await;
    let s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let mut info = framework_info("renamed");
    info.id = Some(FrameworkId {
        value: s.framework_id.clone(),
    });
    let update = Call {
        update_framework: Some(call::UpdateFramework {
            framework_info: info.clone(),
            suppressed_roles: vec![],
        }),
        ..call_of(call::Type::UpdateFramework)
    };
    assert_eq!(post(&master, &s, update).await.0, 200);

    // framework_id and update_framework.framework_info.id must agree.
    info.id = Some(FrameworkId {
        value: "other".into(),
    });
    let update = Call {
        update_framework: Some(call::UpdateFramework {
            framework_info: info,
            suppressed_roles: vec![],
        }),
        ..call_of(call::Type::UpdateFramework)
    };
    let (code, body) = post(&master, &s, update).await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        "Failed to validate scheduler::Call: 'framework_id' differs from 'update_framework.framework_info.id'"
    );
    master.stop().await;
}

#[tokio::test]
async fn the_unused_part_of_an_accepted_offer_is_declined_with_the_calls_filters() {
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;

    // Default filters (5 s): the remainder is held back for now.
    let offers = s.next_offers().await;
    post(
        &master,
        &s,
        launch(&offers, vec![task("t1", &offers[0], 1.0)]),
    )
    .await;
    agent.recv().await;
    s.expect_none_of(event::Type::Offers, Duration::from_millis(400))
        .await;

    // refuse_seconds 0: the remainder comes right back, minus what t1 and
    // its executor use.
    assert_eq!(post(&master, &s, call_of(call::Type::Revive)).await.0, 202);
    let offers = s.next_offers().await;
    let mut accept = launch(&offers, vec![task("t2", &offers[0], 1.0)]);
    accept.accept.as_mut().unwrap().filters = Some(v1::Filters {
        refuse_seconds: Some(0.0),
    });
    post(&master, &s, accept).await;
    agent.recv().await;
    let offers = s.next_offers().await;
    let cpus: f64 = offers[0]
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .map(|r| r.scalar.unwrap().value)
        .sum();
    assert_eq!(cpus, 1.9);
    master.stop().await;
}

#[tokio::test]
async fn an_executor_launched_by_one_operation_is_known_to_the_next_of_the_same_accept() {
    // Mesos' `_accept` adds each launched task (and its executor) to the
    // agent before it validates the next operation: a second LAUNCH for the
    // executor the first one started must not pay for the executor again.
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let offers = s.next_offers().await;
    let mut ex = executor("ex");
    ex.resources
        .push(resources::ranges("ports", &[(31000, 31000)]));
    let mut t1 = task("t1", &offers[0], 1.0);
    let mut t2 = task("t2", &offers[0], 1.0);
    t1.executor = Some(ex.clone());
    t2.executor = Some(ex);
    let mut accept = launch(&offers, vec![t1]);
    let a = accept.accept.as_mut().unwrap();
    let mut op2 = a.operations[0].clone();
    op2.launch = Some(v1::offer::operation::Launch {
        task_infos: vec![t2],
    });
    a.operations.push(op2);
    a.filters = Some(v1::Filters {
        refuse_seconds: Some(0.0),
    });
    assert_eq!(post(&master, &s, accept).await.0, 202);

    let mut launched = vec![];
    for _ in 0..2 {
        match agent.recv().await {
            MasterMessage::RunTasks { tasks, .. } => {
                launched.extend(tasks.into_iter().map(|t| t.task_id.value))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(launched, ["t1", "t2"]);

    // No TASK_ERROR before the remainder comes back (refuse_seconds 0), and
    // the executor is counted once: 4 - 0.1 - 1 - 1.
    let offers = loop {
        let ev = s.next().await.expect("stream still open");
        assert_ne!(ev.r#type(), event::Type::Update, "unexpected {ev:?}");
        if ev.r#type() == event::Type::Offers {
            break ev.offers.unwrap().offers;
        }
    };
    let cpus: f64 = offers[0]
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .map(|r| r.scalar.unwrap().value)
        .sum();
    assert!((cpus - 1.9).abs() < 1e-9, "{cpus}");
    master.stop().await;
}

/// The offers a scheduler holds, as it sees them: OFFERS add, RESCIND
/// removes, an ACCEPT of all of them empties it.
#[derive(Default)]
struct Held(Vec<v1::Offer>);

impl Held {
    fn cpus(&self) -> f64 {
        self.0
            .iter()
            .flat_map(|o| &o.resources)
            .filter(|r| r.name == "cpus")
            .filter_map(|r| r.scalar.map(|s| s.value))
            .sum()
    }

    /// Reads events until the held offers add up to `want` cpus, failing on
    /// a TASK_ERROR or on more cpus than `want`; then checks that nothing
    /// more is offered, so the pool is stable.
    async fn settle_at(&mut self, s: &mut Stream, want: f64) {
        let reached = tokio::time::timeout(Duration::from_secs(5), async {
            while (self.cpus() - want).abs() > 1e-9 {
                let ev = s.next().await.expect("stream still open");
                match ev.r#type() {
                    event::Type::Offers => self.0.extend(ev.offers.unwrap().offers),
                    event::Type::Rescind => {
                        let id = ev.rescind.unwrap().offer_id;
                        self.0.retain(|o| o.id != id);
                    }
                    event::Type::Update => {
                        let st = ev.update.unwrap().status;
                        assert_ne!(st.state(), TaskState::TaskError, "{st:?}");
                    }
                    _ => {}
                }
                assert!(
                    self.cpus() <= want + 1e-9,
                    "offered {} cpus, expected {want}",
                    self.cpus()
                );
            }
        })
        .await;
        assert!(
            reached.is_ok(),
            "offered {} cpus, expected {want}",
            self.cpus()
        );
        s.expect_none_of(event::Type::Offers, Duration::from_millis(300))
            .await;
    }

    /// ACCEPT of all held offers launching `task` on `executor`, with
    /// refuse_seconds 0 so the remainder comes right back.
    async fn launch_on(
        &mut self,
        master: &TestMaster,
        s: &Stream,
        id: &str,
        cpus: f64,
        executor_id: &str,
    ) {
        let offers = std::mem::take(&mut self.0);
        let mut t = task(id, &offers[0], cpus);
        t.executor = Some(executor(executor_id));
        let mut accept = launch(&offers, vec![t]);
        accept.accept.as_mut().unwrap().filters = Some(v1::Filters {
            refuse_seconds: Some(0.0),
        });
        assert_eq!(post(master, s, accept).await.0, 202);
    }

    fn executor_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .0
            .iter()
            .flat_map(|o| &o.executor_ids)
            .map(|e| e.value.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

#[tokio::test]
async fn one_of_two_executors_with_the_same_resources_exiting_frees_only_its_own() {
    // Mesos recovers a task's resources on its terminal update
    // (`Master::updateTask`) and an executor's when it is removed by ID
    // (`Master::removeExecutor` from `exitedExecutor`). An executor upgrade
    // runs the old and the new executor, of the same shape, side by side:
    // the old one exiting must not make the master forget the new one.
    let master = TestMaster::fast().await;
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let offers = s.next_offers().await;
    let mut t1 = task("t1", &offers[0], 1.0);
    let mut t2 = task("t2", &offers[0], 1.0);
    t1.executor = Some(executor("old"));
    t2.executor = Some(executor("new"));
    let mut accept = launch(&offers, vec![t1, t2]);
    accept.accept.as_mut().unwrap().filters = Some(v1::Filters {
        refuse_seconds: Some(0.0),
    });
    assert_eq!(post(&master, &s, accept).await.0, 202);
    for _ in 0..2 {
        match agent.recv().await {
            MasterMessage::RunTasks { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    // 4 - (1 + 0.1) - (1 + 0.1).
    let mut held = Held::default();
    held.settle_at(&mut s, 1.8).await;
    assert_eq!(held.executor_ids(), ["new", "old"]);

    // A task on a known executor costs exactly its own resources.
    held.launch_on(&master, &s, "t3", 0.5, "new").await;
    agent.recv().await;
    held.settle_at(&mut s, 1.3).await;

    // t1 finishes (no acknowledgement: Mesos recovers on the update) and
    // its executor exits: t1's cpu and the old executor's 0.1 come back,
    // nothing of the new executor's.
    agent.update(&s.framework_id, "t1", TaskState::TaskFinished);
    let agent_id = v1::AgentId {
        value: agent.id.clone(),
    };
    let framework_id = FrameworkId {
        value: s.framework_id.clone(),
    };
    agent
        .link
        .send(AgentMessage::ExecutorExited {
            agent_id: agent_id.clone(),
            framework_id: framework_id.clone(),
            executor_id: v1::ExecutorId {
                value: "old".into(),
            },
            status: Some(0),
        })
        .unwrap();
    agent
        .link
        .send(AgentMessage::ResourcesRecovered {
            agent_id,
            framework_id,
            resources: executor("old").resources,
        })
        .unwrap();
    held.settle_at(&mut s, 2.4).await;

    // The new executor is still known: offered with its ID and not charged
    // again for the next task.
    held.launch_on(&master, &s, "t4", 0.5, "new").await;
    agent.recv().await;
    held.settle_at(&mut s, 1.9).await;
    assert_eq!(held.executor_ids(), ["new"]);
    master.stop().await;
}
