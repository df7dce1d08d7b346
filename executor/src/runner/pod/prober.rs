//! Running probe and hook handlers: exec (through the runtime), HTTP GET and
//! TCP connect, each bounded by a timeout (kubelet `pkg/kubelet/prober`).
//!
//! The HTTP probe is one GET over one hyper HTTP/1.1 connection (no pool:
//! the kubelet's probes do not keep connections either). Success is a
//! status in 200..400, as the kubelet (3xx are not followed). `HTTPS`
//! probes skip certificate verification like the kubelet's
//! (`InsecureSkipVerify`), with tokio-rustls on the ring provider. All of
//! it is async: a probe never holds a runtime or blocking-pool thread.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
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
            let get = async {
                let request = build_request(host, *port, path, headers)?;
                if scheme.eq_ignore_ascii_case("HTTPS") {
                    https_get(host, *port, request).await
                } else if scheme.eq_ignore_ascii_case("HTTP") {
                    let tcp = TcpStream::connect((host, *port)).await?;
                    get_over(tcp, request).await
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

/// The probe's GET: the handler's headers, and the kubelet's `Host`,
/// `User-Agent` and `Accept` unless the handler sets them. A header the
/// user wrote that HTTP cannot carry fails the probe, as in the kubelet.
fn build_request(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> std::io::Result<http::Request<Empty<Bytes>>> {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut req = http::Request::get(path);
    if !has("Host") {
        let h = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        req = req.header(http::header::HOST, format!("{h}:{port}"));
    }
    if !has("User-Agent") {
        req = req.header(http::header::USER_AGENT, USER_AGENT);
    }
    if !has("Accept") {
        req = req.header(http::header::ACCEPT, "*/*");
    }
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.header(http::header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(std::io::Error::other)
}

/// Sends `request` over `io` (plain TCP or TLS) and returns the response
/// status. The body is not read: the outcome is the status alone.
async fn get_over<I>(io: I, request: http::Request<Empty<Bytes>>) -> std::io::Result<u16>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Header names go out as Go's net/http writes them (`User-Agent`), so
    // a server that is picky about case sees what the kubelet sends.
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(TokioIo::new(io))
        .await
        .map_err(std::io::Error::other)?;
    // The connection future does the I/O; it is driven here, beside the
    // request, rather than spawned, so nothing outlives the probe. It may
    // finish (the server closed) in the same poll that delivered the
    // response: the request's future then still holds the response, or the
    // reason there is none.
    let mut conn = std::pin::pin!(conn);
    let mut send = std::pin::pin!(sender.send_request(request));
    let response = tokio::select! {
        biased;
        response = &mut send => response,
        _ = &mut conn => send.await,
    };
    response
        .map(|r| r.status().as_u16())
        .map_err(std::io::Error::other)
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

async fn https_get(
    host: &str,
    port: u16,
    request: http::Request<Empty<Bytes>>,
) -> std::io::Result<u16> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
        .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from(host.to_string()).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect((host, port)).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    get_over(tls, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn runtime() -> crate::runner::process::ProcessRuntime {
        crate::runner::process::ProcessRuntime::new(crate::runner::process::ProcessConfig::new(
            "/nonexistent",
        ))
    }

    fn http_get(scheme: &str, port: u16, path: &str, headers: &[(&str, &str)]) -> Handler {
        Handler::HttpGet {
            scheme: scheme.into(),
            host: String::new(),
            port,
            path: path.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_header_http_cannot_carry_is_an_error_not_a_panic() {
        let bad = [("Bad Name".to_string(), "v".to_string())];
        assert!(build_request("h", 80, "/", &bad).is_err());
        let bad = [("X".to_string(), "line\nbreak".to_string())];
        assert!(build_request("h", 80, "/", &bad).is_err());
        let req = build_request("::1", 8080, "healthz", &[]).unwrap();
        assert_eq!(req.uri(), "/healthz");
        assert_eq!(req.headers()["host"], "[::1]:8080");
    }

    #[tokio::test]
    async fn a_server_that_is_not_http_fails_the_probe() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(b"SSH-2.0-OpenSSH\r\n").await;
        });
        let rt = runtime();
        let h = http_get("HTTP", port, "/", &[]);
        let out = run(&rt, "x", &h, "127.0.0.1", Duration::from_secs(5)).await;
        assert!(!out.success, "{out:?}");
        server.await.unwrap();
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
        let rt = runtime();
        let h = http_get("HTTP", port, "/healthz", &[("X-Probe", "yes")]);
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
        let rt = runtime();
        let h = http_get("HTTPS", port, "/secure", &[]);
        let out = run(&rt, "x", &h, "127.0.0.1", Duration::from_secs(5)).await;
        assert!(out.success, "{out:?}");
        server.join().unwrap();
    }
}
