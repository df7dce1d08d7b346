//! Harness of the end-to-end suite: runs `kube-mesos local` as a real child
//! process on a temp data dir with free ports, waits for its ready line,
//! and drives it only through kubectl, reading what a user would read.
//!
//! Every wait has a deadline, so a hang fails the test. Cleanup runs even
//! when a test fails: dropping [`Local`] stops it (SIGTERM, then SIGKILL of
//! its process group) and then kills every process whose working directory
//! is inside the test's temp dir — executors and pod processes run in their
//! own process groups (as under a real Mesos agent), so the group kill alone
//! would not reach them.
#![allow(dead_code)]

pub mod streaming;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;
use nix::sys::signal::{kill, killpg};
use nix::unistd::Pid;

/// The line `kube-mesos local` prints once a pod can be scheduled.
pub const READY_LINE: &str = "kube-mesos local is ready";
/// Longest start-up (first start also copies the binary into sandboxes).
pub const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Default wait for a pod to reach a state; a hang guard, not a benchmark.
pub const WAIT: Duration = Duration::from_secs(90);
/// Longest single kubectl call (a `delete` waits for graceful termination).
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(90);

static INSTANCES: AtomicU32 = AtomicU32::new(0);

/// The repository root (examples live there).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `examples/<name>`.
pub fn example(name: &str) -> PathBuf {
    repo_root().join("examples").join(name)
}

/// A port range for one agent that no other `local` of this machine's
/// concurrent tests uses, below the kernel's ephemeral ports (32768+).
/// Agents get 100 ports each; `slot` picks a block of four agents.
pub fn port_range(slot: u32, agent: u32) -> (u32, u32) {
    let first = 20000 + (slot % 30) * 400 + agent * 100;
    (first, first + 99)
}

/// A running `kube-mesos local`.
pub struct Local {
    dir: tempfile::TempDir,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    args: Vec<String>,
    /// `<tmp>/data`.
    pub data_dir: PathBuf,
    /// Printed kubeconfig path.
    pub kubeconfig: PathBuf,
    /// Printed Mesos master URL.
    pub mesos_master: String,
    /// This instance's port slot (see [`port_range`]).
    pub slot: u32,
    starts: u32,
    /// `RUST_LOG` of the instance (and so of its executors).
    rust_log: String,
}

impl Local {
    /// Starts `kube-mesos local --data-dir <tmp>/data` with `agents`
    /// agents (each with 2 cpus, 2 GiB and its own port range) and `extra`
    /// flags, and waits for the ready line.
    pub fn start(agents: usize, extra: &[&str]) -> Local {
        Self::start_with_log(agents, extra, "info")
    }

    /// [`Local::start`] with `RUST_LOG=<rust_log>` (executors inherit it).
    pub fn start_with_log(agents: usize, extra: &[&str], rust_log: &str) -> Local {
        // KUBE_MESOS_BENCH_KEEP=1 keeps the dir (logs) afterwards.
        let dir = tempfile::Builder::new()
            .prefix("kube-mesos-e2e-")
            .disable_cleanup(std::env::var_os("KUBE_MESOS_BENCH_KEEP").is_some())
            .tempdir()
            .expect("temp dir");
        if std::env::var_os("KUBE_MESOS_BENCH_KEEP").is_some() {
            eprintln!("kube-mesos local dir {}", dir.path().display());
        }
        let slot = std::process::id().wrapping_add(INSTANCES.fetch_add(1, Ordering::SeqCst) * 7);
        let mut args = vec!["--agents".to_string(), agents.to_string()];
        for i in 0..agents {
            let (first, last) = port_range(slot, i as u32);
            args.push("--agent-resources".into());
            args.push(format!(
                "{i}=cpus:2;mem:2048;disk:4096;ports:[{first}-{last}]"
            ));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let data_dir = dir.path().join("data");
        let (tx, lines) = mpsc::channel();
        drop(tx);
        let mut local = Local {
            dir,
            child: None,
            lines,
            stdout: Vec::new(),
            args,
            data_dir,
            kubeconfig: PathBuf::new(),
            mesos_master: String::new(),
            slot,
            starts: 0,
            rust_log: rust_log.to_string(),
        };
        local.spawn();
        local
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let stderr = std::fs::File::create(self.stderr_path()).expect("stderr file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-mesos"))
            .arg("local")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.args)
            // KUBE_MESOS_BENCH_FRAMEWORK_LOG: a finer log filter for a look inside.
            .env(
                "RUST_LOG",
                std::env::var("KUBE_MESOS_BENCH_FRAMEWORK_LOG")
                    .unwrap_or_else(|_| self.rust_log.clone()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .expect("spawning kube-mesos local");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.lines = rx;
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(path) = line.strip_prefix("kubeconfig: ") {
                        self.kubeconfig = PathBuf::from(path.trim());
                    }
                    if let Some(url) = line.strip_prefix("mesos master: ") {
                        self.mesos_master = url.trim().to_string();
                    }
                    let ready = line.trim() == READY_LINE;
                    self.stdout.push(line);
                    if ready {
                        break;
                    }
                }
                Err(_) => panic!(
                    "kube-mesos local was not ready within {START_TIMEOUT:?}\n{}",
                    self.diagnostics()
                ),
            }
        }
        assert!(
            self.kubeconfig.is_file(),
            "the printed kubeconfig {:?} does not exist",
            self.kubeconfig
        );
        assert!(self.mesos_master.starts_with("http://127.0.0.1:"));
    }

    /// The stderr files of every start so far.
    pub fn stderr_files(&self) -> Vec<PathBuf> {
        (1..=self.starts)
            .map(|n| self.dir.path().join(format!("local-{n}.stderr")))
            .collect()
    }

    /// Lines printed on stdout so far.
    pub fn stdout_lines(&self) -> &[String] {
        &self.stdout
    }

    /// Where this start's stderr (the logs) goes.
    fn stderr_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("local-{}.stderr", self.starts))
    }

    /// The API server's `authorization denied` lines for the framework,
    /// the executors and bootstrap identities (not for users of the tests).
    pub fn component_denials(&self) -> Vec<String> {
        let log =
            std::fs::read_to_string(self.data_dir.join("kube-mesos-local.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("authorization denied"))
            .filter(|l| {
                [
                    "user=system:serviceaccount:kube-mesos:",
                    "user=system:node:",
                    "user=system:bootstrap:",
                ]
                .iter()
                .any(|u| l.contains(u))
            })
            .map(str::to_string)
            .collect()
    }

    /// The temp dir everything lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The pid of the `kube-mesos local` process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// `kill -9` of the `kube-mesos local` process only: executors and
    /// pods keep running, as after a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Sends `signal` to the `kube-mesos local` process.
    pub fn signal(&self, signal: Signal) {
        if let Some(child) = &self.child {
            let _ = kill(Pid::from_raw(child.id() as i32), signal);
        }
    }

    /// Waits for a stdout line containing `needle`.
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.stdout.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no line {needle:?} within {timeout:?}\n{}",
                    self.diagnostics()
                ),
            }
        }
    }

    /// Waits up to `timeout` for the process to exit; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts again on the same data dir (after [`Local::kill9`] or [`Local::stop`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill it first");
        self.spawn();
    }

    /// SIGTERM and wait for a clean exit; returns its exit status success.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                _ => {
                    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }

    /// Runs kubectl against this cluster; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        kubectl(&self.kubeconfig, args)
    }

    /// Runs kubectl and panics with diagnostics when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(
            ok,
            "kubectl {args:?} failed:\n{err}\n{}",
            self.diagnostics()
        );
        out
    }

    /// `kubectl apply -f` of a manifest given as text.
    pub fn apply_yaml(&self, name: &str, yaml: &str) {
        let path = self.dir().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).expect("writing manifest");
        self.kubectl_ok(&["apply", "-f", path.to_str().expect("utf-8 path")]);
    }

    /// The pod as JSON (`kubectl get pod -o json`), if it exists.
    pub fn pod_json(&self, name: &str) -> Option<serde_json::Value> {
        let (ok, out, _) = self.kubectl(&["get", "pod", name, "-o", "json"]);
        if !ok {
            return None;
        }
        serde_json::from_str(&out).ok()
    }

    /// The row of `kubectl get pods -o wide` for `name`, split in columns
    /// (NAME READY STATUS RESTARTS AGE IP NODE ...). RESTARTS may read
    /// `3 (10s ago)`, so the columns after it shift; use the helpers below.
    pub fn pod_row(&self, name: &str) -> Option<String> {
        let (ok, out, _) = self.kubectl(&["get", "pods", "-o", "wide", "--no-headers"]);
        if !ok {
            return None;
        }
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(str::to_string)
    }

    /// The STATUS column of `kubectl get pods` for `name`.
    pub fn pod_status_column(&self, name: &str) -> Option<String> {
        self.pod_row(name)
            .and_then(|row| row.split_whitespace().nth(2).map(str::to_string))
    }

    /// The RESTARTS count of `kubectl get pods` for `name`.
    pub fn pod_restarts(&self, name: &str) -> Option<u32> {
        self.pod_row(name)
            .and_then(|row| row.split_whitespace().nth(3).and_then(|r| r.parse().ok()))
    }

    /// Waits until the STATUS column reads `status`.
    pub fn wait_status(&self, name: &str, status: &str, timeout: Duration) {
        wait_for(
            &format!("pod {name} to show STATUS {status}"),
            timeout,
            || (self.pod_status_column(name).as_deref() == Some(status)).then_some(()),
            || self.diagnostics_for(name),
        );
    }

    /// Waits until the pod is gone.
    pub fn wait_gone(&self, name: &str, timeout: Duration) {
        wait_for(
            &format!("pod {name} to disappear"),
            timeout,
            || {
                let (ok, _, err) = self.kubectl(&["get", "pod", name]);
                (!ok && err.contains("NotFound")).then_some(())
            },
            || self.diagnostics_for(name),
        );
    }

    /// `kubectl describe pod`, whatever it says.
    pub fn describe(&self, name: &str) -> String {
        let (_, out, err) = self.kubectl(&["describe", "pod", name]);
        format!("{out}{err}")
    }

    /// Pids of live processes whose working directory is inside `dir`
    /// (executors run in their sandboxes, pod processes in their pod's).
    pub fn processes_under(&self, dir: &Path) -> Vec<u32> {
        processes_with_cwd_under(dir)
    }

    /// The pod's sandbox directory of the process runtime: the directory
    /// named after the pod's UID below an agent's executor state root
    /// (`agents/<i>/kube-mesos`; its processes run there).
    pub fn pod_sandbox(&self, uid: &str) -> PathBuf {
        let agents = self.data_dir.join("agents");
        let Ok(entries) = std::fs::read_dir(&agents) else {
            return agents.join(uid);
        };
        for entry in entries.flatten() {
            if let Some(dir) = find_dir(&entry.path().join("kube-mesos"), uid, 4) {
                return dir;
            }
        }
        agents.join(uid)
    }

    /// What helps to understand a failure: stdout so far, the tail of the
    /// logs, pods, nodes, events, executor stderr.
    pub fn diagnostics(&self) -> String {
        let mut out = format!("--- kube-mesos local stdout:\n{}\n", self.stdout.join("\n"));
        for n in 1..=self.starts {
            let path = self.dir.path().join(format!("local-{n}.stderr"));
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            out.push_str(&format!(
                "--- {} (last 80 lines):\n{}\n",
                path.display(),
                tail(&log, 80)
            ));
        }
        if self.kubeconfig.is_file() {
            for args in [
                &["get", "nodes", "-o", "wide"][..],
                &["get", "pods", "-A", "-o", "wide"],
                &["get", "events", "-A"],
            ] {
                let (_, o, e) = self.kubectl(args);
                out.push_str(&format!("--- kubectl {}:\n{o}{e}\n", args.join(" ")));
            }
        }
        let log =
            std::fs::read_to_string(self.data_dir.join("kube-mesos-local.log")).unwrap_or_default();
        out.push_str(&format!(
            "--- kube-mesos-local.log (last 150 lines):\n{}\n",
            tail(&log, 150)
        ));
        for stderr in find_files(&self.data_dir.join("agents"), "stderr") {
            let log = std::fs::read_to_string(&stderr).unwrap_or_default();
            out.push_str(&format!(
                "--- {} (last 40 lines):\n{}\n",
                stderr.display(),
                tail(&log, 40)
            ));
        }
        out
    }

    /// [`Local::diagnostics`] plus `kubectl describe pod name`.
    pub fn diagnostics_for(&self, name: &str) -> String {
        format!(
            "--- kubectl describe pod {name}:\n{}\n{}",
            self.describe(name),
            self.diagnostics()
        )
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
        if let Some(mut child) = self.child.take() {
            // A graceful stop shuts executors and pods down; bounded.
            let pid = child.id() as i32;
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.wait();
        }
        // Whatever still runs in our temp dir is ours: executors, pods.
        for _ in 0..3 {
            let left = processes_with_cwd_under(self.dir.path());
            if left.is_empty() {
                break;
            }
            for pid in left {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Authorization is on and the framework and executors run under
        // packaging/kubernetes/'s RBAC: a call it does not grant them fails
        // the test that made them make it.
        let denied = self.component_denials();
        if !denied.is_empty() && !std::thread::panicking() {
            panic!(
                "the API server denied calls of kube-mesos components:\n{}",
                denied.join("\n")
            );
        }
    }
}

/// Polls `probe` every 500 ms until it yields a value or `timeout` passes;
/// then panics with `what` and the diagnostics.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
    diagnostics: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                diagnostics()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs kubectl with `KUBECONFIG=kubeconfig`, killed after 90 s.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    // Global flags first: what follows `--` belongs to the container.
    let mut child = Command::new("kubectl")
        .arg("--request-timeout=20s")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl is installed");
    // Drain both pipes while it runs: a large output (a list of 50 pods)
    // would otherwise fill the pipe and block kubectl until the timeout.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + KUBECTL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    (
        status.is_some_and(|s| s.success()),
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    )
}

/// SIGKILL of one process.
pub fn kill_pid(pid: u32) {
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

/// Live processes whose cwd is inside `dir`.
pub fn processes_with_cwd_under(dir: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if cwd.starts_with(&dir) && !zombie {
            pids.push(pid);
        }
    }
    pids
}

/// The first directory named `name` at most `depth` levels below `root`,
/// skipping log directories.
fn find_dir(root: &Path, name: &str, depth: usize) -> Option<PathBuf> {
    let mut level = vec![root.to_path_buf()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for dir in level {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if !path.is_dir() || path.is_symlink() || entry.file_name() == "pod-logs" {
                    continue;
                }
                if entry.file_name() == name {
                    return Some(path);
                }
                next.push(path);
            }
        }
        level = next;
    }
    None
}

/// Every file named `name` below `root`.
pub fn find_files(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else if entry.file_name() == name {
                found.push(path);
            }
        }
    }
    found
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One task as the Mesos master lists it (operator API `GET_TASKS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MesosTask {
    /// `pod.<uid>`.
    pub id: String,
    /// `TASK_RUNNING`, `TASK_KILLED`, ...
    pub state: String,
    /// Listed among the active tasks (not the completed ones).
    pub active: bool,
}

impl Local {
    /// The master's tasks, as an operator reads them: `POST /api/v1`
    /// `{"type":"GET_TASKS"}` in JSON.
    pub fn mesos_tasks(&self) -> Vec<MesosTask> {
        let body = http_post_json(&self.mesos_master, "/api/v1", r#"{"type":"GET_TASKS"}"#)
            .unwrap_or_else(|| panic!("GET_TASKS failed\n{}", self.diagnostics()));
        let value: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET_TASKS answered {body:?}: {e}"));
        let mut out = Vec::new();
        for (list, active) in [("tasks", true), ("completed_tasks", false)] {
            for t in value["get_tasks"][list].as_array().into_iter().flatten() {
                out.push(MesosTask {
                    id: t["task_id"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    state: t["state"].as_str().unwrap_or_default().to_string(),
                    active,
                });
            }
        }
        out
    }
}

/// A plain HTTP/1.1 POST of JSON to `base` (`http://host:port`); the body
/// of a 200 answer.
pub fn http_post_json(base: &str, path: &str, body: &str) -> Option<String> {
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
    ];
    match http_request(base, "POST", path, &headers, body)? {
        (200, body) => Some(body),
        _ => None,
    }
}

/// A plain HTTP/1.1 GET; the body of a 200 answer.
pub fn http_get(base: &str, path: &str) -> Option<String> {
    match http_request(base, "GET", path, &[], "")? {
        (200, body) => Some(body),
        _ => None,
    }
}

/// A plain HTTP/1.1 request to `base` (`http://host:port`): the status and
/// the (de-chunked) body, `None` if the connection failed.
pub fn http_request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let authority = base.strip_prefix("http://")?.trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(authority).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Some((status, body))
}

/// The payload of a chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// A pod's `metadata.uid`.
pub fn uid_of(pod: &serde_json::Value) -> String {
    pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A kube client from kubeconfig YAML text (tests that talk to a
/// devcluster API server directly).
pub async fn kube_client(yaml: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(yaml).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kube config");
    kube::Client::try_from(cfg).expect("kube client")
}
