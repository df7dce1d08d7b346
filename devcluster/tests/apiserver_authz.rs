//! Authorization in the embedded API server, through kubectl: the RBAC
//! manifests of `packaging/kubernetes/` bind the framework's and the
//! executor's rights, the Node authorizer confines a node to its own pods'
//! objects, NodeRestriction to its own Node, Lease and pods, and an
//! unknown token is a 401.

mod apiserver_common;

use apiserver_common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube_mesos_devcluster::apiserver::auth::{StaticToken, UserInfo};
use serde_json::json;

const FRAMEWORK: &str = "framework-token";
const N1: &str = "node-1-token";
const BOB: &str = "bob-token";

fn packaging() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/kubernetes").to_string()
}

async fn server() -> TestServer {
    start(|c| {
        c.tokens = vec![
            StaticToken {
                token: FRAMEWORK.into(),
                user: UserInfo::service_account("kube-mesos", "kube-mesos-framework"),
            },
            StaticToken {
                token: N1.into(),
                user: UserInfo::node("n1"),
            },
            StaticToken {
                token: BOB.into(),
                user: UserInfo::new("bob", &[]),
            },
        ]
    })
    .await
}

/// A kube client with `token` instead of the admin's.
async fn client_as(ts: &TestServer, token: &str) -> kube::Client {
    let yaml = std::fs::read_to_string(&ts.kubeconfig).expect("read kubeconfig");
    let mut kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("parse kubeconfig");
    for user in &mut kc.auth_infos {
        if let Some(info) = user.auth_info.as_mut() {
            info.token = Some(token.to_string().into());
        }
    }
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("kube config");
    kube::Client::try_from(cfg).expect("client")
}

async fn as_user(ts: &TestServer, token: &str, args: &[&str]) -> Out {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    kubectl(ts, &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packaged_rbac_is_what_the_framework_may_do() {
    require_kubectl();
    let ts = server().await;
    // Nothing is bound yet: authenticated, but forbidden.
    let before = as_user(&ts, FRAMEWORK, &["get", "pods", "-A"]).await;
    assert!(!before.ok);
    assert!(
        before.stderr.contains("pods is forbidden: User \"system:serviceaccount:kube-mesos:kube-mesos-framework\" cannot list resource \"pods\" in API group \"\" at the cluster scope"),
        "{}",
        before.stderr
    );
    assert!(kubectl(&ts, &["apply", "-f", &packaging()]).await.ok);
    assert!(as_user(&ts, FRAMEWORK, &["get", "pods", "-A"]).await.ok);
    let secrets = as_user(&ts, FRAMEWORK, &["get", "secrets", "-A"]).await;
    assert!(!secrets.ok);
    assert!(
        secrets.stderr.contains("secrets is forbidden"),
        "{}",
        secrets.stderr
    );
    let can = |args: &'static [&'static str]| {
        let ts = &ts;
        async move { as_user(ts, FRAMEWORK, args).await.stdout.trim().to_string() }
    };
    assert_eq!(
        can(&[
            "auth",
            "can-i",
            "create",
            "pods",
            "--subresource",
            "binding",
            "-n",
            "default"
        ])
        .await,
        "yes"
    );
    assert_eq!(
        can(&["auth", "can-i", "update", "configmaps", "-n", "kube-mesos"]).await,
        "yes"
    );
    assert_eq!(
        can(&["auth", "can-i", "update", "configmaps", "-n", "default"]).await,
        "no"
    );
    assert_eq!(
        can(&["auth", "can-i", "get", "secrets", "-n", "default"]).await,
        "no"
    );
    // An unknown token is not a user.
    let nobody = as_user(&ts, "no-such-token", &["get", "pods"]).await;
    assert!(!nobody.ok);
    assert!(nobody.stderr.contains("Unauthorized"), "{}", nobody.stderr);
    let bob = as_user(&ts, BOB, &["get", "pods"]).await;
    assert!(
        bob.stderr.contains("User \"bob\" cannot list"),
        "{}",
        bob.stderr
    );
}

const OBJECTS: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: mine}
stringData: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: theirs}
stringData: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: mine-cm}
data: {k: v}
---
apiVersion: v1
kind: Pod
metadata: {name: p1}
spec:
  nodeName: n1
  containers:
  - name: c
    image: busybox
    envFrom: [{configMapRef: {name: mine-cm}}]
    env: [{name: S, valueFrom: {secretKeyRef: {name: mine, key: k}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: p2}
spec:
  nodeName: n2
  containers: [{name: c, image: busybox}]
  volumes: [{name: s, secret: {secretName: theirs}}]
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {kubernetes.io/hostname: n1}}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {kubernetes.io/hostname: n2}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reaches_only_its_own_objects() {
    require_kubectl();
    let ts = server().await;
    let file = ts.dir.path().join("objects.yaml");
    std::fs::write(&file, OBJECTS).unwrap();
    assert!(
        kubectl(&ts, &["apply", "-f", file.to_str().unwrap()])
            .await
            .ok
    );
    let n1 = |args: &'static [&'static str]| {
        let ts = &ts;
        async move { as_user(ts, N1, args).await }
    };
    // Secrets and ConfigMaps of its pods only, one by one.
    assert!(n1(&["get", "secret", "mine"]).await.ok);
    assert!(n1(&["get", "configmap", "mine-cm"]).await.ok);
    let theirs = n1(&["get", "secret", "theirs"]).await;
    assert!(
        theirs.stderr.contains("secrets \"theirs\" is forbidden: User \"system:node:n1\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between node 'n1' and this object"),
        "{}",
        theirs.stderr
    );
    assert!(!n1(&["get", "secrets"]).await.ok);
    // Its own pods, and a list only with its node's field selector.
    assert!(n1(&["get", "pod", "p1"]).await.ok);
    assert!(!n1(&["get", "pod", "p2"]).await.ok);
    assert!(!n1(&["get", "pods", "-A"]).await.ok);
    let listed = n1(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        "spec.nodeName=n1",
        "-o",
        "name",
    ])
    .await;
    assert_eq!(listed.stdout.trim(), "pod/p1");
    // Its own Node only, and no label that would put it in another's place.
    assert!(n1(&["get", "node", "n1"]).await.ok);
    assert!(!n1(&["get", "node", "n2"]).await.ok);
    assert!(
        n1(&["label", "node", "n1", "node.kubernetes.io/pool=a"])
            .await
            .ok
    );
    let steal = n1(&[
        "label",
        "node",
        "n1",
        "node-restriction.kubernetes.io/secure=true",
    ])
    .await;
    assert!(
        steal
            .stderr
            .contains("is not allowed to modify labels: node-restriction.kubernetes.io/secure"),
        "{}",
        steal.stderr
    );
    let other = n1(&["label", "node", "n2", "node.kubernetes.io/pool=a"]).await;
    assert!(!other.ok);
    // Status of its own pods (as the executor writes it); delete its own
    // pods only.
    let pods: Api<Pod> = Api::default_namespaced(client_as(&ts, N1).await);
    let status = Patch::Merge(json!({"status": {"phase": "Running"}}));
    pods.patch_status("p1", &PatchParams::default(), &status)
        .await
        .expect("its own pod's status");
    let foreign = pods
        .patch_status("p2", &PatchParams::default(), &status)
        .await
        .expect_err("another node's pod");
    assert!(matches!(foreign, kube::Error::Api(s) if s.code == 403));
    let del = n1(&["delete", "pod", "p2", "--wait=false"]).await;
    assert!(!del.ok, "{}", del.stdout);
    // Its own Lease.
    let lease = |name: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": name, "namespace": "kube-node-lease"},
               "spec": {"holderIdentity": name}})
        .to_string()
    };
    let lf = ts.dir.path().join("lease.json");
    std::fs::write(&lf, lease("n1")).unwrap();
    assert!(
        as_user(&ts, N1, &["create", "-f", &lf.display().to_string()])
            .await
            .ok
    );
    std::fs::write(&lf, lease("n2")).unwrap();
    let stolen = as_user(&ts, N1, &["create", "-f", &lf.display().to_string()]).await;
    assert!(
        stolen
            .stderr
            .contains("can only access node lease with the same name as the requesting node"),
        "{}",
        stolen.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_answer_for_other_users() {
    let ts = server().await;
    let client = client(&ts).await;
    let tr: Api<k8s_openapi::api::authentication::v1::TokenReview> = Api::all(client.clone());
    let review = serde_json::from_value(json!({"spec": {"token": FRAMEWORK}})).unwrap();
    let out = tr
        .create(&PostParams::default(), &review)
        .await
        .expect("token review");
    let status = out.status.expect("status");
    assert_eq!(status.authenticated, Some(true));
    assert_eq!(
        status.user.and_then(|u| u.username).as_deref(),
        Some("system:serviceaccount:kube-mesos:kube-mesos-framework")
    );
    let bad = serde_json::from_value(json!({"spec": {"token": "nope"}})).unwrap();
    let out = tr
        .create(&PostParams::default(), &bad)
        .await
        .expect("token review");
    assert_eq!(out.status.and_then(|s| s.authenticated), Some(false));
    let sar: Api<k8s_openapi::api::authorization::v1::SubjectAccessReview> = Api::all(client);
    let ask = |user: &str, groups: &[&str], verb: &str, resource: &str, name: &str| {
        serde_json::from_value::<k8s_openapi::api::authorization::v1::SubjectAccessReview>(json!({"spec": {
            "user": user, "groups": groups,
            "resourceAttributes": {"verb": verb, "resource": resource, "name": name, "namespace": "default"}}}))
        .unwrap()
    };
    let allowed =
        |r: k8s_openapi::api::authorization::v1::SubjectAccessReview| r.status.map(|s| s.allowed);
    let pp = PostParams::default();
    assert_eq!(
        allowed(
            sar.create(&pp, &ask("bob", &[], "get", "pods", "x"))
                .await
                .unwrap()
        ),
        Some(false)
    );
    assert_eq!(
        allowed(
            sar.create(
                &pp,
                &ask("root", &["system:masters"], "delete", "secrets", "x")
            )
            .await
            .unwrap()
        ),
        Some(true)
    );
    assert_eq!(
        allowed(
            sar.create(
                &pp,
                &ask("system:node:n1", &["system:nodes"], "create", "events", "")
            )
            .await
            .unwrap()
        ),
        Some(true)
    );
}
