//! The Kubernetes side of the load: a client, the pods the scenarios
//! create, concurrent creates/deletes/Bindings, and [`PodClock`], a watch
//! that notes when each pod was bound, Running and gone — what "create →
//! Running as a watch sees it" means in every scenario.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A client for the API server named by `kubeconfig`.
pub async fn client(kubeconfig: &Path) -> Result<kube::Client> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).context("reading the kubeconfig")?,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .context("loading the kubeconfig")?;
    kube::Client::try_from(config).context("building the client")
}

/// What a benchmark pod asks for.
#[derive(Debug, Clone, Default)]
pub struct PodShape {
    pub scheduler: String,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub node_selector: Option<(String, String)>,
    pub host_port: Option<i32>,
}

/// A pod running `sleep 3600` (the process runtime runs the command; the
/// image is for CRI and ignored otherwise), grace period 1 s.
pub fn pod(name: &str, shape: &PodShape) -> Pod {
    let mut requests = serde_json::Map::new();
    if let Some(cpu) = &shape.cpu {
        requests.insert("cpu".into(), cpu.clone().into());
    }
    if let Some(mem) = &shape.memory {
        requests.insert("memory".into(), mem.clone().into());
    }
    let mut container = serde_json::json!({
        "name": "c",
        "image": "busybox",
        "imagePullPolicy": "IfNotPresent",
        "command": ["sleep", "3600"],
        "resources": { "requests": requests },
    });
    if let Some(port) = shape.host_port {
        container["ports"] = serde_json::json!([{ "containerPort": port, "hostPort": port }]);
    }
    let mut spec = serde_json::json!({
        "schedulerName": shape.scheduler,
        "terminationGracePeriodSeconds": 1,
        "containers": [container],
    });
    if let Some((k, v)) = &shape.node_selector {
        spec["nodeSelector"] = serde_json::json!({ k: v });
        // The Nodes a selector asks for are reserved for it
        // (`SimCluster::reserve_attributed_nodes`).
        let mut toleration = ssd_taint();
        toleration["operator"] = "Equal".into();
        spec["tolerations"] = serde_json::json!([toleration]);
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": { "app": "bench" } },
        "spec": spec,
    }))
    .expect("a valid pod")
}

/// The taint that keeps generic pods off the agents with `disk=ssd`; the
/// pods whose nodeSelector asks for them tolerate it.
pub fn ssd_taint() -> serde_json::Value {
    serde_json::json!({ "key": "disk", "value": "ssd", "effect": "NoSchedule" })
}

/// The mix of the placement scenario: four request sizes, a tenth with a
/// nodeSelector for the agents that carry `disk=ssd`, a twentieth with a
/// hostPort (50 distinct ports in the agents' range). `small_requests`: the
/// memory scenario's smaller pods, without selector or hostPort.
pub fn mixed_shape(i: usize, scheduler: &str, small_requests: bool) -> PodShape {
    let (cpus, mems): (&[&str], &[&str]) = if small_requests {
        (
            &["50m", "100m", "150m", "200m"],
            &["64Mi", "128Mi", "192Mi", "256Mi"],
        )
    } else {
        (
            &["100m", "250m", "500m", "1"],
            &["128Mi", "256Mi", "512Mi", "1Gi"],
        )
    };
    PodShape {
        scheduler: scheduler.into(),
        cpu: Some(cpus[i % 4].into()),
        memory: Some(mems[(i / 4) % 4].into()),
        // The memory scenario's extra pods only add to what is tracked:
        // none of them asks for the reserved `disk=ssd` agents.
        node_selector: (!small_requests && i % 10 == 3).then(|| ("disk".into(), "ssd".into())),
        host_port: (!small_requests && i % 20 == 7).then(|| 31500 + (i / 20 % 50) as i32),
    }
}

/// Runs `work` for every item with at most `concurrency` in flight; returns
/// how many failed (the first error is logged).
pub async fn concurrently<T, F, Fut>(items: Vec<T>, concurrency: usize, work: F) -> usize
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let work = Arc::new(work);
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for item in items {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        let work = work.clone();
        set.spawn(async move {
            let result = work(item).await;
            drop(permit);
            result
        });
    }
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
            if failed == 0 {
                eprintln!("bench: a request failed: {e:#}");
            }
            failed += 1;
        }
    }
    failed
}

/// Creates the pods with `concurrency` requests in flight; notes each
/// creation in `clock` just before its request.
pub async fn create_all(
    api: &Api<Pod>,
    pods: Vec<Pod>,
    concurrency: usize,
    clock: Option<&PodClock>,
) -> Result<()> {
    let api = api.clone();
    let clock = clock.cloned();
    let failed = concurrently(pods, concurrency, move |pod| {
        let api = api.clone();
        let clock = clock.clone();
        async move {
            if let (Some(clock), Some(name)) = (&clock, &pod.metadata.name) {
                clock.created(name);
            }
            api.create(&PostParams::default(), &pod).await?;
            Ok(())
        }
    })
    .await;
    anyhow::ensure!(failed == 0, "{failed} pod creations failed");
    Ok(())
}

/// POSTs a Binding of each `(pod, node)`; returns the failures.
pub async fn bind_all(
    api: &Api<Pod>,
    bindings: Vec<(String, String)>,
    concurrency: usize,
) -> usize {
    let api = api.clone();
    concurrently(bindings, concurrency, move |(name, node)| {
        let api = api.clone();
        async move {
            let binding = Binding {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                },
                target: ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Node".into()),
                    name: Some(node),
                    ..ObjectReference::default()
                },
            };
            let _: serde_json::Value = api
                .create_subresource("binding", &name, &PostParams::default(), &binding)
                .await?;
            Ok(())
        }
    })
    .await
}

/// The pod status a kubelet writes once the pod's container runs (phase
/// Running, its conditions, a running container), as a merge patch of the
/// status subresource: the hollow kubelet's, and the API server
/// baseline's.
pub fn running_status(now: &str) -> serde_json::Value {
    let condition =
        |t: &str| serde_json::json!({"type": t, "status": "True", "lastTransitionTime": now});
    serde_json::json!({ "status": {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "startTime": now,
        "conditions": [condition("Initialized"), condition("Ready"),
                       condition("ContainersReady"), condition("PodScheduled")],
        "containerStatuses": [{
            "name": "c", "ready": true, "started": true, "restartCount": 0,
            "image": "busybox", "imageID": "",
            "state": { "running": { "startedAt": now } },
        }],
    }})
}

/// Writes [`running_status`] to each pod by name with `concurrency`
/// requests in flight; returns how many failed.
pub async fn mark_running_all(api: &Api<Pod>, names: Vec<String>, concurrency: usize) -> usize {
    let api = api.clone();
    concurrently(names, concurrency, move |name| {
        let api = api.clone();
        async move {
            let now = k8s_openapi::jiff::Timestamp::now().to_string();
            api.patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&running_status(&now)),
            )
            .await?;
            Ok(())
        }
    })
    .await
}

/// Deletes the pods by name: gracefully as `kubectl delete` does (the
/// executor stops the pod, then removes the object), or at once (grace
/// period 0, for clean-up).
pub async fn delete_all(
    api: &Api<Pod>,
    names: Vec<String>,
    concurrency: usize,
    graceful: bool,
) -> usize {
    let api = api.clone();
    let params = if graceful {
        DeleteParams::default()
    } else {
        DeleteParams::default().grace_period(0)
    };
    concurrently(names, concurrency, move |name| {
        let (api, params) = (api.clone(), params.clone());
        async move {
            api.delete(&name, &params).await?;
            Ok(())
        }
    })
    .await
}

/// When each pod (by name) passed each mark.
#[derive(Debug, Default)]
pub struct Marks {
    pub created: HashMap<String, Instant>,
    pub bound: HashMap<String, Instant>,
    pub running: HashMap<String, Instant>,
    pub delete_requested: HashMap<String, Instant>,
    pub gone: HashMap<String, Instant>,
    pub node: HashMap<String, String>,
    pub uid: HashMap<String, String>,
}

/// A pod watch that stamps [`Marks`] as it sees them.
#[derive(Clone, Default)]
pub struct PodClock {
    marks: Arc<Mutex<Marks>>,
}

impl PodClock {
    /// Starts watching `api`; returns once the watch has listed.
    pub async fn start(api: Api<Pod>, tasks: &mut JoinSet<()>) -> PodClock {
        let clock = PodClock::default();
        let (listed_tx, listed) = tokio::sync::oneshot::channel();
        let c = clock.clone();
        tasks.spawn(async move {
            let mut listed_tx = Some(listed_tx);
            // Backed off: a watch whose server is gone (a scenario's cluster
            // stopped while its clock still runs) must not retry in a hot
            // loop; CI once logged millions of its errors.
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            let mut errors = 0u64;
            while let Some(event) = stream.next().await {
                let now = Instant::now();
                match event {
                    Ok(watcher::Event::Apply(pod)) | Ok(watcher::Event::InitApply(pod)) => {
                        c.seen(&pod, now)
                    }
                    Ok(watcher::Event::Delete(pod)) => {
                        let name = pod.metadata.name.unwrap_or_default();
                        c.lock().gone.entry(name).or_insert(now);
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = listed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(watcher::Event::Init) => {}
                    Err(e) => {
                        errors += 1;
                        if errors.is_power_of_two() {
                            eprintln!("bench: pod watch error #{errors} (it retries): {e}");
                        }
                    }
                }
            }
        });
        let _ = listed.await;
        clock
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seen(&self, pod: &Pod, now: Instant) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let mut m = self.lock();
        if let Some(uid) = &pod.metadata.uid {
            m.uid.entry(name.clone()).or_insert_with(|| uid.clone());
        }
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            m.bound.entry(name.clone()).or_insert(now);
            m.node.entry(name.clone()).or_insert(node);
        }
        if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
            m.running.entry(name).or_insert(now);
        }
    }

    /// Notes that `name` is being created now.
    pub fn created(&self, name: &str) {
        self.lock()
            .created
            .entry(name.to_string())
            .or_insert_with(Instant::now);
    }

    /// Notes that `name` is being deleted now.
    pub fn delete_requested(&self, name: &str) {
        self.lock()
            .delete_requested
            .entry(name.to_string())
            .or_insert_with(Instant::now);
    }

    /// Reads the marks.
    pub fn with<T>(&self, f: impl FnOnce(&Marks) -> T) -> T {
        f(&self.lock())
    }

    /// Waits until `done(marks)` holds, checking every 100 ms, for at most
    /// `timeout`; false on timeout.
    pub async fn wait(&self, timeout: Duration, done: impl Fn(&Marks) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.with(&done) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Seconds from `from[name]` to `to[name]` for every name in both.
pub fn latencies(from: &HashMap<String, Instant>, to: &HashMap<String, Instant>) -> Vec<f64> {
    from.iter()
        .filter_map(|(name, a)| Some(to.get(name)?.saturating_duration_since(*a).as_secs_f64()))
        .collect()
}

/// Seconds since `start` of every mark in `marks`.
pub fn offsets(marks: &HashMap<String, Instant>, start: Instant) -> Vec<f64> {
    marks
        .values()
        .map(|t| t.saturating_duration_since(start).as_secs_f64())
        .collect()
}

/// Framework metrics from the master's `/metrics/snapshot`: the per-framework
/// keys (`master/frameworks/<name>/<id>/...`) summed over framework IDs by
/// their suffix, plus the master's own keys.
pub fn framework_metrics(snapshot: &serde_json::Value, name: &str) -> BTreeMap<String, f64> {
    let prefix = format!("master/frameworks/{name}/");
    let mut out = BTreeMap::new();
    for (k, v) in snapshot.as_object().into_iter().flatten() {
        let Some(v) = v.as_f64() else { continue };
        if let Some(rest) = k.strip_prefix(&prefix) {
            if let Some((_, suffix)) = rest.split_once('/') {
                *out.entry(suffix.to_string()).or_insert(0.0) += v;
            }
        } else if k.starts_with("master/") && !k.starts_with("master/frameworks/") {
            out.insert(k.clone(), v);
        }
    }
    out
}
