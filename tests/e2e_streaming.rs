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

use support::streaming::{
    check_attach_stdin_once, check_attach_terminal, check_cp, check_exec_stdin, check_exec_streams,
    check_port_forward, check_refusals, free_port, interactive_session_with_resize, kubectl,
    reader_pod, Mode, CONSOLE_POD, REFUSAL_PODS, SHELL_POD,
};
use support::{uid_of, Local, WAIT};

#[test]
fn exec_stdin_tty_and_cp_work_over_websocket_and_spdy() {
    let local = Local::start(1, &[]);
    local.apply_yaml("shell", SHELL_POD);
    local.wait_status("shell", "Running", WAIT);
    let uid = uid_of(&local.pod_json("shell").expect("pod"));
    let sandbox = local.pod_sandbox(&uid);

    for mode in Mode::ALL {
        // Separate streams and the exit code; the container's env and
        // working directory (`/tmp`, mapped into the sandbox).
        let out = check_exec_streams(
            &local,
            mode,
            "shell",
            "echo out $GREETING; pwd; echo err >&2; exit 3",
        );
        assert_eq!(
            out,
            format!(
                "out hello-from-the-pod\n{}\n",
                sandbox.join("tmp").display()
            ),
            "{mode:?}"
        );
        check_exec_stdin(&local, mode, "shell");
        // kubectl cp both ways (tar in the pod is the host's tar).
        let file = format!("uploaded-{}.txt", mode.tag());
        check_cp(&local, mode, "shell", &file, || {
            std::fs::read_to_string(sandbox.join("tmp").join(&file))
                .expect("the file is in the pod's sandbox")
        });
        interactive_session_with_resize(&local, mode, "shell");
    }
}

#[test]
fn attach_and_port_forward_work_over_websocket_and_spdy() {
    let local = Local::start(1, &[]);
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
    pods.push_str("---");
    pods.push_str(CONSOLE_POD);
    for mode in Mode::ALL {
        pods.push_str(&reader_pod(mode));
    }
    local.apply_yaml("pods", &pods);
    local.wait_status("web", "Running", WAIT);
    let r = kubectl(
        &local.kubeconfig,
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
        check_attach_stdin_once(&local, mode);
        // attach -it to a `tty: true` container: its terminal.
        check_attach_terminal(&local, mode);
        check_port_forward(
            &local,
            mode,
            "web",
            web_port,
            "/check.txt",
            "HTTP/1.0 200",
            "served-by-the-pod\n",
        );
    }
}

#[test]
fn streaming_errors_read_as_kubectl_prints_them() {
    let local = Local::start(1, &[]);
    local.apply_yaml("pods", &format!("{SHELL_POD}---{REFUSAL_PODS}"));
    local.wait_status("shell", "Running", WAIT);
    check_refusals(&local, "shell");
}
