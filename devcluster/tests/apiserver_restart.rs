//! Durability: whatever was answered 2xx survives a crash (task abort in
//! process, SIGKILL of a child process), resourceVersions keep increasing
//! across restarts, and a watch from a pre-restart resourceVersion resumes.

mod apiserver_common;

use std::time::Duration;

use apiserver_common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube_mesos_devcluster::apiserver::ApiServer;
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": name}})).expect("cm")
}

fn rv_of(cm: &ConfigMap) -> u64 {
    cm.metadata
        .resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .expect("numeric rv")
}

async fn first_event_after(cms: &Api<ConfigMap>, rv: u64) -> String {
    let stream = cms
        .watch(&WatchParams::default().timeout(5), &rv.to_string())
        .await
        .expect("watch");
    let mut stream = stream.boxed();
    let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("event in time")
        .expect("stream ok")
        .expect("an event");
    match ev {
        WatchEvent::Added(c) => c.metadata.name.unwrap_or_default(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_abort_and_watch_resumes() {
    let ts = start(|_| {}).await;
    let kube = client(&ts).await;
    let cms: Api<ConfigMap> = Api::namespaced(kube.clone(), "default");
    let first = cms
        .create(&PostParams::default(), &cm("one"))
        .await
        .expect("one");
    let rv_before = rv_of(&first);
    let second = cms
        .create(&PostParams::default(), &cm("two"))
        .await
        .expect("two");
    let pods: Api<Pod> = Api::namespaced(kube, "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})).expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod");

    let TestServer { server, dir, .. } = ts;
    server.abort();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cfg = config(dir.path());
    let ts = start_in(dir, cfg).await;
    let client = client(&ts).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        cms.get("two").await.expect("two survives").data,
        second.data
    );
    let pods: Api<Pod> = Api::namespaced(client, "default");
    assert!(pods.get("p").await.is_ok());
    let third = cms
        .create(&PostParams::default(), &cm("three"))
        .await
        .expect("three");
    assert!(rv_of(&third) > rv_of(&second));
    assert_eq!(first_event_after(&cms, rv_before).await, "two");
    ts.server.shutdown().await.expect("shutdown");
}

const CHILD_DIR: &str = "KUBE_MESOS_APISERVER_CHILD_DIR";

/// Not a test on its own: the body of the child process of
/// `state_survives_sigkill`, which runs this binary with `CHILD_DIR` set.
#[tokio::test]
#[ignore = "child process entry point"]
async fn child_server() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    // The server writes its own kubeconfig.
    let mut cfg = config(&dir);
    cfg.kubeconfig_path = Some(dir.join("kubeconfig"));
    let server = ApiServer::start(cfg, listener).await.expect("start");
    std::fs::write(dir.join("ready"), server.addr().to_string()).expect("ready file");
    std::future::pending::<()>().await;
}

async fn spawn_child(dir: &std::path::Path) -> (std::process::Child, kube::Client) {
    let _ = std::fs::remove_file(dir.join("ready"));
    let child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "child_server", "--ignored", "--nocapture"])
        .env(CHILD_DIR, dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn child");
    eventually(60, || async { dir.join("ready").exists().then_some(()) }).await;
    let yaml = std::fs::read_to_string(dir.join("kubeconfig")).expect("kubeconfig");
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("parse");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    (child, kube::Client::try_from(cfg).expect("client"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, client) = spawn_child(dir.path()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut last = 0;
    let mut rv_mid = 0;
    for i in 0..20 {
        let c = cms
            .create(&PostParams::default(), &cm(&format!("c{i}")))
            .await
            .expect("create");
        last = rv_of(&c);
        if i == 9 {
            rv_mid = last;
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let (mut child, client) = spawn_child(dir.path()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let list = cms.list(&Default::default()).await.expect("list");
    assert_eq!(list.items.len(), 20, "every acknowledged create survives");
    let next = cms
        .create(&PostParams::default(), &cm("after"))
        .await
        .expect("create");
    assert!(rv_of(&next) > last);
    assert_eq!(first_event_after(&cms, rv_mid).await, "c10");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}
