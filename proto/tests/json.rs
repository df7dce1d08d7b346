//! Mesos' JSON mapping, checked with the shapes pymesos and the Mesos master
//! actually exchange (stout's `protobuf.hpp` rules: proto field names, enum
//! names, base64 bytes, numeric 64-bit integers, explicit defaults written).

use kube_mesos_proto::json::{self, JsonError};
use kube_mesos_proto::v1::{self, scheduler, task_status, value, TaskState};
use serde_json::json;

/// A 16-byte uuid and its standard base64 (as Mesos' `base64::encode`).
const UUID: [u8; 16] = [
    0x3f, 0x2a, 0x9c, 0x01, 0x5e, 0x44, 0x4b, 0x7d, 0x9a, 0x10, 0xfe, 0xff, 0x00, 0x12, 0x34, 0x56,
];
const UUID_B64: &str = "PyqcAV5ES32aEP7/ABI0Vg==";

fn id(value: &str) -> String {
    value.to_owned()
}

#[test]
fn pymesos_subscribe_parses() {
    let call: scheduler::Call = json::from_json(
        br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x"}}}"#,
    )
    .unwrap();
    assert_eq!(call.r#type(), scheduler::call::Type::Subscribe);
    let info = call.subscribe.unwrap().framework_info;
    assert_eq!(info.user, "root");
    assert_eq!(info.name, "x");
    assert_eq!(info.failover_timeout, None);
}

#[test]
fn pymesos_subscribe_with_failover_and_capabilities_parses() {
    let call: scheduler::Call = json::from_json(
        br#"{
            "type": "SUBSCRIBE",
            "subscribe": {
                "framework_info": {
                    "user": "root",
                    "name": "kube-mesos",
                    "id": {"value": "fw-1"},
                    "hostname": "sched.local",
                    "failover_timeout": 604800,
                    "roles": ["a", "b"],
                    "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}]
                }
            },
            "framework_id": {"value": "fw-1"}
        }"#,
    )
    .unwrap();
    assert_eq!(call.framework_id.unwrap().value, "fw-1");
    let info = call.subscribe.unwrap().framework_info;
    assert_eq!(info.failover_timeout, Some(604800.0));
    assert_eq!(info.roles, ["a", "b"]);
    let caps: Vec<_> = info.capabilities.iter().map(|c| c.r#type()).collect();
    assert_eq!(
        caps,
        [
            v1::framework_info::capability::Type::MultiRole,
            v1::framework_info::capability::Type::PartitionAware
        ]
    );
}

#[test]
fn acknowledge_uuid_is_base64() {
    let body = json!({
        "framework_id": {"value": "fw-1"},
        "type": "ACKNOWLEDGE",
        "acknowledge": {
            "agent_id": {"value": "agent-1"},
            "task_id": {"value": "pod.123"},
            "uuid": UUID_B64
        }
    });
    let call: scheduler::Call = json::from_json_value(body.clone()).unwrap();
    let ack = call.acknowledge.as_ref().unwrap();
    assert_eq!(ack.uuid, UUID);
    assert_eq!(ack.task_id.value, "pod.123");
    // And it is written back the way it came.
    assert_eq!(json::to_json(&call).unwrap(), body);
}

fn running_update() -> scheduler::Event {
    scheduler::Event {
        r#type: Some(scheduler::event::Type::Update as i32),
        update: Some(scheduler::event::Update {
            status: v1::TaskStatus {
                task_id: v1::TaskId {
                    value: id("pod.123"),
                },
                state: TaskState::TaskRunning as i32,
                message: Some("running".into()),
                source: Some(task_status::Source::Executor as i32),
                agent_id: Some(v1::AgentId {
                    value: id("agent-1"),
                }),
                timestamp: Some(1_700_000_000.5),
                uuid: Some(UUID.to_vec()),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

#[test]
fn update_event_is_written_like_mesos() {
    assert_eq!(
        json::to_json(&running_update()).unwrap(),
        json!({
            "type": "UPDATE",
            "update": {
                "status": {
                    "task_id": {"value": "pod.123"},
                    "state": "TASK_RUNNING",
                    "message": "running",
                    "source": "SOURCE_EXECUTOR",
                    "agent_id": {"value": "agent-1"},
                    "timestamp": 1_700_000_000.5,
                    "uuid": UUID_B64
                }
            }
        })
    );
}

#[test]
fn update_event_round_trips_through_json() {
    let event = running_update();
    let text = serde_json::to_vec(&json::to_json(&event).unwrap()).unwrap();
    assert_eq!(json::from_json::<scheduler::Event>(&text).unwrap(), event);
}

fn offer_with_ranges() -> v1::Offer {
    v1::Offer {
        id: v1::OfferId {
            value: id("offer-1"),
        },
        framework_id: v1::FrameworkId { value: id("fw-1") },
        agent_id: v1::AgentId {
            value: id("agent-1"),
        },
        hostname: "node-a".into(),
        resources: vec![
            v1::Resource {
                name: "cpus".into(),
                r#type: value::Type::Scalar as i32,
                scalar: Some(value::Scalar { value: 2.5 }),
                ..Default::default()
            },
            v1::Resource {
                name: "ports".into(),
                r#type: value::Type::Ranges as i32,
                ranges: Some(value::Ranges {
                    range: vec![
                        value::Range {
                            begin: 31000,
                            end: 31099,
                        },
                        value::Range {
                            begin: 32000,
                            end: 32000,
                        },
                    ],
                }),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

#[test]
fn offer_ranges_are_numbers_and_deprecated_role_default_is_not_written() {
    assert_eq!(
        json::to_json(&offer_with_ranges()).unwrap(),
        json!({
            "id": {"value": "offer-1"},
            "framework_id": {"value": "fw-1"},
            "agent_id": {"value": "agent-1"},
            "hostname": "node-a",
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.5}},
                {
                    "name": "ports",
                    "type": "RANGES",
                    "ranges": {"range": [
                        {"begin": 31000, "end": 31099},
                        {"begin": 32000, "end": 32000}
                    ]}
                }
            ]
        })
    );
}

#[test]
fn offer_parses_from_json_with_string_64_bit_integers() {
    let offer: v1::Offer = json::from_json(
        br#"{"id":{"value":"offer-1"},"framework_id":{"value":"fw-1"},
             "agent_id":{"value":"agent-1"},"hostname":"node-a",
             "resources":[
               {"name":"cpus","type":"SCALAR","scalar":{"value":2.5}},
               {"name":"ports","type":"RANGES","ranges":{"range":[
                 {"begin":"31000","end":31099},{"begin":32000,"end":"32000"}]}}]}"#,
    )
    .unwrap();
    assert_eq!(offer, offer_with_ranges());
}

#[test]
fn explicit_defaults_are_written_as_mesos_does() {
    assert_eq!(
        json::to_json(&v1::Filters::default()).unwrap(),
        json!({"refuse_seconds": 5.0})
    );
    assert_eq!(
        json::to_json(&v1::CommandInfo {
            uris: vec![v1::command_info::Uri {
                value: "http://x/y.tgz".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap(),
        json!({"uris": [{"value": "http://x/y.tgz", "extract": true}], "shell": true})
    );
    // `role` has a default but is deprecated, so Mesos leaves it out.
    assert_eq!(
        json::to_json(&v1::FrameworkInfo {
            user: "root".into(),
            name: "x".into(),
            ..Default::default()
        })
        .unwrap(),
        json!({"user": "root", "name": "x", "failover_timeout": 0.0, "checkpoint": false})
    );
}

#[test]
fn unknown_fields_are_ignored_and_null_is_unset() {
    let call: scheduler::Call = json::from_json(
        br#"{"type":"DECLINE","not_a_field":{"x":1},"framework_id":null,
             "decline":{"offer_ids":[{"value":"o1"}],"filters":{"refuse_seconds":30}}}"#,
    )
    .unwrap();
    assert_eq!(call.framework_id, None);
    let decline = call.decline.unwrap();
    assert_eq!(decline.offer_ids[0].value, "o1");
    assert_eq!(decline.filters.unwrap().refuse_seconds(), 30.0);
}

#[test]
fn unknown_enum_name_leaves_optional_field_unset() {
    let call: scheduler::Call = json::from_json(br#"{"type":"SOMETHING_NEW"}"#).unwrap();
    assert_eq!(call.r#type, None);
    assert_eq!(call.r#type(), scheduler::call::Type::Unknown);
}

#[test]
fn camel_case_names_are_accepted_on_input() {
    let call: scheduler::Call =
        json::from_json(br#"{"type":"REVIVE","frameworkId":{"value":"fw-1"}}"#).unwrap();
    assert_eq!(call.framework_id.unwrap().value, "fw-1");
}

#[test]
fn missing_required_field_is_an_error() {
    let err = json::from_json::<scheduler::Call>(
        br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root"}}}"#,
    )
    .unwrap_err();
    match err {
        JsonError::MissingRequiredField { type_name, field } => {
            assert_eq!(type_name, "mesos.v1.FrameworkInfo");
            assert_eq!(field, "subscribe.framework_info.name");
        }
        other => panic!("unexpected error: {other:?}"),
    }
}

#[test]
fn malformed_json_is_a_parse_error() {
    for bad in [
        &b"{"[..],
        b"[]",
        b"{\"type\":1}{}",
        b"{\"type\":\"SUBSCRIBE\"} x",
    ] {
        let err = json::from_json::<scheduler::Call>(bad).unwrap_err();
        assert!(
            matches!(err, JsonError::ParseFailed { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let err = json::from_json::<scheduler::Call>(br#"{"subscribe":"nope"}"#).unwrap_err();
    assert!(matches!(err, JsonError::ParseFailed { .. }), "{err:?}");
}

#[test]
fn invalid_base64_is_a_parse_error() {
    let err = json::from_json::<scheduler::Call>(
        br#"{"type":"MESSAGE","message":{"agent_id":{"value":"a"},
             "executor_id":{"value":"e"},"data":"***"}}"#,
    )
    .unwrap_err();
    assert!(matches!(err, JsonError::ParseFailed { .. }), "{err:?}");
}

#[test]
fn by_name_helpers_agree_with_typed_ones() {
    use prost::Message as _;
    let event = running_update();
    let value = json::encoded_to_json("mesos.v1.scheduler.Event", &event.encode_to_vec()).unwrap();
    assert_eq!(value, json::to_json(&event).unwrap());
    let encoded = json::json_to_encoded(
        "mesos.v1.scheduler.Event",
        &serde_json::to_vec(&value).unwrap(),
    )
    .unwrap();
    assert_eq!(scheduler::Event::decode(encoded.as_slice()).unwrap(), event);

    let err = json::encoded_to_json("mesos.v1.NoSuchThing", &[]).unwrap_err();
    assert!(matches!(err, JsonError::UnknownMessageType(_)), "{err:?}");
    let err = json::encoded_to_json("mesos.v1.scheduler.Event", &[0xff, 0xff]).unwrap_err();
    assert!(matches!(err, JsonError::DecodeFailed { .. }), "{err:?}");
}
