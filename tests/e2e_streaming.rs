//! End-to-end: `kubectl exec`, `attach`, `cp` and `port-forward` against
//! `kube-mesos local` (process runtime), through kubectl alone.
//!
//! Every scenario runs twice: with kubectl's WebSockets (the API server
//! translates exec/attach to SPDY towards the kubelet endpoint, and tunnels
//! port-forward's SPDY through the WebSocket) and with
//! `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false` / `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`
//! (SPDY proxied as it is). The API server's log shows which path served
//! each request, so a silent fallback cannot pass for the WebSocket path.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{uid_of, wait_for, Local, WAIT};

/// Longest single kubectl call here (a hang guard).
const CALL: Duration = Duration::from_secs(60);

/// kubectl's WebSocket paths on (default) or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    WebSocket,
    Spdy,
}

impl Mode {
    const ALL: [Mode; 2] = [Mode::WebSocket, Mode::Spdy];

    fn env(self) -> Vec<(&'static str, &'static str)> {
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

    fn tag(self) -> &'static str {
        match self {
            Mode::WebSocket => "ws",
            Mode::Spdy => "spdy",
        }
    }
}

struct Run {
    code: Option<i32>,
    out: String,
    err: String,
}

/// Runs kubectl with `stdin` as its input, killed after [`CALL`].
fn kubectl(kubeconfig: &Path, mode: Mode, stdin: &[u8], args: &[&str]) -> Run {
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
fn logged(local: &Local, line: &str) -> usize {
    local_log(local).matches(line).count()
}

const TRANSLATED: &str = "WebSocket stream translated to SPDY for the kubelet";
const TUNNELLED: &str = "SPDY tunnelled through WebSocket to the kubelet";
const PROXIED: &str = "upgrade proxied to the kubelet as it is";

/// Asserts that the request just made went through the path `mode` names.
fn assert_path(local: &Local, mode: Mode, before: (usize, usize), websocket_line: &str) {
    let after = (logged(local, websocket_line), logged(local, PROXIED));
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

const SHELL_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: shell
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo started; while true; do sleep 1; done"]
    env:
    - name: GREETING
      value: hello-from-the-pod
"#;

#[test]
fn exec_stdin_tty_and_cp_work_over_websocket_and_spdy() {
    let local = Local::start(1, &[]);
    local.apply_yaml("shell", SHELL_POD);
    local.wait_status("shell", "Running", WAIT);
    let uid = uid_of(&local.pod_json("shell").expect("pod"));
    let sandbox = local.pod_sandbox(&uid);
    let kc = &local.kubeconfig;

    for mode in Mode::ALL {
        // Separate streams and the exit code; the container's env and
        // working directory.
        let before = (logged(&local, TRANSLATED), logged(&local, PROXIED));
        let r = kubectl(
            kc,
            mode,
            b"",
            &[
                "exec",
                "shell",
                "--",
                "sh",
                "-c",
                "echo out $GREETING; pwd; echo err >&2; exit 3",
            ],
        );
        assert_eq!(r.code, Some(3), "{mode:?}: {}", r.err);
        assert_eq!(
            r.out,
            format!("out hello-from-the-pod\n{}\n", sandbox.display()),
            "{mode:?}"
        );
        assert!(r.err.starts_with("err\n"), "{mode:?}: {}", r.err);
        assert!(
            r.err.contains("command terminated with exit code 3"),
            "{mode:?}: {}",
            r.err
        );
        assert_path(&local, mode, before, TRANSLATED);

        // stdin piped through `exec -i`, to its end.
        let r = kubectl(
            kc,
            mode,
            b"line one\nline two\n",
            &[
                "exec",
                "-i",
                "shell",
                "--",
                "sh",
                "-c",
                "cat; echo end-of-input",
            ],
        );
        assert_eq!(r.code, Some(0), "{mode:?}: {}", r.err);
        assert_eq!(r.out, "line one\nline two\nend-of-input\n", "{mode:?}");

        // kubectl cp both ways (tar in the pod is the host's tar).
        let local_file = local.dir().join(format!("upload-{}.txt", mode.tag()));
        let content = format!("copied with {mode:?}\n").repeat(2000);
        std::fs::write(&local_file, &content).expect("local file");
        let remote = format!("shell:uploaded-{}.txt", mode.tag());
        let r = kubectl(
            kc,
            mode,
            b"",
            &["cp", local_file.to_str().unwrap(), &remote],
        );
        assert_eq!(r.code, Some(0), "{mode:?} cp to the pod: {}", r.err);
        let in_pod = std::fs::read_to_string(sandbox.join(format!("uploaded-{}.txt", mode.tag())))
            .expect("the file is in the pod's sandbox");
        assert_eq!(in_pod, content);
        let back = local.dir().join(format!("download-{}.txt", mode.tag()));
        let r = kubectl(kc, mode, b"", &["cp", &remote, back.to_str().unwrap()]);
        assert_eq!(r.code, Some(0), "{mode:?} cp from the pod: {}", r.err);
        assert_eq!(std::fs::read_to_string(&back).expect("downloaded"), content);

        interactive_session_with_resize(&local, mode);
    }
}

/// `kubectl exec -it` in tmux: a terminal of tmux's size, a resize that
/// reaches the command, and the shell's exit code.
fn interactive_session_with_resize(local: &Local, mode: Mode) {
    let session = format!("km-e2e-{}-{}", std::process::id(), mode.tag());
    let env: String = mode
        .env()
        .iter()
        .map(|(k, v)| format!("{k}={v} "))
        .collect();
    let command = format!(
        "{env}KUBECONFIG={} kubectl exec -it shell -- sh; echo kubectl-exited-$?; sleep 60",
        local.kubeconfig.display()
    );
    let tmux = |args: &[&str]| {
        let out = Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux is installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    let screen = || tmux(&["capture-pane", "-p", "-t", &session, "-S", "-100"]);
    let expect = |what: &str, needle: &str| {
        wait_for(
            what,
            WAIT,
            || screen().contains(needle).then_some(()),
            screen,
        );
    };
    expect("a shell prompt", "#");
    tmux(&[
        "send-keys",
        "-t",
        &session,
        "stty size; tty | sed s/^/tty:/",
        "Enter",
    ]);
    expect("the terminal size", "30 100");
    expect("a terminal", "tty:/dev/pts/");
    tmux(&["resize-window", "-t", &session, "-x", "120", "-y", "40"]);
    tmux(&["send-keys", "-t", &session, "stty size", "Enter"]);
    expect("the resized terminal", "40 120");
    tmux(&["send-keys", "-t", &session, "exit 7", "Enter"]);
    expect("the exit code", "command terminated with exit code 7");
    expect("kubectl's exit", "kubectl-exited-7");
    tmux(&["kill-session", "-t", &session]);
}

#[test]
fn attach_and_port_forward_work_over_websocket_and_spdy() {
    let local = Local::start(1, &[]);
    let kc = &local.kubeconfig;
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    };
    let web_port = free_port();
    let mut pods = format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: python
    command: ["python3", "-m", "http.server", "--bind", "127.0.0.1", "{web_port}"]
"#
    );
    for mode in Mode::ALL {
        pods.push_str(&format!(
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
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "echo ready; while read l; do echo got:$l; done; echo bye"]
"#,
            tag = mode.tag()
        ));
    }
    local.apply_yaml("pods", &pods);
    local.wait_status("web", "Running", WAIT);
    let r = kubectl(
        kc,
        Mode::Spdy,
        b"",
        &[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo served-by-the-pod > check.txt",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.err);

    for mode in Mode::ALL {
        // attach: input reaches the container's stdin, its output comes
        // back, and stdinOnce closes its stdin when the session ends.
        let pod = format!("reader-{}", mode.tag());
        local.wait_status(&pod, "Running", WAIT);
        let before = (logged(&local, TRANSLATED), logged(&local, PROXIED));
        let r = kubectl(kc, mode, b"one\ntwo\n", &["attach", "-i", &pod]);
        assert_eq!(r.code, Some(0), "{mode:?}: {}", r.err);
        assert_eq!(r.out, "got:one\ngot:two\nbye\n", "{mode:?}: {}", r.err);
        assert_path(&local, mode, before, TRANSLATED);
        local.wait_status(&pod, "Completed", WAIT);

        // port-forward to the pod's HTTP server, read with an HTTP client.
        let before = (logged(&local, TUNNELLED), logged(&local, PROXIED));
        let local_port = free_port();
        let mut pf = Command::new("kubectl")
            .args([
                "port-forward",
                "pod/web",
                &format!("{local_port}:{web_port}"),
            ])
            .env("KUBECONFIG", kc)
            .envs(mode.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl port-forward");
        let mut out = pf.stdout.take().expect("stdout");
        let mut first = [0u8; 15];
        out.read_exact(&mut first)
            .expect("kubectl port-forward's first line");
        assert_eq!(&first, b"Forwarding from");
        let body = http_get(local_port, "/check.txt");
        let _ = pf.kill();
        let _ = pf.wait();
        assert!(body.starts_with("HTTP/1.0 200"), "{mode:?}: {body}");
        assert!(body.ends_with("served-by-the-pod\n"), "{mode:?}: {body}");
        assert_path(&local, mode, before, TUNNELLED);
    }
}

/// A plain HTTP/1.0 GET on loopback; the whole response.
fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(CALL)).expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("request");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("response");
    body
}

#[test]
fn streaming_errors_read_as_kubectl_prints_them() {
    let local = Local::start(1, &[]);
    local.apply_yaml(
        "pods",
        &format!(
            "{SHELL_POD}---{}",
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: crashing
spec:
  containers:
  - name: main
    image: busybox
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
    command: ["sh", "-c", "exit 0"]
"#
        ),
    );
    local.wait_status("shell", "Running", WAIT);
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
    let bad = local.dir().join("bad.kubeconfig");
    let text = std::fs::read_to_string(kc).expect("kubeconfig");
    let token_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .expect("a token");
    std::fs::write(&bad, text.replace(token_line, "    token: not-the-token"))
        .expect("bad kubeconfig");

    for mode in Mode::ALL {
        let expect = |args: &[&str], kubeconfig: &Path, message: &str| {
            let r = kubectl(kubeconfig, mode, b"", args);
            assert_ne!(r.code, Some(0), "{mode:?} {args:?} succeeded");
            assert!(
                r.err.contains(message),
                "{mode:?} {args:?}: expected {message:?} in:\n{}",
                r.err
            );
        };
        expect(
            &["exec", "shell", "-c", "nope", "--", "ls"],
            kc,
            "Error from server (BadRequest): container nope is not valid for pod shell",
        );
        expect(
            &["exec", "done", "--", "ls"],
            kc,
            "error: cannot exec into a container in a completed pod; current phase is Succeeded",
        );
        // The container is not running: the kubelet's refusal, relayed as
        // the API server relays it on each path.
        let not_running = match mode {
            Mode::WebSocket => {
                "error: Internal error occurred: unable to upgrade connection: container not found (\"main\")"
            }
            Mode::Spdy => "error: unable to upgrade connection: container not found (\"main\")",
        };
        expect(&["exec", "crashing", "--", "ls"], kc, not_running);
        expect(
            &["exec", "shell", "--", "ls"],
            &bad,
            "error: You must be logged in to the server (Unauthorized)",
        );
        expect(
            &["attach", "shell"],
            &bad,
            "error: You must be logged in to the server (Unauthorized)",
        );
        expect(
            &["port-forward", "pod/shell", "1:1"],
            &bad,
            "error: You must be logged in to the server (Unauthorized)",
        );
    }
}
