//! The executor's kubelet endpoint asks the API server, as a kubelet does:
//! 401 without credentials or with a token the API server does not know,
//! 403 for a valid token whose user may not use this node's kubelet API
//! (a SubjectAccessReview for `nodes/proxy` says no), and 200 for the API
//! server's kubelet client — `kubectl logs` through the devcluster API
//! server, which presents its kubelet client certificate — and for a token
//! bound to `system:kubelet-api-admin`; exec is checked as `create` of
//! `nodes/proxy`. The endpoint reviews with its
//! node's identity, as the Node authorizer allows a node to.

#[path = "../executor/tests/support/one_pod.rs"]
mod one_pod;

mod support;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, LogParams, PostParams};
use kube_mesos_devcluster::apiserver::auth::{StaticToken, UserInfo};
use kube_mesos_devcluster::apiserver::{ApiServer, ApiServerConfig};
use kube_mesos_executor::config::{ExecutorConfig, KubeCredentials, KubeletAuth};
use kube_mesos_executor::kubelet::authz::{Access, ApiReviews};
use kube_mesos_executor::kubelet::{self, KubeletState};
use kube_mesos_executor::runner::process::{ProcessConfig, ProcessRuntime};
use serde_json::json;

const ADMIN: &str = "admin-token";
const NODE: &str = "node-n1-token";
const OTHER_NODE: &str = "node-n2-token";
const VIEWER: &str = "viewer-token";
const OPERATOR: &str = "operator-token";

fn https() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = https().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("response");
    let code = resp.status().as_u16();
    (code, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_endpoint_authorizes_each_request_with_the_api_server() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ApiServerConfig::new(dir.path().join("api"), ADMIN);
    let token = |token: &str, user: UserInfo| StaticToken {
        token: token.into(),
        user,
    };
    config.tokens = vec![
        token(NODE, UserInfo::node("n1")),
        token(OTHER_NODE, UserInfo::node("n2")),
        token(VIEWER, UserInfo::new("viewer", &[])),
        token(OPERATOR, UserInfo::new("operator", &[])),
    ];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = ApiServer::start(config, listener).await.unwrap();
    let admin = support::kube_client(&api.kubeconfig()).await;
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, api.ca_pem()).unwrap();

    // The operator may use every kubelet API; the viewer may not.
    let binding = serde_json::from_value(json!({
        "metadata": {"name": "operator-kubelet-api"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "operator"}]}))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    // The endpoint of node n1, reviewing with n1's identity.
    let log_dir = dir.path().join("default_web_u-1");
    std::fs::create_dir_all(log_dir.join("main")).unwrap();
    std::fs::write(
        log_dir.join("main/0.log"),
        "2024-01-01T00:00:01Z stdout F hello from n1\n",
    )
    .unwrap();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
        "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "busybox"}]}}))
    .unwrap();
    let status = serde_json::from_value(json!({"phase": "Running", "containerStatuses": [{
        "name": "main", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
        "containerID": "process://gone-0", "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}]}))
    .unwrap();
    let mut exec_config = ExecutorConfig::new(KubeCredentials::Infer);
    exec_config.kubelet_auth = KubeletAuth {
        client_ca_file: Some(ca_file),
        ..KubeletAuth::default()
    };
    let tls = kubelet::tls::server_config(&exec_config, &["127.0.0.1".into()]).unwrap();
    let node_client = support::kube_client(&kube_mesos_devcluster::apiserver::kubeconfig_yaml(
        &api.url(),
        NODE,
        Some(api.ca_pem()),
    ))
    .await;
    let state = KubeletState {
        auth: exec_config.kubelet_auth.clone(),
        pods: Arc::new(one_pod::OnePod {
            pod: Arc::new(pod.clone()),
            status,
            log_dir,
        }),
        runtime: Arc::new(ProcessRuntime::new(ProcessConfig::new(
            dir.path().join("rt"),
        ))),
        access: Some(Arc::new(Access::new(
            "n1",
            Box::new(ApiReviews {
                client: node_client,
            }),
        ))),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kubelet::serve(listener, tls, state, async {
        let _ = stopped.await;
    }));
    let logs = format!("https://127.0.0.1:{port}/containerLogs/default/web/main");

    // 401: nobody, or a token the API server does not know.
    assert_eq!(get(&logs, None).await, (401, "Unauthorized".into()));
    assert_eq!(get(&logs, Some("no-such-token")).await.0, 401);
    // 403: known users without the right, including another node.
    assert_eq!(
        get(&logs, Some(VIEWER)).await,
        (
            403,
            "Forbidden (user=viewer, verb=get, resource=nodes, subresource=proxy)".into()
        )
    );
    let (code, body) = get(&logs, Some(OTHER_NODE)).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("user=system:node:n2"), "{body}");
    // 200: a user bound to system:kubelet-api-admin.
    let (code, body) = get(&logs, Some(OPERATOR)).await;
    assert_eq!((code, body.as_str()), (200, "hello from n1\n"));

    // exec (POST, `nodes/proxy` create) is checked the same way; a
    // caller who passes reaches the handler, which wants a stream upgrade.
    let exec = format!("https://127.0.0.1:{port}/exec/default/web/main?command=id&stdout=1");
    let post = |token: Option<&'static str>| {
        let mut req = https().post(&exec);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.expect("response");
            (
                resp.status().as_u16(),
                resp.text().await.unwrap_or_default(),
            )
        }
    };
    assert_eq!(post(None).await.0, 401);
    assert_eq!(
        post(Some(VIEWER)).await,
        (
            403,
            "Forbidden (user=viewer, verb=create, resource=nodes, subresource=proxy)".into()
        )
    );
    let (code, body) = post(Some(OPERATOR)).await;
    assert!(![401, 403].contains(&code), "{code} {body}");

    // 200: the API server's kubelet client (its client certificate), as
    // `kubectl logs` reaches the node.
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}, "status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}))
    .unwrap();
    Api::<Node>::all(admin.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let text = pods
        .logs("web", &LogParams::default())
        .await
        .expect("kubectl logs through the API server");
    assert_eq!(text, "hello from n1\n");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    api.shutdown().await.unwrap();
}
