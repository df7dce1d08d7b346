//! Scheduler events as the framework reads them: byte 0 picks the format
//! (even: protobuf, odd: Mesos JSON), the rest is one event. A decoded
//! event must re-encode to itself, and the framework's scheduler core must
//! take whatever input it maps to: the core is subscribed, has a pending
//! pod (so offers are used) and a pod with a running task (so updates,
//! failures and rescinds find something).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_mesos_framework::core::{
    CoreConfig, Input, Instant, SchedulerCore, ANNOTATION_AGENT_ID, ANNOTATION_EXECUTOR_ID,
    ANNOTATION_FRAMEWORK_ID, ANNOTATION_TASK_ID,
};
use kube_mesos_framework::mesos::ContentType;
use kube_mesos_framework::run::input_of_event;
use kube_mesos_proto::v1::scheduler::Event;
use kube_mesos_proto::v1::FrameworkId;

/// The format byte 0 selects.
pub fn content_type(selector: u8) -> ContentType {
    if super::is_protobuf(selector) {
        ContentType::Protobuf
    } else {
        ContentType::Json
    }
}

/// A pod of the framework's scheduler, requesting `cpu`.
pub fn pod(name: &str, cpu: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        spec: Some(PodSpec {
            scheduler_name: Some("kube-mesos".into()),
            containers: vec![Container {
                name: "c".into(),
                image: Some("busybox".into()),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([("cpu".into(), Quantity(cpu.into()))])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    }
}

/// A pod already placed: bound to `host-a1`, its task `pod.uid-<name>` on
/// agent `a1`, running.
pub fn running_pod(name: &str) -> Pod {
    let mut p = pod(name, "100m");
    let uid = p.metadata.uid.clone().unwrap_or_default();
    p.metadata.annotations = Some(BTreeMap::from([
        (ANNOTATION_FRAMEWORK_ID.to_owned(), "fw-1".to_owned()),
        (ANNOTATION_AGENT_ID.to_owned(), "a1".to_owned()),
        (ANNOTATION_TASK_ID.to_owned(), format!("pod.{uid}")),
        (ANNOTATION_EXECUTOR_ID.to_owned(), "kube-mesos-x".to_owned()),
    ]));
    if let Some(spec) = p.spec.as_mut() {
        spec.node_name = Some("host-a1".into());
    }
    if let Some(status) = p.status.as_mut() {
        status.phase = Some("Running".into());
    }
    p
}

/// A core that is subscribed as `fw-1` and knows a pending pod `web` and a
/// running pod `db`.
pub fn started_core(now: Instant) -> SchedulerCore {
    let mut core = SchedulerCore::new(CoreConfig::default());
    core.handle(Input::PodUpserted(Box::new(running_pod("db"))), now);
    core.handle(Input::PodsSynced, now);
    core.handle(
        Input::Subscribed {
            framework_id: FrameworkId {
                value: "fw-1".into(),
            },
        },
        now,
    );
    core.handle(Input::PodUpserted(Box::new(pod("web", "500m"))), now);
    core
}

/// The target.
pub fn run(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ct = content_type(selector);
    let Ok(event) = ct.decode::<Event>(body) else {
        return;
    };
    // Re-encoding is stable after one trip. Bytes are compared, not
    // messages: a NaN double (which Mesos may send) is not equal to itself.
    if let Ok(bytes) = ct.encode(&event) {
        let again: Event = ct.decode(&bytes).expect("a re-encoded event decodes");
        assert_eq!(ct.encode(&again).ok(), Some(bytes), "round trip");
    }
    let now = Instant::now();
    let mut core = started_core(now);
    if let Some(input) = input_of_event(event) {
        core.handle(input, now);
    }
    core.handle(Input::Tick, now + Duration::from_secs(2));
    core.handle(Input::Disconnected, now + Duration::from_secs(3));
    let _ = core.metrics();
}
