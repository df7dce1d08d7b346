//! End-to-end: placement across two agents of different attributes.

mod support;

use support::{example, port_range, wait_for, Local, WAIT};

fn node_of(local: &Local, pod: &str) -> String {
    local.kubectl_ok(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"])
}

#[test]
fn node_selector_lands_on_the_labelled_agent_and_host_ports_never_collide() {
    let local = Local::start(
        2,
        &[
            "--agent-attributes",
            "0=rack:r1;zone:a",
            "--agent-attributes",
            "1=rack:r2;zone:b",
        ],
    );
    // Attributes became Node labels.
    let labels = local.kubectl_ok(&["get", "nodes", "-l", "rack=r2", "-o", "name"]);
    assert_eq!(labels.trim(), "node/agent-1");

    local.kubectl_ok(&[
        "apply",
        "-f",
        example("node-selector.yaml").to_str().unwrap(),
    ]);
    local.wait_status("on-rack-r2", "Running", WAIT);
    assert_eq!(node_of(&local, "on-rack-r2"), "agent-1");

    // Each agent offers its own port range (they share one host), so a
    // hostPort of agent-0's range fits agent-0 once and nowhere else.
    let (first0, _) = port_range(local.slot, 0);
    let (first1, _) = port_range(local.slot, 1);
    let port0 = first0 + 50;
    let port1 = first1 + 50;
    let pod = |name: &str, port: u32| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "while true; do sleep 5; done"]
    ports:
    - containerPort: {port}
      hostPort: {port}
"#
        )
    };
    local.apply_yaml("port-a", &pod("port-a", port0));
    local.wait_status("port-a", "Running", WAIT);
    assert_eq!(node_of(&local, "port-a"), "agent-0");
    local.apply_yaml("port-b", &pod("port-b", port0));
    local.apply_yaml("port-c", &pod("port-c", port1));
    local.wait_status("port-c", "Running", WAIT);
    assert_eq!(node_of(&local, "port-c"), "agent-1");
    let described = wait_for(
        "port-b to be unschedulable",
        WAIT,
        || {
            let d = local.describe("port-b");
            d.contains("FailedScheduling").then_some(d)
        },
        || local.diagnostics_for("port-b"),
    );
    assert_eq!(
        local.pod_status_column("port-b").as_deref(),
        Some("Pending"),
        "{described}"
    );
    assert_eq!(node_of(&local, "port-b"), "");

    // Freeing the port lets the waiting pod in.
    local.kubectl_ok(&["delete", "pod", "port-a", "--timeout=60s"]);
    local.wait_status("port-b", "Running", WAIT);
    assert_eq!(node_of(&local, "port-b"), "agent-0");

    // Regression: the executors of both agents once shared one state
    // root, and each removed the other's pod sandboxes as orphans, so the
    // pods of the agent whose executor started first restarted.
    for pod in ["on-rack-r2", "port-c", "port-b"] {
        assert_eq!(
            local.pod_status_column(pod).as_deref(),
            Some("Running"),
            "{pod}\n{}",
            local.diagnostics_for(pod)
        );
        assert_eq!(
            local.pod_restarts(pod),
            Some(0),
            "{pod} restarted\n{}",
            local.diagnostics_for(pod)
        );
    }
}
