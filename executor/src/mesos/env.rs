//! The environment a Mesos agent gives a custom executor.
//!
//! The agent starts the executor with `MESOS_*` variables naming the agent's
//! libprocess PID, the framework and executor IDs, the sandbox and the
//! recovery settings, and passes on its own environment (with libprocess'
//! `LIBPROCESS_SSL_*` settings). They are parsed here once, from any
//! `(key, value)` iterator (the binary passes `std::env::vars()`, tests pass
//! a map), into [`ExecutorEnv`]. Which variables are required follows the
//! Mesos executor library (`src/executor/executor.cpp`): `MESOS_SLAVE_PID`
//! (the agent's address, see [`super::agent_address`]; `MESOS_AGENT_ENDPOINT`
//! is not used, as the library does not), the recovery timeout and
//! subscription backoff only when checkpointing is on, the shutdown grace
//! period always. Unknown variables (`MESOS_HTTP_COMMAND_EXECUTOR`, ...) are
//! ignored.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kube_mesos_proto::v1::{ExecutorId, FrameworkId};
use url::Url;

use super::agent_address::{agent_tls, AgentPid, AgentTls};
use super::duration::{parse_duration, DurationParseError};

/// A missing or malformed variable; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A required variable is not set (or is empty).
    #[error("environment variable {name} is required but not set")]
    Missing {
        /// The variable.
        name: &'static str,
    },
    /// A variable is not a libprocess PID (`slave(1)@10.0.0.5:5051`).
    #[error("environment variable {name}={value:?} is not a libprocess PID <id>@<ip>:<port>")]
    InvalidPid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A boolean libprocess flag is not `true`, `false`, `1`, `0` or empty.
    #[error("environment variable {name}={value:?} is not a boolean (true, false, 1, 0)")]
    InvalidBool {
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
    /// `MESOS_SLAVE_PID`: the agent's libprocess PID, which names the
    /// executor API (`http://<ip>:<port>/slave(1)/api/v1/executor`).
    pub agent_pid: AgentPid,
    /// TLS to the agent when libprocess SSL is enabled (`https`); `None`
    /// for `http`.
    pub agent_tls: Option<AgentTls>,
    /// `MESOS_DOMAIN_SOCKET`: the agent's executor socket
    /// (`--http_executor_domain_sockets`). Not spoken; the TCP address is
    /// used (see [`super::agent_address`]).
    pub domain_socket: Option<PathBuf>,
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
            .filter(|(k, _)| {
                ["MESOS_", "LIBPROCESS_SSL_", "SSL_"]
                    .iter()
                    .any(|p| k.starts_with(p))
            })
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

        let pid = require("MESOS_SLAVE_PID")?;
        let agent_pid = AgentPid::parse(pid)
            .filter(|p| p.executor_api_url(false).is_some())
            .ok_or_else(|| EnvError::InvalidPid {
                name: "MESOS_SLAVE_PID",
                value: pid.to_string(),
            })?;
        let agent_tls = agent_tls(&vars)?;
        let domain_socket = get("MESOS_DOMAIN_SOCKET").map(PathBuf::from);
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
            agent_pid,
            agent_tls,
            domain_socket,
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

    /// The agent's executor API URL, as Mesos' executor library builds it:
    /// `http(s)://<ip>:<port>/<pid id>/api/v1/executor`.
    pub fn agent_url(&self) -> Result<Url, EnvError> {
        self.agent_pid
            .executor_api_url(self.agent_tls.is_some())
            .ok_or_else(|| EnvError::InvalidPid {
                name: "MESOS_SLAVE_PID",
                value: format!(
                    "{}@{}:{}",
                    self.agent_pid.id, self.agent_pid.host, self.agent_pid.port
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("MESOS_AGENT_ENDPOINT", "10.0.0.5:5051"),
            ("MESOS_SLAVE_PID", "slave(1)@10.0.0.5:5051"),
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
        assert_eq!(env.agent_pid.id, "slave(1)");
        assert_eq!(env.framework_id.value, "fw-1");
        assert_eq!(env.executor_id.value, "kube-mesos-abc");
        assert_eq!(env.sandbox, env.directory);
        assert!(!env.checkpoint);
        assert_eq!(env.recovery_timeout, None);
        assert_eq!(env.shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(
            env.agent_url().unwrap().as_str(),
            "http://10.0.0.5:5051/slave(1)/api/v1/executor"
        );
        assert_eq!(env.agent_tls, None);
        assert_eq!(env.domain_socket, None);
    }

    /// Regression: in a process that runs a master and an agent (mesos-local)
    /// `MESOS_AGENT_ENDPOINT` + `/api/v1/executor` reaches the master (400
    /// "Failed to parse body into Call protobuf"). The library uses the PID.
    #[test]
    fn the_agent_url_comes_from_the_pid_not_the_endpoint() {
        let env = ExecutorEnv::from_vars(with(&[
            ("MESOS_AGENT_ENDPOINT", "10.0.0.9:5050"),
            ("MESOS_SLAVE_PID", "slave(3)@10.0.0.5:5051"),
        ]))
        .unwrap();
        assert_eq!(
            env.agent_url().unwrap().as_str(),
            "http://10.0.0.5:5051/slave(3)/api/v1/executor"
        );
        // Without the PID there is no fallback, as in the library.
        assert_eq!(
            ExecutorEnv::from_vars(without("MESOS_SLAVE_PID")).unwrap_err(),
            EnvError::Missing {
                name: "MESOS_SLAVE_PID"
            }
        );
        // MESOS_AGENT_ENDPOINT is not needed.
        assert!(ExecutorEnv::from_vars(without("MESOS_AGENT_ENDPOINT")).is_ok());
    }

    #[test]
    fn libprocess_ssl_makes_the_url_https() {
        let env = ExecutorEnv::from_vars(with(&[
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_VERIFY_SERVER_CERT", "true"),
            ("LIBPROCESS_SSL_CA_FILE", "/etc/mesos/ca.pem"),
            ("MESOS_DOMAIN_SOCKET", "/run/mesos/agent.sock"),
        ]))
        .unwrap();
        assert_eq!(
            env.agent_url().unwrap().as_str(),
            "https://10.0.0.5:5051/slave(1)/api/v1/executor"
        );
        let tls = env.agent_tls.unwrap();
        assert!(tls.verify_server_cert);
        assert_eq!(tls.ca_file, Some(PathBuf::from("/etc/mesos/ca.pem")));
        assert_eq!(
            env.domain_socket,
            Some(PathBuf::from("/run/mesos/agent.sock"))
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
            "MESOS_SLAVE_PID",
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
        for pid in ["agent", "slave(1)@a", "10.0.0.5:5051", "slave(1)@a b:5051"] {
            let error = ExecutorEnv::from_vars(with(&[("MESOS_SLAVE_PID", pid)])).unwrap_err();
            assert!(
                error.to_string().contains("MESOS_SLAVE_PID"),
                "{pid}: {error}"
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
    fn ipv6_pid() {
        let env =
            ExecutorEnv::from_vars(with(&[("MESOS_SLAVE_PID", "slave(1)@[::1]:5051")])).unwrap();
        assert_eq!(
            env.agent_url().unwrap().as_str(),
            "http://[::1]:5051/slave(1)/api/v1/executor"
        );
    }
}
