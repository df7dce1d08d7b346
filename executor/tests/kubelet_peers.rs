//! Two executor generations of one agent behind one kubelet port: the
//! executor the Node points at answers for the other's pods by forwarding
//! to its peer socket (logs streamed, upgrades spliced), a peer's request
//! is never forwarded again, and a dead generation's pods are simply not
//! found.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::config::KubeletAuth;
use kube_mesos_executor::kubelet::{self, peer, KnownPod, KubeletState, PodDirectory};
use kube_mesos_executor::node_role::registry::{Membership, PeerSocket, PodKey, Registry};
use kube_mesos_executor::runner::process::{ProcessConfig, ProcessRuntime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One generation's pods, with the registry behind `elsewhere`.
struct Generation {
    pods: HashMap<String, KnownPod>,
    membership: Arc<Membership>,
}

impl PodDirectory for Generation {
    fn find(&self, namespace: &str, name: &str) -> Option<KnownPod> {
        (namespace == "default")
            .then(|| self.pods.get(name).cloned())
            .flatten()
    }
    fn elsewhere(&self, namespace: &str, name: &str) -> Option<PeerSocket> {
        self.membership
            .registry()
            .locate(namespace, name, self.membership.sequence())
    }
}

fn known(dir: &Path, name: &str, line: &str) -> KnownPod {
    let pod: core::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]}
    }))
    .unwrap();
    let status: core::PodStatus = serde_json::from_value(serde_json::json!({
        "phase": "Running",
        "containerStatuses": [{
            "name": "main", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
            "containerID": format!("process://{name}-0"),
            "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}
        }]
    }))
    .unwrap();
    let log_dir = dir.join(format!("default_{name}_uid-{name}"));
    std::fs::create_dir_all(log_dir.join("main")).unwrap();
    std::fs::write(
        log_dir.join("main/0.log"),
        format!("2024-01-01T00:00:01Z stdout F {line}\n"),
    )
    .unwrap();
    KnownPod {
        pod: Arc::new(pod),
        status,
        log_dir,
    }
}

/// A generation that runs `pods`, joined to the registry and published.
fn generation(
    registry: &Registry,
    dir: &Path,
    executor_id: &str,
    token: &str,
    pods: &[&str],
) -> (KubeletState, Arc<Membership>) {
    let membership = Arc::new(registry.join(executor_id, 0).unwrap());
    membership
        .set_pods(
            pods.iter()
                .map(|p| PodKey {
                    namespace: "default".into(),
                    name: p.to_string(),
                    uid: format!("uid-{p}"),
                })
                .collect(),
        )
        .unwrap();
    let state = KubeletState {
        auth: KubeletAuth {
            token: Some(token.into()),
            ..Default::default()
        },
        pods: Arc::new(Generation {
            pods: pods
                .iter()
                .map(|p| (p.to_string(), known(dir, p, &format!("hello from {p}"))))
                .collect(),
            membership: membership.clone(),
        }),
        runtime: Arc::new(ProcessRuntime::new(ProcessConfig::new(
            dir.join(format!("rt-{executor_id}")),
        ))),
        access: None,
    };
    (state, membership)
}

/// Serves `state` on `membership`'s peer socket until the sender fires.
fn serve_peer(
    state: &KubeletState,
    membership: &Membership,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = membership.socket().bind().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(peer::serve_peers(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    (stop, task)
}

async fn body_text(response: Response<kubelet::Body>) -> (u16, String) {
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn get(state: &KubeletState, token: &str, path: &str) -> (u16, String) {
    let req = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    body_text(kubelet::handle(state, false, req).await).await
}

/// A GET on a peer socket, as another generation would send it.
async fn get_over_socket(socket: &PeerSocket, path: &str) -> (u16, String) {
    let io = socket.connect().await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn the_pods_of_another_generation_are_served_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path(), "127.0.0.1").unwrap();
    let (old, old_membership) =
        generation(&registry, dir.path(), "kube-mesos-old", "t-old", &["ua"]);
    let (new, new_membership) =
        generation(&registry, dir.path(), "kube-mesos-new", "t-new", &["ub"]);
    let (stop_old, old_peer) = serve_peer(&old, &old_membership);
    let (stop_new, new_peer) = serve_peer(&new, &new_membership);

    // Whichever port the Node advertises, both pods' logs are there; the
    // peer does not ask for the caller's credentials (its own token
    // differs), the first executor checked them.
    for (state, token) in [(&old, "t-old"), (&new, "t-new")] {
        for pod in ["ua", "ub"] {
            assert_eq!(
                get(state, token, &format!("/containerLogs/default/{pod}/main")).await,
                (200, format!("hello from {pod}\n")),
                "{pod} through {token}"
            );
        }
        assert_eq!(
            get(
                state,
                token,
                "/containerLogs/default/ub/main?timestamps=true"
            )
            .await,
            (200, "2024-01-01T00:00:01.000000000Z hello from ub\n".into()),
            "the query is passed on"
        );
        assert_eq!(
            get(state, token, "/containerLogs/default/nope/main").await,
            (404, r#"pod "nope" does not exist"#.into())
        );
        // The kubelet's refusals of the executor running the pod come back
        // as they are.
        assert_eq!(
            get(state, token, "/containerLogs/default/ub/other").await,
            (404, r#"container "other" not found in pod "ub""#.into())
        );
    }
    // Authentication stays the front executor's.
    assert_eq!(
        get(&old, "t-new", "/containerLogs/default/ub/main").await.0,
        401
    );

    // A request that came from a peer is answered, never forwarded again.
    let (status, _) =
        get_over_socket(&old_membership.socket(), "/containerLogs/default/ub/main").await;
    assert_eq!(status, 404);
    assert_eq!(
        get_over_socket(&old_membership.socket(), "/containerLogs/default/ua/main").await,
        (200, "hello from ua\n".into())
    );

    // The new generation exits: its pods are not found any more, its
    // registry files are gone, the old one's pods still are.
    let _ = stop_new.send(());
    new_peer.await.unwrap();
    let new_files: Vec<PathBuf> = std::fs::read_dir(registry.dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("gen-2"))
        .collect();
    assert!(!new_files.is_empty());
    drop(new);
    drop(new_membership);
    for f in &new_files {
        assert!(!f.exists(), "{} removed", f.display());
    }
    assert_eq!(
        get(&old, "t-old", "/containerLogs/default/ub/main").await,
        (404, r#"pod "ub" does not exist"#.into())
    );
    let _ = stop_old.send(());
    old_peer.await.unwrap();
}

#[tokio::test]
async fn a_generation_that_died_is_not_asked() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path(), "127.0.0.1").unwrap();
    let (front, _front_membership) =
        generation(&registry, dir.path(), "kube-mesos-a", "t", &["ua"]);
    // A generation that published its pods and died without cleaning up:
    // its record stays, its lock is free, its socket answers nobody.
    std::fs::write(
        registry.dir().join("gen-7.json"),
        serde_json::json!({
            "sequence": 7, "executorId": "kube-mesos-dead", "pid": 1, "kubeletPort": 1,
            "draining": false,
            "pods": [{"namespace": "default", "name": "ub", "uid": "uid-ub"}]
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(registry.dir().join("gen-7.lock"), "").unwrap();
    assert_eq!(
        get(&front, "t", "/exec/default/ub/main?command=ls&output=1").await,
        (404, "pod does not exist".into())
    );
    assert!(!registry.dir().join("gen-7.json").exists(), "removed");
}

/// A stand-in for a peer executor's stream server: answers an upgrade
/// with 101 and echoes what the client sends, upper-cased.
async fn echo_peer(listener: tokio::net::UnixListener) {
    let (stream, _) = listener.accept().await.unwrap();
    let service =
        hyper::service::service_fn(|mut req: Request<hyper::body::Incoming>| async move {
            assert_eq!(
                req.uri(),
                "/exec/default/ub/main?command=sh&input=1&output=1"
            );
            assert!(
                req.headers().get("authorization").is_none(),
                "credentials stay behind"
            );
            assert_eq!(
                req.headers()["x-stream-protocol-version"],
                "v4.channel.k8s.io"
            );
            let upgraded = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let mut io = TokioIo::new(upgraded.await.unwrap());
                let mut buf = [0u8; 64];
                loop {
                    let n = io.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    io.write_all(&buf[..n].to_ascii_uppercase()).await.unwrap();
                }
            });
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header("connection", "Upgrade")
                    .header("upgrade", "SPDY/3.1")
                    .header("x-stream-protocol-version", "v4.channel.k8s.io")
                    .body(Empty::<Bytes>::new())
                    .unwrap(),
            )
        });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_upgrade_is_spliced_through_to_the_peer() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path(), "127.0.0.1").unwrap();
    let socket = registry.peer_socket(3);
    tokio::spawn(echo_peer(socket.bind().unwrap()));
    // The front: a plain HTTP server whose every request goes to the peer.
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = front.accept().await.unwrap();
        let service = hyper::service::service_fn(move |req| {
            let socket = socket.clone();
            async move { Ok::<_, std::convert::Infallible>(peer::forward(&socket, req).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
            .await;
    });
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client
        .write_all(
            b"POST /exec/default/ub/main?command=sh&input=1&output=1 HTTP/1.1\r\n\
              Host: node\r\nAuthorization: Bearer secret\r\nConnection: Upgrade\r\n\
              Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(client.read(&mut byte).await.unwrap(), 1, "{head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("x-stream-protocol-version: v4.channel.k8s.io"),
        "{head}"
    );
    client.write_all(b"spliced both ways").await.unwrap();
    let mut echoed = [0u8; 17];
    client.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"SPLICED BOTH WAYS");
}
