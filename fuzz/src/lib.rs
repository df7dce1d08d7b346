//! Fuzz targets: every decoder and parser that reads bytes or text from a
//! peer or a user, each driven as far into the product as a pure function
//! reaches.
//!
//! A target is `fn(&[u8])`: it must not panic and must not allocate beyond a
//! bound proportional to its input ([`alloc::MemoryBound`]), whatever the
//! bytes. Where the product offers an invariant (a pod the framework launches
//! decodes on the executor; chunked and whole RecordIO decoding agree; a
//! decoded message re-encodes to itself) the target asserts it too.
//!
//! Two drivers run the same targets:
//! - coverage-guided, with AFL++ through cargo-afl (`fuzz/afl`, outside the
//!   workspace: it needs cargo-afl's instrumentation); `scripts/soak --fuzz`
//!   runs each target for 10 minutes;
//! - a short deterministic pass in the test suite (`tests/short_pass.rs`):
//!   the seeds of [`seeds`] and a few thousand mutations of them
//!   ([`mutate`]), so CI catches a regression without any fuzzing tool.
//!
//! | target | what it feeds |
//! |---|---|
//! | `recordio` | the RecordIO decoder, in chunks and whole |
//! | `scheduler_event` | scheduler `Event` (protobuf or Mesos JSON) → the framework's input → its scheduler core |
//! | `executor_event` | executor `Event` (protobuf or Mesos JSON) → what the executor reads from SUBSCRIBED, LAUNCH, KILL |
//! | `pod_task` | a pod (JSON) → the framework's placement and TaskInfo → the executor's pod decoding |
//! | `pod_payload` | `TaskInfo.data` → the executor's pod decoding → pod state machine, runtime settings, env, status |
//! | `quantity` | the one quantity parser both sides read requests and limits with (kube-mesos-node) |
//! | `selector` | label selectors (API server) and node-affinity requirements (framework) |

pub mod alloc;
pub mod mutate;
pub mod seeds;
pub mod targets;

/// A fuzz target.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("recordio", targets::recordio::run),
    ("scheduler_event", targets::scheduler_event::run),
    ("executor_event", targets::executor_event::run),
    ("pod_task", targets::pod_task::run),
    ("pod_payload", targets::pod_payload::run),
    ("quantity", targets::quantity::run),
    ("selector", targets::selector::run),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
