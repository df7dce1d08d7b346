//! Plain HTTP/1.1 probes of the local servers (the API server answers
//! plain HTTP on its TLS port, the Mesos master and the framework endpoint
//! speak plain HTTP): readiness while starting, health for `status`. No
//! client library: one request, `Connection: close`, bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest exchange.
const TIMEOUT: Duration = Duration::from_secs(5);

async fn exchange(addr: SocketAddr, request: String) -> Option<(u16, String)> {
    let run = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let code = parse_status_line(&response)?;
        Some((code, body_of(&response)))
    };
    tokio::time::timeout(TIMEOUT, run).await.ok().flatten()
}

/// `GET path`: status code and body.
pub async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// `POST path` with a JSON body, asking for JSON (the Mesos operator API).
pub async fn post_json(addr: SocketAddr, path: &str, body: &str) -> Option<(u16, String)> {
    exchange(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// The code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
pub fn parse_status_line(response: &[u8]) -> Option<u16> {
    let line = response.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// The body of a response, de-chunked when it was sent chunked.
pub fn body_of(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return String::new();
    };
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_and_chunked_bodies_parse() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n\r\nok"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"garbage"), None);
        assert_eq!(parse_status_line(b""), None);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(body_of(chunked), "abcde");
        assert_eq!(
            body_of(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            "ok"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_no_answer() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        assert_eq!(get(addr, "/").await, None);
    }
}
