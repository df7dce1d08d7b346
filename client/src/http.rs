//! The HTTP client of one Mesos API: one reqwest client without automatic
//! redirects (see [`crate::redirect`]), the content type, the credentials,
//! and the limit on a response head. Every request is a POST of one call.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use url::Url;

use crate::auth::Auth;
use crate::codec::ContentType;
use crate::error::{Error, Result};
use crate::redirect::resolve_location;
use crate::tls::{install_crypto_provider, with_tls, TlsSettings};

/// Most bytes of an error response body kept for an error message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// How to build a [`MesosHttp`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Wire format of calls and events. Default protobuf.
    pub content_type: ContentType,
    /// Credentials sent on every request. Default none.
    pub auth: Option<Auth>,
    /// TLS settings for `https` endpoints. Default: reqwest's (system roots).
    pub tls: Option<TlsSettings>,
    /// Limit for connecting and for a response head. Default 10 s. It does
    /// not cover an event stream's body, which is open-ended.
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            content_type: ContentType::Protobuf,
            auth: None,
            tls: None,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// A configured HTTP client for one Mesos API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MesosHttp {
    client: reqwest::Client,
    content_type: ContentType,
    auth: Option<Auth>,
    request_timeout: Duration,
}

impl MesosHttp {
    /// Builds the client. Fails on unusable TLS files or a client reqwest
    /// cannot build; neither is retryable.
    pub fn new(settings: HttpSettings) -> Result<Self> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.request_timeout);
        if let Some(tls) = &settings.tls {
            builder = with_tls(builder, tls)?;
        }
        let client = builder.build().map_err(Error::HttpClientBuildFailed)?;
        Ok(Self {
            client,
            content_type: settings.content_type,
            auth: settings.auth,
            request_timeout: settings.request_timeout,
        })
    }

    /// The wire format of calls and events.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }

    /// The limit on a response head.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// A POST of `body` to `url` with our content type, Accept and
    /// credentials. The caller adds headers (`Mesos-Stream-Id`) and a
    /// timeout as the call needs.
    pub fn post(&self, url: &Url, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        let mime = self.content_type.mime();
        let request = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, mime)
            .header(ACCEPT, mime)
            .body(body);
        match &self.auth {
            Some(auth) => auth.apply(request),
            None => request,
        }
    }

    /// POSTs `body` to `endpoint`, following up to `max_redirects` 307/308
    /// redirects to the leading master (leader discovery), each request's
    /// head bounded by the request timeout. Returns the endpoint that
    /// answered and its response, whatever its status (the caller decides
    /// what a status means). `extra` adds headers to every request.
    pub async fn post_to_leader(
        &self,
        endpoint: &Url,
        body: bytes::Bytes,
        max_redirects: u32,
        extra: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<(Url, reqwest::Response)> {
        let mut target = endpoint.clone();
        for _ in 0..=max_redirects {
            let request = extra(self.post(&target, body.clone())).send();
            let response = tokio::time::timeout(self.request_timeout, request)
                .await
                .map_err(|_| Error::RequestTimedOut {
                    endpoint: target.to_string(),
                    timeout: self.request_timeout,
                })?
                .map_err(|source| Error::RequestFailed {
                    endpoint: target.to_string(),
                    source,
                })?;
            if !matches!(
                response.status(),
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            ) {
                return Ok((target, response));
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let next =
                resolve_location(&target, &location).ok_or_else(|| Error::RedirectInvalid {
                    endpoint: target.to_string(),
                    location: location.clone(),
                })?;
            tracing::info!(from = %target, to = %next, "master redirected to the leader");
            target = next;
        }
        Err(Error::TooManyRedirects {
            endpoint: endpoint.to_string(),
        })
    }
}

/// Reads at most [`ERROR_BODY_LIMIT`] bytes of a response body as text, for
/// error messages. A body that fails to read yields what arrived.
pub async fn error_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = ERROR_BODY_LIMIT - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= ERROR_BODY_LIMIT {
            break;
        }
    }
    String::from_utf8_lossy(&body).trim().to_string()
}
