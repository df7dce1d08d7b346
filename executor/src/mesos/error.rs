//! Errors of the Mesos executor client.
//!
//! Each variant names the step that failed. The event stream ends with one of
//! these when the executor should exit: the agent went away without
//! checkpointing, the recovery timeout passed, or the agent refused the
//! subscription. [`Error::is_retryable`] says which ones a later attempt can
//! fix.

use std::time::Duration;

use kube_mesos_client::StreamError;

use super::env::EnvError;

/// Result alias of the executor client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to the Mesos agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The agent endpoint in the environment is unusable.
    #[error("invalid executor environment")]
    EnvInvalid(#[source] EnvError),
    /// The HTTP client could not be built: reqwest failed, or a libprocess
    /// SSL file (CA, certificate, key) is unreadable or holds no usable PEM.
    #[error("building the HTTP client failed")]
    HttpClientFailed(#[source] kube_mesos_client::Error),
    /// The SUBSCRIBE request got no response (agent down or restarting).
    /// Retryable.
    #[error("SUBSCRIBE to the agent at {endpoint} failed")]
    SubscribeFailed {
        /// The agent URL.
        endpoint: String,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The SUBSCRIBE response head did not arrive in time. Retryable.
    #[error("SUBSCRIBE to the agent timed out after {timeout:?}")]
    SubscribeTimedOut {
        /// The limit.
        timeout: Duration,
    },
    /// The agent answered SUBSCRIBE with 503 (still recovering) or 404
    /// (routes not set up yet) or another 5xx. Retryable.
    #[error("agent unavailable ({status}): {body}")]
    AgentUnavailable {
        /// HTTP status code.
        status: u16,
        /// Response body text.
        body: String,
    },
    /// The agent refused SUBSCRIBE with a 4xx (bad IDs, unknown framework or
    /// executor, unauthorized). Not retryable.
    #[error("SUBSCRIBE rejected by the agent with {status}: {body}")]
    SubscribeRejected {
        /// HTTP status code.
        status: u16,
        /// Response body text.
        body: String,
    },
    /// The agent's event stream failed or ended. Retryable with
    /// checkpointing. (The agent heartbeats executors only every 30
    /// minutes, Mesos' `DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL`, so no silence
    /// timeout is set.)
    #[error("lost the agent's event stream")]
    EventStreamLost(#[from] StreamError),
    /// The first event was not SUBSCRIBED. Retryable.
    #[error("first event from the agent was {event_type}, not SUBSCRIBED")]
    SubscribedEventMissing {
        /// The event type received instead.
        event_type: String,
    },
    /// The connection to the agent broke and the framework does not
    /// checkpoint, so the agent will not wait for this executor: exit.
    #[error("disconnected from the agent without checkpointing")]
    AgentLost(#[source] Box<Error>),
    /// Reconnecting to the agent did not succeed within
    /// `MESOS_RECOVERY_TIMEOUT`: exit.
    #[error("could not reconnect to the agent within the recovery timeout of {timeout:?}")]
    RecoveryTimedOut {
        /// The recovery timeout.
        timeout: Duration,
        /// The last failure.
        #[source]
        last: Box<Error>,
    },
    /// A call was made while not subscribed.
    #[error("{call_type} call while not subscribed to the agent")]
    NotConnected {
        /// The call type.
        call_type: &'static str,
    },
    /// A call got no response. Retryable.
    #[error("{call_type} call to the agent failed")]
    CallFailed {
        /// The call type.
        call_type: &'static str,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The agent refused a call with a 4xx. Not retryable as is.
    #[error("{call_type} call rejected by the agent with {status}: {body}")]
    CallRejected {
        /// The call type.
        call_type: &'static str,
        /// HTTP status code.
        status: u16,
        /// Response body text.
        body: String,
    },
    /// The agent answered a call with a 5xx. Retryable.
    #[error("{call_type} call: agent unavailable ({status}): {body}")]
    CallUnavailable {
        /// The call type.
        call_type: &'static str,
        /// HTTP status code.
        status: u16,
        /// Response body text.
        body: String,
    },
    /// The status to send has no usable task ID.
    #[error("UPDATE without a task ID")]
    UpdateInvalid,
}

impl Error {
    /// Whether trying again later can succeed without changing anything.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Error::EnvInvalid(_)
                | Error::HttpClientFailed(_)
                | Error::SubscribeRejected { .. }
                | Error::AgentLost(_)
                | Error::RecoveryTimedOut { .. }
                | Error::CallRejected { .. }
                | Error::UpdateInvalid
        )
    }
}
