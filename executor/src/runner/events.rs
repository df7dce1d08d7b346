//! Pod events, as the kubelet records them (`pkg/kubelet/events/event.go`
//! reasons, messages of `kuberuntime_container.go`, `images/image_manager.go`,
//! `prober/prober.go`).
//!
//! The runner only says *what* happened through the [`EventRecorder`]
//! trait; writing core/v1 Events to the API server (with the kubelet's
//! source, naming and count aggregation) is the Kubernetes side's job
//! (`crate::kube::events`), and tests collect them in memory. The
//! constructors here hold the kubelet's exact wording so both the worker and
//! its tests use one spelling.

use k8s_openapi::api::core::v1 as core;

use crate::runner::cri::image;
use crate::runner::pod::probe::ProbeKind;

/// `v1.EventTypeNormal` / `v1.EventTypeWarning` (the contract's: the
/// framework writes the same).
pub use kube_mesos_node::events::EventType;

/// One event about a pod (or one of its containers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodEvent {
    /// Normal or Warning.
    pub event_type: EventType,
    /// Kubelet reason (`Started`, `BackOff`, ...).
    pub reason: &'static str,
    /// Kubelet message.
    pub message: String,
    /// `involvedObject.fieldPath`: `spec.containers{name}` or
    /// `spec.initContainers{name}` for container events, empty for the pod.
    pub field_path: String,
}

/// Where pod events go. Must not block: implementations queue.
pub trait EventRecorder: Send + Sync {
    /// Records `event` about `pod`.
    fn record(&self, pod: &core::Pod, event: PodEvent);
}

/// A recorder that drops everything (tests that don't look at events).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventRecorder for NoEvents {
    fn record(&self, _: &core::Pod, _: PodEvent) {}
}

/// Kubelet reasons (`pkg/kubelet/events/event.go`).
pub mod reason {
    /// Container created.
    pub const CREATED: &str = "Created";
    /// Container started.
    pub const STARTED: &str = "Started";
    /// Creating or starting a container failed; also image errors.
    pub const FAILED: &str = "Failed";
    /// Container being stopped.
    pub const KILLING: &str = "Killing";
    /// Crash loop or image pull back-off.
    pub const BACK_OFF: &str = "BackOff";
    /// A probe failed.
    pub const UNHEALTHY: &str = "Unhealthy";
    /// A volume could not be set up.
    pub const FAILED_MOUNT: &str = "FailedMount";
    /// The pod sandbox could not be created (`events.FailedCreatePodSandBox`).
    pub const FAILED_CREATE_POD_SANDBOX: &str = "FailedCreatePodSandBox";
    /// Absent image under `imagePullPolicy: Never`.
    pub const ERR_IMAGE_NEVER_PULL: &str = "ErrImageNeverPull";
    /// `ImageStatus` failed.
    pub const INSPECT_FAILED: &str = "InspectFailed";
    /// The postStart hook failed.
    pub const FAILED_POST_START_HOOK: &str = "FailedPostStartHook";
    /// Not the kubelet's: a container died with the pod's executor (the
    /// Mesos agent destroys an exited executor's container, and the process
    /// runtime's containers with it). Also the container's terminated reason.
    pub const EXECUTOR_LOST: &str = "ExecutorLost";
    /// Not the kubelet's: the executor's worker for the pod failed (a bug)
    /// and takes the pod over again.
    pub const POD_WORKER_FAILED: &str = "PodWorkerFailed";
}

/// `spec.containers{name}` / `spec.initContainers{name}`, the kubelet's
/// container reference field path.
pub fn field_path(name: &str, init: bool) -> String {
    if init {
        format!("spec.initContainers{{{name}}}")
    } else {
        format!("spec.containers{{{name}}}")
    }
}

fn ev(event_type: EventType, reason: &'static str, message: String, path: String) -> PodEvent {
    PodEvent {
        event_type,
        reason,
        message,
        field_path: path,
    }
}

/// `Created` (Normal), "Container created".
pub fn created(name: &str, init: bool) -> PodEvent {
    ev(
        EventType::Normal,
        reason::CREATED,
        "Container created".into(),
        field_path(name, init),
    )
}

/// `Started` (Normal), "Container started".
pub fn started(name: &str, init: bool) -> PodEvent {
    ev(
        EventType::Normal,
        reason::STARTED,
        "Container started".into(),
        field_path(name, init),
    )
}

/// `Killing` (Normal): "Stopping container x", or for a failed liveness /
/// startup probe "Container x failed liveness probe, will be restarted".
pub fn killing(name: &str, init: bool, probe: Option<ProbeKind>) -> PodEvent {
    let message = match probe {
        Some(kind) => format!(
            "Container {name} failed {} probe, will be restarted",
            kind.as_str().to_lowercase()
        ),
        None => format!("Stopping container {name}"),
    };
    ev(
        EventType::Normal,
        reason::KILLING,
        message,
        field_path(name, init),
    )
}

/// `FailedPostStartHook` (Warning) with the hook's output.
pub fn failed_post_start(name: &str, init: bool, output: &str) -> PodEvent {
    ev(
        EventType::Warning,
        reason::FAILED_POST_START_HOOK,
        output.to_string(),
        field_path(name, init),
    )
}

/// `BackOff` (Warning): "Back-off restarting failed container x in pod
/// name_namespace(uid)".
pub fn crash_back_off(name: &str, init: bool, pod_ref: &str) -> PodEvent {
    ev(
        EventType::Warning,
        reason::BACK_OFF,
        format!("Back-off restarting failed container {name} in pod {pod_ref}"),
        field_path(name, init),
    )
}

/// `ExecutorLost` (Warning): container `name` died with the pod's executor
/// (`why`: what Mesos said), and whether it restarts.
pub fn executor_lost(name: &str, init: bool, why: &str, restarting: bool) -> PodEvent {
    let then = if restarting {
        "restarting it"
    } else {
        "not restarted (restartPolicy Never)"
    };
    ev(
        EventType::Warning,
        reason::EXECUTOR_LOST,
        format!("Container {name} was lost with the pod's executor ({why}); {then}"),
        field_path(name, init),
    )
}

/// `PodWorkerFailed` (Warning) on the pod: the executor's worker for it
/// failed with `why` and takes the pod over again after `pause`.
pub fn worker_failed(why: &str, pause: std::time::Duration) -> PodEvent {
    ev(
        EventType::Warning,
        reason::POD_WORKER_FAILED,
        format!(
            "The executor's worker for this pod failed ({why}); it takes the pod over again in {}s, its containers left running",
            pause.as_secs()
        ),
        String::new(),
    )
}

/// `Unhealthy` (Warning): "Liveness probe failed: <output>".
pub fn unhealthy(name: &str, init: bool, kind: ProbeKind, output: &str) -> PodEvent {
    ev(
        EventType::Warning,
        reason::UNHEALTHY,
        format!("{} probe failed: {}", kind.as_str(), output.trim_end()),
        field_path(name, init),
    )
}

/// `FailedMount` (Warning) on the pod with the volume error.
pub fn failed_mount(message: &str) -> PodEvent {
    ev(
        EventType::Warning,
        reason::FAILED_MOUNT,
        message.to_string(),
        String::new(),
    )
}

/// `FailedCreatePodSandBox` (Warning) on the pod.
pub fn failed_sandbox(message: &str) -> PodEvent {
    ev(
        EventType::Warning,
        reason::FAILED_CREATE_POD_SANDBOX,
        message.to_string(),
        String::new(),
    )
}

/// The events of a container whose start failed with the kubelet waiting
/// `reason` and `message` (`startContainer`): the image manager's own event
/// for image errors, then `Failed` "Error: <reason or message>" as
/// `recordContainerEvent(..., "Error: %v", ...)` does.
pub fn start_failed(
    name: &str,
    init: bool,
    image_ref: &str,
    waiting_reason: &str,
    message: &str,
) -> Vec<PodEvent> {
    let path = field_path(name, init);
    let error = |what: &str| {
        ev(
            EventType::Warning,
            reason::FAILED,
            format!("Error: {what}"),
            path.clone(),
        )
    };
    match waiting_reason {
        image::ERR_IMAGE_PULL => vec![
            ev(
                EventType::Warning,
                reason::FAILED,
                format!("Failed to pull image {image_ref:?}: {message}"),
                path.clone(),
            ),
            error(waiting_reason),
        ],
        image::IMAGE_PULL_BACK_OFF => vec![
            ev(
                EventType::Normal,
                reason::BACK_OFF,
                message.to_string(),
                path.clone(),
            ),
            error(waiting_reason),
        ],
        image::ERR_IMAGE_NEVER_PULL => vec![
            ev(
                EventType::Warning,
                reason::ERR_IMAGE_NEVER_PULL,
                message.to_string(),
                path.clone(),
            ),
            error(waiting_reason),
        ],
        image::IMAGE_INSPECT_ERROR => vec![
            ev(
                EventType::Warning,
                reason::INSPECT_FAILED,
                message.to_string(),
                path.clone(),
            ),
            error(waiting_reason),
        ],
        image::INVALID_IMAGE_NAME => vec![
            ev(
                EventType::Warning,
                reason::FAILED,
                message.to_string(),
                path.clone(),
            ),
            error(waiting_reason),
        ],
        // CreateContainerConfigError, CreateContainerError, RunContainerError.
        _ => vec![error(message)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_wording() {
        assert_eq!(field_path("app", false), "spec.containers{app}");
        assert_eq!(field_path("setup", true), "spec.initContainers{setup}");
        assert_eq!(
            killing("web", false, Some(ProbeKind::Liveness)).message,
            "Container web failed liveness probe, will be restarted"
        );
        assert_eq!(
            killing("web", false, None).message,
            "Stopping container web"
        );
        let b = crash_back_off("c", false, "p_ns(u1)");
        assert_eq!(
            (b.event_type, b.reason, b.message.as_str()),
            (
                EventType::Warning,
                "BackOff",
                "Back-off restarting failed container c in pod p_ns(u1)"
            )
        );
        assert_eq!(
            unhealthy("c", false, ProbeKind::Readiness, "boom\n").message,
            "Readiness probe failed: boom"
        );
    }

    #[test]
    fn image_errors_give_the_image_managers_event_then_error() {
        let e = start_failed("c", false, "busybox:9", "ErrImagePull", "not found");
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[0].message,
            "Failed to pull image \"busybox:9\": not found"
        );
        assert_eq!(
            (e[1].reason, e[1].message.as_str()),
            ("Failed", "Error: ErrImagePull")
        );
        let e = start_failed(
            "c",
            false,
            "busybox:9",
            "ImagePullBackOff",
            "Back-off pulling image \"busybox:9\"",
        );
        assert_eq!(
            (e[0].event_type, e[0].reason),
            (EventType::Normal, "BackOff")
        );
        assert_eq!(e[1].message, "Error: ImagePullBackOff");
        let e = start_failed(
            "c",
            true,
            "x",
            "CreateContainerConfigError",
            "secret \"s\" not found",
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].message, "Error: secret \"s\" not found");
        assert_eq!(e[0].field_path, "spec.initContainers{c}");
    }
}
