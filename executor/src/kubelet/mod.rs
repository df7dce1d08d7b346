//! The node's kubelet endpoint: HTTPS on the executor's port, so that
//! `kubectl logs` works through the API server exactly as with a kubelet.
//!
//! The API server reads the port from the Node's
//! `status.daemonEndpoints.kubeletEndpoint.Port` and proxies `pods/log` to
//! `/containerLogs/{namespace}/{pod}/{container}`. Served here:
//! - `GET /containerLogs/...` ([`logs`] holds the kubelet's rules);
//! - `GET|POST /exec/{ns}/{pod}/{container}`, `/attach/...` and
//!   `/portForward/{ns}/{pod}` ([`streaming`]): SPDY/3.1 or WebSocket
//!   upgrades, served here or proxied to the runtime's stream server;
//! - `GET /healthz` → 200 `ok`.
//!
//! Every request must authenticate ([`auth`]) and, when the endpoint can
//! reach the API server, be authorized by it ([`authz`]: TokenReview and
//! SubjectAccessReview for `nodes/<subresource>`); TLS is [`tls`]; the port is
//! one the executor owns and could bind ([`listener`]). The server
//! takes a bound listener and a shutdown future (tests bind port 0), and
//! knows pods only through [`PodDirectory`], which the executor service
//! implements over its pod workers. A pod another executor generation of
//! the agent runs is served by forwarding to that executor ([`peer`]), so
//! the one port the Node advertises answers for every pod.

pub mod auth;
pub mod authz;
pub mod listener;
pub mod logs;
pub mod peer;
mod proxy;
pub mod streaming;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1 as core;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::config::KubeletAuth;
use crate::node_role::registry::PeerSocket;
use crate::runner::runtime::{ContainerStateKind, Runtime};

/// Response bodies: whole or streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A pod as the endpoint needs it.
#[derive(Debug, Clone)]
pub struct KnownPod {
    /// The pod as launched.
    pub pod: Arc<core::Pod>,
    /// Its latest status.
    pub status: core::PodStatus,
    /// Its log directory (`<log root>/<ns>_<name>_<uid>`).
    pub log_dir: PathBuf,
}

/// The pods of this node, by namespace and name.
pub trait PodDirectory: Send + Sync + 'static {
    /// The pod, if this executor runs it.
    fn find(&self, namespace: &str, name: &str) -> Option<KnownPod>;

    /// The socket of another executor generation of this agent that runs
    /// the pod, if one does ([`peer`]). Default: none.
    fn elsewhere(&self, _namespace: &str, _name: &str) -> Option<PeerSocket> {
        None
    }
}

/// Where a request comes from.
#[derive(Debug, Clone)]
enum Origin {
    /// A client of the kubelet port (the API server), authenticated.
    Client {
        /// It presented a client certificate the TLS layer verified.
        verified_cert: bool,
        /// Who that certificate names, for authorization.
        certificate: Option<Arc<authz::Caller>>,
    },
    /// Another executor generation of this agent, over the peer socket:
    /// trusted, and never forwarded again.
    Peer,
}

/// What the endpoint serves from.
#[derive(Clone)]
pub struct KubeletState {
    /// Who may call.
    pub auth: KubeletAuth,
    /// The node's pods.
    pub pods: Arc<dyn PodDirectory>,
    /// The runtime (log paths, whether a container still runs).
    pub runtime: Arc<dyn Runtime>,
    /// Who callers are and what they may, asked of the API server
    /// ([`authz`]); `None`: authentication alone ([`auth`]).
    pub access: Option<Arc<authz::Access>>,
}

/// Errors of the server itself.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The listener failed.
    #[error("kubelet endpoint: accepting connections failed")]
    AcceptFailed(#[source] std::io::Error),
}

fn empty() -> Body {
    Full::new(Bytes::new()).map_err(|e| match e {}).boxed()
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).map_err(|e| match e {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Serves on `listener` with `tls` until `shutdown` completes; open
/// connections (followed logs) are dropped then.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: KubeletState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), KubeletError> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) if is_transient(&e) => {
                        tracing::warn!(error = %e, "kubelet endpoint: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(e) => return Err(KubeletError::AcceptFailed(e)),
                };
                let acceptor = acceptor.clone();
                let state = state.clone();
                conns.spawn(async move {
                    let tls = match acceptor.accept(stream).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "kubelet endpoint: TLS handshake failed");
                            return;
                        }
                    };
                    let certs = tls.get_ref().1.peer_certificates();
                    let verified_cert = certs.is_some_and(|c| !c.is_empty());
                    let certificate = certs
                        .and_then(|c| c.first())
                        .and_then(|c| authz::caller_of_certificate(c))
                        .map(Arc::new);
                    serve_connection(tls, state, Origin::Client { verified_cert, certificate }).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    Ok(())
}

/// Serves one HTTP/1 connection (with upgrades) from `origin`.
async fn serve_connection<IO>(io: IO, state: KubeletState, origin: Origin)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        let origin = origin.clone();
        async move { Ok::<_, Infallible>(respond(&state, origin, req).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await
    {
        tracing::debug!(error = %e, "kubelet endpoint: connection ended with an error");
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error() == Some(24) // EMFILE
}

/// Handles one request of a client of the kubelet port (public for tests
/// that skip TLS).
pub async fn handle<B>(
    state: &KubeletState,
    verified_cert: bool,
    req: Request<B>,
) -> Response<Body> {
    let origin = Origin::Client {
        verified_cert,
        certificate: None,
    };
    respond(state, origin, req).await
}

/// The namespace and name of the pod a request is about.
fn pod_of(segments: &[String]) -> Option<(&str, &str)> {
    match segments {
        [kind, ns, pod, ..]
            if matches!(
                kind.as_str(),
                "containerLogs" | "exec" | "attach" | "portForward"
            ) =>
        {
            Some((ns, pod))
        }
        _ => None,
    }
}

async fn respond<B>(state: &KubeletState, origin: Origin, req: Request<B>) -> Response<Body> {
    if let Origin::Client {
        verified_cert,
        certificate,
    } = &origin
    {
        let authorization = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Err(refusal) = admit(
            state,
            *verified_cert,
            certificate.as_deref(),
            authorization,
            &req,
        )
        .await
        {
            return refusal;
        }
    }
    let segments = path_segments(req.uri().path());
    if !matches!(origin, Origin::Peer) {
        if let Some((ns, pod)) = pod_of(&segments) {
            if state.pods.find(ns, pod).is_none() {
                if let Some(socket) = state.pods.elsewhere(ns, pod) {
                    tracing::debug!(namespace = ns, pod, socket = %socket.path().display(), "pod of another executor generation: forwarding");
                    return peer::forward(&socket, req).await;
                }
            }
        }
    }
    let streaming = matches!(
        segments.first().map(String::as_str),
        Some("exec" | "attach" | "portForward")
    );
    if streaming {
        if req.method() != http::Method::GET && req.method() != http::Method::POST {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            r.headers_mut().insert(
                http::header::ALLOW,
                http::HeaderValue::from_static("GET, POST"),
            );
            return r;
        }
        return match segments.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["exec", ns, pod, container] => {
                streaming::remote_command(state, streaming::Kind::Exec, ns, pod, container, req)
                    .await
            }
            ["attach", ns, pod, container] => {
                streaming::remote_command(state, streaming::Kind::Attach, ns, pod, container, req)
                    .await
            }
            ["portForward", ns, pod] => streaming::port_forward(state, ns, pod, req).await,
            _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
        };
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        r.headers_mut()
            .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
        return r;
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    if path == "/healthz" {
        return text(StatusCode::OK, "ok");
    }
    match segments.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["containerLogs", ns, pod, container] => {
            container_logs(state, ns, pod, container, &query).await
        }
        ["containerLogs", ..] => text(
            StatusCode::BAD_REQUEST,
            r#"{"message": "Missing container name."}"#,
        ),
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

/// Authentication, then authorization when the API server is asked
/// ([`authz`]); the configured static token (`--kubelet-token`) is the
/// API server's own credential and is not reviewed.
async fn admit<B>(
    state: &KubeletState,
    verified_cert: bool,
    certificate: Option<&authz::Caller>,
    authorization: Option<&str>,
    req: &Request<B>,
) -> Result<(), Response<Body>> {
    let path = req.uri().path();
    let local = auth::authenticate(&state.auth, authorization, verified_cert);
    let Some(access) = &state.access else {
        return local.map(drop).map_err(|e| {
            tracing::debug!(%path, "kubelet endpoint: unauthenticated request");
            text(StatusCode::UNAUTHORIZED, e.to_string())
        });
    };
    if local == Ok(auth::Authenticated::Token) {
        return Ok(());
    }
    let anonymous = authz::Caller {
        name: "system:anonymous".into(),
        uid: String::new(),
        groups: vec!["system:unauthenticated".into()],
    };
    let certificate = certificate.filter(|_| verified_cert && state.auth.client_ca_file.is_some());
    let bearer = authz::bearer(authorization);
    let certificate = match (certificate, bearer) {
        (None, None) if state.auth.anonymous => Some(&anonymous),
        (c, _) => c,
    };
    match access.check(certificate, bearer, req.method(), path).await {
        authz::Verdict::Allowed(_) => Ok(()),
        authz::Verdict::Unauthenticated => {
            tracing::debug!(%path, "kubelet endpoint: unauthenticated request");
            Err(text(StatusCode::UNAUTHORIZED, "Unauthorized"))
        }
        authz::Verdict::Forbidden(why) => {
            tracing::debug!(%path, %why, "kubelet endpoint: request refused");
            Err(text(StatusCode::FORBIDDEN, why))
        }
    }
}

/// The decoded segments of a request path.
fn path_segments(path: &str) -> Vec<String> {
    path.split('/')
        .skip(1)
        .map(|s| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

async fn container_logs(
    state: &KubeletState,
    namespace: &str,
    pod_name: &str,
    container: &str,
    query: &str,
) -> Response<Body> {
    if pod_name.is_empty() {
        return text(StatusCode::BAD_REQUEST, r#"{"message": "Missing podID."}"#);
    }
    if container.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            r#"{"message": "Missing container name."}"#,
        );
    }
    if namespace.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            r#"{"message": "Missing podNamespace."}"#,
        );
    }
    let q = match logs::parse_query(query, jiff::Timestamp::now()) {
        Ok(q) => q,
        Err(e) => {
            return text(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                e.to_string(),
            )
        }
    };
    let Some(known) = state.pods.find(namespace, pod_name) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("pod {pod_name:?} does not exist"),
        );
    };
    let spec = known.pod.spec.clone().unwrap_or_default();
    let in_spec = spec.containers.iter().any(|c| c.name == container)
        || spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.name == container)
        || spec
            .ephemeral_containers
            .iter()
            .flatten()
            .any(|c| c.name == container);
    if !in_spec {
        return text(
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {pod_name:?}"),
        );
    }
    let target = match logs::select_container(&known.status, pod_name, container, q.previous) {
        Ok(t) => t,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let id = target
        .container_id
        .split_once("://")
        .map(|(_, id)| id.to_string())
        .unwrap_or_else(|| target.container_id.clone());
    let path = match state.runtime.status(&id).await {
        Ok(s) if s.log_path.is_file() => s.log_path,
        _ => match fallback_log_path(&known.log_dir.join(container), target.current) {
            Some(p) => p,
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "failed to open log file for container {container:?} in pod {pod_name:?}"
                    ),
                )
            }
        },
    };
    let (tx, rx) = mpsc::channel(16);
    let runtime = state.runtime.clone();
    let options = q.options.clone();
    let reader_path = path.clone();
    tokio::spawn(async move {
        let running = move || {
            let runtime = runtime.clone();
            let id = id.clone();
            let fut: futures::future::BoxFuture<'static, bool> = Box::pin(async move {
                matches!(runtime.status(&id).await, Ok(s) if s.state == ContainerStateKind::Running)
            });
            fut
        };
        if let Err(e) = logs::read_logs(&reader_path, &options, running, tx.clone()).await {
            tracing::warn!(path = %reader_path.display(), error = %e, "reading container log failed");
            let _ = tx.send(Err(e)).await;
        }
    });
    let body = StreamBody::new(ReceiverStream::new(rx).map(|r| r.map(Frame::data)));
    let mut response = Response::new(BodyExt::boxed(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Without the runtime's word: `<n>.log` files of the container; the
/// newest for the current instance, the one before for the previous.
fn fallback_log_path(dir: &Path, current: bool) -> Option<PathBuf> {
    let mut attempts: Vec<u64> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".log")?
                .parse::<u64>()
                .ok()
        })
        .collect();
    attempts.sort_unstable();
    let pick = if current {
        attempts.last()
    } else {
        attempts.iter().rev().nth(1)
    }?;
    Some(dir.join(format!("{pick}.log")))
}
