//! The port-forward stream protocol (`portforward.k8s.io`, kubelet
//! `pkg/kubelet/cri/streaming/portforward/httpstream.go`, client-go
//! `tools/portforward`): every forwarded connection is a pair of SPDY
//! streams with the same `requestID` and `port` headers, one `data` stream
//! carrying the bytes and one `error` stream on which the server writes
//! why it could not forward, if it could not.

use std::collections::HashMap;
use std::future::Future;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::spdy::{Connection, Incoming, Stream};

/// The protocol name.
pub const PROTOCOL_V1: &str = "portforward.k8s.io";
/// Header with the pod port.
pub const PORT_HEADER: &str = "port";
/// Header pairing a connection's two streams.
pub const REQUEST_ID_HEADER: &str = "requestID";
/// `streamType` of the data stream.
pub const STREAM_DATA: &str = "data";
/// WebSocket subprotocol prefix of SPDY tunnelled through WebSocket.
pub const TUNNELING_PREFIX: &str = "SPDY/3.1+";

/// Why a stream cannot be used (the kubelet rejects it).
fn validate(stream: &Stream) -> Result<u16, String> {
    let port = stream
        .headers
        .get(PORT_HEADER)
        .ok_or_else(|| format!("{PORT_HEADER:?} header is required"))?;
    let port: u16 = port
        .parse()
        .map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    if port < 1 {
        return Err(format!("port {port:?} must be > 0"));
    }
    match stream.headers.get(crate::remotecommand::STREAM_TYPE_HEADER) {
        Some(crate::remotecommand::STREAM_ERROR) | Some(STREAM_DATA) => Ok(port),
        Some(t) => Err(format!("invalid stream type {t:?}")),
        None => Err("\"streamType\" header is required".into()),
    }
}

/// The pairing key: `requestID`, or for clients too old to send one the
/// kubelet's guess from stream IDs (error N, data N+2).
fn request_id(stream: &Stream) -> String {
    if let Some(id) = stream.headers.get(REQUEST_ID_HEADER) {
        return id.to_string();
    }
    let data = stream.headers.get(crate::remotecommand::STREAM_TYPE_HEADER) == Some(STREAM_DATA);
    (if data {
        stream.id.saturating_sub(2)
    } else {
        stream.id
    })
    .to_string()
}

#[derive(Default)]
struct Pair {
    data: Option<Stream>,
    error: Option<Stream>,
}

/// Serves forwarded connections until the client closes: for each complete
/// pair, `dial(port)` connects to the pod and bytes are copied both ways;
/// a dial error is written on the pair's error stream.
pub async fn serve<D, F, C>(conn: Connection, mut incoming: Incoming, dial: D)
where
    D: Fn(u16) -> F + Send + Sync + 'static,
    F: Future<Output = Result<C, String>> + Send + 'static,
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    while let Some(stream) = incoming.next().await {
        let port = match validate(&stream) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "port-forward: stream rejected");
                stream.writer.reset();
                continue;
            }
        };
        let id = request_id(&stream);
        let pair = pairs.entry(id.clone()).or_default();
        let slot =
            if stream.headers.get(crate::remotecommand::STREAM_TYPE_HEADER) == Some(STREAM_DATA) {
                &mut pair.data
            } else {
                &mut pair.error
            };
        if slot.is_some() {
            let kind = if std::ptr::eq(slot, &pair.data) {
                "data"
            } else {
                "error"
            };
            let msg =
                format!("error processing stream for request {id}: {kind} stream already assigned");
            tracing::debug!(%msg, "port-forward");
            stream.writer.reset();
            continue;
        }
        *slot = Some(stream);
        if pair.data.is_some() && pair.error.is_some() {
            if let Some(Pair {
                data: Some(data),
                error: Some(error),
            }) = pairs.remove(&id)
            {
                tokio::spawn(forward(port, data, error, dial(port)));
            }
        }
    }
    conn.close().await;
}

async fn forward<F, C>(port: u16, data: Stream, error: Stream, dialing: F)
where
    F: Future<Output = Result<C, String>>,
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let target = match dialing.await {
        Ok(t) => t,
        Err(message) => {
            tracing::info!(port, %message, "port-forward: dial failed");
            let _ = error.writer.write(Bytes::from(message)).await;
            let _ = error.writer.close().await;
            let _ = data.writer.close().await;
            return;
        }
    };
    let (mut read, mut write) = tokio::io::split(target);
    let Stream {
        reader: mut from_client,
        writer: to_client,
        ..
    } = data;
    let reset = to_client.clone();
    // The client's FIN half-closes the pod connection; its reset (kubectl
    // resets once it is done with a connection) ends the forward.
    let upstream = async move {
        while let Some(b) = from_client.read().await {
            if write.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
        if !reset.is_reset() {
            std::future::pending::<()>().await;
        }
    };
    let downstream = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_client
                        .write(Bytes::copy_from_slice(&buf[..n]))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = to_client.close().await;
    };
    // The pod closing its side ends the forward, as in the CRI runtimes.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
    let _ = error.writer.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remotecommand::{STREAM_ERROR, STREAM_TYPE_HEADER};
    use crate::spdy::{Headers, Role};

    #[tokio::test]
    async fn pairs_forward_and_dial_errors_reach_the_error_stream() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (server, incoming) = Connection::new(b, Role::Server);
        let (client, _) = Connection::new(a, Role::Client);
        tokio::spawn(serve(server, incoming, |port| async move {
            if port == 80 {
                let (near, mut far) = tokio::io::duplex(1024);
                tokio::spawn(async move {
                    let mut buf = [0u8; 5];
                    far.read_exact(&mut buf).await.expect("request");
                    far.write_all(b"pong:").await.expect("reply");
                    far.write_all(&buf).await.expect("echo");
                });
                Ok(near)
            } else {
                Err(format!("nothing listens on {port}"))
            }
        }));
        let headers = |t: &str, port: &str, id: &str| {
            Headers::new()
                .with(STREAM_TYPE_HEADER, t)
                .with(PORT_HEADER, port)
                .with(REQUEST_ID_HEADER, id)
        };
        let mut error = client
            .open(headers(STREAM_ERROR, "80", "0"))
            .await
            .expect("error");
        error.writer.close().await.expect("close");
        let mut data = client
            .open(headers(STREAM_DATA, "80", "0"))
            .await
            .expect("data");
        data.writer
            .write(Bytes::from_static(b"ping!"))
            .await
            .expect("write");
        assert_eq!(data.reader.read_to_end(1024).await, b"pong:ping!");
        assert_eq!(error.reader.read_to_end(1024).await, b"");

        let mut error = client
            .open(headers(STREAM_ERROR, "81", "1"))
            .await
            .expect("error");
        let _data = client
            .open(headers(STREAM_DATA, "81", "1"))
            .await
            .expect("data");
        assert_eq!(
            String::from_utf8(error.reader.read_to_end(1024).await).expect("utf8"),
            "nothing listens on 81"
        );
    }
}
