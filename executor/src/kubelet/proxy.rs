//! Proxying a streaming upgrade to a runtime's stream server, as the
//! kubelet's `proxyStream` does for CRI runtimes: the client's upgrade
//! request goes to the URL the runtime returned (containerd's stream server,
//! plain HTTP on loopback); a 101 splices the two connections, anything
//! else is relayed as the answer.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use kube_mesos_httpstream::upgrade::{self, ClientUpgrade};

use super::{text, Body};

/// Request headers that carry the upgrade and its negotiation.
const FORWARDED: &[&str] = &[
    "connection",
    "upgrade",
    "x-stream-protocol-version",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

/// Proxies `req`'s upgrade to `url`.
pub async fn upgrade<B>(url: &str, mut req: Request<B>) -> Response<Body> {
    let bad_gateway = |e: String| {
        tracing::warn!(%url, error = %e, "stream server unreachable");
        text(StatusCode::INTERNAL_SERVER_ERROR, e)
    };
    let target = match url::Url::parse(url) {
        Ok(u) if u.scheme() == "http" => u,
        Ok(u) => return bad_gateway(format!("unsupported stream server scheme {:?}", u.scheme())),
        Err(e) => return bad_gateway(format!("invalid stream server URL {url:?}: {e}")),
    };
    let Some(host) = target.host_str().map(str::to_string) else {
        return bad_gateway(format!("stream server URL {url:?} has no host"));
    };
    let port = target.port_or_known_default().unwrap_or(80);
    let io = match tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)).await {
        Ok(io) => io,
        Err(e) => return bad_gateway(format!("dial {host}:{port}: {e}")),
    };
    let path = match target.query() {
        Some(q) => format!("{}?{q}", target.path()),
        None => target.path().to_string(),
    };
    let mut out = Request::builder()
        .method(req.method().clone())
        .uri(path)
        .header(http::header::HOST, format!("{host}:{port}"));
    for (name, value) in req.headers() {
        if FORWARDED.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let out = match out.body(Empty::<Bytes>::new()) {
        Ok(r) => r,
        Err(e) => return bad_gateway(e.to_string()),
    };
    match upgrade::request(io, out).await {
        Err(e) => bad_gateway(e.to_string()),
        Ok(ClientUpgrade::Refused { head, body }) => {
            let mut r = Response::from_parts(head, Full::new(body).map_err(|e| match e {}).boxed());
            r.headers_mut().remove(http::header::TRANSFER_ENCODING);
            r
        }
        Ok(ClientUpgrade::Switched { head, io: backend }) => {
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(client) = on_upgrade.await else {
                    return;
                };
                let mut client = TokioIo::new(client);
                let mut backend = TokioIo::new(backend);
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
                    tracing::debug!(error = %e, "proxied stream ended with an error");
                }
            });
            Response::from_parts(head, super::empty())
        }
    }
}
