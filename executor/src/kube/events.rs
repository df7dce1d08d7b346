//! Pod events on the API server, written like the kubelet's event recorder
//! (client-go `tools/record`): core/v1 Events named `<pod>.<unix nanos in
//! hex>` in the pod's namespace, `source.component: kubelet`, `source.host:
//! <node>`, `reportingComponent: kubelet`, `reportingInstance: <node>`.
//!
//! Why a correlator: the kubelet emits the same event over and over (a
//! crash loop's BackOff, a failing probe's Unhealthy); client-go keeps one
//! Event per identical (object, reason, message, type) and bumps its
//! `count` and `lastTimestamp`, and a per-object spam filter (burst 25,
//! then one per 5 minutes) drops floods. [`Correlator`] is that logic, pure
//! and clock-injected; [`ApiEventRecorder`] is the queue and the writer
//! task. Events are best effort, as for the kubelet: a failed write is
//! logged and dropped, never retried forever, never blocking a pod.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::runner::events::{EventRecorder, PodEvent};

/// client-go's `maxLruCacheEntries`: identical events remembered.
pub const MAX_ENTRIES: usize = 4096;
/// client-go's `defaultSpamBurst`: events per object before throttling.
pub const SPAM_BURST: u32 = 25;
/// client-go's `defaultSpamQPS` (1/300): one more event per object every 5 min.
pub const SPAM_REFILL: Duration = Duration::from_secs(300);

/// Identity of an event for counting: the object and what was said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// The event (type, reason, message, field path).
    pub event: PodEvent,
}

/// What to write for one observed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A new Event object.
    Create {
        /// Object name.
        name: String,
    },
    /// Bump the existing Event's count and lastTimestamp.
    Update {
        /// Object name.
        name: String,
        /// New count.
        count: i32,
        /// `firstTimestamp` of the series.
        first: Timestamp,
    },
    /// Dropped by the spam filter.
    Dropped,
}

#[derive(Debug, Clone)]
struct Series {
    name: String,
    count: i32,
    first: Timestamp,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    last_refill: Instant,
}

/// The count-and-throttle logic of client-go's `EventCorrelator`, reduced
/// to what the kubelet's pod events need.
#[derive(Debug, Default)]
pub struct Correlator {
    series: HashMap<EventKey, Series>,
    order: VecDeque<EventKey>,
    buckets: HashMap<String, Bucket>,
}

impl Correlator {
    /// Observes one event at `now` (`wall` for timestamps and names).
    pub fn observe(&mut self, key: &EventKey, now: Instant, wall: Timestamp) -> Write {
        let bucket = self.buckets.entry(key.uid.clone()).or_insert(Bucket {
            tokens: SPAM_BURST,
            last_refill: now,
        });
        let refills =
            now.saturating_duration_since(bucket.last_refill).as_secs() / SPAM_REFILL.as_secs();
        if refills > 0 {
            bucket.tokens =
                (bucket.tokens + u32::try_from(refills).unwrap_or(u32::MAX)).min(SPAM_BURST);
            bucket.last_refill += SPAM_REFILL * u32::try_from(refills).unwrap_or(u32::MAX);
        }
        if bucket.tokens == 0 {
            return Write::Dropped;
        }
        bucket.tokens -= 1;
        if let Some(s) = self.series.get_mut(key) {
            s.count += 1;
            return Write::Update {
                name: s.name.clone(),
                count: s.count,
                first: s.first,
            };
        }
        let name = event_name(&key.name, wall);
        if self.order.len() >= MAX_ENTRIES {
            if let Some(old) = self.order.pop_front() {
                self.series.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.series.insert(
            key.clone(),
            Series {
                name: name.clone(),
                count: 1,
                first: wall,
            },
        );
        Write::Create { name }
    }

    /// Forgets a series whose Event is gone (a 404 on update).
    pub fn forget(&mut self, key: &EventKey) {
        self.series.remove(key);
        self.order.retain(|k| k != key);
    }
}

/// The event's name: the contract's, as the framework names its events.
fn event_name(pod: &str, wall: Timestamp) -> String {
    kube_mesos_node::events::event_name(pod, wall.as_nanosecond())
}

/// The core/v1 Event for `key` as the kubelet writes it.
pub fn event_object(
    key: &EventKey,
    object_name: &str,
    node: &str,
    count: i32,
    first: Timestamp,
    last: Timestamp,
) -> core::Event {
    let time = |t: Timestamp| Time(t);
    core::Event {
        metadata: ObjectMeta {
            name: Some(object_name.to_string()),
            namespace: Some(key.namespace.clone()),
            ..Default::default()
        },
        involved_object: core::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(key.name.clone()),
            namespace: Some(key.namespace.clone()),
            uid: Some(key.uid.clone()),
            field_path: Some(key.event.field_path.clone()).filter(|p| !p.is_empty()),
            ..Default::default()
        },
        reason: Some(key.event.reason.to_string()),
        message: Some(key.event.message.clone()),
        type_: Some(key.event.event_type.as_str().to_string()),
        source: Some(core::EventSource {
            component: Some("kubelet".into()),
            host: Some(node.to_string()),
        }),
        first_timestamp: Some(time(first)),
        last_timestamp: Some(time(last)),
        count: Some(count),
        reporting_component: Some("kubelet".into()),
        reporting_instance: Some(node.to_string()),
        ..Default::default()
    }
}

/// An [`EventRecorder`] that queues events for a writer task on the API
/// server. Cheap to clone; recording never blocks.
#[derive(Debug, Clone)]
pub struct ApiEventRecorder {
    tx: mpsc::UnboundedSender<EventKey>,
}

impl EventRecorder for ApiEventRecorder {
    fn record(&self, pod: &core::Pod, event: PodEvent) {
        let meta = &pod.metadata;
        tracing::debug!(pod = ?meta.name, reason = event.reason, message = %event.message, "event");
        let _ = self.tx.send(EventKey {
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            event,
        });
    }
}

impl ApiEventRecorder {
    /// Starts the writer for events of pods on `node`; it ends when every
    /// recorder clone is dropped (after writing what was queued).
    pub fn spawn(client: kube::Client, node: String) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(write_events(client, node, rx));
        (Self { tx }, task)
    }
}

async fn write_events(
    client: kube::Client,
    node: String,
    mut rx: mpsc::UnboundedReceiver<EventKey>,
) {
    let mut correlator = Correlator::default();
    while let Some(key) = rx.recv().await {
        let wall = Timestamp::now();
        let api: kube::Api<core::Event> = kube::Api::namespaced(client.clone(), &key.namespace);
        match correlator.observe(&key, Instant::now(), wall) {
            Write::Dropped => {
                tracing::debug!(pod = %key.name, reason = key.event.reason, "event dropped by the spam filter");
            }
            Write::Create { name } => {
                let ev = event_object(&key, &name, &node, 1, wall, wall);
                if let Err(e) = api.create(&PostParams::default(), &ev).await {
                    tracing::warn!(pod = %key.name, reason = key.event.reason, error = %e, "writing an event failed");
                    correlator.forget(&key);
                }
            }
            Write::Update { name, count, first } => {
                let patch = serde_json::json!({
                    "count": count,
                    "lastTimestamp": Time(wall),
                    "message": key.event.message,
                });
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {
                        // Gone (TTL, deleted): start a new series.
                        correlator.forget(&key);
                        let name = event_name(&key.name, wall);
                        let ev = event_object(&key, &name, &node, count, first, wall);
                        if let Err(e) = api.create(&PostParams::default(), &ev).await {
                            tracing::warn!(pod = %key.name, error = %e, "writing an event failed");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(pod = %key.name, reason = key.event.reason, error = %e, "updating an event failed")
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::events;

    fn key(event: PodEvent) -> EventKey {
        EventKey {
            namespace: "ns".into(),
            name: "web".into(),
            uid: "u1".into(),
            event,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn identical_events_count_up_and_floods_are_throttled() {
        let mut c = Correlator::default();
        let wall = Timestamp::from_second(1_700_000_000).unwrap();
        let t0 = Instant::now();
        let back_off = key(events::crash_back_off("app", false, "web_ns(u1)"));
        let name = match c.observe(&back_off, t0, wall) {
            Write::Create { name } => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(name, format!("web.{:x}", wall.as_nanosecond()));
        assert_eq!(
            c.observe(&back_off, t0, wall),
            Write::Update {
                name: name.clone(),
                count: 2,
                first: wall
            }
        );
        let started = key(events::started("app", false));
        assert!(matches!(
            c.observe(&started, t0, wall),
            Write::Create { .. }
        ));
        // 25 per object, then one per 5 minutes.
        for _ in 3..SPAM_BURST {
            assert_ne!(c.observe(&back_off, t0, wall), Write::Dropped);
        }
        assert_eq!(c.observe(&back_off, t0, wall), Write::Dropped);
        let later = t0 + SPAM_REFILL;
        assert!(matches!(
            c.observe(&back_off, later, wall),
            Write::Update { .. }
        ));
        assert_eq!(c.observe(&back_off, later, wall), Write::Dropped);
    }

    #[test]
    fn event_objects_look_like_the_kubelets() {
        let k = key(events::unhealthy(
            "app",
            false,
            crate::runner::pod::probe::ProbeKind::Liveness,
            "nope",
        ));
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let e = event_object(&k, "web.1", "node-a", 3, t, t);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["source"]["component"], "kubelet");
        assert_eq!(v["source"]["host"], "node-a");
        assert_eq!(v["reportingComponent"], "kubelet");
        assert_eq!(v["involvedObject"]["kind"], "Pod");
        assert_eq!(v["involvedObject"]["fieldPath"], "spec.containers{app}");
        assert_eq!(v["reason"], "Unhealthy");
        assert_eq!(v["type"], "Warning");
        assert_eq!(v["count"], 3);
        assert_eq!(v["message"], "Liveness probe failed: nope");
    }
}
