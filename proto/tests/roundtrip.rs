//! Property tests: the messages we exchange with Mesos survive
//! encode → decode and JSON → back unchanged, for arbitrary contents.

use kube_mesos_proto::json;
use kube_mesos_proto::v1::{self, scheduler, task_status, value, TaskState};
use proptest::prelude::*;
use prost::Message;

fn task_state() -> impl Strategy<Value = i32> {
    (0..=13i32).prop_filter("valid TaskState", |n| TaskState::try_from(*n).is_ok())
}

fn reason() -> impl Strategy<Value = i32> {
    (0..=34i32).prop_filter("valid Reason", |n| {
        task_status::Reason::try_from(*n).is_ok()
    })
}

fn finite() -> impl Strategy<Value = f64> {
    prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL
}

prop_compose! {
    fn task_status()(
        task in "[a-z0-9.-]{1,20}",
        state in task_state(),
        message in prop::option::of(".{0,40}"),
        source in prop::option::of(0..=2i32),
        reason in prop::option::of(reason()),
        data in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
        agent in prop::option::of("[a-z0-9-]{1,20}"),
        timestamp in prop::option::of(finite()),
        uuid in prop::option::of(prop::collection::vec(any::<u8>(), 16)),
        healthy in prop::option::of(any::<bool>()),
    ) -> v1::TaskStatus {
        v1::TaskStatus {
            task_id: v1::TaskId { value: task },
            state,
            message,
            source,
            reason,
            data,
            agent_id: agent.map(|value| v1::AgentId { value }),
            timestamp,
            uuid,
            healthy,
            ..Default::default()
        }
    }
}

prop_compose! {
    fn resource()(
        name in "[a-z]{1,8}",
        amount in finite(),
        ranges in prop::collection::vec((any::<u64>(), any::<u64>()), 0..4),
        role in prop::option::of("[a-z]{1,8}"),
        use_ranges in any::<bool>(),
    ) -> v1::Resource {
        let allocation_info = role.map(|r| v1::resource::AllocationInfo { role: Some(r) });
        if use_ranges {
            v1::Resource {
                name,
                r#type: value::Type::Ranges as i32,
                ranges: Some(value::Ranges {
                    range: ranges
                        .into_iter()
                        .map(|(begin, end)| value::Range { begin, end })
                        .collect(),
                }),
                allocation_info,
                ..Default::default()
            }
        } else {
            v1::Resource {
                name,
                r#type: value::Type::Scalar as i32,
                scalar: Some(value::Scalar { value: amount }),
                allocation_info,
                ..Default::default()
            }
        }
    }
}

prop_compose! {
    fn offer()(
        id in "[a-z0-9-]{1,12}",
        host in "[a-z.]{1,12}",
        resources in prop::collection::vec(resource(), 0..5),
    ) -> v1::Offer {
        v1::Offer {
            id: v1::OfferId { value: id },
            framework_id: v1::FrameworkId { value: "fw".into() },
            agent_id: v1::AgentId { value: "agent".into() },
            hostname: host,
            resources,
            ..Default::default()
        }
    }
}

fn json_round_trip<M: prost::Name + Default + PartialEq + std::fmt::Debug>(msg: &M) {
    let text = serde_json::to_vec(&json::to_json(msg).unwrap()).unwrap();
    assert_eq!(&json::from_json::<M>(&text).unwrap(), msg);
}

fn wire_round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(msg: &M) {
    assert_eq!(&M::decode(msg.encode_to_vec().as_slice()).unwrap(), msg);
}

proptest! {
    #[test]
    fn update_event_round_trips(status in task_status()) {
        let event = scheduler::Event {
            r#type: Some(scheduler::event::Type::Update as i32),
            update: Some(scheduler::event::Update { status }),
            ..Default::default()
        };
        wire_round_trip(&event);
        json_round_trip(&event);
    }

    #[test]
    fn offers_event_round_trips(offers in prop::collection::vec(offer(), 0..3)) {
        let event = scheduler::Event {
            r#type: Some(scheduler::event::Type::Offers as i32),
            offers: Some(scheduler::event::Offers { offers }),
            ..Default::default()
        };
        wire_round_trip(&event);
        json_round_trip(&event);
    }

    #[test]
    fn executor_update_call_round_trips(status in task_status()) {
        let call = v1::executor::Call {
            executor_id: v1::ExecutorId { value: "e".into() },
            framework_id: v1::FrameworkId { value: "fw".into() },
            r#type: Some(v1::executor::call::Type::Update as i32),
            update: Some(v1::executor::call::Update { status }),
            ..Default::default()
        };
        wire_round_trip(&call);
        json_round_trip(&call);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = scheduler::Event::decode(bytes.as_slice());
        let _ = v1::executor::Event::decode(bytes.as_slice());
        let _ = v1::master::Event::decode(bytes.as_slice());
        let _ = json::from_json::<scheduler::Call>(&bytes);
    }
}
