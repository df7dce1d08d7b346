//! Two-phase shutdown (STYLE.md 6): the first signal drains (held offers
//! declined, lease released, exit 0); when the drain cannot finish, a second
//! signal or the drain deadline forces the exit.
//!
//! The drain is made to hang by a proxy in front of the API server that
//! stops forwarding (connections stay open, no byte moves), so releasing the
//! leader lease never completes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use kube_mesos_framework::config::FrameworkConfig;
use kube_mesos_framework::run::{self, RunError, Shutdown};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy to `upstream` that can be told to stall every connection.
async fn stalling_proxy(upstream: SocketAddr) -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stall, stalled) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let mut stalled = stalled.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let stalling = async {
                    while !*stalled.borrow_and_update() {
                        if stalled.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = stalling => {
                        // Keep both ends open and silent.
                        std::future::pending::<()>().await;
                    }
                }
            });
        }
    });
    (addr, stall)
}

struct Setup {
    cluster: Cluster,
    stall: watch::Sender<bool>,
    shutdown: Shutdown,
    http: SocketAddr,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
}

async fn leading_framework(drain_deadline: Duration) -> Setup {
    let cluster = Cluster::start(1).await;
    let api = cluster.api.as_ref().unwrap();
    let (proxy, stall) = stalling_proxy(api.addr()).await;
    let yaml = api
        .kubeconfig()
        .replace(&api.url(), &format!("https://{proxy}"));
    let client = kube_mesos_framework::kube::client_from_yaml(&yaml)
        .await
        .unwrap();
    let mut config: FrameworkConfig = cluster.framework_config();
    config.leader_election.enabled = true;
    config.leader_election.identity = Some("only".into());
    config.drain_deadline = drain_deadline;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run::run(config, client, listener, shutdown.clone()));
    eventually("leading and subscribed", || async {
        http_get(http, "/readyz")
            .await
            .contains("ok (leader)")
            .then_some(())
    })
    .await;
    Setup {
        cluster,
        stall,
        shutdown,
        http,
        task,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_signal_drains_and_exits_cleanly() {
    let s = leading_framework(Duration::from_secs(30)).await;
    s.shutdown.escalate();
    let result = tokio::time::timeout(WAIT, s.task)
        .await
        .expect("drain")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    // The lease was released for the next replica.
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(s.cluster.kube.clone(), "default");
    let lease = leases.get("kube-mesos-framework").await.unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity, None);
    let _ = s.http;
    s.cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signal_forces_exit_when_the_drain_hangs() {
    let s = leading_framework(Duration::from_secs(3600)).await;
    s.stall.send_replace(true);
    s.shutdown.escalate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !s.task.is_finished(),
        "the drain is stuck on the lease release"
    );
    s.shutdown.escalate();
    let result = tokio::time::timeout(WAIT, s.task)
        .await
        .expect("a second signal must end the process")
        .unwrap();
    assert!(matches!(result, Err(RunError::ForcedExit)), "{result:?}");
    s.cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_deadline_forces_exit_when_the_drain_hangs() {
    let s = leading_framework(Duration::from_millis(500)).await;
    s.stall.send_replace(true);
    s.shutdown.escalate();
    let result = tokio::time::timeout(WAIT, s.task)
        .await
        .expect("the drain deadline must end the process")
        .unwrap();
    assert!(matches!(result, Err(RunError::ForcedExit)), "{result:?}");
    s.cluster.stop().await;
}
