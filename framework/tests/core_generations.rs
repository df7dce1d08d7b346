//! Retiring executors of an older configuration (issue 23): after an
//! upgrade the framework finds pods running on an executor whose ID is not
//! the current configuration's; it asks that executor to hand them over,
//! relaunches each pod the executor lets go on the current executor (no
//! failure, no back-off), leaves pods the executor keeps alone, and counts
//! the generations per agent.

mod core_support;

use k8s_openapi::api::core::v1::Pod;
use kube_mesos_framework::core::{
    Action, CoreConfig, EventType, Input, ANNOTATION_EXECUTOR_ID, ANNOTATION_TASK_ID,
};
use kube_mesos_node::handover::{KEPT, RELEASED};
use kube_mesos_node::relaunch::LABEL_REASON;
use kube_mesos_proto::v1::{task_status, Label, Labels, TaskState};

use core_support::*;

const OLD: &str = "kube-mesos-0123456789ab";

/// A running pod bound to a1 whose task runs on the old executor.
fn on_old_executor(name: &str) -> Pod {
    let mut p = bound(pod(name, "500m"), "a1");
    p.status.get_or_insert_with(Default::default).phase = Some("Running".into());
    p.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(ANNOTATION_EXECUTOR_ID.to_owned(), OLD.to_owned());
    p
}

/// A framework (re)started with `pods`, told by Mesos that their tasks run.
fn restarted(config: CoreConfig, pods: &[Pod]) -> (Harness, Vec<Action>) {
    let mut h = Harness::new(config);
    for p in pods {
        h.feed(Input::PodUpserted(Box::new(p.clone())));
    }
    h.feed(Input::PodsSynced);
    h.feed(subscribed());
    let mut out = Vec::new();
    for p in pods {
        let uid = p.metadata.uid.clone().unwrap_or_default();
        out.extend(h.feed(running(&format!("pod.{uid}"))));
    }
    (h, out)
}

fn running(task: &str) -> Input {
    Input::TaskUpdate(Box::new(status(
        task,
        "a1",
        TaskState::TaskRunning,
        task_status::Source::Master,
        None,
    )))
}

/// The old executor's answer to a release request.
fn answer(task: &str, state: TaskState, label: &str) -> Input {
    let mut s = status(
        task,
        "a1",
        state,
        task_status::Source::Executor,
        Some(b"uuid-answer"),
    );
    s.labels = Some(Labels {
        labels: vec![Label {
            key: "kube-mesos.io/handover".into(),
            value: Some(label.into()),
        }],
    });
    s.message = Some("handed over to a newer executor; its containers run on".into());
    Input::TaskUpdate(Box::new(s))
}

fn messages(actions: &[Action]) -> Vec<(String, String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendMessage {
                agent_id,
                executor_id,
                data,
            } => Some((
                agent_id.value.clone(),
                executor_id.value.clone(),
                String::from_utf8_lossy(data).into_owned(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn pods_on_an_old_executor_are_asked_to_move_and_asked_again_while_unanswered() {
    let (mut h, a) = restarted(
        CoreConfig::default(),
        &[on_old_executor("a"), on_old_executor("b")],
    );
    let sent = messages(&a);
    assert_eq!(sent.len(), 2, "one request per running task seen: {a:?}");
    let mut tasks: Vec<&str> = sent
        .iter()
        .map(|(agent, executor, data)| {
            assert_eq!((agent.as_str(), executor.as_str()), ("a1", OLD));
            data.trim_start_matches("kube-mesos.io/release-tasks:")
        })
        .collect();
    tasks.sort();
    assert_eq!(tasks, ["pod.uid-a", "pod.uid-b"]);
    assert!(messages(&h.tick_at(59.0)).is_empty(), "not before a minute");
    // No answer: asked again, both in one message.
    let again = messages(&h.tick_at(60.0));
    assert_eq!(
        again,
        [(
            "a1".to_owned(),
            OLD.to_owned(),
            "kube-mesos.io/release-tasks:pod.uid-a,pod.uid-b".to_owned()
        )]
    );
    let m = h.core.metrics();
    assert_eq!(m.executor_generations["a1"].pods[OLD], 2);
}

#[test]
fn a_pod_let_go_is_relaunched_on_the_current_executor_at_once() {
    let (mut h, _) = restarted(CoreConfig::default(), &[on_old_executor("a")]);
    let current = h.core.executor_id().value.clone();
    h.at(1.0);
    let a = h.feed(answer("pod.uid-a", TaskState::TaskFinished, RELEASED));
    assert!(
        !kinds(&a).contains(&"FailPod") && !kinds(&a).contains(&"Kill"),
        "a handover is no failure: {a:?}"
    );
    assert!(a.iter().any(
        |x| matches!(x, Action::RecordEvent { type_: EventType::Normal, reason, message, .. }
        if reason == "HandedOver" && message.contains(OLD) && message.contains(&current))
    ));
    assert!(kinds(&a).contains(&"Acknowledge"));
    assert!(
        kinds(&a).contains(&"Revive"),
        "offers of its agent wanted: {a:?}"
    );
    assert_eq!(h.core.metrics().handovers, 1);
    // No back-off: the next offer of its agent relaunches it.
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    let a = h.tick_at(2.5);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1, "{a:?}");
    assert_eq!(tasks[0].task_id.value, "pod.uid-a.1");
    assert_eq!(
        tasks[0]
            .executor
            .as_ref()
            .map(|e| e.executor_id.value.clone()),
        Some(current.clone())
    );
    assert_eq!(label(&tasks[0], LABEL_REASON), Some("Handover"));
    let Some(Action::SetPodTask { annotations, .. }) =
        a.iter().find(|x| matches!(x, Action::SetPodTask { .. }))
    else {
        panic!("{a:?}");
    };
    assert_eq!(annotations[ANNOTATION_TASK_ID], "pod.uid-a.1");
    assert_eq!(annotations[ANNOTATION_EXECUTOR_ID], current);
    // Running on the current executor: nothing more to ask.
    h.feed(running("pod.uid-a.1"));
    assert!(messages(&h.tick_at(100.0)).is_empty());
    let m = h.core.metrics();
    assert_eq!(
        m.executor_generations["a1"].pods.keys().collect::<Vec<_>>(),
        [&current]
    );
}

#[test]
fn a_pod_kept_by_its_executor_is_not_asked_again() {
    let (mut h, _) = restarted(CoreConfig::default(), &[on_old_executor("a")]);
    let a = h.feed(answer("pod.uid-a", TaskState::TaskRunning, KEPT));
    assert_eq!(kinds(&a), ["Acknowledge"]);
    assert!(messages(&h.tick_at(3600.0)).is_empty());
    assert_eq!(h.core.metrics().relaunch_pending, 0);
}

#[test]
fn nothing_is_asked_when_retirement_is_off_or_the_pod_is_going() {
    let off = CoreConfig {
        retire_old_executors: false,
        ..CoreConfig::default()
    };
    let (mut h, a) = restarted(off, &[on_old_executor("a")]);
    assert!(messages(&a).is_empty());
    assert!(messages(&h.tick_at(600.0)).is_empty());

    let (mut h, _) = restarted(CoreConfig::default(), &[]);
    let going = deleting(on_old_executor("a"), 30);
    h.feed(Input::PodUpserted(Box::new(going)));
    let a = h.feed(running("pod.uid-a"));
    assert!(messages(&a).is_empty(), "{a:?}");
    assert!(messages(&h.tick_at(600.0)).is_empty());
}

/// `--evict-kept-pods` works from the core's list of kept pods: those an
/// outdated executor keeps, per agent, with whether a controller owns them.
#[test]
fn kept_pods_are_listed_per_agent_with_their_controller() {
    let mut owned = on_old_executor("web");
    owned.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web".into(),
            uid: "rs-uid".into(),
            controller: Some(true),
            ..Default::default()
        },
    ]);
    let (mut h, _) = restarted(CoreConfig::default(), &[owned, on_old_executor("bare")]);
    assert!(h.core.kept_pods().is_empty(), "asked, not kept yet");
    h.feed(answer("pod.uid-web", TaskState::TaskRunning, KEPT));
    h.feed(answer("pod.uid-bare", TaskState::TaskRunning, KEPT));
    let kept = h.core.kept_pods();
    let on_a1: Vec<(String, bool)> = kept["a1"]
        .iter()
        .map(|p| (p.key.name.clone(), p.has_controller))
        .collect();
    assert_eq!(on_a1, [("bare".into(), false), ("web".into(), true)]);
    // The eviction machine takes the one with a controller.
    let mut evictions = kube_mesos_framework::core::kept::KeptEvictions::default();
    let actions = evictions.step(&kept, std::time::Duration::from_secs(1));
    let evicted: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            kube_mesos_framework::core::maintenance::Action::Evict { pod } => {
                Some(pod.name.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(evicted, ["web"]);
}

/// A pod whose task ran is kept without its containers, so a handover
/// reads it again: an offer of its agent that comes first launches
/// nothing, and once the pod is read offers are asked for again (the round
/// that passed over it may have declined its agent's).
#[test]
fn a_pod_let_go_before_it_is_read_again_asks_for_offers_once_it_is() {
    let (mut h, _) = restarted(CoreConfig::default(), &[on_old_executor("a")]);
    h.silent_api = true;
    h.at(1.0);
    let a = h.feed(answer("pod.uid-a", TaskState::TaskFinished, RELEASED));
    assert!(kinds(&a).contains(&"FetchPod"), "{a:?}");
    h.feed(Input::Offers(vec![offer_on("o1", "a1", 4.0)]));
    let a = h.tick_at(2.5);
    assert!(launched_tasks(&a).is_empty(), "{a:?}");
    assert!(kinds(&a).contains(&"Decline"), "{a:?}");

    h.at(3.0);
    let mut a = h.feed(Input::PodFetched(Box::new(on_old_executor("a"))));
    a.extend(h.tick_at(4.0));
    assert!(kinds(&a).contains(&"Revive"), "{a:?}");
    h.feed(Input::Offers(vec![offer_on("o2", "a1", 4.0)]));
    let a = h.tick_at(5.5);
    let tasks = launched_tasks(&a);
    assert_eq!(tasks.len(), 1, "{a:?}");
    assert_eq!(tasks[0].task_id.value, "pod.uid-a.1");
    assert_eq!(label(&tasks[0], LABEL_REASON), Some("Handover"));
}
