//! The scheduler client against small fake Mesos masters on 127.0.0.1:0.
//!
//! Each fake master answers `POST /api/v1/scheduler` from a script: SUBSCRIBE
//! gets a RecordIO event stream, a status or a 307; other calls get 202 or a
//! configured status. Every request is recorded for assertions.
//!
//! These tests use real time with millisecond backoffs and heartbeats, not
//! `start_paused`: tokio's paused clock jumps to the next timer whenever the
//! runtime waits on socket I/O, which would fire request and heartbeat
//! timeouts while a loopback response is still in flight. The timing itself
//! (heartbeat loss after 5 intervals, backoff doubling and cap) is tested on
//! the paused clock with an in-memory transport in `subscription.rs`.

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
use futures::{Stream, StreamExt};
use kube_mesos_framework::mesos::{
    BackoffConfig, Credential, Error, SchedulerClient, SchedulerConfig, SchedulerEvent,
};
use kube_mesos_proto::recordio;
use kube_mesos_proto::v1::scheduler::{call, event, Call, Event};
use kube_mesos_proto::v1::{FrameworkId, FrameworkInfo};
use prost::Message;
use url::Url;

/// How a fake master answers one request.
#[derive(Clone)]
enum Reply {
    /// 200 with a stream id and these events, then keep the stream open.
    Stream(&'static str, Vec<Event>),
    /// 200 with a stream id and these events, then close the stream.
    StreamThenClose(&'static str, Vec<Event>),
    /// A plain status with a body.
    Status(u16, &'static str),
    /// 307 to this location.
    Redirect(String),
}

type Script = Arc<dyn Fn(&Call, usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Recorded {
    call: Call,
    headers: HeaderMap,
}

#[derive(Clone)]
struct MasterState {
    script: Script,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

/// A fake master; stopped when dropped.
struct FakeMaster {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMaster {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeMaster {
    async fn start(script: impl Fn(&Call, usize) -> Reply + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = MasterState {
            script: Arc::new(script),
            requests: requests.clone(),
        };
        let app = Router::new()
            .route("/api/v1/scheduler", post(handle))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn subscribes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.call.r#type() == call::Type::Subscribe)
            .collect()
    }

    fn calls(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.call.r#type() != call::Type::Subscribe)
            .collect()
    }
}

async fn handle(State(state): State<MasterState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(call) = Call::decode(body) else {
        return (StatusCode::BAD_REQUEST, "Failed to parse body").into_response();
    };
    let index = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(Recorded {
            call: call.clone(),
            headers,
        });
        requests
            .iter()
            .filter(|r| r.call.r#type() == call.r#type())
            .count()
            - 1
    };
    match (state.script)(&call, index) {
        Reply::Stream(id, events) => stream_response(id, events, true),
        Reply::StreamThenClose(id, events) => stream_response(id, events, false),
        Reply::Status(code, body) => (StatusCode::from_u16(code).unwrap(), body).into_response(),
        Reply::Redirect(location) => Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("Location", location)
            .body(Body::empty())
            .unwrap(),
    }
}

fn stream_response(stream_id: &str, events: Vec<Event>, hold: bool) -> Response {
    let frames = events
        .into_iter()
        .map(|e| Ok::<_, Infallible>(Bytes::from(recordio::encode(&e.encode_to_vec()))));
    let body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>> = if hold {
        Box::pin(futures::stream::iter(frames).chain(futures::stream::pending()))
    } else {
        Box::pin(futures::stream::iter(frames))
    };
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/x-protobuf")
        .header("Mesos-Stream-Id", stream_id)
        .body(Body::from_stream(body))
        .unwrap()
}

fn subscribed(id: &str, heartbeat: f64) -> Event {
    let mut e = Event {
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId { value: id.into() },
            heartbeat_interval_seconds: Some(heartbeat),
            master_info: None,
        }),
        ..Default::default()
    };
    e.set_type(event::Type::Subscribed);
    e
}

fn error_event(message: &str) -> Event {
    let mut e = Event {
        error: Some(event::Error {
            message: message.into(),
        }),
        ..Default::default()
    };
    e.set_type(event::Type::Error);
    e
}

fn heartbeat() -> Event {
    let mut e = Event::default();
    e.set_type(event::Type::Heartbeat);
    e
}

fn config(masters: &[String]) -> SchedulerConfig {
    let mut config = SchedulerConfig::from_master_urls(masters).unwrap();
    config.backoff = BackoffConfig {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(40),
    };
    config.request_timeout = Duration::from_secs(5);
    config
}

fn framework_info() -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "kube-mesos".into(),
        ..Default::default()
    }
}

/// Next item, failing the test instead of hanging.
async fn next<S: Stream<Item = Result<SchedulerEvent, Error>> + Unpin>(
    events: &mut S,
) -> Option<Result<SchedulerEvent, Error>> {
    tokio::time::timeout(Duration::from_secs(20), events.next())
        .await
        .expect("the subscription stream stalled")
}

async fn expect_connected<S: Stream<Item = Result<SchedulerEvent, Error>> + Unpin>(
    events: &mut S,
) -> FrameworkId {
    match next(events).await {
        Some(Ok(SchedulerEvent::Connected { framework_id, .. })) => framework_id,
        other => panic!("expected Connected, got {other:?}"),
    }
}

#[tokio::test]
async fn stream_id_is_kept_and_sent_on_calls() {
    let master = FakeMaster::start(|call, _| match call.r#type() {
        call::Type::Subscribe => {
            Reply::Stream("stream-1", vec![subscribed("fw-1", 15.0), heartbeat()])
        }
        _ => Reply::Status(202, ""),
    })
    .await;
    let client = SchedulerClient::new(config(&[master.url()])).unwrap();
    let handle = client.handle();
    let mut events = Box::pin(client.subscribe(framework_info()));

    assert_eq!(expect_connected(&mut events).await.value, "fw-1");
    assert_eq!(handle.framework_id().unwrap().value, "fw-1");
    match next(&mut events).await {
        Some(Ok(SchedulerEvent::Event(e))) => assert_eq!(e.r#type(), event::Type::Heartbeat),
        other => panic!("expected HEARTBEAT, got {other:?}"),
    }

    handle.revive(vec![]).await.unwrap();
    handle.suppress(vec!["*".into()]).await.unwrap();

    let subscribe = &master.subscribes()[0];
    assert_eq!(subscribe.headers["content-type"], "application/x-protobuf");
    assert_eq!(subscribe.headers["accept"], "application/x-protobuf");
    assert!(subscribe.headers.get("mesos-stream-id").is_none());
    let calls = master.calls();
    assert_eq!(calls.len(), 2);
    for recorded in &calls {
        assert_eq!(recorded.headers["mesos-stream-id"], "stream-1");
        assert_eq!(recorded.call.framework_id.as_ref().unwrap().value, "fw-1");
    }
    assert_eq!(calls[0].call.r#type(), call::Type::Revive);
    assert_eq!(
        calls[1].call.suppress.as_ref().unwrap().roles,
        vec!["*".to_string()]
    );
}

#[tokio::test]
async fn calls_before_subscribing_are_not_connected() {
    let client = SchedulerClient::new(config(&["http://127.0.0.1:9".into()])).unwrap();
    let error = client.handle().revive(vec![]).await.unwrap_err();
    assert!(matches!(error, Error::NotConnected { ref call_type } if call_type == "REVIVE"));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn redirect_to_the_leader_is_followed() {
    let leader = FakeMaster::start(|call, _| match call.r#type() {
        call::Type::Subscribe => Reply::Stream("leader-stream", vec![subscribed("fw-1", 15.0)]),
        _ => Reply::Status(202, ""),
    })
    .await;
    // Mesos' scheme-relative Location.
    let location = format!("//{}/api/v1/scheduler", leader.addr);
    let follower = FakeMaster::start(move |_, _| Reply::Redirect(location.clone())).await;

    let client = SchedulerClient::new(config(&[follower.url()])).unwrap();
    let handle = client.handle();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;
    handle.reconcile(vec![]).await.unwrap();

    assert_eq!(follower.subscribes().len(), 1);
    assert_eq!(leader.subscribes().len(), 1);
    // Calls go to the leader, not to the configured master.
    assert!(follower.calls().is_empty());
    assert_eq!(
        leader.calls()[0].headers["mesos-stream-id"],
        "leader-stream"
    );
}

#[tokio::test]
async fn unavailable_master_is_retried() {
    let master = FakeMaster::start(|call, n| match (call.r#type(), n) {
        (call::Type::Subscribe, 0) => Reply::Status(503, "No leader elected"),
        (call::Type::Subscribe, _) => Reply::Stream("s", vec![subscribed("fw-1", 15.0)]),
        _ => Reply::Status(202, ""),
    })
    .await;
    let client = SchedulerClient::new(config(&[master.url()])).unwrap();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;
    assert_eq!(master.subscribes().len(), 2);
}

#[tokio::test]
async fn first_master_down_uses_the_next() {
    // A port that was just free: connection refused.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let master = FakeMaster::start(|_, _| Reply::Stream("s", vec![subscribed("fw-1", 15.0)])).await;
    let client = SchedulerClient::new(config(&[dead, master.url()])).unwrap();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;
    assert_eq!(master.subscribes().len(), 1);
}

#[tokio::test]
async fn heartbeat_timeout_resubscribes_with_the_framework_id() {
    // 20 ms heartbeats and then silence: lost after 5 × 20 ms.
    let master = FakeMaster::start(|call, _| match call.r#type() {
        call::Type::Subscribe => Reply::Stream("s", vec![subscribed("fw-1", 0.02)]),
        _ => Reply::Status(202, ""),
    })
    .await;
    let client = SchedulerClient::new(config(&[master.url()])).unwrap();
    let handle = client.handle();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;

    match next(&mut events).await {
        Some(Ok(SchedulerEvent::Disconnected {
            reason: Error::EventStreamLost(kube_mesos_client::StreamError::Silent { timeout }),
        })) => assert_eq!(timeout, Duration::from_millis(100)),
        other => panic!("expected Disconnected(HeartbeatTimedOut), got {other:?}"),
    }
    // While disconnected, calls fail fast.
    assert!(matches!(
        handle.revive(vec![]).await,
        Err(Error::NotConnected { .. })
    ));
    expect_connected(&mut events).await;

    let subscribes = master.subscribes();
    assert!(subscribes.len() >= 2);
    assert_eq!(subscribes[0].call.framework_id, None);
    let again = &subscribes[1].call;
    assert_eq!(again.framework_id.as_ref().unwrap().value, "fw-1");
    let info = &again.subscribe.as_ref().unwrap().framework_info;
    assert_eq!(info.id.as_ref().unwrap().value, "fw-1");
    assert_eq!(info.name, "kube-mesos");
}

#[tokio::test]
async fn stream_end_reconnects() {
    let master = FakeMaster::start(|_, n| match n {
        0 => Reply::StreamThenClose("s0", vec![subscribed("fw-1", 15.0)]),
        _ => Reply::Stream("s1", vec![subscribed("fw-1", 15.0)]),
    })
    .await;
    let client = SchedulerClient::new(config(&[master.url()])).unwrap();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;
    assert!(matches!(
        next(&mut events).await,
        Some(Ok(SchedulerEvent::Disconnected {
            reason: Error::EventStreamLost(kube_mesos_client::StreamError::Ended)
        }))
    ));
    expect_connected(&mut events).await;
}

#[tokio::test]
async fn error_event_ends_the_subscription() {
    let master = FakeMaster::start(|_, _| {
        Reply::Stream(
            "s",
            vec![
                subscribed("fw-1", 15.0),
                error_event("Framework has been removed"),
            ],
        )
    })
    .await;
    let client = SchedulerClient::new(config(&[master.url()])).unwrap();
    let handle = client.handle();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;
    match next(&mut events).await {
        Some(Err(error @ Error::FrameworkRejected { .. })) => {
            assert!(!error.is_retryable());
            assert!(error.to_string().contains("Framework has been removed"));
        }
        other => panic!("expected FrameworkRejected, got {other:?}"),
    }
    assert!(next(&mut events).await.is_none());
    assert!(!handle.is_connected());
    assert_eq!(master.subscribes().len(), 1);
}

#[tokio::test]
async fn rejected_call_surfaces_status_and_body() {
    let master = FakeMaster::start(|call, _| match call.r#type() {
        call::Type::Subscribe => Reply::Stream("s", vec![subscribed("fw-1", 15.0)]),
        _ => Reply::Status(400, "Framework 'fw-1' is not subscribed"),
    })
    .await;
    let client = SchedulerClient::new(config(&[master.url()])).unwrap();
    let handle = client.handle();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;
    match handle.teardown().await {
        Err(Error::CallRejected {
            call_type,
            status,
            body,
        }) => {
            assert_eq!(call_type, "TEARDOWN");
            assert_eq!(status, 400);
            assert_eq!(body, "Framework 'fw-1' is not subscribed");
        }
        other => panic!("expected CallRejected, got {other:?}"),
    }
}

#[tokio::test]
async fn unavailable_call_is_retryable() {
    let master = FakeMaster::start(|call, _| match call.r#type() {
        call::Type::Subscribe => Reply::Stream("s", vec![subscribed("fw-1", 15.0)]),
        _ => Reply::Status(503, "Master is not the leader"),
    })
    .await;
    let client = SchedulerClient::new(config(&[master.url()])).unwrap();
    let handle = client.handle();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;
    let error = handle.revive(vec![]).await.unwrap_err();
    assert!(matches!(error, Error::CallUnavailable { status: 503, .. }));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn rejected_subscribe_is_permanent() {
    let master = FakeMaster::start(|_, _| Reply::Status(401, "Unauthenticated")).await;
    let client = SchedulerClient::new(config(&[master.url()])).unwrap();
    let mut events = Box::pin(client.subscribe(framework_info()));
    match next(&mut events).await {
        Some(Err(Error::SubscribeRejected { status, body, .. })) => {
            assert_eq!(status, 401);
            assert_eq!(body, "Unauthenticated");
        }
        other => panic!("expected SubscribeRejected, got {other:?}"),
    }
    assert!(next(&mut events).await.is_none());
}

#[tokio::test]
async fn basic_auth_is_sent_when_configured() {
    let master = FakeMaster::start(|call, _| match call.r#type() {
        call::Type::Subscribe => Reply::Stream("s", vec![subscribed("fw-1", 15.0)]),
        _ => Reply::Status(202, ""),
    })
    .await;
    let mut config = config(&[master.url()]);
    config.credential = Some(Credential {
        principal: "kube".into(),
        secret: "s3cret".into(),
    });
    let client = SchedulerClient::new(config).unwrap();
    let handle = client.handle();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;
    handle.revive(vec![]).await.unwrap();
    for recorded in master.requests() {
        // base64("kube:s3cret")
        assert_eq!(recorded.headers["authorization"], "Basic a3ViZTpzM2NyZXQ=");
    }
    assert_eq!(master.requests().len(), 2);
}

#[tokio::test]
async fn no_credentials_no_authorization_header() {
    let master = FakeMaster::start(|_, _| Reply::Stream("s", vec![subscribed("fw-1", 15.0)])).await;
    let client = SchedulerClient::new(config(&[master.url()])).unwrap();
    let mut events = Box::pin(client.subscribe(framework_info()));
    expect_connected(&mut events).await;
    assert!(master.requests()[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn bad_master_url_ends_the_stream_with_an_error() {
    let mut config = config(&["http://127.0.0.1:1".into()]);
    config.masters = vec![Url::parse("zk://127.0.0.1:2181/mesos").unwrap()];
    let client = SchedulerClient::new(config).unwrap();
    let mut events = Box::pin(client.subscribe(framework_info()));
    assert!(matches!(
        next(&mut events).await,
        Some(Err(Error::UnsupportedMasterUrl { .. }))
    ));
    assert!(next(&mut events).await.is_none());
}
