//! Maintenance on the devcluster master, as Mesos 1.11 does it: a schedule
//! posted to `/master/maintenance/schedule` marks the offers of the
//! machine's agents with `unavailability` and sends inverse offers to the
//! frameworks using them; their answers show in GET_MAINTENANCE_STATUS;
//! `/master/machine/down` shuts the agents down and keeps them out until
//! `/master/machine/up`.

mod mesos_master_support;

use kube_mesos_devcluster::mesos::link::MasterMessage;
use kube_mesos_devcluster::mesos::master::MasterConfig;
use kube_mesos_proto::v1::allocator::inverse_offer_status;
use kube_mesos_proto::v1::master as operator;
use kube_mesos_proto::v1::scheduler::{call, event, Call};
use kube_mesos_proto::v1::{self as v1, InverseOffer, TaskState};
use mesos_master_support::*;
use serde_json::{json, Value};

const START_NANOS: i64 = 4_000_000_000_000_000_000;
const HOUR_NANOS: i64 = 3_600_000_000_000;

async fn post_json(master: &TestMaster, path: &str, body: Value) -> (u16, String) {
    let r = client()
        .post(master.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_json(master: &TestMaster, path: &str) -> Value {
    let r = client().get(master.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

fn machine(host: &str) -> Value {
    json!({"hostname": host, "ip": "127.0.0.1"})
}

async fn next_inverse_offer(s: &mut Stream) -> InverseOffer {
    let ev = s.next_of(event::Type::InverseOffers).await;
    let mut offers = ev.inverse_offers.unwrap().inverse_offers;
    assert_eq!(offers.len(), 1, "{offers:?}");
    offers.remove(0)
}

fn answer(ty: call::Type, io: &InverseOffer, refuse_seconds: f64) -> Call {
    let ids = vec![io.id.clone()];
    let filters = Some(v1::Filters {
        refuse_seconds: Some(refuse_seconds),
    });
    let mut c = call_of(ty);
    if ty == call::Type::AcceptInverseOffers {
        c.accept_inverse_offers = Some(call::AcceptInverseOffers {
            inverse_offer_ids: ids,
            filters,
        });
    } else {
        c.decline_inverse_offers = Some(call::DeclineInverseOffers {
            inverse_offer_ids: ids,
            filters,
        });
    }
    c
}

async fn status(master: &TestMaster) -> v1::maintenance::ClusterStatus {
    operator_call(master, operator::call::Type::GetMaintenanceStatus, PROTOBUF)
        .await
        .get_maintenance_status
        .unwrap()
        .status
}

#[tokio::test]
async fn a_schedule_drains_through_inverse_offers_and_machine_down_removes_the_agent() {
    let master = TestMaster::fast().await;
    let (mut s, mut a1) = running_task(&master, partition_aware(framework_info("fw"))).await;
    let _a2 = FakeAgent::register(master.handle.link(), "a2", agent_resources()).await;

    // A window naming only the hostname matches no agent: agents register
    // with hostname and IP, and MachineIDs compare both.
    let window = |machines: Vec<Value>| {
        json!({"windows": [{
            "machine_ids": machines,
            "unavailability": {"start": {"nanoseconds": START_NANOS},
                               "duration": {"nanoseconds": HOUR_NANOS}}
        }]})
    };
    let (code, body) = post_json(
        &master,
        "/master/maintenance/schedule",
        window(vec![machine("A1")]),
    )
    .await;
    assert_eq!((code, body.as_str()), (200, ""));
    assert_eq!(
        get_json(&master, "/master/maintenance/schedule").await["windows"][0]["machine_ids"][0]
            ["hostname"],
        "A1"
    );
    let sched = operator_call(&master, operator::call::Type::GetMaintenanceSchedule, JSON)
        .await
        .get_maintenance_schedule
        .unwrap()
        .schedule;
    assert_eq!(
        sched.windows[0].unavailability.start.nanoseconds,
        START_NANOS
    );

    // Hostnames compare without case: a1's machine is draining, and its
    // offers carry the window while a2's do not.
    let io = next_inverse_offer(&mut s).await;
    assert_eq!(io.agent_id.as_ref().unwrap().value, a1.id);
    assert_eq!(io.unavailability.start.nanoseconds, START_NANOS);
    loop {
        let offers = s.next_offers().await;
        let mut done = false;
        for o in &offers {
            let marked = o.unavailability.map(|u| u.start.nanoseconds);
            if o.agent_id.value == a1.id {
                assert_eq!(marked, Some(START_NANOS));
                done = true;
            } else {
                assert_eq!(marked, None);
            }
        }
        if done {
            break;
        }
    }
    let st = status(&master).await;
    assert_eq!(st.draining_machines.len(), 1);
    assert!(st.draining_machines[0].statuses.is_empty());

    // DECLINE is recorded; with no refusal a new inverse offer follows,
    // and ACCEPT replaces the answer.
    let (code, _) = post(
        &master,
        &s,
        answer(call::Type::DeclineInverseOffers, &io, 0.0),
    )
    .await;
    assert_eq!(code, 202);
    let io2 = next_inverse_offer(&mut s).await;
    assert_ne!(io2.id, io.id);
    let st = status(&master).await;
    assert_eq!(
        st.draining_machines[0].statuses[0].status(),
        inverse_offer_status::Status::Decline
    );
    assert_eq!(
        st.draining_machines[0].statuses[0].framework_id.value,
        s.framework_id
    );
    post(
        &master,
        &s,
        answer(call::Type::AcceptInverseOffers, &io2, 3600.0),
    )
    .await;
    let st = get_json(&master, "/master/maintenance/status").await;
    assert_eq!(
        st["draining_machines"][0]["statuses"][0]["status"],
        "ACCEPT"
    );

    // Machine down: the agent is told to shut down and removed, its task
    // GONE_BY_OPERATOR; it cannot register while the machine is DOWN.
    let (code, body) = post_json(&master, "/master/machine/up", json!([machine("a1")])).await;
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "Machine '{\"hostname\":\"a1\",\"ip\":\"127.0.0.1\"}' is not in DOWN mode and cannot be brought up"
        )
    );
    let (code, _) = post_json(&master, "/master/machine/down", json!([machine("a1")])).await;
    assert_eq!(code, 200);
    loop {
        if let MasterMessage::Shutdown { message } = a1.recv().await {
            assert_eq!(message, "Operator initiated 'Machine DOWN'");
            break;
        }
    }
    let update = s.next_update().await;
    assert_eq!(update.state(), TaskState::TaskGoneByOperator);
    assert_eq!(update.message(), "Operator initiated 'Machine DOWN'");
    let st = status(&master).await;
    assert!(st.draining_machines.is_empty());
    assert_eq!(st.down_machines[0].hostname.as_deref(), Some("A1"));
    let info = v1::AgentInfo {
        id: None,
        ..a1.info.clone()
    };
    let (tx, _inbox) = tokio::sync::mpsc::unbounded_channel();
    let (reply, rx) = tokio::sync::oneshot::channel();
    a1.link
        .send(kube_mesos_devcluster::mesos::link::AgentMessage::Register {
            info,
            executors: vec![],
            tasks: vec![],
            frameworks: vec![],
            inbox: tx,
            reply,
        })
        .unwrap();
    assert_eq!(rx.await.unwrap().unwrap_err(), "Machine is `DOWN`");

    // A DOWN machine cannot leave the schedule; machine up takes it out.
    let (code, body) = post_json(
        &master,
        "/master/maintenance/schedule",
        json!({"windows": []}),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = post_json(&master, "/master/machine/up", json!([machine("A1")])).await;
    assert_eq!(code, 200);
    assert_eq!(status(&master).await, Default::default());
    assert_eq!(
        get_json(&master, "/master/maintenance/schedule").await,
        json!({})
    );
    FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    master.stop().await;
}

#[tokio::test]
async fn operator_calls_update_start_and_stop_maintenance() {
    let master = TestMaster::fast().await;
    let _a = FakeAgent::register(master.handle.link(), "h", agent_resources()).await;
    let id = v1::MachineId {
        hostname: Some("h".into()),
        ip: Some("127.0.0.1".into()),
    };
    let call = |ty: operator::call::Type| operator::Call {
        r#type: Some(ty as i32),
        ..Default::default()
    };
    let send = |c: operator::Call| {
        let body = serde_json::to_vec(&kube_mesos_proto::json::to_json(&c).unwrap()).unwrap();
        let url = master.url("/api/v1");
        async move {
            let r = client()
                .post(url)
                .header("Content-Type", JSON)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        send(call(operator::call::Type::StartMaintenance)).await,
        (
            400,
            "Failed to validate master::Call: Expecting 'start_maintenance' to be present".into()
        )
    );
    let mut update = call(operator::call::Type::UpdateMaintenanceSchedule);
    update.update_maintenance_schedule = Some(operator::call::UpdateMaintenanceSchedule {
        schedule: v1::maintenance::Schedule {
            windows: vec![v1::maintenance::Window {
                machine_ids: vec![id.clone()],
                unavailability: v1::Unavailability {
                    start: v1::TimeInfo {
                        nanoseconds: START_NANOS,
                    },
                    duration: None,
                },
            }],
        },
    });
    assert_eq!(send(update).await.0, 200);
    let mut start = call(operator::call::Type::StartMaintenance);
    start.start_maintenance = Some(operator::call::StartMaintenance {
        machines: vec![id.clone()],
    });
    assert_eq!(send(start).await.0, 200);
    assert_eq!(status(&master).await.down_machines, vec![id.clone()]);
    let mut stop = call(operator::call::Type::StopMaintenance);
    stop.stop_maintenance = Some(operator::call::StopMaintenance { machines: vec![id] });
    assert_eq!(send(stop).await.0, 200);
    assert_eq!(status(&master).await, Default::default());
    master.stop().await;
}

#[tokio::test]
async fn an_unanswered_inverse_offer_is_rescinded_after_the_offer_timeout_and_sent_again() {
    let master = TestMaster::start(MasterConfig {
        offer_timeout: Some(std::time::Duration::from_millis(300)),
        ..fast_config()
    })
    .await;
    let (mut s, _a1) = running_task(&master, partition_aware(framework_info("fw"))).await;
    let window = json!({"windows": [{
        "machine_ids": [machine("a1")],
        "unavailability": {"start": {"nanoseconds": START_NANOS},
                           "duration": {"nanoseconds": HOUR_NANOS}}
    }]});
    let (code, _) = post_json(&master, "/master/maintenance/schedule", window).await;
    assert_eq!(code, 200);

    // Mesos' `inverseOfferTimeout`: rescinded, no answer recorded, and the
    // next allocation offers the window again under a new ID.
    let first = next_inverse_offer(&mut s).await;
    let rescind = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        s.next_of(event::Type::RescindInverseOffer),
    )
    .await
    .expect("the inverse offer was never rescinded");
    assert_eq!(
        rescind.rescind_inverse_offer.unwrap().inverse_offer_id,
        first.id
    );
    let again = next_inverse_offer(&mut s).await;
    assert_ne!(again.id, first.id);
    assert_eq!(again.agent_id, first.agent_id);
    let st = status(&master).await;
    assert!(
        st.draining_machines.iter().all(|m| m.statuses.is_empty()),
        "a timeout is no answer: {st:?}"
    );
    master.stop().await;
}
