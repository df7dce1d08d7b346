//! The subscription lifecycle: subscribe, read events, notice loss, back off,
//! resubscribe with the same framework ID.
//!
//! [`Machine`] is the whole policy as a pure step function over [`Input`]s
//! producing [`Action`]s: which master to try next, when to back off, what to
//! tell the framework, when to give up. [`Driver`] is the thin async shell that
//! performs the actions (HTTP, sleeping, heartbeat timeout) and feeds the
//! results back. The machine is tested without sockets or clocks; the shell is
//! tested against fake masters in `tests/mesos_scheduler.rs`.
//!
//! Policy (after the Mesos scheduler library, `src/scheduler/scheduler.cpp`):
//! - masters are tried in turn; a failure moves to the next one at once, and
//!   only a whole round of failures costs a backoff delay;
//! - after SUBSCRIBED the framework ID is written into the FrameworkInfo, so
//!   every resubscribe carries it (and `Call.framework_id`);
//! - a lost connection (stream end or error, or no event for
//!   `heartbeat_misses` heartbeat intervals) emits `Disconnected` and
//!   resubscribes after a backoff delay; the backoff resets on SUBSCRIBED;
//! - an ERROR event, or a 4xx answer to SUBSCRIBE, ends the subscription.

use std::collections::VecDeque;
use std::time::Duration;

use kube_mesos_proto::v1::scheduler::{event, Call, Event};
use kube_mesos_proto::v1::{FrameworkId, FrameworkInfo, MasterInfo};
use url::Url;

use kube_mesos_client::backoff::{jitter, random_unit, Backoff};
use kube_mesos_client::stream::{heartbeat_interval, silence_timeout, within};
use kube_mesos_client::MesosHttp;

use super::calls;
use super::config::{SchedulerConfig, DEFAULT_HEARTBEAT_INTERVAL};
use super::connection::Connection;
use super::error::{Error, Result};
use super::handle::{Session, SessionSlot};

/// What the subscription stream yields.
#[derive(Debug)]
pub enum SchedulerEvent {
    /// SUBSCRIBED arrived: calls can be made. Sent after every (re)subscribe;
    /// the framework should reconcile and restate SUPPRESS/REVIVE then.
    Connected {
        /// The framework ID (new on the first subscribe, the same afterwards).
        framework_id: FrameworkId,
        /// How often the master sends HEARTBEAT.
        heartbeat_interval: Duration,
        /// The leading master, when the master says (Mesos ≥ 1.1). Boxed to
        /// keep the enum small.
        master_info: Option<Box<MasterInfo>>,
    },
    /// The subscription was lost; the client is reconnecting. Offers held so
    /// far are void (the master rescinds them) and calls fail with
    /// [`Error::NotConnected`] until the next `Connected`.
    Disconnected {
        /// Why the connection was given up.
        reason: Error,
    },
    /// Any other event from the master (OFFERS, UPDATE, RESCIND, HEARTBEAT, ...).
    /// Boxed: a Mesos event is large and this enum is moved around a lot.
    Event(Box<Event>),
}

/// What happened, as seen by the shell.
#[derive(Debug)]
pub(crate) enum Input {
    /// The stream was polled for the first time.
    Start,
    /// The backoff delay is over.
    BackoffElapsed,
    /// The SUBSCRIBE request failed (before a stream was open).
    SubscribeFailed(Error),
    /// An event arrived on the open stream.
    Event(Box<Event>),
    /// The open stream failed, ended or went silent.
    StreamLost(Error),
}

/// What the shell should do, in order.
#[derive(Debug)]
pub(crate) enum Action {
    /// Drop any connection and send SUBSCRIBE to this endpoint.
    Subscribe { endpoint: Url, call: Box<Call> },
    /// Drop any connection and wait a delay drawn under this ceiling.
    Wait { ceiling: Duration },
    /// Publish the session of the open connection with this framework ID.
    PublishSession { framework_id: FrameworkId },
    /// Clear the published session.
    ClearSession,
    /// Yield an event to the framework.
    Emit(SchedulerEvent),
    /// Yield the error and end the stream.
    Fail(Error),
}

/// Where the subscription is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not started yet.
    Idle,
    /// SUBSCRIBE sent (or its stream open), SUBSCRIBED not seen yet.
    Subscribing,
    /// SUBSCRIBED seen; events flowing.
    Subscribed,
    /// Waiting out a backoff delay.
    BackingOff,
    /// Ended for good.
    Terminated,
}

/// The subscription policy. See the module docs.
#[derive(Debug)]
pub(crate) struct Machine {
    framework_info: FrameworkInfo,
    endpoints: Vec<Url>,
    next_endpoint: usize,
    failures_in_round: usize,
    backoff: Backoff,
    heartbeat_interval: Duration,
    heartbeat_misses: u32,
    phase: Phase,
}

impl Machine {
    pub fn new(
        config: &SchedulerConfig,
        endpoints: Vec<Url>,
        framework_info: FrameworkInfo,
    ) -> Self {
        Self {
            framework_info,
            endpoints,
            next_endpoint: 0,
            failures_in_round: 0,
            backoff: Backoff::new(config.backoff),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            heartbeat_misses: config.heartbeat_misses.max(1),
            phase: Phase::Idle,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// How long the stream may stay silent before the master counts as lost.
    pub fn event_timeout(&self) -> Duration {
        silence_timeout(self.heartbeat_interval, self.heartbeat_misses)
    }

    /// The FrameworkInfo the next SUBSCRIBE will carry.
    #[cfg(test)]
    pub fn framework_info(&self) -> &FrameworkInfo {
        &self.framework_info
    }

    fn subscribe_action(&mut self) -> Action {
        self.phase = Phase::Subscribing;
        Action::Subscribe {
            endpoint: self.endpoints[self.next_endpoint % self.endpoints.len()].clone(),
            call: Box::new(calls::subscribe(self.framework_info.clone())),
        }
    }

    fn fail(&mut self, error: Error) -> Vec<Action> {
        self.phase = Phase::Terminated;
        vec![Action::ClearSession, Action::Fail(error)]
    }

    /// One attempt failed: next master at once, or back off after a round.
    fn attempt_failed(&mut self, error: Error) -> Vec<Action> {
        if !error.is_retryable() {
            return self.fail(error);
        }
        tracing::warn!(error = %error, error.source = ?std::error::Error::source(&error), "subscription attempt failed");
        self.failures_in_round += 1;
        self.next_endpoint = (self.next_endpoint + 1) % self.endpoints.len();
        if self.failures_in_round >= self.endpoints.len() {
            self.failures_in_round = 0;
            self.phase = Phase::BackingOff;
            vec![Action::Wait {
                ceiling: self.backoff.next_ceiling(),
            }]
        } else {
            vec![self.subscribe_action()]
        }
    }

    pub fn step(&mut self, input: Input) -> Vec<Action> {
        if self.endpoints.is_empty() && self.phase != Phase::Terminated {
            return self.fail(Error::NoMasters);
        }
        match (self.phase, input) {
            (Phase::Terminated, _) => Vec::new(),
            (Phase::Idle, Input::Start) | (Phase::BackingOff, Input::BackoffElapsed) => {
                vec![self.subscribe_action()]
            }
            (_, Input::Event(event)) if event.r#type() == event::Type::Error => {
                let message = event
                    .error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default();
                self.fail(Error::FrameworkRejected { message })
            }
            (Phase::Subscribing, Input::SubscribeFailed(error))
            | (Phase::Subscribing, Input::StreamLost(error)) => self.attempt_failed(error),
            (Phase::Subscribing, Input::Event(event)) => match event.subscribed.clone() {
                Some(subscribed) if event.r#type == Some(event::Type::Subscribed as i32) => {
                    self.subscribed(subscribed)
                }
                _ => {
                    let event_type = event.r#type().as_str_name().to_string();
                    self.attempt_failed(Error::SubscribedEventMissing { event_type })
                }
            },
            (Phase::Subscribed, Input::Event(event)) => {
                vec![Action::Emit(SchedulerEvent::Event(event))]
            }
            (Phase::Subscribed, Input::StreamLost(reason)) => {
                tracing::warn!(error = %reason, "lost the Mesos master; resubscribing");
                self.phase = Phase::BackingOff;
                self.heartbeat_interval = DEFAULT_HEARTBEAT_INTERVAL;
                vec![
                    Action::ClearSession,
                    Action::Emit(SchedulerEvent::Disconnected { reason }),
                    Action::Wait {
                        ceiling: self.backoff.next_ceiling(),
                    },
                ]
            }
            (phase, input) => {
                // Inputs that cannot happen in this phase (e.g. a late timer):
                // ignore rather than guess.
                tracing::debug!(?phase, ?input, "ignored subscription input");
                Vec::new()
            }
        }
    }

    fn subscribed(&mut self, subscribed: event::Subscribed) -> Vec<Action> {
        let framework_id = subscribed.framework_id;
        self.framework_info.id = Some(framework_id.clone());
        self.heartbeat_interval = heartbeat_interval(
            subscribed.heartbeat_interval_seconds,
            DEFAULT_HEARTBEAT_INTERVAL,
        );
        self.backoff.reset();
        self.failures_in_round = 0;
        self.phase = Phase::Subscribed;
        tracing::info!(framework_id = %framework_id.value, heartbeat = ?self.heartbeat_interval, "framework subscribed");
        vec![
            Action::PublishSession {
                framework_id: framework_id.clone(),
            },
            Action::Emit(SchedulerEvent::Connected {
                framework_id,
                heartbeat_interval: self.heartbeat_interval,
                master_info: subscribed.master_info.map(Box::new),
            }),
        ]
    }
}

/// Where subscriptions come from: HTTP in production, channels in tests (so
/// the shell's timing can be tested on tokio's paused clock, which does not
/// mix with real sockets).
pub(crate) trait Transport: Send + 'static {
    /// An open event stream.
    type Stream: EventSource;
    /// Sends SUBSCRIBE to `endpoint` (following redirects).
    fn subscribe(
        &self,
        endpoint: &Url,
        call: &Call,
    ) -> impl std::future::Future<Output = Result<Self::Stream>> + Send;
}

/// An open subscription's event stream.
pub(crate) trait EventSource: Send + 'static {
    /// Where calls of this subscription go.
    fn endpoint(&self) -> &Url;
    /// The `Mesos-Stream-Id` of this subscription.
    fn stream_id(&self) -> &str;
    /// The next event; an error when the stream failed or ended.
    fn next_event(&mut self) -> impl std::future::Future<Output = Result<Event>> + Send;
}

/// The production transport: [`Connection`] over reqwest.
pub(crate) struct HttpTransport {
    pub http: MesosHttp,
    pub max_redirects: u32,
    pub max_record_size: usize,
}

impl Transport for HttpTransport {
    type Stream = Connection;

    async fn subscribe(&self, endpoint: &Url, call: &Call) -> Result<Connection> {
        Connection::open(
            &self.http,
            endpoint,
            call,
            self.max_redirects,
            self.max_record_size,
        )
        .await
    }
}

impl EventSource for Connection {
    fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn stream_id(&self) -> &str {
        &self.stream_id
    }

    async fn next_event(&mut self) -> Result<Event> {
        Connection::next_event(self).await
    }
}

/// What the shell is doing between steps.
enum Doing<S> {
    Start,
    Subscribe { endpoint: Url, call: Box<Call> },
    Read(Box<S>),
    Sleep(Duration),
    Done,
}

/// The async shell around [`Machine`].
pub(crate) struct Driver<T: Transport> {
    machine: Machine,
    transport: T,
    session: SessionSlot,
    doing: Doing<T::Stream>,
    connection: Option<Box<T::Stream>>,
    queue: VecDeque<Result<SchedulerEvent>>,
}

impl<T: Transport> Drop for Driver<T> {
    fn drop(&mut self) {
        // The caller dropped the event stream: calls must stop too.
        self.session.set(None);
    }
}

impl<T: Transport> Driver<T> {
    pub fn new(
        config: &SchedulerConfig,
        endpoints: Vec<Url>,
        transport: T,
        session: SessionSlot,
        info: FrameworkInfo,
    ) -> Self {
        Self {
            machine: Machine::new(config, endpoints, info),
            transport,
            session,
            doing: Doing::Start,
            connection: None,
            queue: VecDeque::new(),
        }
    }

    /// A driver that yields `error` and ends (bad configuration).
    pub fn failed(
        transport: T,
        session: SessionSlot,
        config: &SchedulerConfig,
        error: Error,
    ) -> Self {
        let mut driver = Self::new(
            config,
            Vec::new(),
            transport,
            session,
            FrameworkInfo::default(),
        );
        driver.queue.push_back(Err(error));
        driver.doing = Doing::Done;
        driver
    }

    /// The next item of the subscription stream; `None` once it has ended.
    pub async fn next(&mut self) -> Option<Result<SchedulerEvent>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            let input = match std::mem::replace(&mut self.doing, Doing::Done) {
                Doing::Done => return None,
                Doing::Start => Input::Start,
                Doing::Sleep(delay) => {
                    tokio::time::sleep(delay).await;
                    Input::BackoffElapsed
                }
                Doing::Subscribe { endpoint, call } => {
                    match self.transport.subscribe(&endpoint, &call).await {
                        Ok(connection) => {
                            self.doing = Doing::Read(Box::new(connection));
                            continue;
                        }
                        Err(error) => Input::SubscribeFailed(error),
                    }
                }
                Doing::Read(mut connection) => {
                    let timeout = self.machine.event_timeout();
                    let input = match within(timeout, connection.next_event()).await {
                        Ok(event) => Input::Event(Box::new(event)),
                        Err(error) => Input::StreamLost(error),
                    };
                    self.connection = Some(connection);
                    input
                }
            };
            let actions = self.machine.step(input);
            self.doing = match self.machine.phase() {
                Phase::Terminated => Doing::Done,
                _ => match self.connection.take() {
                    Some(connection) => Doing::Read(connection),
                    None => Doing::Done,
                },
            };
            for action in actions {
                self.perform(action);
            }
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Subscribe { endpoint, call } => {
                self.doing = Doing::Subscribe { endpoint, call };
            }
            Action::Wait { ceiling } => {
                let delay = jitter(ceiling, random_unit());
                tracing::info!(?delay, "backing off before resubscribing");
                self.doing = Doing::Sleep(delay);
            }
            Action::PublishSession { framework_id } => {
                if let Doing::Read(connection) = &self.doing {
                    self.session.set(Some(Session {
                        endpoint: connection.endpoint().clone(),
                        stream_id: connection.stream_id().to_string(),
                        framework_id,
                    }));
                }
            }
            Action::ClearSession => self.session.set(None),
            Action::Emit(event) => self.queue.push_back(Ok(event)),
            Action::Fail(error) => {
                self.doing = Doing::Done;
                self.queue.push_back(Err(error));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SchedulerConfig {
        SchedulerConfig::from_master_urls(&["http://m1:5050", "http://m2:5050"]).unwrap()
    }

    fn machine() -> Machine {
        let config = config();
        let endpoints = config.endpoints().unwrap();
        Machine::new(
            &config,
            endpoints,
            FrameworkInfo {
                user: "root".into(),
                name: "kube-mesos".into(),
                ..Default::default()
            },
        )
    }

    fn subscribed_event(id: &str, interval: Option<f64>) -> Box<Event> {
        let mut event = Event {
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId { value: id.into() },
                heartbeat_interval_seconds: interval,
                master_info: None,
            }),
            ..Default::default()
        };
        event.set_type(event::Type::Subscribed);
        Box::new(event)
    }

    fn typed_event(kind: event::Type) -> Box<Event> {
        let mut event = Event::default();
        event.set_type(kind);
        Box::new(event)
    }

    fn unavailable() -> Error {
        Error::MasterUnavailable {
            endpoint: "x".into(),
            status: 503,
            body: String::new(),
        }
    }

    fn subscribe_target(actions: &[Action]) -> Option<(String, Option<String>)> {
        actions.iter().find_map(|a| match a {
            Action::Subscribe { endpoint, call } => Some((
                endpoint.host_str().unwrap_or_default().to_string(),
                call.framework_id.as_ref().map(|f| f.value.clone()),
            )),
            _ => None,
        })
    }

    fn wait_ceiling(actions: &[Action]) -> Option<Duration> {
        actions.iter().find_map(|a| match a {
            Action::Wait { ceiling } => Some(*ceiling),
            _ => None,
        })
    }

    #[test]
    fn tries_masters_in_turn_then_backs_off() {
        let mut m = machine();
        assert_eq!(
            subscribe_target(&m.step(Input::Start)),
            Some(("m1".into(), None))
        );
        let a = m.step(Input::SubscribeFailed(unavailable()));
        assert_eq!(subscribe_target(&a), Some(("m2".into(), None)));
        let a = m.step(Input::SubscribeFailed(unavailable()));
        assert_eq!(wait_ceiling(&a), Some(Duration::from_secs(1)));
        assert_eq!(m.phase(), Phase::BackingOff);
        let a = m.step(Input::BackoffElapsed);
        assert_eq!(subscribe_target(&a), Some(("m1".into(), None)));
        m.step(Input::SubscribeFailed(unavailable()));
        let a = m.step(Input::SubscribeFailed(unavailable()));
        assert_eq!(wait_ceiling(&a), Some(Duration::from_secs(2)));
    }

    #[test]
    fn subscribed_sets_the_framework_id_for_resubscribes() {
        let mut m = machine();
        m.step(Input::Start);
        let a = m.step(Input::Event(subscribed_event("fw-1", Some(2.0))));
        assert!(matches!(a[0], Action::PublishSession { .. }));
        assert!(matches!(
            &a[1],
            Action::Emit(SchedulerEvent::Connected { framework_id, heartbeat_interval, .. })
                if framework_id.value == "fw-1" && *heartbeat_interval == Duration::from_secs(2)
        ));
        assert_eq!(m.event_timeout(), Duration::from_secs(10));
        assert_eq!(m.framework_info().id.as_ref().unwrap().value, "fw-1");

        let a = m.step(Input::StreamLost(Error::EventStreamLost(
            kube_mesos_client::StreamError::Silent {
                timeout: Duration::from_secs(10),
            },
        )));
        assert!(matches!(a[0], Action::ClearSession));
        assert!(matches!(
            a[1],
            Action::Emit(SchedulerEvent::Disconnected { .. })
        ));
        assert_eq!(wait_ceiling(&a), Some(Duration::from_secs(1)));
        let a = m.step(Input::BackoffElapsed);
        assert_eq!(
            subscribe_target(&a),
            Some(("m1".into(), Some("fw-1".into())))
        );
    }

    #[test]
    fn backoff_resets_after_a_subscription() {
        let mut m = machine();
        m.step(Input::Start);
        m.step(Input::SubscribeFailed(unavailable()));
        m.step(Input::SubscribeFailed(unavailable()));
        m.step(Input::BackoffElapsed);
        m.step(Input::Event(subscribed_event("fw", None)));
        assert_eq!(m.event_timeout(), Duration::from_secs(75));
        let a = m.step(Input::StreamLost(Error::EventStreamLost(
            kube_mesos_client::StreamError::Ended,
        )));
        assert_eq!(wait_ceiling(&a), Some(Duration::from_secs(1)));
    }

    #[test]
    fn error_event_terminates() {
        let mut m = machine();
        m.step(Input::Start);
        m.step(Input::Event(subscribed_event("fw", None)));
        let mut error = typed_event(event::Type::Error);
        error.error = Some(event::Error {
            message: "Framework has been removed".into(),
        });
        let a = m.step(Input::Event(error));
        assert!(matches!(
            a.last(),
            Some(Action::Fail(Error::FrameworkRejected { message })) if message == "Framework has been removed"
        ));
        assert_eq!(m.phase(), Phase::Terminated);
        assert!(m.step(Input::BackoffElapsed).is_empty());
    }

    #[test]
    fn rejected_subscribe_terminates() {
        let mut m = machine();
        m.step(Input::Start);
        let a = m.step(Input::SubscribeFailed(Error::SubscribeRejected {
            endpoint: "x".into(),
            status: 401,
            body: "unauthorized".into(),
        }));
        assert!(matches!(
            a.last(),
            Some(Action::Fail(Error::SubscribeRejected { status: 401, .. }))
        ));
    }

    #[test]
    fn first_event_must_be_subscribed() {
        let mut m = machine();
        m.step(Input::Start);
        let a = m.step(Input::Event(typed_event(event::Type::Heartbeat)));
        assert_eq!(subscribe_target(&a), Some(("m2".into(), None)));
    }

    #[test]
    fn events_pass_through_once_subscribed() {
        let mut m = machine();
        m.step(Input::Start);
        m.step(Input::Event(subscribed_event("fw", None)));
        let a = m.step(Input::Event(typed_event(event::Type::Heartbeat)));
        assert!(
            matches!(&a[..], [Action::Emit(SchedulerEvent::Event(e))] if e.r#type() == event::Type::Heartbeat)
        );
    }
}

/// The async shell on tokio's paused clock, with an in-memory transport: the
/// heartbeat timeout and the backoff delays are checked to the millisecond
/// without waiting for them.
#[cfg(test)]
mod shell_tests {
    use std::sync::{Arc, Mutex};

    use tokio::sync::mpsc;
    use tokio::time::Instant;

    use super::*;
    use kube_mesos_client::BackoffConfig;

    type Events = mpsc::UnboundedSender<Result<Event>>;

    struct FakeStream {
        endpoint: Url,
        events: mpsc::UnboundedReceiver<Result<Event>>,
    }

    impl EventSource for FakeStream {
        fn endpoint(&self) -> &Url {
            &self.endpoint
        }

        fn stream_id(&self) -> &str {
            "fake-stream"
        }

        async fn next_event(&mut self) -> Result<Event> {
            self.events
                .recv()
                .await
                .unwrap_or(Err(Error::EventStreamLost(
                    kube_mesos_client::StreamError::Ended,
                )))
        }
    }

    enum Outcome {
        Fail(Error),
        Stream(mpsc::UnboundedReceiver<Result<Event>>),
    }

    #[derive(Clone, Default)]
    struct FakeTransport {
        script: Arc<Mutex<VecDeque<Outcome>>>,
        calls: Arc<Mutex<Vec<(Instant, Call)>>>,
    }

    impl FakeTransport {
        fn push_stream(&self) -> Events {
            let (tx, rx) = mpsc::unbounded_channel();
            self.script.lock().unwrap().push_back(Outcome::Stream(rx));
            tx
        }

        fn push_failure(&self, error: Error) {
            self.script.lock().unwrap().push_back(Outcome::Fail(error));
        }

        fn calls(&self) -> Vec<(Instant, Call)> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Transport for FakeTransport {
        type Stream = FakeStream;

        async fn subscribe(&self, endpoint: &Url, call: &Call) -> Result<FakeStream> {
            self.calls
                .lock()
                .unwrap()
                .push((Instant::now(), call.clone()));
            let next = self.script.lock().unwrap().pop_front();
            match next {
                Some(Outcome::Fail(error)) => Err(error),
                Some(Outcome::Stream(events)) => Ok(FakeStream {
                    endpoint: endpoint.clone(),
                    events,
                }),
                None => std::future::pending().await,
            }
        }
    }

    fn driver(transport: FakeTransport) -> Driver<FakeTransport> {
        let mut config = SchedulerConfig::from_master_urls(&["http://m1:5050"]).unwrap();
        config.backoff = BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(4),
        };
        let endpoints = config.endpoints().unwrap();
        let info = FrameworkInfo {
            user: "root".into(),
            name: "kube-mesos".into(),
            ..Default::default()
        };
        Driver::new(&config, endpoints, transport, SessionSlot::default(), info)
    }

    fn subscribed(interval: f64) -> Result<Event> {
        let mut event = Event {
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId {
                    value: "fw-1".into(),
                },
                heartbeat_interval_seconds: Some(interval),
                master_info: None,
            }),
            ..Default::default()
        };
        event.set_type(event::Type::Subscribed);
        Ok(event)
    }

    fn heartbeat() -> Result<Event> {
        let mut event = Event::default();
        event.set_type(event::Type::Heartbeat);
        Ok(event)
    }

    fn unavailable() -> Error {
        Error::MasterUnavailable {
            endpoint: "http://m1:5050/api/v1/scheduler".into(),
            status: 503,
            body: "No leader elected".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silence_for_five_heartbeats_reconnects_with_the_framework_id() {
        let transport = FakeTransport::default();
        let first = transport.push_stream();
        let second = transport.push_stream();
        first.send(subscribed(10.0)).unwrap();
        second.send(subscribed(10.0)).unwrap();
        let mut driver = driver(transport.clone());

        assert!(matches!(
            driver.next().await,
            Some(Ok(SchedulerEvent::Connected { .. }))
        ));
        let connected_at = Instant::now();
        match driver.next().await {
            Some(Ok(SchedulerEvent::Disconnected {
                reason: Error::EventStreamLost(kube_mesos_client::StreamError::Silent { timeout }),
            })) => assert_eq!(timeout, Duration::from_secs(50)),
            other => panic!("expected a heartbeat timeout, got {other:?}"),
        }
        assert_eq!(connected_at.elapsed(), Duration::from_secs(50));
        let lost_at = Instant::now();

        assert!(matches!(
            driver.next().await,
            Some(Ok(SchedulerEvent::Connected { .. }))
        ));
        let calls = transport.calls();
        assert_eq!(calls.len(), 2);
        // One backoff delay, drawn from [initial / 2, initial].
        let waited = calls[1].0 - lost_at;
        assert!(
            waited >= Duration::from_millis(500) && waited <= Duration::from_secs(1),
            "{waited:?}"
        );
        assert_eq!(calls[0].1.framework_id, None);
        assert_eq!(calls[1].1.framework_id.as_ref().unwrap().value, "fw-1");
        let info = &calls[1].1.subscribe.as_ref().unwrap().framework_info;
        assert_eq!(info.id.as_ref().unwrap().value, "fw-1");
        drop(first);
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_keep_the_subscription_alive() {
        let transport = FakeTransport::default();
        let events = transport.push_stream();
        events.send(subscribed(10.0)).unwrap();
        let mut driver = driver(transport.clone());
        assert!(matches!(
            driver.next().await,
            Some(Ok(SchedulerEvent::Connected { .. }))
        ));
        let start = Instant::now();
        let sender = tokio::spawn(async move {
            for _ in 0..10 {
                // Late heartbeats, but never five intervals late.
                tokio::time::sleep(Duration::from_secs(45)).await;
                events.send(heartbeat()).unwrap();
            }
            events
        });
        for _ in 0..10 {
            match driver.next().await {
                Some(Ok(SchedulerEvent::Event(e))) => {
                    assert_eq!(e.r#type(), event::Type::Heartbeat)
                }
                other => panic!("expected HEARTBEAT, got {other:?}"),
            }
        }
        assert_eq!(start.elapsed(), Duration::from_secs(450));
        assert_eq!(transport.calls().len(), 1);
        drop(sender.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_the_cap_between_failed_attempts() {
        let transport = FakeTransport::default();
        for _ in 0..5 {
            transport.push_failure(unavailable());
        }
        let events = transport.push_stream();
        events.send(subscribed(15.0)).unwrap();
        let mut driver = driver(transport.clone());
        assert!(matches!(
            driver.next().await,
            Some(Ok(SchedulerEvent::Connected { .. }))
        ));

        let times: Vec<Instant> = transport.calls().iter().map(|(t, _)| *t).collect();
        assert_eq!(times.len(), 6);
        let ceilings = [1, 2, 4, 4, 4].map(Duration::from_secs);
        for (gap, ceiling) in times.windows(2).map(|w| w[1] - w[0]).zip(ceilings) {
            assert!(
                gap >= ceiling / 2 && gap <= ceiling,
                "{gap:?} not in [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn error_event_ends_the_stream_without_reconnecting() {
        let transport = FakeTransport::default();
        let events = transport.push_stream();
        events.send(subscribed(15.0)).unwrap();
        let mut error = Event {
            error: Some(event::Error {
                message: "Framework has been removed".into(),
            }),
            ..Default::default()
        };
        error.set_type(event::Type::Error);
        events.send(Ok(error)).unwrap();
        let mut driver = driver(transport.clone());
        assert!(matches!(
            driver.next().await,
            Some(Ok(SchedulerEvent::Connected { .. }))
        ));
        assert!(matches!(
            driver.next().await,
            Some(Err(Error::FrameworkRejected { .. }))
        ));
        assert!(driver.next().await.is_none());
        assert_eq!(transport.calls().len(), 1);
    }
}
