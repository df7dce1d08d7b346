//! The scheduler core's test harness: a core driven with explicit inputs
//! and instants (no clock, no sleeping), and builders for pods, offers and
//! status updates.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube_mesos_framework::core::{
    reconcile_gate, Action, CoreConfig, Input, Instant, SchedulerCore, ANNOTATION_AGENT_ID,
    ANNOTATION_FRAMEWORK_ID, ANNOTATION_TASK_ID,
};
use kube_mesos_framework::resources::{build, CPUS, MEM};
use kube_mesos_proto::v1::{
    task_status, AgentId, FrameworkId, Offer, OfferId, TaskId, TaskInfo, TaskState, TaskStatus,
};

/// The timings most flows were written with: placement at the end of a
/// 1 s batching window, SUPPRESS as soon as the queue empties, 5 s between
/// REVIVEs and a 5 s filter while busy. The busy/idle offer policy of the
/// defaults has its own tests (`offer_policy_*` in core_flow.rs).
pub fn windowed() -> CoreConfig {
    CoreConfig {
        idle_grace: Duration::ZERO,
        placement_delay: Duration::from_secs(1),
        revive_min_interval: Duration::from_secs(5),
        busy_refuse_seconds: 5.0,
        ..CoreConfig::default()
    }
}

pub struct Harness {
    pub core: SchedulerCore,
    pub t0: Instant,
    pub now: Instant,
    /// Reconciliation markers go unanswered (a master still recovering).
    pub silent_master: bool,
    /// The pods fed, as last fed, by UID: what an [`Action::FetchPod`] is
    /// answered with (an API server that has them).
    pub api_pods: std::collections::HashMap<String, Pod>,
    /// `FetchPod` goes unanswered (an API server that is away).
    pub silent_api: bool,
}

impl Harness {
    pub fn new(config: CoreConfig) -> Self {
        let t0 = Instant::now();
        Self {
            core: SchedulerCore::new(config),
            t0,
            now: t0,
            silent_master: false,
            api_pods: Default::default(),
            silent_api: false,
        }
    }

    /// A core that is subscribed and has its pods synced.
    pub fn started() -> Self {
        let mut h = Self::new(windowed());
        h.feed(Input::PodsSynced);
        h.feed(subscribed());
        h
    }

    pub fn at(&mut self, secs: f64) {
        self.now = self.t0 + Duration::from_secs_f64(secs);
    }

    /// Feeds `input`; the master's answer to a reconciliation marker
    /// among the actions (see `reconcile_gate`) is fed right after, as a
    /// master answers it, unless `silent_master` is set.
    /// A pod the core asks for ([`Action::FetchPod`]) is answered with
    /// the pod as last fed, unless `silent_api` is set.
    pub fn feed(&mut self, input: Input) -> Vec<Action> {
        match &input {
            Input::PodUpserted(p) => {
                let uid = p.metadata.uid.clone().unwrap_or_default();
                self.api_pods.insert(uid, (**p).clone());
            }
            Input::PodDeleted(p) => {
                self.api_pods
                    .remove(p.metadata.uid.as_deref().unwrap_or_default());
            }
            _ => {}
        }
        let mut out = self.core.handle(input, self.now);
        let mut answered = 0;
        while !self.silent_api && answered < out.len() {
            let fetched = match &out[answered] {
                Action::FetchPod { pod } => self.api_pods.get(&pod.uid).cloned(),
                _ => None,
            };
            answered += 1;
            if let Some(p) = fetched {
                out.extend(self.core.handle(Input::PodFetched(Box::new(p)), self.now));
            }
        }
        if !self.silent_master {
            for answer in reconcile_gate::master_answers(&out) {
                out.extend(
                    self.core
                        .handle(Input::TaskUpdate(Box::new(answer)), self.now),
                );
            }
        }
        out
    }

    pub fn tick_at(&mut self, secs: f64) -> Vec<Action> {
        self.at(secs);
        self.feed(Input::Tick)
    }
}

/// SUBSCRIBED as framework `fw-1`.
pub fn subscribed() -> Input {
    Input::Subscribed {
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
    }
}

pub fn pod(name: &str, cpu: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(Time(Timestamp::from_second(1_700_000_000).expect("ts"))),
            ..Default::default()
        },
        spec: Some(PodSpec {
            scheduler_name: Some("kube-mesos".into()),
            termination_grace_period_seconds: Some(45),
            containers: vec![Container {
                name: "c".into(),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "cpu".to_owned(),
                        Quantity(cpu.to_owned()),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    }
}

pub fn offer_on(id: &str, agent: &str, cpus: f64) -> Offer {
    Offer {
        id: OfferId { value: id.into() },
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
        agent_id: AgentId {
            value: agent.into(),
        },
        hostname: format!("host-{agent}"),
        resources: vec![
            build::scalar(CPUS, cpus, "*"),
            build::scalar(MEM, 4096.0, "*"),
            build::ports(&[(31000, 31100)], "*"),
        ],
        ..Default::default()
    }
}

pub fn status(
    task: &str,
    agent: &str,
    state: TaskState,
    source: task_status::Source,
    uuid: Option<&[u8]>,
) -> TaskStatus {
    TaskStatus {
        task_id: TaskId { value: task.into() },
        state: state as i32,
        source: Some(source as i32),
        agent_id: Some(AgentId {
            value: agent.into(),
        }),
        uuid: uuid.map(<[u8]>::to_vec),
        ..Default::default()
    }
}

pub fn launched_tasks(actions: &[Action]) -> Vec<TaskInfo> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Accept { operations, .. } => Some(operations),
            _ => None,
        })
        .flatten()
        .filter_map(|op| op.launch.as_ref())
        .flat_map(|l| l.task_infos.clone())
        .collect()
}

/// What a real Mesos 1.11 agent sends when a task's executor died:
/// TASK_FAILED, REASON_EXECUTOR_TERMINATED, SOURCE_AGENT.
pub fn executor_terminated(task: &str, agent: &str) -> Input {
    from_agent(task, agent, TaskState::TaskFailed, "Executor terminated")
}

/// An update the agent generated for `task` (SOURCE_AGENT,
/// REASON_EXECUTOR_TERMINATED), in `state` with `message`.
pub fn from_agent(task: &str, agent: &str, state: TaskState, message: &str) -> Input {
    let mut update = status(
        task,
        agent,
        state,
        task_status::Source::Agent,
        Some(b"uuid"),
    );
    update.reason = Some(task_status::Reason::ExecutorTerminated as i32);
    update.message = Some(message.into());
    Input::TaskUpdate(Box::new(update))
}

/// The value of label `key` of a launched task.
pub fn label<'a>(task: &'a TaskInfo, key: &str) -> Option<&'a str> {
    task.labels
        .as_ref()?
        .labels
        .iter()
        .find(|l| l.key == key)?
        .value
        .as_deref()
}

pub fn kinds(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            Action::Accept { .. } => "Accept",
            Action::Decline { .. } => "Decline",
            Action::Suppress { .. } => "Suppress",
            Action::Revive { .. } => "Revive",
            Action::Kill { .. } => "Kill",
            Action::Acknowledge { .. } => "Acknowledge",
            Action::Reconcile { .. } => "Reconcile",
            Action::Bind { .. } => "Bind",
            Action::Annotate { .. } => "Annotate",
            Action::SetPodUnschedulable { .. } => "SetPodUnschedulable",
            Action::FailPod { .. } => "FailPod",
            Action::EvictPod { .. } => "EvictPod",
            Action::NominatePod { .. } => "NominatePod",
            Action::SetPodCondition { .. } => "SetPodCondition",
            Action::RecoverPod { .. } => "RecoverPod",
            Action::RecordEvent { .. } => "RecordEvent",
            Action::SetPodTask { .. } => "SetPodTask",
            Action::FetchPod { .. } => "FetchPod",
            Action::SendMessage { .. } => "SendMessage",
        })
        .collect()
}

/// Start, add a pod, place it on agent `a1`; returns the launch actions.
pub fn place_one(h: &mut Harness, name: &str) -> Vec<Action> {
    h.feed(Input::PodUpserted(Box::new(pod(name, "500m"))));
    h.feed(Input::Offers(vec![offer_on(
        &format!("o-{name}"),
        "a1",
        4.0,
    )]));
    let t = h.now.duration_since(h.t0).as_secs_f64() + 1.0;
    h.tick_at(t)
}

pub fn deleting(mut p: Pod, grace: i64) -> Pod {
    p.metadata.deletion_timestamp = Some(Time(Timestamp::from_second(1_700_000_100).expect("ts")));
    p.metadata.deletion_grace_period_seconds = Some(grace);
    p
}

pub fn bound(mut p: Pod, agent: &str) -> Pod {
    let uid = p.metadata.uid.clone().expect("uid");
    p.spec.as_mut().expect("spec").node_name = Some(format!("host-{agent}"));
    p.metadata.annotations = Some(BTreeMap::from([
        (ANNOTATION_TASK_ID.to_owned(), format!("pod.{uid}")),
        (ANNOTATION_AGENT_ID.to_owned(), agent.to_owned()),
        (ANNOTATION_FRAMEWORK_ID.to_owned(), "fw-1".to_owned()),
    ]));
    p
}
