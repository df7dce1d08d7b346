//! A pod as the framework meets it (JSON from the API server) through
//! placement to the `TaskInfo` it launches, and on to the executor.
//!
//! The API server always sets a name, a namespace and a UID, so the target
//! fills those in when the input lacks them, and the `kube-mesos` scheduler
//! name, so that the framework takes the pod. Invariant: every task the
//! framework launches carries a pod that the executor decodes (else the
//! executor would fail it as `TASK_INVALID`), the same pod (UID), bound to
//! the node it was placed on.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube_mesos_executor::service::facts::decode_pod;
use kube_mesos_framework::core::{Action, Input, Instant};
use kube_mesos_proto::v1::TaskInfo;
use prost::Message;

use crate::seeds::offer;

fn api_server_defaults(pod: &mut Pod) {
    let meta = &mut pod.metadata;
    for (field, value) in [
        (&mut meta.name, "fuzz"),
        (&mut meta.namespace, "default"),
        (&mut meta.uid, "uid-fuzz"),
    ] {
        if field.as_deref().is_none_or(str::is_empty) {
            *field = Some(value.into());
        }
    }
    if let Some(spec) = pod.spec.as_mut() {
        spec.scheduler_name
            .get_or_insert_with(|| "kube-mesos".into());
    }
}

/// The target.
pub fn run(data: &[u8]) {
    let Ok(mut pod) = serde_json::from_slice::<Pod>(data) else {
        return;
    };
    api_server_defaults(&mut pod);
    let now = Instant::now();
    let mut core = super::scheduler_event::started_core(now);
    core.handle(Input::PodUpserted(Box::new(pod.clone())), now);
    core.handle(Input::Offers(vec![offer(1024.0, 1_048_576.0)]), now);
    let actions = core.handle(Input::Tick, now + Duration::from_secs(2));
    let tasks = actions
        .iter()
        .filter_map(|a| match a {
            Action::Accept { operations, .. } => Some(operations),
            _ => None,
        })
        .flatten()
        .filter_map(|op| op.launch.as_ref())
        .flat_map(|l| l.task_infos.iter());
    for task in tasks {
        let wire = task.encode_to_vec();
        let task = TaskInfo::decode(wire.as_slice()).expect("a launched TaskInfo decodes");
        let sent = match decode_pod(&task) {
            Ok(p) => p,
            Err(e) => panic!("the executor cannot decode a pod the framework launched: {e}"),
        };
        if sent.metadata.uid != pod.metadata.uid {
            // The core's own pending pod (`web`) may be placed too.
            continue;
        }
        assert_eq!(
            sent.spec.as_ref().and_then(|s| s.node_name.as_deref()),
            Some("host-a1"),
            "the launched pod names its node"
        );
        super::executor_pod::run_pod(&sent);
    }
}
