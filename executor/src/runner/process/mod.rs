//! The `process` runtime: containers as plain host processes.
//!
//! It exists so that `kube-mesos local` works with no container runtime
//! installed. It runs **without images and without isolation**: a
//! container's `command` (or, when `command` is empty, its `args` taken as the
//! command line) is executed on the host, as the executor's user unless its
//! security context names another.
//!
//! Layout: the pod sandbox is `<root>/pods/<uid>/`; each container's state
//! file is `<sandbox>/containers/<id>.json`; volumes live in
//! `<sandbox>/volumes/<name>/` (see `runner::volumes`).
//!
//! Rules that replace what a container runtime would do:
//! - **Process group**: each container is its own process group
//!   (`process_group(0)`); stop signals go to the whole group, and when the
//!   main process exits the rest of the group is killed, as a PID namespace
//!   would.
//! - **Exit codes**: a process killed by signal N reports 128+N, as runc does.
//! - **Environment**: exactly the resolved env; only when it has no `PATH`
//!   the default `PATH` containerd gives image-less configs is added.
//! - **Working dir and mounts**: there is no mount namespace, and the host
//!   filesystem is never touched outside the sandbox. The process runs in the
//!   sandbox directory; a `workingDir` or a volume `mountPath` (absolute or
//!   not) is mapped *into the sandbox*: `mountPath: /data` becomes the symlink
//!   `<sandbox>/data -> <volume dir>`, reachable from the container as the
//!   relative path `data` (or `$PWD/data`), never as `/data` on the host.
//! - **Logs**: stdout/stderr are written in the CRI log format with rotation
//!   (see [`log`]).
//! - **Users**: `runAsUser`, `runAsGroup`, supplemental groups and
//!   `fsGroup` are honoured, `runAsNonRoot` is verified, and sandboxes are
//!   not world-readable ([`identity`]).
//! - **Re-adoption**: a restarted executor finds containers through their
//!   state files; live ones (same pid *and* same `/proc` start time) are
//!   adopted and polled, dead ones without a recorded exit are reported lost.
//! - **Streaming**: `kubectl exec` runs host processes with the container's
//!   environment, working directory and user ([`stdio`]); `kubectl attach`
//!   taps the output the executor pumps into the log and writes to the
//!   container's stdin (kept open when the spec says `stdin: true`), so it
//!   works for containers this executor started, not re-adopted ones;
//!   `kubectl port-forward` connects to loopback. A `tty: true` container
//!   runs on a pseudo-terminal ([`pty`]) whose master the executor holds:
//!   its output is logged as stdout, attach resizes it, and when the
//!   executor stops the container's session gets the terminal's hangup.

pub mod identity;
pub mod log;
pub mod pty;
pub mod state;
pub mod stdio;

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use jiff::Timestamp;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, watch};

use self::log::{drain_entries, LogRotation, LogWriter, Stream};
use self::state::{ContainerRecord, RecordedExit};
use super::runtime::{
    ContainerConfig, ContainerExit, ContainerRuntimeSpec, ContainerStateKind, ContainerStatus,
    ExecOutput, PodRuntimeSpec, Result, Runtime, RuntimeError, SandboxConfig, SandboxInfo,
    StdioRequest, StdioSession, LABEL_POD_UID,
};

/// `PATH` added when the resolved env has none (containerd's default for
/// image configs without one).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Exec/probe output kept, as the kubelet's `maxProbeOutput` (10 KiB).
const MAX_EXEC_OUTPUT: usize = 10 * 1024;

/// Exit reported for a container whose process vanished while no executor
/// watched it (kubelet's wording for containers it cannot locate).
pub const LOST_REASON: &str = "ContainerStatusUnknown";
/// Message for [`LOST_REASON`].
pub const LOST_MESSAGE: &str = "The container could not be located when the pod was terminated";
/// Exit code reported for a lost container (kubelet uses 137).
pub const LOST_EXIT_CODE: i32 = 137;

/// Settings of the process runtime.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// Root directory; sandboxes are `<root>/pods/<uid>/`.
    pub root: PathBuf,
    /// Log rotation.
    pub log_rotation: LogRotation,
    /// How often a re-adopted (not our child) process is polled. Default 200 ms.
    pub adopt_poll: Duration,
}

impl ProcessConfig {
    /// Defaults under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            log_rotation: LogRotation::default(),
            adopt_poll: Duration::from_millis(200),
        }
    }
}

struct Entry {
    record: Mutex<ContainerRecord>,
    state_path: PathBuf,
    exit: watch::Receiver<Option<ContainerExit>>,
    /// Last signal we sent the group: for a re-adopted process (not our
    /// child) it is the best knowledge of how it ended.
    signalled: Mutex<Option<Signal>>,
    /// Its stdio for `kubectl attach`; only for processes this executor
    /// started (it holds their pipes).
    attach: Option<Attachable>,
}

/// What `kubectl attach` joins.
struct Attachable {
    /// Every chunk the output pumps read.
    output: broadcast::Sender<(Stream, Bytes)>,
    /// The container's stdin, when its spec has `stdin: true` (a pipe, or
    /// its terminal's master).
    stdin: tokio::sync::Mutex<Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>>,
    /// `stdinOnce`: the first attach session to end closes stdin (not a
    /// terminal's, which stays, as with containerd).
    stdin_once: bool,
    /// The master of the container's terminal (`tty: true`), for resizes.
    terminal: Option<std::os::fd::OwnedFd>,
}

impl Entry {
    fn record(&self) -> ContainerRecord {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The process runtime. Cheap to share behind an `Arc`.
pub struct ProcessRuntime {
    config: ProcessConfig,
    containers: Mutex<HashMap<String, Arc<Entry>>>,
}

impl std::fmt::Debug for ProcessRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRuntime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Maps a container path (`/data`, `work/dir`) to a path inside `sandbox`,
/// refusing `..` so nothing escapes the sandbox.
pub fn sandbox_path(sandbox: &Path, container_path: &str) -> Option<PathBuf> {
    let mut out = sandbox.to_path_buf();
    for c in Path::new(container_path).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The command line of a container without image: `command ++ args`, or
/// `args` alone when `command` is empty.
pub fn command_line(config: &ContainerConfig) -> Result<Vec<String>> {
    let argv: Vec<String> = if config.command.is_empty() {
        config.args.clone()
    } else {
        config.command.iter().chain(&config.args).cloned().collect()
    };
    if argv.first().is_none_or(|a| a.is_empty()) {
        return Err(RuntimeError::InvalidContainerConfig {
            container: config.name.clone(),
            message:
                "the process runtime has no images: the container needs a `command` (or `args`)"
                    .into(),
        });
    }
    Ok(argv)
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 255,
    }
}

fn reason_for(code: i32) -> String {
    if code == 0 { "Completed" } else { "Error" }.to_string()
}

fn signal_group(pgid: i32, sig: Signal) -> std::result::Result<(), nix::Error> {
    match killpg(Pid::from_raw(pgid), sig) {
        Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

fn io_state(path: &Path, source: std::io::Error) -> RuntimeError {
    RuntimeError::StateFailed {
        path: path.to_path_buf(),
        source,
    }
}

/// Appends `entries` to the log; returns whether writing fails now. The
/// first failure and the recovery are logged, not every line between.
fn write_entries(
    log: &Mutex<LogWriter>,
    stream: Stream,
    entries: Vec<(bool, Vec<u8>)>,
    mut failing: bool,
) -> bool {
    let now = Timestamp::now();
    let mut w = log.lock().unwrap_or_else(|p| p.into_inner());
    for (full, line) in entries {
        match w.write_entry(now, stream, full, &line) {
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, path = %w.path().display(), "writing container log failed; its output is dropped until it works again");
            }
            Ok(()) if failing => {
                failing = false;
                tracing::info!(path = %w.path().display(), "writing container log works again");
            }
            _ => {}
        }
    }
    failing
}

async fn pump(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    stream: Stream,
    log: Arc<Mutex<LogWriter>>,
    tap: broadcast::Sender<(Stream, Bytes)>,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 8192];
    // While the log cannot be written (a full disk) the output is still
    // read, or the container would block on its stdout; it is lost, and
    // said so once rather than for every line.
    let mut failing = false;
    loop {
        let (n, eof) = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => (0, true),
            Ok(n) => (n, false),
        };
        if n > 0 && tap.receiver_count() > 0 {
            let _ = tap.send((stream, Bytes::copy_from_slice(&chunk[..n])));
        }
        buf.extend_from_slice(&chunk[..n]);
        let entries = drain_entries(&mut buf, eof);
        if !entries.is_empty() {
            // File writes and rotation (renames) block: they run on the
            // blocking pool, one batch at a time per stream, so lines
            // keep their order and a slow disk stalls only this pump.
            let log = log.clone();
            let write = move || write_entries(&log, stream, entries, failing);
            failing = tokio::task::spawn_blocking(write).await.unwrap_or(failing);
        }
        if eof {
            return;
        }
    }
}

impl ProcessRuntime {
    /// Creates the runtime and logs the startup warning.
    pub fn new(config: ProcessConfig) -> Self {
        let rt = Self {
            config,
            containers: Mutex::new(HashMap::new()),
        };
        tracing::warn!(root = %rt.config.root.display(), "{}", rt.describe());
        rt
    }

    fn sandbox_dir(&self, pod_uid: &str) -> PathBuf {
        self.config.root.join("pods").join(pod_uid)
    }

    fn entry(&self, id: &str) -> Result<Arc<Entry>> {
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_string()))
    }

    /// A container that is still running (exec and attach need one).
    fn running(&self, id: &str) -> Result<Arc<Entry>> {
        let entry = self.entry(id)?;
        if entry.exit.borrow().is_some() {
            return Err(RuntimeError::ContainerNotFound(id.to_string()));
        }
        Ok(entry)
    }

    fn insert(&self, id: String, entry: Arc<Entry>) {
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, entry);
    }

    fn link_mounts(&self, sandbox: &Path, config: &ContainerConfig) -> Result<()> {
        for m in &config.mounts {
            let invalid = |message: String| RuntimeError::InvalidContainerConfig {
                container: config.name.clone(),
                message,
            };
            let link = sandbox_path(sandbox, &m.container_path)
                .filter(|p| p != sandbox)
                .ok_or_else(|| {
                    invalid(format!("mount path {:?} is not usable", m.container_path))
                })?;
            if let Some(parent) = link.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_state(parent, e))?;
            }
            match std::fs::read_link(&link) {
                Ok(target) if target == m.host_path => continue,
                Ok(_) => {
                    tracing::warn!(container = %config.name, path = %m.container_path, "mount path already linked to another volume; relinking");
                    std::fs::remove_file(&link).map_err(|e| io_state(&link, e))?;
                }
                Err(_) if link.exists() => {
                    return Err(invalid(format!(
                        "mount path {:?} collides with an existing file in the sandbox",
                        m.container_path
                    )))
                }
                Err(_) => {}
            }
            std::os::unix::fs::symlink(&m.host_path, &link).map_err(|e| io_state(&link, e))?;
        }
        Ok(())
    }

    /// Watches our own child: records its exit, kills the rest of its group.
    fn spawn_waiter(
        entry: Arc<Entry>,
        mut child: tokio::process::Child,
        pumps: Vec<tokio::task::JoinHandle<()>>,
        tx: watch::Sender<Option<ContainerExit>>,
    ) {
        tokio::spawn(async move {
            let code = match child.wait().await {
                Ok(status) => exit_code_of(status),
                Err(error) => {
                    tracing::warn!(%error, "waiting for container process failed");
                    255
                }
            };
            let finished_at = Timestamp::now();
            let pgid = entry.record().pgid;
            // Like a PID namespace: the container ends with its main process.
            let _ = signal_group(pgid, Signal::SIGKILL);
            for p in pumps {
                let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
            }
            Self::finish(&entry, &tx, code, reason_for(code), None, finished_at);
        });
    }

    /// Polls a re-adopted process that is not our child.
    fn spawn_poller(entry: Arc<Entry>, tx: watch::Sender<Option<ContainerExit>>, every: Duration) {
        tokio::spawn(async move {
            loop {
                if !state::is_alive(&entry.record()) {
                    break;
                }
                tokio::time::sleep(every).await;
            }
            let pgid = entry.record().pgid;
            let _ = signal_group(pgid, Signal::SIGKILL);
            // Not our child: its exit code is unknowable, unless we killed it.
            let signalled = *entry.signalled.lock().unwrap_or_else(|p| p.into_inner());
            let (code, reason, message) = match signalled {
                Some(sig) => (128 + sig as i32, "Error".to_string(), None),
                None => (
                    LOST_EXIT_CODE,
                    LOST_REASON.to_string(),
                    Some(LOST_MESSAGE.to_string()),
                ),
            };
            Self::finish(&entry, &tx, code, reason, message, Timestamp::now());
        });
    }

    fn finish(
        entry: &Entry,
        tx: &watch::Sender<Option<ContainerExit>>,
        exit_code: i32,
        reason: String,
        message: Option<String>,
        finished_at: Timestamp,
    ) {
        let record = {
            let mut r = entry.record.lock().unwrap_or_else(|p| p.into_inner());
            r.exit = Some(RecordedExit {
                exit_code,
                reason: reason.clone(),
                finished_at,
            });
            r.clone()
        };
        if let Err(error) = state::write_record(&entry.state_path, &record) {
            tracing::warn!(%error, id = %record.id, "writing container state failed");
        }
        tracing::debug!(id = %record.id, exit_code, "container exited");
        tx.send_replace(Some(ContainerExit {
            exit_code,
            reason,
            message,
            finished_at,
        }));
    }

    fn status_of(entry: &Entry) -> ContainerStatus {
        let r = entry.record();
        let exit = entry.exit.borrow().clone();
        ContainerStatus {
            id: r.id,
            name: r.name,
            attempt: r.attempt,
            state: if exit.is_some() {
                ContainerStateKind::Exited
            } else {
                ContainerStateKind::Running
            },
            started_at: Some(r.started_at),
            exit,
            log_path: r.log_path,
            labels: r.labels,
        }
    }

    /// Loads one state file written by a previous executor: adopts a live
    /// process, reports a recorded exit, or marks the container lost.
    fn adopt(&self, state_path: &Path) -> Result<Arc<Entry>> {
        let mut record = state::read_record(state_path).map_err(|e| io_state(state_path, e))?;
        let (tx, rx) = watch::channel(None);
        let alive = record.exit.is_none() && state::is_alive(&record);
        if record.exit.is_none() && !alive {
            record.exit = Some(RecordedExit {
                exit_code: LOST_EXIT_CODE,
                reason: LOST_REASON.into(),
                finished_at: Timestamp::now(),
            });
            if let Err(error) = state::write_record(state_path, &record) {
                tracing::warn!(%error, id = %record.id, "writing container state failed");
            }
            tx.send_replace(Some(ContainerExit {
                exit_code: LOST_EXIT_CODE,
                reason: LOST_REASON.into(),
                message: Some(LOST_MESSAGE.into()),
                finished_at: Timestamp::now(),
            }));
            tracing::warn!(id = %record.id, pid = record.pid, "container process lost while the executor was away");
        } else if let Some(exit) = &record.exit {
            tx.send_replace(Some(ContainerExit {
                exit_code: exit.exit_code,
                reason: exit.reason.clone(),
                message: None,
                finished_at: exit.finished_at,
            }));
        }
        let id = record.id.clone();
        let entry = Arc::new(Entry {
            record: Mutex::new(record),
            state_path: state_path.to_path_buf(),
            exit: rx,
            signalled: Mutex::new(None),
            attach: None,
        });
        if alive {
            tracing::info!(id = %id, "re-adopted live container process");
            Self::spawn_poller(entry.clone(), tx, self.config.adopt_poll);
        }
        self.insert(id, entry.clone());
        Ok(entry)
    }
}

#[async_trait]
impl Runtime for ProcessRuntime {
    fn describe(&self) -> String {
        "process runtime: containers run as plain host processes, WITHOUT images and WITHOUT isolation \
         (no namespaces, no cgroups, no resource limits); volume mountPaths resolve inside the pod's \
         sandbox directory, not on the host"
            .to_string()
    }

    fn id_scheme(&self) -> &'static str {
        "process"
    }

    async fn prepare_pod(&self, config: &SandboxConfig) -> Result<SandboxInfo> {
        let dir = self.sandbox_dir(&config.uid);
        for d in [
            dir.join("containers"),
            dir.join("volumes"),
            config.log_directory.clone(),
        ] {
            std::fs::create_dir_all(&d).map_err(|source| RuntimeError::PrepareSandboxFailed {
                pod_uid: config.uid.clone(),
                message: format!("create {}", d.display()),
                source: Some(source),
            })?;
        }
        identity::secure_sandbox(&dir, None).map_err(|source| {
            RuntimeError::PrepareSandboxFailed {
                pod_uid: config.uid.clone(),
                message: format!("restrict {}", dir.display()),
                source: Some(source),
            }
        })?;
        Ok(SandboxInfo {
            id: config.uid.clone(),
            pod_uid: config.uid.clone(),
            dir,
            log_directory: config.log_directory.clone(),
            pod_ips: Vec::new(),
        })
    }

    async fn prepare_pod_with(
        &self,
        config: &SandboxConfig,
        spec: &PodRuntimeSpec,
    ) -> Result<SandboxInfo> {
        let sandbox = self.prepare_pod(config).await?;
        identity::secure_sandbox(&sandbox.dir, Some(spec)).map_err(|source| {
            RuntimeError::PrepareSandboxFailed {
                pod_uid: config.uid.clone(),
                message: format!("give {} to the pod's user", sandbox.dir.display()),
                source: Some(source),
            }
        })?;
        Ok(sandbox)
    }

    async fn create_and_start(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
    ) -> Result<String> {
        self.create_and_start_with(sandbox, config, &ContainerRuntimeSpec::default())
            .await
    }

    async fn create_and_start_with(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
        spec: &ContainerRuntimeSpec,
    ) -> Result<String> {
        let (argv, identity) = identity::command_line(config, spec, command_line(config)?)?;
        let id = format!("{}-{}-{}", sandbox.pod_uid, config.name, config.attempt);
        let working_dir = if config.working_dir.is_empty() {
            sandbox.dir.clone()
        } else {
            sandbox_path(&sandbox.dir, &config.working_dir).ok_or_else(|| {
                RuntimeError::InvalidContainerConfig {
                    container: config.name.clone(),
                    message: format!("working dir {:?} is not usable", config.working_dir),
                }
            })?
        };
        if !working_dir.exists() {
            std::fs::create_dir_all(&working_dir).map_err(|e| io_state(&working_dir, e))?;
            if let Some(id) = &identity {
                identity::give(&working_dir, id).map_err(|e| io_state(&working_dir, e))?;
            }
        }
        self.link_mounts(&sandbox.dir, config)?;

        let mut envs = config.envs.clone();
        if !envs.iter().any(|(k, _)| k == "PATH") {
            envs.push(("PATH".into(), DEFAULT_PATH.into()));
        }
        let log_path = sandbox.log_directory.join(&config.log_path);
        // Creating the log's directory and file blocks: off the runtime.
        let open = {
            let (path, rotation) = (log_path.clone(), self.config.log_rotation);
            move || LogWriter::open(&path, rotation)
        };
        let log = tokio::task::spawn_blocking(open)
            .await
            .map_err(std::io::Error::other)
            .and_then(|opened| opened)
            .map_err(|e| io_state(&log_path, e))?;
        let log = Arc::new(Mutex::new(log));

        let start_failed = |source| RuntimeError::StartContainerFailed {
            container: config.name.clone(),
            source,
        };
        let mut cmd = stdio::command_for(&argv[0], &argv[1..], config.tty);
        cmd.env_clear()
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .current_dir(&working_dir);
        // `tty: true`: a terminal is the container's stdio, its output one
        // stream (logged as stdout, as containerd does).
        let terminal = if config.tty {
            let (master, slave) = pty::open().map_err(start_failed)?;
            pty::slave_stdio(&mut cmd, &slave).map_err(start_failed)?;
            Some(master)
        } else {
            cmd.stdin(if config.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            None
        };
        let mut child = cmd.spawn().map_err(start_failed)?;
        // Only the container holds the slave now: its end is the master's.
        drop(cmd);
        let started_at = Timestamp::now();
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let ticks = state::proc_start_ticks(pid).unwrap_or(0);
        let (tap, _) = broadcast::channel(256);
        let mut pumps = Vec::new();
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(
                out,
                Stream::Stdout,
                log.clone(),
                tap.clone(),
            )));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(
                err,
                Stream::Stderr,
                log.clone(),
                tap.clone(),
            )));
        }
        let mut stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> = child
            .stdin
            .take()
            .map(|w| Box::new(w) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>);
        if let Some(master) = &terminal {
            let io = |fd: &std::os::fd::OwnedFd| {
                fd.try_clone()
                    .and_then(pty::Master::new)
                    .map_err(start_failed)
            };
            pumps.push(tokio::spawn(pump(
                io(master)?,
                Stream::Stdout,
                log.clone(),
                tap.clone(),
            )));
            if config.stdin {
                stdin = Some(Box::new(io(master)?));
            }
        }
        let attach = Attachable {
            output: tap,
            stdin: tokio::sync::Mutex::new(stdin),
            stdin_once: config.stdin_once,
            terminal,
        };
        let record = ContainerRecord {
            id: id.clone(),
            name: config.name.clone(),
            attempt: config.attempt,
            pod_uid: sandbox.pod_uid.clone(),
            pid,
            pgid: pid,
            proc_start_ticks: ticks,
            started_at,
            log_path,
            working_dir,
            envs,
            labels: config.labels.clone(),
            exit: None,
        };
        let state_path = sandbox.dir.join("containers").join(format!("{id}.json"));
        state::write_record(&state_path, &record).map_err(|e| io_state(&state_path, e))?;
        let (tx, rx) = watch::channel(None);
        let entry = Arc::new(Entry {
            record: Mutex::new(record),
            state_path,
            exit: rx,
            signalled: Mutex::new(None),
            attach: Some(attach),
        });
        self.insert(id.clone(), entry.clone());
        Self::spawn_waiter(entry, child, pumps, tx);
        tracing::info!(id = %id, pid, container = %config.name, "started container process");
        Ok(id)
    }

    async fn wait(&self, id: &str) -> Result<ContainerExit> {
        let entry = self.entry(id)?;
        let mut rx = entry.exit.clone();
        let exit = rx
            .wait_for(|e| e.is_some())
            .await
            .map_err(|_| RuntimeError::ContainerNotFound(id.to_string()))?;
        exit.clone()
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_string()))
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        let entry = self.entry(id)?;
        Ok(Self::status_of(&entry))
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        let entry = self.entry(id)?;
        if entry.exit.borrow().is_some() {
            return Ok(());
        }
        let pgid = entry.record().pgid;
        let fail = |e: nix::Error| RuntimeError::StopContainerFailed {
            id: id.to_string(),
            message: e.to_string(),
        };
        let mut rx = entry.exit.clone();
        let note = |sig| *entry.signalled.lock().unwrap_or_else(|p| p.into_inner()) = Some(sig);
        if !grace.is_zero() {
            note(Signal::SIGTERM);
            signal_group(pgid, Signal::SIGTERM).map_err(fail)?;
            if tokio::time::timeout(grace, rx.wait_for(|e| e.is_some()))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tracing::info!(
                id,
                ?grace,
                "container did not stop within its grace period; killing"
            );
        }
        note(Signal::SIGKILL);
        signal_group(pgid, Signal::SIGKILL).map_err(fail)?;
        let _ = rx.wait_for(|e| e.is_some()).await;
        Ok(())
    }

    async fn exec(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecOutput> {
        let entry = self.entry(id)?;
        let record = entry.record();
        let exec_err = |source| RuntimeError::ExecFailed {
            id: id.to_string(),
            source,
        };
        let Some((program, args)) = cmd.split_first() else {
            return Err(exec_err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty exec command",
            )));
        };
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .env_clear()
            .envs(record.envs.iter().map(|(k, v)| (k, v)))
            .current_dir(&record.working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(exec_err)?;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let collect = async {
            let mut a = Vec::new();
            let mut b = Vec::new();
            let ra = async {
                if let Some(o) = out.as_mut() {
                    let _ = o.read_to_end(&mut a).await;
                }
            };
            let rb = async {
                if let Some(e) = err.as_mut() {
                    let _ = e.read_to_end(&mut b).await;
                }
            };
            tokio::join!(ra, rb);
            let status = child.wait().await;
            a.extend_from_slice(&b);
            (status, a)
        };
        match tokio::time::timeout(timeout, collect).await {
            Ok((status, mut output)) => {
                output.truncate(MAX_EXEC_OUTPUT);
                Ok(ExecOutput {
                    exit_code: exit_code_of(status.map_err(exec_err)?),
                    timed_out: false,
                    output: String::from_utf8_lossy(&output).into_owned(),
                })
            }
            Err(_) => {
                let _ = signal_group(pgid, Signal::SIGKILL);
                Ok(ExecOutput {
                    exit_code: 128 + Signal::SIGKILL as i32,
                    timed_out: true,
                    output: String::new(),
                })
            }
        }
    }

    async fn exec_session(
        &self,
        id: &str,
        cmd: &[String],
        request: StdioRequest,
    ) -> Result<StdioSession> {
        let entry = self.running(id)?;
        let record = entry.record();
        let ctx = stdio::ExecContext {
            envs: record.envs,
            working_dir: record.working_dir,
            pid: record.pid,
        };
        stdio::spawn_exec(id, &ctx, cmd, request)
    }

    async fn attach_session(&self, id: &str, request: StdioRequest) -> Result<StdioSession> {
        let entry = self.running(id)?;
        attach_to(entry, request).ok_or_else(|| RuntimeError::CallFailed {
            call: "Attach",
            message: format!(
                "container {id} was started by a previous executor; its stdio cannot be attached"
            ),
        })
    }

    async fn dial_port(&self, _pod_uid: &str, port: u16) -> Result<tokio::net::TcpStream> {
        stdio::dial_loopback(port)
            .await
            .map_err(|e| RuntimeError::CallFailed {
                call: "PortForward",
                message: format!("failed to connect to localhost:{port}: {e}"),
            })
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let entry = self.entry(id)?;
        if entry.exit.borrow().is_none() {
            self.stop(id, Duration::ZERO).await?;
        }
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        match std::fs::remove_file(&entry.state_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_state(&entry.state_path, e)),
        }
    }

    async fn stop_pod(&self, sandbox: &SandboxInfo) -> Result<()> {
        let ids: Vec<String> = self
            .list_containers(&sandbox.pod_uid)
            .await?
            .into_iter()
            .filter(|c| c.state == ContainerStateKind::Running)
            .map(|c| c.id)
            .collect();
        for id in ids {
            self.stop(&id, Duration::ZERO).await?;
        }
        Ok(())
    }

    async fn remove_pod(&self, sandbox: &SandboxInfo) -> Result<()> {
        self.stop_pod(sandbox).await?;
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| e.record().pod_uid != sandbox.pod_uid);
        let dir = self.sandbox_dir(&sandbox.pod_uid);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_state(&dir, e)),
        }
    }

    /// Removes the sandbox directory of every pod not in `keep`, killing
    /// what still runs there (re-adopted or not).
    async fn cleanup_orphans(&self, keep: &[String]) -> Result<Vec<String>> {
        let pods = self.config.root.join("pods");
        let read = match std::fs::read_dir(&pods) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_state(&pods, e)),
        };
        let mut removed = Vec::new();
        for entry in read.flatten() {
            let uid = entry.file_name().to_string_lossy().into_owned();
            if keep.contains(&uid) || !entry.path().is_dir() {
                continue;
            }
            tracing::info!(pod_uid = %uid, "removing orphaned pod sandbox");
            let sandbox = SandboxInfo {
                id: uid.clone(),
                pod_uid: uid.clone(),
                dir: entry.path(),
                log_directory: PathBuf::new(),
                pod_ips: Vec::new(),
            };
            self.remove_pod(&sandbox).await?;
            removed.push(uid);
        }
        Ok(removed)
    }

    async fn list_containers(&self, pod_uid: &str) -> Result<Vec<ContainerStatus>> {
        let dir = self.sandbox_dir(pod_uid).join("containers");
        let mut out = Vec::new();
        let read = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_state(&dir, e)),
        };
        let mut paths: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let id = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let known = self
                .containers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&id)
                .cloned();
            let entry = match known {
                Some(e) => e,
                None => match self.adopt(&path) {
                    Ok(e) => e,
                    Err(error) => {
                        tracing::warn!(%error, "skipping unreadable container state file");
                        continue;
                    }
                },
            };
            let status = Self::status_of(&entry);
            if status
                .labels
                .get(LABEL_POD_UID)
                .is_none_or(|u| u == pod_uid)
            {
                out.push(status);
            }
        }
        Ok(out)
    }
}

/// Sends a chunk of `which` output to the client's matching channel (or
/// its only one); `false` once the client is gone.
async fn route(outputs: &[(Stream, mpsc::Sender<Bytes>)], which: Stream, data: Bytes) -> bool {
    match outputs
        .iter()
        .find(|(w, _)| *w == which)
        .or(outputs.first())
    {
        Some((_, tx)) => tx.send(data).await.is_ok(),
        None => true,
    }
}

/// Joins a running container's stdio: its output from now on, and its
/// stdin when both the container and the client have one. `None` for a
/// container whose stdio this executor does not hold.
///
/// The session ends when the container exits, or when the client leaves,
/// as containerd's attach does: once output cannot be delivered, or once
/// the client's stdin ends, except under `stdinOnce` without a terminal,
/// where the end of input closes the container's stdin and the client
/// stays for the output until the container exits.
fn attach_to(entry: Arc<Entry>, request: StdioRequest) -> Option<StdioSession> {
    let attach = entry.attach.as_ref()?;
    let (left_tx, mut left) = watch::channel(false);
    let left_tx = Arc::new(left_tx);
    let mut outputs = Vec::new();
    let (stdout, stderr) = {
        let mut pair = |on: bool, which: Stream| {
            on.then(|| {
                let (tx, rx) = mpsc::channel(16);
                outputs.push((which, tx));
                rx
            })
        };
        (
            pair(request.stdout, Stream::Stdout),
            pair(
                request.stderr || (request.tty && request.stdout),
                Stream::Stderr,
            ),
        )
    };
    let mut tap = attach.output.subscribe();
    let mut exit = entry.exit.clone();
    let gone = left_tx.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                got = tap.recv() => match got {
                    Ok((which, data)) => {
                        if !route(&outputs, which, data).await {
                            gone.send_replace(true);
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "attach client too slow; output dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = async { exit.wait_for(|e| e.is_some()).await.is_ok() } => {
                    // The exit is recorded after the pumps read the last
                    // output: what is queued is all there is.
                    while let Ok((which, data)) = tap.try_recv() {
                        if !route(&outputs, which, data).await {
                            return;
                        }
                    }
                    return;
                }
            }
        }
    });
    let stdin = (request.stdin).then(|| {
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        let entry = entry.clone();
        tokio::spawn(async move {
            let Some(attach) = entry.attach.as_ref() else {
                return;
            };
            while let Some(data) = rx.recv().await {
                let mut stdin = attach.stdin.lock().await;
                let Some(w) = stdin.as_mut() else {
                    continue; // no stdin: input is dropped, as runtimes do
                };
                if w.write_all(&data).await.is_err() || w.flush().await.is_err() {
                    *stdin = None;
                }
            }
            if attach.stdin_once && attach.terminal.is_none() {
                attach.stdin.lock().await.take();
            } else {
                left_tx.send_replace(true);
            }
        });
        tx
    });
    let resize = match (request.tty, &attach.terminal) {
        (true, Some(master)) => master.try_clone().ok().map(pty::resizer),
        _ => None,
    };
    let mut exit = entry.exit.clone();
    let merged_stderr = request.tty && request.stdout;
    Some(StdioSession {
        stdin,
        stdout,
        stderr: if merged_stderr { None } else { stderr },
        resize,
        done: async move {
            tokio::select! {
                _ = exit.wait_for(|e| e.is_some()) => {}
                // Without senders nobody can tell: the exit decides.
                Ok(_) = left.wait_for(|l| *l) => {}
            }
            Ok(None)
        }
        .boxed(),
    })
}

/// Labels the kubelet puts on a container, for `ContainerConfig::labels`.
pub fn container_labels(
    pod_name: &str,
    namespace: &str,
    pod_uid: &str,
    container: &str,
) -> BTreeMap<String, String> {
    use super::runtime::{LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE};
    BTreeMap::from([
        (LABEL_POD_NAME.to_string(), pod_name.to_string()),
        (LABEL_POD_NAMESPACE.to_string(), namespace.to_string()),
        (LABEL_POD_UID.to_string(), pod_uid.to_string()),
        (LABEL_CONTAINER_NAME.to_string(), container.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_paths_stay_inside() {
        let sb = Path::new("/r/pods/u");
        assert_eq!(
            sandbox_path(sb, "/data"),
            Some(PathBuf::from("/r/pods/u/data"))
        );
        assert_eq!(
            sandbox_path(sb, "a/./b"),
            Some(PathBuf::from("/r/pods/u/a/b"))
        );
        assert_eq!(sandbox_path(sb, "/x/../../etc"), None);
    }

    #[test]
    fn command_falls_back_to_args_and_fails_clearly() {
        let mut c = ContainerConfig {
            name: "c".into(),
            attempt: 0,
            image: "busybox".into(),
            command: vec![],
            args: vec!["echo".into(), "hi".into()],
            envs: vec![],
            working_dir: String::new(),
            mounts: vec![],
            log_path: "c/0.log".into(),
            labels: BTreeMap::new(),
            stdin: false,
            stdin_once: false,
            tty: false,
        };
        assert_eq!(command_line(&c).unwrap(), vec!["echo", "hi"]);
        c.command = vec!["sh".into(), "-c".into()];
        c.args = vec!["exit 0".into()];
        assert_eq!(command_line(&c).unwrap(), vec!["sh", "-c", "exit 0"]);
        c.command.clear();
        c.args.clear();
        let err = command_line(&c).unwrap_err().to_string();
        assert!(err.contains("needs a `command`"), "{err}");
    }
}
