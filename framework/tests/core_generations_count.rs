//! Executor generations per agent as the core counts them for
//! `kube_mesos_executor_generations`: the executor IDs of the live tasks
//! on each agent, so an upgrade's old executors show until their last pod
//! ends.

mod core_support;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube_mesos_framework::core::{Input, ANNOTATION_EXECUTOR_ID};
use kube_mesos_proto::v1::{task_status, TaskState};

use core_support::*;

fn on_executor(mut p: Pod, executor: &str) -> Pod {
    p.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_EXECUTOR_ID.to_owned(), executor.to_owned());
    p
}

fn generations(h: &Harness) -> Vec<(String, String, usize)> {
    h.core
        .executor_generations()
        .into_iter()
        .map(|((agent, node), n)| (agent, node, n))
        .collect()
}

#[test]
fn old_generations_count_until_their_last_pod_ends() {
    let mut h = Harness::started();
    for (name, agent, executor) in [
        ("ua", "a1", "kube-mesos-old"),
        ("ub", "a1", "kube-mesos-new"),
        ("uc", "a1", "kube-mesos-new"),
        ("ud", "a2", "kube-mesos-new"),
    ] {
        let p = on_executor(bound(pod(name, "100m"), agent), executor);
        h.feed(Input::PodUpserted(Box::new(p)));
    }
    let row = |agent: &str, n| (agent.to_string(), format!("host-{agent}"), n);
    assert_eq!(generations(&h), [row("a1", 2), row("a2", 1)]);

    // The old executor's last pod ends: one generation left on a1.
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-ua",
        "a1",
        TaskState::TaskFinished,
        task_status::Source::Executor,
        None,
    ))));
    assert_eq!(generations(&h), [row("a1", 1), row("a2", 1)]);
}
