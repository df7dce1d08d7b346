//! Proxying a streaming upgrade to a runtime's stream server, as the
//! kubelet's `proxyStream` does for CRI runtimes: the client's upgrade
//! request goes to the URL the runtime returned (containerd's stream server,
//! plain HTTP on loopback); a 101 splices the two connections, anything
//! else is relayed as the answer.

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use kube_mesos_httpstream::upgrade;

use super::{text, Body};

/// Proxies `req`'s upgrade to `url`.
pub async fn upgrade<B>(url: &str, mut req: Request<B>) -> Response<Body> {
    let fail = |e: String| {
        tracing::warn!(%url, error = %e, "stream server unreachable");
        text(StatusCode::INTERNAL_SERVER_ERROR, e)
    };
    let target = match url::Url::parse(url) {
        Ok(u) if u.scheme() == "http" => u,
        Ok(u) => return fail(format!("unsupported stream server scheme {:?}", u.scheme())),
        Err(e) => return fail(format!("invalid stream server URL {url:?}: {e}")),
    };
    let Some(host) = target.host_str().map(str::to_string) else {
        return fail(format!("stream server URL {url:?} has no host"));
    };
    let port = target.port_or_known_default().unwrap_or(80);
    let io = match tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)).await {
        Ok(io) => io,
        Err(e) => return fail(format!("dial {host}:{port}: {e}")),
    };
    let path = match target.query() {
        Some(q) => format!("{}?{q}", target.path()),
        None => target.path().to_string(),
    };
    let upstream = match upgrade::forwarded_request(
        req.method(),
        &path,
        &format!("{host}:{port}"),
        req.headers(),
        &[],
    ) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    match upgrade::splice(io, upstream, hyper::upgrade::on(&mut req)).await {
        Ok((head, body)) => {
            Response::from_parts(head, Full::new(body).map_err(|e| match e {}).boxed())
        }
        Err(e) => fail(e.to_string()),
    }
}
