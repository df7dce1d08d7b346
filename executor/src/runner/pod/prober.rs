//! Running probe and hook handlers: exec (through the runtime), HTTP GET and
//! TCP connect, each bounded by a timeout (kubelet `pkg/kubelet/prober`).
//!
//! The HTTP probe is a minimal HTTP/1.1 client on purpose: a probe needs one
//! GET and a status line. Success is a status in 200..400, as the kubelet
//! (3xx are not followed). `HTTPS` probes skip certificate verification like
//! the kubelet's (`InsecureSkipVerify`), using rustls with the ring provider
//! on a blocking thread.

use std::sync::Arc;
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
            let host = if host.is_empty() { default_host } else { host };
            let request = build_request(host, *port, path, headers);
            let get = async {
                if scheme.eq_ignore_ascii_case("HTTPS") {
                    let (h, p) = (host.to_string(), *port);
                    tokio::task::spawn_blocking(move || https_get(&h, p, &request, timeout))
                        .await
                        .map_err(std::io::Error::other)?
                } else if scheme.eq_ignore_ascii_case("HTTP") {
                    http_get(host, *port, &request).await
                } else {
                    Err(std::io::Error::other(format!(
                        "unsupported scheme {scheme}"
                    )))
                }
            };
            match tokio::time::timeout(timeout, get).await {
                Ok(Ok(code)) => Outcome {
                    success: (200..400).contains(&code),
                    output: format!("HTTP probe status {code}"),
                },
                Ok(Err(e)) => fail(format!(
                    "Get \"{}://{host}:{port}{path}\": {e}",
                    scheme.to_ascii_lowercase()
                )),
                Err(_) => fail(format!(
                    "Get \"{}://{host}:{port}{path}\": context deadline exceeded",
                    scheme.to_ascii_lowercase()
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

fn build_request(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> Vec<u8> {
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
    req.into_bytes()
}

fn malformed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response")
}

async fn http_get(host: &str, port: u16, request: &[u8]) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect((host, port)).await?;
    stream.write_all(request).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.contains(&b'\n') && head.len() < 8192 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head).ok_or_else(malformed)
}

/// Accepts any server certificate, as the kubelet's HTTPS probes do.
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn https_get(host: &str, port: u16, request: &[u8], timeout: Duration) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
        .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from(host.to_string()).map_err(std::io::Error::other)?;
    let conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let sock = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(request)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.contains(&b'\n') && head.len() < 8192 {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head).ok_or_else(malformed)
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

    /// A self-signed P-256 certificate for CN=probe-test (test only).
    const CERT_DER_B64: &str = "MIIBgTCCASegAwIBAgIUP7fIMqa/ZPK1fSGLiL6e8ku66MwwCgYIKoZIzj0EAwIwFTETMBEGA1UEAwwKcHJvYmUtdGVzdDAgFw0yNjExMjEyMjE0MDFaGA8yMTI2MTAyODIyMTQwMVowFTETMBEGA1UEAwwKcHJvYmUtdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKQSc9wkYLdpltScQcxRv8ri44kmJR9eh3CMUqrtzoqbZ/R2AxzM2dXYFd/VR5/Zb/kj7NyW1qw+EYmAX8t03uyjUzBRMB0GA1UdDgQWBBS+dVJ8Q1JdyYVLzSNbaMvtXPIQhTAfBgNVHSMEGDAWgBS+dVJ8Q1JdyYVLzSNbaMvtXPIQhTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCICY+6f3ZB/7gCWmB4ILPzQ5VQ8h0RCKJcbt8b+kB/1XYAiEAjj7v5kT+u2sWX1x7N/adsqvV5xFFwPsP9862O9QrUeo=";
    /// Its PKCS#8 key (test only).
    const KEY_DER_B64: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMSWUQPvdMMJXuD0VYSrykRhhTrTXpBdyCBnDUM0DgpihRANCAASkEnPcJGC3aZbUnEHMUb/K4uOJJiUfXodwjFKq7c6Km2f0dgMczNnV2BXf1Uef2W/5I+zcltasPhGJgF/LdN7s";

    #[tokio::test]
    async fn https_probe_skips_certificate_verification() {
        use base64::Engine;
        use std::io::{Read, Write};
        let b64 = base64::engine::general_purpose::STANDARD;
        let cert = rustls::pki_types::CertificateDer::from(b64.decode(CERT_DER_B64).unwrap());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(b64.decode(KEY_DER_B64).unwrap().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (sock, _) = listener.accept().unwrap();
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut buf = [0u8; 2048];
            let n = tls.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"GET /secure HTTP/1.1\r\n"));
            tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        });
        let rt = crate::runner::process::ProcessRuntime::new(
            crate::runner::process::ProcessConfig::new("/nonexistent"),
        );
        let h = Handler::HttpGet {
            scheme: "HTTPS".into(),
            host: String::new(),
            port,
            path: "/secure".into(),
            headers: vec![],
        };
        let out = run(&rt, "x", &h, "127.0.0.1", Duration::from_secs(5)).await;
        assert!(out.success, "{out:?}");
        server.join().unwrap();
    }
}
