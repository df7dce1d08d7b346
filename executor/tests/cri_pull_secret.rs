//! Image pulls through containerd from a registry that wants credentials:
//! a minimal OCI distribution server on loopback (basic auth, manifests and
//! blobs of the busybox test image), an anonymous pull failing with
//! `ErrImagePull`, and the pod's `imagePullSecrets` (a dockerconfigjson)
//! passed as CRI `AuthConfig` making it succeed.

#[path = "support/containerd.rs"]
mod containerd;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use containerd::image::{busybox_oci, OciImage};
use containerd::Containerd;
use kube_mesos_executor::runner::cri::image::registry_auths;
use kube_mesos_executor::runner::cri::{CriConfig, CriRuntime};
use kube_mesos_executor::runner::process::container_labels;
use kube_mesos_executor::runner::runtime::{
    ContainerConfig, ContainerRuntimeSpec, ImagePullPolicy, PodRuntimeSpec, Runtime, SandboxConfig,
};

const USER: &str = "puller";
const PASSWORD: &str = "s3cret";

struct Registry {
    image: OciImage,
    authorized: AtomicUsize,
    refused: AtomicUsize,
}

fn response(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

async fn serve(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if !authorized {
        reg.refused.fetch_add(1, Ordering::Relaxed);
        let mut r = response(StatusCode::UNAUTHORIZED);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"kube-mesos-test\""),
        );
        return r;
    }
    reg.authorized.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_string();
    let (body, content_type, digest): (&[u8], &str, String) = if path == "/v2/" {
        (b"{}", "application/json", String::new())
    } else if let Some(rest) = path.strip_prefix("/v2/private/busybox/manifests/") {
        if rest != "1" && rest != reg.image.manifest_digest {
            return response(StatusCode::NOT_FOUND);
        }
        (
            &reg.image.manifest,
            "application/vnd.oci.image.manifest.v1+json",
            reg.image.manifest_digest.clone(),
        )
    } else if let Some(digest) = path.strip_prefix("/v2/private/busybox/blobs/") {
        match reg.image.blob(digest) {
            Some(b) => (b, "application/octet-stream", digest.to_string()),
            None => return response(StatusCode::NOT_FOUND),
        }
    } else {
        return response(StatusCode::NOT_FOUND);
    };
    let mut r = Response::new(if req.method() == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body.to_vec())
    });
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type.parse().expect("header"));
    h.insert(header::CONTENT_LENGTH, body.len().into());
    if !digest.is_empty() {
        h.insert("Docker-Content-Digest", digest.parse().expect("header"));
    }
    r
}

fn sandbox_config(cd: &Containerd, name: &str, uid: &str) -> SandboxConfig {
    SandboxConfig {
        name: name.into(),
        namespace: "default".into(),
        uid: uid.into(),
        log_directory: cd.dir().join("logs").join(format!("default_{name}_{uid}")),
        labels: BTreeMap::new(),
    }
}

fn container(image: &str, pod: &str, uid: &str, attempt: u32) -> ContainerConfig {
    ContainerConfig {
        name: "app".into(),
        attempt,
        image: image.into(),
        command: vec!["/bin/sh".into(), "-c".into()],
        args: vec!["echo pulled with the secret".into()],
        envs: vec![],
        working_dir: String::new(),
        mounts: vec![],
        log_path: PathBuf::from(format!("app/{attempt}.log")),
        labels: container_labels(pod, "default", uid, "app"),
        stdin: false,
        stdin_once: false,
        tty: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_secrets_authenticate_pulls_from_a_private_registry() {
    let reg = Arc::new(Registry {
        image: busybox_oci(&["/bin/sh"], &[]),
        authorized: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind registry");
    let host = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let app = axum::Router::new().fallback(serve).with_state(reg.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });

    let cd = Containerd::start_with(std::slice::from_ref(&host)).await;
    let mut config = CriConfig::new(cd.socket(), cd.dir().join("kube"));
    config.cgroup_parent = cd.cgroup_parent.clone();
    config.wait_poll = Duration::from_millis(100);
    let rt = CriRuntime::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", cd.diagnostics()));
    let image = format!("{host}/private/busybox:1");
    let always = ContainerRuntimeSpec {
        pull_policy: ImagePullPolicy::Always,
        ..Default::default()
    };

    // No pull secret: the registry refuses, the kubelet's ErrImagePull.
    let anon = rt
        .prepare_pod_with(
            &sandbox_config(&cd, "anon", "uid-anon"),
            &PodRuntimeSpec::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("prepare: {e}\n{}", cd.diagnostics()));
    let err = rt
        .create_and_start_with(&anon, &container(&image, "anon", "uid-anon", 0), &always)
        .await
        .expect_err("anonymous pull");
    assert_eq!(err.waiting_reason(), Some("ErrImagePull"), "{err}");
    assert!(reg.refused.load(Ordering::Relaxed) > 0);
    assert_eq!(reg.authorized.load(Ordering::Relaxed), 0);

    // The pod's imagePullSecrets, as the runner resolves them.
    let secret = serde_json::json!({"auths": {&host: {
        "auth": base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    }}});
    let auths = registry_auths(&serde_json::to_vec(&secret).expect("json")).expect("secret");
    let pod = PodRuntimeSpec {
        registry_auths: auths,
        ..Default::default()
    };
    let sb = rt
        .prepare_pod_with(&sandbox_config(&cd, "private", "uid-private"), &pod)
        .await
        .unwrap_or_else(|e| panic!("prepare: {e}\n{}", cd.diagnostics()));
    let c = container(&image, "private", "uid-private", 0);
    let id = rt
        .create_and_start_with(&sb, &c, &always)
        .await
        .unwrap_or_else(|e| panic!("authenticated pull: {e}\n{}", cd.diagnostics()));
    let exit = tokio::time::timeout(Duration::from_secs(60), rt.wait(&id))
        .await
        .expect("wait")
        .expect("exit");
    assert_eq!(exit.exit_code, 0);
    let log = std::fs::read_to_string(sb.log_directory.join(&c.log_path)).unwrap_or_default();
    assert!(log.contains("stdout F pulled with the secret"), "{log}");
    // At least the manifest; the blobs are shared with the imported busybox
    // image, which containerd already has.
    assert!(reg.authorized.load(Ordering::Relaxed) >= 1);
    assert!(rt.image_status(&image).await.expect("status").is_some());

    // IfNotPresent now uses the pulled image without asking the registry,
    // even in the pod that has no secret.
    let before = reg.authorized.load(Ordering::Relaxed) + reg.refused.load(Ordering::Relaxed);
    let if_not_present = ContainerRuntimeSpec::default();
    let id = rt
        .create_and_start_with(
            &anon,
            &container(&image, "anon", "uid-anon", 1),
            &if_not_present,
        )
        .await
        .unwrap_or_else(|e| panic!("present image: {e}\n{}", cd.diagnostics()));
    let _ = tokio::time::timeout(Duration::from_secs(60), rt.wait(&id)).await;
    let after = reg.authorized.load(Ordering::Relaxed) + reg.refused.load(Ordering::Relaxed);
    assert_eq!(before, after, "IfNotPresent pulled a present image");

    rt.cleanup_orphans(&[]).await.expect("cleanup");
    let _ = stop_tx.send(());
    let _ = server.await;
}
