//! The kubelet endpoint's own WebSocket path for `/exec` and `/attach`
//! (the kubelet's `wsstream` server), which the devcluster API server never
//! takes (it speaks SPDY to kubelets, as kube-apiserver does): a client
//! on loopback, over the endpoint's HTTPS, against containers of the process
//! runtime. Each channel protocol the kubelet offers is exercised: separate
//! stdout and stderr, the exit code on the error channel, stdin ended by
//! `v5`'s CLOSE signal, a terminal and its resizes, attach to a `tty: true`
//! container, and the refusal of a caller without credentials.

#[path = "support/one_pod.rs"]
mod one_pod;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::config::{ExecutorConfig, KubeCredentials, KubeletAuth};
use kube_mesos_executor::kubelet::{self, KubeletState};
use kube_mesos_executor::runner::process::{container_labels, ProcessConfig, ProcessRuntime};
use kube_mesos_executor::runner::runtime::{ContainerConfig, Runtime, SandboxConfig};
use kube_mesos_httpstream::remotecommand::websocket::{
    client_message, CHANNEL_ERROR, CHANNEL_RESIZE, CHANNEL_STDERR, CHANNEL_STDIN, CHANNEL_STDOUT,
    PROTOCOL_V4_BASE64,
};
use kube_mesos_httpstream::remotecommand::{PROTOCOL_V4, PROTOCOL_V5};
use kube_mesos_httpstream::wsstream::{Codec, CLOSE_SIGNAL};
use one_pod::OnePod;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

const TOKEN: &str = "kubelet-client-token";
const UID: &str = "ws-uid";
/// Hang guard for every step.
const STEP: Duration = Duration::from_secs(30);

fn container(name: &str, command: &[&str], tty: bool) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        attempt: 0,
        image: "busybox".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        args: vec![],
        envs: vec![("GREETING".into(), "hi".into())],
        working_dir: String::new(),
        mounts: vec![],
        log_path: PathBuf::from(format!("{name}/0.log")),
        labels: container_labels("web", "default", UID, name),
        stdin: tty,
        stdin_once: false,
        tty,
    }
}

/// The kubelet endpoint over HTTPS with a certificate the client trusts,
/// in front of a process runtime running the pod `default/web`: `main`
/// (a shell that waits) and `console` (`tty: true`, an interactive shell).
struct Server {
    port: u16,
    cert: rustls::pki_types::CertificateDer<'static>,
    runtime: Arc<ProcessRuntime>,
    ids: Vec<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = Arc::new(ProcessRuntime::new(ProcessConfig::new(
        dir.path().join("rt"),
    )));
    let log_dir = dir.path().join("logs").join(format!("default_web_{UID}"));
    let sb = runtime
        .prepare_pod(&SandboxConfig {
            name: "web".into(),
            namespace: "default".into(),
            uid: UID.into(),
            log_directory: log_dir.clone(),
            labels: BTreeMap::new(),
        })
        .await
        .expect("prepare pod");
    let mut ids = Vec::new();
    for c in [
        container("main", &["sleep", "600"], false),
        container("console", &["sh", "-i"], true),
    ] {
        ids.push(runtime.create_and_start(&sb, &c).await.expect("start"));
    }
    let pod: core::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default", "uid": UID},
        "spec": {"containers": [
            {"name": "main", "image": "busybox"},
            {"name": "console", "image": "busybox", "stdin": true, "tty": true}
        ]}
    }))
    .expect("pod");
    let running = |name: &str, id: &str| {
        serde_json::json!({
            "name": name, "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
            "containerID": format!("process://{id}"),
            "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}
        })
    };
    let status: core::PodStatus = serde_json::from_value(serde_json::json!({
        "phase": "Running",
        "containerStatuses": [running("main", &ids[0]), running("console", &ids[1])]
    }))
    .expect("status");

    let (cert_pem, key_pem) = kubelet::tls::self_signed(&["127.0.0.1".into()]).expect("cert");
    let (cert_file, key_file) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_file, &cert_pem).expect("write cert");
    std::fs::write(&key_file, &key_pem).expect("write key");
    let cert =
        rustls::pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes()).expect("cert pem");
    let mut config = ExecutorConfig::new(KubeCredentials::Infer);
    config.kubelet_auth = KubeletAuth {
        token: Some(TOKEN.into()),
        ..Default::default()
    };
    config.kubelet_tls = Some((cert_file, key_file));
    let tls = kubelet::tls::server_config(&config, &[]).expect("tls");
    let state = KubeletState {
        auth: config.kubelet_auth.clone(),
        pods: Arc::new(OnePod {
            pod: Arc::new(pod),
            status,
            log_dir,
        }),
        runtime: runtime.clone(),
        access: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        kubelet::serve(listener, tls, state, async {
            let _ = stopped.await;
        })
        .await
        .expect("serve")
    });
    Server {
        port,
        cert,
        runtime,
        ids,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

impl Server {
    async fn shutdown(mut self) {
        for id in &self.ids {
            let _ = self.runtime.stop(id, Duration::from_secs(1)).await;
        }
        let _ = self.stop.take().expect("once").send(());
        self.task.await.expect("server task");
    }

    /// Opens `path` as a WebSocket offering `protocol`, with `token`.
    async fn open(
        &self,
        path: &str,
        protocol: &str,
        token: Option<&str>,
    ) -> Result<Channels, tungstenite::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).expect("trust the endpoint");
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let stream = connector.connect(name, tcp).await.expect("TLS");
        let mut request = format!("wss://127.0.0.1:{}{path}", self.port)
            .into_client_request()
            .expect("request");
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            protocol.parse().expect("protocol header"),
        );
        if let Some(t) = token {
            headers.insert(
                "Authorization",
                format!("Bearer {t}").parse().expect("auth header"),
            );
        }
        let (ws, response) = tokio_tungstenite::client_async(request, stream).await?;
        let negotiated = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        assert_eq!(negotiated, Some(protocol), "the kubelet's choice");
        Ok(Channels {
            ws,
            protocol: protocol.to_string(),
            output: BTreeMap::new(),
        })
    }
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A client session: sends on channels, collects what arrives per channel.
struct Channels {
    ws: tokio_tungstenite::WebSocketStream<Tls>,
    protocol: String,
    output: BTreeMap<u8, Vec<u8>>,
}

impl Channels {
    async fn send(&mut self, channel: u8, data: &[u8]) {
        let m = client_message(&self.protocol, channel, data);
        tokio::time::timeout(STEP, self.ws.send(m))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// Reads one message into `output`; false once the server closed.
    async fn read_one(&mut self) -> bool {
        let next = tokio::time::timeout(STEP, self.ws.next())
            .await
            .expect("a message in time");
        match next {
            Some(Ok(Message::Close(_))) | None => false,
            Some(Ok(m)) => {
                if let Some((channel, data)) = Codec::for_protocol(&self.protocol).decode(&m) {
                    self.output
                        .entry(channel)
                        .or_default()
                        .extend_from_slice(&data);
                }
                true
            }
            Some(Err(e)) => panic!("{}: session failed: {e}", self.protocol),
        }
    }

    fn text(&self, channel: u8) -> String {
        String::from_utf8_lossy(self.output.get(&channel).map_or(&[][..], |v| v)).into_owned()
    }

    /// Reads until the server closes; the error channel's status as JSON.
    async fn finish(&mut self) -> serde_json::Value {
        while self.read_one().await {}
        let _ = self.ws.close(None).await;
        serde_json::from_str(&self.text(CHANNEL_ERROR)).unwrap_or_else(|e| {
            panic!(
                "{}: the error channel carries a Status: {e}: {:?}",
                self.protocol,
                self.text(CHANNEL_ERROR)
            )
        })
    }

    /// Sends `line` as input until `channel` shows `needle`: a resize
    /// travels on its own channel and may reach the terminal after input
    /// sent later, so the shell is asked again until it has seen it.
    async fn ask_until(&mut self, channel: u8, line: &str, needle: &str) {
        let deadline = tokio::time::Instant::now() + STEP;
        while !self.text(channel).contains(needle) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: no {needle:?} in {:?}",
                self.protocol,
                self.text(channel)
            );
            self.send(CHANNEL_STDIN, line.as_bytes()).await;
            self.read_one().await;
        }
    }
}

/// The exit code a `NonZeroExitCode` status carries.
fn exit_code(status: &serde_json::Value) -> Option<String> {
    (status["reason"] == "NonZeroExitCode")
        .then(|| status["details"]["causes"][0]["message"].as_str())
        .flatten()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_over_websocket_separates_streams_and_reports_the_exit_code() {
    let server = start().await;
    let path = "/exec/default/web/main?command=sh&command=-c\
                &command=echo+out+%24GREETING%3B+echo+err+%3E%262%3B+exit+3&output=1&error=1";
    for protocol in [PROTOCOL_V5, PROTOCOL_V4, PROTOCOL_V4_BASE64] {
        let mut s = server
            .open(path, protocol, Some(TOKEN))
            .await
            .expect("open");
        let status = s.finish().await;
        assert_eq!(s.text(CHANNEL_STDOUT), "out hi\n", "{protocol}");
        assert_eq!(s.text(CHANNEL_STDERR), "err\n", "{protocol}");
        assert_eq!(
            exit_code(&status).as_deref(),
            Some("3"),
            "{protocol}: {status}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_stdin_over_websocket_ends_with_the_v5_close_signal() {
    let server = start().await;
    let mut s = server
        .open(
            "/exec/default/web/main?command=cat&input=1&output=1",
            PROTOCOL_V5,
            Some(TOKEN),
        )
        .await
        .expect("open");
    s.send(CHANNEL_STDIN, b"piped through\n").await;
    // `cat` ends only when its input does: the CLOSE signal for stdin.
    s.send(CLOSE_SIGNAL, &[CHANNEL_STDIN]).await;
    let status = s.finish().await;
    assert_eq!(s.text(CHANNEL_STDOUT), "piped through\n");
    assert_eq!(status["status"], "Success", "{status}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_tty_over_websocket_runs_on_a_terminal_that_resizes() {
    let server = start().await;
    let mut s = server
        .open(
            "/exec/default/web/main?command=sh&input=1&output=1&tty=1",
            PROTOCOL_V5,
            Some(TOKEN),
        )
        .await
        .expect("open");
    s.send(CHANNEL_RESIZE, br#"{"Width":77,"Height":22}"#).await;
    s.ask_until(CHANNEL_STDOUT, "stty size\n", "22 77").await;
    s.send(CHANNEL_RESIZE, br#"{"Width":101,"Height":33}"#)
        .await;
    s.ask_until(CHANNEL_STDOUT, "stty size\n", "33 101").await;
    s.send(CHANNEL_STDIN, b"tty; exit 5\n").await;
    let status = s.finish().await;
    assert!(s.text(CHANNEL_STDOUT).contains("/dev/pts/"), "a terminal");
    assert!(!s.output.contains_key(&CHANNEL_STDERR), "one output stream");
    assert_eq!(exit_code(&status).as_deref(), Some("5"), "{status}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_over_websocket_joins_the_tty_containers_terminal() {
    let server = start().await;
    // stderr asked for, as kubectl does; a `tty: true` container has none.
    let path = "/attach/default/web/console?input=1&output=1&error=1&tty=1";
    for (width, height) in [(80u16, 24u16), (120, 40)] {
        let mut s = server
            .open(path, PROTOCOL_V5, Some(TOKEN))
            .await
            .expect("open");
        let size = format!(r#"{{"Width":{width},"Height":{height}}}"#);
        s.send(CHANNEL_RESIZE, size.as_bytes()).await;
        s.ask_until(CHANNEL_STDOUT, "stty size\n", &format!("{height} {width}"))
            .await;
        // Leaving keeps the container (and its shell) for the next client.
        drop(s);
    }
    let status = server.runtime.status(&server.ids[1]).await.expect("status");
    assert_eq!(
        status.state,
        kube_mesos_executor::runner::runtime::ContainerStateKind::Running
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_without_credentials_gets_401_before_any_upgrade() {
    let server = start().await;
    for token in [None, Some("wrong")] {
        match server
            .open(
                "/exec/default/web/main?command=true&output=1",
                PROTOCOL_V5,
                token,
            )
            .await
        {
            Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401, "{token:?}"),
            Err(e) => panic!("{token:?}: not an HTTP refusal: {e}"),
            Ok(_) => panic!("{token:?}: upgraded without credentials"),
        }
    }
    server.shutdown().await;
}
