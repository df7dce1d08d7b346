//! Starting and stopping custom executors as real processes.
//!
//! The real agent's POSIX launcher forks the executor as the leader of a
//! new session and process group, so that it outlives the agent (that is
//! what makes agent restarts recoverable) and so that destroying the
//! container finds everything it started ([`super::killtree`]). We do the
//! same: a Ctrl-C or a crash of the devcluster process does not take the
//! executors down. The environment is the one `Slave::executorEnvironment`
//! builds (apache/mesos `src/slave/slave.cpp`) and that the executor library
//! reads (`src/executor/executor.cpp`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use kube_mesos_proto::v1::{CommandInfo, ExecutorInfo, FrameworkInfo};

use super::config::{mesos_duration, AgentConfig};
use super::fetcher::{fetch_all, FetchError};

/// Why an executor could not be started. Not retryable: Mesos fails the
/// container launch (`REASON_CONTAINER_LAUNCH_FAILED`).
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The sandbox could not be created.
    #[error("creating the sandbox '{path}' failed")]
    SandboxFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Fetching a URI failed.
    #[error("fetching the executor's URIs failed")]
    FetchFailed(#[source] FetchError),
    /// The ExecutorInfo has no command to run.
    #[error("the executor has no command")]
    CommandMissing,
    /// Spawning the process failed.
    #[error("spawning the executor failed")]
    SpawnFailed(#[source] std::io::Error),
}

/// The sandbox path Mesos uses:
/// `<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>`.
pub fn sandbox_dir(
    work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> PathBuf {
    work_dir
        .join("slaves")
        .join(agent_id)
        .join("frameworks")
        .join(framework_id)
        .join("executors")
        .join(executor_id)
        .join("runs")
        .join(container_id)
}

/// The environment a real agent gives an executor.
pub fn executor_environment(
    config: &AgentConfig,
    addr: SocketAddr,
    agent_id: &str,
    framework: &FrameworkInfo,
    executor: &ExecutorInfo,
    directory: &Path,
) -> Vec<(String, String)> {
    let framework_id = framework
        .id
        .as_ref()
        .map(|f| f.value.clone())
        .unwrap_or_default();
    let checkpoint = config.checkpoint && framework.checkpoint.unwrap_or(false);
    let grace = executor
        .shutdown_grace_period
        .as_ref()
        .map(|d| super::config::from_duration_info(d.nanoseconds))
        .unwrap_or(config.executor_shutdown_grace_period);
    let directory = directory.display().to_string();
    // The agent's own variables first: later entries win.
    let mut env = config.executor_environment.clone();
    env.extend([
        ("MESOS_FRAMEWORK_ID".to_owned(), framework_id),
        (
            "MESOS_EXECUTOR_ID".to_owned(),
            executor.executor_id.value.clone(),
        ),
        ("MESOS_DIRECTORY".to_owned(), directory.clone()),
        ("MESOS_SANDBOX".to_owned(), directory),
        ("MESOS_SLAVE_ID".to_owned(), agent_id.to_owned()),
        ("MESOS_AGENT_ENDPOINT".to_owned(), addr.to_string()),
        (
            "MESOS_SLAVE_PID".to_owned(),
            format!("{}@{addr}", super::http::AGENT_PROCESS_ID),
        ),
        (
            "MESOS_CHECKPOINT".to_owned(),
            if checkpoint { "1" } else { "0" }.to_owned(),
        ),
        (
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".to_owned(),
            mesos_duration(grace),
        ),
        ("MESOS_HTTP_COMMAND_EXECUTOR".to_owned(), "0".to_owned()),
    ]);
    if checkpoint {
        env.push((
            "MESOS_RECOVERY_TIMEOUT".to_owned(),
            mesos_duration(config.recovery_timeout),
        ));
        env.push((
            "MESOS_SUBSCRIPTION_BACKOFF_MAX".to_owned(),
            mesos_duration(config.subscription_backoff_max),
        ));
    }
    if let Some(vars) = executor
        .command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
    {
        for var in &vars.variables {
            if let Some(value) = &var.value {
                env.push((var.name.clone(), value.clone()));
            }
        }
    }
    env
}

/// Creates the sandbox, fetches the URIs and spawns the command with its
/// output in the sandbox's `stdout` and `stderr`, as the leader of a new
/// session (and so of a new process group), as the POSIX launcher does.
pub async fn launch(
    command: &CommandInfo,
    env: &[(String, String)],
    directory: &Path,
) -> Result<tokio::process::Child, LaunchError> {
    tokio::fs::create_dir_all(directory)
        .await
        .map_err(|source| LaunchError::SandboxFailed {
            path: directory.to_path_buf(),
            source,
        })?;
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(directory.join(name))
            .map_err(|source| LaunchError::SandboxFailed {
                path: directory.join(name),
                source,
            })
    };
    let stdout = open("stdout")?;
    let stderr = open("stderr")?;
    fetch_all(&command.uris, directory)
        .await
        .map_err(LaunchError::FetchFailed)?;
    let value = command.value.clone().ok_or(LaunchError::CommandMissing)?;
    let mut cmd = if command.shell.unwrap_or(true) {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c").arg(&value);
        cmd
    } else {
        let mut cmd = tokio::process::Command::new(&value);
        if let Some((argv0, rest)) = command.arguments.split_first() {
            cmd.arg0(argv0).args(rest);
        }
        cmd
    };
    cmd.current_dir(directory)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(false);
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn().map_err(LaunchError::SpawnFailed)
}

/// Whether a process we did not spawn in this incarnation is still alive
/// (a zombie counts as dead).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the command name in parentheses.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::{environment, Environment, ExecutorId};

    #[test]
    fn agent_executor_environment_is_passed_and_overridden_by_the_executors_own() {
        let mut config = AgentConfig::new("h", "/tmp/w");
        config.executor_environment = vec![
            ("STATE_DIR".into(), "/agent-0".into()),
            ("SHARED".into(), "from-agent".into()),
            ("MESOS_SLAVE_ID".into(), "spoofed".into()),
        ];
        let executor = ExecutorInfo {
            executor_id: ExecutorId { value: "e".into() },
            command: Some(CommandInfo {
                environment: Some(Environment {
                    variables: vec![environment::Variable {
                        name: "SHARED".into(),
                        r#type: None,
                        value: Some("from-executor".into()),
                        secret: None,
                    }],
                }),
                ..CommandInfo::default()
            }),
            ..ExecutorInfo::default()
        };
        let env = executor_environment(
            &config,
            "127.0.0.1:5051".parse().unwrap(),
            "S1",
            &FrameworkInfo::default(),
            &executor,
            Path::new("/tmp/w/sandbox"),
        );
        // Later entries win, as `Command::envs` applies them in order.
        let last = |k: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(last("STATE_DIR"), Some("/agent-0"));
        assert_eq!(last("SHARED"), Some("from-executor"));
        assert_eq!(last("MESOS_SLAVE_ID"), Some("S1"));
    }
}
