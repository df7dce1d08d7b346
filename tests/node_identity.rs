//! Kubelet TLS bootstrapping of the executor against the devcluster API
//! server, under `packaging/kubernetes/executor-rbac.yaml`: a bootstrap
//! token that may only create and read CSRs gets the node its own client
//! certificate (approved and signed as kube-controller-manager does), the
//! certificate is kept under the root dir and reused, renewal switches
//! every holder of the client to the new one, and the node identity is
//! confined by the Node authorizer. A bootstrap identity whose CSR nobody
//! approves gets no certificate.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{Api, PostParams};
use kube_mesos_devcluster::apiserver::{ApiServer, ApiServerConfig};
use kube_mesos_executor::kube::identity::{self, IdentityError, IssueWait, NodeIdentity};
use serde_json::json;

const ADMIN: &str = "admin-token";

struct Cluster {
    api: ApiServer,
    dir: tempfile::TempDir,
    admin: kube::Client,
}

async fn cluster() -> Cluster {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = ApiServer::start(
        ApiServerConfig::new(dir.path().join("api"), ADMIN),
        listener,
    )
    .await
    .unwrap();
    let admin = support::kube_client(&api.kubeconfig()).await;
    std::fs::write(dir.path().join("ca.crt"), api.ca_pem()).unwrap();
    Cluster { api, dir, admin }
}

fn kubectl(c: &Cluster, args: &[&str]) {
    let kubeconfig = c.dir.path().join("admin.kubeconfig");
    std::fs::write(&kubeconfig, c.api.kubeconfig()).unwrap();
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(args)
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn apply_executor_rbac(c: &Cluster) {
    let rbac =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/kubernetes/executor-rbac.yaml");
    kubectl(c, &["apply", "-f", rbac.to_str().unwrap()]);
}

/// A bootstrap token Secret in `groups`, and a bootstrap kubeconfig for it.
async fn bootstrap_kubeconfig(c: &Cluster, id: &str, groups: &str) -> PathBuf {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {"token-id": id, "token-secret": "0123456789abcdef",
                       "usage-bootstrap-authentication": "true", "auth-extra-groups": groups}}))
    .unwrap();
    Api::<Secret>::namespaced(c.admin.clone(), "kube-system")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let path = c.dir.path().join(format!("bootstrap-{id}"));
    let doc = json!({"apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": c.api.url(),
            "certificate-authority": c.dir.path().join("ca.crt").display().to_string()}}],
        "users": [{"name": "b", "user": {"token": format!("{id}.0123456789abcdef")}}],
        "contexts": [{"name": "b", "context": {"cluster": "c", "user": "b"}}],
        "current-context": "b"});
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

fn code(e: kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_bootstraps_its_nodes_own_identity_and_renews_it() {
    let c = cluster().await;
    apply_executor_rbac(&c);
    let nodes: Api<Node> = Api::all(c.admin.clone());
    for n in ["n1", "n2"] {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": n}})).unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }
    let boot = bootstrap_kubeconfig(&c, "abcdef", "system:bootstrappers:kube-mesos").await;
    let pki = c.dir.path().join("root/pki");
    let id = NodeIdentity::new(&boot, &pki, IssueWait::default())
        .await
        .unwrap();

    // Before: the bootstrap credential may not read the node.
    let as_node: Api<Node> = Api::all(id.client());
    assert_eq!(code(as_node.get("n1").await.unwrap_err()), 403);

    let first = id.ensure("n1").await.expect("certificate issued");
    assert_eq!(first.common_name, "system:node:n1");
    let stored = std::fs::read_to_string(id.cert_path()).unwrap();
    assert_eq!(identity::cert_info(&stored).unwrap(), first);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(id.cert_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // After: the same client object is the node, confined to its own.
    assert!(as_node.get("n1").await.is_ok());
    assert_eq!(code(as_node.get("n2").await.unwrap_err()), 403);
    let secrets: Api<Secret> = Api::namespaced(id.client(), "kube-system");
    assert_eq!(
        code(secrets.get("bootstrap-token-abcdef").await.unwrap_err()),
        403
    );
    let csrs: Api<CertificateSigningRequest> = Api::all(c.admin.clone());
    let list = csrs.list(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let spec = &list.items[0].spec;
    assert_eq!(spec.username.as_deref(), Some("system:bootstrap:abcdef"));
    assert_eq!(spec.signer_name, identity::SIGNER);

    // Renewal with the node's own identity (selfnodeclient): a new
    // certificate, and the client every holder has uses it.
    let renewed = id.renew("n1").await.expect("renewed");
    assert_eq!(renewed.common_name, "system:node:n1");
    assert_ne!(std::fs::read_to_string(id.cert_path()).unwrap(), stored);
    assert!(as_node.get("n1").await.is_ok());
    let list = csrs.list(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
    assert!(list
        .items
        .iter()
        .any(|c| c.spec.username.as_deref() == Some("system:node:n1")));

    // A restarted executor reuses the stored certificate: no new CSR.
    let again = NodeIdentity::new(&boot, &pki, IssueWait::default())
        .await
        .unwrap();
    assert_eq!(again.ensure("n1").await.unwrap(), renewed);
    assert!(Api::<Node>::all(again.client()).get("n1").await.is_ok());
    assert_eq!(csrs.list(&Default::default()).await.unwrap().items.len(), 2);
    // ... unless it serves another node now.
    let other = again.ensure("n2").await.expect("n2's own certificate");
    assert_eq!(other.common_name, "system:node:n2");
    assert_eq!(csrs.list(&Default::default()).await.unwrap().items.len(), 3);
    c.api.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_token_nobody_approves_for_gets_no_certificate() {
    let c = cluster().await;
    apply_executor_rbac(&c);
    // In the bootstrappers' group, but not the one bound to auto-approval.
    let boot = bootstrap_kubeconfig(&c, "zzzzzz", "system:bootstrappers:other").await;
    let wait = IssueWait {
        timeout: Duration::from_secs(2),
        first_poll: Duration::from_millis(100),
    };
    let id = NodeIdentity::new(&boot, &c.dir.path().join("pki"), wait)
        .await
        .unwrap();
    match id.ensure("n1").await {
        Err(IdentityError::ApiFailed { source, .. }) => assert_eq!(code(source), 403),
        other => panic!("expected the CSR create to be forbidden, got {other:?}"),
    }
    // With create rights but no approval binding: created, never issued.
    let boot = bootstrap_kubeconfig(&c, "yyyyyy", "system:bootstrappers:kube-mesos").await;
    kubectl(
        &c,
        &[
            "delete",
            "clusterrolebinding",
            "kube-mesos-node-autoapprove-bootstrap",
        ],
    );
    let id = NodeIdentity::new(&boot, &c.dir.path().join("pki"), wait)
        .await
        .unwrap();
    assert!(matches!(
        id.ensure("n1").await,
        Err(IdentityError::NotIssued { .. })
    ));
    assert!(!id.cert_path().exists());
    c.api.shutdown().await.unwrap();
}
