//! Remote command over SPDY: the kubelet's server side
//! (`pkg/kubelet/cri/streaming/remotecommand/httpstream.go`) and client-go's
//! client side (`tools/remotecommand/v2.go`..`v4.go`), as channels.
//!
//! Server: wait for the client's streams (error first, then stdin, stdout,
//! stderr, resize), pump them into a [`Session`]; when the session
//! finishes, deliver the remaining output with FIN, write the outcome on the
//! error stream, FIN stdin (clients wait for it) and close the connection.
//!
//! Client: open the same streams towards a kubelet and pump a [`Session`]
//! of the other side through them (the API server's translator).

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{
    parse_sizes, Outcome, Session, StreamOptions, TerminalSize, PROTOCOL_V1, PROTOCOL_V2,
    STREAM_ERROR, STREAM_RESIZE, STREAM_STDERR, STREAM_STDIN, STREAM_STDOUT, STREAM_TYPE_HEADER,
};
use crate::spdy::{Connection, Headers, Incoming, Stream, StreamReader, StreamWriter};

/// The client did not open its streams in time.
#[derive(Debug, thiserror::Error)]
#[error("timed out waiting for client to create streams")]
pub struct StreamsTimedOut;

fn resizes_supported(protocol: &str) -> bool {
    protocol != PROTOCOL_V1 && protocol != PROTOCOL_V2 && !protocol.is_empty()
}

/// Server side: waits for the streams `options` imply and returns the
/// session; the connection is driven in the background.
pub async fn accept(
    conn: Connection,
    mut incoming: Incoming,
    protocol: &str,
    options: StreamOptions,
    timeout: Duration,
) -> Result<Session, StreamsTimedOut> {
    let tty_resize = options.tty && resizes_supported(protocol);
    let expected = 1
        + usize::from(options.stdin)
        + usize::from(options.stdout)
        + usize::from(options.stderr)
        + usize::from(tty_resize);
    let mut got: Vec<Stream> = Vec::new();
    let wait = async {
        while got.len() < expected {
            let Some(s) = incoming.next().await else {
                return false;
            };
            match s.headers.get(STREAM_TYPE_HEADER).unwrap_or_default() {
                STREAM_ERROR | STREAM_STDIN | STREAM_STDOUT | STREAM_STDERR | STREAM_RESIZE => {
                    got.push(s)
                }
                other => tracing::debug!(stream_type = other, "unexpected stream type"),
            }
        }
        true
    };
    if !matches!(tokio::time::timeout(timeout, wait).await, Ok(true)) {
        conn.close().await;
        return Err(StreamsTimedOut);
    }
    let (session, ends) = Session::new(protocol, options);
    let mut take = |t: &str| {
        got.iter()
            .position(|s| s.headers.get(STREAM_TYPE_HEADER) == Some(t))
            .map(|i| got.swap_remove(i))
    };
    let error = take(STREAM_ERROR);
    let stdin = take(STREAM_STDIN);
    let stdout = take(STREAM_STDOUT);
    let stderr = take(STREAM_STDERR);
    let resize = take(STREAM_RESIZE);
    let protocol = protocol.to_string();
    tokio::spawn(async move {
        let mut stdin_writer = None;
        if let (Some(s), Some(tx)) = (stdin, ends.stdin) {
            stdin_writer = Some(s.writer);
            tokio::spawn(pump_in(s.reader, tx));
        }
        if let (Some(s), Some(tx)) = (resize, ends.resize) {
            tokio::spawn(pump_sizes(s.reader, tx));
        }
        let mut outs = Vec::new();
        for (s, rx) in [(stdout, ends.stdout), (stderr, ends.stderr)] {
            if let (Some(s), Some(rx)) = (s, rx) {
                outs.push(tokio::spawn(pump_out(rx, s.writer)));
            }
        }
        let outcome = ends
            .finish
            .await
            .unwrap_or_else(|_| Outcome::Error("the session ended without an outcome".into()));
        for t in outs {
            let _ = t.await;
        }
        if let Some(e) = error {
            let bytes = outcome.error_stream_bytes(&protocol);
            if !bytes.is_empty() {
                let _ = e.writer.write(Bytes::from(bytes)).await;
            }
            let _ = e.writer.close().await;
        }
        if let Some(w) = stdin_writer {
            let _ = w.close().await;
        }
        conn.close().await;
        let _ = ends.done.send(());
    });
    Ok(session)
}

async fn pump_in(mut from: StreamReader, to: mpsc::Sender<Bytes>) {
    while let Some(b) = from.read().await {
        if to.send(b).await.is_err() {
            break;
        }
    }
}

async fn pump_sizes(mut from: StreamReader, to: mpsc::Sender<TerminalSize>) {
    let mut buf = Vec::new();
    while let Some(b) = from.read().await {
        buf.extend_from_slice(&b);
        for size in parse_sizes(&mut buf) {
            if to.send(size).await.is_err() {
                return;
            }
        }
    }
}

/// Copies a channel to a stream and sends FIN; stops reading (so the
/// producer sees the client is gone) if the stream breaks.
async fn pump_out(mut from: mpsc::Receiver<Bytes>, to: StreamWriter) {
    while let Some(b) = from.recv().await {
        if to.write(b).await.is_err() {
            return;
        }
    }
    let _ = to.close().await;
}

/// Client side: opens the streams of `session.options` on `conn` (a
/// connection to a kubelet that negotiated `protocol`) and relays `session`
/// through them until the kubelet reports the outcome.
pub async fn bridge(conn: Connection, protocol: &str, mut session: Session) {
    let options = session.options;
    let open = |t: &'static str| {
        let conn = conn.clone();
        async move {
            conn.open(Headers::new().with(STREAM_TYPE_HEADER, t))
                .await
                .map_err(|e| format!("error creating {t} stream: {e}"))
        }
    };
    let streams = async {
        let error = open(STREAM_ERROR).await?;
        let stdin = if options.stdin {
            Some(open(STREAM_STDIN).await?)
        } else {
            None
        };
        let stdout = if options.stdout {
            Some(open(STREAM_STDOUT).await?)
        } else {
            None
        };
        let stderr = if options.stderr && !options.tty {
            Some(open(STREAM_STDERR).await?)
        } else {
            None
        };
        let resize = if options.tty && resizes_supported(protocol) {
            Some(open(STREAM_RESIZE).await?)
        } else {
            None
        };
        Ok::<_, String>((error, stdin, stdout, stderr, resize))
    };
    let (mut error, stdin, stdout, stderr, resize) = match streams.await {
        Ok(s) => s,
        Err(e) => {
            conn.close().await;
            session.finish(Outcome::Error(e)).await;
            return;
        }
    };
    if let (Some(s), Some(mut rx)) = (stdin, session.stdin.take()) {
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if s.writer.write(b).await.is_err() {
                    return;
                }
            }
            let _ = s.writer.close().await;
        });
    }
    if let (Some(s), Some(mut rx)) = (resize, session.resize.take()) {
        tokio::spawn(async move {
            while let Some(size) = rx.recv().await {
                let json = serde_json::to_vec(&size).unwrap_or_default();
                if s.writer.write(Bytes::from(json)).await.is_err() {
                    return;
                }
            }
        });
    }
    let mut outs = Vec::new();
    for (s, tx) in [
        (stdout, session.stdout.take()),
        (stderr, session.stderr.take()),
    ] {
        if let (Some(mut s), Some(tx)) = (s, tx) {
            outs.push(tokio::spawn(async move {
                while let Some(b) = s.reader.read().await {
                    if tx.send(b).await.is_err() {
                        break;
                    }
                }
            }));
        }
    }
    let message = error.reader.read_to_end(64 * 1024).await;
    for t in outs {
        let _ = t.await;
    }
    conn.close().await;
    session
        .finish(Outcome::from_error_stream(protocol, &message))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remotecommand::{PROTOCOL_V4, STREAM_CREATION_TIMEOUT};
    use crate::spdy::Role;

    /// Our client against our server: what the devcluster's translator
    /// does against the executor, minus HTTP.
    #[tokio::test]
    async fn a_session_relays_streams_and_the_exit_code() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (server_conn, incoming) = Connection::new(b, Role::Server);
        let (client_conn, _) = Connection::new(a, Role::Client);
        let options = StreamOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        // The relayed session: what the translator's WebSocket side holds.
        let (relayed, mut relayed_ends) = Session::new(PROTOCOL_V4, options);
        let client = tokio::spawn(bridge(client_conn, PROTOCOL_V4, relayed));
        let mut server = accept(
            server_conn,
            incoming,
            PROTOCOL_V4,
            options,
            STREAM_CREATION_TIMEOUT,
        )
        .await
        .expect("streams");
        // stdin flows to the server and ends.
        let stdin_tx = relayed_ends.stdin.take().expect("stdin");
        stdin_tx.send(Bytes::from_static(b"input")).await.unwrap();
        drop(stdin_tx);
        let mut stdin = server.stdin.take().expect("stdin");
        assert_eq!(stdin.recv().await.as_deref(), Some(&b"input"[..]));
        assert_eq!(stdin.recv().await, None);
        // Output, then the outcome.
        let out = server.stdout.take().expect("stdout");
        let err = server.stderr.take().expect("stderr");
        out.send(Bytes::from_static(b"out\n")).await.unwrap();
        err.send(Bytes::from_static(b"err\n")).await.unwrap();
        drop((out, err));
        server.finish(Outcome::ExitCode(3)).await;
        let mut stdout = relayed_ends.stdout.take().expect("stdout");
        let mut stderr = relayed_ends.stderr.take().expect("stderr");
        assert_eq!(stdout.recv().await.as_deref(), Some(&b"out\n"[..]));
        assert_eq!(stdout.recv().await, None);
        assert_eq!(stderr.recv().await.as_deref(), Some(&b"err\n"[..]));
        assert_eq!(
            (&mut relayed_ends.finish).await.expect("outcome"),
            Outcome::ExitCode(3)
        );
        let _ = relayed_ends.done.send(());
        client.await.expect("client");
    }

    #[tokio::test(start_paused = true)]
    async fn missing_streams_time_out() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (server_conn, incoming) = Connection::new(b, Role::Server);
        let (_client_conn, _) = Connection::new(a, Role::Client);
        let options = StreamOptions {
            stdout: true,
            ..Default::default()
        };
        let r = accept(
            server_conn,
            incoming,
            PROTOCOL_V4,
            options,
            Duration::from_secs(30),
        )
        .await;
        assert!(r.is_err());
    }
}
