//! Client of the Mesos v1 scheduler HTTP API (`POST /api/v1/scheduler`).
//!
//! A framework subscribes once and gets a long-lived stream of events; every
//! other call is a separate POST carrying the `Mesos-Stream-Id` of that
//! subscription. The client hides the parts every framework needs and none
//! wants to write: finding the leading master (a list of masters, 307
//! redirects with scheme-relative `Location`), noticing a lost master through
//! missed heartbeats, reconnecting with capped, jittered backoff, and
//! resubscribing with the framework ID the master handed out.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_mesos_framework::mesos::Error> {
//! use futures::StreamExt;
//! use kube_mesos_framework::mesos::{SchedulerClient, SchedulerConfig, SchedulerEvent};
//! use kube_mesos_proto::v1::FrameworkInfo;
//!
//! let config = SchedulerConfig::from_master_urls(&["http://127.0.0.1:5050"])?;
//! let client = SchedulerClient::new(config)?;
//! let handle = client.handle();
//! let info = FrameworkInfo { user: "root".into(), name: "kube-mesos".into(), ..Default::default() };
//! let mut events = client.subscribe(info);
//! while let Some(event) = events.next().await {
//!     match event? {
//!         SchedulerEvent::Connected { .. } => handle.reconcile(vec![]).await?,
//!         SchedulerEvent::Disconnected { .. } => { /* drop offers */ }
//!         SchedulerEvent::Event(_event) => { /* offers, updates, ... */ }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The mechanisms (HTTP client, codec, redirects, event stream, back-off)
//! are the shared [`kube_mesos_client`]; this module holds the scheduler's
//! policy on top. Modules: [`config`] (settings), [`error`], `http` (the
//! shared client as the scheduler API uses it), `connection` (one
//! subscription's HTTP stream), [`calls`] (call builders and sending),
//! `handle` ([`SchedulerHandle`]), `subscription` (the reconnect policy as a
//! state machine, plus its async shell).

pub mod calls;
pub mod config;
mod connection;
pub mod error;
mod handle;
mod http;
mod subscription;

use futures::stream::{BoxStream, StreamExt};
use kube_mesos_proto::v1::FrameworkInfo;

pub use config::SchedulerConfig;
pub use error::{Error, Result};
pub use handle::SchedulerHandle;
pub use http::STREAM_ID_HEADER;
pub use kube_mesos_client::{BackoffConfig, CodecError, ContentType, Credential};
pub use subscription::SchedulerEvent;

use handle::SessionSlot;
use subscription::{Driver, HttpTransport};

/// The subscription's event stream (boxed, so it is `Unpin` and nameable).
pub type SchedulerEvents = BoxStream<'static, Result<SchedulerEvent>>;

/// Entry point: builds the HTTP client once, hands out [`SchedulerHandle`]s
/// and opens the subscription stream.
#[derive(Debug)]
pub struct SchedulerClient {
    config: SchedulerConfig,
    http: kube_mesos_client::MesosHttp,
    session: SessionSlot,
}

impl SchedulerClient {
    /// A client for the configured masters. Fails only if the HTTP client
    /// cannot be built; master URLs are checked by [`subscribe`](Self::subscribe).
    pub fn new(config: SchedulerConfig) -> Result<Self> {
        let http = http::client(&config)?;
        Ok(Self {
            config,
            http,
            session: SessionSlot::default(),
        })
    }

    /// A handle for sending calls on the current subscription.
    pub fn handle(&self) -> SchedulerHandle {
        SchedulerHandle {
            http: self.http.clone(),
            session: self.session.clone(),
        }
    }

    /// Subscribes with `framework_info` (set `id` to resume an existing
    /// framework) and returns the event stream. The stream reconnects by
    /// itself; it yields `Err` only for a permanent failure (an ERROR event, a
    /// 4xx to SUBSCRIBE, a bad configuration) and ends right after it.
    /// Dropping the stream ends the subscription. Poll only one stream per
    /// client at a time: the handle follows whichever subscribed last.
    pub fn subscribe(&self, framework_info: FrameworkInfo) -> SchedulerEvents {
        let transport = HttpTransport {
            http: self.http.clone(),
            max_redirects: self.config.max_redirects,
            max_record_size: self.config.max_record_size,
        };
        let driver = match self.config.endpoints() {
            Ok(endpoints) => Driver::new(
                &self.config,
                endpoints,
                transport,
                self.session.clone(),
                framework_info,
            ),
            Err(error) => Driver::failed(transport, self.session.clone(), &self.config, error),
        };
        futures::stream::unfold(driver, |mut driver| async move {
            driver.next().await.map(|item| (item, driver))
        })
        .boxed()
    }
}
