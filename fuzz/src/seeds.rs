//! Seed inputs per target, built from real messages so that a fuzzer
//! starts deep (the AFL driver writes them as its initial corpus; the short
//! pass mutates them).

use kube_mesos_framework::resources::{build, CPUS, DISK, MEM};
use kube_mesos_proto::v1::{
    executor, scheduler, task_status, AgentId, AgentInfo, DurationInfo, ExecutorId, ExecutorInfo,
    FrameworkId, FrameworkInfo, KillPolicy, Offer, OfferId, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use prost::Message;

/// Pods as the API server returns them (JSON), from plain to busy.
pub const PODS: &[&str] = &[
    r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default","uid":"u1"},"spec":{"schedulerName":"kube-mesos","containers":[{"name":"c","image":"busybox","command":["sleep","3600"],"resources":{"requests":{"cpu":"250m","memory":"64Mi"},"limits":{"memory":"128Mi"}}}]}}"#,
    r#"{"metadata":{"name":"init","namespace":"ns","uid":"u2","labels":{"app":"x"},"annotations":{"team":"a"}},"spec":{"schedulerName":"kube-mesos","restartPolicy":"Never","terminationGracePeriodSeconds":5,"initContainers":[{"name":"i","image":"busybox","command":["true"]},{"name":"side","image":"busybox","restartPolicy":"Always"}],"containers":[{"name":"c","image":"busybox","ports":[{"containerPort":80,"hostPort":31000}],"env":[{"name":"N","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}},{"name":"L","valueFrom":{"resourceFieldRef":{"resource":"limits.cpu","divisor":"1m"}}},{"name":"X","value":"$(N)-$$(N)"},{"name":"C","valueFrom":{"configMapKeyRef":{"name":"cm","key":"k","optional":true}}}],"livenessProbe":{"exec":{"command":["true"]},"periodSeconds":1},"readinessProbe":{"httpGet":{"port":"http","path":"/"}},"startupProbe":{"tcpSocket":{"port":80}},"lifecycle":{"postStart":{"exec":{"command":["true"]}},"preStop":{"exec":{"command":["true"]}}}}],"volumes":[{"name":"d","downwardAPI":{"items":[{"path":"l","fieldRef":{"fieldPath":"metadata.labels"}}]}},{"name":"e","emptyDir":{}}]}}"#,
    r#"{"metadata":{"name":"pinned","namespace":"default","uid":"u3"},"spec":{"schedulerName":"kube-mesos","nodeSelector":{"rack":"r1"},"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"gen","operator":"Gt","values":["3"]}]}]}}},"tolerations":[{"operator":"Exists"}],"overhead":{"cpu":"10m"},"dnsPolicy":"None","dnsConfig":{"nameservers":["1.1.1.1"],"options":[{"name":"ndots","value":"2"}]},"securityContext":{"runAsUser":1000,"fsGroup":2000},"containers":[{"name":"c","image":"busybox:1.36","imagePullPolicy":"Always","resources":{"requests":{"cpu":"1.5","memory":"1Gi","ephemeral-storage":"2e9"},"limits":{"cpu":"2","memory":"1Gi"}},"securityContext":{"privileged":true}}]}}"#,
];

/// Quantities, valid and not.
pub const QUANTITIES: &[&str] = &[
    "100m",
    "1",
    "1.5Gi",
    "2e3",
    "1E-3",
    "0.1",
    ".5",
    "+1",
    "-1",
    "512Mi",
    "1Ki",
    "7n",
    "3u",
    "1k",
    "1M",
    "1G",
    "1T",
    "1P",
    "1E",
    "1Ei",
    "",
    "m",
    "1.2.3",
    "1e",
    "12345678901234567890",
    // AFL++ found the framework dropping fraction digits past the 18th
    // (a milli less than the executor): kept as regressions.
    "1.00000000000000000005Gi",
    "11.111111111111111111111111111P",
    ".000000000000000000011100m",
    "0.000000000000000000011E04",
    ".001111111111100001111111101011E20",
    ".0001111111111121011E20",
    ".001111111111100001111011E20",
    ".00111111110001111111111101011E20",
    ".00111111111110000111111011E20",
    ".000000000000000000000011100m",
];

/// Label selectors (whole input) and node-affinity requirements (lines).
pub const SELECTORS: &[&str] = &[
    "app=web",
    "app==web,rack!=r2",
    "env in (a, b),!x",
    "tier notin (db),gen",
    "gen>3,gen<9",
    "gen\nGt\n3",
    "app\nIn\nweb\napi",
    "metadata.name\nNotIn\nnode-a",
    "x\nExists",
    "x\nDoesNotExist",
];

/// An offer of agent `a1` (`host-a1`) with `cpus`, `mb` of memory and of
/// disk, and the ports 31000-31999.
pub fn offer(cpus: f64, mb: f64) -> Offer {
    Offer {
        id: OfferId { value: "o1".into() },
        framework_id: FrameworkId {
            value: "fw-1".into(),
        },
        agent_id: AgentId { value: "a1".into() },
        hostname: "host-a1".into(),
        resources: vec![
            build::scalar(CPUS, cpus, "*"),
            build::scalar(MEM, mb, "*"),
            build::scalar(DISK, mb, "*"),
            build::ports(&[(31000, 31999)], "*"),
        ],
        ..Default::default()
    }
}

fn status(task: &str, state: TaskState) -> TaskStatus {
    let mut s = TaskStatus {
        task_id: TaskId { value: task.into() },
        agent_id: Some(AgentId { value: "a1".into() }),
        uuid: Some(vec![7; 16]),
        message: Some("m".into()),
        ..Default::default()
    };
    s.set_state(state);
    s.set_source(task_status::Source::Executor);
    s
}

fn scheduler_events() -> Vec<scheduler::Event> {
    use scheduler::event::{self, Type};
    let mut events = Vec::new();
    let mut push = |t: Type, f: &dyn Fn(&mut scheduler::Event)| {
        let mut e = scheduler::Event::default();
        e.set_type(t);
        f(&mut e);
        events.push(e);
    };
    push(Type::Subscribed, &|e| {
        e.subscribed = Some(event::Subscribed {
            framework_id: FrameworkId {
                value: "fw-1".into(),
            },
            heartbeat_interval_seconds: Some(15.0),
            ..Default::default()
        })
    });
    // A NaN double (AFL found that NaN broke a message equality check).
    push(Type::Subscribed, &|e| {
        e.subscribed = Some(event::Subscribed {
            framework_id: FrameworkId {
                value: "fw-1".into(),
            },
            heartbeat_interval_seconds: Some(f64::NAN),
            ..Default::default()
        })
    });
    push(Type::Offers, &|e| {
        e.offers = Some(event::Offers {
            offers: vec![offer(4.0, 4096.0)],
        })
    });
    push(Type::Update, &|e| {
        e.update = Some(event::Update {
            status: status("pod.uid-db", TaskState::TaskFailed),
        })
    });
    push(Type::Update, &|e| {
        e.update = Some(event::Update {
            status: status("pod.uid-ghost", TaskState::TaskRunning),
        })
    });
    push(Type::Rescind, &|e| {
        e.rescind = Some(event::Rescind {
            offer_id: OfferId { value: "o1".into() },
        })
    });
    push(Type::Failure, &|e| {
        e.failure = Some(event::Failure {
            agent_id: Some(AgentId { value: "a1".into() }),
            executor_id: Some(ExecutorId {
                value: "kube-mesos-x".into(),
            }),
            status: Some(9),
        })
    });
    push(Type::Failure, &|e| {
        e.failure = Some(event::Failure {
            agent_id: Some(AgentId { value: "a1".into() }),
            ..Default::default()
        })
    });
    push(Type::Heartbeat, &|_| {});
    push(Type::Error, &|e| {
        e.error = Some(event::Error {
            message: "Framework has been removed".into(),
        })
    });
    events
}

fn task(pod: &str) -> TaskInfo {
    TaskInfo {
        name: "default/web".into(),
        task_id: TaskId {
            value: "pod.u1".into(),
        },
        agent_id: AgentId { value: "a1".into() },
        resources: vec![build::scalar(CPUS, 0.25, "*")],
        data: Some(pod.as_bytes().to_vec()),
        kill_policy: Some(KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: 5_000_000_000,
            }),
        }),
        ..Default::default()
    }
}

fn executor_events() -> Vec<executor::Event> {
    use executor::event::{self, Type};
    let mut events = Vec::new();
    let mut subscribed = executor::Event::default();
    subscribed.set_type(Type::Subscribed);
    subscribed.subscribed = Some(event::Subscribed {
        executor_info: ExecutorInfo {
            executor_id: ExecutorId {
                value: "kube-mesos-x".into(),
            },
            resources: vec![build::ports(&[(31000, 31000)], "*")],
            ..Default::default()
        },
        framework_info: FrameworkInfo {
            user: "root".into(),
            name: "kube-mesos".into(),
            ..Default::default()
        },
        agent_info: AgentInfo {
            hostname: "Host-A1".into(),
            resources: vec![
                build::scalar(CPUS, 4.0, "*"),
                build::scalar(MEM, 4096.0, "*"),
                build::scalar(DISK, 8192.0, "*"),
            ],
            ..Default::default()
        },
        ..Default::default()
    });
    events.push(subscribed);
    for pod in PODS {
        let mut launch = executor::Event::default();
        launch.set_type(Type::Launch);
        launch.launch = Some(event::Launch { task: task(pod) });
        events.push(launch);
    }
    let mut kill = executor::Event::default();
    kill.set_type(Type::Kill);
    kill.kill = Some(event::Kill {
        task_id: TaskId {
            value: "pod.u1".into(),
        },
        kill_policy: Some(KillPolicy {
            grace_period: Some(DurationInfo { nanoseconds: -1 }),
        }),
    });
    events.push(kill);
    let mut shutdown = executor::Event::default();
    shutdown.set_type(Type::Shutdown);
    events.push(shutdown);
    events
}

/// Both wire forms of `msg`, behind the format byte the event targets read
/// (0: protobuf, 1: JSON).
fn both_forms<M: Message + prost::Name>(msg: &M) -> Vec<Vec<u8>> {
    let mut proto = vec![0];
    proto.extend(msg.encode_to_vec());
    let mut json = vec![1];
    if let Ok(v) = kube_mesos_proto::json::to_json(msg) {
        json.extend(v.to_string().into_bytes());
    }
    vec![proto, json]
}

/// The seeds of `target`.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let text = |items: &[&str]| items.iter().map(|s| s.as_bytes().to_vec()).collect();
    match target {
        "recordio" => {
            let mut stream = vec![20, 3];
            for record in [&b"hello"[..], b"", b"{\"type\":\"HEARTBEAT\"}"] {
                kube_mesos_proto::recordio::encode_into(record, &mut stream);
            }
            vec![
                stream,
                b"\x14\x01005\nhello".to_vec(),
                b"\x14\x019223372036854775808\n".to_vec(),
                b"\x03\x0216\nabc".to_vec(),
                b"\x14\x00\n".to_vec(),
            ]
        }
        "scheduler_event" => scheduler_events().iter().flat_map(both_forms).collect(),
        "executor_event" => {
            let mut seeds: Vec<Vec<u8>> = executor_events().iter().flat_map(both_forms).collect();
            // Found by AFL++: an agent announcing ~1e157 MiB of memory
            // overflowed the Node capacity's KiB product.
            seeds.push(include_bytes!("../regressions/executor_event-mib-overflow.bin").to_vec());
            seeds
        }
        "pod_task" | "pod_payload" => text(PODS),
        "quantity" => text(QUANTITIES),
        "selector" => text(SELECTORS),
        _ => Vec::new(),
    }
}
