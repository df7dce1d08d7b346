//! The gRPC connection to the CRI runtime's unix socket.
//!
//! tonic has no unix-socket transport of its own, so the channel gets a
//! custom connector that opens a tokio `UnixStream` for every connection, as
//! the kubelet's `remote` runtime client does with its `unix://` endpoint.
//! The channel is lazy: creating it never fails and never blocks, a missing
//! socket surfaces as `Unavailable` on the call that needed it, and the next
//! call reconnects (containerd restarts are survived without a new client).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::proto::image_service_client::ImageServiceClient;
use super::proto::runtime_service_client::RuntimeServiceClient;

/// Both CRI services over one HTTP/2 channel. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CriClient {
    /// `runtime.v1.RuntimeService`.
    pub runtime: RuntimeServiceClient<Channel>,
    /// `runtime.v1.ImageService`.
    pub image: ImageServiceClient<Channel>,
    socket: Arc<PathBuf>,
}

/// Message size limit for responses, as the kubelet's (16 MiB).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

impl CriClient {
    /// A lazily connecting client for the unix socket at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        let socket = Arc::new(socket.into());
        let path = Arc::clone(&socket);
        // The URI is required by tonic but never resolved: the connector
        // below ignores it and dials the socket.
        let channel = Endpoint::from_static("http://cri.invalid").connect_with_connector_lazy(
            tower::service_fn(move |_: Uri| {
                let path = Arc::clone(&path);
                async move {
                    let stream = tokio::net::UnixStream::connect(path.as_path()).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }),
        );
        Self {
            runtime: RuntimeServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE),
            image: ImageServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE),
            socket,
        }
    }

    /// The socket this client dials.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}
