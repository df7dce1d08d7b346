//! End-to-end: `kube-mesos local up | status | down | delete` as a
//! newcomer uses them — `up` returns once the cluster is ready and merges a
//! `kube-mesos` context, `status` says what runs, `down` stops it and
//! removes the context, `up` again resumes the same cluster (its objects
//! are still there), `delete` removes everything. Clear refusals: another
//! cluster's flags on a data dir, a taken port.
//!
//! `KUBECONFIG` points into the test's temp dir, so the user's own
//! kubeconfig is never touched.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{port_range, processes_with_cwd_under};

/// Longest run of one lifecycle command (a hang guard).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

struct Cluster {
    dir: tempfile::TempDir,
    resources: String,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Cluster {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kube-mesos-e2e-")
            .tempdir()
            .expect("temp dir");
        let (first, last) = port_range(std::process::id() % 1000 + 500, 0);
        Cluster {
            dir,
            resources: format!("0=cpus:2;mem:2048;disk:4096;ports:[{first}-{last}]"),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn user_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("home-kube-config")
    }

    fn local(&self, args: &[&str]) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-mesos"))
            .arg("local")
            .args(args)
            .env("KUBECONFIG", self.user_kubeconfig())
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning kube-mesos local");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child.wait_with_output().expect("output");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn with_dir<'a>(&'a self, cmd: &'a str, dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![cmd, "--data-dir", dir];
        v.extend_from_slice(extra);
        v
    }

    fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let mut full = vec!["--context", "kube-mesos"];
        full.extend_from_slice(args);
        support::kubectl(&self.user_kubeconfig(), &full)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("local.out")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let dir = self.data_dir().display().to_string();
        if self.data_dir().exists() {
            let _ = self.local(&["delete", "--data-dir", &dir]);
        }
        for _ in 0..3 {
            let left = processes_with_cwd_under(self.dir.path());
            if left.is_empty() {
                break;
            }
            for pid in left {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn assert_ok(what: &str, run: &Run, cluster: &Cluster) {
    assert_eq!(
        run.code,
        Some(0),
        "{what}: exit {:?}\n{}{}\n--- local.out:\n{}",
        run.code,
        run.stdout,
        run.stderr,
        cluster.log()
    );
}

fn contexts(file: &Path) -> String {
    support::kubectl(file, &["config", "get-contexts", "-o", "name"]).1
}

#[test]
fn up_status_down_and_up_again_resumes_then_delete_removes_it() {
    let c = Cluster::new();
    let dir = c.data_dir().display().to_string();
    let resources = c.resources.clone();

    let up = c.local(&c.with_dir("up", &dir, &["--agent-resources", &resources]));
    assert_ok("up", &up, &c);
    assert!(
        up.stdout.contains("Starting kube-mesos local"),
        "{}",
        up.stdout
    );
    assert!(
        up.stdout.contains("Nodes registered"),
        "progress is shown: {}",
        up.stdout
    );
    assert!(
        up.stdout.contains("kube-mesos local is ready"),
        "{}",
        up.stdout
    );
    assert_eq!(contexts(&c.user_kubeconfig()).trim(), "kube-mesos");

    // The merged context works, and the cluster runs Deployments.
    let (ok, out, err) = c.kubectl(&["get", "nodes", "--no-headers"]);
    assert!(ok && out.starts_with("agent-0 "), "{out}{err}");
    let (ok, out, err) = c.kubectl(&[
        "create",
        "deployment",
        "keep",
        "--image=busybox",
        "--",
        "sleep",
        "3600",
    ]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = c.kubectl(&["rollout", "status", "deployment/keep", "--timeout=120s"]);
    assert!(ok, "{out}{err}\n{}", c.log());

    let status = c.local(&c.with_dir("status", &dir, &[]));
    assert_ok("status", &status, &c);
    for want in [
        "running (pid",
        "1/1 active (agent-0)",
        "1/1 Ready",
        "1 deployment(s)",
        "healthy",
    ] {
        assert!(
            status.stdout.contains(want),
            "status lacks {want:?}:\n{}",
            status.stdout
        );
    }

    // Same flags again while it runs: nothing to do. Other flags: refused.
    let again = c.local(&c.with_dir("up", &dir, &[]));
    assert_ok("up while running", &again, &c);
    assert!(again.stdout.contains("already running"), "{}", again.stdout);
    let other = c.local(&c.with_dir("up", &dir, &["--agents", "2"]));
    assert_eq!(other.code, Some(1), "{}{}", other.stdout, other.stderr);
    assert!(
        other.stderr.contains("holds another cluster"),
        "{}",
        other.stderr
    );

    let down = c.local(&c.with_dir("down", &dir, &[]));
    assert_ok("down", &down, &c);
    assert!(down.stdout.contains("Stopped after"), "{}", down.stdout);
    assert!(
        contexts(&c.user_kubeconfig()).trim().is_empty(),
        "the context is removed"
    );
    let stopped = c.local(&c.with_dir("status", &dir, &[]));
    assert_eq!(stopped.code, Some(3), "{}", stopped.stdout);
    assert!(stopped.stdout.contains("stopped"), "{}", stopped.stdout);
    assert!(
        processes_with_cwd_under(&c.data_dir()).is_empty(),
        "down leaves nothing running"
    );
    let down_again = c.local(&c.with_dir("down", &dir, &[]));
    assert_ok("down when stopped", &down_again, &c);
    assert!(
        down_again.stdout.contains("not running"),
        "{}",
        down_again.stdout
    );

    // `up` without flags resumes the same cluster, with its own flags.
    let resumed = c.local(&c.with_dir("up", &dir, &[]));
    assert_ok("up again", &resumed, &c);
    assert!(resumed.stdout.contains("Resuming"), "{}", resumed.stdout);
    let (ok, out, err) = c.kubectl(&["rollout", "status", "deployment/keep", "--timeout=120s"]);
    assert!(
        ok,
        "the deployment is still there and rolls out again: {out}{err}\n{}",
        c.log()
    );
    let status = c.local(&c.with_dir("status", &dir, &[]));
    assert_ok("status after resume", &status, &c);

    let delete = c.local(&c.with_dir("delete", &dir, &[]));
    assert_ok("delete", &delete, &c);
    assert!(!c.data_dir().exists(), "the data dir is removed");
    assert!(contexts(&c.user_kubeconfig()).trim().is_empty());
    assert!(processes_with_cwd_under(c.dir.path()).is_empty());
}

#[test]
fn a_taken_port_and_a_foreign_directory_are_refused_clearly() {
    let c = Cluster::new();
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port().to_string();
    let dir = c.data_dir().display().to_string();
    let run = c.local(&c.with_dir("up", &dir, &["--api-port", &port]));
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("port {port}")) && run.stderr.contains("taken"),
        "{}",
        run.stderr
    );

    let foreign = c.dir.path().join("photos");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("cat.jpg"), b"meow").expect("write");
    let foreign = foreign.display().to_string();
    for cmd in ["up", "delete"] {
        let run = c.local(&c.with_dir(cmd, &foreign, &[]));
        assert_eq!(run.code, Some(1), "{cmd}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("is not a kube-mesos data dir"),
            "{}",
            run.stderr
        );
    }
    assert!(c.dir.path().join("photos/cat.jpg").exists());
}
