//! HTTP to the agent's executor API: the SUBSCRIBE stream and other calls.
//!
//! The HTTP client, TLS, framing and decoding are the shared
//! [`kube_mesos_client`]; this type reads the executor API's answers, and
//! the reconnect policy is [`super::subscription`]. The executor API uses
//! protobuf, as the Mesos executors do; no stream id is needed (the agent
//! knows the executor by its framework and executor IDs).

use std::time::Duration;

use kube_mesos_client::{error_body, Auth, EventStream, HttpSettings, MesosHttp};
use kube_mesos_proto::v1::executor::{Call, Event};
use prost::Message;
use reqwest::StatusCode;
use url::Url;

use super::agent_address::AgentTls;
use super::error::{Error, Result};

/// The agent's executor endpoint with a configured HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    http: MesosHttp,
    pub url: Url,
}

impl Agent {
    pub fn new(
        url: Url,
        tls: Option<&AgentTls>,
        token: Option<String>,
        request_timeout: Duration,
    ) -> Result<Self> {
        let http = MesosHttp::new(HttpSettings {
            auth: token.map(Auth::Bearer),
            tls: tls.cloned(),
            request_timeout,
            ..HttpSettings::default()
        })
        .map_err(Error::HttpClientFailed)?;
        Ok(Self { http, url })
    }

    fn post(&self, call: &Call) -> reqwest::RequestBuilder {
        self.http.post(&self.url, call.encode_to_vec())
    }

    /// Sends SUBSCRIBE and returns the open event stream.
    pub async fn subscribe(&self, call: &Call, max_record_size: usize) -> Result<AgentEvents> {
        let timeout = self.http.request_timeout();
        let response = tokio::time::timeout(timeout, self.post(call).send())
            .await
            .map_err(|_| Error::SubscribeTimedOut { timeout })?
            .map_err(|source| Error::SubscribeFailed {
                endpoint: self.url.to_string(),
                source,
            })?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(AgentEvents(EventStream::new(
                response,
                self.http.content_type(),
                max_record_size,
            )));
        }
        let body = error_body(response).await;
        if status.is_server_error() || status == StatusCode::NOT_FOUND {
            Err(Error::AgentUnavailable {
                status: status.as_u16(),
                body,
            })
        } else {
            Err(Error::SubscribeRejected {
                status: status.as_u16(),
                body,
            })
        }
    }

    /// Sends a non-SUBSCRIBE call; the agent answers 202 Accepted.
    pub async fn call(&self, call_type: &'static str, call: &Call) -> Result<()> {
        let response = self
            .post(call)
            .timeout(self.http.request_timeout())
            .send()
            .await
            .map_err(|source| Error::CallFailed { call_type, source })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = error_body(response).await;
        if status.is_server_error() {
            Err(Error::CallUnavailable {
                call_type,
                status: status.as_u16(),
                body,
            })
        } else {
            Err(Error::CallRejected {
                call_type,
                status: status.as_u16(),
                body,
            })
        }
    }
}

/// The body of an accepted SUBSCRIBE: the agent's events.
#[derive(Debug)]
pub(crate) struct AgentEvents(EventStream);

impl AgentEvents {
    /// The next event; `Err(EventStreamLost(Ended))` on a clean end of stream.
    pub async fn next_event(&mut self) -> Result<Event> {
        Ok(self.0.next_event().await?)
    }
}
