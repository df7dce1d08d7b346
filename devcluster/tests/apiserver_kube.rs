//! kube-rs against the embedded API server, unchanged: a reflector over
//! pods sees create/update/delete and recovers when its resourceVersion has
//! left the server's history (410 Expired → relist).

mod apiserver_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use apiserver_common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use serde_json::json;

fn pod(name: &str) -> Pod {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}),
    )
    .expect("pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_follows_pods_and_recovers_from_410() {
    let ts = start(|c| c.history_size = 3).await;
    let client = client(&ts).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (reader, writer) = reflector::store::<Pod>();
    let relists = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let (r2, e2) = (relists.clone(), errors.clone());
    let stream = watcher(pods.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => {
                    r2.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("watcher error: {e}");
                    e2.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });
    reader.wait_until_ready().await.expect("ready");

    pods.create(&PostParams::default(), &pod("a"))
        .await
        .expect("create a");
    let r = reader.clone();
    eventually(20, || {
        let r = r.clone();
        async move {
            r.get(&reflector::ObjectRef::new("a").within("default"))
                .map(|_| ())
        }
    })
    .await;

    pods.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {"v": "2"}}})),
    )
    .await
    .expect("patch");
    let r = reader.clone();
    eventually(20, || {
        let r = r.clone();
        async move {
            let p = r.get(&reflector::ObjectRef::new("a").within("default"))?;
            (p.metadata.labels.as_ref()?.get("v")? == "2").then_some(())
        }
    })
    .await;

    pods.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    let r = reader.clone();
    eventually(20, || {
        let r = r.clone();
        async move {
            r.get(&reflector::ObjectRef::new("a").within("default"))
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert_eq!(relists.load(Ordering::SeqCst), 1);

    // Writes the pod watch does not see push its rv out of the history;
    // ending the watches makes the reflector re-watch from that rv.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..6 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("cm{i}")}})).expect("cm");
        cms.create(&PostParams::default(), &cm).await.expect("cm");
    }
    // Created while no watch is open: only a relist can find it.
    ts.server.close_watches();
    pods.create(&PostParams::default(), &pod("b"))
        .await
        .expect("create b");
    let r = reader.clone();
    eventually(30, || {
        let r = r.clone();
        async move {
            r.get(&reflector::ObjectRef::new("b").within("default"))
                .map(|_| ())
        }
    })
    .await;
    assert!(
        relists.load(Ordering::SeqCst) >= 2,
        "the 410 must force a relist"
    );
    assert_eq!(reader.state().len(), 1);
    task.abort();
    ts.server.shutdown().await.expect("shutdown");
}
