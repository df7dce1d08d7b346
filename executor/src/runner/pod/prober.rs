//! Running probe and hook handlers: exec (through the runtime), HTTP GET and
//! TCP connect, each bounded by a timeout (kubelet `pkg/kubelet/prober`).
//!
//! The HTTP probe is a minimal HTTP/1.1 client on purpose: a probe needs one
//! GET and a status line, and this keeps TLS stacks out of the probe path.
//! Success is a status in 200..400, as the kubelet (3xx are not followed).
//! `HTTPS` probes are not supported yet and fail with a clear output.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::probe::Handler;
use crate::runner::runtime::Runtime;

/// `User-Agent` of kubelet probes (`kube-probe/<major>.<minor>`).
pub const USER_AGENT: &str = "kube-probe/1.33";

/// What a probe run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Success.
    pub success: bool,
    /// Output or error, for events and logs.
    pub output: String,
}

fn fail(output: impl Into<String>) -> Outcome {
    Outcome {
        success: false,
        output: output.into(),
    }
}

/// Runs `handler` against container `id`; `default_host` is used when the
/// handler names no host (the pod IP).
pub async fn run(
    runtime: &dyn Runtime,
    id: &str,
    handler: &Handler,
    default_host: &str,
    timeout: Duration,
) -> Outcome {
    match handler {
        Handler::Exec { command } => match runtime.exec(id, command, timeout).await {
            Ok(out) if out.timed_out => {
                fail(format!("command timed out after {}s", timeout.as_secs()))
            }
            Ok(out) => Outcome {
                success: out.exit_code == 0,
                output: out.output,
            },
            Err(e) => fail(e.to_string()),
        },
        Handler::TcpSocket { host, port } => {
            let host = if host.is_empty() { default_host } else { host };
            match tokio::time::timeout(timeout, TcpStream::connect((host, *port))).await {
                Ok(Ok(_)) => Outcome {
                    success: true,
                    output: String::new(),
                },
                Ok(Err(e)) => fail(format!("dial tcp {host}:{port}: {e}")),
                Err(_) => fail(format!("dial tcp {host}:{port}: i/o timeout")),
            }
        }
        Handler::HttpGet {
            scheme,
            host,
            port,
            path,
            headers,
        } => {
            if !scheme.eq_ignore_ascii_case("HTTP") {
                return fail(format!("{scheme} probes are not supported by this runner"));
            }
            let host = if host.is_empty() { default_host } else { host };
            match tokio::time::timeout(timeout, http_get(host, *port, path, headers)).await {
                Ok(Ok(code)) => Outcome {
                    success: (200..400).contains(&code),
                    output: format!("HTTP probe status {code}"),
                },
                Ok(Err(e)) => fail(format!("Get \"http://{host}:{port}{path}\": {e}")),
                Err(_) => fail(format!(
                    "Get \"http://{host}:{port}{path}\": context deadline exceeded"
                )),
            }
        }
        Handler::Unsupported(why) => fail(why.clone()),
    }
}

/// Parses the status code out of an HTTP/1.x status line.
pub fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect((host, port)).await?;
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !has("Host") {
        let h = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        req.push_str(&format!("Host: {h}:{port}\r\n"));
    }
    if !has("User-Agent") {
        req.push_str(&format!("User-Agent: {USER_AGENT}\r\n"));
    }
    if !has("Accept") {
        req.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.contains(&b'\n') && head.len() < 8192 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status_line(b"HTTP/1.0 500 x\r\n"), Some(500));
        assert_eq!(parse_status_line(b"SSH-2.0\r\n"), None);
    }

    #[tokio::test]
    async fn http_and_tcp_probes_against_a_loopback_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            for code in [200u16, 503] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 2048];
                let n = s.read(&mut buf).await.unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                assert!(req.starts_with("GET /healthz HTTP/1.1\r\n"), "{req}");
                assert!(req.contains("User-Agent: kube-probe/1.33\r\n"));
                assert!(req.contains("X-Probe: yes\r\n"));
                let resp = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
                s.write_all(resp.as_bytes()).await.unwrap();
            }
            // One more accept for the TCP probe.
            let _ = listener.accept().await.unwrap();
        });
        let rt = crate::runner::process::ProcessRuntime::new(
            crate::runner::process::ProcessConfig::new("/nonexistent"),
        );
        let h = Handler::HttpGet {
            scheme: "HTTP".into(),
            host: String::new(),
            port,
            path: "/healthz".into(),
            headers: vec![("X-Probe".into(), "yes".into())],
        };
        let t = Duration::from_secs(5);
        assert!(run(&rt, "x", &h, "127.0.0.1", t).await.success);
        assert!(!run(&rt, "x", &h, "127.0.0.1", t).await.success);
        let tcp = Handler::TcpSocket {
            host: String::new(),
            port,
        };
        assert!(run(&rt, "x", &tcp, "127.0.0.1", t).await.success);
        server.await.unwrap();
        // Nothing listens any more.
        assert!(!run(&rt, "x", &tcp, "127.0.0.1", t).await.success);
        assert!(
            !run(&rt, "x", &Handler::Unsupported("grpc".into()), "", t)
                .await
                .success
        );
    }
}
