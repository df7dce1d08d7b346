//! Errors of the shared Mesos HTTP mechanisms.
//!
//! Each variant names the step that failed. The scheduler, executor and
//! operator clients map these onto their own errors (which carry the
//! policy's view: which call, whether to retry); [`Error::is_retryable`]
//! gives the mechanism's view. Event-stream failures are a separate
//! [`StreamError`], because they happen after a request succeeded and every
//! policy treats them as "the connection is lost".

use std::path::PathBuf;
use std::time::Duration;

use kube_mesos_proto::recordio::RecordIoError;

use crate::codec::CodecError;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Building a client or sending a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be built. Not retryable.
    #[error("building the HTTP client failed")]
    HttpClientBuildFailed(#[source] reqwest::Error),
    /// A TLS file (CA, certificate, key) could not be read. Not retryable.
    #[error("reading the TLS file {path} failed")]
    TlsFileReadFailed {
        /// The file or directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A TLS file holds no usable PEM certificate or key. Not retryable.
    #[error("the TLS file {path} holds no usable PEM {what}")]
    TlsFileInvalid {
        /// The file.
        path: PathBuf,
        /// `certificate`, or `certificate and private key`.
        what: &'static str,
    },
    /// The request got no response (connection refused, reset). Retryable.
    #[error("request to {endpoint} failed")]
    RequestFailed {
        /// The endpoint tried.
        endpoint: String,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The response head did not arrive in time. Retryable.
    #[error("request to {endpoint} timed out after {timeout:?}")]
    RequestTimedOut {
        /// The endpoint tried.
        endpoint: String,
        /// The limit.
        timeout: Duration,
    },
    /// A 307/308 without a usable `Location`. Retryable (another master may
    /// do).
    #[error("{endpoint} redirected to an unusable location {location:?}")]
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
}

impl Error {
    /// Whether trying again later can succeed without changing anything.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Error::HttpClientBuildFailed(_)
                | Error::TlsFileReadFailed { .. }
                | Error::TlsFileInvalid { .. }
        )
    }
}

/// An open event stream broke. Every variant means the connection is lost;
/// whether to resubscribe is the policy's decision.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the response body failed.
    #[error("reading the event stream failed")]
    ReadFailed(#[source] reqwest::Error),
    /// The body is not valid RecordIO.
    #[error("event stream framing is broken")]
    FramingFailed(#[source] RecordIoError),
    /// An event did not decode.
    #[error("decoding an event failed")]
    DecodeFailed(#[source] CodecError),
    /// The peer closed the stream on a record boundary.
    #[error("the peer closed the event stream")]
    Ended,
    /// No event, heartbeats included, for the allowed time: a half-open
    /// connection or a peer that stopped.
    #[error("no event for {timeout:?}")]
    Silent {
        /// How long the client waited.
        timeout: Duration,
    },
}
