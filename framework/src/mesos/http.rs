//! The HTTP plumbing shared by the subscription and by calls: one reqwest
//! client without automatic redirects (see [`super::redirect`]), the content
//! type, optional HTTP Basic credentials and the `Mesos-Stream-Id` header.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use url::Url;

use super::codec::ContentType;
use super::config::{Credential, SchedulerConfig};
use super::error::{Error, Result};

/// Header naming the subscription a call belongs to.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// Most bytes of an error response body kept for the error message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A configured HTTP client for one Mesos API.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    pub content_type: ContentType,
    pub credential: Option<Credential>,
    pub request_timeout: Duration,
}

impl Http {
    pub fn new(config: &SchedulerConfig) -> Result<Self> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(Error::HttpClientBuildFailed)?;
        Ok(Self {
            client,
            content_type: config.content_type,
            credential: config.credential.clone(),
            request_timeout: config.request_timeout,
        })
    }

    /// A POST of `body` to `url` with our content type, Accept, credentials
    /// and (for calls) the stream id.
    pub fn post(
        &self,
        url: &Url,
        body: Vec<u8>,
        stream_id: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mime = self.content_type.mime();
        let mut request = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, mime)
            .header(ACCEPT, mime)
            .body(body);
        if let Some(credential) = &self.credential {
            request = request.basic_auth(&credential.principal, Some(&credential.secret));
        }
        if let Some(stream_id) = stream_id {
            request = request.header(STREAM_ID_HEADER, stream_id);
        }
        request
    }
}

/// reqwest is built with `rustls-no-provider` (no aws-lc) and panics when
/// building a client unless a process-wide rustls provider is installed.
/// Install ring's, unless someone installed one already.
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Reads at most [`ERROR_BODY_LIMIT`] bytes of a response body as text, for
/// error messages. A body that fails to read yields what arrived.
pub(crate) async fn error_body(mut response: reqwest::Response) -> String {
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
