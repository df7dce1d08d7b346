//! What the streaming end-to-end tests (`e2e_streaming.rs` for the process
//! runtime, `e2e_cri_streaming.rs` for containerd) share: kubectl run with
//! its WebSocket paths on or off, the API server's log lines that tell
//! which path served a request, an interactive `kubectl exec -it` in tmux,
//! and `kubectl port-forward` read with an HTTP client.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{wait_for, Local, WAIT};

/// Longest single kubectl call here (a hang guard).
pub const CALL: Duration = Duration::from_secs(60);

/// kubectl's WebSocket paths on (default) or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true`, `KUBECTL_PORT_FORWARD_WEBSOCKETS=true`.
    WebSocket,
    /// Both `false`: SPDY end to end.
    Spdy,
}

impl Mode {
    /// Both, WebSocket first.
    pub const ALL: [Mode; 2] = [Mode::WebSocket, Mode::Spdy];

    /// kubectl's environment for this mode.
    pub fn env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Mode::WebSocket => vec![
                ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "true"),
                ("KUBECTL_PORT_FORWARD_WEBSOCKETS", "true"),
            ],
            Mode::Spdy => vec![
                ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false"),
                ("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false"),
            ],
        }
    }

    /// A short name for file and pod names.
    pub fn tag(self) -> &'static str {
        match self {
            Mode::WebSocket => "ws",
            Mode::Spdy => "spdy",
        }
    }
}

/// How a kubectl call ended.
pub struct Run {
    /// Exit code; `None` if killed.
    pub code: Option<i32>,
    /// stdout.
    pub out: String,
    /// stderr.
    pub err: String,
}

/// Runs kubectl with `stdin` as its input, killed after [`CALL`].
pub fn kubectl(kubeconfig: &Path, mode: Mode, stdin: &[u8], args: &[&str]) -> Run {
    let mut child = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .envs(mode.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl is installed");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("writing kubectl's stdin");
    drop(input);
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut o = Vec::new();
        let _ = out.read_to_end(&mut o);
        o
    });
    let err_reader = std::thread::spawn(move || {
        let mut e = Vec::new();
        let _ = err.read_to_end(&mut e);
        e
    });
    let deadline = Instant::now() + CALL;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                break None;
            }
        }
    };
    let run = Run {
        code: status.and_then(|s| s.code()),
        out: String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned(),
        err: String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned(),
    };
    assert!(status.is_some(), "kubectl {args:?} hung:\n{}", run.err);
    run
}

fn local_log(local: &Local) -> String {
    std::fs::read_to_string(local.data_dir.join("kube-mesos-local.log")).unwrap_or_default()
}

/// How many times the API server logged `line`.
pub fn logged(local: &Local, line: &str) -> usize {
    local_log(local).matches(line).count()
}

/// The API server's line for exec/attach over WebSocket.
pub const TRANSLATED: &str = "WebSocket stream translated to SPDY for the kubelet";
/// The API server's line for port-forward over WebSocket.
pub const TUNNELLED: &str = "SPDY tunnelled through WebSocket to the kubelet";
/// The API server's line for SPDY passed through.
pub const PROXIED: &str = "upgrade proxied to the kubelet as it is";

/// The log counts [`assert_path`] compares against.
pub fn path_counts(local: &Local, websocket_line: &str) -> (usize, usize) {
    (logged(local, websocket_line), logged(local, PROXIED))
}

/// Asserts that the request just made went through the path `mode` names.
pub fn assert_path(local: &Local, mode: Mode, before: (usize, usize), websocket_line: &str) {
    let after = path_counts(local, websocket_line);
    match mode {
        Mode::WebSocket => assert!(
            after.0 > before.0 && after.1 == before.1,
            "expected the WebSocket path ({websocket_line}); log counts {before:?} -> {after:?}"
        ),
        Mode::Spdy => assert!(
            after.1 > before.1 && after.0 == before.0,
            "expected SPDY proxied as it is; log counts {before:?} -> {after:?}"
        ),
    }
}

/// A kubectl command running on a terminal: a tmux session of its own.
pub struct Terminal {
    session: String,
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Terminal {
    /// Runs `kubectl <args>` (a shell fragment) against `local` with
    /// `mode`'s environment on a `width`x`height` terminal; once kubectl
    /// exits, the terminal shows `kubectl-exited-<code>`.
    pub fn kubectl(local: &Local, mode: Mode, name: &str, args: &str, size: (u16, u16)) -> Self {
        let session = format!("km-e2e-{}-{}-{name}", std::process::id(), mode.tag());
        let env: String = mode
            .env()
            .iter()
            .map(|(k, v)| format!("{k}={v} "))
            .collect();
        let command = format!(
            "{env}KUBECONFIG={} kubectl {args}; echo kubectl-exited-$?; sleep 60",
            local.kubeconfig.display()
        );
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            &size.0.to_string(),
            "-y",
            &size.1.to_string(),
            &command,
        ]);
        Self { session }
    }

    /// What the terminal shows, with its scrollback.
    pub fn screen(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.session, "-S", "-100"])
    }

    /// Types `keys` and Enter.
    pub fn type_line(&self, keys: &str) {
        tmux(&["send-keys", "-t", &self.session, keys, "Enter"]);
    }

    /// Waits until the terminal shows `needle`.
    pub fn expect(&self, what: &str, needle: &str) {
        wait_for(
            what,
            WAIT,
            || self.screen().contains(needle).then_some(()),
            || self.screen(),
        );
    }

    /// Types `line` until the terminal shows `needle`. Sizes travel on a
    /// stream of their own: a runtime may apply one after input sent later
    /// (containerd resizes through its shim), so the shell is asked again
    /// until it sees it.
    fn ask_until(&self, what: &str, line: &str, needle: &str) {
        wait_for(
            what,
            WAIT,
            || {
                if self.screen().contains(needle) {
                    return Some(());
                }
                self.type_line(line);
                None
            },
            || self.screen(),
        );
    }

    /// Checks that the shell on it runs on a terminal of `width`x`height`.
    pub fn check_terminal(&self, width: u16, height: u16) {
        self.ask_until(
            "the terminal size",
            "stty size; tty | sed s/^/tty:/",
            &format!("{height} {width}"),
        );
        self.expect("a terminal", "tty:/dev/pts/");
    }

    /// Resizes the terminal and waits until `stty size` in it says so.
    pub fn resize_and_check(&self, width: u16, height: u16) {
        let (w, h) = (width.to_string(), height.to_string());
        tmux(&["resize-window", "-t", &self.session, "-x", &w, "-y", &h]);
        self.ask_until("the resized terminal", "stty size", &format!("{h} {w}"));
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.session]);
    }
}

/// `kubectl exec -it <pod> -- sh` in tmux: a terminal of tmux's size, a
/// resize that reaches the command, and the shell's exit code.
pub fn interactive_session_with_resize(local: &Local, mode: Mode, pod: &str) {
    let t = Terminal::kubectl(
        local,
        mode,
        pod,
        &format!("exec -it {pod} -- sh"),
        (100, 30),
    );
    t.expect("a shell prompt", "#");
    t.check_terminal(100, 30);
    t.resize_and_check(120, 40);
    t.type_line("exit 7");
    t.expect("the exit code", "command terminated with exit code 7");
    t.expect("kubectl's exit", "kubectl-exited-7");
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `kubectl port-forward pod/<pod> <local>:<remote>`, then one HTTP/1.0
/// GET of `path` through it; the whole response.
pub fn port_forward_get(
    kubeconfig: &Path,
    mode: Mode,
    pod: &str,
    remote: u16,
    path: &str,
) -> String {
    let local_port = free_port();
    let mut pf = Command::new("kubectl")
        .args([
            "port-forward",
            &format!("pod/{pod}"),
            &format!("{local_port}:{remote}"),
        ])
        .env("KUBECONFIG", kubeconfig)
        .envs(mode.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl port-forward");
    let mut out = pf.stdout.take().expect("stdout");
    let mut first = [0u8; 15];
    let started = out.read_exact(&mut first);
    let body = started.is_ok().then(|| http_get(local_port, path));
    let _ = pf.kill();
    let _ = pf.wait();
    started.expect("kubectl port-forward's first line");
    assert_eq!(&first, b"Forwarding from");
    body.unwrap_or_default()
}

/// A plain HTTP/1.0 GET on loopback; the whole response.
pub fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(CALL)).expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("request");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("response");
    body
}

/// A kubeconfig like `local`'s with a wrong token (for the Unauthorized
/// answers).
pub fn bad_kubeconfig(local: &Local) -> std::path::PathBuf {
    let bad = local.dir().join("bad.kubeconfig");
    let text = std::fs::read_to_string(&local.kubeconfig).expect("kubeconfig");
    let token_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .expect("a token");
    std::fs::write(&bad, text.replace(token_line, "    token: not-the-token"))
        .expect("bad kubeconfig");
    bad
}

/// Asserts that kubectl `args` fails with `message` on stderr.
pub fn expect_failure(kubeconfig: &Path, mode: Mode, args: &[&str], message: &str) {
    let r = kubectl(kubeconfig, mode, b"", args);
    assert_ne!(r.code, Some(0), "{mode:?} {args:?} succeeded");
    assert!(
        r.err.contains(message),
        "{mode:?} {args:?}: expected {message:?} in:\n{}",
        r.err
    );
}

/// A pod `shell` that runs until deleted, with an env var and a working
/// directory.
pub const SHELL_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: shell
spec:
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    workingDir: /tmp
    command: ["sh", "-c", "echo started; while true; do sleep 1; done"]
    env:
    - name: GREETING
      value: hello-from-the-pod
"#;

/// Pods for [`check_refusals`]: `crashing` (its container keeps exiting)
/// and `done` (completed).
pub const REFUSAL_PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: crashing
spec:
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "exit 1"]
---
apiVersion: v1
kind: Pod
metadata:
  name: done
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "exit 0"]
"#;

/// The refusals kubectl prints, with [`REFUSAL_PODS`] applied and
/// `running` a running pod: a container the pod does not have, a completed
/// pod, a container that is not running (the kubelet's refusal, relayed as
/// the API server relays it on each path), and a wrong token on exec,
/// attach and port-forward.
pub fn check_refusals(local: &Local, running: &str) {
    local.wait_status("done", "Completed", WAIT);
    wait_for(
        "the crashing pod to back off",
        WAIT,
        || {
            local
                .pod_status_column("crashing")
                .filter(|s| s == "CrashLoopBackOff" || s == "Error")
        },
        || local.diagnostics_for("crashing"),
    );
    let kc = &local.kubeconfig;
    let bad = bad_kubeconfig(local);
    let pod = format!("pod/{running}");
    for mode in Mode::ALL {
        expect_failure(
            kc,
            mode,
            &["exec", running, "-c", "nope", "--", "ls"],
            &format!(
                "Error from server (BadRequest): container nope is not valid for pod {running}"
            ),
        );
        expect_failure(
            kc,
            mode,
            &["exec", "done", "--", "ls"],
            "error: cannot exec into a container in a completed pod; current phase is Succeeded",
        );
        let not_running = match mode {
            Mode::WebSocket => "error: Internal error occurred: unable to upgrade connection: container not found (\"main\")",
            Mode::Spdy => "error: unable to upgrade connection: container not found (\"main\")",
        };
        expect_failure(kc, mode, &["exec", "crashing", "--", "ls"], not_running);
        let calls: [&[&str]; 3] = [
            &["exec", running, "--", "ls"],
            &["attach", running],
            &["port-forward", &pod, "1:1"],
        ];
        for args in calls {
            expect_failure(
                &bad,
                mode,
                args,
                "error: You must be logged in to the server (Unauthorized)",
            );
        }
    }
}

/// `kubectl exec <pod> -- sh -c <script>` where the script writes to both
/// streams and exits 3: separate streams, the exit code as kubectl reports
/// it, and the path `mode` names. Returns stdout for the caller's checks.
pub fn check_exec_streams(local: &Local, mode: Mode, pod: &str, script: &str) -> String {
    let before = path_counts(local, TRANSLATED);
    let r = kubectl(
        &local.kubeconfig,
        mode,
        b"",
        &["exec", pod, "--", "sh", "-c", script],
    );
    assert_eq!(r.code, Some(3), "{mode:?}: {}", r.err);
    assert!(r.err.starts_with("err\n"), "{mode:?}: {}", r.err);
    assert!(
        r.err.contains("command terminated with exit code 3"),
        "{mode:?}: {}",
        r.err
    );
    assert_path(local, mode, before, TRANSLATED);
    r.out
}

/// stdin piped through `kubectl exec -i`, to its end.
pub fn check_exec_stdin(local: &Local, mode: Mode, pod: &str) {
    let r = kubectl(
        &local.kubeconfig,
        mode,
        b"line one\nline two\n",
        &[
            "exec",
            "-i",
            pod,
            "--",
            "sh",
            "-c",
            "cat; echo end-of-input",
        ],
    );
    assert_eq!(r.code, Some(0), "{mode:?}: {}", r.err);
    assert_eq!(r.out, "line one\nline two\nend-of-input\n", "{mode:?}");
}

/// `kubectl cp` to `<pod>:<path>` and back; `in_pod` reads the uploaded
/// file as the pod sees it.
pub fn check_cp(local: &Local, mode: Mode, pod: &str, path: &str, in_pod: impl Fn() -> String) {
    let kc = &local.kubeconfig;
    let local_file = local.dir().join(format!("upload-{}.txt", mode.tag()));
    let content = format!("copied with {mode:?}\n").repeat(2000);
    std::fs::write(&local_file, &content).expect("local file");
    let remote = format!("{pod}:{path}");
    let r = kubectl(
        kc,
        mode,
        b"",
        &["cp", local_file.to_str().expect("utf-8 path"), &remote],
    );
    assert_eq!(r.code, Some(0), "{mode:?} cp to the pod: {}", r.err);
    assert!(in_pod() == content, "{mode:?}: the file in the pod differs");
    let back = local.dir().join(format!("download-{}.txt", mode.tag()));
    let r = kubectl(
        kc,
        mode,
        b"",
        &["cp", &remote, back.to_str().expect("utf-8 path")],
    );
    assert_eq!(r.code, Some(0), "{mode:?} cp from the pod: {}", r.err);
    assert!(
        std::fs::read_to_string(&back).expect("downloaded") == content,
        "{mode:?}: the downloaded file differs"
    );
}

/// A pod `reader-<mode>` whose container echoes its stdin (`stdin`,
/// `stdinOnce`) and ends with `bye` at its end.
pub fn reader_pod(mode: Mode) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Pod
metadata:
  name: reader-{tag}
spec:
  restartPolicy: Never
  containers:
  - name: reader
    image: busybox
    imagePullPolicy: IfNotPresent
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "echo ready; while read l; do echo got:$l; done; echo bye"]
"#,
        tag = mode.tag()
    )
}

/// `kubectl attach -i` to [`reader_pod`]: input reaches the container's
/// stdin, its output comes back, and stdinOnce closes its stdin when the
/// session ends (so the pod completes).
pub fn check_attach_stdin_once(local: &Local, mode: Mode) {
    let pod = format!("reader-{}", mode.tag());
    local.wait_status(&pod, "Running", WAIT);
    let before = path_counts(local, TRANSLATED);
    let r = kubectl(
        &local.kubeconfig,
        mode,
        b"one\ntwo\n",
        &["attach", "-i", &pod],
    );
    assert_eq!(r.code, Some(0), "{mode:?}: {}", r.err);
    assert_eq!(r.out, "got:one\ngot:two\nbye\n", "{mode:?}: {}", r.err);
    assert_path(local, mode, before, TRANSLATED);
    local.wait_status(&pod, "Completed", WAIT);
}

/// `kubectl port-forward` to `pod`'s HTTP server on `port`: `path` is
/// answered with `status_line` and ends with `body`.
pub fn check_port_forward(
    local: &Local,
    mode: Mode,
    pod: &str,
    port: u16,
    path: &str,
    status_line: &str,
    body: &str,
) {
    let before = path_counts(local, TUNNELLED);
    let got = port_forward_get(&local.kubeconfig, mode, pod, port, path);
    assert!(got.starts_with(status_line), "{mode:?}: {got}");
    assert!(got.ends_with(body), "{mode:?}: {got}");
    assert_path(local, mode, before, TUNNELLED);
}

/// A pod `console` whose `tty: true` container runs a shell on a terminal.
pub const CONSOLE_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: console
spec:
  containers:
  - name: console
    image: busybox
    imagePullPolicy: IfNotPresent
    stdin: true
    tty: true
    command: ["sh"]
"#;

/// `kubectl attach -it` to [`CONSOLE_POD`]: the container's own terminal,
/// sized and resized by the client; leaving it keeps the container (what
/// the next call checks: no restart).
pub fn check_attach_terminal(local: &Local, mode: Mode) {
    local.wait_status("console", "Running", WAIT);
    assert_eq!(
        local.pod_restarts("console"),
        Some(0),
        "{mode:?}: an earlier attach session ended the shell"
    );
    let t = Terminal::kubectl(local, mode, "console", "attach -it console", (90, 25));
    t.expect("kubectl's hint", "If you don't see a command prompt");
    t.check_terminal(90, 25);
    t.resize_and_check(110, 35);
    drop(t);
}
