//! Helpers of the pod worker tests: an event recorder that keeps what it
//! is told, and a bounded wait for a status snapshot.
#![allow(dead_code)]

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::runner::events::{EventRecorder, PodEvent};
use kube_mesos_executor::runner::pod::worker::{PodReport, PodWorker};

/// Events recorded, in order.
#[derive(Default)]
pub struct Events(pub Mutex<Vec<PodEvent>>);

impl EventRecorder for Events {
    fn record(&self, _: &core::Pod, event: PodEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Events {
    /// (reason, message) of every event.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| (e.reason.to_string(), e.message.clone()))
            .collect()
    }

    /// The messages of the events with `reason`.
    pub fn of(&self, reason: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|(r, _)| r == reason)
            .map(|(_, m)| m)
            .collect()
    }
}

/// Waits (at most 30 s) for a snapshot of `w` that satisfies `f`.
pub async fn until(w: &PodWorker, what: &str, f: impl Fn(&PodReport) -> bool) -> PodReport {
    let mut rx = w.subscribe();
    let r = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|r| f(r)))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("worker alive");
    r.clone()
}
