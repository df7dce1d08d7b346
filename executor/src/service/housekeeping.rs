//! Housekeeping: removing what pods that are gone left behind, as the
//! kubelet's `HandlePodCleanups` does.
//!
//! Which pods to keep is decided from the API server, not from the tasks
//! this executor runs: after an executor restart the framework relaunches
//! the node's pods a moment later (their containers must survive to be
//! re-adopted), and during an upgrade another executor of the same agent
//! may run pods in the same runtime. So a pod's sandbox, containers and log
//! directory are kept while the pod still exists bound to this node, or
//! while this executor runs it; everything else the runtime created is
//! removed (`Runtime::cleanup_orphans`). When the API server cannot be
//! asked, nothing is removed: a leak is retried later, a wrongly killed pod
//! is not.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use kube::api::ListParams;

use crate::runner::runtime::Runtime;

/// The pod UIDs whose runtime state must stay: the pods bound to the node
/// in the API server plus the ones this executor runs.
pub fn keep_set<'a>(
    node_pods: impl IntoIterator<Item = &'a core::Pod>,
    ours: impl IntoIterator<Item = &'a String>,
) -> BTreeSet<String> {
    node_pods
        .into_iter()
        .filter_map(|p| p.metadata.uid.clone())
        .chain(ours.into_iter().cloned())
        .collect()
}

/// The pod UID of a log directory named `<namespace>_<name>_<uid>`.
pub fn log_dir_uid(dir_name: &str) -> Option<&str> {
    let (_, uid) = dir_name.rsplit_once('_')?;
    (!uid.is_empty()).then_some(uid)
}

/// The pods bound to `node` in the API server.
pub async fn node_pods(client: &kube::Client, node: &str) -> Result<Vec<core::Pod>, kube::Error> {
    let api: kube::Api<core::Pod> = kube::Api::all(client.clone());
    let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
    Ok(api.list(&params).await?.items)
}

/// Removes the sandboxes, containers and log directories of every pod not
/// in `keep`. Returns the pod UIDs whose runtime state was removed.
pub async fn remove_orphans(
    runtime: &dyn Runtime,
    keep: &BTreeSet<String>,
    log_root: &Path,
) -> Vec<String> {
    let keep_list: Vec<String> = keep.iter().cloned().collect();
    let removed = match runtime.cleanup_orphans(&keep_list).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "removing orphaned pod sandboxes failed; retried at the next housekeeping");
            Vec::new()
        }
    };
    if !removed.is_empty() {
        tracing::info!(pods = ?removed, "removed the sandboxes of pods that are gone");
    }
    if let Ok(dirs) = std::fs::read_dir(log_root) {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let Some(uid) = log_dir_uid(&name) else {
                continue;
            };
            if !keep.contains(uid) {
                if let Err(e) = tokio::fs::remove_dir_all(d.path()).await {
                    tracing::warn!(dir = %d.path().display(), error = %e, "removing the logs of a gone pod failed");
                }
            }
        }
    }
    removed
}

/// UIDs of the pods this executor runs, shared with the service loop.
pub type Ours = Arc<Mutex<BTreeSet<String>>>;

/// One housekeeping pass: ask the API server, then remove orphans. Does
/// nothing if the API server cannot be asked.
pub async fn housekeep(
    client: &kube::Client,
    runtime: &dyn Runtime,
    node: &str,
    ours: &Ours,
    log_root: &Path,
) {
    match node_pods(client, node).await {
        Ok(pods) => {
            let keep = {
                let ours = ours.lock().unwrap_or_else(PoisonError::into_inner);
                keep_set(&pods, ours.iter())
            };
            remove_orphans(runtime, &keep, log_root).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "listing the node's pods failed; no cleanup this time")
        }
    }
}

/// Housekeeping at once (after re-adoption at startup) and then every
/// `interval` until `shutdown`.
pub async fn run_housekeeping(
    client: kube::Client,
    runtime: Arc<dyn Runtime>,
    node: String,
    ours: Ours,
    log_root: std::path::PathBuf,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        housekeep(&client, &*runtime, &node, &ours, &log_root).await;
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_node_pods_and_ours() {
        let pod = |uid: &str| core::Pod {
            metadata: kube::api::ObjectMeta {
                uid: Some(uid.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let pods = [pod("a"), pod("b")];
        let ours = ["c".to_string()];
        let keep = keep_set(&pods, &ours);
        assert_eq!(keep.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(log_dir_uid("ns_web_1234-abcd"), Some("1234-abcd"));
        assert_eq!(log_dir_uid("my_ns_my_pod_u"), Some("u"));
        assert_eq!(log_dir_uid("plain"), None);
    }
}
