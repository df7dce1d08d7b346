//! End-to-end: the hello pod with `kube-mesos local --runtime cri` against
//! a private containerd that the test starts.
//!
//! The containerd harness is the executor's own
//! (`executor/tests/support/containerd.rs`, included by path rather than
//! copied): its own root, state, socket and CNI bridge in a temp dir,
//! busybox images imported from an OCI tarball built from the static
//! busybox (no registry is reachable). Here the busybox image is also
//! imported as `docker.io/library/busybox:latest`, the name `image:
//! busybox` of `examples/hello.yaml` resolves to, so the example runs
//! unchanged. It needs root, containerd, runc and the CNI plugins
//! (`scripts/test` installs them) and fails with the reason otherwise.

mod support;

#[path = "../executor/tests/support/containerd.rs"]
mod containerd;

use support::{example, wait_for, Local, WAIT};

#[test]
fn hello_pod_runs_under_containerd() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let cd = runtime.block_on(async {
        let cd = containerd::Containerd::start().await;
        let tar = containerd::image::busybox_image(
            cd.dir(),
            "docker.io/library/busybox:latest",
            &["/bin/sh"],
            &[],
        );
        cd.import(&tar, "docker.io/library/busybox:latest").await;
        cd
    });
    let socket = cd.socket().display().to_string();
    let local = Local::start(1, &["--runtime", "cri", "--cri-socket", &socket]);
    local.kubectl_ok(&["apply", "-f", example("hello.yaml").to_str().unwrap()]);
    wait_for(
        "hello to run under containerd",
        WAIT,
        || (local.pod_status_column("hello").as_deref() == Some("Running")).then_some(()),
        || {
            format!(
                "{}\n--- containerd:\n{}",
                local.diagnostics_for("hello"),
                cd.diagnostics()
            )
        },
    );
    let logs = wait_for(
        "kubectl logs hello to show the greeting",
        WAIT,
        || {
            let (ok, out, _) = local.kubectl(&["logs", "hello"]);
            (ok && out.contains("hello from kube-mesos")).then_some(out)
        },
        || local.diagnostics_for("hello"),
    );
    assert!(logs.starts_with("hello from kube-mesos"), "{logs}");
    let node = local.kubectl_ok(&["get", "pod", "hello", "-o", "jsonpath={.spec.nodeName}"]);
    assert_eq!(node, "agent-0");
    // A CRI pod gets its IP from the CNI bridge of the private containerd.
    let ip = local.kubectl_ok(&["get", "pod", "hello", "-o", "jsonpath={.status.podIP}"]);
    assert!(
        ip.starts_with(cd.subnet.trim_end_matches("0/24")),
        "pod IP {ip:?} is not in {}",
        cd.subnet
    );
    local.kubectl_ok(&["delete", "pod", "hello", "--timeout=60s"]);
    local.wait_gone("hello", WAIT);
    // Stop kube-mesos local (and its executor) before containerd goes.
    drop(local);
    drop(cd);
}
