//! The environment a Mesos agent gives a custom executor.
//!
//! The agent starts the executor with `MESOS_*` variables naming the agent's
//! endpoint, the framework and executor IDs, the sandbox and the recovery
//! settings. They are parsed here once, from any `(key, value)` iterator (the
//! binary passes `std::env::vars()`, tests pass a map), into
//! [`ExecutorEnv`]. Which variables are required follows the Mesos executor
//! library (`src/executor/executor.cpp`): the recovery timeout and
//! subscription backoff only when checkpointing is on, the shutdown grace
//! period always. Unknown variables (`MESOS_HTTP_COMMAND_EXECUTOR`, ...) are
//! ignored.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kube_mesos_proto::v1::{ExecutorId, FrameworkId};
use url::Url;

use super::duration::{parse_duration, DurationParseError};

/// Path of the executor API on the agent.
pub const EXECUTOR_API_PATH: &str = "/api/v1/executor";

/// A missing or malformed variable; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A required variable is not set (or is empty).
    #[error("environment variable {name} is required but not set")]
    Missing {
        /// The variable.
        name: &'static str,
    },
    /// A variable is not `host:port`.
    #[error("environment variable {name}={value:?} is not a host:port endpoint")]
    InvalidEndpoint {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A duration variable does not parse.
    #[error("environment variable {name}={value:?} is not a Mesos duration")]
    InvalidDuration {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Parser error.
        #[source]
        source: DurationParseError,
    },
}

/// What the agent told the executor.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorEnv {
    /// `MESOS_AGENT_ENDPOINT`: the agent's `host:port`.
    pub agent_endpoint: String,
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: FrameworkId,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: ExecutorId,
    /// `MESOS_DIRECTORY`: the sandbox path on the host.
    pub directory: PathBuf,
    /// `MESOS_SANDBOX`: the sandbox path as the executor sees it; defaults to
    /// `directory` (they differ only inside a container image).
    pub sandbox: PathBuf,
    /// `MESOS_CHECKPOINT=1`: the framework checkpoints, so the executor
    /// survives an agent restart and must reconnect.
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT`: how long to try reconnecting to a restarting
    /// agent before giving up (required with checkpointing).
    pub recovery_timeout: Option<Duration>,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX`: upper bound of the random delay
    /// between resubscription attempts (required with checkpointing).
    pub subscription_backoff_max: Option<Duration>,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`: time the agent allows between
    /// SHUTDOWN and killing the executor.
    pub shutdown_grace_period: Duration,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`: sent as `Authorization: Bearer`
    /// when the agent requires executor authentication.
    pub authentication_token: Option<String>,
}

impl ExecutorEnv {
    /// Parses the executor environment from `(key, value)` pairs.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, EnvError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| k.starts_with("MESOS_"))
            .collect();
        let get = |name: &'static str| vars.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let require = |name: &'static str| get(name).ok_or(EnvError::Missing { name });
        let duration = |name: &'static str, value: &str| {
            parse_duration(value).map_err(|source| EnvError::InvalidDuration {
                name,
                value: value.to_string(),
                source,
            })
        };

        let agent_endpoint = require("MESOS_AGENT_ENDPOINT")?.to_string();
        validate_endpoint(&agent_endpoint).ok_or_else(|| EnvError::InvalidEndpoint {
            name: "MESOS_AGENT_ENDPOINT",
            value: agent_endpoint.clone(),
        })?;
        let framework_id = FrameworkId {
            value: require("MESOS_FRAMEWORK_ID")?.to_string(),
        };
        let executor_id = ExecutorId {
            value: require("MESOS_EXECUTOR_ID")?.to_string(),
        };
        let directory = PathBuf::from(require("MESOS_DIRECTORY")?);
        let sandbox = get("MESOS_SANDBOX")
            .map(PathBuf::from)
            .unwrap_or_else(|| directory.clone());
        let checkpoint = get("MESOS_CHECKPOINT") == Some("1");

        let optional_duration =
            |name: &'static str| get(name).map(|v| duration(name, v)).transpose();
        let mut recovery_timeout = optional_duration("MESOS_RECOVERY_TIMEOUT")?;
        let mut subscription_backoff_max = optional_duration("MESOS_SUBSCRIPTION_BACKOFF_MAX")?;
        if checkpoint {
            recovery_timeout = Some(recovery_timeout.ok_or(EnvError::Missing {
                name: "MESOS_RECOVERY_TIMEOUT",
            })?);
            subscription_backoff_max = Some(subscription_backoff_max.ok_or(EnvError::Missing {
                name: "MESOS_SUBSCRIPTION_BACKOFF_MAX",
            })?);
        }
        let shutdown_grace_period = duration(
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
            require("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")?,
        )?;
        let authentication_token = get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN").map(str::to_string);

        Ok(Self {
            agent_endpoint,
            framework_id,
            executor_id,
            directory,
            sandbox,
            checkpoint,
            recovery_timeout,
            subscription_backoff_max,
            shutdown_grace_period,
            authentication_token,
        })
    }

    /// `http://<agent endpoint>/api/v1/executor`.
    pub fn agent_url(&self) -> Result<Url, EnvError> {
        validate_endpoint(&self.agent_endpoint).ok_or_else(|| EnvError::InvalidEndpoint {
            name: "MESOS_AGENT_ENDPOINT",
            value: self.agent_endpoint.clone(),
        })
    }
}

/// `host:port` → the executor API URL, or `None` when it is not exactly that.
fn validate_endpoint(endpoint: &str) -> Option<Url> {
    if endpoint.contains(['/', '@', '?', '#']) {
        return None;
    }
    let url = Url::parse(&format!("http://{endpoint}{EXECUTOR_API_PATH}")).ok()?;
    (url.host().is_some() && url.port().is_some()).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("MESOS_AGENT_ENDPOINT", "10.0.0.5:5051"),
            ("MESOS_FRAMEWORK_ID", "fw-1"),
            ("MESOS_EXECUTOR_ID", "kube-mesos-abc"),
            ("MESOS_DIRECTORY", "/var/lib/mesos/sandbox"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
            ("MESOS_HTTP_COMMAND_EXECUTOR", "0"),
            ("PATH", "/usr/bin"),
        ]
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = base();
        for (k, v) in extra {
            vars.retain(|(key, _)| key != k);
            vars.push((k, v));
        }
        vars
    }

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        base().into_iter().filter(|(k, _)| *k != name).collect()
    }

    #[test]
    fn parses_a_minimal_environment() {
        let env = ExecutorEnv::from_vars(base()).unwrap();
        assert_eq!(env.agent_endpoint, "10.0.0.5:5051");
        assert_eq!(env.framework_id.value, "fw-1");
        assert_eq!(env.executor_id.value, "kube-mesos-abc");
        assert_eq!(env.sandbox, env.directory);
        assert!(!env.checkpoint);
        assert_eq!(env.recovery_timeout, None);
        assert_eq!(env.shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(
            env.agent_url().unwrap().as_str(),
            "http://10.0.0.5:5051/api/v1/executor"
        );
    }

    #[test]
    fn parses_checkpointing_settings() {
        let env = ExecutorEnv::from_vars(with(&[
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "15mins"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
            ("MESOS_SANDBOX", "/mnt/mesos/sandbox"),
            ("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "tok"),
        ]))
        .unwrap();
        assert!(env.checkpoint);
        assert_eq!(env.recovery_timeout, Some(Duration::from_secs(900)));
        assert_eq!(env.subscription_backoff_max, Some(Duration::from_secs(2)));
        assert_eq!(env.sandbox, PathBuf::from("/mnt/mesos/sandbox"));
        assert_eq!(env.authentication_token.as_deref(), Some("tok"));
    }

    #[test]
    fn checkpoint_other_than_one_is_off() {
        let env = ExecutorEnv::from_vars(with(&[("MESOS_CHECKPOINT", "true")])).unwrap();
        assert!(!env.checkpoint);
    }

    #[test]
    fn every_required_variable_is_named_when_missing() {
        for name in [
            "MESOS_AGENT_ENDPOINT",
            "MESOS_FRAMEWORK_ID",
            "MESOS_EXECUTOR_ID",
            "MESOS_DIRECTORY",
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
        ] {
            let error = ExecutorEnv::from_vars(without(name)).unwrap_err();
            assert_eq!(error, EnvError::Missing { name });
            assert!(error.to_string().contains(name));
        }
    }

    #[test]
    fn checkpointing_requires_recovery_settings() {
        let error = ExecutorEnv::from_vars(with(&[
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
        ]))
        .unwrap_err();
        assert_eq!(
            error,
            EnvError::Missing {
                name: "MESOS_RECOVERY_TIMEOUT"
            }
        );
        let error = ExecutorEnv::from_vars(with(&[
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "15mins"),
        ]))
        .unwrap_err();
        assert_eq!(
            error,
            EnvError::Missing {
                name: "MESOS_SUBSCRIPTION_BACKOFF_MAX"
            }
        );
    }

    #[test]
    fn malformed_values_are_named() {
        for endpoint in ["agent", "http://a:5051", "a:5051/x", ""] {
            let error =
                ExecutorEnv::from_vars(with(&[("MESOS_AGENT_ENDPOINT", endpoint)])).unwrap_err();
            assert!(
                error.to_string().contains("MESOS_AGENT_ENDPOINT"),
                "{endpoint}: {error}"
            );
        }
        let error = ExecutorEnv::from_vars(with(&[("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5")]))
            .unwrap_err();
        assert!(matches!(
            error,
            EnvError::InvalidDuration {
                name: "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                ..
            }
        ));
        let error = ExecutorEnv::from_vars(with(&[
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "15minutes"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("MESOS_RECOVERY_TIMEOUT"));
    }

    #[test]
    fn ipv6_endpoint() {
        let env = ExecutorEnv::from_vars(with(&[("MESOS_AGENT_ENDPOINT", "[::1]:5051")])).unwrap();
        assert_eq!(
            env.agent_url().unwrap().as_str(),
            "http://[::1]:5051/api/v1/executor"
        );
    }
}
