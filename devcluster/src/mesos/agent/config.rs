//! The agent's configuration: the subset of the real agent's flags the
//! devcluster honours, as a value (STYLE 7) that tests build directly.
//!
//! Defaults are Mesos' own (apache/mesos `src/slave/constants.hpp` and
//! `src/slave/flags.cpp`), so an executor sees the same timeouts it would see
//! on a real agent unless a test shortens them.

use std::path::PathBuf;
use std::time::Duration;

use kube_mesos_proto::v1::{domain_info, Attribute, DomainInfo, Resource};

use super::resources::{parse_attributes, parse_resources, ParseError};

/// Configuration of one devcluster agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Hostname reported in `AgentInfo` (and the Kubernetes node name).
    pub hostname: String,
    /// Total resources (`--resources`); see [`AgentConfig::with_resources`].
    pub resources: Vec<Resource>,
    /// Attributes (`--attributes`).
    pub attributes: Vec<Attribute>,
    /// Fault domain (`--domain`): region and zone.
    pub domain: Option<DomainInfo>,
    /// Work directory (`--work_dir`): sandboxes under `slaves/`, checkpoints
    /// under `meta/`. Reusing it across a restart is what lets the agent
    /// recover.
    pub work_dir: PathBuf,
    /// Whether the agent checkpoints at all. Real agents always do; only
    /// frameworks with `checkpoint: true` are recovered. Default true.
    pub checkpoint: bool,
    /// `--executor_registration_timeout`, default 1 min: an executor that
    /// never subscribes is killed and its tasks fail.
    pub executor_registration_timeout: Duration,
    /// `--executor_reregistration_timeout`, default 2 secs: after an agent
    /// restart, how long recovered executors have to resubscribe.
    pub executor_reregistration_timeout: Duration,
    /// `--executor_shutdown_grace_period`, default 5 secs (overridden by
    /// `ExecutorInfo.shutdown_grace_period`).
    pub executor_shutdown_grace_period: Duration,
    /// `--recovery_timeout`, default 15 mins: passed to executors as
    /// `MESOS_RECOVERY_TIMEOUT` (how long they wait for a restarting agent).
    pub recovery_timeout: Duration,
    /// Passed to executors as `MESOS_SUBSCRIPTION_BACKOFF_MAX`, default 2 secs.
    pub subscription_backoff_max: Duration,
    /// First retry interval of unacknowledged status updates, 10 secs in
    /// Mesos (`STATUS_UPDATE_RETRY_INTERVAL_MIN`).
    pub status_update_retry_min: Duration,
    /// Largest retry interval, 10 mins in Mesos (`..._MAX`).
    pub status_update_retry_max: Duration,
    /// How long to wait before registering again when the master is away or
    /// refused us. Default 1 sec (Mesos' `--registration_backoff_factor`).
    pub registration_backoff: Duration,
    /// How often recovered executors (not our children any more) are
    /// checked for liveness. Default 500 ms.
    pub executor_liveness_poll: Duration,
    /// Largest request body on the executor API; bigger ones get 413.
    /// Default 16 MiB.
    pub max_request_body_bytes: usize,
    /// `--executor_environment_variables`: variables every executor of this
    /// agent gets (per-agent settings such as a state directory). Default
    /// none. Unlike Mesos, which then stops passing the agent's own
    /// environment, they are added to it; `MESOS_*` variables and the
    /// executor's `CommandInfo.environment` override them.
    pub executor_environment: Vec<(String, String)>,
}

impl AgentConfig {
    /// A configuration with Mesos' defaults, no resources and no attributes.
    pub fn new(hostname: impl Into<String>, work_dir: impl Into<PathBuf>) -> Self {
        AgentConfig {
            hostname: hostname.into(),
            resources: Vec::new(),
            attributes: Vec::new(),
            domain: None,
            work_dir: work_dir.into(),
            checkpoint: true,
            executor_registration_timeout: Duration::from_secs(60),
            executor_reregistration_timeout: Duration::from_secs(2),
            executor_shutdown_grace_period: Duration::from_secs(5),
            recovery_timeout: Duration::from_secs(15 * 60),
            subscription_backoff_max: Duration::from_secs(2),
            status_update_retry_min: Duration::from_secs(10),
            status_update_retry_max: Duration::from_secs(600),
            registration_backoff: Duration::from_secs(1),
            executor_liveness_poll: Duration::from_millis(500),
            max_request_body_bytes: 16 * 1024 * 1024,
            executor_environment: Vec::new(),
        }
    }

    /// Sets the resources from Mesos' text form (`cpus:4;mem:8192;...`).
    pub fn with_resources(mut self, text: &str) -> Result<Self, ParseError> {
        self.resources = parse_resources(text)?;
        Ok(self)
    }

    /// Sets the attributes from Mesos' text form (`rack:r1;zone:a`).
    pub fn with_attributes(mut self, text: &str) -> Result<Self, ParseError> {
        self.attributes = parse_attributes(text)?;
        Ok(self)
    }

    /// Sets the fault domain.
    pub fn with_fault_domain(mut self, region: &str, zone: &str) -> Self {
        self.domain = Some(DomainInfo {
            fault_domain: Some(domain_info::FaultDomain {
                region: domain_info::fault_domain::RegionInfo {
                    name: region.to_owned(),
                },
                zone: domain_info::fault_domain::ZoneInfo {
                    name: zone.to_owned(),
                },
            }),
        });
        self
    }
}

/// Writes a duration as stout's `Duration` does (`5secs`, `15mins`,
/// `1.5hrs`, `200ms`): the largest unit not bigger than the value.
pub fn mesos_duration(duration: Duration) -> String {
    const UNITS: [(u128, &str); 8] = [
        (7 * 24 * 3600 * 1_000_000_000, "weeks"),
        (24 * 3600 * 1_000_000_000, "days"),
        (3600 * 1_000_000_000, "hrs"),
        (60 * 1_000_000_000, "mins"),
        (1_000_000_000, "secs"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let nanos = duration.as_nanos();
    for (unit, name) in UNITS {
        if nanos >= unit || unit == 1 {
            let value = nanos as f64 / unit as f64;
            return format!("{value}{name}");
        }
    }
    "0ns".to_owned()
}

/// Converts a Mesos `DurationInfo` into a duration (negative → zero).
pub fn from_duration_info(nanoseconds: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanoseconds).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_stout() {
        assert_eq!(mesos_duration(Duration::from_secs(5)), "5secs");
        assert_eq!(mesos_duration(Duration::from_secs(15 * 60)), "15mins");
        assert_eq!(mesos_duration(Duration::from_secs(2)), "2secs");
        assert_eq!(mesos_duration(Duration::from_secs(90)), "1.5mins");
        assert_eq!(mesos_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(mesos_duration(Duration::from_secs(3600)), "1hrs");
        assert_eq!(mesos_duration(Duration::ZERO), "0ns");
    }

    #[test]
    fn defaults_are_mesos_defaults() {
        let c = AgentConfig::new("h", "/tmp/x");
        assert_eq!(c.executor_registration_timeout, Duration::from_secs(60));
        assert_eq!(c.executor_shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(c.recovery_timeout, Duration::from_secs(900));
        assert_eq!(c.subscription_backoff_max, Duration::from_secs(2));
        let c = c
            .with_resources("cpus:1")
            .and_then(|c| c.with_attributes("rack:r1"))
            .expect("parses")
            .with_fault_domain("eu", "eu-1a");
        assert_eq!(c.resources.len(), 1);
        assert_eq!(c.attributes.len(), 1);
        assert!(c.domain.is_some());
    }
}
