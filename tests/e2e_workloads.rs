//! End-to-end: Deployments and Jobs on `kube-mesos local`, through kubectl,
//! as a user of any cluster drives them — the devcluster's controllers
//! create and delete the pods, the framework places them on Mesos, the
//! executor runs them (the process runtime runs each container's command as
//! a host process, so the pods here `sleep` or `echo`).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{wait_for, Local, WAIT};

/// Longest wait for a rollout (a hang guard on a shared 2-core machine).
const ROLLOUT: Duration = Duration::from_secs(300);

/// Names, uids and whether each pod with `selector` is being deleted.
fn pods(local: &Local, selector: &str) -> Vec<(String, String, bool)> {
    let out = local.kubectl_ok(&["get", "pods", "-l", selector, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("pod list json");
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                !p["metadata"]["deletionTimestamp"].is_null(),
            )
        })
        .collect()
}

/// Mesos task states after which a task runs no more.
const TERMINAL: &[&str] = &[
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

/// Pod uids with a live Mesos task (`pod.<uid>`): listed among the
/// master's tasks and not in a terminal state (a terminal task stays
/// listed until its update is acknowledged).
fn active_task_uids(local: &Local) -> BTreeSet<String> {
    local
        .mesos_tasks()
        .into_iter()
        .filter(|t| t.active && !TERMINAL.contains(&t.state.as_str()))
        .filter_map(|t| t.id.strip_prefix("pod.").map(str::to_string))
        .collect()
}

fn rollout_status(local: &Local, name: &str) -> String {
    let timeout = format!("--timeout={}s", ROLLOUT.as_secs());
    let (ok, out, err) = local.kubectl(&["rollout", "status", name, &timeout]);
    assert!(
        ok,
        "rollout status {name}: {out}{err}\n{}",
        local.diagnostics()
    );
    out
}

/// The images of the deployment's live pods, deduplicated.
fn live_images(local: &Local, selector: &str) -> Vec<String> {
    let out = local.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        "jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.spec.containers[0].image}{\"\\n\"}{end}",
    ]);
    let mut images: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix('|').map(str::to_string))
        .collect();
    images.sort();
    images.dedup();
    images
}

#[test]
fn a_deployment_scales_rolls_back_and_its_pods_go_with_it() {
    let local = Local::start(1, &[]);
    local.kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--",
        "sleep",
        "3600",
    ]);
    rollout_status(&local, "deployment/web");
    local.kubectl_ok(&["scale", "deployment/web", "--replicas=5"]);
    let out = rollout_status(&local, "deployment/web");
    assert!(out.contains("successfully rolled out"), "{out}");
    let running = wait_for(
        "5 web pods Running, each in one Mesos task",
        WAIT,
        || {
            let p = pods(&local, "app=web");
            let all_running = p.len() == 5
                && p.iter().all(|(name, _, _)| {
                    local.pod_status_column(name).as_deref() == Some("Running")
                });
            let tasks = active_task_uids(&local);
            let uids: BTreeSet<String> = p.iter().map(|(_, uid, _)| uid.clone()).collect();
            (all_running && tasks == uids).then_some(p)
        },
        || local.diagnostics(),
    );
    let first_uids: BTreeSet<String> = running.iter().map(|(_, u, _)| u.clone()).collect();
    let row = local.kubectl_ok(&["get", "deployment", "web", "--no-headers"]);
    assert_eq!(
        row.split_whitespace().take(4).collect::<Vec<_>>(),
        ["web", "5/5", "5", "5"],
        "{row}"
    );

    // A rolling update (the process runtime ignores images; the template
    // change is what rolls).
    local.kubectl_ok(&["set", "image", "deployment/web", "busybox=busybox:1.36"]);
    rollout_status(&local, "deployment/web");
    wait_for(
        "only busybox:1.36 pods, none of the first ones",
        WAIT,
        || {
            let p = pods(&local, "app=web");
            let fresh = p.iter().all(|(_, u, _)| !first_uids.contains(u));
            (live_images(&local, "app=web") == ["busybox:1.36"] && fresh && p.len() == 5)
                .then_some(())
        },
        || local.diagnostics(),
    );
    let history = local.kubectl_ok(&["rollout", "history", "deployment/web"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );

    local.kubectl_ok(&["rollout", "undo", "deployment/web"]);
    rollout_status(&local, "deployment/web");
    wait_for(
        "the undo to bring busybox pods back",
        WAIT,
        || (live_images(&local, "app=web") == ["busybox"]).then_some(()),
        || local.diagnostics(),
    );
    let revision = local.kubectl_ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    ]);
    assert_eq!(revision, "3");

    let before_delete: BTreeSet<String> = pods(&local, "app=web")
        .into_iter()
        .map(|(_, u, _)| u)
        .collect();
    local.kubectl_ok(&["delete", "deployment", "web"]);
    wait_for(
        "the deployment's ReplicaSets and pods to be gone, and their tasks killed",
        WAIT,
        || {
            let rs = local.kubectl_ok(&["get", "rs", "-o", "name"]);
            let tasks = active_task_uids(&local);
            (pods(&local, "app=web").is_empty()
                && rs.trim().is_empty()
                && tasks.is_disjoint(&before_delete))
            .then_some(())
        },
        || local.diagnostics(),
    );
    let killed = local
        .mesos_tasks()
        .into_iter()
        .filter(|t| !t.active && t.state == "TASK_KILLED")
        .count();
    assert!(killed >= 5, "the deleted pods' tasks end TASK_KILLED");
}

#[test]
fn a_job_with_completions_3_and_parallelism_2_completes() {
    let local = Local::start(1, &[]);
    local.apply_yaml(
        "job",
        r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: count
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: ["sh", "-c", "echo working; sleep 1; echo done"]
"#,
    );
    let (ok, out, err) = local.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/count",
        "--timeout=240s",
    ]);
    assert!(ok, "{out}{err}\n{}", local.diagnostics());
    let row = local.kubectl_ok(&["get", "job", "count", "--no-headers"]);
    assert_eq!(
        row.split_whitespace().take(3).collect::<Vec<_>>(),
        ["count", "Complete", "3/3"],
        "{row}"
    );
    let done = local.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "batch.kubernetes.io/job-name=count",
        "-o",
        "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}",
    ]);
    assert_eq!(
        done.lines().filter(|l| *l == "Succeeded").count(),
        3,
        "{done}"
    );
    let first = pods(&local, "batch.kubernetes.io/job-name=count")
        .into_iter()
        .next()
        .expect("a job pod");
    assert_eq!(local.kubectl_ok(&["logs", &first.0]), "working\ndone\n");
}

#[test]
fn fifty_replicas_roll_with_one_task_per_live_pod_and_none_for_deleted_ones() {
    let local = Local::start(
        1,
        &[
            "--agent-resources",
            "0=cpus:4;mem:8192;disk:8192;ports:[21000-21099]",
        ],
    );
    local.kubectl_ok(&[
        "create",
        "deployment",
        "fleet",
        "--image=busybox",
        "--replicas=50",
        "--",
        "sleep",
        "3600",
    ]);
    rollout_status(&local, "deployment/fleet");
    // The first 50 are recorded before the rollout: sampling during it can
    // miss a pod that came and went between two looks.
    let first: BTreeSet<String> = pods(&local, "app=fleet")
        .into_iter()
        .map(|(_, u, _)| u)
        .collect();
    assert_eq!(first.len(), 50, "{first:?}");
    let mut seen = first.clone();
    local.kubectl_ok(&["set", "image", "deployment/fleet", "busybox=busybox:2"]);
    // While it rolls: a live task whose pod is gone must end soon (the
    // pod object goes once the executor has killed the task; the master
    // learns of the kill through the agent a moment later).
    let mut suspects: std::collections::BTreeMap<String, std::time::Instant> = Default::default();
    let deadline = std::time::Instant::now() + ROLLOUT;
    loop {
        let tasks = active_task_uids(&local);
        let now = pods(&local, "app=fleet");
        let existing: BTreeSet<String> = now.iter().map(|(_, u, _)| u.clone()).collect();
        seen.extend(existing.iter().cloned());
        let gone: BTreeSet<String> = tasks
            .iter()
            .filter(|u| !existing.contains(*u) && !pod_exists(&local, u))
            .cloned()
            .collect();
        suspects.retain(|u, _| gone.contains(u));
        for u in gone {
            let since = *suspects
                .entry(u.clone())
                .or_insert_with(std::time::Instant::now);
            assert!(
                since.elapsed() < Duration::from_secs(30),
                "pod {u} is gone but its Mesos task still runs\n{}",
                local.diagnostics()
            );
        }
        let images = live_images(&local, "app=fleet");
        if images == ["busybox:2"] && now.len() == 50 && now.iter().all(|(_, _, d)| !d) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rollout did not finish\n{}",
            local.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    rollout_status(&local, "deployment/fleet");
    // At rest: exactly one active task per live pod, and every pod deleted
    // by the rollout has no active task.
    let live = wait_for(
        "one active task per live pod",
        WAIT,
        || {
            let live: BTreeSet<String> = pods(&local, "app=fleet")
                .into_iter()
                .map(|(_, u, _)| u)
                .collect();
            (active_task_uids(&local) == live && live.len() == 50).then_some(live)
        },
        || local.diagnostics(),
    );
    let tasks = local.mesos_tasks();
    for uid in seen.difference(&live) {
        let id = format!("pod.{uid}");
        assert!(
            tasks.iter().filter(|t| t.id == id).all(|t| !t.active),
            "deleted pod {uid} still has an active task"
        );
    }
    assert!(
        first.is_disjoint(&live),
        "the rollout replaced all 50 pods: {:?} are still there",
        first.intersection(&live).collect::<Vec<_>>()
    );
}

/// Whether a pod with this uid exists in the default namespace.
fn pod_exists(local: &Local, uid: &str) -> bool {
    let out = local.kubectl_ok(&[
        "get",
        "pods",
        "-A",
        "-o",
        "jsonpath={.items[*].metadata.uid}",
    ]);
    out.split_whitespace().any(|u| u == uid)
}
