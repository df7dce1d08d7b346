//! Two-phase shutdown (STYLE.md 6): the first signal drains; a second signal
//! or the drain deadline forces the exit when the drain cannot finish.
//!
//! The drain is made to hang with a "black hole" API server that accepts
//! connections and never answers, so leader election (and with it the lease
//! release) never completes.

use std::time::Duration;

use kube_mesos_framework::config::FrameworkConfig;
use kube_mesos_framework::run::{self, RunError};
use tokio::net::TcpListener;
use tokio::sync::watch;

async fn black_hole() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream); // never read, never answer
        }
    });
    (addr, task)
}

async fn start() -> (
    watch::Sender<u32>,
    tokio::task::JoinHandle<Result<(), RunError>>,
    tokio::task::JoinHandle<()>,
) {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let (addr, hole) = black_hole().await;
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
    );
    let client = kube_mesos_framework::kube::client_from_yaml(&yaml)
        .await
        .unwrap();
    let mut config = FrameworkConfig::new(vec![url::Url::parse("http://127.0.0.1:1").unwrap()]);
    config.namespace = "default".into();
    config.hostname = Some("localhost".into());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (signals, rx) = watch::channel(0u32);
    let task = tokio::spawn(run::run(config, client, listener, rx));
    (signals, task, hole)
}

#[tokio::test]
async fn second_signal_forces_exit_when_the_drain_hangs() {
    let (signals, task, hole) = start().await;
    tokio::task::yield_now().await;
    signals.send_modify(|n| *n += 1);
    tokio::task::yield_now().await;
    signals.send_modify(|n| *n += 1);
    let result = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("a second signal must end the process")
        .unwrap();
    assert!(matches!(result, Err(RunError::ForcedExit)), "{result:?}");
    hole.abort();
}

#[tokio::test(start_paused = true)]
async fn drain_deadline_forces_exit_when_the_drain_hangs() {
    let (signals, task, hole) = start().await;
    signals.send_modify(|n| *n += 1);
    // Paused time advances to the drain deadline once everything waits.
    let result = tokio::time::timeout(run::DRAIN_DEADLINE * 2, task)
        .await
        .expect("the drain deadline must end the process")
        .unwrap();
    assert!(matches!(result, Err(RunError::ForcedExit)), "{result:?}");
    hole.abort();
}
