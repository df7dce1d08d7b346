//! Fault hooks of the master and the failure paths they trigger: agent
//! removal, unreachable agents and their return, master restart, failover
//! timeout, offer timeout, executor exits and messages.

mod mesos_master_support;

use std::time::Duration;

use kube_mesos_devcluster::mesos::link::{AgentMessage, MasterMessage};
use kube_mesos_devcluster::mesos::master::MasterConfig;
use kube_mesos_proto::v1::scheduler::{call, event, Call};
use kube_mesos_proto::v1::{task_status, AgentId, ExecutorId, FrameworkId, TaskState};
use mesos_master_support::*;

#[tokio::test]
async fn removing_an_agent_gones_its_tasks_and_shuts_it_down() {
    let master = TestMaster::fast().await;
    let (mut s, mut agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    assert!(master.handle.remove_agent(&agent.id));
    let st = s.next_update().await;
    assert_eq!(st.state(), TaskState::TaskGoneByOperator);
    assert_eq!(st.reason(), task_status::Reason::AgentRemovedByOperator);
    assert_eq!(st.source(), task_status::Source::Master);
    loop {
        if let MasterMessage::Shutdown { message } = agent.recv().await {
            assert_eq!(message, "Agent has been marked gone");
            break;
        }
    }
    let aid = agent.id.clone();
    post(
        &master,
        &s,
        reconcile(&[("t1", Some(&aid)), ("other", Some(&aid))]),
    )
    .await;
    let a = s.next_update().await;
    let b = s.next_update().await;
    assert_eq!(a.state(), TaskState::TaskGoneByOperator);
    assert_eq!(b.state(), TaskState::TaskGoneByOperator);
    assert_eq!(b.message(), "Reconciliation: Task is gone");
    master.stop().await;
}

#[tokio::test]
async fn removing_an_agent_loses_tasks_of_frameworks_that_are_not_partition_aware() {
    let master = TestMaster::fast().await;
    let (mut s, agent) = running_task(&master, framework_info("fw")).await;
    assert!(master.handle.remove_agent(&agent.id));
    let st = s.next_update().await;
    assert_eq!(st.state(), TaskState::TaskLost);
    assert_eq!(st.reason(), task_status::Reason::AgentRemoved);
    master.stop().await;
}

#[tokio::test]
async fn an_unreachable_agent_comes_back_with_its_tasks() {
    let master = TestMaster::fast().await;
    let (mut s, agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    // An outstanding offer on that agent is rescinded.
    let offers = s.next_offers().await;
    assert!(master.handle.mark_agent_unreachable(&agent.id));
    let mut saw_rescind = false;
    let mut saw_update = false;
    while !(saw_rescind && saw_update) {
        let ev = s.next().await.unwrap();
        match ev.r#type() {
            event::Type::Rescind => {
                assert_eq!(ev.rescind.unwrap().offer_id, offers[0].id);
                saw_rescind = true;
            }
            event::Type::Update => {
                let st = ev.update.unwrap().status;
                assert_eq!(st.state(), TaskState::TaskUnreachable);
                assert!(st.unreachable_time.is_some());
                saw_update = true;
            }
            _ => {}
        }
    }
    let aid = agent.id.clone();
    // Implicit reconciliation tells of `framework->tasks` only: the task
    // of the unreachable agent is not among them. The explicit ask after
    // it (answered in order) is what comes, for that very task:
    // `framework->getTask` does not find it, the agent is unreachable.
    post(&master, &s, reconcile(&[])).await;
    post(&master, &s, reconcile(&[("t1", Some(&aid))])).await;
    let st = s.next_update().await;
    assert_eq!(
        (st.task_id.value.as_str(), st.state(), st.message()),
        (
            "t1",
            TaskState::TaskUnreachable,
            "Reconciliation: Task is unreachable"
        )
    );
    post(&master, &s, reconcile(&[("x", Some(&aid))])).await;
    let st = s.next_update().await;
    assert_eq!(st.state(), TaskState::TaskUnreachable);
    assert_eq!(st.message(), "Reconciliation: Task is unreachable");

    let fid = s.framework_id.clone();
    let task = running_t1(&agent, &fid);
    let agent = agent.reregister(vec![task]).await;
    assert_eq!(agent.id, aid);
    // The master sends the tasks it gets back (`Master::__reregisterSlave`).
    let st = s.next_update().await;
    assert_eq!(st.state(), TaskState::TaskRunning);
    assert_eq!(st.reason(), task_status::Reason::AgentReregistered);
    assert_eq!(st.message(), "Unreachable agent re-reregistered");
    post(&master, &s, reconcile(&[("t1", Some(&aid))])).await;
    let st = s.next_update().await;
    assert_eq!(st.state(), TaskState::TaskRunning);
    assert_eq!(st.reason(), task_status::Reason::Reconciliation);
    master.stop().await;
}

#[tokio::test]
async fn a_restarted_master_rebuilds_from_agents_and_resubscribing_frameworks() {
    let master = TestMaster::fast().await;
    let (mut s, mut agent) = running_task(&master, framework_info("fw")).await;
    let old_master = master.handle.master_id();
    master.handle.restart();
    // Every stream closes, and the agent's inbox is dropped.
    while s.next().await.is_some() {}
    loop {
        match tokio::time::timeout(Duration::from_secs(10), agent.inbox.recv())
            .await
            .unwrap()
        {
            None => break,
            Some(_) => continue,
        }
    }
    assert_ne!(master.handle.master_id(), old_master);

    let fid = s.framework_id.clone();
    let task = running_t1(&agent, &fid);
    let agent = agent.reregister(vec![task]).await;

    // A resubscription with an ID this master never issued is accepted.
    let mut info = framework_info("fw");
    info.id = Some(FrameworkId { value: fid.clone() });
    let mut s = subscribe(&master, info, PROTOBUF).await;
    assert_eq!(s.framework_id, fid);
    let aid = agent.id.clone();
    post(&master, &s, reconcile(&[("t1", Some(&aid))])).await;
    // Resources in use by the recovered task are not offered again.
    let (mut update, mut offers) = (None, None);
    while update.is_none() || offers.is_none() {
        let ev = s.next().await.unwrap();
        match ev.r#type() {
            event::Type::Update => update = ev.update.map(|u| u.status),
            event::Type::Offers => offers = ev.offers.map(|o| o.offers),
            _ => {}
        }
    }
    assert_eq!(update.unwrap().state(), TaskState::TaskRunning);
    let offers = offers.unwrap();
    let cpus: f64 = offers[0]
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .map(|r| r.scalar.unwrap().value)
        .sum();
    assert_eq!(cpus, 3.0);
    master.stop().await;
}

#[tokio::test]
async fn a_disconnected_framework_is_torn_down_after_its_failover_timeout() {
    let master = TestMaster::fast().await;
    let mut info = framework_info("fw");
    info.failover_timeout = Some(0.2);
    let (s, mut agent) = running_task(&master, info).await;
    drop(s);
    loop {
        match agent.recv().await {
            MasterMessage::ShutdownFramework { .. } => break,
            _ => continue,
        }
    }
    master.stop().await;
}

#[tokio::test]
async fn offers_held_too_long_are_rescinded() {
    let master = TestMaster::start(MasterConfig {
        offer_timeout: Some(Duration::from_millis(200)),
        ..fast_config()
    })
    .await;
    let _agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    let offers = s.next_offers().await;
    let ev = s.next_of(event::Type::Rescind).await;
    assert_eq!(ev.rescind.unwrap().offer_id, offers[0].id);
    master.stop().await;
}

#[tokio::test]
async fn executor_exits_messages_and_shutdowns_travel_both_ways() {
    let master = TestMaster::fast().await;
    let (mut s, mut agent) = running_task(&master, framework_info("fw")).await;
    let aid = AgentId {
        value: agent.id.clone(),
    };
    let fid = FrameworkId {
        value: s.framework_id.clone(),
    };
    agent
        .link
        .send(AgentMessage::FrameworkMessage {
            agent_id: aid.clone(),
            framework_id: fid.clone(),
            executor_id: ExecutorId { value: "ex".into() },
            data: b"hello".to_vec(),
        })
        .unwrap();
    let m = s.next_of(event::Type::Message).await.message.unwrap();
    assert_eq!(m.data, b"hello");
    assert_eq!(m.agent_id, aid);

    let msg = Call {
        message: Some(call::Message {
            agent_id: aid.clone(),
            executor_id: ExecutorId { value: "ex".into() },
            data: b"hi".to_vec(),
        }),
        ..call_of(call::Type::Message)
    };
    assert_eq!(post(&master, &s, msg).await.0, 202);
    match agent.recv().await {
        MasterMessage::FrameworkMessage { data, .. } => assert_eq!(data, b"hi"),
        other => panic!("unexpected {other:?}"),
    }

    let shutdown = Call {
        shutdown: Some(call::Shutdown {
            executor_id: ExecutorId { value: "ex".into() },
            agent_id: aid.clone(),
        }),
        ..call_of(call::Type::Shutdown)
    };
    assert_eq!(post(&master, &s, shutdown).await.0, 202);
    match agent.recv().await {
        MasterMessage::ShutdownExecutor { executor_id, .. } => assert_eq!(executor_id.value, "ex"),
        other => panic!("unexpected {other:?}"),
    }

    agent
        .link
        .send(AgentMessage::ExecutorExited {
            agent_id: aid.clone(),
            framework_id: fid,
            executor_id: ExecutorId { value: "ex".into() },
            status: Some(9),
        })
        .unwrap();
    let f = s.next_of(event::Type::Failure).await.failure.unwrap();
    assert_eq!(f.agent_id, Some(aid));
    assert_eq!(f.executor_id.unwrap().value, "ex");
    assert_eq!(f.status, Some(9));
    master.stop().await;
}

#[tokio::test]
async fn an_agent_that_stops_listening_becomes_unreachable_after_the_ping_timeout() {
    let master = TestMaster::start(MasterConfig {
        agent_ping_timeout: Duration::from_millis(300),
        ..fast_config()
    })
    .await;
    let (mut s, mut agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    // The agent drops its inbox, as a crashed or partitioned agent does.
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    agent.inbox = rx;
    let st = s.next_update().await;
    assert_eq!(st.state(), TaskState::TaskUnreachable);
    assert_eq!(st.reason(), task_status::Reason::AgentRemoved);
    assert_eq!(st.message(), "health check timed out");
    let fid = s.framework_id.clone();
    let task = running_t1(&agent, &fid);
    let agent = agent.reregister(vec![task]).await;
    let aid = agent.id.clone();
    post(&master, &s, reconcile(&[("t1", Some(&aid))])).await;
    assert_eq!(s.next_update().await.state(), TaskState::TaskRunning);
    master.stop().await;
}

#[tokio::test]
async fn a_master_that_steps_down_closes_streams_and_redirects() {
    let master = TestMaster::fast().await;
    let mut s = subscribe(&master, framework_info("fw"), PROTOBUF).await;
    master.handle.step_down("127.0.0.1:5050");
    while s.next().await.is_some() {}
    let c = client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .post(master.url("/api/v1"))
        .header("Content-Type", PROTOBUF)
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["Location"], "//127.0.0.1:5050/api/v1");
    master.handle.become_leader();
    let _s = subscribe(&master, framework_info("fw2"), PROTOBUF).await;
    master.stop().await;
}

/// A KILL sent while the agent is disconnected, before the master notices,
/// is lost on the way; Mesos keeps the task in `killedTasks` and kills it
/// when the agent re-registers with it live (`Master::reconcileKnownSlave`).
/// The soak's partition needs it: a framework's KILL of an older task
/// generation must not be lost with the link.
#[tokio::test]
async fn a_kill_the_disconnected_agent_missed_is_sent_when_it_reregisters() {
    let master = TestMaster::fast().await;
    let (s, mut agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    agent.inbox = rx;
    let aid = agent.id.clone();
    post(&master, &s, kill("t1", Some(&aid))).await;
    let fid = s.framework_id.clone();
    let task = running_t1(&agent, &fid);
    let mut agent = agent.reregister(vec![task]).await;
    loop {
        if let MasterMessage::KillTask { task_id, .. } = agent.recv().await {
            assert_eq!(task_id.value, "t1");
            break;
        }
    }
    master.stop().await;
}
