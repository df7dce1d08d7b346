//! CRI `Exec`, `Attach` and `PortForward`: the runtime prepares a session
//! and answers with a URL on its own stream server (containerd's is plain
//! HTTP on `stream_server_address`, loopback by default), which the kubelet
//! endpoint proxies the client's upgrade to, as the kubelet's `proxyStream`
//! does. The URL carries a single-use token that the stream server forgets
//! after a minute, so it is asked for per request and never kept.
//!
//! Errors keep the runtime's gRPC text, which is what the kubelet answers
//! (`streaming.WriteError`), with the refusal kind that picks the HTTP
//! status.

use tonic::{Code, Status};

use super::{proto, status_text, CriRuntime};
use crate::runner::runtime::{Result, RuntimeError, StdioRequest, StreamingRefusal};

/// The refusal of a streaming call, as the kubelet classifies gRPC codes.
pub fn refused(call: &'static str, s: &Status) -> RuntimeError {
    let refusal = match s.code() {
        Code::NotFound => StreamingRefusal::NotFound,
        Code::ResourceExhausted => StreamingRefusal::Busy,
        _ => StreamingRefusal::Failed,
    };
    RuntimeError::StreamingRefused {
        call,
        refusal,
        message: status_text(s),
    }
}

/// The URL of an answer; an empty one is the CRI client's "URL is not set".
fn url_of(call: &'static str, url: String) -> Result<String> {
    if url.is_empty() {
        return Err(RuntimeError::StreamingRefused {
            call,
            refusal: StreamingRefusal::Failed,
            message: "URL is not set".into(),
        });
    }
    Ok(url)
}

/// The sandbox to forward into, as the kubelet's `getSandboxIDByPodUID`
/// picks it (newest first), preferring a ready one.
pub fn forward_sandbox(sandboxes: &[proto::PodSandbox]) -> Option<&proto::PodSandbox> {
    let ready = proto::PodSandboxState::SandboxReady as i32;
    sandboxes
        .iter()
        .max_by_key(|s| (s.state == ready, s.created_at))
}

impl CriRuntime {
    /// CRI `Exec`: the stream server URL for `cmd` in container `id`.
    pub(super) async fn exec_url(
        &self,
        id: &str,
        cmd: &[String],
        request: StdioRequest,
    ) -> Result<String> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::ExecRequest {
                container_id: id.to_string(),
                cmd: cmd.to_vec(),
                tty: request.tty,
                stdin: request.stdin,
                stdout: request.stdout,
                stderr: request.stderr && !request.tty,
            },
            t,
        );
        let resp = self
            .timed(t, self.client.runtime.clone().exec(req))
            .await
            .map_err(|s| refused("Exec", &s))?;
        url_of("Exec", resp.url)
    }

    /// CRI `Attach`: the stream server URL for container `id`'s stdio.
    /// `request.tty` must be the container's own setting.
    pub(super) async fn attach_url(&self, id: &str, request: StdioRequest) -> Result<String> {
        let t = self.config.request_timeout;
        let req = self.request(
            proto::AttachRequest {
                container_id: id.to_string(),
                stdin: request.stdin,
                tty: request.tty,
                stdout: request.stdout,
                stderr: request.stderr && !request.tty,
            },
            t,
        );
        let resp = self
            .timed(t, self.client.runtime.clone().attach(req))
            .await
            .map_err(|s| refused("Attach", &s))?;
        url_of("Attach", resp.url)
    }

    /// CRI `PortForward`: the stream server URL for the pod's sandbox.
    /// `ports` are the ones a WebSocket client named up front (SPDY
    /// clients name them per stream, and send none here).
    pub(super) async fn port_forward_url(&self, pod_uid: &str, ports: &[u16]) -> Result<String> {
        let sandboxes = self
            .list_sandboxes(Some(pod_uid))
            .await
            .map_err(|s| refused("ListPodSandbox", &s))?;
        let Some(sandbox) = forward_sandbox(&sandboxes) else {
            return Err(RuntimeError::StreamingRefused {
                call: "PortForward",
                refusal: StreamingRefusal::Failed,
                message: format!("failed to find sandboxID for pod {pod_uid}"),
            });
        };
        let t = self.config.request_timeout;
        let req = self.request(
            proto::PortForwardRequest {
                pod_sandbox_id: sandbox.id.clone(),
                port: ports.iter().map(|p| i32::from(*p)).collect(),
            },
            t,
        );
        let resp = self
            .timed(t, self.client.runtime.clone().port_forward(req))
            .await
            .map_err(|s| refused("PortForward", &s))?;
        url_of("PortForward", resp.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_grpc_text_and_classify_the_code() {
        let e = refused("Exec", &Status::not_found("container \"x\" not found"));
        assert!(matches!(
            &e,
            RuntimeError::StreamingRefused {
                refusal: StreamingRefusal::NotFound,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "rpc error: code = NotFound desc = container \"x\" not found"
        );
        assert!(matches!(
            refused("Attach", &Status::resource_exhausted("busy")),
            RuntimeError::StreamingRefused {
                refusal: StreamingRefusal::Busy,
                ..
            }
        ));
        assert!(matches!(
            refused(
                "PortForward",
                &Status::unknown("sandbox container is not running")
            ),
            RuntimeError::StreamingRefused {
                refusal: StreamingRefusal::Failed,
                ..
            }
        ));
        assert_eq!(
            url_of("Exec", String::new())
                .expect_err("empty")
                .to_string(),
            "URL is not set"
        );
    }

    #[test]
    fn port_forward_picks_the_newest_ready_sandbox() {
        let sb = |id: &str, ready: bool, created_at: i64| proto::PodSandbox {
            id: id.into(),
            state: if ready {
                proto::PodSandboxState::SandboxReady as i32
            } else {
                proto::PodSandboxState::SandboxNotready as i32
            },
            created_at,
            ..Default::default()
        };
        let all = [sb("old", true, 1), sb("dead", false, 3), sb("new", true, 2)];
        assert_eq!(forward_sandbox(&all).map(|s| s.id.as_str()), Some("new"));
        let none_ready = [sb("a", false, 1), sb("b", false, 2)];
        assert_eq!(
            forward_sandbox(&none_ready).map(|s| s.id.as_str()),
            Some("b")
        );
        assert!(forward_sandbox(&[]).is_none());
    }
}
