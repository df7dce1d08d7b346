//! The master's registry (`--registry`) across a restart, as Apache Mesos
//! 1.11 behaves (`Master::_recover`, `Master::reconcile`,
//! `Master::__reregisterSlave`; the same scenarios were run by hand against
//! a real Mesos 1.11):
//!
//! - `in_memory`: the new master knows no agent; an explicit reconciliation
//!   of a task on an agent that has not re-registered answers TASK_UNKNOWN
//!   (REASON_RECONCILIATION, SOURCE_MASTER); when the agent re-registers,
//!   its tasks are sent with REASON_AGENT_REREGISTERED.
//! - `replicated_log`: admitted agents are recovered; a reconciliation of
//!   their tasks is dropped until they re-register, which sends nothing;
//!   unreachable and gone agents stay so; recovered agents that do not come
//!   back become unreachable after `agent_reregister_timeout`.

mod mesos_master_support;

use std::time::Duration;

use kube_mesos_devcluster::mesos::master::{MasterConfig, Registry};
use kube_mesos_proto::v1::master::call as operator_call_type;
use kube_mesos_proto::v1::scheduler::event;
use kube_mesos_proto::v1::{self as v1, task_status, FrameworkId, TaskState};
use mesos_master_support::*;

fn config(registry: Registry) -> MasterConfig {
    MasterConfig {
        registry,
        ..fast_config()
    }
}

/// Restarts the master, waits for the old streams and the agent's inbox to
/// close, and resubscribes the framework with its ID.
async fn restart_and_resubscribe(master: &TestMaster, s: Stream, agent: &mut FakeAgent) -> Stream {
    let fid = s.framework_id.clone();
    let mut s = s;
    master.handle.restart();
    while s.next().await.is_some() {}
    while tokio::time::timeout(Duration::from_secs(10), agent.inbox.recv())
        .await
        .expect("inbox closes")
        .is_some()
    {}
    let mut info = partition_aware(framework_info("fw"));
    info.id = Some(FrameworkId { value: fid.clone() });
    let s = subscribe(master, info, PROTOBUF).await;
    assert_eq!(s.framework_id, fid);
    s
}

async fn recovered_agents(master: &TestMaster) -> Vec<v1::AgentInfo> {
    operator_call(master, operator_call_type::Type::GetAgents, PROTOBUF)
        .await
        .get_agents
        .unwrap()
        .recovered_agents
}

#[tokio::test]
async fn in_memory_a_restarted_master_answers_unknown_then_announces_the_returning_agents_tasks() {
    let master = TestMaster::start(config(Registry::InMemory)).await;
    let (s, mut agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    let mut s = restart_and_resubscribe(&master, s, &mut agent).await;
    assert!(recovered_agents(&master).await.is_empty());

    let aid = agent.id.clone();
    post(&master, &s, reconcile(&[("t1", Some(&aid)), ("t2", None)])).await;
    for _ in 0..2 {
        let st = s.next_update().await;
        assert_eq!(st.state(), TaskState::TaskUnknown, "{st:?}");
        assert_eq!(st.reason(), task_status::Reason::Reconciliation);
        assert_eq!(st.source(), task_status::Source::Master);
        assert_eq!(st.message(), "Reconciliation: Task is unknown");
        assert!(st.uuid.is_none());
        if st.task_id.value == "t1" {
            assert_eq!(
                st.agent_id.as_ref().map(|a| a.value.as_str()),
                Some(aid.as_str())
            );
        }
    }

    let fid = s.framework_id.clone();
    let task = running_t1(&agent, &fid);
    let agent = agent.reregister(vec![task]).await;
    assert_eq!(agent.id, aid);
    let st = s.next_update().await;
    assert_eq!(st.task_id.value, "t1");
    assert_eq!(st.state(), TaskState::TaskRunning);
    assert_eq!(st.reason(), task_status::Reason::AgentReregistered);
    assert_eq!(st.source(), task_status::Source::Master);
    assert_eq!(st.message(), "Unknown agent reregistered");
    assert_eq!(
        st.executor_id.as_ref().map(|e| e.value.as_str()),
        Some("ex")
    );
    assert!(st.uuid.is_none(), "master updates carry no uuid");

    post(&master, &s, reconcile(&[("t1", Some(&aid))])).await;
    let st = s.next_update().await;
    assert_eq!(st.state(), TaskState::TaskRunning);
    assert_eq!(st.reason(), task_status::Reason::Reconciliation);
    master.stop().await;
}

#[tokio::test]
async fn replicated_log_a_restarted_master_drops_reconciliation_until_the_agent_is_back() {
    let master = TestMaster::start(config(Registry::ReplicatedLog)).await;
    let (s, mut agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    let mut s = restart_and_resubscribe(&master, s, &mut agent).await;
    let recovered = recovered_agents(&master).await;
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].hostname, "a1");

    let aid = agent.id.clone();
    // With or without the agent ID: the task may be on a recovered agent.
    post(&master, &s, reconcile(&[("t1", Some(&aid)), ("t2", None)])).await;
    let fid = s.framework_id.clone();
    let task = running_t1(&agent, &fid);
    let agent = agent.reregister(vec![task]).await;
    assert_eq!(agent.id, aid);
    // Nothing was answered, and a recovered agent's return announces nothing:
    // the next update is the answer to a new reconciliation.
    post(&master, &s, reconcile(&[("t1", Some(&aid))])).await;
    let st = s.next_update().await;
    assert_eq!(st.task_id.value, "t1");
    assert_eq!(st.state(), TaskState::TaskRunning);
    assert_eq!(st.reason(), task_status::Reason::Reconciliation);
    assert!(recovered_agents(&master).await.is_empty());
    master.stop().await;
}

#[tokio::test]
async fn replicated_log_keeps_unreachable_and_gone_agents_across_a_restart() {
    let master = TestMaster::start(config(Registry::ReplicatedLog)).await;
    let (s, mut agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    let gone = FakeAgent::register(master.handle.link(), "a2", agent_resources()).await;
    assert!(master.handle.mark_agent_unreachable(&agent.id));
    assert!(master.handle.remove_agent(&gone.id));
    let mut s = restart_and_resubscribe(&master, s, &mut agent).await;
    assert!(recovered_agents(&master).await.is_empty());
    let (aid, gid) = (agent.id.clone(), gone.id.clone());
    post(
        &master,
        &s,
        reconcile(&[("t1", Some(&aid)), ("x", Some(&gid))]),
    )
    .await;
    let a = s.next_update().await;
    let b = s.next_update().await;
    assert_eq!(a.state(), TaskState::TaskUnreachable);
    assert!(a.unreachable_time.is_some());
    assert_eq!(b.state(), TaskState::TaskGoneByOperator);

    let fid = s.framework_id.clone();
    let task = running_t1(&agent, &fid);
    agent.reregister(vec![task]).await;
    let st = s.next_update().await;
    assert_eq!(st.state(), TaskState::TaskRunning);
    assert_eq!(st.reason(), task_status::Reason::AgentReregistered);
    assert_eq!(st.message(), "Unreachable agent re-reregistered");
    master.stop().await;
}

#[tokio::test]
async fn in_memory_forgets_unreachable_agents_too() {
    let master = TestMaster::start(config(Registry::InMemory)).await;
    let (s, mut agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    assert!(master.handle.mark_agent_unreachable(&agent.id));
    let mut s = restart_and_resubscribe(&master, s, &mut agent).await;
    let aid = agent.id.clone();
    post(&master, &s, reconcile(&[("t1", Some(&aid))])).await;
    assert_eq!(s.next_update().await.state(), TaskState::TaskUnknown);
    master.stop().await;
}

#[tokio::test]
async fn replicated_log_recovered_agents_that_stay_away_become_unreachable() {
    let master = TestMaster::start(MasterConfig {
        agent_reregister_timeout: Duration::from_millis(300),
        ..config(Registry::ReplicatedLog)
    })
    .await;
    let (s, mut agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    let mut s = restart_and_resubscribe(&master, s, &mut agent).await;
    let aid = agent.id.clone();
    // Dropped while the agent is recovered; answered once it is unreachable.
    let st = loop {
        post(&master, &s, reconcile(&[("t1", Some(&aid))])).await;
        match tokio::time::timeout(Duration::from_millis(200), s.next_of(event::Type::Update)).await
        {
            Ok(ev) => break ev.update.unwrap().status,
            Err(_) => continue,
        }
    };
    assert_eq!(st.state(), TaskState::TaskUnreachable);
    assert_eq!(st.message(), "Reconciliation: Task is unreachable");
    assert!(recovered_agents(&master).await.is_empty());
    master.stop().await;
}

#[tokio::test]
async fn held_registrations_wait_for_release_across_a_restart() {
    let master = TestMaster::start(config(Registry::InMemory)).await;
    let (s, mut agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    master.handle.hold_agents();
    let mut s = restart_and_resubscribe(&master, s, &mut agent).await;
    let fid = s.framework_id.clone();
    let task = running_t1(&agent, &fid);
    let aid = agent.id.clone();
    let back = tokio::spawn(agent.reregister(vec![task]));
    // Until released, the master does not know the agent.
    post(&master, &s, reconcile(&[("t1", Some(&aid))])).await;
    assert_eq!(s.next_update().await.state(), TaskState::TaskUnknown);
    assert!(!back.is_finished());
    master.handle.release_agents();
    let agent = tokio::time::timeout(Duration::from_secs(10), back)
        .await
        .expect("registered once released")
        .unwrap();
    assert_eq!(agent.id, aid);
    assert_eq!(
        s.next_update().await.reason(),
        task_status::Reason::AgentReregistered
    );
    master.stop().await;
}

#[tokio::test]
async fn replicated_log_registry_on_disk_outlives_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let on_disk = |registry| MasterConfig {
        registry_dir: Some(dir.path().join("master")),
        ..config(registry)
    };
    let master = TestMaster::start(on_disk(Registry::ReplicatedLog)).await;
    let (_s, agent) = running_task(&master, partition_aware(framework_info("fw"))).await;
    let gone = FakeAgent::register(master.handle.link(), "a2", agent_resources()).await;
    assert!(master.handle.remove_agent(&gone.id));
    master.stop().await;

    // A new master process on the same work dir: the agent is recovered,
    // the gone one stays gone.
    let master = TestMaster::start(on_disk(Registry::ReplicatedLog)).await;
    let recovered = recovered_agents(&master).await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(
        recovered[0].id.as_ref().map(|i| i.value.as_str()),
        Some(agent.id.as_str())
    );
    let mut s = subscribe(&master, partition_aware(framework_info("fw2")), PROTOBUF).await;
    let gid = gone.id.clone();
    post(&master, &s, reconcile(&[("x", Some(&gid))])).await;
    assert_eq!(s.next_update().await.state(), TaskState::TaskGoneByOperator);
    master.stop().await;

    // In memory, nothing is read back.
    let master = TestMaster::start(on_disk(Registry::InMemory)).await;
    assert!(recovered_agents(&master).await.is_empty());
    master.stop().await;
}
