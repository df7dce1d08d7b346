//! End-to-end: `kubectl exec`, `attach`, `cp` and `port-forward` against
//! `kube-mesos local --runtime cri` on a private containerd, through
//! kubectl alone.
//!
//! The executor's kubelet endpoint asks containerd (CRI `Exec`, `Attach`,
//! `PortForward`) for a session on its stream server and proxies the
//! upgrade there, as the kubelet does; containerd runs the command in the
//! container, attaches to its stdio, and dials the port in the pod's
//! network namespace. Every scenario runs with kubectl's WebSockets (the
//! API server translates to SPDY towards the kubelet endpoint) and with
//! them off (SPDY proxied as it is); the API server's log proves the path.

mod cri_support;
mod support;

use support::streaming::{
    check_attach_stdin_once, check_attach_terminal, check_cp, check_exec_stdin, check_exec_streams,
    check_port_forward, check_refusals, interactive_session_with_resize, kubectl, reader_pod, Mode,
    CONSOLE_POD, REFUSAL_PODS, SHELL_POD,
};
use support::{wait_for, Local, WAIT};

fn wait_running(local: &Local, cd: &cri_support::containerd::Containerd, pod: &str) {
    wait_for(
        &format!("{pod} to run under containerd"),
        WAIT,
        || (local.pod_status_column(pod).as_deref() == Some("Running")).then_some(()),
        || {
            format!(
                "{}\n--- containerd:\n{}",
                local.diagnostics_for(pod),
                cd.diagnostics()
            )
        },
    );
}

#[test]
fn exec_stdin_tty_cp_and_refusals_work_under_containerd_over_websocket_and_spdy() {
    let cd = cri_support::start_containerd();
    let local = cri_support::start_local(&cd);
    local.apply_yaml("pods", &format!("{SHELL_POD}---{REFUSAL_PODS}"));
    wait_running(&local, &cd, "shell");
    let kc = &local.kubeconfig;

    for mode in Mode::ALL {
        // Separate streams and the exit code, inside the container: its
        // env, working directory and hostname (the pod's UTS namespace).
        let out = check_exec_streams(
            &local,
            mode,
            "shell",
            "echo out $GREETING $(hostname); pwd; echo err >&2; exit 3",
        );
        assert_eq!(out, "out hello-from-the-pod shell\n/tmp\n", "{mode:?}");
        check_exec_stdin(&local, mode, "shell");
        // kubectl cp both ways, with the container's own (busybox) tar;
        // the pod's view of the file is read back with exec.
        let file = format!("/tmp/uploaded-{}.txt", mode.tag());
        check_cp(&local, mode, "shell", &file, || {
            let r = kubectl(kc, mode, b"", &["exec", "shell", "--", "cat", &file]);
            assert_eq!(r.code, Some(0), "{mode:?}: {}", r.err);
            r.out
        });
        interactive_session_with_resize(&local, mode, "shell");
    }

    check_refusals(&local, "shell");
    drop(local);
    drop(cd);
}

#[test]
fn attach_and_port_forward_work_under_containerd_over_websocket_and_spdy() {
    let cd = cri_support::start_containerd();
    let local = cri_support::start_local(&cd);
    // busybox httpd on all addresses of the pod's own network namespace;
    // containerd's port-forward dials it there as localhost.
    let mut pods = String::from(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo served-by-the-pod > /www/check.txt && exec httpd -f -p 8080 -h /www"]
"#,
    );
    pods.push_str("---");
    pods.push_str(CONSOLE_POD);
    for mode in Mode::ALL {
        pods.push_str(&reader_pod(mode));
    }
    local.apply_yaml("pods", &pods);
    wait_running(&local, &cd, "web");

    for mode in Mode::ALL {
        wait_running(&local, &cd, &format!("reader-{}", mode.tag()));
        check_attach_stdin_once(&local, mode);

        // attach -it to the `tty: true` container.
        check_attach_terminal(&local, mode);

        // busybox httpd answers an HTTP/1.0 request as HTTP/1.1.
        check_port_forward(
            &local,
            mode,
            "web",
            8080,
            "/check.txt",
            "HTTP/1.1 200 OK\r\n",
            "served-by-the-pod\n",
        );
    }
    drop(local);
    drop(cd);
}
