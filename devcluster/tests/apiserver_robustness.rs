//! Bad input gets kube-apiserver's status codes, never a 5xx or a panic:
//! malformed bodies, unknown resources, invalid names, oversized bodies,
//! wrong content types, kind mismatches, missing credentials, and a batch of
//! seeded random garbage.

mod apiserver_common;

use apiserver_common::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn send(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Vec<u8>,
        auth: bool,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .body(body);
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        if auth {
            req = req.bearer_auth(TOKEN);
        }
        let resp = req.send().await.expect("response");
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

async fn setup() -> (TestServer, Http) {
    let ts = start(|_| {}).await;
    // The listener also speaks plain HTTP.
    let client = kube_mesos_devcluster::apiserver::logs::kubelet_client(None).expect("client");
    let http = Http {
        client,
        base: format!("http://{}", ts.server.addr()),
    };
    (ts, http)
}

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(name: &str) -> Vec<u8> {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        .to_string()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_real_codes() {
    let (ts, h) = setup().await;
    let json_ct = Some("application/json");

    let (code, body) = h.send("GET", PODS, None, vec![], false).await;
    assert_eq!((code, body["reason"].as_str()), (401, Some("Unauthorized")));

    let (code, body) = h
        .send("POST", PODS, json_ct, b"{\"apiVersion\": ".to_vec(), true)
        .await;
    assert_eq!(code, 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("couldn't get version/kind; json parse error: ")),
        "{body}"
    );

    let (code, body) = h.send("GET", "/api/v1/widgets", None, vec![], true).await;
    assert_eq!(code, 404);
    assert_eq!(
        body["message"],
        "the server could not find the requested resource"
    );
    let (code, _) = h
        .send(
            "GET",
            "/apis/apps/v1/namespaces/default/statefulsets",
            None,
            vec![],
            true,
        )
        .await;
    assert_eq!(code, 404);

    let (code, body) = h.send("POST", PODS, json_ct, pod("Bad_Name"), true).await;
    assert_eq!((code, body["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");

    let big = vec![b' '; 3 * 1024 * 1024 + 1];
    let (code, body) = h.send("POST", PODS, json_ct, big, true).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );

    let (code, body) = h
        .send("POST", PODS, Some("text/plain"), pod("a"), true)
        .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (code, _) = h
        .send(
            "PATCH",
            &format!("{PODS}/a"),
            Some("application/json"),
            b"{}".to_vec(),
            true,
        )
        .await;
    assert_eq!(code, 415);

    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
        .to_string()
        .into_bytes();
    let (code, body) = h.send("POST", PODS, json_ct, cm, true).await;
    assert_eq!(code, 400);
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("ConfigMap in version \"v1\" cannot be handled as a Pod")));

    let widget = json!({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}})
        .to_string()
        .into_bytes();
    let (code, body) = h.send("POST", PODS, json_ct, widget, true).await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "Widget in version \"v1\" cannot be handled as a Pod: no kind \"Widget\" is registered for version \"v1\" in scheme \"pkg/api/legacyscheme/scheme.go:30\""
    );

    let other_ns = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "kube-system"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let (code, _) = h
        .send(
            "POST",
            PODS,
            json_ct,
            other_ns.to_string().into_bytes(),
            true,
        )
        .await;
    assert_eq!(code, 400);

    let (code, body) = h
        .send("GET", &format!("{PODS}/nope"), None, vec![], true)
        .await;
    assert_eq!(
        (code, body["message"].as_str()),
        (404, Some("pods \"nope\" not found"))
    );

    let (code, _) = h.send("POST", PODS, json_ct, pod("dup"), true).await;
    assert_eq!(code, 201);
    let (code, body) = h.send("POST", PODS, json_ct, pod("dup"), true).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );

    let (code, body) = h
        .send(
            "POST",
            "/api/v1/namespaces/ghost/pods",
            json_ct,
            pod("g"),
            true,
        )
        .await;
    assert_eq!(
        (code, body["message"].as_str()),
        (404, Some("namespaces \"ghost\" not found"))
    );

    let (code, _) = h
        .send(
            "GET",
            &format!("{PODS}?labelSelector=a%20in%20(b"),
            None,
            vec![],
            true,
        )
        .await;
    assert_eq!(code, 400);
    let (code, body) = h
        .send(
            "GET",
            &format!("{PODS}?fieldSelector=spec.bogus%3D1"),
            None,
            vec![],
            true,
        )
        .await;
    assert_eq!(
        (code, body["message"].as_str()),
        (400, Some("field label not supported: spec.bogus"))
    );

    ts.server.shutdown().await.expect("shutdown");
}

fn mutate(rng: &mut rand::rngs::StdRng, v: &mut Value, depth: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = keys[rng.random_range(0..keys.len())].clone();
            if depth > 3 || rng.random_bool(0.3) {
                let junk = match rng.random_range(0..6) {
                    0 => Value::Null,
                    1 => json!(rng.random::<i64>()),
                    2 => json!("\u{0}\u{ffff}garbage"),
                    3 => json!([1, {"a": null}]),
                    4 => json!({"$patch": "delete", "$retainKeys": 5}),
                    _ => json!(true),
                };
                m.insert(k, junk);
            } else if let Some(child) = m.get_mut(&k) {
                mutate(rng, child, depth + 1);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = rng.random_range(0..a.len());
            mutate(rng, &mut a[i], depth + 1);
        }
        other => *other = json!({"x": [null, -1, 1e308]}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_yields_5xx() {
    let (ts, h) = setup().await;
    let (code, _) = h
        .send("POST", PODS, Some("application/json"), pod("target"), true)
        .await;
    assert_eq!(code, 201);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b75_6265);
    let paths = [
        PODS.to_string(),
        format!("{PODS}/target"),
        format!("{PODS}/target/status"),
        format!("{PODS}/target/binding"),
        "/api/v1/nodes".to_string(),
        "/api/v1/namespaces".to_string(),
        "/api/v1/namespaces/default/configmaps".to_string(),
        "/apis/coordination.k8s.io/v1/namespaces/default/leases".to_string(),
        "/apis/events.k8s.io/v1/namespaces/default/events".to_string(),
        "/api/v1/namespaces/default/secrets".to_string(),
    ];
    let cts = [
        "application/json",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
        "text/plain",
    ];
    let valid: Value = serde_json::from_slice(&pod("target")).expect("json");
    for i in 0..400 {
        let path = &paths[rng.random_range(0..paths.len())];
        let ct = cts[rng.random_range(0..cts.len())];
        let method = ["POST", "PUT", "PATCH", "DELETE", "GET"][rng.random_range(0..5)];
        let body = if rng.random_bool(0.5) {
            let mut v = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                mutate(&mut rng, &mut v, 0);
            }
            v.to_string().into_bytes()
        } else {
            let mut b: Vec<u8> = (0..rng.random_range(0..200))
                .map(|_| rng.random::<u8>())
                .collect();
            if rng.random_bool(0.3) {
                // Protobuf envelope magic, then garbage.
                b.splice(0..0, b"k8s\0".iter().copied());
            }
            b
        };
        let (code, body) = h.send(method, path, Some(ct), body, true).await;
        assert!(
            code < 500,
            "request {i}: {method} {path} {ct} -> {code} {body}"
        );
    }
    let (code, _) = h.send("GET", "/version", None, vec![], true).await;
    assert_eq!(code, 200, "server still alive");
    ts.server.shutdown().await.expect("shutdown");
}
