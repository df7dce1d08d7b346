//! The executor client against a small fake Mesos agent on 127.0.0.1:0.
//!
//! The fake agent answers `POST /slave(1)/api/v1/executor` (the path Mesos'
//! executor library derives from `MESOS_SLAVE_PID`); its bare
//! `/api/v1/executor` answers as the master of a single-process
//! master+agent does (400). SUBSCRIBE gets either a
//! status or an event stream the test feeds through a channel (so it can send
//! ACKNOWLEDGED for a uuid it only learns from the client's UPDATE, and close
//! the stream to simulate an agent restart); other calls get 202. Every call
//! is recorded.
//!
//! Real time with millisecond settings, not `start_paused`: tokio's paused
//! clock jumps to the next timer whenever the runtime waits on socket I/O,
//! which would fire timeouts while a loopback response is in flight. The
//! recovery policy is tested clock-free in `subscription.rs`, and its timing
//! (recovery timeout, retry delays) on the paused clock with an in-memory
//! transport in `driver.rs`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::StreamExt;
use kube_mesos_executor::mesos::{
    ClientOptions, EnvError, Error, ExecutorClient, ExecutorEnv, ExecutorEvent, ExecutorEvents,
};
use kube_mesos_proto::recordio;
use kube_mesos_proto::v1::executor::{call, event, Call, Event};
use kube_mesos_proto::v1::{task_status, AgentId, TaskId, TaskInfo, TaskState, TaskStatus};
use prost::Message;
use tokio::sync::mpsc;

/// How the fake agent answers the n-th SUBSCRIBE.
enum Reply {
    /// 200 and a stream fed by the test (`None` closes it).
    Stream,
    /// A plain status and body.
    Status(u16, &'static str),
}

type Script = Arc<dyn Fn(usize, &Call) -> Reply + Send + Sync>;

#[derive(Clone)]
struct AgentState {
    script: Script,
    calls: Arc<Mutex<Vec<(Call, HeaderMap)>>>,
    streams: Arc<Mutex<Vec<mpsc::UnboundedSender<Option<Event>>>>>,
    new_stream: mpsc::UnboundedSender<usize>,
}

/// A fake agent; stopped when dropped.
struct FakeAgent {
    addr: SocketAddr,
    /// Per TLS connection: whether the client presented a certificate.
    client_certs: Arc<Mutex<Vec<bool>>>,
    calls: Arc<Mutex<Vec<(Call, HeaderMap)>>>,
    streams: Arc<Mutex<Vec<mpsc::UnboundedSender<Option<Event>>>>>,
    new_stream: mpsc::UnboundedReceiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeAgent {
    async fn start(script: impl Fn(usize, &Call) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with(script, None).await
    }

    /// Serves over TLS with `tls` (HTTP/1.1), as an agent with libprocess
    /// SSL enabled.
    async fn start_with(
        script: impl Fn(usize, &Call) -> Reply + Send + Sync + 'static,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (new_stream_tx, new_stream) = mpsc::unbounded_channel();
        let state = AgentState {
            script: Arc::new(script),
            calls: calls.clone(),
            streams: streams.clone(),
            new_stream: new_stream_tx,
        };
        let app = Router::new()
            .route("/slave(1)/api/v1/executor", post(handle))
            .route("/api/v1/executor", post(co_located_master))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client_certs = Arc::new(Mutex::new(Vec::new()));
        let task = match tls {
            None => tokio::spawn(async move {
                axum::serve(listener, app).await.unwrap();
            }),
            Some(tls) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                let client_certs = client_certs.clone();
                tokio::spawn(async move {
                    while let Ok((tcp, _)) = listener.accept().await {
                        let (acceptor, app) = (acceptor.clone(), app.clone());
                        let client_certs = client_certs.clone();
                        tokio::spawn(async move {
                            let Ok(stream) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let presented = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .is_some_and(|c| !c.is_empty());
                            client_certs.lock().unwrap().push(presented);
                            let service = hyper_util::service::TowerToHyperService::new(app);
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await;
                        });
                    }
                })
            }
        };
        Self {
            addr,
            client_certs,
            calls,
            streams,
            new_stream,
            task,
        }
    }

    /// Waits for the next accepted subscription stream; returns its index.
    async fn next_stream(&mut self) -> usize {
        tokio::time::timeout(Duration::from_secs(20), self.new_stream.recv())
            .await
            .expect("no subscription arrived")
            .unwrap()
    }

    fn send(&self, stream: usize, event: Option<Event>) {
        let _ = self.streams.lock().unwrap()[stream].send(event);
    }

    fn calls(&self, kind: call::Type) -> Vec<(Call, HeaderMap)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c.r#type() == kind)
            .cloned()
            .collect()
    }
}

/// `/api/v1/executor` of a process that runs a master and an agent: the
/// master's scheduler API answers an executor Call like this.
async fn co_located_master() -> Response {
    (
        StatusCode::BAD_REQUEST,
        "Failed to parse body into Call protobuf",
    )
        .into_response()
}

async fn handle(State(state): State<AgentState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(call) = Call::decode(body) else {
        return (StatusCode::BAD_REQUEST, "Failed to parse body").into_response();
    };
    let kind = call.r#type();
    let index = {
        let mut calls = state.calls.lock().unwrap();
        calls.push((call.clone(), headers));
        calls.iter().filter(|(c, _)| c.r#type() == kind).count() - 1
    };
    if kind != call::Type::Subscribe {
        return StatusCode::ACCEPTED.into_response();
    }
    match (state.script)(index, &call) {
        Reply::Status(code, body) => (StatusCode::from_u16(code).unwrap(), body).into_response(),
        Reply::Stream => {
            let (tx, rx) = mpsc::unbounded_channel::<Option<Event>>();
            let stream_index = {
                let mut streams = state.streams.lock().unwrap();
                streams.push(tx);
                streams.len() - 1
            };
            let _ = state.new_stream.send(stream_index);
            let body = futures::stream::unfold(rx, |mut rx| async move {
                match rx.recv().await {
                    Some(Some(event)) => {
                        let frame = Bytes::from(recordio::encode(&event.encode_to_vec()));
                        Some((Ok::<_, Infallible>(frame), rx))
                    }
                    _ => None,
                }
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("Content-Type", "application/x-protobuf")
                .body(Body::from_stream(body))
                .unwrap()
        }
    }
}

fn typed(kind: event::Type) -> Event {
    let mut e = Event::default();
    e.set_type(kind);
    e
}

fn subscribed() -> Event {
    let mut e = typed(event::Type::Subscribed);
    e.subscribed = Some(event::Subscribed::default());
    e
}

fn launch(task: &str) -> Event {
    let mut e = typed(event::Type::Launch);
    e.launch = Some(event::Launch {
        task: TaskInfo {
            name: task.into(),
            task_id: TaskId { value: task.into() },
            agent_id: AgentId {
                value: "agent-1".into(),
            },
            ..Default::default()
        },
    });
    e
}

fn acknowledged(task: &str, uuid: &[u8]) -> Event {
    let mut e = typed(event::Type::Acknowledged);
    e.acknowledged = Some(event::Acknowledged {
        task_id: TaskId { value: task.into() },
        uuid: uuid.to_vec(),
    });
    e
}

fn running(task: &str) -> TaskStatus {
    let mut status = TaskStatus {
        task_id: TaskId { value: task.into() },
        ..Default::default()
    };
    status.set_state(TaskState::TaskRunning);
    status
}

fn env(agent: &FakeAgent, checkpoint: bool) -> ExecutorEnv {
    env_with(agent, checkpoint, &[])
}

/// What a real agent sets (`Slave::executorEnvironment`), plus `extra`.
fn env_with(agent: &FakeAgent, checkpoint: bool, extra: &[(&str, &str)]) -> ExecutorEnv {
    let endpoint = agent.addr.to_string();
    let pid = format!("slave(1)@{}", agent.addr);
    let mut vars = vec![
        ("MESOS_AGENT_ENDPOINT", endpoint.as_str()),
        ("MESOS_SLAVE_PID", pid.as_str()),
        ("MESOS_FRAMEWORK_ID", "fw-1"),
        ("MESOS_EXECUTOR_ID", "kube-mesos-1"),
        ("MESOS_DIRECTORY", "/tmp/sandbox"),
        ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
    ];
    if checkpoint {
        vars.extend([
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "300ms"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "20ms"),
        ]);
    }
    vars.extend_from_slice(extra);
    ExecutorEnv::from_vars(vars).unwrap()
}

fn client(env: ExecutorEnv) -> ExecutorClient {
    ExecutorClient::with_options(
        env,
        ClientOptions {
            request_timeout: Duration::from_secs(5),
            subscribe_retry_interval: Duration::from_millis(10),
            ..Default::default()
        },
    )
    .unwrap()
}

/// The client's event stream, polled by a background task (the stream is
/// lazy; the fake agent only sees SUBSCRIBE once someone polls it).
type Events = mpsc::UnboundedReceiver<Result<ExecutorEvent, Error>>;

fn spawn_events(mut stream: ExecutorEvents) -> Events {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            if tx.send(item).is_err() {
                break;
            }
        }
    });
    rx
}

async fn next(events: &mut Events) -> Option<Result<ExecutorEvent, Error>> {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("the executor event stream stalled")
}

async fn expect_connected(events: &mut Events) {
    match next(events).await {
        Some(Ok(ExecutorEvent::Connected { .. })) => {}
        other => panic!("expected Connected, got {other:?}"),
    }
}

async fn expect_event(events: &mut Events, kind: event::Type) {
    match next(events).await {
        Some(Ok(ExecutorEvent::Event(e))) if e.r#type() == kind => {}
        other => panic!("expected {kind:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn resubscribe_carries_unacknowledged_tasks_and_updates() {
    let mut agent = FakeAgent::start(|_, _| Reply::Stream).await;
    let client = client(env(&agent, true));
    let mut events = spawn_events(client.events());

    let s0 = agent.next_stream().await;
    agent.send(s0, Some(subscribed()));
    agent.send(s0, Some(launch("t1")));
    expect_connected(&mut events).await;
    expect_event(&mut events, event::Type::Launch).await;
    assert!(client.is_connected());

    let uuid = client.update(running("t1")).await.unwrap();
    let updates = agent.calls(call::Type::Update);
    assert_eq!(updates.len(), 1);
    let (update_call, _) = &updates[0];
    assert_eq!(update_call.framework_id.value, "fw-1");
    assert_eq!(update_call.executor_id.value, "kube-mesos-1");
    let status = &update_call.update.as_ref().unwrap().status;
    assert_eq!(status.uuid.as_deref(), Some(&uuid.as_bytes()[..]));
    assert_eq!(status.uuid.as_ref().unwrap().len(), 16);
    assert_eq!(status.source(), task_status::Source::Executor);
    assert_eq!(status.executor_id.as_ref().unwrap().value, "kube-mesos-1");
    assert!(status.timestamp.unwrap() > 1.0e9);
    assert_eq!(status.state(), TaskState::TaskRunning);

    // The agent restarts: the stream closes.
    agent.send(s0, None);
    match next(&mut events).await {
        Some(Ok(ExecutorEvent::Disconnected { .. })) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let s1 = agent.next_stream().await;
    let subscribes = agent.calls(call::Type::Subscribe);
    assert_eq!(subscribes.len(), 2);
    assert!(subscribes[0]
        .0
        .subscribe
        .as_ref()
        .unwrap()
        .unacknowledged_tasks
        .is_empty());
    let again = subscribes[1].0.subscribe.as_ref().unwrap();
    assert_eq!(again.unacknowledged_tasks.len(), 1);
    assert_eq!(again.unacknowledged_tasks[0].task_id.value, "t1");
    assert_eq!(again.unacknowledged_updates.len(), 1);
    assert_eq!(
        again.unacknowledged_updates[0].status.uuid.as_deref(),
        Some(&uuid.as_bytes()[..])
    );

    // ACKNOWLEDGED drops both the update and the task.
    agent.send(s1, Some(subscribed()));
    agent.send(s1, Some(acknowledged("t1", uuid.as_bytes())));
    expect_connected(&mut events).await;
    expect_event(&mut events, event::Type::Acknowledged).await;
    assert!(client.ledger().is_empty());

    agent.send(s1, None);
    assert!(matches!(
        next(&mut events).await,
        Some(Ok(ExecutorEvent::Disconnected { .. }))
    ));
    agent.next_stream().await;
    let third = &agent.calls(call::Type::Subscribe)[2].0;
    let third = third.subscribe.as_ref().unwrap();
    assert!(third.unacknowledged_tasks.is_empty());
    assert!(third.unacknowledged_updates.is_empty());
}

#[tokio::test]
async fn update_while_disconnected_is_queued_for_subscribe() {
    // After the first subscription the agent answers 503 (still recovering)
    // until a SUBSCRIBE carries the update queued while disconnected.
    let mut agent = FakeAgent::start(|n, call| {
        let carries_update = call
            .subscribe
            .as_ref()
            .is_some_and(|s| !s.unacknowledged_updates.is_empty());
        if n == 0 || carries_update {
            Reply::Stream
        } else {
            Reply::Status(503, "Agent has not finished recovery")
        }
    })
    .await;
    let client = client(env(&agent, true));
    let mut events = spawn_events(client.events());
    let s0 = agent.next_stream().await;
    agent.send(s0, Some(subscribed()));
    expect_connected(&mut events).await;
    agent.send(s0, None);
    assert!(matches!(
        next(&mut events).await,
        Some(Ok(ExecutorEvent::Disconnected { .. }))
    ));
    assert!(!client.is_connected());
    let uuid = client.update(running("t9")).await.unwrap();
    assert!(agent.calls(call::Type::Update).is_empty());

    let s1 = agent.next_stream().await;
    agent.send(s1, Some(subscribed()));
    expect_connected(&mut events).await;
    let subscribes = agent.calls(call::Type::Subscribe);
    let last = subscribes.last().unwrap().0.subscribe.as_ref().unwrap();
    assert_eq!(last.unacknowledged_updates.len(), 1);
    assert_eq!(
        last.unacknowledged_updates[0].status.uuid.as_deref(),
        Some(&uuid.as_bytes()[..])
    );
}

#[tokio::test]
async fn without_checkpointing_a_disconnect_ends_with_an_error() {
    let mut agent = FakeAgent::start(|_, _| Reply::Stream).await;
    let client = client(env(&agent, false));
    let mut events = spawn_events(client.events());
    let s0 = agent.next_stream().await;
    agent.send(s0, Some(subscribed()));
    expect_connected(&mut events).await;
    agent.send(s0, None);
    match next(&mut events).await {
        Some(Err(error @ Error::AgentLost(_))) => assert!(!error.is_retryable()),
        other => panic!("expected AgentLost, got {other:?}"),
    }
    assert!(next(&mut events).await.is_none());
    assert_eq!(agent.calls(call::Type::Subscribe).len(), 1);
    assert!(!client.is_connected());
}

#[tokio::test]
async fn recovery_timeout_is_honoured() {
    let mut agent = FakeAgent::start(|n, _| match n {
        0 => Reply::Stream,
        _ => Reply::Status(503, "Agent has not finished recovery"),
    })
    .await;
    let client = client(env(&agent, true));
    let mut events = spawn_events(client.events());
    let s0 = agent.next_stream().await;
    agent.send(s0, Some(subscribed()));
    expect_connected(&mut events).await;
    agent.send(s0, None);
    assert!(matches!(
        next(&mut events).await,
        Some(Ok(ExecutorEvent::Disconnected { .. }))
    ));
    match next(&mut events).await {
        Some(Err(Error::RecoveryTimedOut { timeout, last })) => {
            assert_eq!(timeout, Duration::from_millis(300));
            assert!(matches!(*last, Error::AgentUnavailable { status: 503, .. }));
        }
        other => panic!("expected RecoveryTimedOut, got {other:?}"),
    }
    assert!(next(&mut events).await.is_none());
    // It kept trying in between (20 ms backoff bound, 300 ms window).
    assert!(agent.calls(call::Type::Subscribe).len() >= 3);
}

#[tokio::test]
async fn first_subscribe_is_retried_while_the_agent_recovers() {
    let mut agent = FakeAgent::start(|n, _| match n {
        0 => Reply::Status(503, "Agent has not finished recovery"),
        _ => Reply::Stream,
    })
    .await;
    let client = client(env(&agent, false));
    let mut events = spawn_events(client.events());
    let s = agent.next_stream().await;
    agent.send(s, Some(subscribed()));
    expect_connected(&mut events).await;
    assert_eq!(agent.calls(call::Type::Subscribe).len(), 2);
}

#[tokio::test]
async fn rejected_subscribe_ends_with_the_body() {
    let agent = FakeAgent::start(|_, _| Reply::Status(400, "Framework 'fw-1' not found")).await;
    let client = client(env(&agent, true));
    let mut events = spawn_events(client.events());
    match next(&mut events).await {
        Some(Err(Error::SubscribeRejected { status, body })) => {
            assert_eq!(status, 400);
            assert_eq!(body, "Framework 'fw-1' not found");
        }
        other => panic!("expected SubscribeRejected, got {other:?}"),
    }
}

#[tokio::test]
async fn authentication_token_is_sent_as_bearer() {
    let mut agent = FakeAgent::start(|_, _| Reply::Stream).await;
    let mut env = env(&agent, false);
    env.authentication_token = Some("secret-token".into());
    let client = client(env);
    let mut events = spawn_events(client.events());
    let s = agent.next_stream().await;
    agent.send(s, Some(subscribed()));
    expect_connected(&mut events).await;
    let (_, headers) = &agent.calls(call::Type::Subscribe)[0];
    assert_eq!(headers["authorization"], "Bearer secret-token");
    assert_eq!(headers["content-type"], "application/x-protobuf");
}

#[tokio::test]
async fn unreachable_agent_without_subscription_is_an_error() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let pid = format!("slave(1)@{dead}");
    let env = ExecutorEnv::from_vars([
        ("MESOS_SLAVE_PID", pid.as_str()),
        ("MESOS_FRAMEWORK_ID", "fw-1"),
        ("MESOS_EXECUTOR_ID", "e"),
        ("MESOS_DIRECTORY", "/tmp"),
        ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
    ])
    .unwrap();
    let mut events = spawn_events(client(env).events());
    assert!(matches!(
        next(&mut events).await,
        Some(Err(Error::SubscribeFailed { .. }))
    ));
}

#[test]
fn env_errors_name_the_variable() {
    let error = ExecutorEnv::from_vars([("MESOS_FRAMEWORK_ID", "fw-1")]).unwrap_err();
    assert_eq!(
        error,
        EnvError::Missing {
            name: "MESOS_SLAVE_PID"
        }
    );
    let error = ExecutorEnv::from_vars([
        ("MESOS_SLAVE_PID", "slave(1)@127.0.0.1:5051"),
        ("MESOS_FRAMEWORK_ID", "fw-1"),
        ("MESOS_EXECUTOR_ID", "e"),
        ("MESOS_DIRECTORY", "/tmp"),
        ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5 seconds"),
    ])
    .unwrap_err();
    assert!(error
        .to_string()
        .contains("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"));
}

/// Regression (real Mesos 1.11, master and agent in one process): the
/// executor posted to `MESOS_AGENT_ENDPOINT` + `/api/v1/executor`, reached
/// the master and got `400 Failed to parse body into Call protobuf`. It now
/// subscribes at the agent process' path from `MESOS_SLAVE_PID`.
#[tokio::test]
async fn subscribes_at_the_agent_process_path_of_mesos_slave_pid() {
    let mut agent = FakeAgent::start(|_, _| Reply::Stream).await;
    let client = client(env(&agent, false));
    assert_eq!(
        client.env().agent_url().unwrap().as_str(),
        format!("http://{}/slave(1)/api/v1/executor", agent.addr)
    );
    let mut events = spawn_events(client.events());
    let s = agent.next_stream().await;
    agent.send(s, Some(subscribed()));
    expect_connected(&mut events).await;
    assert_eq!(agent.calls(call::Type::Subscribe).len(), 1);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all
/// written as PEM files into `dir`; returns the server's TLS configuration,
/// which asks for (and verifies, but does not require) client certificates.
fn tls_files(dir: &std::path::Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf = |names: Vec<String>| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (cert, key)
    };
    let (server, server_key) = leaf(vec!["127.0.0.1".into()]);
    let (client, client_key) = leaf(vec!["executor".into()]);
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), client.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), client_key.serialize_pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server.der().to_vec())],
            PrivateKeyDer::try_from(server_key.serialize_der()).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// With libprocess SSL on, the executor speaks https to the agent and, as
/// libprocess by default, does not verify the agent's certificate.
#[tokio::test]
async fn libprocess_ssl_means_https_without_verification_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let tls = tls_files(dir.path());
    let mut agent = FakeAgent::start_with(|_, _| Reply::Stream, Some(tls)).await;
    let client = client(env_with(
        &agent,
        false,
        &[("LIBPROCESS_SSL_ENABLED", "true")],
    ));
    assert_eq!(client.env().agent_url().unwrap().scheme(), "https");
    let mut events = spawn_events(client.events());
    let s = agent.next_stream().await;
    agent.send(s, Some(subscribed()));
    expect_connected(&mut events).await;
    assert_eq!(*agent.client_certs.lock().unwrap(), vec![false]);
}

/// `LIBPROCESS_SSL_VERIFY_SERVER_CERT`: the agent's certificate must chain
/// to `LIBPROCESS_SSL_CA_FILE`; the configured certificate and key are
/// presented as the client's.
#[tokio::test]
async fn libprocess_ssl_verification_uses_the_ca_file_and_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let tls = tls_files(dir.path());
    let path = |f: &str| dir.path().join(f).display().to_string();
    let (ca, cert, key) = (path("ca.pem"), path("cert.pem"), path("key.pem"));

    // No CA given: the system roots do not know our CA.
    let agent = FakeAgent::start_with(|_, _| Reply::Stream, Some(tls.clone())).await;
    let strict = [
        ("LIBPROCESS_SSL_ENABLED", "1"),
        ("LIBPROCESS_SSL_VERIFY_SERVER_CERT", "true"),
    ];
    let mut events = spawn_events(client(env_with(&agent, false, &strict)).events());
    assert!(matches!(
        next(&mut events).await,
        Some(Err(Error::SubscribeFailed { .. }))
    ));
    assert!(agent.calls(call::Type::Subscribe).is_empty());

    let mut agent = FakeAgent::start_with(|_, _| Reply::Stream, Some(tls)).await;
    let mut vars = strict.to_vec();
    vars.extend([
        ("LIBPROCESS_SSL_CA_FILE", ca.as_str()),
        ("LIBPROCESS_SSL_CERT_FILE", cert.as_str()),
        ("LIBPROCESS_SSL_KEY_FILE", key.as_str()),
    ]);
    let mut events = spawn_events(client(env_with(&agent, false, &vars)).events());
    let s = agent.next_stream().await;
    agent.send(s, Some(subscribed()));
    expect_connected(&mut events).await;
    assert_eq!(*agent.client_certs.lock().unwrap(), vec![true]);
}
