//! Probe settings and the kubelet's threshold logic (`pkg/kubelet/prober/worker.go`).
//!
//! Pure: the state machine decides when a probe runs and feeds results here;
//! running the probe (exec / HTTP / TCP) is the worker's job.
//!
//! Kubelet rules kept:
//! - defaults: initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1,
//!   successThreshold 1, failureThreshold 3;
//! - initial results: readiness Failure, liveness Success, startup Unknown;
//! - a result only changes after `successThreshold` consecutive successes or
//!   `failureThreshold` consecutive failures;
//! - after a liveness or startup failure the probe is on hold until the
//!   container restarts (kubelet #21751).

use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    /// `startupProbe`.
    Startup,
    /// `livenessProbe`.
    Liveness,
    /// `readinessProbe`.
    Readiness,
}

impl ProbeKind {
    /// The kubelet's word for it in events and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// How a probe (or a lifecycle hook) is performed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// Run a command in the container; success is exit code 0.
    Exec {
        /// Command.
        command: Vec<String>,
    },
    /// HTTP GET; success is a status in 200..400.
    HttpGet {
        /// `HTTP` or `HTTPS`.
        scheme: String,
        /// Host; empty means the pod IP.
        host: String,
        /// Port, named ports resolved.
        port: u16,
        /// Path.
        path: String,
        /// Extra headers.
        headers: Vec<(String, String)>,
    },
    /// TCP connect; success is an established connection.
    TcpSocket {
        /// Host; empty means the pod IP.
        host: String,
        /// Port, named ports resolved.
        port: u16,
    },
    /// A handler we cannot run (gRPC, sleep, unresolvable named port): always fails.
    Unsupported(String),
}

/// Resolves an `IntOrString` port against the container's named ports.
pub fn resolve_port(port: &IntOrString, container: &core::Container) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok(),
        IntOrString::String(name) => {
            if let Ok(p) = name.parse::<u16>() {
                return Some(p);
            }
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
        }
    }
}

fn http_handler(h: &core::HTTPGetAction, container: &core::Container) -> Handler {
    match resolve_port(&h.port, container) {
        Some(port) => Handler::HttpGet {
            scheme: h.scheme.clone().unwrap_or_else(|| "HTTP".into()),
            host: h.host.clone().unwrap_or_default(),
            port,
            path: h.path.clone().unwrap_or_else(|| "/".into()),
            headers: h
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        },
        None => Handler::Unsupported(format!("port {:?} not found", h.port)),
    }
}

/// The handler of a probe.
pub fn probe_handler(p: &core::Probe, container: &core::Container) -> Handler {
    if let Some(e) = &p.exec {
        Handler::Exec {
            command: e.command.clone().unwrap_or_default(),
        }
    } else if let Some(h) = &p.http_get {
        http_handler(h, container)
    } else if let Some(t) = &p.tcp_socket {
        match resolve_port(&t.port, container) {
            Some(port) => Handler::TcpSocket {
                host: t.host.clone().unwrap_or_default(),
                port,
            },
            None => Handler::Unsupported(format!("port {:?} not found", t.port)),
        }
    } else if p.grpc.is_some() {
        Handler::Unsupported("grpc probes are not supported by this runner".into())
    } else {
        Handler::Unsupported("probe has no handler".into())
    }
}

/// The handler of a lifecycle hook (`preStop` / `postStart`).
pub fn hook_handler(h: &core::LifecycleHandler, container: &core::Container) -> Handler {
    if let Some(e) = &h.exec {
        Handler::Exec {
            command: e.command.clone().unwrap_or_default(),
        }
    } else if let Some(g) = &h.http_get {
        http_handler(g, container)
    } else if let Some(s) = &h.sleep {
        Handler::Unsupported(format!("sleep {}s hooks are not supported", s.seconds))
    } else {
        Handler::Unsupported("hook has no handler".into())
    }
}

fn secs(v: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(v.and_then(|v| u64::try_from(v).ok()).unwrap_or(default))
}

fn count(v: Option<i32>, default: u32) -> u32 {
    v.and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// A probe with the kubelet's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Which probe.
    pub kind: ProbeKind,
    /// How to run it.
    pub handler: Handler,
    /// `initialDelaySeconds`, default 0.
    pub initial_delay: Duration,
    /// `periodSeconds`, default 10.
    pub period: Duration,
    /// `timeoutSeconds`, default 1.
    pub timeout: Duration,
    /// `successThreshold`, default 1.
    pub success_threshold: u32,
    /// `failureThreshold`, default 3.
    pub failure_threshold: u32,
    /// `terminationGracePeriodSeconds` of the probe (liveness/startup only).
    pub termination_grace: Option<Duration>,
}

impl ProbeSpec {
    /// Builds the spec of `probe` on `container`.
    pub fn new(kind: ProbeKind, probe: &core::Probe, container: &core::Container) -> Self {
        Self {
            kind,
            handler: probe_handler(probe, container),
            initial_delay: secs(probe.initial_delay_seconds, 0),
            period: secs(probe.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: secs(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: count(probe.success_threshold, 1),
            failure_threshold: count(probe.failure_threshold, 3),
            termination_grace: probe
                .termination_grace_period_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs),
        }
    }
}

/// A probe's accumulated result for the current container instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTracker {
    /// Settings.
    pub spec: ProbeSpec,
    /// Current result: `None` is Unknown.
    pub result: Option<bool>,
    last: Option<bool>,
    run: u32,
    /// Stopped after a liveness/startup failure until the container restarts.
    pub on_hold: bool,
}

impl ProbeTracker {
    /// A tracker with the kubelet's initial value for the kind.
    pub fn new(spec: ProbeSpec) -> Self {
        let result = match spec.kind {
            ProbeKind::Readiness => Some(false),
            ProbeKind::Liveness => Some(true),
            ProbeKind::Startup => None,
        };
        Self {
            spec,
            result,
            last: None,
            run: 0,
            on_hold: false,
        }
    }

    /// Back to the initial value, for a new container instance.
    pub fn reset(&mut self) {
        *self = Self::new(self.spec.clone());
    }

    /// Feeds one probe outcome. Returns the new result when it changed.
    pub fn observe(&mut self, success: bool) -> Option<bool> {
        if self.last == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = if success {
            self.spec.success_threshold
        } else {
            self.spec.failure_threshold
        };
        if self.run < threshold {
            return None;
        }
        if !success && matches!(self.spec.kind, ProbeKind::Liveness | ProbeKind::Startup) {
            self.on_hold = true;
            self.run = 0;
        }
        let changed = self.result != Some(success);
        self.result = Some(success);
        changed.then_some(success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ProbeKind, success: i32, failure: i32) -> ProbeSpec {
        let probe = core::Probe {
            exec: Some(core::ExecAction {
                command: Some(vec!["true".into()]),
            }),
            success_threshold: Some(success),
            failure_threshold: Some(failure),
            ..Default::default()
        };
        ProbeSpec::new(kind, &probe, &core::Container::default())
    }

    #[test]
    fn defaults_are_the_kubelets() {
        let s = ProbeSpec::new(
            ProbeKind::Liveness,
            &core::Probe::default(),
            &core::Container::default(),
        );
        assert_eq!(s.initial_delay, Duration::ZERO);
        assert_eq!(s.period, Duration::from_secs(10));
        assert_eq!(s.timeout, Duration::from_secs(1));
        assert_eq!((s.success_threshold, s.failure_threshold), (1, 3));
    }

    #[test]
    fn thresholds_need_consecutive_results() {
        let mut r = ProbeTracker::new(spec(ProbeKind::Readiness, 2, 3));
        assert_eq!(r.result, Some(false));
        assert_eq!(r.observe(true), None);
        assert_eq!(r.observe(true), Some(true));
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(true), None); // streak broken
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(false), Some(false));
        assert!(!r.on_hold, "readiness keeps probing");

        let mut l = ProbeTracker::new(spec(ProbeKind::Liveness, 1, 2));
        assert_eq!(l.result, Some(true));
        assert_eq!(l.observe(false), None);
        assert_eq!(l.observe(false), Some(false));
        assert!(l.on_hold);
    }

    #[test]
    fn named_ports_resolve() {
        let c = core::Container {
            ports: Some(vec![core::ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Some(8080)
        );
        assert_eq!(resolve_port(&IntOrString::Int(81), &c), Some(81));
        assert_eq!(resolve_port(&IntOrString::String("nope".into()), &c), None);
    }
}
