//! HTTP to the agent's executor API: the SUBSCRIBE stream and other calls.
//!
//! Only I/O and buffering live here; framing is
//! [`kube_mesos_proto::recordio`], the reconnect policy is
//! [`super::subscription`]. The executor API uses protobuf, as the Mesos
//! executors do; no stream id is needed (the agent knows the executor by its
//! framework and executor IDs).

use std::path::Path;
use std::time::Duration;

use kube_mesos_proto::recordio;
use kube_mesos_proto::v1::executor::{Call, Event};
use prost::Message;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use url::Url;

use super::agent_address::AgentTls;
use super::error::{Error, Result};

const PROTOBUF: &str = "application/x-protobuf";
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// reqwest is built with `rustls-no-provider` and panics when building a
/// client unless a process-wide rustls provider is installed; install ring's
/// unless one is already there.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The agent's executor endpoint with a configured HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    client: reqwest::Client,
    pub url: Url,
    token: Option<String>,
    pub request_timeout: Duration,
}

impl Agent {
    pub fn new(
        url: Url,
        tls: Option<&AgentTls>,
        token: Option<String>,
        request_timeout: Duration,
    ) -> Result<Self> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(request_timeout);
        if let Some(tls) = tls {
            builder = with_tls(builder, tls)?;
        }
        let client = builder.build().map_err(Error::HttpClientBuildFailed)?;
        Ok(Self {
            client,
            url,
            token,
            request_timeout,
        })
    }

    fn post(&self, call: &Call) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, PROTOBUF)
            .header(ACCEPT, PROTOBUF)
            .body(call.encode_to_vec());
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request
    }

    /// Sends SUBSCRIBE and returns the open event stream.
    pub async fn subscribe(&self, call: &Call, max_record_size: usize) -> Result<EventStream> {
        let response = tokio::time::timeout(self.request_timeout, self.post(call).send())
            .await
            .map_err(|_| Error::SubscribeTimedOut {
                timeout: self.request_timeout,
            })?
            .map_err(|source| Error::SubscribeFailed {
                endpoint: self.url.to_string(),
                source,
            })?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(EventStream {
                response,
                decoder: recordio::Decoder::with_max_record_size(max_record_size),
            });
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
            .timeout(self.request_timeout)
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

/// libprocess' client side of TLS (`openssl.cpp`): without
/// `verify_server_cert` any certificate is accepted (libprocess' default);
/// with it, the CA file/dir are the roots, or the system's without them.
/// The configured certificate and key are presented as the client's.
fn with_tls(mut builder: reqwest::ClientBuilder, tls: &AgentTls) -> Result<reqwest::ClientBuilder> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::TlsFileReadFailed {
            path: path.to_path_buf(),
            source,
        })
    };
    let invalid = |path: &Path, what| Error::TlsFileInvalid {
        path: path.to_path_buf(),
        what,
    };
    if tls.verify_server_cert {
        let mut roots = Vec::new();
        if let Some(file) = &tls.ca_file {
            let certs = reqwest::Certificate::from_pem_bundle(&read(file)?)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| invalid(file, "certificate"))?;
            roots.extend(certs);
        }
        if let Some(dir) = &tls.ca_dir {
            let entries = std::fs::read_dir(dir).map_err(|source| Error::TlsFileReadFailed {
                path: dir.clone(),
                source,
            })?;
            for path in entries.flatten().map(|e| e.path()).filter(|p| p.is_file()) {
                // OpenSSL's CA directories hold PEM files (and their hash
                // links); anything else there is skipped.
                if let Ok(certs) = reqwest::Certificate::from_pem_bundle(&read(&path)?) {
                    roots.extend(certs);
                }
            }
        }
        if tls.ca_file.is_some() || tls.ca_dir.is_some() {
            builder = builder.tls_certs_only(roots);
        }
    } else {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    if let Some((cert, key)) = &tls.client_identity {
        let mut pem = read(cert)?;
        pem.push(b'\n');
        pem.extend(read(key)?);
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|_| invalid(cert, "certificate and private key"))?;
        builder = builder.identity(identity);
    }
    Ok(builder)
}

/// The body of an accepted SUBSCRIBE: RecordIO-framed events.
#[derive(Debug)]
pub(crate) struct EventStream {
    response: reqwest::Response,
    decoder: recordio::Decoder,
}

impl EventStream {
    /// The next event; `Err(EventStreamEnded)` on a clean end of stream.
    pub async fn next_event(&mut self) -> Result<Event> {
        loop {
            if let Some(record) = self
                .decoder
                .next_record()
                .map_err(Error::EventStreamFramingFailed)?
            {
                return Event::decode(record).map_err(Error::EventDecodeFailed);
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

/// At most [`ERROR_BODY_LIMIT`] bytes of a response body, as text.
async fn error_body(mut response: reqwest::Response) -> String {
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
