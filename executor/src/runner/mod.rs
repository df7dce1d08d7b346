//! The pod runner: the kubelet's semantics for the pods an executor runs.
//!
//! It is independent of Mesos and of the API server on purpose: the Mesos
//! executor client feeds it pods and kills, the status writer follows its
//! status snapshots, and containers are run through the [`runtime::Runtime`]
//! trait (the `process` runtime here, the CRI runtime in `cri`).
//!
//! - [`runtime`]: the CRI-shaped runtime trait.
//! - [`process`]: the image-less host-process runtime (CRI logs, process
//!   groups, state files for re-adoption).
//! - [`pod`]: one pod's life — the pure state machine (`pod::machine::step`),
//!   CrashLoopBackOff, probes, and the async `pod::worker::PodWorker`.
//! - [`status`]: the API `PodStatus`, a pure function of the runner's state.
//! - [`env`]: container environment resolution and `$(VAR)` expansion.
//! - [`events`]: the kubelet's pod events, through an `EventRecorder`.
//! - [`volumes`]: volumes materialized into the pod sandbox.
//! - [`spec`]: the runtime settings (network, DNS, ports, resources,
//!   security, pull secrets) of a pod and its containers, for any runtime.
//!
//! Errors are one enum per module (`RuntimeError`, `EnvError`,
//! `VolumeError`): a runtime error maps to a container state the kubelet
//! would show, env and volume errors to `CreateContainerConfigError` and
//! FailedMount; fetch failures (`FetchFailed`) are the retryable ones and are
//! retried by the state machine's timers.

pub mod cri;
pub mod env;
pub mod events;
pub mod pod;
pub mod process;
pub mod runtime;
pub mod security;
pub mod spec;
pub mod status;
pub mod volumes;

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary (names cut to fit a file or object name).
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    let end = s
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|end| *end <= max)
        .last()
        .unwrap_or(0);
    &s[..end]
}
