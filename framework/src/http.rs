//! The framework's HTTP endpoint: `/healthz`, `/readyz`, `/metrics`, and the
//! status page ([`crate::status`]) at `/`.
//!
//! Readiness follows the replica's role, because a load balancer or a
//! Kubernetes Service in front of several replicas should only send web-UI
//! traffic to one that works:
//!
//! - the **leader** is ready once it is subscribed to Mesos (it has a
//!   framework ID and receives offers);
//! - a **standby** is ready while it is healthy, i.e. its last leader-election
//!   attempt reached the API server and saw the lease — it can take over;
//! - a replica that is **draining** after SIGTERM is not ready.
//!
//! `/healthz` is liveness only: 200 while the run loop is alive.
//!
//! The server takes a bound listener and a shutdown future (STYLE.md 5).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::status::{self, Board};

/// Shared state the endpoints report on. The run loop updates it.
#[derive(Debug, Default)]
pub struct Health {
    /// Prometheus metrics; also the source of `leader` and `subscribed`.
    pub metrics: Arc<Metrics>,
    /// What the status page shows; the run loop publishes on it.
    pub status: Arc<Board>,
    alive: AtomicBool,
    standby_healthy: AtomicBool,
    draining: AtomicBool,
}

/// What `/readyz` decides from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// Holds the leader lease (or runs without election).
    pub leader: bool,
    /// Subscribed to Mesos.
    pub subscribed: bool,
    /// The last election attempt reached the API server.
    pub standby_healthy: bool,
    /// Shutting down.
    pub draining: bool,
}

impl Readiness {
    /// The readiness rule of the module docs.
    pub fn is_ready(&self) -> bool {
        if self.draining {
            return false;
        }
        if self.leader {
            self.subscribed
        } else {
            self.standby_healthy
        }
    }
}

impl Health {
    /// Health over the given metrics, alive and not yet ready.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            status: Arc::new(Board::new(metrics.clone())),
            metrics,
            alive: AtomicBool::new(true),
            standby_healthy: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
    }

    /// Marks the run loop alive or dead (liveness).
    pub fn set_alive(&self, alive: bool) {
        self.alive.store(alive, Ordering::Relaxed);
    }

    /// Records whether the last election attempt reached the API server.
    pub fn set_standby_healthy(&self, healthy: bool) {
        self.standby_healthy.store(healthy, Ordering::Relaxed);
    }

    /// Marks the replica as draining (SIGTERM received).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Current inputs of the readiness rule.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            leader: self.metrics.is_leader(),
            subscribed: self.metrics.is_subscribed(),
            standby_healthy: self.standby_healthy.load(Ordering::Relaxed),
            draining: self.draining.load(Ordering::Relaxed),
        }
    }
}

/// The router, for embedding or testing without a socket.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health.clone())
        .merge(status::router(health.status.clone()))
}

/// Serves the endpoints on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(health))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    if health.alive.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "run loop stopped\n")
    }
}

async fn readyz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let r = health.readiness();
    let role = if r.leader { "leader" } else { "standby" };
    if r.is_ready() {
        (StatusCode::OK, format!("ok ({role})\n"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready ({role}, subscribed={}, standby_healthy={}, draining={})\n",
                r.subscribed, r.standby_healthy, r.draining
            ),
        )
    }
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    // The core's gauges are copied when the status is published.
    health.status.fresh().await;
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        health.metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_rule() {
        let base = Readiness {
            leader: false,
            subscribed: false,
            standby_healthy: false,
            draining: false,
        };
        assert!(!base.is_ready());
        assert!(Readiness {
            standby_healthy: true,
            ..base
        }
        .is_ready());
        assert!(!Readiness {
            leader: true,
            standby_healthy: true,
            ..base
        }
        .is_ready());
        assert!(Readiness {
            leader: true,
            subscribed: true,
            ..base
        }
        .is_ready());
        assert!(!Readiness {
            leader: true,
            subscribed: true,
            draining: true,
            ..base
        }
        .is_ready());
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn endpoints_answer_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Arc::new(Health::new(Arc::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, health.clone(), async {
            let _ = stopped.await;
        }));
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        health.metrics.set_leader(true);
        health.metrics.set_subscribed(true);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        let body = get(addr, "/metrics").await;
        assert!(body.contains("kube_mesos_subscribed 1"));
        let page = get(addr, "/").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("<section id=\"framework\">"));
        assert!(page.contains("not scheduling"), "no core published yet");
        let json = get(addr, "/status.json").await;
        assert!(json.contains("\"leader\":true"), "{json}");
        assert!(get(addr, "/status/body").await.contains("id=\"recent\""));
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
