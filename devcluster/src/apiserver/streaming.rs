//! `pods/exec`, `pods/attach` and `pods/portforward`, as kube-apiserver
//! 1.30+ serves them (`pkg/registry/core/pod/rest/subresources.go`,
//! `apiserver/pkg/util/proxy`): the pod's kubelet is reached as for
//! `pods/log` ([`super::logs`]), always with a SPDY/3.1 upgrade or the
//! client's own upgrade:
//!
//! - a WebSocket asking for `v5.channel.k8s.io` (kubectl 1.30+ exec and
//!   attach) is accepted here and translated to SPDY towards the kubelet
//!   (`StreamTranslatorHandler`); errors after the handshake travel on the
//!   error channel, worded as the translator words them;
//! - a WebSocket asking for `SPDY/3.1+portforward.k8s.io` (kubectl's
//!   port-forward) is a tunnel: the kubelet gets a SPDY upgrade, and once it
//!   answers 101 the WebSocket's binary messages carry the SPDY bytes
//!   (`TunnelingHandler`); any other kubelet answer is relayed as it is;
//! - anything else (SPDY, older WebSockets) is proxied as it is
//!   (`UpgradeAwareHandler`), and the kubelet's answer relayed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::header::{HeaderName, AUTHORIZATION};
use hyper_util::rt::TokioIo;
use kube_mesos_httpstream::portforward::TUNNELING_PREFIX;
use kube_mesos_httpstream::remotecommand::{self, Outcome, StreamOptions, PROTOCOL_V5};
use kube_mesos_httpstream::spdy::{self, Role, UPGRADE_TOKEN};
use kube_mesos_httpstream::upgrade::{
    self, ClientUpgrade, PROTOCOL_VERSION_HEADER, WEBSOCKET_PROTOCOL_HEADER,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use super::config::KubeletScheme;
use super::error::{ApiResult, StatusError};
use super::logs;
use super::server::Ctx;

/// Where the request goes on the kubelet, and the stream options.
struct Location {
    url: url::Url,
    options: StreamOptions,
}

fn flag(q: &HashMap<String, Vec<String>>, key: &str) -> bool {
    q.get(key)
        .and_then(|v| v.last())
        .is_some_and(|v| v == "true" || v == "1")
}

/// The kubelet location of `sub` for pod `ns/name` (`ExecLocation`,
/// `AttachLocation`, `PortForwardLocation`).
fn location(ctx: &Ctx, ns: &str, name: &str, sub: &str, query: &str) -> ApiResult<Location> {
    let multi: HashMap<String, Vec<String>> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .fold(HashMap::new(), |mut m, (k, v)| {
            m.entry(k).or_default().push(v);
            m
        });
    let last: HashMap<String, String> = multi
        .iter()
        .filter_map(|(k, v)| v.last().map(|l| (k.clone(), l.clone())))
        .collect();
    let scheme = match ctx.config.kubelet_scheme {
        KubeletScheme::Https => "https",
        KubeletScheme::Http => "http",
    };
    let pod = logs::pod(&ctx.store, ns, name)?;
    if sub == "portforward" {
        let mut url = logs::kubelet_base(&ctx.store, scheme, &pod, name)?;
        url.path_segments_mut()
            .map_err(|_| StatusError::internal("kubelet URL cannot have a path"))?
            .extend(["portForward", ns, name]);
        for p in multi.get("ports").into_iter().flatten() {
            url.query_pairs_mut().append_pair("port", p);
        }
        return Ok(Location {
            url,
            options: StreamOptions::default(),
        });
    }
    let container = logs::choose_container(&pod, name, &last)?;
    let mut url = logs::kubelet_base(&ctx.store, scheme, &pod, name)?;
    let options = StreamOptions {
        stdin: flag(&multi, "stdin"),
        stdout: flag(&multi, "stdout"),
        stderr: flag(&multi, "stderr"),
        tty: flag(&multi, "tty"),
    };
    let kubelet_sub = if sub == "exec" { "exec" } else { "attach" };
    url.path_segments_mut()
        .map_err(|_| StatusError::internal("kubelet URL cannot have a path"))?
        .extend([kubelet_sub, ns, name, &container]);
    {
        let mut qp = url.query_pairs_mut();
        if sub == "exec" {
            for c in multi.get("command").into_iter().flatten() {
                qp.append_pair("command", c);
            }
        }
        for (k, v) in options.kubelet_query() {
            qp.append_pair(k, v);
        }
    }
    Ok(Location { url, options })
}

/// Opens a connection to the kubelet of `url`.
async fn dial(
    tls: &Arc<rustls::ClientConfig>,
    url: &url::Url,
) -> Result<Box<dyn KubeletIo>, String> {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let port = url.port_or_known_default().unwrap_or(10250);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
    if url.scheme() == "http" {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| format!("kubelet address {host}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {host}:{port}: {e}"))?;
    Ok(Box::new(stream))
}

/// A connection to a kubelet: TLS or plain.
trait KubeletIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> KubeletIo for T {}

fn path_and_query(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

fn credentials(ctx: &Ctx) -> Vec<(HeaderName, HeaderValue)> {
    ctx.config
        .kubelet_client_token
        .as_ref()
        .and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok())
        .map(|v| vec![(AUTHORIZATION, v)])
        .unwrap_or_default()
}

fn host(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(10250)
    )
}

/// The SPDY/3.1 upgrade request kube-apiserver sends a kubelet.
fn spdy_request(
    url: &url::Url,
    protocols: &[&str],
    credentials: &[(HeaderName, HeaderValue)],
) -> Result<http::Request<http_body_util::Empty<Bytes>>, http::Error> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    headers.insert(
        http::header::UPGRADE,
        HeaderValue::from_static(UPGRADE_TOKEN),
    );
    for p in protocols {
        if let Ok(v) = HeaderValue::from_str(p) {
            headers.append(PROTOCOL_VERSION_HEADER, v);
        }
    }
    upgrade::forwarded_request(
        &Method::POST,
        &path_and_query(url),
        &host(url),
        &headers,
        credentials,
    )
}

fn internal(message: String) -> StatusError {
    StatusError::internal(message)
}

/// Serves `pods/{exec,attach,portforward}` for `ns/name`.
pub async fn connect(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    sub: &str,
    req: Request,
) -> ApiResult<Response> {
    let query = req.uri().query().unwrap_or_default().to_string();
    let loc = location(ctx, ns, name, sub, &query)?;
    let headers = req.headers().clone();
    let offered = upgrade::header_list(&headers, WEBSOCKET_PROTOCOL_HEADER);
    if upgrade::is_websocket(&headers) {
        if sub != "portforward" && offered.iter().any(|p| p == PROTOCOL_V5) {
            tracing::info!(%ns, pod = %name, %sub, "WebSocket stream translated to SPDY for the kubelet");
            return translate(ctx, loc, req);
        }
        if sub == "portforward" && offered.iter().any(|p| p.starts_with(TUNNELING_PREFIX)) {
            tracing::info!(%ns, pod = %name, %sub, "SPDY tunnelled through WebSocket to the kubelet");
            return tunnel(ctx, loc, req, &offered).await;
        }
    }
    tracing::info!(%ns, pod = %name, %sub, "upgrade proxied to the kubelet as it is");
    proxy(ctx, loc, req).await
}

/// `UpgradeAwareHandler`: the request as it is, the kubelet's answer as it is.
async fn proxy(ctx: &Ctx, loc: Location, mut req: Request) -> ApiResult<Response> {
    let io = dial(&ctx.kubelet_tls, &loc.url).await.map_err(internal)?;
    let upstream = upgrade::forwarded_request(
        req.method(),
        &path_and_query(&loc.url),
        &host(&loc.url),
        req.headers(),
        &credentials(ctx),
    )
    .map_err(|e| internal(e.to_string()))?;
    let (head, body) = upgrade::splice(io, upstream, hyper::upgrade::on(&mut req))
        .await
        .map_err(|e| internal(format!("error dialing backend: {e}")))?;
    Ok(Response::from_parts(head, Body::from(body)))
}

/// `StreamTranslatorHandler`: a v5 WebSocket here, SPDY to the kubelet.
fn translate(ctx: &Ctx, loc: Location, mut req: Request) -> ApiResult<Response> {
    let switching = upgrade::websocket_switching(req.headers(), Some(PROTOCOL_V5))
        .map_err(StatusError::bad_request)?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let credentials = credentials(ctx);
    let tls = ctx.kubelet_tls.clone();
    tokio::spawn(async move {
        let Ok(client) = on_upgrade.await else {
            return;
        };
        let ws = upgrade::websocket_server(client).await;
        let session = remotecommand::websocket::serve(ws, PROTOCOL_V5, loc.options);
        let upstream = async {
            let io = dial(&tls, &loc.url).await?;
            let request = spdy_request(&loc.url, remotecommand::SPDY_PROTOCOLS, &credentials)
                .map_err(|e| e.to_string())?;
            upgrade::request(io, request)
                .await
                .map_err(|e| e.to_string())
        };
        match upstream.await {
            Ok(ClientUpgrade::Switched { head, io }) => {
                let protocol = head
                    .headers
                    .get(PROTOCOL_VERSION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(remotecommand::PROTOCOL_V1)
                    .to_string();
                let (conn, _incoming) = spdy::Connection::new(TokioIo::new(io), Role::Client);
                remotecommand::spdy::bridge(conn, &protocol, session).await;
            }
            Ok(ClientUpgrade::Refused { body, .. }) => {
                session.finish(upgrade_failure(&body)).await;
            }
            Err(e) => session.finish(Outcome::Error(e)).await,
        }
    });
    Ok(switching.map(|()| Body::empty()))
}

/// client-go's reading of a refused SPDY upgrade: a `Status` body is the
/// error itself, anything else `unable to upgrade connection: <body>`.
fn upgrade_failure(body: &[u8]) -> Outcome {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v["kind"] == "Status" => Outcome::Status(v),
        _ => Outcome::Error(format!(
            "unable to upgrade connection: {}",
            String::from_utf8_lossy(body).trim()
        )),
    }
}

/// `TunnelingHandler`: SPDY inside WebSocket binary messages.
async fn tunnel(
    ctx: &Ctx,
    loc: Location,
    mut req: Request,
    offered: &[String],
) -> ApiResult<Response> {
    let protocols: Vec<String> = offered
        .iter()
        .filter_map(|p| p.strip_prefix(TUNNELING_PREFIX))
        .filter(|p| p.ends_with(".k8s.io"))
        .map(str::to_string)
        .collect();
    if protocols.is_empty() {
        return Err(StatusError::bad_request(
            "unable to upgrade: no tunneling spdy protocols provided",
        ));
    }
    let io = dial(&ctx.kubelet_tls, &loc.url).await.map_err(internal)?;
    let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
    let request = spdy_request(&loc.url, &protocols, &credentials(ctx))
        .map_err(|e| internal(e.to_string()))?;
    let (head, backend) = match upgrade::request(io, request)
        .await
        .map_err(|e| internal(format!("error dialing backend: {e}")))?
    {
        ClientUpgrade::Refused { mut head, body } => {
            head.headers.remove(http::header::TRANSFER_ENCODING);
            head.headers.remove(http::header::CONTENT_LENGTH);
            return Ok(Response::from_parts(head, Body::from(body)));
        }
        ClientUpgrade::Switched { head, io } => (head, io),
    };
    let chosen = head
        .headers
        .get(PROTOCOL_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|p| format!("{TUNNELING_PREFIX}{}", p.trim()));
    let switching = upgrade::websocket_switching(req.headers(), chosen.as_deref())
        .map_err(StatusError::bad_request)?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(client) = on_upgrade.await else {
            return;
        };
        let ws = upgrade::websocket_server(client).await;
        let (mut sink, mut source) = ws.split();
        let (mut read, mut write) = tokio::io::split(TokioIo::new(backend));
        let up = async move {
            while let Some(Ok(m)) = source.next().await {
                match m {
                    Message::Binary(b) if write.write_all(&b).await.is_err() => break,
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            let _ = write.shutdown().await;
        };
        let down = async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let m = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
                        if sink.send(m).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = sink.send(Message::Close(None)).await;
        };
        tokio::join!(up, down);
    });
    Ok(switching.map(|()| Body::empty()))
}
