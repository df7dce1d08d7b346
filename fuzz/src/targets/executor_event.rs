//! Executor events as the executor reads them: byte 0 picks the format
//! (even: protobuf, as the executor speaks; odd: Mesos JSON), the rest is
//! one event. A decoded event must re-encode to itself; then the executor's
//! readings of it run: SUBSCRIBED (kubelet ports, node name, TASK_KILLING
//! capability, Node capacity and status), LAUNCH and LAUNCH_GROUP (the pod
//! in each `TaskInfo.data`, then [`super::executor_pod`]), KILL (grace).

use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::kube::node::{node_status, HostFacts, NodeFacts};
use kube_mesos_executor::service::facts;
use kube_mesos_proto::json;
use kube_mesos_proto::v1::executor::{event, Event};
use kube_mesos_proto::v1::TaskInfo;
use prost::Message;

/// Decodes in the format byte 0 selects.
pub fn decode(selector: u8, body: &[u8]) -> Option<Event> {
    if super::is_protobuf(selector) {
        Event::decode(body).ok()
    } else {
        json::from_json(body).ok()
    }
}

fn round_trip(selector: u8, event: &Event) {
    // Bytes are compared, not messages: NaN is not equal to itself.
    if super::is_protobuf(selector) {
        let bytes = event.encode_to_vec();
        let again = Event::decode(bytes.as_slice()).expect("re-encoded event");
        assert_eq!(again.encode_to_vec(), bytes, "protobuf round trip");
    } else if let Ok(value) = json::to_json(event) {
        let again: Event = json::from_json_value(value.clone()).expect("re-encoded event");
        assert_eq!(json::to_json(&again).ok(), Some(value), "JSON round trip");
    }
}

fn launch(task: &TaskInfo) {
    let Ok(pod) = facts::decode_pod(task) else {
        return;
    };
    let _ = facts::kill_grace(None, task.kill_policy.as_ref(), &pod);
    super::executor_pod::run_pod(&pod);
}

/// The target.
pub fn run(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Some(event) = decode(selector, body) else {
        return;
    };
    round_trip(selector, &event);
    match event.r#type() {
        event::Type::Subscribed => {
            let Some(s) = event.subscribed else { return };
            let _ = facts::killing_capable(&s.framework_info);
            let _ = facts::kubelet_ports(&s.executor_info.resources);
            let node_name = facts::node_name(None, &s.agent_info.hostname);
            let _ = kube_mesos_node::capacity::node_resources(
                &s.agent_info.resources,
                &s.executor_info.resources,
            );
            let node = NodeFacts {
                node_name,
                hostname: s.agent_info.hostname.clone(),
                internal_ip: Some("10.0.0.5".into()),
                resources: s.agent_info.resources.clone(),
                executor_resources: s.executor_info.resources.clone(),
                attributes: s.agent_info.attributes.clone(),
                kubelet_port: 10250,
                container_runtime_version: "process://0.1.0".into(),
                host: HostFacts::default(),
            };
            let _ = node_status(&node, None, Timestamp::now());
        }
        event::Type::Launch => {
            if let Some(l) = event.launch {
                launch(&l.task);
            }
        }
        event::Type::LaunchGroup => {
            for task in event
                .launch_group
                .map(|g| g.task_group.tasks)
                .unwrap_or_default()
            {
                launch(&task);
            }
        }
        event::Type::Kill => {
            if let Some(k) = event.kill {
                let _ = facts::kill_grace(k.kill_policy.as_ref(), None, &core::Pod::default());
            }
        }
        _ => {}
    }
}
