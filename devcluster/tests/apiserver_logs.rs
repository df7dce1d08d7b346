//! `pods/log` through an HTTPS kubelet with a certificate nobody trusts (as
//! kube-apiserver does by default), presenting the API server's kubelet
//! client certificate and a bearer token, streaming when following.

mod apiserver_common;

use std::time::Duration;

use apiserver_common::*;
use futures::{AsyncBufReadExt, TryStreamExt};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, LogParams, PostParams};
use serde_json::json;

/// TLS of a kubelet with a self-signed serving certificate that requires
/// a client certificate of `client_ca_pem` (its `--client-ca-file`).
fn kubelet_acceptor(client_ca_pem: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("self-signed");
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
        roots.add(ca.expect("CA PEM")).expect("CA");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .expect("verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).expect("key PEM"),
        )
        .expect("config");
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

/// A TLS kubelet with a certificate nobody trusts, which accepts only
/// clients with a certificate of the cluster CA (the API server's kubelet
/// client certificate) and the token; `/containerLogs/default/p/c`
/// streams one line, waits, then another.
async fn tls_kubelet(client_ca_pem: &str) -> u16 {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::response::Response;
    let acceptor = kubelet_acceptor(client_ca_pem);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().fallback(|req: Request| async move {
        let authed = req
            .headers()
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == format!("Bearer {KUBELET_TOKEN}").as_bytes());
        let mut resp = Response::new(Body::empty());
        if !authed {
            *resp.status_mut() = http::StatusCode::UNAUTHORIZED;
        } else if req.uri().path() == "/containerLogs/default/p/c" {
            let follow = req.uri().query().is_some_and(|q| q.contains("follow=true"));
            let stream = futures::stream::unfold(0u8, move |n| async move {
                match n {
                    0 => Some((Ok::<_, std::io::Error>(bytes::Bytes::from("line one\n")), 1)),
                    1 if follow => {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Some((Ok(bytes::Bytes::from("line two\n")), 2))
                    }
                    _ => None,
                }
            });
            *resp.body_mut() = Body::from_stream(stream);
        } else {
            *resp.status_mut() = http::StatusCode::NOT_FOUND;
        }
        resp
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                if let Ok(s) = acceptor.accept(stream).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), TowerToHyperService::new(app))
                        .await;
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_through_an_https_kubelet() {
    let ts =
        start(|c| c.kubelet_scheme = kube_mesos_devcluster::apiserver::KubeletScheme::Https).await;
    let port = tls_kubelet(ts.server.ca_pem()).await;
    let client = client(&ts).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}, "status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}))
    .expect("node");
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("node");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod =
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1",
        "containers": [{"name": "c", "image": "busybox"}]}}))
        .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod");

    let text = pods.logs("p", &LogParams::default()).await.expect("logs");
    assert_eq!(text, "line one\n");

    let follow = LogParams {
        follow: true,
        ..Default::default()
    };
    let mut lines = pods.log_stream("p", &follow).await.expect("stream").lines();
    let first = tokio::time::timeout(Duration::from_secs(5), lines.try_next())
        .await
        .expect("first line before the stream ends")
        .expect("read");
    assert_eq!(first.as_deref(), Some("line one"));
    let second = tokio::time::timeout(Duration::from_secs(5), lines.try_next())
        .await
        .expect("second line")
        .expect("read");
    assert_eq!(second.as_deref(), Some("line two"));

    let err = pods
        .logs(
            "p",
            &LogParams {
                container: Some("nope".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("bad container");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400 && s.message == "container nope is not valid for pod p"),
        "{err:?}"
    );
    ts.server.shutdown().await.expect("shutdown");
}
