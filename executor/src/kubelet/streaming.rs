//! `/exec`, `/attach` and `/portForward` on the kubelet endpoint: what
//! `kubectl exec`, `attach`, `cp` and `port-forward` reach through the API
//! server (kubelet `pkg/kubelet/server/server.go` and
//! `pkg/kubelet/cri/streaming`).
//!
//! Errors before the upgrade are plain HTTP answers worded as the kubelet
//! words them (an API server relays them: kubectl prints `unable to upgrade
//! connection: <body>`). Then either the runtime has a stream server and
//! the upgrade is proxied to it (CRI), or the session is served here over
//! SPDY/3.1 or WebSocket and relayed to the runtime's stdio.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kube_mesos_httpstream::portforward;
use kube_mesos_httpstream::remotecommand::{
    self, Outcome, Session, StreamOptions, STREAM_CREATION_TIMEOUT,
};
use kube_mesos_httpstream::spdy::{self, Role};
use kube_mesos_httpstream::upgrade::{self, PROTOCOL_VERSION_HEADER, WEBSOCKET_PROTOCOL_HEADER};

use super::{text, Body, KnownPod, KubeletState};
use crate::runner::runtime::{
    ContainerStateKind, RuntimeError, StdioRequest, StdioSession, StreamingEndpoint,
    StreamingRefusal, TerminalSize,
};

/// How long output may still arrive after an exec'd command exited (a
/// background child may hold its pipes open forever).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// exec or attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/exec`.
    Exec,
    /// `/attach`.
    Attach,
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// The running container `name` of the pod, as the kubelet's
/// `findContainer` (running containers only).
async fn running_container(
    state: &KubeletState,
    known: &KnownPod,
    name: &str,
) -> Result<String, Response<Body>> {
    let not_found = || {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("container not found ({name:?})"),
        )
    };
    let statuses = known
        .status
        .container_statuses
        .iter()
        .flatten()
        .chain(known.status.init_container_statuses.iter().flatten());
    for cs in statuses.filter(|c| c.name == name) {
        let Some(id) = cs.container_id.as_deref().filter(|i| !i.is_empty()) else {
            continue;
        };
        let id = id.split_once("://").map(|(_, i)| i).unwrap_or(id);
        if matches!(state.runtime.status(id).await, Ok(s) if s.state == ContainerStateKind::Running)
        {
            return Ok(id.to_string());
        }
    }
    Err(not_found())
}

/// Serves `/exec/{ns}/{pod}/{container}` and `/attach/...`.
pub async fn remote_command<B>(
    state: &KubeletState,
    kind: Kind,
    namespace: &str,
    pod: &str,
    container: &str,
    mut req: Request<B>,
) -> Response<Body> {
    let query = query_pairs(req.uri().query().unwrap_or_default());
    let mut options = match StreamOptions::from_kubelet_query(&query) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let command: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let Some(known) = state.pods.find(namespace, pod) else {
        return text(StatusCode::NOT_FOUND, "pod does not exist");
    };
    let id = match running_container(state, &known, container).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    if kind == Kind::Attach {
        // As the kubelet: whether the process runs on a terminal is the
        // container's, not the client's, to decide.
        let spec_tty = known
            .pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .find(|c| c.name == container)
            .and_then(|c| c.tty)
            .unwrap_or(false);
        options.tty = spec_tty;
        if spec_tty {
            options.stderr = false;
        }
    }
    let request = StdioRequest {
        stdin: options.stdin,
        stdout: options.stdout,
        stderr: options.stderr,
        tty: options.tty,
    };
    let endpoint = match kind {
        Kind::Exec => state.runtime.exec_endpoint(&id, &command, request).await,
        Kind::Attach => state.runtime.attach_endpoint(&id, request).await,
    };
    match endpoint {
        Ok(StreamingEndpoint::Url(url)) => return super::proxy::upgrade(&url, req).await,
        Ok(StreamingEndpoint::InProcess) => {}
        Err(e) => return runtime_refusal(&e),
    }
    let headers = req.headers().clone();
    let on_upgrade = hyper::upgrade::on(&mut req);
    let runtime = state.runtime.clone();
    let run = move |session: Session| async move {
        let stdio = match kind {
            Kind::Exec => runtime.exec_session(&id, &command, request).await,
            Kind::Attach => runtime.attach_session(&id, request).await,
        };
        match stdio {
            Ok(stdio) => relay(session, stdio).await,
            Err(e) => {
                let what = match kind {
                    Kind::Exec => "error executing command in container",
                    Kind::Attach => "error attaching to container",
                };
                session.finish(Outcome::Error(format!("{what}: {e}"))).await
            }
        }
    };
    if upgrade::is_websocket(&headers) {
        let offered = upgrade::header_list(&headers, WEBSOCKET_PROTOCOL_HEADER);
        let protocol = if offered.is_empty() {
            String::new()
        } else {
            match upgrade::negotiate(&offered, remotecommand::websocket::KUBELET_PROTOCOLS) {
                Some(p) => p,
                None => {
                    return text(
                        StatusCode::FORBIDDEN,
                        format!(
                            "requested protocol(s) are not supported: {offered:?}; supports {:?}",
                            remotecommand::websocket::KUBELET_PROTOCOLS
                        ),
                    )
                }
            }
        };
        let switching = match upgrade::websocket_switching(&headers, Some(&protocol)) {
            Ok(r) => r,
            Err(e) => return text(StatusCode::BAD_REQUEST, e),
        };
        tokio::spawn(async move {
            let Ok(io) = on_upgrade.await else {
                return;
            };
            let ws = upgrade::websocket_server(io).await;
            run(remotecommand::websocket::serve(ws, &protocol, options)).await;
        });
        return switching.map(|()| super::empty());
    }
    if !upgrade::is_spdy(&headers) {
        return text(
            StatusCode::BAD_REQUEST,
            "unable to upgrade: missing upgrade headers in request",
        );
    }
    let offered = upgrade::header_list(&headers, PROTOCOL_VERSION_HEADER);
    let protocol = if offered.is_empty() {
        remotecommand::PROTOCOL_V1.to_string()
    } else {
        match upgrade::negotiate(&offered, remotecommand::SPDY_PROTOCOLS) {
            Some(p) => p,
            None => return refuse_protocols(&offered, remotecommand::SPDY_PROTOCOLS),
        }
    };
    let switching = upgrade::spdy_switching(Some(&protocol)).map(|()| super::empty());
    tokio::spawn(async move {
        let Ok(io) = on_upgrade.await else {
            return;
        };
        let (conn, incoming) = spdy::Connection::new(TokioIo::new(io), Role::Server);
        match remotecommand::spdy::accept(
            conn,
            incoming,
            &protocol,
            options,
            STREAM_CREATION_TIMEOUT,
        )
        .await
        {
            Ok(session) => run(session).await,
            Err(e) => tracing::info!(error = %e, "exec/attach: client did not open its streams"),
        }
    });
    switching
}

/// A runtime's refusal to prepare a session, as the kubelet's
/// `streaming.WriteError` answers it: 404 for an unknown container or
/// sandbox, 429 with `Retry-After` (the stream server's one-minute token
/// lifetime) when it is busy, 500 otherwise; the body is the error's text.
fn runtime_refusal(e: &RuntimeError) -> Response<Body> {
    let status = match e {
        RuntimeError::StreamingRefused {
            refusal: StreamingRefusal::NotFound,
            ..
        }
        | RuntimeError::ContainerNotFound(_) => StatusCode::NOT_FOUND,
        RuntimeError::StreamingRefused {
            refusal: StreamingRefusal::Busy,
            ..
        } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut r = text(status, e.to_string());
    if status == StatusCode::TOO_MANY_REQUESTS {
        r.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("60"),
        );
    }
    r
}

/// 403 with the protocols this side accepts (`httpstream.Handshake`).
fn refuse_protocols(offered: &[String], accepted: &[&str]) -> Response<Body> {
    let mut r = text(
        StatusCode::FORBIDDEN,
        format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {accepted:?}"
        ),
    );
    for p in accepted {
        if let Ok(v) = http::HeaderValue::from_str(p) {
            r.headers_mut()
                .append(upgrade::ACCEPTED_PROTOCOLS_HEADER, v);
        }
    }
    r
}

/// Relays a client session and a process's stdio until the process ends.
async fn relay(mut session: Session, stdio: StdioSession) {
    let StdioSession {
        stdin,
        stdout,
        stderr,
        resize,
        done,
    } = stdio;
    if let (Some(mut from), Some(to)) = (session.stdin.take(), stdin) {
        tokio::spawn(async move {
            while let Some(b) = from.recv().await {
                if to.send(b).await.is_err() {
                    return;
                }
            }
        });
    }
    if let (Some(mut from), Some(to)) = (session.resize.take(), resize) {
        tokio::spawn(async move {
            while let Some(s) = from.recv().await {
                let size = TerminalSize {
                    width: s.width,
                    height: s.height,
                };
                if to.send(size).await.is_err() {
                    return;
                }
            }
        });
    }
    let mut outputs = Vec::new();
    for (from, to) in [
        (stdout, session.stdout.take()),
        (stderr, session.stderr.take()),
    ] {
        if let (Some(mut from), Some(to)) = (from, to) {
            outputs.push(tokio::spawn(async move {
                while let Some(b) = from.recv().await {
                    if to.send(b).await.is_err() {
                        return;
                    }
                }
            }));
        }
    }
    let outcome = match done.await {
        Ok(Some(0) | None) => Outcome::Success,
        Ok(Some(code)) => Outcome::ExitCode(code),
        Err(e) => Outcome::Error(format!("error executing command in container: {e}")),
    };
    for t in outputs {
        let abort = t.abort_handle();
        if tokio::time::timeout(OUTPUT_DRAIN, t).await.is_err() {
            abort.abort();
        }
    }
    session.finish(outcome).await;
}

/// Serves `/portForward/{ns}/{pod}` (SPDY; each forwarded connection is a
/// pair of streams, `data` and `error`, sharing a `requestID`).
pub async fn port_forward<B>(
    state: &KubeletState,
    namespace: &str,
    pod: &str,
    mut req: Request<B>,
) -> Response<Body> {
    let Some(known) = state.pods.find(namespace, pod) else {
        return text(StatusCode::NOT_FOUND, "pod does not exist");
    };
    let uid = known.pod.metadata.uid.clone().unwrap_or_default();
    let ports: Vec<u16> = query_pairs(req.uri().query().unwrap_or_default())
        .into_iter()
        .filter(|(k, _)| k == "port")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    match state.runtime.port_forward_endpoint(&uid, &ports).await {
        Ok(StreamingEndpoint::Url(url)) => return super::proxy::upgrade(&url, req).await,
        Ok(StreamingEndpoint::InProcess) => {}
        Err(e) => return runtime_refusal(&e),
    }
    let headers = req.headers().clone();
    if !upgrade::is_spdy(&headers) {
        return text(
            StatusCode::BAD_REQUEST,
            "unable to upgrade: missing upgrade headers in request",
        );
    }
    let offered = upgrade::header_list(&headers, PROTOCOL_VERSION_HEADER);
    let Some(protocol) = upgrade::negotiate(&offered, &[portforward::PROTOCOL_V1]) else {
        return refuse_protocols(&offered, &[portforward::PROTOCOL_V1]);
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let runtime = state.runtime.clone();
    let pod = pod.to_string();
    let switching = upgrade::spdy_switching(Some(&protocol)).map(|()| super::empty());
    tokio::spawn(async move {
        let Ok(io) = on_upgrade.await else {
            return;
        };
        let (conn, incoming) = spdy::Connection::new(TokioIo::new(io), Role::Server);
        portforward::serve(conn, incoming, move |port| {
            let runtime = runtime.clone();
            let uid = uid.clone();
            let pod = pod.clone();
            async move {
                runtime.dial_port(&uid, port).await.map_err(|e| {
                    format!("error forwarding port {port} to pod {pod}, uid {uid}: {e}")
                })
            }
        })
        .await;
    });
    switching
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(refusal: StreamingRefusal) -> RuntimeError {
        RuntimeError::StreamingRefused {
            call: "Exec",
            refusal,
            message: "rpc error: code = X desc = y".into(),
        }
    }

    #[test]
    fn runtime_refusals_answer_as_the_kubelets_write_error() {
        let r = runtime_refusal(&refused(StreamingRefusal::NotFound));
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = runtime_refusal(&refused(StreamingRefusal::Busy));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            r.headers()
                .get(http::header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"60"[..])
        );
        let r = runtime_refusal(&refused(StreamingRefusal::Failed));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.headers().get(http::header::RETRY_AFTER).is_none());
    }
}
