//! core/v1 Events about pods, so `kubectl describe pod` shows what the
//! framework decided (`Scheduled`, `FailedScheduling`, ...).
//!
//! The Event is built as kube-scheduler's recorder builds it: name
//! `<pod>.<unix nanos in hex>`, `involvedObject` = the pod (with UID),
//! `source.component` = the scheduler name, plus the newer
//! `reportingComponent` (`kube-mesos`) and `reportingInstance` fields.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};

use super::{KubeError, Result};
use crate::core::{EventType, PodRef};

/// The reporting controller of all our events.
pub const REPORTING_CONTROLLER: &str = "kube-mesos";

/// Creates Events.
#[derive(Clone)]
pub struct EventRecorder {
    client: kube::Client,
    source_component: String,
    reporting_instance: String,
}

impl EventRecorder {
    /// A recorder writing as `source_component` (the scheduler name) from
    /// `reporting_instance` (this replica's identity).
    pub fn new(client: kube::Client, source_component: String, reporting_instance: String) -> Self {
        Self {
            client,
            source_component,
            reporting_instance,
        }
    }

    /// Records one event on a Node (cluster-scoped: the Event goes to
    /// `default`, as the kubelet and `kubectl drain` put Node events).
    pub async fn record_on_node(
        &self,
        node: &str,
        type_: EventType,
        reason: &str,
        message: &str,
        now: jiff::Timestamp,
    ) -> Result<()> {
        let target = PodRef {
            namespace: "default".into(),
            name: node.to_owned(),
            uid: node.to_owned(),
        };
        let mut event = self.event(&target, type_, reason, message, now);
        event.involved_object = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_owned()),
            uid: Some(node.to_owned()),
            ..ObjectReference::default()
        };
        self.create(&target, reason, &event).await
    }

    /// Records one event on the pod.
    pub async fn record(
        &self,
        pod: &PodRef,
        type_: EventType,
        reason: &str,
        message: &str,
        now: jiff::Timestamp,
    ) -> Result<()> {
        let event = self.event(pod, type_, reason, message, now);
        self.create(pod, reason, &event).await
    }

    fn event(
        &self,
        target: &PodRef,
        type_: EventType,
        reason: &str,
        message: &str,
        now: jiff::Timestamp,
    ) -> Event {
        build_event(
            target,
            type_,
            reason,
            message,
            now,
            &self.source_component,
            &self.reporting_instance,
        )
    }

    async fn create(&self, target: &PodRef, reason: &str, event: &Event) -> Result<()> {
        Api::<Event>::namespaced(self.client.clone(), &target.namespace)
            .create(&PostParams::default(), event)
            .await
            .map(drop)
            .map_err(|source| KubeError::RecordEventFailed {
                namespace: target.namespace.clone(),
                name: target.name.clone(),
                reason: reason.to_string(),
                source,
            })
    }
}

/// The Event object (pure, for tests).
pub fn build_event(
    pod: &PodRef,
    type_: EventType,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
    source_component: &str,
    reporting_instance: &str,
) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(kube_mesos_node::events::event_name(
                &pod.name,
                now.as_nanosecond(),
            )),
            namespace: Some(pod.namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(pod.name.clone()),
            namespace: Some(pod.namespace.clone()),
            uid: Some(pod.uid.clone()),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        type_: Some(type_.as_str().to_string()),
        source: Some(EventSource {
            component: Some(source_component.to_string()),
            host: None,
        }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        reporting_component: Some(REPORTING_CONTROLLER.to_string()),
        reporting_instance: Some(reporting_instance.to_string()),
        action: Some(
            if type_ == EventType::Normal {
                "Binding"
            } else {
                "Scheduling"
            }
            .to_string(),
        ),
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_the_pod_and_the_scheduler() {
        let pod = PodRef {
            namespace: "ns".into(),
            name: "web".into(),
            uid: "u1".into(),
        };
        let now = jiff::Timestamp::from_second(1).unwrap();
        let e = build_event(
            &pod,
            EventType::Warning,
            "FailedScheduling",
            "m",
            now,
            "kube-mesos",
            "i1",
        );
        assert_eq!(e.metadata.name.as_deref(), Some("web.3b9aca00"));
        assert_eq!(e.involved_object.uid.as_deref(), Some("u1"));
        assert_eq!(e.involved_object.kind.as_deref(), Some("Pod"));
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(
            e.source.and_then(|s| s.component).as_deref(),
            Some("kube-mesos")
        );
        assert_eq!(e.reporting_component.as_deref(), Some("kube-mesos"));
    }
}
