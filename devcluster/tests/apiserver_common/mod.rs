//! Shared helpers for the API server integration tests: a server on
//! 127.0.0.1:0 in a temp dir, a kube client for it, kubectl runs, and a fake
//! kubelet serving `/containerLogs`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kube_mesos_devcluster::apiserver::{write_kubeconfig, ApiServer, ApiServerConfig};

pub const TOKEN: &str = "test-token";
pub const KUBELET_TOKEN: &str = "kubelet-secret";

pub struct TestServer {
    pub server: ApiServer,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

pub fn config(dir: &std::path::Path) -> ApiServerConfig {
    let mut c = ApiServerConfig::new(dir.join("data"), TOKEN);
    c.kubelet_client_token = Some(KUBELET_TOKEN.to_string());
    c.kubelet_scheme = kube_mesos_devcluster::apiserver::KubeletScheme::Http;
    c
}

pub async fn start(tweak: impl FnOnce(&mut ApiServerConfig)) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    tweak(&mut c);
    start_in(dir, c).await
}

pub async fn start_in(dir: tempfile::TempDir, c: ApiServerConfig) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = ApiServer::start(c, listener).await.expect("start");
    let kubeconfig = dir.path().join("kubeconfig");
    write_kubeconfig(&kubeconfig, &server.url(), TOKEN, Some(server.ca_pem())).expect("kubeconfig");
    TestServer {
        server,
        dir,
        kubeconfig,
    }
}

pub async fn client(ts: &TestServer) -> kube::Client {
    kube::Client::try_from(config_of(ts).await).expect("client")
}

/// A client that hands every answer back as it came (kube-rs retries 429,
/// 503 and 504 by default), for tests of those answers.
pub async fn client_without_retry(ts: &TestServer) -> kube::Client {
    let mut cfg = config_of(ts).await;
    cfg.default_retry = false;
    kube::Client::try_from(cfg).expect("client")
}

async fn config_of(ts: &TestServer) -> kube::Config {
    let yaml = std::fs::read_to_string(&ts.kubeconfig).expect("read kubeconfig");
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("parse kubeconfig");
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("kube config")
}

/// Fails the test unless a kubectl binary is on PATH: these tests exist to
/// prove kubectl works against the server, so a missing kubectl is a
/// failure, not a pass (scripts/test installs it).
pub fn require_kubectl() {
    let out = std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output();
    assert!(
        out.as_ref().is_ok_and(|o| o.status.success()),
        "kubectl must be on PATH to run this test (scripts/test installs it): {out:?}"
    );
}

pub fn kubectl_cmd(ts: &TestServer, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.args(args)
        .env("KUBECONFIG", &ts.kubeconfig)
        .env("HOME", ts.dir.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    cmd
}

pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub async fn kubectl(ts: &TestServer, args: &[&str]) -> Out {
    let out = tokio::time::timeout(Duration::from_secs(60), kubectl_cmd(ts, args).output())
        .await
        .expect("kubectl timed out")
        .expect("kubectl runs");
    let o = Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("$ kubectl {}\n{}{}", args.join(" "), o.stdout, o.stderr);
    o
}

/// A fake kubelet: checks the bearer token and serves one container's log.
pub async fn fake_kubelet() -> SocketAddr {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::response::Response;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|req: Request| async move {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut resp = Response::new(Body::empty());
        if auth != format!("Bearer {KUBELET_TOKEN}") {
            *resp.status_mut() = http::StatusCode::UNAUTHORIZED;
            return resp;
        }
        if req.uri().path() == "/containerLogs/default/web/nginx" {
            let q = req.uri().query().unwrap_or_default().to_string();
            *resp.body_mut() = Body::from(format!("hello from nginx\nquery={q}\n"));
        } else {
            *resp.status_mut() = http::StatusCode::NOT_FOUND;
        }
        resp
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Polls `f` until it returns Some, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
