//! Wire compatibility with Apache Mesos.
//!
//! Every byte string here is built by hand from the field numbers and wire
//! types of apache/mesos `include/mesos/v1/**.proto` (Mesos 1.11), *not*
//! from our generated code. Each test decodes those bytes and checks the
//! values, then encodes the expected message and checks it gives the very
//! same bytes (prost writes fields in field-number order, so the hand-built
//! bytes list fields in that order too). A wrong field number, wire type or
//! enum value in `proto/mesos/v1` therefore fails a test.

use kube_mesos_proto::v1::{
    self, allocator, command_info, executor, executor_info, framework_info, maintenance, master,
    offer, resource, scheduler, task_status, value, TaskState,
};
use prost::Message;

/// Hand-written protobuf encoder: one method per wire type, so a test reads
/// like the `.proto` it follows: `.string(1, "x")` is `string ... = 1`.
#[derive(Clone, Default)]
struct Pb(Vec<u8>);

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

impl Pb {
    fn new() -> Self {
        Self::default()
    }

    fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire_type: u32) {
        self.raw_varint(u64::from(field << 3 | wire_type));
    }

    /// `int32`/`int64`/`uint32`/`uint64`/enum fields (non-negative values).
    fn varint(mut self, field: u32, v: u64) -> Self {
        self.tag(field, VARINT);
        self.raw_varint(v);
        self
    }

    fn bool(self, field: u32, v: bool) -> Self {
        self.varint(field, u64::from(v))
    }

    fn double(mut self, field: u32, v: f64) -> Self {
        self.tag(field, FIXED64);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn bytes(mut self, field: u32, v: &[u8]) -> Self {
        self.tag(field, LEN);
        self.raw_varint(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    fn string(self, field: u32, v: &str) -> Self {
        self.bytes(field, v.as_bytes())
    }

    fn msg(self, field: u32, m: Pb) -> Self {
        self.bytes(field, &m.0)
    }
}

/// Any of the `*ID` messages: `required string value = 1`.
fn id(v: &str) -> Pb {
    Pb::new().string(1, v)
}

/// Decodes `hand` as `M`, checks it equals `expected`, and checks that
/// encoding `expected` gives back exactly `hand`.
#[track_caller]
fn check<M: Message + Default + PartialEq + std::fmt::Debug>(hand: Pb, expected: &M) {
    let decoded = M::decode(hand.0.as_slice()).expect("hand-built bytes decode");
    assert_eq!(&decoded, expected, "decoded hand-built bytes");
    assert_eq!(
        expected.encode_to_vec(),
        hand.0,
        "encoding of the expected message"
    );
}

const UUID: [u8; 16] = *b"0123456789abcdef";

// ---------------------------------------------------------------- values --

fn task_id(v: &str) -> v1::TaskId {
    v1::TaskId { value: v.into() }
}
fn agent_id(v: &str) -> v1::AgentId {
    v1::AgentId { value: v.into() }
}
fn framework_id(v: &str) -> v1::FrameworkId {
    v1::FrameworkId { value: v.into() }
}
fn offer_id(v: &str) -> v1::OfferId {
    v1::OfferId { value: v.into() }
}
fn executor_id(v: &str) -> v1::ExecutorId {
    v1::ExecutorId { value: v.into() }
}

fn scalar(name: &str, v: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

/// Resource { name = 1; type = 2; scalar = 3 { value = 1 } }. `type` is
/// required, so it is on the wire even for SCALAR (= 0).
fn scalar_pb(name: &str, v: f64) -> Pb {
    Pb::new()
        .string(1, name)
        .varint(2, 0)
        .msg(3, Pb::new().double(1, v))
}

fn framework_info() -> v1::FrameworkInfo {
    v1::FrameworkInfo {
        user: "root".into(),
        name: "kube-mesos".into(),
        id: Some(framework_id("fw-1")),
        failover_timeout: Some(604_800.0),
        checkpoint: Some(true),
        hostname: Some("sched.local".into()),
        principal: Some("kube".into()),
        webui_url: Some("http://sched.local:8080/".into()),
        capabilities: [
            framework_info::capability::Type::MultiRole,
            framework_info::capability::Type::PartitionAware,
            framework_info::capability::Type::TaskKillingState,
            framework_info::capability::Type::GpuResources,
            framework_info::capability::Type::RegionAware,
            framework_info::capability::Type::ReservationRefinement,
        ]
        .into_iter()
        .map(|t| framework_info::Capability {
            r#type: Some(t as i32),
        })
        .collect(),
        labels: Some(v1::Labels {
            labels: vec![v1::Label {
                key: "team".into(),
                value: Some("k8s".into()),
            }],
        }),
        roles: vec!["web".into(), "batch".into()],
        ..Default::default()
    }
}

/// FrameworkInfo: user = 1, name = 2, id = 3, failover_timeout = 4,
/// checkpoint = 5, hostname = 7, principal = 8, webui_url = 9,
/// capabilities = 10 { type = 1 }, labels = 11, roles = 12.
/// Capability.Type: TASK_KILLING_STATE = 2, GPU_RESOURCES = 3,
/// PARTITION_AWARE = 5, MULTI_ROLE = 6, RESERVATION_REFINEMENT = 7,
/// REGION_AWARE = 8.
fn framework_info_pb() -> Pb {
    let cap = |t: u64| Pb::new().varint(1, t);
    Pb::new()
        .string(1, "root")
        .string(2, "kube-mesos")
        .msg(3, id("fw-1"))
        .double(4, 604_800.0)
        .bool(5, true)
        .string(7, "sched.local")
        .string(8, "kube")
        .string(9, "http://sched.local:8080/")
        .msg(10, cap(6))
        .msg(10, cap(5))
        .msg(10, cap(2))
        .msg(10, cap(3))
        .msg(10, cap(8))
        .msg(10, cap(7))
        .msg(
            11,
            Pb::new().msg(1, Pb::new().string(1, "team").string(2, "k8s")),
        )
        .string(12, "web")
        .string(12, "batch")
}

fn task_info() -> v1::TaskInfo {
    v1::TaskInfo {
        name: "default/web-0".into(),
        task_id: task_id("pod.uid-1"),
        agent_id: agent_id("agent-1"),
        resources: vec![scalar("cpus", 0.5), scalar("mem", 128.0)],
        executor: Some(v1::ExecutorInfo {
            r#type: Some(executor_info::Type::Custom as i32),
            executor_id: executor_id("kube-mesos-abc"),
            framework_id: Some(framework_id("fw-1")),
            command: Some(v1::CommandInfo {
                uris: vec![command_info::Uri {
                    value: "http://repo/kube-mesos".into(),
                    executable: Some(true),
                    extract: Some(false),
                    ..Default::default()
                }],
                environment: Some(v1::Environment {
                    variables: vec![v1::environment::Variable {
                        name: "RUST_LOG".into(),
                        value: Some("info".into()),
                        r#type: Some(v1::environment::variable::Type::Value as i32),
                        ..Default::default()
                    }],
                }),
                value: Some("./kube-mesos".into()),
                shell: Some(false),
                arguments: vec!["kube-mesos".into(), "executor".into()],
                ..Default::default()
            }),
            name: Some("kube-mesos executor".into()),
            shutdown_grace_period: Some(v1::DurationInfo {
                nanoseconds: 30_000_000_000,
            }),
            ..Default::default()
        }),
        data: Some(b"{\"kind\":\"Pod\"}".to_vec()),
        labels: Some(v1::Labels {
            labels: vec![v1::Label {
                key: "pod".into(),
                value: Some("web-0".into()),
            }],
        }),
        kill_policy: Some(v1::KillPolicy {
            grace_period: Some(v1::DurationInfo {
                nanoseconds: 30_000_000_000,
            }),
        }),
        ..Default::default()
    }
}

/// TaskInfo: name = 1, task_id = 2, agent_id = 3, resources = 4,
/// executor = 5, data = 6, labels = 10, kill_policy = 12 { grace_period = 1 }.
/// ExecutorInfo: executor_id = 1, command = 7, framework_id = 8, name = 9,
/// shutdown_grace_period = 13, type = 15 (CUSTOM = 2).
/// CommandInfo: uris = 1 { value = 1, executable = 2, extract = 3 },
/// environment = 2 { variables = 1 { name = 1, value = 2, type = 3 } },
/// value = 3, shell = 6, arguments = 7.
fn task_info_pb() -> Pb {
    let command = Pb::new()
        .msg(
            1,
            Pb::new()
                .string(1, "http://repo/kube-mesos")
                .bool(2, true)
                .bool(3, false),
        )
        .msg(
            2,
            Pb::new().msg(
                1,
                Pb::new()
                    .string(1, "RUST_LOG")
                    .string(2, "info")
                    .varint(3, 1),
            ),
        )
        .string(3, "./kube-mesos")
        .bool(6, false)
        .string(7, "kube-mesos")
        .string(7, "executor");
    let executor = Pb::new()
        .msg(1, id("kube-mesos-abc"))
        .msg(7, command)
        .msg(8, id("fw-1"))
        .string(9, "kube-mesos executor")
        .msg(13, Pb::new().varint(1, 30_000_000_000))
        .varint(15, 2);
    Pb::new()
        .string(1, "default/web-0")
        .msg(2, id("pod.uid-1"))
        .msg(3, id("agent-1"))
        .msg(4, scalar_pb("cpus", 0.5))
        .msg(4, scalar_pb("mem", 128.0))
        .msg(5, executor)
        .bytes(6, b"{\"kind\":\"Pod\"}")
        .msg(
            10,
            Pb::new().msg(1, Pb::new().string(1, "pod").string(2, "web-0")),
        )
        .msg(12, Pb::new().msg(1, Pb::new().varint(1, 30_000_000_000)))
}

fn offer() -> v1::Offer {
    v1::Offer {
        id: offer_id("offer-1"),
        framework_id: framework_id("fw-1"),
        agent_id: agent_id("agent-1"),
        hostname: "node-a".into(),
        resources: vec![
            v1::Resource {
                allocation_info: Some(resource::AllocationInfo {
                    role: Some("web".into()),
                }),
                ..scalar("cpus", 4.0)
            },
            v1::Resource {
                allocation_info: Some(resource::AllocationInfo {
                    role: Some("web".into()),
                }),
                ..scalar("mem", 8192.0)
            },
            v1::Resource {
                name: "ports".into(),
                r#type: value::Type::Ranges as i32,
                ranges: Some(value::Ranges {
                    range: vec![value::Range {
                        begin: 31000,
                        end: 32000,
                    }],
                }),
                allocation_info: Some(resource::AllocationInfo {
                    role: Some("web".into()),
                }),
                ..Default::default()
            },
            v1::Resource {
                allocation_info: Some(resource::AllocationInfo {
                    role: Some("web".into()),
                }),
                reservations: vec![resource::ReservationInfo {
                    r#type: Some(resource::reservation_info::Type::Dynamic as i32),
                    role: Some("web".into()),
                    principal: Some("ops".into()),
                    ..Default::default()
                }],
                ..scalar("cpus", 2.0)
            },
        ],
        executor_ids: vec![executor_id("kube-mesos-abc")],
        attributes: vec![v1::Attribute {
            name: "rack".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text { value: "r1".into() }),
            ..Default::default()
        }],
        allocation_info: Some(resource::AllocationInfo {
            role: Some("web".into()),
        }),
        domain: Some(v1::DomainInfo {
            fault_domain: Some(v1::domain_info::FaultDomain {
                region: v1::domain_info::fault_domain::RegionInfo { name: "eu".into() },
                zone: v1::domain_info::fault_domain::ZoneInfo {
                    name: "eu-1a".into(),
                },
            }),
        }),
        ..Default::default()
    }
}

/// Offer: id = 1, framework_id = 2, agent_id = 3, hostname = 4,
/// resources = 5, executor_ids = 6, attributes = 7, allocation_info = 10,
/// domain = 11 { fault_domain = 1 { region = 1, zone = 2 } }.
/// Resource: ranges = 4 { range = 1 { begin = 1, end = 2 } },
/// allocation_info = 11 { role = 1 }, reservations = 13 { principal = 1,
/// role = 3, type = 4 (DYNAMIC = 2) }. Value.Type RANGES = 1, TEXT = 3.
/// Attribute: name = 1, type = 2, text = 5 { value = 1 }.
fn offer_pb() -> Pb {
    let alloc = || Pb::new().string(1, "web");
    let ports = Pb::new()
        .string(1, "ports")
        .varint(2, 1)
        .msg(
            4,
            Pb::new().msg(1, Pb::new().varint(1, 31000).varint(2, 32000)),
        )
        .msg(11, alloc());
    let reserved = scalar_pb("cpus", 2.0)
        .msg(11, alloc())
        .msg(13, Pb::new().string(1, "ops").string(3, "web").varint(4, 2));
    Pb::new()
        .msg(1, id("offer-1"))
        .msg(2, id("fw-1"))
        .msg(3, id("agent-1"))
        .string(4, "node-a")
        .msg(5, scalar_pb("cpus", 4.0).msg(11, alloc()))
        .msg(5, scalar_pb("mem", 8192.0).msg(11, alloc()))
        .msg(5, ports)
        .msg(5, reserved)
        .msg(6, id("kube-mesos-abc"))
        .msg(
            7,
            Pb::new()
                .string(1, "rack")
                .varint(2, 3)
                .msg(5, Pb::new().string(1, "r1")),
        )
        .msg(10, alloc())
        .msg(
            11,
            Pb::new().msg(
                1,
                Pb::new()
                    .msg(1, Pb::new().string(1, "eu"))
                    .msg(2, Pb::new().string(1, "eu-1a")),
            ),
        )
}

fn running_status() -> v1::TaskStatus {
    v1::TaskStatus {
        task_id: task_id("pod.uid-1"),
        state: TaskState::TaskRunning as i32,
        data: Some(b"d".to_vec()),
        message: Some("started".into()),
        agent_id: Some(agent_id("agent-1")),
        timestamp: Some(1_700_000_000.25),
        executor_id: Some(executor_id("kube-mesos-abc")),
        healthy: Some(true),
        source: Some(task_status::Source::Executor as i32),
        reason: Some(task_status::Reason::TaskHealthCheckStatusUpdated as i32),
        uuid: Some(UUID.to_vec()),
        ..Default::default()
    }
}

/// TaskStatus: task_id = 1, state = 2 (TASK_RUNNING = 1), data = 3,
/// message = 4, agent_id = 5, timestamp = 6, executor_id = 7, healthy = 8,
/// source = 9 (SOURCE_EXECUTOR = 2), reason = 10
/// (REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = 29), uuid = 11.
fn running_status_pb() -> Pb {
    Pb::new()
        .msg(1, id("pod.uid-1"))
        .varint(2, 1)
        .bytes(3, b"d")
        .string(4, "started")
        .msg(5, id("agent-1"))
        .double(6, 1_700_000_000.25)
        .msg(7, id("kube-mesos-abc"))
        .bool(8, true)
        .varint(9, 2)
        .varint(10, 29)
        .bytes(11, &UUID)
}

fn agent_info() -> v1::AgentInfo {
    v1::AgentInfo {
        hostname: "node-a".into(),
        port: Some(5051),
        resources: vec![scalar("cpus", 8.0)],
        attributes: vec![],
        id: Some(agent_id("agent-1")),
        domain: None,
    }
}

/// AgentInfo: hostname = 1, resources = 3, id = 6, port = 8.
fn agent_info_pb() -> Pb {
    Pb::new()
        .string(1, "node-a")
        .msg(3, scalar_pb("cpus", 8.0))
        .msg(6, id("agent-1"))
        .varint(8, 5051)
}

// ------------------------------------------------------- mesos.proto ----

#[test]
fn framework_info_with_roles_and_capabilities() {
    check(framework_info_pb(), &framework_info());
}

#[test]
fn task_info_with_custom_executor() {
    check(task_info_pb(), &task_info());
}

#[test]
fn offer_with_cpus_mem_ports_and_reserved_resource() {
    check(offer_pb(), &offer());
}

#[test]
fn task_status_fields() {
    check(running_status_pb(), &running_status());
}

#[test]
fn task_state_values_match_upstream() {
    let expected = [
        (TaskState::TaskStaging, 6),
        (TaskState::TaskStarting, 0),
        (TaskState::TaskRunning, 1),
        (TaskState::TaskKilling, 8),
        (TaskState::TaskFinished, 2),
        (TaskState::TaskFailed, 3),
        (TaskState::TaskKilled, 4),
        (TaskState::TaskError, 7),
        (TaskState::TaskLost, 5),
        (TaskState::TaskDropped, 9),
        (TaskState::TaskUnreachable, 10),
        (TaskState::TaskGone, 11),
        (TaskState::TaskGoneByOperator, 12),
        (TaskState::TaskUnknown, 13),
    ];
    for (state, number) in expected {
        assert_eq!(state as i32, number, "{}", state.as_str_name());
    }
}

#[test]
fn task_status_reason_values_match_upstream() {
    use task_status::Reason as R;
    let expected = [
        (R::CommandExecutorFailed, 0),
        (R::ContainerLaunchFailed, 21),
        (R::ContainerLimitation, 19),
        (R::ContainerLimitationDisk, 20),
        (R::ContainerLimitationMemory, 8),
        (R::ContainerPreempted, 17),
        (R::ContainerUpdateFailed, 22),
        (R::MaxCompletionTimeReached, 33),
        (R::ExecutorRegistrationTimeout, 23),
        (R::ExecutorReregistrationTimeout, 24),
        (R::ExecutorTerminated, 1),
        (R::ExecutorUnregistered, 2),
        (R::FrameworkRemoved, 3),
        (R::GcError, 4),
        (R::InvalidFrameworkid, 5),
        (R::InvalidOffers, 6),
        (R::IoSwitchboardExited, 27),
        (R::MasterDisconnected, 7),
        (R::Reconciliation, 9),
        (R::ResourcesUnknown, 18),
        (R::AgentDisconnected, 10),
        (R::AgentDraining, 34),
        (R::AgentRemoved, 11),
        (R::AgentRemovedByOperator, 31),
        (R::AgentReregistered, 32),
        (R::AgentRestarted, 12),
        (R::AgentUnknown, 13),
        (R::TaskKilledDuringLaunch, 30),
        (R::TaskCheckStatusUpdated, 28),
        (R::TaskHealthCheckStatusUpdated, 29),
        (R::TaskGroupInvalid, 25),
        (R::TaskGroupUnauthorized, 26),
        (R::TaskInvalid, 14),
        (R::TaskUnauthorized, 15),
        (R::TaskUnknown, 16),
    ];
    for (reason, number) in expected {
        assert_eq!(reason as i32, number, "{}", reason.as_str_name());
        assert_eq!(R::from_str_name(reason.as_str_name()), Some(reason));
    }
    assert_eq!(task_status::Source::Master as i32, 0);
    assert_eq!(task_status::Source::Agent as i32, 1);
    assert_eq!(task_status::Source::Executor as i32, 2);
}

#[test]
fn proto2_defaults_match_mesos() {
    // Filters.refuse_seconds [default = 5.0]
    assert_eq!(v1::Filters::default().refuse_seconds(), 5.0);
    assert_eq!(
        v1::Filters {
            refuse_seconds: Some(60.0)
        }
        .refuse_seconds(),
        60.0
    );
    // CommandInfo.shell [default = true]
    assert!(v1::CommandInfo::default().shell());
    assert!(!v1::CommandInfo {
        shell: Some(false),
        ..Default::default()
    }
    .shell());
    // CommandInfo.URI.extract [default = true]
    assert!(command_info::Uri::default().extract());
    // Others we rely on.
    assert_eq!(v1::FrameworkInfo::default().role(), "*");
    assert_eq!(v1::Resource::default().role(), "*");
    assert_eq!(v1::AgentInfo::default().port(), 5051);
    assert_eq!(
        v1::environment::Variable::default().r#type(),
        v1::environment::variable::Type::Value
    );
    // An empty Filters is empty on the wire: the default is not sent.
    assert!(v1::Filters::default().encode_to_vec().is_empty());
}

// --------------------------------------------------- scheduler Call -----

/// Call: framework_id = 1, type = 2, subscribe = 3 { framework_info = 1,
/// suppressed_roles = 2 }. Call.Type SUBSCRIBE = 1.
#[test]
fn scheduler_call_subscribe() {
    let hand = Pb::new()
        .msg(1, id("fw-1"))
        .varint(2, 1)
        .msg(3, Pb::new().msg(1, framework_info_pb()).string(2, "batch"));
    let call = scheduler::Call {
        framework_id: Some(framework_id("fw-1")),
        r#type: Some(scheduler::call::Type::Subscribe as i32),
        subscribe: Some(scheduler::call::Subscribe {
            framework_info: framework_info(),
            suppressed_roles: vec!["batch".into()],
        }),
        ..Default::default()
    };
    check(hand, &call);
}

/// Accept = 4 { offer_ids = 1, operations = 2, filters = 3 }. Call.Type
/// ACCEPT = 3. Offer.Operation: type = 1 (LAUNCH = 1), launch = 2
/// { task_infos = 1 }. Filters: refuse_seconds = 1.
#[test]
fn scheduler_call_accept_with_launch() {
    let operation = Pb::new()
        .varint(1, 1)
        .msg(2, Pb::new().msg(1, task_info_pb()));
    let hand = Pb::new().msg(1, id("fw-1")).varint(2, 3).msg(
        4,
        Pb::new()
            .msg(1, id("offer-1"))
            .msg(1, id("offer-2"))
            .msg(2, operation)
            .msg(3, Pb::new().double(1, 1.0)),
    );
    let call = scheduler::Call {
        framework_id: Some(framework_id("fw-1")),
        r#type: Some(scheduler::call::Type::Accept as i32),
        accept: Some(scheduler::call::Accept {
            offer_ids: vec![offer_id("offer-1"), offer_id("offer-2")],
            operations: vec![v1::offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch {
                    task_infos: vec![task_info()],
                }),
                ..Default::default()
            }],
            filters: Some(v1::Filters {
                refuse_seconds: Some(1.0),
            }),
        }),
        ..Default::default()
    };
    check(hand, &call);
}

/// Offer.Operation type LAUNCH_GROUP = 6, launch_group = 7 { executor = 1,
/// task_group = 2 { tasks = 1 } }.
#[test]
fn offer_operation_launch_group() {
    let executor = Pb::new().msg(1, id("e")).varint(15, 1);
    let hand = Pb::new().varint(1, 6).msg(
        7,
        Pb::new()
            .msg(1, executor)
            .msg(2, Pb::new().msg(1, task_info_pb())),
    );
    let op = v1::offer::Operation {
        r#type: Some(offer::operation::Type::LaunchGroup as i32),
        launch_group: Some(offer::operation::LaunchGroup {
            executor: v1::ExecutorInfo {
                executor_id: executor_id("e"),
                r#type: Some(executor_info::Type::Default as i32),
                ..Default::default()
            },
            task_group: v1::TaskGroupInfo {
                tasks: vec![task_info()],
            },
        }),
        ..Default::default()
    };
    check(hand, &op);
}

/// Decline = 5 { offer_ids = 1, filters = 2 }. Call.Type DECLINE = 4.
#[test]
fn scheduler_call_decline() {
    let hand = Pb::new().msg(1, id("fw-1")).varint(2, 4).msg(
        5,
        Pb::new()
            .msg(1, id("offer-1"))
            .msg(2, Pb::new().double(1, 3600.0)),
    );
    let call = scheduler::Call {
        framework_id: Some(framework_id("fw-1")),
        r#type: Some(scheduler::call::Type::Decline as i32),
        decline: Some(scheduler::call::Decline {
            offer_ids: vec![offer_id("offer-1")],
            filters: Some(v1::Filters {
                refuse_seconds: Some(3600.0),
            }),
        }),
        ..Default::default()
    };
    check(hand, &call);
}

/// Kill = 6 { task_id = 1, agent_id = 2, kill_policy = 3 }. KILL = 6.
#[test]
fn scheduler_call_kill() {
    let hand = Pb::new().msg(1, id("fw-1")).varint(2, 6).msg(
        6,
        Pb::new()
            .msg(1, id("pod.uid-1"))
            .msg(2, id("agent-1"))
            .msg(3, Pb::new().msg(1, Pb::new().varint(1, 5_000_000_000))),
    );
    let call = scheduler::Call {
        framework_id: Some(framework_id("fw-1")),
        r#type: Some(scheduler::call::Type::Kill as i32),
        kill: Some(scheduler::call::Kill {
            task_id: task_id("pod.uid-1"),
            agent_id: Some(agent_id("agent-1")),
            kill_policy: Some(v1::KillPolicy {
                grace_period: Some(v1::DurationInfo {
                    nanoseconds: 5_000_000_000,
                }),
            }),
        }),
        ..Default::default()
    };
    check(hand, &call);
}

/// Acknowledge = 8 { agent_id = 1, task_id = 2, uuid = 3 }. ACKNOWLEDGE = 8.
#[test]
fn scheduler_call_acknowledge() {
    let hand = Pb::new().msg(1, id("fw-1")).varint(2, 8).msg(
        8,
        Pb::new()
            .msg(1, id("agent-1"))
            .msg(2, id("pod.uid-1"))
            .bytes(3, &UUID),
    );
    let call = scheduler::Call {
        framework_id: Some(framework_id("fw-1")),
        r#type: Some(scheduler::call::Type::Acknowledge as i32),
        acknowledge: Some(scheduler::call::Acknowledge {
            agent_id: agent_id("agent-1"),
            task_id: task_id("pod.uid-1"),
            uuid: UUID.to_vec(),
        }),
        ..Default::default()
    };
    check(hand, &call);
}

/// Reconcile = 9 { tasks = 1 { task_id = 1, agent_id = 2 } }. RECONCILE = 9.
#[test]
fn scheduler_call_reconcile() {
    let hand = Pb::new().msg(1, id("fw-1")).varint(2, 9).msg(
        9,
        Pb::new()
            .msg(1, Pb::new().msg(1, id("pod.a")).msg(2, id("agent-1")))
            .msg(1, Pb::new().msg(1, id("pod.b"))),
    );
    let call = scheduler::Call {
        framework_id: Some(framework_id("fw-1")),
        r#type: Some(scheduler::call::Type::Reconcile as i32),
        reconcile: Some(scheduler::call::Reconcile {
            tasks: vec![
                scheduler::call::reconcile::Task {
                    task_id: task_id("pod.a"),
                    agent_id: Some(agent_id("agent-1")),
                },
                scheduler::call::reconcile::Task {
                    task_id: task_id("pod.b"),
                    agent_id: None,
                },
            ],
        }),
        ..Default::default()
    };
    check(hand, &call);
}

/// Revive = 15 { roles = 1 }, REVIVE = 5; Suppress = 16 { roles = 1 },
/// SUPPRESS = 12.
#[test]
fn scheduler_call_revive_and_suppress() {
    let revive = Pb::new()
        .msg(1, id("fw-1"))
        .varint(2, 5)
        .msg(15, Pb::new().string(1, "web"));
    check(
        revive,
        &scheduler::Call {
            framework_id: Some(framework_id("fw-1")),
            r#type: Some(scheduler::call::Type::Revive as i32),
            revive: Some(scheduler::call::Revive {
                roles: vec!["web".into()],
            }),
            ..Default::default()
        },
    );
    let suppress = Pb::new()
        .msg(1, id("fw-1"))
        .varint(2, 12)
        .msg(16, Pb::new().string(1, "web").string(1, "batch"));
    check(
        suppress,
        &scheduler::Call {
            framework_id: Some(framework_id("fw-1")),
            r#type: Some(scheduler::call::Type::Suppress as i32),
            suppress: Some(scheduler::call::Suppress {
                roles: vec!["web".into(), "batch".into()],
            }),
            ..Default::default()
        },
    );
}

/// UpdateFramework = 19 { framework_info = 1, suppressed_roles = 2 },
/// UPDATE_FRAMEWORK = 17; TEARDOWN = 2 has no body.
#[test]
fn scheduler_call_update_framework_and_teardown() {
    let hand = Pb::new()
        .msg(1, id("fw-1"))
        .varint(2, 17)
        .msg(19, Pb::new().msg(1, framework_info_pb()).string(2, "web"));
    check(
        hand,
        &scheduler::Call {
            framework_id: Some(framework_id("fw-1")),
            r#type: Some(scheduler::call::Type::UpdateFramework as i32),
            update_framework: Some(scheduler::call::UpdateFramework {
                framework_info: framework_info(),
                suppressed_roles: vec!["web".into()],
            }),
            ..Default::default()
        },
    );
    check(
        Pb::new().msg(1, id("fw-1")).varint(2, 2),
        &scheduler::Call {
            framework_id: Some(framework_id("fw-1")),
            r#type: Some(scheduler::call::Type::Teardown as i32),
            ..Default::default()
        },
    );
}

#[test]
fn scheduler_call_type_values_match_upstream() {
    use scheduler::call::Type as T;
    let expected = [
        (T::Unknown, 0),
        (T::Subscribe, 1),
        (T::Teardown, 2),
        (T::Accept, 3),
        (T::Decline, 4),
        (T::AcceptInverseOffers, 13),
        (T::DeclineInverseOffers, 14),
        (T::Revive, 5),
        (T::Kill, 6),
        (T::Shutdown, 7),
        (T::Acknowledge, 8),
        (T::AcknowledgeOperationStatus, 15),
        (T::Reconcile, 9),
        (T::ReconcileOperations, 16),
        (T::Message, 10),
        (T::Request, 11),
        (T::Suppress, 12),
        (T::UpdateFramework, 17),
    ];
    for (t, number) in expected {
        assert_eq!(t as i32, number, "{}", t.as_str_name());
    }
}

// -------------------------------------------------- scheduler Event -----

/// Event: type = 1, subscribed = 2 { framework_id = 1,
/// heartbeat_interval_seconds = 2, master_info = 3 }. SUBSCRIBED = 1.
/// MasterInfo: id = 1, ip = 2, port = 3, hostname = 5, version = 6,
/// address = 7 { hostname = 1, ip = 2, port = 3 }.
#[test]
fn scheduler_event_subscribed() {
    let master_info = Pb::new()
        .string(1, "master-1")
        .varint(2, 0x0100_007f)
        .varint(3, 5050)
        .string(5, "localhost")
        .string(6, "1.11.0")
        .msg(
            7,
            Pb::new()
                .string(1, "localhost")
                .string(2, "127.0.0.1")
                .varint(3, 5050),
        );
    let hand = Pb::new().varint(1, 1).msg(
        2,
        Pb::new()
            .msg(1, id("fw-1"))
            .double(2, 15.0)
            .msg(3, master_info),
    );
    let event = scheduler::Event {
        r#type: Some(scheduler::event::Type::Subscribed as i32),
        subscribed: Some(scheduler::event::Subscribed {
            framework_id: framework_id("fw-1"),
            heartbeat_interval_seconds: Some(15.0),
            master_info: Some(v1::MasterInfo {
                id: "master-1".into(),
                ip: 0x0100_007f,
                port: 5050,
                hostname: Some("localhost".into()),
                version: Some("1.11.0".into()),
                address: Some(v1::Address {
                    hostname: Some("localhost".into()),
                    ip: Some("127.0.0.1".into()),
                    port: 5050,
                }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// offers = 3 { offers = 1 }, OFFERS = 2.
#[test]
fn scheduler_event_offers() {
    let hand = Pb::new().varint(1, 2).msg(3, Pb::new().msg(1, offer_pb()));
    let event = scheduler::Event {
        r#type: Some(scheduler::event::Type::Offers as i32),
        offers: Some(scheduler::event::Offers {
            offers: vec![offer()],
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// update = 5 { status = 1 }, UPDATE = 4.
#[test]
fn scheduler_event_update() {
    let hand = Pb::new()
        .varint(1, 4)
        .msg(5, Pb::new().msg(1, running_status_pb()));
    let event = scheduler::Event {
        r#type: Some(scheduler::event::Type::Update as i32),
        update: Some(scheduler::event::Update {
            status: running_status(),
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// rescind = 4 { offer_id = 1 }, RESCIND = 3.
#[test]
fn scheduler_event_rescind() {
    let hand = Pb::new()
        .varint(1, 3)
        .msg(4, Pb::new().msg(1, id("offer-1")));
    let event = scheduler::Event {
        r#type: Some(scheduler::event::Type::Rescind as i32),
        rescind: Some(scheduler::event::Rescind {
            offer_id: offer_id("offer-1"),
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// error = 8 { message = 1 }, ERROR = 7.
#[test]
fn scheduler_event_error() {
    let hand = Pb::new()
        .varint(1, 7)
        .msg(8, Pb::new().string(1, "Framework has been removed"));
    let event = scheduler::Event {
        r#type: Some(scheduler::event::Type::Error as i32),
        error: Some(scheduler::event::Error {
            message: "Framework has been removed".into(),
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// HEARTBEAT = 8 carries no body.
#[test]
fn scheduler_event_heartbeat() {
    let event = scheduler::Event {
        r#type: Some(scheduler::event::Type::Heartbeat as i32),
        ..Default::default()
    };
    check(Pb::new().varint(1, 8), &event);
}

/// failure = 7 { agent_id = 1, executor_id = 2, status = 3 }, FAILURE = 6;
/// message = 6 { agent_id = 1, executor_id = 2, data = 3 }, MESSAGE = 5.
#[test]
fn scheduler_event_failure_and_message() {
    let failure = Pb::new().varint(1, 6).msg(
        7,
        Pb::new().msg(1, id("agent-1")).msg(2, id("e")).varint(3, 9),
    );
    check(
        failure,
        &scheduler::Event {
            r#type: Some(scheduler::event::Type::Failure as i32),
            failure: Some(scheduler::event::Failure {
                agent_id: Some(agent_id("agent-1")),
                executor_id: Some(executor_id("e")),
                status: Some(9),
            }),
            ..Default::default()
        },
    );
    let message = Pb::new().varint(1, 5).msg(
        6,
        Pb::new()
            .msg(1, id("agent-1"))
            .msg(2, id("e"))
            .bytes(3, b"hi"),
    );
    check(
        message,
        &scheduler::Event {
            r#type: Some(scheduler::event::Type::Message as i32),
            message: Some(scheduler::event::Message {
                agent_id: agent_id("agent-1"),
                executor_id: executor_id("e"),
                data: b"hi".to_vec(),
            }),
            ..Default::default()
        },
    );
}

#[test]
fn scheduler_event_type_values_match_upstream() {
    use scheduler::event::Type as T;
    let expected = [
        (T::Unknown, 0),
        (T::Subscribed, 1),
        (T::Offers, 2),
        (T::InverseOffers, 9),
        (T::Rescind, 3),
        (T::RescindInverseOffer, 10),
        (T::Update, 4),
        (T::UpdateOperationStatus, 11),
        (T::Message, 5),
        (T::Failure, 6),
        (T::Error, 7),
        (T::Heartbeat, 8),
    ];
    for (t, number) in expected {
        assert_eq!(t as i32, number, "{}", t.as_str_name());
    }
}

// ---------------------------------------------------- executor API ------

/// Call: executor_id = 1, framework_id = 2, type = 3 (SUBSCRIBE = 1),
/// subscribe = 4 { unacknowledged_tasks = 1, unacknowledged_updates = 2
/// { status = 1 } }.
#[test]
fn executor_call_subscribe() {
    let hand = Pb::new()
        .msg(1, id("kube-mesos-abc"))
        .msg(2, id("fw-1"))
        .varint(3, 1)
        .msg(
            4,
            Pb::new()
                .msg(1, task_info_pb())
                .msg(2, Pb::new().msg(1, running_status_pb())),
        );
    let call = executor::Call {
        executor_id: executor_id("kube-mesos-abc"),
        framework_id: framework_id("fw-1"),
        r#type: Some(executor::call::Type::Subscribe as i32),
        subscribe: Some(executor::call::Subscribe {
            unacknowledged_tasks: vec![task_info()],
            unacknowledged_updates: vec![executor::call::Update {
                status: running_status(),
            }],
        }),
        ..Default::default()
    };
    check(hand, &call);
}

/// type UPDATE = 2, update = 5 { status = 1 }; MESSAGE = 3, message = 6
/// { data = 2 } (sic: 2, as upstream).
#[test]
fn executor_call_update_and_message() {
    let update = Pb::new()
        .msg(1, id("kube-mesos-abc"))
        .msg(2, id("fw-1"))
        .varint(3, 2)
        .msg(5, Pb::new().msg(1, running_status_pb()));
    check(
        update,
        &executor::Call {
            executor_id: executor_id("kube-mesos-abc"),
            framework_id: framework_id("fw-1"),
            r#type: Some(executor::call::Type::Update as i32),
            update: Some(executor::call::Update {
                status: running_status(),
            }),
            ..Default::default()
        },
    );
    let message = Pb::new()
        .msg(1, id("kube-mesos-abc"))
        .msg(2, id("fw-1"))
        .varint(3, 3)
        .msg(6, Pb::new().bytes(2, b"ping"));
    check(
        message,
        &executor::Call {
            executor_id: executor_id("kube-mesos-abc"),
            framework_id: framework_id("fw-1"),
            r#type: Some(executor::call::Type::Message as i32),
            message: Some(executor::call::Message {
                data: b"ping".to_vec(),
            }),
            ..Default::default()
        },
    );
}

/// Event: type = 1 (SUBSCRIBED = 1), subscribed = 2 { executor_info = 1,
/// framework_info = 2, agent_info = 3, container_id = 4 { value = 1,
/// parent = 2 } }.
#[test]
fn executor_event_subscribed() {
    let hand = Pb::new().varint(1, 1).msg(
        2,
        Pb::new()
            .msg(1, Pb::new().msg(1, id("kube-mesos-abc")))
            .msg(2, framework_info_pb())
            .msg(3, agent_info_pb())
            .msg(4, Pb::new().string(1, "c-2").msg(2, id("c-1"))),
    );
    let event = executor::Event {
        r#type: Some(executor::event::Type::Subscribed as i32),
        subscribed: Some(executor::event::Subscribed {
            executor_info: v1::ExecutorInfo {
                executor_id: executor_id("kube-mesos-abc"),
                ..Default::default()
            },
            framework_info: framework_info(),
            agent_info: agent_info(),
            container_id: Some(v1::ContainerId {
                value: "c-2".into(),
                parent: Some(Box::new(v1::ContainerId {
                    value: "c-1".into(),
                    parent: None,
                })),
            }),
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// LAUNCH = 2, launch = 4 { task = 1 }.
#[test]
fn executor_event_launch() {
    let hand = Pb::new()
        .varint(1, 2)
        .msg(4, Pb::new().msg(1, task_info_pb()));
    let event = executor::Event {
        r#type: Some(executor::event::Type::Launch as i32),
        launch: Some(executor::event::Launch { task: task_info() }),
        ..Default::default()
    };
    check(hand, &event);
}

/// LAUNCH_GROUP = 8, launch_group = 8 { task_group = 1 }.
#[test]
fn executor_event_launch_group() {
    let hand = Pb::new()
        .varint(1, 8)
        .msg(8, Pb::new().msg(1, Pb::new().msg(1, task_info_pb())));
    let event = executor::Event {
        r#type: Some(executor::event::Type::LaunchGroup as i32),
        launch_group: Some(executor::event::LaunchGroup {
            task_group: v1::TaskGroupInfo {
                tasks: vec![task_info()],
            },
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// KILL = 3, kill = 5 { task_id = 1, kill_policy = 2 }.
#[test]
fn executor_event_kill() {
    let hand = Pb::new().varint(1, 3).msg(
        5,
        Pb::new()
            .msg(1, id("pod.uid-1"))
            .msg(2, Pb::new().msg(1, Pb::new().varint(1, 1_000_000_000))),
    );
    let event = executor::Event {
        r#type: Some(executor::event::Type::Kill as i32),
        kill: Some(executor::event::Kill {
            task_id: task_id("pod.uid-1"),
            kill_policy: Some(v1::KillPolicy {
                grace_period: Some(v1::DurationInfo {
                    nanoseconds: 1_000_000_000,
                }),
            }),
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// ACKNOWLEDGED = 4, acknowledged = 3 { task_id = 1, uuid = 2 }.
#[test]
fn executor_event_acknowledged() {
    let hand = Pb::new()
        .varint(1, 4)
        .msg(3, Pb::new().msg(1, id("pod.uid-1")).bytes(2, &UUID));
    let event = executor::Event {
        r#type: Some(executor::event::Type::Acknowledged as i32),
        acknowledged: Some(executor::event::Acknowledged {
            task_id: task_id("pod.uid-1"),
            uuid: UUID.to_vec(),
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// SHUTDOWN = 7 has no body; ERROR = 6, error = 7 { message = 1 };
/// MESSAGE = 5, message = 6 { data = 1 }.
#[test]
fn executor_event_shutdown_error_message() {
    check(
        Pb::new().varint(1, 7),
        &executor::Event {
            r#type: Some(executor::event::Type::Shutdown as i32),
            ..Default::default()
        },
    );
    check(
        Pb::new()
            .varint(1, 6)
            .msg(7, Pb::new().string(1, "bad call")),
        &executor::Event {
            r#type: Some(executor::event::Type::Error as i32),
            error: Some(executor::event::Error {
                message: "bad call".into(),
            }),
            ..Default::default()
        },
    );
    check(
        Pb::new().varint(1, 5).msg(6, Pb::new().bytes(1, b"hi")),
        &executor::Event {
            r#type: Some(executor::event::Type::Message as i32),
            message: Some(executor::event::Message {
                data: b"hi".to_vec(),
            }),
            ..Default::default()
        },
    );
}

// ------------------------------------------------------ master API ------

/// Call: type = 1 (GET_AGENTS = 10; SUBSCRIBE = 18; GET_TASKS = 13).
#[test]
fn master_call_get_agents_and_friends() {
    for (t, number) in [
        (master::call::Type::GetHealth, 1),
        (master::call::Type::GetVersion, 3),
        (master::call::Type::GetState, 9),
        (master::call::Type::GetAgents, 10),
        (master::call::Type::GetFrameworks, 11),
        (master::call::Type::GetExecutors, 12),
        (master::call::Type::GetTasks, 13),
        (master::call::Type::GetMaster, 17),
        (master::call::Type::Subscribe, 18),
        (master::call::Type::GetOperations, 33),
        (master::call::Type::MarkAgentGone, 32),
    ] {
        check(
            Pb::new().varint(1, number),
            &master::Call {
                r#type: Some(t as i32),
                ..Default::default()
            },
        );
    }
}

fn master_agent() -> master::response::get_agents::Agent {
    master::response::get_agents::Agent {
        agent_info: agent_info(),
        active: true,
        version: "1.11.0".into(),
        pid: Some("slave(1)@127.0.0.1:5051".into()),
        registered_time: Some(v1::TimeInfo {
            nanoseconds: 1_700_000_000_000_000_000,
        }),
        total_resources: vec![scalar("cpus", 8.0)],
        allocated_resources: vec![scalar("cpus", 1.0)],
        capabilities: vec![v1::agent_info::Capability {
            r#type: Some(v1::agent_info::capability::Type::MultiRole as i32),
        }],
        deactivated: Some(false),
        ..Default::default()
    }
}

/// GetAgents.Agent: agent_info = 1, active = 2, version = 3, pid = 4,
/// registered_time = 5, total_resources = 7, allocated_resources = 8,
/// capabilities = 10 { type = 1 (MULTI_ROLE = 1) }, deactivated = 12.
fn master_agent_pb() -> Pb {
    Pb::new()
        .msg(1, agent_info_pb())
        .bool(2, true)
        .string(3, "1.11.0")
        .string(4, "slave(1)@127.0.0.1:5051")
        .msg(5, Pb::new().varint(1, 1_700_000_000_000_000_000))
        .msg(7, scalar_pb("cpus", 8.0))
        .msg(8, scalar_pb("cpus", 1.0))
        .msg(10, Pb::new().varint(1, 1))
        .bool(12, false)
}

/// Response: type = 1 (GET_AGENTS = 9), get_agents = 10 { agents = 1,
/// recovered_agents = 2 }.
#[test]
fn master_response_get_agents() {
    let hand = Pb::new().varint(1, 9).msg(
        10,
        Pb::new().msg(1, master_agent_pb()).msg(2, agent_info_pb()),
    );
    let response = master::Response {
        r#type: Some(master::response::Type::GetAgents as i32),
        get_agents: Some(master::response::GetAgents {
            agents: vec![master_agent()],
            recovered_agents: vec![agent_info()],
        }),
        ..Default::default()
    };
    check(hand, &response);
}

/// Response GET_VERSION = 3, get_version = 4 { version_info = 1 { version =
/// 1, git_sha = 5 } }; GET_TASKS = 12, get_tasks = 13 { pending_tasks = 1,
/// tasks = 2, completed_tasks = 3, unreachable_tasks = 5 }.
#[test]
fn master_response_get_version_and_tasks() {
    check(
        Pb::new().varint(1, 3).msg(
            4,
            Pb::new().msg(1, Pb::new().string(1, "1.11.0").string(5, "abc")),
        ),
        &master::Response {
            r#type: Some(master::response::Type::GetVersion as i32),
            get_version: Some(master::response::GetVersion {
                version_info: v1::VersionInfo {
                    version: "1.11.0".into(),
                    git_sha: Some("abc".into()),
                    ..Default::default()
                },
            }),
            ..Default::default()
        },
    );
    // Task: name = 1, task_id = 2, framework_id = 3, agent_id = 5,
    // state = 6 (TASK_RUNNING = 1), statuses = 8,
    // status_update_state = 9, status_update_uuid = 10.
    let task_pb = Pb::new()
        .string(1, "default/web-0")
        .msg(2, id("pod.uid-1"))
        .msg(3, id("fw-1"))
        .msg(5, id("agent-1"))
        .varint(6, 1)
        .msg(8, running_status_pb())
        .varint(9, 1)
        .bytes(10, &UUID);
    let task = v1::Task {
        name: "default/web-0".into(),
        task_id: task_id("pod.uid-1"),
        framework_id: framework_id("fw-1"),
        agent_id: agent_id("agent-1"),
        state: TaskState::TaskRunning as i32,
        statuses: vec![running_status()],
        status_update_state: Some(TaskState::TaskRunning as i32),
        status_update_uuid: Some(UUID.to_vec()),
        ..Default::default()
    };
    check(
        Pb::new()
            .varint(1, 12)
            .msg(13, Pb::new().msg(2, task_pb.clone()).msg(5, task_pb)),
        &master::Response {
            r#type: Some(master::response::Type::GetTasks as i32),
            get_tasks: Some(master::response::GetTasks {
                tasks: vec![task.clone()],
                unreachable_tasks: vec![task],
                ..Default::default()
            }),
            ..Default::default()
        },
    );
}

/// Event: type = 1 (AGENT_ADDED = 4), agent_added = 5 { agent = 1 }.
#[test]
fn master_event_agent_added() {
    let hand = Pb::new()
        .varint(1, 4)
        .msg(5, Pb::new().msg(1, master_agent_pb()));
    let event = master::Event {
        r#type: Some(master::event::Type::AgentAdded as i32),
        agent_added: Some(master::event::AgentAdded {
            agent: master_agent(),
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// AGENT_REMOVED = 5, agent_removed = 6 { agent_id = 1 }.
#[test]
fn master_event_agent_removed() {
    let hand = Pb::new()
        .varint(1, 5)
        .msg(6, Pb::new().msg(1, id("agent-1")));
    let event = master::Event {
        r#type: Some(master::event::Type::AgentRemoved as i32),
        agent_removed: Some(master::event::AgentRemoved {
            agent_id: agent_id("agent-1"),
        }),
        ..Default::default()
    };
    check(hand, &event);
}

/// SUBSCRIBED = 1, subscribed = 2 { get_state = 1 { get_agents = 4 },
/// heartbeat_interval_seconds = 2 }; HEARTBEAT = 9; TASK_UPDATED = 3,
/// task_updated = 4 { framework_id = 1, status = 2, state = 3 }.
#[test]
fn master_event_subscribed_heartbeat_task_updated() {
    let hand = Pb::new().varint(1, 1).msg(
        2,
        Pb::new()
            .msg(1, Pb::new().msg(4, Pb::new().msg(1, master_agent_pb())))
            .double(2, 15.0),
    );
    check(
        hand,
        &master::Event {
            r#type: Some(master::event::Type::Subscribed as i32),
            subscribed: Some(master::event::Subscribed {
                get_state: Some(master::response::GetState {
                    get_agents: Some(master::response::GetAgents {
                        agents: vec![master_agent()],
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                heartbeat_interval_seconds: Some(15.0),
            }),
            ..Default::default()
        },
    );
    check(
        Pb::new().varint(1, 9),
        &master::Event {
            r#type: Some(master::event::Type::Heartbeat as i32),
            ..Default::default()
        },
    );
    check(
        Pb::new().varint(1, 3).msg(
            4,
            Pb::new()
                .msg(1, id("fw-1"))
                .msg(2, running_status_pb())
                .varint(3, 2),
        ),
        &master::Event {
            r#type: Some(master::event::Type::TaskUpdated as i32),
            task_updated: Some(master::event::TaskUpdated {
                framework_id: framework_id("fw-1"),
                status: running_status(),
                state: TaskState::TaskFinished as i32,
            }),
            ..Default::default()
        },
    );
}

#[test]
fn master_event_type_values_match_upstream() {
    use master::event::Type as T;
    let expected = [
        (T::Unknown, 0),
        (T::Subscribed, 1),
        (T::TaskAdded, 2),
        (T::TaskUpdated, 3),
        (T::AgentAdded, 4),
        (T::AgentRemoved, 5),
        (T::FrameworkAdded, 6),
        (T::FrameworkUpdated, 7),
        (T::FrameworkRemoved, 8),
        (T::Heartbeat, 9),
    ];
    for (t, number) in expected {
        assert_eq!(t as i32, number, "{}", t.as_str_name());
    }
}

// ------------------------------------------------------- robustness -----

/// Fields a newer Mesos adds (unknown numbers) are skipped, not errors.
#[test]
fn unknown_fields_are_skipped() {
    let hand = Pb::new()
        .varint(1, 8)
        .string(99, "from the future")
        .varint(100, 7)
        .double(101, 1.0);
    let event = scheduler::Event::decode(hand.0.as_slice()).unwrap();
    assert_eq!(event.r#type(), scheduler::event::Type::Heartbeat);
}

/// Unknown enum numbers decode (as the raw number) and read as the
/// enum's default through the getter, as proto2 readers do.
#[test]
fn unknown_enum_numbers_read_as_default() {
    let event = scheduler::Event::decode(Pb::new().varint(1, 42).0.as_slice()).unwrap();
    assert_eq!(event.r#type, Some(42));
    assert_eq!(event.r#type(), scheduler::event::Type::Unknown);
}

#[test]
fn truncated_or_garbage_bytes_are_errors_not_panics() {
    let full = Pb::new()
        .varint(1, 4)
        .msg(5, Pb::new().msg(1, running_status_pb()))
        .0;
    for len in 1..full.len() {
        // Either a clean error or (for cuts on a field boundary) a message.
        let _ = scheduler::Event::decode(&full[..len]);
    }
    assert!(scheduler::Event::decode(&[0xff, 0xff, 0xff][..]).is_err());
    assert!(scheduler::Event::decode(&[0x2a, 0x05, 0x01][..]).is_err());
}

// ----------------------------------------------------------- maintenance --

fn machine_pb() -> Pb {
    Pb::new().string(1, "agent-a").string(2, "10.0.0.1")
}

fn machine() -> v1::MachineId {
    v1::MachineId {
        hostname: Some("agent-a".into()),
        ip: Some("10.0.0.1".into()),
    }
}

/// `Call.update_maintenance_schedule` (11) with a `maintenance.Schedule`:
/// `Window.machine_ids` 1, `Window.unavailability` 2, `Schedule.windows` 1;
/// `Unavailability.start` 1, `duration` 2 (`nanoseconds` 1 in both).
#[test]
fn update_maintenance_schedule_call() {
    let window_pb = Pb::new().msg(1, machine_pb()).msg(
        2,
        Pb::new()
            .msg(1, Pb::new().varint(1, 5_000_000_000))
            .msg(2, Pb::new().varint(1, 3_600_000_000_000)),
    );
    let hand = Pb::new()
        .varint(1, 25)
        .msg(11, Pb::new().msg(1, Pb::new().msg(1, window_pb)));
    let expected = master::Call {
        r#type: Some(master::call::Type::UpdateMaintenanceSchedule as i32),
        update_maintenance_schedule: Some(master::call::UpdateMaintenanceSchedule {
            schedule: maintenance::Schedule {
                windows: vec![maintenance::Window {
                    machine_ids: vec![machine()],
                    unavailability: v1::Unavailability {
                        start: v1::TimeInfo {
                            nanoseconds: 5_000_000_000,
                        },
                        duration: Some(v1::DurationInfo {
                            nanoseconds: 3_600_000_000_000,
                        }),
                    },
                }],
            },
        }),
        ..Default::default()
    };
    check(hand, &expected);
}

/// `Response.get_maintenance_status` (17) and `get_maintenance_schedule`
/// (18); `ClusterStatus.draining_machines` 1 (`id` 1, `statuses` 2),
/// `down_machines` 2; `allocator.InverseOfferStatus` status 1 (ACCEPT = 2),
/// framework_id 2, timestamp 3.
#[test]
fn maintenance_status_and_schedule_responses() {
    let status_pb = Pb::new()
        .varint(1, 2)
        .msg(2, id("fw-1"))
        .msg(3, Pb::new().varint(1, 7));
    let hand = Pb::new().varint(1, 16).msg(
        17,
        Pb::new().msg(
            1,
            Pb::new()
                .msg(1, Pb::new().msg(1, machine_pb()).msg(2, status_pb))
                .msg(2, Pb::new().string(1, "agent-b")),
        ),
    );
    let expected = master::Response {
        r#type: Some(master::response::Type::GetMaintenanceStatus as i32),
        get_maintenance_status: Some(master::response::GetMaintenanceStatus {
            status: maintenance::ClusterStatus {
                draining_machines: vec![maintenance::cluster_status::DrainingMachine {
                    id: machine(),
                    statuses: vec![allocator::InverseOfferStatus {
                        status: allocator::inverse_offer_status::Status::Accept as i32,
                        framework_id: framework_id("fw-1"),
                        timestamp: v1::TimeInfo { nanoseconds: 7 },
                    }],
                }],
                down_machines: vec![v1::MachineId {
                    hostname: Some("agent-b".into()),
                    ip: None,
                }],
            },
        }),
        ..Default::default()
    };
    check(hand, &expected);

    let hand = Pb::new().varint(1, 17).msg(18, Pb::new().msg(1, Pb::new()));
    let expected = master::Response {
        r#type: Some(master::response::Type::GetMaintenanceSchedule as i32),
        get_maintenance_schedule: Some(master::response::GetMaintenanceSchedule {
            schedule: maintenance::Schedule::default(),
        }),
        ..Default::default()
    };
    check(hand, &expected);
    for (status, number) in [
        (allocator::inverse_offer_status::Status::Unknown, 1),
        (allocator::inverse_offer_status::Status::Accept, 2),
        (allocator::inverse_offer_status::Status::Decline, 3),
    ] {
        assert_eq!(status as i32, number);
    }
}
