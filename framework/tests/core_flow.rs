//! The scheduler core as a state machine: inputs in, actions out, time
//! passed in explicitly (no clock, no sleeping).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeSpec, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_mesos_framework::core::{
    Action, BindOutcome, CoreConfig, EventType, Input, RunningExecutor, ANNOTATION_AGENT_ID,
    ANNOTATION_EXECUTOR_ID, ANNOTATION_EXECUTOR_RESOURCES, ANNOTATION_FRAMEWORK_ID,
    ANNOTATION_TASK_ID, REASON_BACK_OFF,
};
use kube_mesos_framework::resources::{build, CPUS, MEM};
use kube_mesos_proto::v1::{
    offer, task_status, AgentId, ExecutorId, ExecutorInfo, FrameworkId, Offer, OfferId, TaskId,
    TaskState, TaskStatus,
};

mod core_support;

use core_support::*;

#[test]
fn idle_core_suppresses_and_revives_when_a_pod_appears() {
    let mut h = Harness::new(windowed());
    h.feed(Input::PodsSynced);
    let a = h.feed(Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    });
    // Reconciliation (implicit, then its marker) even without a task: a
    // task whose pod's Binding never landed is known to Mesos alone.
    assert_eq!(kinds(&a), vec!["Reconcile", "Reconcile", "Suppress"]);
    assert!(h.core.metrics().suppressed);

    let a = h.feed(Input::PodUpserted(Box::new(pod("web", "500m"))));
    assert_eq!(kinds(&a), vec!["Revive"]);
    assert_eq!(h.core.metrics().queue_len, 1);
    assert_eq!(h.core.metrics().revives, 1);
}

/// The SUPPRESS right after subscribing, before the pod list is in, is not
/// idleness: the framework keeps its freed pages for the list it decodes
/// next (`run.rs`); the one once the list is in and the queue empty is.
#[test]
fn only_a_suppress_with_the_pod_list_in_says_idle() {
    let idle_of = |a: &[Action]| {
        a.iter().find_map(|a| match a {
            Action::Suppress { idle, .. } => Some(*idle),
            _ => None,
        })
    };
    let mut h = Harness::new(windowed());
    let a = h.feed(Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    });
    assert_eq!(idle_of(&a), Some(false), "before the pod list: {a:?}");
    h.feed(Input::PodsSynced);
    let a = h.feed(Input::PodUpserted(Box::new(pod("web", "500m"))));
    assert_eq!(kinds(&a), vec!["Revive"]);
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    let a = h.tick_at(1.0);
    assert_eq!(kinds(&a), vec!["Accept", "Bind", "RecordEvent", "Suppress"]);
    assert_eq!(idle_of(&a), Some(true), "queue empty, list in: {a:?}");
}

#[test]
fn offers_are_batched_then_accepted_with_launch_bind_and_event() {
    let mut h = Harness::started();
    h.feed(Input::PodUpserted(Box::new(pod("web", "500m"))));
    let a = h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    assert!(a.is_empty(), "held for the batching window: {a:?}");
    assert_eq!(h.core.next_deadline(), Some(h.t0 + Duration::from_secs(1)));
    assert!(h.tick_at(0.5).is_empty());

    let a = h.tick_at(1.0);
    assert_eq!(kinds(&a), vec!["Accept", "Bind", "RecordEvent", "Suppress"]);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert_eq!(t.task_id.value, "pod.uid-web");
    assert_eq!(t.name, "default/web");
    assert_eq!(t.agent_id.value, "a1");
    let exec = t.executor.as_ref().expect("executor");
    assert!(exec.executor_id.value.starts_with("kube-mesos-"));
    assert_eq!(
        exec.framework_id.as_ref().map(|f| f.value.as_str()),
        Some("fw-1")
    );
    let sent: Pod = serde_json::from_slice(t.data.as_deref().expect("data")).expect("pod json");
    assert_eq!(sent.metadata.name.as_deref(), Some("web"));
    // The whole pod, though the core keeps it pruned of its containers.
    let created = pod("web", "500m");
    assert_eq!(
        sent.spec.as_ref().map(|s| &s.containers),
        created.spec.as_ref().map(|s| &s.containers)
    );
    assert!(!created.spec.as_ref().unwrap().containers.is_empty());
    let grace = t.kill_policy.and_then(|k| k.grace_period).expect("grace");
    assert_eq!(grace.nanoseconds, 45_000_000_000);

    let Action::Accept {
        offer_ids,
        operations,
        ..
    } = &a[0]
    else {
        unreachable!()
    };
    assert_eq!(offer_ids[0].value, "o1");
    assert_eq!(
        operations[0].r#type,
        Some(offer::operation::Type::Launch as i32)
    );
    let Action::Bind {
        pod,
        node_name,
        annotations,
    } = &a[1]
    else {
        unreachable!()
    };
    assert_eq!(pod.uid, "uid-web");
    assert_eq!(node_name, "host-a1");
    assert_eq!(annotations[ANNOTATION_FRAMEWORK_ID], "fw-1");
    assert_eq!(annotations[ANNOTATION_AGENT_ID], "a1");
    assert_eq!(annotations[ANNOTATION_TASK_ID], "pod.uid-web");
    assert_eq!(annotations[ANNOTATION_EXECUTOR_ID], exec.executor_id.value);
    assert!(annotations[ANNOTATION_EXECUTOR_RESOURCES].contains("cpus"));
    let Action::RecordEvent {
        type_,
        reason,
        message,
        ..
    } = &a[2]
    else {
        unreachable!()
    };
    assert_eq!(*type_, EventType::Normal);
    assert_eq!(reason, "Scheduled");
    assert_eq!(message, "Successfully assigned default/web to host-a1");

    let m = h.core.metrics();
    assert_eq!(
        (m.offers_received, m.offers_used, m.placements, m.queue_len),
        (1, 1, 1, 0)
    );
    assert_eq!(h.core.take_placement_latencies().len(), 1);
}

/// Regression: `fieldRef: spec.nodeName` printed an empty value because the
/// pod in `TaskInfo.data` was the pending one; the executor must get the pod
/// as bound (the kubelet reads the bound pod).
#[test]
fn the_launched_pod_carries_its_node_name_and_placement_annotations() {
    let mut h = Harness::started();
    let a = place_one(&mut h, "web");
    let tasks = launched_tasks(&a);
    let sent: Pod =
        serde_json::from_slice(tasks[0].data.as_deref().expect("data")).expect("pod json");
    let Some(Action::Bind {
        node_name,
        annotations,
        ..
    }) = a.iter().find(|a| matches!(a, Action::Bind { .. }))
    else {
        panic!("no Bind in {a:?}")
    };
    assert_eq!(
        sent.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(node_name.as_str())
    );
    let sent_annotations = sent.metadata.annotations.expect("annotations");
    for (k, v) in annotations {
        assert_eq!(sent_annotations.get(k), Some(v), "annotation {k}");
    }
}

#[test]
fn offers_without_pending_work_are_declined_at_once_with_the_long_filter() {
    let mut h = Harness::started();
    let a = h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    assert_eq!(
        a,
        vec![Action::Decline {
            offer_ids: vec![OfferId { value: "o1".into() }],
            filters: kube_mesos_proto::v1::Filters {
                refuse_seconds: Some(120.0)
            },
        }]
    );
    assert_eq!(h.core.metrics().offers_declined, 1);
}

#[test]
fn higher_priority_pods_are_placed_first() {
    let mut h = Harness::started();
    let mut low = pod("low", "3");
    low.spec.as_mut().expect("spec").priority = Some(0);
    let mut high = pod("high", "3");
    high.spec.as_mut().expect("spec").priority = Some(100);
    h.feed(Input::PodUpserted(Box::new(low)));
    h.feed(Input::PodUpserted(Box::new(high)));
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    let a = h.tick_at(1.0);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].task_id.value, "pod.uid-high");
}

#[test]
fn unschedulable_pod_gets_condition_and_one_event_per_message_or_backoff() {
    let mut h = Harness::started();
    h.feed(Input::PodUpserted(Box::new(pod("huge", "64"))));
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    let a = h.tick_at(1.0);
    // Backing off, the pod does not keep the framework busy: SUPPRESS.
    assert_eq!(
        kinds(&a),
        vec!["Decline", "SetPodUnschedulable", "RecordEvent", "Suppress"]
    );
    let Action::Decline { filters, .. } = &a[0] else {
        unreachable!()
    };
    assert_eq!(
        filters.refuse_seconds,
        Some(5.0),
        "short filter: it might fit later"
    );
    // No Node known: only the offer decides.
    let msg = "0/1 nodes are available: 1 Insufficient cpu offered by Mesos. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
    let Action::SetPodUnschedulable { message, .. } = &a[1] else {
        unreachable!()
    };
    assert_eq!(message, msg);
    let Action::RecordEvent {
        type_,
        reason,
        message,
        ..
    } = &a[2]
    else {
        unreachable!()
    };
    assert_eq!(
        (*type_, reason.as_str(), message.as_str()),
        (EventType::Warning, "FailedScheduling", msg)
    );

    // Same message within the backoff (1 s after the first failure): quiet.
    // (second failure at 2.2 s: backoff is now 2 s since the event at 1 s)
    h.at(1.2);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    let a = h.tick_at(2.2);
    assert_eq!(kinds(&a), vec!["Decline"]);

    // A different message: reported at once.
    h.feed(Input::Offers(vec![
        offer_on("o3", "a1", 4.0),
        offer_on("o4", "a2", 2.0),
    ]));
    let a = h.tick_at(3.2);
    // One DECLINE for both agents' offers (same filter).
    assert_eq!(
        kinds(&a),
        vec!["Decline", "SetPodUnschedulable", "RecordEvent"]
    );
    let Action::Decline { offer_ids, .. } = &a[0] else {
        unreachable!()
    };
    assert_eq!(offer_ids.len(), 2);
    let Action::RecordEvent { message, .. } = &a[2] else {
        unreachable!()
    };
    assert_eq!(
        message,
        "0/2 nodes are available: 2 Insufficient cpu offered by Mesos. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
    assert_eq!(h.core.metrics().unschedulable_attempts, 3);
}

#[test]
fn static_misfits_are_declined_with_the_long_filter() {
    let mut h = Harness::started();
    let mut p = pod("picky", "100m");
    p.spec.as_mut().expect("spec").node_selector =
        Some(BTreeMap::from([("disk".into(), "ssd".into())]));
    h.feed(Input::PodUpserted(Box::new(p)));
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    let a = h.tick_at(1.0);
    let Action::Decline { filters, .. } = &a[0] else {
        panic!("{a:?}")
    };
    assert_eq!(filters.refuse_seconds, Some(120.0));
}

#[test]
fn node_labels_come_from_node_objects() {
    let mut h = Harness::started();
    h.feed(Input::NodeUpserted(Box::new(Node {
        metadata: ObjectMeta {
            name: Some("host-a1".into()),
            labels: Some(BTreeMap::from([("disk".into(), "ssd".into())])),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        ..Default::default()
    })));
    let mut p = pod("picky", "100m");
    p.spec.as_mut().expect("spec").node_selector =
        Some(BTreeMap::from([("disk".into(), "ssd".into())]));
    h.feed(Input::PodUpserted(Box::new(p)));
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    assert_eq!(launched_tasks(&h.tick_at(1.0)).len(), 1);

    // Cordoned: spec.unschedulable.
    h.feed(Input::NodeUpserted(Box::new(Node {
        metadata: ObjectMeta {
            name: Some("host-a1".into()),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            unschedulable: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    })));
    h.feed(Input::PodUpserted(Box::new(pod("other", "100m"))));
    h.at(2.0);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    let a = h.tick_at(3.0);
    assert!(a.iter().any(|x| matches!(x, Action::RecordEvent { message, .. } if message == "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")), "{a:?}");
}

#[test]
fn rescinded_and_disconnected_offers_are_dropped() {
    let mut h = Harness::started();
    h.feed(Input::PodUpserted(Box::new(pod("web", "500m"))));
    h.feed(Input::Offers(vec![
        offer_on("o1", "a1", 4.0),
        offer_on("o2", "a2", 4.0),
    ]));
    h.feed(Input::Rescinded(OfferId { value: "o1".into() }));
    let a = h.tick_at(1.0);
    let Action::Accept { offer_ids, .. } = &a[0] else {
        panic!("{a:?}")
    };
    assert_eq!(offer_ids[0].value, "o2");
    assert_eq!(h.core.metrics().offers_rescinded, 1);

    h.feed(Input::PodUpserted(Box::new(pod("two", "500m"))));
    h.feed(Input::Offers(vec![offer_on("o3", "a1", 4.0)]));
    h.feed(Input::Disconnected);
    let a = h.tick_at(5.0);
    assert!(a.is_empty(), "no offers after a disconnect: {a:?}");
    assert_eq!(h.core.next_deadline(), None);
}

#[test]
fn revive_is_rate_limited() {
    let mut h = Harness::started();
    // Revive for "a" at t=0, placed and suppressed at t=1.
    let a = place_one(&mut h, "a");
    assert!(kinds(&a).contains(&"Suppress"));
    assert_eq!(h.core.metrics().revives, 1);
    // Pod "b" appears at 1.5 s: the next REVIVE may go out at 5 s.
    h.at(1.5);
    let a = h.feed(Input::PodUpserted(Box::new(pod("b", "100m"))));
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(h.core.next_deadline(), Some(h.t0 + Duration::from_secs(5)));
    assert!(h.tick_at(4.9).is_empty());
    assert_eq!(kinds(&h.tick_at(5.0)), vec!["Revive"]);
    assert_eq!(h.core.metrics().revives, 2);
    assert!(!h.core.metrics().suppressed);
}

#[test]
fn acknowledge_comes_after_the_handling_and_only_with_a_uuid() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Executor,
        Some(b"0123456789abcdef"),
    ))));
    assert_eq!(kinds(&a), vec!["Acknowledge"]);

    // Killed after running by the agent, not the executor: the pod is
    // failed first, then the update acknowledged.
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskKilled,
        task_status::Source::Agent,
        Some(b"fedcba9876543210"),
    ))));
    assert_eq!(kinds(&a), vec!["FailPod", "RecordEvent", "Acknowledge"]);
    let Action::FailPod { reason, .. } = &a[0] else {
        unreachable!()
    };
    assert_eq!(reason, "LaunchFailed");

    // A master-generated update (no uuid) is not acknowledged.
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskLost,
        task_status::Source::Master,
        None,
    ))));
    assert!(!kinds(&a).contains(&"Acknowledge"));
}

#[test]
fn executor_reported_terminal_states_leave_the_pod_alone() {
    let mut h = Harness::started();
    place_one(&mut h, "job");
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-job",
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Executor,
        Some(b"1"),
    ))));
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-job",
        "a1",
        TaskState::TaskFinished,
        task_status::Source::Executor,
        Some(b"2"),
    ))));
    assert_eq!(kinds(&a), vec!["Acknowledge"]);
    // Redelivery (at-least-once) changes nothing.
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-job",
        "a1",
        TaskState::TaskFinished,
        task_status::Source::Executor,
        Some(b"2"),
    ))));
    assert_eq!(kinds(&a), vec!["Acknowledge"]);
}

#[test]
fn deletion_kills_once_with_the_pods_grace_period() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: BindOutcome::Bound,
    });
    let d = deleting(bound(pod("web", "500m"), "a1"), 12);
    let a = h.feed(Input::PodUpserted(Box::new(d.clone())));
    assert_eq!(kinds(&a), vec!["Kill"]);
    let Action::Kill {
        task_id,
        agent_id,
        kill_policy,
    } = &a[0]
    else {
        unreachable!()
    };
    assert_eq!(task_id.value, "pod.uid-web");
    assert_eq!(agent_id.as_ref().map(|a| a.value.as_str()), Some("a1"));
    assert_eq!(
        kill_policy
            .and_then(|k| k.grace_period)
            .map(|g| g.nanoseconds),
        Some(12_000_000_000)
    );
    let a = h.feed(Input::PodUpserted(Box::new(d)));
    assert!(a.is_empty(), "once: {a:?}");
    assert_eq!(h.core.metrics().kills, 1);
}

#[test]
fn a_vanished_pod_has_its_task_killed() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    let a = h.feed(Input::PodDeleted(Box::new(pod("web", "500m"))));
    assert_eq!(kinds(&a), vec!["Kill"]);
    // Its terminal update forgets it; nothing else happens.
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskKilled,
        task_status::Source::Executor,
        Some(b"u"),
    ))));
    assert_eq!(kinds(&a), vec!["Acknowledge"]);
}

#[test]
fn unknown_tasks_are_killed_only_once_pods_are_synced() {
    let mut h = Harness::new(windowed());
    h.feed(Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    });
    let a = h.feed(Input::TaskUpdate(Box::new(ghost())));
    assert!(
        a.iter().all(|x| !matches!(x, Action::Kill { .. })),
        "not before sync: {a:?}"
    );
    h.feed(Input::PodsSynced);
    let a = h.feed(Input::TaskUpdate(Box::new(ghost())));
    assert_eq!(kinds(&a), vec!["Kill"]);
}

/// A running task no pod names.
fn ghost() -> TaskStatus {
    status(
        "pod.uid-ghost",
        "a9",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    )
}

#[test]
fn subscribe_reconciles_known_tasks_then_periodically_implicitly() {
    let mut h = Harness::new(windowed());
    h.feed(Input::PodUpserted(Box::new(bound(pod("b", "1"), "a2"))));
    h.feed(Input::PodUpserted(Box::new(bound(pod("a", "1"), "a1"))));
    // Subscribed before the pods are synced: reconciliation waits.
    let a = h.feed(Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    });
    assert!(!kinds(&a).contains(&"Reconcile"));
    let a = h.feed(Input::PodsSynced);
    // Implicit first (a newer task than a pod names is heard before the
    // older one's answer), then the pods' own tasks.
    assert_eq!(a[0], Action::Reconcile { tasks: Vec::new() });
    assert_eq!(
        a[1],
        Action::Reconcile {
            tasks: vec![
                (
                    TaskId {
                        value: "pod.uid-a".into()
                    },
                    Some(AgentId { value: "a1".into() })
                ),
                (
                    TaskId {
                        value: "pod.uid-b".into()
                    },
                    Some(AgentId { value: "a2".into() })
                ),
            ]
        }
    );
    // Both answer; the retry round finds nothing left to ask.
    for task in ["pod.uid-a", "pod.uid-b"] {
        h.feed(Input::TaskUpdate(Box::new(status(
            task,
            "a1",
            TaskState::TaskRunning,
            task_status::Source::Master,
            None,
        ))));
    }
    assert_eq!(h.core.next_deadline(), Some(h.t0 + Duration::from_secs(5)));
    assert!(h.tick_at(5.0).is_empty());
    assert_eq!(
        h.core.next_deadline(),
        Some(h.t0 + Duration::from_secs(300))
    );
    let a = h.tick_at(300.0);
    assert_eq!(a, vec![Action::Reconcile { tasks: vec![] }]);
    assert_eq!(h.core.metrics().reconciliations, 2);

    // A reconciled task whose pod names it is kept; one of ours that no pod
    // names is killed.
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-a",
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    ))));
    assert!(a.is_empty(), "{a:?}");
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-zzz",
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    ))));
    assert_eq!(kinds(&a), vec!["Kill"]);
}

#[test]
fn a_failed_launch_is_relaunched_on_the_same_agent() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: BindOutcome::Bound,
    });
    h.at(2.0);
    let mut dropped = status(
        "pod.uid-web",
        "a1",
        TaskState::TaskDropped,
        task_status::Source::Master,
        None,
    );
    dropped.reason = Some(task_status::Reason::InvalidOffers as i32);
    let a = h.feed(Input::TaskUpdate(Box::new(dropped)));
    assert_eq!(
        kinds(&a),
        vec!["RecordEvent", "SetPodTask", "FetchPod"],
        "the back-off event, the relaunch recorded on the pod and the bound \
         pod (stored slim) fetched for its launch; no REVIVE yet"
    );
    assert_eq!(h.core.metrics().relaunch_pending, 1);
    // A dropped launch was not tried: no failure of the agent, a short
    // hold (5 s). Its offers are not used for the pod meanwhile...
    h.at(5.0);
    h.feed(Input::Offers(vec![offer_on("o-early", "a1", 4.0)]));
    assert_eq!(kinds(&h.tick_at(6.0)), vec!["Decline"]);
    // ...and at its end the framework wants offers again.
    assert!(h.tick_at(6.9).is_empty());
    assert_eq!(kinds(&h.tick_at(7.0)), vec!["Revive"], "wants offers again");

    // Offers of another agent are not used for it.
    h.at(13.0);
    h.feed(Input::Offers(vec![offer_on("o-b", "a2", 8.0)]));
    let a = h.tick_at(14.0);
    assert_eq!(kinds(&a), vec!["Decline"]);

    h.feed(Input::Offers(vec![offer_on("o-a", "a1", 4.0)]));
    let a = h.tick_at(15.0);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0].task_id.value, "pod.uid-web.1",
        "a new task ID: the next generation"
    );
    assert_eq!(tasks[0].agent_id.value, "a1");
    assert_eq!(
        label(&tasks[0], kube_mesos_node::relaunch::LABEL_REASON),
        Some("LaunchFailed")
    );
    assert!(!kinds(&a).contains(&"Bind"), "already bound: {a:?}");
    let Some(Action::SetPodTask { annotations, .. }) =
        a.iter().find(|a| matches!(a, Action::SetPodTask { .. }))
    else {
        panic!("the new task is recorded on the pod: {a:?}");
    };
    assert_eq!(annotations[ANNOTATION_TASK_ID], "pod.uid-web.1");
}

#[test]
fn a_failed_launch_is_failed_after_the_deadline() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    h.at(2.0);
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskError,
        task_status::Source::Master,
        None,
    ))));
    assert_eq!(
        kinds(&h.tick_at(12.0)),
        vec!["Revive"],
        "after the back-off"
    );
    // The deadline (300 s) runs from the end of the back-off (10 s).
    assert!(!kinds(&h.tick_at(311.9)).contains(&"FailPod"));
    let a = h.tick_at(312.0);
    assert_eq!(kinds(&a)[..2], ["FailPod", "RecordEvent"]);
    let Action::FailPod {
        reason, message, ..
    } = &a[0]
    else {
        unreachable!()
    };
    assert_eq!(reason, "LaunchFailed");
    assert!(message.contains("TASK_ERROR"), "{message}");
    assert!(message.contains("not relaunched"), "{message}");
    assert_eq!(h.core.metrics().relaunch_pending, 0);
}

#[test]
fn a_binding_conflict_kills_the_task() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    let a = h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: BindOutcome::Conflict,
    });
    assert_eq!(kinds(&a), vec!["Kill"]);
}

#[test]
fn a_failed_binding_kills_then_requeues() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: BindOutcome::Failed("500".into()),
    });
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskKilled,
        task_status::Source::Executor,
        Some(b"u"),
    ))));
    assert_eq!(
        h.core.metrics().queue_len,
        1,
        "back in the queue once the task is gone"
    );
}

#[test]
fn agent_removal_fails_its_pods() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    let a = h.feed(Input::AgentRemoved(AgentId { value: "a1".into() }));
    assert_eq!(kinds(&a), vec!["FailPod", "RecordEvent"]);
    let Action::FailPod { reason, .. } = &a[0] else {
        unreachable!()
    };
    assert_eq!(reason, "NodeLost");
    // The master's TASK_GONE afterwards is idempotent.
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskGone,
        task_status::Source::Master,
        None,
    ))));
    assert!(a.is_empty(), "{a:?}");
}

#[test]
fn the_executor_is_launched_once_per_agent_and_again_after_it_failed() {
    let mut h = Harness::started();
    let a = place_one(&mut h, "one");
    let first = launched_tasks(&a)[0].executor.clone().expect("executor");
    assert!(!first.resources.is_empty());
    // Second pod on the same agent reuses the identical ExecutorInfo.
    h.at(5.0);
    let a = place_one(&mut h, "two");
    let second = launched_tasks(&a)[0].executor.clone().expect("executor");
    assert_eq!(
        first, second,
        "Mesos requires the same ExecutorInfo for a running executor"
    );
    // Offers that list the executor as running also count.
    let exec_id: ExecutorId = first.executor_id.clone();
    h.feed(Input::ExecutorFailure {
        agent_id: AgentId { value: "a1".into() },
        executor_id: exec_id,
        status: Some(1),
    });
    // Tasks of the failed executor end.
    for n in ["one", "two"] {
        h.feed(Input::TaskUpdate(Box::new(status(
            &format!("pod.uid-{n}"),
            "a1",
            TaskState::TaskFailed,
            task_status::Source::Agent,
            None,
        ))));
    }
    h.at(10.0);
    let a = place_one(&mut h, "three");
    let third = launched_tasks(&a)[0].executor.clone().expect("executor");
    assert!(!third.resources.is_empty());
}

/// A restarted framework: a pod on `a1` whose annotation says the executor
/// there was launched with `annotated` resources (an executor that died
/// since), and an offer from `a1` where the current executor runs.
fn restarted_with_an_executor_annotation(
    annotated: Vec<kube_mesos_proto::v1::Resource>,
) -> Harness {
    let mut h = Harness::new(CoreConfig::default());
    let exec_id = h.core.executor_id().clone();
    let mut p = bound(pod("old", "100m"), "a1");
    let record = ExecutorInfo {
        executor_id: exec_id,
        resources: annotated,
        ..Default::default()
    };
    let json = kube_mesos_proto::json::to_json(&record).expect("json");
    let annotations = p.metadata.annotations.as_mut().expect("annotations");
    annotations.insert(
        ANNOTATION_EXECUTOR_ID.to_owned(),
        record.executor_id.value.clone(),
    );
    annotations.insert(ANNOTATION_EXECUTOR_RESOURCES.to_owned(), json.to_string());
    h.feed(Input::PodUpserted(Box::new(p)));
    h
}

fn launch_on_the_running_executor(h: &mut Harness) -> ExecutorInfo {
    let mut o = offer_on("o-new", "a1", 4.0);
    o.executor_ids = vec![h.core.executor_id().clone()];
    h.feed(Input::PodUpserted(Box::new(pod("new", "100m"))));
    h.feed(Input::Offers(vec![o]));
    let a = h.tick_at(1.0);
    launched_tasks(&a)
        .into_iter()
        .find(|t| t.name.ends_with("/new"))
        .and_then(|t| t.executor)
        .expect("the new pod is launched")
}

#[test]
fn a_restarted_framework_repeats_the_executor_info_the_master_holds() {
    let dead = vec![
        build::scalar(CPUS, 0.1, "*"),
        build::ports(&[(31000, 31000)], "*"),
    ];
    let live = vec![
        build::scalar(CPUS, 0.1, "*"),
        build::ports(&[(31007, 31007)], "*"),
    ];
    let exec_id = Harness::new(CoreConfig::default())
        .core
        .executor_id()
        .clone();
    let listed = |framework: &str, resources: &Vec<_>| RunningExecutor {
        agent_id: AgentId { value: "a1".into() },
        info: ExecutorInfo {
            executor_id: exec_id.clone(),
            framework_id: Some(FrameworkId {
                value: framework.into(),
            }),
            resources: resources.clone(),
            ..Default::default()
        },
    };

    // Without the master's word, the annotation is all there is.
    let mut h = restarted_with_an_executor_annotation(dead.clone());
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    assert_eq!(launch_on_the_running_executor(&mut h).resources, dead);

    // The master's executors (the operator snapshot arrives before the
    // framework is subscribed) win over the annotation; another
    // framework's executor of the same ID is not ours.
    let mut h = restarted_with_an_executor_annotation(dead.clone());
    h.feed(Input::ExecutorsRunning(vec![
        listed("fw-other", &dead),
        listed("fw-1", &live),
    ]));
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    assert_eq!(launch_on_the_running_executor(&mut h).resources, live);

    // After the subscription too.
    let mut h = restarted_with_an_executor_annotation(dead.clone());
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    h.feed(Input::ExecutorsRunning(vec![listed("fw-1", &live)]));
    assert_eq!(launch_on_the_running_executor(&mut h).resources, live);
}

#[test]
fn preassigned_node_name_only_annotates() {
    let mut h = Harness::started();
    let mut p = pod("pinned", "100m");
    p.spec.as_mut().expect("spec").node_name = Some("host-a2".into());
    h.feed(Input::PodUpserted(Box::new(p)));
    h.feed(Input::Offers(vec![
        offer_on("o1", "a1", 4.0),
        offer_on("o2", "a2", 4.0),
    ]));
    let a = h.tick_at(1.0);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks[0].agent_id.value, "a2");
    assert!(kinds(&a).contains(&"Annotate"));
    assert!(!kinds(&a).contains(&"Bind"));
}

#[test]
fn pods_of_other_schedulers_are_ignored() {
    let mut h = Harness::started();
    let mut p = pod("theirs", "100m");
    p.spec.as_mut().expect("spec").scheduler_name = Some("default-scheduler".into());
    let a = h.feed(Input::PodUpserted(Box::new(p.clone())));
    assert!(a.is_empty());
    assert_eq!(h.core.metrics().queue_len, 0);

    let mut h = Harness::new(CoreConfig {
        scheduler_names: vec!["kube-mesos".into(), "default-scheduler".into()],
        ..windowed()
    });
    h.feed(Input::PodUpserted(Box::new(p)));
    assert_eq!(h.core.metrics().queue_len, 1);
}

#[test]
fn the_pods_role_comes_from_annotation_or_namespace_default() {
    let mut h = Harness::new(CoreConfig {
        roles: vec!["web".into(), "batch".into()],
        namespace_roles: BTreeMap::from([("default".into(), "batch".into())]),
        ..windowed()
    });
    h.feed(Input::PodsSynced);
    h.feed(Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    });
    let role_offer = |id: &str, agent: &str, role: &str| Offer {
        id: OfferId { value: id.into() },
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
        agent_id: AgentId {
            value: agent.into(),
        },
        hostname: format!("host-{agent}"),
        resources: vec![
            build::scalar(CPUS, 4.0, role),
            build::scalar(MEM, 4096.0, role),
            build::ports(&[(31000, 31100)], role),
        ],
        ..Default::default()
    };
    // Namespace default: batch.
    h.feed(Input::PodUpserted(Box::new(pod("ns-default", "1"))));
    // Annotation: a role the framework does not have.
    let mut stray = pod("stray", "1");
    stray.metadata.annotations = Some(BTreeMap::from([(
        "kube-mesos.io/role".to_owned(),
        "nope".to_owned(),
    )]));
    h.feed(Input::PodUpserted(Box::new(stray)));
    h.feed(Input::Offers(vec![
        role_offer("o-web", "a1", "web"),
        role_offer("o-batch", "a2", "batch"),
    ]));
    let a = h.tick_at(1.0);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].agent_id.value, "a2", "placed on the batch offer");
    for r in &tasks[0].resources {
        assert_eq!(
            r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
            Some("batch")
        );
    }
    assert!(
        a.iter().any(|x| matches!(x, Action::RecordEvent { reason, message, .. }
            if reason == "FailedScheduling"
            && message == "the pod's Mesos role \"nope\" is not one of the framework's roles (web, batch)")),
        "{a:?}"
    );
}

#[test]
fn a_binding_that_fails_after_the_launch_failed_requeues_the_pod() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    // The launch fails before the Bind is answered...
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskDropped,
        task_status::Source::Master,
        None,
    ))));
    assert_eq!(h.core.metrics().relaunch_pending, 1);
    // ...and then the Bind fails: the pod is not bound, so it may go anywhere.
    let a = h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: BindOutcome::Failed("timeout".into()),
    });
    assert!(!kinds(&a).contains(&"Kill"), "no task is live: {a:?}");
    let m = h.core.metrics();
    assert_eq!((m.relaunch_pending, m.queue_len), (0, 1));
    h.at(6.0);
    h.feed(Input::Offers(vec![offer_on("o2", "a2", 4.0)]));
    let a = h.tick_at(7.0);
    assert_eq!(launched_tasks(&a)[0].agent_id.value, "a2");
    assert!(kinds(&a).contains(&"Bind"));
}

fn kill_of(actions: &[Action]) -> Option<(String, Option<i64>)> {
    actions.iter().find_map(|a| match a {
        Action::Kill {
            task_id,
            kill_policy,
            ..
        } => Some((
            task_id.value.clone(),
            kill_policy
                .and_then(|k| k.grace_period)
                .map(|g| g.nanoseconds / 1_000_000_000),
        )),
        _ => None,
    })
}

fn bound_ok(uid: &str) -> Input {
    Input::BindResult {
        pod_uid: uid.into(),
        result: BindOutcome::Bound,
    }
}

fn resubscribe(h: &mut Harness) -> Vec<Action> {
    h.feed(Input::Disconnected);
    h.feed(subscribed())
}

/// Regression (real Mesos run): "Mesos call failed error=KILL call while
/// not subscribed" and the KILL was gone. A pod deleted while the
/// subscription is down has its task killed, with the pod's grace period,
/// once subscribed again.
#[test]
fn a_kill_while_disconnected_is_sent_once_subscribed() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    h.feed(bound_ok("uid-web"));
    h.feed(Input::Disconnected);
    let a = h.feed(Input::PodUpserted(Box::new(deleting(
        bound(pod("web", "500m"), "a1"),
        7,
    ))));
    assert_eq!(kill_of(&a), None, "not sent while disconnected: {a:?}");
    assert_eq!(h.core.metrics().kills_pending, 1);
    let a = h.feed(subscribed());
    assert_eq!(kill_of(&a), Some(("pod.uid-web".into(), Some(7))));
    assert_eq!(h.core.metrics().kills, 1, "one kill, sent late");
}

/// A KILL may be lost with the connection (the shell does not retry): it is
/// sent again, with the same grace period, on every SUBSCRIBED until a
/// terminal status answers it.
#[test]
fn a_kill_is_sent_again_after_each_resubscribe_until_the_task_ends() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    let a = h.feed(Input::PodUpserted(Box::new(deleting(
        bound(pod("web", "500m"), "a1"),
        7,
    ))));
    assert_eq!(kill_of(&a), Some(("pod.uid-web".into(), Some(7))));
    let update = |state: TaskState, uuid: &[u8]| {
        let source = task_status::Source::Executor;
        Input::TaskUpdate(Box::new(status(
            "pod.uid-web",
            "a1",
            state,
            source,
            Some(uuid),
        )))
    };
    // TASK_KILLING does not settle it.
    h.feed(update(TaskState::TaskKilling, b"u1"));
    let a = resubscribe(&mut h);
    assert_eq!(kill_of(&a), Some(("pod.uid-web".into(), Some(7))));
    // A terminal status does.
    h.feed(update(TaskState::TaskKilled, b"u2"));
    assert_eq!(h.core.metrics().kills_pending, 0);
    let a = resubscribe(&mut h);
    assert_eq!(kill_of(&a), None, "{a:?}");
}

/// KILLs of tasks no pod owns are owed as well; a removed agent's are not.
/// (A task unreachable or unknown for too long is not killed at all: see
/// `core_task_loss.rs`.)
#[test]
fn orphan_task_kills_are_remembered_until_answered() {
    let mut h = Harness::started();
    let a = h.feed(Input::TaskUpdate(Box::new(ghost())));
    assert_eq!(kill_of(&a), Some(("pod.uid-ghost".into(), None)));
    let a = resubscribe(&mut h);
    assert_eq!(kill_of(&a), Some(("pod.uid-ghost".into(), None)));
    h.feed(Input::AgentRemoved(AgentId { value: "a9".into() }));
    assert_eq!(h.core.metrics().kills_pending, 0);
    let a = resubscribe(&mut h);
    assert_eq!(kill_of(&a), None, "{a:?}");
}

/// TASK_FAILED from the agent: the executor exited (exit 1) before the
/// task ran, as a real Mesos agent reports it.
fn back_off_messages(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RecordEvent {
                type_: EventType::Warning,
                reason,
                message,
                ..
            } if reason == REASON_BACK_OFF => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// Offers of `agent` at `secs`, placed (or declined) one second later.
fn offer_and_place(h: &mut Harness, agent: &str, secs: f64) -> Vec<Action> {
    h.at(secs);
    h.feed(Input::Offers(vec![offer_on(
        &format!("o-{agent}-{secs}"),
        agent,
        4.0,
    )]));
    h.tick_at(secs + 1.0)
}

/// Regression (real Mesos run): the executor failed at once, and the pod
/// was relaunched about every 5 s ("executor failed ... status=Some(256)",
/// "pod placed ... relaunch=true"). Relaunches now wait 10 s, 20 s, 40 s,
/// ... (kubelet CrashLoopBackOff steps), each announced on the pod by a
/// Warning BackOff event that says why, until the relaunch deadline.
#[test]
fn relaunches_after_executor_failures_back_off_exponentially() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    h.feed(bound_ok("uid-web"));
    let mut now = 1.0;
    let mut launches = vec![now];
    // Each relaunch is a new task: pod.uid-web, then pod.uid-web.1, ...
    let task = |generation: u32| match generation {
        0 => "pod.uid-web".to_owned(),
        g => format!("pod.uid-web.{g}"),
    };
    for (generation, pause) in [10.0, 20.0, 40.0, 80.0].into_iter().enumerate() {
        now += 2.0;
        h.at(now);
        let a = h.feed(executor_terminated(&task(generation as u32), "a1"));
        h.feed(Input::ExecutorFailure {
            agent_id: AgentId { value: "a1".into() },
            executor_id: h.core.executor_id().clone(),
            status: Some(256),
        });
        let go = if pause < 60.0 {
            format!("{pause}s")
        } else {
            format!("1m{}s", pause - 60.0)
        };
        assert_eq!(
            back_off_messages(&a),
            vec![format!(
                "Back-off {go} relaunching the pod on Mesos agent a1 after its launch failed: \
                 Mesos reported TASK_FAILED (REASON_EXECUTOR_TERMINATED from SOURCE_AGENT): Executor terminated"
            )]
        );
        // Offers of the agent during the pause are not used.
        let a = offer_and_place(&mut h, "a1", now + pause - 2.0);
        assert!(launched_tasks(&a).is_empty(), "during the back-off: {a:?}");
        assert!(kinds(&a).contains(&"Decline"));
        // At its end the framework asks for offers again and relaunches.
        assert!(kinds(&h.tick_at(now + pause)).contains(&"Revive"));
        now += pause;
        let a = offer_and_place(&mut h, "a1", now);
        let tasks = launched_tasks(&a);
        assert_eq!(tasks.len(), 1, "relaunched: {a:?}");
        assert_eq!(tasks[0].task_id.value, task(generation as u32 + 1));
        now += 1.0;
        launches.push(now);
    }
    assert_eq!(launches, [1.0, 14.0, 37.0, 80.0, 163.0]);
    // The next pause (160 s) outlasts the relaunch deadline (5 min from
    // the end of the first pause, at t=13: launches that fail keep it):
    // the pod fails then, saying why.
    h.at(now + 2.0);
    let a = h.feed(executor_terminated(&task(4), "a1"));
    assert!(back_off_messages(&a)[0].starts_with("Back-off 2m40s"));
    assert!(!kinds(&h.tick_at(312.9)).contains(&"FailPod"));
    let a = h.tick_at(313.0);
    let failed = a.iter().find_map(|x| match x {
        Action::FailPod {
            reason, message, ..
        } => Some((reason.clone(), message.clone())),
        _ => None,
    });
    let (reason, message) = failed.expect("the pod fails at its deadline");
    assert_eq!(reason, "ExecutorLost");
    assert!(message.contains("not relaunched"), "{message}");
}

/// One executor failure fails every task it had: that is one failure of
/// the agent, and its pods are relaunched together after one pause.
#[test]
fn pods_failed_by_one_executor_exit_share_one_back_off() {
    let mut h = Harness::started();
    h.feed(Input::PodUpserted(Box::new(pod("a", "500m"))));
    h.feed(Input::PodUpserted(Box::new(pod("b", "500m"))));
    let a = offer_and_place(&mut h, "a1", 0.0);
    assert_eq!(launched_tasks(&a).len(), 2);
    h.at(2.0);
    let first = h.feed(executor_terminated("pod.uid-a", "a1"));
    h.at(3.0);
    let second = h.feed(executor_terminated("pod.uid-b", "a1"));
    assert!(back_off_messages(&first)[0].starts_with("Back-off 10s"));
    assert!(back_off_messages(&second)[0].starts_with("Back-off 9s"));
    let a = offer_and_place(&mut h, "a1", 12.0);
    assert_eq!(launched_tasks(&a).len(), 2, "together, after one pause");
    // They fail again: the second step, not the third.
    h.at(14.0);
    let a = h.feed(executor_terminated("pod.uid-a.1", "a1"));
    assert!(back_off_messages(&a)[0].starts_with("Back-off 20s"));
}

/// The pause starts over once a pod launched after the last failure has
/// run for 10 minutes (the kubelet's rule); a shorter run does not reset.
#[test]
fn a_pod_that_runs_ten_minutes_resets_the_agents_back_off() {
    let running = |task: &str, agent: &str| {
        Input::TaskUpdate(Box::new(status(
            task,
            agent,
            TaskState::TaskRunning,
            task_status::Source::Executor,
            Some(b"r"),
        )))
    };
    let mut h = Harness::started();
    for (agent, ran_for, next_pause) in [("a1", 600.0, "10s"), ("a2", 599.0, "20s")] {
        let (first, second) = (format!("{agent}-x"), format!("{agent}-y"));
        let start = h.now.duration_since(h.t0).as_secs_f64();
        // A first pod fails there; once relaunched it runs.
        h.feed(Input::PodUpserted(Box::new(pod(&first, "500m"))));
        offer_and_place(&mut h, agent, start);
        h.at(start + 2.0);
        h.feed(executor_terminated(&format!("pod.uid-{first}"), agent));
        offer_and_place(&mut h, agent, start + 12.0);
        h.feed(running(&format!("pod.uid-{first}.1"), agent));
        // A second pod placed there later fails after `ran_for`.
        h.feed(Input::PodUpserted(Box::new(pod(&second, "500m"))));
        offer_and_place(&mut h, agent, start + 13.0);
        h.at(start + 13.0 + ran_for);
        let a = h.feed(executor_terminated(&format!("pod.uid-{second}"), agent));
        let message = &back_off_messages(&a)[0];
        assert!(
            message.starts_with(&format!("Back-off {next_pause}")),
            "{agent}: {message}"
        );
    }
}

/// A core with the default (busy/idle) offer policy, subscribed and synced.
fn default_policy() -> Harness {
    let mut h = Harness::new(CoreConfig::default());
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    h
}

fn refuse_of(a: &[Action]) -> Vec<Option<f64>> {
    a.iter()
        .filter_map(|a| match a {
            Action::Accept { filters, .. } | Action::Decline { filters, .. } => {
                Some(filters.refuse_seconds)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn offer_policy_places_a_pod_on_an_offer_in_hand_at_once() {
    let mut h = default_policy();
    // Idle: suppressed. A pod REVIVEs; the offers are used 20 ms after
    // they arrive, not at the end of the batching window.
    let a = h.feed(Input::PodUpserted(Box::new(pod("a", "500m"))));
    assert_eq!(kinds(&a), vec!["Revive"]);
    assert!(h
        .feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]))
        .is_empty());
    assert_eq!(
        h.core.next_deadline(),
        Some(h.t0 + Duration::from_millis(20))
    );
    let a = h.tick_at(0.02);
    assert_eq!(kinds(&a), vec!["Accept", "Bind", "RecordEvent"]);
    // Pods keep arriving: what is left comes back with the next allocation.
    assert_eq!(refuse_of(&a), vec![Some(0.0)]);
    assert!(!h.core.metrics().suppressed);
}

#[test]
fn offer_policy_holds_offers_while_busy_then_declines_long_and_suppresses() {
    let mut h = default_policy();
    h.feed(Input::PodUpserted(Box::new(pod("a", "500m"))));
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    h.tick_at(0.02);
    // Offers while busy without a pod: held (for at most the window).
    h.at(0.5);
    assert!(h
        .feed(Input::Offers(vec![offer_on("o2", "a1", 3.0)]))
        .is_empty());
    // A pod arriving then uses them 20 ms later.
    h.at(0.7);
    let a = h.feed(Input::PodUpserted(Box::new(pod("b", "500m"))));
    assert!(a.is_empty(), "an offer is in hand: no REVIVE: {a:?}");
    let a = h.tick_at(0.72);
    assert_eq!(kinds(&a), vec!["Accept", "Bind", "RecordEvent"]);
    // More offers, no more pods: held until the window ends...
    h.at(1.0);
    h.feed(Input::Offers(vec![offer_on("o3", "a1", 2.5)]));
    let a = h.tick_at(2.0);
    assert_eq!(refuse_of(&a), vec![Some(0.0)], "still busy: {a:?}");
    // ...then, 2 s after the last pod arrived, idle: long filter, SUPPRESS.
    h.at(2.5);
    h.feed(Input::Offers(vec![offer_on("o4", "a1", 2.5)]));
    assert_eq!(
        h.core.next_deadline(),
        Some(h.t0 + Duration::from_millis(2700))
    );
    let a = h.tick_at(2.7);
    assert_eq!(kinds(&a), vec!["Decline", "Suppress"]);
    assert_eq!(refuse_of(&a), vec![Some(120.0)]);
    let m = h.core.metrics();
    assert!(m.suppressed);
    assert_eq!(
        (m.revives, m.suppresses),
        (1, 2),
        "one SUPPRESS at the start"
    );
}

/// While pods arrive, a round keeps the offers it did not use until each
/// one's own batching window ends (from when it came, not renewed by the
/// rounds): the next pod finds an offer in hand instead of REVIVEing, and
/// no offer is held longer than the window.
#[test]
fn offer_policy_keeps_unused_offers_in_hand_until_their_window_ends() {
    let mut h = default_policy();
    h.feed(Input::PodUpserted(Box::new(pod("a", "500m"))));
    h.at(0.1);
    h.feed(Input::Offers(vec![
        offer_on("o1", "a1", 4.0),
        offer_on("o2", "a2", 4.0),
        offer_on("o3", "a3", 4.0),
    ]));
    let a = h.tick_at(0.12);
    assert_eq!(kinds(&a), vec!["Accept", "Bind", "RecordEvent"]);
    assert_eq!(h.core.held_offers(), 2, "the unused two stay in hand");
    assert_eq!(
        h.core.next_deadline(),
        Some(h.t0 + Duration::from_millis(1100)),
        "their window, from when they came"
    );
    // The next pod is placed on one at once, without a REVIVE.
    h.at(0.5);
    let a = h.feed(Input::PodUpserted(Box::new(pod("b", "500m"))));
    assert!(a.is_empty(), "an offer is in hand: no REVIVE: {a:?}");
    let a = h.tick_at(0.52);
    assert_eq!(kinds(&a), vec!["Accept", "Bind", "RecordEvent"]);
    assert_eq!(h.core.held_offers(), 1);
    // The round did not renew the last one's window: it is declined when
    // its own ends, with the short filter (pods still arrive).
    assert_eq!(
        h.core.next_deadline(),
        Some(h.t0 + Duration::from_millis(1100))
    );
    let a = h.tick_at(1.1);
    assert_eq!(kinds(&a), vec!["Decline"]);
    assert_eq!(refuse_of(&a), vec![Some(0.0)]);
    assert_eq!(h.core.held_offers(), 0);
    let m = h.core.metrics();
    assert_eq!((m.revives, m.offers_declined), (1, 1));
}

#[test]
fn offer_policy_revives_at_most_four_times_a_second_whatever_the_pod_rate() {
    let mut h = default_policy();
    let mut revives = 0;
    // 20 pods/s for 2 s and no offer ever comes: REVIVE every 250 ms,
    // at 0, 0.25, ... 2 s.
    for i in 0..40 {
        h.at(i as f64 * 0.05);
        let a = h.feed(Input::PodUpserted(Box::new(pod(&format!("p{i}"), "100m"))));
        revives += kinds(&a).iter().filter(|k| **k == "Revive").count();
        let a = h.feed(Input::Tick);
        revives += kinds(&a).iter().filter(|k| **k == "Revive").count();
    }
    let a = h.tick_at(2.0);
    revives += kinds(&a).iter().filter(|k| **k == "Revive").count();
    assert_eq!(revives, 9);
    assert_eq!(h.core.metrics().revives, 9);
}

/// The shell keeps no offer set of its own: at the end of a term (drain or
/// lost leadership) it asks the core for the offers still held.
#[test]
fn held_offers_are_given_back_once_at_the_end_of_a_term() {
    let mut h = Harness::started();
    h.feed(Input::PodUpserted(Box::new(pod("web", "500m"))));
    let a = h.feed(Input::Offers(vec![
        offer_on("o1", "a1", 4.0),
        offer_on("o2", "a2", 4.0),
    ]));
    assert!(a.is_empty(), "held for the batching window: {a:?}");
    h.feed(Input::Rescinded(OfferId { value: "o2".into() }));
    assert_eq!(h.core.held_offers(), 1);
    match h.core.give_back_offers() {
        Some(Action::Decline { offer_ids, filters }) => {
            assert_eq!(offer_ids, vec![OfferId { value: "o1".into() }]);
            assert_eq!(filters.refuse_seconds, None);
        }
        other => panic!("expected one Decline, got {other:?}"),
    }
    assert_eq!(h.core.held_offers(), 0);
    assert!(h.core.give_back_offers().is_none());
}

/// More pods than a round takes: the first round launches its share and
/// keeps the offers it did not use (no DECLINE), the next round follows at
/// once with them, and the last answers every offer left.
#[test]
fn a_round_past_its_cap_keeps_the_unused_offers_for_the_next_round_at_once() {
    let mut h = capped_rounds(2, 5);

    let first = h.tick_at(1.0);
    assert_eq!(launched_tasks(&first).len(), 2, "{:?}", kinds(&first));
    assert!(!kinds(&first).contains(&"Decline"), "{:?}", kinds(&first));
    assert_eq!(
        h.core.next_deadline(),
        Some(h.now),
        "the next round at once"
    );
    // The API server answers the Bindings as they come; each round due
    // runs on the next input.
    let mut rest = Vec::new();
    let mut last = first.clone();
    for _ in 0..4 {
        let mut step = answer_bindings(&mut h, &last);
        step.extend(h.tick_at(1.0));
        rest.extend(step.iter().cloned());
        last = step;
    }
    assert!(!kinds(&rest).contains(&"Decline"), "{:?}", kinds(&rest));
    let mut agents: Vec<String> = launched_tasks(&first)
        .into_iter()
        .chain(launched_tasks(&rest))
        .map(|t| t.agent_id.value)
        .collect();
    agents.sort();
    assert_eq!(agents, ["a1", "a2", "a3", "a4", "a5"], "one pod per agent");
    assert_eq!(h.core.metrics().queue_len, 0);
    // Nothing is held any more: every offer was accepted.
    let after = h.tick_at(2.0);
    assert!(launched_tasks(&after).is_empty());
    assert!(!kinds(&after).contains(&"Decline"));
}

/// While the Bindings of earlier rounds are unanswered (two rounds' worth),
/// the next round waits for them, at most until the batching window ends;
/// if the API server is still behind then, the round declines the offers it
/// did not use (with the short filter: more pods wait), and placement goes
/// on with the next offers.
#[test]
fn a_round_past_its_cap_waits_while_bindings_are_unanswered() {
    let mut h = capped_rounds(1, 5);

    let first = h.tick_at(1.0);
    assert_eq!(launched_tasks(&first).len(), 1);
    let second = h.tick_at(1.0);
    assert_eq!(launched_tasks(&second).len(), 1);
    assert!(!kinds(&first).contains(&"Decline") && !kinds(&second).contains(&"Decline"));
    // Two Bindings unanswered: the third round waits, offers in hand.
    let third = h.tick_at(1.0);
    assert!(third.is_empty(), "{:?}", kinds(&third));
    assert_eq!(
        h.core.next_deadline(),
        Some(h.t0 + Duration::from_secs(2)),
        "the end of the batching window"
    );
    assert_eq!(h.core.held_offers(), 3);

    // One answer: the round comes due again (after the placement delay,
    // here the window's end too).
    let answered = answer_bindings(&mut h, &first);
    assert!(launched_tasks(&answered).is_empty());
    let fourth = h.tick_at(2.0);
    assert_eq!(launched_tasks(&fourth).len(), 1);
    // Its window over and two Bindings unanswered again: the two agents
    // it did not use are declined with the short filter.
    let declined: Vec<(usize, Option<f64>)> = fourth
        .iter()
        .filter_map(|a| match a {
            Action::Decline { offer_ids, filters } => {
                Some((offer_ids.len(), filters.refuse_seconds))
            }
            _ => None,
        })
        .collect();
    assert_eq!(declined, [(2, Some(5.0))], "{:?}", kinds(&fourth));
    assert_eq!(h.core.held_offers(), 0);
    assert_eq!(h.core.metrics().queue_len, 2);

    // The API server answers; Mesos offers those two agents again.
    answer_bindings(&mut h, &second);
    answer_bindings(&mut h, &fourth);
    h.at(3.0);
    h.feed(Input::Offers(vec![
        offer_on("o6", "a4", 1.5),
        offer_on("o7", "a5", 1.5),
    ]));
    let mut rest = h.tick_at(4.0);
    rest.extend(answer_bindings(&mut h, &rest.clone()));
    rest.extend(h.tick_at(5.0));
    assert_eq!(launched_tasks(&rest).len(), 2, "{:?}", kinds(&rest));
    assert_eq!(h.core.metrics().queue_len, 0);
}

/// The API server writes every Binding among `actions`; what the core
/// does meanwhile.
fn answer_bindings(h: &mut Harness, actions: &[Action]) -> Vec<Action> {
    let mut out = Vec::new();
    for a in actions {
        if let Action::Bind { pod, .. } = a {
            out.extend(h.feed(Input::BindResult {
                pod_uid: pod.uid.clone(),
                result: BindOutcome::Bound,
            }));
        }
    }
    out
}

/// A started core whose rounds take `cap` pods, with `n` one-cpu pods
/// queued and offers of `n` agents, each with room for one of them (and
/// the executor).
fn capped_rounds(cap: usize, n: usize) -> Harness {
    let mut h = Harness::new(CoreConfig {
        max_round_pods: cap,
        ..windowed()
    });
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    for i in 1..=n {
        h.feed(Input::PodUpserted(Box::new(pod(&format!("p{i}"), "1"))));
    }
    let offers = (1..=n)
        .map(|i| offer_on(&format!("o{i}"), &format!("a{i}"), 1.5))
        .collect();
    h.feed(Input::Offers(offers));
    h
}
