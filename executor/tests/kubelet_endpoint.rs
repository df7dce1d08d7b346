//! The kubelet endpoint over real HTTPS on loopback: authentication (401),
//! /healthz, /containerLogs with the kubelet's query semantics on a CRI
//! log file written by the process runtime's log writer, and the answers of
//! /exec, /attach and /portForward before any upgrade (what kubectl prints
//! after `unable to upgrade connection:`).

#[path = "support/one_pod.rs"]
mod one_pod;

use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::config::{ExecutorConfig, KubeCredentials, KubeletAuth};
use kube_mesos_executor::kubelet::{self, KubeletState};
use kube_mesos_executor::runner::process::{ProcessConfig, ProcessRuntime};
use one_pod::OnePod;

const TOKEN: &str = "kubelet-client-token";

fn pod() -> core::Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]}
    }))
    .unwrap()
}

fn status() -> core::PodStatus {
    serde_json::from_value(serde_json::json!({
        "phase": "Running",
        "containerStatuses": [{
            "name": "main", "image": "busybox", "imageID": "", "ready": true, "restartCount": 1,
            "containerID": "process://gone-2",
            "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "process://gone-1"}}
        }]
    }))
    .unwrap()
}

struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("default_web_u-1");
    let cdir = log_dir.join("main");
    std::fs::create_dir_all(&cdir).unwrap();
    // Attempt 0 (previous) and 1 (current), CRI format.
    std::fs::write(
        cdir.join("0.log"),
        "2024-01-01T00:00:00.000000001Z stdout F crashed once\n",
    )
    .unwrap();
    std::fs::write(
        cdir.join("1.log"),
        "2024-01-01T00:00:01Z stdout F hello\n2024-01-01T00:00:02Z stderr P wor\n2024-01-01T00:00:02.5Z stderr F ld\n",
    )
    .unwrap();
    let mut config = ExecutorConfig::new(KubeCredentials::Infer);
    config.kubelet_auth = KubeletAuth {
        token: Some(TOKEN.into()),
        ..Default::default()
    };
    let tls = kubelet::tls::server_config(&config, &["127.0.0.1".into()]).unwrap();
    let runtime = Arc::new(ProcessRuntime::new(ProcessConfig::new(
        dir.path().join("rt"),
    )));
    let state = KubeletState {
        auth: config.kubelet_auth.clone(),
        pods: Arc::new(OnePod {
            pod: Arc::new(pod()),
            status: status(),
            log_dir,
        }),
        runtime,
        access: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        kubelet::serve(listener, tls, state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap()
    });
    Server {
        url,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

impl Server {
    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

async fn send(mut req: reqwest::RequestBuilder, token: Option<&str>) -> (u16, String) {
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, String) {
    send(client().get(format!("{}{}", server.url, path)), token).await
}

#[tokio::test]
async fn unauthenticated_requests_get_401() {
    let server = start().await;
    assert_eq!(
        get(&server, "/healthz", None).await,
        (401, "Unauthorized".into())
    );
    assert_eq!(
        get(&server, "/containerLogs/default/web/main", Some("wrong"))
            .await
            .0,
        401
    );
    assert_eq!(
        get(&server, "/healthz", Some(TOKEN)).await,
        (200, "ok".into())
    );
    server.shutdown().await;
}

async fn post(server: &Server, path: &str, token: Option<&str>) -> (u16, String) {
    let req = client()
        .post(format!("{}{}", server.url, path))
        .header("Connection", "Upgrade")
        .header("Upgrade", "SPDY/3.1")
        .header("X-Stream-Protocol-Version", "v4.channel.k8s.io");
    send(req, token).await
}

#[tokio::test]
async fn streaming_requests_get_the_kubelets_answers_before_upgrading() {
    let server = start().await;
    let exec = "/exec/default/web/main?command=ls&output=1&error=1";
    assert_eq!(
        post(&server, exec, None).await,
        (401, "Unauthorized".into())
    );
    assert_eq!(
        post(&server, "/attach/default/web/main?output=1", Some("wrong"))
            .await
            .0,
        401
    );
    assert_eq!(
        post(&server, "/portForward/default/web?port=80", None)
            .await
            .0,
        401
    );
    assert_eq!(
        post(
            &server,
            "/exec/default/nope/main?command=ls&output=1",
            Some(TOKEN)
        )
        .await,
        (404, "pod does not exist".into())
    );
    assert_eq!(
        post(&server, "/portForward/default/nope", Some(TOKEN)).await,
        (404, "pod does not exist".into())
    );
    // The status names a container the runtime does not run.
    assert_eq!(
        post(&server, exec, Some(TOKEN)).await,
        (500, "container not found (\"main\")".into())
    );
    assert_eq!(
        post(&server, "/exec/default/web/main?command=ls", Some(TOKEN)).await,
        (
            400,
            "you must specify at least 1 of stdin, stdout, stderr".into()
        )
    );
    server.shutdown().await;
}

#[tokio::test]
async fn container_logs_follow_the_kubelet() {
    let server = start().await;
    let t = Some(TOKEN);
    assert_eq!(
        get(&server, "/containerLogs/default/web/main", t).await,
        (200, "hello\nworld\n".into())
    );
    assert_eq!(
        get(&server, "/containerLogs/default/web/main?tailLines=1", t).await,
        (200, "ld\n".into())
    );
    assert_eq!(
        get(
            &server,
            "/containerLogs/default/web/main?timestamps=true&limitBytes=36",
            t
        )
        .await,
        (200, "2024-01-01T00:00:01.000000000Z hello".into())
    );
    assert_eq!(
        get(&server, "/containerLogs/default/web/main?previous=true", t).await,
        (200, "crashed once\n".into())
    );
    assert_eq!(
        get(&server, "/containerLogs/default/web/main?tailLines=-1", t).await,
        (422, r#"{"message": "Invalid request."}"#.into())
    );
    assert_eq!(
        get(&server, "/containerLogs/default/nope/main", t).await,
        (404, r#"pod "nope" does not exist"#.into())
    );
    assert_eq!(
        get(&server, "/containerLogs/default/web/other", t).await,
        (404, r#"container "other" not found in pod "web""#.into())
    );
    server.shutdown().await;
}
