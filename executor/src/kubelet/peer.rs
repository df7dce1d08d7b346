//! Serving the pods of the other executor generations on this agent.
//!
//! The Node advertises one kubelet port, but after an upgrade several
//! executors run the agent's pods ([`crate::node_role`]). Each executor
//! serves its kubelet handler a second time on a unix socket in the
//! registry ([`serve_peers`]); an executor asked about a pod it does not
//! run forwards the request, as it came (authentication aside), to the
//! executor that runs it ([`forward`]) and relays the answer: a streamed
//! body as it comes (followed logs), or a 101 whose connection is spliced
//! to the client's (exec, attach, port-forward over SPDY or WebSocket).
//!
//! The socket needs no TLS and no credentials: only this user can open the
//! registry directory (0700), and whoever can already reads the pods' logs
//! and sandboxes on disk. Requests arriving on it are never forwarded
//! again, so a stale registry cannot make two executors bounce a request.

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use super::{empty, text, Body, KubeletState, Origin};
use crate::node_role::registry::PeerSocket;

/// Headers not passed on: the peer trusts the socket, not the caller's
/// credentials, and the body is not forwarded (these requests have none).
const DROPPED_HEADERS: [http::header::HeaderName; 4] = [
    http::header::HOST,
    http::header::AUTHORIZATION,
    http::header::CONTENT_LENGTH,
    http::header::TRANSFER_ENCODING,
];

/// Forwards `req` to the executor listening on `socket`.
pub async fn forward<B>(socket: &PeerSocket, mut req: Request<B>) -> Response<Body> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let fail = |e: String| {
        tracing::warn!(socket = %socket.path().display(), %path, error = %e, "the executor running the pod is unreachable");
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the executor running this pod is unreachable: {e}"),
        )
    };
    let mut upstream = Request::builder()
        .method(req.method().clone())
        .uri(path.as_str())
        .header(http::header::HOST, "localhost");
    for (name, value) in req.headers() {
        if !DROPPED_HEADERS.contains(name) {
            upstream = upstream.header(name, value);
        }
    }
    let upstream = match upstream.body(Empty::<Bytes>::new()) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let io = match socket.connect().await {
        Ok(io) => io,
        Err(e) => return fail(e.to_string()),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(io)).await {
        Ok(x) => x,
        Err(e) => return fail(e.to_string()),
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "peer connection ended with an error");
        }
    });
    let mut response = match sender.send_request(upstream).await {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return response.map(|b| b.map_err(std::io::Error::other).boxed());
    }
    let backend = hyper::upgrade::on(&mut response);
    let client = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let (Ok(backend), Ok(client)) = tokio::join!(backend, client) else {
            return;
        };
        let mut backend = TokioIo::new(backend);
        let mut client = TokioIo::new(client);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
            tracing::debug!(error = %e, "forwarded stream ended with an error");
        }
    });
    let (head, _) = response.into_parts();
    Response::from_parts(head, empty())
}

/// Serves requests forwarded by the other generations on `listener` until
/// `shutdown` completes.
pub async fn serve_peers(
    listener: UnixListener,
    state: KubeletState,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = state.clone();
                    conns.spawn(super::serve_connection(stream, state, Origin::Peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "peer socket: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
