//! The exec/attach stream protocol ("remote command").
//!
//! A session has up to five streams: stdin, stdout, stderr, error (the
//! outcome, a `metav1.Status` from `v4` on, plain text before) and resize
//! (JSON `TerminalSize`s, `v3` on). Over SPDY each is a stream tagged with a
//! `streamType` header ([`spdy`]); over WebSocket each is a channel number
//! prefixed to every message ([`websocket`]).
//!
//! Both transports present the server side as one [`Session`] of channels,
//! so what runs the command (the executor) and what bridges transports (the
//! devcluster's WebSocket-to-SPDY translator) never see protocol bytes.

pub mod spdy;
pub mod websocket;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

/// Stream header naming a stream's role.
pub const STREAM_TYPE_HEADER: &str = "streamType";
/// `streamType` of the error stream.
pub const STREAM_ERROR: &str = "error";
/// `streamType` of stdin.
pub const STREAM_STDIN: &str = "stdin";
/// `streamType` of stdout.
pub const STREAM_STDOUT: &str = "stdout";
/// `streamType` of stderr.
pub const STREAM_STDERR: &str = "stderr";
/// `streamType` of terminal resizes.
pub const STREAM_RESIZE: &str = "resize";

/// Original protocol: plain-text errors, no resize.
pub const PROTOCOL_V1: &str = "channel.k8s.io";
/// `v2`: error stream created first.
pub const PROTOCOL_V2: &str = "v2.channel.k8s.io";
/// `v3`: adds the resize stream.
pub const PROTOCOL_V3: &str = "v3.channel.k8s.io";
/// `v4`: the error stream carries a JSON `metav1.Status` with the exit code.
pub const PROTOCOL_V4: &str = "v4.channel.k8s.io";
/// `v5`: `v4` plus the WebSocket CLOSE signal (half-closing stdin).
pub const PROTOCOL_V5: &str = "v5.channel.k8s.io";

/// What a kubelet accepts over SPDY, most preferred first.
pub const SPDY_PROTOCOLS: &[&str] = &[PROTOCOL_V4, PROTOCOL_V3, PROTOCOL_V2, PROTOCOL_V1];

/// `metav1.Status` reason of a non-zero exit.
pub const NON_ZERO_EXIT_CODE_REASON: &str = "NonZeroExitCode";
/// `StatusCause` type carrying the exit code.
pub const EXIT_CODE_CAUSE_TYPE: &str = "ExitCode";

/// How long a server waits for the client to open its streams (the
/// kubelet's `--streaming-connection-idle-timeout` companion, 30 s).
pub const STREAM_CREATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Which of the standard streams a session has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// stdin.
    pub stdin: bool,
    /// stdout.
    pub stdout: bool,
    /// stderr (never with a TTY).
    pub stderr: bool,
    /// A terminal: stdout carries both outputs, resizes are sent.
    pub tty: bool,
}

impl StreamOptions {
    /// From a kubelet request's query (`input`, `output`, `error`, `tty`
    /// set to `1`), as the kubelet's `NewOptions`; a TTY drops stderr.
    pub fn from_kubelet_query(pairs: &[(String, String)]) -> Result<Self, String> {
        let on = |k: &str| pairs.iter().any(|(n, v)| n == k && v == "1");
        let tty = on("tty");
        let o = Self {
            stdin: on("input"),
            stdout: on("output"),
            stderr: on("error") && !tty,
            tty,
        };
        if !o.stdin && !o.stdout && !o.stderr {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(o)
    }

    /// The kubelet query for these options (what an API server sends).
    pub fn kubelet_query(&self) -> Vec<(&'static str, &'static str)> {
        let mut q = Vec::new();
        for (on, key) in [
            (self.stdin, "input"),
            (self.stdout, "output"),
            (self.stderr, "error"),
            (self.tty, "tty"),
        ] {
            if on {
                q.push((key, "1"));
            }
        }
        q
    }
}

/// A terminal size, as client-go's `TerminalSize` marshals it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// Splits a byte stream of concatenated JSON sizes, keeping a partial one.
pub fn parse_sizes(buf: &mut Vec<u8>) -> Vec<TerminalSize> {
    let mut out = Vec::new();
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<TerminalSize>();
    let mut used = 0;
    loop {
        match it.next() {
            Some(Ok(s)) => {
                out.push(s);
                used = it.byte_offset();
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => {
                // Garbage: drop everything read so far, as a decoder
                // that stops at the first error would never recover.
                used = buf.len();
                break;
            }
            None => {
                used = buf.len();
                break;
            }
        }
    }
    buf.drain(..used);
    out
}

/// How a session ended, as the error stream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Status `Success`.
    Success,
    /// The command exited with this non-zero code.
    ExitCode(i32),
    /// A `Status` to send as it is (an API server passing one on).
    Status(Value),
    /// Anything else: an internal error with this message.
    Error(String),
}

/// `apierrors.NewInternalError(err)` as JSON.
pub fn internal_error(message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

impl Outcome {
    /// The `metav1.Status` the kubelet writes for it (`v4` error stream).
    pub fn to_status(&self) -> Value {
        match self {
            Outcome::Success => json!({"metadata": {}, "status": "Success"}),
            Outcome::ExitCode(code) => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("command terminated with non-zero exit code: command terminated with exit code {code}"),
                "reason": NON_ZERO_EXIT_CODE_REASON,
                "details": {"causes": [{"reason": EXIT_CODE_CAUSE_TYPE, "message": code.to_string()}]},
            }),
            Outcome::Status(v) => v.clone(),
            Outcome::Error(m) => internal_error(m),
        }
    }

    /// The error stream's bytes for `protocol`: JSON from `v4`, the error
    /// text (nothing on success) before.
    pub fn error_stream_bytes(&self, protocol: &str) -> Vec<u8> {
        let status = self.to_status();
        if protocol == PROTOCOL_V4 || protocol == PROTOCOL_V5 {
            return serde_json::to_vec(&status).unwrap_or_default();
        }
        if status["status"] == "Success" {
            return Vec::new();
        }
        status["message"]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .to_vec()
    }

    /// Reads an error stream as client-go's decoders do: `v4` JSON (exit
    /// codes, success, or the status message as an error), plain text before.
    pub fn from_error_stream(protocol: &str, bytes: &[u8]) -> Outcome {
        if bytes.is_empty() {
            return Outcome::Success;
        }
        if protocol != PROTOCOL_V4 && protocol != PROTOCOL_V5 {
            return Outcome::Error(format!(
                "error executing remote command: {}",
                String::from_utf8_lossy(bytes)
            ));
        }
        let status: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                return Outcome::Error(format!(
                    "error stream protocol error: {e} in {:?}",
                    String::from_utf8_lossy(bytes)
                ))
            }
        };
        match status["status"].as_str() {
            Some("Success") => Outcome::Success,
            Some("Failure") if status["reason"] == NON_ZERO_EXIT_CODE_REASON => {
                let code = status["details"]["causes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["reason"] == EXIT_CODE_CAUSE_TYPE)
                    .and_then(|c| c["message"].as_str())
                    .and_then(|m| m.parse::<u8>().ok());
                match code {
                    Some(c) => Outcome::ExitCode(i32::from(c)),
                    None => Outcome::Error(
                        "error stream protocol error: no ExitCode cause given".into(),
                    ),
                }
            }
            Some("Failure") => {
                Outcome::Error(status["message"].as_str().unwrap_or_default().to_string())
            }
            _ => Outcome::Error("error stream protocol error: unknown error".into()),
        }
    }
}

/// The server's view of a session, whatever the transport.
///
/// Output channels end when every sender is dropped; drop them (or let the
/// tasks holding them end) before [`Session::finish`], which waits until
/// the transport has delivered the output and the outcome.
#[derive(Debug)]
pub struct Session {
    /// Negotiated protocol.
    pub protocol: String,
    /// The streams asked for.
    pub options: StreamOptions,
    /// Client input; `None` once the client closed stdin.
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    /// To the client's stdout.
    pub stdout: Option<mpsc::Sender<Bytes>>,
    /// To the client's stderr.
    pub stderr: Option<mpsc::Sender<Bytes>>,
    /// Terminal sizes (TTY sessions).
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
    finish: oneshot::Sender<Outcome>,
    done: oneshot::Receiver<()>,
}

/// The transport's side of a [`Session`].
pub(crate) struct SessionEnds {
    pub stdin: Option<mpsc::Sender<Bytes>>,
    pub stdout: Option<mpsc::Receiver<Bytes>>,
    pub stderr: Option<mpsc::Receiver<Bytes>>,
    pub resize: Option<mpsc::Sender<TerminalSize>>,
    pub finish: oneshot::Receiver<Outcome>,
    pub done: oneshot::Sender<()>,
}

/// Channel capacity of each standard stream.
const CHANNEL: usize = 16;

impl Session {
    pub(crate) fn new(protocol: &str, options: StreamOptions) -> (Session, SessionEnds) {
        let pair = |on: bool| {
            if on {
                let (tx, rx) = mpsc::channel(CHANNEL);
                (Some(tx), Some(rx))
            } else {
                (None, None)
            }
        };
        let (stdin_tx, stdin_rx) = pair(options.stdin);
        let (stdout_tx, stdout_rx) = pair(options.stdout);
        let (stderr_tx, stderr_rx) = pair(options.stderr);
        let (resize_tx, resize_rx) = if options.tty {
            let (tx, rx) = mpsc::channel(CHANNEL);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let (finish_tx, finish_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        (
            Session {
                protocol: protocol.to_string(),
                options,
                stdin: stdin_rx,
                stdout: stdout_tx,
                stderr: stderr_tx,
                resize: resize_rx,
                finish: finish_tx,
                done: done_rx,
            },
            SessionEnds {
                stdin: stdin_tx,
                stdout: stdout_rx,
                stderr: stderr_rx,
                resize: resize_tx,
                finish: finish_rx,
                done: done_tx,
            },
        )
    }

    /// Reports the outcome once the output is delivered, and waits until
    /// the transport has sent it and closed.
    pub async fn finish(self, outcome: Outcome) {
        let Session {
            finish,
            done,
            stdout,
            stderr,
            ..
        } = self;
        drop((stdout, stderr));
        let _ = finish.send(outcome);
        let _ = done.await;
    }
}

/// Sends `data` to an output channel if there is one; `false` once the
/// client is gone.
pub async fn send_output(out: &Option<mpsc::Sender<Bytes>>, data: Bytes) -> bool {
    match out {
        Some(tx) => tx.send(data).await.is_ok(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_query_options() {
        let q = |s: &str| -> Vec<(String, String)> { url_pairs(s) };
        let o = StreamOptions::from_kubelet_query(&q("output=1&error=1&tty=1&input=1")).unwrap();
        assert_eq!(
            o,
            StreamOptions {
                stdin: true,
                stdout: true,
                stderr: false,
                tty: true
            }
        );
        assert_eq!(
            StreamOptions::from_kubelet_query(&q("command=ls")).unwrap_err(),
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        let o = StreamOptions::from_kubelet_query(&q("output=1&error=1")).unwrap();
        assert_eq!(o.kubelet_query(), vec![("output", "1"), ("error", "1")]);
    }

    fn url_pairs(s: &str) -> Vec<(String, String)> {
        s.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sizes_parse_across_chunks() {
        let mut buf = br#"{"Width":80,"Height":24}{"Width":100,"#.to_vec();
        assert_eq!(
            parse_sizes(&mut buf),
            vec![TerminalSize {
                width: 80,
                height: 24
            }]
        );
        buf.extend_from_slice(br#""Height":40}"#);
        assert_eq!(
            parse_sizes(&mut buf),
            vec![TerminalSize {
                width: 100,
                height: 40
            }]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn outcomes_round_trip_through_the_error_stream() {
        for o in [
            Outcome::Success,
            Outcome::ExitCode(3),
            Outcome::ExitCode(255),
        ] {
            let b = o.error_stream_bytes(PROTOCOL_V4);
            assert_eq!(Outcome::from_error_stream(PROTOCOL_V4, &b), o);
        }
        // client-go's decoder turns other failures into their message.
        let b = Outcome::Error("boom".into()).error_stream_bytes(PROTOCOL_V4);
        assert_eq!(
            Outcome::from_error_stream(PROTOCOL_V4, &b),
            Outcome::Error("Internal error occurred: boom".into())
        );
        // Before v4: text, nothing on success.
        assert!(Outcome::Success.error_stream_bytes(PROTOCOL_V3).is_empty());
        assert_eq!(
            Outcome::Error("boom".into()).error_stream_bytes(PROTOCOL_V2),
            b"Internal error occurred: boom"
        );
        assert_eq!(
            Outcome::from_error_stream(PROTOCOL_V4, b""),
            Outcome::Success
        );
        let v = Outcome::ExitCode(3).to_status();
        assert_eq!(v["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(v["details"]["causes"][0]["message"], "3");
    }
}
