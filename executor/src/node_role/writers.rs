//! The Node's writers — its status ([`crate::kube::node`]) and its Lease
//! ([`crate::kube::lease`]) — started and stopped as one, by whichever
//! executor generation holds the node role.

use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use tokio::sync::watch;

use crate::kube::lease::{run_node_lease, ApiLeases};
use crate::kube::node::{run_node_status, NodeFacts};

/// How long a stop waits for a write in flight before abandoning it.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What the writers need.
#[derive(Clone)]
pub struct NodeWriters {
    /// The API client.
    pub client: kube::Client,
    /// The facts the Node status is derived from (this executor's kubelet
    /// port among them).
    pub facts: NodeFacts,
    /// How often the status is checked.
    pub status_interval: Duration,
    /// How often the Lease is renewed.
    pub lease_interval: Duration,
}

/// Writers that run.
pub struct RunningWriters {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl NodeWriters {
    /// Starts both writers: each writes at once, then periodically.
    pub fn start(&self) -> RunningWriters {
        let (stop, stop_rx) = watch::channel(false);
        let status = tokio::spawn(run_node_status(
            self.client.clone(),
            self.facts.clone(),
            self.status_interval,
            stopped(stop_rx.clone()),
        ));
        let client = self.client.clone();
        let node = self.facts.node_name.clone();
        let interval = self.lease_interval;
        let lease = tokio::spawn(async move {
            let nodes: kube::Api<core::Node> = kube::Api::all(client.clone());
            let uid = nodes
                .get_opt(&node)
                .await
                .ok()
                .flatten()
                .and_then(|n| n.metadata.uid);
            let store = ApiLeases::new(client);
            run_node_lease(&store, &node, uid.as_deref(), interval, stopped(stop_rx)).await;
        });
        RunningWriters {
            stop,
            tasks: vec![status, lease],
        }
    }
}

impl RunningWriters {
    /// Stops the writers. A write in flight completes first (a loop sees
    /// the signal between writes), so none lands after another generation
    /// started writing; one that hangs past a few seconds is abandoned.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_WAIT, task).await.is_err() {
                tracing::warn!("a Node writer did not stop in time; abandoned");
                abort.abort();
            }
        }
    }
}
