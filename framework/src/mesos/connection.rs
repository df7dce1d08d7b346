//! One subscription connection: POST SUBSCRIBE, follow redirects to the
//! leader, then read the chunked RecordIO event stream.
//!
//! This type only does I/O and buffering; framing is
//! [`kube_mesos_proto::recordio`], decoding is [`super::codec`], and what to
//! do when the connection ends is decided by [`super::subscription`].

use kube_mesos_proto::recordio;
use kube_mesos_proto::v1::scheduler::{Call, Event};
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use url::Url;

use super::error::{Error, Result};
use super::http::{error_body, Http, STREAM_ID_HEADER};
use super::redirect::resolve_location;

/// An open subscription: the leader's endpoint, the stream id and the
/// response body being read.
#[derive(Debug)]
pub(crate) struct Connection {
    /// The endpoint that accepted the subscription (after redirects): calls go
    /// there.
    pub endpoint: Url,
    /// The `Mesos-Stream-Id` every call of this subscription must carry.
    pub stream_id: String,
    response: reqwest::Response,
    decoder: recordio::Decoder,
    http: Http,
}

impl Connection {
    /// Sends SUBSCRIBE to `endpoint`, following up to `max_redirects` 307s.
    pub async fn open(
        http: &Http,
        endpoint: &Url,
        call: &Call,
        max_redirects: u32,
        max_record_size: usize,
    ) -> Result<Self> {
        let body = http
            .content_type
            .encode(call)
            .map_err(|source| Error::CodecFailed {
                what: "encoding the SUBSCRIBE call",
                source,
            })?;
        let mut target = endpoint.clone();
        for _ in 0..=max_redirects {
            let request = http.post(&target, body.clone(), None).send();
            let response = tokio::time::timeout(http.request_timeout, request)
                .await
                .map_err(|_| Error::SubscribeTimedOut {
                    endpoint: target.to_string(),
                    timeout: http.request_timeout,
                })?
                .map_err(|source| Error::SubscribeFailed {
                    endpoint: target.to_string(),
                    source,
                })?;
            let status = response.status();
            match status {
                StatusCode::OK => {
                    let stream_id = response
                        .headers()
                        .get(STREAM_ID_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                        .ok_or_else(|| Error::StreamIdMissing {
                            endpoint: target.to_string(),
                        })?;
                    tracing::info!(endpoint = %target, %stream_id, "subscribed to Mesos master");
                    return Ok(Self {
                        endpoint: target,
                        stream_id,
                        response,
                        decoder: recordio::Decoder::with_max_record_size(max_record_size),
                        http: http.clone(),
                    });
                }
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {
                    let location = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let next = resolve_location(&target, &location).ok_or_else(|| {
                        Error::RedirectInvalid {
                            endpoint: target.to_string(),
                            location: location.clone(),
                        }
                    })?;
                    tracing::info!(from = %target, to = %next, "master redirected to the leader");
                    target = next;
                }
                s if s.is_client_error() => {
                    return Err(Error::SubscribeRejected {
                        endpoint: target.to_string(),
                        status: s.as_u16(),
                        body: error_body(response).await,
                    });
                }
                s if s.is_server_error() => {
                    return Err(Error::MasterUnavailable {
                        endpoint: target.to_string(),
                        status: s.as_u16(),
                        body: error_body(response).await,
                    });
                }
                s => {
                    return Err(Error::SubscribeUnexpectedStatus {
                        endpoint: target.to_string(),
                        status: s.as_u16(),
                        body: error_body(response).await,
                    });
                }
            }
        }
        Err(Error::TooManyRedirects {
            endpoint: endpoint.to_string(),
        })
    }

    /// Waits for the next event. `Err(EventStreamEnded)` when the master
    /// closed the stream cleanly on a record boundary.
    pub async fn next_event(&mut self) -> Result<Event> {
        loop {
            if let Some(record) = self
                .decoder
                .next_record()
                .map_err(Error::EventStreamFramingFailed)?
            {
                return self
                    .http
                    .content_type
                    .decode(&record)
                    .map_err(Error::EventDecodeFailed);
            }
            match self
                .response
                .chunk()
                .await
                .map_err(Error::EventStreamFailed)?
            {
                Some(chunk) => self.decoder.push(&chunk),
                None => {
                    self.decoder
                        .finish()
                        .map_err(Error::EventStreamFramingFailed)?;
                    return Err(Error::EventStreamEnded);
                }
            }
        }
    }
}
