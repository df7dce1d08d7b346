//! Tasks launched for pods whose Binding never landed: a launch comes
//! before its Binding, so a failed Binding, or a framework that dies in
//! between, leaves a task no pod names. The soak found a pod running twice
//! that way (a framework killed while the API server was away, the next
//! one placing the pod again before Mesos had told it of the first task).

use std::time::Duration;

use kube_mesos_framework::core::{reconcile_gate, Action, BindOutcome, Input};
use kube_mesos_proto::v1::{task_status, TaskState};

mod core_support;

use core_support::*;

/// A framework process that has just subscribed, with `web` pending and
/// a master that does not answer reconciliation markers by itself.
fn restarted() -> (Harness, Vec<Action>) {
    let mut h = Harness::new(windowed());
    h.silent_master = true;
    h.feed(Input::PodUpserted(Box::new(pod("web", "500m"))));
    h.feed(Input::PodsSynced);
    let asked = h.feed(subscribed());
    (h, asked)
}

fn answer_marker(h: &mut Harness, asked: &[Action]) -> Vec<Action> {
    let answers = reconcile_gate::master_answers(asked);
    assert_eq!(answers.len(), 1, "one marker asked: {asked:?}");
    let mut out = Vec::new();
    for a in answers {
        out.extend(h.feed(Input::TaskUpdate(Box::new(a))));
    }
    out
}

#[test]
fn a_restarted_framework_places_nothing_until_mesos_told_every_task() {
    let (mut h, asked) = restarted();
    let reconciles: Vec<usize> = asked
        .iter()
        .filter_map(|a| match a {
            Action::Reconcile { tasks } => Some(tasks.len()),
            _ => None,
        })
        .collect();
    assert_eq!(reconciles, [0, 1], "implicit, then the marker: {asked:?}");

    // Offers before the answer are declined with the long filter, and
    // nothing asks for them again while the answer is awaited.
    let a = h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    assert_eq!(kinds(&a), ["Decline"]);
    let Action::Decline { filters, .. } = &a[0] else {
        unreachable!()
    };
    assert_eq!(filters.refuse_seconds, Some(120.0));
    let a = h.tick_at(1.5);
    assert!(launched_tasks(&a).is_empty(), "{a:?}");
    let asked_again = h.tick_at(7.0);
    assert!(!kinds(&asked_again).contains(&"Revive"), "{asked_again:?}");
    assert!(
        h.core.next_deadline().is_none_or(|d| d > h.now),
        "no deadline in the past while waiting"
    );

    // The implicit answer: an earlier process launched the pod as its
    // third task and died before the Binding. It is not the pod's.
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web.3",
        "a2",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    ))));
    assert_eq!(kinds(&a), ["Kill"]);

    // The marker's answer: every task is in; a REVIVE brings the declined
    // offers back and placement goes on, with a task ID never used before.
    h.at(7.5);
    let a = answer_marker(&mut h, &asked_again);
    let a = [a, h.tick_at(7.5)].concat();
    assert!(kinds(&a).contains(&"Revive"), "{a:?}");
    h.at(8.0);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    let a = h.tick_at(9.0);
    let launched = launched_tasks(&a);
    assert_eq!(launched.len(), 1, "{a:?}");
    assert_eq!(launched[0].task_id.value, "pod.uid-web.4");
}

#[test]
fn an_unanswered_marker_is_asked_again_and_given_up_after_a_while() {
    let (mut h, asked) = restarted();
    let first = reconcile_gate::master_answers(&asked);
    let a = h.tick_at(reconcile_gate::ASK_AGAIN_AFTER.as_secs_f64());
    let again = reconcile_gate::master_answers(&a);
    assert_eq!(again.len(), 1, "asked again: {a:?}");
    assert_ne!(again[0].task_id, first[0].task_id);
    // A late answer to the first ask is not the answer.
    h.feed(Input::TaskUpdate(Box::new(first[0].clone())));
    let t = reconcile_gate::ASK_AGAIN_AFTER.as_secs_f64() + 0.5;
    h.at(t);
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    assert!(launched_tasks(&h.tick_at(t + 1.0)).is_empty());

    // After GIVE_UP_AFTER the pod is placed anyway (agents of a master
    // that failed over may take their time re-registering).
    let give_up = reconcile_gate::GIVE_UP_AFTER.as_secs_f64();
    h.tick_at(give_up);
    h.at(give_up + 0.5);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    let a = h.tick_at(give_up + 2.0);
    assert_eq!(launched_tasks(&a).len(), 1, "{a:?}");
}

/// `web` placed by this process on a1, its Binding landed.
fn placed_and_bound() -> Harness {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: BindOutcome::Bound,
    });
    h.feed(Input::PodUpserted(Box::new(bound(
        pod("web", "500m"),
        "a1",
    ))));
    h
}

#[test]
fn a_newer_task_of_the_pod_off_its_node_is_killed_not_taken() {
    let mut h = placed_and_bound();
    // Offers made a2's host known.
    h.feed(Input::Offers(vec![offer_on("o2", "a2", 4.0)]));
    // A task of an earlier process whose Binding never landed, on a2.
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web.7",
        "a2",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    ))));
    assert_eq!(kinds(&a), ["Kill"]);
    let Some(Action::Kill { task_id, .. }) = a.first() else {
        unreachable!()
    };
    assert_eq!(task_id.value, "pod.uid-web.7");
    // The pod's own task runs on, still tracked: its update is taken.
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web",
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Executor,
        Some(b"u1"),
    ))));
    assert!(!kinds(&a).contains(&"Kill"), "{a:?}");
    assert_eq!(h.core.metrics().kills, 1);
}

#[test]
fn a_newer_task_on_the_pods_node_is_taken() {
    let mut h = placed_and_bound();
    let a = h.feed(Input::TaskUpdate(Box::new(status(
        "pod.uid-web.2",
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    ))));
    assert_eq!(kinds(&a), ["SetPodTask"], "a relaunch without its record");
}

#[test]
fn a_pod_whose_binding_failed_waits_longer_each_time() {
    let mut h = Harness::started();
    let mut generation = String::from("pod.uid-web");
    let mut t = 0.0;
    for (n, wait) in [(1, 1.0), (2, 2.0), (3, 4.0)] {
        if n == 1 {
            place_one(&mut h, "web");
        }
        h.feed(Input::BindResult {
            pod_uid: "uid-web".into(),
            result: BindOutcome::Failed("connection refused".into()),
        });
        h.feed(Input::TaskUpdate(Box::new(status(
            &generation,
            "a1",
            TaskState::TaskKilled,
            task_status::Source::Executor,
            Some(b"u"),
        ))));
        assert_eq!(h.core.metrics().queue_len, 1);
        // Room appears at once; the pod waits its turn all the same.
        h.at(t + 0.2);
        h.feed(Input::Offers(vec![offer_on(&format!("o{n}"), "a1", 4.0)]));
        let a = h.tick_at(t + wait - 0.1);
        assert!(launched_tasks(&a).is_empty(), "failure {n}: {a:?}");
        h.at(t + wait);
        h.feed(Input::Offers(vec![offer_on(&format!("p{n}"), "a1", 4.0)]));
        t += wait + Duration::from_secs(1).as_secs_f64();
        let launched = launched_tasks(&h.tick_at(t));
        assert_eq!(launched.len(), 1, "failure {n} waited {wait}s");
        generation = launched[0].task_id.value.clone();
    }
    // A Binding that lands resets the wait.
    h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: BindOutcome::Bound,
    });
}
