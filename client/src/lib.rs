//! Mechanisms shared by every client of a Mesos v1 HTTP API: the framework's
//! scheduler client (`/api/v1/scheduler`), the executor's client
//! (`/slave(1)/api/v1/executor`) and the framework's operator-API client
//! (`/api/v1`).
//!
//! - [`http`]: the HTTP client (builder, content type, credentials, TLS),
//!   leader discovery by following a non-leader's redirect, and the error
//!   body of a refused request;
//! - [`codec`]: protobuf or Mesos JSON bytes of a message;
//! - [`stream`]: the RecordIO event stream of a SUBSCRIBE and its silence
//!   (heartbeat) timeout;
//! - [`backoff`]: the capped, jittered back-off between attempts;
//! - [`shutdown`]: the drain and force tokens every kube-mesos process
//!   (framework, executor, `local`) stops by.
//!
//! What is *not* here: when to subscribe again, when to give up, what an
//! event means. Those are each client's subscription policy, a state machine
//! of its own (the scheduler's, the executor's, the operator's differ, as
//! Mesos' libraries do). Share mechanisms, not state machines. The
//! devcluster never uses this crate, so that it and the clients test each
//! other (STYLE.md 15).

pub mod auth;
pub mod backoff;
pub mod codec;
pub mod error;
pub mod http;
pub mod redirect;
pub mod shutdown;
pub mod stream;
pub mod tls;

pub use auth::{Auth, Credential};
pub use backoff::{Backoff, BackoffConfig};
pub use codec::{CodecError, ContentType};
pub use error::{Error, Result, StreamError};
pub use http::{error_body, HttpSettings, MesosHttp};
pub use shutdown::Shutdown;
pub use stream::EventStream;
pub use tls::TlsSettings;
