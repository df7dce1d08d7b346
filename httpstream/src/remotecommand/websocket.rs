//! Remote command over WebSocket channels, server side: the kubelet's
//! `wsstream` server and kube-apiserver's translator front
//! (`apiserver/pkg/util/proxy/websocket.go`).
//!
//! Every message starts with its channel (0 stdin, 1 stdout, 2 stderr,
//! 3 error, 4 resize); `base64.*` protocols send text with the channel as an
//! ASCII digit and a base64 payload. `v5.channel.k8s.io` adds the CLOSE
//! signal: `[255, channel]` half-closes that channel (stdin's end of input).
//! The server first sends an empty message on its lowest output channel so
//! the client knows the session is up, and ends with the outcome on the
//! error channel and a normal close, then waits for the client to close
//! (closing at once could reset output the client has not read).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{parse_sizes, Outcome, Session, StreamOptions, PROTOCOL_V1, PROTOCOL_V4, PROTOCOL_V5};
use crate::wsstream::{self, Codec};

/// Channel numbers.
pub const CHANNEL_STDIN: u8 = 0;
/// stdout.
pub const CHANNEL_STDOUT: u8 = 1;
/// stderr.
pub const CHANNEL_STDERR: u8 = 2;
/// error (the outcome).
pub const CHANNEL_ERROR: u8 = 3;
/// resize.
pub const CHANNEL_RESIZE: u8 = 4;

/// `v4.base64.channel.k8s.io`.
pub const PROTOCOL_V4_BASE64: &str = "v4.base64.channel.k8s.io";
/// `base64.channel.k8s.io`.
pub const PROTOCOL_BASE64: &str = "base64.channel.k8s.io";

/// What a kubelet accepts over WebSocket (client order decides).
pub const KUBELET_PROTOCOLS: &[&str] = &[
    PROTOCOL_V5,
    PROTOCOL_V4,
    PROTOCOL_V4_BASE64,
    PROTOCOL_V1,
    PROTOCOL_BASE64,
];

/// How long the server waits for the client to close after the outcome.
pub const FINISH_WAIT: Duration = Duration::from_secs(60);

/// The error-stream dialect of a WebSocket protocol.
fn status_protocol(protocol: &str) -> &'static str {
    match protocol {
        PROTOCOL_V5 => PROTOCOL_V5,
        PROTOCOL_V4 | PROTOCOL_V4_BASE64 => PROTOCOL_V4,
        _ => PROTOCOL_V1,
    }
}

/// Serves a session on an accepted WebSocket that negotiated `protocol`
/// (empty if the client asked for none).
pub fn serve<S>(ws: WebSocketStream<S>, protocol: &str, options: StreamOptions) -> Session
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (session, ends) = Session::new(protocol, options);
    let codec = Codec::for_protocol(protocol);
    let v5 = protocol == PROTOCOL_V5;
    let status_dialect = status_protocol(protocol);
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(16);

    // The writer: the only task that sends.
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
    });

    // The reader: stdin, resizes, CLOSE signals; ends when the client closes.
    let mut stdin = ends.stdin;
    let mut resize = ends.resize;
    let (closed_tx, mut closed_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut sizes = Vec::new();
        while let Some(Ok(m)) = source.next().await {
            let Some((channel, data)) = codec.decode(&m) else {
                if matches!(m, Message::Close(_)) {
                    break;
                }
                continue;
            };
            match channel {
                wsstream::CLOSE_SIGNAL if v5 => match data.first() {
                    Some(&CHANNEL_STDIN) => stdin = None,
                    Some(&CHANNEL_RESIZE) => resize = None,
                    _ => {}
                },
                CHANNEL_STDIN => {
                    if let Some(tx) = &stdin {
                        if tx.send(data).await.is_err() {
                            stdin = None;
                        }
                    }
                }
                CHANNEL_RESIZE => {
                    if let Some(tx) = &resize {
                        sizes.extend_from_slice(&data);
                        for s in parse_sizes(&mut sizes) {
                            let _ = tx.send(s).await;
                        }
                    }
                }
                _ => {}
            }
        }
        drop((stdin, resize));
        let _ = closed_tx.send(true);
    });

    tokio::spawn(async move {
        let hello = if options.stdout {
            CHANNEL_STDOUT
        } else if options.stderr {
            CHANNEL_STDERR
        } else {
            CHANNEL_ERROR
        };
        let _ = out_tx.send(codec.encode(hello, &[])).await;
        let mut outs = Vec::new();
        for (channel, rx) in [(CHANNEL_STDOUT, ends.stdout), (CHANNEL_STDERR, ends.stderr)] {
            if let Some(mut rx) = rx {
                let out_tx = out_tx.clone();
                outs.push(tokio::spawn(async move {
                    while let Some(b) = rx.recv().await {
                        if out_tx.send(codec.encode(channel, &b)).await.is_err() {
                            return;
                        }
                    }
                }));
            }
        }
        let outcome = ends
            .finish
            .await
            .unwrap_or_else(|_| Outcome::Error("the session ended without an outcome".into()));
        for t in outs {
            let _ = t.await;
        }
        let bytes = outcome.error_stream_bytes(status_dialect);
        if !bytes.is_empty() {
            let _ = out_tx.send(codec.encode(CHANNEL_ERROR, &bytes)).await;
        }
        let _ = out_tx
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        drop(out_tx);
        let _ = writer.await;
        let _ = tokio::time::timeout(FINISH_WAIT, closed_rx.wait_for(|c| *c)).await;
        let _ = ends.done.send(());
    });
    session
}

/// The data of a message on `channel`, as a client would send it (tests).
pub fn client_message(protocol: &str, channel: u8, data: &[u8]) -> Message {
    Codec::for_protocol(protocol).encode(channel, data)
}
