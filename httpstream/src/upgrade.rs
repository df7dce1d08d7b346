//! HTTP/1.1 upgrades to SPDY/3.1 and WebSocket: what a server checks and
//! answers (`httpstream.Handshake`, `spdy.responseUpgrader`, the WebSocket
//! handshake of RFC 6455) and a client's upgrade request (what kube-apiserver
//! sends to a kubelet, and a kubelet to a CRI stream server).

use bytes::Bytes;
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::spdy::UPGRADE_TOKEN;

/// Header carrying the stream protocols a client offers and the one chosen.
pub const PROTOCOL_VERSION_HEADER: &str = "X-Stream-Protocol-Version";
/// Header listing what a server accepts when negotiation fails.
pub const ACCEPTED_PROTOCOLS_HEADER: &str = "X-Accepted-Stream-Protocol-Versions";
/// WebSocket subprotocol header.
pub const WEBSOCKET_PROTOCOL_HEADER: &str = "Sec-WebSocket-Protocol";

fn contains_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(&token.to_ascii_lowercase()))
}

/// An upgrade request at all (`Connection: Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    contains_token(headers, CONNECTION, "upgrade")
}

/// A SPDY/3.1 upgrade request.
pub fn is_spdy(headers: &HeaderMap) -> bool {
    is_upgrade(headers) && contains_token(headers, UPGRADE, UPGRADE_TOKEN)
}

/// A WebSocket upgrade request (`wsstream.IsWebSocketRequest`).
pub fn is_websocket(headers: &HeaderMap) -> bool {
    is_upgrade(headers)
        && headers
            .get(UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The comma-separated values of every `name` header, in order.
pub fn header_list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The first protocol of the client's (in its order) that the server
/// supports.
pub fn negotiate(client: &[String], server: &[&str]) -> Option<String> {
    client
        .iter()
        .find(|c| server.contains(&c.as_str()))
        .cloned()
}

/// The 101 answer to a SPDY upgrade that negotiated `protocol`.
pub fn spdy_switching(protocol: Option<&str>) -> Response<()> {
    let mut r = Response::new(());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static(UPGRADE_TOKEN));
    if let Some(p) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
        h.insert(PROTOCOL_VERSION_HEADER, p);
    }
    r
}

/// The 101 answer to a WebSocket handshake, with `protocol` as the chosen
/// subprotocol; `Err` with the reason if the request is not a valid one.
pub fn websocket_switching(
    request: &HeaderMap,
    protocol: Option<&str>,
) -> Result<Response<()>, &'static str> {
    let key = request
        .get("Sec-WebSocket-Key")
        .ok_or("missing Sec-WebSocket-Key")?;
    if request
        .get("Sec-WebSocket-Version")
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err("unsupported Sec-WebSocket-Version");
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut r = Response::new(());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        "Sec-WebSocket-Accept",
        HeaderValue::from_str(&accept).map_err(|_| "bad accept key")?,
    );
    if let Some(p) = protocol.filter(|p| !p.is_empty()) {
        h.insert(
            WEBSOCKET_PROTOCOL_HEADER,
            HeaderValue::from_str(p).map_err(|_| "bad subprotocol")?,
        );
    }
    Ok(r)
}

/// Wraps an upgraded connection as a server-side WebSocket.
pub async fn websocket_server(
    upgraded: hyper::upgrade::Upgraded,
) -> tokio_tungstenite::WebSocketStream<TokioIo<hyper::upgrade::Upgraded>> {
    tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        tokio_tungstenite::tungstenite::protocol::Role::Server,
        None,
    )
    .await
}

/// What an upgrade request got back.
#[derive(Debug)]
pub enum ClientUpgrade {
    /// 101: the response head and the raw connection.
    Switched {
        /// The 101 response head.
        head: http::response::Parts,
        /// The upgraded connection.
        io: hyper::upgrade::Upgraded,
    },
    /// Anything else: the response and its body (first 64 KiB).
    Refused {
        /// The response head.
        head: http::response::Parts,
        /// Its body.
        body: Bytes,
    },
}

/// Request headers that carry an upgrade and its negotiation: what a proxy
/// passes on (kube-apiserver's upgrade-aware proxy and the kubelet's
/// `proxyStream` pass the client's headers through).
pub const UPGRADE_HEADERS: &[&str] = &[
    "connection",
    "upgrade",
    "x-stream-protocol-version",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

/// The request a proxy sends upstream for a client's upgrade request:
/// `method path_and_query`, `Host: host`, the client's upgrade headers and
/// `extra` headers (credentials).
pub fn forwarded_request(
    method: &http::Method,
    path_and_query: &str,
    host: &str,
    client: &HeaderMap,
    extra: &[(http::header::HeaderName, HeaderValue)],
) -> Result<Request<Empty<Bytes>>, http::Error> {
    let mut out = Request::builder()
        .method(method.clone())
        .uri(path_and_query)
        .header(http::header::HOST, host);
    for (name, value) in client {
        if UPGRADE_HEADERS.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    for (name, value) in extra {
        out = out.header(name, value);
    }
    out.body(Empty::new())
}

/// Sends `upstream` on `io`; on 101 splices the client's connection (once
/// upgraded) with the upstream one in the background. Returns the head and
/// body to answer the client with (an empty body on 101).
pub async fn splice<IO>(
    io: IO,
    upstream: Request<Empty<Bytes>>,
    client: hyper::upgrade::OnUpgrade,
) -> Result<(http::response::Parts, Bytes), UpgradeRequestFailed>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    match request(io, upstream).await? {
        ClientUpgrade::Refused { mut head, body } => {
            head.headers.remove(http::header::TRANSFER_ENCODING);
            head.headers.remove(http::header::CONTENT_LENGTH);
            Ok((head, body))
        }
        ClientUpgrade::Switched { head, io: backend } => {
            tokio::spawn(async move {
                let Ok(client) = client.await else {
                    return;
                };
                let mut client = TokioIo::new(client);
                let mut backend = TokioIo::new(backend);
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
                    tracing::debug!(error = %e, "spliced upgrade ended with an error");
                }
            });
            Ok((head, Bytes::new()))
        }
    }
}

/// The upgrade request failed at the HTTP level.
#[derive(Debug, thiserror::Error)]
#[error("upgrade request: {0}")]
pub struct UpgradeRequestFailed(#[from] hyper::Error);

/// Sends `req` (an upgrade request) on `io`, a fresh connection.
pub async fn request<IO>(
    io: IO,
    req: Request<Empty<Bytes>>,
) -> Result<ClientUpgrade, UpgradeRequestFailed>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upgrade connection ended with an error");
        }
    });
    let resp = sender.send_request(req).await?;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let (head, body) = resp.into_parts();
        let io = hyper::upgrade::on(Response::from_parts(head.clone(), body)).await?;
        return Ok(ClientUpgrade::Switched { head, io });
    }
    let (head, mut body) = resp.into_parts();
    const LIMIT: usize = 64 * 1024;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            let room = LIMIT - out.len();
            out.extend_from_slice(&data[..data.len().min(room)]);
        }
        if out.len() >= LIMIT {
            break;
        }
    }
    Ok(ClientUpgrade::Refused {
        head,
        body: Bytes::from(out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_client_order() {
        let mut h = HeaderMap::new();
        h.append(
            PROTOCOL_VERSION_HEADER,
            HeaderValue::from_static("v4.channel.k8s.io"),
        );
        h.append(
            PROTOCOL_VERSION_HEADER,
            HeaderValue::from_static("v3.channel.k8s.io, channel.k8s.io"),
        );
        let client = header_list(&h, PROTOCOL_VERSION_HEADER);
        assert_eq!(client.len(), 3);
        assert_eq!(
            negotiate(&client, &["channel.k8s.io", "v3.channel.k8s.io"]).as_deref(),
            Some("v3.channel.k8s.io")
        );
        assert_eq!(negotiate(&client, &["v5.channel.k8s.io"]), None);
    }

    #[test]
    fn upgrade_kinds() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        assert!(is_spdy(&h) && !is_websocket(&h));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_websocket(&h) && !is_spdy(&h));
        h.insert(
            "Sec-WebSocket-Key",
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        h.insert("Sec-WebSocket-Version", HeaderValue::from_static("13"));
        let r = websocket_switching(&h, Some("v5.channel.k8s.io")).expect("valid");
        // RFC 6455's example key and answer.
        assert_eq!(
            r.headers()["Sec-WebSocket-Accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(r.headers()[WEBSOCKET_PROTOCOL_HEADER], "v5.channel.k8s.io");
    }
}
