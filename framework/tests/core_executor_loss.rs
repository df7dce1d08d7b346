//! A pod's executor dies under it (issue 19): the agent fails the task
//! (TASK_FAILED, REASON_EXECUTOR_TERMINATED, SOURCE_AGENT) and the core
//! relaunches the pod as the next generation of its task on the same
//! agent, telling the new executor why, instead of failing a pod whose CRI
//! containers still run. Only past the relaunch deadline is the pod failed,
//! with a status that leaves nothing running or ready. A restarted
//! framework that missed a relaunch's annotation takes the newer task for
//! the pod's own.

mod core_support;

use k8s_openapi::api::core::v1::Pod;
use kube_mesos_framework::core::relaunch_intent::{
    ANNOTATION_RELAUNCH_OF, ANNOTATION_RELAUNCH_REASON,
};
use kube_mesos_framework::core::{Action, EventType, Input, ANNOTATION_TASK_ID};
use kube_mesos_node::relaunch::{LABEL_MESSAGE, LABEL_REASON};
use kube_mesos_proto::v1::{task_status, Offer, TaskState, TaskStatus};

use core_support::*;

fn from_executor(task: &str, state: TaskState) -> Input {
    Input::TaskUpdate(Box::new(status(
        task,
        "a1",
        state,
        task_status::Source::Executor,
        Some(b"uuid-x"),
    )))
}

fn running(mut p: Pod) -> Pod {
    p.status.get_or_insert_with(Default::default).phase = Some("Running".into());
    p
}

fn events(actions: &[Action]) -> Vec<(EventType, String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RecordEvent {
                type_,
                reason,
                message,
                ..
            } => Some((*type_, reason.clone(), message.clone())),
            _ => None,
        })
        .collect()
}

/// A pod placed on a1, bound, and running (the executor said so, and the
/// watch shows it Running).
fn running_pod() -> Harness {
    let mut h = Harness::started();
    place_one(&mut h, "web");
    h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: kube_mesos_framework::core::BindOutcome::Bound,
    });
    h.feed(from_executor("pod.uid-web", TaskState::TaskRunning));
    h.feed(Input::PodUpserted(Box::new(running(bound(
        pod("web", "500m"),
        "a1",
    )))));
    h
}

#[test]
fn a_running_pod_whose_executor_died_is_relaunched_as_its_next_task() {
    let mut h = running_pod();
    h.at(100.0);
    let a = h.feed(executor_terminated("pod.uid-web", "a1"));
    assert!(
        !kinds(&a).contains(&"FailPod") && !kinds(&a).contains(&"Kill"),
        "neither failed nor killed: {a:?}"
    );
    // The update is acknowledged only once the relaunch is recorded on the
    // pod: a framework killed in between gets the update again rather than
    // a TASK_GONE for a task whose relaunch it never recorded.
    let k = kinds(&a);
    let ack = k.iter().position(|k| *k == "Acknowledge");
    let recorded = k.iter().position(|k| *k == "SetPodTask");
    assert!(
        ack > recorded,
        "acknowledged after the relaunch is recorded: {a:?}"
    );
    let Some(Action::Acknowledge { after_write_of, .. }) = ack.map(|i| &a[i]) else {
        panic!("acknowledged: {a:?}");
    };
    assert_eq!(
        after_write_of.as_ref().map(|p| p.uid.as_str()),
        Some("uid-web")
    );
    assert_eq!(
        events(&a),
        [(
            EventType::Warning,
            "BackOff".to_owned(),
            "Back-off 10s relaunching the pod on node host-a1 after its executor was lost: \
             Mesos reported TASK_FAILED (REASON_EXECUTOR_TERMINATED from SOURCE_AGENT): \
             Executor terminated"
                .to_owned()
        )]
    );
    assert_eq!(h.core.metrics().relaunch_pending, 1);

    // After the agent's back-off, on an offer of its agent.
    h.at(111.0);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    let a = h.tick_at(112.0);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1, "{a:?}");
    let task = &tasks[0];
    assert_eq!(task.task_id.value, "pod.uid-web.1");
    assert_eq!(task.agent_id.value, "a1");
    assert_eq!(label(task, LABEL_REASON), Some("ExecutorLost"));
    assert_eq!(
        label(task, LABEL_MESSAGE),
        Some(
            "Mesos reported TASK_FAILED (REASON_EXECUTOR_TERMINATED from SOURCE_AGENT): \
             Executor terminated"
        )
    );
    let Some(Action::SetPodTask { annotations, .. }) =
        a.iter().find(|a| matches!(a, Action::SetPodTask { .. }))
    else {
        panic!("the new task is recorded on the pod: {a:?}");
    };
    assert_eq!(annotations[ANNOTATION_TASK_ID], "pod.uid-web.1");
    assert!(!kinds(&a).contains(&"Bind"), "bound already");
    assert!(events(&a).iter().any(|(t, r, m)| *t == EventType::Normal
        && r == "Relaunched"
        && m == "Relaunched on host-a1 as task pod.uid-web.1 after its executor was lost"));

    // The new task runs: the pod is the core's again, nothing else happens;
    // an update of the old task is stale.
    let a = h.feed(from_executor("pod.uid-web.1", TaskState::TaskRunning));
    assert_eq!(kinds(&a), ["Acknowledge"]);
    assert!(
        matches!(
            &a[0],
            Action::Acknowledge {
                after_write_of: None,
                ..
            }
        ),
        "nothing to wait for: {a:?}"
    );
    let a = h.feed(executor_terminated("pod.uid-web", "a1"));
    assert_eq!(kinds(&a), ["Acknowledge"], "the old task's update is stale");
    assert_eq!(h.core.metrics().relaunch_pending, 0);
}

#[test]
fn every_relaunch_is_a_new_generation_even_when_it_fails_before_running() {
    let mut h = running_pod();
    h.at(100.0);
    h.feed(executor_terminated("pod.uid-web", "a1"));
    h.at(111.0);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    assert_eq!(
        launched_tasks(&h.tick_at(112.0))[0].task_id.value,
        "pod.uid-web.1"
    );
    // The relaunch's executor dies too before the task runs: relaunched
    // again (it was a relaunch), after a longer pause, as generation 2.
    h.at(113.0);
    let a = h.feed(executor_terminated("pod.uid-web.1", "a1"));
    assert!(
        events(&a)[0].2.starts_with("Back-off 20s"),
        "{:?}",
        events(&a)
    );
    h.at(134.0);
    h.feed(Input::Offers(vec![offer_on("o3", "a1", 4.0)]));
    assert_eq!(
        launched_tasks(&h.tick_at(135.0))[0].task_id.value,
        "pod.uid-web.2"
    );
}

#[test]
fn past_the_relaunch_deadline_the_pod_fails_with_nothing_left_running() {
    let mut h = running_pod();
    h.at(100.0);
    h.feed(executor_terminated("pod.uid-web", "a1"));
    // No offer of a1 ever comes: the deadline (300 s) runs from the end of
    // the agent's back-off (10 s).
    assert!(!kinds(&h.tick_at(409.0)).contains(&"FailPod"));
    let a = h.tick_at(410.0);
    let Some(Action::FailPod {
        reason,
        message,
        last_known,
        ..
    }) = a.iter().find(|a| matches!(a, Action::FailPod { .. }))
    else {
        panic!("failed at the deadline: {a:?}");
    };
    assert_eq!(reason, "ExecutorLost");
    assert!(message.contains("REASON_EXECUTOR_TERMINATED"), "{message}");
    assert!(message.contains("not relaunched"), "{message}");
    // The pod as last seen goes with it, so the shell can terminate every
    // container in the status it writes.
    assert_eq!(last_known.metadata.uid.as_deref(), Some("uid-web"));
    assert_eq!(
        last_known.spec.as_ref().map(|s| s.containers.len()),
        Some(1)
    );
}

#[test]
fn a_pod_being_deleted_is_not_relaunched() {
    let mut h = running_pod();
    h.feed(Input::PodUpserted(Box::new(deleting(
        running(bound(pod("web", "500m"), "a1")),
        30,
    ))));
    let a = h.feed(executor_terminated("pod.uid-web", "a1"));
    assert!(events(&a).is_empty(), "{a:?}");
    assert_eq!(h.core.metrics().relaunch_pending, 0);
}

/// A framework restarted after a relaunch whose annotation never made it:
/// the pod names generation 0 (terminal, forgotten by the master), and
/// Mesos reports generation 1 running. That one is the pod's task.
#[test]
fn a_restarted_framework_takes_a_newer_running_task_for_the_pods() {
    let mut h = core_support::Harness::new(Default::default());
    h.feed(Input::PodUpserted(Box::new(running(bound(
        pod("web", "500m"),
        "a1",
    )))));
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    let a = h.feed(from_executor("pod.uid-web.1", TaskState::TaskRunning));
    assert!(!kinds(&a).contains(&"Kill"), "{a:?}");
    let Some(Action::SetPodTask { annotations, .. }) =
        a.iter().find(|a| matches!(a, Action::SetPodTask { .. }))
    else {
        panic!("the pod's annotations are brought up to date: {a:?}");
    };
    assert_eq!(annotations[ANNOTATION_TASK_ID], "pod.uid-web.1");
    // Deleting the pod now kills the newer task.
    let a = h.feed(Input::PodUpserted(Box::new(deleting(
        running(bound(pod("web", "500m"), "a1")),
        30,
    ))));
    let kills: Vec<&str> = a
        .iter()
        .filter_map(|a| match a {
            Action::Kill { task_id, .. } => Some(task_id.value.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(kills, ["pod.uid-web.1"]);
}

#[test]
fn an_older_task_of_a_pod_that_runs_again_is_killed() {
    let mut h = running_pod();
    h.at(100.0);
    h.feed(executor_terminated("pod.uid-web", "a1"));
    h.at(111.0);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    h.tick_at(112.0);
    h.feed(from_executor("pod.uid-web.1", TaskState::TaskRunning));
    // Generation 0 cannot be running: whatever says so is stale, and a
    // second live task of the pod must not stay.
    let stale: TaskStatus = status(
        "pod.uid-web",
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    );
    let a = h.feed(Input::TaskUpdate(Box::new(stale)));
    assert_eq!(kinds(&a), ["Kill"]);
}

#[test]
fn a_pod_rebuilt_from_a_relaunched_task_continues_its_generations() {
    let mut p = running(bound(pod("web", "500m"), "a1"));
    p.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(ANNOTATION_TASK_ID.to_owned(), "pod.uid-web.4".to_owned());
    let mut h = Harness::new(Default::default());
    h.feed(Input::PodUpserted(Box::new(p)));
    h.feed(Input::PodsSynced);
    let a = h.feed(subscribed());
    let Some(Action::Reconcile { tasks }) = a
        .iter()
        .find(|a| matches!(a, Action::Reconcile { tasks } if !tasks.is_empty()))
    else {
        panic!("{a:?}");
    };
    assert_eq!(tasks[0].0.value, "pod.uid-web.4", "the task it names");
    h.at(1.0);
    h.feed(executor_terminated("pod.uid-web.4", "a1"));
    h.at(12.0);
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    assert_eq!(
        launched_tasks(&h.tick_at(13.0))[0].task_id.value,
        "pod.uid-web.5"
    );
}

/// The soak found it: the framework died just after relaunching a pod, its
/// annotation still naming the older task. Reconciling that one alone, the
/// master answers TASK_GONE ("unknown to the agent") and the pod was failed
/// NodeLost while its newer task ran on. The core now asks for every task
/// first (implicit), then for the pods' own (explicit), and the master
/// answers in that order: the newer task is taken before the older one's
/// answer comes.
#[test]
fn a_restarted_framework_hears_of_a_newer_task_before_the_older_ones_gone() {
    let mut h = core_support::Harness::new(Default::default());
    h.feed(Input::PodUpserted(Box::new(running(bound(
        pod("web", "500m"),
        "a1",
    )))));
    h.feed(Input::PodsSynced);
    let a = h.feed(subscribed());
    let reconciles: Vec<usize> = a
        .iter()
        .filter_map(|a| match a {
            Action::Reconcile { tasks } => Some(tasks.len()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reconciles,
        [0, 1, 1],
        "implicit first, then explicit, then the marker: {a:?}"
    );
    // The implicit answer: the newer task runs.
    let implicit = status(
        "pod.uid-web.1",
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    );
    let a = h.feed(Input::TaskUpdate(Box::new(implicit)));
    assert!(
        a.iter().any(|a| matches!(a, Action::SetPodTask { .. })),
        "{a:?}"
    );
    // The explicit answer for the older one: gone, and stale.
    let mut gone = status(
        "pod.uid-web",
        "a1",
        TaskState::TaskGone,
        task_status::Source::Master,
        None,
    );
    gone.reason = Some(task_status::Reason::Reconciliation as i32);
    let a = h.feed(Input::TaskUpdate(Box::new(gone)));
    assert!(
        !a.iter().any(|a| matches!(a, Action::FailPod { .. })),
        "the pod is not failed: {a:?}"
    );
    assert!(!kinds(&a).contains(&"Kill"), "{a:?}");
}

/// The annotations a core wrote on the pod, merged as the API server does.
fn merged(mut p: Pod, actions: &[Action]) -> Pod {
    for a in actions {
        if let Action::SetPodTask { annotations, .. } = a {
            p.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .extend(annotations.clone());
        }
    }
    p
}

fn gone(task: &str) -> Input {
    let mut gone = status(
        task,
        "a1",
        TaskState::TaskGone,
        task_status::Source::Master,
        None,
    );
    gone.reason = Some(task_status::Reason::Reconciliation as i32);
    gone.message = Some("Reconciliation: Task is unknown to the agent".into());
    Input::TaskUpdate(Box::new(gone))
}

/// The soak found it (issue 14): a pod's executor died, and the framework
/// was killed during the agent's back-off, before the relaunch. The
/// restarted framework found the pod naming its generation 0, which Mesos
/// no longer knew (TASK_GONE once its terminal update was acknowledged,
/// or after its agent's partition), and failed the `Always` pod NodeLost
/// although it only waited for its relaunch. The relaunch is now recorded
/// on the pod when it is scheduled, and a restarted framework resumes it.
#[test]
fn a_restarted_framework_resumes_a_relaunch_scheduled_before_it_died() {
    let mut h = running_pod();
    h.at(100.0);
    let a = h.feed(executor_terminated("pod.uid-web", "a1"));
    let recorded = merged(running(bound(pod("web", "500m"), "a1")), &a);
    let annotations = recorded.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations.get(ANNOTATION_RELAUNCH_OF).map(String::as_str),
        Some("pod.uid-web"),
        "the relaunch is recorded on the pod: {a:?}"
    );
    assert_eq!(annotations[ANNOTATION_RELAUNCH_REASON], "ExecutorLost");

    // The framework dies; a new one starts from the pod as the API server
    // holds it.
    let mut h = Harness::new(Default::default());
    h.feed(Input::PodUpserted(Box::new(recorded)));
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    let a = h.feed(gone("pod.uid-web"));
    assert!(
        !kinds(&a).contains(&"FailPod"),
        "the pod is not failed: {a:?}"
    );
    assert_eq!(h.core.metrics().relaunch_pending, 1);
    assert_eq!(h.core.metrics().pods_lost, 0);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    let a = h.tick_at(2.0);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1, "{a:?}");
    assert_eq!(tasks[0].task_id.value, "pod.uid-web.1");
    assert_eq!(label(&tasks[0], LABEL_REASON), Some("ExecutorLost"));
    assert_eq!(
        label(&tasks[0], LABEL_MESSAGE),
        Some(
            "Mesos reported TASK_FAILED (REASON_EXECUTOR_TERMINATED from SOURCE_AGENT): \
             Executor terminated"
        )
    );
}

/// Once the next generation is recorded, the intent is spent: should that
/// generation be gone, the pod is lost as any pod that ran.
#[test]
fn a_relaunch_intent_for_an_older_task_is_spent() {
    let mut h = running_pod();
    h.at(100.0);
    let a = h.feed(executor_terminated("pod.uid-web", "a1"));
    let mut p = merged(running(bound(pod("web", "500m"), "a1")), &a);
    h.at(111.0);
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    let a = h.tick_at(112.0);
    p = merged(p, &a);
    assert_eq!(
        p.metadata
            .annotations
            .as_ref()
            .map(|a| a[ANNOTATION_TASK_ID].as_str()),
        Some("pod.uid-web.1")
    );

    let mut h = Harness::new(Default::default());
    h.feed(Input::PodUpserted(Box::new(p)));
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    let a = h.feed(gone("pod.uid-web.1"));
    let Some(Action::FailPod { reason, .. }) =
        a.iter().find(|a| matches!(a, Action::FailPod { .. }))
    else {
        panic!("a pod that ran and whose task is gone is lost: {a:?}");
    };
    assert_eq!(reason, "NodeLost");
}

fn kills(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Kill { task_id, .. } => Some(task_id.value.as_str()),
            _ => None,
        })
        .collect()
}

/// The soak found it (issue 14): after a partition healed, the master
/// listed a pod's generation 0 `TASK_STARTING` beside its generation 1
/// `TASK_RUNNING` on the same agent. A framework restarted after the
/// relaunch, whose annotation never made it, heard generation 0 first
/// (the agent re-registering with it) and took it for the pod's task, as
/// the annotation said; generation 1 then counted as stale and was killed,
/// and the ghost of generation 0 kept. A newer generation is launched only
/// once the older one is known terminal: the newer one is the pod's, and
/// the older one is killed.
#[test]
fn an_older_task_back_from_a_partition_does_not_displace_the_newer_one() {
    let mut h = Harness::new(Default::default());
    h.feed(Input::PodUpserted(Box::new(running(bound(
        pod("web", "500m"),
        "a1",
    )))));
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    let mut back = status(
        "pod.uid-web",
        "a1",
        TaskState::TaskStarting,
        task_status::Source::Master,
        None,
    );
    back.reason = Some(task_status::Reason::AgentReregistered as i32);
    back.message = Some("Unreachable agent re-reregistered".into());
    let a = h.feed(Input::TaskUpdate(Box::new(back)));
    assert!(kills(&a).is_empty(), "the task the pod names: {a:?}");

    let a = h.feed(from_executor("pod.uid-web.1", TaskState::TaskRunning));
    assert_eq!(kills(&a), ["pod.uid-web"], "{a:?}");
    let Some(Action::SetPodTask { annotations, .. }) =
        a.iter().find(|a| matches!(a, Action::SetPodTask { .. }))
    else {
        panic!("the newer task is the pod's: {a:?}");
    };
    assert_eq!(annotations[ANNOTATION_TASK_ID], "pod.uid-web.1");
    // Generation 0 ending is stale now; deleting the pod kills generation 1.
    let a = h.feed(executor_terminated("pod.uid-web", "a1"));
    assert_eq!(kinds(&a), ["Acknowledge"], "{a:?}");
    let a = h.feed(Input::PodUpserted(Box::new(deleting(
        running(bound(pod("web", "500m"), "a1")),
        30,
    ))));
    assert_eq!(kills(&a), ["pod.uid-web.1"]);
}

/// An offer of agent `agent` from the host of agent `host_of`.
fn offer_from_host(id: &str, agent: &str, host_of: &str) -> Offer {
    let mut o = offer_on(id, agent, 4.0);
    o.hostname = format!("host-{host_of}");
    o
}

#[test]
fn a_relaunch_follows_its_host_to_a_new_agent_id_once_half_its_time_is_gone() {
    let mut h = running_pod();
    h.at(100.0);
    h.feed(executor_terminated("pod.uid-web", "a1"));
    // The machine's agent came back as "a9" (its work dir wiped): the same
    // host, a new agent ID. Before half the deadline (300 s, from the end
    // of the 10 s back-off) the relaunch waits for its own agent.
    h.at(111.0);
    h.feed(Input::Offers(vec![offer_from_host("o2", "a9", "a1")]));
    assert!(launched_tasks(&h.tick_at(112.0)).is_empty());
    h.at(258.0);
    h.feed(Input::Offers(vec![offer_from_host("o3", "a9", "a1")]));
    assert!(launched_tasks(&h.tick_at(259.0)).is_empty());
    h.at(261.0);
    h.feed(Input::Offers(vec![offer_from_host("o4", "a9", "a1")]));
    let a = h.tick_at(262.0);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1, "{a:?}");
    assert_eq!(tasks[0].task_id.value, "pod.uid-web.1");
    assert_eq!(tasks[0].agent_id.value, "a9");
    assert!(!kinds(&a).contains(&"Bind"), "still bound to its Node");
    // Another host's agent never takes it.
    let mut h = running_pod();
    h.at(100.0);
    h.feed(executor_terminated("pod.uid-web", "a1"));
    h.at(251.0);
    h.feed(Input::Offers(vec![offer_on("o2", "a2", 4.0)]));
    assert!(launched_tasks(&h.tick_at(252.0)).is_empty());
}

/// An offer of a1 at `at`, the placement round 1 s later: the ID of the
/// task launched in it, if any.
fn launch_on_offer_at(h: &mut Harness, offer: &str, at: f64) -> Option<String> {
    h.at(at);
    h.feed(Input::Offers(vec![offer_on(offer, "a1", 4.0)]));
    launched_tasks(&h.tick_at(at + 1.0))
        .first()
        .map(|t| t.task_id.value.clone())
}

/// The relaunched task of the pod runs on a1 (executor died at 100 s,
/// relaunched at 112 s as generation 1, running at 113 s).
fn relaunched_and_running() -> Harness {
    let mut h = running_pod();
    h.at(100.0);
    h.feed(executor_terminated("pod.uid-web", "a1"));
    assert_eq!(
        launch_on_offer_at(&mut h, "o2", 111.0).as_deref(),
        Some("pod.uid-web.1")
    );
    h.at(113.0);
    h.feed(from_executor("pod.uid-web.1", TaskState::TaskRunning));
    h
}

/// A relaunch that ran is over: when its executor dies long after the
/// first relaunch's deadline, the pod is relaunched again, not failed
/// with that old deadline (the soak saw pods of an agent whose executor
/// was killed twice fail at once the second time).
#[test]
fn a_relaunch_that_ran_does_not_carry_its_deadline_into_the_next_loss() {
    let mut h = relaunched_and_running();
    h.at(1000.0);
    let a = h.feed(executor_terminated("pod.uid-web.1", "a1"));
    assert!(!kinds(&a).contains(&"FailPod"), "{a:?}");
    assert!(
        events(&a)[0].2.starts_with("Back-off 10s"),
        "it ran over 10 minutes: the pause is back to its first: {:?}",
        events(&a)
    );
    assert_eq!(
        launch_on_offer_at(&mut h, "o3", 1011.0).as_deref(),
        Some("pod.uid-web.2")
    );
}

/// The deadline is the time a pod may wait for its node; the framework's
/// own back-off is not part of it. With a 30 s deadline and an executor
/// killed again and again, the agent's pause grows past 30 s, and the pod
/// still waits it out and is relaunched.
#[test]
fn a_back_off_longer_than_the_deadline_does_not_fail_the_pod() {
    let mut config = windowed();
    config.relaunch_deadline = std::time::Duration::from_secs(30);
    let mut h = Harness::new(config);
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    place_one(&mut h, "web");
    h.feed(Input::BindResult {
        pod_uid: "uid-web".into(),
        result: kube_mesos_framework::core::BindOutcome::Bound,
    });
    h.feed(from_executor("pod.uid-web", TaskState::TaskRunning));
    let mut task = "pod.uid-web".to_owned();
    let mut t = 100.0;
    for (generation, pause) in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0)] {
        h.at(t);
        let a = h.feed(executor_terminated(&task, "a1"));
        assert!(!kinds(&a).contains(&"FailPod"), "loss {generation}: {a:?}");
        // Nothing fails while the pause lasts.
        let a = h.tick_at(t + pause - 1.0);
        assert!(!kinds(&a).contains(&"FailPod"), "loss {generation}: {a:?}");
        h.at(t + pause + 1.0);
        h.feed(Input::Offers(vec![offer_on(
            &format!("o{generation}"),
            "a1",
            4.0,
        )]));
        let a = h.tick_at(t + pause + 2.0);
        task = format!("pod.uid-web.{generation}");
        assert_eq!(launched_tasks(&a)[0].task_id.value, task, "{a:?}");
        h.at(t + pause + 3.0);
        h.feed(from_executor(&task, TaskState::TaskRunning));
        t += pause + 60.0;
    }
    // With no offer of its node, it fails 30 s after the pause.
    h.at(t);
    h.feed(executor_terminated(&task, "a1"));
    assert!(!kinds(&h.tick_at(t + 160.0 + 29.0)).contains(&"FailPod"));
    assert!(kinds(&h.tick_at(t + 160.0 + 30.0)).contains(&"FailPod"));
}

/// The executor died at 100 s; its node offered only at the end of the
/// relaunch's deadline (410 s), and the relaunch went out at 409 s.
fn relaunched_at_the_deadlines_end() -> Harness {
    let mut h = running_pod();
    h.at(100.0);
    h.feed(executor_terminated("pod.uid-web", "a1"));
    assert_eq!(
        launch_on_offer_at(&mut h, "o2", 408.0).as_deref(),
        Some("pod.uid-web.1")
    );
    h
}

/// The agent drops a relaunch because the dead executor's ID is still
/// going away (after a framework restart, its updates were not yet
/// acknowledged). That is no failure of the agent: the relaunch is tried
/// again after a short hold, its back-off does not grow, and a drop that
/// comes after the relaunch's deadline does not fail the pod.
#[test]
fn a_relaunch_dropped_by_a_dying_executor_is_tried_again_soon() {
    let mut h = relaunched_at_the_deadlines_end();
    h.at(411.0);
    let a = h.feed(from_agent(
        "pod.uid-web.1",
        "a1",
        TaskState::TaskDropped,
        "Executor terminated",
    ));
    assert!(!kinds(&a).contains(&"FailPod"), "{a:?}");
    assert!(
        events(&a)[0].2.starts_with("Back-off 5s"),
        "{:?}",
        events(&a)
    );
    h.at(414.0);
    h.feed(Input::Offers(vec![offer_on("o3", "a1", 4.0)]));
    assert!(launched_tasks(&h.tick_at(415.0)).is_empty(), "held 5 s");
    h.at(417.0);
    h.feed(Input::Offers(vec![offer_on("o4", "a1", 4.0)]));
    let a = h.tick_at(418.0);
    assert_eq!(
        launched_tasks(&a)[0].task_id.value,
        "pod.uid-web.2",
        "{a:?}"
    );
    // A real failure of that launch now is the agent's second: 20 s.
    h.at(419.0);
    let a = h.feed(executor_terminated("pod.uid-web.2", "a1"));
    assert!(
        events(&a)[0].2.starts_with("Back-off 20s"),
        "{:?}",
        events(&a)
    );
}

/// The soak found it: a relaunch launched shortly before a master restart
/// never reached its agent (the ACCEPT died with the master), and Mesos
/// answered TASK_GONE for it after the relaunch's deadline. The node never
/// tried to run it: the pod is relaunched again, not failed NodeLost.
#[test]
fn a_relaunch_lost_before_it_ran_gets_its_time_again() {
    let mut h = relaunched_at_the_deadlines_end();
    h.at(430.0);
    let a = h.feed(gone("pod.uid-web.1"));
    assert!(!kinds(&a).contains(&"FailPod"), "{a:?}");
    h.at(431.0);
    h.feed(Input::Offers(vec![offer_on("o3", "a1", 4.0)]));
    let a = h.tick_at(432.0);
    assert_eq!(
        launched_tasks(&a)[0].task_id.value,
        "pod.uid-web.2",
        "{a:?}"
    );
}

/// The soak found it: an executor killed just before a framework restart.
/// Its agent resent the TASK_FAILED as soon as the new framework
/// subscribed, before the pod list was in; the core, not knowing the pod,
/// acknowledged it, Mesos forgot the task, and the reconciliation after
/// the list answered TASK_GONE: the pod was failed NodeLost instead of
/// relaunched. Updates now wait, unacknowledged, for the pod list.
#[test]
fn an_executor_loss_heard_before_the_pod_list_relaunches_the_pod() {
    let mut h = Harness::new(core_support::windowed());
    h.feed(subscribed());
    let a = h.feed(executor_terminated("pod.uid-web", "a1"));
    assert!(a.is_empty(), "neither handled nor acknowledged yet: {a:?}");
    h.feed(Input::PodUpserted(Box::new(running(bound(
        pod("web", "500m"),
        "a1",
    )))));
    let a = h.feed(Input::PodsSynced);
    assert!(!kinds(&a).contains(&"FailPod"), "{a:?}");
    assert!(kinds(&a).contains(&"Acknowledge"), "{a:?}");
    assert_eq!(h.core.metrics().relaunch_pending, 1);
}

/// The core keeps a running pod without its containers (the part only a
/// launch reads); a relaunch fetches the pod and launches it whole, and
/// waits for the answer rather than launching a pod without containers.
#[test]
fn a_relaunch_fetches_the_running_pod_and_launches_it_whole() {
    let mut h = running_pod();
    h.silent_api = true;
    h.at(100.0);
    let a = h.feed(executor_terminated("pod.uid-web", "a1"));
    assert!(kinds(&a).contains(&"FetchPod"), "asked for at once: {a:?}");

    // No answer yet: an offer of the agent launches nothing, and the pod
    // is asked for again.
    h.at(111.0);
    let mut a = h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    a.extend(h.tick_at(112.0));
    assert!(launched_tasks(&a).is_empty(), "{a:?}");
    assert!(kinds(&a).contains(&"FetchPod"), "{a:?}");

    // The API server answers: the next offer launches the whole pod.
    let as_served = running(bound(pod("web", "500m"), "a1"));
    h.feed(Input::PodFetched(Box::new(as_served)));
    h.at(113.0);
    h.feed(Input::Offers(vec![offer_on("o3", "a1", 4.0)]));
    let a = h.tick_at(114.5);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1, "{a:?}");
    let sent: Pod = serde_json::from_slice(tasks[0].data.as_deref().unwrap_or_default())
        .expect("the pod in TaskInfo.data");
    let spec = sent.spec.expect("spec");
    assert_eq!(spec.containers.len(), 1);
    assert_eq!(spec.containers[0].name, "c");
    assert_eq!(spec.node_name.as_deref(), Some("host-a1"));
}
