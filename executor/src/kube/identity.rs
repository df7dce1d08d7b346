//! The node's own identity: kubelet TLS bootstrapping.
//!
//! An executor starts with a bootstrap kubeconfig (a file on the agent
//! host; its credential may only create and read CertificateSigningRequests)
//! and, once the agent has said which node it serves, becomes
//! `system:node:<node>` in `system:nodes` — the identity the Node
//! authorizer and NodeRestriction confine to that node's pods, secrets and
//! objects. As the kubelet does (`pkg/kubelet/certificate/bootstrap`):
//!
//! 1. a client certificate under the root dir
//!    (`pki/kubelet-client-current.pem`, key and certificate, mode 0600)
//!    that names this node and has not expired is used as it is;
//! 2. otherwise a new key is made and a CSR for `CN=system:node:<node>,
//!    O=system:nodes` with signer `kubernetes.io/kube-apiserver-client-kubelet`
//!    and usages `digital signature, client auth` is created with the
//!    bootstrap credential, and the executor waits until it is approved
//!    and signed (kube-controller-manager does both on a real cluster);
//! 3. the certificate is renewed with the node's own identity at a jittered
//!    70–90 % of its lifetime (`nextRotationDeadline`), and the client every
//!    part of the executor holds switches to it at once ([`NodeIdentity::client`]
//!    delegates each request to the current credential).
//!
//! The private key never leaves this file's directory and is never logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::ByteString;
use kube::api::{ObjectMeta, PostParams};

/// The signer of kubelet client certificates.
pub const SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The file holding the current key and certificate, under the cert dir.
pub const CURRENT: &str = "kubelet-client-current.pem";

/// Why the node identity could not be had. [`IdentityError::NotIssued`]
/// and [`IdentityError::ApiFailed`] are worth retrying; the others need an
/// operator (a readable bootstrap kubeconfig, a writable root dir).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The bootstrap kubeconfig could not be read or used.
    #[error("reading the bootstrap kubeconfig {path} failed")]
    BootstrapConfigFailed {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A client could not be built from the credential.
    #[error("building a Kubernetes client with the {which} credential failed")]
    ClientFailed {
        /// `bootstrap` or `node`.
        which: &'static str,
        /// Cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Making the key or the request failed.
    #[error("generating the node's key and certificate request failed")]
    KeyFailed(#[source] rcgen::Error),
    /// An API call failed.
    #[error("{what} failed")]
    ApiFailed {
        /// The call.
        what: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// The CSR was denied or failed, or no certificate came in time.
    #[error("certificate signing request {name} was not issued: {why}")]
    NotIssued {
        /// The CSR.
        name: String,
        /// Denied, Failed (with its message), or the wait that ran out.
        why: String,
    },
    /// The issued certificate or the stored file is not usable.
    #[error("the certificate is not usable: {0}")]
    CertificateInvalid(String),
    /// The key and certificate could not be stored.
    #[error("storing the node's certificate in {path} failed")]
    StoreFailed {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// What the executor knows of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject's common name.
    pub common_name: String,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds).
    pub not_after: i64,
}

/// When to renew: `not_before` plus `fraction` of the lifetime; the
/// kubelet picks `fraction` at random in [0.7, 0.9).
pub fn rotation_deadline(cert: &CertInfo, fraction: f64) -> i64 {
    let life = (cert.not_after - cert.not_before).max(0) as f64;
    cert.not_before + (life * fraction.clamp(0.0, 1.0)) as i64
}

/// A fraction of the lifetime in [0.7, 0.9).
pub fn jittered_fraction() -> f64 {
    0.7 + 0.2 * rand::random::<f64>()
}

/// The DER of each PEM block of type `label`.
fn pem_blocks(pem: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let body: String = after[..stop].split_whitespace().collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) {
            out.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

/// Subject and validity of the first certificate in `pem`.
pub fn cert_info(pem: &str) -> Result<CertInfo, IdentityError> {
    let der = pem_blocks(pem, "CERTIFICATE")
        .into_iter()
        .next()
        .ok_or_else(|| IdentityError::CertificateInvalid("no CERTIFICATE block".into()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| IdentityError::CertificateInvalid(e.to_string()))?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok(CertInfo {
        common_name,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// The node's user name.
pub fn node_user(node: &str) -> String {
    format!("system:node:{node}")
}

/// A key and a PKCS#10 request for `node`'s client certificate: (key PEM,
/// request PEM).
pub fn new_request(node: &str) -> Result<(String, String), IdentityError> {
    let key = rcgen::KeyPair::generate().map_err(IdentityError::KeyFailed)?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(IdentityError::KeyFailed)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, node_user(node));
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:nodes");
    let csr = params
        .serialize_request(&key)
        .map_err(IdentityError::KeyFailed)?;
    let pem = csr.pem().map_err(IdentityError::KeyFailed)?;
    Ok((key.serialize_pem(), pem))
}

/// How long to wait for a CSR to be issued, and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueWait {
    /// Give up after this long. Default 15 minutes (the kubelet waits
    /// about as long before it restarts).
    pub timeout: Duration,
    /// First poll interval; doubles up to 5 s. Default 200 ms.
    pub first_poll: Duration,
}

impl Default for IssueWait {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15 * 60),
            first_poll: Duration::from_millis(200),
        }
    }
}

fn condition(csr: &CertificateSigningRequest, ty: &str) -> Option<String> {
    csr.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == ty && c.status != "False")
        .map(|c| c.message.clone().unwrap_or_default())
}

/// Creates the CSR for `request_pem` with `client` and waits until it is
/// issued; returns the certificate PEM.
pub async fn request_certificate(
    client: &kube::Client,
    request_pem: &str,
    wait: IssueWait,
) -> Result<String, IdentityError> {
    let api: kube::Api<CertificateSigningRequest> = kube::Api::all(client.clone());
    let csr = CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some("csr-".into()),
            ..ObjectMeta::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(request_pem.as_bytes().to_vec()),
            signer_name: SIGNER.into(),
            usages: Some(vec!["digital signature".into(), "client auth".into()]),
            ..CertificateSigningRequestSpec::default()
        },
        status: None,
    };
    let created = api
        .create(&PostParams::default(), &csr)
        .await
        .map_err(|source| IdentityError::ApiFailed {
            what: "creating a certificate signing request".into(),
            source,
        })?;
    let name = created.metadata.name.unwrap_or_default();
    tracing::info!(csr = %name, signer = SIGNER, "certificate signing request created; waiting for approval");
    let deadline = tokio::time::Instant::now() + wait.timeout;
    let mut polls = super::Backoff::new(wait.first_poll, Duration::from_secs(5));
    loop {
        let current = api
            .get(&name)
            .await
            .map_err(|source| IdentityError::ApiFailed {
                what: format!("reading certificate signing request {name}"),
                source,
            })?;
        if let Some(cert) = current
            .status
            .as_ref()
            .and_then(|s| s.certificate.as_ref())
            .filter(|c| !c.0.is_empty())
        {
            tracing::info!(csr = %name, "certificate signing request approved and issued");
            return String::from_utf8(cert.0.clone())
                .map_err(|_| IdentityError::CertificateInvalid("not PEM text".into()));
        }
        for ty in ["Denied", "Failed"] {
            if let Some(message) = condition(&current, ty) {
                return Err(IdentityError::NotIssued {
                    name,
                    why: format!("{ty}: {message}"),
                });
            }
        }
        let poll = polls.next_delay();
        if tokio::time::Instant::now() + poll > deadline {
            return Err(IdentityError::NotIssued {
                name,
                why: format!("no certificate within {:?}", wait.timeout),
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// Writes `key` and `cert` to `path` (mode 0600, directory 0700), replacing
/// the old pair in one rename.
pub fn store(path: &Path, key_pem: &str, cert_pem: &str) -> Result<(), IdentityError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let err = |source| IdentityError::StoreFailed {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    }
    // Per process: executor generations of one agent share the directory
    // and may renew at the same moment.
    let tmp = path.with_extension(format!("pem.tmp.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(cert_pem.as_bytes()).map_err(err)?;
    file.write_all(key_pem.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The server and CA of the bootstrap kubeconfig's current context.
fn cluster_of(kubeconfig: &kube::config::Kubeconfig) -> Option<kube::config::Cluster> {
    let context = kubeconfig.current_context.as_deref()?;
    let cluster = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .cluster
        .clone();
    let named = kubeconfig.clusters.iter().find(|c| c.name == cluster)?;
    named.cluster.clone()
}

async fn client_of(
    kubeconfig: kube::config::Kubeconfig,
    which: &'static str,
) -> Result<kube::Client, IdentityError> {
    let boxed = |e: Box<dyn std::error::Error + Send + Sync>| IdentityError::ClientFailed {
        which,
        source: e,
    };
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| boxed(Box::new(e)))?;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    kube::Client::try_from(config).map_err(|e| boxed(Box::new(e)))
}

/// The identity of this executor's node, and the client that uses it.
pub struct NodeIdentity {
    bootstrap_path: PathBuf,
    cluster: kube::config::Cluster,
    bootstrap: kube::Client,
    cert_path: PathBuf,
    current: Arc<RwLock<kube::Client>>,
    client: kube::Client,
    wait: IssueWait,
}

impl NodeIdentity {
    /// Reads the bootstrap kubeconfig; the certificate lives in `cert_dir`.
    /// Until [`ensure`](Self::ensure) succeeds, [`client`](Self::client)
    /// speaks with the bootstrap credential.
    pub async fn new(
        bootstrap_kubeconfig: &Path,
        cert_dir: &Path,
        wait: IssueWait,
    ) -> Result<Self, IdentityError> {
        let read = |source| IdentityError::BootstrapConfigFailed {
            path: bootstrap_kubeconfig.to_path_buf(),
            source,
        };
        let kubeconfig = kube::config::Kubeconfig::read_from(bootstrap_kubeconfig).map_err(read)?;
        let cluster =
            cluster_of(&kubeconfig).ok_or_else(|| read(kube::config::KubeconfigError::FindPath))?;
        let bootstrap = client_of(kubeconfig, "bootstrap").await?;
        let current = Arc::new(RwLock::new(bootstrap.clone()));
        let client = delegating_client(current.clone(), bootstrap.default_namespace());
        Ok(Self {
            bootstrap_path: bootstrap_kubeconfig.to_path_buf(),
            cluster,
            bootstrap,
            cert_path: cert_dir.join(CURRENT),
            current,
            client,
            wait,
        })
    }

    /// The client every part of the executor uses: each request goes out
    /// with the current credential.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Where the key and certificate are kept.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// A client with the key and certificate in `pem`.
    async fn node_client(&self, pem: &str) -> Result<kube::Client, IdentityError> {
        let b64 = |blocks: Vec<Vec<u8>>, label: &str| {
            let mut text = String::new();
            for der in blocks {
                let body = base64::engine::general_purpose::STANDARD.encode(der);
                text.push_str(&format!("-----BEGIN {label}-----\n"));
                for line in body.as_bytes().chunks(64) {
                    text.push_str(&String::from_utf8_lossy(line));
                    text.push('\n');
                }
                text.push_str(&format!("-----END {label}-----\n"));
            }
            base64::engine::general_purpose::STANDARD.encode(text)
        };
        let user = kube::config::AuthInfo {
            client_certificate_data: Some(b64(pem_blocks(pem, "CERTIFICATE"), "CERTIFICATE")),
            client_key_data: Some(b64(pem_blocks(pem, "PRIVATE KEY"), "PRIVATE KEY").into()),
            ..Default::default()
        };
        let kubeconfig = super::kubeconfig("node", self.cluster.clone(), user);
        client_of(kubeconfig, "node").await
    }

    /// The stored certificate, if it names `node` and is valid at `now`.
    fn stored(&self, node: &str, now: i64) -> Option<(String, CertInfo)> {
        let pem = std::fs::read_to_string(&self.cert_path).ok()?;
        let info = cert_info(&pem).ok()?;
        let usable = info.common_name == node_user(node)
            && info.not_before <= now
            && now < info.not_after
            && !pem_blocks(&pem, "PRIVATE KEY").is_empty();
        usable.then_some((pem, info))
    }

    /// Makes `node`'s identity current: the stored certificate if it is
    /// usable, else a new one bootstrapped with the bootstrap credential.
    pub async fn ensure(&self, node: &str) -> Result<CertInfo, IdentityError> {
        let now = jiff::Timestamp::now().as_second();
        if let Some((pem, info)) = self.stored(node, now) {
            tracing::info!(user = %info.common_name, path = %self.cert_path.display(), "using the stored node client certificate");
            self.switch(&pem).await?;
            return Ok(info);
        }
        tracing::info!(node, bootstrap_kubeconfig = %self.bootstrap_path.display(), "no usable node client certificate; bootstrapping one");
        self.issue(node, &self.bootstrap).await
    }

    /// Renews `node`'s certificate with its current identity
    /// (`selfnodeclient`), and switches to it.
    pub async fn renew(&self, node: &str) -> Result<CertInfo, IdentityError> {
        let client = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.issue(node, &client).await
    }

    async fn issue(&self, node: &str, with: &kube::Client) -> Result<CertInfo, IdentityError> {
        let (key, request) = new_request(node)?;
        let cert = request_certificate(with, &request, self.wait).await?;
        let info = cert_info(&cert)?;
        if info.common_name != node_user(node) {
            return Err(IdentityError::CertificateInvalid(format!(
                "issued for {:?}, not {:?}",
                info.common_name,
                node_user(node)
            )));
        }
        store(&self.cert_path, &key, &cert)?;
        let pem = format!("{cert}{key}");
        self.switch(&pem).await?;
        tracing::info!(user = %info.common_name, not_after = info.not_after, "node client certificate issued and in use");
        Ok(info)
    }

    async fn switch(&self, pem: &str) -> Result<(), IdentityError> {
        let client = self.node_client(pem).await?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = client;
        Ok(())
    }

    /// Renews before expiry until `shutdown` ([`rotate`] with the wall
    /// clock and [`renew`](Self::renew)).
    pub async fn run_rotation(
        self: Arc<Self>,
        node: String,
        cert: CertInfo,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let renew = || {
            let (this, node) = (self.clone(), node.clone());
            async move { this.renew(&node).await }
        };
        rotate(
            &node,
            cert,
            renew,
            || jiff::Timestamp::now().as_second(),
            shutdown,
        )
        .await
    }
}

/// The first wait after a failed renewal; it doubles up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_secs(10);
/// The longest wait between failed renewals.
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// The rotation loop, with its clock (`now`, Unix seconds) and renewal
/// (`renew`) given so that it runs on paused time in tests: sleeps until a
/// jittered 70–90 % of `cert`'s lifetime, renews, and starts over with the
/// new certificate; a failed renewal is retried after [`RETRY_FIRST`],
/// doubling to [`RETRY_MAX`], while the old certificate stays in use.
pub async fn rotate<F, Fut>(
    node: &str,
    mut cert: CertInfo,
    mut renew: F,
    now: impl Fn() -> i64,
    shutdown: impl std::future::Future<Output = ()>,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<CertInfo, IdentityError>>,
{
    tokio::pin!(shutdown);
    loop {
        let due = rotation_deadline(&cert, jittered_fraction());
        let wait = Duration::from_secs(u64::try_from(due - now()).unwrap_or(0));
        tracing::debug!(
            node,
            renew_in_secs = wait.as_secs(),
            "node client certificate renewal scheduled"
        );
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let mut backoff = super::Backoff::new(RETRY_FIRST, RETRY_MAX);
        loop {
            match renew().await {
                Ok(info) => {
                    cert = info;
                    break;
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(node, error = %e, retry_in_secs = delay.as_secs(), "renewing the node client certificate failed");
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

/// A client whose every request goes out through the client in `current`
/// at that moment, so a renewed certificate applies to all holders at once.
fn delegating_client(current: Arc<RwLock<kube::Client>>, namespace: &str) -> kube::Client {
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let client = current.read().unwrap_or_else(|e| e.into_inner()).clone();
        async move { client.send(req).await }
    });
    kube::Client::new(service, namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_between_70_and_90_percent_of_the_lifetime() {
        let cert = CertInfo {
            common_name: "system:node:n1".into(),
            not_before: 1000,
            not_after: 2000,
        };
        assert_eq!(rotation_deadline(&cert, 0.7), 1700);
        assert_eq!(rotation_deadline(&cert, 0.9), 1900);
        for _ in 0..100 {
            let f = jittered_fraction();
            assert!((0.7..0.9).contains(&f), "{f}");
        }
        let backwards = CertInfo {
            not_after: 500,
            ..cert
        };
        assert_eq!(rotation_deadline(&backwards, 0.8), 1000);
    }

    /// On paused time: each renewal comes at 70–90 % of the lifetime of
    /// the certificate in use, so always before it expires; a failed one
    /// is retried after 10 s, 20 s, ... while the old one is still valid;
    /// the next renewal follows the new certificate's lifetime.
    #[tokio::test(start_paused = true)]
    async fn renewal_comes_before_expiry_and_retries_with_backoff() {
        use std::sync::Mutex;
        const LIFE: i64 = 1000;
        let start = tokio::time::Instant::now();
        let now = move || start.elapsed().as_secs() as i64;
        // The first two attempts fail, then each succeeds with a new
        // certificate valid from the moment of issue.
        let calls: Arc<Mutex<Vec<i64>>> = Arc::default();
        let renew = {
            let calls = calls.clone();
            move || {
                let calls = calls.clone();
                async move {
                    let at = now();
                    let mut calls = calls.lock().unwrap();
                    calls.push(at);
                    if calls.len() <= 2 {
                        return Err(IdentityError::NotIssued {
                            name: "csr".into(),
                            why: "denied".into(),
                        });
                    }
                    Ok(CertInfo {
                        common_name: "system:node:n1".into(),
                        not_before: at,
                        not_after: at + LIFE,
                    })
                }
            }
        };
        let first = CertInfo {
            common_name: "system:node:n1".into(),
            not_before: 0,
            not_after: LIFE,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(rotate("n1", first, renew, now, async {
            let _ = stopped.await;
        }));
        while calls.lock().unwrap().len() < 5 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let _ = stop.send(());
        task.await.unwrap();
        let calls = calls.lock().unwrap().clone();
        // First attempt within 70-90 % of the first certificate's life.
        assert!((700..900).contains(&calls[0]), "{calls:?}");
        // Retries after 10 s, then 20 s; the third attempt succeeds,
        // still before the first certificate expires.
        assert_eq!(calls[1] - calls[0], 10, "{calls:?}");
        assert_eq!(calls[2] - calls[1], 20, "{calls:?}");
        assert!(calls[2] < LIFE, "{calls:?}");
        // Each next renewal at 70-90 % of the certificate issued last.
        for pair in calls[2..].windows(2) {
            let since = pair[1] - pair[0];
            assert!((700..900).contains(&since), "{calls:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rotation_stops_at_shutdown_while_waiting() {
        let cert = CertInfo {
            common_name: "system:node:n1".into(),
            not_before: 0,
            not_after: 1_000_000,
        };
        let renew = || async { panic!("no renewal before the deadline") };
        // Shutdown an hour in: long before the deadline, the loop returns.
        rotate(
            "n1",
            cert,
            renew,
            || 0,
            tokio::time::sleep(Duration::from_secs(3600)),
        )
        .await;
    }

    #[test]
    fn a_request_names_the_node_in_system_nodes() {
        let (key, request) = new_request("agent-0").unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let der = pem_blocks(&request, "CERTIFICATE REQUEST").remove(0);
        let (_, csr) = <x509_parser::certification_request::X509CertificationRequest as x509_parser::prelude::FromDer<_>>::from_der(&der).unwrap();
        let subject = &csr.certification_request_info.subject;
        let cn: Vec<_> = subject
            .iter_common_name()
            .map(|c| c.as_str().unwrap())
            .collect();
        let o: Vec<_> = subject
            .iter_organization()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!((cn, o), (vec!["system:node:agent-0"], vec!["system:nodes"]));
    }

    #[test]
    fn the_key_and_certificate_are_stored_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pki").join(CURRENT);
        store(&path, "KEY\n", "CERT\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "CERT\nKEY\n");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
}
