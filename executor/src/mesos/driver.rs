//! The async shell around the subscription [`Machine`]: performs its actions
//! (SUBSCRIBE, sleeping, reading events) and feeds the results back.
//!
//! It is generic over [`Transport`] so that its timing (retry delays, the
//! recovery timeout) can be tested on tokio's paused clock with an in-memory
//! transport; the paused clock does not mix with real sockets.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use kube_mesos_proto::v1::executor::{Call, Event};
use tokio::time::Instant;

use kube_mesos_client::backoff::{full_jitter, random_unit};

use super::connection::{Agent, AgentEvents};
use super::error::Result;
use super::subscription::{Action, ExecutorEvent, Input, Machine, Phase, Policy};
use super::ExecutorClient;

/// Where subscriptions come from.
pub(crate) trait Transport: Send + 'static {
    /// An open event stream.
    type Stream: EventSource;
    /// Sends SUBSCRIBE.
    fn subscribe(&self, call: &Call) -> impl Future<Output = Result<Self::Stream>> + Send;
}

/// An open event stream.
pub(crate) trait EventSource: Send + 'static {
    /// The next event; an error when the stream failed or ended.
    fn next_event(&mut self) -> impl Future<Output = Result<Event>> + Send;
}

/// The production transport: HTTP to the agent.
pub(crate) struct HttpTransport {
    pub agent: Agent,
    pub max_record_size: usize,
}

impl Transport for HttpTransport {
    type Stream = AgentEvents;

    async fn subscribe(&self, call: &Call) -> Result<AgentEvents> {
        self.agent.subscribe(call, self.max_record_size).await
    }
}

impl EventSource for AgentEvents {
    async fn next_event(&mut self) -> Result<Event> {
        AgentEvents::next_event(self).await
    }
}

enum Doing<S> {
    Start,
    Subscribe,
    Read(Box<S>),
    Sleep(Duration),
    Done,
}

/// Drives one subscription of `client` through `transport`.
pub(crate) struct Driver<T: Transport> {
    client: ExecutorClient,
    machine: Machine,
    transport: T,
    doing: Doing<T::Stream>,
    stream: Option<Box<T::Stream>>,
    queue: VecDeque<Result<ExecutorEvent>>,
}

impl<T: Transport> Drop for Driver<T> {
    fn drop(&mut self) {
        self.client.shared().connected = false;
    }
}

impl<T: Transport> Driver<T> {
    pub fn new(client: ExecutorClient, policy: Policy, transport: T) -> Self {
        Self {
            client,
            machine: Machine::new(policy),
            transport,
            doing: Doing::Start,
            stream: None,
            queue: VecDeque::new(),
        }
    }

    /// The next item of the event stream; `None` once it has ended.
    pub async fn next(&mut self) -> Option<Result<ExecutorEvent>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            let input = match std::mem::replace(&mut self.doing, Doing::Done) {
                Doing::Done => return None,
                Doing::Start => Input::Start,
                Doing::Sleep(delay) => {
                    tokio::time::sleep(delay).await;
                    Input::RetryElapsed
                }
                Doing::Subscribe => {
                    let call = self.client.subscribe_call();
                    match self.transport.subscribe(&call).await {
                        Ok(stream) => {
                            self.doing = Doing::Read(Box::new(stream));
                            continue;
                        }
                        Err(error) => Input::SubscribeFailed {
                            error,
                            now: Instant::now(),
                        },
                    }
                }
                Doing::Read(mut stream) => {
                    let input = match stream.next_event().await {
                        Ok(event) => {
                            self.client.observe(&event);
                            Input::Event(Box::new(event))
                        }
                        Err(error) => Input::StreamLost {
                            error,
                            now: Instant::now(),
                        },
                    };
                    self.stream = Some(stream);
                    input
                }
            };
            let actions = self.machine.step(input);
            self.doing = match (self.machine.phase(), self.stream.take()) {
                (Phase::Terminated, _) | (_, None) => Doing::Done,
                (_, Some(stream)) => Doing::Read(stream),
            };
            for action in actions {
                match action {
                    Action::Subscribe => self.doing = Doing::Subscribe,
                    Action::Wait { max, jittered } => {
                        let delay = if jittered {
                            full_jitter(max, random_unit())
                        } else {
                            max
                        };
                        tracing::debug!(?delay, "waiting before the next SUBSCRIBE");
                        self.doing = Doing::Sleep(delay);
                    }
                    Action::SetConnected(connected) => self.client.shared().connected = connected,
                    Action::Emit(event) => self.queue.push_back(Ok(event)),
                    Action::Fail(error) => {
                        self.doing = Doing::Done;
                        self.queue.push_back(Err(error));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use kube_mesos_proto::v1::executor::event;
    use tokio::sync::mpsc;

    use super::*;
    use crate::mesos::{Error, ExecutorEnv};

    struct FakeStream(mpsc::UnboundedReceiver<Result<Event>>);

    impl EventSource for FakeStream {
        async fn next_event(&mut self) -> Result<Event> {
            self.0.recv().await.unwrap_or(Err(Error::EventStreamLost(
                kube_mesos_client::StreamError::Ended,
            )))
        }
    }

    enum Outcome {
        Unavailable,
        Stream(mpsc::UnboundedReceiver<Result<Event>>),
    }

    /// Scripted SUBSCRIBE outcomes; once the script is used up, every
    /// attempt answers 503. Records when each attempt happened.
    #[derive(Clone, Default)]
    struct FakeTransport {
        script: Arc<Mutex<VecDeque<Outcome>>>,
        attempts: Arc<Mutex<Vec<(Instant, Call)>>>,
    }

    impl FakeTransport {
        fn push_stream(&self) -> mpsc::UnboundedSender<Result<Event>> {
            let (tx, rx) = mpsc::unbounded_channel();
            self.script.lock().unwrap().push_back(Outcome::Stream(rx));
            tx
        }

        fn attempts(&self) -> Vec<(Instant, Call)> {
            self.attempts.lock().unwrap().clone()
        }
    }

    impl Transport for FakeTransport {
        type Stream = FakeStream;

        async fn subscribe(&self, call: &Call) -> Result<FakeStream> {
            self.attempts
                .lock()
                .unwrap()
                .push((Instant::now(), call.clone()));
            let next = self.script.lock().unwrap().pop_front();
            match next.unwrap_or(Outcome::Unavailable) {
                Outcome::Unavailable => Err(Error::AgentUnavailable {
                    status: 503,
                    body: "Agent has not finished recovery".into(),
                }),
                Outcome::Stream(rx) => Ok(FakeStream(rx)),
            }
        }
    }

    fn client(checkpoint: bool) -> ExecutorClient {
        let mut vars = vec![
            ("MESOS_SLAVE_PID", "slave(1)@127.0.0.1:1"),
            ("MESOS_FRAMEWORK_ID", "fw-1"),
            ("MESOS_EXECUTOR_ID", "e-1"),
            ("MESOS_DIRECTORY", "/tmp"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
        ];
        if checkpoint {
            vars.extend([
                ("MESOS_CHECKPOINT", "1"),
                ("MESOS_RECOVERY_TIMEOUT", "15mins"),
                ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
            ]);
        }
        ExecutorClient::new(ExecutorEnv::from_vars(vars).unwrap()).unwrap()
    }

    fn subscribed() -> Result<Event> {
        let mut e = Event {
            subscribed: Some(event::Subscribed::default()),
            ..Default::default()
        };
        e.set_type(event::Type::Subscribed);
        Ok(e)
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_exactly_at_the_recovery_timeout() {
        let client = client(true);
        let transport = FakeTransport::default();
        let events = transport.push_stream();
        events.send(subscribed()).unwrap();
        let mut driver = Driver::new(client.clone(), client.policy(), transport.clone());
        assert!(matches!(
            driver.next().await,
            Some(Ok(ExecutorEvent::Connected { .. }))
        ));
        assert!(client.is_connected());

        drop(events); // the agent goes away
        assert!(matches!(
            driver.next().await,
            Some(Ok(ExecutorEvent::Disconnected { .. }))
        ));
        assert!(!client.is_connected());
        let lost_at = Instant::now();
        match driver.next().await {
            Some(Err(Error::RecoveryTimedOut { timeout, .. })) => {
                assert_eq!(timeout, Duration::from_secs(900))
            }
            other => panic!("expected RecoveryTimedOut, got {other:?}"),
        }
        let gave_up = lost_at.elapsed();
        assert!(gave_up >= Duration::from_secs(900), "{gave_up:?}");
        // The last wait is capped by the time left, so no overshoot.
        assert!(gave_up <= Duration::from_secs(900), "{gave_up:?}");
        assert!(driver.next().await.is_none());

        // Retries in between: at once, then at most 2 s apart.
        let attempts = transport.attempts();
        assert_eq!(attempts[1].0, lost_at);
        for gap in attempts[1..].windows(2).map(|w| w[1].0 - w[0].0) {
            assert!(gap <= Duration::from_secs(2), "{gap:?}");
        }
        assert!(attempts.len() > 450, "{} attempts", attempts.len());
    }

    #[tokio::test(start_paused = true)]
    async fn first_subscribe_retries_every_interval_while_unavailable() {
        let client = client(false);
        let transport = FakeTransport::default();
        transport
            .script
            .lock()
            .unwrap()
            .extend([Outcome::Unavailable, Outcome::Unavailable]);
        let events = transport.push_stream();
        events.send(subscribed()).unwrap();
        let mut driver = Driver::new(client.clone(), client.policy(), transport.clone());
        let start = Instant::now();
        assert!(matches!(
            driver.next().await,
            Some(Ok(ExecutorEvent::Connected { .. }))
        ));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(transport.attempts().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn without_checkpointing_a_lost_stream_ends_at_once() {
        let client = client(false);
        let transport = FakeTransport::default();
        let events = transport.push_stream();
        events.send(subscribed()).unwrap();
        let mut driver = Driver::new(client.clone(), client.policy(), transport.clone());
        assert!(matches!(
            driver.next().await,
            Some(Ok(ExecutorEvent::Connected { .. }))
        ));
        drop(events);
        let start = Instant::now();
        assert!(matches!(
            driver.next().await,
            Some(Err(Error::AgentLost(_)))
        ));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(transport.attempts().len(), 1);
    }
}
