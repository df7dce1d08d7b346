//! An embedded Kubernetes API server for `kube-mesos local` and tests.
//!
//! Production talks to a real kube-apiserver; this one serves the subset we
//! use (core/v1 namespaces, pods with status/binding/log/exec/attach/portforward, nodes, events,
//! configmaps, secrets, serviceaccounts; coordination.k8s.io/v1 leases;
//! events.k8s.io/v1 events; scheduling.k8s.io/v1 priorityclasses; apps/v1 deployments and replicasets with
//! status/scale, batch/v1 jobs with status) with the same wire behaviour,
//! and runs the controllers that make those workloads work (`controllers`:
//! deployment, replicaset, job, garbage collector), so kubectl and
//! kube-rs work against it unchanged: discovery and OpenAPI v3 as kubectl
//! reads them, Status errors with kube-apiserver's codes and messages,
//! resourceVersion/watch/410 semantics, three patch formats, Table printing,
//! graceful pod deletion, deletion propagation and a durable store.
//!
//! Layout (private modules unless noted): `store` (objects, rv, history,
//! persistence), `watch` (streams), `strategy` (per-resource defaulting and
//! validation; `workloads` for the workload kinds), `priority` (Priority
//! admission and PriorityClasses), `patch`, `table`
//! (`workload_table`), `scale`, `propagation`, `label_selector`,
//! `controllers`, `discovery`, `protobuf` (kubectl's
//! protobuf bodies), `handlers` (verbs), `server` (HTTP shell), public
//! [`logs`] (kubelet proxy and its client), `streaming` (exec, attach and
//! port-forward to kubelets), [`tls`] (CA and serving cert),
//! [`config`] and [`error`] (Status bodies).
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_mesos_devcluster::apiserver::ApiServerError> {
//! use kube_mesos_devcluster::apiserver::{ApiServer, ApiServerConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(kube_mesos_devcluster::apiserver::ApiServerError::ServeFailed)?;
//! let server = ApiServer::start(ApiServerConfig::new("/tmp/kube", "secret"), listener).await?;
//! println!("{}", server.kubeconfig());
//! server.shutdown().await
//! # }
//! ```

mod admission;
pub mod auth;
mod certificates;
pub mod config;
mod controllers;
mod discovery;
pub mod error;
mod eviction;
mod handlers;
mod label_selector;
pub mod logs;
mod meta;
mod openapi_v2;
mod patch;
mod pod_checks;
mod priority;
mod propagation;
mod protobuf;
mod request;
mod resources;
mod reviews;
mod scale;
pub mod selector;
mod server;
mod store;
mod strategy;
mod streaming;
mod table;
pub mod tls;
mod typed;
mod watch;
mod workload_table;
mod workloads;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch as signal;

pub use config::{ApiServerConfig, KubeletScheme};
pub use error::{ApiServerError, Result, StatusError};

/// Serves until `shutdown` completes; open watches are ended on shutdown.
/// The listener speaks HTTPS (see [`ca_pem`]) and plain HTTP on the same port.
pub async fn serve(
    config: ApiServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let built = build(config, &listener)?;
    run(listener, built, shutdown).await
}

/// The CA certificate (PEM) the server in `data_dir` serves with, creating
/// it if needed: what a kubeconfig's `certificate-authority-data` holds.
pub fn ca_pem(data_dir: &Path) -> Result<String> {
    std::fs::create_dir_all(data_dir).map_err(|source| ApiServerError::CreateDataDirFailed {
        path: data_dir.to_path_buf(),
        source,
    })?;
    Ok(tls::load_or_create(data_dir)?.ca_pem)
}

/// How long shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

struct Built {
    ctx: Arc<server::Ctx>,
    router: axum::Router,
    tls: tls::ServingTls,
}

fn build(config: ApiServerConfig, listener: &tokio::net::TcpListener) -> Result<Built> {
    let store = Arc::new(store::Store::open(
        &config.data_dir,
        config.history_size,
        config.compact_every,
    )?);
    handlers::bootstrap(&store).map_err(|e| ApiServerError::WriteStoreFailed {
        path: config.data_dir.clone(),
        source: std::io::Error::other(e.message),
    })?;
    let tls = tls::load_or_create(&config.data_dir)?;
    let kubelet_identity = tls::kubelet_client_identity(&tls)?;
    let local = listener.local_addr().map_err(ApiServerError::ServeFailed)?;
    let address = local.to_string();
    if let Some(path) = &config.kubeconfig_path {
        // A wildcard bind is reached through loopback (the certificate's SAN).
        let host = if local.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], local.port()))
        } else {
            local
        };
        write_kubeconfig(
            path,
            &format!("https://{host}"),
            &config.token,
            Some(&tls.ca_pem),
        )
        .map_err(|source| ApiServerError::WriteStoreFailed {
            path: path.clone(),
            source,
        })?;
    }
    let (closing, _) = signal::channel(0u64);
    let ctx = Arc::new(server::Ctx {
        store,
        watch_lines: Arc::default(),
        config,
        kubelet: logs::kubelet_client(Some(&kubelet_identity))?,
        kubelet_tls: Arc::new(
            logs::kubelet_tls(Some(&kubelet_identity))
                .map_err(|e| ApiServerError::TlsSetupFailed(Box::new(e)))?,
        ),
        closing,
        address,
    });
    let router = axum::Router::new()
        .fallback(server::handle)
        .with_state(ctx.clone());
    Ok(Built { ctx, router, tls })
}

/// Serves one connection until it ends or `stop` asks for a graceful close.
async fn serve_connection<I>(io: I, router: axum::Router, mut stop: signal::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, TowerToHyperService::new(router))
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn run(
    listener: tokio::net::TcpListener,
    built: Built,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let Built { ctx, router, tls } = built;
    let (stop_tx, stop_rx) = signal::channel(false);
    let controllers = ctx.config.controllers.then(|| {
        let signer = certificates::Signer {
            ca_pem: tls.ca_pem.clone(),
            ca_key_pem: tls.ca_key_pem.clone(),
            max_duration: ctx.config.csr_signing_duration,
        };
        tokio::spawn(controllers::run(
            ctx.store.clone(),
            Some(signer),
            stop_rx.clone(),
        ))
    });
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let router = router.clone();
                let acceptor = tls.acceptor.clone();
                let stop = stop_rx.clone();
                conns.spawn(async move {
                    // A TLS ClientHello starts with the handshake record type 0x16.
                    let mut first = [0u8; 1];
                    let is_tls = matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 0x16);
                    if is_tls {
                        match acceptor.accept(stream).await {
                            Ok(s) => {
                                let user = s
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(|chain| chain.first())
                                    .and_then(|cert| auth::authn::user_of_certificate(cert));
                                let router = router.layer(axum::Extension(server::ClientCertUser(user)));
                                serve_connection(TokioIo::new(s), router, stop).await
                            }
                            Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        }
                    } else {
                        serve_connection(TokioIo::new(stream), router, stop).await;
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    ctx.closing.send_modify(|e| *e += 1);
    let _ = stop_tx.send(true);
    if let Some(c) = controllers {
        if let Err(e) = c.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    // Watches end at once; a request still streaming (a followed log) gets
    // a bounded grace period, then its connection is dropped.
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; dropping them");
        conns.abort_all();
    }
    Ok(())
}

/// A running server started by [`ApiServer::start`].
pub struct ApiServer {
    addr: SocketAddr,
    token: String,
    ca_pem: String,
    closing: signal::Sender<u64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl ApiServer {
    /// Opens the store and starts serving on `listener` in a task. The
    /// server is ready when this returns.
    pub async fn start(config: ApiServerConfig, listener: tokio::net::TcpListener) -> Result<Self> {
        let addr = listener.local_addr().map_err(ApiServerError::ServeFailed)?;
        let token = config.token.clone();
        let built = build(config, &listener)?;
        let closing = built.ctx.closing.clone();
        let ca_pem = built.tls.ca_pem.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, built, async move {
            let _ = rx.await;
        }));
        tracing::info!(%addr, "api server listening");
        Ok(Self {
            addr,
            token,
            ca_pem,
            closing,
            shutdown: Some(tx),
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<addr>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The CA certificate (PEM) of the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig for this server.
    pub fn kubeconfig(&self) -> String {
        kubeconfig_yaml(&self.url(), &self.token, Some(&self.ca_pem))
    }

    /// Ends every open watch, as an API server restart would; clients
    /// re-watch from their last resourceVersion. For tests.
    pub fn close_watches(&self) {
        self.closing.send_modify(|e| *e += 1);
    }

    /// Graceful shutdown: stop accepting, end watches, wait for the task.
    /// Re-raises a panic of the server task.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Ok(()),
        }
    }

    /// Stops the server abruptly, as a crash would: connections are dropped
    /// mid-flight; what was acknowledged is already in the log.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// A kubeconfig (YAML) pointing at `server_url` with a bearer token and,
/// for https, the CA that signed the serving certificate.
pub fn kubeconfig_yaml(server_url: &str, token: &str, ca_pem: Option<&str>) -> String {
    use base64::Engine;
    let ca = ca_pem
        .map(|pem| {
            format!(
                "\n    certificate-authority-data: {}",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kube-mesos
  cluster:
    server: {server_url}{ca}
contexts:
- name: kube-mesos
  context:
    cluster: kube-mesos
    namespace: default
    user: kube-mesos
current-context: kube-mesos
preferences: {{}}
users:
- name: kube-mesos
  user:
    token: {token}
"
    )
}

/// Writes [`kubeconfig_yaml`] to `path` (mode 0600 on Unix).
pub fn write_kubeconfig(
    path: &Path,
    server_url: &str,
    token: &str,
    ca_pem: Option<&str>,
) -> std::io::Result<()> {
    std::fs::write(path, kubeconfig_yaml(server_url, token, ca_pem))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
