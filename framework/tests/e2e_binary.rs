//! The real `kube-mesos framework` binary: SIGKILL mid-churn and restart
//! (framework ID reused, tasks reconciled, no pod lost or launched twice),
//! SIGTERM drains and exits 0 without tearing the framework down, and
//! `--check-config` for packaging.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube_mesos_proto::v1::TaskState;

/// The `kube-mesos` binary, built from this checkout (cargo does not build
/// another package's binaries for this crate's tests).
fn binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_binary).clone()
}

fn build_binary() -> PathBuf {
    if let Ok(path) = std::env::var("KUBE_MESOS_BIN") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "kube-mesos",
            "--bin",
            "kube-mesos",
        ])
        .current_dir(&root)
        .status()
        .expect("running cargo build");
    assert!(status.success(), "building kube-mesos failed");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    target.join("debug").join("kube-mesos")
}

/// The framework process; killed when dropped, so a failing test leaks no
/// process (a leaked one keeps cargo's output pipe open forever).
struct Framework(Child);

impl std::ops::Deref for Framework {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Framework {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Framework {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_framework(
    bin: &PathBuf,
    cluster: &Cluster,
    kubeconfig: &PathBuf,
    http_port: u16,
) -> Framework {
    let child = Command::new(bin)
        .args([
            "framework",
            "--namespace",
            "default",
            "--batch-window",
            "200ms",
        ])
        .args(["--leader-election=false", "--hostname", "localhost"])
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("KUBE_MESOS_MASTER", cluster.master.url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting kube-mesos framework");
    Framework(child)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn framework_id(cluster: &Cluster) -> Option<String> {
    let cms: Api<ConfigMap> = Api::namespaced(cluster.kube.clone(), "default");
    cms.get_opt("kube-mesos-framework")
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data)
        .and_then(|mut d| d.remove("frameworkId"))
}

async fn running_tasks(cluster: &Cluster) -> Vec<kube_mesos_proto::v1::Task> {
    cluster
        .master_tasks()
        .await
        .tasks
        .into_iter()
        .filter(|t| t.state == TaskState::TaskRunning as i32)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_churn_then_restart_reuses_the_framework_id() {
    let bin = tokio::task::spawn_blocking(binary).await.unwrap();
    let cluster = Cluster::start(2).await;
    let kubeconfig = cluster.dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.api.as_ref().unwrap().kubeconfig()).unwrap();

    let mut child = spawn_framework(&bin, &cluster, &kubeconfig, free_port());
    let mut names = Vec::new();
    for i in 0..3 {
        let name = format!("k{i}");
        create_pod(&cluster, &name, "100m").await;
        names.push(name);
    }
    bound(&cluster, "k0").await;
    let id = framework_id(&cluster).await.expect("framework ID stored");
    for i in 3..6 {
        let name = format!("k{i}");
        create_pod(&cluster, &name, "100m").await;
        names.push(name);
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for i in 6..9 {
        let name = format!("k{i}");
        create_pod(&cluster, &name, "100m").await;
        names.push(name);
    }

    let mut child = spawn_framework(&bin, &cluster, &kubeconfig, free_port());
    for name in &names {
        bound(&cluster, name).await;
    }
    eventually("a running task per pod", || async {
        (running_tasks(&cluster).await.len() == names.len()).then_some(())
    })
    .await;
    let tasks = running_tasks(&cluster).await;
    let ids: BTreeSet<_> = tasks.iter().map(|t| t.task_id.value.clone()).collect();
    let mut expected = BTreeSet::new();
    for name in &names {
        expected.insert(task_id(&cluster.pods().get(name).await.unwrap()));
    }
    assert_eq!(ids, expected, "one task per pod, none twice");
    assert!(tasks.iter().all(|t| t.framework_id.value == id));
    assert_eq!(framework_id(&cluster).await, Some(id));
    child.kill().unwrap();
    child.wait().unwrap();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_exits_zero_and_keeps_tasks_running() {
    let bin = tokio::task::spawn_blocking(binary).await.unwrap();
    let cluster = Cluster::start(1).await;
    let kubeconfig = cluster.dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.api.as_ref().unwrap().kubeconfig()).unwrap();
    let port = free_port();
    let mut child = spawn_framework(&bin, &cluster, &kubeconfig, port);
    create_pod(&cluster, "t0", "100m").await;
    let pod = bound(&cluster, "t0").await;
    let id = task_id(&pod);
    eventually("task running", || async {
        running_tasks(&cluster)
            .await
            .iter()
            .any(|t| t.task_id.value == id)
            .then_some(())
    })
    .await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert!(http_get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0), "SIGTERM must exit 0");
    // No TEARDOWN: the task keeps running for the next framework.
    assert!(running_tasks(&cluster)
        .await
        .iter()
        .any(|t| t.task_id.value == id));
    cluster.stop().await;
}

#[test]
fn check_config_prints_the_parsed_configuration() {
    let bin = binary();
    let out = Command::new(&bin)
        .args(["framework", "--check-config", "--roles", "web,batch"])
        .args([
            "--role-for-namespace",
            "team=web",
            "--executor-env",
            "TOKEN=s3cr3t-value",
        ])
        .env("KUBE_MESOS_MASTER", "http://m1:5050,http://m2:5050")
        .env("KUBE_MESOS_SCHEDULER_NAME", "from-env")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("masters: http://m1:5050/,http://m2:5050/"),
        "{text}"
    );
    assert!(text.contains("scheduler_names: from-env"), "{text}");
    assert!(text.contains("roles: web,batch"), "{text}");
    assert!(text.contains("role_for_namespace.team: web"), "{text}");
    assert!(
        !text.contains("s3cr3t"),
        "secrets must not be printed: {text}"
    );

    let bad = Command::new(&bin)
        .args([
            "framework",
            "--check-config",
            "--master",
            "zk://z:2181/mesos",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
