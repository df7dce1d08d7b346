//! One subscription connection: POST SUBSCRIBE, follow redirects to the
//! leader, then read the event stream.
//!
//! Leader discovery, framing and decoding are the shared client's
//! ([`kube_mesos_client`]); this type reads the scheduler API's answer to
//! SUBSCRIBE, and what to do when the connection ends is decided by
//! [`super::subscription`].

use kube_mesos_client::{error_body, EventStream, MesosHttp};
use kube_mesos_proto::v1::scheduler::{Call, Event};
use reqwest::StatusCode;
use url::Url;

use super::error::{Error, Result};
use super::http::STREAM_ID_HEADER;

/// An open subscription: the leader's endpoint, the stream id and the
/// events being read.
#[derive(Debug)]
pub(crate) struct Connection {
    /// The endpoint that accepted the subscription (after redirects): calls go
    /// there.
    pub endpoint: Url,
    /// The `Mesos-Stream-Id` every call of this subscription must carry.
    pub stream_id: String,
    events: EventStream,
}

impl Connection {
    /// Sends SUBSCRIBE to `endpoint`, following up to `max_redirects` 307s.
    pub async fn open(
        http: &MesosHttp,
        endpoint: &Url,
        call: &Call,
        max_redirects: u32,
        max_record_size: usize,
    ) -> Result<Self> {
        let body = http
            .content_type()
            .encode(call)
            .map_err(|source| Error::CodecFailed {
                what: "encoding the SUBSCRIBE call",
                source,
            })?;
        let (target, response) = http
            .post_to_leader(endpoint, body.into(), max_redirects, |r| r)
            .await
            .map_err(Error::of_subscribe)?;
        let endpoint = target.to_string();
        match response.status() {
            StatusCode::OK => {
                let stream_id = response
                    .headers()
                    .get(STREAM_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .ok_or(Error::StreamIdMissing { endpoint })?;
                tracing::info!(endpoint = %target, %stream_id, "subscribed to Mesos master");
                Ok(Self {
                    endpoint: target,
                    stream_id,
                    events: EventStream::new(response, http.content_type(), max_record_size),
                })
            }
            s if s.is_client_error() => Err(Error::SubscribeRejected {
                endpoint,
                status: s.as_u16(),
                body: error_body(response).await,
            }),
            s if s.is_server_error() => Err(Error::MasterUnavailable {
                endpoint,
                status: s.as_u16(),
                body: error_body(response).await,
            }),
            s => Err(Error::SubscribeUnexpectedStatus {
                endpoint,
                status: s.as_u16(),
                body: error_body(response).await,
            }),
        }
    }

    /// Waits for the next event. `Err(EventStreamLost(Ended))` when the master
    /// closed the stream cleanly on a record boundary.
    pub async fn next_event(&mut self) -> Result<Event> {
        Ok(self.events.next_event().await?)
    }
}
