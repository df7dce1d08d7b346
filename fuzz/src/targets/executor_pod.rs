//! What the executor does with a decoded pod, without processes or files:
//! the pod state machine through start, sandbox, container starts, probes
//! and a kill; the runtime settings of the pod and each container; each
//! container's environment; the QoS class and the pod status it writes.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube_mesos_executor::runner::env::{resolve_env, ObjectSource, PodFacts, SourceError};
use kube_mesos_executor::runner::pod::machine::{step, Action, Input, Now, PodState};
use kube_mesos_executor::runner::spec::{container_runtime_spec, pod_runtime_spec, ClusterDns};
use kube_mesos_executor::runner::status::{pod_status, qos_class, NodeFacts};

/// An object source with no ConfigMaps or Secrets: every reference is
/// "not found", the kubelet's error for a missing one.
struct EmptyObjects;

#[async_trait::async_trait]
impl ObjectSource for EmptyObjects {
    async fn get_config_map(
        &self,
        _namespace: &str,
        _name: &str,
    ) -> Result<Option<core::ConfigMap>, SourceError> {
        Ok(None)
    }
    async fn get_secret(
        &self,
        _namespace: &str,
        _name: &str,
    ) -> Result<Option<core::Secret>, SourceError> {
        Ok(None)
    }
}

/// Most rounds of answering the machine's actions (a crash loop would go
/// on for ever).
const ROUNDS: usize = 6;

fn answer(action: &Action, now: Now, out: &mut Vec<Input>) {
    match action {
        Action::PrepareSandbox => out.push(Input::SandboxReady {
            pod_ips: vec!["10.1.0.7".into()],
        }),
        Action::StartContainer { name, attempt, .. } => {
            if attempt % 2 == 0 {
                out.push(Input::ContainerStarted {
                    name: name.clone(),
                    id: format!("{name}-{attempt}"),
                    started_at: now.wall,
                });
            } else {
                out.push(Input::ContainerExited {
                    name: name.clone(),
                    id: String::new(),
                    code: 128,
                    reason: "StartError".into(),
                    message: None,
                    finished_at: now.wall,
                });
            }
        }
        Action::RunProbe {
            name, spec, epoch, ..
        } => out.push(Input::ProbeResult {
            name: name.clone(),
            kind: spec.kind,
            epoch: *epoch,
            success: epoch % 2 == 0,
        }),
        Action::RunPostStart { name, epoch, .. } => out.push(Input::PostStartDone {
            name: name.clone(),
            epoch: *epoch,
            success: true,
        }),
        Action::RunPreStop { name, epoch, .. } => out.push(Input::PreStopDone {
            name: name.clone(),
            epoch: *epoch,
        }),
        Action::StopContainer { name, id, .. } => out.push(Input::ContainerExited {
            name: name.clone(),
            id: id.clone(),
            code: 137,
            reason: "Error".into(),
            message: None,
            finished_at: now.wall,
        }),
        Action::SetTimer { timer, .. } => out.push(Input::TimerFired(timer.clone())),
        Action::StopPod => out.push(Input::PodStopped),
    }
}

fn drive(state: &mut PodState, now: Now, first: Input) {
    let mut inputs = vec![first];
    for _ in 0..ROUNDS {
        let mut next = Vec::new();
        for input in inputs.drain(..) {
            for action in step(state, now, input) {
                answer(&action, now, &mut next);
            }
        }
        if next.is_empty() {
            return;
        }
        inputs = next;
    }
}

/// Runs the executor's pure handling of `pod`.
pub fn run_pod(pod: &core::Pod) {
    let now = Now {
        mono: tokio::time::Instant::now(),
        wall: Timestamp::now(),
    };
    let mut state = PodState::new(pod);
    drive(&mut state, now, Input::Started);
    let dns = ClusterDns {
        servers: vec!["10.0.0.10".into()],
        domain: "cluster.local".into(),
    };
    let _ = pod_runtime_spec(pod, Some(&dns), Vec::new());
    let facts = PodFacts {
        host_ip: Some("10.0.0.5".into()),
        pod_ips: state.pod_ips.clone(),
        node_allocatable: BTreeMap::from([
            ("cpu".to_owned(), Quantity("4".into())),
            ("memory".to_owned(), Quantity("8Gi".into())),
        ]),
    };
    let spec = pod.spec.clone().unwrap_or_default();
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        let _ = container_runtime_spec(pod, c, 8 << 30);
        let _ = futures::executor::block_on(resolve_env(pod, c, &facts, &EmptyObjects));
    }
    let _ = qos_class(pod);
    let node = NodeFacts {
        host_ip: Some("10.0.0.5".into()),
    };
    let status = pod_status(pod, &state, "process", &node, None, now.wall);
    let _ = pod_status(pod, &state, "process", &node, Some(&status), now.wall);
    drive(
        &mut state,
        now,
        Input::Kill {
            grace: Duration::from_secs(1),
        },
    );
}
