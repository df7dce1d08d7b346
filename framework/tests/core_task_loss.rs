//! The task-state policy in the core: a task Mesos reports unreachable or
//! unknown puts its pod into a waiting state (phase kept, a condition and an
//! event), a task that comes back resumes its pod with no restart and no
//! kill, and only a state that means gone, or `unreachable_timeout`, loses
//! the pod. Time is passed in explicitly, so the timeout is tested to the
//! second without waiting for it.

mod core_support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube_mesos_framework::core::{Action, BindOutcome, CoreConfig, EventType, Input};
use kube_mesos_framework::task_status::CONDITION_NODE_REACHABLE;
use kube_mesos_proto::v1::{task_status, AgentId, FrameworkId, TaskId, TaskState, TaskStatus};

use core_support::*;

/// What the master sends, without uuid (master-generated updates are not
/// acknowledged).
fn from_master(
    task: &str,
    state: TaskState,
    reason: task_status::Reason,
    message: &str,
) -> TaskStatus {
    let mut s = status(task, "a1", state, task_status::Source::Master, None);
    s.reason = Some(reason as i32);
    s.message = Some(message.to_owned());
    s
}

/// `Reconciliation: Task is unknown`: the master's answer for a task on an
/// agent it does not know (master failover, in-memory registry).
fn unknown(task: &str) -> TaskStatus {
    from_master(
        task,
        TaskState::TaskUnknown,
        task_status::Reason::Reconciliation,
        "Reconciliation: Task is unknown",
    )
}

/// What the master forwards when an unknown or unreachable agent
/// re-registers with the task (`Master::__reregisterSlave`).
fn reregistered(task: &str) -> TaskStatus {
    from_master(
        task,
        TaskState::TaskRunning,
        task_status::Reason::AgentReregistered,
        "Unknown agent reregistered",
    )
}

fn unreachable(task: &str) -> TaskStatus {
    from_master(
        task,
        TaskState::TaskUnreachable,
        task_status::Reason::AgentRemoved,
        "health check timed out",
    )
}

fn running(mut p: Pod) -> Pod {
    p.status.get_or_insert_with(Default::default).phase = Some("Running".into());
    p
}

fn with_restart_policy(mut p: Pod, policy: &str) -> Pod {
    p.spec.as_mut().expect("spec").restart_policy = Some(policy.into());
    p
}

fn owned_by(mut p: Pod, owner_uid: &str) -> Pod {
    p.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "rs".into(),
        uid: owner_uid.into(),
        controller: Some(true),
        ..Default::default()
    }]);
    p
}

/// A framework that restarted: the bound, running pod comes from its
/// annotations, then the subscription; the explicit reconciliation follows.
fn restarted_with(pods: &[Pod]) -> Harness {
    let mut h = Harness::new(CoreConfig::default());
    for p in pods {
        h.feed(Input::PodUpserted(Box::new(p.clone())));
    }
    h.feed(Input::PodsSynced);
    let a = h.feed(Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    });
    assert!(kinds(&a).contains(&"Reconcile"), "{a:?}");
    h
}

fn web() -> Pod {
    running(bound(pod("web", "500m"), "a1"))
}

fn conditions(actions: &[Action]) -> Vec<(bool, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SetPodCondition {
                type_,
                status,
                reason,
                ..
            } if type_ == CONDITION_NODE_REACHABLE => Some((*status, reason.clone())),
            _ => None,
        })
        .collect()
}

fn events(actions: &[Action]) -> Vec<(EventType, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RecordEvent { type_, reason, .. } => Some((*type_, reason.clone())),
            _ => None,
        })
        .collect()
}

/// The kinds of actions, reconciliations left out (a retry round or the
/// periodic implicit reconciliation may fall on any tick).
fn effects(actions: &[Action]) -> Vec<&'static str> {
    kinds(actions)
        .into_iter()
        .filter(|k| *k != "Reconcile")
        .collect()
}

fn assert_no_kill_or_fail(actions: &[Action]) {
    let k = kinds(actions);
    assert!(
        !k.contains(&"Kill") && !k.contains(&"FailPod"),
        "{actions:?}"
    );
}

#[test]
fn regression_master_failover_unknown_task_is_neither_failed_nor_killed() {
    // The issue: the framework reconciled before the agent re-registered,
    // got TASK_UNKNOWN and failed the pod, then killed the task when the
    // agent came back with it.
    let mut h = restarted_with(&[web()]);
    h.at(1.0);
    let a = h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    assert_no_kill_or_fail(&a);
    assert_eq!(conditions(&a), vec![(false, "NodeUnknown".to_owned())]);
    assert_eq!(
        events(&a),
        vec![(EventType::Warning, "NodeUnknown".to_owned())]
    );
    let Action::SetPodCondition { message, .. } = &a[0] else {
        unreachable!()
    };
    assert!(
        message.starts_with(
            "Mesos reported TASK_UNKNOWN (REASON_RECONCILIATION from SOURCE_MASTER): \
             Reconciliation: Task is unknown"
        ),
        "{message}"
    );
    assert_eq!(h.core.metrics().tasks_waiting, 1);
    // The same answer again (a retried reconciliation) changes nothing.
    h.at(5.0);
    let a = h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    assert!(effects(&a).is_empty(), "{a:?}");

    // The agent re-registers with the task: the pod resumes.
    h.at(8.0);
    let a = h.feed(Input::TaskUpdate(Box::new(reregistered("pod.uid-web"))));
    assert_no_kill_or_fail(&a);
    assert_eq!(conditions(&a), vec![(true, "TaskRecovered".to_owned())]);
    assert_eq!(
        events(&a),
        vec![(EventType::Normal, "TaskRecovered".to_owned())]
    );
    let m = h.core.metrics();
    assert_eq!((m.kills, m.tasks_waiting, m.tasks_recovered), (0, 0, 1));
    // Long after the timeout, nothing happens to it.
    assert_no_kill_or_fail(&h.tick_at(10_000.0));
}

#[test]
fn reconciliation_is_retried_with_backoff_until_every_task_answered() {
    let b = running(bound(pod("b", "500m"), "a2"));
    let mut h = restarted_with(&[web(), b]);
    // No answer (the replicated-log master drops the reconciliation while
    // the agents have not re-registered): asked again after 5 s, 10 s, ...
    assert_eq!(h.core.next_deadline(), Some(h.t0 + Duration::from_secs(5)));
    let a = h.tick_at(5.0);
    assert_eq!(
        a,
        vec![Action::Reconcile {
            tasks: vec![
                (
                    TaskId {
                        value: "pod.uid-b".into()
                    },
                    Some(AgentId { value: "a2".into() })
                ),
                (
                    TaskId {
                        value: "pod.uid-web".into()
                    },
                    Some(AgentId { value: "a1".into() })
                ),
            ]
        }]
    );
    assert_eq!(h.core.next_deadline(), Some(h.t0 + Duration::from_secs(15)));
    // b answers; web is unknown to this master, which is no final answer.
    h.at(6.0);
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-b",
        "a2",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    ))));
    h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    let a = h.tick_at(15.0);
    assert_eq!(
        a,
        vec![Action::Reconcile {
            tasks: vec![(
                TaskId {
                    value: "pod.uid-web".into()
                },
                Some(AgentId { value: "a1".into() })
            )]
        }]
    );
    assert_eq!(h.core.next_deadline(), Some(h.t0 + Duration::from_secs(35)));
    // web is back: the round ends.
    h.at(20.0);
    h.feed(Input::TaskUpdate(Box::new(reregistered("pod.uid-web"))));
    assert!(h.tick_at(35.0).is_empty());
    assert_eq!(
        h.core.next_deadline(),
        Some(h.t0 + Duration::from_secs(300))
    );
    assert_eq!(h.core.metrics().kills, 0);
}

#[test]
fn a_waiting_pod_is_lost_after_the_timeout_never_before() {
    let mut h = restarted_with(&[web()]);
    h.at(10.0);
    // Unknown is no final answer: asked again at once (the 5 s retry was
    // due), then after 10 s.
    let a = h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    assert!(kinds(&a).contains(&"Reconcile"), "{a:?}");
    assert_eq!(h.core.next_deadline(), Some(h.t0 + Duration::from_secs(20)));
    for t in [15.0, 35.0, 75.0, 155.0, 309.0] {
        assert_no_kill_or_fail(&h.tick_at(t));
    }
    assert_eq!(
        h.core.next_deadline(),
        Some(h.t0 + Duration::from_secs(310))
    );
    let a = h.tick_at(310.0);
    assert_eq!(effects(&a), vec!["FailPod", "RecordEvent"]);
    let Action::FailPod {
        reason, message, ..
    } = &a[0]
    else {
        unreachable!()
    };
    assert_eq!(reason, "NodeLost");
    assert_eq!(
        message,
        "Mesos has not known task pod.uid-web on agent a1 for 300s"
    );
    let m = h.core.metrics();
    assert_eq!((m.kills, m.pods_lost, m.tasks_waiting), (0, 1, 0));
}

#[test]
fn the_timeout_is_configurable() {
    let mut h = Harness::new(CoreConfig {
        unreachable_timeout: Duration::from_secs(60),
        ..CoreConfig::default()
    });
    h.feed(Input::PodUpserted(Box::new(web())));
    h.feed(Input::PodsSynced);
    h.feed(Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    });
    h.feed(Input::TaskUpdate(Box::new(unreachable("pod.uid-web"))));
    assert!(!kinds(&h.tick_at(59.0)).contains(&"FailPod"));
    let a = h.tick_at(60.0);
    assert!(kinds(&a).contains(&"FailPod"), "{a:?}");
}

#[test]
fn partition_and_heal_resumes_the_pod() {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: BindOutcome::Bound,
    });
    h.at(2.0);
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Executor,
        Some(b"u1"),
    ))));
    h.at(100.0);
    let a = h.feed(Input::AgentUnreachable(AgentId { value: "a1".into() }));
    assert_no_kill_or_fail(&a);
    let a = h.feed(Input::TaskUpdate(Box::new(unreachable("pod.uid-web"))));
    assert_eq!(conditions(&a), vec![(false, "NodeUnreachable".to_owned())]);
    assert_no_kill_or_fail(&a);
    // Heals before the timeout.
    h.at(250.0);
    let mut back = reregistered("pod.uid-web");
    back.message = Some("Unreachable agent re-reregistered".into());
    let a = h.feed(Input::TaskUpdate(Box::new(back)));
    assert_eq!(conditions(&a), vec![(true, "TaskRecovered".to_owned())]);
    assert_no_kill_or_fail(&a);
    assert_no_kill_or_fail(&h.tick_at(1_000.0));
}

#[test]
fn an_unreachable_task_turning_unknown_updates_the_condition_but_keeps_the_deadline() {
    let mut h = restarted_with(&[web()]);
    h.at(10.0);
    h.feed(Input::TaskUpdate(Box::new(unreachable("pod.uid-web"))));
    h.at(100.0);
    let a = h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    assert_eq!(conditions(&a), vec![(false, "NodeUnknown".to_owned())]);
    assert!(kinds(&h.tick_at(310.0)).contains(&"FailPod"));
}

/// A bound pod whose task never ran (no RUNNING seen, phase Pending).
fn never_ran() -> Pod {
    bound(pod("web", "500m"), "a1")
}

#[test]
fn a_lost_pod_is_failed_unless_it_is_a_bare_pod_that_never_ran() {
    // It ran: failed, whatever its restartPolicy (its old incarnation may
    // still run; a pod is never started twice).
    for p in [web(), with_restart_policy(web(), "Always")] {
        let mut h = restarted_with(&[p]);
        h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
        let a = h.tick_at(300.0);
        assert_eq!(effects(&a), vec!["FailPod", "RecordEvent"]);
    }

    // Owned by a controller, its agent away: failed, so that the
    // controller replaces it elsewhere.
    let mut h = restarted_with(&[owned_by(never_ran(), "rs-1")]);
    h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    let a = h.tick_at(300.0);
    assert_eq!(effects(&a), vec!["FailPod", "RecordEvent"]);

    // A bare pod that never ran: relaunched on its node should the agent
    // offer resources, failed after the relaunch deadline.
    let mut h = restarted_with(&[never_ran()]);
    h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    let a = h.tick_at(300.0);
    assert_no_kill_or_fail(&a);
    assert_eq!(h.core.metrics().relaunch_pending, 1);
    let a = h.tick_at(600.0);
    assert_eq!(effects(&a)[..2], ["FailPod", "RecordEvent"]);
}

#[test]
fn the_agent_coming_back_during_a_relaunch_takes_the_pod_back() {
    let mut h = restarted_with(&[never_ran()]);
    h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    h.tick_at(300.0);
    assert_eq!(h.core.metrics().relaunch_pending, 1);
    h.at(400.0);
    let a = h.feed(Input::TaskUpdate(Box::new(reregistered("pod.uid-web"))));
    assert_no_kill_or_fail(&a);
    assert_eq!(conditions(&a), vec![(true, "TaskRecovered".to_owned())]);
    let m = h.core.metrics();
    assert_eq!((m.relaunch_pending, m.kills), (0, 0));
    // It is an ordinary task again: deleting the pod kills it.
    let a = h.feed(Input::PodUpserted(Box::new(deleting(web(), 5))));
    assert_eq!(effects(&a), vec!["Kill"]);
}

#[test]
fn states_that_mean_gone_lose_the_pod_at_once() {
    let gone = || {
        from_master(
            "pod.uid-web",
            TaskState::TaskGone,
            task_status::Reason::Reconciliation,
            "Reconciliation: Task is unknown to the agent",
        )
    };
    // GONE_BY_OPERATOR: the agent will not come back; failed even though it
    // never ran.
    let mut h = restarted_with(&[never_ran()]);
    let a = h.feed(Input::TaskUpdate(Box::new(from_master(
        "pod.uid-web",
        TaskState::TaskGoneByOperator,
        task_status::Reason::AgentRemovedByOperator,
        "Agent marked gone",
    ))));
    assert_eq!(effects(&a), vec!["FailPod", "RecordEvent"]);

    // GONE of a pod that ran: failed (its processes may outlive the task).
    let mut h = restarted_with(&[web()]);
    let a = h.feed(Input::TaskUpdate(Box::new(gone())));
    assert_eq!(effects(&a), vec!["FailPod", "RecordEvent"]);

    // GONE of a pod that never ran (its launch was lost with the old
    // master): relaunched in place, its agent being there — owned or not.
    for p in [never_ran(), owned_by(never_ran(), "rs-1")] {
        let mut h = restarted_with(&[p]);
        let a = h.feed(Input::TaskUpdate(Box::new(gone())));
        assert_no_kill_or_fail(&a);
        assert_eq!(h.core.metrics().relaunch_pending, 1);
        h.at(2.0);
        h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
        let a = h.tick_at(4.0);
        let task = &launched_tasks(&a)[0];
        assert_eq!(task.task_id.value, "pod.uid-web.1", "the next generation");
        assert_eq!(
            label(task, kube_mesos_node::relaunch::LABEL_REASON),
            Some("NodeLost")
        );
    }
}

#[test]
fn a_task_back_after_its_pod_was_failed_takes_the_pod_back() {
    let mut h = restarted_with(&[web()]);
    h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    assert!(kinds(&h.tick_at(300.0)).contains(&"FailPod"));
    h.at(900.0);
    let a = h.feed(Input::TaskUpdate(Box::new(reregistered("pod.uid-web"))));
    assert_eq!(effects(&a), vec!["RecoverPod", "RecordEvent"]);
    let Action::RecoverPod { phase, .. } = &a[0] else {
        unreachable!()
    };
    assert_eq!(phase, "Running");
    let m = h.core.metrics();
    assert_eq!((m.kills, m.tasks_recovered), (0, 1));
    let a = h.feed(Input::PodUpserted(Box::new(deleting(web(), 5))));
    assert_eq!(effects(&a), vec!["Kill"]);
}

#[test]
fn a_failed_pod_rebuilt_after_a_restart_is_taken_back_too() {
    let mut failed = web();
    let status = failed.status.get_or_insert_with(Default::default);
    status.phase = Some("Failed".into());
    status.reason = Some("NodeLost".into());
    let mut h = Harness::new(CoreConfig::default());
    h.feed(Input::PodUpserted(Box::new(failed)));
    h.feed(Input::PodsSynced);
    h.feed(Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    });
    let a = h.feed(Input::TaskUpdate(Box::new(reregistered("pod.uid-web"))));
    assert_eq!(effects(&a), vec!["RecoverPod", "RecordEvent"]);
}

#[test]
fn a_task_back_after_a_replacement_runs_is_killed() {
    let sibling = running(owned_by(bound(pod("old-sibling", "500m"), "a2"), "rs-1"));
    let lost = owned_by(web(), "rs-1");
    let mut h = restarted_with(&[lost, sibling]);
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-old-sibling",
        "a2",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    ))));
    h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    assert!(kinds(&h.tick_at(300.0)).contains(&"FailPod"));

    // The ReplicaSet replaces it; the replacement runs.
    h.at(310.0);
    let mut replacement = owned_by(pod("web-2", "500m"), "rs-1");
    replacement.metadata.uid = Some("uid-web-2".into());
    h.feed(Input::PodUpserted(Box::new(replacement)));
    h.feed(Input::Offers(vec![offer_on("o1", "a2", 4.0)]));
    let a = h.tick_at(312.0);
    assert_eq!(launched_tasks(&a)[0].task_id.value, "pod.uid-web-2");
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web-2",
        "a2",
        TaskState::TaskRunning,
        task_status::Source::Executor,
        Some(b"u2"),
    ))));

    // The old task comes back: it is surplus.
    h.at(900.0);
    let a = h.feed(Input::TaskUpdate(Box::new(reregistered("pod.uid-web"))));
    assert_eq!(effects(&a), vec!["Kill"]);
    let Action::Kill { task_id, .. } = &a[0] else {
        unreachable!()
    };
    assert_eq!(task_id.value, "pod.uid-web");
}

#[test]
fn a_task_back_when_only_older_siblings_run_takes_the_pod_back() {
    let sibling = running(owned_by(bound(pod("old-sibling", "500m"), "a2"), "rs-1"));
    let mut h = restarted_with(&[owned_by(web(), "rs-1"), sibling]);
    h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-old-sibling",
        "a2",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    ))));
    h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    assert!(kinds(&h.tick_at(300.0)).contains(&"FailPod"));
    h.at(900.0);
    let a = h.feed(Input::TaskUpdate(Box::new(reregistered("pod.uid-web"))));
    assert_eq!(effects(&a), vec!["RecoverPod", "RecordEvent"]);
}

#[test]
fn a_pod_deleted_while_its_task_was_unknown_has_the_task_killed_when_it_is_back() {
    let mut h = restarted_with(&[web()]);
    h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    // Deleted meanwhile: the KILL goes out, but the master cannot reach the
    // task and answers as a reconciliation would.
    let a = h.feed(Input::PodUpserted(Box::new(deleting(web(), 5))));
    assert_eq!(effects(&a), vec!["Kill"]);
    assert!(!kinds(&h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))))).contains(&"Kill"));
    // ...which does not settle it: the KILL stays owed.
    assert_eq!(h.core.metrics().kills_pending, 1);
    // Back: killed again, now that it can be reached.
    let a = h.feed(Input::TaskUpdate(Box::new(reregistered("pod.uid-web"))));
    assert!(kinds(&a).contains(&"Kill"), "{a:?}");
}

#[test]
fn unreachable_or_unknown_tasks_without_a_pod_are_not_killed_until_they_are_back() {
    let mut h = Harness::started();
    for s in [unknown("pod.uid-ghost"), unreachable("pod.uid-ghost")] {
        assert!(h.feed(Input::TaskUpdate(Box::new(s))).is_empty());
    }
    let a = h.feed(Input::TaskUpdate(Box::new(reregistered("pod.uid-ghost"))));
    assert_eq!(effects(&a), vec!["Kill"]);
}

#[test]
fn conditions_are_not_written_for_pods_already_deleted() {
    let mut h = restarted_with(&[web()]);
    let mut gone = web();
    gone.metadata.annotations = Some(BTreeMap::new());
    let a = h.feed(Input::PodDeleted(Box::new(gone)));
    assert_eq!(effects(&a), vec!["Kill"]);
    let a = h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    assert!(a.is_empty(), "{a:?}");
}

#[test]
fn a_pending_pod_restored_by_a_restarted_framework_is_lost_after_the_timeout() {
    // Subscribed before the pods are synced, as a restarted framework
    // usually is; the pod never ran.
    let mut h = Harness::new(CoreConfig {
        unreachable_timeout: Duration::from_secs(30),
        relaunch_deadline: Duration::from_secs(30),
        ..CoreConfig::default()
    });
    h.feed(Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    });
    h.feed(Input::PodUpserted(Box::new(bound(
        pod("web", "500m"),
        "a1",
    ))));
    let a = h.feed(Input::PodsSynced);
    assert!(kinds(&a).contains(&"Reconcile"), "{a:?}");
    h.at(1.0);
    h.feed(Input::TaskUpdate(Box::new(unknown("pod.uid-web"))));
    for t in [5.0, 15.0, 25.0] {
        assert_no_kill_or_fail(&h.tick_at(t));
    }
    assert_eq!(h.core.metrics().tasks_waiting, 1);
    // 30 s after the answer: lost, and relaunched on its node (it never
    // ran there); failed once the relaunch deadline passes without an
    // offer from that agent.
    let a = h.tick_at(31.5);
    assert!(kinds(&a).contains(&"SetPodTask"), "{a:?}");
    let m = h.core.metrics();
    assert_eq!((m.tasks_waiting, m.pods_lost), (0, 1));
    let a = h.tick_at(70.0);
    assert_eq!(&kinds(&a)[..2], ["FailPod", "RecordEvent"]);
}

/// The issue: under load the master timed out on ACCEPTs while the
/// subscription stayed up; their pods were bound, their tasks never
/// launched, and no update ever came — Pending with a node, for good. The
/// failed ACCEPT's tasks are asked about until Mesos answers, and a task
/// the master never saw (TASK_GONE on a registered agent) is launched
/// again on its pod's node.
#[test]
fn regression_a_launch_whose_accept_failed_is_asked_about_and_launched_again() {
    let mut h = Harness::started();
    let a = place_one(&mut h, "web");
    let task = launched_tasks(&a)[0].task_id.clone();
    h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: BindOutcome::Bound,
    });
    let asked = Action::Reconcile {
        tasks: vec![(task.clone(), Some(AgentId { value: "a1".into() }))],
    };
    let launched_at = h.now.duration_since(h.t0).as_secs_f64();
    let a = h.feed(Input::LaunchUnconfirmed(vec![task.clone()]));
    assert_eq!(a, vec![asked.clone()]);
    // No answer (the master is still busy): asked again 5 s later.
    let a = h.tick_at(launched_at + 5.0);
    assert_eq!(a, vec![asked]);
    // The master never saw it.
    h.at(launched_at + 6.0);
    let a = h.feed(Input::TaskUpdate(Box::new(from_master(
        &task.value,
        TaskState::TaskGone,
        task_status::Reason::Reconciliation,
        "Reconciliation: Task is unknown to the agent",
    ))));
    assert_no_kill_or_fail(&a);
    assert_eq!(h.core.metrics().relaunch_pending, 1);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    let a = h.tick_at(launched_at + 8.0);
    let again = &launched_tasks(&a)[0];
    assert_eq!(again.task_id.value, format!("{}.1", task.value));
    assert_eq!(again.agent_id.value, "a1");
    // Once the new task is heard of, nothing more is asked.
    h.at(launched_at + 9.0);
    h.feed(Input::TaskUpdate(Box::new(status(
        &again.task_id.value,
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Executor,
        None,
    ))));
    assert!(!h.tick_at(launched_at + 30.0).iter().any(
        |a| matches!(a, Action::Reconcile { tasks } if !tasks.is_empty() && tasks[0].1.is_some())
    ));
}

/// A task that Mesos has spoken of since its ACCEPT failed (the master
/// took the call after all) is not asked about; nor is anything while the
/// subscription is down (SUBSCRIBED asks about every live task).
#[test]
fn an_unconfirmed_launch_already_heard_of_is_not_asked_about() {
    let mut h = Harness::started();
    let a = place_one(&mut h, "web");
    let task = launched_tasks(&a)[0].task_id.clone();
    h.feed(Input::TaskUpdate(Box::new(status(
        &task.value,
        "a1",
        TaskState::TaskStarting,
        task_status::Source::Executor,
        None,
    ))));
    assert!(h
        .feed(Input::LaunchUnconfirmed(vec![task.clone()]))
        .is_empty());

    let mut h = Harness::started();
    let a = place_one(&mut h, "web");
    let task = launched_tasks(&a)[0].task_id.clone();
    h.feed(Input::Disconnected);
    assert!(!h
        .feed(Input::LaunchUnconfirmed(vec![task]))
        .iter()
        .any(|a| matches!(a, Action::Reconcile { .. })));
}
