//! End-to-end: placement as kube-scheduler would do it, through kubectl on
//! `kube-mesos local` with several agents — inter-pod anti-affinity, zone
//! spread, priority with preemption (PodDisruptionBudgets preferred), and
//! the Node's pod count.

mod support;

use std::collections::BTreeMap;

use support::{wait_for, Local, WAIT};

/// A pod that sleeps until told to stop, requesting `cpu`.
fn sleeper(name: &str, labels: &[(&str, &str)], cpu: &str, extra_spec: &str) -> String {
    let labels: String = labels
        .iter()
        .map(|(k, v)| format!("\n    {k}: {v}"))
        .collect();
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:{labels}
spec:
  terminationGracePeriodSeconds: 5
{extra_spec}
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done"]
    resources:
      requests:
        cpu: {cpu}
"#
    )
}

/// NAME → (STATUS, NODE) of every pod.
fn pods(local: &Local) -> BTreeMap<String, (String, String)> {
    let out = local.kubectl_ok(&[
        "get",
        "pods",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.spec.nodeName}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?.to_string();
            let phase = f.next().unwrap_or("").to_string();
            let node = f.next().unwrap_or("").to_string();
            Some((name, (phase, node)))
        })
        .collect()
}

/// Waits until the pending pod's PodScheduled=False message reads
/// `expected`. Rounds see the agents Mesos offers at the time, so an early
/// message may count an agent as not offered; retries (with kube-scheduler's
/// back-off) see them all.
fn wait_unschedulable(local: &Local, pod: &str, expected: &str) {
    let mut last = String::new();
    wait_for(
        &format!("{pod} to be unschedulable with: {expected}"),
        WAIT,
        || {
            last = local
                .kubectl(&[
                    "get",
                    "pod",
                    pod,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
                ])
                .1;
            (last.trim() == expected).then_some(())
        },
        || local.diagnostics_for(pod),
    );
}

const ANTI_AFFINITY: &str = r#"  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector:
          matchLabels:
            app: web
        topologyKey: kubernetes.io/hostname"#;

#[test]
fn anti_affinity_spreads_a_replica_set_over_three_agents() {
    let local = Local::start(3, &[]);
    let rs = format!(
        r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 5
    {}
      containers:
      - name: main
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done"]
        resources:
          requests:
            cpu: 100m
"#,
        ANTI_AFFINITY.replace('\n', "\n    ")
    );
    local.apply_yaml("web", &rs);
    let nodes = wait_for(
        "three replicas running",
        WAIT,
        || {
            let running: Vec<String> = pods(&local)
                .into_values()
                .filter(|(phase, _)| phase == "Running")
                .map(|(_, node)| node)
                .collect();
            (running.len() == 3).then_some(running)
        },
        || local.diagnostics(),
    );
    let mut nodes = nodes;
    nodes.sort();
    assert_eq!(nodes, vec!["agent-0", "agent-1", "agent-2"]);

    // A fourth replica has no agent left: kube-scheduler's words.
    local.kubectl_ok(&["scale", "replicaset", "web", "--replicas=4"]);
    let pending = wait_for(
        "the fourth replica",
        WAIT,
        || {
            pods(&local)
                .into_iter()
                .find(|(_, (phase, _))| phase == "Pending")
                .map(|(name, _)| name)
        },
        || local.diagnostics(),
    );
    wait_unschedulable(
        &local,
        &pending,
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
    );
}

#[test]
fn zone_spread_with_max_skew_one() {
    let local = Local::start(
        3,
        &[
            "--agent-attributes",
            "0=zone:a",
            "--agent-attributes",
            "1=zone:b",
            "--agent-attributes",
            "2=zone:b",
        ],
    );
    let spread = r#"  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector:
      matchLabels:
        app: api"#;
    for i in 0..4 {
        local.apply_yaml(
            &format!("api-{i}"),
            &sleeper(&format!("api-{i}"), &[("app", "api")], "100m", spread),
        );
    }
    let placed = wait_for(
        "four pods running",
        WAIT,
        || {
            let p = pods(&local);
            p.values()
                .all(|(phase, _)| phase == "Running")
                .then_some(p)
                .filter(|p| p.len() == 4)
        },
        || local.diagnostics(),
    );
    let in_a = placed.values().filter(|(_, n)| n == "agent-0").count();
    assert_eq!(in_a, 2, "zone a (one agent) holds half: {placed:?}");
    assert_eq!(placed.len() - in_a, 2, "zone b (two agents) the other half");

    // A pod that may only go to zone a would make the skew 2.
    local.apply_yaml(
        "api-a",
        &sleeper(
            "api-a",
            &[("app", "api")],
            "100m",
            &format!("{spread}\n  nodeSelector:\n    kubernetes.io/hostname: agent-0"),
        ),
    );
    // kube-scheduler counts only the nodes the pod's node selector admits
    // as domains (nodeAffinityPolicy: Honor): zone a alone, so it fits.
    local.wait_status("api-a", "Running", WAIT);
    // With the selector ignored for spreading, it does not.
    local.apply_yaml(
        "api-a2",
        &sleeper(
            "api-a2",
            &[("app", "api")],
            "100m",
            &format!(
                "{}\n    nodeAffinityPolicy: Ignore\n  nodeSelector:\n    kubernetes.io/hostname: agent-0",
                spread
            ),
        ),
    );
    wait_unschedulable(
        &local,
        "api-a2",
        "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
    );
}

/// `field` of every `Preempted` event, space-separated.
fn preempted_events(local: &Local, field: &str) -> String {
    local.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=Preempted",
        "-o",
        &format!("jsonpath={{.items[*].{field}}}"),
    ])
}

/// Creates PriorityClasses of these names and values.
fn priority_classes(local: &Local, classes: &[(&str, i32)]) {
    let yaml: Vec<String> = classes
        .iter()
        .map(|(name, value)| {
            format!("apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: {name}\nvalue: {value}\n")
        })
        .collect();
    local.apply_yaml("classes", &yaml.join("---\n"));
}

#[test]
fn a_high_priority_pod_preempts_a_low_priority_one() {
    let local = Local::start(1, &[]);
    priority_classes(&local, &[("low", 100), ("high", 10000)]);
    local.apply_yaml(
        "batch",
        &sleeper("batch", &[], "1500m", "  priorityClassName: low"),
    );
    local.wait_status("batch", "Running", WAIT);
    let batch_uid = local.kubectl_ok(&["get", "pod", "batch", "-o", "jsonpath={.metadata.uid}"]);
    let priority = local.kubectl_ok(&["get", "pod", "batch", "-o", "jsonpath={.spec.priority}"]);
    assert_eq!(priority, "100", "admission resolved the class");

    // The preemptor's nomination lasts until the kubelet's first status
    // write (kubelet's status is its own, without nominatedNodeName), so a
    // watch on the pods, started before the preemptor exists, records it.
    let watch_out = local.dir().join("urgent-watch.out");
    let watch_err = local.dir().join("urgent-watch.err");
    let mut watch = std::process::Command::new("kubectl")
        .args([
            "get",
            "pods",
            "--watch",
            "-o",
            "jsonpath={.metadata.name} {.status.nominatedNodeName}{\"\\n\"}",
        ])
        .env("KUBECONFIG", &local.kubeconfig)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&watch_out).expect("watch output"))
        .stderr(std::fs::File::create(&watch_err).expect("watch errors"))
        .spawn()
        .expect("kubectl is installed");
    wait_for(
        "the watch to list the victim",
        WAIT,
        || {
            std::fs::read_to_string(&watch_out)
                .ok()
                .filter(|o| o.lines().any(|l| l.starts_with("batch")))
        },
        || {
            let err = std::fs::read_to_string(&watch_err).unwrap_or_default();
            format!("watch stderr: {err}\n{}", local.diagnostics())
        },
    );
    local.apply_yaml(
        "urgent",
        &sleeper("urgent", &[], "1", "  priorityClassName: high"),
    );
    // The victim is evicted gracefully, the preemptor nominated, then run.
    local.wait_status("urgent", "Running", WAIT);
    let _ = watch.kill();
    let _ = watch.wait();
    let (_, out, _) = local.kubectl(&["get", "pod", "batch", "-o", "jsonpath={.metadata.uid}"]);
    assert_ne!(out, batch_uid, "the victim is gone");
    let events = preempted_events(&local, "message");
    let urgent_uid = local.kubectl_ok(&["get", "pod", "urgent", "-o", "jsonpath={.metadata.uid}"]);
    assert!(
        events.contains(&format!("Preempted by pod {urgent_uid} on node agent-0")),
        "{events}"
    );
    let seen = std::fs::read_to_string(&watch_out).unwrap_or_default();
    assert!(
        seen.lines().any(|l| l == "urgent agent-0"),
        "status.nominatedNodeName was never agent-0: {seen:?}"
    );
}

/// Preemption prefers victims within their PodDisruptionBudgets: of two
/// agents each full with one lower-priority pod, the preemptor would take
/// the one whose victim matters least (priority 100 over 500), but that
/// victim's budget allows no disruption (the devcluster's disruption
/// controller counts it), so the other agent's victim goes instead. Also
/// proves the framework may watch budgets under its packaged RBAC.
#[test]
fn preemption_spares_a_pod_its_disruption_budget_protects() {
    let local = Local::start(2, &[]);
    priority_classes(&local, &[("low", 100), ("mid", 500), ("high", 10000)]);
    let on = |agent: &str, class: &str| {
        format!(
            "  priorityClassName: {class}\n  nodeSelector:\n    kubernetes.io/hostname: {agent}"
        )
    };
    local.apply_yaml(
        "db",
        &sleeper("db", &[("app", "db")], "1500m", &on("agent-0", "low")),
    );
    local.apply_yaml(
        "batch",
        &sleeper("batch", &[("app", "batch")], "1500m", &on("agent-1", "mid")),
    );
    local.wait_status("db", "Running", WAIT);
    local.wait_status("batch", "Running", WAIT);
    let db_uid = local.kubectl_ok(&["get", "pod", "db", "-o", "jsonpath={.metadata.uid}"]);
    local.apply_yaml(
        "db-budget",
        r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: db
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: db
"#,
    );
    wait_for(
        "the budget to count db as healthy",
        WAIT,
        || {
            let (_, out, _) = local.kubectl(&[
                "get",
                "pdb",
                "db",
                "-o",
                "jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}",
            ]);
            (out.trim() == "1/0").then_some(())
        },
        || local.diagnostics(),
    );

    local.apply_yaml(
        "urgent",
        &sleeper("urgent", &[], "1", "  priorityClassName: high"),
    );
    local.wait_status("urgent", "Running", WAIT);
    let placed = pods(&local);
    assert_eq!(
        placed.get("urgent").map(|(_, n)| n.as_str()),
        Some("agent-1"),
        "{placed:?}"
    );
    wait_for(
        "the victim batch to be gone",
        WAIT,
        || (!pods(&local).contains_key("batch")).then_some(()),
        || local.diagnostics(),
    );
    let (_, uid, _) = local.kubectl(&["get", "pod", "db", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(uid, db_uid, "the budget's pod was spared");
    let events = preempted_events(&local, "involvedObject.name");
    assert_eq!(events.trim(), "batch");
}

/// Regression (issue 22): 200 pods of cpu 1m on one agent with 2 cpus.
/// Each task cost 0.01 cpu, so 190 ran and 10 stayed Pending with
/// "Insufficient cpu" beside a Node showing 0.19 cpu requested, and the
/// Node's `pods: 110` was not enforced. kube-scheduler runs 110 and says
/// "Too many pods" for the others.
#[test]
fn two_hundred_tiny_pods_on_one_agent() {
    let local = Local::start(1, &[]);
    let list: Vec<String> = (0..200)
        .map(|i| sleeper(&format!("tiny-{i:03}"), &[("app", "tiny")], "1m", ""))
        .collect();
    local.apply_yaml("tiny", &list.join("---\n"));
    let placed = wait_for(
        "110 tiny pods running and 90 marked unschedulable",
        WAIT * 3,
        || {
            let p = pods(&local);
            let running = p.values().filter(|(phase, _)| phase == "Running").count();
            let unschedulable = local
                .kubectl_ok(&[
                    "get",
                    "pods",
                    "-o",
                    "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"PodScheduled\")].reason}{\"\\n\"}{end}",
                ])
                .lines()
                .filter(|l| l.trim() == "Unschedulable")
                .count();
            (running == 110 && unschedulable == 90).then_some(p)
        },
        || local.diagnostics(),
    );
    let pending: Vec<&String> = placed
        .iter()
        .filter(|(_, (phase, _))| phase == "Pending")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(pending.len(), 90);
    wait_unschedulable(
        &local,
        pending[0],
        "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    );
    // The Node's books add up: 1790m allocatable (2 cpus less the
    // executor's 0.1 and 1m per pod slot), 110m requested by 110 pods.
    let alloc = local.kubectl_ok(&[
        "get",
        "node",
        "agent-0",
        "-o",
        "jsonpath={.status.allocatable.cpu} {.status.allocatable.pods}",
    ]);
    assert_eq!(alloc, "1790m 110");
    let described = local.kubectl_ok(&["describe", "node", "agent-0"]);
    assert!(
        described
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["cpu", "110m", "(6%)", "0", "(0%)"]),
        "{described}"
    );
    assert!(
        described.contains("Non-terminated Pods:          (110 in total)"),
        "{described}"
    );
}
