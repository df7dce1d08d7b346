//! Errors of the Mesos scheduler client.
//!
//! One enum for the whole client; each variant names the step that failed.
//! [`Error::is_retryable`] tells the caller (and the reconnect loop) whether
//! trying again later can help: connection trouble and 5xx answers can, a 4xx
//! answer or an ERROR event cannot.

use std::time::Duration;

use kube_mesos_client::{CodecError, StreamError};

/// Result alias of the scheduler client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to the Mesos master.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configured master URL did not parse.
    #[error("invalid master URL {url:?}")]
    InvalidMasterUrl {
        /// The text given.
        url: String,
        /// Parser error.
        #[source]
        source: url::ParseError,
    },
    /// A master URL is not `http://` or `https://` with a host.
    #[error("unsupported master URL {url:?}: expected http(s)://host:port")]
    UnsupportedMasterUrl {
        /// The URL given.
        url: String,
    },
    /// The configuration lists no master.
    #[error("no Mesos master configured")]
    NoMasters,
    /// The HTTP client could not be built.
    #[error("building the HTTP client failed")]
    HttpClientFailed(#[source] kube_mesos_client::Error),
    /// A call or event could not be encoded or decoded.
    #[error("{what} failed")]
    CodecFailed {
        /// Which message, e.g. "encoding the SUBSCRIBE call".
        what: &'static str,
        /// The codec error.
        #[source]
        source: CodecError,
    },
    /// The SUBSCRIBE request did not get a response (connection refused, reset).
    /// Retryable.
    #[error("SUBSCRIBE to {endpoint} failed")]
    SubscribeFailed {
        /// The endpoint tried.
        endpoint: String,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The SUBSCRIBE response head did not arrive in time. Retryable.
    #[error("SUBSCRIBE to {endpoint} timed out after {timeout:?}")]
    SubscribeTimedOut {
        /// The endpoint tried.
        endpoint: String,
        /// The configured limit.
        timeout: Duration,
    },
    /// The master refused the subscription with a 4xx status (bad request,
    /// unauthorized, forbidden). Not retryable: the FrameworkInfo or the
    /// credentials have to change.
    #[error("SUBSCRIBE to {endpoint} rejected with {status}: {body}")]
    SubscribeRejected {
        /// The endpoint tried.
        endpoint: String,
        /// HTTP status code.
        status: u16,
        /// Response body text (Mesos puts the reason there).
        body: String,
    },
    /// The master answered 503 (no leader elected yet, or still recovering)
    /// or another 5xx. Retryable.
    #[error("master {endpoint} unavailable ({status}): {body}")]
    MasterUnavailable {
        /// The endpoint tried.
        endpoint: String,
        /// HTTP status code.
        status: u16,
        /// Response body text.
        body: String,
    },
    /// A 307 without a usable `Location`. Retryable (another master may do).
    #[error("master {endpoint} redirected to an unusable location {location:?}")]
    RedirectInvalid {
        /// The endpoint that redirected.
        endpoint: String,
        /// The `Location` header as received.
        location: String,
    },
    /// Redirects did not end at a leader. Retryable.
    #[error("too many redirects starting from {endpoint}")]
    TooManyRedirects {
        /// The first endpoint of the chain.
        endpoint: String,
    },
    /// SUBSCRIBE answered 200 but without the `Mesos-Stream-Id` header.
    /// Retryable.
    #[error("SUBSCRIBE response from {endpoint} has no Mesos-Stream-Id header")]
    StreamIdMissing {
        /// The endpoint.
        endpoint: String,
    },
    /// An unexpected status on SUBSCRIBE (e.g. 3xx other than 307). Retryable.
    #[error("SUBSCRIBE to {endpoint} answered unexpected status {status}: {body}")]
    SubscribeUnexpectedStatus {
        /// The endpoint.
        endpoint: String,
        /// HTTP status code.
        status: u16,
        /// Response body text.
        body: String,
    },
    /// The event stream failed, ended or was silent (no event, heartbeats
    /// included, for `heartbeat_misses` intervals). Retryable.
    #[error("lost the event stream")]
    EventStreamLost(#[from] StreamError),
    /// The first event of a subscription was not SUBSCRIBED. Retryable.
    #[error("first event was {event_type}, not SUBSCRIBED")]
    SubscribedEventMissing {
        /// The event type received instead.
        event_type: String,
    },
    /// The master sent an ERROR event: the framework was refused or removed
    /// (e.g. failover timeout passed, framework torn down). Not retryable.
    #[error("master sent ERROR: {message}")]
    FrameworkRejected {
        /// The master's message.
        message: String,
    },
    /// A call was made while no subscription is active. Retry once
    /// `Connected` has been seen.
    #[error("{call_type} call while not subscribed")]
    NotConnected {
        /// The call type.
        call_type: String,
    },
    /// A call got no response. Retryable.
    #[error("{call_type} call failed")]
    CallFailed {
        /// The call type.
        call_type: String,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// A call was rejected with a 4xx status. Not retryable as is.
    #[error("{call_type} call rejected with {status}: {body}")]
    CallRejected {
        /// The call type.
        call_type: String,
        /// HTTP status code.
        status: u16,
        /// Response body text.
        body: String,
    },
    /// A call got a 5xx (503: master failing over) or a redirect (this master
    /// lost leadership). Retryable after the subscription has reconnected.
    #[error("{call_type} call: master unavailable ({status}): {body}")]
    CallUnavailable {
        /// The call type.
        call_type: String,
        /// HTTP status code.
        status: u16,
        /// Response body text.
        body: String,
    },
}

impl Error {
    /// Whether trying again later can succeed without changing anything.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Error::InvalidMasterUrl { .. }
                | Error::UnsupportedMasterUrl { .. }
                | Error::NoMasters
                | Error::HttpClientFailed(_)
                | Error::CodecFailed { .. }
                | Error::SubscribeRejected { .. }
                | Error::FrameworkRejected { .. }
                | Error::CallRejected { .. }
        )
    }
}

impl Error {
    /// A SUBSCRIBE that did not reach a leader, in this client's words.
    pub(crate) fn of_subscribe(error: kube_mesos_client::Error) -> Self {
        use kube_mesos_client::Error as E;
        match error {
            E::RequestFailed { endpoint, source } => Error::SubscribeFailed { endpoint, source },
            E::RequestTimedOut { endpoint, timeout } => {
                Error::SubscribeTimedOut { endpoint, timeout }
            }
            E::RedirectInvalid { endpoint, location } => {
                Error::RedirectInvalid { endpoint, location }
            }
            E::TooManyRedirects { endpoint } => Error::TooManyRedirects { endpoint },
            other => Error::HttpClientFailed(other),
        }
    }
}
