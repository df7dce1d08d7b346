//! End-to-end: the hello pod with `kube-mesos local --runtime cri` against
//! a private containerd that the test starts (see `cri_support`).

mod cri_support;
mod support;

use support::{example, wait_for, WAIT};

#[test]
fn hello_pod_runs_under_containerd() {
    let cd = cri_support::start_containerd();
    let local = cri_support::start_local(&cd);
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
