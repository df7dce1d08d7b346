//! The executor's subscription to its agent: subscribe, read events, and on a
//! broken stream either give up or, with checkpointing, reconnect until the
//! recovery timeout.
//!
//! [`Machine`] is the policy as a pure step function (inputs carry the
//! current instant, so no clock is read inside); [`Driver`] is the async
//! shell doing HTTP and sleeping. The policy follows the Mesos executor
//! library (`src/executor/executor.cpp`):
//! - before the first subscription, a 503/404 from the agent (still
//!   recovering, routes not up) is retried every `subscribe_retry_interval`
//!   (1 s, like `doReliableRegistration`); a transport error or 4xx ends it;
//! - after a broken stream without checkpointing the executor must exit
//!   ([`Error::AgentLost`]);
//! - with checkpointing it reports `Disconnected`, retries at once and then
//!   after random delays in `[0, MESOS_SUBSCRIPTION_BACKOFF_MAX]`, and gives
//!   up with [`Error::RecoveryTimedOut`] once `MESOS_RECOVERY_TIMEOUT` has
//!   passed since the disconnection.

use std::time::Duration;

use kube_mesos_proto::v1::executor::{event, Event};
use tokio::time::Instant;

use super::error::Error;

/// What the executor's event stream yields.
#[derive(Debug)]
pub enum ExecutorEvent {
    /// SUBSCRIBED: the agent accepted the executor (again, after a
    /// reconnect). Updates can be sent.
    Connected {
        /// Executor, framework and agent info from the agent.
        subscribed: Box<event::Subscribed>,
    },
    /// The agent connection broke; the client is reconnecting (checkpointing
    /// frameworks only). Running pods keep running.
    Disconnected {
        /// Why the connection was lost.
        reason: Error,
    },
    /// Any other event: LAUNCH, LAUNCH_GROUP, KILL, ACKNOWLEDGED, MESSAGE,
    /// SHUTDOWN, ERROR.
    Event(Box<Event>),
}

/// Settings of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub backoff_max: Duration,
    pub subscribe_retry_interval: Duration,
}

#[derive(Debug)]
pub(crate) enum Input {
    Start,
    RetryElapsed,
    SubscribeFailed { error: Error, now: Instant },
    Event(Box<Event>),
    StreamLost { error: Error, now: Instant },
}

#[derive(Debug)]
pub(crate) enum Action {
    /// Drop any connection and SUBSCRIBE (with the ledger's contents).
    Subscribe,
    /// Wait, for exactly `max` or (jittered) a uniform delay in `[0, max]`.
    Wait {
        max: Duration,
        jittered: bool,
    },
    /// Mark the client subscribed (updates may be sent) or not.
    SetConnected(bool),
    Emit(ExecutorEvent),
    Fail(Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    Subscribing,
    Subscribed,
    Waiting,
    Terminated,
}

#[derive(Debug)]
pub(crate) struct Machine {
    policy: Policy,
    phase: Phase,
    ever_subscribed: bool,
    disconnected_at: Option<Instant>,
}

impl Machine {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            phase: Phase::Idle,
            ever_subscribed: false,
            disconnected_at: None,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    fn fail(&mut self, error: Error) -> Vec<Action> {
        self.phase = Phase::Terminated;
        vec![Action::SetConnected(false), Action::Fail(error)]
    }

    fn subscribe(&mut self) -> Vec<Action> {
        self.phase = Phase::Subscribing;
        vec![Action::Subscribe]
    }

    fn wait(&mut self, max: Duration, jittered: bool) -> Vec<Action> {
        self.phase = Phase::Waiting;
        vec![Action::Wait { max, jittered }]
    }

    fn attempt_failed(&mut self, error: Error, now: Instant) -> Vec<Action> {
        if !error.is_retryable() {
            return self.fail(error);
        }
        match self.disconnected_at {
            // Recovering after a disconnection (checkpointing only).
            Some(since) => {
                let deadline = since + self.policy.recovery_timeout;
                if now >= deadline {
                    return self.fail(Error::RecoveryTimedOut {
                        timeout: self.policy.recovery_timeout,
                        last: Box::new(error),
                    });
                }
                tracing::info!(error = %error, "agent not back yet; retrying");
                let max = self.policy.backoff_max.min(deadline - now);
                self.wait(max, true)
            }
            // First subscription: only "agent not ready" answers are retried.
            None if matches!(error, Error::AgentUnavailable { .. }) => {
                tracing::info!(error = %error, "agent not ready; retrying SUBSCRIBE");
                self.wait(self.policy.subscribe_retry_interval, false)
            }
            None => self.fail(error),
        }
    }

    pub fn step(&mut self, input: Input) -> Vec<Action> {
        match (self.phase, input) {
            (Phase::Terminated, _) => Vec::new(),
            (Phase::Idle, Input::Start) | (Phase::Waiting, Input::RetryElapsed) => self.subscribe(),
            (Phase::Subscribing, Input::SubscribeFailed { error, now })
            | (Phase::Subscribing, Input::StreamLost { error, now }) => {
                self.attempt_failed(error, now)
            }
            (Phase::Subscribing, Input::Event(event)) => {
                let kind = event.r#type();
                if kind == event::Type::Subscribed {
                    if let Some(subscribed) = event.subscribed {
                        self.phase = Phase::Subscribed;
                        self.ever_subscribed = true;
                        self.disconnected_at = None;
                        tracing::info!(
                            agent = %subscribed.agent_info.hostname,
                            "executor subscribed to the agent"
                        );
                        return vec![
                            Action::SetConnected(true),
                            Action::Emit(ExecutorEvent::Connected {
                                subscribed: Box::new(subscribed),
                            }),
                        ];
                    }
                }
                let event_type = kind.as_str_name().to_string();
                // The agent's stream is open, so "now" is not needed for a
                // first subscription; while recovering, the deadline check
                // happens on the next failure.
                self.attempt_failed(
                    Error::SubscribedEventMissing { event_type },
                    self.disconnected_at.unwrap_or_else(Instant::now),
                )
            }
            (Phase::Subscribed, Input::Event(event)) => {
                vec![Action::Emit(ExecutorEvent::Event(event))]
            }
            (Phase::Subscribed, Input::StreamLost { error, now }) => {
                if !self.policy.checkpoint {
                    tracing::error!(error = %error, "lost the agent without checkpointing; exiting");
                    return self.fail(Error::AgentLost(Box::new(error)));
                }
                tracing::warn!(error = %error, "lost the agent; reconnecting");
                self.disconnected_at = Some(now);
                let mut actions = vec![
                    Action::SetConnected(false),
                    Action::Emit(ExecutorEvent::Disconnected { reason: error }),
                ];
                actions.extend(self.subscribe());
                actions
            }
            (phase, input) => {
                tracing::debug!(?phase, ?input, "ignored executor subscription input");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(checkpoint: bool) -> Policy {
        Policy {
            checkpoint,
            recovery_timeout: Duration::from_secs(60),
            backoff_max: Duration::from_secs(2),
            subscribe_retry_interval: Duration::from_secs(1),
        }
    }

    fn subscribed() -> Box<Event> {
        let mut e = Event {
            subscribed: Some(event::Subscribed::default()),
            ..Default::default()
        };
        e.set_type(event::Type::Subscribed);
        Box::new(e)
    }

    fn unavailable() -> Error {
        Error::AgentUnavailable {
            status: 503,
            body: "Agent has not finished recovery".into(),
        }
    }

    fn connected(m: &mut Machine) {
        m.step(Input::Start);
        let a = m.step(Input::Event(subscribed()));
        assert!(matches!(
            a[1],
            Action::Emit(ExecutorEvent::Connected { .. })
        ));
    }

    #[test]
    fn without_checkpointing_a_lost_stream_is_fatal() {
        let mut m = Machine::new(policy(false));
        connected(&mut m);
        let a = m.step(Input::StreamLost {
            error: Error::EventStreamLost(kube_mesos_client::StreamError::Ended),
            now: Instant::now(),
        });
        assert!(matches!(a.last(), Some(Action::Fail(Error::AgentLost(_)))));
        assert_eq!(m.phase(), Phase::Terminated);
    }

    #[test]
    fn with_checkpointing_reconnects_until_the_recovery_timeout() {
        let mut m = Machine::new(policy(true));
        connected(&mut m);
        let t0 = Instant::now();
        let a = m.step(Input::StreamLost {
            error: Error::EventStreamLost(kube_mesos_client::StreamError::Ended),
            now: t0,
        });
        assert!(matches!(
            a[1],
            Action::Emit(ExecutorEvent::Disconnected { .. })
        ));
        assert!(matches!(a[2], Action::Subscribe));

        let a = m.step(Input::SubscribeFailed {
            error: unavailable(),
            now: t0 + Duration::from_secs(1),
        });
        assert!(
            matches!(a[0], Action::Wait { max, jittered: true } if max == Duration::from_secs(2))
        );
        m.step(Input::RetryElapsed);
        // Close to the deadline the wait is capped by the time left.
        let a = m.step(Input::SubscribeFailed {
            error: unavailable(),
            now: t0 + Duration::from_millis(59_500),
        });
        assert!(matches!(a[0], Action::Wait { max, .. } if max == Duration::from_millis(500)));
        m.step(Input::RetryElapsed);
        let a = m.step(Input::SubscribeFailed {
            error: unavailable(),
            now: t0 + Duration::from_secs(60),
        });
        assert!(matches!(
            a.last(),
            Some(Action::Fail(Error::RecoveryTimedOut { timeout, .. })) if *timeout == Duration::from_secs(60)
        ));
    }

    #[test]
    fn recovery_resets_after_resubscribing() {
        let mut m = Machine::new(policy(true));
        connected(&mut m);
        let t0 = Instant::now();
        m.step(Input::StreamLost {
            error: Error::EventStreamLost(kube_mesos_client::StreamError::Ended),
            now: t0,
        });
        let a = m.step(Input::Event(subscribed()));
        assert!(matches!(a[0], Action::SetConnected(true)));
        // A later loss starts a fresh recovery window.
        let later = t0 + Duration::from_secs(3600);
        m.step(Input::StreamLost {
            error: Error::EventStreamLost(kube_mesos_client::StreamError::Ended),
            now: later,
        });
        let a = m.step(Input::SubscribeFailed {
            error: unavailable(),
            now: later + Duration::from_secs(1),
        });
        assert!(matches!(a[0], Action::Wait { .. }));
    }

    #[test]
    fn first_subscribe_retries_only_unavailable() {
        let mut m = Machine::new(policy(true));
        m.step(Input::Start);
        let a = m.step(Input::SubscribeFailed {
            error: unavailable(),
            now: Instant::now(),
        });
        assert!(
            matches!(a[0], Action::Wait { max, jittered: false } if max == Duration::from_secs(1))
        );
        m.step(Input::RetryElapsed);
        let a = m.step(Input::SubscribeFailed {
            error: Error::SubscribeRejected {
                status: 400,
                body: "Framework not found".into(),
            },
            now: Instant::now(),
        });
        assert!(matches!(
            a.last(),
            Some(Action::Fail(Error::SubscribeRejected { .. }))
        ));
    }

    #[test]
    fn events_pass_through_once_subscribed() {
        let mut m = Machine::new(policy(false));
        connected(&mut m);
        let mut e = Event::default();
        e.set_type(event::Type::Shutdown);
        let a = m.step(Input::Event(Box::new(e)));
        assert!(
            matches!(&a[..], [Action::Emit(ExecutorEvent::Event(e))] if e.r#type() == event::Type::Shutdown)
        );
    }
}
